//! Logs, metrics and per-operation performance.
//!
//! Logs go through `tracing` (pretty by default, JSON by config); every HTTP
//! request has a span with its request id and, once parsed, the GraphQL
//! operation's name and type. Metrics are Prometheus series rendered at
//! `/api/metrics`; [`performance::PerformanceWindow`] keeps the recent
//! latencies per operation behind `/api/performance`.

pub mod metrics;
pub mod performance;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::config::{LogFormat, TelemetrySettings};

/// Installs the global log subscriber. `RUST_LOG` overrides the configured filter.
/// A second call (tests start many applications in one process) is a no-op.
pub fn init_logging(settings: &TelemetrySettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.log_filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match settings.log_format {
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().json().with_current_span(true).with_span_list(false))
            .try_init(),
        LogFormat::Pretty => registry.with(tracing_subscriber::fmt::layer().with_target(false)).try_init(),
    };
    drop(result);
}
