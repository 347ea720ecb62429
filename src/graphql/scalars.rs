//! Scalars of the contract: `DateTime` (RFC 3339 with offset) and `Date`
//! (`YYYY-MM-DD`).

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{FixedOffset, NaiveDate, SecondsFormat, SubsecRound as _, Utc};

/// An instant with its UTC offset, `2026-12-20T08:15:00+01:00`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateTime(pub chrono::DateTime<FixedOffset>);

impl From<chrono::DateTime<Utc>> for DateTime {
    fn from(at: chrono::DateTime<Utc>) -> Self {
        Self(at.fixed_offset())
    }
}

/// RFC 3339 date-time with offset.
#[Scalar(name = "DateTime", specified_by_url = "https://datatracker.ietf.org/doc/html/rfc3339")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map(Self)
                .map_err(|_| InputValueError::custom("expected an RFC 3339 date-time with offset")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        // Millisecond precision is what clients and the store keep.
        Value::String(self.0.trunc_subsecs(3).to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

/// A calendar date, `2026-12-20`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub NaiveDate);

/// ISO 8601 calendar date `YYYY-MM-DD`.
#[Scalar(name = "Date", specified_by_url = "https://www.iso.org/iso-8601-date-and-time-format.html")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) if s.len() == 10 => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Self)
                .map_err(|_| InputValueError::custom("expected a date as YYYY-MM-DD")),
            Value::String(_) => Err(InputValueError::custom("expected a date as YYYY-MM-DD")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}
