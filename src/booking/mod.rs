//! Booking: the statuses a booking, its payments and refunds move through,
//! the saga steps that record how far a booking's external calls got (so a
//! crash between two calls is picked up by the recovery sweep), the input
//! rules, the provider calls, the service that runs the saga, payment
//! links and their webhooks, the sweeper, and the GraphQL resolvers.

pub mod links;
pub mod model;
pub mod orders;
pub mod resolvers;
pub mod service;
pub mod sweeper;
pub mod validate;

pub use service::{BookingError, BookingService};
