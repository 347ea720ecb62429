//! Test harness: starts the real application on port 0 (in-process, or as a
//! child process of the built binary), on the memory backends or on the real
//! Redis and PostgreSQL servers that `.ci/test` starts, and talks to it over
//! HTTP and WebSocket as a client would.
//!
//! Redis and PostgreSQL suites never skip: without `TEST_REDIS_URL` /
//! `TEST_DATABASE_URL` they fail and say how to run them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wayfarer::app::{AppState, Application};
use wayfarer::clock::SharedClock;
use wayfarer::config::Settings;

/// The Redis the suite runs against.
pub(crate) fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| {
        panic!("TEST_REDIS_URL is not set: run the suite with `bash .ci/test`, which starts redis-server")
    })
}

/// The PostgreSQL admin URL the suite creates its databases from.
pub(crate) fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!("TEST_DATABASE_URL is not set: run the suite with `bash .ci/test`, which starts PostgreSQL")
    })
}

/// A fresh, empty PostgreSQL database for one test; its URL.
pub(crate) async fn fresh_postgres_database() -> String {
    let admin = postgres_admin_url();
    let name = format!("wf_{}", uuid::Uuid::new_v4().simple());
    let pool = sqlx::PgPool::connect(&admin).await.expect("connect to the test PostgreSQL");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&pool).await.expect("create test database");
    pool.close().await;
    let mut url = url::Url::parse(&admin).expect("admin URL");
    url.set_path(&name);
    url.to_string()
}

/// A key prefix no other test uses.
pub(crate) fn unique_prefix() -> String {
    format!("wftest-{}", uuid::Uuid::new_v4().simple())
}

/// Which backends a test application uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// In-memory sessions and bus, SQLite.
    Memory,
    /// Redis sessions and bus, PostgreSQL.
    Redis,
}

/// Settings for a test application: port 0, its own data dir, quick status ticks.
pub(crate) async fn test_settings(backend: Backend, data_dir: PathBuf) -> Settings {
    let mut settings = Settings { listen: "127.0.0.1:0".parse().expect("addr"), data_dir, ..Settings::default() };
    settings.status.interval = Duration::from_millis(250);
    settings.server.shutdown_grace_period = Duration::from_secs(3);
    // Every test client is 127.0.0.1 and the suite starts hundreds of
    // sessions a minute: the production budgets (20 startSession per IP per
    // minute) would refuse tests that are not about rate limits. Those
    // turn them on with their own small budgets (tests/api/rate_limits.rs).
    settings.rate_limits.enabled = false;
    if backend == Backend::Redis {
        settings.redis.url = Some(SecretString::from(redis_url()));
        settings.redis.key_prefix = unique_prefix();
        settings.database.url = Some(SecretString::from(fresh_postgres_database().await));
    }
    settings
}

/// A running in-process application.
pub(crate) struct TestApp {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    /// Its shared state (counts, services).
    pub(crate) state: AppState,
    /// An HTTP client.
    pub(crate) http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _data: tempfile::TempDir,
}

impl TestApp {
    /// Starts an application on `backend` with default test settings.
    pub(crate) async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Starts an application after `adjust` has changed its settings.
    pub(crate) async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> Self {
        Self::spawn_full(backend, adjust, None).await
    }

    /// Starts an application with an injected clock.
    pub(crate) async fn spawn_full(
        backend: Backend,
        adjust: impl FnOnce(&mut Settings),
        clock: Option<SharedClock>,
    ) -> Self {
        let data = tempfile::tempdir().expect("tempdir");
        let mut settings = test_settings(backend, data.path().join("data")).await;
        adjust(&mut settings);
        let app = match clock {
            Some(clock) => Application::build_with_clock(settings, clock).await,
            None => Application::build(settings).await,
        }
        .expect("application starts");
        let addr = app.local_addr();
        let state = app.state().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        Self { addr, state, http: reqwest::Client::new(), stop: Some(stop), server: Some(server), _data: data }
    }

    /// `http://addr/path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POSTs a GraphQL operation as `application/json`; returns status and body.
    pub(crate) async fn graphql(&self, query: &str, variables: Value, token: Option<&str>) -> (u16, Value) {
        let mut request = self
            .http
            .post(self.url("/graphql"))
            .header("accept", "application/graphql-response+json, application/json;q=0.9")
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let body = response.json::<Value>().await.expect("JSON body");
        (status, body)
    }

    /// Starts a session; returns its token.
    pub(crate) async fn start_session(&self) -> String {
        let (status, body) = self.graphql(START_SESSION, json!({}), None).await;
        assert_eq!(status, 200, "{body}");
        body["data"]["startSession"]["token"].as_str().expect("token").to_owned()
    }

    /// Opens a `graphql-transport-ws` socket (no messages sent).
    pub(crate) async fn websocket(&self, protocol: &str) -> Ws {
        connect_ws(self.addr, protocol, &[]).await
    }

    /// Opens a socket, sends `connection_init` with `token`, and waits for the ack.
    pub(crate) async fn websocket_acked(&self, token: &str) -> Ws {
        let mut ws = self.websocket("graphql-transport-ws").await;
        ws.send_json(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } }))
            .await;
        let ack = ws.next_json().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        ws
    }

    /// Stops the application gracefully and waits for it.
    pub(crate) async fn stop(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let result = tokio::time::timeout(Duration::from_secs(15), server).await;
            assert!(matches!(result, Ok(Ok(Ok(())))), "server stopped cleanly: {result:?}");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The contract's `StartSession`.
pub(crate) const START_SESSION: &str = "mutation StartSession($locale: String, $timeZone: String) {
  startSession(locale: $locale, timeZone: $timeZone) {
    token
    session { id locale timeZone createdAt expiresAt }
  }
}";

/// The contract's `CurrentSession`.
pub(crate) const CURRENT_SESSION: &str = "query CurrentSession {
  session {
    id
    locale
    timeZone
    expiresAt
    conversation { messages { role text language at } }
  }
}";

/// The contract's `EndSession`.
pub(crate) const END_SESSION: &str = "mutation EndSession {
  endSession
}";

/// The contract's `ServiceStatus` query.
pub(crate) const SERVICE_STATUS: &str = "query ServiceStatus {
  serviceStatus { status version uptimeSeconds components { name status latencyMs detail } }
}";

/// The contract's `OnServiceStatus` subscription.
pub(crate) const ON_SERVICE_STATUS: &str = "subscription OnServiceStatus {
  serviceStatus { status at components { name status latencyMs detail } }
}";

/// A test WebSocket client speaking raw frames.
pub(crate) struct Ws {
    inner: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// What the server ended a socket with.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Closed {
    /// A close frame with this code.
    Code(u16),
    /// The TCP stream ended without a close frame.
    Dropped,
}

/// Opens a socket to `/graphql` with a subprotocol and extra headers.
pub(crate) async fn connect_ws(addr: SocketAddr, protocol: &str, headers: &[(&str, &str)]) -> Ws {
    try_connect_ws(addr, protocol, headers).await.expect("WebSocket upgrade accepted")
}

/// Like [`connect_ws`], returning the handshake error (e.g. a 403) instead of panicking.
pub(crate) async fn try_connect_ws(
    addr: SocketAddr,
    protocol: &str,
    headers: &[(&str, &str)],
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut request = format!("ws://{addr}/graphql").into_client_request().expect("request");
    if !protocol.is_empty() {
        request.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_str(protocol).expect("header"));
    }
    for (name, value) in headers {
        let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes()).expect("name");
        request.headers_mut().insert(name, HeaderValue::from_str(value).expect("header"));
    }
    let (inner, _response) = tokio_tungstenite::connect_async(request).await?;
    Ok(Ws { inner })
}

impl Ws {
    /// Sends a JSON text message.
    pub(crate) async fn send_json(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    /// Sends a raw text message.
    pub(crate) async fn send_text(&mut self, text: &str) {
        self.inner.send(Message::text(text)).await.expect("send");
    }

    /// Sends a raw message.
    pub(crate) async fn send(&mut self, message: Message) {
        self.inner.send(message).await.expect("send");
    }

    /// The next JSON text message (pings skipped), within 10 s.
    pub(crate) async fn next_json(&mut self) -> Value {
        loop {
            let next = tokio::time::timeout(Duration::from_secs(10), self.inner.next()).await;
            match next {
                Ok(Some(Ok(Message::Text(text)))) => return serde_json::from_str(text.as_str()).expect("JSON message"),
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    }

    /// Waits (up to `within`) for the server to close; returns how.
    pub(crate) async fn closed_within(&mut self, within: Duration) -> Closed {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.inner.next()).await {
                Err(_) => panic!("socket still open after {within:?}"),
                Ok(Some(Ok(Message::Close(Some(frame))))) => return Closed::Code(frame.code.into()),
                Ok(Some(Ok(Message::Close(None)))) => return Closed::Code(1005),
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_)) | None) => return Closed::Dropped,
            }
        }
    }

    /// Waits for the close, asserting the code.
    pub(crate) async fn expect_close(&mut self, code: u16) {
        assert_eq!(self.closed_within(Duration::from_secs(10)).await, Closed::Code(code));
    }

    /// The next frame of any kind, within 10 s (`None` when the socket ended).
    pub(crate) async fn raw_next(&mut self) -> Option<Message> {
        match tokio::time::timeout(Duration::from_secs(10), self.inner.next()).await {
            Ok(Some(Ok(message))) => Some(message),
            _ => None,
        }
    }

    /// Drops the TCP connection without a close frame.
    pub(crate) fn vanish(self) {
        drop(self.inner);
    }
}

/// A child process running the built `wayfarer` binary.
pub(crate) struct ServerProcess {
    /// The child.
    pub(crate) child: tokio::process::Child,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    _data: Arc<tempfile::TempDir>,
}

impl ServerProcess {
    /// Starts `wayfarer serve` with `env` on a free port; waits until it is healthy.
    pub(crate) async fn start(env: &[(&str, String)]) -> Self {
        Self::start_with_log(env, None).await
    }

    /// [`ServerProcess::start`], its log (stdout) written to `log` when given.
    pub(crate) async fn start_with_log(env: &[(&str, String)], log: Option<&std::path::Path>) -> Self {
        let data = Arc::new(tempfile::tempdir().expect("tempdir"));
        let stdout = match log {
            Some(path) => Stdio::from(std::fs::File::create(path).expect("log file")),
            None => Stdio::null(),
        };
        let port = free_port();
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_wayfarer"));
        command
            .arg("--data-dir")
            .arg(data.path().join("data"))
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            // As in `test_settings`; `env` may turn them back on.
            .env("WAYFARER_RATE_LIMITS__ENABLED", "false")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("spawn wayfarer");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let process = Self { child, addr, _data: data };
        process.wait_healthy().await;
        process
    }

    async fn wait_healthy(&self) {
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(response) = client.get(format!("http://{}/api/health", self.addr)).send().await
                && response.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("wayfarer at {} did not become healthy", self.addr);
    }

    /// Sends SIGTERM.
    pub(crate) fn terminate(&self) {
        let pid = self.child.id().expect("running child");
        let status = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status().expect("kill");
        assert!(status.success());
    }
}

/// A TCP port free right now on loopback.
pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Polls `probe` until it is true or `within` passes.
pub(crate) async fn eventually(within: Duration, mut probe: impl AsyncFnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if probe().await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Two in-process instances as a deployment runs them: one Redis prefix, one
/// PostgreSQL database, and one sandbox (started here, for flights and
/// payments) behind both. Returns them and the sandbox's base URL.
pub(crate) async fn two_instances_on_one_sandbox(adjust: impl Fn(&mut Settings)) -> (TestApp, TestApp, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let sandbox = format!("http://{}", listener.local_addr().expect("addr"));
    let config = wayfarer::sandbox::SandboxConfig::default();
    let credentials = config.clone();
    tokio::spawn(wayfarer::sandbox::serve(listener, config, std::future::pending()));
    let prefix = unique_prefix();
    let database = fresh_postgres_database().await;
    let shared = |settings: &mut Settings| {
        settings.redis.key_prefix = prefix.clone();
        settings.database.url = Some(SecretString::from(database.clone()));
        settings.providers.amadeus.base_url = Some(sandbox.clone());
        settings.providers.amadeus.client_id = Some(credentials.amadeus_client_id.clone());
        settings.providers.amadeus.client_secret = Some(SecretString::from(credentials.amadeus_client_secret.clone()));
        settings.providers.duffel.base_url = Some(sandbox.clone());
        settings.providers.duffel.token = Some(SecretString::from(credentials.duffel_token.clone()));
        settings.payments.base_url = Some(sandbox.clone());
        settings.payments.secret_key = Some(SecretString::from(credentials.stripe_secret_key.clone()));
        settings.payments.webhook_secret = Some(SecretString::from(credentials.stripe_webhook_secret.clone()));
        adjust(settings);
    };
    let a = TestApp::spawn_with(Backend::Redis, shared).await;
    let b = TestApp::spawn_with(Backend::Redis, shared).await;
    (a, b, sandbox)
}
