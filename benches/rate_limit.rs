//! The in-process rate limiter's cost on the hot path: one `admit` for an
//! anonymous `{ __typename }` (one per-IP bucket), for a session's
//! operation (session and IP buckets), across many client IPs, and with two
//! threads hitting one bucket at once (the sharded map's contended case).
//!
//! `cargo bench --bench rate_limit`; figures in BENCHMARKS.md.

#![allow(missing_docs, clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt as _;
use wayfarer::config::RateLimitSettings;
use wayfarer::graphql::rate_limit::{ClientAddr, OperationCost, RateLimiter};

fn limiter() -> RateLimiter {
    // Budgets no loop reaches: every admit is a full check-and-count.
    RateLimiter::new(
        &RateLimitSettings { per_session: u32::MAX, per_ip: u32::MAX, ..RateLimitSettings::default() },
        None,
    )
}

fn one_field() -> OperationCost {
    let mut cost = OperationCost::default();
    cost.add("__typename");
    cost
}

/// The memory backend never awaits, so the future is ready at once.
fn admit(limiter: &RateLimiter, session: Option<&str>, client: ClientAddr) {
    let verdict = limiter.admit(session, client, one_field()).now_or_never().unwrap();
    assert!(verdict.is_ok());
}

fn benches(c: &mut Criterion) {
    let limiter = limiter();
    let client = ClientAddr(Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let mut group = c.benchmark_group("rate_limit");
    group.bench_function("anonymous_one_ip", |b| b.iter(|| admit(&limiter, None, client)));
    group.bench_function("session_and_ip", |b| b.iter(|| admit(&limiter, Some("0b7c5a3e-session"), client)));
    let mut n = 0u32;
    group.bench_function("10k_client_ips", |b| {
        b.iter(|| {
            n = (n + 1) % 10_000;
            admit(&limiter, None, ClientAddr(Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n)))));
        });
    });
    let shared = Arc::new(self::limiter());
    group.bench_function("two_threads_one_ip", |b| {
        b.iter_custom(|iters| {
            let started = Instant::now();
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let shared = shared.clone();
                    std::thread::spawn(move || {
                        for _ in 0..iters.div_ceil(2) {
                            admit(&shared, None, client);
                        }
                    })
                })
                .collect();
            for thread in threads {
                thread.join().unwrap();
            }
            started.elapsed()
        });
    });
    group.finish();
}

criterion_group! {
    name = rate_limit;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(rate_limit);
