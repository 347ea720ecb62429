//! The aggregator: one search fanned out to every enabled provider — all at
//! once, or one after another when the parallel-processing toggle is off
//! (the baseline the load harness compares with) — each under its own
//! timeout and circuit breaker; then the answers merged, de-duplicated,
//! filtered, sorted, labelled and cut to `first`.
//!
//! Identical searches in flight at the same time share one provider call
//! (single-flight), and answers are kept for a short TTL, so a hundred
//! travellers asking the same thing cost one call per provider.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};

use super::cache::SearchCache;
use super::model::{FlightSearch, Offer, OfferLabel, OfferSort, ResultFilters};
use super::providers::{FlightProvider, ProviderError};

/// What happened with one provider for one search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, async_graphql::Enum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProviderStatus {
    /// Answered.
    Ok,
    /// Failed.
    Error,
    /// Did not answer in time.
    Timeout,
    /// Not asked: its circuit is open or it is disabled.
    Skipped,
}

/// One provider's answer to one search.
#[derive(Debug, Clone)]
pub struct ProviderOutcome {
    /// Provider name.
    pub provider: String,
    /// How it went.
    pub status: ProviderStatus,
    /// Its offers (empty unless `Ok`).
    pub offers: Arc<Vec<Offer>>,
    /// Time the call took.
    pub latency: Duration,
    /// What went wrong, for the client.
    pub error: Option<String>,
}

/// Circuit breaker states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CircuitState {
    /// Calls flow.
    Closed,
    /// Calls are skipped until the cool-down ends.
    Open,
    /// One probe call is allowed through.
    HalfOpen,
}

/// Opens after `threshold` consecutive failures, skips calls for `cool_down`,
/// then lets one probe through: success closes it, failure opens it again.
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    cool_down: Duration,
    state: Mutex<BreakerState>,
}

#[derive(Debug)]
struct BreakerState {
    failures: u32,
    opened_at: Option<Instant>,
    probing: bool,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(threshold: u32, cool_down: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cool_down,
            state: Mutex::new(BreakerState { failures: 0, opened_at: None, probing: false }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BreakerState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current state.
    pub fn state(&self) -> CircuitState {
        let state = self.lock();
        match state.opened_at {
            None => CircuitState::Closed,
            Some(at) if at.elapsed() < self.cool_down => CircuitState::Open,
            Some(_) => CircuitState::HalfOpen,
        }
    }

    /// Whether a call may go through now (claims the probe when half-open).
    pub fn allow(&self) -> bool {
        let mut state = self.lock();
        match state.opened_at {
            None => true,
            Some(at) if at.elapsed() < self.cool_down => false,
            Some(_) if state.probing => false,
            Some(_) => {
                state.probing = true;
                true
            }
        }
    }

    /// Records a call's result.
    pub fn record(&self, success: bool) {
        let mut state = self.lock();
        state.probing = false;
        if success {
            state.failures = 0;
            state.opened_at = None;
        } else {
            state.failures += 1;
            if state.opened_at.is_some() || state.failures >= self.threshold {
                state.opened_at = Some(Instant::now());
            }
        }
    }
}

/// A provider with its own timeout and breaker.
#[derive(Debug)]
pub struct ProviderSlot {
    provider: Arc<dyn FlightProvider>,
    timeout: Duration,
    breaker: CircuitBreaker,
    last_latency_ms: std::sync::atomic::AtomicU64,
}

impl ProviderSlot {
    /// A slot with a per-call timeout and a breaker that opens after five failures for thirty seconds.
    pub fn new(provider: Arc<dyn FlightProvider>, timeout: Duration) -> Self {
        Self::with_breaker(provider, timeout, CircuitBreaker::new(5, Duration::from_secs(30)))
    }

    /// A slot with a given breaker.
    pub fn with_breaker(provider: Arc<dyn FlightProvider>, timeout: Duration, breaker: CircuitBreaker) -> Self {
        Self { provider, timeout, breaker, last_latency_ms: std::sync::atomic::AtomicU64::new(0) }
    }

    /// Provider name.
    pub fn name(&self) -> &str {
        self.provider.name()
    }

    /// The provider itself, for calls outside search (pricing, orders).
    pub fn provider(&self) -> &Arc<dyn FlightProvider> {
        &self.provider
    }

    /// Breaker state.
    pub fn circuit(&self) -> CircuitState {
        self.breaker.state()
    }

    /// The provider's HTTP counters.
    pub fn http_stats(&self) -> Option<super::providers::HttpStats> {
        self.provider.http_stats()
    }

    /// Latency of the last call in milliseconds.
    pub fn last_latency_ms(&self) -> u64 {
        self.last_latency_ms.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn call(&self, search: &FlightSearch) -> ProviderOutcome {
        let name = self.provider.name().to_owned();
        if !self.breaker.allow() {
            return ProviderOutcome {
                provider: name,
                status: ProviderStatus::Skipped,
                offers: Arc::new(Vec::new()),
                latency: Duration::ZERO,
                error: Some("circuit open after repeated failures".to_owned()),
            };
        }
        let started = Instant::now();
        let result = match tokio::time::timeout(self.timeout, self.provider.search(search)).await {
            Ok(result) => result,
            Err(_) => Err(ProviderError::Timeout),
        };
        let latency = started.elapsed();
        self.last_latency_ms
            .store(u64::try_from(latency.as_millis()).unwrap_or(u64::MAX), std::sync::atomic::Ordering::Relaxed);
        metrics::histogram!("wayfarer_provider_call_duration_seconds", "provider" => name.clone())
            .record(latency.as_secs_f64());
        // A refused request is the request's fault, not the provider's health.
        self.breaker.record(matches!(result, Ok(_) | Err(ProviderError::Rejected(_))));
        let (status, offers, error) = match result {
            Ok(offers) => (ProviderStatus::Ok, offers, None),
            Err(ProviderError::Timeout) => (ProviderStatus::Timeout, Vec::new(), Some(format!("{name} timed out"))),
            Err(error) => (ProviderStatus::Error, Vec::new(), Some(format!("{name}: {error}"))),
        };
        metrics::counter!("wayfarer_provider_calls_total", "provider" => name.clone(), "status" => format!("{status:?}"))
            .increment(1);
        ProviderOutcome { provider: name, status, offers: Arc::new(offers), latency, error }
    }
}

/// Every provider's answer to one search, shared by whoever asked it.
pub type Outcomes = Arc<Vec<ProviderOutcome>>;

type Pending = Shared<BoxFuture<'static, Outcomes>>;

/// Fans searches out and shares identical ones.
#[derive(Debug)]
pub struct Aggregator {
    slots: Vec<Arc<ProviderSlot>>,
    parallel: bool,
    /// Where complete answers are kept, and for how long; `None`: not kept.
    cache: Option<(Arc<dyn SearchCache>, Duration)>,
    /// Where the offers of each answer fetched from the providers are kept by id.
    offers: Option<Arc<dyn super::cache::OfferStore>>,
    in_flight: Mutex<HashMap<FlightSearch, Pending>>,
}

impl Aggregator {
    /// An aggregator over `slots`; `cache` `None` turns caching off.
    pub fn new(slots: Vec<ProviderSlot>, parallel: bool, cache: Option<(Arc<dyn SearchCache>, Duration)>) -> Self {
        Self {
            slots: slots.into_iter().map(Arc::new).collect(),
            parallel,
            cache,
            offers: None,
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// Keeps the offers of every answer fetched from the providers in
    /// `store` — once per fetch, not once per caller or per cache hit.
    pub fn keeping_offers_in(mut self, store: Arc<dyn super::cache::OfferStore>) -> Self {
        self.offers = Some(store);
        self
    }

    /// The providers.
    pub fn slots(&self) -> &[Arc<ProviderSlot>] {
        &self.slots
    }

    /// Every provider's answer to `search`: from the cache, from an identical
    /// search already in flight, or from a new fan-out.
    pub async fn outcomes(&self, search: &FlightSearch) -> Arc<Vec<ProviderOutcome>> {
        if let Some((cache, _)) = &self.cache
            && let Some(outcomes) = cache.get(search).await
        {
            return outcomes;
        }
        let pending = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match in_flight.get(search) {
                Some(pending) => pending.clone(),
                None => {
                    let slots = self.slots.clone();
                    let parallel = self.parallel;
                    let key = search.clone();
                    let cache = self.cache.clone();
                    let store = self.offers.clone();
                    // Caching and keeping are part of the one shared fetch, so
                    // callers coalesced onto it do not repeat them, and they
                    // happen even if the caller who started it goes away.
                    let future = async move {
                        let outcomes = Arc::new(fan_out(&slots, &key, parallel).await);
                        if let Some(store) = &store {
                            for outcome in outcomes.iter().filter(|o| !o.offers.is_empty()) {
                                store.keep(&outcome.offers).await;
                            }
                        }
                        remember(cache.as_ref(), &key, &outcomes).await;
                        outcomes
                    }
                    .boxed()
                    .shared();
                    in_flight.insert(search.clone(), future.clone());
                    future
                }
            }
        };
        let outcomes = pending.clone().await;
        {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            // Only this fetch's entry: a newer one for the same search may have replaced it.
            if in_flight.get(search).is_some_and(|p| p.ptr_eq(&pending)) {
                in_flight.remove(search);
            }
        }
        outcomes
    }

    /// Each provider's answer as it arrives (the cached answer when there is
    /// one). The complete answer is cached when the last provider is done,
    /// even if the caller stopped listening.
    pub fn progress(self: &Arc<Self>, search: FlightSearch) -> tokio_stream::wrappers::ReceiverStream<ProviderOutcome> {
        let (sender, receiver) = tokio::sync::mpsc::channel(self.slots.len().max(1));
        let aggregator = self.clone();
        tokio::spawn(async move {
            if let Some((cache, _)) = &aggregator.cache
                && let Some(outcomes) = cache.get(&search).await
            {
                for outcome in outcomes.iter() {
                    let _ = sender.send(outcome.clone()).await;
                }
                return;
            }
            let mut calls: futures_util::stream::FuturesUnordered<_> = aggregator
                .slots
                .iter()
                .cloned()
                .map(|slot| {
                    let search = search.clone();
                    async move { slot.call(&search).await }
                })
                .collect();
            let mut all = Vec::with_capacity(aggregator.slots.len());
            while let Some(outcome) = futures_util::StreamExt::next(&mut calls).await {
                // Kept before anyone hears of them, so any instance can fetch
                // them by id; a cached answer's offers were kept when fetched.
                if let Some(store) = &aggregator.offers
                    && !outcome.offers.is_empty()
                {
                    store.keep(&outcome.offers).await;
                }
                let _ = sender.send(outcome.clone()).await;
                all.push(outcome);
            }
            remember(aggregator.cache.as_ref(), &search, &Arc::new(all)).await;
        });
        tokio_stream::wrappers::ReceiverStream::new(receiver)
    }
}

/// Caches a complete answer; a failed provider is asked again next time.
async fn remember(cache: Option<&(Arc<dyn SearchCache>, Duration)>, search: &FlightSearch, outcomes: &Outcomes) {
    if let Some((cache, ttl)) = cache
        && outcomes.iter().all(|o| o.status == ProviderStatus::Ok)
    {
        cache.put(search, outcomes, *ttl).await;
    }
}

async fn fan_out(slots: &[Arc<ProviderSlot>], search: &FlightSearch, parallel: bool) -> Vec<ProviderOutcome> {
    tracing::debug!(providers = slots.len(), parallel, "fanning out a search");
    if parallel {
        futures_util::future::join_all(slots.iter().map(|slot| slot.call(search))).await
    } else {
        let mut outcomes = Vec::with_capacity(slots.len());
        for slot in slots {
            outcomes.push(slot.call(search).await);
        }
        outcomes
    }
}

/// The same journey offered by another provider at a higher (or equal) price.
#[derive(Debug, Clone, PartialEq)]
pub struct Alternative {
    /// That provider.
    pub provider: String,
    /// Its offer.
    pub offer_id: String,
    /// Its price.
    pub price: super::model::Money,
}

/// Offers ready for the client, with the labels each earned and the same
/// journey's other offers (so booking can fall back to them).
#[derive(Debug, Clone)]
pub struct RankedOffers {
    /// The first `first` offers in order, with labels and alternatives.
    pub offers: Vec<(Offer, Vec<OfferLabel>, Vec<Alternative>)>,
    /// How many matched before `first` cut them.
    pub total_count: usize,
}

/// Merges the providers' offers (the cheapest of identical journeys wins),
/// applies the filters, sorts, labels and cuts.
pub fn rank(outcomes: &[ProviderOutcome], filters: &ResultFilters) -> RankedOffers {
    // Everything works on borrowed offers; only the `first` returned are
    // cloned (a search may bring hundreds, a page shows twenty).
    let mut journeys: HashMap<Vec<(&str, chrono::NaiveDateTime)>, Vec<&Offer>> = HashMap::new();
    for offer in outcomes.iter().flat_map(|o| o.offers.iter()) {
        if passes(offer, filters) {
            journeys.entry(offer.journey_key()).or_default().push(offer);
        }
    }
    let mut best: Vec<(&Offer, Vec<&Offer>)> = Vec::with_capacity(journeys.len());
    for mut same in journeys.into_values() {
        same.sort_by(|a, b| a.price.amount.cmp(&b.price.amount).then_with(|| a.id.cmp(&b.id)));
        if same.is_empty() {
            continue;
        }
        let cheapest = same.remove(0);
        best.push((cheapest, same));
    }
    best.sort_by(|(a, _), (b, _)| {
        let by_price = a.price.amount.cmp(&b.price.amount);
        let by_duration = a.total_minutes().cmp(&b.total_minutes());
        let by_departure = a.departure().map(|d| d.at).cmp(&b.departure().map(|d| d.at));
        let primary = match filters.sort {
            OfferSort::Price => by_price.then(by_duration),
            OfferSort::Duration => by_duration.then(by_price),
            OfferSort::Departure => by_departure.then(by_price),
        };
        primary.then_with(|| a.id.cmp(&b.id))
    });
    let cheapest = best.iter().map(|(o, _)| o.price.amount).min();
    let fastest = best.iter().map(|(o, _)| o.total_minutes()).min();
    let total_count = best.len();
    let offers = best
        .into_iter()
        .take(filters.first)
        .map(|(offer, others)| {
            let mut labels = Vec::new();
            if Some(offer.price.amount) == cheapest {
                labels.push(OfferLabel::Cheapest);
            }
            if Some(offer.total_minutes()) == fastest {
                labels.push(OfferLabel::Fastest);
            }
            if offer.is_nonstop() {
                labels.push(OfferLabel::Nonstop);
            }
            let others = others
                .iter()
                .map(|o| Alternative { provider: o.provider.clone(), offer_id: o.id.clone(), price: o.price.clone() })
                .collect();
            (offer.clone(), labels, others)
        })
        .collect();
    RankedOffers { offers, total_count }
}

fn passes(offer: &Offer, filters: &ResultFilters) -> bool {
    if filters.non_stop && !offer.is_nonstop() {
        return false;
    }
    if let Some(max) = filters.max_price
        && offer.price.amount > max
    {
        return false;
    }
    if let Some(carriers) = &filters.carriers {
        let all_allowed = offer.itineraries.iter().flat_map(|i| &i.segments).all(|s| carriers.contains(&s.carrier));
        if !all_allowed {
            return false;
        }
    }
    if let Some(part) = filters.departure_time_of_day {
        // Segment times are already local to their airport.
        let Some(departure) = offer.departure() else { return false };
        if !part.contains_hour(chrono::Timelike::hour(&departure.at)) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use chrono::NaiveDate;
    use rust_decimal::Decimal;

    use super::*;
    use crate::flights::model::{Cabin, Itinerary, Money, Passengers, Segment, SegmentEnd};

    /// A provider in memory that counts its calls and answers after a pause.
    #[derive(Debug)]
    struct Counting {
        name: &'static str,
        calls: AtomicUsize,
        offers: Vec<Offer>,
        fail: bool,
    }

    #[async_trait]
    impl FlightProvider for Counting {
        fn name(&self) -> &str {
            self.name
        }
        async fn search(&self, _search: &FlightSearch) -> Result<Vec<Offer>, ProviderError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            if self.fail { Err(ProviderError::Unavailable("down".into())) } else { Ok(self.offers.clone()) }
        }
    }

    fn search() -> FlightSearch {
        FlightSearch {
            origin: "LIS".into(),
            destination: "MAD".into(),
            departure_date: NaiveDate::from_ymd_opt(2027, 1, 10).expect("date"),
            return_date: None,
            passengers: Passengers { adults: 1, children: 0, infants: 0 },
            cabin: Cabin::Economy,
            non_stop: false,
            currency: "EUR".into(),
        }
    }

    fn offer(provider: &str, id: &str, flights: &[(&str, u32, u32)], price: i64) -> Offer {
        let segments = flights
            .iter()
            .map(|(number, hour, minutes)| Segment {
                carrier: number[..2].to_owned(),
                flight_number: (*number).to_owned(),
                operating_carrier: None,
                departure: SegmentEnd {
                    airport: "LIS".into(),
                    terminal: None,
                    at: NaiveDate::from_ymd_opt(2027, 1, 10).and_then(|d| d.and_hms_opt(*hour, 0, 0)).expect("time"),
                },
                arrival: SegmentEnd {
                    airport: "MAD".into(),
                    terminal: None,
                    at: NaiveDate::from_ymd_opt(2027, 1, 10)
                        .and_then(|d| d.and_hms_opt(*hour + 2, 0, 0))
                        .expect("time"),
                },
                duration_minutes: *minutes,
                aircraft: None,
            })
            .collect::<Vec<_>>();
        let duration = segments.iter().map(|s| s.duration_minutes).sum();
        Offer {
            id: id.into(),
            provider: provider.into(),
            price: Money::new(Decimal::new(price, 2), "EUR"),
            seats_available: Some(9),
            expires_at: chrono::Utc::now() + chrono::Duration::minutes(30),
            itineraries: vec![Itinerary { duration_minutes: duration, segments }],
            provider_offer: crate::flights::model::ProviderOffer::default(),
            passengers: Vec::new(),
        }
    }

    fn memory_cache() -> Option<(Arc<dyn SearchCache>, Duration)> {
        Some((Arc::new(crate::flights::cache::MemorySearchCache::default()), Duration::from_secs(60)))
    }

    fn outcome(provider: &str, offers: Vec<Offer>) -> ProviderOutcome {
        ProviderOutcome {
            provider: provider.into(),
            status: ProviderStatus::Ok,
            offers: Arc::new(offers),
            latency: Duration::ZERO,
            error: None,
        }
    }

    fn filters(sort: OfferSort, first: usize) -> ResultFilters {
        ResultFilters { sort, first, ..ResultFilters::default() }
    }

    #[tokio::test]
    async fn a_hundred_identical_concurrent_searches_make_one_call_per_provider() {
        let a = Arc::new(Counting { name: "a", calls: AtomicUsize::new(0), offers: Vec::new(), fail: false });
        let b = Arc::new(Counting { name: "b", calls: AtomicUsize::new(0), offers: Vec::new(), fail: false });
        let aggregator = Aggregator::new(
            vec![
                ProviderSlot::new(a.clone(), Duration::from_secs(5)),
                ProviderSlot::new(b.clone(), Duration::from_secs(5)),
            ],
            true,
            None,
        );
        let key = search();
        let all = futures_util::future::join_all((0..100).map(|_| aggregator.outcomes(&key))).await;
        assert!(all.iter().all(|o| o.len() == 2));
        assert_eq!((a.calls.load(Ordering::SeqCst), b.calls.load(Ordering::SeqCst)), (1, 1));
        // Without a cache, a later search calls again.
        aggregator.outcomes(&key).await;
        assert_eq!(a.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn complete_answers_are_cached_failed_ones_are_not() {
        let good = Arc::new(Counting { name: "good", calls: AtomicUsize::new(0), offers: Vec::new(), fail: false });
        let aggregator =
            Aggregator::new(vec![ProviderSlot::new(good.clone(), Duration::from_secs(5))], true, memory_cache());
        aggregator.outcomes(&search()).await;
        aggregator.outcomes(&search()).await;
        assert_eq!(good.calls.load(Ordering::SeqCst), 1);

        let bad = Arc::new(Counting { name: "bad", calls: AtomicUsize::new(0), offers: Vec::new(), fail: true });
        let aggregator =
            Aggregator::new(vec![ProviderSlot::new(bad.clone(), Duration::from_secs(5))], true, memory_cache());
        let first = aggregator.outcomes(&search()).await;
        assert_eq!(first[0].status, ProviderStatus::Error);
        aggregator.outcomes(&search()).await;
        assert_eq!(bad.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_open_circuit_skips_the_provider() {
        let bad = Arc::new(Counting { name: "bad", calls: AtomicUsize::new(0), offers: Vec::new(), fail: true });
        let slot = ProviderSlot::with_breaker(
            bad.clone(),
            Duration::from_secs(5),
            CircuitBreaker::new(2, Duration::from_secs(3600)),
        );
        let aggregator = Aggregator::new(vec![slot], true, None);
        for _ in 0..2 {
            assert_eq!(aggregator.outcomes(&search()).await[0].status, ProviderStatus::Error);
        }
        let skipped = aggregator.outcomes(&search()).await;
        assert_eq!(skipped[0].status, ProviderStatus::Skipped);
        assert_eq!(bad.calls.load(Ordering::SeqCst), 2, "not called while open");
        assert_eq!(aggregator.slots()[0].circuit(), CircuitState::Open);
    }

    #[test]
    fn identical_journeys_merge_to_the_cheapest_and_labels_are_earned() {
        let outcomes = vec![
            outcome(
                "a",
                vec![
                    offer("a", "a1", &[("TP1020", 8, 75)], 12000),
                    offer("a", "a2", &[("IB3101", 7, 60), ("IB3200", 10, 60)], 9000),
                ],
            ),
            outcome(
                "b",
                vec![offer("b", "b1", &[("TP1020", 8, 75)], 11500), offer("b", "b2", &[("UX1150", 20, 70)], 15000)],
            ),
        ];
        let ranked = rank(&outcomes, &filters(OfferSort::Price, 10));
        let ids: Vec<&str> = ranked.offers.iter().map(|(o, _, _)| o.id.as_str()).collect();
        assert_eq!(ids, ["a2", "b1", "b2"], "TP1020 kept once, from the cheaper provider");
        assert_eq!(
            ranked.offers[1].2.iter().map(|a| a.offer_id.as_str()).collect::<Vec<_>>(),
            ["a1"],
            "the dearer one remembered"
        );
        assert_eq!(ranked.total_count, 3);
        assert_eq!(ranked.offers[0].1, vec![OfferLabel::Cheapest]);
        assert_eq!(ranked.offers[1].1, vec![OfferLabel::Nonstop]);
        assert_eq!(ranked.offers[2].1, vec![OfferLabel::Fastest, OfferLabel::Nonstop]);

        let by_duration = rank(&outcomes, &filters(OfferSort::Duration, 10));
        assert_eq!(by_duration.offers[0].0.id, "b2");
        let by_departure = rank(&outcomes, &filters(OfferSort::Departure, 1));
        assert_eq!((by_departure.offers.len(), by_departure.total_count), (1, 3));
        assert_eq!(by_departure.offers[0].0.id, "a2");
    }

    #[test]
    fn filters_apply_to_price_carriers_and_time_of_day() {
        let outcomes = vec![outcome(
            "a",
            vec![
                offer("a", "morning", &[("TP1020", 8, 75)], 12000),
                offer("a", "evening", &[("UX1150", 20, 70)], 15000),
            ],
        )];
        let mut f = filters(OfferSort::Price, 10);
        f.max_price = Some(Decimal::new(13000, 2));
        assert_eq!(rank(&outcomes, &f).total_count, 1);
        let mut f = filters(OfferSort::Price, 10);
        f.carriers = Some(vec!["UX".into()]);
        assert_eq!(rank(&outcomes, &f).offers[0].0.id, "evening");
        let mut f = filters(OfferSort::Price, 10);
        f.departure_time_of_day = Some(crate::flights::model::TimeOfDay::Morning);
        assert_eq!(rank(&outcomes, &f).offers[0].0.id, "morning");
    }

    #[test]
    fn the_breaker_opens_skips_half_opens_and_closes() {
        let breaker = CircuitBreaker::new(2, Duration::from_millis(0));
        assert_eq!(breaker.state(), CircuitState::Closed);
        breaker.record(false);
        assert_eq!(breaker.state(), CircuitState::Closed);
        breaker.record(false);
        // Cool-down of zero: immediately half-open, one probe allowed.
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
        assert!(breaker.allow());
        assert!(!breaker.allow(), "only one probe at a time");
        breaker.record(false);
        assert!(breaker.allow(), "reopened, then half-open again");
        breaker.record(true);
        assert_eq!(breaker.state(), CircuitState::Closed);

        let slow = CircuitBreaker::new(1, Duration::from_secs(3600));
        slow.record(false);
        assert_eq!(slow.state(), CircuitState::Open);
        assert!(!slow.allow());
    }
}
