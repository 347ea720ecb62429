//! Notifications: turns bookings' domain events into notifications stored per
//! session (so a reconnecting client can fetch what it missed), pushes them to
//! subscribers through the event bus, and delivers them on the channels the
//! traveller enabled (e-mail, SMS, push), concurrently, with retries, never
//! blocking the booking flow.

pub mod channels;
