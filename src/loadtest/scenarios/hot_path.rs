//! *hot path*: the most frequent cheap requests at maximum throughput —
//! `{ __typename }` (the GraphQL floor), a cached `searchFlights` (20 offers
//! with carriers and airports), `sendMessage` that needs no search, and the
//! `session` query — with a bare axum handler beside them as the floor of
//! HTTP itself. Throughput comes from a closed loop; the latency without
//! coordinated omission from an open loop at half the cached search's
//! maximum rate.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Context, Report, ServerOptions, Table, cached_searcher, distinct_search, errors, ms, sessions};
use crate::loadtest::client::{GraphqlClient, SandboxControl, http_client};
use crate::loadtest::drive::{Run, closed_loop, open_loop};
use crate::loadtest::stats::{LatencySummary, Outcome};

/// Messages that never complete a trip, so no search runs.
const CHAT: &[&str] =
    &["hello", "what can you do?", "I would like to travel somewhere warm", "we are two adults", "thanks!"];

/// Runs the scenario.
pub async fn run(ctx: &Context) -> Result<Report, String> {
    let users = ctx.concurrency.unwrap_or(if ctx.smoke { 4 } else { 64 });
    let window = if ctx.smoke { Duration::from_millis(500) } else { ctx.duration };
    let target = ctx.server(&ServerOptions::default()).await?;
    let sandbox = SandboxControl::new(&target.sandbox_url);
    sandbox.set_providers(Duration::ZERO, ctx.offers).await?;
    let client = GraphqlClient::new(http_client(users * 2), &target.urls[0]);
    let tokens = Arc::new(sessions(&client, users).await?);
    let search = distinct_search(ctx.searches.reserve(1));
    // The first answer fills the cache; every later one is served from it.
    let first = super::search_outcome(
        &client.execute(super::SEARCH_FLIGHTS, json!({ "input": search.clone() }), Some(&tokens[0])).await,
    );
    if first != Outcome::Ok {
        return Err(format!("the search to cache failed: {first:?}"));
    }
    let calls_before = sandbox.search_calls().await?;
    let cpu_before = target.sample();

    let mut rows: Vec<(&str, Run)> = Vec::new();
    let typename = {
        let client = client.clone();
        closed_loop(users, ctx.stop(window), move |_| {
            let client = client.clone();
            async move { client.execute("{ __typename }", json!({}), None).await.outcome }
        })
        .await
    };
    rows.push(("{ __typename }", typename));
    let cached =
        closed_loop(users, ctx.stop(window), cached_searcher(client.clone(), tokens.clone(), search.clone())).await;
    let cached_rate = cached.recorder.summary(cached.elapsed).throughput_per_s;
    rows.push(("searchFlights, cached (20 offers)", cached));
    let chat = closed_loop(
        users,
        ctx.stop(window),
        authenticated(&client, &tokens, "mutation($text: String!) { sendMessage(text: $text) { reply { text language } stage missing suggestedReplies } }", |i, sessions| {
            json!({ "text": CHAT[(i as usize / sessions) % CHAT.len()] })
        }),
    )
    .await;
    rows.push(("sendMessage, no search", chat));
    let session = closed_loop(
        users,
        ctx.stop(window),
        authenticated(&client, &tokens, "{ session { id locale timeZone expiresAt } }", |_, _| json!({})),
    )
    .await;
    rows.push(("session", session));
    let cpu_after = target.sample();
    let provider_calls = sandbox.search_calls().await? - calls_before;

    // Open loop at half the measured maximum: latency as arriving users see it.
    let open_rate = (cached_rate / 2.0).max(1.0);
    let open = open_loop(open_rate, window, cached_searcher(client.clone(), tokens.clone(), search)).await;
    target.stop().await;

    let bare = bare_axum(users, ctx.stop(window)).await;

    let mut table = Table::new(
        format!("hot path: closed loop, {users} concurrent clients, {} s each", window.as_secs_f64()),
        &["request", "req/s", "p50 (ms)", "p95 (ms)", "p99 (ms)", "max (ms)", "errors"],
    );
    let mut data = serde_json::Map::new();
    let mut summaries: Vec<(&str, LatencySummary)> = Vec::new();
    for (name, run) in &rows {
        summaries.push((name, run.recorder.summary(run.elapsed)));
    }
    let open_summary = open.recorder.summary(open.elapsed);
    summaries.push(("searchFlights, cached, open loop at ½ max", open_summary));
    if let Ok(bare) = &bare {
        summaries.push(("bare axum handler (no GraphQL)", bare.recorder.summary(bare.elapsed)));
    }
    for (name, summary) in &summaries {
        table.row(vec![
            (*name).to_owned(),
            format!("{:.0}", summary.throughput_per_s),
            ms(summary.p50_ms),
            ms(summary.p95_ms),
            ms(summary.p99_ms),
            ms(summary.max_ms),
            errors(summary),
        ]);
        data.insert((*name).to_owned(), serde_json::to_value(summary).unwrap_or(Value::Null));
    }
    let typename_rate = summaries[0].1.throughput_per_s;
    let ratio = if typename_rate > 0.0 { cached_rate / typename_rate } else { 0.0 };
    let mut notes = vec![
        format!(
            "Cached searchFlights ran at {ratio:.2} × the same server's {{ __typename }} rate; the cache answered all \
             but one search (provider search calls during the closed loops: {provider_calls})."
        ),
        "The load generator runs on the same two cores as the server: every figure is shared with it.".into(),
    ];
    if let (Some(before), Some(after)) = (cpu_before, cpu_after) {
        let total: u64 = rows.iter().map(|(_, r)| r.recorder.count()).sum();
        notes.push(format!(
            "Server CPU over the closed loops: {:.1} s for {total} requests ({:.1} µs per request).",
            after.cpu_s - before.cpu_s,
            (after.cpu_s - before.cpu_s) * 1e6 / total.max(1) as f64
        ));
    }
    if let Err(error) = &bare {
        notes.push(format!("The bare axum baseline did not run: {error}"));
    }
    data.insert("cachedOverTypename".into(), json!(ratio));
    data.insert("openLoopRate".into(), json!(open_rate));
    Ok(Report { scenario: "hot-path", tables: vec![table], notes, data: Value::Object(data) })
}

/// A request function for the drivers: `document` with `variables(i,
/// sessions)`, sent with the sessions' tokens in turn.
fn authenticated(
    client: &GraphqlClient,
    tokens: &Arc<Vec<String>>,
    document: &'static str,
    variables: fn(u64, usize) -> Value,
) -> impl Fn(u64) -> futures_util::future::BoxFuture<'static, Outcome> + Send + Sync + 'static {
    let client = client.clone();
    let tokens = tokens.clone();
    move |i| {
        let client = client.clone();
        let tokens = tokens.clone();
        Box::pin(async move {
            let token = &tokens[(i as usize) % tokens.len()];
            client.execute(document, variables(i, tokens.len()), Some(token)).await.outcome
        })
    }
}

/// The same closed loop against a bare axum handler in a child process
/// (`wayfarer loadtest --bare-server`), answering what `{ __typename }` does.
async fn bare_axum(users: usize, stop: crate::loadtest::drive::Stop) -> Result<Run, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    drop(listener);
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = tokio::process::Command::new(exe)
        .args(["loadtest", "--bare-server", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| e.to_string())?;
    let base = format!("http://127.0.0.1:{port}");
    let client = GraphqlClient::new(http_client(users * 2), &base);
    let mut up = false;
    for _ in 0..200 {
        if client.execute("{ __typename }", json!({}), None).await.outcome == Outcome::Ok {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    if !up {
        let _ = child.kill().await;
        return Err("the bare server did not answer".into());
    }
    let run = closed_loop(users, stop, move |_| {
        let client = client.clone();
        async move { client.execute("{ __typename }", json!({}), None).await.outcome }
    })
    .await;
    let _ = child.kill().await;
    Ok(run)
}

/// Serves `POST /graphql` with the constant answer to `{ __typename }`
/// until killed: the HTTP floor the hot path is compared with.
pub async fn serve_bare(addr: std::net::SocketAddr) -> std::io::Result<()> {
    use axum::routing::post;
    let router = axum::Router::new().route(
        "/graphql",
        post(|_body: axum::body::Bytes| async {
            (
                [(axum::http::header::CONTENT_TYPE, "application/graphql-response+json")],
                r#"{"data":{"__typename":"Query"}}"#,
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, router).await
}
