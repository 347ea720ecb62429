//! The conversational agent: a traveller's message in any of six languages
//! goes through language detection and extraction, updates the dialogue state
//! kept in the session, runs the flight search when the trip is complete, and
//! comes back as a reply in the traveller's language with flight cards.
//!
//! - [`model`] — the types the parts share.
//! - [`extract`] (with [`language`]) — the built-in understanding engine, offline.
//! - [`llm`] — the optional OpenAI-compatible extractor, falling back to the built-in one.
//! - [`dialogue`] — slot filling, clarifying questions, corrections.
//! - [`reply`] — the replies and chips, written per language.
//! - [`cache`] — understood messages, cached beside the sessions.
//! - [`service`], [`resolvers`] — one turn end to end, and its GraphQL edge.

pub mod cache;
pub mod dialogue;
pub mod extract;
pub mod language;
pub mod llm;
pub mod model;
pub mod reply;
pub mod resolvers;
pub mod service;
pub mod travellers;
