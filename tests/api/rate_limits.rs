//! Rate limits as a client meets them: every root field counts (aliases and
//! batch entries each), sessions and client IPs have independent budgets,
//! the sensitive mutations stricter ones, a refusal is `RATE_LIMITED` with
//! `extensions.retryAfterSeconds` and a matching `Retry-After` header, the
//! budget comes back after the window, two instances on one Redis share it,
//! WebSocket operations are counted, and with Redis down each instance keeps
//! counting on its own. Other tests run with the limits off (`test_settings`).

use std::process::Stdio;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Value, json};
use wayfarer::config::{RateLimitSettings, Settings};

use crate::booking::codes;
use crate::helpers::{Backend, START_SESSION, TestApp, eventually, free_port, two_instances_on_one_sandbox};

/// Limits on, with a long window (tests assert codes, never times) and
/// budgets too large to matter unless a test lowers them.
fn limits(adjust: impl FnOnce(&mut RateLimitSettings)) -> impl FnOnce(&mut Settings) {
    move |settings: &mut Settings| {
        settings.rate_limits = RateLimitSettings {
            enabled: true,
            window: Duration::from_secs(600),
            per_session: 10_000,
            per_ip: 10_000,
            start_session: 10_000,
            create_booking: 10_000,
            pay_for_booking: 10_000,
            ..RateLimitSettings::default()
        };
        adjust(&mut settings.rate_limits);
    }
}

/// What a test reads of one HTTP answer.
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    body: Value,
}

impl Answer {
    fn codes(&self) -> Vec<String> {
        match &self.body {
            Value::Array(items) => items.iter().flat_map(codes).collect(),
            body => codes(body),
        }
    }

    /// The refusal's `retryAfterSeconds`, checked against the header.
    fn assert_refused(&self) -> u64 {
        assert_eq!(self.codes(), vec!["RATE_LIMITED".to_owned()], "{}", self.body);
        let error = &self.body["errors"][0];
        let seconds = error["extensions"]["retryAfterSeconds"].as_u64().expect("retryAfterSeconds");
        assert!(seconds >= 1, "{}", self.body);
        assert_eq!(self.retry_after, Some(seconds), "Retry-After agrees with the extension");
        assert_eq!(self.status, 429, "{}", self.body);
        assert!(self.body.get("data").is_none(), "nothing ran: {}", self.body);
        seconds
    }
}

async fn post(app: &TestApp, body: Value, token: Option<&str>, forwarded_for: Option<&str>) -> Answer {
    let mut request = app
        .http
        .post(app.url("/graphql"))
        .header("accept", "application/graphql-response+json, application/json;q=0.9")
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(ip) = forwarded_for {
        request = request.header("x-forwarded-for", ip);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let retry_after =
        response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let body = response.json::<Value>().await.expect("JSON body");
    Answer { status, retry_after, body }
}

async fn query(app: &TestApp, document: &str, token: Option<&str>, forwarded_for: Option<&str>) -> Answer {
    post(app, json!({ "query": document }), token, forwarded_for).await
}

async fn session(app: &TestApp) -> String {
    let answer = post(app, json!({ "query": START_SESSION }), None, None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["data"]["startSession"]["token"].as_str().expect("token").to_owned()
}

#[tokio::test]
async fn aliases_count_each_root_field_and_a_refusal_says_when_to_retry() {
    let app = TestApp::spawn_with(Backend::Memory, limits(|l| l.start_session = 3)).await;
    let two = "mutation { a: startSession { token } b: startSession { token } }";
    let first = query(&app, two, None, None).await;
    assert!(first.body.get("errors").is_none(), "{}", first.body);
    assert_eq!(first.retry_after, None);
    // Two more would make four of three: the whole operation is refused.
    let refused = query(&app, two, None, None).await;
    let seconds = refused.assert_refused();
    assert!(seconds <= 600, "within the window: {seconds}");
    // The refusal consumed nothing: the third still fits.
    let third = query(&app, "mutation { startSession { token } }", None, None).await;
    assert!(third.body["data"]["startSession"]["token"].is_string(), "{}", third.body);
    query(&app, "mutation { startSession { token } }", None, None).await.assert_refused();
    // Other fields draw on the IP's general budget, not startSession's.
    let other = query(&app, "{ __typename }", None, None).await;
    assert_eq!(other.body["data"]["__typename"], "Query", "{}", other.body);
    // Under application/json the refusal is 429 with the header too.
    let legacy = app
        .http
        .post(app.url("/graphql"))
        .json(&json!({ "query": "mutation { startSession { token } }" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(legacy.status(), 429);
    assert!(legacy.headers().contains_key("retry-after"));
    app.stop().await;
}

#[tokio::test]
async fn each_operation_of_a_batch_counts() {
    let app = TestApp::spawn_with(Backend::Memory, |settings| {
        limits(|l| l.per_ip = 3)(settings);
        settings.graphql.max_batch_size = 5;
    })
    .await;
    let batch = json!([
        { "query": "{ __typename }" },
        { "query": "{ __typename }" },
        { "query": "{ __typename }" },
        { "query": "{ __typename }" },
    ]);
    let answer = post(&app, batch, None, None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let items = answer.body.as_array().expect("a batch answer");
    assert_eq!(items.len(), 4);
    for item in &items[..3] {
        assert_eq!(item["data"]["__typename"], "Query", "{item}");
    }
    assert_eq!(codes(&items[3]), vec!["RATE_LIMITED".to_owned()], "{}", items[3]);
    let seconds = items[3]["errors"][0]["extensions"]["retryAfterSeconds"].as_u64().expect("seconds");
    assert_eq!(answer.retry_after, Some(seconds), "the batch's Retry-After is its refused operation's");
    app.stop().await;
}

#[tokio::test]
async fn sessions_and_client_ips_have_independent_budgets() {
    // Loopback is the trusted proxy here, so X-Forwarded-For names the client.
    let app = TestApp::spawn_with(
        Backend::Memory,
        limits(|l| {
            l.per_session = 3;
            l.per_ip = 5;
            l.trusted_proxies = vec!["127.0.0.1".into()];
        }),
    )
    .await;
    let a = session(&app).await;
    let b = session(&app).await;
    let ip1 = Some("203.0.113.1");
    let op = "{ __typename }";
    for _ in 0..3 {
        assert!(query(&app, op, Some(&a), ip1).await.codes().is_empty());
    }
    query(&app, op, Some(&a), ip1).await.assert_refused();
    // Session b has its own three; the IP has used three of five.
    for _ in 0..2 {
        assert!(query(&app, op, Some(&b), ip1).await.codes().is_empty());
    }
    query(&app, op, Some(&b), ip1).await.assert_refused();
    // From another IP, session b still has one left; a has none anywhere.
    let ip2 = Some("203.0.113.2");
    assert!(query(&app, op, Some(&b), ip2).await.codes().is_empty());
    query(&app, op, Some(&b), ip2).await.assert_refused();
    query(&app, op, Some(&a), Some("198.51.100.9")).await.assert_refused();
    // Anonymous callers from a fresh IP are only counted by IP.
    for _ in 0..5 {
        assert!(query(&app, op, None, Some("203.0.113.3")).await.codes().is_empty());
    }
    query(&app, op, None, Some("203.0.113.3")).await.assert_refused();
    app.stop().await;
}

#[tokio::test]
async fn a_forwarded_header_from_an_untrusted_peer_is_ignored() {
    let app = TestApp::spawn_with(Backend::Memory, limits(|l| l.per_ip = 2)).await;
    for ip in ["203.0.113.10", "203.0.113.11"] {
        assert!(query(&app, "{ __typename }", None, Some(ip)).await.codes().is_empty());
    }
    // A new forged address each time: still the one peer, 127.0.0.1.
    query(&app, "{ __typename }", None, Some("203.0.113.12")).await.assert_refused();
    app.stop().await;
}

#[tokio::test]
async fn create_booking_and_pay_for_booking_have_stricter_budgets() {
    let app = TestApp::spawn_with(
        Backend::Memory,
        limits(|l| {
            l.create_booking = 1;
            l.pay_for_booking = 1;
            l.start_session = 2;
        }),
    )
    .await;
    let token = session(&app).await;
    let create = json!({
        "query": "mutation($input: CreateBookingInput!) { createBooking(input: $input) { booking { id } } }",
        "variables": { "input": { "offerId": "no-such-offer", "travelers": [], "contact": { "email": "a@example.com" } } }
    });
    // Counted before it runs: the first fails on its input, the second is refused.
    let first = post(&app, create.clone(), Some(&token), None).await;
    assert_eq!(first.codes(), vec!["BAD_USER_INPUT".to_owned()], "{}", first.body);
    post(&app, create, Some(&token), None).await.assert_refused();
    let pay = json!({
        "query": "mutation($input: PayForBookingInput!) { payForBooking(input: $input) { payment { id } } }",
        "variables": { "input": { "bookingId": "b_none", "paymentMethod": "pm_card_visa", "idempotencyKey": "key-12345678" } }
    });
    let first = post(&app, pay.clone(), Some(&token), None).await;
    assert_eq!(first.codes(), vec!["NOT_FOUND".to_owned()], "{}", first.body);
    post(&app, pay, Some(&token), None).await.assert_refused();
    // The session itself is not exhausted: other operations still run.
    let me = query(&app, "{ session { id } }", Some(&token), None).await;
    assert!(me.body["data"]["session"]["id"].is_string(), "{}", me.body);
    // startSession: the one above and one more, then refused.
    session(&app).await;
    query(&app, "mutation { startSession { token } }", None, None).await.assert_refused();
    app.stop().await;
}

#[tokio::test]
async fn the_budget_comes_back_after_the_window() {
    let app = TestApp::spawn_with(
        Backend::Memory,
        limits(|l| {
            l.window = Duration::from_secs(1);
            l.per_ip = 2;
        }),
    )
    .await;
    let pair = "{ a: __typename b: __typename }";
    // On a slow machine a pair may straddle windows: try until one is refused.
    let mut refused = None;
    for _ in 0..50 {
        let answer = query(&app, pair, None, None).await;
        if !answer.codes().is_empty() {
            refused = Some(answer);
            break;
        }
    }
    let refused = refused.expect("two pairs within one 1 s window are refused at least once in 50 tries");
    assert_eq!(refused.assert_refused(), 1, "a 1 s window never asks for more than 1 s");
    let admitted = eventually(Duration::from_secs(20), async || query(&app, pair, None, None).await.codes().is_empty());
    assert!(admitted.await, "after the window the budget is back");
    app.stop().await;
}

#[tokio::test]
async fn turned_off_nothing_is_counted() {
    let app = TestApp::spawn_with(
        Backend::Memory,
        limits(|l| {
            l.enabled = false;
            l.per_ip = 1;
            l.start_session = 1;
        }),
    )
    .await;
    for _ in 0..5 {
        let answer = query(&app, "mutation { a: startSession { token } b: startSession { token } }", None, None).await;
        assert!(answer.codes().is_empty(), "{}", answer.body);
        assert_eq!(answer.retry_after, None);
    }
    app.stop().await;
}

#[tokio::test]
async fn two_instances_on_one_redis_share_the_budget() {
    let (a, b, _sandbox) = two_instances_on_one_sandbox(|settings| limits(|l| l.start_session = 3)(settings)).await;
    let two = "mutation { a: startSession { token } b: startSession { token } }";
    assert!(query(&a, two, None, None).await.codes().is_empty());
    // Instance b sees the two that a counted: two more would be four of three.
    query(&b, two, None, None).await.assert_refused();
    assert!(query(&b, "mutation { startSession { token } }", None, None).await.codes().is_empty());
    query(&a, "mutation { startSession { token } }", None, None).await.assert_refused();
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn websocket_operations_are_counted_and_a_refusal_keeps_the_socket() {
    let app = TestApp::spawn_with(Backend::Memory, limits(|l| l.per_session = 3)).await;
    let token = session(&app).await;
    let mut ws = app.websocket_acked(&token).await;
    // A subscription counts when it starts.
    ws.send_json(
        json!({ "id": "s", "type": "subscribe", "payload": { "query": "subscription { serviceStatus { status } }" } }),
    )
    .await;
    let next = ws.next_json().await;
    assert_eq!((next["type"].as_str(), next["id"].as_str()), (Some("next"), Some("s")), "{next}");
    for id in ["q1", "q2"] {
        ws.send_json(json!({ "id": id, "type": "subscribe", "payload": { "query": "{ __typename }" } })).await;
        let mut seen = Vec::new();
        while seen.len() < 2 {
            let message = ws.next_json().await;
            if message["id"] == id {
                seen.push(message["type"].as_str().unwrap_or("").to_owned());
            }
        }
        assert_eq!(seen, ["next", "complete"], "{id}");
    }
    ws.send_json(json!({ "id": "q3", "type": "subscribe", "payload": { "query": "{ __typename }" } })).await;
    let error = loop {
        let message = ws.next_json().await;
        if message["id"] == "q3" {
            break message;
        }
    };
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["payload"][0]["extensions"]["code"], "RATE_LIMITED", "{error}");
    assert!(error["payload"][0]["extensions"]["retryAfterSeconds"].as_u64().is_some_and(|s| s >= 1), "{error}");
    // The socket stays open: it still answers a ping.
    ws.send_json(json!({ "type": "ping" })).await;
    let pong = loop {
        let message = ws.next_json().await;
        if message["type"] == "pong" {
            break message;
        }
    };
    assert_eq!(pong["type"], "pong");
    // And the same session over HTTP shares the budget.
    query(&app, "{ __typename }", Some(&token), None).await.assert_refused();
    app.stop().await;
}

/// A private redis-server this test may kill (never the shared one).
struct PrivateRedis {
    child: tokio::process::Child,
    url: String,
}

impl PrivateRedis {
    async fn start() -> Self {
        let port = free_port();
        let child = tokio::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server is installed (.ci/test installs it)");
        let up = eventually(Duration::from_secs(20), async || {
            tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
        })
        .await;
        assert!(up, "the private redis-server on {port} did not start");
        Self { child, url: format!("redis://127.0.0.1:{port}") }
    }

    async fn kill(&mut self) {
        self.child.kill().await.expect("kill the private redis-server");
    }
}

#[tokio::test]
async fn with_redis_down_each_instance_keeps_counting_on_its_own() {
    let mut redis = PrivateRedis::start().await;
    let url = redis.url.clone();
    let app = TestApp::spawn_with(Backend::Redis, move |settings| {
        limits(|l| l.per_ip = 3)(settings);
        settings.redis.url = Some(SecretString::from(url));
        settings.redis.command_timeout = Duration::from_millis(500);
        settings.redis.connection_timeout = Duration::from_millis(500);
    })
    .await;
    for _ in 0..3 {
        assert!(query(&app, "{ __typename }", None, None).await.codes().is_empty());
    }
    query(&app, "{ __typename }", None, None).await.assert_refused();
    redis.kill().await;
    // Redis counted those three; the in-process counters start afresh, and
    // hold the same budget: neither every operation refused (fail closed)
    // nor none (fail open).
    let mut admitted = 0;
    let mut refusal = None;
    for _ in 0..10 {
        let answer = query(&app, "{ __typename }", None, None).await;
        match answer.codes().as_slice() {
            [] => admitted += 1,
            _ => {
                refusal = Some(answer);
                break;
            }
        }
    }
    assert_eq!(admitted, 3, "the local budget is the configured one");
    refusal.expect("the fourth is refused locally").assert_refused();
    app.stop().await;
}
