//! *dataloader*: K aliases of `searchFlights` in one request against the
//! provider calls they cost — the same search under K aliases (the request's
//! search loader makes it one search), K distinct searches under K aliases
//! (one concurrent fan-out), and, unbatched, the same search sent as K
//! requests one after another. The server runs with the search cache off,
//! so only the loader can save a call.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Context, Report, ServerOptions, Table, distinct_search, ms};
use crate::loadtest::client::{GraphqlClient, SandboxControl, http_client};
use crate::loadtest::stats::Outcome;

/// Runs the scenario.
pub async fn run(ctx: &Context) -> Result<Report, String> {
    let ks = ctx.levels.clone().unwrap_or_else(|| if ctx.smoke { vec![1, 3] } else { vec![1, 5, 10, 25, 50] });
    let latency = if ctx.smoke { Duration::from_millis(20) } else { ctx.latency };
    let target = ctx.server(&ServerOptions { caching: false, ..ServerOptions::default() }).await?;
    let sandbox = SandboxControl::new(&target.sandbox_url);
    sandbox.set_providers(latency, ctx.offers).await?;
    let client = GraphqlClient::new(http_client(8), &target.urls[0]);
    let token = client.start_session().await?;
    let mut table = Table::new(
        format!("dataloader: K aliases, providers at L = {} ms, search cache off", latency.as_millis()),
        &[
            "K",
            "same search ×K, one request: calls",
            "time (ms)",
            "K distinct, one request: calls",
            "time (ms)",
            "same search, K requests in turn: calls",
            "time (ms)",
        ],
    );
    let mut data = Vec::new();
    for &k in &ks {
        let same = distinct_search(ctx.searches.reserve(1));
        let (same_calls, same_ms, same_ok) = measure(&sandbox, async {
            client.execute(&aliased(&vec![same.clone(); k]), json!({}), Some(&token)).await.outcome
        })
        .await?;
        let base = ctx.searches.reserve(k as u64);
        let distinct: Vec<Value> = (0..k as u64).map(|i| distinct_search(base + i)).collect();
        let (distinct_calls, distinct_ms, distinct_ok) =
            measure(&sandbox, async { client.execute(&aliased(&distinct), json!({}), Some(&token)).await.outcome })
                .await?;
        let single = distinct_search(ctx.searches.reserve(1));
        let (unbatched_calls, unbatched_ms, unbatched_ok) = measure(&sandbox, async {
            let mut outcome = Outcome::Ok;
            for _ in 0..k {
                let reply = client.execute(&aliased(std::slice::from_ref(&single)), json!({}), Some(&token)).await;
                if reply.outcome != Outcome::Ok {
                    outcome = reply.outcome;
                }
            }
            outcome
        })
        .await?;
        table.row(vec![
            k.to_string(),
            same_calls.to_string(),
            ms(same_ms),
            distinct_calls.to_string(),
            ms(distinct_ms),
            unbatched_calls.to_string(),
            ms(unbatched_ms),
        ]);
        data.push(json!({
            "k": k,
            "sameSearchAliased": { "providerCalls": same_calls, "ms": same_ms, "ok": same_ok },
            "distinctAliased": { "providerCalls": distinct_calls, "ms": distinct_ms, "ok": distinct_ok },
            "unbatched": { "providerCalls": unbatched_calls, "ms": unbatched_ms, "ok": unbatched_ok },
        }));
    }
    target.stop().await;
    Ok(Report {
        scenario: "dataloader",
        tables: vec![table],
        notes: vec![
            "Calls are provider search calls the sandbox counted (two providers: 2 per search). Carriers and airports \
             the embedded dataset knows resolve from it directly; airlines it lacks go in one Airline Code Lookup \
             call per request (the reference loader)."
                .into(),
        ],
        data: json!({ "latencyMs": latency.as_millis() as u64, "rows": data }),
    })
}

/// One document searching each input under its own alias, carriers and airports included.
fn aliased(inputs: &[Value]) -> String {
    let mut document = String::from("query {");
    for (i, input) in inputs.iter().enumerate() {
        document.push_str(&format!(
            " s{i}: searchFlights(input: {{ origin: {}, destination: {}, departureDate: {}, adults: {}, first: 20 }}) \
             {{ offers {{ id itineraries {{ segments {{ carrier {{ code name }} departure {{ airport {{ code name }} }} arrival {{ airport {{ code name }} }} }} }} }} }}",
            input["origin"], input["destination"], input["departureDate"], input["adults"]
        ));
    }
    document.push_str(" }");
    document
}

/// Provider search calls, milliseconds and success of `work`.
async fn measure(sandbox: &SandboxControl, work: impl Future<Output = Outcome>) -> Result<(u64, f64, bool), String> {
    let before = sandbox.search_calls().await?;
    let started = Instant::now();
    let outcome = work.await;
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    let calls = sandbox.search_calls().await? - before;
    Ok((calls, elapsed, outcome == Outcome::Ok))
}
