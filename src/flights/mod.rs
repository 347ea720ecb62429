//! Flight search: the domain model, provider adapters over real HTTP, the
//! aggregator that fans out to them, the offers kept for retrieval by id,
//! the per-request search loader, and the GraphQL resolvers.

pub mod aggregator;
pub mod cache;
pub mod model;
pub mod progress;
pub mod providers;
pub mod rendered;
pub mod resolvers;
pub mod search;
pub mod selection;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};

use self::aggregator::{Aggregator, ProviderOutcome, RankedOffers};
use self::cache::OfferStore;
use self::model::{FlightSearch, Offer, ResultFilters};

/// Flight search as the resolvers use it.
#[derive(Debug, Clone)]
pub struct FlightService {
    aggregator: Arc<Aggregator>,
    offers: Arc<dyn OfferStore>,
    airline_lookup: Option<Arc<providers::amadeus::AmadeusProvider>>,
    reference_batches: Arc<std::sync::atomic::AtomicU64>,
    /// Progress subscriptions through the bus; without it, straight from the aggregator.
    shared_progress: Option<progress::SharedProgress>,
    /// Ranked pages of recent answers (see [`FlightService::ranked`]).
    ranked: Arc<std::sync::Mutex<HashMap<(usize, ResultFilters), RankedPage>>>,
    /// Resolved offer pages (see [`rendered`]).
    rendered: Arc<rendered::RenderedPages>,
}

/// Most ranked pages remembered; past it the pages of answers gone are
/// dropped, and if that is not enough, all of them.
const RANKED_PAGES: usize = 1_024;

/// A ranked page and the answer it was ranked from, held weakly: the page
/// never keeps an answer alive, and a page whose answer is gone is stale.
#[derive(Debug)]
struct RankedPage {
    answer: std::sync::Weak<Vec<ProviderOutcome>>,
    page: Arc<RankedOffers>,
}

impl FlightService {
    /// A service over an aggregator, keeping offers in `offers`.
    pub fn new(aggregator: Aggregator, offers: Arc<dyn OfferStore>) -> Self {
        Self {
            aggregator: Arc::new(aggregator.keeping_offers_in(offers.clone())),
            offers,
            airline_lookup: None,
            reference_batches: Arc::default(),
            shared_progress: None,
            ranked: Arc::default(),
            rendered: Arc::default(),
        }
    }

    /// Serves progress subscriptions through the event bus: one run of a
    /// search feeds its subscribers on every instance.
    pub fn with_shared_progress(mut self, shared: progress::SharedProgress) -> Self {
        self.shared_progress = Some(shared);
        self
    }

    /// Names airlines the dataset lacks through this provider's Airline Code Lookup.
    pub fn with_airline_lookup(mut self, amadeus: Arc<providers::amadeus::AmadeusProvider>) -> Self {
        self.airline_lookup = Some(amadeus);
        self
    }

    /// Airline-lookup batches loaded since start (at most one per request, only for carriers the dataset lacks).
    pub fn reference_batches(&self) -> u64 {
        self.reference_batches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A loader for one GraphQL request's carriers and airports.
    pub fn reference_loader(&self) -> DataLoader<ReferenceLoader> {
        DataLoader::new(
            ReferenceLoader { airline_lookup: self.airline_lookup.clone(), batches: self.reference_batches.clone() },
            tokio::spawn,
        )
    }

    /// The aggregator (status, health).
    pub fn aggregator(&self) -> &Aggregator {
        &self.aggregator
    }

    /// Every provider's answer to a search; their offers become retrievable by id.
    pub async fn search(&self, search: &FlightSearch) -> Arc<Vec<ProviderOutcome>> {
        // The aggregator keeps the offers of what it fetches; a cache hit's
        // offers were kept when they were fetched.
        self.aggregator.outcomes(search).await
    }

    /// Each provider's answer to a search as it arrives; offers become retrievable by id.
    pub fn progress(&self, search: FlightSearch) -> futures_util::stream::BoxStream<'static, ProviderOutcome> {
        // The aggregator keeps each fetched answer's offers before yielding it.
        if let Some(shared) = &self.shared_progress {
            return shared.stream(self.aggregator.clone(), search);
        }
        futures_util::StreamExt::boxed(self.aggregator.progress(search))
    }

    /// `outcomes` merged, filtered, sorted and cut as `filters` say: ranked
    /// once per answer and filters, then shared. A cached answer is the same
    /// `Arc` for every request until it expires, so repeated searches skip
    /// merging and sorting its offers (≈ 150 per search) each time; a new
    /// answer is a new `Arc`, so a page never outlives what it was made from.
    pub fn ranked(&self, outcomes: &Arc<Vec<ProviderOutcome>>, filters: &ResultFilters) -> Arc<RankedOffers> {
        let key = (Arc::as_ptr(outcomes).addr(), filters.clone());
        {
            let memo = self.ranked.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            // The weak reference keeps the answer's allocation, so its address
            // cannot be reused by another answer while the entry exists.
            if let Some(entry) = memo.get(&key)
                && entry.answer.upgrade().is_some_and(|answer| Arc::ptr_eq(&answer, outcomes))
            {
                return entry.page.clone();
            }
        }
        let page = Arc::new(aggregator::rank(outcomes, filters));
        let mut memo = self.ranked.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if memo.len() >= RANKED_PAGES {
            memo.retain(|_, entry| entry.answer.strong_count() > 0);
            if memo.len() >= RANKED_PAGES {
                memo.clear();
            }
        }
        memo.insert(key, RankedPage { answer: Arc::downgrade(outcomes), page: page.clone() });
        page
    }

    /// The resolved offer pages kept for reuse.
    pub fn rendered(&self) -> &Arc<rendered::RenderedPages> {
        &self.rendered
    }

    /// An offer by id, while kept (it may have expired: check `expires_at`).
    pub async fn offer(&self, id: &str) -> Option<Offer> {
        self.offers.get_many(&[id.to_owned()]).await.remove(id)
    }

    /// Keeps `offer` under its id, replacing what was kept: a re-priced offer
    /// becomes the one later lookups (and price comparisons) see.
    pub async fn keep_offer(&self, offer: &Offer) {
        self.offers.keep(&Arc::new(vec![offer.clone()])).await;
    }

    /// The provider named `name` (an offer's `provider`), for pricing and orders.
    pub fn provider(&self, name: &str) -> Option<Arc<dyn providers::FlightProvider>> {
        self.aggregator.slots().iter().find(|slot| slot.name() == name).map(|slot| slot.provider().clone())
    }

    /// A loader for one GraphQL request: every `flightOffer(id)` in it is one
    /// store round trip (one `MGET` on Redis).
    pub fn offer_loader(&self) -> DataLoader<OfferLoader> {
        DataLoader::new(OfferLoader { offers: self.offers.clone() }, tokio::spawn)
    }

    /// A loader for one GraphQL request: its identical searches, under any
    /// alias, become one search each, run concurrently.
    pub fn search_loader(&self) -> DataLoader<SearchLoader> {
        DataLoader::new(SearchLoader { flights: self.clone() }, tokio::spawn)
    }
}

/// An airline code to resolve.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CarrierCode(pub String);

/// Resolves the carriers of a whole response the embedded dataset does not
/// name in one batch: one Airline Code Lookup call to the Amadeus-style
/// provider. Known carriers and every airport resolve straight from the
/// dataset (`resolvers`): queueing a map lookup in a loader cost more than
/// the lookup, on every segment of every response.
#[derive(Debug)]
pub struct ReferenceLoader {
    airline_lookup: Option<Arc<providers::amadeus::AmadeusProvider>>,
    batches: Arc<std::sync::atomic::AtomicU64>,
}

impl Loader<CarrierCode> for ReferenceLoader {
    type Value = resolvers::Carrier;
    type Error = Infallible;

    async fn load(&self, keys: &[CarrierCode]) -> Result<HashMap<CarrierCode, Self::Value>, Self::Error> {
        self.batches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut found: HashMap<CarrierCode, resolvers::Carrier> =
            keys.iter().map(|k| (k.clone(), resolvers::Carrier::of(&k.0))).collect();
        let unknown: Vec<String> = found.iter().filter(|(_, c)| c.name.is_none()).map(|(k, _)| k.0.clone()).collect();
        if let (Some(lookup), false) = (&self.airline_lookup, unknown.is_empty()) {
            match lookup.airlines(&unknown).await {
                Ok(names) => {
                    for airline in names {
                        found.insert(
                            CarrierCode(airline.code.clone()),
                            resolvers::Carrier { code: airline.code, name: Some(airline.name) },
                        );
                    }
                }
                Err(error) => tracing::debug!(%error, "airline lookup failed; codes stay unnamed"),
            }
        }
        Ok(found)
    }
}

/// Batches the offer lookups of one request (see [`FlightService::offer_loader`]).
#[derive(Debug)]
pub struct OfferLoader {
    offers: Arc<dyn OfferStore>,
}

impl Loader<String> for OfferLoader {
    type Value = Offer;
    type Error = Infallible;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Offer>, Self::Error> {
        Ok(self.offers.get_many(keys).await)
    }
}

/// Batches the searches of one request (see [`FlightService::search_loader`]).
#[derive(Debug)]
pub struct SearchLoader {
    flights: FlightService,
}

impl Loader<FlightSearch> for SearchLoader {
    type Value = Arc<Vec<ProviderOutcome>>;
    type Error = Infallible;

    async fn load(&self, keys: &[FlightSearch]) -> Result<HashMap<FlightSearch, Self::Value>, Self::Error> {
        let results = futures_util::future::join_all(keys.iter().map(|key| self.flights.search(key))).await;
        Ok(keys.iter().cloned().zip(results).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flights::aggregator::ProviderStatus;
    use crate::flights::cache::MemoryOfferStore;

    fn answer() -> Arc<Vec<ProviderOutcome>> {
        Arc::new(vec![ProviderOutcome {
            provider: "amadeus".into(),
            status: ProviderStatus::Ok,
            offers: Arc::new(Vec::new()),
            latency: std::time::Duration::ZERO,
            error: None,
        }])
    }

    #[test]
    fn a_page_is_ranked_once_per_answer_and_filters() {
        let flights =
            FlightService::new(Aggregator::new(Vec::new(), true, None), Arc::new(MemoryOfferStore::default()));
        let twenty = ResultFilters { first: 20, ..ResultFilters::default() };
        let five = ResultFilters { first: 5, ..ResultFilters::default() };
        let cached = answer();
        let page = flights.ranked(&cached, &twenty);
        assert!(Arc::ptr_eq(&page, &flights.ranked(&cached, &twenty)), "the same answer and filters: the same page");
        assert!(!Arc::ptr_eq(&page, &flights.ranked(&cached, &five)), "other filters: another page");
        let fresh = answer();
        assert!(!Arc::ptr_eq(&page, &flights.ranked(&fresh, &twenty)), "a new answer is ranked again");
        drop((cached, fresh));
        let memo = flights.ranked.lock().expect("lock");
        assert!(memo.values().all(|entry| entry.answer.strong_count() == 0), "pages never keep their answers alive");
    }
}
