//! GraphQL over WebSocket: `graphql-transport-ws` (the graphql-ws library's
//! protocol) and the legacy `graphql-ws` (subscriptions-transport-ws), on
//! `/graphql`, chosen from `Sec-WebSocket-Protocol`.
//!
//! The protocol is implemented here rather than through async-graphql's
//! handler, which closes with non-spec codes, replaces duplicate ids, has no
//! `connection_init` deadline, never pings and is invisible to graceful
//! shutdown. This one follows the graphql-ws PROTOCOL.md close codes (4400
//! malformed message, 4401 subscribe before ack, 4403 forbidden, 4408 init
//! timeout, 4409 duplicate id, 4429 repeated init, 4500 internal), closes 1009
//! for a message over the size limit, checks `Origin` before upgrading, sends
//! keep-alive pings and drops a peer that stops answering, caps
//! subscriptions per connection, closes when the session ends, and on
//! shutdown sends `complete` for every open subscription before closing 1001.
//! Operations run through the same schema (and so the same limits and error
//! codes) as HTTP. Every subscription holds a gauge unit that its task drops
//! however it ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRequestParts as _;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;

use super::graphql::{MediaType, ResponseBody, bearer_token, error_response, parse_request};
use crate::app::AppState;
use crate::events::{BusEvent, EventStream, Topic};
use crate::graphql::context::{RejectReason, RequestAuth};
use crate::graphql::errors::Code;
use crate::graphql::policy::Caller;
use crate::graphql::prerendered;
use crate::graphql::rate_limit::ClientAddr;
use crate::telemetry::metrics::{LiveGuard, LiveKind};

/// Frames above this are refused by the WebSocket layer itself (the socket
/// just drops); below it, messages over the configured limit get a clean 1009.
const HARD_FRAME_LIMIT: usize = 1024 * 1024;
/// Outbound messages queued per connection before subscriptions wait.
const OUTBOUND_QUEUE: usize = 64;
/// Longest a single write to a client may take; a client that does not read
/// is dropped rather than allowed to hold memory.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The two subprotocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `graphql-transport-ws`.
    TransportWs,
    /// Legacy `graphql-ws` (subscriptions-transport-ws).
    LegacyWs,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Self::TransportWs => "graphql-transport-ws",
            Self::LegacyWs => "graphql-ws",
        }
    }

    fn from_header(headers: &HeaderMap) -> Option<Self> {
        let offered: Vec<String> = headers
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(',').map(|p| p.trim().to_owned()))
            .collect();
        if offered.iter().any(|p| p == "graphql-transport-ws") {
            Some(Self::TransportWs)
        } else if offered.iter().any(|p| p == "graphql-ws") {
            Some(Self::LegacyWs)
        } else {
            None
        }
    }
}

/// Whether a GET is a WebSocket upgrade.
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.get(header::UPGRADE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Whether a browser `Origin` may open a socket: same-origin, a loopback
/// origin, or one on the configured allow-list.
pub fn origin_allowed(origin: &str, host: Option<&str>, allowed: &[String]) -> bool {
    if allowed.iter().any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin)) {
        return true;
    }
    let Ok(url) = url::Url::parse(origin) else {
        return false;
    };
    if !matches!(url.scheme(), "http" | "https") {
        return false;
    }
    let origin_host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_ascii_lowercase(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
        None => return false,
    };
    if matches!(origin_host.as_str(), "localhost" | "127.0.0.1" | "[::1]") {
        return true;
    }
    let authority = match url.port() {
        Some(port) => format!("{origin_host}:{port}"),
        None => origin_host,
    };
    host.is_some_and(|h| h.eq_ignore_ascii_case(&authority))
}

/// Checks `Origin` and the subprotocol, then upgrades.
pub async fn upgrade(app: AppState, parts: &mut Parts) -> Response {
    if let Some(origin) = parts.headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let host = parts.headers.get(header::HOST).and_then(|h| h.to_str().ok());
        if !origin_allowed(origin, host, &app.settings().server.allowed_origins) {
            tracing::warn!(origin, "WebSocket upgrade refused: origin not allowed");
            return error_response(
                StatusCode::FORBIDDEN,
                MediaType::Json,
                Code::Unauthenticated,
                "This origin may not open GraphQL WebSockets.",
            );
        }
    }
    let Some(protocol) = Protocol::from_header(&parts.headers) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            MediaType::Json,
            Code::BadUserInput,
            "Offer the WebSocket subprotocol graphql-transport-ws (or the legacy graphql-ws).",
        );
    };
    let header_token = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .map(str::to_owned);
    let upgrade = match WebSocketUpgrade::from_request_parts(parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return axum::response::IntoResponse::into_response(rejection),
    };
    let client = super::graphql::client_of(&app, parts);
    let tasks = app.websocket_tasks().clone();
    upgrade
        .protocols([protocol.name()])
        .max_message_size(HARD_FRAME_LIMIT)
        .max_frame_size(HARD_FRAME_LIMIT)
        // Small buffers: an idle socket then costs kilobytes, not the 128 KiB
        // tungstenite reserves by default.
        .read_buffer_size(8 * 1024)
        .write_buffer_size(8 * 1024)
        .on_upgrade(move |socket| tasks.track_future(Connection::new(app, protocol, header_token, client).run(socket)))
}

/// What the connection loop sends to the writer task.
enum Outbound {
    Text(String),
    Ping,
    Close(u16, &'static str),
}

/// A subscription task's result: its id, so the loop can forget it.
type Finished = String;

struct Connection {
    app: AppState,
    protocol: Protocol,
    header_token: Option<String>,
    /// Where the socket comes from: each operation counts against its rate limits.
    client: ClientAddr,
    auth: Option<RequestAuth>,
    revocations: Option<EventStream>,
    active: HashMap<String, AbortHandle>,
    tasks: JoinSet<Finished>,
    outbound: mpsc::Sender<Outbound>,
    outbound_rx: Option<mpsc::Receiver<Outbound>>,
}

/// Why the loop ended: the close to send, if any.
enum Ending {
    Close(u16, &'static str),
    Vanished,
}

impl Connection {
    fn new(app: AppState, protocol: Protocol, header_token: Option<String>, client: ClientAddr) -> Self {
        let (outbound, outbound_rx) = mpsc::channel(OUTBOUND_QUEUE);
        Self {
            app,
            protocol,
            header_token,
            client,
            auth: None,
            revocations: None,
            active: HashMap::new(),
            tasks: JoinSet::new(),
            outbound,
            outbound_rx: Some(outbound_rx),
        }
    }

    async fn run(mut self, socket: WebSocket) {
        let _connection = LiveGuard::new(self.app.live_counts(), LiveKind::Connection);
        let (mut sink, mut stream) = socket.split();
        let Some(mut outbound_rx) = self.outbound_rx.take() else {
            return;
        };
        // Set when the writer gives up (a write timed out or failed): the
        // peer does not read, so the connection ends instead of living on
        // with subscriptions blocked on a queue nobody drains.
        let writer_gone = tokio_util::sync::CancellationToken::new();
        let writer_done = writer_gone.clone().drop_guard();
        let writer = tokio::spawn(async move {
            let _done = writer_done;
            while let Some(message) = outbound_rx.recv().await {
                let (frame, last) = match message {
                    Outbound::Text(text) => (Message::Text(text.into()), false),
                    Outbound::Ping => (Message::Ping(axum::body::Bytes::from_static(b"wayfarer")), false),
                    Outbound::Close(code, reason) => {
                        (Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) })), true)
                    }
                };
                match tokio::time::timeout(WRITE_TIMEOUT, sink.send(frame)).await {
                    Ok(Ok(())) if !last => {}
                    _ => break,
                }
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
        });

        let settings = self.app.settings().websocket.clone();
        let shutdown = self.app.shutdown_token().clone();
        let init_deadline = Instant::now() + settings.connection_init_timeout;
        let mut keepalive =
            tokio::time::interval_at(Instant::now() + settings.keepalive_interval, settings.keepalive_interval);
        let mut last_heard = Instant::now();

        let ending = loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => {
                    for id in std::mem::take(&mut self.active).into_keys() {
                        self.send_complete(&id).await;
                    }
                    break Ending::Close(1001, "server shutting down");
                }
                Some(event) = next_event(&mut self.revocations) => {
                    if matches!(&*event, BusEvent::SessionEnded { .. }) {
                        break Ending::Close(4403, "Forbidden: session ended");
                    }
                }
                () = writer_gone.cancelled() => {
                    tracing::warn!("dropping a WebSocket client that does not read what it is sent (slow consumer)");
                    metrics::counter!("wayfarer_websocket_slow_consumers_total").increment(1);
                    break Ending::Vanished;
                }
                () = tokio::time::sleep_until(init_deadline), if self.auth.is_none() => {
                    break Ending::Close(4408, "Connection initialisation timeout");
                }
                _ = keepalive.tick() => {
                    if last_heard.elapsed() > settings.keepalive_interval * 2 {
                        // No frame, not even a pong, for two intervals: the peer is gone.
                        break Ending::Vanished;
                    }
                    if self.protocol == Protocol::LegacyWs && self.auth.is_some() {
                        self.send_json(json!({ "type": "ka" })).await;
                    }
                    // Never wait to queue a ping: a full queue already means
                    // the peer is behind, and the writer's timeout handles it.
                    let _ = self.outbound.try_send(Outbound::Ping);
                }
                Some(finished) = self.tasks.join_next(), if !self.tasks.is_empty() => {
                    if let Ok(id) = finished {
                        self.active.remove(&id);
                    }
                }
                frame = stream.next() => {
                    last_heard = Instant::now();
                    match frame {
                        None | Some(Err(_)) => break Ending::Vanished,
                        Some(Ok(Message::Text(text))) => {
                            if text.len() > settings.max_message_size {
                                break Ending::Close(1009, "Message too big");
                            }
                            if let Some(ending) = self.on_text(text.as_str()).await {
                                break ending;
                            }
                        }
                        Some(Ok(Message::Binary(_))) => break Ending::Close(4400, "Binary messages are not supported"),
                        Some(Ok(Message::Close(_))) => break Ending::Vanished,
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    }
                }
            }
        };

        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        let code = match ending {
            Ending::Close(code, reason) => {
                let _ = self.outbound.send(Outbound::Close(code, reason)).await;
                code
            }
            Ending::Vanished => 1006,
        };
        metrics::counter!("wayfarer_websocket_closes_total", "code" => code.to_string()).increment(1);
        drop(self.outbound);
        let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
    }

    async fn send_json(&self, value: Value) {
        let _ = self.outbound.send(Outbound::Text(value.to_string())).await;
    }

    async fn send_complete(&self, id: &str) {
        self.send_json(json!({ "type": "complete", "id": id })).await;
    }

    /// Handles one text message; `Some` ends the connection.
    async fn on_text(&mut self, text: &str) -> Option<Ending> {
        let Ok(Value::Object(message)) = serde_json::from_str::<Value>(text) else {
            return Some(Ending::Close(4400, "Invalid message received"));
        };
        let Some(Value::String(kind)) = message.get("type") else {
            return Some(Ending::Close(4400, "Invalid message received"));
        };
        match (self.protocol, kind.as_str()) {
            (_, "connection_init") => self.on_init(message.get("payload")).await,
            (Protocol::TransportWs, "ping") => {
                self.send_json(json!({ "type": "pong" })).await;
                None
            }
            (Protocol::TransportWs, "pong") => None,
            (Protocol::TransportWs, "subscribe") | (Protocol::LegacyWs, "start") => {
                let Some(Value::String(id)) = message.get("id") else {
                    return Some(Ending::Close(4400, "Invalid message received: missing id"));
                };
                let Some(Value::Object(payload)) = message.get("payload") else {
                    return Some(Ending::Close(4400, "Invalid message received: missing payload"));
                };
                self.on_subscribe(id.clone(), payload).await
            }
            (Protocol::TransportWs, "complete") | (Protocol::LegacyWs, "stop") => {
                if let Some(Value::String(id)) = message.get("id")
                    && let Some(task) = self.active.remove(id)
                {
                    task.abort();
                    if self.protocol == Protocol::LegacyWs {
                        self.send_complete(id).await;
                    }
                }
                None
            }
            (Protocol::LegacyWs, "connection_terminate") => Some(Ending::Close(1000, "Normal closure")),
            _ => Some(Ending::Close(4400, "Invalid message received: unknown type")),
        }
    }

    async fn on_init(&mut self, payload: Option<&Value>) -> Option<Ending> {
        if self.auth.is_some() {
            return Some(Ending::Close(4429, "Too many initialisation requests"));
        }
        let token = payload
            .and_then(|p| p.as_object())
            .and_then(|p| {
                ["authorization", "Authorization"]
                    .iter()
                    .find_map(|k| p.get(*k).and_then(Value::as_str).and_then(bearer_token))
                    .or_else(|| p.get("token").and_then(Value::as_str))
            })
            .map(str::to_owned)
            .or_else(|| self.header_token.clone());
        let Some(token) = token else {
            return self.refuse("Forbidden: send {\"authorization\": \"Bearer <token>\"}").await;
        };
        let auth = RequestAuth::from_result(self.app.sessions().authenticate(&token).await);
        match &auth {
            RequestAuth::Session(session) => {
                self.revocations = Some(self.app.bus().subscribe(&Topic::session_ended(&session.session.id)));
                self.auth = Some(auth);
                self.send_json(json!({ "type": "connection_ack" })).await;
                if self.protocol == Protocol::LegacyWs {
                    self.send_json(json!({ "type": "ka" })).await;
                }
                None
            }
            RequestAuth::Rejected(RejectReason::StoreUnavailable) => {
                Some(Ending::Close(4500, "Sessions temporarily unavailable"))
            }
            _ => self.refuse("Forbidden: the session is unknown, expired or ended").await,
        }
    }

    async fn refuse(&self, reason: &'static str) -> Option<Ending> {
        if self.protocol == Protocol::LegacyWs {
            self.send_json(json!({ "type": "connection_error", "payload": { "message": reason } })).await;
        }
        Some(Ending::Close(4403, reason))
    }

    async fn on_subscribe(&mut self, id: String, payload: &serde_json::Map<String, Value>) -> Option<Ending> {
        let Some(auth) = &self.auth else {
            return Some(Ending::Close(4401, "Unauthorized"));
        };
        if id.is_empty() || id.len() > 128 {
            return Some(Ending::Close(4400, "Invalid message received: bad id"));
        }
        if self.active.contains_key(&id) {
            match self.protocol {
                Protocol::TransportWs => {
                    return Some(Ending::Close(4409, "Subscriber for this id already exists"));
                }
                // subscriptions-transport-ws replaces an operation restarted under its id.
                Protocol::LegacyWs => {
                    if let Some(task) = self.active.remove(&id) {
                        task.abort();
                    }
                }
            }
        }
        let request = match parse_request(payload) {
            Ok(request) => request,
            Err(_) => return Some(Ending::Close(4400, "Invalid message received: bad payload")),
        };
        let limit = self.app.settings().websocket.max_subscriptions;
        if self.active.len() >= limit {
            let errors = json!([{
                "message": format!("At most {limit} operations may be active on one connection."),
                "extensions": { "code": Code::QueryTooComplex.as_str() }
            }]);
            self.send_json(json!({ "type": "error", "id": id, "payload": errors })).await;
            return None;
        }
        // The session may have expired or ended since connection_init:
        // authenticate again (which also slides its TTL).
        let auth = match auth {
            RequestAuth::Session(session) => match self.app.sessions().authenticate_key(&session.key).await {
                Ok(fresh) => RequestAuth::Session(Box::new(fresh)),
                Err(crate::sessions::AuthError::Unavailable(_)) => {
                    return Some(Ending::Close(4500, "Sessions temporarily unavailable"));
                }
                Err(_) => return Some(Ending::Close(4403, "Forbidden: session ended")),
            },
            _ => return Some(Ending::Close(4403, "Forbidden")),
        };
        let caller = Caller::of(&auth, self.client);
        let request = self.app.request_data(request, auth).data(self.client);
        let mut responses = self.app.execute_stream(request, caller);
        let outbound = self.outbound.clone();
        let protocol = self.protocol;
        let guard = LiveGuard::new(self.app.live_counts(), LiveKind::Subscription);
        let task_id = id.clone();
        let handle = self.tasks.spawn(async move {
            let _guard = guard;
            let mut first = true;
            while let Some(response) = responses.next().await {
                let body = ResponseBody::of(&response);
                let message = if first && body.is_request_error() {
                    let message = OperationMessage { kind: "error", id: &task_id, payload: body.errors() };
                    let _ = outbound.send(Outbound::Text(message.to_json())).await;
                    return task_id;
                } else {
                    let kind = if protocol == Protocol::TransportWs { "next" } else { "data" };
                    payload_message(kind, &task_id, &body)
                };
                first = false;
                if outbound.send(Outbound::Text(message)).await.is_err() {
                    return task_id;
                }
            }
            let _ = outbound.send(Outbound::Text(json!({ "type": "complete", "id": task_id }).to_string())).await;
            task_id
        });
        self.active.insert(id, handle);
        None
    }
}

/// A server message about one operation (`next`/`data`, `error`), serialised
/// straight from its payload.
#[derive(serde::Serialize)]
struct OperationMessage<'a, P: serde::Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    payload: P,
}

impl<P: serde::Serialize> OperationMessage<'_, P> {
    fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }
}

/// A `next`/`data` message, its payload written by [`ResponseBody::write_json`]
/// (which splices in values kept as JSON text: serde would not).
fn payload_message(kind: &str, id: &str, body: &ResponseBody<'_>) -> String {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"type\":");
    prerendered::write_serde(&mut out, kind);
    out.extend_from_slice(b",\"id\":");
    prerendered::write_serde(&mut out, id);
    out.extend_from_slice(b",\"payload\":");
    body.write_json(&mut out);
    out.push(b'}');
    // JSON written from strings and kept JSON text: always UTF-8.
    String::from_utf8(out).unwrap_or_else(|_| "{}".to_owned())
}

/// The next revocation event, or never when there is no subscription yet.
async fn next_event(stream: &mut Option<EventStream>) -> Option<Arc<BusEvent>> {
    match stream {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_same_origin_loopback_and_allow_list() {
        let none: Vec<String> = Vec::new();
        assert!(origin_allowed("http://localhost:3000", Some("api.example.com"), &none));
        assert!(origin_allowed("http://127.0.0.1:8000", None, &none));
        assert!(origin_allowed("https://app.example.com", Some("app.example.com"), &none));
        assert!(origin_allowed("http://app.example.com:8080", Some("app.example.com:8080"), &none));
        assert!(!origin_allowed("https://evil.example", Some("app.example.com"), &none));
        assert!(!origin_allowed("null", Some("app.example.com"), &none));
        let list = vec!["https://evil.example".to_owned()];
        assert!(origin_allowed("https://evil.example", Some("app.example.com"), &list));
    }
}
