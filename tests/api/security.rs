//! The security review's checks, run against the real server: a session
//! token and card numbers sent every way a client can never appear in the
//! debug log, the SQL store or Redis (only the redacted `[card ending
//! NNNN]`); the production profile hides the schema (no introspection, no
//! "Did you mean"); the HTML pages carry their security headers; and what a
//! client sends cannot choose the host of an outbound call.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Row as _;
use wayfarer::config::Profile;

use crate::booking::{CREATE_PAYMENT_LINK, Client, adult, codes, contact};
use crate::helpers::{
    Backend, START_SESSION, ServerProcess, TestApp, connect_ws, fresh_postgres_database, redis_url, unique_prefix,
};

const CARD_SPACED: &str = "4242 4242 4242 4242";
const CARD_PLAIN: &str = "4242424242424242";
const CARD_DASHED: &str = "4000-0566-5566-5556";
const CARD_DASHED_PLAIN: &str = "4000056655665556";

async fn post(http: &reqwest::Client, addr: std::net::SocketAddr, body: Value, token: Option<&str>) -> Value {
    let mut request = http.post(format!("http://{addr}/graphql")).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("sent").json::<Value>().await.expect("JSON")
}

/// Every value under the Redis prefix, as text.
async fn redis_dump(prefix: &str) -> (usize, String) {
    let client = redis::Client::open(redis_url()).expect("redis URL");
    let mut conn = client.get_multiplexed_async_connection().await.expect("redis");
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}:*")).query_async(&mut conn).await.expect("KEYS");
    let mut text = String::new();
    for key in &keys {
        let kind: String = redis::cmd("TYPE").arg(key).query_async(&mut conn).await.expect("TYPE");
        let values: Vec<Vec<u8>> = match kind.as_str() {
            "string" => vec![redis::cmd("GET").arg(key).query_async(&mut conn).await.expect("GET")],
            "hash" => redis::cmd("HGETALL").arg(key).query_async(&mut conn).await.expect("HGETALL"),
            "list" => redis::cmd("LRANGE").arg(key).arg(0).arg(-1).query_async(&mut conn).await.expect("LRANGE"),
            "set" => redis::cmd("SMEMBERS").arg(key).query_async(&mut conn).await.expect("SMEMBERS"),
            "zset" => redis::cmd("ZRANGE").arg(key).arg(0).arg(-1).query_async(&mut conn).await.expect("ZRANGE"),
            _ => Vec::new(),
        };
        text.push_str(key);
        text.push('\n');
        for value in values {
            text.push_str(&String::from_utf8_lossy(&value));
            text.push('\n');
        }
    }
    (keys.len(), text)
}

/// Every row of every table of the database, as JSON text.
async fn sql_dump(url: &str) -> (usize, String) {
    let pool = sqlx::PgPool::connect(url).await.expect("connect");
    let tables: Vec<String> =
        sqlx::query("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'")
            .fetch_all(&pool)
            .await
            .expect("tables")
            .iter()
            .map(|row| row.get::<String, _>(0))
            .collect();
    let mut rows = 0;
    let mut text = String::new();
    for table in tables {
        let dumped = sqlx::query(&format!("SELECT row_to_json(t)::text FROM \"{table}\" t"))
            .fetch_all(&pool)
            .await
            .expect("rows");
        for row in dumped {
            rows += 1;
            text.push_str(&row.get::<String, _>(0));
            text.push('\n');
        }
    }
    pool.close().await;
    (rows, text)
}

fn assert_clean(place: &str, text: &str, token: &str) {
    assert!(!text.contains(token), "the session token is in the {place}");
    for card in [CARD_SPACED, CARD_PLAIN, CARD_DASHED, CARD_DASHED_PLAIN] {
        assert!(!text.contains(card), "the card number {card} is in the {place}");
    }
}

#[tokio::test]
async fn tokens_and_card_numbers_reach_no_log_and_no_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("wayfarer.log");
    let database = fresh_postgres_database().await;
    let prefix = unique_prefix();
    let env = [
        ("RUST_LOG", "debug".to_owned()),
        ("DATABASE_URL", database.clone()),
        ("REDIS_URL", redis_url()),
        ("WAYFARER_REDIS__KEY_PREFIX", prefix.clone()),
    ];
    let mut server = ServerProcess::start_with_log(&env, Some(&log)).await;
    let http = reqwest::Client::new();
    let addr = server.addr;
    let started = post(&http, addr, json!({ "query": START_SESSION }), None).await;
    let token = started["data"]["startSession"]["token"].as_str().expect("token").to_owned();

    // Chat: card numbers in free text are kept only as their last four digits.
    for text in [
        format!("Hi, my card is {CARD_SPACED}, fly two of us from Lisbon to Paris next Friday"),
        format!("charge {CARD_DASHED} please"),
    ] {
        let reply = post(
            &http,
            addr,
            json!({ "query": "mutation($t: String!) { sendMessage(text: $t) { reply { text } } }", "variables": { "t": text } }),
            Some(&token),
        )
        .await;
        assert!(reply["data"]["sendMessage"]["reply"]["text"].is_string(), "{reply}");
    }
    let transcript =
        post(&http, addr, json!({ "query": "{ session { conversation { messages { role text } } } }" }), Some(&token))
            .await;
    let shown = transcript.to_string();
    assert!(shown.contains("[card ending 4242]") && shown.contains("[card ending 5556]"), "{shown}");

    // Traveller fields and the payment method: refused, never echoed.
    let search = post(
        &http,
        addr,
        json!({
            "query": "query($input: FlightSearchInput!) { searchFlights(input: $input) { offers { id } } }",
            "variables": { "input": { "origin": "LIS", "destination": "MAD",
                "departureDate": (chrono::Utc::now().date_naive() + chrono::Duration::days(30)).to_string() } }
        }),
        Some(&token),
    )
    .await;
    let offer = search["data"]["searchFlights"]["offers"][0]["id"].as_str().expect("an offer").to_owned();
    let create = "mutation($input: CreateBookingInput!) { createBooking(input: $input) { booking { id } } }";
    let mut card_document = adult("Ana", "Silva");
    card_document["document"]["number"] = json!(CARD_PLAIN);
    let mut card_email = contact();
    card_email["email"] = json!(format!("{CARD_PLAIN}@example.com"));
    for (travelers, contact, field) in [
        (json!([card_document]), contact(), "input.travelers.0.document.number"),
        (json!([adult("Ana", "Silva")]), card_email, "input.contact.email"),
    ] {
        let body = post(
            &http,
            addr,
            json!({ "query": create, "variables": { "input": { "offerId": offer, "travelers": travelers, "contact": contact } } }),
            Some(&token),
        )
        .await;
        assert_eq!(codes(&body), vec!["BAD_USER_INPUT".to_owned()], "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
        assert!(!body.to_string().contains(CARD_PLAIN), "the error repeats the number: {body}");
    }
    let booked = post(
        &http,
        addr,
        json!({ "query": create, "variables": { "input": { "offerId": offer, "travelers": [adult("Ana", "Silva")], "contact": contact() } } }),
        Some(&token),
    )
    .await;
    let booking = booked["data"]["createBooking"]["booking"]["id"].as_str().expect("booked").to_owned();
    let pay = post(
        &http,
        addr,
        json!({
            "query": "mutation($input: PayForBookingInput!) { payForBooking(input: $input) { payment { id } } }",
            "variables": { "input": { "bookingId": booking, "paymentMethod": CARD_SPACED, "idempotencyKey": "security-key-1" } }
        }),
        Some(&token),
    )
    .await;
    assert_eq!(codes(&pay), vec!["BAD_USER_INPUT".to_owned()], "{pay}");
    let push = post(
        &http,
        addr,
        json!({
            "query": "mutation($input: NotificationPreferencesInput!) { updateNotificationPreferences(input: $input) { push } }",
            "variables": { "input": { "push": true, "pushToken": CARD_PLAIN } }
        }),
        Some(&token),
    )
    .await;
    assert_eq!(codes(&push), vec!["BAD_USER_INPUT".to_owned()], "{push}");

    // The token over WebSocket, in connection_init, and a query on it.
    let mut ws = connect_ws(addr, "graphql-transport-ws", &[]).await;
    ws.send_json(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } })).await;
    assert_eq!(ws.next_json().await["type"], "connection_ack");
    ws.send_json(json!({ "id": "1", "type": "subscribe", "payload": { "query": "{ session { id } }" } })).await;
    assert_eq!(ws.next_json().await["type"], "next");
    // And a well-formed token that is not a session's.
    let stranger = "A".repeat(43);
    let refused = post(&http, addr, json!({ "query": "{ session { id } }" }), Some(&stranger)).await;
    assert_eq!(codes(&refused), vec!["UNAUTHENTICATED".to_owned()], "{refused}");

    server.terminate();
    let exited = tokio::time::timeout(Duration::from_secs(30), server.child.wait()).await;
    assert!(exited.is_ok(), "the server stops on SIGTERM");
    let logged = std::fs::read_to_string(&log).expect("log");
    assert!(logged.contains("DEBUG"), "the log is at debug level");
    assert!(logged.lines().count() > 50, "the log records the requests");
    assert_clean("log", &logged, &token);
    assert!(!logged.contains(&stranger), "a refused token is in the log");

    let (rows, sql) = sql_dump(&database).await;
    assert!(rows > 0 && sql.contains("Silva"), "the dump sees the booking");
    assert_clean("SQL store", &sql, &token);
    let (keys, cached) = redis_dump(&prefix).await;
    assert!(keys > 0 && cached.contains("[card ending 4242]"), "the dump sees the conversation");
    assert_clean("Redis", &cached, &token);
}

#[tokio::test]
async fn the_production_profile_hides_the_schema() {
    let introspect = json!({ "query": "{ __schema { types { name } } }" });
    let typo = json!({ "query": "{ sesion { id } }" });
    let development = TestApp::spawn(Backend::Memory).await;
    let http = reqwest::Client::new();
    let shown = post(&http, development.addr, introspect.clone(), None).await;
    assert!(shown["data"]["__schema"]["types"].as_array().is_some_and(|t| !t.is_empty()), "{shown}");
    let hinted = post(&http, development.addr, typo.clone(), None).await;
    assert!(hinted.to_string().contains("Did you mean"), "{hinted}");
    development.stop().await;

    let production = TestApp::spawn_with(Backend::Memory, |s| s.profile = Profile::Production).await;
    let hidden = post(&http, production.addr, introspect, None).await;
    assert!(hidden["data"]["__schema"]["types"].is_null(), "{hidden}");
    let unhinted = post(&http, production.addr, typo, None).await;
    assert_eq!(codes(&unhinted), vec!["BAD_USER_INPUT".to_owned()], "{unhinted}");
    assert!(!unhinted.to_string().contains("Did you mean"), "{unhinted}");
    // The API itself works.
    let alive = post(&http, production.addr, json!({ "query": "{ __typename }" }), None).await;
    assert_eq!(alive["data"]["__typename"], "Query");
    production.stop().await;
}

#[tokio::test]
async fn html_pages_carry_the_security_headers() {
    let app = TestApp::spawn(Backend::Memory).await;
    for path in ["/", "/playground"] {
        let response = app.http.get(app.url(path)).send().await.expect("sent");
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        assert!(header("content-security-policy").contains("frame-ancestors 'none'"), "{path}");
        assert!(header("content-security-policy").contains("default-src 'none'"), "{path}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
        assert!(header("permissions-policy").contains("camera=()"), "{path}");
        assert!(headers.get("strict-transport-security").is_none(), "no HSTS over plain http: {path}");
    }
    app.stop().await;
    let behind_https = TestApp::spawn_with(Backend::Memory, |s| {
        s.payments.public_base_url = Some("https://wayfarer.example".to_owned());
    })
    .await;
    let response = behind_https.http.get(behind_https.url("/")).send().await.expect("sent");
    let hsts = response.headers().get("strict-transport-security").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(hsts.starts_with("max-age="), "HSTS behind an https public URL: {hsts:?}");
    behind_https.stop().await;
}

#[tokio::test]
async fn a_client_cannot_choose_an_outbound_host() {
    let app = TestApp::spawn(Backend::Memory).await;
    let sandbox = url::Url::parse(app.state.sandbox_url().expect("the bundled sandbox")).expect("url");
    let client = Client::new(&app).await;
    let offer = client.offers("duffel", "MAD", 30, json!({})).await[0].clone();
    let booking = client.book(offer["id"].as_str().unwrap()).await;
    // A forged Host and forwarding headers do not move the payment page or
    // the links it returns the payer to.
    let response = app
        .http
        .post(app.url("/graphql"))
        .bearer_auth(&client.token)
        .header("host", "evil.example")
        .header("x-forwarded-host", "evil.example")
        .header("forwarded", "host=evil.example;proto=https")
        .json(&json!({ "query": CREATE_PAYMENT_LINK, "variables": { "bookingId": booking["id"] } }))
        .send()
        .await
        .expect("sent");
    let body: Value = response.json().await.expect("JSON");
    let link = url::Url::parse(body["data"]["createPaymentLink"]["url"].as_str().expect("a link")).expect("url");
    assert_eq!((link.host_str(), link.port()), (sandbox.host_str(), sandbox.port()), "{body}");
    let page = app.http.get(link.as_str()).send().await.expect("page").text().await.expect("text");
    assert!(!page.contains("evil.example"), "the page links to a forged host");
    // An offer id is the server's own: one naming another host is not fetched, it is unknown.
    for forged in ["http://169.254.169.254/latest/meta-data", "@evil.example/x", "../../../v1/balance"] {
        let body = client
            .run("mutation($id: ID!) { priceOffer(offerId: $id) { offer { id } } }", json!({ "id": forged }))
            .await;
        let code = codes(&body);
        assert!(code == ["NOT_FOUND"] || code == ["OFFER_EXPIRED"] || code == ["BAD_USER_INPUT"], "{forged}: {body}");
    }
    app.stop().await;
}
