//! The Stripe-style adapter against the sandbox's Stripe personality over
//! real HTTP: charges and declines, idempotent replays and conflicts, one
//! charge under concurrency, refunds, lost answers after a charge and how
//! they reconcile, and the hosted page's signed webhooks as a receiver sees
//! them. Every claim is checked against the sandbox's ledger or delivery
//! log, never against timing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use wayfarer::flights::model::Money;
use wayfarer::flights::providers::ProviderHttp;
use wayfarer::payments::stripe::StripeGateway;
use wayfarer::payments::webhook::{self, PaymentEvent, WebhookEvent};
use wayfarer::payments::{
    Charge, ChargeRequest, ChargeStatus, CheckoutRequest, CheckoutStatus, GatewayError, PaymentGateway, RefundStatus,
};

/// A sandbox of this test's own.
struct Sandbox {
    base: String,
    config: wayfarer::sandbox::SandboxConfig,
    client: reqwest::Client,
}

impl Sandbox {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let config = wayfarer::sandbox::SandboxConfig::default();
        tokio::spawn(wayfarer::sandbox::serve(listener, config.clone(), std::future::pending()));
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Self { base, config, client }
    }

    fn gateway_with_timeout(&self, timeout: Duration) -> StripeGateway {
        let settings = wayfarer::config::HttpClientSettings { timeout, ..Default::default() };
        let http =
            ProviderHttp::new(&settings, true, 10_000.0, Arc::new(tokio::sync::Semaphore::new(64))).expect("http");
        StripeGateway::new(&self.base, self.config.stripe_secret_key.clone().into(), http)
    }

    fn gateway(&self) -> StripeGateway {
        self.gateway_with_timeout(Duration::from_secs(10))
    }

    async fn set(&self, settings: Value) {
        let url = format!("{}/_sandbox/personalities/stripe", self.base);
        let response = self.client.put(url).json(&settings).send().await.expect("control");
        assert!(response.status().is_success(), "{}", response.text().await.unwrap_or_default());
    }

    async fn get(&self, path: &str) -> Value {
        let response = self.client.get(format!("{}{path}", self.base)).send().await.expect("get");
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.expect("json")
    }

    async fn ledger(&self) -> Vec<Value> {
        self.get("/_sandbox/payments/ledger").await["entries"].as_array().cloned().unwrap_or_default()
    }

    async fn ledger_of(&self, kind: &str) -> Vec<Value> {
        self.ledger().await.into_iter().filter(|e| e["kind"] == kind).collect()
    }

    async fn calls(&self, kind: &str) -> u64 {
        let calls = self.get("/_sandbox/calls").await;
        calls["stripe"][kind].as_u64().unwrap_or_else(|| panic!("no counter stripe.{kind}: {calls}"))
    }

    /// A raw, authenticated form POST, for what the adapter does not expose (headers).
    async fn raw_post(&self, path: &str, key: &str, body: &str) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.config.stripe_secret_key)
            .header("Idempotency-Key", key)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
            .await
            .expect("post")
    }
}

fn eur(amount: &str) -> Money {
    Money { amount: amount.parse::<Decimal>().expect("decimal"), currency: "EUR".into() }
}

fn charge(booking: &str, token: &str, amount: &str, key: &str) -> ChargeRequest {
    ChargeRequest {
        amount: eur(amount),
        payment_method: token.into(),
        booking_id: booking.into(),
        idempotency_key: key.into(),
        description: Some("Lisbon to Frankfurt".into()),
    }
}

#[tokio::test]
async fn a_visa_charge_succeeds_and_is_in_the_ledger() {
    let sandbox = Sandbox::start().await;
    let gateway = sandbox.gateway();
    gateway.ping().await.expect("the balance answers");
    let paid = gateway.create_payment(&charge("bk_1", "pm_card_visa", "342.20", "key-1")).await.expect("charge");
    assert_eq!(paid.status, ChargeStatus::Succeeded);
    assert!(paid.id.starts_with("pi_"), "{paid:?}");
    assert_eq!(paid.amount, eur("342.20"));
    assert_eq!(paid.booking_id.as_deref(), Some("bk_1"));
    assert_eq!(paid.payment_method.as_deref(), Some("pm_card_visa"));
    assert!(paid.latest_charge.as_deref().is_some_and(|c| c.starts_with("ch_")));
    assert_eq!(gateway.retrieve_payment(&paid.id).await.expect("retrieve"), paid);

    let ledger = sandbox.ledger().await;
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    let entry = &ledger[0];
    assert_eq!(entry["kind"], "charge");
    assert_eq!(entry["amount"], 34220);
    assert_eq!(entry["currency"], "eur");
    assert_eq!(entry["paymentIntent"], json!(paid.id));
    assert_eq!(entry["idempotencyKey"], "key-1");
    assert_eq!(entry["bookingId"], "bk_1");
    assert_eq!(sandbox.calls("paymentIntentCreate").await, 1);
    assert_eq!(sandbox.calls("paymentIntentGet").await, 1);

    let mastercard = gateway.create_payment(&charge("bk_2", "pm_card_mastercard", "10", "key-2")).await.expect("mc");
    assert_eq!(mastercard.status, ChargeStatus::Succeeded);
    let yen = ChargeRequest {
        amount: Money { amount: Decimal::from(15_000), currency: "JPY".into() },
        ..charge("bk_3", "pm_card_visa", "1", "key-3")
    };
    assert_eq!(gateway.create_payment(&yen).await.expect("yen").amount, yen.amount);
    let totals = sandbox.get("/_sandbox/payments/ledger").await["totals"].clone();
    assert_eq!(totals["eur"]["charged"], 35220, "{totals}");
    assert_eq!(totals["jpy"]["charged"], 15000, "zero-decimal currencies are sent in yen: {totals}");
}

#[tokio::test]
async fn each_decline_token_is_a_declined_charge_not_an_error() {
    let sandbox = Sandbox::start().await;
    let gateway = sandbox.gateway();
    for (token, code) in [
        ("pm_card_chargeDeclined", "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card"),
    ] {
        let declined = gateway.create_payment(&charge("bk_d", token, "50", token)).await.expect("a decline is Ok");
        match &declined.status {
            ChargeStatus::Declined { code: got, message } => {
                assert_eq!(got, code, "{token}");
                assert!(!message.is_empty(), "{token}: a message to show");
            }
            other => panic!("{token}: expected a decline, got {other:?}"),
        }
        assert_eq!(declined.amount, eur("50"));
        // Retrieving it later tells the same story, from last_payment_error.
        let read = gateway.retrieve_payment(&declined.id).await.expect("retrieve");
        assert_eq!(read.status, declined.status, "{token}");
    }
    let declines = sandbox.ledger_of("decline").await;
    let codes: Vec<&str> = declines.iter().filter_map(|e| e["declineCode"].as_str()).collect();
    assert_eq!(codes, ["generic_decline", "insufficient_funds", "expired_card"]);
    assert!(sandbox.ledger_of("charge").await.is_empty(), "nothing was taken");

    match gateway.create_payment(&charge("bk_d", "pm_card_unknown", "50", "unknown")).await {
        Err(GatewayError::InvalidRequest { code, param, .. }) => {
            assert_eq!((code.as_deref(), param.as_deref()), (Some("resource_missing"), Some("payment_method")));
        }
        other => panic!("expected an invalid request, got {other:?}"),
    }
    assert_eq!(sandbox.ledger().await.len(), 3, "an unknown token charges nothing");
}

#[tokio::test]
async fn a_replayed_key_returns_the_first_answer_and_charges_once() {
    let sandbox = Sandbox::start().await;
    let gateway = sandbox.gateway();
    let request = charge("bk_r", "pm_card_visa", "120.00", "replay-key");
    let first = gateway.create_payment(&request).await.expect("first");
    let again = gateway.create_payment(&request).await.expect("replay");
    assert_eq!(again, first, "the same PaymentIntent, byte for byte");
    assert_eq!(sandbox.ledger_of("charge").await.len(), 1);

    // A decline is stored and replayed too.
    let declined = charge("bk_r", "pm_card_chargeDeclined", "120.00", "declined-key");
    let first_decline = gateway.create_payment(&declined).await.expect("decline");
    assert_eq!(gateway.create_payment(&declined).await.expect("replayed decline"), first_decline);
    assert_eq!(sandbox.ledger_of("decline").await.len(), 1);

    // On the wire: the stored body, marked as a replay.
    let body = "amount=500&currency=eur&payment_method=pm_card_visa&confirm=true&payment_method_types[]=card";
    let one = sandbox.raw_post("/v1/payment_intents", "raw-key", body).await;
    assert_eq!(one.status(), StatusCode::OK);
    assert!(one.headers().get("idempotent-replayed").is_none());
    assert!(one.headers().get("request-id").is_some());
    let one = one.bytes().await.expect("body");
    let two = sandbox.raw_post("/v1/payment_intents", "raw-key", body).await;
    assert_eq!(two.headers().get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    assert_eq!(two.headers().get("idempotency-key").and_then(|v| v.to_str().ok()), Some("raw-key"));
    assert_eq!(two.bytes().await.expect("body"), one);
    // The same key on another endpoint is refused.
    let elsewhere = sandbox.raw_post("/v1/refunds", "raw-key", "payment_intent=pi_x").await;
    assert_eq!(elsewhere.status(), StatusCode::BAD_REQUEST);
    let error: Value = elsewhere.json().await.expect("json");
    assert_eq!(error["error"]["type"], "idempotency_error", "{error}");
    assert_eq!(sandbox.ledger_of("charge").await.len(), 2);
}

#[tokio::test]
async fn the_same_key_with_another_amount_is_an_idempotency_conflict() {
    let sandbox = Sandbox::start().await;
    let gateway = sandbox.gateway();
    gateway.create_payment(&charge("bk_c", "pm_card_visa", "100", "conflict-key")).await.expect("first");
    match gateway.create_payment(&charge("bk_c", "pm_card_visa", "101", "conflict-key")).await {
        Err(error @ GatewayError::IdempotencyConflict(_)) => assert!(!error.outcome_unknown()),
        other => panic!("expected an idempotency conflict, got {other:?}"),
    }
    let charges = sandbox.ledger_of("charge").await;
    assert_eq!(charges.len(), 1);
    assert_eq!(charges[0]["amount"], 10000);
}

#[tokio::test]
async fn fifty_concurrent_creates_with_one_key_charge_once() {
    let sandbox = Sandbox::start().await;
    // The charge holds its key long enough for the others to collide with it.
    sandbox.set(json!({ "chargeDelayMs": 500 })).await;
    let gateway = Arc::new(sandbox.gateway());
    let request = charge("bk_cc", "pm_card_visa", "77.70", "concurrent-key");
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (gateway, request) = (gateway.clone(), request.clone());
        tasks.push(tokio::spawn(async move { gateway.create_payment(&request).await }));
    }
    let mut ids = std::collections::BTreeSet::new();
    let mut in_use = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(Charge { id, status: ChargeStatus::Succeeded, .. }) => {
                ids.insert(id);
            }
            Err(GatewayError::KeyInUse) => in_use += 1,
            other => panic!("expected the charge or key-in-use, got {other:?}"),
        }
    }
    assert_eq!(ids.len(), 1, "every answer names the one PaymentIntent: {ids:?}");
    assert!(in_use < 50);
    let charges = sandbox.ledger_of("charge").await;
    assert_eq!(charges.len(), 1, "{charges:?}");
    assert_eq!(charges[0]["amount"], 7770);

    // On the wire, a request that arrives while the key is held gets 409.
    let body = "amount=100&currency=eur&payment_method=pm_card_visa&confirm=true&payment_method_types[]=card";
    let before = sandbox.calls("paymentIntentCreate").await;
    let first = sandbox.raw_post("/v1/payment_intents", "held-key", body);
    let second = async {
        // Once the first is counted it holds the key for the charge delay.
        while sandbox.calls("paymentIntentCreate").await == before {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        sandbox.raw_post("/v1/payment_intents", "held-key", body).await
    };
    let (first, second) = tokio::join!(first, second);
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(second.status(), StatusCode::CONFLICT);
    let error: Value = second.json().await.expect("json");
    assert_eq!(error["error"]["code"], "idempotency_key_in_use", "{error}");
    assert_eq!(sandbox.ledger_of("charge").await.len(), 2);
}

#[tokio::test]
async fn refunds_are_partial_or_full_and_never_exceed_the_charge() {
    let sandbox = Sandbox::start().await;
    let gateway = sandbox.gateway();
    let paid = gateway.create_payment(&charge("bk_f", "pm_card_visa", "342.20", "pay-f")).await.expect("charge");

    let partial = gateway.refund(&paid.id, Some(&eur("100.00")), "refund-1").await.expect("partial");
    assert_eq!((partial.status, partial.amount.clone()), (RefundStatus::Succeeded, eur("100.00")));
    assert_eq!(partial.payment_id, paid.id);
    assert_eq!(gateway.refund(&paid.id, Some(&eur("100.00")), "refund-1").await.expect("replay"), partial);

    match gateway.refund(&paid.id, Some(&eur("300.00")), "refund-2").await {
        Err(GatewayError::InvalidRequest { code, .. }) => assert_eq!(code.as_deref(), Some("amount_too_large")),
        other => panic!("expected an over-refund refusal, got {other:?}"),
    }
    let rest = gateway.refund(&paid.id, None, "refund-3").await.expect("the rest");
    assert_eq!(rest.amount, eur("242.20"));
    match gateway.refund(&paid.id, None, "refund-4").await {
        Err(GatewayError::InvalidRequest { code, .. }) => assert_eq!(code.as_deref(), Some("charge_already_refunded")),
        other => panic!("expected already refunded, got {other:?}"),
    }
    let declined =
        gateway.create_payment(&charge("bk_f", "pm_card_chargeDeclined", "5", "pay-g")).await.expect("decline");
    assert!(matches!(gateway.refund(&declined.id, None, "refund-5").await, Err(GatewayError::InvalidRequest { .. })));

    let refunds = sandbox.ledger_of("refund").await;
    let amounts: Vec<i64> = refunds.iter().filter_map(|e| e["amount"].as_i64()).collect();
    assert_eq!(amounts, [10000, 24220], "one entry per refund, the replay not repeated");
    assert!(refunds.iter().all(|e| e["bookingId"] == "bk_f" && e["paymentIntent"] == json!(paid.id)));
    let totals = sandbox.get("/_sandbox/payments/ledger").await["totals"]["eur"].clone();
    assert_eq!(
        (totals["charged"].as_i64(), totals["refunded"].as_i64(), totals["net"].as_i64()),
        (Some(34220), Some(34220), Some(0))
    );
}

#[tokio::test]
async fn an_answer_lost_after_the_charge_is_recovered_with_the_same_key() {
    let sandbox = Sandbox::start().await;
    sandbox.set(json!({ "timeoutAfterChargeNext": 1, "timeoutAfterChargeMs": 5000 })).await;
    let gateway = sandbox.gateway_with_timeout(Duration::from_millis(1000));
    let request = charge("bk_t", "pm_card_visa", "250.00", "lost-answer-key");
    match gateway.create_payment(&request).await {
        Err(error @ GatewayError::Timeout) => assert!(error.outcome_unknown()),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(sandbox.ledger_of("charge").await.len(), 1, "the charge happened all the same");

    let recovered = gateway.create_payment(&request).await.expect("the same key replays the charge");
    assert_eq!(recovered.status, ChargeStatus::Succeeded);
    let found = gateway.find_payments("bk_t").await.expect("search");
    assert_eq!(found.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), [recovered.id.as_str()]);
    let charges = sandbox.ledger_of("charge").await;
    assert_eq!(charges.len(), 1, "{charges:?}");
    assert_eq!(charges[0]["paymentIntent"], json!(recovered.id));
}

#[tokio::test]
async fn a_stored_500_after_the_charge_is_reconciled_by_booking_id() {
    let sandbox = Sandbox::start().await;
    sandbox.set(json!({ "failAfterChargeNext": 1 })).await;
    let gateway = sandbox.gateway();
    let request = charge("bk_500", "pm_card_visa", "99.99", "stored-500-key");
    for attempt in ["first", "resend"] {
        match gateway.create_payment(&request).await {
            Err(error @ GatewayError::Server { status: 500, .. }) => assert!(error.outcome_unknown(), "{attempt}"),
            other => panic!("{attempt}: expected the stored 500, got {other:?}"),
        }
    }
    // Stripe replays the 500 for this key; the search tells what happened.
    let found = gateway.find_payments("bk_500").await.expect("search");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].status.clone(), found[0].amount.clone()), (ChargeStatus::Succeeded, eur("99.99")));
    assert!(gateway.find_payments("bk_other").await.expect("search").is_empty());
    assert_eq!(sandbox.ledger_of("charge").await.len(), 1);
    assert_eq!(sandbox.calls("paymentIntentSearch").await, 2);
}

#[tokio::test]
async fn gate_faults_are_retried_and_never_stored() {
    let sandbox = Sandbox::start().await;
    sandbox.set(json!({ "errorNext": 1, "rateLimitNext": 1 })).await;
    let gateway = sandbox.gateway();
    let paid = gateway.create_payment(&charge("bk_g", "pm_card_visa", "10", "gate-key")).await.expect("retried");
    assert_eq!(paid.status, ChargeStatus::Succeeded);
    assert_eq!(sandbox.calls("paymentIntentCreate").await, 3, "a 429, a 500, then the charge");
    assert_eq!(sandbox.ledger_of("charge").await.len(), 1);

    sandbox.set(json!({ "outage": true })).await;
    assert!(matches!(gateway.ping().await, Err(GatewayError::Server { status: 503, .. })));
    sandbox.set(json!({ "outage": false })).await;
    let wrong = StripeGateway::new(
        &sandbox.base,
        "sk_test_wrong".to_owned().into(),
        ProviderHttp::new(
            &wayfarer::config::HttpClientSettings::default(),
            true,
            100.0,
            Arc::new(tokio::sync::Semaphore::new(4)),
        )
        .expect("http"),
    );
    assert!(matches!(wrong.ping().await, Err(GatewayError::Auth(_))));
}

#[tokio::test]
async fn idempotency_keys_expire_after_a_day_of_sandbox_time() {
    let sandbox = Sandbox::start().await;
    let gateway = sandbox.gateway();
    gateway.create_payment(&charge("bk_e", "pm_card_visa", "10", "old-key")).await.expect("first");
    sandbox.set(json!({ "clockOffsetSeconds": 25 * 3600 })).await;
    let later = gateway.create_payment(&charge("bk_e", "pm_card_visa", "11", "old-key")).await.expect("a new request");
    assert_eq!(later.amount, eur("11"));
    assert_eq!(sandbox.ledger_of("charge").await.len(), 2);
}

// ---------------------------------------------------------------- webhooks

/// A stand-in for the server's `/webhooks/payments`: records every
/// delivery, and answers 500 to the first `fail_first`.
#[derive(Clone, Default)]
struct Receiver {
    deliveries: Arc<Mutex<Vec<(String, Bytes)>>>,
    fail_first: Arc<AtomicU32>,
}

impl Receiver {
    async fn start() -> (Self, String) {
        let receiver = Self::default();
        let app = axum::Router::new().route("/webhooks/payments", post(receive)).with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/webhooks/payments", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    /// Waits until `count` deliveries arrived, then returns them verified.
    async fn verified(&self, count: usize) -> Vec<WebhookEvent> {
        for _ in 0..200 {
            if self.deliveries.lock().await.len() >= count {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let deliveries = self.deliveries.lock().await.clone();
        assert_eq!(deliveries.len(), count, "deliveries received");
        deliveries
            .iter()
            .map(|(signature, body)| {
                webhook::verify_signature(
                    body,
                    signature,
                    "whsec_sandbox",
                    Duration::from_secs(300),
                    chrono::Utc::now(),
                )
                .expect("a correctly signed delivery")
            })
            .collect()
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let signature = headers.get("stripe-signature").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    receiver.deliveries.lock().await.push((signature, body));
    let failing = receiver.fail_first.load(Ordering::SeqCst);
    if failing > 0 {
        receiver.fail_first.store(failing - 1, Ordering::SeqCst);
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    StatusCode::OK
}

fn checkout(booking: &str, key: &str) -> CheckoutRequest {
    CheckoutRequest {
        amount: eur("342.20"),
        booking_id: booking.into(),
        description: "LIS → FRA <TP 576>".into(),
        success_url: "https://wayfarer.example/paid?session={CHECKOUT_SESSION_ID}".into(),
        cancel_url: Some("https://wayfarer.example/cancelled".into()),
        expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
        idempotency_key: key.into(),
    }
}

async fn pay(sandbox: &Sandbox, url: &str, token: &str) -> reqwest::Response {
    sandbox.client.post(format!("{url}/pay")).form(&[("payment_method", token)]).send().await.expect("pay")
}

#[tokio::test]
async fn paying_on_the_hosted_page_sends_signed_webhooks() {
    let sandbox = Sandbox::start().await;
    let (receiver, url) = Receiver::start().await;
    sandbox.set(json!({ "webhookUrl": url })).await;
    let gateway = sandbox.gateway();
    let session = gateway.create_checkout(&checkout("bk_h", "checkout-key")).await.expect("session");
    assert!(session.id.starts_with("cs_"), "{session:?}");
    assert_eq!((session.status, session.paid), (CheckoutStatus::Open, false));
    assert_eq!(session.booking_id.as_deref(), Some("bk_h"));
    assert_eq!(session.amount, Some(eur("342.20")));
    let page_url = session.url.clone().expect("an open session has a url");
    assert_eq!(page_url, format!("{}/_sandbox/checkout/{}", sandbox.base, session.id));

    let page = sandbox.client.get(&page_url).send().await.expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    assert!(html.contains("342.20 EUR"), "{html}");
    assert!(html.contains("LIS → FRA &lt;TP 576&gt;"), "escaped: {html}");
    assert!(html.contains(&format!("action=\"/_sandbox/checkout/{}/pay\"", session.id)), "{html}");
    for token in ["pm_card_visa", "pm_card_chargeDeclinedExpiredCard"] {
        assert!(html.contains(&format!("value=\"{token}\"")), "{token} offered: {html}");
    }
    assert!(!html.contains("<script") && !html.contains("src=\"http"), "self-contained: {html}");

    let card_number = pay(&sandbox, &page_url, "4242 4242 4242 4242").await;
    assert_eq!(card_number.status(), StatusCode::BAD_REQUEST);
    assert!(!card_number.text().await.expect("html").contains("4242 4242"), "never echoed back");

    let declined = pay(&sandbox, &page_url, "pm_card_chargeDeclinedInsufficientFunds").await;
    assert_eq!(declined.status(), StatusCode::PAYMENT_REQUIRED);
    assert!(declined.text().await.expect("html").contains("insufficient funds"));
    let failed = receiver.verified(1).await;
    assert_eq!(failed[0].kind, "payment_intent.payment_failed");
    let PaymentEvent::PaymentFailed { payment_intent, booking_id, decline_code, .. } = failed[0].payment_event() else {
        panic!("a failed payment: {:?}", failed[0]);
    };
    assert_eq!((booking_id.as_deref(), decline_code.as_deref()), (Some("bk_h"), Some("insufficient_funds")));

    let paid = pay(&sandbox, &page_url, "pm_card_visa").await;
    assert_eq!(paid.status(), StatusCode::SEE_OTHER);
    let location = paid.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(location, format!("https://wayfarer.example/paid?session={}", session.id));

    let events = receiver.verified(3).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["payment_intent.payment_failed", "payment_intent.succeeded", "checkout.session.completed"]);
    assert_eq!(
        events[2].payment_event(),
        PaymentEvent::CheckoutCompleted {
            session_id: session.id.clone(),
            payment_intent: Some(payment_intent.clone()),
            booking_id: Some("bk_h".into()),
            amount: Some(eur("342.20")),
            payment_status: "paid".into(),
        },
        "one PaymentIntent for the session, declined then paid"
    );
    assert!(matches!(
        events[1].payment_event(),
        PaymentEvent::PaymentSucceeded { booking_id: Some(b), .. } if b == "bk_h"
    ));

    let read = gateway.retrieve_checkout(&session.id).await.expect("retrieve");
    assert_eq!((read.status, read.paid, read.url.as_deref()), (CheckoutStatus::Complete, true, None));
    assert_eq!(read.payment_id.as_deref(), Some(payment_intent.as_str()));
    let found = gateway.find_payments("bk_h").await.expect("search");
    assert_eq!(found.len(), 1, "hosted payments are found by booking id too");
    assert_eq!(pay(&sandbox, &page_url, "pm_card_visa").await.status(), StatusCode::CONFLICT, "paid once");

    let ledger = sandbox.ledger().await;
    let kinds: Vec<(&str, &str)> =
        ledger.iter().map(|e| (e["kind"].as_str().unwrap_or(""), e["source"].as_str().unwrap_or(""))).collect();
    assert_eq!(kinds, [("decline", "checkout"), ("charge", "checkout")]);
    assert!(ledger.iter().all(|e| e["bookingId"] == "bk_h" && e["paymentIntent"] == json!(payment_intent)));
    let deliveries = sandbox.get("/_sandbox/webhooks").await["deliveries"].clone();
    assert_eq!(deliveries.as_array().map(Vec::len), Some(3), "{deliveries}");
    assert!(deliveries.as_array().into_iter().flatten().all(|d| d["status"] == 200), "{deliveries}");
}

#[tokio::test]
async fn webhooks_can_arrive_twice_out_of_order_and_again_on_request() {
    let sandbox = Sandbox::start().await;
    let (receiver, url) = Receiver::start().await;
    sandbox.set(json!({ "webhookUrl": url, "duplicateWebhooks": true, "reorderWebhooks": true })).await;
    let gateway = sandbox.gateway();
    let session = gateway.create_checkout(&checkout("bk_w", "checkout-w")).await.expect("session");
    let page_url = session.url.clone().expect("url");
    assert_eq!(pay(&sandbox, &page_url, "pm_card_visa").await.status(), StatusCode::SEE_OTHER);

    let events = receiver.verified(4).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "checkout.session.completed",
            "payment_intent.succeeded",
            "checkout.session.completed",
            "payment_intent.succeeded"
        ],
        "the later event first, then both again"
    );
    assert_eq!(events[0].id, events[2].id, "a duplicate is the same event");
    assert_eq!(events[1].id, events[3].id);
    assert_ne!(events[0].id, events[1].id);

    let redelivery = sandbox
        .client
        .post(format!("{}/_sandbox/webhooks/{}/redeliver", sandbox.base, events[1].id))
        .send()
        .await
        .expect("redeliver");
    assert_eq!(redelivery.status(), StatusCode::OK);
    let again = receiver.verified(5).await;
    assert_eq!(again[4].id, events[1].id);
    assert_eq!(sandbox.ledger_of("charge").await.len(), 1, "deliveries never charge");
}

#[tokio::test]
async fn a_failing_receiver_gets_the_event_again_with_backoff() {
    let sandbox = Sandbox::start().await;
    let (receiver, url) = Receiver::start().await;
    receiver.fail_first.store(2, Ordering::SeqCst);
    sandbox.set(json!({ "webhookUrl": url, "webhookEvents": ["checkout.session.completed"] })).await;
    let gateway = sandbox.gateway();
    let session = gateway.create_checkout(&checkout("bk_x", "checkout-x")).await.expect("session");
    pay(&sandbox, &session.url.clone().expect("url"), "pm_card_mastercard").await;
    let events = receiver.verified(3).await;
    assert!(events.iter().all(|e| e.kind == "checkout.session.completed" && e.id == events[0].id), "{events:?}");
    let deliveries = sandbox.get("/_sandbox/webhooks").await["deliveries"].clone();
    let attempts: Vec<(u64, u64)> = deliveries
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| (d["attempt"].as_u64().unwrap_or(0), d["status"].as_u64().unwrap_or(0)))
        .collect();
    assert_eq!(attempts, [(1, 500), (2, 500), (3, 200)]);
}

#[tokio::test]
async fn a_checkout_page_expires_and_says_so() {
    let sandbox = Sandbox::start().await;
    let (receiver, url) = Receiver::start().await;
    sandbox.set(json!({ "webhookUrl": url })).await;
    let gateway = sandbox.gateway();
    let session = gateway.create_checkout(&checkout("bk_exp", "checkout-exp")).await.expect("session");
    let page_url = session.url.clone().expect("url");
    let expired = gateway.expire_checkout(&session.id).await.expect("expire");
    assert_eq!((expired.status, expired.url), (CheckoutStatus::Expired, None));
    assert_eq!(sandbox.client.get(&page_url).send().await.expect("page").status(), StatusCode::GONE);
    assert_eq!(pay(&sandbox, &page_url, "pm_card_visa").await.status(), StatusCode::GONE);
    let events = receiver.verified(1).await;
    assert_eq!(
        events[0].payment_event(),
        PaymentEvent::CheckoutExpired { session_id: session.id.clone(), booking_id: Some("bk_exp".into()) }
    );
    let again = gateway.expire_checkout(&session.id).await.expect("expiring again replays");
    assert_eq!(again.status, CheckoutStatus::Expired);

    // A page also expires by itself when its time is up (sandbox clock).
    let other = gateway.create_checkout(&checkout("bk_exp2", "checkout-exp2")).await.expect("session");
    sandbox.set(json!({ "clockOffsetSeconds": 2 * 3600 })).await;
    assert_eq!(gateway.retrieve_checkout(&other.id).await.expect("read").status, CheckoutStatus::Expired);
    assert!(sandbox.ledger().await.is_empty());

    let too_soon = CheckoutRequest { expires_at: chrono::Utc::now(), ..checkout("bk_exp3", "checkout-exp3") };
    assert!(matches!(
        gateway.create_checkout(&too_soon).await,
        Err(GatewayError::InvalidRequest { param: Some(p), .. }) if p == "expires_at"
    ));
}

#[tokio::test]
async fn reset_clears_the_ledger_and_keeps_the_webhook_url() {
    let sandbox = Sandbox::start().await;
    let (_receiver, url) = Receiver::start().await;
    sandbox.set(json!({ "webhookUrl": url, "latencyMs": 1 })).await;
    sandbox.gateway().create_payment(&charge("bk_z", "pm_card_visa", "1", "z")).await.expect("charge");
    assert_eq!(sandbox.ledger().await.len(), 1);
    let reset = sandbox.client.post(format!("{}/_sandbox/reset", sandbox.base)).send().await.expect("reset");
    assert!(reset.status().is_success());
    assert!(sandbox.ledger().await.is_empty());
    assert_eq!(sandbox.calls("paymentIntentCreate").await, 0);
    let settings = sandbox.get("/_sandbox/personalities/stripe").await;
    assert_eq!(settings["webhookUrl"], json!(url), "{settings}");
    assert_eq!(settings["latencyMs"], 0, "faults are reset: {settings}");
    let unknown =
        sandbox.client.put(format!("{}/_sandbox/personalities/stripe", sandbox.base)).json(&json!({ "nope": 1 }));
    assert_eq!(unknown.send().await.expect("put").status(), StatusCode::BAD_REQUEST);
    let missing = sandbox.client.get(format!("{}/v1/payment_intents/pi_missing/nothing", sandbox.base)).send().await;
    let missing = missing.expect("get");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let body: Value = missing.json().await.expect("stripe error body");
    assert_eq!(body["error"]["type"], "invalid_request_error", "Stripe paths answer in Stripe's format: {body}");
}
