//! Pricing and the order lifecycle (hold, read, confirm, cancel, lapse)
//! through both real adapters against their own bundled sandbox, proved by
//! the sandbox's call counters and orders ledger — never by timing.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use wayfarer::config::Http2;
use wayfarer::flights::model::{
    Cabin, FlightSearch, Money, Offer, OrderContact, OrderTraveler, PassengerType, Passengers, ProviderOrder,
    ProviderOrderStatus,
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
        Self::http_within(wayfarer::config::HttpClientSettings::default().timeout)
    }

    fn http_within(timeout: Duration) -> ProviderHttp {
        let settings = wayfarer::config::HttpClientSettings { timeout, ..Default::default() };
        ProviderHttp::new(&settings, true, 1000.0, Arc::new(tokio::sync::Semaphore::new(16))).expect("http")
    }

    /// A client that speaks HTTP/2 from the first byte (h2c), with room for
    /// `in_flight` calls at once.
    fn http2(in_flight: usize) -> ProviderHttp {
        let settings = wayfarer::config::HttpClientSettings {
            http2: Http2::PriorKnowledge,
            max_connections: in_flight,
            max_connections_per_host: in_flight,
            ..Default::default()
        };
        let global = Arc::new(tokio::sync::Semaphore::new(in_flight));
        ProviderHttp::new(&settings, true, 1_000_000.0, global).expect("http")
    }

    pub(crate) fn provider(&self, name: &str) -> Box<dyn FlightProvider> {
        self.provider_with(name, Self::http())
    }

    /// An adapter that gives up on any call after `timeout`.
    pub(crate) fn impatient_provider(&self, name: &str, timeout: Duration) -> Box<dyn FlightProvider> {
        self.provider_with(name, Self::http_within(timeout))
    }

    fn provider_with(&self, name: &str, http: ProviderHttp) -> Box<dyn FlightProvider> {
        match name {
            "amadeus" => Box::new(AmadeusProvider::new(
                &self.base,
                self.config.amadeus_client_id.clone(),
                self.config.amadeus_client_secret.clone().into(),
                http,
            )),
            _ => Box::new(DuffelProvider::new(&self.base, self.config.duffel_token.clone().into(), http)),
        }
    }

    /// The ledger entries of `personality`.
    pub(crate) async fn ledger(&self, personality: &str) -> Vec<Value> {
        let ledger: Value = self
            .client
            .get(format!("{}/_sandbox/orders", self.base))
            .send()
            .await
            .expect("orders")
            .json()
            .await
            .expect("json");
        ledger["orders"]
            .as_array()
            .expect("orders list")
            .iter()
            .filter(|o| o["personality"] == personality)
            .cloned()
            .collect()
    }

    /// The one ledger entry of order `id`.
    pub(crate) async fn entry(&self, personality: &str, id: &str) -> Value {
        let matching: Vec<Value> = self.ledger(personality).await.into_iter().filter(|o| o["orderId"] == id).collect();
        assert_eq!(matching.len(), 1, "{personality} ledger entries of {id}: {matching:?}");
        matching.into_iter().next().expect("one")
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
    lifecycle_on(&sandbox, name, sandbox.provider(name)).await;
}

async fn lifecycle_on(sandbox: &Sandbox, name: &str, provider: Box<dyn FlightProvider>) {
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

#[tokio::test]
async fn both_adapters_search_price_and_order_over_http2_without_negotiation() {
    let sandbox = Sandbox::start().await;
    let http = Sandbox::http2(16);
    let calls = format!("{}/_sandbox/calls", sandbox.base);
    let answer = http.client().get(&calls).send().await.expect("calls");
    assert_eq!(answer.version(), reqwest::Version::HTTP_2, "the sandbox accepts h2c");
    let plain = Sandbox::http().client().get(&calls).send().await.expect("calls");
    assert_eq!(plain.version(), reqwest::Version::HTTP_11, "negotiation needs TLS: plain HTTP stays 1.1");
    for name in ["amadeus", "duffel"] {
        lifecycle_on(&sandbox, name, sandbox.provider_with(name, Sandbox::http2(16))).await;
    }
}

#[tokio::test]
async fn over_http2_a_burst_past_hypers_default_stream_bound_reaches_the_sandbox_at_once() {
    // hyper lets one HTTP/2 connection carry 200 requests at once unless
    // told otherwise; the sandbox stands in for providers at the loadtest's
    // scale, so a burst of 256 must all arrive before any is answered.
    const BURST: usize = 256;
    let sandbox = Sandbox::start().await;
    sandbox.set("duffel", json!({ "latencyMs": 5_000 })).await;
    let provider: Arc<dyn FlightProvider> = Arc::from(sandbox.provider_with("duffel", Sandbox::http2(BURST)));
    let mut searches = tokio::task::JoinSet::new();
    for day in 0..BURST {
        let provider = provider.clone();
        searches.spawn(async move { provider.search(&search(i64::try_from(day % 7).unwrap_or(0))).await });
    }
    loop {
        let arrived = sandbox.calls("duffel", "search").await;
        if arrived == u64::try_from(BURST).unwrap_or(u64::MAX) {
            break;
        }
        assert!(searches.try_join_next().is_none(), "a search was answered while only {arrived} had arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    while let Some(done) = searches.join_next().await {
        assert!(!done.expect("joined").expect("search").is_empty(), "offers");
    }
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
    assert_eq!(
        provider.create_order(&offer, &travelers(), &contact(), "bk_test").await,
        Err(ProviderError::OfferExpired)
    );
}

#[tokio::test]
async fn a_sell_failure_is_sold_out() {
    let sandbox = Sandbox::start().await;
    let provider = sandbox.provider("amadeus");
    let offer = first_offer(provider.as_ref(), 4).await;
    let priced = provider.price(&offer).await.expect("price");
    sandbox.set("amadeus", json!({ "sellFailure": true })).await;
    assert_eq!(
        provider.create_order(&priced.offer, &travelers(), &contact(), "bk_test").await,
        Err(ProviderError::SoldOut)
    );
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

/// A held order for booking `booking`, priced first.
async fn hold(provider: &dyn FlightProvider, day: i64, booking: &str) -> ProviderOrder {
    let offer = first_offer(provider, day).await;
    let priced = provider.price(&offer).await.expect("price");
    let order = provider.create_order(&priced.offer, &travelers(), &contact(), booking).await.expect("hold");
    assert_eq!(order.status, ProviderOrderStatus::Held, "{}: {order:?}", provider.name());
    order
}

/// What a read after cancelling (or lapsing) says: Duffel keeps the order
/// and shows its state; Amadeus forgets it.
async fn assert_gone(provider: &dyn FlightProvider, id: &str, duffel_status: ProviderOrderStatus) {
    match (provider.name(), provider.get_order(id).await) {
        ("duffel", Ok(order)) => assert_eq!(order.status, duffel_status),
        ("amadeus", Err(error)) => assert_eq!(error, ProviderError::NotFound),
        (name, other) => panic!("{name}: unexpected read after the order went: {other:?}"),
    }
}

async fn confirmation(name: &str) {
    let sandbox = Sandbox::start().await;
    let provider = sandbox.provider(name);
    let order = hold(provider.as_ref(), 40, "bk_confirm").await;
    let read = provider.get_order(&order.id).await.expect("get");
    assert_eq!(read.status, ProviderOrderStatus::Held);
    assert_eq!(read.client_reference.as_deref(), Some("bk_confirm"), "{name}: our booking id comes back");
    assert!(read.reference.as_deref().is_some_and(|r| r.len() == 6), "{name}: a PNR: {read:?}");
    let expires = read.expires_at.unwrap_or_else(|| panic!("{name}: a held order says when it lapses"));
    let minutes = (expires - chrono::Utc::now()).num_minutes();
    assert!((18..=20).contains(&minutes), "{name}: the default hold lasts 20 minutes, not {minutes}");

    let confirmed = provider.confirm_order(&order.id, &order.price).await.expect("confirm");
    assert_eq!((confirmed.status, &confirmed.id), (ProviderOrderStatus::Confirmed, &order.id), "{name}");
    assert_eq!(confirmed.client_reference.as_deref(), Some("bk_confirm"));
    assert_eq!(provider.get_order(&order.id).await.expect("get").status, ProviderOrderStatus::Confirmed);
    let again = provider.confirm_order(&order.id, &order.price).await.expect("confirming again is fine");
    assert_eq!(again.status, ProviderOrderStatus::Confirmed, "{name}");
    assert_eq!(sandbox.calls(name, "orderConfirm").await, 1, "{name}: the repeat confirmed nothing");
    let entry = sandbox.entry(name, &order.id).await;
    assert_eq!((entry["status"].as_str(), entry["confirmations"].as_u64()), (Some("confirmed"), Some(1)), "{entry}");
    assert_eq!(entry["clientReference"], "bk_confirm");
    assert_eq!(entry["pnr"].as_str(), order.reference.as_deref());
    assert_eq!(entry["amount"].as_str(), Some(order.price.amount.to_string().as_str()));
    assert_eq!(entry["currency"].as_str(), Some(order.price.currency.as_str()));

    provider.cancel_order(&order.id).await.expect("a confirmed order cancels too");
    assert_gone(provider.as_ref(), &order.id, ProviderOrderStatus::Cancelled).await;
    let entry = sandbox.entry(name, &order.id).await;
    assert_eq!(entry["status"], "cancelled", "{entry}");
    assert!(entry["confirmedAt"].is_string() && entry["cancelledAt"].is_string(), "{entry}");
}

#[tokio::test]
async fn a_held_amadeus_order_confirms_once_and_cancels() {
    confirmation("amadeus").await;
}

#[tokio::test]
async fn a_held_duffel_order_is_paid_once_and_cancels() {
    confirmation("duffel").await;
}

async fn cancelled_hold(name: &str) {
    let sandbox = Sandbox::start().await;
    let provider = sandbox.provider(name);
    let order = hold(provider.as_ref(), 41, "bk_cancel").await;
    provider.cancel_order(&order.id).await.expect("cancel");
    assert_eq!(provider.confirm_order(&order.id, &order.price).await, Err(ProviderError::OrderGone), "{name}");
    assert_eq!(sandbox.calls(name, "orderConfirm").await, 0, "{name}: nothing to confirm was sent");
    let entry = sandbox.entry(name, &order.id).await;
    assert_eq!((entry["status"].as_str(), entry["confirmedAt"].is_null()), (Some("cancelled"), true), "{entry}");
}

#[tokio::test]
async fn a_cancelled_hold_cannot_be_confirmed() {
    cancelled_hold("amadeus").await;
    cancelled_hold("duffel").await;
}

async fn lapse(name: &str) {
    let sandbox = Sandbox::start().await;
    let provider = sandbox.provider(name);
    sandbox.set(name, json!({ "holdExpiresIn": 1 })).await;
    let order = hold(provider.as_ref(), 42, "bk_lapse").await;
    assert_eq!(sandbox.entry(name, &order.id).await["status"], "held");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let entry = sandbox.entry(name, &order.id).await;
    assert_eq!(entry["status"], "lapsed", "{entry}");
    assert_eq!(entry["lapsedAt"], entry["holdExpiresAt"]);
    assert_gone(provider.as_ref(), &order.id, ProviderOrderStatus::Lapsed).await;
    assert_eq!(provider.confirm_order(&order.id, &order.price).await, Err(ProviderError::OrderGone), "{name}");
    provider.cancel_order(&order.id).await.expect("cancelling a lapsed hold is fine");
    let entry = sandbox.entry(name, &order.id).await;
    assert_eq!((entry["status"].as_str(), entry["cancelledAt"].is_null()), (Some("lapsed"), true), "{entry}");
}

#[tokio::test]
async fn an_unconfirmed_amadeus_hold_lapses() {
    lapse("amadeus").await;
}

#[tokio::test]
async fn an_unpaid_duffel_hold_lapses() {
    lapse("duffel").await;
}

async fn answers_lost_after_the_fact(name: &str) {
    let sandbox = Sandbox::start().await;
    let provider = sandbox.provider(name);
    let impatient = sandbox.impatient_provider(name, Duration::from_millis(300));
    let offer = first_offer(provider.as_ref(), 43).await;
    let priced = provider.price(&offer).await.expect("price");

    // The hold is made, then its answer outlives the client.
    sandbox.set(name, json!({ "orderDelayMs": 2000 })).await;
    let lost = impatient.create_order(&priced.offer, &travelers(), &contact(), "bk_lost").await;
    assert_eq!(lost, Err(ProviderError::Timeout), "{name}");
    assert_eq!(sandbox.calls(name, "orderCreate").await, 1, "{name}: sent once");
    let held: Vec<Value> =
        sandbox.ledger(name).await.into_iter().filter(|o| o["clientReference"] == "bk_lost").collect();
    assert_eq!(held.len(), 1, "{name}: the order exists anyway: {held:?}");
    assert_eq!(held[0]["status"], "held");
    sandbox.set(name, json!({ "orderDelayMs": 0 })).await;
    let id = held[0]["orderId"].as_str().expect("id").to_owned();
    let order = provider.get_order(&id).await.expect("reconciled by reading");
    assert_eq!(order.client_reference.as_deref(), Some("bk_lost"));

    // The confirmation happens, then its answer is lost; a retry after
    // reading finds it done and confirms nothing more.
    sandbox.set(name, json!({ "confirmDelayMs": 2000 })).await;
    assert_eq!(impatient.confirm_order(&id, &order.price).await, Err(ProviderError::Timeout), "{name}");
    assert_eq!(sandbox.entry(name, &id).await["status"], "confirmed");
    sandbox.set(name, json!({ "confirmDelayMs": 0 })).await;
    let confirmed = provider.confirm_order(&id, &order.price).await.expect("retry");
    assert_eq!(confirmed.status, ProviderOrderStatus::Confirmed);
    assert_eq!(sandbox.entry(name, &id).await["confirmations"], 1, "{name}");

    // Likewise a cancellation.
    sandbox.set(name, json!({ "cancelDelayMs": 2000 })).await;
    assert_eq!(impatient.cancel_order(&id).await, Err(ProviderError::Timeout), "{name}");
    assert_eq!(sandbox.entry(name, &id).await["status"], "cancelled");
    sandbox.set(name, json!({ "cancelDelayMs": 0 })).await;
    provider.cancel_order(&id).await.expect("cancelling again is fine");
}

#[tokio::test]
async fn amadeus_orders_exist_when_their_answers_are_lost() {
    answers_lost_after_the_fact("amadeus").await;
}

#[tokio::test]
async fn duffel_orders_exist_when_their_answers_are_lost() {
    answers_lost_after_the_fact("duffel").await;
}

async fn failed_confirmation(name: &str) {
    let sandbox = Sandbox::start().await;
    let provider = sandbox.provider(name);
    let order = hold(provider.as_ref(), 44, "bk_fail").await;
    sandbox.set(name, json!({ "failConfirmNext": 1 })).await;
    let failed = provider.confirm_order(&order.id, &order.price).await;
    assert!(matches!(failed, Err(ProviderError::Unavailable(_))), "{name}: {failed:?}");
    assert_eq!(sandbox.calls(name, "orderConfirm").await, 1, "{name}: not retried");
    let entry = sandbox.entry(name, &order.id).await;
    assert_eq!((entry["status"].as_str(), entry["confirmations"].as_u64()), (Some("held"), Some(0)), "{entry}");
    assert_eq!(provider.get_order(&order.id).await.expect("get").status, ProviderOrderStatus::Held);
    let confirmed = provider.confirm_order(&order.id, &order.price).await.expect("the next one goes through");
    assert_eq!(confirmed.status, ProviderOrderStatus::Confirmed);
}

#[tokio::test]
async fn a_failed_confirmation_leaves_the_hold_held() {
    failed_confirmation("amadeus").await;
    failed_confirmation("duffel").await;
}

#[tokio::test]
async fn a_confirmation_at_another_amount_is_refused() {
    for name in ["amadeus", "duffel"] {
        let sandbox = Sandbox::start().await;
        let provider = sandbox.provider(name);
        let order = hold(provider.as_ref(), 45, "bk_amount").await;
        let cheaper = Money::new(order.price.amount - rust_decimal::Decimal::ONE, &order.price.currency);
        match provider.confirm_order(&order.id, &cheaper).await {
            Err(ProviderError::PriceChanged { current }) => assert_eq!(current, order.price, "{name}"),
            other => panic!("{name}: expected PriceChanged, got {other:?}"),
        }
        assert_eq!(sandbox.entry(name, &order.id).await["status"], "held", "{name}");
    }
}

#[tokio::test]
async fn the_ledger_ties_both_personalities_orders_to_their_bookings_and_resets() {
    let sandbox = Sandbox::start().await;
    let amadeus = sandbox.provider("amadeus");
    let duffel = sandbox.provider("duffel");
    let a = hold(amadeus.as_ref(), 46, "bk_amadeus").await;
    let d = hold(duffel.as_ref(), 46, "bk_duffel").await;
    let refs = |entries: Vec<Value>| {
        entries.iter().map(|e| (e["orderId"].clone(), e["clientReference"].clone())).collect::<Vec<_>>()
    };
    assert_eq!(refs(sandbox.ledger("amadeus").await), [(json!(a.id), json!("bk_amadeus"))]);
    assert_eq!(refs(sandbox.ledger("duffel").await), [(json!(d.id), json!("bk_duffel"))]);
    let reset = sandbox.client.post(format!("{}/_sandbox/reset", sandbox.base)).send().await.expect("reset");
    assert!(reset.status().is_success());
    assert!(sandbox.ledger("amadeus").await.is_empty() && sandbox.ledger("duffel").await.is_empty());
}
