//! *old-table*: the replaced service's before/after table, reproduced —
//! providers answering in 2.1 s; one request, three sequential, three
//! concurrent, and throughput with 100 concurrent users; the
//! parallel-processing toggle off (providers asked one after another) and on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Context, Report, ServerOptions, Table, errors, searcher, sessions};
use crate::loadtest::client::{GraphqlClient, SandboxControl, http_client};
use crate::loadtest::drive::{burst, closed_loop};

/// The old service's providers' latency.
const OLD_LATENCY: Duration = Duration::from_millis(2100);

/// Runs the scenario.
pub async fn run(ctx: &Context) -> Result<Report, String> {
    let latency = if ctx.smoke { Duration::from_millis(50) } else { OLD_LATENCY };
    let users = ctx.concurrency.unwrap_or(if ctx.smoke { 4 } else { 100 });
    let window = if ctx.smoke { Duration::from_secs(1) } else { ctx.duration };
    let modes: Vec<Option<bool>> = if ctx.owns_server() { vec![Some(false), Some(true)] } else { vec![None] };
    let mut table = Table::new(
        format!("old-table: both providers answer in {} ms, cache off", latency.as_millis()),
        &[
            "parallel processing",
            "1 request (s)",
            "3 sequential (s)",
            "3 concurrent (s)",
            &format!("{users} users: req/s"),
            "p99 (s)",
            "errors",
        ],
    );
    let mut data = Vec::new();
    for mode in modes {
        let options = ServerOptions { parallel: mode.unwrap_or(true), caching: false, ..ServerOptions::default() };
        let target = ctx.server(&options).await?;
        let sandbox = SandboxControl::new(&target.sandbox_url);
        sandbox.set_providers(latency, ctx.offers).await?;
        let client = GraphqlClient::new(http_client(users * 2), &target.urls[0]);
        let tokens = Arc::new(sessions(&client, users.max(3)).await?);
        let search = Arc::new(searcher(client.clone(), tokens.clone(), ctx.searches.reserve(1_000_000)));

        // One search first, untimed: the Amadeus-style provider's OAuth
        // token is fetched once per process and would add an L to the first.
        search(999_999).await;
        let started = Instant::now();
        let single = search(0).await;
        let single_s = started.elapsed().as_secs_f64();

        let started = Instant::now();
        let mut sequential_errors = 0;
        for i in 1..=3 {
            if search(i).await != crate::loadtest::stats::Outcome::Ok {
                sequential_errors += 1;
            }
        }
        let sequential_s = started.elapsed().as_secs_f64();

        let concurrent_search = search.clone();
        let concurrent = burst(3, move |i| concurrent_search(10 + i)).await;
        let concurrent_s = concurrent.elapsed.as_secs_f64();

        let loop_search = search.clone();
        let throughput = closed_loop(users, ctx.stop(window), move |i| loop_search(100 + i)).await;
        let summary = throughput.recorder.summary(throughput.elapsed);

        let mode_name = match mode {
            Some(true) => "on",
            Some(false) => "off",
            None => "as configured",
        };
        let failed = u64::from(single != crate::loadtest::stats::Outcome::Ok)
            + sequential_errors
            + concurrent.recorder.error_count();
        table.row(vec![
            mode_name.into(),
            format!("{single_s:.2}"),
            format!("{sequential_s:.2}"),
            format!("{concurrent_s:.2}"),
            format!("{:.1}", summary.throughput_per_s),
            format!("{:.2}", summary.p99_ms / 1000.0),
            if failed == 0 { errors(&summary) } else { format!("{failed} in the first 7; {}", errors(&summary)) },
        ]);
        data.push(json!({
            "parallelProcessing": mode,
            "singleSeconds": single_s,
            "threeSequentialSeconds": sequential_s,
            "threeConcurrentSeconds": concurrent_s,
            "users": users,
            "throughput": summary,
        }));
        target.stop().await;
    }
    let mut old = Table::new(
        "the old service (its own report)",
        &["", "1 request (s)", "3 sequential (s)", "3 concurrent (s)", "req/s"],
    );
    old.row(vec!["before".into(), "2.11".into(), "6.33".into(), "—".into(), "0.47".into()]);
    old.row(vec!["after".into(), "—".into(), "—".into(), "2.10".into(), "4.7".into()]);
    Ok(Report {
        scenario: "old-table",
        tables: vec![table, old],
        notes: vec![
            format!(
                "Each request is a distinct searchFlights (two providers, 20 offers with carriers and airports); \
                 throughput is a closed loop of {users} users for {} s.",
                window.as_secs()
            ),
            "With parallel processing off the server asks the providers one after another, so one request takes 2 × L."
                .into(),
        ],
        data: json!({ "latencyMs": latency.as_millis() as u64, "modes": data, "old": { "single": 2.11, "sequential3": 6.33, "concurrent3": 2.10, "requestsPerSecondBefore": 0.47, "requestsPerSecondAfter": 4.7 } }),
    })
}
