//! Wayfarer: a travel-agent backend, a GraphQL API server.
//!
//! # Layout
//!
//! A request reads top to bottom: [`http`] → [`graphql`] → a domain's
//! resolvers → the domain's service → its trait (store, bus, provider).
//!
//! - [`app`] — wires everything from [`config::Settings`], checks components
//!   at start, serves, shuts down gracefully.
//! - [`config`] — defaults → `wayfarer.toml` → `WAYFARER_*` env → flags.
//! - [`http`] — the axum router: GraphQL over HTTP and WebSocket, ops endpoints, pages.
//! - [`graphql`] — the merged schema, limits, error codes, scalars.
//! - [`sessions`] — sessions and bearer tokens; Redis and in-memory stores.
//! - [`events`] — the event bus; Redis pub/sub and in-process.
//! - [`store`] — the SQL system of record (SQLite or PostgreSQL).
//! - [`chat`] — the conversational agent: extraction, dialogue, replies.
//! - [`booking`] — booking, payment and refund statuses and the booking saga's steps.
//! - [`flights`] — flight search: model, provider adapters, aggregator, resolvers.
//! - [`notifications`] — notifications: stored, pushed over subscriptions, delivered by e-mail, SMS, push.
//! - [`payments`] — the payment gateway trait, the Stripe-style adapter, webhook signatures.
//! - [`reference`] — the embedded airport, city and airline datasets.
//! - [`health`] — component checks and `serviceStatus`.
//! - [`telemetry`] — logs, Prometheus metrics, performance window.
//! - [`redis_pool`] — the bounded Redis pool.
//! - [`sandbox`] — the bundled provider sandbox (Amadeus, Duffel and Stripe wire formats, Twilio- and
//!   FCM-style notification sinks, fault injection).
//! - [`doctor`], [`cli`] — the command line.
//! - [`loadtest`] — `wayfarer loadtest`: load scenarios over real HTTP and WebSocket, and their report.

pub mod app;
pub mod booking;
pub mod chat;
pub mod cli;
pub mod clock;
pub mod config;
pub mod doctor;
pub mod events;
pub mod flights;
#[doc(hidden)]
pub mod fuzzing;
pub mod generations;
pub mod graphql;
pub mod health;
pub mod http;
pub mod loadtest;
pub mod notifications;
pub mod payments;
pub mod redis_pool;
pub mod reference;
pub mod sandbox;
pub mod sessions;
pub mod store;
pub mod telemetry;
