//! The contract's session operations over HTTP, on both backends.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use wayfarer::clock::ManualClock;

use crate::helpers::{Backend, CURRENT_SESSION, END_SESSION, START_SESSION, TestApp};

async fn start_use_and_end_a_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    // Start: no token needed; the defaults and the given values come back.
    let (status, body) =
        app.graphql(START_SESSION, json!({ "locale": "pt-br", "timeZone": "America/Sao_Paulo" }), None).await;
    assert_eq!(status, 200, "{body}");
    let started = &body["data"]["startSession"];
    let token = started["token"].as_str().expect("token");
    assert!(token.len() >= 22, "at least 128 bits of base64url");
    assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(started["session"]["locale"], "pt-BR");
    assert_eq!(started["session"]["timeZone"], "America/Sao_Paulo");

    // Use: the session is visible with its conversation.
    let (status, body) = app.graphql(CURRENT_SESSION, json!({}), Some(token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["session"]["id"], started["session"]["id"]);
    assert_eq!(body["data"]["session"]["conversation"]["messages"], json!([]));
    assert!(body.get("errors").is_none(), "{body}");

    // A second session is a different one.
    let other = app.start_session().await;
    let (_, other_body) = app.graphql(CURRENT_SESSION, json!({}), Some(&other)).await;
    assert_ne!(other_body["data"]["session"]["id"], started["session"]["id"]);

    // End: the token stops working at once.
    let (status, body) = app.graphql(END_SESSION, json!({}), Some(token)).await;
    assert_eq!((status, &body["data"]["endSession"]), (200, &json!(true)), "{body}");
    let (_, body) = app.graphql(CURRENT_SESSION, json!({}), Some(token)).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{body}");
    assert_eq!(body["data"], json!(null));

    // The other session is untouched.
    let (_, body) = app.graphql(CURRENT_SESSION, json!({}), Some(&other)).await;
    assert!(body["data"]["session"]["id"].is_string(), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn sessions_start_are_used_and_end_in_memory() {
    start_use_and_end_a_session(Backend::Memory).await;
}

#[tokio::test]
async fn sessions_start_are_used_and_end_on_redis() {
    start_use_and_end_a_session(Backend::Redis).await;
}

async fn bad_tokens_are_unauthenticated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cases: [(&str, Option<&str>); 4] = [
        ("missing", None),
        ("malformed", Some("not a token")),
        ("unknown", Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")),
        ("wrong scheme", Some("x")),
    ];
    for (what, token) in cases {
        let mut request = app.http.post(app.url("/graphql")).json(&json!({ "query": CURRENT_SESSION }));
        match (what, token) {
            ("wrong scheme", Some(t)) => request = request.header("authorization", format!("Basic {t}")),
            (_, Some(t)) => request = request.bearer_auth(t),
            _ => {}
        }
        let body: serde_json::Value = request.send().await.expect("sent").json().await.expect("json");
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{what}: {body}");
        assert_eq!(body["errors"][0]["path"], json!(["session"]), "{what}: {body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn missing_malformed_and_unknown_tokens_are_unauthenticated_in_memory() {
    bad_tokens_are_unauthenticated(Backend::Memory).await;
}

#[tokio::test]
async fn missing_malformed_and_unknown_tokens_are_unauthenticated_on_redis() {
    bad_tokens_are_unauthenticated(Backend::Redis).await;
}

#[tokio::test]
async fn an_idle_session_expires_and_use_slides_it_in_memory() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app =
        TestApp::spawn_full(Backend::Memory, |s| s.sessions.idle_ttl = Duration::from_secs(3600), Some(clock.clone()))
            .await;
    let token = app.start_session().await;
    clock.advance(Duration::from_secs(3000));
    let (_, body) = app.graphql(CURRENT_SESSION, json!({}), Some(&token)).await;
    assert!(body["data"]["session"]["id"].is_string(), "used before expiry: {body}");
    // 3000 s + 3000 s is past the first expiry but within the slid one.
    clock.advance(Duration::from_secs(3000));
    let (_, body) = app.graphql(CURRENT_SESSION, json!({}), Some(&token)).await;
    assert!(body["data"]["session"]["id"].is_string(), "sliding TTL kept it: {body}");
    clock.advance(Duration::from_secs(3601));
    let (_, body) = app.graphql(CURRENT_SESSION, json!({}), Some(&token)).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "expired: {body}");
    app.stop().await;
}

#[tokio::test]
async fn an_idle_session_expires_on_redis() {
    let app = TestApp::spawn_with(Backend::Redis, |s| s.sessions.idle_ttl = Duration::from_secs(1)).await;
    let token = app.start_session().await;
    let (_, body) = app.graphql(CURRENT_SESSION, json!({}), Some(&token)).await;
    assert!(body["data"]["session"]["id"].is_string(), "{body}");
    // Redis keeps time itself; the TTL is a whole second, so wait past it.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let (_, body) = app.graphql(CURRENT_SESSION, json!({}), Some(&token)).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "expired: {body}");
    app.stop().await;
}

#[tokio::test]
async fn start_session_refuses_a_bad_locale_or_time_zone() {
    let app = TestApp::spawn(Backend::Memory).await;
    for (vars, field) in
        [(json!({ "timeZone": "Mars/Olympus" }), "timeZone"), (json!({ "locale": "english please" }), "locale")]
    {
        let (status, body) = app.graphql(START_SESSION, vars, None).await;
        assert_eq!(status, 200, "an execution error: {body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    app.stop().await;
}
