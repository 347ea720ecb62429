//! Prometheus metrics: names, labels and the process-wide recorder.
//!
//! The recorder is global (one per process), so series that tests assert per
//! application — open sockets, active subscriptions — are counted in
//! [`LiveCounts`] on the application and copied into gauges when
//! `/api/metrics` renders. Operation names come from clients, so they are
//! sanitised and capped before they become label values.

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Most distinct operation names kept as label values; the rest are `other`.
const MAX_OPERATION_LABELS: usize = 200;

/// Latency buckets in seconds: 1 ms to 30 s.
const LATENCY_BUCKETS: [f64; 16] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 20.0, 30.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's Prometheus recorder, installed on first use.
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("duration_seconds".to_owned()), &LATENCY_BUCKETS);
            match builder.and_then(|b| b.install_recorder()) {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(error) => {
                    tracing::warn!(%error, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

fn describe() {
    metrics::describe_counter!("wayfarer_graphql_operations_total", "GraphQL operations executed, by name and type");
    metrics::describe_histogram!(
        "wayfarer_graphql_operation_duration_seconds",
        metrics::Unit::Seconds,
        "GraphQL operation latency, by name and type"
    );
    metrics::describe_counter!("wayfarer_graphql_errors_total", "GraphQL errors sent, by extensions.code");
    metrics::describe_counter!("wayfarer_http_requests_total", "HTTP requests, by route and status");
    metrics::describe_gauge!("wayfarer_websocket_connections", "Open GraphQL WebSocket connections");
    metrics::describe_gauge!("wayfarer_websocket_subscriptions", "Active subscriptions over WebSocket");
    metrics::describe_counter!("wayfarer_websocket_closes_total", "WebSocket closes, by close code");
    metrics::describe_gauge!("wayfarer_redis_pool_connections", "Redis pool connections, by state");
    metrics::describe_gauge!("wayfarer_sql_pool_connections", "SQL pool connections, by state");
    metrics::describe_counter!("wayfarer_event_bus_reconnects_total", "Event bus resubscriptions after a Redis loss");
    metrics::describe_counter!("wayfarer_notifications_total", "Notifications stored, by kind");
    metrics::describe_counter!(
        "wayfarer_notification_deliveries_total",
        "Notification delivery attempts, by channel and outcome (sent, retry, dead)"
    );
    metrics::describe_counter!(
        "wayfarer_notification_dead_letters_total",
        "Notification deliveries given up after the last try or a permanent failure, by channel"
    );
    metrics::describe_counter!("wayfarer_event_bus_lagged_total", "Events skipped by subscribers that fell behind");
    metrics::describe_gauge!("wayfarer_health_status", "0 ok, 1 degraded, 2 down");
}

/// Counts of live things on one application, shared with its gauges.
#[derive(Debug, Default)]
pub struct LiveCounts {
    /// Open WebSocket connections.
    pub websocket_connections: AtomicI64,
    /// Active subscriptions over WebSocket.
    pub websocket_subscriptions: AtomicI64,
}

impl LiveCounts {
    /// Open sockets now.
    pub fn connections(&self) -> i64 {
        self.websocket_connections.load(Ordering::Relaxed)
    }

    /// Active subscriptions now.
    pub fn subscriptions(&self) -> i64 {
        self.websocket_subscriptions.load(Ordering::Relaxed)
    }
}

/// Holds one unit of a [`LiveCounts`] field until dropped, so every exit path
/// — including a vanished client or a cancelled task — gives it back.
#[derive(Debug)]
pub struct LiveGuard {
    counts: Arc<LiveCounts>,
    which: LiveKind,
}

/// Which count a [`LiveGuard`] holds.
#[derive(Debug, Clone, Copy)]
pub enum LiveKind {
    /// A WebSocket connection.
    Connection,
    /// A subscription.
    Subscription,
}

impl LiveGuard {
    /// Takes one unit of `which`.
    pub fn new(counts: &Arc<LiveCounts>, which: LiveKind) -> Self {
        counts.counter(which).fetch_add(1, Ordering::Relaxed);
        Self { counts: counts.clone(), which }
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.counts.counter(self.which).fetch_sub(1, Ordering::Relaxed);
    }
}

impl LiveCounts {
    fn counter(&self, which: LiveKind) -> &AtomicI64 {
        match which {
            LiveKind::Connection => &self.websocket_connections,
            LiveKind::Subscription => &self.websocket_subscriptions,
        }
    }
}

/// A bounded, sanitised label for a client-chosen operation name.
pub fn operation_label(name: Option<&str>) -> String {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let Some(name) = name else {
        return "anonymous".to_owned();
    };
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if !valid {
        return "other".to_owned();
    }
    let mut seen = SEEN.get_or_init(Default::default).lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if seen.contains(name) {
        return name.to_owned();
    }
    if seen.len() >= MAX_OPERATION_LABELS {
        return "other".to_owned();
    }
    seen.insert(name.to_owned());
    name.to_owned()
}

/// Records one executed operation.
pub fn record_operation(kind: &'static str, label: &str, elapsed: Duration, error_codes: &[&'static str]) {
    let labels = [("operation", label.to_owned()), ("type", kind.to_owned())];
    metrics::counter!("wayfarer_graphql_operations_total", &labels).increment(1);
    metrics::histogram!("wayfarer_graphql_operation_duration_seconds", &labels).record(elapsed.as_secs_f64());
    record_errors(error_codes);
}

/// Counts errors by code.
pub fn record_errors(error_codes: &[&'static str]) {
    for code in error_codes {
        metrics::counter!("wayfarer_graphql_errors_total", "code" => *code).increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_labels_are_sanitised() {
        assert_eq!(operation_label(None), "anonymous");
        assert_eq!(operation_label(Some("StartSession")), "StartSession");
        assert_eq!(operation_label(Some("evil\"} label")), "other");
        assert_eq!(operation_label(Some(&"x".repeat(65))), "other");
        assert_eq!(operation_label(Some("1abc")), "other");
    }
}
