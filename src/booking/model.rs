//! The booking vocabulary: the statuses of bookings, payments and refunds as
//! the API shows them, and the saga steps the system of record keeps so every
//! external call (provider hold, charge, provider confirm, cancel, refund) is
//! recorded before it is made and its outcome after.

use serde::{Deserialize, Serialize};

/// Where a booking stands, as the client sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BookingStatus {
    /// Seats held at the provider, waiting for a successful payment.
    PendingPayment,
    /// Paid and confirmed by the provider; has a reference.
    Confirmed,
    /// Cancelled by the traveller (refunded when it had been paid).
    Cancelled,
    /// The hold lapsed before a payment succeeded.
    Expired,
    /// Could not be completed (the provider refused, or recovery gave up);
    /// any charge is refunded.
    Failed,
}

impl BookingStatus {
    /// Every status.
    pub const ALL: [Self; 5] = [Self::PendingPayment, Self::Confirmed, Self::Cancelled, Self::Expired, Self::Failed];

    /// The stored and wire name (`PENDING_PAYMENT`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingPayment => "PENDING_PAYMENT",
            Self::Confirmed => "CONFIRMED",
            Self::Cancelled => "CANCELLED",
            Self::Expired => "EXPIRED",
            Self::Failed => "FAILED",
        }
    }

    /// The status named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// No transition leaves this status.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::PendingPayment | Self::Confirmed)
    }
}

/// Where one payment attempt stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    /// Sent to the gateway; the outcome is not known yet.
    Processing,
    /// Charged.
    Succeeded,
    /// Refused by the gateway (see the decline code); nothing was charged.
    Declined,
    /// Charged, then refunded in full.
    Refunded,
}

impl PaymentStatus {
    /// Every status.
    pub const ALL: [Self; 4] = [Self::Processing, Self::Succeeded, Self::Declined, Self::Refunded];

    /// The stored and wire name (`SUCCEEDED`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processing => "PROCESSING",
            Self::Succeeded => "SUCCEEDED",
            Self::Declined => "DECLINED",
            Self::Refunded => "REFUNDED",
        }
    }

    /// The status named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// Where one refund stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefundStatus {
    /// Sent to the gateway (or about to be); the outcome is not known yet.
    Pending,
    /// The money is on its way back.
    Succeeded,
    /// The gateway refused; a new refund may be attempted.
    Failed,
}

impl RefundStatus {
    /// Every status.
    pub const ALL: [Self; 3] = [Self::Pending, Self::Succeeded, Self::Failed];

    /// The stored and wire name (`PENDING`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
        }
    }

    /// The status named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// How far a booking's saga got: its recovery point.
///
/// A `…_REQUESTED` step is written *before* the external call it names and
/// replaced by the next resting step once the outcome is recorded, so a row
/// found in a `…_REQUESTED` step whose `updated_at` is old (and whose lease
/// has lapsed) is a crash or a lost response between the two writes. Every
/// external call is safe to repeat or look up: charges and refunds carry a
/// gateway idempotency key derived from the payment or refund id, and the
/// provider order can be fetched by its id. What the recovery sweep does with
/// each step is on the variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SagaStep {
    /// The row exists; the provider order (the seat hold) is being created.
    /// Nothing was charged. Recovery: the provider order id is unknown, so
    /// the booking becomes `FAILED` (an orphan hold lapses at the provider).
    HoldRequested,
    /// The provider holds the seats (`provider_order_id` set); waiting for a
    /// payment. A resting step: the expiry sweeper takes it when `expires_at`
    /// passes, the charge claim moves it to `CHARGE_REQUESTED`.
    Held,
    /// A `PROCESSING` payment row exists and the gateway charge is being made
    /// with the payment's idempotency key. Recovery: repeat the charge with
    /// that key (the gateway replays its outcome): success → `CHARGED`,
    /// decline → `HELD` (or expiry when past `expires_at`).
    ChargeRequested,
    /// The payment `SUCCEEDED`; the provider is not confirmed yet.
    /// Recovery: go on to `CONFIRM_REQUESTED`.
    Charged,
    /// The provider confirmation (ticketing) is being requested. Recovery:
    /// fetch the provider order: confirmed → `CONFIRMED` with its reference;
    /// still held → confirm again; gone → `REFUND_REQUESTED`, then `FAILED`.
    ConfirmRequested,
    /// The provider order is being cancelled (traveller cancel, expiry, or a
    /// failure after the hold). Recovery: cancel again (an already cancelled
    /// order counts as done), then refund if a payment succeeded.
    CancelRequested,
    /// A `PENDING` refund row exists and the gateway refund is being made
    /// with the refund's idempotency key. Recovery: repeat it with that key.
    RefundRequested,
    /// Nothing is owed to the outside world: the booking is `CONFIRMED`, or
    /// final (`CANCELLED`, `EXPIRED`, `FAILED`) with every refund settled.
    Done,
}

impl SagaStep {
    /// Every step.
    pub const ALL: [Self; 8] = [
        Self::HoldRequested,
        Self::Held,
        Self::ChargeRequested,
        Self::Charged,
        Self::ConfirmRequested,
        Self::CancelRequested,
        Self::RefundRequested,
        Self::Done,
    ];

    /// The steps between two external outcomes: a booking resting in one of
    /// these for long was interrupted, and the recovery sweep takes it.
    pub const IN_FLIGHT: [Self; 6] = [
        Self::HoldRequested,
        Self::ChargeRequested,
        Self::Charged,
        Self::ConfirmRequested,
        Self::CancelRequested,
        Self::RefundRequested,
    ];

    /// The stored name (`CHARGE_REQUESTED`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HoldRequested => "HOLD_REQUESTED",
            Self::Held => "HELD",
            Self::ChargeRequested => "CHARGE_REQUESTED",
            Self::Charged => "CHARGED",
            Self::ConfirmRequested => "CONFIRM_REQUESTED",
            Self::CancelRequested => "CANCEL_REQUESTED",
            Self::RefundRequested => "REFUND_REQUESTED",
            Self::Done => "DONE",
        }
    }

    /// The step named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// What happened to a booking, as the notifications and subscriptions see
/// it: the contract's `Notification.kind` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[graphql(name = "NotificationKind")]
pub enum BookingEventKind {
    /// The seats are held; payment is due before `expiresAt`.
    BookingCreated,
    /// A payment was charged.
    PaymentSucceeded,
    /// A payment was declined; another method may be tried.
    PaymentFailed,
    /// The provider confirmed the booking; it has a reference.
    BookingConfirmed,
    /// The traveller cancelled it.
    BookingCancelled,
    /// Money was sent back.
    RefundIssued,
    /// The hold lapses soon and nothing is paid yet.
    BookingExpiring,
    /// The hold lapsed unpaid.
    BookingExpired,
}

impl BookingEventKind {
    /// Every kind.
    pub const ALL: [Self; 8] = [
        Self::BookingCreated,
        Self::PaymentSucceeded,
        Self::PaymentFailed,
        Self::BookingConfirmed,
        Self::BookingCancelled,
        Self::RefundIssued,
        Self::BookingExpiring,
        Self::BookingExpired,
    ];

    /// The stored and wire name (`BOOKING_CONFIRMED`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BookingCreated => "BOOKING_CREATED",
            Self::PaymentSucceeded => "PAYMENT_SUCCEEDED",
            Self::PaymentFailed => "PAYMENT_FAILED",
            Self::BookingConfirmed => "BOOKING_CONFIRMED",
            Self::BookingCancelled => "BOOKING_CANCELLED",
            Self::RefundIssued => "REFUND_ISSUED",
            Self::BookingExpiring => "BOOKING_EXPIRING",
            Self::BookingExpired => "BOOKING_EXPIRED",
        }
    }

    /// The kind named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// A booking's domain event, published on the event bus (the session's
/// topic and the bookings topic) after the change it reports is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BookingEvent {
    /// Unique per event (time-ordered); the outbox row's and the notification's key.
    #[serde(default)]
    pub id: String,
    /// What happened.
    pub kind: BookingEventKind,
    /// The booking.
    pub booking_id: String,
    /// The session that owns it (public id).
    pub session_id: String,
    /// Its status after the change.
    pub status: BookingStatus,
    /// Its status before, when the change moved it.
    pub previous_status: Option<BookingStatus>,
    /// When the change was recorded.
    pub at: chrono::DateTime<chrono::Utc>,
    /// The payment concerned (`PAYMENT_*`).
    pub payment_id: Option<String>,
    /// The refund concerned (`REFUND_ISSUED`).
    pub refund_id: Option<String>,
    /// The amount concerned (the payment's or refund's, else the booking total).
    pub amount: Option<crate::flights::model::Money>,
    /// The airline reference (`BOOKING_CONFIRMED`).
    pub reference: Option<String>,
    /// When the hold lapses (`BOOKING_CREATED`, `BOOKING_EXPIRING`).
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Why a payment failed (`PAYMENT_FAILED`).
    pub decline_code: Option<String>,
    /// The language notifications about it are written in.
    pub language: String,
}

/// A booking's status moved: what `bookingStatusChanged` streams. Published
/// on the owner's booking-status topic for every transition, including those no
/// notification reports (`FAILED`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BookingStatusChange {
    /// The booking.
    pub booking_id: String,
    /// The session that owns it.
    pub session_id: String,
    /// Its status now.
    pub status: BookingStatus,
    /// Its status before; `None` for a booking just created.
    pub previous_status: Option<BookingStatus>,
    /// When the change was recorded.
    pub at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_round_trip_and_match_serde() {
        for status in BookingStatus::ALL {
            assert_eq!(BookingStatus::parse(status.as_str()), Some(status));
            assert_eq!(serde_json::to_value(status).ok(), Some(serde_json::json!(status.as_str())));
        }
        for kind in BookingEventKind::ALL {
            assert_eq!(BookingEventKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).ok(), Some(serde_json::json!(kind.as_str())));
        }
        for status in PaymentStatus::ALL {
            assert_eq!(PaymentStatus::parse(status.as_str()), Some(status));
            assert_eq!(serde_json::to_value(status).ok(), Some(serde_json::json!(status.as_str())));
        }
        for status in RefundStatus::ALL {
            assert_eq!(RefundStatus::parse(status.as_str()), Some(status));
            assert_eq!(serde_json::to_value(status).ok(), Some(serde_json::json!(status.as_str())));
        }
        for step in SagaStep::ALL {
            assert_eq!(SagaStep::parse(step.as_str()), Some(step));
            assert_eq!(serde_json::to_value(step).ok(), Some(serde_json::json!(step.as_str())));
        }
        assert_eq!(BookingStatus::parse("pending_payment"), None);
    }
}
