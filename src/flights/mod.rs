//! Flight search: the domain model, provider adapters over real HTTP, the
//! aggregator that fans out to them, the offers kept for retrieval by id,
//! the per-request search loader, and the GraphQL resolvers.

pub mod aggregator;
pub mod model;
pub mod providers;
pub mod resolvers;
pub mod search;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use async_graphql::dataloader::{DataLoader, Loader};

use self::aggregator::{Aggregator, ProviderOutcome};
use self::model::{FlightSearch, Offer};

/// Offers kept after a search, so `flightOffer(id)`, pricing and booking can
/// find them for as long as the provider honours them.
#[derive(Debug, Default)]
pub struct OfferStore {
    offers: Mutex<HashMap<String, Offer>>,
}

impl OfferStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Offer>> {
        self.offers.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps offers (replacing same ids); forgets expired ones as it grows.
    pub fn keep<'a>(&self, offers: impl IntoIterator<Item = &'a Offer>) {
        let now = chrono::Utc::now();
        let mut kept = self.lock();
        if kept.len() > 50_000 {
            kept.retain(|_, o| o.expires_at > now);
        }
        for offer in offers {
            kept.insert(offer.id.clone(), offer.clone());
        }
    }

    /// A live offer by id.
    pub fn get(&self, id: &str) -> Option<Offer> {
        let now = chrono::Utc::now();
        self.lock().get(id).filter(|o| o.expires_at > now).cloned()
    }
}

/// Flight search as the resolvers use it.
#[derive(Debug, Clone)]
pub struct FlightService {
    aggregator: Arc<Aggregator>,
    offers: Arc<OfferStore>,
}

impl FlightService {
    /// A service over an aggregator.
    pub fn new(aggregator: Aggregator) -> Self {
        Self { aggregator: Arc::new(aggregator), offers: Arc::new(OfferStore::default()) }
    }

    /// The aggregator (status, health).
    pub fn aggregator(&self) -> &Aggregator {
        &self.aggregator
    }

    /// Every provider's answer to a search; their offers become retrievable by id.
    pub async fn search(&self, search: &FlightSearch) -> Arc<Vec<ProviderOutcome>> {
        let outcomes = self.aggregator.outcomes(search).await;
        self.offers.keep(outcomes.iter().flat_map(|o| o.offers.iter()));
        outcomes
    }

    /// Each provider's answer to a search as it arrives; offers become retrievable by id.
    pub fn progress(&self, search: FlightSearch) -> impl futures_util::Stream<Item = ProviderOutcome> + use<> {
        let offers = self.offers.clone();
        futures_util::StreamExt::map(self.aggregator.progress(search), move |outcome| {
            offers.keep(outcome.offers.iter());
            outcome
        })
    }

    /// A live offer by id.
    pub fn offer(&self, id: &str) -> Option<Offer> {
        self.offers.get(id)
    }

    /// A loader for one GraphQL request: its identical searches, under any
    /// alias, become one search each, run concurrently.
    pub fn search_loader(&self) -> DataLoader<SearchLoader> {
        DataLoader::new(SearchLoader { flights: self.clone() }, tokio::spawn)
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
