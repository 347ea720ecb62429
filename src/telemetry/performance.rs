//! Per-operation latency over a sliding window, for `/api/performance`.
//!
//! Each operation keeps the samples of the last window (capped, oldest
//! dropped first), so quantiles describe what the service does now rather
//! than since it started.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

/// Most samples kept per operation within the window.
const MAX_SAMPLES: usize = 20_000;
/// Most operations tracked (labels are already capped; this bounds memory).
const MAX_OPERATIONS: usize = 256;

/// Recent latencies per operation.
#[derive(Debug)]
pub struct PerformanceWindow {
    window: Duration,
    samples: Mutex<HashMap<String, VecDeque<(Instant, Duration)>>>,
}

/// One operation's figures over the window.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OperationPerformance {
    /// Operations completed in the window.
    pub count: usize,
    /// Per second, over the window.
    pub throughput_per_second: f64,
    /// Median latency.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

/// The `/api/performance` body.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PerformanceReport {
    /// Window length in seconds.
    pub window_seconds: u64,
    /// Per `type:name`.
    pub operations: BTreeMap<String, OperationPerformance>,
}

impl PerformanceWindow {
    /// A window of the given length.
    pub fn new(window: Duration) -> Self {
        Self { window, samples: Mutex::new(HashMap::new()) }
    }

    /// Adds one completed operation.
    pub fn record(&self, key: &str, elapsed: Duration) {
        let now = Instant::now();
        let mut samples = self.samples.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !samples.contains_key(key) && samples.len() >= MAX_OPERATIONS {
            return;
        }
        let queue = samples.entry(key.to_owned()).or_default();
        queue.push_back((now, elapsed));
        while queue.len() > MAX_SAMPLES {
            queue.pop_front();
        }
        while queue.front().is_some_and(|(at, _)| now.duration_since(*at) > self.window) {
            queue.pop_front();
        }
    }

    /// Figures per operation for the current window.
    pub fn report(&self) -> PerformanceReport {
        let now = Instant::now();
        let mut samples = self.samples.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut operations = BTreeMap::new();
        samples.retain(|key, queue| {
            while queue.front().is_some_and(|(at, _)| now.duration_since(*at) > self.window) {
                queue.pop_front();
            }
            if queue.is_empty() {
                return false;
            }
            let mut latencies: Vec<Duration> = queue.iter().map(|(_, d)| *d).collect();
            latencies.sort_unstable();
            let oldest = queue.front().map_or(now, |(at, _)| *at);
            let span = now.duration_since(oldest).max(Duration::from_secs(1)).min(self.window);
            operations.insert(
                key.clone(),
                OperationPerformance {
                    count: latencies.len(),
                    throughput_per_second: round3(latencies.len() as f64 / span.as_secs_f64()),
                    p50_ms: quantile_ms(&latencies, 0.50),
                    p95_ms: quantile_ms(&latencies, 0.95),
                    p99_ms: quantile_ms(&latencies, 0.99),
                    max_ms: latencies.last().map_or(0.0, |d| round3(d.as_secs_f64() * 1000.0)),
                },
            );
            true
        });
        PerformanceReport { window_seconds: self.window.as_secs(), operations }
    }
}

/// Nearest-rank quantile of sorted latencies, in milliseconds.
fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    round3(sorted[index].as_secs_f64() * 1000.0)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_nearest_rank() {
        let window = PerformanceWindow::new(Duration::from_secs(60));
        for ms in 1..=100 {
            window.record("query:Q", Duration::from_millis(ms));
        }
        let report = window.report();
        let q = &report.operations["query:Q"];
        assert_eq!(q.count, 100);
        assert_eq!(q.p50_ms, 50.0);
        assert_eq!(q.p95_ms, 95.0);
        assert_eq!(q.p99_ms, 99.0);
        assert_eq!(q.max_ms, 100.0);
    }
}
