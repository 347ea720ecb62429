//! Provider faults below HTTP semantics, injected by the bundled sandbox: a
//! provider that hangs, answers garbage, cuts its answer off mid-body, or
//! answers 500/429 in bursts. Search stays bounded and partial, and the
//! breaker stops calling a failing provider; proved by codes and by the
//! sandbox's call counters, never by timing.

use std::time::Duration;

use serde_json::{Value, json};

use crate::flights::SEARCH_FLIGHTS;
use crate::helpers::{Backend, TestApp, eventually};

fn input(origin: &str, destination: &str, days: i64) -> Value {
    let date = chrono::Utc::now().date_naive() + chrono::Duration::days(days);
    json!({ "origin": origin, "destination": destination, "departureDate": date.to_string() })
}

async fn control(app: &TestApp, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let url = format!("{}{path}", app.state.sandbox_url().expect("the default run has a sandbox"));
    let mut request = app.http.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("sandbox answers");
    assert!(response.status().is_success(), "sandbox control {path}: {}", response.status());
    response.json().await.unwrap_or(Value::Null)
}

async fn set_personality(app: &TestApp, name: &str, settings: Value) {
    control(app, reqwest::Method::PUT, &format!("/_sandbox/personalities/{name}"), Some(settings)).await;
}

async fn search_calls(app: &TestApp, provider: &str) -> u64 {
    let calls = control(app, reqwest::Method::GET, "/_sandbox/calls", None).await;
    calls[provider]["search"].as_u64().unwrap_or(0)
}

/// A search bounded by `bound` (far above every configured timeout: a hang
/// fails the test instead of stalling it); its body.
async fn search(app: &TestApp, token: &str, input: Value, bound: Duration) -> Value {
    let request = app.graphql(SEARCH_FLIGHTS, json!({ "input": input }), Some(token));
    let (status, body) = tokio::time::timeout(bound, request).await.expect("the search returned within the bound");
    assert_eq!(status, 200, "{body}");
    body
}

fn codes(body: &Value) -> Vec<(String, String)> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    (
                        e["extensions"]["code"].as_str().unwrap_or("").to_owned(),
                        e["extensions"]["provider"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn provider_status(body: &Value, name: &str) -> Option<String> {
    body["data"]["searchFlights"]["providers"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == name))
        .and_then(|p| p["status"].as_str().map(str::to_owned))
}

/// The offers are all `from`'s, and there are some.
fn only_offers_of(body: &Value, from: &str) -> bool {
    body["data"]["searchFlights"]["offers"]
        .as_array()
        .is_some_and(|offers| !offers.is_empty() && offers.iter().all(|o| o["provider"] == from))
}

#[tokio::test]
async fn a_hanging_provider_times_out_within_the_search_timeout_and_the_other_answers() {
    let app = TestApp::spawn_with(Backend::Memory, |s| {
        s.features.caching = false;
        s.providers.search_timeout = Duration::from_millis(700);
    })
    .await;
    let token = app.start_session().await;
    set_personality(&app, "duffel", json!({ "hangRate": 1.0 })).await;
    for day in 0..3 {
        let body = search(&app, &token, input("LIS", "MAD", 40 + day), Duration::from_secs(15)).await;
        assert_eq!(codes(&body), [("PROVIDER_TIMEOUT".to_owned(), "duffel".to_owned())], "{body}");
        assert_eq!(provider_status(&body, "duffel").as_deref(), Some("TIMEOUT"));
        assert!(only_offers_of(&body, "amadeus"), "{body}");
    }
    // The hung requests did reach the sandbox: the fault is the hang, not a refusal.
    assert!(search_calls(&app, "duffel").await >= 1);
    app.stop().await;
}

#[tokio::test]
async fn garbage_and_truncated_answers_give_partial_results_with_that_providers_error() {
    let app = TestApp::spawn_with(Backend::Memory, |s| s.features.caching = false).await;
    let token = app.start_session().await;

    set_personality(&app, "amadeus", json!({ "garbageRate": 1.0 })).await;
    let body = search(&app, &token, input("MAD", "LIS", 41), Duration::from_secs(30)).await;
    assert_eq!(codes(&body), [("PROVIDER_UNAVAILABLE".to_owned(), "amadeus".to_owned())], "{body}");
    assert_eq!(provider_status(&body, "amadeus").as_deref(), Some("ERROR"));
    assert!(only_offers_of(&body, "duffel"), "{body}");
    set_personality(&app, "amadeus", json!({ "garbageRate": 0.0 })).await;

    set_personality(&app, "duffel", json!({ "truncateRate": 1.0 })).await;
    let body = search(&app, &token, input("MAD", "LIS", 42), Duration::from_secs(30)).await;
    assert_eq!(codes(&body), [("PROVIDER_UNAVAILABLE".to_owned(), "duffel".to_owned())], "{body}");
    assert_eq!(provider_status(&body, "duffel").as_deref(), Some("ERROR"));
    assert!(only_offers_of(&body, "amadeus"), "{body}");
    set_personality(&app, "duffel", json!({ "truncateRate": 0.0 })).await;

    // Counted faults: exactly the next one is broken, the retry after it is whole.
    set_personality(&app, "duffel", json!({ "truncateNext": 1 })).await;
    let before = search_calls(&app, "duffel").await;
    let body = search(&app, &token, input("MAD", "LIS", 43), Duration::from_secs(30)).await;
    assert!(body.get("errors").is_none(), "a truncated answer is retried like a broken connection: {body}");
    assert_eq!(search_calls(&app, "duffel").await - before, 2, "one cut off, one retry");
    app.stop().await;
}

#[tokio::test]
async fn bursts_of_500_and_429_open_the_breaker_which_stops_calling_then_half_opens_and_recovers() {
    let cool_down = Duration::from_secs(2);
    let app = TestApp::spawn_with(Backend::Memory, |s| {
        s.features.caching = false;
        s.providers.breaker_failures = 3;
        s.providers.breaker_cool_down = cool_down;
    })
    .await;
    let token = app.start_session().await;
    // A burst far longer than the retries of three searches: 429s, then 500s.
    set_personality(&app, "duffel", json!({ "rateLimitNext": 30, "errorNext": 30 })).await;
    let mut day = 50;
    let mut failed = 0;
    while provider_status(&search(&app, &token, input("BCN", "LIS", day), Duration::from_secs(30)).await, "duffel")
        .as_deref()
        != Some("SKIPPED")
    {
        failed += 1;
        day += 1;
        assert!(failed <= 3, "the breaker opened after three failed searches");
    }
    assert_eq!(failed, 3);
    let reported = eventually(Duration::from_secs(10), async || {
        let health: Value = reqwest::get(app.url("/api/health")).await.expect("health").json().await.expect("JSON");
        let duffel = health["components"].as_array().and_then(|c| c.iter().find(|c| c["name"] == "provider:duffel"));
        duffel.is_some_and(|d| d["status"] == "DOWN")
    })
    .await;
    assert!(reported, "health reports the open circuit as provider:duffel DOWN");

    // Open: the sandbox sees no search at all, however many arrive.
    let before = search_calls(&app, "duffel").await;
    for n in 0..5 {
        let body = search(&app, &token, input("BCN", "LIS", 60 + n), Duration::from_secs(30)).await;
        assert_eq!(provider_status(&body, "duffel").as_deref(), Some("SKIPPED"), "{body}");
        assert!(only_offers_of(&body, "amadeus"), "{body}");
    }
    assert_eq!(search_calls(&app, "duffel").await, before, "an open breaker sends nothing");

    // The burst ends; after the cool-down one probe goes through and closes it.
    set_personality(&app, "duffel", json!({ "rateLimitNext": 0, "errorNext": 0 })).await;
    tokio::time::sleep(cool_down + Duration::from_millis(300)).await;
    let body = search(&app, &token, input("BCN", "LIS", 70), Duration::from_secs(30)).await;
    assert_eq!(provider_status(&body, "duffel").as_deref(), Some("OK"), "the half-open probe succeeded: {body}");
    assert_eq!(search_calls(&app, "duffel").await, before + 1, "exactly one probe");
    let body = search(&app, &token, input("BCN", "LIS", 71), Duration::from_secs(30)).await;
    assert_eq!(provider_status(&body, "duffel").as_deref(), Some("OK"), "closed again: {body}");
    app.stop().await;
}

#[tokio::test]
async fn a_failed_half_open_probe_opens_the_breaker_again() {
    let cool_down = Duration::from_secs(1);
    let app = TestApp::spawn_with(Backend::Memory, |s| {
        s.features.caching = false;
        s.providers.breaker_failures = 1;
        s.providers.breaker_cool_down = cool_down;
    })
    .await;
    let token = app.start_session().await;
    set_personality(&app, "duffel", json!({ "errorRate": 1.0 })).await;
    let body = search(&app, &token, input("ROM", "MAD", 50), Duration::from_secs(30)).await;
    assert_eq!(provider_status(&body, "duffel").as_deref(), Some("ERROR"), "{body}");
    tokio::time::sleep(cool_down + Duration::from_millis(300)).await;
    let before = search_calls(&app, "duffel").await;
    let body = search(&app, &token, input("ROM", "MAD", 51), Duration::from_secs(30)).await;
    assert_eq!(provider_status(&body, "duffel").as_deref(), Some("ERROR"), "the probe went through: {body}");
    assert!(search_calls(&app, "duffel").await > before);
    let after_probe = search_calls(&app, "duffel").await;
    let body = search(&app, &token, input("ROM", "MAD", 52), Duration::from_secs(30)).await;
    assert_eq!(provider_status(&body, "duffel").as_deref(), Some("SKIPPED"), "open again: {body}");
    assert_eq!(search_calls(&app, "duffel").await, after_probe);
    app.stop().await;
}
