//! Configuration: one [`Settings`] tree, resolved in layers.
//!
//! Order, later wins: built-in defaults → an optional TOML file (`wayfarer.toml`
//! in the working directory, or the `--config FILE` path) → `WAYFARER_*`
//! environment variables (`__` separates nesting: `WAYFARER_REDIS__MAX_CONNECTIONS`)
//! → the conventional `REDIS_URL` and `DATABASE_URL` → command-line flags. Unknown
//! keys are errors, so a typo fails the start instead of being ignored. Every
//! value is checked once here; a bad one fails with the key and the expected form.
//! Connection URLs are secrets: they may hold passwords, so they are typed to
//! never print, and the resolved config is shown with credentials redacted.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// The file read when `--config` is not given and it exists.
pub const DEFAULT_CONFIG_FILE: &str = "wayfarer.toml";

/// The resolved configuration of one Wayfarer process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `development` (the default) or `production`, which turns GraphQL
    /// introspection and "Did you mean" suggestions off whatever
    /// `graphql.introspection` says (`WAYFARER_PROFILE=production`).
    pub profile: Profile,
    /// Address the HTTP server binds (`HOST:PORT`; port 0 picks a free one).
    pub listen: SocketAddr,
    /// Directory of the embedded default's files (the SQLite database).
    pub data_dir: PathBuf,
    /// Inbound HTTP: limits, timeouts, origins, shutdown.
    pub server: ServerSettings,
    /// Outbound HTTP to providers (the old service's connector settings).
    pub http_client: HttpClientSettings,
    /// Flight providers; without a `base_url` a provider is served by the bundled sandbox.
    pub providers: ProvidersSettings,
    /// The payment gateway; without a `base_url` it is the bundled sandbox.
    pub payments: PaymentsSettings,
    /// Booking: the hold window, the sweepers, idempotency keys.
    pub booking: BookingSettings,
    /// Notifications: the delivery worker and the e-mail, SMS and push channels.
    pub notifications: NotificationSettings,
    /// Redis: sessions, pub/sub, caches. Absent URL → in-memory backends.
    pub redis: RedisSettings,
    /// The SQL system of record. Absent URL → SQLite under `data_dir`.
    pub database: DatabaseSettings,
    /// Traveller sessions.
    pub sessions: SessionSettings,
    /// The conversational agent.
    pub chat: ChatSettings,
    /// GraphQL limits and introspection.
    pub graphql: GraphqlSettings,
    /// GraphQL over WebSocket.
    pub websocket: WebSocketSettings,
    /// Per-session and per-client-IP operation budgets.
    pub rate_limits: RateLimitSettings,
    /// The old service's feature toggles.
    pub features: FeatureToggles,
    /// The `serviceStatus` snapshots.
    pub status: StatusSettings,
    /// Logs.
    pub telemetry: TelemetrySettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            profile: Profile::Development,
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            data_dir: PathBuf::from("./data"),
            server: ServerSettings::default(),
            http_client: HttpClientSettings::default(),
            providers: ProvidersSettings::default(),
            payments: PaymentsSettings::default(),
            booking: BookingSettings::default(),
            notifications: NotificationSettings::default(),
            redis: RedisSettings::default(),
            database: DatabaseSettings::default(),
            sessions: SessionSettings::default(),
            chat: ChatSettings::default(),
            graphql: GraphqlSettings::default(),
            websocket: WebSocketSettings::default(),
            rate_limits: RateLimitSettings::default(),
            features: FeatureToggles::default(),
            status: StatusSettings::default(),
            telemetry: TelemetrySettings::default(),
        }
    }
}

/// Inbound HTTP settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Largest accepted request body in bytes; larger is answered 413.
    pub body_limit: usize,
    /// Longest a single HTTP request may take before it is answered 408.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Longest a client may take to send a request's headers before the
    /// connection is closed (slowloris); the body is bounded by `request_timeout`.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// How long in-flight requests get to finish after SIGTERM/SIGINT.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace_period: Duration,
    /// Browser origins allowed to open WebSockets and make CORS requests, besides
    /// same-origin and any `http://localhost`/`127.0.0.1` origin. `"*"` allows all.
    pub allowed_origins: Vec<String>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            shutdown_grace_period: Duration::from_secs(10),
            allowed_origins: Vec::new(),
        }
    }
}

/// Outbound HTTP client settings, named as in the service Wayfarer replaces.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpClientSettings {
    /// Whole-request timeout of one provider call.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Most open connections across all providers.
    pub max_connections: usize,
    /// Most connections open at once per provider host (requests beyond wait).
    pub max_connections_per_host: usize,
    /// Most idle connections kept pooled per provider host; more are closed
    /// once their request is done. Separate from the cap above because an
    /// idle connection keeps its read buffer, grown to fit the largest
    /// body it carried (hundreds of KiB for a search answer): pooling every
    /// connection of a 1,000-search burst kept ~300 MiB after it.
    pub max_idle_per_host: usize,
    /// How long an idle pooled connection is kept open.
    #[serde(with = "humantime_serde")]
    pub keepalive_timeout: Duration,
    /// Whether provider calls speak HTTP/2 ([`Http2`]).
    pub http2: Http2,
}

/// HTTP/2 to providers: one connection per host carries every call as a
/// stream, where HTTP/1.1 needs a connection (socket, buffers, a hyper
/// connection task) per call in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Http2 {
    /// HTTP/1.1 only.
    Off,
    /// Offered in the TLS handshake (ALPN) and used when the provider picks
    /// it, as real Amadeus and Duffel endpoints do; plain `http://` stays
    /// HTTP/1.1. In-flight calls stay bounded by `max_connections_per_host`,
    /// below the 100-odd streams a provider allows per connection.
    #[default]
    Negotiate,
    /// Spoken from the first byte, without negotiation (h2c), also over
    /// plain `http://`: for the bundled sandbox, which accepts it. A
    /// provider that does not speak HTTP/2 fails every call.
    PriorKnowledge,
}

impl Default for HttpClientSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            max_connections: 100,
            max_connections_per_host: 30,
            max_idle_per_host: 32,
            keepalive_timeout: Duration::from_secs(30),
            http2: Http2::default(),
        }
    }
}

/// Flight provider settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProvidersSettings {
    /// The Amadeus-style provider.
    pub amadeus: AmadeusSettings,
    /// The Duffel-style provider.
    pub duffel: DuffelSettings,
    /// Longest one provider may take to answer a search.
    #[serde(with = "humantime_serde")]
    pub search_timeout: Duration,
    /// How long search results are reused (with `features.caching`).
    #[serde(with = "humantime_serde")]
    pub cache_ttl: Duration,
    /// Most memory, in MiB, the in-process search cache and offer store each
    /// hold when Redis is not configured (they share their offers, so
    /// together about this much); past it the oldest answers go first.
    pub memory_cache_mib: usize,
    /// Consecutive failures that open a provider's circuit.
    pub breaker_failures: u32,
    /// How long an open circuit skips the provider before probing it again.
    #[serde(with = "humantime_serde")]
    pub breaker_cool_down: Duration,
}

impl Default for ProvidersSettings {
    fn default() -> Self {
        Self {
            amadeus: AmadeusSettings::default(),
            duffel: DuffelSettings::default(),
            search_timeout: Duration::from_secs(8),
            cache_ttl: Duration::from_secs(60),
            memory_cache_mib: 64,
            breaker_failures: 5,
            breaker_cool_down: Duration::from_secs(30),
        }
    }
}

/// The Amadeus-style provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AmadeusSettings {
    /// Ask it at all.
    pub enabled: bool,
    /// API root, e.g. `https://test.api.amadeus.com`; none → the bundled sandbox.
    pub base_url: Option<String>,
    /// API key.
    pub client_id: Option<String>,
    /// API secret.
    #[serde(serialize_with = "serialize_redacted")]
    pub client_secret: Option<SecretString>,
    /// Client-side request rate limit per second (Amadeus test allows 10).
    pub rate_limit_per_second: f64,
}

impl Default for AmadeusSettings {
    fn default() -> Self {
        Self { enabled: true, base_url: None, client_id: None, client_secret: None, rate_limit_per_second: 200.0 }
    }
}

/// The Duffel-style provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DuffelSettings {
    /// Ask it at all.
    pub enabled: bool,
    /// API root, e.g. `https://api.duffel.com`; none → the bundled sandbox.
    pub base_url: Option<String>,
    /// Access token.
    #[serde(serialize_with = "serialize_redacted")]
    pub token: Option<SecretString>,
    /// Client-side request rate limit per second.
    pub rate_limit_per_second: f64,
}

impl Default for DuffelSettings {
    fn default() -> Self {
        Self { enabled: true, base_url: None, token: None, rate_limit_per_second: 200.0 }
    }
}

/// The Stripe-style payment gateway.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaymentsSettings {
    /// API root, e.g. `https://api.stripe.com`; none → the bundled sandbox
    /// (which brings its own keys).
    pub base_url: Option<String>,
    /// Secret API key (`sk_…`); needed with a `base_url`.
    #[serde(serialize_with = "serialize_redacted")]
    pub secret_key: Option<SecretString>,
    /// Webhook signing secret (`whsec_…`) of the `/webhooks/payments` endpoint;
    /// needed with a `base_url`.
    #[serde(serialize_with = "serialize_redacted")]
    pub webhook_secret: Option<SecretString>,
    /// How far a webhook's signed timestamp may be from now.
    #[serde(with = "humantime_serde")]
    pub webhook_tolerance: Duration,
    /// Whole-call timeout of one gateway request, retries included.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Client-side request rate limit per second (Stripe test mode allows 25).
    pub rate_limit_per_second: f64,
    /// This server's public URL, the base of the hosted page's success and
    /// cancel links (`https://wayfarer.example`); none → the listen address.
    pub public_base_url: Option<String>,
}

impl Default for PaymentsSettings {
    fn default() -> Self {
        Self {
            base_url: None,
            secret_key: None,
            webhook_secret: None,
            webhook_tolerance: Duration::from_secs(300),
            request_timeout: Duration::from_secs(10),
            rate_limit_per_second: 25.0,
            public_base_url: None,
        }
    }
}

/// Booking and its background work.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BookingSettings {
    /// How long a new booking holds its seats unpaid (`expiresAt` = creation + this).
    #[serde(with = "humantime_serde")]
    pub hold_window: Duration,
    /// `BOOKING_EXPIRING` is published this long before an unpaid hold lapses.
    #[serde(with = "humantime_serde")]
    pub expiring_notice: Duration,
    /// How often the sweeper looks for lapsed holds, due warnings and stuck sagas.
    #[serde(with = "humantime_serde")]
    pub sweep_interval: Duration,
    /// A saga resting this long in an in-flight step was interrupted; the
    /// recovery sweep finishes or compensates it. Longer than any one request.
    #[serde(with = "humantime_serde")]
    pub recovery_after: Duration,
    /// Client idempotency keys are kept this long (at least 24 h, the contract's floor).
    #[serde(with = "humantime_serde")]
    pub idempotency_retention: Duration,
    /// How long a `payForBooking` waits for a concurrent request with the
    /// same key to finish before answering "retry".
    #[serde(with = "humantime_serde")]
    pub idempotency_wait: Duration,
}

impl Default for BookingSettings {
    fn default() -> Self {
        Self {
            hold_window: Duration::from_secs(20 * 60),
            expiring_notice: Duration::from_secs(5 * 60),
            sweep_interval: Duration::from_secs(15),
            recovery_after: Duration::from_secs(2 * 60),
            idempotency_retention: Duration::from_secs(24 * 60 * 60),
            idempotency_wait: Duration::from_secs(10),
        }
    }
}

/// Notifications: how the worker claims events and retries deliveries, and
/// the channels. A channel without its endpoint is off; notifications are
/// still stored and pushed to subscribers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationSettings {
    /// Tries per channel delivery before it is dead-lettered.
    pub max_attempts: u32,
    /// Pause before the first retry; doubled (with jitter) after each failure.
    #[serde(with = "humantime_serde")]
    pub retry_base: Duration,
    /// Longest pause between retries.
    #[serde(with = "humantime_serde")]
    pub retry_max: Duration,
    /// How often the worker looks for events the bus did not bring and
    /// deliveries that are due, and how soon a crashed claimer's work is taken over
    /// (a claim lasts four intervals).
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Booking events the worker turns into notifications at once, each
    /// lane in order: a session's events always share a lane, so its
    /// notifications are stored in the order its events happened.
    pub worker_lanes: usize,
    /// E-mail over SMTP.
    pub email: EmailChannelSettings,
    /// SMS through a Twilio-style API.
    pub sms: SmsChannelSettings,
    /// Push through an FCM-v1-style API.
    pub push: PushChannelSettings,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(300),
            poll_interval: Duration::from_secs(2),
            worker_lanes: 8,
            email: EmailChannelSettings::default(),
            sms: SmsChannelSettings::default(),
            push: PushChannelSettings::default(),
        }
    }
}

/// E-mail over SMTP.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailChannelSettings {
    /// `smtp://[user:pass@]host[:port]` (STARTTLS required, port 587),
    /// `smtps://…` (implicit TLS, port 465) or `smtp+plain://…` (no TLS, port
    /// 25: a trusted local relay); user and password percent-encoded; absent → off.
    #[serde(serialize_with = "serialize_redacted_url")]
    pub smtp_url: Option<SecretString>,
    /// The sender, `Name <address>` or a bare address.
    pub from: String,
    /// Longest wait for one message.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for EmailChannelSettings {
    fn default() -> Self {
        Self {
            smtp_url: None,
            from: "Wayfarer <bookings@wayfarer.example>".to_owned(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// SMS through a Twilio-style Programmable Messaging API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsChannelSettings {
    /// Send SMS at all (`false` turns the channel off, sandbox or not).
    pub enabled: bool,
    /// API root (`https://api.twilio.com`); absent → the bundled sandbox's
    /// SMS sink when the sandbox runs, else off.
    pub base_url: Option<String>,
    /// Account SID (`AC…`), in the path and the Basic user.
    pub account_sid: Option<String>,
    /// Auth token, the Basic password.
    #[serde(serialize_with = "serialize_redacted")]
    pub auth_token: Option<SecretString>,
    /// Sender number (E.164) or Messaging Service SID (`MG…`).
    pub from: Option<String>,
    /// Longest wait for one message.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for SmsChannelSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            base_url: None,
            account_sid: None,
            auth_token: None,
            from: None,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Push through an FCM-HTTP-v1-style API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushChannelSettings {
    /// Send push messages at all (`false` turns the channel off, sandbox or not).
    pub enabled: bool,
    /// API root (`https://fcm.googleapis.com`); absent → the bundled
    /// sandbox's push sink when the sandbox runs, else off.
    pub base_url: Option<String>,
    /// The Firebase project id.
    pub project_id: Option<String>,
    /// A Google service-account JSON key file (its `private_key`,
    /// `client_email` and `token_uri` sign and exchange the OAuth2 assertion).
    pub service_account_file: Option<PathBuf>,
    /// Longest wait for one message.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for PushChannelSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            base_url: None,
            project_id: None,
            service_account_file: None,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Redis settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://[user:password@]host:port[/db]`; also read from `REDIS_URL`.
    #[serde(serialize_with = "serialize_redacted_url")]
    pub url: Option<SecretString>,
    /// Size of the connection pool.
    pub max_connections: usize,
    /// Longest wait to open a connection or to get one from the pool.
    #[serde(with = "humantime_serde")]
    pub connection_timeout: Duration,
    /// Longest wait for one Redis command's answer.
    #[serde(with = "humantime_serde")]
    pub command_timeout: Duration,
    /// Prefix of every key and channel, so several deployments can share a server.
    pub key_prefix: String,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 32,
            connection_timeout: Duration::from_secs(2),
            command_timeout: Duration::from_secs(1),
            key_prefix: "wayfarer".to_owned(),
        }
    }
}

/// SQL store settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `postgres://…` or `sqlite://…`; also read from `DATABASE_URL`. Absent:
    /// `sqlite://<data_dir>/wayfarer.db`, created on first run.
    #[serde(serialize_with = "serialize_redacted_url")]
    pub url: Option<SecretString>,
    /// Size of the connection pool.
    pub max_connections: u32,
    /// Longest wait for a pooled connection.
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self { url: None, max_connections: 16, acquire_timeout: Duration::from_secs(5) }
    }
}

/// Session settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionSettings {
    /// Idle time after which a session expires; every authenticated use slides it.
    #[serde(with = "humantime_serde")]
    pub idle_ttl: Duration,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self { idle_ttl: Duration::from_secs(24 * 3600) }
    }
}

/// The conversational agent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatSettings {
    /// Most messages kept in a session's conversation (oldest dropped first).
    pub history_limit: usize,
    /// Most flight cards in one reply.
    pub offers_per_reply: usize,
    /// How long an extraction result is cached (keyed by text, language, reference date).
    #[serde(with = "humantime_serde")]
    pub extraction_cache_ttl: Duration,
    /// An optional OpenAI-compatible extractor; the built-in engine answers without it.
    pub llm: LlmSettings,
}

impl Default for ChatSettings {
    fn default() -> Self {
        Self {
            history_limit: 50,
            offers_per_reply: 5,
            extraction_cache_ttl: Duration::from_secs(600),
            llm: LlmSettings::default(),
        }
    }
}

/// An OpenAI-compatible `/v1/chat/completions` endpoint with JSON-schema output.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmSettings {
    /// Base URL (`https://api.openai.com`); absent → the built-in engine only.
    pub base_url: Option<String>,
    /// Model name.
    pub model: String,
    /// Bearer key, if the endpoint wants one.
    #[serde(serialize_with = "serialize_redacted")]
    pub api_key: Option<SecretString>,
    /// Longest wait for an answer before the built-in engine answers instead.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for LlmSettings {
    fn default() -> Self {
        Self { base_url: None, model: "gpt-4o-mini".to_owned(), api_key: None, timeout: Duration::from_secs(3) }
    }
}

/// GraphQL limits. Defaults follow GraphQL Armor's, except depth: the contract's
/// own `BookingDetail` selection is eight levels deep, so the limit is ten.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GraphqlSettings {
    /// Serve `__schema`/`__type` and "Did you mean" hints. Off turns both off.
    pub introspection: bool,
    /// Deepest selection nesting.
    pub max_depth: usize,
    /// Largest total field cost (each field costs 1 unless it says otherwise).
    pub max_complexity: usize,
    /// Most aliases in one operation (fragments included).
    pub max_aliases: usize,
    /// Most lexical tokens in one document.
    pub max_tokens: usize,
    /// Most directives in one operation.
    pub max_directives: usize,
    /// Most operations in one HTTP batch (a JSON array). 1 turns batching off.
    pub max_batch_size: usize,
}

impl Default for GraphqlSettings {
    fn default() -> Self {
        Self {
            introspection: true,
            max_depth: 10,
            max_complexity: 1000,
            max_aliases: 15,
            max_tokens: 1000,
            max_directives: 50,
            max_batch_size: 1,
        }
    }
}

/// GraphQL over WebSocket settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebSocketSettings {
    /// Largest accepted text message in bytes; larger closes the socket with 1009.
    pub max_message_size: usize,
    /// Most active subscriptions on one connection.
    pub max_subscriptions: usize,
    /// How long a client has to send `connection_init` before the socket closes 4408.
    #[serde(with = "humantime_serde")]
    pub connection_init_timeout: Duration,
    /// Interval of the server's keep-alive pings; a peer silent for two
    /// intervals is considered gone.
    #[serde(with = "humantime_serde")]
    pub keepalive_interval: Duration,
}

impl Default for WebSocketSettings {
    fn default() -> Self {
        Self {
            max_message_size: 64 * 1024,
            max_subscriptions: 100,
            connection_init_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(12),
        }
    }
}

/// The deployment profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Local use: introspection as `graphql.introspection` says.
    Development,
    /// A public deployment: no introspection, no field suggestions.
    Production,
}

/// Operation budgets, counted in the GraphQL layer: every root field of an
/// operation counts once (so `a: startSession b: startSession` is two), each
/// operation of an HTTP batch counts, and a subscription counts when it
/// starts. Budgets are per fixed `window`; with Redis configured the
/// counters live there and hold across instances.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Count and refuse at all (`false` turns every budget off).
    pub enabled: bool,
    /// Length of one counting window; a refused client is told to retry when it ends.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Root fields one session may run per window.
    pub per_session: u32,
    /// Root fields one client IP (an IPv6 client: its /64) may run per window.
    pub per_ip: u32,
    /// `startSession` calls per client IP per window.
    pub start_session: u32,
    /// `createBooking` calls per session, and per client IP, per window.
    pub create_booking: u32,
    /// `payForBooking` calls per session, and per client IP, per window.
    pub pay_for_booking: u32,
    /// Peers (IPs or CIDRs, e.g. `"10.0.0.0/8"`) whose `forwarded_header` is
    /// believed. Empty: the client IP is always the TCP peer address.
    pub trusted_proxies: Vec<String>,
    /// The header a trusted proxy puts the client address in; the last
    /// address in it that is not itself a trusted proxy is the client.
    pub forwarded_header: String,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            window: Duration::from_secs(60),
            per_session: 600,
            per_ip: 1200,
            start_session: 20,
            create_booking: 10,
            pay_for_booking: 10,
            trusted_proxies: Vec::new(),
            forwarded_header: "x-forwarded-for".to_owned(),
        }
    }
}

impl RateLimitSettings {
    /// The trusted proxies, parsed (bare IPs become /32 or /128 networks).
    pub fn trusted_networks(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.trusted_proxies
            .iter()
            .map(|raw| {
                let raw = raw.trim();
                raw.parse::<ipnet::IpNet>()
                    .or_else(|_| raw.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| raw.to_owned())
            })
            .collect()
    }
}

/// The old service's toggles, kept under their own names so its operators
/// find them. Later issues give them effect in the flight search.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeatureToggles {
    /// Reuse provider connections (off: a fresh connection per call).
    pub connection_pooling: bool,
    /// Query providers concurrently (off: one after another).
    pub parallel_processing: bool,
    /// Cache provider results.
    pub caching: bool,
}

impl Default for FeatureToggles {
    fn default() -> Self {
        Self { connection_pooling: true, parallel_processing: true, caching: true }
    }
}

/// `serviceStatus` snapshot settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatusSettings {
    /// How often each instance publishes a health snapshot on the event bus.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Longest a single component check may take before it counts as down.
    #[serde(with = "humantime_serde")]
    pub check_timeout: Duration,
}

impl Default for StatusSettings {
    fn default() -> Self {
        Self { interval: Duration::from_secs(5), check_timeout: Duration::from_secs(2) }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per event.
    Json,
}

/// Log settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetrySettings {
    /// `pretty` or `json`.
    pub log_format: LogFormat,
    /// A `tracing` filter (`info`, `wayfarer=debug,tower_http=info`); `RUST_LOG` overrides.
    pub log_filter: String,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self { log_format: LogFormat::Pretty, log_filter: "info".to_owned() }
    }
}

/// Command-line values that override everything else.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
}

/// Why the configuration could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The `--config` file does not exist.
    #[error("config file {0} does not exist")]
    MissingFile(PathBuf),
    /// A key has a bad value or is unknown.
    #[error("{0}")]
    Invalid(String),
}

impl Settings {
    /// Resolves the configuration from the process environment.
    pub fn load(config_file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        Self::load_from(config_file, overrides, std::env::vars())
    }

    /// Resolves the configuration from the given environment (tests pass their own).
    pub fn load_from(
        config_file: Option<&Path>,
        overrides: &Overrides,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        match config_file {
            Some(path) if !path.exists() => return Err(ConfigError::MissingFile(path.to_owned())),
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                figment = figment.merge(Toml::file_exact(DEFAULT_CONFIG_FILE));
            }
            None => {}
        }
        let env: Vec<(String, String)> = env.into_iter().collect();
        let prefixed: Vec<(String, String)> = env
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("WAYFARER_").map(|rest| (rest.to_owned(), v.clone())))
            .collect();
        // figment's Env provider reads the real process environment; feeding it
        // through a TOML-free map keeps `load_from` pure for tests.
        for (key, value) in &prefixed {
            let path = key.to_ascii_lowercase().replace("__", ".");
            figment = figment.merge(Serialized::global(&path, env_value(value)));
        }
        for (conventional, path) in [("REDIS_URL", "redis.url"), ("DATABASE_URL", "database.url")] {
            if let Some((_, v)) = env.iter().find(|(k, _)| k == conventional)
                && !v.is_empty()
            {
                figment = figment.merge(Serialized::global(path, v.clone()));
            }
        }
        if let Some(listen) = overrides.listen {
            figment = figment.merge(Serialized::global("listen", listen.to_string()));
        }
        if let Some(dir) = &overrides.data_dir {
            figment = figment.merge(Serialized::global("data_dir", dir.display().to_string()));
        }
        let settings: Settings = figment.extract_lossy().map_err(describe_figment_error)?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("server.body_limit", self.server.body_limit),
            ("http_client.max_connections", self.http_client.max_connections),
            ("http_client.max_connections_per_host", self.http_client.max_connections_per_host),
            ("redis.max_connections", self.redis.max_connections),
            ("database.max_connections", self.database.max_connections as usize),
            ("graphql.max_depth", self.graphql.max_depth),
            ("graphql.max_complexity", self.graphql.max_complexity),
            ("graphql.max_tokens", self.graphql.max_tokens),
            ("graphql.max_batch_size", self.graphql.max_batch_size),
            ("websocket.max_message_size", self.websocket.max_message_size),
            ("websocket.max_subscriptions", self.websocket.max_subscriptions),
            ("chat.history_limit", self.chat.history_limit),
            ("chat.offers_per_reply", self.chat.offers_per_reply),
            ("notifications.max_attempts", self.notifications.max_attempts as usize),
            ("notifications.worker_lanes", self.notifications.worker_lanes),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(invalid(key, "a whole number of at least 1"));
            }
        }
        let durations = [
            ("server.request_timeout", self.server.request_timeout),
            ("server.header_read_timeout", self.server.header_read_timeout),
            ("http_client.timeout", self.http_client.timeout),
            ("redis.connection_timeout", self.redis.connection_timeout),
            ("redis.command_timeout", self.redis.command_timeout),
            ("database.acquire_timeout", self.database.acquire_timeout),
            ("sessions.idle_ttl", self.sessions.idle_ttl),
            ("websocket.connection_init_timeout", self.websocket.connection_init_timeout),
            ("websocket.keepalive_interval", self.websocket.keepalive_interval),
            ("status.interval", self.status.interval),
            ("status.check_timeout", self.status.check_timeout),
            ("chat.extraction_cache_ttl", self.chat.extraction_cache_ttl),
            ("chat.llm.timeout", self.chat.llm.timeout),
            ("notifications.retry_base", self.notifications.retry_base),
            ("notifications.retry_max", self.notifications.retry_max),
            ("notifications.poll_interval", self.notifications.poll_interval),
        ];
        for (key, value) in durations {
            if value.is_zero() {
                return Err(invalid(key, "a duration above zero, like \"30s\" or \"500ms\""));
            }
        }
        let providers = &self.providers;
        for (key, value) in [
            ("providers.amadeus.rate_limit_per_second", providers.amadeus.rate_limit_per_second),
            ("providers.duffel.rate_limit_per_second", providers.duffel.rate_limit_per_second),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(invalid(key, "a number of requests per second above zero"));
            }
        }
        for (key, value) in [
            ("providers.search_timeout", providers.search_timeout),
            ("providers.breaker_cool_down", providers.breaker_cool_down),
        ] {
            if value.is_zero() {
                return Err(invalid(key, "a duration above zero, like \"8s\""));
            }
        }
        if providers.breaker_failures == 0 {
            return Err(invalid("providers.breaker_failures", "a whole number of at least 1"));
        }
        for (key, url) in [
            ("providers.amadeus.base_url", &providers.amadeus.base_url),
            ("providers.duffel.base_url", &providers.duffel.base_url),
            ("chat.llm.base_url", &self.chat.llm.base_url),
        ] {
            if let Some(url) = url
                && !url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
            {
                return Err(invalid(key, "an http:// or https:// URL"));
            }
        }
        if providers.amadeus.base_url.is_some()
            && (providers.amadeus.client_id.is_none() || providers.amadeus.client_secret.is_none())
        {
            return Err(invalid("providers.amadeus.client_id", "client_id and client_secret with a base_url"));
        }
        if providers.duffel.base_url.is_some() && providers.duffel.token.is_none() {
            return Err(invalid("providers.duffel.token", "a token with a base_url"));
        }
        self.validate_payments()?;
        self.validate_booking()?;
        self.validate_rate_limits()?;
        self.validate_notification_channels()?;
        if self.sessions.idle_ttl < Duration::from_secs(1) {
            return Err(invalid("sessions.idle_ttl", "at least \"1s\""));
        }
        if let Some(url) = &self.redis.url {
            let parsed = url::Url::parse(url.expose_secret())
                .map_err(|_| invalid("redis.url", "a URL like redis://127.0.0.1:6379"))?;
            if !matches!(parsed.scheme(), "redis" | "rediss" | "redis+unix" | "unix") {
                return Err(invalid("redis.url", "a redis:// or rediss:// URL"));
            }
        }
        if let Some(url) = &self.database.url {
            match DatabaseEngine::of_url(url.expose_secret()) {
                Some(_) => {}
                None => return Err(invalid("database.url", "a postgres:// or sqlite:// URL")),
            }
        }
        if self.redis.key_prefix.is_empty() || self.redis.key_prefix.contains(char::is_whitespace) {
            return Err(invalid("redis.key_prefix", "a non-empty string without spaces"));
        }
        for origin in &self.server.allowed_origins {
            if origin != "*" && url::Url::parse(origin).is_err() {
                return Err(invalid("server.allowed_origins", "origins like \"https://app.example.com\" or \"*\""));
            }
        }
        Ok(())
    }

    fn validate_rate_limits(&self) -> Result<(), ConfigError> {
        let limits = &self.rate_limits;
        if limits.window < Duration::from_secs(1) {
            return Err(invalid("rate_limits.window", "at least \"1s\""));
        }
        for (key, value) in [
            ("rate_limits.per_session", limits.per_session),
            ("rate_limits.per_ip", limits.per_ip),
            ("rate_limits.start_session", limits.start_session),
            ("rate_limits.create_booking", limits.create_booking),
            ("rate_limits.pay_for_booking", limits.pay_for_booking),
        ] {
            if value == 0 {
                return Err(invalid(
                    key,
                    "a whole number of at least 1 (set rate_limits.enabled = false to turn limits off)",
                ));
            }
        }
        if let Err(bad) = limits.trusted_networks() {
            return Err(invalid(
                "rate_limits.trusted_proxies",
                &format!("IP addresses or CIDR networks like \"10.0.0.0/8\" (not {bad:?})"),
            ));
        }
        if axum::http::HeaderName::from_bytes(limits.forwarded_header.as_bytes()).is_err() {
            return Err(invalid("rate_limits.forwarded_header", "a header name like \"x-forwarded-for\""));
        }
        Ok(())
    }

    /// Whether introspection and suggestions are served: never under the
    /// production profile.
    pub fn introspection_enabled(&self) -> bool {
        self.graphql.introspection && self.profile != Profile::Production
    }

    fn validate_booking(&self) -> Result<(), ConfigError> {
        let booking = &self.booking;
        for (key, value) in [
            ("booking.hold_window", booking.hold_window),
            ("booking.expiring_notice", booking.expiring_notice),
            ("booking.sweep_interval", booking.sweep_interval),
            ("booking.recovery_after", booking.recovery_after),
            ("booking.idempotency_wait", booking.idempotency_wait),
        ] {
            if value.is_zero() {
                return Err(invalid(key, "a duration above zero, like \"20m\""));
            }
        }
        if booking.hold_window > Duration::from_secs(24 * 60 * 60) {
            return Err(invalid("booking.hold_window", "at most \"24h\" (providers hold seats for less)"));
        }
        if booking.expiring_notice >= booking.hold_window {
            return Err(invalid("booking.expiring_notice", "shorter than booking.hold_window"));
        }
        if booking.idempotency_retention < Duration::from_secs(24 * 60 * 60) {
            return Err(invalid("booking.idempotency_retention", "at least \"24h\" (the contract keeps keys a day)"));
        }
        if booking.recovery_after <= self.payments.request_timeout {
            return Err(invalid("booking.recovery_after", "longer than payments.request_timeout"));
        }
        Ok(())
    }

    /// The channels' own keys (the worker's are checked with the rest).
    /// A channel's credentials without its endpoint are refused: the bundled
    /// sandbox brings its own, so they would be silently unused.
    fn validate_notification_channels(&self) -> Result<(), ConfigError> {
        let email = &self.notifications.email;
        if let Some(url) = &email.smtp_url {
            crate::notifications::channels::email::SmtpTarget::parse(url.expose_secret())
                .map_err(|reason| invalid("notifications.email.smtp_url", &reason))?;
        }
        if email.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(invalid("notifications.email.from", "a sender like \"Wayfarer <bookings@example.com>\""));
        }
        let sms = &self.notifications.sms;
        let push = &self.notifications.push;
        for (key, url) in
            [("notifications.sms.base_url", &sms.base_url), ("notifications.push.base_url", &push.base_url)]
        {
            if let Some(url) = url
                && !url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
            {
                return Err(invalid(key, "an http:// or https:// URL"));
            }
        }
        if sms.base_url.is_some() {
            if !sms.account_sid.as_deref().is_some_and(|sid| sid.starts_with("AC") && sid.len() > 2) {
                return Err(invalid("notifications.sms.account_sid", "an account SID (AC…) with a base_url"));
            }
            if sms.auth_token.is_none() {
                return Err(invalid("notifications.sms.auth_token", "an auth token with a base_url"));
            }
            match sms.from.as_deref() {
                Some(from) if from.starts_with("MG") || crate::notifications::channels::sms::is_e164(from) => {}
                _ => {
                    return Err(invalid(
                        "notifications.sms.from",
                        "a sender number in E.164 (+15005550006) or a Messaging Service SID (MG…) with a base_url",
                    ));
                }
            }
        } else if sms.account_sid.is_some() || sms.auth_token.is_some() || sms.from.is_some() {
            return Err(invalid(
                "notifications.sms.base_url",
                "a base_url (https://api.twilio.com) with account_sid, auth_token or from",
            ));
        }
        if push.base_url.is_some() {
            if push.project_id.as_deref().is_none_or(str::is_empty) {
                return Err(invalid("notifications.push.project_id", "a Firebase project id with a base_url"));
            }
            if push.service_account_file.is_none() {
                return Err(invalid(
                    "notifications.push.service_account_file",
                    "the path of a service-account JSON key file with a base_url",
                ));
            }
        } else if push.project_id.is_some() || push.service_account_file.is_some() {
            return Err(invalid(
                "notifications.push.base_url",
                "a base_url (https://fcm.googleapis.com) with project_id or service_account_file",
            ));
        }
        for (key, value) in [
            ("notifications.email.timeout", email.timeout),
            ("notifications.sms.timeout", sms.timeout),
            ("notifications.push.timeout", push.timeout),
        ] {
            if value.is_zero() {
                return Err(invalid(key, "a duration above zero, like \"10s\""));
            }
        }
        Ok(())
    }

    fn validate_payments(&self) -> Result<(), ConfigError> {
        let payments = &self.payments;
        for (key, url) in
            [("payments.base_url", &payments.base_url), ("payments.public_base_url", &payments.public_base_url)]
        {
            if let Some(url) = url
                && !url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
            {
                return Err(invalid(key, "an http:// or https:// URL"));
            }
        }
        match payments.base_url {
            Some(_) if payments.secret_key.is_none() => {
                return Err(invalid("payments.secret_key", "a secret key (sk_…) with a base_url"));
            }
            Some(_) if payments.webhook_secret.is_none() => {
                return Err(invalid("payments.webhook_secret", "a webhook signing secret (whsec_…) with a base_url"));
            }
            // The sandbox has its own keys; a configured one would be silently unused.
            None if payments.secret_key.is_some() || payments.webhook_secret.is_some() => {
                return Err(invalid(
                    "payments.secret_key",
                    "no secret_key or webhook_secret without a base_url (the bundled sandbox has its own)",
                ));
            }
            _ => {}
        }
        for (key, value) in [
            ("payments.webhook_tolerance", payments.webhook_tolerance),
            ("payments.request_timeout", payments.request_timeout),
        ] {
            if value.is_zero() {
                return Err(invalid(key, "a duration above zero, like \"300s\""));
            }
        }
        if !(payments.rate_limit_per_second.is_finite() && payments.rate_limit_per_second > 0.0) {
            return Err(invalid("payments.rate_limit_per_second", "a number of requests per second above zero"));
        }
        Ok(())
    }

    /// The SQL store's URL: the configured one, or the embedded SQLite file.
    pub fn database_url(&self) -> SecretString {
        match &self.database.url {
            Some(url) => url.clone(),
            None => {
                let path = self.data_dir.join("wayfarer.db");
                SecretString::from(format!("sqlite://{}?mode=rwc", path.display()))
            }
        }
    }

    /// The resolved configuration as TOML, credentials redacted.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# could not render config: {e}\n"))
    }
}

/// Which SQL engine a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseEngine {
    /// SQLite, the embedded default.
    Sqlite,
    /// PostgreSQL, production.
    Postgres,
}

impl DatabaseEngine {
    /// The engine of a `postgres://`/`postgresql://`/`sqlite:` URL.
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else {
            None
        }
    }

    /// Lower-case name for logs and status.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// Environment values stay strings — extraction is lossy, so `"8"` becomes a
/// number only where the key wants one and a token of digits stays a string —
/// except lists, written as in TOML (`["https://a.example"]`).
fn env_value(raw: &str) -> figment::value::Value {
    use figment::value::Value;
    let trimmed = raw.trim();
    if trimmed.starts_with('[')
        && let Ok(table) = toml::from_str::<toml::Table>(&format!("v = {trimmed}"))
        && let Some(list) = table.get("v")
        && let Ok(v) = Value::serialize(list)
    {
        return v;
    }
    Value::from(raw.to_owned())
}

fn invalid(key: &str, expected: &str) -> ConfigError {
    ConfigError::Invalid(format!("invalid configuration value for `{key}`: expected {expected}"))
}

fn describe_figment_error(error: figment::Error) -> ConfigError {
    let messages: Vec<String> = error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            if let figment::error::Kind::UnknownField(field, _) = &e.kind {
                let key = if key.is_empty() { field.clone() } else { format!("{key}.{field}") };
                return format!("unknown configuration key `{key}`: see the configuration table in README.md");
            }
            let what = e.kind.to_string();
            let hint = if what.contains("duration") || key.ends_with("timeout") || key.ends_with("ttl") {
                "; durations are written like \"30s\", \"500ms\" or \"24h\""
            } else {
                ""
            };
            let key = if key.is_empty() { "(top level)".to_owned() } else { key };
            format!("invalid configuration value for `{key}`: {what}{hint}")
        })
        .collect();
    ConfigError::Invalid(messages.join("\n"))
}

fn serialize_redacted<S: serde::Serializer>(secret: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) => s.serialize_str("REDACTED"),
        None => s.serialize_none(),
    }
}

fn serialize_redacted_url<S: serde::Serializer>(url: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match url {
        Some(url) => s.serialize_str(&redact_url(url.expose_secret())),
        None => s.serialize_none(),
    }
}

/// A URL with its password (and user) replaced, safe to print or log.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("REDACTED"));
            }
            url.to_string()
        }
        Err(_) => "<unparseable URL>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::load_from(None, &Overrides::default(), env(pairs))
    }

    #[test]
    fn defaults_need_no_configuration() {
        let s = load(&[]).expect("defaults load");
        assert_eq!(s.listen.to_string(), "127.0.0.1:8000");
        assert!(s.redis.url.is_none());
        assert_eq!(s.sessions.idle_ttl, Duration::from_secs(86_400));
        assert_eq!(s.server.body_limit, 1 << 20);
    }

    #[test]
    fn environment_nests_with_double_underscore() {
        let s = load(&[
            ("WAYFARER_REDIS__MAX_CONNECTIONS", "7"),
            ("WAYFARER_SESSIONS__IDLE_TTL", "90m"),
            ("WAYFARER_LISTEN", "0.0.0.0:9000"),
            ("WAYFARER_FEATURES__CACHING", "false"),
            ("WAYFARER_SERVER__ALLOWED_ORIGINS", "[\"https://app.example.com\"]"),
            ("WAYFARER_REDIS__KEY_PREFIX", "2024"),
            ("WAYFARER_PROVIDERS__AMADEUS__RATE_LIMIT_PER_SECOND", "10"),
        ])
        .expect("loads");
        assert_eq!(s.redis.max_connections, 7);
        assert_eq!(s.sessions.idle_ttl, Duration::from_secs(5400));
        assert_eq!(s.listen.to_string(), "0.0.0.0:9000");
        assert!(!s.features.caching);
        assert_eq!(s.server.allowed_origins, vec!["https://app.example.com".to_owned()]);
        assert_eq!(s.redis.key_prefix, "2024", "digits stay a string where a string is wanted");
        assert!((s.providers.amadeus.rate_limit_per_second - 10.0).abs() < f64::EPSILON);
    }

    #[test]
    fn conventional_urls_are_read_and_never_printed() {
        let s = load(&[("REDIS_URL", "redis://:hunter2@127.0.0.1:6379"), ("DATABASE_URL", "postgres://u:pw@db/x")])
            .expect("loads");
        let printed = format!("{s:?}\n{}", s.to_redacted_toml());
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(!printed.contains(":pw@"), "{printed}");
        assert!(printed.contains("REDACTED"));
    }

    #[test]
    fn a_bad_value_names_the_key_and_the_form() {
        let err = load(&[("WAYFARER_REDIS__MAX_CONNECTIONS", "lots")]).expect_err("rejected").to_string();
        assert!(err.contains("redis.max_connections"), "{err}");
        let err = load(&[("WAYFARER_SESSIONS__IDLE_TTL", "forever")]).expect_err("rejected").to_string();
        assert!(err.contains("sessions.idle_ttl") && err.contains("\"30s\""), "{err}");
        let err = load(&[("WAYFARER_LISTEN", "localhost")]).expect_err("rejected").to_string();
        assert!(err.contains("listen"), "{err}");
        let err = load(&[("DATABASE_URL", "mysql://x")]).expect_err("rejected").to_string();
        assert!(err.contains("database.url") && err.contains("postgres://"), "{err}");
        let err = load(&[("WAYFARER_GRAPHQL__MAX_DEPTH", "0")]).expect_err("rejected").to_string();
        assert!(err.contains("graphql.max_depth"), "{err}");
    }

    #[test]
    fn payments_default_to_the_sandbox_and_real_ones_need_keys() {
        let s = load(&[]).expect("defaults");
        assert!(s.payments.base_url.is_none() && s.payments.secret_key.is_none());
        assert_eq!(s.payments.webhook_tolerance, Duration::from_secs(300));
        let err = load(&[("WAYFARER_PAYMENTS__BASE_URL", "https://api.stripe.com")]).expect_err("no key").to_string();
        assert!(err.contains("payments.secret_key"), "{err}");
        let err = load(&[
            ("WAYFARER_PAYMENTS__BASE_URL", "https://api.stripe.com"),
            ("WAYFARER_PAYMENTS__SECRET_KEY", "sk_live_x"),
        ])
        .expect_err("no webhook secret")
        .to_string();
        assert!(err.contains("payments.webhook_secret"), "{err}");
        let s = load(&[
            ("WAYFARER_PAYMENTS__BASE_URL", "https://api.stripe.com"),
            ("WAYFARER_PAYMENTS__SECRET_KEY", "sk_live_hunter2"),
            ("WAYFARER_PAYMENTS__WEBHOOK_SECRET", "whsec_hunter3"),
            ("WAYFARER_PAYMENTS__WEBHOOK_TOLERANCE", "2m"),
        ])
        .expect("loads");
        assert_eq!(s.payments.webhook_tolerance, Duration::from_secs(120));
        let printed = format!("{s:?}\n{}", s.to_redacted_toml());
        assert!(!printed.contains("hunter2") && !printed.contains("hunter3"), "{printed}");
        let err = load(&[("WAYFARER_PAYMENTS__SECRET_KEY", "sk_test_x")]).expect_err("key without url").to_string();
        assert!(err.contains("payments.secret_key"), "{err}");
        let err = load(&[("WAYFARER_PAYMENTS__PUBLIC_BASE_URL", "wayfarer.example")]).expect_err("bad url").to_string();
        assert!(err.contains("payments.public_base_url"), "{err}");
    }

    #[test]
    fn notification_channels_need_their_credentials_and_name_the_key() {
        let s = load(&[]).expect("defaults");
        assert!(s.notifications.sms.enabled && s.notifications.sms.base_url.is_none());
        assert!(s.notifications.email.smtp_url.is_none());
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("WAYFARER_NOTIFICATIONS__EMAIL__SMTP_URL", "http://mail.example.com")], "notifications.email.smtp_url"),
            (&[("WAYFARER_NOTIFICATIONS__EMAIL__FROM", "not a mailbox")], "notifications.email.from"),
            (&[("WAYFARER_NOTIFICATIONS__SMS__BASE_URL", "https://api.twilio.com")], "notifications.sms.account_sid"),
            (
                &[
                    ("WAYFARER_NOTIFICATIONS__SMS__BASE_URL", "https://api.twilio.com"),
                    ("WAYFARER_NOTIFICATIONS__SMS__ACCOUNT_SID", "AC123"),
                    ("WAYFARER_NOTIFICATIONS__SMS__AUTH_TOKEN", "t"),
                    ("WAYFARER_NOTIFICATIONS__SMS__FROM", "0123"),
                ],
                "notifications.sms.from",
            ),
            (&[("WAYFARER_NOTIFICATIONS__SMS__ACCOUNT_SID", "AC123")], "notifications.sms.base_url"),
            (&[("WAYFARER_NOTIFICATIONS__PUSH__BASE_URL", "fcm.googleapis.com")], "notifications.push.base_url"),
            (
                &[("WAYFARER_NOTIFICATIONS__PUSH__BASE_URL", "https://fcm.googleapis.com")],
                "notifications.push.project_id",
            ),
            (&[("WAYFARER_NOTIFICATIONS__PUSH__PROJECT_ID", "p")], "notifications.push.base_url"),
            (&[("WAYFARER_NOTIFICATIONS__PUSH__TIMEOUT", "0s")], "notifications.push.timeout"),
        ];
        for (env, key) in cases {
            let err = load(env).expect_err("rejected").to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
        let s = load(&[
            ("WAYFARER_NOTIFICATIONS__EMAIL__SMTP_URL", "smtps://bookings:hunter2@mail.example.com"),
            ("WAYFARER_NOTIFICATIONS__SMS__BASE_URL", "https://api.twilio.com"),
            ("WAYFARER_NOTIFICATIONS__SMS__ACCOUNT_SID", "AC123"),
            ("WAYFARER_NOTIFICATIONS__SMS__AUTH_TOKEN", "hunter3"),
            ("WAYFARER_NOTIFICATIONS__SMS__FROM", "MG0123"),
            ("WAYFARER_NOTIFICATIONS__PUSH__ENABLED", "false"),
        ])
        .expect("loads");
        assert!(!s.notifications.push.enabled);
        let printed = format!("{s:?}\n{}", s.to_redacted_toml());
        assert!(!printed.contains("hunter2") && !printed.contains("hunter3"), "{printed}");
        assert!(printed.contains("mail.example.com"), "the relay is shown, its password is not");
    }

    #[test]
    fn rate_limits_and_the_production_profile_come_from_the_environment() {
        let s = load(&[]).expect("defaults");
        assert!(s.rate_limits.enabled && s.introspection_enabled());
        assert_eq!(s.profile, Profile::Development);
        let s = load(&[
            ("WAYFARER_PROFILE", "production"),
            ("WAYFARER_RATE_LIMITS__ENABLED", "false"),
            ("WAYFARER_RATE_LIMITS__PER_IP", "50"),
            ("WAYFARER_RATE_LIMITS__WINDOW", "10s"),
            ("WAYFARER_RATE_LIMITS__TRUSTED_PROXIES", "[\"10.0.0.0/8\", \"192.0.2.1\"]"),
        ])
        .expect("loads");
        assert_eq!(s.profile, Profile::Production);
        assert!(!s.introspection_enabled(), "production never serves introspection");
        assert!(!s.rate_limits.enabled);
        assert_eq!((s.rate_limits.per_ip, s.rate_limits.window), (50, Duration::from_secs(10)));
        assert_eq!(s.rate_limits.trusted_networks().expect("networks").len(), 2);
        for (key, value, named) in [
            ("WAYFARER_RATE_LIMITS__TRUSTED_PROXIES", "[\"not-an-ip\"]", "rate_limits.trusted_proxies"),
            ("WAYFARER_RATE_LIMITS__START_SESSION", "0", "rate_limits.start_session"),
            ("WAYFARER_RATE_LIMITS__WINDOW", "10ms", "rate_limits.window"),
            ("WAYFARER_PROFILE", "staging", "profile"),
        ] {
            let err = load(&[(key, value)]).expect_err("rejected").to_string();
            assert!(err.contains(named), "{key}: {err}");
        }
    }

    #[test]
    fn an_unknown_key_is_an_error() {
        let err = load(&[("WAYFARER_REDIS__MAX_CONECTIONS", "3")]).expect_err("rejected").to_string();
        assert!(err.contains("redis.max_conections"), "{err}");
    }

    #[test]
    fn file_then_env_then_flags() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("w.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:7000\"\n[redis]\nmax_connections = 3\nkey_prefix = \"f\"\n")
            .expect("write");
        let overrides = Overrides { listen: Some("127.0.0.1:7100".parse().expect("addr")), data_dir: None };
        let s =
            Settings::load_from(Some(&file), &overrides, env(&[("WAYFARER_REDIS__KEY_PREFIX", "e")])).expect("loads");
        assert_eq!(s.redis.max_connections, 3);
        assert_eq!(s.redis.key_prefix, "e");
        assert_eq!(s.listen.port(), 7100);
        let err = Settings::load_from(Some(&dir.path().join("nope.toml")), &Overrides::default(), env(&[]))
            .expect_err("missing file");
        assert!(matches!(err, ConfigError::MissingFile(_)));
    }
}
