//! `FlightSearchInput` and its rules. A search that breaks one is refused
//! with the input path of the offending field before any provider is called.

use async_graphql::InputObject;
use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::model::{Cabin, FlightSearch, OfferSort, Passengers, ResultFilters, TimeOfDay};
use crate::graphql::scalars::Date;
use crate::reference::ReferenceData;

/// How far ahead providers sell.
const MAX_DAYS_AHEAD: i64 = 361;

/// A flight search as the client sends it.
#[derive(Debug, Clone, InputObject)]
pub struct FlightSearchInput {
    /// IATA airport or city code.
    pub origin: String,
    /// IATA airport or city code.
    pub destination: String,
    /// Outbound date, not in the past (in the session's time zone).
    pub departure_date: Date,
    /// Return date for a round trip, not before the departure.
    pub return_date: Option<Date>,
    /// 1 to 9; adults + children ≤ 9.
    #[graphql(default = 1)]
    pub adults: Option<i32>,
    /// Aged 2 to 11.
    #[graphql(default = 0)]
    pub children: Option<i32>,
    /// Under 2; at most one per adult.
    #[graphql(default = 0)]
    pub infants: Option<i32>,
    /// Travel class.
    #[graphql(default_with = "Some(Cabin::Economy)")]
    pub cabin: Option<Cabin>,
    /// Only flights without connections.
    #[graphql(default_with = "Some(false)")]
    pub non_stop: Option<bool>,
    /// Highest total price, a positive decimal in `currency`.
    pub max_price: Option<String>,
    /// ISO 4217 currency of prices.
    #[graphql(default_with = "Some(String::from(\"EUR\"))")]
    pub currency: Option<String>,
    /// Only these IATA airline codes.
    pub carriers: Option<Vec<String>>,
    /// Outbound departure in this part of the day (departure airport's local time).
    pub departure_time_of_day: Option<TimeOfDay>,
    /// Order of the offers.
    #[graphql(default_with = "Some(OfferSort::Price)")]
    pub sort: Option<OfferSort>,
    /// How many offers, 1 to 100.
    #[graphql(default = 20)]
    pub first: Option<i32>,
}

/// Longest range `cheapestDates` covers.
pub const MAX_CALENDAR_DAYS: i64 = 31;

/// A price calendar request: the cheapest offer for each departure day.
#[derive(Debug, Clone, InputObject)]
pub struct CheapestDatesInput {
    /// IATA airport or city code.
    pub origin: String,
    /// IATA airport or city code.
    pub destination: String,
    /// First departure date to consider.
    pub from: Date,
    /// Last one; at most 31 days after `from`.
    pub to: Date,
    /// 1 to 9.
    #[graphql(default = 1)]
    pub adults: Option<i32>,
    /// Travel class.
    #[graphql(default_with = "Some(Cabin::Economy)")]
    pub cabin: Option<Cabin>,
    /// Only flights without connections.
    #[graphql(default_with = "Some(false)")]
    pub non_stop: Option<bool>,
    /// ISO 4217 currency of prices.
    #[graphql(default_with = "Some(String::from(\"EUR\"))")]
    pub currency: Option<String>,
}

impl CheapestDatesInput {
    /// One search per day of the range, each checked like a flight search.
    pub fn validate(&self, today: NaiveDate, data: &ReferenceData) -> Result<Vec<FlightSearch>, InputError> {
        let (from, to) = (self.from.0, self.to.0);
        if to < from {
            return Err(refuse("to", "`to` must not be before `from`"));
        }
        if (to - from).num_days() > MAX_CALENDAR_DAYS {
            return Err(refuse("to", format!("`to` may be at most {MAX_CALENDAR_DAYS} days after `from`")));
        }
        let as_search = FlightSearchInput {
            origin: self.origin.clone(),
            destination: self.destination.clone(),
            departure_date: self.from,
            return_date: None,
            adults: self.adults,
            children: None,
            infants: None,
            cabin: self.cabin,
            non_stop: self.non_stop,
            max_price: None,
            currency: self.currency.clone(),
            carriers: None,
            departure_time_of_day: None,
            sort: None,
            first: None,
        };
        let (first_day, _) = as_search.validate(today, data).map_err(|e| match e.field.as_str() {
            "input.departureDate" => refuse("from", e.message),
            _ => e,
        })?;
        if (to - today).num_days() > MAX_DAYS_AHEAD {
            return Err(refuse("to", format!("flights are sold at most {MAX_DAYS_AHEAD} days ahead")));
        }
        Ok(from
            .iter_days()
            .take_while(|day| *day <= to)
            .map(|day| FlightSearch { departure_date: day, ..first_day.clone() })
            .collect())
    }
}

/// A rule the input broke: the input path and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InputError {
    /// Input path, e.g. `input.adults`.
    pub field: String,
    /// For the client.
    pub message: String,
}

fn refuse(field: &str, message: impl Into<String>) -> InputError {
    InputError { field: format!("input.{field}"), message: message.into() }
}

/// A place code, upper-cased and checked against the dataset.
pub fn place_code(field: &str, raw: &str, data: &ReferenceData) -> Result<String, InputError> {
    let code = raw.trim().to_ascii_uppercase();
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(refuse(field, format!("`{field}` must be a three-letter IATA airport or city code")));
    }
    if data.place(&code).is_none() {
        return Err(refuse(field, format!("{code} is not a known airport or city code")));
    }
    Ok(code)
}

/// A currency code: three letters.
pub fn currency_code(field: &str, raw: &str) -> Result<String, InputError> {
    let code = raw.trim().to_ascii_uppercase();
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(code)
    } else {
        Err(refuse(field, "`currency` must be an ISO 4217 code such as EUR"))
    }
}

impl FlightSearchInput {
    /// Checks every rule; `today` is the date in the session's time zone.
    pub fn validate(
        &self,
        today: NaiveDate,
        data: &ReferenceData,
    ) -> Result<(FlightSearch, ResultFilters), InputError> {
        // An explicit null means the default, as for an absent field.
        let adults = self.adults.unwrap_or(1);
        let children = self.children.unwrap_or(0);
        let infants = self.infants.unwrap_or(0);
        let first = self.first.unwrap_or(20);
        let origin = place_code("origin", &self.origin, data)?;
        let destination = place_code("destination", &self.destination, data)?;
        let same_city = |a: &str, b: &str| {
            let city = |c: &str| data.airport(c).map_or_else(|| c.to_owned(), |a| a.city_code.clone());
            city(a) == city(b)
        };
        if origin == destination || same_city(&origin, &destination) {
            return Err(refuse("destination", "the destination must differ from the origin"));
        }
        let departure = self.departure_date.0;
        if departure < today {
            return Err(refuse("departureDate", format!("{departure} is in the past (today is {today})")));
        }
        if (departure - today).num_days() > MAX_DAYS_AHEAD {
            return Err(refuse("departureDate", format!("flights are sold at most {MAX_DAYS_AHEAD} days ahead")));
        }
        if let Some(back) = self.return_date
            && back.0 < departure
        {
            return Err(refuse("returnDate", "the return date must not be before the departure date"));
        }
        if !(1..=9).contains(&adults) {
            return Err(refuse("adults", "between 1 and 9 adults"));
        }
        if !(0..=8).contains(&children) || adults + children > 9 {
            return Err(refuse("children", "at most 9 seated travellers (adults + children)"));
        }
        if infants < 0 || infants > adults {
            return Err(refuse("infants", "at most one infant per adult"));
        }
        if !(1..=100).contains(&first) {
            return Err(refuse("first", "`first` must be between 1 and 100"));
        }
        let currency = currency_code("currency", self.currency.as_deref().unwrap_or("EUR"))?;
        let max_price = match &self.max_price {
            None => None,
            Some(raw) => match raw.trim().parse::<Decimal>() {
                Ok(value) if value > Decimal::ZERO && value.scale() <= 2 => Some(value),
                _ => return Err(refuse("maxPrice", "`maxPrice` must be a positive decimal such as \"350.00\"")),
            },
        };
        let carriers = match &self.carriers {
            None => None,
            Some(list) if list.is_empty() => None,
            Some(list) => {
                let mut codes = Vec::with_capacity(list.len());
                for (i, raw) in list.iter().enumerate() {
                    let code = raw.trim().to_ascii_uppercase();
                    if data.airline(&code).is_none() {
                        return Err(InputError {
                            field: format!("input.carriers.{i}"),
                            message: format!("{raw} is not a known IATA airline code"),
                        });
                    }
                    codes.push(code);
                }
                Some(codes)
            }
        };
        let passengers = Passengers {
            adults: u8::try_from(adults).unwrap_or(1),
            children: u8::try_from(children).unwrap_or(0),
            infants: u8::try_from(infants).unwrap_or(0),
        };
        let search = FlightSearch {
            origin,
            destination,
            departure_date: departure,
            return_date: self.return_date.map(|d| d.0),
            passengers,
            cabin: self.cabin.unwrap_or_default(),
            non_stop: self.non_stop.unwrap_or(false),
            currency,
        };
        let filters = ResultFilters {
            non_stop: self.non_stop.unwrap_or(false),
            max_price,
            carriers,
            departure_time_of_day: self.departure_time_of_day,
            sort: self.sort.unwrap_or_default(),
            first: usize::try_from(first).unwrap_or(20),
        };
        Ok((search, filters))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> FlightSearchInput {
        FlightSearchInput {
            origin: "lis".into(),
            destination: "NYC".into(),
            departure_date: Date(NaiveDate::from_ymd_opt(2027, 1, 10).expect("date")),
            return_date: None,
            adults: Some(2),
            children: Some(1),
            infants: Some(1),
            cabin: Some(Cabin::Business),
            non_stop: None,
            max_price: Some("1200.50".into()),
            currency: Some("eur".into()),
            carriers: Some(vec!["tp".into()]),
            departure_time_of_day: None,
            sort: None,
            first: Some(20),
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 3).expect("date")
    }

    fn field_of(change: impl FnOnce(&mut FlightSearchInput)) -> String {
        let mut i = input();
        change(&mut i);
        i.validate(today(), ReferenceData::embedded()).expect_err("refused").field
    }

    #[test]
    fn a_good_search_is_normalised() {
        let (search, filters) = input().validate(today(), ReferenceData::embedded()).expect("valid");
        assert_eq!((search.origin.as_str(), search.destination.as_str()), ("LIS", "NYC"));
        assert_eq!(search.currency, "EUR");
        assert_eq!(filters.carriers, Some(vec!["TP".to_owned()]));
        assert_eq!(filters.max_price, Some(Decimal::new(120050, 2)));
    }

    #[test]
    fn each_rule_names_its_field() {
        assert_eq!(field_of(|i| i.origin = "XQX".into()), "input.origin");
        assert_eq!(field_of(|i| i.origin = "LISBON".into()), "input.origin");
        assert_eq!(field_of(|i| i.destination = "LIS".into()), "input.destination");
        assert_eq!(
            field_of(|i| {
                i.origin = "LGW".into();
                i.destination = "LHR".into();
            }),
            "input.destination",
            "two airports of one city"
        );
        assert_eq!(
            field_of(|i| i.departure_date = Date(NaiveDate::from_ymd_opt(2026, 12, 2).expect("date"))),
            "input.departureDate"
        );
        assert_eq!(
            field_of(|i| i.return_date = Some(Date(NaiveDate::from_ymd_opt(2027, 1, 9).expect("date")))),
            "input.returnDate"
        );
        assert_eq!(field_of(|i| i.adults = Some(0)), "input.adults");
        assert_eq!(field_of(|i| i.adults = Some(10)), "input.adults");
        assert_eq!(field_of(|i| i.children = Some(8)), "input.children");
        assert_eq!(field_of(|i| i.infants = Some(3)), "input.infants");
        assert_eq!(field_of(|i| i.first = Some(0)), "input.first");
        assert_eq!(field_of(|i| i.first = Some(101)), "input.first");
        assert_eq!(field_of(|i| i.max_price = Some("-5".into())), "input.maxPrice");
        assert_eq!(field_of(|i| i.max_price = Some("abc".into())), "input.maxPrice");
        assert_eq!(field_of(|i| i.currency = Some("euro".into())), "input.currency");
        assert_eq!(field_of(|i| i.carriers = Some(vec!["TP".into(), "??".into()])), "input.carriers.1");
    }
}
