//! Where search answers and offers are kept between requests: in this
//! process for the default run, in Redis when it is configured, so every
//! instance shares them — a search answered on one instance is a cache hit
//! on the other, and an offer found on one can be fetched, priced and booked
//! on any.
//!
//! Both are caches, not records: a Redis failure is logged and the caller
//! carries on as on a miss. Entries expire by TTL (answers) or with the
//! provider's own expiry (offers).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::aggregator::{Outcomes, ProviderOutcome, ProviderStatus};
use super::model::{FlightSearch, Offer};
use crate::redis_pool::RedisPool;

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
    /// Keeps one provider's offers (same id replaces). They come shared, as
    /// the search answer holds them, so a store in this process keeps them
    /// without copying.
    async fn keep(&self, offers: &Arc<Vec<Offer>>);
    /// Offers among `ids` still kept (missing ones left out; recently expired
    /// ones included, for the caller to check `expires_at`), in one round trip.
    async fn get_many(&self, ids: &[String]) -> HashMap<String, Offer>;
}

/// How much memory each in-process cache may hold by default: the answers
/// of a few hundred searches. The two hold the same offers (shared, not
/// copied), so together they stay near this figure too.
pub const DEFAULT_MEMORY_BUDGET: usize = 64 * 1024 * 1024;

fn outcomes_bytes(outcomes: &Outcomes) -> usize {
    outcomes.iter().flat_map(|o| o.offers.iter()).map(Offer::approx_bytes).sum::<usize>()
        + outcomes.len() * size_of::<ProviderOutcome>()
}

/// Answers in this process, within a memory budget: past it, the oldest
/// answers go first (they are the next to expire anyway). Without the
/// budget a burst of distinct searches would hold every answer for its
/// whole TTL; with Redis configured the answers live there instead.
#[derive(Debug)]
pub struct MemorySearchCache {
    budget: usize,
    entries: Mutex<CachedAnswers>,
}

#[derive(Debug, Default)]
struct CachedAnswers {
    by_search: HashMap<FlightSearch, CachedAnswer>,
    /// Insertion order, for eviction; an entry replaced since is skipped.
    order: VecDeque<(u64, FlightSearch)>,
    next: u64,
    bytes: usize,
}

#[derive(Debug)]
struct CachedAnswer {
    serial: u64,
    at: Instant,
    ttl: Duration,
    bytes: usize,
    outcomes: Outcomes,
}

impl MemorySearchCache {
    /// A cache holding answers of about `budget` bytes at most.
    pub fn with_budget(budget: usize) -> Self {
        Self { budget, entries: Mutex::default() }
    }
}

impl Default for MemorySearchCache {
    fn default() -> Self {
        Self::with_budget(DEFAULT_MEMORY_BUDGET)
    }
}

#[async_trait]
impl SearchCache for MemorySearchCache {
    async fn get(&self, search: &FlightSearch) -> Option<Outcomes> {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match entries.by_search.get(search) {
            Some(entry) if entry.at.elapsed() < entry.ttl => Some(entry.outcomes.clone()),
            Some(_) => {
                if let Some(gone) = entries.by_search.remove(search) {
                    entries.bytes -= gone.bytes;
                }
                None
            }
            None => None,
        }
    }

    async fn put(&self, search: &FlightSearch, outcomes: &Outcomes, ttl: Duration) {
        let bytes = outcomes_bytes(outcomes);
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entries = &mut *entries;
        let serial = entries.next;
        entries.next += 1;
        let entry = CachedAnswer { serial, at: Instant::now(), ttl, bytes, outcomes: outcomes.clone() };
        if let Some(replaced) = entries.by_search.insert(search.clone(), entry) {
            entries.bytes -= replaced.bytes;
        }
        entries.bytes += bytes;
        entries.order.push_back((serial, search.clone()));
        // Oldest first, while over budget or expired; the newest always stays.
        while entries.order.len() > 1 {
            let Some((serial, oldest)) = entries.order.front() else { break };
            let live = entries.by_search.get(oldest).filter(|e| e.serial == *serial);
            let expired = live.is_none_or(|e| e.at.elapsed() >= e.ttl);
            if entries.bytes <= self.budget && !expired {
                break;
            }
            if let Some((serial, oldest)) = entries.order.pop_front()
                && entries.by_search.get(&oldest).is_some_and(|e| e.serial == serial)
                && let Some(gone) = entries.by_search.remove(&oldest)
            {
                entries.bytes -= gone.bytes;
            }
        }
    }
}

/// Offers in this process, within a memory budget like
/// [`MemorySearchCache`]'s: each provider's answer is kept as the shared
/// vector the search answer holds, indexed by offer id; past the budget
/// (or once all its offers are past their grace), the oldest answer goes.
/// An offer evicted that way answers `NOT_FOUND`, as after a restart: the
/// traveller searches again. Redis, when configured, keeps every offer.
#[derive(Debug)]
pub struct MemoryOfferStore {
    budget: usize,
    kept: Mutex<KeptOffers>,
}

#[derive(Debug, Default)]
struct KeptOffers {
    by_id: HashMap<String, (Arc<Vec<Offer>>, usize)>,
    batches: VecDeque<KeptBatch>,
    bytes: usize,
}

#[derive(Debug)]
struct KeptBatch {
    offers: Arc<Vec<Offer>>,
    bytes: usize,
    /// When the last of its offers leaves its grace period.
    until: chrono::DateTime<chrono::Utc>,
}

impl MemoryOfferStore {
    /// A store holding offers of about `budget` bytes at most.
    pub fn with_budget(budget: usize) -> Self {
        Self { budget, kept: Mutex::default() }
    }
}

impl Default for MemoryOfferStore {
    fn default() -> Self {
        Self::with_budget(DEFAULT_MEMORY_BUDGET)
    }
}

#[async_trait]
impl OfferStore for MemoryOfferStore {
    async fn keep(&self, offers: &Arc<Vec<Offer>>) {
        let Some(until) = offers.iter().map(|o| o.expires_at + EXPIRED_OFFER_GRACE).max() else { return };
        let bytes = offers.iter().map(Offer::approx_bytes).sum();
        let now = chrono::Utc::now();
        let mut kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let kept = &mut *kept;
        if kept.batches.back().is_some_and(|b| Arc::ptr_eq(&b.offers, offers)) {
            return;
        }
        for (index, offer) in offers.iter().enumerate() {
            kept.by_id.insert(offer.id.clone(), (offers.clone(), index));
        }
        kept.batches.push_back(KeptBatch { offers: offers.clone(), bytes, until });
        kept.bytes += bytes;
        while kept.batches.len() > 1
            && kept.batches.front().is_some_and(|b| kept.bytes > self.budget || b.until <= now)
            && let Some(oldest) = kept.batches.pop_front()
        {
            kept.bytes -= oldest.bytes;
            for offer in oldest.offers.iter() {
                // Only where the id still points at this batch: a newer
                // answer may have brought the same offer since.
                if kept.by_id.get(&offer.id).is_some_and(|(batch, _)| Arc::ptr_eq(batch, &oldest.offers)) {
                    kept.by_id.remove(&offer.id);
                }
            }
        }
    }

    async fn get_many(&self, ids: &[String]) -> HashMap<String, Offer> {
        let now = chrono::Utc::now();
        let kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        ids.iter()
            .filter_map(|id| {
                let (batch, index) = kept.by_id.get(id)?;
                let offer = batch.get(*index).filter(|o| o.expires_at + EXPIRED_OFFER_GRACE > now)?;
                Some((id.clone(), offer.clone()))
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
    async fn keep(&self, offers: &Arc<Vec<Offer>>) {
        let now = chrono::Utc::now();
        let mut pipe = redis::pipe();
        let mut any = false;
        for offer in offers.iter() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flights::aggregator::ProviderOutcome;
    use crate::flights::model::{Cabin, Money, Passengers, ProviderOffer};

    fn offers(batch: &str, n: usize) -> Arc<Vec<Offer>> {
        Arc::new(
            (0..n)
                .map(|i| Offer {
                    id: format!("{batch}_{i}"),
                    provider: "amadeus".into(),
                    price: Money::new(rust_decimal::Decimal::new(10_000, 2), "EUR"),
                    seats_available: None,
                    expires_at: chrono::Utc::now() + chrono::Duration::minutes(30),
                    itineraries: Vec::new(),
                    // About 1 KiB each, so budgets in KiB are easy to reason about.
                    provider_offer: ProviderOffer::from_value(&serde_json::json!({ "pad": "x".repeat(1_000) })),
                    passengers: Vec::new(),
                })
                .collect(),
        )
    }

    fn search(day: u32) -> FlightSearch {
        FlightSearch {
            origin: "LIS".into(),
            destination: "MAD".into(),
            departure_date: chrono::NaiveDate::from_ymd_opt(2027, 1, day).expect("date"),
            return_date: None,
            passengers: Passengers { adults: 1, children: 0, infants: 0 },
            cabin: Cabin::Economy,
            non_stop: false,
            currency: "EUR".into(),
        }
    }

    fn answer(batch: &str, n: usize) -> Outcomes {
        Arc::new(vec![ProviderOutcome {
            provider: "amadeus".into(),
            status: ProviderStatus::Ok,
            offers: offers(batch, n),
            latency: Duration::ZERO,
            error: None,
        }])
    }

    #[tokio::test]
    async fn the_offer_store_drops_the_oldest_answers_past_its_budget() {
        let one = offers("a", 10)[0].approx_bytes();
        // Room for about two answers of ten offers.
        let store = MemoryOfferStore::with_budget(one * 25);
        for batch in ["a", "b", "c"] {
            store.keep(&offers(batch, 10)).await;
        }
        let ids = |batch: &str| (0..10).map(|i| format!("{batch}_{i}")).collect::<Vec<_>>();
        assert!(store.get_many(&ids("a")).await.is_empty(), "the oldest answer went");
        assert_eq!(store.get_many(&ids("b")).await.len(), 10);
        assert_eq!(store.get_many(&ids("c")).await.len(), 10);
        let kept = store.kept.lock().expect("lock");
        assert!(kept.bytes <= one * 25, "{} bytes kept", kept.bytes);
        assert_eq!(kept.by_id.len(), 20, "the index forgot the evicted offers");
    }

    #[tokio::test]
    async fn an_offer_brought_again_outlives_its_first_answer() {
        let one = offers("a", 1)[0].approx_bytes();
        let store = MemoryOfferStore::with_budget(one * 15);
        store.keep(&offers("a", 10)).await;
        // The same ids again (a re-search), then another answer pushes the first out.
        store.keep(&offers("a", 10)).await;
        assert_eq!(store.get_many(&["a_3".to_owned()]).await.len(), 1, "the newer copy still answers");
        let kept = store.kept.lock().expect("lock");
        assert_eq!(kept.batches.len(), 1);
        assert_eq!(kept.by_id.len(), 10);
    }

    #[tokio::test]
    async fn the_search_cache_stays_within_its_budget_and_keeps_the_newest() {
        // Batch names of one length, so every answer is `size` bytes.
        let size = outcomes_bytes(&answer("00", 10));
        let cache = MemorySearchCache::with_budget(size * 3);
        for day in 1..=10 {
            cache.put(&search(day), &answer(&format!("{day:02}"), 10), Duration::from_secs(60)).await;
        }
        assert!(cache.get(&search(1)).await.is_none(), "the oldest answer went");
        for day in 8..=10 {
            assert!(cache.get(&search(day)).await.is_some(), "day {day} kept");
        }
        let entries = cache.entries.lock().expect("lock");
        assert!(entries.bytes <= size * 3, "{} bytes", entries.bytes);
        assert_eq!(entries.by_search.len(), 3);
    }

    #[tokio::test]
    async fn replacing_a_cached_answer_counts_its_bytes_once() {
        let size = outcomes_bytes(&answer("a", 10));
        let cache = MemorySearchCache::with_budget(size * 3);
        for _ in 0..10 {
            cache.put(&search(1), &answer("a", 10), Duration::from_secs(60)).await;
        }
        cache.put(&search(2), &answer("b", 10), Duration::from_secs(60)).await;
        assert!(cache.get(&search(1)).await.is_some(), "ten puts of one search are one answer, not ten");
        assert_eq!(cache.entries.lock().expect("lock").bytes, size * 2);
    }
}
