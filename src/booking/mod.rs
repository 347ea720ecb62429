//! Booking: the statuses a booking, its payments and refunds move through,
//! and the saga steps that record how far a booking's external calls got, so
//! a crash between two calls is picked up by the recovery sweep.

pub mod model;
