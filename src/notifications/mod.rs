//! Notifications: turns bookings' domain events into notifications stored per
//! session (so a reconnecting client can fetch what it missed), pushes them to
//! subscribers through the event bus, and delivers them on the channels the
//! traveller enabled (e-mail, SMS, push), concurrently, with retries, never
//! blocking the booking flow.
//!
//! - [`service`] — the worker (outbox claim → notification → deliveries) and
//!   the session-scoped queries.
//! - [`render`] — titles, bodies and channel messages in six languages.
//! - [`channels`] — the transports.
//! - [`resolvers`] — the GraphQL edge: `notifications`, `markNotificationsRead`,
//!   `updateNotificationPreferences`, `notificationAdded`, `bookingStatusChanged`.
//!
//! A notification's id is `ntf_` and its number within the session, zero
//! padded so ids sort as they were stored; numbers are gap-free per session
//! (see [`crate::store::notifications`]), which is what lets
//! `notifications(after: lastSeenId)` return exactly what a client missed.

pub mod channels;
pub mod render;
pub mod resolvers;
pub mod service;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::booking::model::BookingEventKind;

pub use self::service::NotificationService;

/// A notification, as stored and as it travels on the bus to `notificationAdded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationMessage {
    /// The public id (`ntf_000000000001`).
    pub id: String,
    /// Whose.
    pub session_id: String,
    /// Its number within the session.
    pub seq: i64,
    /// What happened.
    pub kind: BookingEventKind,
    /// Title, in the session's language.
    pub title: String,
    /// Body, in the session's language.
    pub body: String,
    /// The booking concerned.
    pub booking_id: Option<String>,
    /// When it was stored.
    pub at: DateTime<Utc>,
    /// Whether the traveller marked it read.
    pub read: bool,
}

/// The public id of a session's notification number `seq`.
pub fn public_id(seq: i64) -> String {
    format!("ntf_{seq:012}")
}

/// The number in a public id; `None` for anything else.
pub fn parse_id(id: &str) -> Option<i64> {
    let digits = id.strip_prefix("ntf_")?;
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_sort_as_numbers() {
        assert_eq!(parse_id(&public_id(42)), Some(42));
        assert!(public_id(9) < public_id(10));
        for bad in ["", "ntf_", "ntf_-1", "ntf_1e3", "42", "ntf_0000000000000000000001", "NTF_1"] {
            assert_eq!(parse_id(bad), None, "{bad}");
        }
    }
}
