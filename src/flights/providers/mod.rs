//! Flight providers: the [`FlightProvider`] trait, and the HTTP machinery
//! every adapter shares — a pooled `reqwest::Client` built from the HTTP
//! settings, connection caps, a client-side token bucket, and retries with
//! jittered exponential backoff on 429/5xx and connection failures, all
//! inside one deadline. Requests that create something (orders) go through
//! [`ProviderHttp::send_once`] and are never retried blindly.

pub mod amadeus;
pub mod duffel;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rand::Rng as _;
use tokio::sync::{Mutex, Semaphore};

use super::model::{
    FlightSearch, Money, Offer, OrderContact, OrderTraveler, PricedOffer, ProviderOrder, ProviderOrderStatus,
};
use crate::config::{Http2, HttpClientSettings};

/// Why a provider call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// No answer within the deadline.
    #[error("timed out")]
    Timeout,
    /// Kept answering 429 until the deadline.
    #[error("rate limited")]
    RateLimited,
    /// Unreachable, 5xx, or a body we cannot read.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the request itself (4xx other than 429).
    #[error("rejected: {0}")]
    Rejected(String),
    /// Credentials were refused.
    #[error("authentication failed: {0}")]
    Unauthorized(String),
    /// The provider no longer has the offer (expired, or unknown to it):
    /// search again.
    #[error("the offer is no longer available")]
    OfferExpired,
    /// The offer now costs `current`: price it again and ask the traveller.
    #[error("the price changed to {} {}", current.amount, current.currency)]
    PriceChanged {
        /// What the provider asks now.
        current: Money,
    },
    /// No seats left at this fare.
    #[error("sold out")]
    SoldOut,
    /// No such order at the provider.
    #[error("order not found")]
    NotFound,
    /// The order was cancelled or its hold lapsed: it can no longer be
    /// confirmed. Search, price and hold again.
    #[error("the order was cancelled or its hold lapsed")]
    OrderGone,
}

/// A source of flight offers.
#[async_trait]
pub trait FlightProvider: Send + Sync + std::fmt::Debug {
    /// Short stable name (`amadeus`, `duffel`), used in offer ids and reports.
    fn name(&self) -> &str;
    /// Offers for a search.
    async fn search(&self, search: &FlightSearch) -> Result<Vec<Offer>, ProviderError>;

    // The order methods default to "not supported" only so that search-only
    // test doubles need not spell them out; both real adapters implement them.

    /// Confirms the offer's current price with the provider (safe to repeat).
    /// Always price before booking: fares drift after search.
    async fn price(&self, offer: &Offer) -> Result<PricedOffer, ProviderError> {
        let _ = offer;
        Err(ProviderError::Rejected("not supported".into()))
    }

    /// Holds a priced offer for these travellers: seats reserved, nothing
    /// paid, until [`ProviderOrder::expires_at`]. `client_reference` (our
    /// booking id) travels with the order and comes back in
    /// [`ProviderOrder::client_reference`], so an order found at the
    /// provider can be tied to its booking. Sent once, never retried: on
    /// [`ProviderError::Timeout`] the order may or may not exist, and the
    /// caller must reconcile.
    async fn create_order(
        &self,
        offer: &Offer,
        travelers: &[OrderTraveler],
        contact: &OrderContact,
        client_reference: &str,
    ) -> Result<ProviderOrder, ProviderError> {
        let _ = (offer, travelers, contact, client_reference);
        Err(ProviderError::Rejected("not supported".into()))
    }

    /// Confirms (pays for, tickets) a held order for `amount`, the price it
    /// was held at. Safe to repeat: an order already confirmed comes back
    /// confirmed, untouched, so a retry after a crash is harmless. A
    /// cancelled or lapsed order is [`ProviderError::OrderGone`]. The
    /// confirming request itself is sent once: on
    /// [`ProviderError::Timeout`] the caller reconciles with
    /// [`FlightProvider::get_order`] before trying again.
    async fn confirm_order(&self, id: &str, amount: &Money) -> Result<ProviderOrder, ProviderError> {
        let _ = (id, amount);
        Err(ProviderError::Rejected("not supported".into()))
    }

    /// An order by the provider's id ([`ProviderOrder::id`], verbatim).
    async fn get_order(&self, id: &str) -> Result<ProviderOrder, ProviderError> {
        let _ = id;
        Err(ProviderError::Rejected("not supported".into()))
    }

    /// Cancels an order, held or confirmed (a confirmed one is the booking
    /// layer's to refund); cancelling one already cancelled or lapsed is `Ok`.
    async fn cancel_order(&self, id: &str) -> Result<(), ProviderError> {
        let _ = id;
        Err(ProviderError::Rejected("not supported".into()))
    }
    /// Connection and request counts of its HTTP client, when it has one.
    fn http_stats(&self) -> Option<HttpStats> {
        None
    }
}

/// A provider client's HTTP counters, for `/api/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpStats {
    /// Requests in flight to this provider now.
    pub in_flight: usize,
    /// Most in flight at once (`http_client.max_connections_per_host`).
    pub max_in_flight: usize,
    /// Requests sent since start, retries included.
    pub requests: u64,
    /// Of those, retries.
    pub retries: u64,
}

/// A token bucket: `rate` requests per second, bursts of up to `burst`.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    // tokio's clock, so tests can run the bucket on paused time.
    state: Mutex<(f64, tokio::time::Instant)>,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: f64, burst: f64) -> Self {
        let rate = rate.max(0.001);
        let burst = burst.max(1.0);
        Self { rate, burst, state: Mutex::new((burst, tokio::time::Instant::now())) }
    }

    /// Waits for one token.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut state = self.state.lock().await;
                let (tokens, last) = *state;
                let now = tokio::time::Instant::now();
                let refilled = (tokens + now.duration_since(last).as_secs_f64() * self.rate).min(self.burst);
                if refilled >= 1.0 {
                    *state = (refilled - 1.0, now);
                    return;
                }
                *state = (refilled, now);
                Duration::from_secs_f64((1.0 - refilled) / self.rate)
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// Retry policy for idempotent calls.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// First backoff; doubles each time, with ±50 % jitter.
    pub base: Duration,
    /// Longest backoff.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { attempts: 3, base: Duration::from_millis(100), max: Duration::from_secs(2) }
    }
}

/// Shared HTTP plumbing of one provider.
#[derive(Debug, Clone)]
pub struct ProviderHttp {
    client: reqwest::Client,
    limiter: Arc<TokenBucket>,
    per_host: Arc<Semaphore>,
    global: Arc<Semaphore>,
    retry: RetryPolicy,
    deadline: Duration,
    max_per_host: usize,
    requests: Arc<std::sync::atomic::AtomicU64>,
    retries: Arc<std::sync::atomic::AtomicU64>,
}

/// A response whose status and body were read.
#[derive(Debug)]
pub struct HttpReply {
    /// Status code.
    pub status: u16,
    /// Body bytes, as the HTTP client received them (not copied).
    pub body: bytes::Bytes,
}

impl ProviderHttp {
    /// Plumbing from the HTTP settings. `global` caps connections across all
    /// providers (`http_client.max_connections`); `pooling` off closes each
    /// connection after use (the old service's baseline).
    pub fn new(
        settings: &HttpClientSettings,
        pooling: bool,
        rate_per_second: f64,
        global: Arc<Semaphore>,
    ) -> Result<Self, ProviderError> {
        let builder = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
            .pool_idle_timeout(settings.keepalive_timeout)
            .pool_max_idle_per_host(if pooling { settings.max_idle_per_host } else { 0 })
            .user_agent(concat!("wayfarer/", env!("CARGO_PKG_VERSION")));
        let builder = match settings.http2 {
            // Pooling off is the old service's baseline: a connection per call.
            _ if !pooling => builder.http1_only(),
            Http2::Off => builder.http1_only(),
            Http2::Negotiate => builder,
            Http2::PriorKnowledge => builder.http2_prior_knowledge(),
        };
        let client =
            builder.build().map_err(|e| ProviderError::Unavailable(format!("cannot build HTTP client: {e}")))?;
        Ok(Self {
            client,
            limiter: Arc::new(TokenBucket::new(rate_per_second, rate_per_second.max(1.0))),
            per_host: Arc::new(Semaphore::new(settings.max_connections_per_host)),
            global,
            retry: RetryPolicy::default(),
            deadline: settings.timeout,
            max_per_host: settings.max_connections_per_host,
            requests: Arc::default(),
            retries: Arc::default(),
        })
    }

    /// Its counters.
    pub fn stats(&self) -> HttpStats {
        use std::sync::atomic::Ordering::Relaxed;
        HttpStats {
            in_flight: self.max_per_host.saturating_sub(self.per_host.available_permits()),
            max_in_flight: self.max_per_host,
            requests: self.requests.load(Relaxed),
            retries: self.retries.load(Relaxed),
        }
    }

    /// The client, for building requests.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends a request that may safely be repeated, retrying 429, 5xx and
    /// connection failures with backoff until the attempts or the deadline run out.
    pub async fn send_idempotent(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<HttpReply, ProviderError> {
        let reply = self.send_retrying(build, |status| status == 429 || status >= 500).await?;
        match server_trouble(reply.status) {
            Some(error) => Err(error),
            None => Ok(reply),
        }
    }

    /// Sends a request that may safely be repeated, retrying connection
    /// failures and the answers `retry_on` picks, with backoff, until the
    /// attempts or the deadline run out; the last answer is returned as it
    /// is, retryable or not, so the caller reads its body. A timeout is not
    /// retried: the deadline covers all attempts.
    pub async fn send_retrying(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
        retry_on: impl Fn(u16) -> bool,
    ) -> Result<HttpReply, ProviderError> {
        let deadline = Instant::now() + self.deadline;
        let mut backoff = self.retry.base;
        let mut last = Err(ProviderError::Timeout);
        for attempt in 1..=self.retry.attempts {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break;
            }
            match tokio::time::timeout(remaining, self.send(build())).await {
                Err(_) | Ok(Err(ProviderError::Timeout)) => return Err(ProviderError::Timeout),
                Ok(Ok(reply)) if retry_on(reply.status) => last = Ok(reply),
                Ok(Ok(reply)) => return Ok(reply),
                Ok(Err(error)) => last = Err(error),
            }
            if attempt == self.retry.attempts {
                break;
            }
            let pause = backoff.mul_f64(rand::rng().random_range(0.5..1.5));
            if Instant::now() + pause >= deadline {
                break;
            }
            tokio::time::sleep(pause).await;
            self.retries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            backoff = (backoff * 2).min(self.retry.max);
        }
        last
    }

    /// Sends a request exactly once (order creation: a retry could book twice).
    pub async fn send_once(&self, request: reqwest::RequestBuilder) -> Result<HttpReply, ProviderError> {
        match tokio::time::timeout(self.deadline, self.send(request)).await {
            Ok(result) => result,
            Err(_) => Err(ProviderError::Timeout),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<HttpReply, ProviderError> {
        self.limiter.acquire().await;
        let _global = self.global.acquire().await.map_err(|_| ProviderError::Unavailable("shutting down".into()))?;
        let _host = self.per_host.acquire().await.map_err(|_| ProviderError::Unavailable("shutting down".into()))?;
        self.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let response = request.send().await.map_err(classify)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(classify)?;
        Ok(HttpReply { status, body })
    }
}

fn classify(error: reqwest::Error) -> ProviderError {
    if error.is_timeout() {
        ProviderError::Timeout
    } else {
        ProviderError::Unavailable(error.without_url().to_string())
    }
}

/// The error of a 429 or 5xx answer that reached the caller unretried (from
/// [`ProviderHttp::send_once`]): the provider's trouble, not a refusal. After
/// an order creation the outcome is unknown, so the caller must reconcile.
pub(crate) fn server_trouble(status: u16) -> Option<ProviderError> {
    match status {
        429 => Some(ProviderError::RateLimited),
        500.. => Some(ProviderError::Unavailable(format!("HTTP {status}"))),
        _ => None,
    }
}

/// A held order whose deadline has passed is lapsed, whether or not the
/// provider has got round to releasing it: it can no longer be confirmed.
pub(crate) fn lapse_if_due(mut order: ProviderOrder, now: chrono::DateTime<chrono::Utc>) -> ProviderOrder {
    if order.status == ProviderOrderStatus::Held && order.expires_at.is_some_and(|at| at <= now) {
        order.status = ProviderOrderStatus::Lapsed;
    }
    order
}

/// Two-digit E.164 country calling codes. `1` and `7` are the only one-digit
/// codes and every other code has three digits; calling codes are prefix-free,
/// so this list is all it takes to split a number.
const TWO_DIGIT_CALLING_CODES: &[&str] = &[
    "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47", "48", "49", "51",
    "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65", "66", "81", "82", "84", "86", "90",
    "91", "92", "93", "94", "95", "98",
];

/// Splits an E.164 number (`+351912345678`) into its country calling code
/// and national number (`("351", "912345678")`); `None` when it is not E.164.
pub(crate) fn split_e164(phone: &str) -> Option<(&str, &str)> {
    let digits = phone.strip_prefix('+')?;
    if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return None;
    }
    let code_len = if digits.starts_with('1') || digits.starts_with('7') {
        1
    } else if TWO_DIGIT_CALLING_CODES.contains(&&digits[..2]) {
        2
    } else {
        3
    };
    Some(digits.split_at(code_len))
}

/// A stable, opaque offer id: the provider's name and a digest of its offer's
/// JSON text as the provider sent it (the same answer gives the same ids).
pub fn offer_id(provider: &str, provider_offer: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(provider_offer.as_bytes());
    // 24 hex digits: the first 12 bytes, encoded alone (not all 32 and cut).
    format!("{provider}_{}", hex::encode(&digest[..12]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_token_bucket_spaces_requests_after_the_burst() {
        let bucket = TokenBucket::new(10.0, 2.0);
        let started = tokio::time::Instant::now();
        for _ in 0..4 {
            bucket.acquire().await;
        }
        // Two from the burst, two more at 100 ms each (virtual time).
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(190), "{waited:?}");
    }

    #[test]
    fn e164_numbers_split_at_their_calling_code() {
        assert_eq!(split_e164("+351912345678"), Some(("351", "912345678")));
        assert_eq!(split_e164("+34600000000"), Some(("34", "600000000")));
        assert_eq!(split_e164("+14155550100"), Some(("1", "4155550100")));
        assert_eq!(split_e164("+442071838750"), Some(("44", "2071838750")));
        assert_eq!(split_e164("912345678"), None, "no plus");
        assert_eq!(split_e164("+351 912 345 678"), None, "spaces");
        assert_eq!(split_e164("+123"), None, "too short");
    }

    #[test]
    fn offer_ids_are_stable_and_distinct() {
        let a = r#"{"id":"1","price":"10.00"}"#;
        let b = r#"{"id":"1","price":"10.01"}"#;
        assert_eq!(offer_id("amadeus", a), offer_id("amadeus", a));
        assert_ne!(offer_id("amadeus", a), offer_id("amadeus", b));
        assert_ne!(offer_id("amadeus", a), offer_id("duffel", a));
        // Ids are kept in caches and stores: they must not change with the
        // code that writes them (the first 24 hex digits of the SHA-256).
        assert_eq!(offer_id("amadeus", a), "amadeus_a4f2e55754a367616dc70e66");
    }
}
