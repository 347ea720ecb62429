//! GraphQL requests over HTTP, decoded and executed the way the server does
//! it: the input's body goes through the real router (`wayfarer::http::router`
//! — content negotiation, body limit, JSON decoding, `parse_request`, the
//! request policy's limits, parse, validation and execution) of a real
//! application on the embedded backends (in-memory sessions and bus, SQLite
//! in a temporary directory, the bundled sandbox as every provider).
//!
//! The property is the contract's: bad input is a GraphQL error with a code,
//! never a panic, a 5xx, an `INTERNAL` error or a hang.
//!
//! Input: [flags][body…]; flag bit 0: `Accept: application/graphql-response+json`
//! (else `application/json`); bit 1: with a live session's bearer token (else
//! anonymous); bit 2: sent as `GET /graphql?query=<body>` instead of a POST body.
#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tower::ServiceExt as _;
use wayfarer::app::Application;
use wayfarer::config::Settings;

/// Longer than any honest request (the server's own timeout is 30 s and
/// answers 408); a request still running then is a hang.
const HANG: Duration = Duration::from_secs(40);

struct Harness {
    runtime: tokio::runtime::Runtime,
    router: Router,
    token: String,
    _data: std::path::PathBuf,
}

static HARNESS: LazyLock<Harness> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"));
    let data = std::env::temp_dir().join(format!("wayfarer-fuzz-{}", std::process::id()));
    let settings = Settings { listen: ([127, 0, 0, 1], 0).into(), data_dir: data.clone(), ..Settings::default() };
    let (router, token) = runtime.block_on(async move {
        let app = Application::build(settings).await.unwrap_or_else(|e| panic!("application: {e}"));
        let router = wayfarer::http::router(app.state().clone());
        // Served too: the sandbox's payment webhooks and return pages call back.
        tokio::spawn(app.run_until_stopped(std::future::pending()));
        let start =
            r#"{"query":"mutation { startSession(locale: \"en-US\", timeZone: \"Europe/Lisbon\") { token } }"}"#;
        let (status, body) = send(&router, post(start.as_bytes(), false, None)).await;
        assert_eq!(status, 200, "startSession: {body}");
        let token = body["data"]["startSession"]["token"].as_str().unwrap_or_default().to_owned();
        assert!(!token.is_empty(), "startSession gave no token: {body}");
        (router, token)
    });
    Harness { runtime, router, token, _data: data }
});

fn post(body: &[u8], graphql_response: bool, token: Option<&str>) -> Request<Body> {
    let mut request = Request::post("/graphql").header(header::CONTENT_TYPE, "application/json");
    request = request.header(header::ACCEPT, accept(graphql_response));
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    request.body(Body::from(body.to_vec())).unwrap_or_else(|e| panic!("request: {e}"))
}

fn get(query: &[u8], graphql_response: bool, token: Option<&str>) -> Option<Request<Body>> {
    let encoded: String = url_encode(query);
    let mut request = Request::get(format!("/graphql?query={encoded}"));
    request = request.header(header::ACCEPT, accept(graphql_response));
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    request.body(Body::empty()).ok()
}

fn accept(graphql_response: bool) -> &'static str {
    if graphql_response { "application/graphql-response+json" } else { "application/json" }
}

fn url_encode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(*b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn send(router: &Router, request: Request<Body>) -> (u16, Value) {
    let response = match tokio::time::timeout(HANG, router.clone().oneshot(request)).await {
        Ok(Ok(response)) => response,
        Ok(Err(infallible)) => match infallible {},
        Err(_) => panic!("the request did not finish within {HANG:?}"),
    };
    let status = response.status().as_u16();
    let bytes =
        axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap_or_else(|e| panic!("response body: {e}"));
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, body)
}

/// Every error in a body (one response, or a batch of them).
fn errors(body: &Value) -> Vec<&Value> {
    match body {
        Value::Array(list) => list.iter().flat_map(errors).collect(),
        Value::Object(map) => {
            map.get("errors").and_then(Value::as_array).map(|e| e.iter().collect()).unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else { return };
    let harness = &*HARNESS;
    let token = (flags & 2 != 0).then_some(harness.token.as_str());
    let request =
        if flags & 4 != 0 { get(body, flags & 1 != 0, token) } else { Some(post(body, flags & 1 != 0, token)) };
    let Some(request) = request else { return };
    let (status, response) = harness.runtime.block_on(send(&harness.router, request));
    assert!(status < 500, "HTTP {status}: {response}");
    for error in errors(&response) {
        let code = error["extensions"]["code"].as_str();
        assert!(code.is_some(), "an error without extensions.code: {response}");
        assert_ne!(code, Some("INTERNAL"), "an INTERNAL error: {response}");
    }
});
