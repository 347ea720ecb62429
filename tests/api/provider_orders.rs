//! Pricing and the order lifecycle (hold, read, cancel) through both real
//! adapters against their own bundled sandbox, proved by the sandbox's call
//! counters — never by timing.

use std::sync::Arc;

use serde_json::{Value, json};
use wayfarer::flights::model::{
    Cabin, FlightSearch, Offer, OrderContact, OrderTraveler, PassengerType, Passengers, ProviderOrderStatus,
};
use wayfarer::flights::providers::amadeus::AmadeusProvider;
use wayfarer::flights::providers::duffel::DuffelProvider;
use wayfarer::flights::providers::{FlightProvider, ProviderError, ProviderHttp};

/// A sandbox of this test's own, and adapters aimed at it.
pub(crate) struct Sandbox {
    base: String,
    config: wayfarer::sandbox::SandboxConfig,
    client: reqwest::Client,
}

impl Sandbox {
    pub(crate) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let config = wayfarer::sandbox::SandboxConfig::default();
        tokio::spawn(wayfarer::sandbox::serve(listener, config.clone(), std::future::pending()));
        Self { base, config, client: reqwest::Client::new() }
    }

    fn http() -> ProviderHttp {
        let settings = wayfarer::config::HttpClientSettings::default();
        ProviderHttp::new(&settings, true, 1000.0, Arc::new(tokio::sync::Semaphore::new(16))).expect("http")
    }

    pub(crate) fn provider(&self, name: &str) -> Box<dyn FlightProvider> {
        match name {
            "amadeus" => Box::new(AmadeusProvider::new(
                &self.base,
                self.config.amadeus_client_id.clone(),
                self.config.amadeus_client_secret.clone().into(),
                Self::http(),
            )),
            _ => Box::new(DuffelProvider::new(&self.base, self.config.duffel_token.clone().into(), Self::http())),
        }
    }

    pub(crate) async fn set(&self, personality: &str, settings: Value) {
        let url = format!("{}/_sandbox/personalities/{personality}", self.base);
        let response = self.client.put(url).json(&settings).send().await.expect("control");
        assert!(response.status().is_success(), "{}", response.status());
    }

    pub(crate) async fn calls(&self, personality: &str, kind: &str) -> u64 {
        let calls: Value = self
            .client
            .get(format!("{}/_sandbox/calls", self.base))
            .send()
            .await
            .expect("calls")
            .json()
            .await
            .expect("json");
        calls[personality][kind].as_u64().unwrap_or_else(|| panic!("no counter {personality}.{kind}: {calls}"))
    }
}

pub(crate) fn search(day: i64) -> FlightSearch {
    FlightSearch {
        origin: "LIS".into(),
        destination: "FRA".into(),
        departure_date: chrono::Utc::now().date_naive() + chrono::Duration::days(30 + day),
        return_date: None,
        passengers: Passengers { adults: 1, children: 0, infants: 0 },
        cabin: Cabin::Economy,
        non_stop: false,
        currency: "EUR".into(),
    }
}

pub(crate) fn travelers() -> Vec<OrderTraveler> {
    vec![OrderTraveler {
        first_name: "Ana".into(),
        last_name: "Lopez".into(),
        date_of_birth: chrono::NaiveDate::from_ymd_opt(1990, 2, 3).expect("date"),
        kind: PassengerType::Adult,
        document: None,
    }]
}

pub(crate) fn contact() -> OrderContact {
    OrderContact { email: "ana@example.com".into(), phone: Some("+351912345678".into()) }
}

async fn first_offer(provider: &dyn FlightProvider, day: i64) -> Offer {
    let offers = provider.search(&search(day)).await.expect("search");
    offers.into_iter().next().expect("at least one offer")
}

async fn lifecycle(name: &str) {
    let sandbox = Sandbox::start().await;
    let provider = sandbox.provider(name);
    let offer = first_offer(provider.as_ref(), 0).await;
    let priced = provider.price(&offer).await.expect("price");
    assert!(!priced.price_changed, "{name}: no drift configured");
    assert_eq!(priced.offer.price, offer.price);
    assert_eq!(priced.offer.id, offer.id);

    let order = provider.create_order(&priced.offer, &travelers(), &contact(), "bk_test").await.expect("create");
    assert_eq!(order.status, ProviderOrderStatus::Held, "{name}");
    assert!(order.reference.as_deref().is_some_and(|r| r.len() == 6), "{name}: a PNR: {order:?}");
    assert_eq!(order.price, priced.offer.price);

    let read = provider.get_order(&order.id).await.expect("get");
    assert_eq!(read, order, "{name}: read back as created");

    provider.cancel_order(&order.id).await.expect("cancel");
    match provider.get_order(&order.id).await {
        // Duffel keeps cancelled orders; Amadeus forgets them.
        Ok(after) => assert_eq!((name, after.status), ("duffel", ProviderOrderStatus::Cancelled)),
        Err(error) => assert_eq!((name, error), ("amadeus", ProviderError::NotFound)),
    }
    provider.cancel_order(&order.id).await.expect("cancelling twice is fine");
    assert_eq!(sandbox.calls(name, "orderCreate").await, 1);
}

#[tokio::test]
async fn an_amadeus_order_is_priced_held_read_and_cancelled() {
    lifecycle("amadeus").await;
}

#[tokio::test]
async fn a_duffel_order_is_priced_held_read_and_cancelled() {
    lifecycle("duffel").await;
}

async fn drift(name: &str) {
    let sandbox = Sandbox::start().await;
    let provider = sandbox.provider(name);
    let offer = first_offer(provider.as_ref(), 1).await;
    sandbox.set(name, json!({ "priceDriftPercent": 5 })).await;
    let priced = provider.price(&offer).await.expect("price");
    assert!(priced.price_changed, "{name}");
    assert!(priced.offer.price.amount > offer.price.amount, "{name}: {:?} → {:?}", offer.price, priced.offer.price);
    assert_eq!(priced.offer.price.currency, offer.price.currency);
    // The priced offer books at its new price.
    let order = provider.create_order(&priced.offer, &travelers(), &contact(), "bk_test").await.expect("create");
    assert_eq!(order.price, priced.offer.price, "{name}");
}

#[tokio::test]
async fn price_drift_is_reported_with_the_new_price() {
    drift("amadeus").await;
    drift("duffel").await;
}

#[tokio::test]
async fn booking_at_a_stale_amadeus_price_says_what_it_costs_now() {
    let sandbox = Sandbox::start().await;
    let provider = sandbox.provider("amadeus");
    let offer = first_offer(provider.as_ref(), 2).await;
    let priced = provider.price(&offer).await.expect("price");
    sandbox.set("amadeus", json!({ "priceDriftPercent": 5 })).await;
    match provider.create_order(&priced.offer, &travelers(), &contact(), "bk_test").await {
        Err(ProviderError::PriceChanged { current }) => {
            assert!(current.amount > priced.offer.price.amount);
            assert_eq!(current.currency, priced.offer.price.currency);
        }
        other => panic!("expected PriceChanged, got {other:?}"),
    }
}

#[tokio::test]
async fn an_expired_duffel_offer_is_reported_as_such() {
    let sandbox = Sandbox::start().await;
    let provider = sandbox.provider("duffel");
    sandbox.set("duffel", json!({ "offerExpiresIn": 0 })).await;
    let offer = first_offer(provider.as_ref(), 3).await;
    assert_eq!(provider.price(&offer).await, Err(ProviderError::OfferExpired));
    assert_eq!(provider.create_order(&offer, &travelers(), &contact(), "bk_test").await, Err(ProviderError::OfferExpired));
}

#[tokio::test]
async fn a_sell_failure_is_sold_out() {
    let sandbox = Sandbox::start().await;
    let provider = sandbox.provider("amadeus");
    let offer = first_offer(provider.as_ref(), 4).await;
    let priced = provider.price(&offer).await.expect("price");
    sandbox.set("amadeus", json!({ "sellFailure": true })).await;
    assert_eq!(provider.create_order(&priced.offer, &travelers(), &contact(), "bk_test").await, Err(ProviderError::SoldOut));
}

async fn retries(name: &str, price_kind: &str) {
    let sandbox = Sandbox::start().await;
    let provider = sandbox.provider(name);
    let offer = first_offer(provider.as_ref(), 5).await;

    sandbox.set(name, json!({ "errorNext": 1 })).await;
    let priced = provider.price(&offer).await.expect("pricing is retried past one 500");
    assert_eq!(sandbox.calls(name, price_kind).await, 2, "{name}: a 500, then success");

    sandbox.set(name, json!({ "errorNext": 1 })).await;
    let result = provider.create_order(&priced.offer, &travelers(), &contact(), "bk_test").await;
    assert!(matches!(result, Err(ProviderError::Unavailable(_))), "{name}: {result:?}");
    assert_eq!(sandbox.calls(name, "orderCreate").await, 1, "{name}: an order is never sent twice");
}

#[tokio::test]
async fn a_failed_order_is_not_retried_while_pricing_is() {
    retries("amadeus", "price").await;
    retries("duffel", "offerGet").await;
}

#[tokio::test]
async fn percent_encoded_amadeus_order_ids_are_sent_back_as_they_came() {
    let sandbox = Sandbox::start().await;
    let provider = sandbox.provider("amadeus");
    // Sandbox ids carry `%2F`/`%2B` about half the time: order until one
    // does (24 tries leave a chance of about 1e-8 of never seeing one).
    for day in 0..24 {
        let offer = first_offer(provider.as_ref(), 10 + day).await;
        let priced = provider.price(&offer).await.expect("price");
        let order = provider.create_order(&priced.offer, &travelers(), &contact(), "bk_test").await.expect("create");
        assert_eq!(provider.get_order(&order.id).await.map(|o| o.id), Ok(order.id.clone()));
        provider.cancel_order(&order.id).await.expect("cancel");
        assert_eq!(provider.get_order(&order.id).await, Err(ProviderError::NotFound), "really cancelled");
        if order.id.contains('%') {
            return;
        }
    }
    panic!("no percent-encoded id came up in 24 orders");
}

#[tokio::test]
async fn amadeus_reference_lookups_name_airlines_and_find_places() {
    let sandbox = Sandbox::start().await;
    let amadeus = AmadeusProvider::new(
        &sandbox.base,
        sandbox.config.amadeus_client_id.clone(),
        sandbox.config.amadeus_client_secret.clone().into(),
        Sandbox::http(),
    );
    let airlines = amadeus.airlines(&["TP".to_owned(), "BA".to_owned()]).await.expect("airlines");
    let mut codes: Vec<&str> = airlines.iter().map(|a| a.code.as_str()).collect();
    codes.sort_unstable();
    assert_eq!(codes, ["BA", "TP"]);
    assert!(airlines.iter().all(|a| !a.name.is_empty()));
    assert_eq!(sandbox.calls("amadeus", "airlines").await, 1);
    let places = amadeus.locations("MUC").await.expect("locations");
    assert!(places.iter().any(|p| p.code == "MUC"), "{places:?}");
    assert_eq!(sandbox.calls("amadeus", "locations").await, 1);
    assert!(amadeus.airlines(&[]).await.expect("nothing to ask").is_empty());
    assert_eq!(sandbox.calls("amadeus", "airlines").await, 1, "an empty lookup asks nobody");
}
