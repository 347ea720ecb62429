//! Component health: checks of the store, the session backend and the event
//! bus, combined into a [`StatusSnapshot`] that `/api/health`, the
//! `serviceStatus` query and (published periodically on the bus) the
//! `serviceStatus` subscription all report.
//!
//! Checks run concurrently, each bounded by the configured timeout, and a
//! result younger than a second is reused so a burst of health probes does not
//! become a burst of database and Redis round trips.

pub mod resolvers;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::events::{BusEvent, EventBus, Topic};
use crate::flights::FlightService;
use crate::flights::aggregator::CircuitState;
use crate::sessions::SessionStore;
use crate::store::Store;

/// How long a computed snapshot is reused.
const SNAPSHOT_REUSE: Duration = Duration::from_secs(1);

/// Health of one component or of the whole service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HealthStatus {
    /// Working.
    Ok,
    /// Working with reduced function.
    Degraded,
    /// Not working.
    Down,
}

/// One component's health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentStatus {
    /// `store`, `sessions`, `eventBus` (later: providers, channels).
    pub name: String,
    /// Its state.
    pub status: HealthStatus,
    /// Round trip of the check, when it reached the component.
    pub latency_ms: Option<f64>,
    /// Backend and, when not OK, what is wrong.
    pub detail: Option<String>,
    /// Whether the service is down without it.
    pub required: bool,
}

/// A point-in-time health report of one instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusSnapshot {
    /// Worst of the components: DOWN if a required one is down.
    pub status: HealthStatus,
    /// When it was taken.
    pub at: DateTime<Utc>,
    /// Wayfarer version.
    pub version: String,
    /// Seconds since the instance started.
    pub uptime_seconds: u64,
    /// Which instance took it.
    pub instance: String,
    /// Each component.
    pub components: Vec<ComponentStatus>,
}

/// Computes snapshots for this instance.
#[derive(Debug, Clone)]
pub struct HealthChecker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    sessions: Arc<dyn SessionStore>,
    bus: Arc<dyn EventBus>,
    clock: SharedClock,
    instance: String,
    started: Instant,
    check_timeout: Duration,
    last: Mutex<Option<(Instant, StatusSnapshot)>>,
    flights: Option<FlightService>,
}

impl HealthChecker {
    /// A checker over this instance's components (`flights` adds one per provider).
    pub fn new(
        store: Store,
        sessions: Arc<dyn SessionStore>,
        bus: Arc<dyn EventBus>,
        clock: SharedClock,
        instance: String,
        check_timeout: Duration,
        flights: Option<FlightService>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                sessions,
                bus,
                clock,
                instance,
                started: Instant::now(),
                check_timeout,
                last: Mutex::new(None),
                flights,
            }),
        }
    }

    /// This instance's id.
    pub fn instance(&self) -> &str {
        &self.inner.instance
    }

    /// Seconds since start.
    pub fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// A snapshot no older than a second.
    pub async fn snapshot(&self) -> StatusSnapshot {
        let mut last = self.inner.last.lock().await;
        if let Some((at, snapshot)) = last.as_ref()
            && at.elapsed() < SNAPSHOT_REUSE
        {
            return snapshot.clone();
        }
        let snapshot = self.check().await;
        *last = Some((Instant::now(), snapshot.clone()));
        snapshot
    }

    async fn check(&self) -> StatusSnapshot {
        let inner = &self.inner;
        let timeout = inner.check_timeout;
        let store = probe("store", inner.store.engine().name(), timeout, inner.store.ping());
        let sessions = probe("sessions", inner.sessions.backend(), timeout, inner.sessions.ping());
        let (store, sessions) = tokio::join!(store, sessions);
        let bus_health = inner.bus.health();
        // Without the bus, HTTP keeps working but subscriptions miss events
        // from other instances: degraded, not down.
        let bus = component(
            "eventBus",
            if bus_health.connected { HealthStatus::Ok } else { HealthStatus::Degraded },
            None,
            format!("{}: {}", inner.bus.backend(), bus_health.detail),
            false,
        );
        let mut components = vec![store, sessions, bus];
        if let Some(flights) = &inner.flights {
            // Providers are optional: search degrades to partial results without one.
            for slot in flights.aggregator().slots() {
                let (status, state) = match slot.circuit() {
                    CircuitState::Closed => (HealthStatus::Ok, "circuit closed"),
                    CircuitState::HalfOpen => (HealthStatus::Degraded, "circuit half-open"),
                    CircuitState::Open => (HealthStatus::Down, "circuit open"),
                };
                let latency = Duration::from_millis(slot.last_latency_ms());
                components.push(component(
                    &format!("provider:{}", slot.name()),
                    status,
                    Some(latency),
                    state.to_owned(),
                    false,
                ));
            }
        }
        StatusSnapshot {
            status: overall(&components),
            at: inner.clock.now(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_seconds: inner.started.elapsed().as_secs(),
            instance: inner.instance.clone(),
            components,
        }
    }

    /// Publishes a snapshot on the bus every `interval` until `shutdown`.
    pub async fn publish_periodically(self, interval: Duration, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let snapshot = self.snapshot().await;
            metrics::gauge!("wayfarer_health_status").set(match snapshot.status {
                HealthStatus::Ok => 0.0,
                HealthStatus::Degraded => 1.0,
                HealthStatus::Down => 2.0,
            });
            if let Err(error) =
                self.inner.bus.publish(&Topic::service_status(), &BusEvent::ServiceStatus(snapshot)).await
            {
                tracing::debug!(%error, "could not publish the status snapshot");
            }
        }
    }
}

/// A required component's health from a ping bounded by `timeout`.
async fn probe<E: std::fmt::Display>(
    name: &str,
    backend: &str,
    timeout: Duration,
    ping: impl std::future::Future<Output = Result<Duration, E>>,
) -> ComponentStatus {
    match tokio::time::timeout(timeout, ping).await {
        Ok(Ok(rtt)) => component(name, HealthStatus::Ok, Some(rtt), backend.to_owned(), true),
        Ok(Err(e)) => component(name, HealthStatus::Down, None, format!("{backend}: {e}"), true),
        Err(_) => component(name, HealthStatus::Down, None, format!("{backend}: no answer in {timeout:?}"), true),
    }
}

fn component(
    name: &str,
    status: HealthStatus,
    rtt: Option<Duration>,
    detail: String,
    required: bool,
) -> ComponentStatus {
    ComponentStatus {
        name: name.to_owned(),
        status,
        latency_ms: rtt.map(|d| (d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0),
        detail: Some(detail),
        required,
    }
}

/// DOWN when a required component is down; DEGRADED when anything else is not OK.
pub fn overall(components: &[ComponentStatus]) -> HealthStatus {
    if components.iter().any(|c| c.required && c.status == HealthStatus::Down) {
        HealthStatus::Down
    } else if components.iter().any(|c| c.status != HealthStatus::Ok) {
        HealthStatus::Degraded
    } else {
        HealthStatus::Ok
    }
}
