//! The load test's scenarios and what they share: the operations they send
//! (the contract's own documents), distinct search inputs, and the report
//! each returns (printed as a table, written as JSON).

pub mod dataloader;
pub mod fan_out;
pub mod hot_path;
pub mod journey;
pub mod old_table;
pub mod subscriptions;

use std::time::Duration;

use chrono::{Days, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::client::GraphqlClient;
use super::stats::{LatencySummary, Outcome};
use super::target::{ProcessSample, ServerOptions, Target};

/// The contract's `SearchFlights` with its `OfferCard`: carriers and
/// airports on every segment, as the web app asks.
pub const SEARCH_FLIGHTS: &str = "query SearchFlights($input: FlightSearchInput!) {
  searchFlights(input: $input) {
    offers { ...OfferCard }
    providers { name status offerCount latencyMs error }
    totalCount
  }
}
fragment OfferCard on FlightOffer {
  id provider price { amount currency } labels seatsAvailable expiresAt
  itineraries { duration segments {
    flightNumber carrier { code name }
    departure { at terminal airport { code name cityName countryCode timeZone } }
    arrival { at terminal airport { code name cityName countryCode timeZone } }
    duration aircraft } }
}";

/// Airports the distinct searches are drawn from (busy ones, so every pair
/// has flights in the sandbox).
const AIRPORTS: &[&str] = &[
    "LHR", "CDG", "MAD", "FCO", "FRA", "AMS", "BCN", "LIS", "MUC", "DUB", "ZRH", "VIE", "CPH", "OSL", "ARN", "HEL",
    "BRU", "MXP", "ATH", "IST", "JFK", "LAX", "ORD", "YYZ",
];

/// The `i`-th of a large set of distinct searches (`AIRPORTS` pairs ×
/// departure dates × passenger counts), 20 offers asked for.
pub fn distinct_search(i: u64) -> Value {
    let n = AIRPORTS.len() as u64;
    let pairs = n * (n - 1);
    let pair = i % pairs;
    let origin = (pair / (n - 1)) as usize;
    let mut destination = (pair % (n - 1)) as usize;
    if destination >= origin {
        destination += 1;
    }
    let rest = i / pairs;
    let day = 14 + rest % 300;
    let adults = 1 + (rest / 300) % 4;
    let date = Utc::now().date_naive().checked_add_days(Days::new(day)).unwrap_or_else(|| Utc::now().date_naive());
    json!({
        "origin": AIRPORTS[origin],
        "destination": AIRPORTS[destination],
        "departureDate": date.to_string(),
        "adults": adults,
        "first": 20,
    })
}

/// Where each scenario's searches start, so rounds and scenarios in one
/// run never repeat a search (which the cache would answer).
#[derive(Debug, Default)]
pub struct SearchSequence {
    next: std::sync::atomic::AtomicU64,
}

impl SearchSequence {
    /// Reserves `count` fresh search indexes; returns the first.
    pub fn reserve(&self, count: u64) -> u64 {
        self.next.fetch_add(count, std::sync::atomic::Ordering::Relaxed)
    }
}

/// What every scenario gets.
#[derive(Debug)]
pub struct Context {
    /// The running server, when the load test does not start its own per scenario.
    pub remote: Option<RemoteTarget>,
    /// Provider latency L.
    pub latency: Duration,
    /// The most offers each provider answers per search (`--offers`).
    pub offers: u64,
    /// Concurrency override (`--concurrency`).
    pub concurrency: Option<usize>,
    /// Length of timed phases (`--duration`).
    pub duration: Duration,
    /// Requests of counted phases (`--requests`).
    pub requests: Option<u64>,
    /// Level override (`--levels`): fan-out sizes, journey travellers, subscriber counts.
    pub levels: Option<Vec<usize>>,
    /// A smoke run: every phase, tiny sizes.
    pub smoke: bool,
    /// Fresh searches.
    pub searches: SearchSequence,
}

/// How a table names the providers' answer size.
pub fn offers_label(offers: u64) -> String {
    if offers == 0 { "every offer of the route".to_owned() } else { format!("≤ {offers} offers per provider") }
}

/// `--target` and friends.
#[derive(Debug, Clone)]
pub struct RemoteTarget {
    /// Instances' base URLs.
    pub urls: Vec<String>,
    /// The sandbox's base URL.
    pub sandbox: String,
    /// The server's pid (for CPU and memory), when on this machine.
    pub pid: Option<u32>,
}

impl Context {
    /// A server for a scenario: the remote one, or a fresh child with `options`.
    pub async fn server(&self, options: &ServerOptions) -> Result<Target, String> {
        match &self.remote {
            Some(remote) => Ok(Target::remote(remote.urls.clone(), remote.sandbox.clone(), remote.pid)),
            None => Target::spawn(options).await,
        }
    }

    /// How a closed loop of a timed phase `window` long stops: after
    /// `--requests` requests when given, else after the window.
    pub fn stop(&self, window: Duration) -> super::drive::Stop {
        match self.requests {
            Some(n) => super::drive::Stop::Requests(n),
            None => super::drive::Stop::After(window),
        }
    }

    /// Whether the scenario runs against servers it started (and so may
    /// change their configuration).
    pub fn owns_server(&self) -> bool {
        self.remote.is_none()
    }
}

/// One scenario's results.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The scenario's name.
    pub scenario: &'static str,
    /// Tables of figures.
    pub tables: Vec<Table>,
    /// What a reader must know to read the figures.
    pub notes: Vec<String>,
    /// Every figure, structured (the JSON report's body).
    pub data: Value,
}

/// A printed table.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    /// What it shows.
    pub title: String,
    /// Column headings.
    pub columns: Vec<String>,
    /// Rows of cells.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these headings.
    pub fn new(title: impl Into<String>, columns: &[&str]) -> Self {
        Self { title: title.into(), columns: columns.iter().map(|c| (*c).to_owned()).collect(), rows: Vec::new() }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
}

/// Milliseconds with one decimal.
pub fn ms(value: f64) -> String {
    format!("{value:.1}")
}

/// Errors by code as `CODE×n, …`, or `0`.
pub fn errors(summary: &LatencySummary) -> String {
    if summary.errors.is_empty() {
        return "0".into();
    }
    summary.errors.iter().map(|(code, n)| format!("{code}×{n}")).collect::<Vec<_>>().join(", ")
}

/// A session per virtual user, created before the load starts.
pub async fn sessions(client: &GraphqlClient, count: usize) -> Result<Vec<String>, String> {
    let mut tokens = Vec::with_capacity(count);
    let mut pending = tokio::task::JoinSet::new();
    for _ in 0..count {
        let client = client.clone();
        pending.spawn(async move { client.start_session().await });
        // Sixty-four at a time: a burst of new connections is not what
        // this step measures.
        if pending.len() >= 64
            && let Some(result) = pending.join_next().await
        {
            tokens.push(result.map_err(|e| e.to_string())??);
        }
    }
    while let Some(result) = pending.join_next().await {
        tokens.push(result.map_err(|e| e.to_string())??);
    }
    Ok(tokens)
}

/// Opens `count` keep-alive connections to the server (concurrent
/// `{ __typename }` requests), so a burst that follows measures requests,
/// not TCP handshakes queued in the listen backlog.
pub async fn warm_connections(client: &GraphqlClient, count: usize) -> u64 {
    let client = client.clone();
    let run = super::drive::burst(count, move |_| {
        let client = client.clone();
        async move { client.execute("{ __typename }", json!({}), None).await.outcome }
    })
    .await;
    run.recorder.error_count()
}

/// The search outcome of a reply: a search whose providers all failed is
/// not a success even though GraphQL answered.
pub fn search_outcome(reply: &super::client::Reply) -> Outcome {
    // Only the providers' statuses are read; the offers are skipped.
    #[derive(serde::Deserialize)]
    struct Data<'a> {
        #[serde(rename = "searchFlights", borrow)]
        search: Option<Search<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct Search<'a> {
        #[serde(default, borrow)]
        providers: Vec<Provider<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct Provider<'a> {
        #[serde(borrow)]
        status: std::borrow::Cow<'a, str>,
    }
    match &reply.outcome {
        Outcome::Ok => {
            let providers = reply.data_as::<Data<'_>>().and_then(|d| d.search).map(|s| s.providers).unwrap_or_default();
            let failed = providers.iter().filter(|p| p.status != "OK").count();
            if !providers.is_empty() && failed == providers.len() {
                Outcome::Error("ALL_PROVIDERS_FAILED".into())
            } else if failed > 0 {
                Outcome::Error("PARTIAL".into())
            } else {
                Outcome::Ok
            }
        }
        other => other.clone(),
    }
}

/// CPU seconds and RSS between two samples, as JSON.
pub fn process_delta(before: Option<ProcessSample>, after: Option<ProcessSample>) -> Value {
    match (before, after) {
        (Some(before), Some(after)) => json!({
            "cpuSeconds": after.cpu_s - before.cpu_s,
            "rssMibBefore": before.rss_mib,
            "rssMibAfter": after.rss_mib,
            "peakRssMib": after.peak_rss_mib,
        }),
        _ => Value::Null,
    }
}

/// A request function for the drivers: the `base + i`-th distinct search,
/// sent with the sessions' tokens in turn.
pub fn searcher(
    client: GraphqlClient,
    tokens: std::sync::Arc<Vec<String>>,
    base: u64,
) -> impl Fn(u64) -> futures_util::future::BoxFuture<'static, Outcome> + Send + Sync + 'static {
    move |i| {
        let client = client.clone();
        let tokens = tokens.clone();
        Box::pin(async move {
            let token = &tokens[(i as usize) % tokens.len().max(1)];
            let reply =
                client.execute(SEARCH_FLIGHTS, json!({ "input": distinct_search(base + i) }), Some(token)).await;
            search_outcome(&reply)
        })
    }
}

/// The same search every time (the cache answers all but the first).
pub fn cached_searcher(
    client: GraphqlClient,
    tokens: std::sync::Arc<Vec<String>>,
    search: Value,
) -> impl Fn(u64) -> futures_util::future::BoxFuture<'static, Outcome> + Send + Sync + 'static {
    let variables = json!({ "input": search });
    move |i| {
        let client = client.clone();
        let tokens = tokens.clone();
        let variables = variables.clone();
        Box::pin(async move {
            let token = &tokens[(i as usize) % tokens.len().max(1)];
            search_outcome(&client.execute(SEARCH_FLIGHTS, variables, Some(token)).await)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_searches_do_not_repeat_and_never_fly_to_their_origin() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..20_000 {
            let search = distinct_search(i);
            assert_ne!(search["origin"], search["destination"]);
            assert!(seen.insert(search.to_string()), "search {i} repeats");
        }
    }
}
