//! Payment links end to end against the bundled sandbox, which sends its
//! signed webhooks to the server's `/webhooks/payments` by itself: the
//! hosted page paid or declined, duplicate, redelivered and reordered
//! deliveries processed once, forged and stale signatures refused, a link
//! and a direct payment for one booking netting one charge, session
//! isolation and state rules — and the server's log kept free of card
//! numbers and session tokens.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::{Value, json};
use wayfarer::booking::model::BookingEventKind;
use wayfarer::events::{EventStream, Topic};

use crate::booking::{
    CREATE_PAYMENT_LINK, Client, PAY_FOR_BOOKING, cents, codes, document, drain, kinds_for, ledger, sandbox,
    set_personality,
};
use crate::helpers::{Backend, ServerProcess, TestApp, eventually};

const WITHIN: Duration = Duration::from_secs(10);

/// A held booking of `client`; its id and total (minor units).
async fn held(client: &Client<'_>) -> (String, i64) {
    let offer = client.offers("duffel", "MAD", 30, json!({})).await[0].clone();
    let booking = client.book(offer["id"].as_str().unwrap()).await;
    (booking["id"].as_str().unwrap().to_owned(), cents(&booking["total"]["amount"]))
}

/// `createPaymentLink`'s answer (the whole body, errors included).
async fn create_link(client: &Client<'_>, booking: &str) -> Value {
    client.run(CREATE_PAYMENT_LINK, json!({ "bookingId": booking })).await
}

async fn link_url(client: &Client<'_>, booking: &str) -> String {
    let body = create_link(client, booking).await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["createPaymentLink"]["url"].as_str().unwrap().to_owned()
}

/// Pays on the hosted page with a test token, as the page's form does; the status.
pub(crate) async fn pay_on_page(url: &str, token: &str) -> u16 {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = http
        .post(format!("{url}/pay"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("payment_method={token}"))
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

async fn status_of(client: &Client<'_>, booking: &str) -> Value {
    client.booking(booking).await["data"]["booking"].clone()
}

async fn wait_for_status(client: &Client<'_>, booking: &str, status: &str) -> Value {
    let reached = eventually(WITHIN, async || status_of(client, booking).await["status"] == status).await;
    let current = status_of(client, booking).await;
    assert!(reached, "booking {booking} never became {status}: {current}");
    current
}

/// Deliveries the server answered 2xx, of events of `kind`.
async fn accepted(app: &TestApp, kind: &str) -> usize {
    let webhooks = sandbox(app, reqwest::Method::GET, "/_sandbox/webhooks", None).await;
    webhooks["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["type"] == kind && d["status"].as_u64().is_some_and(|s| (200..300).contains(&s)))
        .count()
}

async fn wait_accepted(app: &TestApp, kind: &str, count: usize) {
    assert!(eventually(WITHIN, async || accepted(app, kind).await >= count).await, "{count} {kind} deliveries");
}

/// Ids of the recorded events of `kind`.
async fn event_ids(app: &TestApp, kind: &str) -> Vec<String> {
    let webhooks = sandbox(app, reqwest::Method::GET, "/_sandbox/webhooks", None).await;
    webhooks["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == kind)
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The booking events of `booking` seen on the bus so far.
fn seen_for(events: &mut EventStream, booking: &str) -> Vec<BookingEventKind> {
    drain(events).into_iter().filter(|(_, id)| id == booking).map(|(kind, _)| kind).collect()
}

/// Net money taken for a booking (charged minus refunded), minor units, and the charge count.
async fn net(app: &TestApp, booking: &str) -> (i64, usize) {
    let charges = ledger(app, booking, "charge").await;
    let refunds = ledger(app, booking, "refund").await;
    let sum = |entries: &[Value]| entries.iter().map(|e| e["amount"].as_i64().unwrap()).sum::<i64>();
    (sum(&charges) - sum(&refunds), charges.len())
}

#[tokio::test]
async fn a_link_paid_on_the_hosted_page_confirms_the_booking_once() {
    link_paid_once(Backend::Memory).await;
}

#[tokio::test]
async fn a_link_paid_on_the_hosted_page_confirms_the_booking_once_on_redis_and_postgres() {
    link_paid_once(Backend::Redis).await;
}

async fn link_paid_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = Client::new(&app).await;
    let mut events = app.state.bus().subscribe(&Topic::bookings());
    let (id, total) = held(&client).await;

    let first = create_link(&client, &id).await;
    assert!(first.get("errors").is_none(), "{first}");
    let link = &first["data"]["createPaymentLink"];
    let url = link["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(app.state.sandbox_url().unwrap()), "the sandbox hosts the page: {url}");
    let booking = status_of(&client, &id).await;
    // The 20 minute hold ends before the gateway's 30 minute minimum: the link answers the hold's end.
    assert_eq!(link["expiresAt"], booking["expiresAt"], "{first}");
    assert_eq!(create_link(&client, &id).await["data"]["createPaymentLink"]["url"], url.as_str(), "the same page");

    let page = app.http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<form") && html.contains("/pay\""), "{html}");
    assert!(!html.contains("<script") && !html.contains("src=\"http"), "no external resources: {html}");
    for external in html.match_indices("http").map(|(at, _)| &html[at..]) {
        let shown: String = external.chars().take(60).collect();
        assert!(external.starts_with(&app.url("/")), "only links back to this server: {shown}");
    }

    assert_eq!(pay_on_page(&url, "pm_card_visa").await, 303);
    let confirmed = wait_for_status(&client, &id, "CONFIRMED").await;
    assert!(confirmed["reference"].as_str().is_some_and(|r| !r.is_empty()), "{confirmed}");
    assert_eq!(confirmed["payments"].as_array().unwrap().len(), 1, "{confirmed}");
    assert_eq!(confirmed["payments"][0]["status"], "SUCCEEDED");
    assert_eq!(confirmed["payments"][0]["amount"], confirmed["total"]);
    assert_eq!(net(&app, &id).await, (total, 1));
    assert_eq!(ledger(&app, &id, "charge").await[0]["source"], "checkout");

    // Our own answer to `payment_intent.succeeded` too, then nothing more happened.
    wait_accepted(&app, "payment_intent.succeeded", 1).await;
    wait_accepted(&app, "checkout.session.completed", 1).await;
    assert_eq!(
        kinds_for(&mut events, &id, 3).await,
        [BookingEventKind::BookingCreated, BookingEventKind::PaymentSucceeded, BookingEventKind::BookingConfirmed]
    );
    assert_eq!(codes(&create_link(&client, &id).await), ["INVALID_STATE"], "a confirmed booking has no link");
    assert_eq!(seen_for(&mut events, &id), []);
    app.stop().await;
}

#[tokio::test]
async fn a_declined_card_on_the_page_leaves_the_booking_payable() {
    let app = TestApp::spawn(Backend::Memory).await;
    let client = Client::new(&app).await;
    let mut events = app.state.bus().subscribe(&Topic::bookings());
    let (id, total) = held(&client).await;
    let url = link_url(&client, &id).await;

    assert_eq!(pay_on_page(&url, "pm_card_chargeDeclinedInsufficientFunds").await, 402);
    wait_accepted(&app, "payment_intent.payment_failed", 1).await;
    let booking = status_of(&client, &id).await;
    assert_eq!(booking["status"], "PENDING_PAYMENT", "{booking}");
    assert_eq!(booking["payments"].as_array().unwrap().len(), 1, "{booking}");
    assert_eq!(booking["payments"][0]["status"], "DECLINED");
    assert_eq!(
        kinds_for(&mut events, &id, 2).await,
        [BookingEventKind::BookingCreated, BookingEventKind::PaymentFailed]
    );
    assert_eq!(net(&app, &id).await, (0, 0));

    // Still payable: the same page (one PaymentIntent, confirmed again) takes a good card.
    assert_eq!(link_url(&client, &id).await, url);
    assert_eq!(pay_on_page(&url, "pm_card_visa").await, 303);
    let confirmed = wait_for_status(&client, &id, "CONFIRMED").await;
    let statuses: Vec<&str> =
        confirmed["payments"].as_array().unwrap().iter().map(|p| p["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["DECLINED", "SUCCEEDED"]);
    assert_eq!(net(&app, &id).await, (total, 1));
    app.stop().await;
}

#[tokio::test]
async fn duplicate_and_redelivered_webhooks_are_processed_once() {
    let app = TestApp::spawn(Backend::Memory).await;
    set_personality(&app, "stripe", json!({ "duplicateWebhooks": true })).await;
    let client = Client::new(&app).await;
    let mut events = app.state.bus().subscribe(&Topic::bookings());
    let (id, total) = held(&client).await;
    let url = link_url(&client, &id).await;
    assert_eq!(pay_on_page(&url, "pm_card_visa").await, 303);
    wait_for_status(&client, &id, "CONFIRMED").await;
    wait_accepted(&app, "checkout.session.completed", 2).await;

    let completed = event_ids(&app, "checkout.session.completed").await;
    assert_eq!(completed.len(), 1);
    let redelivered =
        sandbox(&app, reqwest::Method::POST, &format!("/_sandbox/webhooks/{}/redeliver", completed[0]), None).await;
    assert_eq!(redelivered["deliveries"][0]["status"], 200, "{redelivered}");
    wait_accepted(&app, "checkout.session.completed", 3).await;

    let booking = status_of(&client, &id).await;
    assert_eq!(booking["status"], "CONFIRMED");
    assert_eq!(booking["payments"].as_array().unwrap().len(), 1, "{booking}");
    assert_eq!(net(&app, &id).await, (total, 1));
    assert_eq!(
        seen_for(&mut events, &id),
        [BookingEventKind::BookingCreated, BookingEventKind::PaymentSucceeded, BookingEventKind::BookingConfirmed]
    );
    app.stop().await;
}

#[tokio::test]
async fn reordered_webhooks_reach_the_same_end_state() {
    let app = TestApp::spawn(Backend::Memory).await;
    set_personality(&app, "stripe", json!({ "reorderWebhooks": true })).await;
    let client = Client::new(&app).await;
    let mut events = app.state.bus().subscribe(&Topic::bookings());
    let (id, total) = held(&client).await;
    let url = link_url(&client, &id).await;
    // A decline first, then the success: each action's events arrive last-first.
    assert_eq!(pay_on_page(&url, "pm_card_chargeDeclined").await, 402);
    wait_accepted(&app, "payment_intent.payment_failed", 1).await;
    assert_eq!(pay_on_page(&url, "pm_card_visa").await, 303);
    let confirmed = wait_for_status(&client, &id, "CONFIRMED").await;
    wait_accepted(&app, "payment_intent.succeeded", 1).await;
    wait_accepted(&app, "checkout.session.completed", 1).await;
    assert!(confirmed["reference"].as_str().is_some_and(|r| !r.is_empty()));
    let statuses: Vec<&str> =
        confirmed["payments"].as_array().unwrap().iter().map(|p| p["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["DECLINED", "SUCCEEDED"]);
    assert_eq!(net(&app, &id).await, (total, 1));
    assert_eq!(
        seen_for(&mut events, &id),
        [
            BookingEventKind::BookingCreated,
            BookingEventKind::PaymentFailed,
            BookingEventKind::PaymentSucceeded,
            BookingEventKind::BookingConfirmed
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn forged_and_stale_signatures_are_refused_and_change_nothing() {
    let app = TestApp::spawn(Backend::Memory).await;
    let client = Client::new(&app).await;
    let (id, _) = held(&client).await;
    let url = link_url(&client, &id).await;
    let checkout = url.rsplit('/').next().unwrap().to_owned();
    let secret = wayfarer::sandbox::SandboxConfig::default().stripe_webhook_secret;
    let event = |id: &str, checkout: &str| {
        serde_json::to_vec(&json!({
            "id": id, "object": "event", "type": "checkout.session.completed",
            "created": chrono::Utc::now().timestamp(), "livemode": false,
            "data": { "object": {
                "id": checkout, "object": "checkout.session", "payment_intent": "pi_forged",
                "client_reference_id": "bk", "amount_total": 1, "currency": "eur", "payment_status": "paid"
            } }
        }))
        .unwrap()
    };
    let post = async |payload: Vec<u8>, signature: Option<String>| {
        let mut request = app.http.post(app.url("/webhooks/payments")).body(payload);
        if let Some(signature) = signature {
            request = request.header("Stripe-Signature", signature);
        }
        request.send().await.unwrap().status().as_u16()
    };
    let now = chrono::Utc::now().timestamp();
    let forged = event("evt_forged", &checkout);
    let sign = wayfarer::payments::webhook::sign;
    assert_eq!(post(forged.clone(), Some(sign(&forged, "whsec_not_ours", now))).await, 400);
    assert_eq!(post(forged.clone(), None).await, 400);
    let other_body = event("evt_other", &checkout);
    let lifted = format!("t={now},v1={}", wayfarer::payments::webhook::signature(&other_body, &secret, now));
    assert_eq!(post(forged.clone(), Some(lifted)).await, 400, "a signature of another body");
    assert_eq!(post(forged.clone(), Some(sign(&forged, &secret, now - 3600))).await, 400, "signed an hour ago");
    assert_eq!(post(forged.clone(), Some(sign(&forged, &secret, now + 3600))).await, 400, "signed in the future");
    let booking = status_of(&client, &id).await;
    assert_eq!((booking["status"].clone(), booking["payments"].clone()), (json!("PENDING_PAYMENT"), json!([])));

    // The control: a well-signed event is accepted (this one names no page of ours, so it is ignored).
    let unknown = event("evt_unknown_page", "cs_test_not_ours");
    assert_eq!(post(unknown.clone(), Some(sign(&unknown, &secret, now))).await, 200);
    assert_eq!(status_of(&client, &id).await["payments"], json!([]));
    assert_eq!(net(&app, &id).await, (0, 0));
    app.stop().await;
}

#[tokio::test]
async fn a_link_and_a_direct_payment_net_one_charge() {
    let app = TestApp::spawn(Backend::Memory).await;
    let client = Client::new(&app).await;
    let mut events = app.state.bus().subscribe(&Topic::bookings());

    // The link's webhook arrives after the direct payment confirmed the booking:
    // the link's charge is refunded.
    set_personality(&app, "stripe", json!({ "webhookDelayMs": 2500 })).await;
    let (late, total) = held(&client).await;
    let url = link_url(&client, &late).await;
    assert_eq!(pay_on_page(&url, "pm_card_visa").await, 303);
    let paid = client.pay(&late, "pm_card_mastercard", &format!("direct-{late}")).await;
    assert_eq!(paid["data"]["payForBooking"]["booking"]["status"], "CONFIRMED", "{paid}");
    assert!(eventually(WITHIN, async || ledger(&app, &late, "refund").await.len() == 1).await, "the link refunded");
    wait_accepted(&app, "checkout.session.completed", 1).await;
    assert_eq!(net(&app, &late).await, (total, 2));
    let late_link = ledger(&app, &late, "charge").await.into_iter().find(|c| c["source"] == "checkout").unwrap();
    assert_eq!(ledger(&app, &late, "refund").await[0]["paymentIntent"], late_link["paymentIntent"], "the link's");
    let booking = status_of(&client, &late).await;
    assert_eq!(booking["status"], "CONFIRMED");
    let mut statuses: Vec<&str> =
        booking["payments"].as_array().unwrap().iter().map(|p| p["status"].as_str().unwrap()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, ["REFUNDED", "SUCCEEDED"], "{booking}");
    let seen = seen_for(&mut events, &late);
    assert_eq!(seen.iter().filter(|k| **k == BookingEventKind::BookingConfirmed).count(), 1, "{seen:?}");

    // The link's webhook arrives while the direct charge is in flight: the
    // link's charge stands, the direct one is refunded, the booking confirmed once.
    set_personality(&app, "stripe", json!({ "webhookDelayMs": 0, "chargeDelayMs": 1500 })).await;
    let (racing, total) = held(&client).await;
    let url = link_url(&client, &racing).await;
    let direct = {
        let input = json!({ "bookingId": racing, "paymentMethod": "pm_card_mastercard", "idempotencyKey": format!("direct-{racing}") });
        let request = app
            .http
            .post(app.url("/graphql"))
            .bearer_auth(&client.token)
            .json(&json!({ "query": document(PAY_FOR_BOOKING), "variables": { "input": input } }));
        tokio::spawn(async move { request.send().await.unwrap().json::<Value>().await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(pay_on_page(&url, "pm_card_visa").await, 303);
    let answer = direct.await.unwrap();
    let confirmed = wait_for_status(&client, &racing, "CONFIRMED").await;
    assert!(eventually(WITHIN, async || ledger(&app, &racing, "refund").await.len() == 1).await, "one refunded");
    assert_eq!(net(&app, &racing).await, (total, 2), "{answer}");
    let link_charge = &ledger(&app, &racing, "charge").await.into_iter().find(|c| c["source"] == "checkout").unwrap();
    assert_ne!(ledger(&app, &racing, "refund").await[0]["paymentIntent"], link_charge["paymentIntent"]);
    assert!(confirmed["reference"].as_str().is_some_and(|r| !r.is_empty()));
    let seen = seen_for(&mut events, &racing);
    assert_eq!(seen.iter().filter(|k| **k == BookingEventKind::BookingConfirmed).count(), 1, "{seen:?}");
    app.stop().await;
}

#[tokio::test]
async fn links_only_for_the_sessions_own_payable_bookings() {
    let app = TestApp::spawn(Backend::Memory).await;
    let owner = Client::new(&app).await;
    let stranger = Client::new(&app).await;
    let (id, _) = held(&owner).await;
    let theirs = create_link(&stranger, &id).await;
    let unknown = create_link(&stranger, "bk_does_not_exist").await;
    assert_eq!(codes(&theirs), ["NOT_FOUND"]);
    assert_eq!(theirs["errors"][0]["message"], unknown["errors"][0]["message"], "indistinguishable");
    assert_eq!(theirs["data"], unknown["data"]);

    let paid = owner.pay(&id, "pm_card_visa", &format!("pay-{id}")).await;
    assert_eq!(paid["data"]["payForBooking"]["booking"]["status"], "CONFIRMED", "{paid}");
    assert_eq!(codes(&create_link(&owner, &id).await), ["INVALID_STATE"]);
    let (cancelled, _) = held(&owner).await;
    owner.cancel(&cancelled).await;
    assert_eq!(codes(&create_link(&owner, &cancelled).await), ["INVALID_STATE"]);
    app.stop().await;
}

#[tokio::test]
async fn card_numbers_and_session_tokens_stay_out_of_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("wayfarer.log");
    let env = [("RUST_LOG", "debug,hyper=info,h2=info".to_owned())];
    let server = ServerProcess::start_with_log(&env, Some(&log)).await;
    let http = reqwest::Client::new();
    let graphql = async |query: &str, variables: Value, token: Option<&str>| {
        let mut request = http
            .post(format!("http://{}/graphql", server.addr))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap().json::<Value>().await.unwrap()
    };
    let started = graphql(crate::helpers::START_SESSION, json!({}), None).await;
    let token = started["data"]["startSession"]["token"].as_str().unwrap().to_owned();
    let day = (chrono::Utc::now().date_naive() + chrono::Duration::days(30)).to_string();
    let search = "query S($input: FlightSearchInput!) { searchFlights(input: $input) { offers { id provider } } }";
    let found = graphql(
        search,
        json!({ "input": { "origin": "LIS", "destination": "MAD", "departureDate": day } }),
        Some(&token),
    )
    .await;
    let offer = found["data"]["searchFlights"]["offers"][0]["id"].as_str().unwrap().to_owned();
    let input = json!({ "offerId": offer, "travelers": [crate::booking::adult("Ana", "Silva")], "contact": crate::booking::contact() });
    let booked = graphql(&document(crate::booking::CREATE_BOOKING), json!({ "input": input }), Some(&token)).await;
    let booking = booked["data"]["createBooking"]["booking"]["id"].as_str().unwrap().to_owned();
    for (method, key) in [("4242 4242 4242 4242", "card-spaced-1"), ("4242424242424242", "card-plain-1")] {
        let input = json!({ "bookingId": booking, "paymentMethod": method, "idempotencyKey": key });
        let refused = graphql(&document(PAY_FOR_BOOKING), json!({ "input": input }), Some(&token)).await;
        assert_eq!(codes(&refused), ["BAD_USER_INPUT"], "{refused}");
        assert!(!refused.to_string().contains("4242424242424242"), "not echoed: {refused}");
    }
    let linked = graphql(CREATE_PAYMENT_LINK, json!({ "bookingId": booking }), Some(&token)).await;
    assert!(linked["data"]["createPaymentLink"]["url"].is_string(), "{linked}");
    server.terminate();
    let mut server = server;
    let _ = tokio::time::timeout(Duration::from_secs(10), server.child.wait()).await;

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("Wayfarer is serving"), "the log was captured: {} bytes", text.len());
    for secret in ["4242424242424242", "4242 4242 4242 4242", token.as_str()] {
        assert!(!text.contains(secret), "{secret:?} is in the log");
    }
}
