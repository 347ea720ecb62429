//! The delivery channels a notification may go out on — e-mail, SMS, push —
//! behind one trait, so the worker sends, retries and dead-letters them alike
//! and tests can count what each received.
//!
//! A channel only transports: the worker renders the message (subject, text,
//! HTML, data) in the traveller's language and picks the destination.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Which channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// E-mail over SMTP.
    Email,
    /// SMS through a Twilio-style API.
    Sms,
    /// Push through an FCM-v1-style API.
    Push,
}

impl ChannelKind {
    /// Every channel.
    pub const ALL: [Self; 3] = [Self::Email, Self::Sms, Self::Push];

    /// The stored and metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
            Self::Push => "push",
        }
    }

    /// The inverse of [`ChannelKind::as_str`].
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == value)
    }
}

/// One message to one destination, already rendered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundMessage {
    /// An e-mail address, an E.164 phone number, or a push registration token.
    pub to: String,
    /// E-mail subject; push title. SMS ignores it.
    pub subject: String,
    /// Plain text: the e-mail's text part, the SMS body, the push body.
    pub text: String,
    /// The e-mail's HTML part; the other channels ignore it.
    pub html: Option<String>,
    /// Push data (string values only, as FCM requires); others ignore it.
    pub data: BTreeMap<String, String>,
    /// Stable per notification and channel, so a retried send can be recognised
    /// (e-mail `Message-ID`, push collapse key) where the transport allows.
    pub idempotency_key: String,
}

/// What the transport answered on success.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SentMessage {
    /// The transport's id of the message (Twilio `sid`, FCM `name`, SMTP queue id), when it gives one.
    pub provider_id: Option<String>,
}

/// Why a send failed, which decides whether it is retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    /// Worth retrying with backoff: timeouts, connection failures, 429, 5xx, SMTP 4xx.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// Retrying cannot help: bad credentials, malformed request, SMTP 5xx.
    #[error("permanent failure: {0}")]
    Permanent(String),
    /// The destination is dead (FCM `UNREGISTERED`, Twilio 21211/21610/21614):
    /// not retried, and the destination should be forgotten.
    #[error("destination rejected: {0}")]
    InvalidDestination(String),
}

impl ChannelError {
    /// Whether another attempt may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

/// A configured channel.
#[async_trait]
pub trait NotificationChannel: Send + Sync + std::fmt::Debug {
    /// Which channel this is.
    fn kind(&self) -> ChannelKind;
    /// Sends one message, once (the worker owns retries).
    async fn send(&self, message: &OutboundMessage) -> Result<SentMessage, ChannelError>;
    /// Proves the channel is reachable and its credentials are accepted,
    /// without sending anything to a person (`wayfarer doctor`). `Ok` carries a
    /// one-line description.
    async fn check(&self) -> Result<String, String>;
}
