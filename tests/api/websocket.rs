//! GraphQL over WebSocket: the graphql-transport-ws protocol with its close
//! codes, the legacy graphql-ws protocol, limits, origins, and that every
//! resource is released when clients vanish.

use std::time::Duration;

use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{
    Backend, Closed, END_SESSION, ON_SERVICE_STATUS, TestApp, connect_ws, eventually, try_connect_ws,
};

fn subscribe(id: &str, query: &str) -> serde_json::Value {
    json!({ "id": id, "type": "subscribe", "payload": { "query": query } })
}

async fn quick_app() -> TestApp {
    TestApp::spawn_with(Backend::Memory, |s| {
        s.websocket.connection_init_timeout = Duration::from_millis(400);
    })
    .await
}

async fn subscriptions_stream_and_complete(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.start_session().await;
    let mut ws = app.websocket_acked(&token).await;
    ws.send_json(subscribe("s1", ON_SERVICE_STATUS)).await;
    let first = ws.next_json().await;
    assert_eq!((first["type"].as_str(), first["id"].as_str()), (Some("next"), Some("s1")), "{first}");
    assert_eq!(first["payload"]["data"]["serviceStatus"]["status"], "OK", "{first}");
    let names: Vec<&str> = first["payload"]["data"]["serviceStatus"]["components"]
        .as_array()
        .expect("components")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names[..3], ["store", "sessions", "eventBus"]);
    // The periodic snapshot arrives through the event bus.
    let second = ws.next_json().await;
    assert_eq!(second["type"], "next", "{second}");
    assert!(eventually(Duration::from_secs(2), async || app.state.live_counts().subscriptions() == 1).await);

    ws.send_json(json!({ "id": "s1", "type": "complete" })).await;
    assert!(eventually(Duration::from_secs(2), async || app.state.live_counts().subscriptions() == 0).await);

    // Queries and mutations work over the socket too.
    ws.send_json(subscribe("q1", "{ session { locale } }")).await;
    let next = ws.next_json().await;
    assert_eq!(next["payload"]["data"]["session"]["locale"], "en", "{next}");
    assert_eq!(ws.next_json().await, json!({ "type": "complete", "id": "q1" }));
    ws.send_json(json!({ "type": "ping" })).await;
    assert_eq!(ws.next_json().await["type"], "pong");
    drop(ws);
    assert!(eventually(Duration::from_secs(2), async || app.state.live_counts().connections() == 0).await);
    app.stop().await;
}

#[tokio::test]
async fn subscriptions_stream_and_complete_in_memory() {
    subscriptions_stream_and_complete(Backend::Memory).await;
}

#[tokio::test]
async fn subscriptions_stream_and_complete_on_redis() {
    subscriptions_stream_and_complete(Backend::Redis).await;
}

#[tokio::test]
async fn rejected_auth_closes_4403() {
    let app = quick_app().await;
    for payload in
        [json!({}), json!({ "authorization": "Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }), json!(null)]
    {
        let mut ws = app.websocket("graphql-transport-ws").await;
        ws.send_json(json!({ "type": "connection_init", "payload": payload })).await;
        ws.expect_close(4403).await;
    }
    // A token on the upgrade request itself is accepted too (non-browser clients).
    let token = app.start_session().await;
    let mut ws = connect_ws(app.addr, "graphql-transport-ws", &[("authorization", &format!("Bearer {token}"))]).await;
    ws.send_json(json!({ "type": "connection_init" })).await;
    assert_eq!(ws.next_json().await["type"], "connection_ack");
    app.stop().await;
}

#[tokio::test]
async fn protocol_violations_get_their_close_codes() {
    let app = quick_app().await;
    let token = app.start_session().await;

    // No connection_init within the timeout → 4408.
    let mut ws = app.websocket("graphql-transport-ws").await;
    ws.expect_close(4408).await;

    // Subscribe before the ack → 4401.
    let mut ws = app.websocket("graphql-transport-ws").await;
    ws.send_json(subscribe("1", "{ __typename }")).await;
    ws.expect_close(4401).await;

    // A second connection_init → 4429.
    let mut ws = app.websocket_acked(&token).await;
    ws.send_json(json!({ "type": "connection_init", "payload": {} })).await;
    ws.expect_close(4429).await;

    // A duplicate active id → 4409.
    let mut ws = app.websocket_acked(&token).await;
    ws.send_json(subscribe("dup", ON_SERVICE_STATUS)).await;
    assert_eq!(ws.next_json().await["type"], "next");
    ws.send_json(subscribe("dup", ON_SERVICE_STATUS)).await;
    ws.expect_close(4409).await;

    // Garbage → 4400.
    for garbage in
        ["not json", "[1,2,3]", r#"{"type":"launch_missiles"}"#, r#"{"type":"subscribe","id":"x"}"#, r#"{"id":"x"}"#]
    {
        let mut ws = app.websocket_acked(&token).await;
        ws.send_text(garbage).await;
        ws.expect_close(4400).await;
    }
    let mut ws = app.websocket_acked(&token).await;
    ws.send(Message::binary(vec![1u8, 2, 3])).await;
    ws.expect_close(4400).await;

    // Over the message size limit → 1009.
    let mut ws = app.websocket_acked(&token).await;
    let big = json!({ "id": "big", "type": "subscribe", "payload": { "query": "{ __typename }", "extensions": { "pad": "x".repeat(65 * 1024) } } });
    ws.send_json(big).await;
    ws.expect_close(1009).await;

    assert!(eventually(Duration::from_secs(3), async || app.state.live_counts().connections() == 0).await);
    app.stop().await;
}

#[tokio::test]
async fn bad_operations_get_an_error_message_not_a_close() {
    let app = TestApp::spawn_with(Backend::Memory, |s| s.websocket.max_subscriptions = 2).await;
    let token = app.start_session().await;
    let mut ws = app.websocket_acked(&token).await;
    ws.send_json(subscribe("v", "subscription { nope }")).await;
    let error = ws.next_json().await;
    assert_eq!((error["type"].as_str(), error["id"].as_str()), (Some("error"), Some("v")), "{error}");
    assert_eq!(error["payload"][0]["extensions"]["code"], "BAD_USER_INPUT", "{error}");

    ws.send_json(subscribe("a", ON_SERVICE_STATUS)).await;
    ws.send_json(subscribe("b", ON_SERVICE_STATUS)).await;
    ws.send_json(subscribe("c", ON_SERVICE_STATUS)).await;
    let mut limited = None;
    for _ in 0..20 {
        let message = ws.next_json().await;
        if message["id"] == "c" {
            limited = Some(message);
            break;
        }
    }
    let limited = limited.expect("an answer for c");
    assert_eq!(limited["type"], "error", "{limited}");
    assert_eq!(limited["payload"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX");
    app.stop().await;
}

#[tokio::test]
async fn origins_are_checked_before_the_upgrade() {
    let app = quick_app().await;
    let foreign = try_connect_ws(app.addr, "graphql-transport-ws", &[("origin", "https://evil.example")]).await;
    match foreign {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("expected 403, got {:?}", other.map(|_| "an open socket")),
    }
    let local = try_connect_ws(app.addr, "graphql-transport-ws", &[("origin", "http://localhost:3000")]).await;
    assert!(local.is_ok(), "loopback origins are allowed");
    let same = format!("http://{}", app.addr);
    assert!(try_connect_ws(app.addr, "graphql-transport-ws", &[("origin", &same)]).await.is_ok());
    match try_connect_ws(app.addr, "", &[]).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 400),
        other => panic!("expected 400 without a subprotocol, got {:?}", other.map(|_| "an open socket")),
    }
    app.stop().await;
}

#[tokio::test]
async fn the_legacy_graphql_ws_protocol_works() {
    let app = quick_app().await;
    let token = app.start_session().await;
    let mut ws = app.websocket("graphql-ws").await;
    ws.send_json(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } })).await;
    assert_eq!(ws.next_json().await["type"], "connection_ack");
    assert_eq!(ws.next_json().await["type"], "ka");
    ws.send_json(json!({ "id": "1", "type": "start", "payload": { "query": ON_SERVICE_STATUS } })).await;
    let data = ws.next_json().await;
    assert_eq!((data["type"].as_str(), data["id"].as_str()), (Some("data"), Some("1")), "{data}");
    assert_eq!(data["payload"]["data"]["serviceStatus"]["status"], "OK");
    ws.send_json(json!({ "id": "1", "type": "stop" })).await;
    loop {
        let message = ws.next_json().await;
        if message["type"] == "complete" {
            assert_eq!(message["id"], "1");
            break;
        }
    }
    ws.send_json(json!({ "type": "connection_terminate" })).await;
    ws.expect_close(1000).await;

    let mut ws = app.websocket("graphql-ws").await;
    ws.send_json(json!({ "type": "connection_init", "payload": {} })).await;
    assert_eq!(ws.next_json().await["type"], "connection_error");
    ws.expect_close(4403).await;
    app.stop().await;
}

#[tokio::test]
async fn ending_the_session_closes_its_sockets() {
    let app = quick_app().await;
    let token = app.start_session().await;
    let mut ws = app.websocket_acked(&token).await;
    let (_, body) = app.graphql(END_SESSION, json!({}), Some(&token)).await;
    assert_eq!(body["data"]["endSession"], true);
    ws.expect_close(4403).await;
    app.stop().await;
}

#[tokio::test]
async fn the_server_pings_and_drops_a_silent_peer() {
    let app =
        TestApp::spawn_with(Backend::Memory, |s| s.websocket.keepalive_interval = Duration::from_millis(150)).await;
    let token = app.start_session().await;
    let mut ws = app.websocket_acked(&token).await;
    let saw_ping = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.raw_next().await {
                Some(Message::Ping(_)) => return true,
                Some(_) => continue,
                None => return false,
            }
        }
    })
    .await;
    assert_eq!(saw_ping, Ok(true));
    // A client that stops reading (and so never answers pings) is dropped.
    assert!(eventually(Duration::from_secs(5), async || app.state.live_counts().connections() == 0).await);
    drop(ws);
    app.stop().await;
}

#[tokio::test]
async fn a_thousand_subscribe_and_vanish_cycles_leave_nothing_behind() {
    let app = TestApp::spawn(Backend::Memory).await;
    let token = app.start_session().await;
    for _batch in 0..20 {
        let mut clients = Vec::new();
        for i in 0..50 {
            let mut ws = app.websocket_acked(&token).await;
            ws.send_json(subscribe(&format!("s{i}"), ON_SERVICE_STATUS)).await;
            clients.push(ws);
        }
        for mut ws in clients {
            assert_eq!(ws.next_json().await["type"], "next");
            ws.vanish();
        }
    }
    let live = app.state.live_counts().clone();
    assert!(
        eventually(Duration::from_secs(10), async || live.subscriptions() == 0 && live.connections() == 0).await,
        "left behind: {} subscriptions, {} connections",
        live.subscriptions(),
        live.connections()
    );
    let status: serde_json::Value =
        app.http.get(app.url("/api/status")).send().await.expect("status").json().await.expect("json");
    assert_eq!(status["websocket"], json!({ "connections": 0, "subscriptions": 0 }));
    app.stop().await;
}

#[tokio::test]
async fn shutdown_completes_subscriptions_and_closes_1001() {
    let app = TestApp::spawn(Backend::Memory).await;
    let token = app.start_session().await;
    let mut ws = app.websocket_acked(&token).await;
    ws.send_json(subscribe("live", ON_SERVICE_STATUS)).await;
    assert_eq!(ws.next_json().await["type"], "next");
    let stopping = tokio::spawn(app.stop());
    loop {
        match ws.raw_next().await {
            Some(Message::Text(text)) => {
                let message: serde_json::Value = serde_json::from_str(text.as_str()).expect("json");
                if message["type"] == "complete" {
                    assert_eq!(message["id"], "live");
                    break;
                }
            }
            Some(_) => continue,
            None => panic!("closed before complete"),
        }
    }
    assert_eq!(ws.closed_within(Duration::from_secs(5)).await, Closed::Code(1001));
    stopping.await.expect("stopped");
}
