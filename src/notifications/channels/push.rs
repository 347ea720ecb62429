//! Push through the Firebase Cloud Messaging HTTP v1 API
//! (`reference/providers.md` §5.3, §6): `POST
//! {base}/v1/projects/{project}/messages:send` with an OAuth2 bearer token,
//! answered 200 `{name}`.
//!
//! **The token.** A Google service-account key (`client_email`,
//! `private_key`, `token_uri`) signs an RS256 JWT assertion for the
//! `firebase.messaging` scope, exchanged at `token_uri`
//! (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`) for an access
//! token of about an hour. [`ServiceAccountTokens`] caches it and refreshes
//! it single-flight before it expires — a minute early, or a quarter of its
//! lifetime when it is short — the same scheme as the Amadeus adapter: all
//! concurrent senders wait for one exchange. A 401 `UNAUTHENTICATED` (an
//! `ACCESS_TOKEN_EXPIRED` token the cache still trusted, a revoked one)
//! drops the token and the send is tried once more with a fresh one; that is
//! not a retry of the delivery, which FCM refused before doing anything.
//!
//! **Errors** use the Google RPC shape; the `FcmError` `errorCode` decides
//! first, then the HTTP status. `UNREGISTERED` (404) and `SENDER_ID_MISMATCH`
//! (403) mean the registration token is dead for us, as does an
//! `INVALID_ARGUMENT` naming `message.token`: [`ChannelError::InvalidDestination`],
//! so the worker forgets the token. `QUOTA_EXCEEDED` (429), `UNAVAILABLE`
//! (503), `INTERNAL` (500), any other 429 or 5xx, timeouts and connection
//! failures are [`ChannelError::Transient`]. The rest — other
//! `INVALID_ARGUMENT`s, `THIRD_PARTY_AUTH_ERROR`, a token exchange the
//! token endpoint refuses (bad key, unknown account) — are
//! [`ChannelError::Permanent`].
//!
//! **The payload.** FCM refuses messages over 4096 bytes. The notification
//! and data are measured as sent (their JSON); an oversized message has its
//! body — then, if need be, its title — cut at a character boundary with an
//! ellipsis; data too large on its own is refused without a request. The
//! idempotency key is the Android `collapse_key` and the APNs
//! `apns-collapse-id` (its digest when longer than APNs' 64 bytes), so a
//! retried delivery replaces, not repeats, the first on the device.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::sync::{Mutex, RwLock};

use super::{ChannelError, ChannelKind, NotificationChannel, OutboundMessage, SentMessage, body_excerpt, http_failure};

/// The OAuth2 scope FCM sends need.
pub const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// The grant type of a signed-assertion exchange (RFC 7523).
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// FCM's limit on a message's notification and data, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 4096;
/// The longest `apns-collapse-id`, in bytes.
const MAX_COLLAPSE_ID_BYTES: usize = 64;
/// Lifetime asked for in assertions (Google's maximum).
const ASSERTION_LIFETIME_SECS: u64 = 3600;

/// The parts of a Google service-account key file the channel uses.
#[derive(Clone, Deserialize)]
pub struct ServiceAccount {
    /// The account, the assertion's issuer.
    pub client_email: String,
    /// Its RSA private key, PEM (PKCS#8).
    pub private_key: SecretString,
    /// The key's id, sent as the assertion's `kid`.
    #[serde(default)]
    pub private_key_id: Option<String>,
    /// Where assertions are exchanged for access tokens.
    #[serde(default = "default_token_uri")]
    pub token_uri: String,
    /// The account's project (FCM's project is configured separately).
    #[serde(default)]
    pub project_id: Option<String>,
}

fn default_token_uri() -> String {
    "https://oauth2.googleapis.com/token".to_owned()
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

impl ServiceAccount {
    /// Reads a key file's JSON; the error says what is wrong with it.
    pub fn from_json(json: &str) -> Result<Self, String> {
        let account: Self = serde_json::from_str(json).map_err(|e| format!("not a service-account key file: {e}"))?;
        if !url::Url::parse(&account.token_uri).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
            return Err(format!("its token_uri {:?} is not an http(s) URL", account.token_uri));
        }
        Ok(account)
    }
}

/// The claims of an assertion (RFC 7523 §3, as Google reads them).
#[derive(Debug, Serialize, Deserialize)]
pub struct AssertionClaims {
    /// The service account.
    pub iss: String,
    /// Space-separated scopes.
    pub scope: String,
    /// The token endpoint.
    pub aud: String,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// Expires at, seconds since the epoch.
    pub exp: u64,
}

#[derive(Debug, Clone)]
struct AccessToken {
    value: String,
    refresh_at: tokio::time::Instant,
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: String,
    #[serde(default = "default_expires_in")]
    expires_in: u64,
}

fn default_expires_in() -> u64 {
    3599
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// Access tokens for one service account: cached, refreshed single-flight.
pub struct ServiceAccountTokens {
    account: ServiceAccount,
    key: jsonwebtoken::EncodingKey,
    http: reqwest::Client,
    timeout: Duration,
    token: RwLock<Option<AccessToken>>,
    refreshing: Mutex<()>,
}

impl std::fmt::Debug for ServiceAccountTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountTokens").field("account", &self.account).finish_non_exhaustive()
    }
}

impl ServiceAccountTokens {
    /// Tokens for `account`; fails when its private key is not an RSA PEM key.
    pub fn new(account: ServiceAccount, http: reqwest::Client, timeout: Duration) -> Result<Self, String> {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(account.private_key.expose_secret().as_bytes())
            .map_err(|e| format!("its private_key is not an RSA private key in PEM: {e}"))?;
        Ok(Self { account, key, http, timeout, token: RwLock::new(None), refreshing: Mutex::new(()) })
    }

    /// The account.
    pub fn account(&self) -> &ServiceAccount {
        &self.account
    }

    /// A signed assertion for the FCM scope, valid an hour from now.
    pub fn assertion(&self) -> Result<String, ChannelError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| ChannelError::Transient("the system clock is before 1970".into()))?
            .as_secs();
        let claims = AssertionClaims {
            iss: self.account.client_email.clone(),
            scope: FCM_SCOPE.to_owned(),
            aud: self.account.token_uri.clone(),
            iat: now,
            exp: now + ASSERTION_LIFETIME_SECS,
        };
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid.clone_from(&self.account.private_key_id);
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| ChannelError::Permanent(format!("cannot sign the assertion: {e}")))
    }

    /// A valid access token: the cached one, or one fetched by a single
    /// exchange that every concurrent caller waits for.
    pub async fn access_token(&self) -> Result<String, ChannelError> {
        if let Some(token) = self.cached().await {
            return Ok(token);
        }
        let _refresh = self.refreshing.lock().await;
        if let Some(token) = self.cached().await {
            return Ok(token);
        }
        let form = [("grant_type", JWT_BEARER_GRANT.to_owned()), ("assertion", self.assertion()?)];
        let response = self
            .http
            .post(&self.account.token_uri)
            .form(&form)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| ChannelError::Transient(format!("token exchange: {}", http_failure(&e))))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| ChannelError::Transient(format!("token exchange: {}", http_failure(&e))))?;
        if status != 200 {
            let detail = match serde_json::from_slice::<OAuthErrorBody>(&body) {
                Ok(e) => format!("{} {}", e.error, e.error_description.unwrap_or_default()).trim_end().to_owned(),
                Err(_) => body_excerpt(&body),
            };
            let detail = format!("token exchange for {} answered {status}: {detail}", self.account.client_email);
            return Err(if status == 429 || status >= 500 {
                ChannelError::Transient(detail)
            } else {
                ChannelError::Permanent(detail)
            });
        }
        let token: TokenBody = serde_json::from_slice(&body)
            .map_err(|e| ChannelError::Transient(format!("token exchange: unreadable token ({e})")))?;
        let lifetime = Duration::from_secs(token.expires_in);
        let margin = Duration::from_secs(60).min(lifetime / 4);
        let value = token.access_token;
        *self.token.write().await =
            Some(AccessToken { value: value.clone(), refresh_at: tokio::time::Instant::now() + lifetime - margin });
        Ok(value)
    }

    async fn cached(&self) -> Option<String> {
        let token = self.token.read().await;
        token.as_ref().filter(|t| tokio::time::Instant::now() < t.refresh_at).map(|t| t.value.clone())
    }

    /// Drops `used` if it is still the cached token (a concurrent caller may
    /// already have replaced it).
    pub async fn forget(&self, used: &str) {
        let mut token = self.token.write().await;
        if token.as_ref().is_some_and(|t| t.value == used) {
            *token = None;
        }
    }
}

/// The push channel.
#[derive(Debug)]
pub struct PushChannel {
    base_url: String,
    project_id: String,
    tokens: ServiceAccountTokens,
    http: reqwest::Client,
    timeout: Duration,
}

/// The Google RPC error envelope.
#[derive(Debug, Deserialize)]
struct RpcErrorBody {
    error: RpcError,
}

#[derive(Debug, Deserialize)]
struct RpcError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    details: Vec<Value>,
}

impl RpcError {
    /// The FCM `errorCode` of its `FcmError` detail.
    fn fcm_code(&self) -> Option<&str> {
        self.details.iter().find_map(|d| d.get("errorCode").and_then(Value::as_str))
    }

    /// Whether a `BadRequest` detail blames the registration token.
    fn blames_token(&self) -> bool {
        self.details.iter().any(|d| {
            d.get("fieldViolations")
                .and_then(Value::as_array)
                .is_some_and(|v| v.iter().any(|f| f.get("field").and_then(Value::as_str) == Some("message.token")))
        })
    }

    /// The `ErrorInfo` reason (`ACCESS_TOKEN_EXPIRED`), if any.
    fn reason(&self) -> Option<&str> {
        self.details.iter().find_map(|d| d.get("reason").and_then(Value::as_str))
    }
}

/// The error of a non-2xx answer from `messages:send`.
pub fn classify(status: u16, body: &[u8]) -> ChannelError {
    let Ok(RpcErrorBody { error }) = serde_json::from_slice::<RpcErrorBody>(body) else {
        let detail = format!("HTTP {status}: {}", body_excerpt(body));
        return if status == 429 || status >= 500 {
            ChannelError::Transient(detail)
        } else {
            ChannelError::Permanent(detail)
        };
    };
    let code = error.fcm_code().unwrap_or(&error.status);
    let detail = match error.reason() {
        Some(reason) => format!("HTTP {status} {code} ({reason}): {}", error.message),
        None => format!("HTTP {status} {code}: {}", error.message),
    };
    match code {
        "UNREGISTERED" | "SENDER_ID_MISMATCH" => ChannelError::InvalidDestination(detail),
        "INVALID_ARGUMENT" if error.blames_token() => ChannelError::InvalidDestination(detail),
        "QUOTA_EXCEEDED" | "UNAVAILABLE" | "INTERNAL" | "RESOURCE_EXHAUSTED" => ChannelError::Transient(detail),
        _ if status == 429 || status >= 500 => ChannelError::Transient(detail),
        // A 404 without an FcmError detail is the project or the path, not the token.
        _ => ChannelError::Permanent(detail),
    }
}

/// Whether a 401 is about our access token, which a fresh one may cure
/// (not `THIRD_PARTY_AUTH_ERROR`: the APNs or web-push credentials in the console).
fn token_refused(body: &[u8]) -> bool {
    match serde_json::from_slice::<RpcErrorBody>(body) {
        Ok(RpcErrorBody { error }) => error.fcm_code() != Some("THIRD_PARTY_AUTH_ERROR"),
        Err(_) => true,
    }
}

/// The collapse key (Android) and collapse id (APNs) of a message.
pub fn collapse_key(idempotency_key: &str) -> String {
    if !idempotency_key.is_empty() && idempotency_key.len() <= MAX_COLLAPSE_ID_BYTES {
        idempotency_key.to_owned()
    } else {
        hex::encode(&Sha256::digest(idempotency_key.as_bytes())[..16])
    }
}

/// The bytes FCM counts against [`MAX_PAYLOAD_BYTES`]: the notification and
/// the data, as serialized JSON.
pub fn payload_bytes(notification: &Value, data: &BTreeMap<String, String>) -> usize {
    let data_bytes = if data.is_empty() { 0 } else { serde_json::to_vec(data).map_or(usize::MAX, |v| v.len()) };
    serde_json::to_vec(notification).map_or(usize::MAX, |v| v.len()).saturating_add(data_bytes)
}

/// The notification `{title, body}` of a message, cut to fit the payload
/// limit beside `data`: the body first, then the title.
pub fn fit_notification(title: &str, body: &str, data: &BTreeMap<String, String>) -> Result<Value, ChannelError> {
    let fits =
        |title: &str, body: &str| payload_bytes(&json!({"title": title, "body": body}), data) <= MAX_PAYLOAD_BYTES;
    if fits(title, body) {
        return Ok(json!({ "title": title, "body": body }));
    }
    let body = longest_fitting(body, |cut| fits(title, cut));
    if let Some(body) = body {
        return Ok(json!({ "title": title, "body": body }));
    }
    match longest_fitting(title, |cut| fits(cut, "")) {
        Some(title) => Ok(json!({ "title": title, "body": "" })),
        None => Err(ChannelError::Permanent(format!(
            "the push data alone is over FCM's {MAX_PAYLOAD_BYTES}-byte payload limit"
        ))),
    }
}

/// The longest prefix of `text` (whole characters, an ellipsis appended)
/// that `fits`; the empty string if only that fits; `None` if nothing does.
fn longest_fitting(text: &str, fits: impl Fn(&str) -> bool) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let cut = |n: usize| -> String {
        if n == 0 { String::new() } else { chars[..n].iter().chain(std::iter::once(&'…')).collect() }
    };
    if !fits("") {
        return None;
    }
    // Fitting is monotone in the prefix length: binary search for the longest.
    let (mut low, mut high) = (0usize, chars.len().saturating_sub(1));
    while low < high {
        let middle = (low + high).div_ceil(2);
        if fits(&cut(middle)) { low = middle } else { high = middle - 1 }
    }
    Some(cut(low))
}

#[derive(Deserialize)]
struct SendBody {
    name: String,
}

impl PushChannel {
    /// A channel sending to `project_id` at `base_url` (no trailing slash
    /// needed) with tokens from `tokens`; `timeout` bounds one request.
    pub fn new(
        base_url: &str,
        project_id: String,
        tokens: ServiceAccountTokens,
        http: reqwest::Client,
        timeout: Duration,
    ) -> Self {
        Self { base_url: base_url.trim_end_matches('/').to_owned(), project_id, tokens, http, timeout }
    }

    /// The API root it sends to.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Its token cache.
    pub fn tokens(&self) -> &ServiceAccountTokens {
        &self.tokens
    }

    /// The `messages:send` body of one message.
    pub fn request_body(&self, message: &OutboundMessage) -> Result<Value, ChannelError> {
        let notification = fit_notification(&message.subject, &message.text, &message.data)?;
        let collapse = collapse_key(&message.idempotency_key);
        let mut body = json!({
            "message": {
                "token": message.to,
                "notification": notification,
                "android": { "collapse_key": collapse },
                "apns": { "headers": { "apns-collapse-id": collapse } },
            }
        });
        if !message.data.is_empty() {
            body["message"]["data"] = json!(message.data);
        }
        Ok(body)
    }

    /// POSTs to `messages:send`, once more with a fresh token if the first is
    /// refused; the final status and body.
    async fn post(&self, body: &Value) -> Result<(u16, Vec<u8>), ChannelError> {
        let url = format!("{}/v1/projects/{}/messages:send", self.base_url, self.project_id);
        for attempt in 0..2 {
            let token = self.tokens.access_token().await?;
            let response = self
                .http
                .post(&url)
                .bearer_auth(&token)
                .json(body)
                .timeout(self.timeout)
                .send()
                .await
                .map_err(|e| ChannelError::Transient(http_failure(&e)))?;
            let status = response.status().as_u16();
            let bytes = response.bytes().await.map_err(|e| ChannelError::Transient(http_failure(&e)))?.to_vec();
            if status == 401 && token_refused(&bytes) {
                self.tokens.forget(&token).await;
                if attempt == 0 {
                    continue;
                }
                return Err(ChannelError::Permanent(format!(
                    "FCM refused a fresh access token: {}",
                    classify(status, &bytes)
                )));
            }
            return Ok((status, bytes));
        }
        Err(ChannelError::Permanent("FCM refused a fresh access token".into()))
    }
}

#[async_trait]
impl NotificationChannel for PushChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Push
    }

    async fn send(&self, message: &OutboundMessage) -> Result<SentMessage, ChannelError> {
        let body = self.request_body(message)?;
        let (status, bytes) = self.post(&body).await?;
        if status != 200 {
            return Err(classify(status, &bytes));
        }
        let sent: SendBody = serde_json::from_slice(&bytes).map_err(|e| {
            ChannelError::Permanent(format!("HTTP 200 with an unreadable body ({e}): {}", body_excerpt(&bytes)))
        })?;
        Ok(SentMessage { provider_id: Some(sent.name) })
    }

    /// Exchanges an assertion for a token, then asks FCM to validate (not
    /// send: `validate_only`) a message to a topic: proves the key, the
    /// project and the account's permission to send.
    async fn check(&self) -> Result<String, String> {
        let body = json!({
            "validate_only": true,
            "message": { "topic": "wayfarer-doctor", "notification": { "title": "check", "body": "check" } }
        });
        let place = format!("{} project {}", self.base_url, self.project_id);
        let (status, bytes) = self.post(&body).await.map_err(|e| format!("{place}: {e}"))?;
        if status != 200 {
            return Err(format!("{place}: {}", classify(status, &bytes)));
        }
        Ok(format!("{place}: {} got a token and a message validated", self.tokens.account().client_email))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rpc(status: u16, state: &str, details: Value) -> Vec<u8> {
        json!({"error": {"code": status, "message": "m", "status": state, "details": details}}).to_string().into_bytes()
    }

    fn fcm(code: &str) -> Value {
        json!([{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}])
    }

    #[test]
    fn fcm_error_codes_decide_before_statuses() {
        assert!(matches!(
            classify(404, &rpc(404, "NOT_FOUND", fcm("UNREGISTERED"))),
            ChannelError::InvalidDestination(_)
        ));
        assert!(matches!(
            classify(403, &rpc(403, "PERMISSION_DENIED", fcm("SENDER_ID_MISMATCH"))),
            ChannelError::InvalidDestination(_)
        ));
        assert!(matches!(
            classify(429, &rpc(429, "RESOURCE_EXHAUSTED", fcm("QUOTA_EXCEEDED"))),
            ChannelError::Transient(_)
        ));
        assert!(matches!(classify(503, &rpc(503, "UNAVAILABLE", fcm("UNAVAILABLE"))), ChannelError::Transient(_)));
        assert!(matches!(classify(500, &rpc(500, "INTERNAL", fcm("INTERNAL"))), ChannelError::Transient(_)));
        assert!(matches!(
            classify(400, &rpc(400, "INVALID_ARGUMENT", fcm("INVALID_ARGUMENT"))),
            ChannelError::Permanent(_)
        ));
        let token_violation = json!([{"@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": "message.token", "description": "Invalid registration token"}]}]);
        assert!(matches!(
            classify(400, &rpc(400, "INVALID_ARGUMENT", token_violation)),
            ChannelError::InvalidDestination(_)
        ));
        assert!(matches!(classify(502, b"<html>bad gateway</html>"), ChannelError::Transient(_)));
        assert!(matches!(classify(400, b"nope"), ChannelError::Permanent(_)));
    }

    #[test]
    fn only_our_own_token_is_worth_refreshing() {
        let expired = json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "ACCESS_TOKEN_EXPIRED"}]);
        assert!(token_refused(&rpc(401, "UNAUTHENTICATED", expired)));
        assert!(!token_refused(&rpc(401, "UNAUTHENTICATED", fcm("THIRD_PARTY_AUTH_ERROR"))));
    }

    #[test]
    fn oversized_notifications_are_cut_to_fit() {
        let data = BTreeMap::from([("bookingId".to_owned(), "bk_1".to_owned())]);
        let body = "ü".repeat(5000);
        let fitted = fit_notification("Booking confirmed", &body, &data).expect("fits");
        let size = payload_bytes(&fitted, &data);
        assert!(size <= MAX_PAYLOAD_BYTES, "{size}");
        let cut = fitted["body"].as_str().expect("body");
        assert!(cut.ends_with('…') && cut.chars().count() > 1000, "{}", cut.chars().count());
        // One more character would not have fitted.
        let longer: String = body.chars().take(cut.chars().count()).chain(std::iter::once('…')).collect();
        assert!(payload_bytes(&json!({"title": "Booking confirmed", "body": longer}), &data) > MAX_PAYLOAD_BYTES);
        let small = fit_notification("t", "b", &data).expect("fits");
        assert_eq!(small, json!({"title": "t", "body": "b"}));
        let huge = BTreeMap::from([("blob".to_owned(), "x".repeat(5000))]);
        assert!(matches!(fit_notification("t", "b", &huge), Err(ChannelError::Permanent(_))));
    }

    #[test]
    fn collapse_keys_fit_apns() {
        assert_eq!(collapse_key("ntf_1.push"), "ntf_1.push");
        let long = collapse_key(&"k".repeat(100));
        assert_eq!(long.len(), 32);
        assert_eq!(long, collapse_key(&"k".repeat(100)));
    }

    #[test]
    fn service_account_files_are_read_and_never_printed() {
        let json = json!({"type": "service_account", "client_email": "a@p.iam.gserviceaccount.com",
            "private_key": "-----BEGIN PRIVATE KEY-----\nhunter2\n-----END PRIVATE KEY-----\n",
            "token_uri": "https://oauth2.googleapis.com/token"})
        .to_string();
        let account = ServiceAccount::from_json(&json).expect("reads");
        assert!(!format!("{account:?}").contains("hunter2"));
        assert!(ServiceAccount::from_json("{}").is_err());
        let bad_uri = json.replace("https://oauth2.googleapis.com/token", "file:///etc/passwd");
        assert!(ServiceAccount::from_json(&bad_uri).is_err());
        let tokens = ServiceAccountTokens::new(account, reqwest::Client::new(), Duration::from_secs(1));
        assert!(tokens.is_err(), "a key that is not RSA PEM is refused up front");
    }
}
