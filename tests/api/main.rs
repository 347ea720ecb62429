//! API tests: one binary for every integration test, so one build serves all.
//! Each module starts the real application and talks to it as a client would.

mod amadeus_sdk;
mod booking;
mod booking_crash;
mod booking_store;
mod browser;
mod chat;
mod chat_booking;
mod chat_corpus;
mod chat_llm;
mod cli;
mod flights;
mod helpers;
mod http_audit;
mod http_spec;
mod instances;
mod notification_channels;
mod notifications;
mod ops;
mod pages;
mod payment_links;
mod payments_gateway;
mod provider_orders;
mod sandbox;
mod schema;
mod schemathesis;
mod session_store;
mod sessions;
mod smtp_sink;
mod sql_store;
mod websocket;
