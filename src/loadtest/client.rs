//! The load generator's clients: GraphQL over HTTP (reqwest, one pooled
//! client shared by every virtual user) and over WebSocket
//! (`graphql-transport-ws` with tokio-tungstenite), plus the sandbox's
//! control API.
//!
//! Responses are classified, not just timed: a request "succeeds" only with
//! data and no `errors`; otherwise its outcome is the first error's
//! `extensions.code`, the HTTP status, or `TRANSPORT`. Classifying reads
//! only `errors` and whether `data` is null (the rest is skipped, not
//! built): the load generator shares the cores with the server, and a
//! whole `serde_json::Value` of every 20 KiB search answer was 12 % of its
//! process. The full body is parsed only when a scenario asks for it.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use super::stats::Outcome;

/// A GraphQL-over-HTTP client for one server.
#[derive(Debug, Clone)]
pub struct GraphqlClient {
    http: reqwest::Client,
    base_url: String,
    endpoint: String,
}

/// A GraphQL response, classified.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The outcome the recorder counts.
    pub outcome: Outcome,
    /// The response body as received (empty when there was none).
    text: bytes::Bytes,
    /// The body parsed, on first use.
    parsed: std::sync::OnceLock<Value>,
}

impl Reply {
    fn new(outcome: Outcome, text: bytes::Bytes) -> Self {
        Self { outcome, text, parsed: std::sync::OnceLock::new() }
    }

    /// The response body (`Value::Null` when there was none or it was not JSON).
    pub fn body(&self) -> &Value {
        self.parsed.get_or_init(|| serde_json::from_slice(&self.text).unwrap_or(Value::Null))
    }

    /// `data.<field>` of the response.
    pub fn data(&self, field: &str) -> &Value {
        &self.body()["data"][field]
    }

    /// `data`, read as `T` without building the rest of the body.
    pub fn data_as<'a, T: serde::Deserialize<'a>>(&'a self) -> Option<T> {
        #[derive(serde::Deserialize)]
        struct Data<T> {
            data: Option<T>,
        }
        serde_json::from_slice::<Data<T>>(&self.text).ok().and_then(|body| body.data)
    }
}

/// What classifying reads of a body: the first error's code and whether
/// there is data. Everything else is skipped by the parser.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(default, borrow)]
    errors: Option<Vec<EnvelopeError<'a>>>,
    #[serde(default, borrow)]
    data: Option<&'a serde_json::value::RawValue>,
}

#[derive(serde::Deserialize)]
struct EnvelopeError<'a> {
    #[serde(default, borrow)]
    extensions: Option<EnvelopeExtensions<'a>>,
}

#[derive(serde::Deserialize)]
struct EnvelopeExtensions<'a> {
    #[serde(default, borrow)]
    code: Option<std::borrow::Cow<'a, str>>,
}

/// An HTTP client sized for `connections` concurrent requests to one host.
pub fn http_client(connections: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(connections.max(1))
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap_or_default()
}

impl GraphqlClient {
    /// A client of the server at `base_url` (`http://127.0.0.1:8000`).
    pub fn new(http: reqwest::Client, base_url: &str) -> Self {
        let base_url = base_url.trim_end_matches('/').to_owned();
        Self { http, endpoint: format!("{base_url}/graphql"), base_url }
    }

    /// The server's base URL (what [`Subscriber::connect`] takes).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The server's `GET /api/status` document.
    pub async fn server_status(&self) -> Result<Value, String> {
        let response = self
            .http
            .get(format!("{}/api/status", self.base_url))
            .send()
            .await
            .map_err(|e| format!("/api/status: {e}"))?;
        response.json().await.map_err(|e| format!("/api/status: {e}"))
    }

    /// Each provider's circuit (`CLOSED`, `OPEN`, `HALF_OPEN`) by name, from `/api/status`.
    pub async fn provider_circuits(&self) -> Result<Vec<(String, String)>, String> {
        let status = self.server_status().await?;
        Ok(status["providers"]
            .as_array()
            .map(|providers| {
                providers
                    .iter()
                    .map(|p| {
                        let field = |name: &str| p[name].as_str().unwrap_or("?").to_owned();
                        (field("name"), field("circuit"))
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Sends one operation.
    pub async fn execute(&self, query: &str, variables: Value, token: Option<&str>) -> Reply {
        let mut request = self
            .http
            .post(&self.endpoint)
            .header("content-type", "application/json")
            .header("accept", "application/graphql-response+json, application/json");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let sent = request.body(json!({ "query": query, "variables": variables }).to_string()).send().await;
        let response = match sent {
            Ok(response) => response,
            Err(_) => return Reply::new(Outcome::Error("TRANSPORT".into()), bytes::Bytes::new()),
        };
        let status = response.status();
        match response.bytes().await {
            Ok(text) => Reply::new(classify(status.as_u16(), &text), text),
            Err(_) => Reply::new(Outcome::Error("TRANSPORT".into()), bytes::Bytes::new()),
        }
    }

    /// A new session's bearer token.
    pub async fn start_session(&self) -> Result<String, String> {
        let reply = self
            .execute(
                "mutation { startSession(locale: \"en-GB\", timeZone: \"Europe/London\") { token } }",
                json!({}),
                None,
            )
            .await;
        match (&reply.outcome, reply.data("startSession")["token"].as_str()) {
            (Outcome::Ok, Some(token)) => Ok(token.to_owned()),
            (outcome, _) => Err(format!("startSession failed: {outcome:?} {}", reply.body())),
        }
    }
}

/// The outcome of an HTTP exchange with this status and body.
pub fn classify(status: u16, body: &[u8]) -> Outcome {
    let envelope = serde_json::from_slice::<Envelope<'_>>(body).ok();
    if let Some(first) = envelope.as_ref().and_then(|e| e.errors.as_ref()).and_then(|errors| errors.first()) {
        let code = first.extensions.as_ref().and_then(|e| e.code.as_deref()).unwrap_or("UNCODED");
        return Outcome::Error(code.to_owned());
    }
    if !(200..300).contains(&status) {
        return Outcome::Error(format!("HTTP_{status}"));
    }
    match envelope.and_then(|e| e.data) {
        Some(data) if data.get() != "null" => Outcome::Ok,
        _ => Outcome::Error("NO_DATA".into()),
    }
}

/// A `graphql-transport-ws` connection, acknowledged.
pub struct Subscriber {
    socket: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber").finish_non_exhaustive()
    }
}

impl Subscriber {
    /// Connects to `base_url`'s `/graphql`, sends `connection_init` with
    /// `token`, and waits for `connection_ack`.
    pub async fn connect(base_url: &str, token: &str) -> Result<Self, String> {
        let url = format!("{}/graphql", base_url.replacen("http", "ws", 1).trim_end_matches('/'));
        let mut request = url.into_client_request().map_err(|e| e.to_string())?;
        request.headers_mut().insert(
            "sec-websocket-protocol",
            tokio_tungstenite::tungstenite::http::HeaderValue::from_static("graphql-transport-ws"),
        );
        // Small buffers on purpose: ten thousand of these live in one process.
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(4 * 1024)
            .write_buffer_size(0);
        let (mut socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
            .await
            .map_err(|e| format!("websocket connect: {e}"))?;
        let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } });
        socket.send(Message::text(init.to_string())).await.map_err(|e| e.to_string())?;
        let mut subscriber = Self { socket };
        match subscriber.next_message(Duration::from_secs(30)).await {
            Some(message) if message["type"] == "connection_ack" => Ok(subscriber),
            other => Err(format!("no connection_ack: {other:?}")),
        }
    }

    /// Starts operation `id`.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) -> Result<(), String> {
        let message = json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } });
        self.socket.send(Message::text(message.to_string())).await.map_err(|e| e.to_string())
    }

    /// The next protocol message (pings answered on the way), or none when
    /// the socket closed or `within` passed.
    pub async fn next_message(&mut self, within: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.socket.next()).await.ok()??.ok()?;
            match frame {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(text.as_str()).ok()?;
                    if value["type"] == "ping" {
                        let pong = json!({ "type": "pong" }).to_string();
                        self.socket.send(Message::text(pong)).await.ok()?;
                        continue;
                    }
                    return Some(value);
                }
                Message::Close(_) => return None,
                _ => {}
            }
        }
    }

    /// Closes the socket politely.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

/// The sandbox's control API (`/_sandbox/…`).
#[derive(Debug, Clone)]
pub struct SandboxControl {
    http: reqwest::Client,
    base_url: String,
}

impl SandboxControl {
    /// The control API of the sandbox at `base_url`.
    pub fn new(base_url: &str) -> Self {
        Self { http: reqwest::Client::new(), base_url: base_url.trim_end_matches('/').to_owned() }
    }

    /// Its base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Sets both flight providers' latency and the most offers a search
    /// answers (`maxOffers`, 0: every offer of the route); no jitter, no faults.
    pub async fn set_providers(&self, latency: Duration, max_offers: u64) -> Result<(), String> {
        let millis = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        for personality in ["amadeus", "duffel"] {
            let url = format!("{}/_sandbox/personalities/{personality}", self.base_url);
            let body = json!({
                "latencyMs": millis,
                "jitterMs": 0,
                "errorRate": 0.0,
                "rateLimitRate": 0.0,
                "outage": false,
                "maxOffers": max_offers,
            });
            let response = self.http.put(url).json(&body).send().await.map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("sandbox refused the settings: {}", response.status()));
            }
        }
        Ok(())
    }

    /// Calls counted per personality and kind (`/_sandbox/calls`).
    pub async fn calls(&self) -> Result<Value, String> {
        let url = format!("{}/_sandbox/calls", self.base_url);
        let response = self.http.get(url).send().await.map_err(|e| e.to_string())?;
        response.json().await.map_err(|e| e.to_string())
    }

    /// Search calls to both flight providers so far.
    pub async fn search_calls(&self) -> Result<u64, String> {
        let calls = self.calls().await?;
        Ok(["amadeus", "duffel"].iter().map(|p| calls[p]["search"].as_u64().unwrap_or(0)).sum())
    }

    /// A GET of any control path, as JSON.
    pub async fn get(&self, path: &str) -> Result<Value, String> {
        let url = format!("{}{path}", self.base_url);
        let response = self.http.get(url).send().await.map_err(|e| e.to_string())?;
        response.json().await.map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_succeeds_only_with_data_and_no_errors() {
        let body = |value: Value| value.to_string().into_bytes();
        assert_eq!(classify(200, &body(json!({ "data": { "a": 1 } }))), Outcome::Ok);
        assert_eq!(
            classify(200, &body(json!({ "data": null, "errors": [{ "extensions": { "code": "NOT_FOUND" } }] }))),
            Outcome::Error("NOT_FOUND".into())
        );
        assert_eq!(classify(503, b""), Outcome::Error("HTTP_503".into()));
        assert_eq!(classify(200, &body(json!({ "errors": [{ "message": "x" }] }))), Outcome::Error("UNCODED".into()));
        assert_eq!(classify(200, &body(json!({ "data": null }))), Outcome::Error("NO_DATA".into()));
        assert_eq!(classify(200, b"not json"), Outcome::Error("NO_DATA".into()));
        let escaped = body(json!({ "errors": [{ "extensions": { "code": "BAD\"INPUT" } }] }));
        assert_eq!(classify(200, &escaped), Outcome::Error("BAD\"INPUT".into()), "escaped codes are read in full");
    }

    #[test]
    fn the_body_is_parsed_only_when_asked_and_data_can_be_read_typed() {
        let reply = Reply::new(Outcome::Ok, bytes::Bytes::from(r#"{"data":{"a":{"b":[1,2]}}}"#));
        assert!(reply.parsed.get().is_none());
        #[derive(serde::Deserialize)]
        struct A {
            a: serde_json::Value,
        }
        assert_eq!(reply.data_as::<A>().map(|d| d.a), Some(json!({ "b": [1, 2] })));
        assert!(reply.parsed.get().is_none(), "typed reads leave the body unparsed");
        assert_eq!(reply.data("a")["b"][1], 2);
        assert_eq!(Reply::new(Outcome::Ok, bytes::Bytes::new()).body(), &Value::Null);
    }
}
