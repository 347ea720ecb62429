//! The orders ledger both personalities keep: one [`OrderRecord`] per order
//! with its lifecycle (held, confirmed, cancelled, lapsed), our booking id
//! as the client sent it, and when each step happened — what a crash test
//! compares with the SQL store through `GET /_sandbox/orders`.
//!
//! Holds lapse lazily: nothing runs in the background; a record whose hold
//! deadline has passed, unconfirmed and uncancelled, *is* lapsed whenever
//! anyone looks (an API call or the ledger), which is also how the APIs
//! answer for it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::generator::Personality;

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OrderState {
    /// Seats reserved, not confirmed, before the deadline.
    Held,
    /// Paid (Duffel) or ticketing agreed (Amadeus).
    Confirmed,
    /// Cancelled through the API.
    Cancelled,
    /// Never confirmed and past its hold deadline: released.
    Lapsed,
}

impl OrderState {
    fn name(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Confirmed => "confirmed",
            Self::Cancelled => "cancelled",
            Self::Lapsed => "lapsed",
        }
    }
}

/// One order's lifecycle, whichever personality took it.
#[derive(Debug, Clone)]
pub(super) struct OrderRecord {
    pub(super) personality: Personality,
    /// The id as the API names it (Amadeus: percent-encoded, as on the wire).
    pub(super) id: String,
    /// Our booking id, when the order carried one.
    pub(super) client_reference: Option<String>,
    pub(super) amount: Decimal,
    pub(super) currency: String,
    /// The airline record locator.
    pub(super) pnr: String,
    pub(super) created_at: DateTime<Utc>,
    /// When an unconfirmed hold lapses; `None` for orders confirmed at once.
    pub(super) hold_expires_at: Option<DateTime<Utc>>,
    pub(super) confirmed_at: Option<DateTime<Utc>>,
    pub(super) cancelled_at: Option<DateTime<Utc>>,
    /// Confirm requests accepted (a repeat the API answers as done counts):
    /// more than one means a client confirmed twice.
    pub(super) confirmations: u32,
}

impl OrderRecord {
    /// Its state at `now`.
    pub(super) fn state(&self, now: DateTime<Utc>) -> OrderState {
        if self.cancelled_at.is_some() {
            OrderState::Cancelled
        } else if self.confirmed_at.is_some() {
            OrderState::Confirmed
        } else if self.hold_expires_at.is_some_and(|at| now >= at) {
            OrderState::Lapsed
        } else {
            OrderState::Held
        }
    }

    /// When it lapsed, if it has.
    pub(super) fn lapsed_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        (self.state(now) == OrderState::Lapsed).then_some(self.hold_expires_at).flatten()
    }

    /// Its ledger entry.
    pub(super) fn entry(&self, now: DateTime<Utc>) -> Value {
        let time = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        json!({
            "personality": self.personality.name(),
            "orderId": self.id,
            "clientReference": self.client_reference,
            "status": self.state(now).name(),
            "amount": self.amount.to_string(),
            "currency": self.currency,
            "pnr": self.pnr,
            "createdAt": time(Some(self.created_at)),
            "holdExpiresAt": time(self.hold_expires_at),
            "confirmedAt": time(self.confirmed_at),
            "cancelledAt": time(self.cancelled_at),
            "lapsedAt": time(self.lapsed_at(now)),
            "confirmations": self.confirmations
        })
    }
}

/// The hold deadline of an order created `now` under a `holdExpiresIn` of `seconds`.
pub(super) fn hold_deadline(now: DateTime<Utc>, seconds: u64) -> DateTime<Utc> {
    now + chrono::Duration::seconds(i64::try_from(seconds).unwrap_or(i64::MAX / 2_000_000))
}

/// Waits `ms` before an answer whose effect has already happened (the
/// crash-test delays: the order is made, then the client is kept waiting).
pub(super) async fn hold_answer(ms: u64) {
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> OrderRecord {
        let created = DateTime::parse_from_rfc3339("2027-01-01T10:00:00Z").expect("time").with_timezone(&Utc);
        OrderRecord {
            personality: Personality::Duffel,
            id: "ord_1".into(),
            client_reference: Some("bk_1".into()),
            amount: Decimal::new(12_345, 2),
            currency: "EUR".into(),
            pnr: "ABC234".into(),
            created_at: created,
            hold_expires_at: Some(hold_deadline(created, 60)),
            confirmed_at: None,
            cancelled_at: None,
            confirmations: 0,
        }
    }

    #[test]
    fn holds_lapse_at_their_deadline_unless_confirmed_or_cancelled() {
        let mut order = record();
        let deadline = order.hold_expires_at.expect("deadline");
        assert_eq!(order.state(deadline - chrono::Duration::seconds(1)), OrderState::Held);
        assert_eq!(order.state(deadline), OrderState::Lapsed);
        assert_eq!(order.entry(deadline)["lapsedAt"], "2027-01-01T10:01:00.000Z");
        assert_eq!(order.entry(deadline)["status"], "lapsed");
        order.confirmed_at = Some(order.created_at);
        assert_eq!(order.state(deadline), OrderState::Confirmed);
        assert_eq!(order.entry(deadline)["lapsedAt"], Value::Null);
        order.cancelled_at = Some(deadline);
        assert_eq!(order.state(deadline), OrderState::Cancelled);
        let entry = order.entry(deadline);
        assert_eq!((entry["clientReference"].as_str(), entry["amount"].as_str()), (Some("bk_1"), Some("123.45")));
    }
}
