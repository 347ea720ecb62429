//! Flight search: the domain model, provider adapters over real HTTP, the
//! aggregator that fans out to them, the offers kept for retrieval by id,
//! the per-request search loader, and the GraphQL resolvers.

pub mod aggregator;
pub mod cache;
pub mod model;
pub mod providers;
pub mod resolvers;
pub mod search;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};

use self::aggregator::{Aggregator, ProviderOutcome};
use self::cache::OfferStore;
use self::model::{FlightSearch, Offer};

/// Flight search as the resolvers use it.
#[derive(Debug, Clone)]
pub struct FlightService {
    aggregator: Arc<Aggregator>,
    offers: Arc<dyn OfferStore>,
}

impl FlightService {
    /// A service over an aggregator, keeping offers in `offers`.
    pub fn new(aggregator: Aggregator, offers: Arc<dyn OfferStore>) -> Self {
        Self { aggregator: Arc::new(aggregator), offers }
    }

    /// The aggregator (status, health).
    pub fn aggregator(&self) -> &Aggregator {
        &self.aggregator
    }

    /// Every provider's answer to a search; their offers become retrievable by id.
    pub async fn search(&self, search: &FlightSearch) -> Arc<Vec<ProviderOutcome>> {
        let outcomes = self.aggregator.outcomes(search).await;
        let found: Vec<Offer> = outcomes.iter().flat_map(|o| o.offers.iter().cloned()).collect();
        self.offers.keep(&found).await;
        outcomes
    }

    /// Each provider's answer to a search as it arrives; offers become retrievable by id.
    pub fn progress(&self, search: FlightSearch) -> futures_util::stream::BoxStream<'static, ProviderOutcome> {
        let offers = self.offers.clone();
        futures_util::StreamExt::boxed(futures_util::StreamExt::then(
            self.aggregator.progress(search),
            move |outcome| {
                let offers = offers.clone();
                async move {
                    offers.keep(&outcome.offers).await;
                    outcome
                }
            },
        ))
    }

    /// A live offer by id.
    pub async fn offer(&self, id: &str) -> Option<Offer> {
        self.offers.get_many(&[id.to_owned()]).await.remove(id)
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
