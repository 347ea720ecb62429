//! The Stripe personality: PaymentIntents (created and confirmed at once,
//! with the test payment-method tokens' outcomes), Refunds, Checkout
//! Sessions with a hosted payment page, PaymentIntent search by metadata,
//! the balance, and signed webhooks — in Stripe's wire format
//! (form-encoded requests with bracket keys, JSON answers, the
//! `{"error":{type, code, decline_code, message, param, payment_intent}}`
//! error object, `Request-Id` on every answer).
//!
//! Idempotency follows Stripe's API v1 (`reference/reliability.md` B1):
//! keys are scoped to the secret key; the first answer of an executed
//! request is stored and replayed byte for byte (`Idempotent-Replayed:
//! true`), declines and 500s included; the same key with other parameters
//! or on another endpoint is a 400 `idempotency_error`; a key whose first
//! request is still running is a 409 `idempotency_key_in_use`; requests
//! that fail validation store nothing; keys expire after 24 h of the
//! sandbox clock. The gate's injected faults (outage, 429, `errorNext`)
//! sit in front of idempotency, as Stripe's load balancers do, so they are
//! never stored; `failAfterChargeNext` is the stored kind: the charge
//! happens and its answer is a 500.
//!
//! Every charge, decline and refund lands in a ledger
//! (`GET /_sandbox/payments/ledger`) so tests can reconcile the server's
//! records against what the "bank" saw, to the cent.

#![allow(
    clippy::result_large_err,
    reason = "validation returns the ready error response; it is the cold path and 128 bytes"
)]

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{MatchedPath, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse as _, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Fault, Sandbox, json_response, lock};
use crate::payments::form;
use crate::payments::stripe::STRIPE_VERSION;
use crate::payments::webhook;

const REQUEST_ID: HeaderName = HeaderName::from_static("request-id");
const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// How long idempotency keys are kept (Stripe: at least 24 h).
const KEY_LIFETIME: chrono::Duration = chrono::Duration::hours(24);
/// Stripe's bounds on a Checkout Session's `expires_at`.
const SESSION_MIN: chrono::Duration = chrono::Duration::minutes(30);
const SESSION_MAX: chrono::Duration = chrono::Duration::hours(24);
/// Seed of the fault generator: fixed, so runs repeat.
const FAULT_SEED: u64 = 0x5721_FE00;
/// Longest configurable delay.
const MAX_DELAY_MS: u64 = 120_000;

/// The counted Stripe calls; the names are the `/_sandbox/calls` keys.
const KINDS: &[&str] = &[
    "paymentIntentCreate",
    "paymentIntentGet",
    "paymentIntentSearch",
    "refundCreate",
    "refundGet",
    "checkoutCreate",
    "checkoutGet",
    "checkoutExpire",
    "balance",
    "checkoutPage",
    "checkoutPay",
];

/// The API routes (state: the sandbox); the gate counts them and injects faults.
pub(super) fn routes() -> Router<Sandbox> {
    Router::new()
        .route("/v1/payment_intents", post(create_payment_intent))
        .route("/v1/payment_intents/search", get(search_payment_intents))
        .route("/v1/payment_intents/{id}", get(get_payment_intent))
        .route("/v1/refunds", post(create_refund))
        .route("/v1/refunds/{id}", get(get_refund))
        .route("/v1/checkout/sessions", post(create_session))
        .route("/v1/checkout/sessions/{id}", get(get_session))
        .route("/v1/checkout/sessions/{id}/expire", post(expire_session))
        .route("/v1/balance", get(balance))
}

/// The sandbox-only routes: the hosted page, the ledger, webhook deliveries.
pub(super) fn control_routes() -> Router<Sandbox> {
    Router::new()
        .route("/_sandbox/payments/ledger", get(get_ledger))
        .route("/_sandbox/checkout/{id}", get(checkout_page))
        .route("/_sandbox/checkout/{id}/pay", post(checkout_pay))
        .route("/_sandbox/webhooks", get(get_webhooks))
        .route("/_sandbox/webhooks/{id}/redeliver", post(redeliver))
}

// ---------------------------------------------------------------- settings

/// Fault and webhook settings (the control API's body).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Settings {
    /// Added to every API response, before the handler runs.
    latency_ms: u64,
    /// Share of API requests answered 500 (before idempotency: not stored).
    error_rate: f64,
    /// Every API request answered 503.
    outage: bool,
    /// The next this many API requests are answered 500 (not stored).
    error_next: u64,
    /// The next this many API requests are answered 429.
    rate_limit_next: u64,
    /// How long a charge takes while its idempotency key is held (the 409 window).
    charge_delay_ms: u64,
    /// The next this many charges happen, and are answered (and stored) 500.
    fail_after_charge_next: u64,
    /// The next this many charges happen, and their answer waits
    /// `timeoutAfterChargeMs` (longer than the client's timeout).
    timeout_after_charge_next: u64,
    /// How long a `timeoutAfterChargeNext` answer waits.
    timeout_after_charge_ms: u64,
    /// Where webhooks go (the server's `/webhooks/payments`); none: recorded, not sent.
    webhook_url: Option<String>,
    /// Event types sent (the endpoint's `enabled_events`).
    webhook_events: Vec<String>,
    /// Deliver every event twice.
    duplicate_webhooks: bool,
    /// Deliver the events of one action in reverse order (a later event first).
    reorder_webhooks: bool,
    /// Wait this long before delivering.
    webhook_delay_ms: u64,
    /// Attempts per delivery; non-2xx answers are retried with backoff.
    webhook_attempts: u32,
    /// The sandbox clock runs this far ahead of the wall clock (expiry tests).
    clock_offset_seconds: i64,
}

impl Settings {
    fn new(webhook_url: Option<String>) -> Self {
        Self {
            latency_ms: 0,
            error_rate: 0.0,
            outage: false,
            error_next: 0,
            rate_limit_next: 0,
            charge_delay_ms: 0,
            fail_after_charge_next: 0,
            timeout_after_charge_next: 0,
            timeout_after_charge_ms: 30_000,
            webhook_url,
            webhook_events: [
                "checkout.session.completed",
                "checkout.session.expired",
                "payment_intent.succeeded",
                "payment_intent.payment_failed",
            ]
            .map(str::to_owned)
            .to_vec(),
            duplicate_webhooks: false,
            reorder_webhooks: false,
            webhook_delay_ms: 0,
            webhook_attempts: 4,
            clock_offset_seconds: 0,
        }
    }
}

/// A partial update of [`Settings`]; unknown fields are refused. An empty
/// `webhookUrl` clears it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SettingsUpdate {
    latency_ms: Option<u64>,
    error_rate: Option<f64>,
    outage: Option<bool>,
    error_next: Option<u64>,
    rate_limit_next: Option<u64>,
    charge_delay_ms: Option<u64>,
    fail_after_charge_next: Option<u64>,
    timeout_after_charge_next: Option<u64>,
    timeout_after_charge_ms: Option<u64>,
    webhook_url: Option<String>,
    webhook_events: Option<Vec<String>>,
    duplicate_webhooks: Option<bool>,
    reorder_webhooks: Option<bool>,
    webhook_delay_ms: Option<u64>,
    webhook_attempts: Option<u32>,
    clock_offset_seconds: Option<i64>,
}

// ---------------------------------------------------------------- state

/// The personality's state: settings, counters, and the "bank".
#[derive(Debug)]
pub(super) struct Stripe {
    settings: Mutex<Settings>,
    calls: Mutex<BTreeMap<&'static str, u64>>,
    rng: Mutex<StdRng>,
    store: Mutex<Store>,
    /// Sends webhooks.
    client: reqwest::Client,
    /// `webhookUrl` after a reset: the configured one.
    configured_webhook_url: Option<String>,
}

#[derive(Debug, Default)]
struct Store {
    intents: HashMap<String, Intent>,
    refunds: HashMap<String, Value>,
    sessions: HashMap<String, Session>,
    keys: HashMap<(String, String), KeyEntry>,
    ledger: Vec<LedgerEntry>,
    events: HashMap<String, Value>,
    deliveries: Vec<Delivery>,
}

#[derive(Debug, Clone)]
struct Intent {
    id: String,
    amount: i64,
    currency: String,
    status: &'static str,
    payment_method: Option<String>,
    metadata: BTreeMap<String, String>,
    description: Option<String>,
    created: i64,
    latest_charge: Option<String>,
    last_payment_error: Option<Value>,
    next_action: Option<Value>,
    amount_refunded: i64,
}

#[derive(Debug, Clone)]
struct Session {
    id: String,
    url: String,
    amount: i64,
    currency: String,
    name: String,
    success_url: String,
    cancel_url: Option<String>,
    client_reference_id: Option<String>,
    metadata: BTreeMap<String, String>,
    intent_metadata: BTreeMap<String, String>,
    expires_at: i64,
    created: i64,
    status: &'static str,
    payment_status: &'static str,
    payment_intent: Option<String>,
}

#[derive(Debug, Clone)]
struct KeyEntry {
    endpoint: String,
    params: Vec<(String, String)>,
    created: DateTime<Utc>,
    /// Status and body bytes once the first request finished; none while it runs.
    response: Option<(StatusCode, Bytes)>,
}

/// One movement of money (or a refused one).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct LedgerEntry {
    seq: u64,
    /// `charge`, `decline` or `refund`.
    kind: &'static str,
    payment_intent: String,
    charge: Option<String>,
    refund: Option<String>,
    /// Minor units.
    amount: i64,
    currency: String,
    idempotency_key: Option<String>,
    booking_id: Option<String>,
    decline_code: Option<String>,
    /// `api` or `checkout`.
    source: &'static str,
    created: i64,
}

/// One webhook delivery attempt.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Delivery {
    event_id: String,
    #[serde(rename = "type")]
    kind: String,
    attempt: u32,
    url: String,
    /// The receiver's HTTP status; none when it could not be reached.
    status: Option<u16>,
    error: Option<String>,
    at: i64,
}

impl Stripe {
    pub(super) fn new(webhook_url: Option<String>) -> Self {
        Self {
            settings: Mutex::new(Settings::new(webhook_url.clone())),
            calls: Mutex::new(KINDS.iter().map(|k| (*k, 0)).collect()),
            rng: Mutex::new(StdRng::seed_from_u64(FAULT_SEED)),
            store: Mutex::new(Store::default()),
            client: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default(),
            configured_webhook_url: webhook_url,
        }
    }

    fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    /// The call counters.
    pub(super) fn calls(&self) -> BTreeMap<&'static str, u64> {
        lock(&self.calls).clone()
    }

    fn count(&self, kind: &'static str) {
        *lock(&self.calls).entry(kind).or_insert(0) += 1;
    }

    /// Faults and counters to defaults, and a fresh account: every object,
    /// key, ledger entry and delivery is dropped, so the ledger and the
    /// objects always agree. A `webhookUrl` set at runtime is kept: it is
    /// wiring (where the server listens), not a fault.
    pub(super) fn reset(&self) {
        let mut settings = lock(&self.settings);
        let url = settings.webhook_url.clone().or_else(|| self.configured_webhook_url.clone());
        *settings = Settings::new(url);
        *lock(&self.calls) = KINDS.iter().map(|k| (*k, 0)).collect();
        *lock(&self.rng) = StdRng::seed_from_u64(FAULT_SEED);
        *lock(&self.store) = Store::default();
    }

    /// The sandbox clock: the wall clock plus the configured offset.
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::seconds(lock(&self.settings).clock_offset_seconds)
    }
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", &uuid::Uuid::new_v4().simple().to_string()[..24])
}

// ---------------------------------------------------------------- wire

/// A JSON answer with Stripe's headers.
fn respond(status: StatusCode, body: &Value) -> Response {
    let mut response = json_response(status, "application/json", body);
    stripe_headers(&mut response);
    response
}

fn stripe_headers(response: &mut Response) {
    let headers = response.headers_mut();
    if let Ok(id) = HeaderValue::from_str(&new_id("req")) {
        headers.insert(REQUEST_ID, id);
    }
    headers.insert("stripe-version", HeaderValue::from_static(STRIPE_VERSION));
}

/// A Stripe error object answer.
pub(super) fn error(
    status: StatusCode,
    kind: &str,
    code: Option<&str>,
    message: &str,
    param: Option<&str>,
) -> Response {
    respond(status, &json!({ "error": error_object(kind, code, message, param) }))
}

fn error_object(kind: &str, code: Option<&str>, message: &str, param: Option<&str>) -> Value {
    let mut object = json!({ "type": kind, "message": message });
    if let Some(code) = code {
        object["code"] = json!(code);
        object["doc_url"] = json!(format!("https://stripe.com/docs/error-codes/{}", code.replace('_', "-")));
    }
    if let Some(param) = param {
        object["param"] = json!(param);
    }
    object
}

fn invalid(code: &str, message: &str, param: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "invalid_request_error", Some(code), message, Some(param))
}

fn missing(param: &str) -> Response {
    invalid("parameter_missing", &format!("Missing required param: {param}."), param)
}

fn not_found(what: &str, id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("resource_missing"),
        &format!("No such {what}: '{id}'"),
        Some("id"),
    )
}

/// Injected faults in Stripe's shapes.
fn fault_response(fault: Fault) -> Response {
    match fault {
        Fault::Outage => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "api_error",
            None,
            "The service is temporarily unavailable (sandbox outage); retry later",
            None,
        ),
        Fault::RateLimited => error(
            StatusCode::TOO_MANY_REQUESTS,
            "invalid_request_error",
            Some("rate_limit"),
            "Too many requests hit the API too quickly.",
            None,
        ),
        Fault::ServerError => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            None,
            "An unknown error occurred (injected by the sandbox)",
            None,
        ),
    }
}

fn kind_of(method: &str, route: &str) -> Option<&'static str> {
    Some(match (method, route) {
        ("POST", "/v1/payment_intents") => "paymentIntentCreate",
        ("GET", "/v1/payment_intents/search") => "paymentIntentSearch",
        ("GET", "/v1/payment_intents/{id}") => "paymentIntentGet",
        ("POST", "/v1/refunds") => "refundCreate",
        ("GET", "/v1/refunds/{id}") => "refundGet",
        ("POST", "/v1/checkout/sessions") => "checkoutCreate",
        ("GET", "/v1/checkout/sessions/{id}") => "checkoutGet",
        ("POST", "/v1/checkout/sessions/{id}/expire") => "checkoutExpire",
        ("GET", "/v1/balance") => "balance",
        _ => return None,
    })
}

/// Counts the call, applies latency, then injects faults before the handler
/// (and its authentication and idempotency) runs.
pub(super) async fn gate(State(sandbox): State<Sandbox>, request: Request, next: Next) -> Response {
    let stripe = sandbox.stripe();
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_default();
    if let Some(kind) = kind_of(request.method().as_str(), &route) {
        stripe.count(kind);
    }
    let (latency, fault) = {
        let mut settings = lock(&stripe.settings);
        let fault = if settings.outage {
            Some(Fault::Outage)
        } else if settings.rate_limit_next > 0 {
            settings.rate_limit_next -= 1;
            Some(Fault::RateLimited)
        } else if settings.error_next > 0 {
            settings.error_next -= 1;
            Some(Fault::ServerError)
        } else if settings.error_rate > 0.0 && lock(&stripe.rng).random::<f64>() < settings.error_rate {
            Some(Fault::ServerError)
        } else {
            None
        };
        (settings.latency_ms, fault)
    };
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    match fault {
        Some(fault) => fault_response(fault),
        None => next.run(request).await,
    }
}

/// The secret key of the call (`Bearer sk_…`, or Basic with the key as the user).
fn authorize(sandbox: &Sandbox, headers: &HeaderMap) -> Result<String, Response> {
    let value = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
    let key = if let Some(token) = value.strip_prefix("Bearer ") {
        Some(token.trim().to_owned())
    } else if let Some(basic) = value.strip_prefix("Basic ") {
        base64::engine::general_purpose::STANDARD
            .decode(basic.trim())
            .ok()
            .and_then(|raw| String::from_utf8(raw).ok())
            .map(|pair| pair.split(':').next().unwrap_or("").to_owned())
    } else {
        None
    };
    let unauthorized = |message: String| error(StatusCode::UNAUTHORIZED, "invalid_request_error", None, &message, None);
    match key {
        None => Err(unauthorized(
            "You did not provide an API key. You need to provide your API key in the Authorization header, \
             using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
                .to_owned(),
        )),
        Some(key) if key == sandbox.config().stripe_secret_key => Ok(key),
        Some(key) => {
            let tail: String = key.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
            Err(unauthorized(format!("Invalid API Key provided: sk_test_****{tail}")))
        }
    }
}

// ---------------------------------------------------------------- idempotency

/// What an executed handler answers.
struct Executed {
    status: StatusCode,
    body: Value,
    /// Whether the request got past validation (its answer is stored under the key).
    executed: bool,
    /// Wait this long after storing, before answering (`timeoutAfterCharge`).
    then_wait: Option<Duration>,
    /// Events to send once stored.
    events: Vec<Value>,
}

impl Executed {
    fn done(status: StatusCode, body: Value) -> Self {
        Self { status, body, executed: true, then_wait: None, events: Vec::new() }
    }
}

/// Drops the in-flight marker of a request that never finished (the client
/// hung up mid-charge), so the key is not locked for a day.
struct InFlight<'a> {
    sandbox: &'a Sandbox,
    slot: Option<(String, String)>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            let mut store = lock(&self.sandbox.stripe().store);
            if store.keys.get(&slot).is_some_and(|e| e.response.is_none()) {
                store.keys.remove(&slot);
            }
        }
    }
}

/// Runs a POST under Stripe's idempotency rules.
async fn idempotent<F, Fut>(
    sandbox: &Sandbox,
    headers: &HeaderMap,
    account: String,
    endpoint: &str,
    pairs: &[(String, String)],
    execute: F,
) -> Response
where
    F: FnOnce(Option<String>) -> Fut,
    Fut: Future<Output = Result<Executed, Response>>,
{
    let stripe = sandbox.stripe();
    let key = match headers.get(IDEMPOTENCY_KEY).map(|v| v.to_str()) {
        None => None,
        Some(Ok(key)) if !key.is_empty() && key.len() <= 255 => Some(key.to_owned()),
        Some(_) => {
            return invalid(
                "idempotency_key_invalid",
                "Idempotency-Key must be 1 to 255 characters.",
                "Idempotency-Key",
            );
        }
    };
    let mut params = pairs.to_vec();
    params.sort();
    let mut guard = InFlight { sandbox, slot: None };
    if let Some(key) = &key {
        let now = stripe.now();
        let slot = (account.clone(), key.clone());
        let mut store = lock(&stripe.store);
        store.keys.retain(|_, e| e.response.is_none() || e.created + KEY_LIFETIME > now);
        match store.keys.get(&slot) {
            Some(entry) if entry.endpoint != endpoint => {
                let message = format!(
                    "Keys for idempotent requests can only be used for the same endpoint they were first used for \
                     ('{}' vs '{endpoint}'). Try using a key other than '{key}' if you meant to execute a different \
                     request.",
                    entry.endpoint
                );
                return error(StatusCode::BAD_REQUEST, "idempotency_error", None, &message, None);
            }
            Some(entry) if entry.params != params => {
                let message = format!(
                    "Keys for idempotent requests can only be used with the same parameters they were first used \
                     with. Try using a key other than '{key}' if you meant to execute a different request."
                );
                return error(StatusCode::BAD_REQUEST, "idempotency_error", None, &message, None);
            }
            Some(KeyEntry { response: None, .. }) => {
                return error(
                    StatusCode::CONFLICT,
                    "invalid_request_error",
                    Some("idempotency_key_in_use"),
                    "There is currently another in-progress request using this Stripe token (that probably means \
                     you have two concurrent requests using the same idempotency key); please retry this request \
                     later.",
                    None,
                );
            }
            Some(KeyEntry { response: Some((status, body)), .. }) => {
                let mut response = Response::new(axum::body::Body::from(body.clone()));
                *response.status_mut() = *status;
                let headers = response.headers_mut();
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                headers.insert(REPLAYED, HeaderValue::from_static("true"));
                if let Ok(value) = HeaderValue::from_str(key) {
                    headers.insert(IDEMPOTENCY_KEY, value);
                }
                stripe_headers(&mut response);
                return response;
            }
            None => {
                store.keys.insert(
                    slot.clone(),
                    KeyEntry { endpoint: endpoint.to_owned(), params, created: now, response: None },
                );
                guard.slot = Some(slot);
            }
        }
    }
    let executed = match execute(key.clone()).await {
        Ok(executed) => executed,
        // Validation failures store nothing; the guard frees the key.
        Err(response) => return response,
    };
    let body = Bytes::from(serde_json::to_vec(&executed.body).unwrap_or_default());
    if let Some(slot) = guard.slot.take() {
        let mut store = lock(&stripe.store);
        if executed.executed {
            if let Some(entry) = store.keys.get_mut(&slot) {
                entry.response = Some((executed.status, body.clone()));
            }
        } else {
            store.keys.remove(&slot);
        }
    }
    send_events(sandbox, executed.events);
    if let Some(wait) = executed.then_wait {
        tokio::time::sleep(wait).await;
    }
    let mut response = Response::new(axum::body::Body::from(body));
    *response.status_mut() = executed.status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(value) = key.as_deref().and_then(|k| HeaderValue::from_str(k).ok()) {
        response.headers_mut().insert(IDEMPOTENCY_KEY, value);
    }
    stripe_headers(&mut response);
    response
}

// ---------------------------------------------------------------- params

fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn amount_param(pairs: &[(String, String)], key: &str) -> Result<Option<i64>, Response> {
    match param(pairs, key) {
        None => Ok(None),
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) if (1..=99_999_999_999).contains(&n) => Ok(Some(n)),
            _ => Err(invalid("parameter_invalid_integer", &format!("Invalid positive integer: {key}"), key)),
        },
    }
}

fn currency_param(pairs: &[(String, String)], key: &str) -> Result<String, Response> {
    let currency = param(pairs, key).ok_or_else(|| missing(key))?;
    if currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_lowercase()) {
        Ok(currency.to_owned())
    } else {
        Err(invalid("invalid_currency", &format!("Invalid currency: {currency}. Use a lowercase ISO code."), key))
    }
}

fn bool_param(pairs: &[(String, String)], key: &str) -> Result<bool, Response> {
    match param(pairs, key) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(invalid("parameter_invalid_boolean", &format!("Invalid boolean: {other}"), key)),
    }
}

// ---------------------------------------------------------------- cards

/// What confirming with a test payment method does.
#[derive(Debug, Clone, Copy)]
enum CardOutcome {
    Succeed,
    Decline { code: &'static str, decline_code: &'static str, message: &'static str },
    RequiresAction,
}

const DECLINED: &str = "Your card was declined.";

/// The test tokens: the contract's five first, then Stripe's other common ones.
fn card_outcome(token: &str) -> Option<(CardOutcome, &'static str, &'static str)> {
    use CardOutcome::{Decline, RequiresAction, Succeed};
    let declined = |decline_code| Decline { code: "card_declined", decline_code, message: DECLINED };
    Some(match token {
        "pm_card_visa" => (Succeed, "visa", "4242"),
        "pm_card_mastercard" => (Succeed, "mastercard", "4444"),
        "pm_card_amex" => (Succeed, "amex", "0005"),
        "pm_card_visa_debit" => (Succeed, "visa", "5556"),
        "pm_card_chargeDeclined" | "pm_card_visa_chargeDeclined" => (declined("generic_decline"), "visa", "0002"),
        "pm_card_chargeDeclinedInsufficientFunds" | "pm_card_visa_chargeDeclinedInsufficientFunds" => (
            Decline {
                code: "card_declined",
                decline_code: "insufficient_funds",
                message: "Your card has insufficient funds.",
            },
            "visa",
            "9995",
        ),
        "pm_card_chargeDeclinedExpiredCard" => (
            Decline { code: "expired_card", decline_code: "expired_card", message: "Your card has expired." },
            "visa",
            "0069",
        ),
        "pm_card_visa_chargeDeclinedLostCard" => (declined("lost_card"), "visa", "9987"),
        "pm_card_visa_chargeDeclinedStolenCard" => (declined("stolen_card"), "visa", "9979"),
        "pm_card_chargeDeclinedIncorrectCvc" => (
            Decline {
                code: "incorrect_cvc",
                decline_code: "incorrect_cvc",
                message: "Your card's security code is incorrect.",
            },
            "visa",
            "0127",
        ),
        "pm_card_chargeDeclinedProcessingError" => (
            Decline {
                code: "processing_error",
                decline_code: "processing_error",
                message: "An error occurred while processing your card. Try again in a little bit.",
            },
            "visa",
            "0119",
        ),
        "pm_card_authenticationRequired" | "pm_card_threeDSecure2Required" => (RequiresAction, "visa", "3155"),
        _ => return None,
    })
}

/// The tokens the hosted page offers (the contract's).
const PAGE_TOKENS: &[(&str, &str)] = &[
    ("pm_card_visa", "Visa •••• 4242 (succeeds)"),
    ("pm_card_mastercard", "Mastercard •••• 4444 (succeeds)"),
    ("pm_card_chargeDeclined", "Visa •••• 0002 (declined: generic_decline)"),
    ("pm_card_chargeDeclinedInsufficientFunds", "Visa •••• 9995 (declined: insufficient_funds)"),
    ("pm_card_chargeDeclinedExpiredCard", "Visa •••• 0069 (declined: expired_card)"),
];

fn unknown_payment_method(token: &str) -> Response {
    invalid("resource_missing", &format!("No such PaymentMethod: '{token}'"), "payment_method")
}

// ---------------------------------------------------------------- objects

fn intent_json(intent: &Intent) -> Value {
    json!({
        "id": intent.id,
        "object": "payment_intent",
        "amount": intent.amount,
        "amount_capturable": 0,
        "amount_received": if intent.status == "succeeded" { intent.amount } else { 0 },
        "currency": intent.currency,
        "status": intent.status,
        "client_secret": format!("{}_secret_{}", intent.id, super::generator::hash_hex(&intent.id, 24)),
        "capture_method": "automatic",
        "confirmation_method": "automatic",
        "payment_method": intent.payment_method,
        "payment_method_types": ["card"],
        "latest_charge": intent.latest_charge,
        "last_payment_error": intent.last_payment_error,
        "next_action": intent.next_action,
        "metadata": intent.metadata,
        "description": intent.description,
        "livemode": false,
        "created": intent.created,
        "canceled_at": null,
        "cancellation_reason": null,
    })
}

fn session_json(session: &Session) -> Value {
    json!({
        "id": session.id,
        "object": "checkout.session",
        "mode": "payment",
        "amount_subtotal": session.amount,
        "amount_total": session.amount,
        "currency": session.currency,
        "client_reference_id": session.client_reference_id,
        "metadata": session.metadata,
        "success_url": session.success_url,
        "cancel_url": session.cancel_url,
        "payment_intent": session.payment_intent,
        "payment_method_types": ["card"],
        "payment_status": session.payment_status,
        "status": session.status,
        "url": (session.status == "open").then(|| session.url.clone()),
        "expires_at": session.expires_at,
        "created": session.created,
        "livemode": false,
    })
}

fn event(stripe: &Stripe, kind: &str, object: Value) -> Value {
    json!({
        "id": new_id("evt"),
        "object": "event",
        "api_version": STRIPE_VERSION,
        "created": stripe.now().timestamp(),
        "livemode": false,
        "pending_webhooks": 1,
        "type": kind,
        "data": { "object": object },
        "request": { "id": null, "idempotency_key": null },
    })
}

impl Store {
    fn record(&mut self, mut entry: LedgerEntry) {
        entry.seq = self.ledger.len() as u64 + 1;
        self.ledger.push(entry);
    }
}

/// Confirms `intent` with a test token: sets its status, writes the ledger,
/// and returns the answer and the events. The caller has checked the token.
fn confirm(
    stripe: &Stripe,
    store: &mut Store,
    intent: &mut Intent,
    outcome: CardOutcome,
    idempotency_key: Option<&str>,
    source: &'static str,
) -> (StatusCode, Value, Vec<Value>) {
    let now = stripe.now().timestamp();
    let entry = |kind, charge: &str, decline_code: Option<&str>| LedgerEntry {
        seq: 0,
        kind,
        payment_intent: intent.id.clone(),
        charge: Some(charge.to_owned()),
        refund: None,
        amount: intent.amount,
        currency: intent.currency.clone(),
        idempotency_key: idempotency_key.map(str::to_owned),
        booking_id: intent.metadata.get("booking_id").cloned(),
        decline_code: decline_code.map(str::to_owned),
        source,
        created: now,
    };
    match outcome {
        CardOutcome::Succeed => {
            let charge = new_id("ch");
            intent.status = "succeeded";
            intent.latest_charge = Some(charge.clone());
            intent.last_payment_error = None;
            store.record(entry("charge", &charge, None));
            let body = intent_json(intent);
            (StatusCode::OK, body.clone(), vec![event(stripe, "payment_intent.succeeded", body)])
        }
        CardOutcome::Decline { code, decline_code, message } => {
            let charge = new_id("ch");
            intent.status = "requires_payment_method";
            intent.latest_charge = Some(charge.clone());
            let mut last_error = error_object("card_error", Some(code), message, None);
            last_error["decline_code"] = json!(decline_code);
            last_error["charge"] = json!(charge);
            last_error["payment_method"] =
                json!({ "id": intent.payment_method, "object": "payment_method", "type": "card" });
            intent.last_payment_error = Some(last_error.clone());
            store.record(entry("decline", &charge, Some(decline_code)));
            let pi = intent_json(intent);
            let mut error = last_error;
            error["payment_intent"] = pi.clone();
            (
                StatusCode::PAYMENT_REQUIRED,
                json!({ "error": error }),
                vec![event(stripe, "payment_intent.payment_failed", pi)],
            )
        }
        CardOutcome::RequiresAction => {
            intent.status = "requires_action";
            intent.next_action = Some(json!({
                "type": "use_stripe_sdk",
                "use_stripe_sdk": { "type": "three_d_secure_redirect", "stripe_js": "" }
            }));
            (StatusCode::OK, intent_json(intent), Vec::new())
        }
    }
}

// ---------------------------------------------------------------- PaymentIntents

async fn create_payment_intent(State(sandbox): State<Sandbox>, headers: HeaderMap, body: Bytes) -> Response {
    let account = match authorize(&sandbox, &headers) {
        Ok(account) => account,
        Err(response) => return response,
    };
    let pairs = form::decode(&body);
    let endpoint = "POST /v1/payment_intents";
    idempotent(&sandbox, &headers, account, endpoint, &pairs, |key| create_intent(&sandbox, &pairs, key)).await
}

async fn create_intent(
    sandbox: &Sandbox,
    pairs: &[(String, String)],
    key: Option<String>,
) -> Result<Executed, Response> {
    let stripe = sandbox.stripe();
    let amount = amount_param(pairs, "amount")?.ok_or_else(|| missing("amount"))?;
    let currency = currency_param(pairs, "currency")?;
    let confirm_now = bool_param(pairs, "confirm")?;
    let payment_method = param(pairs, "payment_method").map(str::to_owned);
    if param(pairs, "capture_method").is_some_and(|m| m != "automatic") {
        return Err(invalid(
            "parameter_unknown",
            "The sandbox supports capture_method=automatic only.",
            "capture_method",
        ));
    }
    let outcome = match &payment_method {
        Some(token) => Some(card_outcome(token).ok_or_else(|| unknown_payment_method(token))?),
        None => None,
    };
    if confirm_now {
        if outcome.is_none() {
            return Err(invalid(
                "payment_intent_unexpected_state",
                "You cannot confirm this PaymentIntent because it's missing a payment method.",
                "payment_method",
            ));
        }
        // Without payment_method_types, current API versions turn automatic
        // payment methods on, which may redirect: Stripe then wants a
        // return_url, or allow_redirects=never.
        let automatic = bool_param(pairs, "automatic_payment_methods[enabled]")?
            || !pairs.iter().any(|(k, _)| k.starts_with("payment_method_types"));
        let redirects = param(pairs, "automatic_payment_methods[allow_redirects]") != Some("never");
        if automatic && redirects && param(pairs, "return_url").is_none() {
            return Err(invalid(
                "parameter_missing",
                "This PaymentIntent is configured to accept payment methods enabled in your Dashboard. Because \
                 some of these payment methods might redirect your customer off of your page, you must provide a \
                 `return_url`. If you don't want to accept redirect-based payment methods, set \
                 `automatic_payment_methods[enabled]` to `true` and `automatic_payment_methods[allow_redirects]` \
                 to `never` when creating Setup Intents and Payment Intents.",
                "return_url",
            ));
        }
    }
    let charge_delay = stripe.settings().charge_delay_ms;
    if charge_delay > 0 {
        tokio::time::sleep(Duration::from_millis(charge_delay)).await;
    }
    let mut intent = Intent {
        id: new_id("pi"),
        amount,
        currency,
        status: if payment_method.is_some() { "requires_confirmation" } else { "requires_payment_method" },
        payment_method: payment_method.clone(),
        metadata: form::nested(pairs, "metadata"),
        description: param(pairs, "description").map(str::to_owned),
        created: stripe.now().timestamp(),
        latest_charge: None,
        last_payment_error: None,
        next_action: None,
        amount_refunded: 0,
    };
    let mut store = lock(&stripe.store);
    let (status, body, events) = match (confirm_now, outcome) {
        (true, Some((outcome, _, _))) => confirm(stripe, &mut store, &mut intent, outcome, key.as_deref(), "api"),
        _ => (StatusCode::OK, intent_json(&intent), Vec::new()),
    };
    store.intents.insert(intent.id.clone(), intent);
    drop(store);
    let mut executed = Executed { status, body, executed: true, then_wait: None, events };
    if confirm_now {
        let mut settings = lock(&stripe.settings);
        if settings.fail_after_charge_next > 0 {
            settings.fail_after_charge_next -= 1;
            executed.status = StatusCode::INTERNAL_SERVER_ERROR;
            executed.body = json!({ "error": error_object(
                "api_error", None, "An unknown error occurred after the charge (injected by the sandbox)", None) });
        } else if settings.timeout_after_charge_next > 0 {
            settings.timeout_after_charge_next -= 1;
            executed.then_wait = Some(Duration::from_millis(settings.timeout_after_charge_ms));
        }
    }
    Ok(executed)
}

async fn get_payment_intent(State(sandbox): State<Sandbox>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(response) = authorize(&sandbox, &headers) {
        return response;
    }
    match lock(&sandbox.stripe().store).intents.get(&id) {
        Some(intent) => respond(StatusCode::OK, &intent_json(intent)),
        None => not_found("payment_intent", &id),
    }
}

/// `metadata['key']:'value'` (or double quotes), the one query form supported.
fn parse_metadata_query(query: &str) -> Option<(String, String)> {
    let rest = query.trim().strip_prefix("metadata[")?;
    let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let rest = &rest[1..];
    let end = rest.find(quote)?;
    let key = rest[..end].to_owned();
    let rest = rest[end + 1..].strip_prefix("]:")?;
    let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let mut value = String::new();
    let mut chars = rest[1..].chars();
    loop {
        match chars.next()? {
            '\\' => value.push(chars.next()?),
            c if c == quote => break,
            c => value.push(c),
        }
    }
    chars.as_str().trim().is_empty().then_some((key, value))
}

async fn search_payment_intents(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(response) = authorize(&sandbox, &headers) {
        return response;
    }
    let pairs = form::decode(query.unwrap_or_default().as_bytes());
    let Some(query) = param(&pairs, "query") else { return missing("query") };
    let Some((key, value)) = parse_metadata_query(query) else {
        return invalid(
            "parameter_invalid_string",
            "The sandbox supports search queries of the form metadata['key']:'value' only.",
            "query",
        );
    };
    let limit = param(&pairs, "limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(10).clamp(1, 100);
    let store = lock(&sandbox.stripe().store);
    let mut found: Vec<&Intent> =
        store.intents.values().filter(|i| i.metadata.get(&key).is_some_and(|v| *v == value)).collect();
    found.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| b.id.cmp(&a.id)));
    let has_more = found.len() > limit;
    let data: Vec<Value> = found.into_iter().take(limit).map(intent_json).collect();
    respond(
        StatusCode::OK,
        &json!({ "object": "search_result", "url": "/v1/payment_intents/search", "has_more": has_more,
                 "next_page": null, "data": data }),
    )
}

// ---------------------------------------------------------------- refunds

async fn create_refund(State(sandbox): State<Sandbox>, headers: HeaderMap, body: Bytes) -> Response {
    let account = match authorize(&sandbox, &headers) {
        Ok(account) => account,
        Err(response) => return response,
    };
    let pairs = form::decode(&body);
    idempotent(&sandbox, &headers, account, "POST /v1/refunds", &pairs, |key| refund(&sandbox, &pairs, key)).await
}

async fn refund(sandbox: &Sandbox, pairs: &[(String, String)], key: Option<String>) -> Result<Executed, Response> {
    let stripe = sandbox.stripe();
    let requested = amount_param(pairs, "amount")?;
    let reason = param(pairs, "reason");
    if reason.is_some_and(|r| !["duplicate", "fraudulent", "requested_by_customer"].contains(&r)) {
        return Err(invalid("parameter_invalid_string", "Invalid reason.", "reason"));
    }
    let now = stripe.now().timestamp();
    let mut store = lock(&stripe.store);
    let intent_id = match (param(pairs, "payment_intent"), param(pairs, "charge")) {
        (Some(pi), _) => pi.to_owned(),
        (None, Some(charge)) => store
            .intents
            .values()
            .find(|i| i.latest_charge.as_deref() == Some(charge))
            .map(|i| i.id.clone())
            .ok_or_else(|| invalid("resource_missing", &format!("No such charge: '{charge}'"), "charge"))?,
        (None, None) => return Err(missing("payment_intent")),
    };
    let Some(intent) = store.intents.get_mut(&intent_id) else {
        return Err(invalid("resource_missing", &format!("No such payment_intent: '{intent_id}'"), "payment_intent"));
    };
    if intent.status != "succeeded" {
        return Err(invalid(
            "payment_intent_unexpected_state",
            &format!("This PaymentIntent ({intent_id}) does not have a successful charge to refund."),
            "payment_intent",
        ));
    }
    let charge = intent.latest_charge.clone().unwrap_or_default();
    let remaining = intent.amount - intent.amount_refunded;
    if remaining == 0 {
        return Err(invalid(
            "charge_already_refunded",
            &format!("Charge {charge} has already been refunded."),
            "amount",
        ));
    }
    let amount = requested.unwrap_or(remaining);
    if amount > remaining {
        return Err(invalid(
            "amount_too_large",
            &format!(
                "Refund amount ({amount} {}) is greater than unrefunded amount on charge ({remaining} {}).",
                intent.currency, intent.currency
            ),
            "amount",
        ));
    }
    intent.amount_refunded += amount;
    let id = new_id("re");
    let body = json!({
        "id": id, "object": "refund", "amount": amount, "currency": intent.currency, "charge": charge,
        "payment_intent": intent.id, "reason": reason, "status": "succeeded",
        "metadata": form::nested(pairs, "metadata"), "created": now,
    });
    let entry = LedgerEntry {
        seq: 0,
        kind: "refund",
        payment_intent: intent.id.clone(),
        charge: Some(charge),
        refund: Some(id.clone()),
        amount,
        currency: intent.currency.clone(),
        idempotency_key: key,
        booking_id: intent.metadata.get("booking_id").cloned(),
        decline_code: None,
        source: "api",
        created: now,
    };
    store.record(entry);
    store.refunds.insert(id, body.clone());
    Ok(Executed::done(StatusCode::OK, body))
}

async fn get_refund(State(sandbox): State<Sandbox>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(response) = authorize(&sandbox, &headers) {
        return response;
    }
    match lock(&sandbox.stripe().store).refunds.get(&id) {
        Some(refund) => respond(StatusCode::OK, refund),
        None => not_found("refund", &id),
    }
}

// ---------------------------------------------------------------- Checkout

/// Where the hosted page lives: the configured public base, else the host the caller used.
fn public_base(sandbox: &Sandbox, headers: &HeaderMap) -> String {
    if let Some(base) = &sandbox.config().public_base_url {
        return base.trim_end_matches('/').to_owned();
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    format!("http://{host}")
}

/// Expires open sessions whose time is up; returns their events.
fn expire_due(stripe: &Stripe, store: &mut Store) -> Vec<Value> {
    let now = stripe.now().timestamp();
    let due: Vec<String> =
        store.sessions.values().filter(|s| s.status == "open" && s.expires_at <= now).map(|s| s.id.clone()).collect();
    due.iter().filter_map(|id| expire(stripe, store, id)).collect()
}

/// Expires one open session (and cancels its unpaid PaymentIntent); its event.
fn expire(stripe: &Stripe, store: &mut Store, id: &str) -> Option<Value> {
    let session = store.sessions.get_mut(id).filter(|s| s.status == "open")?;
    session.status = "expired";
    let object = session_json(session);
    if let Some(intent) = session.payment_intent.clone().and_then(|pi| store.intents.get_mut(&pi)) {
        intent.status = "canceled";
    }
    Some(event(stripe, "checkout.session.expired", object))
}

async fn create_session(State(sandbox): State<Sandbox>, headers: HeaderMap, body: Bytes) -> Response {
    let account = match authorize(&sandbox, &headers) {
        Ok(account) => account,
        Err(response) => return response,
    };
    let pairs = form::decode(&body);
    let base = public_base(&sandbox, &headers);
    let endpoint = "POST /v1/checkout/sessions";
    idempotent(&sandbox, &headers, account, endpoint, &pairs, |_| async { new_session(&sandbox, &pairs, &base) }).await
}

fn new_session(sandbox: &Sandbox, pairs: &[(String, String)], base: &str) -> Result<Executed, Response> {
    let stripe = sandbox.stripe();
    match param(pairs, "mode") {
        Some("payment") => {}
        Some(_) => return Err(invalid("parameter_invalid_string", "The sandbox supports mode=payment only.", "mode")),
        None => return Err(missing("mode")),
    }
    let success_url = param(pairs, "success_url").ok_or_else(|| missing("success_url"))?.to_owned();
    let mut amount = 0_i64;
    let mut currency: Option<String> = None;
    let mut names = Vec::new();
    for index in 0.. {
        let item = |field: &str| format!("line_items[{index}]{field}");
        if !pairs.iter().any(|(k, _)| k.starts_with(&item(""))) {
            break;
        }
        if param(pairs, &item("[price]")).is_some() {
            return Err(invalid(
                "parameter_unknown",
                "The sandbox supports price_data line items only.",
                &item("[price]"),
            ));
        }
        let unit = amount_param(pairs, &item("[price_data][unit_amount]"))?
            .ok_or_else(|| missing(&item("[price_data][unit_amount]")))?;
        let quantity = amount_param(pairs, &item("[quantity]"))?.unwrap_or(1);
        let item_currency = currency_param(pairs, &item("[price_data][currency]"))?;
        if currency.as_ref().is_some_and(|c| *c != item_currency) {
            return Err(invalid(
                "parameter_invalid_string",
                "All line items must share one currency.",
                &item("[price_data][currency]"),
            ));
        }
        currency = Some(item_currency);
        amount = amount.saturating_add(unit.saturating_mul(quantity));
        names.push(param(pairs, &item("[price_data][product_data][name]")).unwrap_or("Payment").to_owned());
    }
    let Some(currency) = currency else { return Err(missing("line_items")) };
    let now = stripe.now();
    let expires_at = match param(pairs, "expires_at") {
        None => now + SESSION_MAX,
        Some(raw) => {
            let at = raw.parse::<i64>().ok().and_then(|s| DateTime::from_timestamp(s, 0));
            match at {
                // A second of slack: the caller computed "now + 30 min" a moment ago.
                Some(at)
                    if at >= now + SESSION_MIN - chrono::Duration::seconds(5)
                        && at <= now + SESSION_MAX + chrono::Duration::seconds(5) =>
                {
                    at
                }
                _ => {
                    return Err(invalid(
                        "parameter_invalid_integer",
                        "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session \
                         creation.",
                        "expires_at",
                    ));
                }
            }
        }
    };
    let id = format!("cs_test_{}", &uuid::Uuid::new_v4().simple().to_string()[..24]);
    let session = Session {
        url: format!("{base}/_sandbox/checkout/{id}"),
        id: id.clone(),
        amount,
        currency,
        name: names.join(", "),
        success_url,
        cancel_url: param(pairs, "cancel_url").map(str::to_owned),
        client_reference_id: param(pairs, "client_reference_id").map(str::to_owned),
        metadata: form::nested(pairs, "metadata"),
        intent_metadata: form::nested(pairs, "payment_intent_data[metadata]"),
        expires_at: expires_at.timestamp(),
        created: now.timestamp(),
        status: "open",
        payment_status: "unpaid",
        payment_intent: None,
    };
    let body = session_json(&session);
    lock(&stripe.store).sessions.insert(id, session);
    Ok(Executed::done(StatusCode::OK, body))
}

async fn get_session(State(sandbox): State<Sandbox>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(response) = authorize(&sandbox, &headers) {
        return response;
    }
    let stripe = sandbox.stripe();
    let (events, found) = {
        let mut store = lock(&stripe.store);
        let events = expire_due(stripe, &mut store);
        (events, store.sessions.get(&id).map(session_json))
    };
    send_events(&sandbox, events);
    match found {
        Some(session) => respond(StatusCode::OK, &session),
        None => not_found("checkout.session", &id),
    }
}

async fn expire_session(State(sandbox): State<Sandbox>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let account = match authorize(&sandbox, &headers) {
        Ok(account) => account,
        Err(response) => return response,
    };
    let endpoint = format!("POST /v1/checkout/sessions/{id}/expire");
    idempotent(&sandbox, &headers, account, &endpoint, &[], |_| async {
        let stripe = sandbox.stripe();
        let mut store = lock(&stripe.store);
        let mut events = expire_due(stripe, &mut store);
        let Some(status) = store.sessions.get(&id).map(|s| s.status) else {
            return Err(not_found("checkout.session", &id));
        };
        if status != "open" {
            return Err(invalid(
                "checkout_session_unexpected_state",
                &format!("Only Checkout Sessions with a status in [\"open\"] can be expired; this one is {status}."),
                "session",
            ));
        }
        events.extend(expire(stripe, &mut store, &id));
        let body = store.sessions.get(&id).map(session_json).unwrap_or(Value::Null);
        Ok(Executed { events, ..Executed::done(StatusCode::OK, body) })
    })
    .await
}

async fn balance(State(sandbox): State<Sandbox>, headers: HeaderMap) -> Response {
    if let Err(response) = authorize(&sandbox, &headers) {
        return response;
    }
    let mut net: BTreeMap<String, i64> = BTreeMap::new();
    for entry in &lock(&sandbox.stripe().store).ledger {
        let sign = match entry.kind {
            "charge" => 1,
            "refund" => -1,
            _ => 0,
        };
        *net.entry(entry.currency.clone()).or_insert(0) += sign * entry.amount;
    }
    let available: Vec<Value> = net.iter().map(|(c, a)| json!({ "amount": a, "currency": c })).collect();
    respond(StatusCode::OK, &json!({ "object": "balance", "available": available, "pending": [], "livemode": false }))
}

// ---------------------------------------------------------------- the hosted page

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#1a1a1a}}\
         .amount{{font-size:2rem;font-weight:600}} .note{{color:#666;font-size:.9rem}}\
         .error{{color:#b00020}} select,button{{font-size:1rem;padding:.5rem;width:100%;margin-top:.75rem}}\
         button{{background:#635bff;color:#fff;border:0;border-radius:4px}}\
         </style></head><body>{body}</body></html>\n",
        title = escape(title)
    );
    (status, Html(html)).into_response()
}

fn display_amount(amount: i64, currency: &str) -> String {
    let money = crate::payments::money::from_minor_units(amount, currency);
    format!("{} {}", money.amount, money.currency)
}

fn payment_form(session: &Session, error: Option<&str>) -> String {
    let options: String = PAGE_TOKENS
        .iter()
        .map(|(token, label)| format!("<option value=\"{}\">{}</option>", escape(token), escape(label)))
        .collect();
    let error = error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e))).unwrap_or_default();
    let cancel = session
        .cancel_url
        .as_deref()
        .map(|url| format!("<p><a href=\"{}\">Cancel and go back</a></p>", escape(url)))
        .unwrap_or_default();
    format!(
        "<h1>{name}</h1><p class=\"amount\">{amount}</p>{error}\
         <form method=\"post\" action=\"/_sandbox/checkout/{id}/pay\">\
         <label for=\"payment_method\">Test card</label>\
         <select id=\"payment_method\" name=\"payment_method\">{options}</select>\
         <button type=\"submit\">Pay {amount}</button></form>{cancel}\
         <p class=\"note\">Wayfarer payment sandbox — no real card is charged. Reference: {reference}</p>",
        name = escape(&session.name),
        amount = escape(&display_amount(session.amount, &session.currency)),
        id = escape(&session.id),
        reference = escape(session.client_reference_id.as_deref().unwrap_or("-")),
    )
}

fn closed_page(session: &Session) -> Response {
    match session.status {
        "complete" => {
            page(StatusCode::CONFLICT, "Already paid", "<h1>This payment is complete</h1><p>Nothing more to pay.</p>")
        }
        _ => page(StatusCode::GONE, "Expired", "<h1>This payment page has expired</h1><p>Ask for a new link.</p>"),
    }
}

async fn checkout_page(State(sandbox): State<Sandbox>, Path(id): Path<String>) -> Response {
    let stripe = sandbox.stripe();
    stripe.count("checkoutPage");
    let (events, session) = {
        let mut store = lock(&stripe.store);
        let events = expire_due(stripe, &mut store);
        (events, store.sessions.get(&id).cloned())
    };
    send_events(&sandbox, events);
    match session {
        None => page(StatusCode::NOT_FOUND, "Not found", "<h1>No such payment page</h1>"),
        Some(session) if session.status == "open" => {
            page(StatusCode::OK, &format!("Pay {}", session.name), &payment_form(&session, None))
        }
        Some(session) => closed_page(&session),
    }
}

async fn checkout_pay(State(sandbox): State<Sandbox>, Path(id): Path<String>, body: Bytes) -> Response {
    let stripe = sandbox.stripe();
    stripe.count("checkoutPay");
    let pairs = form::decode(&body);
    let token = param(&pairs, "payment_method").unwrap_or("").to_owned();
    let mut store = lock(&stripe.store);
    let mut events = expire_due(stripe, &mut store);
    let Some(session) = store.sessions.get(&id).cloned() else {
        drop(store);
        send_events(&sandbox, events);
        return page(StatusCode::NOT_FOUND, "Not found", "<h1>No such payment page</h1>");
    };
    if session.status != "open" {
        drop(store);
        send_events(&sandbox, events);
        return closed_page(&session);
    }
    let Some((outcome, _, _)) = card_outcome(&token) else {
        // Never echo something shaped like a card number back into a page.
        let unknown = match crate::payments::looks_like_card_number(&token) {
            true => "Card numbers are not accepted here; choose a test card.".to_owned(),
            false => format!("Unknown test payment method {token:?}"),
        };
        drop(store);
        send_events(&sandbox, events);
        return page(StatusCode::BAD_REQUEST, "Pay", &payment_form(&session, Some(&unknown)));
    };
    // One PaymentIntent per session, confirmed again after a decline, as Checkout does.
    let mut intent = match session.payment_intent.as_ref().and_then(|pi| store.intents.get(pi)) {
        Some(intent) => intent.clone(),
        None => Intent {
            id: new_id("pi"),
            amount: session.amount,
            currency: session.currency.clone(),
            status: "requires_payment_method",
            payment_method: None,
            metadata: session.intent_metadata.clone(),
            description: Some(session.name.clone()),
            created: stripe.now().timestamp(),
            latest_charge: None,
            last_payment_error: None,
            next_action: None,
            amount_refunded: 0,
        },
    };
    intent.payment_method = Some(token);
    let (status, _, intent_events) = confirm(stripe, &mut store, &mut intent, outcome, None, "checkout");
    events.extend(intent_events);
    let intent_id = intent.id.clone();
    store.intents.insert(intent_id.clone(), intent);
    let response = {
        let Some(live) = store.sessions.get_mut(&id) else {
            return page(StatusCode::NOT_FOUND, "Not found", "<h1>No such payment page</h1>");
        };
        live.payment_intent = Some(intent_id);
        if status == StatusCode::OK {
            live.status = "complete";
            live.payment_status = "paid";
            events.push(event(stripe, "checkout.session.completed", session_json(live)));
            let location = live.success_url.replace("{CHECKOUT_SESSION_ID}", &live.id);
            let mut response = page(
                StatusCode::SEE_OTHER,
                "Paid",
                &format!("<h1>Payment complete</h1><p><a href=\"{}\">Continue</a></p>", escape(&location)),
            );
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            response
        } else {
            let message = match outcome {
                CardOutcome::Decline { message, .. } => message,
                _ => "This card needs authentication, which the sandbox page cannot do.",
            };
            page(StatusCode::PAYMENT_REQUIRED, "Pay", &payment_form(live, Some(message)))
        }
    };
    drop(store);
    send_events(&sandbox, events);
    response
}

// ---------------------------------------------------------------- webhooks

/// Records events and, when a webhook URL is set, delivers the enabled ones
/// in the background with the configured delay, duplication and order.
fn send_events(sandbox: &Sandbox, events: Vec<Value>) {
    if events.is_empty() {
        return;
    }
    let stripe = sandbox.stripe();
    let settings = stripe.settings();
    {
        let mut store = lock(&stripe.store);
        for event in &events {
            if let Some(id) = event["id"].as_str() {
                store.events.insert(id.to_owned(), event.clone());
            }
        }
    }
    let Some(url) = settings.webhook_url.clone() else { return };
    let mut batch: Vec<Value> = events
        .into_iter()
        .filter(|e| e["type"].as_str().is_some_and(|t| settings.webhook_events.iter().any(|w| w == t || w == "*")))
        .collect();
    if batch.is_empty() {
        return;
    }
    if settings.reorder_webhooks {
        batch.reverse();
    }
    if settings.duplicate_webhooks {
        let again = batch.clone();
        batch.extend(again);
    }
    let sandbox = sandbox.clone();
    tokio::spawn(async move {
        if settings.webhook_delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(settings.webhook_delay_ms)).await;
        }
        for event in batch {
            deliver(&sandbox, &url, &event, settings.webhook_attempts).await;
        }
    });
}

/// One delivery: signed per attempt with the wall clock (as Stripe signs at
/// send time), retried on non-2xx with doubling backoff.
async fn deliver(sandbox: &Sandbox, url: &str, event: &Value, attempts: u32) -> Vec<Delivery> {
    let stripe = sandbox.stripe();
    let payload = serde_json::to_vec(event).unwrap_or_default();
    let event_id = event["id"].as_str().unwrap_or_default().to_owned();
    let kind = event["type"].as_str().unwrap_or_default().to_owned();
    let secret = &sandbox.config().stripe_webhook_secret;
    let mut backoff = Duration::from_millis(200);
    let mut made = Vec::new();
    for attempt in 1..=attempts.max(1) {
        let signature = webhook::sign(&payload, secret, Utc::now().timestamp());
        let result = stripe
            .client
            .post(url)
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
            .header(header::USER_AGENT, "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
            .header(webhook::SIGNATURE_HEADER, signature)
            .body(payload.clone())
            .send()
            .await;
        let (status, error) = match result {
            Ok(response) => (Some(response.status().as_u16()), None),
            Err(e) => (None, Some(e.without_url().to_string())),
        };
        let delivery = Delivery {
            event_id: event_id.clone(),
            kind: kind.clone(),
            attempt,
            url: url.to_owned(),
            status,
            error,
            at: Utc::now().timestamp(),
        };
        lock(&stripe.store).deliveries.push(delivery.clone());
        made.push(delivery);
        if status.is_some_and(|s| (200..300).contains(&s)) {
            break;
        }
        if attempt < attempts {
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
    made
}

async fn get_webhooks(State(sandbox): State<Sandbox>) -> Response {
    let store = lock(&sandbox.stripe().store);
    let mut events: Vec<Value> =
        store.events.values().map(|e| json!({ "id": e["id"], "type": e["type"], "created": e["created"] })).collect();
    events.sort_by(|a, b| a["created"].as_i64().cmp(&b["created"].as_i64()));
    axum::Json(json!({ "deliveries": store.deliveries, "events": events })).into_response()
}

/// Delivers one recorded event again, now, and answers with the attempts.
async fn redeliver(State(sandbox): State<Sandbox>, Path(id): Path<String>) -> Response {
    let stripe = sandbox.stripe();
    let Some(event) = lock(&stripe.store).events.get(&id).cloned() else {
        return super::control_error(StatusCode::NOT_FOUND, "no such event");
    };
    let settings = stripe.settings();
    let Some(url) = settings.webhook_url else {
        return super::control_error(StatusCode::CONFLICT, "no webhookUrl is set: PUT /_sandbox/personalities/stripe");
    };
    let deliveries = deliver(&sandbox, &url, &event, settings.webhook_attempts).await;
    axum::Json(json!({ "deliveries": deliveries })).into_response()
}

// ---------------------------------------------------------------- control

async fn get_ledger(State(sandbox): State<Sandbox>) -> Response {
    let store = lock(&sandbox.stripe().store);
    let mut totals: BTreeMap<String, BTreeMap<&str, i64>> = BTreeMap::new();
    for entry in &store.ledger {
        let total = totals.entry(entry.currency.clone()).or_default();
        let (count, sum) = match entry.kind {
            "charge" => ("charges", Some("charged")),
            "refund" => ("refunds", Some("refunded")),
            _ => ("declines", None),
        };
        *total.entry(count).or_insert(0) += 1;
        if let Some(sum) = sum {
            *total.entry(sum).or_insert(0) += entry.amount;
        }
    }
    for total in totals.values_mut() {
        let net = total.get("charged").copied().unwrap_or(0) - total.get("refunded").copied().unwrap_or(0);
        total.insert("net", net);
    }
    axum::Json(json!({ "entries": store.ledger, "totals": totals })).into_response()
}

/// The current settings.
pub(super) fn get_settings(sandbox: &Sandbox) -> Response {
    axum::Json(sandbox.stripe().settings()).into_response()
}

/// Applies a partial settings update.
pub(super) fn put_settings(sandbox: &Sandbox, body: &[u8]) -> Response {
    let update: SettingsUpdate = match serde_json::from_slice(body) {
        Ok(update) => update,
        Err(error) => return super::control_error(StatusCode::BAD_REQUEST, &format!("invalid settings: {error}")),
    };
    if update.error_rate.is_some_and(|r| !(0.0..=1.0).contains(&r)) {
        return super::control_error(StatusCode::BAD_REQUEST, "errorRate is between 0 and 1");
    }
    let delays = [update.latency_ms, update.charge_delay_ms, update.timeout_after_charge_ms, update.webhook_delay_ms];
    if delays.iter().flatten().any(|d| *d > MAX_DELAY_MS) {
        return super::control_error(StatusCode::BAD_REQUEST, "delays are at most 120000 ms");
    }
    if update.webhook_attempts.is_some_and(|a| !(1..=10).contains(&a)) {
        return super::control_error(StatusCode::BAD_REQUEST, "webhookAttempts is between 1 and 10");
    }
    if let Some(url) = update.webhook_url.as_deref().filter(|u| !u.is_empty())
        && !url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
    {
        return super::control_error(StatusCode::BAD_REQUEST, "webhookUrl is an http:// or https:// URL (or empty)");
    }
    let stripe = sandbox.stripe();
    let settings = {
        let mut settings = lock(&stripe.settings);
        let SettingsUpdate {
            latency_ms,
            error_rate,
            outage,
            error_next,
            rate_limit_next,
            charge_delay_ms,
            fail_after_charge_next,
            timeout_after_charge_next,
            timeout_after_charge_ms,
            webhook_url,
            webhook_events,
            duplicate_webhooks,
            reorder_webhooks,
            webhook_delay_ms,
            webhook_attempts,
            clock_offset_seconds,
        } = update;
        settings.latency_ms = latency_ms.unwrap_or(settings.latency_ms);
        settings.error_rate = error_rate.unwrap_or(settings.error_rate);
        settings.outage = outage.unwrap_or(settings.outage);
        settings.error_next = error_next.unwrap_or(settings.error_next);
        settings.rate_limit_next = rate_limit_next.unwrap_or(settings.rate_limit_next);
        settings.charge_delay_ms = charge_delay_ms.unwrap_or(settings.charge_delay_ms);
        settings.fail_after_charge_next = fail_after_charge_next.unwrap_or(settings.fail_after_charge_next);
        settings.timeout_after_charge_next = timeout_after_charge_next.unwrap_or(settings.timeout_after_charge_next);
        settings.timeout_after_charge_ms = timeout_after_charge_ms.unwrap_or(settings.timeout_after_charge_ms);
        if let Some(url) = webhook_url {
            settings.webhook_url = (!url.is_empty()).then_some(url);
        }
        settings.webhook_events = webhook_events.unwrap_or_else(|| settings.webhook_events.clone());
        settings.duplicate_webhooks = duplicate_webhooks.unwrap_or(settings.duplicate_webhooks);
        settings.reorder_webhooks = reorder_webhooks.unwrap_or(settings.reorder_webhooks);
        settings.webhook_delay_ms = webhook_delay_ms.unwrap_or(settings.webhook_delay_ms);
        settings.webhook_attempts = webhook_attempts.unwrap_or(settings.webhook_attempts);
        settings.clock_offset_seconds = clock_offset_seconds.unwrap_or(settings.clock_offset_seconds);
        settings.clone()
    };
    // A moved clock may have expired sessions.
    let events = expire_due(stripe, &mut lock(&stripe.store));
    send_events(sandbox, events);
    axum::Json(settings).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_queries_parse_with_either_quote_and_escapes() {
        assert_eq!(parse_metadata_query("metadata['booking_id']:'bk_1'"), Some(("booking_id".into(), "bk_1".into())));
        assert_eq!(parse_metadata_query("metadata[\"k\"]:\"v\""), Some(("k".into(), "v".into())));
        assert_eq!(parse_metadata_query("metadata['k']:'it\\'s'"), Some(("k".into(), "it's".into())));
        assert_eq!(parse_metadata_query("metadata['k']:'v' AND status:'succeeded'"), None);
        assert_eq!(parse_metadata_query("status:'succeeded'"), None);
        assert_eq!(parse_metadata_query("metadata['k']:'unterminated"), None);
    }

    #[test]
    fn page_text_is_escaped() {
        assert_eq!(escape("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }

    #[test]
    fn the_contract_tokens_have_their_outcomes() {
        let decline = |token| match card_outcome(token) {
            Some((CardOutcome::Decline { decline_code, .. }, _, _)) => Some(decline_code),
            _ => None,
        };
        assert!(matches!(card_outcome("pm_card_visa"), Some((CardOutcome::Succeed, "visa", "4242"))));
        assert!(matches!(card_outcome("pm_card_mastercard"), Some((CardOutcome::Succeed, "mastercard", _))));
        assert_eq!(decline("pm_card_chargeDeclined"), Some("generic_decline"));
        assert_eq!(decline("pm_card_chargeDeclinedInsufficientFunds"), Some("insufficient_funds"));
        assert_eq!(decline("pm_card_chargeDeclinedExpiredCard"), Some("expired_card"));
        assert!(card_outcome("4242424242424242").is_none());
    }
}
