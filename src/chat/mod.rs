//! The conversational agent: a traveller's message in any of six languages
//! goes through language detection and extraction, updates the dialogue state
//! kept in the session, runs the flight search when the trip is complete, and
//! comes back as a reply in the traveller's language with flight cards.

pub mod dialogue;
pub mod extract;
pub mod language;
pub mod model;
pub mod reply;
