//! The bundled provider sandbox: one axum listener that speaks three real
//! provider wire formats, so the main server reaches it through the same
//! HTTP adapters it uses for the real providers, and the test suite runs
//! offline.
//!
//! - Amadeus Self-Service at the root paths (`/v1/security/oauth2/token`,
//!   `/v2/shopping/flight-offers`, …): the official Python SDK cannot use a
//!   base path, so Amadeus owns `/v1` and `/v2`.
//! - Duffel under `/air/…`.
//! - Stripe (payments) at `/v1/payment_intents`, `/v1/refunds`,
//!   `/v1/checkout/sessions` and `/v1/balance` — paths Amadeus does not
//!   use — plus its hosted payment page at `/_sandbox/checkout/{id}`, a
//!   ledger at `/_sandbox/payments/ledger` and signed webhooks
//!   ([`stripe`](self) module docs).
//! - Notification sinks ([`sinks`]): Twilio-style SMS at `/2010-04-01/…`,
//!   FCM-style push at `/v1/projects/{project}/messages:send` with its OAuth2
//!   token endpoint at `/oauth2/token`; what they accept is listed at
//!   `/_sandbox/sms/messages` and `/_sandbox/push/messages`.
//! - The control API under `/_sandbox/`: per-personality latency, jitter,
//!   error, rate-limit and outage injection, price drift, token, offer and
//!   hold lifetimes, the crash-test delays and confirm failures, the most
//!   offers a search answers (`maxOffers`, for load tests); request
//!   counters; the orders ledger ([`ledger`], `GET /_sandbox/orders`); reset.
//!
//! Wire faults, for the adapters' timeouts and parsers (token calls are
//! spared, as with `errorNext`), each a share of requests and an exact
//! "next N" count:
//!
//! - `hangRate` / `hangNext`: the request is accepted and never answered;
//!   the sandbox holds it until the client gives up (or [`HANG_LIMIT`]).
//! - `garbageRate` / `garbageNext`: a 200 in the personality's content type
//!   whose body is not JSON at all (an HTML error page from a proxy).
//! - `truncateRate` / `truncateNext`: the real answer, its full
//!   `Content-Length` announced, the connection closed after half the body.
//!
//! A request draws outage, then 429, then 500, then hang, garbage and
//! truncation, each only when switched on; the counted (`…Next`) faults
//! come first in the same order.
//!
//! Offers come from [`generator`] (deterministic: same search, same
//! offers). Orders, tokens and quoted offers live in memory. Random faults
//! draw from a seeded generator per personality, so a test that sets an
//! error rate sees the same sequence of failures on every run.

mod amadeus;
mod carriers;
mod duffel;
mod generator;
mod ledger;
pub mod sinks;
mod stripe;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use generator::Personality;

/// Credentials the sandbox accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    /// Amadeus API key (`client_id` of the token call).
    pub amadeus_client_id: String,
    /// Amadeus API secret (`client_secret`).
    pub amadeus_client_secret: String,
    /// The Duffel access token (`Authorization: Bearer …`).
    pub duffel_token: String,
    /// The Stripe secret key (`Authorization: Bearer sk_…`).
    pub stripe_secret_key: String,
    /// The key webhooks are signed with (`whsec_…`).
    pub stripe_webhook_secret: String,
    /// Where webhooks go (the server's `/webhooks/payments`) until the
    /// control API says otherwise; none: events are recorded, not sent.
    pub stripe_webhook_url: Option<String>,
    /// The base of the hosted payment page's URL (`http://sandbox.example`);
    /// none: the host the API call came in on.
    pub public_base_url: Option<String>,
    /// The Twilio account SID (the path and the Basic user).
    pub twilio_account_sid: String,
    /// The Twilio auth token (the Basic password).
    pub twilio_auth_token: String,
    /// The FCM project messages are sent to; its test service account is
    /// `wayfarer-sandbox@<project>.iam.gserviceaccount.com`
    /// ([`sinks::fcm_service_account_json`]).
    pub fcm_project_id: String,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            amadeus_client_id: "sandbox-client".to_owned(),
            amadeus_client_secret: "sandbox-secret".to_owned(),
            duffel_token: "duffel_test_sandbox".to_owned(),
            stripe_secret_key: "sk_test_sandbox".to_owned(),
            stripe_webhook_secret: "whsec_sandbox".to_owned(),
            stripe_webhook_url: None,
            public_base_url: None,
            twilio_account_sid: "AC5a4db0c5000000000000000000000000".to_owned(),
            twilio_auth_token: "sandbox-twilio-auth-token".to_owned(),
            fcm_project_id: "wayfarer-sandbox".to_owned(),
        }
    }
}

/// The whole sandbox (every personality and the control API), its state inside.
pub fn router(config: SandboxConfig) -> Router {
    let state = Sandbox::new(config);
    let amadeus = amadeus::routes().route_layer(middleware::from_fn_with_state(state.clone(), amadeus_gate));
    let duffel = duffel::routes().route_layer(middleware::from_fn_with_state(state.clone(), duffel_gate));
    let stripe = stripe::routes().route_layer(middleware::from_fn_with_state(state.clone(), stripe::gate));
    Router::new()
        .merge(amadeus)
        .merge(duffel)
        .merge(stripe)
        .merge(stripe::control_routes())
        .merge(sinks::routes())
        .merge(sinks::control_routes())
        .route("/_sandbox/personalities/{name}", put(put_personality).get(get_personality))
        .route("/_sandbox/calls", get(get_calls))
        .route("/_sandbox/orders", get(get_orders))
        .route("/_sandbox/reset", post(reset))
        .fallback(not_found)
        .with_state(state)
}

/// Serves the sandbox on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: SandboxConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(
            amadeus = %format!("http://{addr}"),
            duffel = %format!("http://{addr}/air"),
            stripe = %format!("http://{addr}/v1/payment_intents"),
            twilio = %format!("http://{addr}/2010-04-01"),
            fcm = %format!("http://{addr}/v1/projects"),
            control = %format!("http://{addr}/_sandbox"),
            "provider sandbox is serving"
        );
    }
    let stop = CancellationToken::new();
    let serving = crate::http::serve(listener, router(config), HEADER_READ_TIMEOUT, HTTP2_STREAMS, stop.clone());
    let mut serving = std::pin::pin!(serving);
    tokio::select! {
        served = serving.as_mut() => served,
        () = shutdown => {
            stop.cancel();
            serving.await
        }
    }
}

/// Fault and behaviour settings of one personality (the control API's body).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Settings {
    /// Added to every response.
    latency_ms: u64,
    /// Up to this much more, drawn per request.
    jitter_ms: u64,
    /// Share of requests answered 500.
    error_rate: f64,
    /// Share of requests answered 429.
    rate_limit_rate: f64,
    /// Every request answered 503.
    outage: bool,
    /// Base fares move by this much between search and pricing/booking.
    price_drift_percent: f64,
    /// Amadeus `expires_in` of new tokens, seconds.
    token_expires_in: u64,
    /// Offer lifetime, seconds (Duffel offers; Amadeus offers as searched or priced).
    offer_expires_in: u64,
    /// Amadeus bookings fail with 34651 SEGMENT SELL FAILURE.
    sell_failure: bool,
    /// The next this many API requests (token calls aside) are answered 429:
    /// an exact, repeatable burst for retry tests.
    rate_limit_next: u64,
    /// The next this many API requests (token calls aside) are answered 500.
    error_next: u64,
    /// Share of offers (0–1, picked by a hash of the journey, so the same
    /// offers every run) whose price `priceDriftPercent` moves.
    price_change_rate: f64,
    /// Unconfirmed holds lapse this many seconds after they are created.
    hold_expires_in: u64,
    /// An order is created (and in the ledger) at once; its answer waits this long.
    order_delay_ms: u64,
    /// A confirmation happens at once; its answer waits this long.
    confirm_delay_ms: u64,
    /// A cancellation happens at once; its answer waits this long.
    cancel_delay_ms: u64,
    /// The next this many confirm requests are answered 500 without confirming.
    fail_confirm_next: u64,
    /// Share of requests accepted and never answered.
    hang_rate: f64,
    /// The next this many API requests are accepted and never answered.
    hang_next: u64,
    /// Share of requests answered 200 with a body that is not JSON.
    garbage_rate: f64,
    /// The next this many API requests are answered 200 with a non-JSON body.
    garbage_next: u64,
    /// Share of requests whose answer is cut off mid-body.
    truncate_rate: f64,
    /// The next this many API requests have their answer cut off mid-body.
    truncate_next: u64,
    /// A search answers at most this many offers, cheapest first (0: every
    /// offer the route has). Sizes a provider's answer for a load test: the
    /// issue's comparison servers ran against 25 offers per provider, while
    /// a busy route here has up to 250 (Amadeus) or every flight (Duffel).
    max_offers: u64,
}

impl Settings {
    /// How many offers a search may answer, `asked` being the request's own cap.
    fn offer_cap(&self, asked: usize) -> usize {
        match usize::try_from(self.max_offers) {
            Ok(0) => asked,
            Ok(cap) => cap.min(asked),
            Err(_) => asked,
        }
    }

    /// The drift, in percent, that applies to `offer` now.
    fn drift_for(&self, offer: &generator::Offer) -> f64 {
        // 2^53 buckets: exact in an f64.
        let bucket = (generator::hash64(&offer.key) >> 11) as f64 / (1u64 << 53) as f64;
        if bucket < self.price_change_rate { self.price_drift_percent } else { 0.0 }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            jitter_ms: 0,
            error_rate: 0.0,
            rate_limit_rate: 0.0,
            outage: false,
            price_drift_percent: 0.0,
            token_expires_in: 1799,
            offer_expires_in: 1800,
            sell_failure: false,
            rate_limit_next: 0,
            error_next: 0,
            price_change_rate: 1.0,
            hold_expires_in: 1200,
            order_delay_ms: 0,
            confirm_delay_ms: 0,
            cancel_delay_ms: 0,
            fail_confirm_next: 0,
            hang_rate: 0.0,
            hang_next: 0,
            garbage_rate: 0.0,
            garbage_next: 0,
            truncate_rate: 0.0,
            truncate_next: 0,
            max_offers: 0,
        }
    }
}

/// A partial update of [`Settings`]; unknown fields are refused.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SettingsUpdate {
    latency_ms: Option<u64>,
    jitter_ms: Option<u64>,
    error_rate: Option<f64>,
    rate_limit_rate: Option<f64>,
    outage: Option<bool>,
    price_drift_percent: Option<f64>,
    token_expires_in: Option<u64>,
    offer_expires_in: Option<u64>,
    sell_failure: Option<bool>,
    rate_limit_next: Option<u64>,
    error_next: Option<u64>,
    price_change_rate: Option<f64>,
    hold_expires_in: Option<u64>,
    order_delay_ms: Option<u64>,
    confirm_delay_ms: Option<u64>,
    cancel_delay_ms: Option<u64>,
    fail_confirm_next: Option<u64>,
    hang_rate: Option<f64>,
    hang_next: Option<u64>,
    garbage_rate: Option<f64>,
    garbage_next: Option<u64>,
    truncate_rate: Option<f64>,
    truncate_next: Option<u64>,
    max_offers: Option<u64>,
}

/// Where a counted request went; the names are the `/_sandbox/calls` keys.
/// `orderConfirm` is the Amadeus PATCH of the ticketing agreement and the
/// Duffel payment of a held order; `orderCancel` (Amadeus DELETE) and
/// `cancellationConfirm` (Duffel) are the calls that cancel.
const AMADEUS_KINDS: &[&str] =
    &["token", "search", "price", "orderCreate", "orderGet", "orderConfirm", "orderCancel", "airlines", "locations"];
const DUFFEL_KINDS: &[&str] = &[
    "search",
    "offerGet",
    "offerList",
    "orderCreate",
    "orderGet",
    "orderConfirm",
    "cancellationCreate",
    "cancellationConfirm",
];

/// Seed of each personality's fault generator: fixed, so runs repeat.
const FAULT_SEED: u64 = 0x5A4D_B0C5;
/// Longest a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Most calls one HTTP/2 connection carries at once. A provider's own
/// bound is around a hundred; the sandbox stands in for providers at the
/// loadtest's scale, whose 5,000 round puts 5,000 calls on one connection
/// per provider (`http_client.http2 = "prior-knowledge"`).
const HTTP2_STREAMS: u32 = 20_000;

#[derive(Debug)]
struct PersonalityState {
    settings: Mutex<Settings>,
    rng: Mutex<StdRng>,
    calls: Mutex<BTreeMap<&'static str, u64>>,
    kinds: &'static [&'static str],
    seed: u64,
}

impl PersonalityState {
    fn new(kinds: &'static [&'static str], seed: u64) -> Self {
        Self {
            settings: Mutex::new(Settings::default()),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            calls: Mutex::new(kinds.iter().map(|k| (*k, 0)).collect()),
            kinds,
            seed,
        }
    }

    fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    fn reset(&self) {
        *lock(&self.settings) = Settings::default();
        *lock(&self.rng) = StdRng::seed_from_u64(self.seed);
        *lock(&self.calls) = self.kinds.iter().map(|k| (*k, 0)).collect();
    }
}

/// A poisoned lock only means a handler panicked mid-update; the data is
/// plain counters and maps, still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Shared sandbox state.
#[derive(Debug, Clone)]
struct Sandbox {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    config: SandboxConfig,
    amadeus: PersonalityState,
    duffel: PersonalityState,
    amadeus_store: amadeus::Store,
    duffel_store: duffel::Store,
    stripe: stripe::Stripe,
    sinks: sinks::Sinks,
}

impl Sandbox {
    fn new(config: SandboxConfig) -> Self {
        Self {
            inner: Arc::new(Shared {
                amadeus: PersonalityState::new(AMADEUS_KINDS, FAULT_SEED),
                duffel: PersonalityState::new(DUFFEL_KINDS, FAULT_SEED ^ 0xD0FF),
                amadeus_store: amadeus::Store::default(),
                duffel_store: duffel::Store::default(),
                stripe: stripe::Stripe::new(config.stripe_webhook_url.clone()),
                sinks: sinks::Sinks::default(),
                config,
            }),
        }
    }

    fn personality(&self, personality: Personality) -> &PersonalityState {
        match personality {
            Personality::Amadeus => &self.inner.amadeus,
            Personality::Duffel => &self.inner.duffel,
        }
    }

    fn config(&self) -> &SandboxConfig {
        &self.inner.config
    }

    fn amadeus_store(&self) -> &amadeus::Store {
        &self.inner.amadeus_store
    }

    fn duffel_store(&self) -> &duffel::Store {
        &self.inner.duffel_store
    }

    fn stripe(&self) -> &stripe::Stripe {
        &self.inner.stripe
    }

    fn sinks(&self) -> &sinks::Sinks {
        &self.inner.sinks
    }
}

/// Which counter a matched route feeds.
fn kind_of(personality: Personality, method: &Method, route: &str) -> Option<&'static str> {
    let kind = match personality {
        Personality::Amadeus => match (route, method.as_str()) {
            (r, _) if r.starts_with("/v1/security/oauth2/token") => "token",
            ("/v2/shopping/flight-offers", _) => "search",
            ("/v1/shopping/flight-offers/pricing", _) => "price",
            ("/v1/booking/flight-orders", _) => "orderCreate",
            ("/v1/booking/flight-orders/{id}", "DELETE") => "orderCancel",
            ("/v1/booking/flight-orders/{id}", "PATCH") => "orderConfirm",
            ("/v1/booking/flight-orders/{id}", _) => "orderGet",
            ("/v1/reference-data/airlines", _) => "airlines",
            (r, _) if r.starts_with("/v1/reference-data/locations") => "locations",
            _ => return None,
        },
        Personality::Duffel => match route {
            "/air/offer_requests" => "search",
            "/air/offers/{id}" => "offerGet",
            "/air/offers" => "offerList",
            "/air/orders" => "orderCreate",
            "/air/orders/{id}" => "orderGet",
            "/air/payments" => "orderConfirm",
            "/air/order_cancellations" => "cancellationCreate",
            "/air/order_cancellations/{id}/actions/confirm" => "cancellationConfirm",
            _ => return None,
        },
    };
    Some(kind)
}

/// A fault to answer with instead of the handler's response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Outage,
    RateLimited,
    ServerError,
}

/// A fault below the HTTP semantics: the answer never comes, is not the
/// format, or breaks off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WireFault {
    Hang,
    Garbage,
    Truncated,
}

/// Longest a hung request is held: past any client's timeout, short enough
/// that a sandbox whose client never hangs up still shuts down eventually.
pub const HANG_LIMIT: Duration = Duration::from_secs(300);

/// What a proxy in front of a provider sends when it breaks: not JSON.
const GARBAGE_BODY: &str = "<html><head><title>502 Bad Gateway</title></head><body>upstream sent \
                            garbage (injected by the sandbox)</body></html>";

async fn amadeus_gate(state: State<Sandbox>, request: Request, next: Next) -> Response {
    gate(state, Personality::Amadeus, request, next).await
}

async fn duffel_gate(state: State<Sandbox>, request: Request, next: Next) -> Response {
    gate(state, Personality::Duffel, request, next).await
}

/// Counts the request, applies latency and injects faults around the
/// handler (and its authentication): a gateway in front of the API. The
/// latency is from the request's arrival to its answer; a call that
/// [`only_reads`] is handled at once and answered then, any other waits
/// the latency before it is handled.
async fn gate(State(sandbox): State<Sandbox>, personality: Personality, request: Request, next: Next) -> Response {
    let state = sandbox.personality(personality);
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_default();
    let kind = kind_of(personality, request.method(), &route);
    if let Some(kind) = kind {
        *lock(&state.calls).entry(kind).or_insert(0) += 1;
    }
    let settings = state.settings();
    let spared = kind == Some("token");
    let (counted_fault, counted_wire) = {
        let mut live = lock(&state.settings);
        if spared {
            (None, None)
        } else if kind == Some("orderConfirm") && live.fail_confirm_next > 0 {
            // Before the handler: the confirm fails without confirming.
            live.fail_confirm_next -= 1;
            (Some(Fault::ServerError), None)
        } else if live.rate_limit_next > 0 {
            live.rate_limit_next -= 1;
            (Some(Fault::RateLimited), None)
        } else if live.error_next > 0 {
            live.error_next -= 1;
            (Some(Fault::ServerError), None)
        } else if live.hang_next > 0 {
            live.hang_next -= 1;
            (None, Some(WireFault::Hang))
        } else if live.garbage_next > 0 {
            live.garbage_next -= 1;
            (None, Some(WireFault::Garbage))
        } else if live.truncate_next > 0 {
            live.truncate_next -= 1;
            (None, Some(WireFault::Truncated))
        } else {
            (None, None)
        }
    };
    let (delay, fault, wire) = {
        let mut rng = lock(&state.rng);
        let jitter = if settings.jitter_ms > 0 { rng.random_range(0..=settings.jitter_ms) } else { 0 };
        // Draw only for the faults that are switched on, so turning one on
        // does not shift the sequence of the other.
        let mut draw = |rate: f64| rate > 0.0 && rng.random::<f64>() < rate;
        let fault = if settings.outage {
            Some(Fault::Outage)
        } else if draw(settings.rate_limit_rate) {
            Some(Fault::RateLimited)
        } else if draw(settings.error_rate) {
            Some(Fault::ServerError)
        } else {
            None
        };
        let wire = if fault.is_some() || spared {
            None
        } else if draw(settings.hang_rate) {
            Some(WireFault::Hang)
        } else if draw(settings.garbage_rate) {
            Some(WireFault::Garbage)
        } else if draw(settings.truncate_rate) {
            Some(WireFault::Truncated)
        } else {
            None
        };
        let fault = counted_fault.or(fault);
        let wire = if fault.is_some() { None } else { counted_wire.or(wire) };
        (settings.latency_ms.saturating_add(jitter), fault, wire)
    };
    let answer_at = tokio::time::Instant::now() + Duration::from_millis(delay);
    if fault.is_none() && wire.is_none() && kind.is_some_and(only_reads) {
        // A provider whose answers take L takes L from the request to the
        // answer, its own work included: a reading call is worked out at
        // once and held until then. (Worked out after the wait, a burst's
        // work would all start at L and land on the client's clock.)
        // Nothing changes if the client gives up meanwhile.
        let response = next.run(request).await;
        tokio::time::sleep_until(answer_at).await;
        return response;
    }
    // A call that changes something waits first: a client that gives up
    // before the delay has changed nothing.
    tokio::time::sleep_until(answer_at).await;
    match (fault, personality) {
        (Some(fault), Personality::Amadeus) => amadeus::fault_response(fault, spared),
        (Some(fault), Personality::Duffel) => duffel::fault_response(fault),
        (None, _) => match wire {
            None => next.run(request).await,
            Some(wire) => wire_fault(wire, personality, request, next).await,
        },
    }
}

/// Calls that only read (searches, pricing, an order or reference data
/// looked up): working them out before their latency has passed changes
/// nothing a client could see but the time of the answer.
fn only_reads(kind: &str) -> bool {
    matches!(kind, "search" | "price" | "offerGet" | "offerList" | "orderGet" | "airlines" | "locations")
}

/// Answers with a [`WireFault`]. A hang holds the request (the client's
/// hang-up drops this future); a truncated answer is the handler's real one,
/// cut off after half its body with the connection closed, as a proxy or
/// provider crashing mid-write does.
async fn wire_fault(wire: WireFault, personality: Personality, request: Request, next: Next) -> Response {
    let content_type = match personality {
        Personality::Amadeus => "application/vnd.amadeus+json",
        Personality::Duffel => "application/json",
    };
    match wire {
        WireFault::Hang => {
            tokio::time::sleep(HANG_LIMIT).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        WireFault::Garbage => {
            let mut response = Response::new(Body::from(GARBAGE_BODY));
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            response
        }
        WireFault::Truncated => {
            let (mut parts, body) = next.run(request).await.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
            let half = bytes.slice(..bytes.len() / 2);
            parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len().max(2)));
            // The stream yields half the body, then fails: hyper aborts the
            // connection instead of finishing the announced length.
            let chunks: Vec<Result<axum::body::Bytes, std::io::Error>> = vec![
                Ok(half),
                Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "truncated by the sandbox")),
            ];
            Response::from_parts(parts, Body::from_stream(futures_util::stream::iter(chunks)))
        }
    }
}

fn parse_personality(name: &str) -> Option<Personality> {
    match name {
        "amadeus" => Some(Personality::Amadeus),
        "duffel" => Some(Personality::Duffel),
        _ => None,
    }
}

fn control_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

const UNKNOWN_PERSONALITY: &str = "unknown personality: use amadeus, duffel, stripe, twilio or fcm";

async fn get_personality(State(sandbox): State<Sandbox>, Path(name): Path<String>) -> Response {
    if name == "stripe" {
        return stripe::get_settings(&sandbox);
    }
    if sinks::is_sink(&name) {
        return sinks::get_settings(&sandbox, &name);
    }
    match parse_personality(&name) {
        Some(p) => Json(sandbox.personality(p).settings()).into_response(),
        None => control_error(StatusCode::NOT_FOUND, UNKNOWN_PERSONALITY),
    }
}

async fn put_personality(
    State(sandbox): State<Sandbox>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if name == "stripe" {
        return stripe::put_settings(&sandbox, &body);
    }
    if sinks::is_sink(&name) {
        return sinks::put_settings(&sandbox, &name, &body);
    }
    let Some(personality) = parse_personality(&name) else {
        return control_error(StatusCode::NOT_FOUND, UNKNOWN_PERSONALITY);
    };
    let update: SettingsUpdate = match serde_json::from_slice(&body) {
        Ok(update) => update,
        Err(error) => return control_error(StatusCode::BAD_REQUEST, &format!("invalid settings: {error}")),
    };
    let rate_ok = |r: Option<f64>| r.is_none_or(|r| (0.0..=1.0).contains(&r));
    let rates = [
        update.error_rate,
        update.rate_limit_rate,
        update.price_change_rate,
        update.hang_rate,
        update.garbage_rate,
        update.truncate_rate,
    ];
    if !rates.into_iter().all(rate_ok) {
        return control_error(
            StatusCode::BAD_REQUEST,
            "errorRate, rateLimitRate, priceChangeRate, hangRate, garbageRate and truncateRate are between 0 and 1",
        );
    }
    if update.price_drift_percent.is_some_and(|d| !d.is_finite() || d <= -100.0 || d > 1000.0) {
        return control_error(StatusCode::BAD_REQUEST, "priceDriftPercent is above -100 and at most 1000");
    }
    const MAX_DELAY_MS: u64 = 120_000;
    let delays =
        [update.latency_ms, update.jitter_ms, update.order_delay_ms, update.confirm_delay_ms, update.cancel_delay_ms];
    if delays.iter().any(|d| d.is_some_and(|d| d > MAX_DELAY_MS)) {
        return control_error(
            StatusCode::BAD_REQUEST,
            "latencyMs, jitterMs, orderDelayMs, confirmDelayMs and cancelDelayMs are at most 120000",
        );
    }
    let state = sandbox.personality(personality);
    let mut settings = lock(&state.settings);
    let SettingsUpdate {
        latency_ms,
        jitter_ms,
        error_rate,
        rate_limit_rate,
        outage,
        price_drift_percent,
        token_expires_in,
        offer_expires_in,
        sell_failure,
        rate_limit_next,
        error_next,
        price_change_rate,
        hold_expires_in,
        order_delay_ms,
        confirm_delay_ms,
        cancel_delay_ms,
        fail_confirm_next,
        hang_rate,
        hang_next,
        garbage_rate,
        garbage_next,
        truncate_rate,
        truncate_next,
        max_offers,
    } = update;
    settings.latency_ms = latency_ms.unwrap_or(settings.latency_ms);
    settings.jitter_ms = jitter_ms.unwrap_or(settings.jitter_ms);
    settings.error_rate = error_rate.unwrap_or(settings.error_rate);
    settings.rate_limit_rate = rate_limit_rate.unwrap_or(settings.rate_limit_rate);
    settings.outage = outage.unwrap_or(settings.outage);
    settings.price_drift_percent = price_drift_percent.unwrap_or(settings.price_drift_percent);
    settings.token_expires_in = token_expires_in.unwrap_or(settings.token_expires_in);
    settings.offer_expires_in = offer_expires_in.unwrap_or(settings.offer_expires_in);
    settings.sell_failure = sell_failure.unwrap_or(settings.sell_failure);
    settings.rate_limit_next = rate_limit_next.unwrap_or(settings.rate_limit_next);
    settings.error_next = error_next.unwrap_or(settings.error_next);
    settings.price_change_rate = price_change_rate.unwrap_or(settings.price_change_rate);
    settings.hold_expires_in = hold_expires_in.unwrap_or(settings.hold_expires_in);
    settings.order_delay_ms = order_delay_ms.unwrap_or(settings.order_delay_ms);
    settings.confirm_delay_ms = confirm_delay_ms.unwrap_or(settings.confirm_delay_ms);
    settings.cancel_delay_ms = cancel_delay_ms.unwrap_or(settings.cancel_delay_ms);
    settings.fail_confirm_next = fail_confirm_next.unwrap_or(settings.fail_confirm_next);
    settings.hang_rate = hang_rate.unwrap_or(settings.hang_rate);
    settings.hang_next = hang_next.unwrap_or(settings.hang_next);
    settings.garbage_rate = garbage_rate.unwrap_or(settings.garbage_rate);
    settings.garbage_next = garbage_next.unwrap_or(settings.garbage_next);
    settings.truncate_rate = truncate_rate.unwrap_or(settings.truncate_rate);
    settings.truncate_next = truncate_next.unwrap_or(settings.truncate_next);
    settings.max_offers = max_offers.unwrap_or(settings.max_offers);
    Json(settings.clone()).into_response()
}

async fn get_calls(State(sandbox): State<Sandbox>) -> Response {
    let calls = |p: Personality| lock(&sandbox.personality(p).calls).clone();
    let (twilio, fcm) = sandbox.sinks().calls();
    Json(json!({
        "amadeus": calls(Personality::Amadeus),
        "duffel": calls(Personality::Duffel),
        "stripe": sandbox.stripe().calls(),
        "twilio": twilio,
        "fcm": fcm,
    }))
    .into_response()
}

/// Every order of both personalities, oldest first, as [`ledger`] entries.
async fn get_orders(State(sandbox): State<Sandbox>) -> Response {
    let now = chrono::Utc::now();
    let mut records = sandbox.amadeus_store().order_records();
    records.extend(sandbox.duffel_store().order_records());
    records.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Json(json!({ "orders": records.iter().map(|r| r.entry(now)).collect::<Vec<_>>() })).into_response()
}

/// Counters and faults back to their defaults, and the orders (the ledger)
/// and the sinks' recorded messages forgotten; tokens and offers stay. The
/// payment side starts a fresh account (objects, keys, ledger and deliveries
/// dropped together, so they always agree), keeping its webhook URL.
async fn reset(State(sandbox): State<Sandbox>) -> Response {
    sandbox.personality(Personality::Amadeus).reset();
    sandbox.personality(Personality::Duffel).reset();
    sandbox.amadeus_store().clear_orders();
    sandbox.duffel_store().clear_orders();
    sandbox.stripe().reset();
    sandbox.sinks().reset();
    Json(json!({ "reset": true })).into_response()
}

/// Unknown paths answer in the format of the personality that owns the prefix.
async fn not_found(request: Request) -> Response {
    let path = request.uri().path();
    if let Some(response) = sinks::not_found(path) {
        return response;
    }
    if path.starts_with("/air") {
        duffel::error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "not_found",
            "Not found",
            "The resource was not found",
        )
    } else if ["/v1/payment_intents", "/v1/refunds", "/v1/checkout", "/v1/balance"].iter().any(|p| path.starts_with(p))
    {
        stripe::error(StatusCode::NOT_FOUND, "invalid_request_error", None, "Unrecognized request URL.", None)
    } else if path.starts_with("/_sandbox") {
        control_error(StatusCode::NOT_FOUND, "unknown control endpoint")
    } else {
        amadeus::error(StatusCode::NOT_FOUND, 38196, "Resource not found", "The targeted resource doesn't exist", None)
    }
}

/// A JSON response with an exact Content-Type (no charset suffix: the
/// Amadeus SDK compares the whole header).
fn json_response(status: StatusCode, content_type: &'static str, body: &impl Serialize) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
