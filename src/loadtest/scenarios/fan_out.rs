//! *fan-out scale*: rounds of N concurrent distinct (so uncached) searches
//! against providers of latency L — the round's total time ÷ L, the
//! server's overhead per search (latency − L), its CPU time per search, and
//! its memory during and after the round.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;

use super::{Context, Report, ServerOptions, Table, errors, ms, offers_label, searcher, sessions, warm_connections};
use crate::loadtest::client::{GraphqlClient, SandboxControl, http_client};
use crate::loadtest::drive::burst;
use crate::loadtest::target::Target;

/// Runs the scenario.
pub async fn run(ctx: &Context) -> Result<Report, String> {
    let levels = ctx.levels.clone().unwrap_or_else(|| if ctx.smoke { vec![5, 20] } else { vec![10, 100, 1000, 5000] });
    let latency = if ctx.smoke { Duration::from_millis(50) } else { ctx.latency };
    let l_ms = latency.as_secs_f64() * 1000.0;
    let target = ctx.server(&ServerOptions::default()).await?;
    let sandbox = SandboxControl::new(&target.sandbox_url);
    sandbox.set_providers(latency, ctx.offers).await?;
    let largest = levels.iter().copied().max().unwrap_or(1);
    let client = GraphqlClient::new(http_client(largest), &target.urls[0]);
    let tokens = Arc::new(sessions(&client, largest.min(200)).await?);
    let idle = target.sample();

    let mut table = Table::new(
        format!("fan-out: N concurrent distinct searches, providers at L = {l_ms:.0} ms, {}", offers_label(ctx.offers)),
        &[
            "N",
            "total (s)",
            "total ÷ L",
            "p50 (ms)",
            "p99 (ms)",
            "overhead p50 (ms)",
            "overhead p99 (ms)",
            "server CPU / search (ms)",
            "loadtest CPU / search (ms)",
            "RSS peak / after (MiB)",
            "KiB per in-flight search",
            "provider calls",
            "errors",
        ],
    );
    let mut rounds = Vec::new();
    for &n in &levels {
        // A round that made providers time out can leave a breaker open; the
        // next round would then measure PROVIDER_UNAVAILABLE answers, not
        // searches. Wait (bounded) for every circuit to close again.
        let circuit_wait = wait_for_closed_circuits(&client, Duration::from_secs(60)).await;
        let warm_errors = warm_connections(&client, n).await;
        let before = target.sample();
        let own_before = crate::loadtest::target::read_process(std::process::id());
        let calls_before = sandbox.search_calls().await?;
        let (peak, sampler) = sample_peak_rss(&target);
        let run = burst(n, searcher(client.clone(), tokens.clone(), ctx.searches.reserve(n as u64))).await;
        sampler.store(false, Ordering::Relaxed);
        let peak_rss = peak.await.unwrap_or(0.0);
        // Let the server drop what the round left (responses, buffers).
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = target.sample();
        let own_after = crate::loadtest::target::read_process(std::process::id());
        let calls = sandbox.search_calls().await? - calls_before;
        let circuits_after = client.provider_circuits().await.unwrap_or_default();
        let summary = run.recorder.summary(run.elapsed);
        let total_s = run.elapsed.as_secs_f64();
        let cpu_ms = match (before, after) {
            (Some(b), Some(a)) => Some((a.cpu_s - b.cpu_s) * 1000.0 / n as f64),
            _ => None,
        };
        // The sandbox's providers (rendering every offer of every answer) and
        // the load generator: the rest of what the two cores spent.
        let own_cpu_ms = match (own_before, own_after) {
            (Some(b), Some(a)) => Some((a.cpu_s - b.cpu_s) * 1000.0 / n as f64),
            _ => None,
        };
        let per_search_kib = before.map(|b| (peak_rss - b.rss_mib).max(0.0) * 1024.0 / n as f64);
        table.row(vec![
            n.to_string(),
            format!("{total_s:.3}"),
            format!("{:.2}", total_s * 1000.0 / l_ms),
            ms(summary.p50_ms),
            ms(summary.p99_ms),
            ms(summary.p50_ms - l_ms),
            ms(summary.p99_ms - l_ms),
            cpu_ms.map_or("—".into(), |v| format!("{v:.3}")),
            own_cpu_ms.map_or("—".into(), |v| format!("{v:.3}")),
            match after {
                Some(a) => format!("{peak_rss:.0} / {:.0}", a.rss_mib),
                None => "—".into(),
            },
            per_search_kib.map_or("—".into(), |v| format!("{v:.0}")),
            calls.to_string(),
            errors(&summary),
        ]);
        rounds.push(json!({
            "n": n,
            "totalSeconds": total_s,
            "totalOverL": total_s * 1000.0 / l_ms,
            "latency": summary,
            "overheadP50Ms": summary.p50_ms - l_ms,
            "overheadP99Ms": summary.p99_ms - l_ms,
            "serverCpuMsPerSearch": cpu_ms,
            "loadtestCpuMsPerSearch": own_cpu_ms,
            "peakRssMib": peak_rss,
            "rssAfterMib": after.map(|a| a.rss_mib),
            "kibPerInFlightSearch": per_search_kib,
            "providerSearchCalls": calls,
            "warmUpErrors": warm_errors,
            "circuitWaitMs": circuit_wait.as_millis() as u64,
            "circuitsAfter": circuits_after.iter().map(|(name, state)| json!({ "name": name, "circuit": state })).collect::<Vec<_>>(),
        }));
    }
    target.stop().await;
    Ok(Report {
        scenario: "fan-out",
        tables: vec![table],
        notes: vec![
            "Each round first opens N keep-alive connections ({ __typename }), then releases N distinct searches at once; \
             total is from the release to the last answer. Overhead = latency − L (both providers run in parallel, so a \
             search's floor is L). CPU is the server process's user+system time over the round ÷ N; KiB per in-flight \
             search is (peak RSS during the round − RSS before) ÷ N. Provider calls: searches the sandbox counted (2 per search). \
             Loadtest CPU is this process's over the round ÷ N: the sandbox's providers and the load generator when the \
             loadtest started the server, the load generator alone with --target and an outside sandbox. Before \
             each round the loadtest waits (up to 60 s) until /api/status shows every provider's circuit CLOSED; \
             the JSON has the wait and the circuits after the round."
                .into(),
            "The sandbox (providers) and the load generator run in one process beside the server, on the same two cores."
                .into(),
        ],
        data: json!({ "latencyMs": l_ms, "maxOffersPerProvider": ctx.offers, "idle": idle, "rounds": rounds }),
    })
}

/// Polls the server's `/api/status` until every provider's circuit is
/// `CLOSED` (or `limit` passes, or the status does not answer); returns
/// how long it waited.
async fn wait_for_closed_circuits(client: &GraphqlClient, limit: Duration) -> Duration {
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        match client.provider_circuits().await {
            Ok(circuits) if circuits.iter().any(|(_, state)| state != "CLOSED") => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            _ => break,
        }
    }
    started.elapsed()
}

/// Samples the server's RSS every 10 ms until the flag is cleared; the
/// task's result is the highest seen (0 without a pid).
pub fn sample_peak_rss(target: &Target) -> (tokio::task::JoinHandle<f64>, Arc<AtomicBool>) {
    let running = Arc::new(AtomicBool::new(true));
    let flag = running.clone();
    let pid = target.pid();
    let handle = tokio::spawn(async move {
        let mut peak: f64 = 0.0;
        while let Some(pid) = pid {
            if let Some(sample) = crate::loadtest::target::read_process(pid) {
                peak = peak.max(sample.rss_mib);
            }
            if !flag.load(Ordering::Relaxed) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        peak
    });
    (handle, running)
}
