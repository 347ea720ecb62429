//! Real server processes: two instances sharing one Redis behave as one, and
//! SIGTERM shuts a server down gracefully.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    END_SESSION, START_SESSION, ServerProcess, connect_ws, fresh_postgres_database, redis_url, unique_prefix,
};

async fn graphql(addr: std::net::SocketAddr, query: &str, token: Option<&str>) -> Value {
    let mut request = reqwest::Client::new().post(format!("http://{addr}/graphql")).json(&json!({ "query": query }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("sent").json().await.expect("json")
}

async fn status(addr: std::net::SocketAddr) -> Value {
    reqwest::get(format!("http://{addr}/api/status")).await.expect("status").json().await.expect("json")
}

#[tokio::test]
async fn two_instances_sharing_redis_behave_as_one() {
    let env = [
        ("REDIS_URL", redis_url()),
        ("DATABASE_URL", fresh_postgres_database().await),
        ("WAYFARER_REDIS__KEY_PREFIX", unique_prefix()),
        ("WAYFARER_STATUS__INTERVAL", "200ms".to_owned()),
    ];
    let a = ServerProcess::start(&env).await;
    let b = ServerProcess::start(&env).await;
    let a_instance = status(a.addr).await["instance"].as_str().expect("instance").to_owned();
    let b_instance = status(b.addr).await["instance"].as_str().expect("instance").to_owned();
    assert_ne!(a_instance, b_instance);

    // A session started on A works on B.
    let started = graphql(a.addr, START_SESSION, None).await;
    let token = started["data"]["startSession"]["token"].as_str().expect("token").to_owned();
    let on_b = graphql(b.addr, "{ session { id } }", Some(&token)).await;
    assert_eq!(on_b["data"]["session"]["id"], started["data"]["startSession"]["session"]["id"], "{on_b}");

    // An event published on A reaches a subscriber connected to B.
    let mut ws = connect_ws(b.addr, "graphql-transport-ws", &[]).await;
    ws.send_json(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } })).await;
    assert_eq!(ws.next_json().await["type"], "connection_ack");
    ws.send_json(json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { serviceStatus { instance status } }" } }))
        .await;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..40 {
        let message = ws.next_json().await;
        if let Some(instance) = message["payload"]["data"]["serviceStatus"]["instance"].as_str() {
            seen.insert(instance.to_owned());
        }
        if seen.contains(&a_instance) && seen.contains(&b_instance) {
            break;
        }
    }
    assert!(seen.contains(&a_instance), "B's subscriber saw A's snapshots: {seen:?}");
    assert!(seen.contains(&b_instance));

    // Both instances see each other in the shared store.
    let listed: Vec<String> = status(a.addr).await["instances"]
        .as_array()
        .expect("instances")
        .iter()
        .filter_map(|i| i["id"].as_str().map(str::to_owned))
        .collect();
    assert!(listed.contains(&a_instance) && listed.contains(&b_instance), "{listed:?}");

    // Ending the session on A closes its socket on B.
    let ended = graphql(a.addr, END_SESSION, Some(&token)).await;
    assert_eq!(ended["data"]["endSession"], true);
    let closed = ws.closed_within(Duration::from_secs(5)).await;
    assert_eq!(closed, crate::helpers::Closed::Code(4403));
}

#[tokio::test]
async fn sigterm_completes_subscriptions_closes_1001_and_exits_zero() {
    let mut server = ServerProcess::start(&[("WAYFARER_STATUS__INTERVAL", "200ms".to_owned())]).await;
    let started = graphql(server.addr, START_SESSION, None).await;
    let token = started["data"]["startSession"]["token"].as_str().expect("token").to_owned();
    let mut ws = connect_ws(server.addr, "graphql-transport-ws", &[]).await;
    ws.send_json(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } })).await;
    assert_eq!(ws.next_json().await["type"], "connection_ack");
    ws.send_json(json!({ "id": "live", "type": "subscribe", "payload": { "query": "subscription { serviceStatus { status } }" } }))
        .await;
    assert_eq!(ws.next_json().await["type"], "next");

    server.terminate();
    loop {
        let message = ws.next_json().await;
        if message["type"] == "complete" {
            assert_eq!(message["id"], "live");
            break;
        }
    }
    assert_eq!(ws.closed_within(Duration::from_secs(5)).await, crate::helpers::Closed::Code(1001));
    let exit =
        tokio::time::timeout(Duration::from_secs(15), server.child.wait()).await.expect("exits").expect("status");
    assert!(exit.success(), "exit status {exit:?}");
    // And it no longer accepts connections.
    assert!(reqwest::get(format!("http://{}/api/health", server.addr)).await.is_err());
}
