//! Where search answers and offers are kept between requests: in this
//! process for the default run, in Redis when it is configured, so every
//! instance shares them — a search answered on one instance is a cache hit
//! on the other, and an offer found on one can be fetched, priced and booked
//! on any.
//!
//! Both are caches, not records: a Redis failure is logged and the caller
//! carries on as on a miss. Entries expire by TTL (answers) or with the
//! provider's own expiry (offers).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::aggregator::{Outcomes, ProviderOutcome, ProviderStatus};
use super::model::{FlightSearch, Offer};
use crate::redis_pool::RedisPool;

/// Most entries the in-memory caches hold before sweeping expired ones.
const SWEEP_AT: usize = 10_000;

/// How long an offer is kept after it expires, so pricing or booking it
/// answers `OFFER_EXPIRED` rather than `NOT_FOUND`: the traveller saw it.
pub const EXPIRED_OFFER_GRACE: chrono::Duration = chrono::Duration::hours(1);

/// Search answers by search.
#[async_trait]
pub trait SearchCache: Send + Sync + std::fmt::Debug {
    /// A live answer.
    async fn get(&self, search: &FlightSearch) -> Option<Outcomes>;
    /// Keeps an answer for `ttl`.
    async fn put(&self, search: &FlightSearch, outcomes: &Outcomes, ttl: Duration);
}

/// Offers by id, until [`EXPIRED_OFFER_GRACE`] after they expire.
#[async_trait]
pub trait OfferStore: Send + Sync + std::fmt::Debug {
    /// Keeps offers (same id replaces).
    async fn keep(&self, offers: &[Offer]);
    /// Offers among `ids` still kept (missing ones left out; recently expired
    /// ones included, for the caller to check `expires_at`), in one round trip.
    async fn get_many(&self, ids: &[String]) -> HashMap<String, Offer>;
}

/// Answers in this process.
#[derive(Debug, Default)]
pub struct MemorySearchCache {
    entries: Mutex<HashMap<FlightSearch, (Instant, Duration, Outcomes)>>,
}

#[async_trait]
impl SearchCache for MemorySearchCache {
    async fn get(&self, search: &FlightSearch) -> Option<Outcomes> {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match entries.get(search) {
            Some((at, ttl, outcomes)) if at.elapsed() < *ttl => Some(outcomes.clone()),
            Some(_) => {
                entries.remove(search);
                None
            }
            None => None,
        }
    }

    async fn put(&self, search: &FlightSearch, outcomes: &Outcomes, ttl: Duration) {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= SWEEP_AT {
            entries.retain(|_, (at, ttl, _)| at.elapsed() < *ttl);
        }
        entries.insert(search.clone(), (Instant::now(), ttl, outcomes.clone()));
    }
}

/// Offers in this process.
#[derive(Debug, Default)]
pub struct MemoryOfferStore {
    offers: Mutex<HashMap<String, Offer>>,
}

#[async_trait]
impl OfferStore for MemoryOfferStore {
    async fn keep(&self, offers: &[Offer]) {
        let now = chrono::Utc::now();
        let mut kept = self.offers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept.len() >= SWEEP_AT * 5 {
            kept.retain(|_, o| o.expires_at + EXPIRED_OFFER_GRACE > now);
        }
        for offer in offers {
            kept.insert(offer.id.clone(), offer.clone());
        }
    }

    async fn get_many(&self, ids: &[String]) -> HashMap<String, Offer> {
        let now = chrono::Utc::now();
        let kept = self.offers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        ids.iter()
            .filter_map(|id| {
                kept.get(id).filter(|o| o.expires_at + EXPIRED_OFFER_GRACE > now).map(|o| (id.clone(), o.clone()))
            })
            .collect()
    }
}

/// How a provider's answer travels through Redis and the event bus.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredOutcome {
    /// Provider name.
    pub provider: String,
    /// How it went.
    pub status: ProviderStatus,
    /// Its offers.
    pub offers: Vec<Offer>,
    /// Time the call took, in milliseconds.
    pub latency_ms: u64,
    /// What went wrong, for the client.
    pub error: Option<String>,
}

impl From<&ProviderOutcome> for StoredOutcome {
    fn from(o: &ProviderOutcome) -> Self {
        Self {
            provider: o.provider.clone(),
            status: o.status,
            offers: o.offers.as_ref().clone(),
            latency_ms: u64::try_from(o.latency.as_millis()).unwrap_or(u64::MAX),
            error: o.error.clone(),
        }
    }
}

impl From<StoredOutcome> for ProviderOutcome {
    fn from(s: StoredOutcome) -> Self {
        Self {
            provider: s.provider,
            status: s.status,
            offers: std::sync::Arc::new(s.offers),
            latency: Duration::from_millis(s.latency_ms),
            error: s.error,
        }
    }
}

/// Answers in Redis under `<prefix>:search:<sha256(search)>`.
#[derive(Debug, Clone)]
pub struct RedisSearchCache {
    redis: RedisPool,
}

impl RedisSearchCache {
    /// A cache over the shared pool.
    pub fn new(redis: RedisPool) -> Self {
        Self { redis }
    }

    fn key(&self, search: &FlightSearch) -> String {
        let canonical = serde_json::to_vec(search).unwrap_or_default();
        self.redis.key(&format!("search:{}", hex::encode(Sha256::digest(canonical))))
    }
}

#[async_trait]
impl SearchCache for RedisSearchCache {
    async fn get(&self, search: &FlightSearch) -> Option<Outcomes> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.key(search));
        let json: Option<String> = match self.redis.query(&cmd).await {
            Ok(json) => json,
            Err(error) => {
                tracing::warn!(%error, "search cache unavailable; asking the providers");
                return None;
            }
        };
        let stored: Vec<StoredOutcome> = serde_json::from_str(&json?).ok()?;
        Some(std::sync::Arc::new(stored.into_iter().map(ProviderOutcome::from).collect()))
    }

    async fn put(&self, search: &FlightSearch, outcomes: &Outcomes, ttl: Duration) {
        let stored: Vec<StoredOutcome> = outcomes.iter().map(StoredOutcome::from).collect();
        let Ok(json) = serde_json::to_string(&stored) else { return };
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(search)).arg(json).arg("PX").arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1));
        if let Err(error) = self.redis.query::<()>(&cmd).await {
            tracing::warn!(%error, "could not cache a search answer");
        }
    }
}

/// Offers in Redis under `<prefix>:offer:<id>`, expiring a grace period after the offer.
#[derive(Debug, Clone)]
pub struct RedisOfferStore {
    redis: RedisPool,
}

impl RedisOfferStore {
    /// A store over the shared pool.
    pub fn new(redis: RedisPool) -> Self {
        Self { redis }
    }
}

#[async_trait]
impl OfferStore for RedisOfferStore {
    async fn keep(&self, offers: &[Offer]) {
        let now = chrono::Utc::now();
        let mut pipe = redis::pipe();
        let mut any = false;
        for offer in offers {
            let left = (offer.expires_at + EXPIRED_OFFER_GRACE - now).num_milliseconds();
            let Ok(json) = serde_json::to_string(offer) else { continue };
            if left > 0 {
                pipe.cmd("SET")
                    .arg(self.redis.key(&format!("offer:{}", offer.id)))
                    .arg(json)
                    .arg("PX")
                    .arg(left)
                    .ignore();
                any = true;
            }
        }
        if any && let Err(error) = self.redis.query_pipeline::<()>(&pipe).await {
            tracing::warn!(%error, "could not keep offers in Redis");
        }
    }

    async fn get_many(&self, ids: &[String]) -> HashMap<String, Offer> {
        if ids.is_empty() {
            return HashMap::new();
        }
        let mut cmd = redis::cmd("MGET");
        for id in ids {
            cmd.arg(self.redis.key(&format!("offer:{id}")));
        }
        match self.redis.query::<Vec<Option<String>>>(&cmd).await {
            Ok(values) => ids
                .iter()
                .zip(values)
                .filter_map(|(id, json)| Some((id.clone(), serde_json::from_str::<Offer>(&json?).ok()?)))
                .collect(),
            Err(error) => {
                tracing::warn!(%error, "offer store unavailable");
                HashMap::new()
            }
        }
    }
}
