//! Crash tests: a `wayfarer` server process on shared PostgreSQL and Redis is
//! killed with SIGKILL in the middle of a booking — after the provider hold,
//! after the charge, before the provider confirmation — and started again.
//! The sandbox runs in the test process, so it survives the kill, and its
//! payment and orders ledgers are reconciled with the store afterwards: no
//! charge without a confirmed booking (or its refund), no confirmed booking
//! without a charge, no hold left past its deadline.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::{Value, json};

use crate::booking::{CREATE_BOOKING, PAY_FOR_BOOKING, adult, contact, document};
use crate::helpers::{ServerProcess, eventually, fresh_postgres_database, redis_url, unique_prefix};

struct Crash {
    sandbox: String,
    env: Vec<(&'static str, String)>,
    http: reqwest::Client,
}

impl Crash {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sandbox = format!("http://{}", listener.local_addr().unwrap());
        let config = wayfarer::sandbox::SandboxConfig::default();
        let c = config.clone();
        tokio::spawn(wayfarer::sandbox::serve(listener, config, std::future::pending()));
        let env = vec![
            ("REDIS_URL", redis_url()),
            ("DATABASE_URL", fresh_postgres_database().await),
            ("WAYFARER_REDIS__KEY_PREFIX", unique_prefix()),
            ("WAYFARER_PROVIDERS__AMADEUS__BASE_URL", sandbox.clone()),
            ("WAYFARER_PROVIDERS__AMADEUS__CLIENT_ID", c.amadeus_client_id.clone()),
            ("WAYFARER_PROVIDERS__AMADEUS__CLIENT_SECRET", c.amadeus_client_secret.clone()),
            ("WAYFARER_PROVIDERS__DUFFEL__BASE_URL", sandbox.clone()),
            ("WAYFARER_PROVIDERS__DUFFEL__TOKEN", c.duffel_token.clone()),
            ("WAYFARER_PAYMENTS__BASE_URL", sandbox.clone()),
            ("WAYFARER_PAYMENTS__SECRET_KEY", c.stripe_secret_key.clone()),
            ("WAYFARER_PAYMENTS__WEBHOOK_SECRET", c.stripe_webhook_secret.clone()),
            ("WAYFARER_PAYMENTS__REQUEST_TIMEOUT", "1s".to_owned()),
            ("WAYFARER_BOOKING__RECOVERY_AFTER", "3s".to_owned()),
            ("WAYFARER_BOOKING__SWEEP_INTERVAL", "500ms".to_owned()),
        ];
        Self { sandbox, env, http: reqwest::Client::new() }
    }

    async fn server(&self) -> ServerProcess {
        ServerProcess::start(&self.env).await
    }

    async fn control(&self, path: &str, body: Value) {
        let response = self.http.put(format!("{}{path}", self.sandbox)).json(&body).send().await.unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
    }

    async fn get(&self, path: &str) -> Value {
        self.http.get(format!("{}{path}", self.sandbox)).send().await.unwrap().json().await.unwrap()
    }

    async fn charges(&self, booking: &str, kind: &str) -> usize {
        let ledger = self.get("/_sandbox/payments/ledger").await;
        ledger["entries"].as_array().unwrap().iter().filter(|e| e["bookingId"] == booking && e["kind"] == kind).count()
    }

    async fn order_status(&self, booking: &str) -> Vec<String> {
        let orders = self.get("/_sandbox/orders").await;
        orders["orders"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["clientReference"] == booking)
            .map(|o| o["status"].as_str().unwrap_or("").to_ascii_uppercase())
            .collect()
    }

    async fn orders_for_none(&self) -> Vec<Value> {
        self.get("/_sandbox/orders").await["orders"].as_array().unwrap().clone()
    }
}

async fn graphql(
    http: &reqwest::Client,
    server: &ServerProcess,
    query: &str,
    variables: Value,
    token: Option<&str>,
) -> Value {
    let mut request =
        http.post(format!("http://{}/graphql", server.addr)).json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().json().await.unwrap()
}

async fn session_and_offer(crash: &Crash, server: &ServerProcess, days: i64) -> (String, String) {
    let started = graphql(&crash.http, server, crate::helpers::START_SESSION, json!({}), None).await;
    let token = started["data"]["startSession"]["token"].as_str().unwrap().to_owned();
    let day = (chrono::Utc::now().date_naive() + chrono::Duration::days(days)).to_string();
    let search = "query S($input: FlightSearchInput!) { searchFlights(input: $input) { offers { id provider } } }";
    let found = graphql(
        &crash.http,
        server,
        search,
        json!({ "input": { "origin": "LIS", "destination": "MAD", "departureDate": day } }),
        Some(&token),
    )
    .await;
    let offer = found["data"]["searchFlights"]["offers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["provider"] == "amadeus")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (token, offer)
}

async fn book(crash: &Crash, server: &ServerProcess, token: &str, offer: &str) -> String {
    let input = json!({ "offerId": offer, "travelers": [adult("Ana", "Silva")], "contact": contact() });
    let body = graphql(&crash.http, server, &document(CREATE_BOOKING), json!({ "input": input }), Some(token)).await;
    body["data"]["createBooking"]["booking"]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned()
}

async fn status_of(crash: &Crash, server: &ServerProcess, token: &str, booking: &str) -> String {
    let query = "query B($id: ID!) { booking(id: $id) { status } }";
    let body = graphql(&crash.http, server, query, json!({ "id": booking }), Some(token)).await;
    body["data"]["booking"]["status"].as_str().unwrap_or("").to_owned()
}

/// Sends a payment on its own task and kills the server once `ready` holds.
async fn pay_and_kill(
    crash: &Crash,
    mut server: ServerProcess,
    token: &str,
    booking: &str,
    ready: impl AsyncFn() -> bool,
) {
    let http = crash.http.clone();
    let url = format!("http://{}/graphql", server.addr);
    let input =
        json!({ "bookingId": booking, "paymentMethod": "pm_card_visa", "idempotencyKey": format!("crash-{booking}") });
    let body = json!({ "query": document(PAY_FOR_BOOKING), "variables": { "input": input } });
    let token = token.to_owned();
    let request = tokio::spawn(async move { http.post(url).bearer_auth(token).json(&body).send().await });
    assert!(eventually(Duration::from_secs(10), ready).await, "the crash point was reached");
    server.child.kill().await.unwrap();
    let _ = request.await;
}

#[tokio::test]
async fn killed_after_the_charge_the_restarted_server_confirms_with_one_charge() {
    let crash = Crash::start().await;
    let server = crash.server().await;
    let (token, offer) = session_and_offer(&crash, &server, 60).await;
    let booking = book(&crash, &server, &token, &offer).await;
    // The charge happens; its answer never comes while the server lives.
    crash
        .control(
            "/_sandbox/personalities/stripe",
            json!({ "timeoutAfterChargeNext": 1, "timeoutAfterChargeMs": 20000 }),
        )
        .await;
    pay_and_kill(&crash, server, &token, &booking, async || crash.charges(&booking, "charge").await == 1).await;

    let restarted = crash.server().await;
    let confirmed = eventually(Duration::from_secs(30), async || {
        status_of(&crash, &restarted, &token, &booking).await == "CONFIRMED"
    })
    .await;
    assert!(confirmed, "recovered to {}", status_of(&crash, &restarted, &token, &booking).await);
    assert_eq!((crash.charges(&booking, "charge").await, crash.charges(&booking, "refund").await), (1, 0));
    assert_eq!(crash.order_status(&booking).await, ["CONFIRMED"]);
}

#[tokio::test]
async fn killed_before_the_confirmation_answer_the_restarted_server_confirms_once() {
    let crash = Crash::start().await;
    let server = crash.server().await;
    let (token, offer) = session_and_offer(&crash, &server, 61).await;
    let booking = book(&crash, &server, &token, &offer).await;
    crash.control("/_sandbox/personalities/amadeus", json!({ "confirmDelayMs": 20000 })).await;
    pay_and_kill(&crash, server, &token, &booking, async || crash.order_status(&booking).await == ["CONFIRMED"]).await;
    crash.control("/_sandbox/personalities/amadeus", json!({ "confirmDelayMs": 0 })).await;

    let restarted = crash.server().await;
    let confirmed = eventually(Duration::from_secs(30), async || {
        status_of(&crash, &restarted, &token, &booking).await == "CONFIRMED"
    })
    .await;
    assert!(confirmed, "recovered to {}", status_of(&crash, &restarted, &token, &booking).await);
    assert_eq!((crash.charges(&booking, "charge").await, crash.charges(&booking, "refund").await), (1, 0));
    assert_eq!(crash.order_status(&booking).await, ["CONFIRMED"]);
}

#[tokio::test]
async fn killed_after_the_hold_the_booking_fails_unpaid_and_the_hold_lapses() {
    let crash = Crash::start().await;
    let mut server = crash.server().await;
    let (token, offer) = session_and_offer(&crash, &server, 62).await;
    crash.control("/_sandbox/personalities/amadeus", json!({ "orderDelayMs": 20000, "holdExpiresIn": 4 })).await;
    let before = crash.orders_for_none().await.len();
    let http = crash.http.clone();
    let url = format!("http://{}/graphql", server.addr);
    let input = json!({ "offerId": offer, "travelers": [adult("Ana", "Silva")], "contact": contact() });
    let body = json!({ "query": document(CREATE_BOOKING), "variables": { "input": input } });
    let bearer = token.clone();
    let request = tokio::spawn(async move { http.post(url).bearer_auth(bearer).json(&body).send().await });
    assert!(eventually(Duration::from_secs(10), async || crash.orders_for_none().await.len() == before + 1).await);
    server.child.kill().await.unwrap();
    let _ = request.await;
    crash.control("/_sandbox/personalities/amadeus", json!({ "orderDelayMs": 0 })).await;

    let restarted = crash.server().await;
    let list = "query { bookings { id status } }";
    let failed = eventually(Duration::from_secs(30), async || {
        let body = graphql(&crash.http, &restarted, list, json!({}), Some(&token)).await;
        body["data"]["bookings"].as_array().is_some_and(|b| b.len() == 1 && b[0]["status"] == "FAILED")
    })
    .await;
    assert!(failed, "the interrupted hold ends FAILED");
    let body = graphql(&crash.http, &restarted, list, json!({}), Some(&token)).await;
    let booking = body["data"]["bookings"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(crash.charges(&booking, "charge").await, 0, "nothing charged");
    let lapsed = eventually(Duration::from_secs(10), async || {
        crash.order_status(&booking).await.iter().all(|s| s == "LAPSED" || s == "CANCELLED")
    })
    .await;
    assert!(lapsed, "no hold is left past its deadline: {:?}", crash.order_status(&booking).await);
}
