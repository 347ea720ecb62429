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

#[tokio::test]
async fn two_instances_share_search_answers_and_offers_through_redis() {
    // One sandbox for both instances, as one set of real providers would be.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let sandbox = format!("http://{}", listener.local_addr().expect("addr"));
    let config = wayfarer::sandbox::SandboxConfig::default();
    let credentials = config.clone();
    tokio::spawn(wayfarer::sandbox::serve(listener, config, std::future::pending()));
    let env = [
        ("REDIS_URL", redis_url()),
        ("DATABASE_URL", fresh_postgres_database().await),
        ("WAYFARER_REDIS__KEY_PREFIX", unique_prefix()),
        ("WAYFARER_PROVIDERS__AMADEUS__BASE_URL", sandbox.clone()),
        ("WAYFARER_PROVIDERS__AMADEUS__CLIENT_ID", credentials.amadeus_client_id.clone()),
        ("WAYFARER_PROVIDERS__AMADEUS__CLIENT_SECRET", credentials.amadeus_client_secret.clone()),
        ("WAYFARER_PROVIDERS__DUFFEL__BASE_URL", sandbox.clone()),
        ("WAYFARER_PROVIDERS__DUFFEL__TOKEN", credentials.duffel_token.clone()),
    ];
    let a = ServerProcess::start(&env).await;
    let b = ServerProcess::start(&env).await;
    let started = graphql(a.addr, START_SESSION, None).await;
    let token = started["data"]["startSession"]["token"].as_str().expect("token").to_owned();
    let day = (chrono::Utc::now().date_naive() + chrono::Duration::days(21)).to_string();
    let search = format!(
        "{{ searchFlights(input: {{ origin: \"LIS\", destination: \"ROM\", departureDate: \"{day}\" }}) {{ totalCount offers {{ id }} }} }}"
    );
    let calls = || async {
        let calls: Value =
            reqwest::get(format!("{sandbox}/_sandbox/calls")).await.expect("calls").json().await.expect("json");
        (calls["amadeus"]["search"].as_u64().unwrap_or(0), calls["duffel"]["search"].as_u64().unwrap_or(0))
    };
    let on_a = graphql(a.addr, &search, Some(&token)).await;
    assert!(on_a.get("errors").is_none(), "{on_a}");
    assert_eq!(calls().await, (1, 1));
    let on_b = graphql(b.addr, &search, Some(&token)).await;
    assert_eq!(on_b["data"], on_a["data"], "B answers from the shared cache");
    assert_eq!(calls().await, (1, 1), "B asked no provider");
    let id = on_a["data"]["searchFlights"]["offers"][0]["id"].as_str().expect("id").to_owned();
    let offer = graphql(b.addr, &format!("{{ flightOffer(id: \"{id}\") {{ id provider }} }}"), Some(&token)).await;
    assert_eq!(offer["data"]["flightOffer"]["id"], id, "an offer found on A is there on B: {offer}");
}

#[tokio::test]
async fn identical_progress_subscriptions_on_two_instances_share_one_run() {
    let (a, b, sandbox) = crate::helpers::two_instances_on_one_sandbox(|_| {}).await;
    // Slow providers, so both subscriptions overlap the one run.
    for name in ["amadeus", "duffel"] {
        let url = format!("{sandbox}/_sandbox/personalities/{name}");
        let response = reqwest::Client::new().put(url).json(&json!({ "latencyMs": 600 })).send().await.expect("put");
        assert!(response.status().is_success());
    }
    let token = a.start_session().await;
    let day = (chrono::Utc::now().date_naive() + chrono::Duration::days(47)).to_string();
    let query = "subscription($input: FlightSearchInput!) { flightSearchProgress(input: $input) { provider status done offers { id } } }";
    let subscribe = |app: &crate::helpers::TestApp| {
        let token = token.clone();
        let day = day.clone();
        let addr = app.addr;
        async move {
            let mut ws = connect_ws(addr, "graphql-transport-ws", &[]).await;
            ws.send_json(
                json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } }),
            )
            .await;
            assert_eq!(ws.next_json().await["type"], "connection_ack");
            let input = json!({ "origin": "LIS", "destination": "BER", "departureDate": day });
            ws.send_json(json!({ "id": "p", "type": "subscribe", "payload": { "query": query, "variables": { "input": input } } }))
                .await;
            let mut providers = Vec::new();
            loop {
                let message = ws.next_json().await;
                if message["type"] == "complete" {
                    break;
                }
                let step = &message["payload"]["data"]["flightSearchProgress"];
                if step["done"] == true {
                    let ids: Vec<String> =
                        step["offers"].as_array().expect("offers").iter().map(|o| o["id"].to_string()).collect();
                    providers.sort();
                    return (providers, ids);
                }
                assert_eq!(step["status"], "OK", "{message}");
                providers.push(step["provider"].as_str().expect("provider").to_owned());
            }
            panic!("completed before done");
        }
    };
    let (on_a, on_b) = tokio::join!(subscribe(&a), subscribe(&b));
    assert_eq!(on_a.0, ["amadeus", "duffel"]);
    assert_eq!(on_a, on_b, "both saw the same answers");
    assert!(!on_a.1.is_empty());
    let calls: Value =
        reqwest::get(format!("{sandbox}/_sandbox/calls")).await.expect("calls").json().await.expect("json");
    assert_eq!(calls["amadeus"]["search"], 1, "one run for both instances: {calls}");
    assert_eq!(calls["duffel"]["search"], 1, "{calls}");
    a.stop().await;
    b.stop().await;
}
