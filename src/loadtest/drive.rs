//! How load is applied: a closed loop (N virtual users, each sending its
//! next request when the last one answered), an open loop (requests start
//! on a fixed schedule whether or not earlier ones answered), and a burst
//! (N requests released together).
//!
//! Coordinated omission: a closed loop slows down with the server, so it
//! under-reports latency when the server stalls. The open loop measures each
//! request from the moment it was *due*, not when it was sent, so a stall
//! shows in the percentiles as it would for real users arriving at that
//! rate. Hot-path throughput is found with the closed loop; its latency
//! figures come from an open-loop run at a rate below that maximum.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::stats::{Outcome, Recorder};

/// When a closed loop stops.
#[derive(Debug, Clone, Copy)]
pub enum Stop {
    /// After this many requests in all.
    Requests(u64),
    /// When this much time has passed (requests in flight finish).
    After(Duration),
}

/// A finished run: the merged recorder and how long it lasted.
#[derive(Debug, Clone)]
pub struct Run {
    /// Every request's latency and outcome.
    pub recorder: Recorder,
    /// From the first request's start to the last one's end.
    pub elapsed: Duration,
}

/// `concurrency` virtual users each call `request(i)` (i counts requests
/// across all users) back to back until `stop`.
pub async fn closed_loop<F, Fut>(concurrency: usize, stop: Stop, request: F) -> Run
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let request = Arc::new(request);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = match stop {
        Stop::After(duration) => Some(started + duration),
        Stop::Requests(_) => None,
    };
    let limit = match stop {
        Stop::Requests(n) => n,
        Stop::After(_) => u64::MAX,
    };
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let request = request.clone();
        let next = next.clone();
        workers.spawn(async move {
            let mut samples = Vec::new();
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= limit {
                    break;
                }
                let sent = Instant::now();
                let outcome = request(i).await;
                samples.push((sent.elapsed(), outcome));
            }
            samples
        });
    }
    let recorder = merge_all(workers).await;
    Run { recorder, elapsed: started.elapsed() }
}

/// Starts `request(i)` every `1 / rate` seconds for `duration`, each
/// measured from when it was due (see the module docs).
pub async fn open_loop<F, Fut>(rate: f64, duration: Duration, request: F) -> Run
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let request = Arc::new(request);
    let total = (rate * duration.as_secs_f64()).ceil().max(1.0) as u64;
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let started = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut merged = Recorder::new();
    for i in 0..total {
        let due = started + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due).await;
        let request = request.clone();
        tasks.spawn(async move {
            let outcome = request(i).await;
            vec![(due.elapsed(), outcome)]
        });
        // Merge finished requests as we go: tens of thousands of recorders
        // would otherwise wait in memory until the end.
        while let Some(result) = tasks.try_join_next() {
            absorb(&mut merged, result);
        }
    }
    while let Some(result) = tasks.join_next().await {
        absorb(&mut merged, result);
    }
    Run { recorder: merged, elapsed: started.elapsed() }
}

/// Releases `count` calls of `request(i)` at once and waits for all.
pub async fn burst<F, Fut>(count: usize, request: F) -> Run
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let request = Arc::new(request);
    let gate = Arc::new(tokio::sync::Barrier::new(count + 1));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        let request = request.clone();
        let gate = gate.clone();
        tasks.spawn(async move {
            gate.wait().await;
            let sent = Instant::now();
            let outcome = request(i as u64).await;
            vec![(sent.elapsed(), outcome)]
        });
    }
    gate.wait().await;
    let started = Instant::now();
    let recorder = merge_all(tasks).await;
    Run { recorder, elapsed: started.elapsed() }
}

/// One request's latency and outcome. Tasks return samples, not recorders:
/// a histogram is hundreds of KiB, and a burst has thousands of tasks.
type Samples = Vec<(Duration, Outcome)>;

async fn merge_all(mut tasks: tokio::task::JoinSet<Samples>) -> Recorder {
    let mut merged = Recorder::new();
    while let Some(result) = tasks.join_next().await {
        absorb(&mut merged, result);
    }
    merged
}

fn absorb(merged: &mut Recorder, result: Result<Samples, tokio::task::JoinError>) {
    match result {
        Ok(samples) => {
            for (latency, outcome) in &samples {
                merged.record(*latency, outcome);
            }
        }
        // A panicking request is a bug in the load test; count it.
        Err(_) => merged.record(Duration::ZERO, &Outcome::Error("LOADTEST_TASK_FAILED".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closed_loop_sends_exactly_the_requests_asked_for() {
        let run = closed_loop(7, Stop::Requests(100), |_| async { Outcome::Ok }).await;
        assert_eq!(run.recorder.count(), 100);
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_loop_counts_the_wait_of_a_stalled_server() {
        // Each request takes 100 ms but they are due every 10 ms: a closed
        // loop would report 100 ms; from their due time none is faster.
        let run = open_loop(100.0, Duration::from_millis(200), |_| async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Outcome::Ok
        })
        .await;
        assert_eq!(run.recorder.count(), 20);
        assert!(run.recorder.quantile_ms(0.0) >= 99.0);
    }

    #[tokio::test]
    async fn a_burst_releases_every_request() {
        let run = burst(50, |i| async move { if i % 2 == 0 { Outcome::Ok } else { Outcome::Error("X".into()) } }).await;
        assert_eq!(run.recorder.count(), 50);
        assert_eq!(run.recorder.errors().get("X"), Some(&25));
    }
}
