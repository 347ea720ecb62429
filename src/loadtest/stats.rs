//! What a load run measured: latency histograms (hdrhistogram, microseconds),
//! outcomes by error code, and the summary rows the report prints.
//!
//! Each worker records into its own [`Recorder`]; the driver merges them at
//! the end, so recording never contends on a lock while the load runs.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// The highest latency a histogram holds: anything slower is clamped here
/// (and still counted), so one pathological request cannot fail a run.
const MAX_MICROS: u64 = 10 * 60 * 1_000_000;

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A response with data and no errors.
    Ok,
    /// A GraphQL error (its `extensions.code`), an HTTP status without a
    /// GraphQL body (`HTTP_503`), or a transport failure (`TRANSPORT`).
    Error(String),
}

/// Latencies and outcomes of one kind of request.
#[derive(Debug, Clone)]
pub struct Recorder {
    histogram: Histogram<u64>,
    errors: BTreeMap<String, u64>,
    ok: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Self {
        // Three significant figures from 1 µs to ten minutes: about 200 KiB.
        let histogram =
            Histogram::new_with_bounds(1, MAX_MICROS, 3).unwrap_or_else(|_| Histogram::new(3).expect("3 sigfig"));
        Self { histogram, errors: BTreeMap::new(), ok: 0 }
    }

    /// Records one request that took `latency`.
    pub fn record(&mut self, latency: Duration, outcome: &Outcome) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(MAX_MICROS).clamp(1, MAX_MICROS);
        self.histogram.saturating_record(micros);
        match outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::Error(code) => *self.errors.entry(code.clone()).or_insert(0) += 1,
        }
    }

    /// Adds `other`'s measurements to this one.
    pub fn merge(&mut self, other: &Recorder) {
        // Both histograms have the same bounds, so adding cannot fail; a
        // failure would only drop the other worker's samples.
        let _ = self.histogram.add(&other.histogram);
        self.ok += other.ok;
        for (code, n) in &other.errors {
            *self.errors.entry(code.clone()).or_insert(0) += n;
        }
    }

    /// Requests recorded.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// Requests that ended in an error.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Errors by code.
    pub fn errors(&self) -> &BTreeMap<String, u64> {
        &self.errors
    }

    /// The latency at `quantile` (0–1), in milliseconds.
    pub fn quantile_ms(&self, quantile: f64) -> f64 {
        if self.histogram.is_empty() {
            return 0.0;
        }
        self.histogram.value_at_quantile(quantile) as f64 / 1000.0
    }

    /// The summary of this recorder over a run that lasted `elapsed`.
    pub fn summary(&self, elapsed: Duration) -> LatencySummary {
        let seconds = elapsed.as_secs_f64();
        LatencySummary {
            requests: self.count(),
            ok: self.ok,
            errors: self.errors.clone(),
            elapsed_s: seconds,
            throughput_per_s: if seconds > 0.0 { self.count() as f64 / seconds } else { 0.0 },
            p50_ms: self.quantile_ms(0.50),
            p95_ms: self.quantile_ms(0.95),
            p99_ms: self.quantile_ms(0.99),
            max_ms: if self.histogram.is_empty() { 0.0 } else { self.histogram.max() as f64 / 1000.0 },
            mean_ms: if self.histogram.is_empty() { 0.0 } else { self.histogram.mean() / 1000.0 },
        }
    }
}

/// Throughput and latency of one kind of request over a run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LatencySummary {
    /// Requests completed (ok or not).
    pub requests: u64,
    /// Requests with data and no errors.
    pub ok: u64,
    /// Errors by code.
    pub errors: BTreeMap<String, u64>,
    /// Wall-clock length of the run, seconds.
    pub elapsed_s: f64,
    /// Requests completed per second.
    pub throughput_per_s: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
    /// Mean, ms.
    pub mean_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_recorders_count_every_sample_and_error() {
        let mut a = Recorder::new();
        let mut b = Recorder::new();
        for ms in 1..=100 {
            a.record(Duration::from_millis(ms), &Outcome::Ok);
        }
        b.record(Duration::from_secs(2), &Outcome::Error("RATE_LIMITED".into()));
        a.merge(&b);
        let summary = a.summary(Duration::from_secs(1));
        assert_eq!(summary.requests, 101);
        assert_eq!(summary.ok, 100);
        assert_eq!(summary.errors.get("RATE_LIMITED"), Some(&1));
        assert!((49.0..=52.0).contains(&summary.p50_ms), "{}", summary.p50_ms);
        assert!(summary.max_ms >= 1999.0);
    }

    #[test]
    fn latencies_beyond_the_bounds_are_clamped_not_lost() {
        let mut recorder = Recorder::new();
        recorder.record(Duration::from_secs(3600), &Outcome::Ok);
        recorder.record(Duration::ZERO, &Outcome::Ok);
        assert_eq!(recorder.count(), 2);
    }
}
