//! The delivery channels a notification may go out on — e-mail, SMS, push —
//! behind one trait, so the worker sends, retries and dead-letters them alike
//! and tests can count what each received.
//!
//! A channel only transports: the worker renders the message (subject, text,
//! HTML, data) in the traveller's language and picks the destination.
//!
//! - [`email`] — SMTP with lettre (STARTTLS, implicit TLS, or a plain local relay).
//! - [`sms`] — a Twilio-style Programmable Messaging API.
//! - [`push`] — the FCM HTTP v1 API with a service account's OAuth2 tokens.
//!
//! [`Channels`] builds the configured ones from [`NotificationSettings`].
//! Each channel is configured on its own; one without its endpoint is off.
//! E-mail needs `notifications.email.smtp_url`. SMS and push need their
//! `base_url` and credentials — except that when the bundled provider
//! sandbox runs (the zero-config run, or any run where a flight provider or
//! the payment gateway has no `base_url`), an SMS or push channel without a
//! `base_url` is pointed at the sandbox's Twilio-style or FCM-style sink with
//! the sandbox's own test credentials, as the flight providers are, so a
//! fresh checkout delivers notifications somewhere a person (or a test) can
//! read them: `GET /_sandbox/sms/messages`, `GET /_sandbox/push/messages`.
//! `enabled = false` turns either off regardless. There is no sandbox
//! e-mail: SMTP is tested against a real SMTP server.
//!
//! Every `send` is one attempt whose error says whether another may succeed;
//! the worker retries, backs off and dead-letters.

pub mod email;
pub mod push;
pub mod sms;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

use crate::app::SandboxEndpoint;
use crate::config::{HttpClientSettings, NotificationSettings};

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

/// A channel that could not be built from its settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration value for `{key}`: {reason}")]
pub struct ChannelSetupError {
    /// The configuration key at fault (`notifications.push.service_account_file`).
    pub key: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

fn setup_error(key: &'static str, reason: impl Into<String>) -> ChannelSetupError {
    ChannelSetupError { key, reason: reason.into() }
}

/// The configured channels, each optional; what the worker sends through.
#[derive(Debug, Clone, Default)]
pub struct Channels {
    channels: BTreeMap<ChannelKind, Arc<dyn NotificationChannel>>,
    places: BTreeMap<ChannelKind, String>,
}

/// The sender the SMS channel uses at the sandbox (Twilio's magic "valid" test number).
pub const SANDBOX_SMS_FROM: &str = "+15005550006";

impl Channels {
    /// No channel at all: notifications are stored and pushed to subscribers only.
    pub fn none() -> Self {
        Self::default()
    }

    /// The channels `settings` configure. An SMS or push channel without a
    /// `base_url` goes to the bundled sandbox's sink when `sandbox` is given
    /// (the sandbox runs), else it is off; see the module docs. Files are read
    /// here (the push service-account key); the error names the key at fault.
    /// Called inside a Tokio runtime (the SMTP pool runs a task there).
    pub fn from_settings(
        settings: &NotificationSettings,
        http: &HttpClientSettings,
        sandbox: Option<&SandboxEndpoint>,
    ) -> Result<Self, ChannelSetupError> {
        let mut channels = Self::none();
        if let Some((channel, place)) = email_channel(settings)? {
            channels.insert(channel, place);
        }
        let (sms, push) = (&settings.sms, &settings.push);
        let wants_http = (sms.enabled && (sms.base_url.is_some() || sandbox.is_some()))
            || (push.enabled && (push.base_url.is_some() || sandbox.is_some()));
        if wants_http {
            let client = http_client(http).map_err(|reason| setup_error("http_client", reason))?;
            if let Some((channel, place)) = sms_channel(settings, sandbox, &client)? {
                channels.insert(channel, place);
            }
            if let Some((channel, place)) = push_channel(settings, sandbox, &client)? {
                channels.insert(channel, place);
            }
        }
        Ok(channels)
    }

    /// These channels with `channel` in its kind's place (tests inject doubles).
    pub fn with_channel(mut self, channel: Arc<dyn NotificationChannel>) -> Self {
        let place = format!("{channel:?}");
        self.insert(channel, place);
        self
    }

    fn insert(&mut self, channel: Arc<dyn NotificationChannel>, place: String) {
        let kind = channel.kind();
        self.channels.insert(kind, channel);
        self.places.insert(kind, place);
    }

    /// The channel of `kind`, if it is on.
    pub fn get(&self, kind: ChannelKind) -> Option<&Arc<dyn NotificationChannel>> {
        self.channels.get(&kind)
    }

    /// Whether the channel of `kind` is on.
    pub fn is_enabled(&self, kind: ChannelKind) -> bool {
        self.channels.contains_key(&kind)
    }

    /// The kinds that are on.
    pub fn enabled(&self) -> impl Iterator<Item = ChannelKind> + '_ {
        self.channels.keys().copied()
    }

    /// Where the channel of `kind` delivers, credentials left out (for logs and `doctor`).
    pub fn describe(&self, kind: ChannelKind) -> Option<&str> {
        self.places.get(&kind).map(String::as_str)
    }
}

/// A built channel and where it delivers.
type Built = Option<(Arc<dyn NotificationChannel>, String)>;

const BUNDLED: &str = " (bundled sandbox)";

fn email_channel(settings: &NotificationSettings) -> Result<Built, ChannelSetupError> {
    let Some(url) = &settings.email.smtp_url else {
        return Ok(None);
    };
    let target = email::SmtpTarget::parse(url.expose_secret())
        .map_err(|reason| setup_error("notifications.email.smtp_url", reason))?;
    let from = settings.email.from.parse().map_err(|e| {
        setup_error("notifications.email.from", format!("a sender like \"Wayfarer <bookings@example.com>\" ({e})"))
    })?;
    let place = target.describe();
    let channel = email::EmailChannel::new(target, from, settings.email.timeout)
        .map_err(|reason| setup_error("notifications.email.smtp_url", reason))?;
    Ok(Some((Arc::new(channel), place)))
}

fn sms_channel(
    settings: &NotificationSettings,
    sandbox: Option<&SandboxEndpoint>,
    client: &reqwest::Client,
) -> Result<Built, ChannelSetupError> {
    let sms = &settings.sms;
    if !sms.enabled {
        return Ok(None);
    }
    let (url, sid, token, from, suffix) = match (&sms.base_url, sandbox) {
        (Some(url), _) => {
            let needed = |key: &'static str, what: &str| setup_error(key, format!("{what} with a base_url"));
            let sid = sms
                .account_sid
                .clone()
                .ok_or_else(|| needed("notifications.sms.account_sid", "an account SID (AC…)"))?;
            let token =
                sms.auth_token.clone().ok_or_else(|| needed("notifications.sms.auth_token", "an auth token"))?;
            let from = sms.from.clone().ok_or_else(|| needed("notifications.sms.from", "a sender (E.164 or MG…)"))?;
            (url.clone(), sid, token, from, "")
        }
        (None, Some(sandbox)) => (
            sandbox.base_url.clone(),
            sandbox.twilio_account_sid.clone(),
            SecretString::from(sandbox.twilio_auth_token.clone()),
            SANDBOX_SMS_FROM.to_owned(),
            BUNDLED,
        ),
        (None, None) => return Ok(None),
    };
    let place = format!("{url}{suffix}, account {sid}, from {from}");
    let channel = sms::SmsChannel::new(&url, sid, token, from, client.clone(), sms.timeout);
    Ok(Some((Arc::new(channel), place)))
}

fn push_channel(
    settings: &NotificationSettings,
    sandbox: Option<&SandboxEndpoint>,
    client: &reqwest::Client,
) -> Result<Built, ChannelSetupError> {
    const FILE_KEY: &str = "notifications.push.service_account_file";
    const URL_KEY: &str = "notifications.push.base_url";
    let push = &settings.push;
    if !push.enabled {
        return Ok(None);
    }
    let (url, project, account, key, suffix) =
        match (&push.base_url, sandbox) {
            (Some(url), _) => {
                let project = push.project_id.clone().ok_or_else(|| {
                    setup_error("notifications.push.project_id", "a Firebase project id with a base_url")
                })?;
                let path = push.service_account_file.as_ref().ok_or_else(|| {
                    setup_error(FILE_KEY, "the path of a service-account JSON key file with a base_url")
                })?;
                let json = std::fs::read_to_string(path)
                    .map_err(|e| setup_error(FILE_KEY, format!("a readable file ({}: {e})", path.display())))?;
                let account = push::ServiceAccount::from_json(&json)
                    .map_err(|reason| setup_error(FILE_KEY, format!("{}: {reason}", path.display())))?;
                (url.clone(), project, account, FILE_KEY, "")
            }
            (None, Some(sandbox)) => {
                let account = push::ServiceAccount::from_json(&sandbox.fcm_service_account_json)
                    .map_err(|reason| setup_error(URL_KEY, format!("the sandbox's key: {reason}")))?;
                (sandbox.base_url.clone(), sandbox.fcm_project_id.clone(), account, URL_KEY, BUNDLED)
            }
            (None, None) => return Ok(None),
        };
    let place = format!("{url}{suffix}, project {project}, as {}", account.client_email);
    let tokens = push::ServiceAccountTokens::new(account, client.clone(), push.timeout)
        .map_err(|reason| setup_error(key, reason))?;
    let channel = push::PushChannel::new(&url, project, tokens, client.clone(), push.timeout);
    Ok(Some((Arc::new(channel), place)))
}

/// The HTTP client of the SMS and push channels: pooled, with the provider
/// connection settings; each channel sets its own per-request timeout.
fn http_client(settings: &HttpClientSettings) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(settings.timeout.min(std::time::Duration::from_secs(5)))
        .pool_idle_timeout(settings.keepalive_timeout)
        .pool_max_idle_per_host(settings.max_idle_per_host)
        .user_agent(concat!("wayfarer/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// A transport failure, without the URL (it holds account ids): its kind and innermost cause.
pub(crate) fn http_failure(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(error);
    let mut cause = None;
    while let Some(inner) = source {
        cause = Some(inner.to_string());
        source = inner.source();
    }
    match cause {
        Some(cause) => format!("{kind}: {cause}"),
        None => kind.to_owned(),
    }
}

/// The start of a response body, for an error message.
pub(crate) fn body_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".to_owned();
    }
    let mut excerpt: String = text.chars().take(200).collect();
    if excerpt.len() < text.len() {
        excerpt.push('…');
    }
    excerpt
}
