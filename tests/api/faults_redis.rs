//! Redis killed (`kill -9`) under load and restarted, on a private
//! `redis-server` with an fsynced AOF behind two instances: requests fail
//! fast with the contract's retryable `INTERNAL` error while it is down,
//! `/api/health` says 503 naming the session store's Redis and recovers,
//! the sessions Redis persisted still work, a subscription opened before
//! the crash gets events published by the other instance after the
//! restart (the bus resubscribed), and nothing is left waiting.

use std::time::Duration;

use futures_util::future::join_all;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::helpers::{Backend, START_SESSION, TestApp, eventually, fresh_postgres_database, unique_prefix};
use crate::services::PrivateRedis;

/// Configured Redis timeouts; "no hang" is a generous bound above their sum.
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);
const NO_HANG: Duration = Duration::from_secs(10);

async fn health(app: &TestApp) -> (u16, Value) {
    let response = app.http.get(app.url("/api/health")).send().await.expect("health answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("health JSON"))
}

fn component<'a>(health: &'a Value, name: &str) -> Option<&'a Value> {
    health["components"].as_array().and_then(|c| c.iter().find(|c| c["name"] == name))
}

#[tokio::test]
async fn redis_killed_under_load_fails_fast_reports_and_recovers_with_sessions_and_bus() {
    let mut redis = PrivateRedis::start(true).await;
    let prefix = unique_prefix();
    let database = fresh_postgres_database().await;
    let url = redis.url();
    let shared = |s: &mut wayfarer::config::Settings| {
        s.redis.url = Some(SecretString::from(url.clone()));
        s.redis.key_prefix = prefix.clone();
        s.redis.command_timeout = REDIS_TIMEOUT;
        s.redis.connection_timeout = REDIS_TIMEOUT;
        s.database.url = Some(SecretString::from(database.clone()));
    };
    let a = TestApp::spawn_with(Backend::Redis, shared).await;
    let b = TestApp::spawn_with(Backend::Redis, shared).await;
    let token = a.start_session().await;
    let (_, me) = a.graphql("{ session { id } }", json!({}), Some(&token)).await;
    let session_id = me["data"]["session"]["id"].as_str().expect("session id").to_owned();
    let b_instance = b.state.health().instance().to_owned();

    // A subscriber on A, opened before the crash.
    let mut ws = a.websocket_acked(&token).await;
    ws.send_json(json!({ "id": "s", "type": "subscribe",
        "payload": { "query": "subscription { serviceStatus { instance at } }" } }))
        .await;
    assert_eq!(ws.next_json().await["type"], "next", "the subscription streams before the crash");
    let baseline = a.state.live_counts().subscriptions();

    redis.kill();
    // Load while it is down: every request answers, in time, with a GraphQL error.
    let (app, token_ref) = (&a, token.as_str());
    let load = (0..24).map(|n| async move {
        let request = if n % 3 == 0 {
            app.graphql(START_SESSION, json!({}), None)
        } else {
            app.graphql("{ session { id } }", json!({}), Some(token_ref))
        };
        tokio::time::timeout(NO_HANG, request).await
    });
    for answer in join_all(load).await {
        let (status, body) = answer.expect("answered within the bound while Redis is down");
        assert_eq!(status, 200, "a GraphQL error, not an HTTP failure: {body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "INTERNAL", "{body}");
        let message = body["errors"][0]["message"].as_str().unwrap_or("");
        assert!(message.contains("retry") || message.contains("try again"), "the message says to retry: {message}");
    }
    let down = eventually(NO_HANG, async || {
        let (status, body) = health(&a).await;
        let sessions = component(&body, "sessions").cloned().unwrap_or_default();
        status == 503
            && sessions["status"] == "DOWN"
            && sessions["detail"].as_str().is_some_and(|d| d.contains("redis"))
            && component(&body, "eventBus").is_some_and(|bus| bus["status"] == "DEGRADED")
    })
    .await;
    assert!(down, "health is 503 naming redis: {}", health(&a).await.1);

    redis.restart().await;
    let restarted_at = chrono::Utc::now();
    let up = eventually(Duration::from_secs(30), async || health(&a).await.0 == 200 && health(&b).await.0 == 200).await;
    assert!(up, "health recovers: {}", health(&a).await.1);

    // The AOF kept the session.
    let (_, me) = a.graphql("{ session { id } }", json!({}), Some(&token)).await;
    assert_eq!(me["data"]["session"]["id"], session_id.as_str(), "{me}");
    let (_, on_b) = b.graphql("{ session { id } }", json!({}), Some(&token)).await;
    assert_eq!(on_b["data"]["session"]["id"], session_id.as_str(), "{on_b}");

    // The subscriber from before the crash hears B again, from after the restart.
    let mut heard = false;
    for _ in 0..200 {
        let message = ws.next_json().await;
        assert_eq!(message["type"], "next", "{message}");
        let status = &message["payload"]["data"]["serviceStatus"];
        let at = status["at"].as_str().and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok());
        if status["instance"] == b_instance.as_str() && at.is_some_and(|at| at > restarted_at) {
            heard = true;
            break;
        }
    }
    assert!(heard, "the bus resubscribed: B's snapshot after the restart reached A's subscriber");

    // Nothing left waiting or leaked.
    assert_eq!(a.state.live_counts().subscriptions(), baseline);
    let pool = a.state.redis().expect("redis configured").stats();
    assert_eq!(pool.waiting, 0, "{pool:?}");
    let (_, fresh) = a.graphql(START_SESSION, json!({}), None).await;
    assert!(fresh["data"]["startSession"]["token"].is_string(), "{fresh}");
    drop(ws);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn without_persistence_a_redis_restart_forgets_sessions_cleanly() {
    let mut redis = PrivateRedis::start(false).await;
    let url = redis.url();
    let app = TestApp::spawn_with(Backend::Redis, |s| {
        s.redis.url = Some(SecretString::from(url.clone()));
        s.redis.command_timeout = REDIS_TIMEOUT;
        s.redis.connection_timeout = REDIS_TIMEOUT;
    })
    .await;
    let token = app.start_session().await;
    redis.restart().await;
    let answered = eventually(Duration::from_secs(30), async || {
        let (_, body) = app.graphql("{ session { id } }", json!({}), Some(&token)).await;
        body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    })
    .await;
    assert!(answered, "a lost session is UNAUTHENTICATED once Redis answers again, not INTERNAL forever");
    let fresh = app.start_session().await;
    let (_, me) = app.graphql("{ session { id } }", json!({}), Some(&fresh)).await;
    assert!(me["data"]["session"]["id"].is_string(), "{me}");
    app.stop().await;
}
