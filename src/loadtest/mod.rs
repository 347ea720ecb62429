//! `wayfarer loadtest`: drives a Wayfarer server over real HTTP and
//! WebSocket and reports throughput, latency percentiles, errors by code,
//! provider calls, and the server's CPU time and memory.
//!
//! By default it starts what it measures: this binary's `serve` as a child
//! process (so the server's CPU and RSS are read from its own `/proc`
//! entry), wired to a provider sandbox served from the load generator's
//! process, whose latency it sets through the sandbox's control API and
//! whose call counters it reads. `--target URL --sandbox URL [--server-pid
//! PID]` measures a server that is already running instead.
//!
//! Scenarios ([`scenarios`]): `old-table`, `fan-out`, `hot-path`,
//! `journey`, `subscriptions`, `dataloader`, or `all`. Each prints tables
//! and, with `--json FILE`, writes every figure as JSON. `--smoke` runs
//! every phase at toy sizes in seconds (the test suite does, to keep the
//! tool working); figures come from full runs of a release build.

pub mod client;
pub mod drive;
pub mod scenarios;
pub mod stats;
pub mod target;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde_json::json;

use scenarios::{Context, RemoteTarget, Report};

/// Which scenario to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// The old service's table: 2.1 s providers, 1 / 3 sequential / 3 concurrent, toggle off and on.
    OldTable,
    /// N concurrent distinct searches (10, 100, 1,000, 5,000) against providers of latency L.
    FanOut,
    /// Cached searchFlights, sendMessage without a search, session, { __typename }, bare axum.
    HotPath,
    /// Chat → search → price → book → pay → notification, concurrent travellers.
    Journey,
    /// Many WebSocket subscribers, notifications fanned out.
    Subscriptions,
    /// K aliases → provider calls, batched versus unbatched.
    Dataloader,
    /// Every scenario, in this order.
    All,
}

/// `wayfarer loadtest` flags.
#[derive(Debug, Clone, Args)]
pub struct LoadtestArgs {
    /// The scenario.
    #[arg(long, value_enum, default_value = "hot-path")]
    scenario: Scenario,
    /// Base URL(s) of a running server (comma-separated); default: start one.
    #[arg(long, value_delimiter = ',', requires = "sandbox")]
    target: Vec<String>,
    /// Base URL of the running server's provider sandbox (with --target).
    #[arg(long)]
    sandbox: Option<String>,
    /// The running server's process id, for its CPU time and memory (with --target).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Concurrent clients (hot path, old table's throughput phase; the journey's travellers).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Length of each timed phase (e.g. 10s).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    duration: Duration,
    /// Stop each closed-loop phase after this many requests instead of --duration.
    #[arg(long)]
    requests: Option<u64>,
    /// Provider latency L (default: 500ms; the journey's default is 0, the old table's 2.1s).
    #[arg(long, value_parser = humantime::parse_duration)]
    latency: Option<Duration>,
    /// The most offers each provider answers per search (the sandbox's
    /// `maxOffers`): 25 by default, the comparison workload; 0 for
    /// every offer of the route (up to 50 from Amadeus, ≈ 100–150 from Duffel).
    #[arg(long, default_value_t = 25)]
    offers: u64,
    /// Sizes: fan-out N, journey travellers, subscriber counts, dataloader K (comma-separated).
    #[arg(long, value_delimiter = ',')]
    levels: Option<Vec<usize>>,
    /// Every phase at toy sizes, in seconds (keeps the tool working; not for figures).
    #[arg(long)]
    smoke: bool,
    /// Also write the report as JSON here.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Serve the bare axum baseline on this address (the hot path starts it).
    #[arg(long, hide = true, value_name = "HOST:PORT")]
    bare_server: Option<std::net::SocketAddr>,
}

/// Runs `wayfarer loadtest`.
pub async fn run(args: LoadtestArgs) -> ExitCode {
    if let Some(addr) = args.bare_server {
        return match scenarios::hot_path::serve_bare(addr).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("wayfarer loadtest: bare server: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let remote = match (args.target.is_empty(), &args.sandbox) {
        (true, _) => None,
        (false, Some(sandbox)) => {
            Some(RemoteTarget { urls: args.target.clone(), sandbox: sandbox.clone(), pid: args.server_pid })
        }
        (false, None) => {
            eprintln!("wayfarer loadtest: --target needs --sandbox");
            return ExitCode::from(2);
        }
    };
    let ctx = Context {
        remote,
        latency: args.latency.unwrap_or(Duration::from_millis(500)),
        offers: args.offers,
        concurrency: args.concurrency,
        duration: args.duration,
        requests: args.requests,
        levels: args.levels.clone(),
        smoke: args.smoke,
        searches: scenarios::SearchSequence::default(),
    };
    let chosen = match args.scenario {
        Scenario::All => vec![
            Scenario::OldTable,
            Scenario::FanOut,
            Scenario::HotPath,
            Scenario::Journey,
            Scenario::Subscriptions,
            Scenario::Dataloader,
        ],
        one => vec![one],
    };
    let machine = machine();
    println!(
        "wayfarer loadtest — {} ({})",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        machine["summary"].as_str().unwrap_or_default()
    );
    let mut reports = Vec::new();
    let mut failed = false;
    for scenario in chosen {
        let result = match scenario {
            Scenario::OldTable => scenarios::old_table::run(&ctx).await,
            Scenario::FanOut => scenarios::fan_out::run(&ctx).await,
            Scenario::HotPath => scenarios::hot_path::run(&ctx).await,
            Scenario::Journey => scenarios::journey::run(&ctx, args.latency.unwrap_or(Duration::ZERO)).await,
            Scenario::Subscriptions => scenarios::subscriptions::run(&ctx).await,
            Scenario::Dataloader => scenarios::dataloader::run(&ctx).await,
            Scenario::All => continue,
        };
        match result {
            Ok(report) => {
                print_report(&report);
                reports.push(report);
            }
            Err(error) => {
                eprintln!("wayfarer loadtest: {scenario:?} failed: {error}");
                failed = true;
            }
        }
    }
    if let Some(path) = &args.json {
        let body = json!({
            "date": chrono::Utc::now().to_rfc3339(),
            "machine": machine,
            "command": std::env::args().collect::<Vec<_>>().join(" "),
            "reports": reports,
        });
        let text = serde_json::to_string_pretty(&body).unwrap_or_default();
        if let Err(error) = std::fs::write(path, text) {
            eprintln!("wayfarer loadtest: cannot write {}: {error}", path.display());
            failed = true;
        }
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// Prints a report's tables, aligned, and its notes.
fn print_report(report: &Report) {
    let mut out = std::io::stdout().lock();
    for table in &report.tables {
        let _ = writeln!(out, "\n## {}\n", table.title);
        let widths: Vec<usize> = (0..table.columns.len())
            .map(|c| {
                table
                    .rows
                    .iter()
                    .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                    .max()
                    .unwrap_or(0)
                    .max(table.columns[c].chars().count())
            })
            .collect();
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{c:<width$}", width = widths.get(i).copied().unwrap_or(0)))
                .collect();
            format!("| {} |", padded.join(" | "))
        };
        let _ = writeln!(out, "{}", line(&table.columns));
        let _ = writeln!(out, "|{}|", widths.iter().map(|w| "-".repeat(w + 2)).collect::<Vec<_>>().join("|"));
        for row in &table.rows {
            let _ = writeln!(out, "{}", line(row));
        }
    }
    for note in &report.notes {
        let _ = writeln!(out, "\n- {note}");
    }
    let _ = out.flush();
}

/// Cores, memory and CPU model, for the report's header.
fn machine() -> serde_json::Value {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map_or("", |v| v.trim_start_matches([' ', '\t', ':']))
        .to_owned();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().next().unwrap_or("?").to_owned();
    let profile = if cfg!(debug_assertions) { "debug build" } else { "release build" };
    json!({
        "cores": cores,
        "memoryGib": (mem_gib * 10.0).round() / 10.0,
        "cpu": model,
        "loadAverage1m": load,
        "build": profile,
        "summary": format!("{cores} cores, {mem_gib:.0} GiB, {model}, load {load}, {profile}"),
    })
}
