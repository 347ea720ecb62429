//! The notification sinks: a Twilio-style Programmable Messaging API and an
//! FCM-HTTP-v1-style push API (with its Google OAuth2 token endpoint), which
//! check what they are sent as the real services do, answer in their wire
//! formats (`reference/providers.md` §5.1, §5.3) and record every message
//! they accept, for `GET /_sandbox/sms/messages` and
//! `GET /_sandbox/push/messages`.
//!
//! **Twilio** (`/2010-04-01/Accounts/{AccountSid}/…`): HTTP Basic with the
//! sandbox's account SID and auth token (else 401 `20003`); `POST
//! Messages.json` with `To`, `From` or `MessagingServiceSid`, and `Body`,
//! answered 201 with a message resource (`SM…` sid, `queued`, or `accepted`
//! through a Messaging Service); `GET Messages/{sid}.json`, `GET
//! Messages.json` and `GET {AccountSid}.json` (the account, which `doctor`
//! asks for). Twilio's magic test numbers decide failures: `To`
//! `+15005550001` → 21211, `…0002` → 21612, `…0003` → 21408, `…0004` →
//! 21610, `…0009` → 21614; `From` `+15005550001` → 21212, `…0007` → 21606,
//! `…0008` → 21611. Any other E.164 number is accepted (unlike Twilio's test
//! credentials, which only take `+15005550006`: this is a sink, not a trial
//! account).
//!
//! **FCM.** `POST /oauth2/token` exchanges a service-account assertion
//! (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`): the JWT must
//! be signed RS256 by the sandbox's own test service account (a throwaway
//! RSA key pair in `keys/`, made for the sandbox and good for nothing else),
//! name it as `iss`, this endpoint's URL as `aud`, the `firebase.messaging`
//! (or `cloud-platform`) scope, and live at most an hour; the access token
//! lives `tokenExpiresIn` seconds. `POST /v1/projects/{project}/messages:send`
//! needs such a token (an expired one is 401 `UNAUTHENTICATED` with
//! `ACCESS_TOKEN_EXPIRED`), the sandbox's project, exactly one of `token`,
//! `topic` or `condition`, a well-formed token (at least 20 of
//! `[A-Za-z0-9_:.-]`), string-valued `data` without reserved keys, and a
//! notification plus data of at most 4096 bytes (as JSON); it answers 200
//! `{name}`. `validate_only` checks without recording. Magic tokens: one
//! starting `unregistered` → 404 `UNREGISTERED`, `sender-mismatch` → 403
//! `SENDER_ID_MISMATCH`, `quota-exceeded` → 429 `QUOTA_EXCEEDED`.
//!
//! **Faults** (`PUT /_sandbox/personalities/twilio` and `…/fcm`, shaped as
//! the other personalities): `latencyMs`, `outage` (every request 503, token
//! calls included), `rateLimitNext` (the next n API requests 429: Twilio
//! 20429, FCM `QUOTA_EXCEEDED`), `errorNext` (the next n answered 500:
//! Twilio 20500, FCM `INTERNAL`); token calls do not use up the counts.
//! FCM also takes `tokenExpiresIn`, and `POST /_sandbox/push/tokens/expire`
//! expires every token issued so far. Calls are counted under
//! `GET /_sandbox/calls` (`twilio`, `fcm`), rejected and faulted ones too;
//! only accepted messages are recorded.

#![allow(
    clippy::result_large_err,
    reason = "validation returns the ready error response; it is the cold path and 128 bytes"
)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Sandbox, SandboxConfig, control_error, json_response, lock};

/// The sandbox service account's private key (PKCS#8 PEM). A test key made
/// for this sandbox: it signs sandbox assertions and protects nothing.
pub const FCM_SANDBOX_PRIVATE_KEY: &str = include_str!("keys/fcm-service-account.pem");
/// Its public half, which verifies assertions.
const FCM_SANDBOX_PUBLIC_KEY: &str = include_str!("keys/fcm-service-account.pub.pem");
/// Where the token endpoint is served.
pub const FCM_TOKEN_PATH: &str = "/oauth2/token";
/// The grant type of an assertion exchange.
const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Scopes that allow FCM sends.
const FCM_SCOPES: [&str; 2] =
    ["https://www.googleapis.com/auth/firebase.messaging", "https://www.googleapis.com/auth/cloud-platform"];
/// FCM's payload limit in bytes.
const MAX_PAYLOAD_BYTES: usize = 4096;
/// Twilio's body limit in characters.
const MAX_SMS_CHARS: usize = 1600;
/// Longest configurable latency.
const MAX_DELAY_MS: u64 = 120_000;

const TWILIO_KINDS: &[&str] = &["messageCreate", "messageGet", "messageList", "accountGet"];
const FCM_KINDS: &[&str] = &["token", "send"];

/// The sandbox's test service account (its `client_email`).
pub fn fcm_client_email(config: &SandboxConfig) -> String {
    format!("wayfarer-sandbox@{}.iam.gserviceaccount.com", config.fcm_project_id)
}

/// A service-account key file for the sandbox at `base_url`: what a push
/// channel pointed at the sandbox signs its assertions with.
pub fn fcm_service_account_json(base_url: &str, config: &SandboxConfig) -> String {
    json!({
        "type": "service_account",
        "project_id": config.fcm_project_id,
        "private_key_id": "sandbox-key-1",
        "private_key": FCM_SANDBOX_PRIVATE_KEY,
        "client_email": fcm_client_email(config),
        "client_id": "100000000000000000001",
        "token_uri": format!("{}{FCM_TOKEN_PATH}", base_url.trim_end_matches('/')),
    })
    .to_string()
}

// ---------------------------------------------------------------- state

/// Fault settings of one sink (the control API's body).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SinkSettings {
    /// Added to every request.
    latency_ms: u64,
    /// Every request answered 503.
    outage: bool,
    /// The next this many API requests (token calls aside) are answered 429.
    rate_limit_next: u64,
    /// The next this many API requests (token calls aside) are answered 500.
    error_next: u64,
    /// FCM only: lifetime of new access tokens, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    token_expires_in: Option<u64>,
}

impl SinkSettings {
    fn twilio() -> Self {
        Self { latency_ms: 0, outage: false, rate_limit_next: 0, error_next: 0, token_expires_in: None }
    }

    fn fcm() -> Self {
        Self { token_expires_in: Some(3599), ..Self::twilio() }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SinkSettingsUpdate {
    latency_ms: Option<u64>,
    outage: Option<bool>,
    rate_limit_next: Option<u64>,
    error_next: Option<u64>,
    token_expires_in: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SinkFault {
    Outage,
    RateLimited,
    ServerError,
}

#[derive(Debug)]
struct Sink {
    settings: Mutex<SinkSettings>,
    calls: Mutex<BTreeMap<&'static str, u64>>,
    kinds: &'static [&'static str],
    fresh: fn() -> SinkSettings,
}

impl Sink {
    fn new(kinds: &'static [&'static str], fresh: fn() -> SinkSettings) -> Self {
        Self { settings: Mutex::new(fresh()), calls: Mutex::new(kinds.iter().map(|k| (*k, 0)).collect()), kinds, fresh }
    }

    /// Counts the call, waits the latency, and draws the fault it gets, if any.
    async fn enter(&self, kind: &'static str, counted_faults: bool) -> Option<SinkFault> {
        *lock(&self.calls).entry(kind).or_insert(0) += 1;
        let (latency, fault) = {
            let mut settings = lock(&self.settings);
            let fault = if settings.outage {
                Some(SinkFault::Outage)
            } else if counted_faults && settings.rate_limit_next > 0 {
                settings.rate_limit_next -= 1;
                Some(SinkFault::RateLimited)
            } else if counted_faults && settings.error_next > 0 {
                settings.error_next -= 1;
                Some(SinkFault::ServerError)
            } else {
                None
            };
            (settings.latency_ms, fault)
        };
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        fault
    }

    fn reset(&self) {
        *lock(&self.settings) = (self.fresh)();
        *lock(&self.calls) = self.kinds.iter().map(|k| (*k, 0)).collect();
    }
}

/// Both sinks' state.
#[derive(Debug)]
pub(super) struct Sinks {
    twilio: Sink,
    fcm: Sink,
    sms: Mutex<Vec<Value>>,
    push: Mutex<Vec<Value>>,
    /// Access token → when it expires.
    tokens: Mutex<HashMap<String, Instant>>,
}

impl Default for Sinks {
    fn default() -> Self {
        Self {
            twilio: Sink::new(TWILIO_KINDS, SinkSettings::twilio),
            fcm: Sink::new(FCM_KINDS, SinkSettings::fcm),
            sms: Mutex::default(),
            push: Mutex::default(),
            tokens: Mutex::default(),
        }
    }
}

impl Sinks {
    /// Call counters, for `/_sandbox/calls`.
    pub(super) fn calls(&self) -> (BTreeMap<&'static str, u64>, BTreeMap<&'static str, u64>) {
        (lock(&self.twilio.calls).clone(), lock(&self.fcm.calls).clone())
    }

    /// Settings and counters to defaults; recorded messages forgotten. Tokens stay.
    pub(super) fn reset(&self) {
        self.twilio.reset();
        self.fcm.reset();
        lock(&self.sms).clear();
        lock(&self.push).clear();
    }

    fn sink(&self, name: &str) -> Option<&Sink> {
        match name {
            "twilio" => Some(&self.twilio),
            "fcm" => Some(&self.fcm),
            _ => None,
        }
    }
}

/// The API routes of both sinks.
pub(super) fn routes() -> Router<Sandbox> {
    Router::new()
        .route("/2010-04-01/Accounts/{account}/Messages.json", post(twilio_create).get(twilio_list))
        .route("/2010-04-01/Accounts/{account}/Messages/{message}", get(twilio_get))
        .route("/2010-04-01/Accounts/{account}", get(twilio_account))
        .route(FCM_TOKEN_PATH, post(fcm_token))
        .route("/v1/projects/{project}/messages:send", post(fcm_send))
}

/// The control routes: records and the token control.
pub(super) fn control_routes() -> Router<Sandbox> {
    Router::new()
        .route("/_sandbox/sms/messages", get(sms_messages))
        .route("/_sandbox/push/messages", get(push_messages))
        .route("/_sandbox/push/tokens/expire", post(expire_tokens))
}

/// Whether `name` is one of the sinks' personalities.
pub(super) fn is_sink(name: &str) -> bool {
    matches!(name, "twilio" | "fcm")
}

/// `GET /_sandbox/personalities/{twilio|fcm}`.
pub(super) fn get_settings(sandbox: &Sandbox, name: &str) -> Response {
    match sandbox.sinks().sink(name) {
        Some(sink) => axum::Json(lock(&sink.settings).clone()).into_response(),
        None => control_error(StatusCode::NOT_FOUND, "unknown sink"),
    }
}

/// `PUT /_sandbox/personalities/{twilio|fcm}`: a partial update.
pub(super) fn put_settings(sandbox: &Sandbox, name: &str, body: &[u8]) -> Response {
    let Some(sink) = sandbox.sinks().sink(name) else {
        return control_error(StatusCode::NOT_FOUND, "unknown sink");
    };
    let update: SinkSettingsUpdate = match serde_json::from_slice(body) {
        Ok(update) => update,
        Err(error) => return control_error(StatusCode::BAD_REQUEST, &format!("invalid settings: {error}")),
    };
    if update.latency_ms.is_some_and(|ms| ms > MAX_DELAY_MS) {
        return control_error(StatusCode::BAD_REQUEST, "latencyMs is at most 120000");
    }
    let mut settings = lock(&sink.settings);
    match (update.token_expires_in, settings.token_expires_in.is_some()) {
        (Some(_), false) => return control_error(StatusCode::BAD_REQUEST, "tokenExpiresIn is for fcm only"),
        (Some(0), true) => return control_error(StatusCode::BAD_REQUEST, "tokenExpiresIn is at least 1"),
        (Some(seconds), true) => settings.token_expires_in = Some(seconds),
        (None, _) => {}
    }
    let SinkSettingsUpdate { latency_ms, outage, rate_limit_next, error_next, token_expires_in: _ } = update;
    settings.latency_ms = latency_ms.unwrap_or(settings.latency_ms);
    settings.outage = outage.unwrap_or(settings.outage);
    settings.rate_limit_next = rate_limit_next.unwrap_or(settings.rate_limit_next);
    settings.error_next = error_next.unwrap_or(settings.error_next);
    axum::Json(settings.clone()).into_response()
}

async fn sms_messages(State(sandbox): State<Sandbox>) -> Response {
    axum::Json(json!({ "messages": lock(&sandbox.sinks().sms).clone() })).into_response()
}

async fn push_messages(State(sandbox): State<Sandbox>) -> Response {
    axum::Json(json!({ "messages": lock(&sandbox.sinks().push).clone() })).into_response()
}

async fn expire_tokens(State(sandbox): State<Sandbox>) -> Response {
    let now = Instant::now();
    let mut tokens = lock(&sandbox.sinks().tokens);
    for expiry in tokens.values_mut() {
        *expiry = (*expiry).min(now);
    }
    axum::Json(json!({ "expired": tokens.len() })).into_response()
}

// ---------------------------------------------------------------- Twilio

fn twilio_error(status: StatusCode, code: u32, message: &str) -> Response {
    json_response(
        status,
        "application/json",
        &json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status.as_u16(),
        }),
    )
}

fn twilio_fault(fault: SinkFault) -> Response {
    match fault {
        SinkFault::Outage => {
            twilio_error(StatusCode::SERVICE_UNAVAILABLE, 20503, "Service unavailable (sandbox outage)")
        }
        SinkFault::RateLimited => twilio_error(StatusCode::TOO_MANY_REQUESTS, 20429, "Too Many Requests"),
        SinkFault::ServerError => {
            twilio_error(StatusCode::INTERNAL_SERVER_ERROR, 20500, "An internal server error has occurred")
        }
    }
}

/// Checks HTTP Basic against the sandbox account and the account in the path.
fn twilio_authorize(sandbox: &Sandbox, headers: &HeaderMap, account: &str) -> Result<(), Response> {
    let config = sandbox.config();
    let pair = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok());
    let authenticated = pair
        .as_deref()
        .and_then(|p| p.split_once(':'))
        .is_some_and(|(user, password)| user == config.twilio_account_sid && password == config.twilio_auth_token);
    if !authenticated {
        return Err(twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate"));
    }
    if account != config.twilio_account_sid {
        return Err(twilio_error(
            StatusCode::NOT_FOUND,
            20404,
            &format!("The requested resource /2010-04-01/Accounts/{account} was not found"),
        ));
    }
    Ok(())
}

fn is_e164(number: &str) -> bool {
    number
        .strip_prefix('+')
        .is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0'))
}

/// Segments an SMS body takes: GSM-7 (approximated as ASCII) packs 160
/// characters in one, 153 per part when split; anything else is UCS-2, 70
/// and 67 UTF-16 units.
fn segments(body: &str) -> usize {
    let (units, single, part) =
        if body.is_ascii() { (body.len(), 160, 153) } else { (body.encode_utf16().count(), 70, 67) };
    if units <= single { 1 } else { units.div_ceil(part) }
}

async fn twilio_create(
    State(sandbox): State<Sandbox>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let sinks = sandbox.sinks();
    if let Some(fault) = sinks.twilio.enter("messageCreate", true).await {
        return twilio_fault(fault);
    }
    if let Err(denied) = twilio_authorize(&sandbox, &headers, &account) {
        return denied;
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let bad = |code: u32, message: String| twilio_error(StatusCode::BAD_REQUEST, code, &message);
    let Some(to) = field("To") else {
        return bad(21604, "A 'To' phone number is required.".into());
    };
    let service = field("MessagingServiceSid");
    let from = field("From");
    if from.is_none() && service.is_none() {
        return bad(21603, "A 'From' phone number is required.".into());
    }
    let Some(text) = field("Body") else {
        return bad(21602, "Message body is required.".into());
    };
    if text.chars().count() > MAX_SMS_CHARS {
        return bad(21617, "The concatenated message body exceeds the 1600 character limit.".into());
    }
    if let Some(service) = service
        && !(service.starts_with("MG") && service.len() == 34 && service[2..].bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return bad(21701, format!("The Messaging Service Sid {service} is invalid."));
    }
    if let Some(from) = from {
        match from {
            "+15005550001" => return bad(21212, format!("The 'From' number {from} is not a valid phone number.")),
            "+15005550007" => {
                return bad(
                    21606,
                    format!(
                        "The 'From' phone number {from} is not a valid, SMS-capable inbound phone number or short code for your account."
                    ),
                );
            }
            "+15005550008" => {
                return bad(
                    21611,
                    format!("This 'From' number {from} has exceeded the maximum number of queued messages"),
                );
            }
            from if !is_e164(from) => {
                return bad(21212, format!("The 'From' number {from} is not a valid phone number."));
            }
            _ => {}
        }
    }
    match to {
        "+15005550001" => return bad(21211, format!("The 'To' number {to} is not a valid phone number.")),
        "+15005550002" => {
            return bad(
                21612,
                format!(
                    "The 'To' phone number: {to}, is not currently reachable using the 'From' phone number via SMS."
                ),
            );
        }
        "+15005550003" => {
            return bad(
                21408,
                format!(
                    "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: {to}."
                ),
            );
        }
        "+15005550004" => return bad(21610, "Attempt to send to unsubscribed recipient".into()),
        "+15005550009" => return bad(21614, format!("'To' number {to} is not a valid mobile number")),
        to if !is_e164(to) => return bad(21211, format!("The 'To' number {to} is not a valid phone number.")),
        _ => {}
    }
    let sid = format!("SM{}", uuid::Uuid::new_v4().simple());
    let now = Utc::now().to_rfc2822();
    let uri = format!("/2010-04-01/Accounts/{account}/Messages/{sid}");
    let message = json!({
        "account_sid": account,
        "api_version": "2010-04-01",
        "body": text,
        "date_created": now,
        "date_sent": null,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": from,
        "messaging_service_sid": service,
        "num_media": "0",
        "num_segments": segments(text).to_string(),
        "price": null,
        "price_unit": "USD",
        "sid": sid,
        "status": if service.is_some() { "accepted" } else { "queued" },
        "subresource_uris": {
            "media": format!("{uri}/Media.json"),
            "feedback": format!("{uri}/Feedback.json"),
        },
        "to": to,
        "uri": format!("{uri}.json"),
    });
    lock(&sinks.sms).push(message.clone());
    json_response(StatusCode::CREATED, "application/json", &message)
}

async fn twilio_get(
    State(sandbox): State<Sandbox>,
    Path((account, message)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let sinks = sandbox.sinks();
    if let Some(fault) = sinks.twilio.enter("messageGet", true).await {
        return twilio_fault(fault);
    }
    if let Err(denied) = twilio_authorize(&sandbox, &headers, &account) {
        return denied;
    }
    let sid = message.strip_suffix(".json").unwrap_or(&message);
    let found = lock(&sinks.sms).iter().find(|m| m["sid"] == sid).cloned();
    match found {
        Some(found) => json_response(StatusCode::OK, "application/json", &found),
        None => twilio_error(
            StatusCode::NOT_FOUND,
            20404,
            &format!("The requested resource /2010-04-01/Accounts/{account}/Messages/{sid}.json was not found"),
        ),
    }
}

async fn twilio_list(State(sandbox): State<Sandbox>, Path(account): Path<String>, headers: HeaderMap) -> Response {
    let sinks = sandbox.sinks();
    if let Some(fault) = sinks.twilio.enter("messageList", true).await {
        return twilio_fault(fault);
    }
    if let Err(denied) = twilio_authorize(&sandbox, &headers, &account) {
        return denied;
    }
    // Newest first, one page: Twilio's order; a sink never holds more than a test sends.
    let messages: Vec<Value> = lock(&sinks.sms).iter().rev().cloned().collect();
    let uri = format!("/2010-04-01/Accounts/{account}/Messages.json");
    json_response(
        StatusCode::OK,
        "application/json",
        &json!({
            "messages": messages,
            "end": messages.len().saturating_sub(1),
            "first_page_uri": format!("{uri}?PageSize=50&Page=0"),
            "next_page_uri": null,
            "page": 0,
            "page_size": 50,
            "previous_page_uri": null,
            "start": 0,
            "uri": format!("{uri}?PageSize=50&Page=0"),
        }),
    )
}

async fn twilio_account(State(sandbox): State<Sandbox>, Path(account): Path<String>, headers: HeaderMap) -> Response {
    let sinks = sandbox.sinks();
    if let Some(fault) = sinks.twilio.enter("accountGet", true).await {
        return twilio_fault(fault);
    }
    let Some(sid) = account.strip_suffix(".json") else {
        return twilio_error(StatusCode::NOT_FOUND, 20404, "The requested resource was not found");
    };
    if let Err(denied) = twilio_authorize(&sandbox, &headers, sid) {
        return denied;
    }
    json_response(
        StatusCode::OK,
        "application/json",
        &json!({
            "sid": sid,
            "friendly_name": "Wayfarer sandbox",
            "status": "active",
            "type": "Full",
            "owner_account_sid": sid,
            "uri": format!("/2010-04-01/Accounts/{sid}.json"),
        }),
    )
}

// ---------------------------------------------------------------- FCM

fn oauth_error(error: &str, description: &str) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        "application/json",
        &json!({ "error": error, "error_description": description }),
    )
}

/// A Google RPC error (`{error:{code, message, status, details}}`).
fn rpc_error(status: StatusCode, state: &str, message: &str, details: Value) -> Response {
    json_response(
        status,
        "application/json",
        &json!({ "error": { "code": status.as_u16(), "message": message, "status": state, "details": details } }),
    )
}

fn fcm_detail(code: &str) -> Value {
    json!({ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code })
}

fn invalid_argument(message: &str, field: &str, description: &str) -> Response {
    rpc_error(
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
        message,
        json!([
            fcm_detail("INVALID_ARGUMENT"),
            { "@type": "type.googleapis.com/google.rpc.BadRequest",
              "fieldViolations": [{ "field": field, "description": description }] }
        ]),
    )
}

fn fcm_fault(fault: SinkFault) -> Response {
    match fault {
        SinkFault::Outage => rpc_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "The service is currently unavailable (sandbox outage).",
            json!([fcm_detail("UNAVAILABLE")]),
        ),
        SinkFault::RateLimited => rpc_error(
            StatusCode::TOO_MANY_REQUESTS,
            "RESOURCE_EXHAUSTED",
            "Quota exceeded for quota metric 'Send requests'.",
            json!([fcm_detail("QUOTA_EXCEEDED")]),
        ),
        SinkFault::ServerError => rpc_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "Internal error encountered.",
            json!([fcm_detail("INTERNAL")]),
        ),
    }
}

#[derive(Debug, Deserialize)]
struct PeekClaims {
    #[serde(default)]
    iss: String,
}

#[derive(Debug, Deserialize)]
struct VerifiedClaims {
    #[serde(default)]
    scope: String,
    iat: u64,
    exp: u64,
}

/// The token endpoint's URL as the caller reached it (the assertion's `aud`).
fn token_audience(headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    format!("http://{host}{FCM_TOKEN_PATH}")
}

/// Verifies a service-account assertion; the error is the OAuth error answer.
fn verify_assertion(config: &SandboxConfig, assertion: &str, audience: &str) -> Result<(), Response> {
    // The issuer is read before the signature is checked, as Google does, so
    // an unknown account is told apart from a bad signature.
    let issuer = assertion
        .split('.')
        .nth(1)
        .and_then(|payload| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok())
        .and_then(|raw| serde_json::from_slice::<PeekClaims>(&raw).ok())
        .map(|claims| claims.iss);
    let Some(issuer) = issuer else {
        return Err(oauth_error("invalid_grant", "Invalid JWT: the assertion is not a JWT."));
    };
    if issuer != fcm_client_email(config) {
        return Err(oauth_error("invalid_grant", "Invalid grant: account not found"));
    }
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(FCM_SANDBOX_PUBLIC_KEY.as_bytes())
        .map_err(|e| oauth_error("server_error", &format!("the sandbox's key does not load: {e}")))?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[issuer.as_str()]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    validation.leeway = 60;
    let claims = match jsonwebtoken::decode::<VerifiedClaims>(assertion, &key, &validation) {
        Ok(data) => data.claims,
        Err(error) => {
            use jsonwebtoken::errors::ErrorKind;
            let description = match error.kind() {
                ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => "Invalid JWT Signature.".to_owned(),
                ErrorKind::ExpiredSignature => "Invalid JWT: Token must be a short-lived token (60 minutes) and in a \
                                                reasonable timeframe. Check your iat and exp values in the JWT claim."
                    .to_owned(),
                ErrorKind::InvalidAudience => format!("Invalid JWT audience: expected {audience}"),
                other => format!("Invalid JWT: {other:?}"),
            };
            return Err(oauth_error("invalid_grant", &description));
        }
    };
    if claims.exp.saturating_sub(claims.iat) > 3600 {
        return Err(oauth_error(
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.",
        ));
    }
    if !claims.scope.split_whitespace().any(|s| FCM_SCOPES.contains(&s)) {
        return Err(oauth_error("invalid_scope", "The assertion does not ask for the firebase.messaging scope."));
    }
    Ok(())
}

async fn fcm_token(State(sandbox): State<Sandbox>, headers: HeaderMap, body: Bytes) -> Response {
    let sinks = sandbox.sinks();
    if let Some(fault) = sinks.fcm.enter("token", false).await {
        return fcm_fault(fault);
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    match form.get("grant_type").map(String::as_str) {
        Some(JWT_BEARER_GRANT) => {}
        Some(other) => return oauth_error("unsupported_grant_type", &format!("Invalid grant_type: {other}")),
        None => return oauth_error("invalid_request", "Missing required parameter: grant_type"),
    }
    let Some(assertion) = form.get("assertion") else {
        return oauth_error("invalid_request", "Missing required parameter: assertion");
    };
    if let Err(refused) = verify_assertion(sandbox.config(), assertion, &token_audience(&headers)) {
        return refused;
    }
    let lifetime = lock(&sinks.fcm.settings).token_expires_in.unwrap_or(3599);
    let token = format!("ya29.sandbox-{}", uuid::Uuid::new_v4().simple());
    lock(&sinks.tokens).insert(token.clone(), Instant::now() + Duration::from_secs(lifetime));
    json_response(
        StatusCode::OK,
        "application/json",
        &json!({ "access_token": token, "expires_in": lifetime, "token_type": "Bearer" }),
    )
}

/// Checks the bearer token; the error is the 401 answer.
fn fcm_authorize(sandbox: &Sandbox, headers: &HeaderMap) -> Result<(), Response> {
    const MISSING: &str = "Request is missing required authentication credential. Expected OAuth 2 access token, \
                           login cookie or other valid authentication credential.";
    const INVALID: &str = "Request had invalid authentication credentials. Expected OAuth 2 access token, login \
                           cookie or other valid authentication credential.";
    let Some(token) =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
    else {
        return Err(rpc_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", MISSING, json!([])));
    };
    let expiry = lock(&sandbox.sinks().tokens).get(token.trim()).copied();
    match expiry {
        None => Err(rpc_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", INVALID, json!([]))),
        Some(at) if Instant::now() >= at => Err(rpc_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            INVALID,
            json!([{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "ACCESS_TOKEN_EXPIRED",
                "domain": "googleapis.com",
                "metadata": { "service": "fcm.googleapis.com",
                              "method": "google.firebase.fcm.v1.FcmService.SendMessage" }
            }]),
        )),
        Some(_) => Ok(()),
    }
}

fn well_formed_token(token: &str) -> bool {
    token.len() >= 20 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b"_:.-".contains(&b))
}

fn reserved_data_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    matches!(lower.as_str(), "from" | "notification" | "message_type" | "collapse_key")
        || lower.starts_with("google")
        || lower.starts_with("gcm")
}

/// Validates a `messages:send` body; the error is the 400 (or magic) answer.
fn check_message(message: &Value) -> Result<(), Response> {
    let Some(object) = message.as_object() else {
        return Err(invalid_argument("Request contains an invalid argument.", "message", "message is required"));
    };
    let targets = ["token", "topic", "condition"].iter().filter(|t| object.contains_key(**t)).count();
    if targets != 1 {
        return Err(invalid_argument(
            "Request contains an invalid argument.",
            "message",
            "exactly one of token, topic or condition must be set",
        ));
    }
    if let Some(token) = object.get("token") {
        let token = token.as_str().unwrap_or("");
        if !well_formed_token(token) {
            return Err(invalid_argument(
                "The registration token is not a valid FCM registration token",
                "message.token",
                "Invalid registration token",
            ));
        }
        if token.starts_with("unregistered") {
            return Err(rpc_error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "Requested entity was not found.",
                json!([fcm_detail("UNREGISTERED")]),
            ));
        }
        if token.starts_with("sender-mismatch") {
            return Err(rpc_error(
                StatusCode::FORBIDDEN,
                "PERMISSION_DENIED",
                "SenderId mismatch",
                json!([fcm_detail("SENDER_ID_MISMATCH")]),
            ));
        }
        if token.starts_with("quota-exceeded") {
            return Err(rpc_error(
                StatusCode::TOO_MANY_REQUESTS,
                "RESOURCE_EXHAUSTED",
                "Quota exceeded for this device.",
                json!([fcm_detail("QUOTA_EXCEEDED")]),
            ));
        }
    }
    let mut payload = 0usize;
    if let Some(notification) = object.get("notification") {
        payload += serde_json::to_vec(notification).map_or(usize::MAX, |v| v.len());
    }
    if let Some(data) = object.get("data") {
        let Some(entries) = data.as_object() else {
            return Err(invalid_argument("Invalid value at 'message.data'", "message.data", "a map of strings"));
        };
        for (index, (key, value)) in entries.iter().enumerate() {
            if !value.is_string() {
                return Err(invalid_argument(
                    &format!("Invalid value at 'message.data[{index}].value' (TYPE_STRING)"),
                    &format!("message.data[{index}].value"),
                    "data values are strings",
                ));
            }
            if reserved_data_key(key) {
                return Err(invalid_argument(
                    &format!("Invalid data payload key: {key}"),
                    "message.data",
                    "reserved key",
                ));
            }
        }
        payload = payload.saturating_add(serde_json::to_vec(data).map_or(usize::MAX, |v| v.len()));
    }
    if payload > MAX_PAYLOAD_BYTES {
        return Err(invalid_argument(
            &format!("Message is too big: {payload} bytes of notification and data, the limit is {MAX_PAYLOAD_BYTES}"),
            "message",
            "payload over 4096 bytes",
        ));
    }
    Ok(())
}

async fn fcm_send(
    State(sandbox): State<Sandbox>,
    Path(project): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let sinks = sandbox.sinks();
    if let Some(fault) = sinks.fcm.enter("send", true).await {
        return fcm_fault(fault);
    }
    if let Err(denied) = fcm_authorize(&sandbox, &headers) {
        return denied;
    }
    if project != sandbox.config().fcm_project_id {
        return rpc_error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            &format!(
                "Permission 'cloudmessaging.messages.create' denied on resource \
                 '//cloudresourcemanager.googleapis.com/projects/{project}' (or it may not exist)."
            ),
            json!([]),
        );
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return rpc_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", "Invalid JSON payload received.", json!([]));
    };
    let message = request.get("message").cloned().unwrap_or(Value::Null);
    if let Err(refused) = check_message(&message) {
        return refused;
    }
    if request.get("validate_only").and_then(Value::as_bool) == Some(true) {
        let name = format!("projects/{project}/messages/fake_message_id");
        return json_response(StatusCode::OK, "application/json", &json!({ "name": name }));
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    let name = format!("projects/{project}/messages/0:{}%{}", Utc::now().timestamp_millis(), &id[..16]);
    lock(&sinks.push).push(json!({
        "name": name,
        "receivedAt": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "message": message,
    }));
    json_response(StatusCode::OK, "application/json", &json!({ "name": name }))
}

/// Unknown paths under the sinks' prefixes, in their formats.
pub(super) fn not_found(path: &str) -> Option<Response> {
    if path.starts_with("/2010-04-01") {
        Some(twilio_error(StatusCode::NOT_FOUND, 20404, &format!("The requested resource {path} was not found")))
    } else if path.starts_with("/v1/projects") {
        Some(rpc_error(StatusCode::NOT_FOUND, "NOT_FOUND", "Requested entity was not found.", json!([])))
    } else if path.starts_with("/oauth2") {
        Some(oauth_error("invalid_request", "Unknown endpoint"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(claims: &Value) -> String {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(FCM_SANDBOX_PRIVATE_KEY.as_bytes()).expect("key");
        jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256), claims, &key).expect("signs")
    }

    fn claims(config: &SandboxConfig, audience: &str) -> Value {
        let now = Utc::now().timestamp();
        json!({"iss": fcm_client_email(config), "scope": FCM_SCOPES[0], "aud": audience, "iat": now, "exp": now + 3600})
    }

    #[test]
    fn assertions_signed_by_the_test_key_are_accepted_and_tampered_ones_are_not() {
        let config = SandboxConfig::default();
        let audience = "http://127.0.0.1:1/oauth2/token";
        let good = sign(&claims(&config, audience));
        assert!(verify_assertion(&config, &good, audience).is_ok());
        assert!(verify_assertion(&config, &good, "http://elsewhere/oauth2/token").is_err(), "audience");
        // Flip one signature character: the signature no longer verifies.
        let mut tampered = good.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).expect("ascii");
        assert!(verify_assertion(&config, &tampered, audience).is_err());
        let mut stranger = claims(&config, audience);
        stranger["iss"] = json!("someone@else.iam.gserviceaccount.com");
        assert!(verify_assertion(&config, &sign(&stranger), audience).is_err());
        let mut long = claims(&config, audience);
        long["exp"] = json!(long["iat"].as_i64().expect("iat") + 7200);
        assert!(verify_assertion(&config, &sign(&long), audience).is_err(), "over an hour");
        let mut scope = claims(&config, audience);
        scope["scope"] = json!("https://www.googleapis.com/auth/drive");
        assert!(verify_assertion(&config, &sign(&scope), audience).is_err(), "wrong scope");
    }

    #[test]
    fn messages_need_one_target_a_sane_token_and_string_data() {
        let token = "fcm-token-0123456789abcdef";
        assert!(check_message(&json!({"token": token, "notification": {"title": "t", "body": "b"}})).is_ok());
        assert!(check_message(&json!({"token": token, "topic": "news"})).is_err(), "two targets");
        assert!(check_message(&json!({"notification": {}})).is_err(), "no target");
        assert!(check_message(&json!({"token": "short"})).is_err(), "malformed token");
        assert!(check_message(&json!({"token": token, "data": {"n": 1}})).is_err(), "number value");
        assert!(check_message(&json!({"token": token, "data": {"from": "x"}})).is_err(), "reserved key");
        let big = "x".repeat(MAX_PAYLOAD_BYTES);
        assert!(check_message(&json!({"token": token, "notification": {"body": big}})).is_err(), "too big");
        let unregistered = check_message(&json!({"token": "unregistered-device-0001"})).expect_err("magic");
        assert_eq!(unregistered.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn segments_follow_the_encoding() {
        assert_eq!(segments("hello"), 1);
        assert_eq!(segments(&"a".repeat(160)), 1);
        assert_eq!(segments(&"a".repeat(161)), 2);
        assert_eq!(segments(&"ã".repeat(70)), 1);
        assert_eq!(segments(&"ã".repeat(71)), 2);
    }
}
