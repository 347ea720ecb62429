//! Ops endpoints, and health following a real Redis that dies and returns.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Backend, SERVICE_STATUS, TestApp, eventually, free_port};

async fn get_json(app: &TestApp, path: &str) -> (u16, Value) {
    let response = app.http.get(app.url(path)).send().await.expect("sent");
    (response.status().as_u16(), response.json().await.expect("json"))
}

#[tokio::test]
async fn health_status_metrics_and_performance_report_the_instance() {
    let app = TestApp::spawn(Backend::Redis).await;
    let (status, health) = get_json(&app, "/api/health").await;
    assert_eq!(status, 200, "{health}");
    assert_eq!((health["status"].as_str(), health["ready"].as_bool()), (Some("OK"), Some(true)), "{health}");

    let token = app.start_session().await;
    for _ in 0..3 {
        let (_, body) = app.graphql(SERVICE_STATUS, json!({}), Some(&token)).await;
        assert_eq!(body["data"]["serviceStatus"]["status"], "OK", "{body}");
        assert_eq!(body["data"]["serviceStatus"]["version"], env!("CARGO_PKG_VERSION"));
    }
    let _ = app.graphql("{ sesion }", json!({}), None).await;

    let (_, status) = get_json(&app, "/api/status").await;
    assert_eq!(
        status["backends"],
        json!({ "sessions": "redis", "eventBus": "redis", "store": "postgres" }),
        "{status}"
    );
    assert!(status["redis"]["pool"]["maxSize"].as_u64().unwrap_or(0) > 0, "{status}");
    assert!(status["sql"]["pool"]["maxSize"].as_u64().unwrap_or(0) > 0, "{status}");
    assert_eq!(status["sql"]["writer"], Value::Null, "PostgreSQL writes on the same pool: {status}");
    assert_eq!(status["websocket"], json!({ "connections": 0, "subscriptions": 0 }));
    assert!(status["uptimeSeconds"].is_u64());

    let metrics = app.http.get(app.url("/api/metrics")).send().await.expect("metrics");
    assert!(metrics.headers()["content-type"].to_str().unwrap_or("").starts_with("text/plain"));
    let text = metrics.text().await.expect("text");
    for series in [
        "wayfarer_graphql_operations_total{operation=\"ServiceStatus\",type=\"query\"}",
        "wayfarer_graphql_operation_duration_seconds_bucket{operation=\"StartSession\",type=\"mutation\"",
        "wayfarer_graphql_errors_total{code=\"BAD_USER_INPUT\"}",
        "wayfarer_websocket_connections",
        "wayfarer_redis_pool_connections{state=\"max\"}",
        "wayfarer_sql_pool_connections{state=\"open\"}",
        "wayfarer_http_requests_total{",
    ] {
        assert!(text.contains(series), "missing {series} in\n{text}");
    }

    let (_, performance) = get_json(&app, "/api/performance").await;
    let op = &performance["operations"]["query:ServiceStatus"];
    assert_eq!(op["count"], 3, "{performance}");
    for key in ["p50Ms", "p95Ms", "p99Ms", "maxMs", "throughputPerSecond"] {
        assert!(op[key].is_number(), "{key}: {performance}");
    }
    app.stop().await;
}

/// A redis-server of this test's own, so it can be killed without harming
/// others; stopped when dropped, so a test that ends (or fails) with it
/// running leaves no server behind.
struct PrivateRedis {
    child: std::process::Child,
    port: u16,
    dir: Option<tempfile::TempDir>,
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl PrivateRedis {
    fn start_on(port: u16, dir: tempfile::TempDir) -> Self {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (bash .ci/test installs it)");
        let redis = Self { child, port, dir: Some(dir) };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return redis;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("private redis-server did not start");
    }

    fn kill(mut self) -> (u16, tempfile::TempDir) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = self.dir.take().unwrap_or_else(|| tempfile::tempdir().expect("tempdir"));
        (self.port, dir)
    }
}

#[tokio::test]
async fn health_reports_redis_down_fast_then_recovers_and_the_bus_resubscribes() {
    let redis = PrivateRedis::start_on(free_port(), tempfile::tempdir().expect("tempdir"));
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let app = TestApp::spawn_with(Backend::Memory, |s| {
        s.redis.url = Some(secrecy::SecretString::from(url));
        s.redis.connection_timeout = Duration::from_millis(300);
        s.redis.command_timeout = Duration::from_millis(300);
        s.status.check_timeout = Duration::from_millis(500);
    })
    .await;
    let token = app.start_session().await;
    assert_eq!(get_json(&app, "/api/health").await.0, 200);

    let (port, dir) = redis.kill();
    assert!(
        eventually(Duration::from_secs(5), async || get_json(&app, "/api/health").await.0 == 503).await,
        "health turns 503 while Redis is down"
    );
    let (_, health) = get_json(&app, "/api/health").await;
    let sessions = health["components"].as_array().and_then(|c| c.iter().find(|c| c["name"] == "sessions")).cloned();
    assert_eq!(sessions.map(|s| s["status"].clone()), Some(json!("DOWN")), "{health}");

    // Requests fail fast with a clear error rather than hang.
    let started = std::time::Instant::now();
    let (status, body) = app.graphql("{ session { id } }", json!({}), Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(body["errors"][0]["extensions"]["code"], "INTERNAL", "{body}");
    assert!(started.elapsed() < Duration::from_secs(5), "bounded by the Redis timeouts");

    // Redis returns (empty: no persistence): the service recovers on its own.
    let _redis = PrivateRedis::start_on(port, dir);
    assert!(
        eventually(Duration::from_secs(15), async || get_json(&app, "/api/health").await.0 == 200).await,
        "health recovers"
    );
    assert!(
        eventually(Duration::from_secs(15), async || {
            let (_, health) = get_json(&app, "/api/health").await;
            health["components"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["name"] == "eventBus" && c["status"] == "OK"))
        })
        .await,
        "the event bus resubscribed"
    );
    // The session was in the lost Redis: the token is now unknown, not an error.
    let (_, body) = app.graphql("{ session { id } }", json!({}), Some(&token)).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{body}");
    let fresh = app.start_session().await;
    let (_, body) = app.graphql("{ session { id } }", json!({}), Some(&fresh)).await;
    assert!(body["data"]["session"]["id"].is_string(), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn status_shows_the_sqlite_writer_beside_the_read_pool() {
    let app = TestApp::spawn(Backend::Memory).await;
    // A write, so the writer has opened its connection.
    app.start_session().await;
    let _ = app.state.store().register_instance("status-writer-test", "0", chrono::Utc::now()).await;
    let (_, status) = get_json(&app, "/api/status").await;
    assert_eq!(status["backends"]["store"], "sqlite", "{status}");
    assert_eq!(status["sql"]["writer"]["maxSize"], 1, "one writing connection: {status}");
    assert!(status["sql"]["pool"]["maxSize"].as_u64().unwrap_or(0) > 1, "reads on their own pool: {status}");
    let text = app.http.get(app.url("/api/metrics")).send().await.expect("metrics").text().await.expect("text");
    assert!(text.contains("wayfarer_sql_writer_connections{state=\"open\"}"), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn unknown_paths_are_404_json() {
    let app = TestApp::spawn(Backend::Memory).await;
    let (status, body) = get_json(&app, "/nope").await;
    assert_eq!((status, body["errors"][0]["extensions"]["code"].as_str()), (404, Some("NOT_FOUND")));
    // Pages are not API paths: `/playground` is served (tests/api/pages.rs
    // covers its content, built or not).
    let page = app.http.get(app.url("/playground")).send().await.expect("page");
    assert_eq!(page.status(), 200);
    app.stop().await;
}
