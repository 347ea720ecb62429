//! The application: wires every component from [`Settings`], checks each
//! before accepting traffic, serves until told to stop, then shuts down
//! gracefully. `main` and the tests start Wayfarer the same way:
//! [`Application::build`] then [`Application::run_until_stopped`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::booking::BookingService;
use crate::chat::cache::{ExtractionCache, MemoryExtractionCache, RedisExtractionCache};
use crate::chat::llm::LlmExtractor;
use crate::chat::service::ChatService;
use crate::clock::{SharedClock, SystemClock};
use crate::config::GraphqlSettings;
use crate::config::Settings;
use crate::events::{EventBus, MemoryEventBus, RedisEventBus};
use crate::flights::FlightService;
use crate::flights::aggregator::{Aggregator, CircuitBreaker, ProviderSlot};
use crate::flights::cache::{
    MemoryOfferStore, MemorySearchCache, OfferStore, RedisOfferStore, RedisSearchCache, SearchCache,
};
use crate::flights::progress::{MemoryProgressBoard, ProgressBoard, RedisProgressBoard, SharedProgress};
use crate::flights::providers::amadeus::AmadeusProvider;
use crate::flights::providers::duffel::DuffelProvider;
use crate::flights::providers::{FlightProvider, ProviderHttp};
use crate::graphql::context::RequestAuth;
use crate::graphql::policy::{Caller, RequestPolicy};
use crate::graphql::rate_limit::{ClientAddrResolver, RateLimiter};
use crate::graphql::{AppSchema, SchemaServices, Schemas, build_schemas, request_policy};
use crate::health::HealthChecker;
use crate::notifications::NotificationService;
use crate::notifications::channels::Channels;
use crate::redis_pool::RedisPool;
use crate::sessions::{MemorySessionStore, RedisSessionStore, SessionService, SessionStore};
use crate::store::Store;
use crate::telemetry::metrics::LiveCounts;
use crate::telemetry::performance::PerformanceWindow;

/// Why the server could not start. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Redis is configured but does not answer.
    #[error(
        "Redis at {url} is not reachable ({reason}). Start redis-server, fix REDIS_URL / redis.url, or unset it to use the in-memory backends."
    )]
    Redis {
        /// Redacted URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The SQL store does not answer.
    #[error(
        "The SQL store at {url} is not reachable ({reason}). Start PostgreSQL, fix DATABASE_URL / database.url, or unset it to use the embedded SQLite file."
    )]
    Database {
        /// Redacted URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// Migrations failed.
    #[error("Migrating the SQL store at {url} failed: {reason}")]
    Migration {
        /// Redacted URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// A provider could not be set up.
    #[error("Setting up the flight provider {provider} failed: {reason}")]
    Provider {
        /// Which.
        provider: &'static str,
        /// What failed.
        reason: String,
    },
    /// The listen address is taken or not ours.
    #[error(
        "Cannot listen on {addr}: {reason}. Is another server running there? Choose another with --listen HOST:PORT."
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What failed.
        reason: String,
    },
}

/// Most requests one HTTP/2 client connection may have in flight at once:
/// hyper's default, the usual bound on a client opening streams without
/// limit.
const HTTP2_STREAMS: u32 = 200;

/// The handles every request handler and background task shares.
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<AppShared>,
}

struct AppShared {
    /// The resolved configuration.
    settings: Arc<Settings>,
    /// The GraphQL schema with its services, and its twin for requests validated before.
    schemas: Schemas,
    /// What every operation on the schema runs under.
    policy: RequestPolicy,
    /// Session life cycle and authentication.
    sessions: SessionService,
    /// Cross-instance events.
    bus: Arc<dyn EventBus>,
    /// Component health.
    health: HealthChecker,
    /// The SQL system of record.
    store: Store,
    /// The Redis pool, when Redis is configured.
    redis: Option<RedisPool>,
    /// Open sockets and subscriptions of this application.
    live: Arc<LiveCounts>,
    /// Recent latency per operation.
    performance: Arc<PerformanceWindow>,
    /// Cancelled when shutdown begins; sockets and background tasks watch it.
    shutdown: CancellationToken,
    /// Upgraded WebSocket connections, which axum's graceful shutdown does not track.
    websocket_tasks: TaskTracker,
    /// The time source.
    clock: SharedClock,
    /// Flight search.
    flights: FlightService,
    chat: ChatService,
    /// Booking and payment.
    bookings: BookingService,
    /// Notifications and their delivery.
    notifications: NotificationService,
    /// The in-process provider sandbox, when a provider has no `base_url`.
    sandbox: Option<SandboxEndpoint>,
    /// Stops the sandbox, after in-flight requests that may still call it.
    sandbox_stop: CancellationToken,
    /// What `/webhooks/payments` verifies signatures with.
    webhook_secret: SecretString,
    /// Finds each request's client address (for the rate limits).
    client_addrs: ClientAddrResolver,
}

impl std::fmt::Debug for AppShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppShared").field("instance", &self.health.instance()).finish_non_exhaustive()
    }
}

impl AppState {
    /// The resolved configuration.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }
    /// The schema.
    pub fn schema(&self) -> &AppSchema {
        &self.inner.schemas.strict
    }
    /// The request policy.
    pub fn policy(&self) -> &RequestPolicy {
        &self.inner.policy
    }
    /// Runs a query or mutation under the request policy.
    pub async fn execute(&self, request: async_graphql::Request, caller: &Caller) -> async_graphql::Response {
        self.inner.policy.execute(&self.inner.schemas, request, caller).await
    }
    /// Runs an operation as a stream of responses (WebSocket) under the request policy.
    pub fn execute_stream(
        &self,
        request: async_graphql::Request,
        caller: Caller,
    ) -> futures_util::stream::BoxStream<'static, async_graphql::Response> {
        self.inner.policy.execute_stream(self.inner.schemas.strict.clone(), request, caller)
    }
    /// Sessions.
    pub fn sessions(&self) -> &SessionService {
        &self.inner.sessions
    }
    /// The event bus.
    pub fn bus(&self) -> &Arc<dyn EventBus> {
        &self.inner.bus
    }
    /// Health.
    pub fn health(&self) -> &HealthChecker {
        &self.inner.health
    }
    /// The SQL store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }
    /// The Redis pool, when configured.
    pub fn redis(&self) -> Option<&RedisPool> {
        self.inner.redis.as_ref()
    }
    /// Live counts.
    pub fn live_counts(&self) -> &Arc<LiveCounts> {
        &self.inner.live
    }
    /// The performance window.
    pub fn performance(&self) -> &Arc<PerformanceWindow> {
        &self.inner.performance
    }
    /// The shutdown token.
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.inner.shutdown
    }
    /// Tracker of WebSocket connection tasks.
    pub fn websocket_tasks(&self) -> &TaskTracker {
        &self.inner.websocket_tasks
    }
    /// The clock.
    pub fn clock(&self) -> &SharedClock {
        &self.inner.clock
    }
    /// The conversational agent.
    pub fn chat(&self) -> &ChatService {
        &self.inner.chat
    }

    /// Flight search.
    pub fn flights(&self) -> &FlightService {
        &self.inner.flights
    }
    /// Booking and payment.
    pub fn bookings(&self) -> &BookingService {
        &self.inner.bookings
    }
    /// Notifications.
    pub fn notifications(&self) -> &NotificationService {
        &self.inner.notifications
    }
    /// Base URL of the in-process provider sandbox, when it runs.
    pub fn sandbox_url(&self) -> Option<&str> {
        self.inner.sandbox.as_ref().map(|s| s.base_url.as_str())
    }
    /// The payment webhooks' signing secret.
    pub fn webhook_secret(&self) -> &SecretString {
        &self.inner.webhook_secret
    }
    /// Finds a request's client address.
    pub fn client_addrs(&self) -> &ClientAddrResolver {
        &self.inner.client_addrs
    }
    /// Adds what each GraphQL request needs of its own (session auth, loaders).
    pub fn request_data(&self, request: async_graphql::Request, auth: RequestAuth) -> async_graphql::Request {
        let flights = &self.inner.flights;
        request.data(auth).data(flights.search_loader()).data(flights.offer_loader()).data(flights.reference_loader())
    }
}

/// A built, not yet serving, Wayfarer.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    state: AppState,
    background: TaskTracker,
}

impl Application {
    /// Connects and checks every component, migrates the store, binds the
    /// listener, and logs one line per component.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// [`Application::build`] with an injected clock (tests).
    pub async fn build_with_clock(settings: Settings, clock: SharedClock) -> Result<Self, StartupError> {
        let settings = Arc::new(settings);
        let shutdown = CancellationToken::new();
        let background = TaskTracker::new();

        let store = connect_store(&settings).await?;
        let redis = match &settings.redis.url {
            Some(url) => Some(connect_redis(url, &settings).await?),
            None => None,
        };
        let (session_store, bus): (Arc<dyn SessionStore>, Arc<dyn EventBus>) = match &redis {
            Some(redis) => {
                let bus = RedisEventBus::start(redis.clone(), shutdown.clone(), &background);
                // Subscribed before serving, so no event published after the
                // first request is missed; if Redis pub/sub lags, start
                // degraded rather than not at all: the task keeps trying.
                if !bus.wait_connected(settings.redis.connection_timeout).await {
                    tracing::warn!(component = "eventBus", "event bus not subscribed yet: starting degraded");
                }
                (Arc::new(RedisSessionStore::new(redis.clone())), Arc::new(bus))
            }
            None => (Arc::new(MemorySessionStore::new(clock.clone())), Arc::new(MemoryEventBus::new())),
        };
        match &redis {
            Some(redis) => {
                tracing::info!(
                    component = "sessions",
                    backend = "redis",
                    url = redis.display_url(),
                    "sessions in Redis"
                );
                tracing::info!(
                    component = "eventBus",
                    backend = "redis",
                    "event bus on Redis pub/sub (cross-instance)"
                );
            }
            None => {
                tracing::info!(
                    component = "sessions",
                    backend = "memory",
                    "sessions in memory (set REDIS_URL to share them)"
                );
                tracing::info!(
                    component = "eventBus",
                    backend = "memory",
                    "event bus in-process (set REDIS_URL for several instances)"
                );
            }
        }

        let instance = format!("wf-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let sessions =
            SessionService::new(session_store.clone(), bus.clone(), clock.clone(), settings.sessions.idle_ttl);
        // Bound before the sandbox starts and the schema is built: the hosted
        // payment page returns the payer here, and the bundled sandbox sends
        // its webhooks here.
        let listener =
            listen(settings.listen).map_err(|e| StartupError::Bind { addr: settings.listen, reason: e.to_string() })?;
        let local_addr =
            listener.local_addr().map_err(|e| StartupError::Bind { addr: settings.listen, reason: e.to_string() })?;
        let own_base = own_base_url(local_addr);
        let sandbox_stop = CancellationToken::new();
        let sandbox = match needs_sandbox(&settings) {
            true => {
                // The sandbox is the gateway only without payments.base_url; a
                // real gateway's webhook endpoint is set up in its dashboard.
                let webhook_url = settings.payments.base_url.is_none().then(|| format!("{own_base}{WEBHOOK_PATH}"));
                Some(start_sandbox_with(sandbox_stop.clone(), &background, webhook_url).await?)
            }
            false => None,
        };
        let board: Arc<dyn ProgressBoard> = match &redis {
            Some(redis) => Arc::new(RedisProgressBoard::new(redis.clone())),
            None => Arc::new(MemoryProgressBoard::default()),
        };
        let flights = build_flights(&settings, sandbox.as_ref(), redis.as_ref())?
            .with_shared_progress(SharedProgress::new(bus.clone(), board, settings.providers.search_timeout));
        let (gateway, webhook_secret) = build_gateway(&settings, sandbox.as_ref())?;
        let public_base = settings
            .payments
            .public_base_url
            .as_deref()
            .map_or_else(|| own_base.clone(), |base| base.trim_end_matches('/').to_owned());
        let bookings = BookingService::new(
            store.clone(),
            flights.clone(),
            gateway,
            bus.clone(),
            clock.clone(),
            settings.booking.clone(),
            instance.clone(),
        );
        let channels = Channels::from_settings(&settings.notifications, &settings.http_client, sandbox.as_ref())
            .map_err(|e| StartupError::Provider { provider: "notifications", reason: e.to_string() })?;
        for kind in channels.enabled() {
            tracing::info!(
                component = "notifications",
                channel = kind.as_str(),
                to = channels.describe(kind).unwrap_or_default(),
                "notification channel"
            );
        }
        let notifications = NotificationService::new(
            store.clone(),
            bus.clone(),
            clock.clone(),
            settings.notifications.clone(),
            channels,
            instance.clone(),
        );
        let health = HealthChecker::new(
            store.clone(),
            session_store,
            bus.clone(),
            clock.clone(),
            instance.clone(),
            settings.status.check_timeout,
            Some(flights.clone()),
        );
        let performance = Arc::new(PerformanceWindow::new(Duration::from_secs(60)));
        // The chat engine's indexes are built once, here, not on the first traveller's message.
        if let Err(error) = tokio::task::spawn_blocking(crate::chat::extract::warm_up).await {
            tracing::warn!(%error, "could not warm the chat engine up; it warms on first use");
        }
        let extraction_cache: Arc<dyn ExtractionCache> = match &redis {
            Some(redis) => Arc::new(RedisExtractionCache::new(redis.clone())),
            None => Arc::new(MemoryExtractionCache::default()),
        };
        let chat = ChatService::new(
            flights.clone(),
            clock.clone(),
            extraction_cache,
            LlmExtractor::from_settings(&settings.chat.llm).map(Arc::new),
            settings.chat.clone(),
            performance.clone(),
        )
        .with_bookings(bookings.clone());
        let rate_limiter = settings.rate_limits.enabled.then(|| {
            let backend = if redis.is_some() { "redis" } else { "memory" };
            tracing::info!(
                component = "rateLimits",
                backend,
                window = ?settings.rate_limits.window,
                per_session = settings.rate_limits.per_session,
                per_ip = settings.rate_limits.per_ip,
                "rate limits on"
            );
            Arc::new(RateLimiter::new(&settings.rate_limits, redis.clone()))
        });
        // The production profile never serves introspection or suggestions.
        let graphql_settings =
            GraphqlSettings { introspection: settings.introspection_enabled(), ..settings.graphql.clone() };
        let schemas = build_schemas(
            &graphql_settings,
            SchemaServices {
                sessions: sessions.clone(),
                health: health.clone(),
                bus: bus.clone(),
                flights: flights.clone(),
                clock: clock.clone(),
                chat: chat.clone(),
                bookings: bookings.clone(),
                notifications: notifications.clone(),
                public_base: crate::booking::resolvers::PublicBase(public_base),
            },
        );
        let policy = request_policy(&graphql_settings, performance.clone(), rate_limiter);
        if let Err(error) = store.register_instance(&instance, env!("CARGO_PKG_VERSION"), clock.now()).await {
            return Err(StartupError::Database { url: store.display_url().to_owned(), reason: error.to_string() });
        }

        crate::telemetry::metrics::prometheus();

        let client_addrs = ClientAddrResolver::new(&settings.rate_limits);
        let state = AppState {
            inner: Arc::new(AppShared {
                settings,
                schemas,
                policy,
                sessions,
                bus,
                health,
                store,
                redis,
                live: Arc::new(LiveCounts::default()),
                performance,
                shutdown,
                websocket_tasks: TaskTracker::new(),
                clock,
                flights,
                chat,
                bookings,
                notifications,
                sandbox,
                sandbox_stop,
                webhook_secret,
                client_addrs,
            }),
        };
        Ok(Self { listener, local_addr, state, background })
    }

    /// The address actually bound (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The shared state (tests inspect counts through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight
    /// requests finish within the grace period, completes open subscriptions
    /// and closes their sockets with 1001, and returns.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let Self { listener, local_addr, state, background } = self;
        let token = state.shutdown_token().clone();
        let settings = state.settings();
        let instance = state.health().instance().to_owned();

        background.spawn(state.health().clone().publish_periodically(settings.status.interval, token.clone()));
        background.spawn(heartbeat(state.clone(), instance.clone(), token.clone()));
        // The first sweep runs at once: the recovery of whatever a crash left.
        background.spawn(state.bookings().clone().run_sweeper(token.clone()));
        state.notifications().start(token.clone(), &background);

        tracing::info!(
            url = %format!("http://{local_addr}"),
            graphql = %format!("http://{local_addr}/graphql"),
            playground = %format!("http://{local_addr}/playground"),
            instance = %instance,
            "Wayfarer is serving"
        );

        let router = crate::http::router(state.clone());
        let signal_token = token.clone();
        background.spawn(async move {
            tokio::select! {
                () = shutdown => signal_token.cancel(),
                () = signal_token.cancelled() => {}
            }
        });
        let serve_token = token.clone();
        let header_read_timeout = settings.server.header_read_timeout;
        let server = tokio::spawn(async move {
            crate::http::serve(listener, router, header_read_timeout, HTTP2_STREAMS, serve_token).await
        });

        let server_abort = server.abort_handle();
        let mut server = server;
        let result = tokio::select! {
            joined = &mut server => Some(joined),
            () = token.cancelled() => None,
        };
        token.cancel();
        let grace = settings.server.shutdown_grace_period;
        let deadline = Instant::now() + grace;
        tracing::info!(?grace, "shutting down: finishing in-flight requests and closing subscriptions");
        let served = match result {
            Some(joined) => joined,
            None => match tokio::time::timeout(grace, &mut server).await {
                Ok(joined) => joined,
                Err(_) => {
                    tracing::warn!("in-flight requests did not finish within the grace period; aborting them");
                    server_abort.abort();
                    Ok(Ok(()))
                }
            },
        };
        let websockets = state.websocket_tasks();
        websockets.close();
        let remaining = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(1));
        if tokio::time::timeout(remaining, websockets.wait()).await.is_err() {
            tracing::warn!(open = websockets.len(), "WebSocket connections still open after the grace period");
        }
        state.inner.sandbox_stop.cancel();
        background.close();
        let _ = tokio::time::timeout(Duration::from_secs(2), background.wait()).await;
        if let Err(error) = state.store().deregister_instance(&instance, state.clock().now()).await {
            tracing::warn!(%error, "could not mark this instance stopped in the store");
        }
        state.store().close().await;
        tracing::info!("Wayfarer stopped");
        match served {
            Ok(result) => result,
            Err(join_error) if join_error.is_cancelled() => Ok(()),
            Err(join_error) => Err(std::io::Error::other(join_error)),
        }
    }
}

async fn heartbeat(state: AppState, instance: String, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(state.settings().status.interval);
    ticker.tick().await;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        match state.store().heartbeat(&instance, state.clock().now()).await {
            Ok(true) => {}
            Ok(false) => {
                // Marked stopped by someone else, or the row vanished: register again.
                let _ =
                    state.store().register_instance(&instance, env!("CARGO_PKG_VERSION"), state.clock().now()).await;
            }
            Err(error) => tracing::warn!(%error, "instance heartbeat failed"),
        }
    }
}

/// Credentials the bundled sandbox accepts, and where it listens.
#[derive(Debug, Clone)]
pub struct SandboxEndpoint {
    /// Its base URL (`http://127.0.0.1:PORT`).
    pub base_url: String,
    /// Amadeus client id.
    pub amadeus_client_id: String,
    /// Amadeus client secret.
    pub amadeus_client_secret: String,
    /// Duffel token.
    pub duffel_token: String,
    /// Stripe secret key.
    pub stripe_secret_key: String,
    /// Stripe webhook signing secret.
    pub stripe_webhook_secret: String,
    /// Twilio account SID of the SMS sink.
    pub twilio_account_sid: String,
    /// Twilio auth token of the SMS sink.
    pub twilio_auth_token: String,
    /// FCM project of the push sink.
    pub fcm_project_id: String,
    /// The push sink's service-account key file (JSON), its `token_uri` at the sandbox.
    pub fcm_service_account_json: String,
}

impl SandboxEndpoint {
    /// The endpoint of a sandbox serving `config` at `base_url` (`http://127.0.0.1:PORT`).
    pub fn new(base_url: String, config: &crate::sandbox::SandboxConfig) -> Self {
        Self {
            amadeus_client_id: config.amadeus_client_id.clone(),
            amadeus_client_secret: config.amadeus_client_secret.clone(),
            duffel_token: config.duffel_token.clone(),
            stripe_secret_key: config.stripe_secret_key.clone(),
            stripe_webhook_secret: config.stripe_webhook_secret.clone(),
            twilio_account_sid: config.twilio_account_sid.clone(),
            twilio_auth_token: config.twilio_auth_token.clone(),
            fcm_project_id: config.fcm_project_id.clone(),
            fcm_service_account_json: crate::sandbox::sinks::fcm_service_account_json(&base_url, config),
            base_url,
        }
    }
}

/// Whether an enabled provider or the payment gateway has no `base_url`,
/// and so needs the bundled sandbox.
pub(crate) fn needs_sandbox(settings: &Settings) -> bool {
    let providers = &settings.providers;
    (providers.amadeus.enabled && providers.amadeus.base_url.is_none())
        || (providers.duffel.enabled && providers.duffel.base_url.is_none())
        || settings.payments.base_url.is_none()
}

/// Connections the kernel may queue before the server accepts them.
/// tokio's `TcpListener::bind` asks for 1,024; a burst of new clients (a
/// load balancer reconnecting, thousands of browsers after a deploy) beyond
/// that waits a SYN retransmission (a second or more) for nothing. The
/// kernel caps the figure at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 8192;

/// A listener on `addr` (SO_REUSEADDR, as `TcpListener::bind` sets) with
/// [`LISTEN_BACKLOG`].
pub fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Where the payment webhooks are received.
pub const WEBHOOK_PATH: &str = "/webhooks/payments";

/// `http://addr` for this server itself; an unspecified address (`0.0.0.0`)
/// is reached on loopback.
fn own_base_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        ip if !ip.is_unspecified() => ip,
        std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// Starts the provider sandbox in this process on a loopback port; the
/// adapters then reach it over real HTTP, exactly as they reach real providers.
pub(crate) async fn start_sandbox(
    stop: CancellationToken,
    tasks: &TaskTracker,
) -> Result<SandboxEndpoint, StartupError> {
    start_sandbox_with(stop, tasks, None).await
}

/// [`start_sandbox`] sending its payment webhooks to `webhook_url`.
pub(crate) async fn start_sandbox_with(
    stop: CancellationToken,
    tasks: &TaskTracker,
    webhook_url: Option<String>,
) -> Result<SandboxEndpoint, StartupError> {
    let failed = |e: std::io::Error| StartupError::Provider { provider: "sandbox", reason: e.to_string() };
    let listener = listen(SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0))).map_err(failed)?;
    let addr = listener.local_addr().map_err(failed)?;
    let config = crate::sandbox::SandboxConfig { stripe_webhook_url: webhook_url, ..Default::default() };
    let endpoint = SandboxEndpoint::new(format!("http://{addr}"), &config);
    tasks.spawn(async move {
        if let Err(error) = crate::sandbox::serve(listener, config, async move { stop.cancelled().await }).await {
            tracing::error!(%error, "the provider sandbox stopped");
        }
    });
    tracing::info!(
        component = "sandbox",
        url = %endpoint.base_url,
        "bundled provider sandbox in-process (set providers.*.base_url to use real providers)"
    );
    Ok(endpoint)
}

/// The providers from config; one without a `base_url` is reached at the bundled sandbox.
pub(crate) fn build_flights(
    settings: &Settings,
    sandbox: Option<&SandboxEndpoint>,
    redis: Option<&RedisPool>,
) -> Result<FlightService, StartupError> {
    let global = Arc::new(tokio::sync::Semaphore::new(settings.http_client.max_connections));
    let pooling = settings.features.connection_pooling;
    let providers = &settings.providers;
    let mut slots = Vec::new();
    let mut airline_lookup = None;
    let slot = |provider: Arc<dyn FlightProvider>| {
        ProviderSlot::with_breaker(
            provider,
            providers.search_timeout,
            CircuitBreaker::new(providers.breaker_failures, providers.breaker_cool_down),
        )
    };
    if providers.amadeus.enabled {
        let http =
            ProviderHttp::new(&settings.http_client, pooling, providers.amadeus.rate_limit_per_second, global.clone())
                .map_err(|e| StartupError::Provider { provider: "amadeus", reason: e.to_string() })?;
        let target = match (&providers.amadeus.base_url, sandbox) {
            (Some(url), _) => Some((
                url.clone(),
                providers.amadeus.client_id.clone().unwrap_or_default(),
                providers.amadeus.client_secret.clone().unwrap_or_else(|| SecretString::from(String::new())),
            )),
            (None, Some(sandbox)) => Some((
                sandbox.base_url.clone(),
                sandbox.amadeus_client_id.clone(),
                SecretString::from(sandbox.amadeus_client_secret.clone()),
            )),
            (None, None) => None,
        };
        if let Some((url, id, secret)) = target {
            tracing::info!(component = "provider", provider = "amadeus", url = %url, "flight provider amadeus");
            let amadeus = Arc::new(AmadeusProvider::new(&url, id, secret, http));
            airline_lookup = Some(amadeus.clone());
            slots.push(slot(amadeus));
        }
    }
    if providers.duffel.enabled {
        let http = ProviderHttp::new(&settings.http_client, pooling, providers.duffel.rate_limit_per_second, global)
            .map_err(|e| StartupError::Provider { provider: "duffel", reason: e.to_string() })?;
        let target = match (&providers.duffel.base_url, sandbox) {
            (Some(url), _) => {
                Some((url.clone(), providers.duffel.token.clone().unwrap_or_else(|| SecretString::from(String::new()))))
            }
            (None, Some(sandbox)) => Some((sandbox.base_url.clone(), SecretString::from(sandbox.duffel_token.clone()))),
            (None, None) => None,
        };
        if let Some((url, token)) = target {
            tracing::info!(component = "provider", provider = "duffel", url = %url, "flight provider duffel");
            slots.push(slot(Arc::new(DuffelProvider::new(&url, token, http))));
        }
    }
    let (cache, offers): (Arc<dyn SearchCache>, Arc<dyn OfferStore>) = match redis {
        Some(redis) => (Arc::new(RedisSearchCache::new(redis.clone())), Arc::new(RedisOfferStore::new(redis.clone()))),
        None => {
            let budget = providers.memory_cache_mib.saturating_mul(1024 * 1024);
            (Arc::new(MemorySearchCache::with_budget(budget)), Arc::new(MemoryOfferStore::with_budget(budget)))
        }
    };
    let cache = settings.features.caching.then_some((cache, providers.cache_ttl));
    let flights = FlightService::new(Aggregator::new(slots, settings.features.parallel_processing, cache), offers);
    Ok(match airline_lookup {
        Some(amadeus) => flights.with_airline_lookup(amadeus),
        None => flights,
    })
}

/// The payment gateway from config (without a `base_url`, the bundled
/// sandbox) and the secret its webhooks are signed with.
pub(crate) fn build_gateway(
    settings: &Settings,
    sandbox: Option<&SandboxEndpoint>,
) -> Result<(Arc<dyn crate::payments::PaymentGateway>, SecretString), StartupError> {
    let target = crate::payments::GatewayTarget::resolve(&settings.payments, sandbox).ok_or_else(|| {
        StartupError::Provider { provider: "payments", reason: "no payment gateway: set payments.base_url".into() }
    })?;
    let gateway = crate::payments::stripe_gateway(settings, &target)
        .map_err(|e| StartupError::Provider { provider: "payments", reason: e.to_string() })?;
    tracing::info!(component = "payments", url = %target.base_url, sandbox = target.sandbox, "payment gateway");
    Ok((Arc::new(gateway), target.webhook_secret))
}

async fn connect_store(settings: &Settings) -> Result<Store, StartupError> {
    let url: SecretString = settings.database_url();
    let shown = crate::config::redact_url(secrecy::ExposeSecret::expose_secret(&url));
    let store = Store::connect(&url, &settings.database)
        .await
        .map_err(|e| StartupError::Database { url: shown.clone(), reason: e.to_string() })?;
    let applied =
        store.migrate().await.map_err(|e| StartupError::Migration { url: shown.clone(), reason: e.to_string() })?;
    let state = store
        .migration_state()
        .await
        .map_err(|e| StartupError::Migration { url: shown.clone(), reason: e.to_string() })?;
    let rtt = store.ping().await.map_err(|e| StartupError::Database { url: shown.clone(), reason: e.to_string() })?;
    tracing::info!(
        component = "store",
        backend = store.engine().name(),
        url = %shown,
        migrations_applied_now = applied,
        migrations = state.applied,
        ping_ms = rtt.as_secs_f64() * 1000.0,
        "SQL store ready"
    );
    Ok(store)
}

async fn connect_redis(url: &SecretString, settings: &Settings) -> Result<RedisPool, StartupError> {
    let shown = crate::config::redact_url(secrecy::ExposeSecret::expose_secret(url));
    let redis = RedisPool::new(url, &settings.redis)
        .map_err(|e| StartupError::Redis { url: shown.clone(), reason: e.to_string() })?;
    let rtt = redis.ping().await.map_err(|e| StartupError::Redis { url: shown.clone(), reason: e.to_string() })?;
    tracing::info!(component = "redis", url = %shown, ping_ms = rtt.as_secs_f64() * 1000.0, "Redis ready");
    Ok(redis)
}
