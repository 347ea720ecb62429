//! `wayfarer doctor`: prints the resolved configuration (credentials
//! redacted) and checks every configured component, as a report a person can
//! read. Exits non-zero when a required component fails.
//!
//! Redis is checked for what matters to Wayfarer, not just reachability: its
//! version (GETEX needs 6.2), persistence (without it a restart logs every
//! traveller out) and `maxmemory-policy` (an `allkeys-*` policy may evict live
//! sessions). The SQL store is checked for connectivity and whether its
//! migrations are current, without applying any. Each notification channel
//! that is on is checked without sending anything to anyone (SMTP: connect,
//! EHLO, TLS, AUTH, QUIT; SMS: the account; push: a token and a
//! `validate_only` message); one that is off says so and how to turn it on.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use secrecy::ExposeSecret as _;

use crate::config::{Settings, redact_url};
use crate::redis_pool::RedisPool;
use crate::store::Store;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Fine.
    Ok,
    /// Works, but should be looked at.
    Warn,
    /// Broken.
    Fail,
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The component.
    pub component: &'static str,
    /// How it came out.
    pub verdict: Verdict,
    /// What was found.
    pub message: String,
}

fn finding(component: &'static str, verdict: Verdict, message: impl Into<String>) -> Finding {
    Finding { component, verdict, message: message.into() }
}

/// Runs every check and prints the report.
pub async fn run(settings: &Settings) -> ExitCode {
    let mut report = String::new();
    let _ = writeln!(report, "Wayfarer {} doctor\n", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(report, "Resolved configuration (credentials redacted):\n");
    for line in settings.to_redacted_toml().lines() {
        let _ = writeln!(report, "    {line}");
    }
    let findings = check(settings).await;
    let _ = writeln!(report, "\nChecks:\n");
    for f in &findings {
        let mark = match f.verdict {
            Verdict::Ok => "ok  ",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
        };
        let _ = writeln!(report, "  [{mark}] {:<9} {}", f.component, f.message);
    }
    let failed = findings.iter().filter(|f| f.verdict == Verdict::Fail).count();
    let warned = findings.iter().filter(|f| f.verdict == Verdict::Warn).count();
    let _ = writeln!(report, "\n{failed} failed, {warned} warnings.");
    print!("{report}");
    if failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// The findings, without printing.
pub async fn check(settings: &Settings) -> Vec<Finding> {
    let mut findings = Vec::new();
    findings.extend(check_store(settings).await);
    findings.extend(check_providers(settings).await);
    findings.push(check_payments(settings).await);
    findings.extend(check_notification_channels(settings).await);
    match &settings.redis.url {
        Some(url) => findings.extend(check_redis(url, settings).await),
        None => findings.push(finding(
            "redis",
            Verdict::Ok,
            "not configured: sessions and events stay in this process (set REDIS_URL to run several instances)",
        )),
    }
    findings
}

/// Checks each notification channel that is on; says "off" for the others.
/// The bundled sandbox is started when it would run under `serve` and an SMS
/// or push channel would use its sink.
async fn check_notification_channels(settings: &Settings) -> Vec<Finding> {
    use crate::notifications::channels::{ChannelKind, Channels};
    let notifications = &settings.notifications;
    let stop = tokio_util::sync::CancellationToken::new();
    let tasks = tokio_util::task::TaskTracker::new();
    let wants_sink = (notifications.sms.enabled && notifications.sms.base_url.is_none())
        || (notifications.push.enabled && notifications.push.base_url.is_none());
    let sandbox = match wants_sink && crate::app::needs_sandbox(settings) {
        true => match crate::app::start_sandbox(stop.clone(), &tasks).await {
            Ok(endpoint) => Some(endpoint),
            Err(e) => return vec![finding("notify", Verdict::Fail, e.to_string())],
        },
        false => None,
    };
    let channels = match Channels::from_settings(notifications, &settings.http_client, sandbox.as_ref()) {
        Ok(channels) => channels,
        Err(e) => {
            stop.cancel();
            return vec![finding("notify", Verdict::Fail, e.to_string())];
        }
    };
    let mut out = Vec::new();
    for kind in ChannelKind::ALL {
        let Some(channel) = channels.get(kind) else {
            let how = match kind {
                ChannelKind::Email => "off: set notifications.email.smtp_url to send e-mail",
                ChannelKind::Sms if !notifications.sms.enabled => "off (notifications.sms.enabled = false)",
                ChannelKind::Sms => "off: set notifications.sms.base_url, account_sid, auth_token and from",
                ChannelKind::Push if !notifications.push.enabled => "off (notifications.push.enabled = false)",
                ChannelKind::Push => "off: set notifications.push.base_url, project_id and service_account_file",
            };
            out.push(finding(kind.as_str(), Verdict::Ok, how));
            continue;
        };
        let sandboxed = sandbox.is_some()
            && match kind {
                ChannelKind::Email => false,
                ChannelKind::Sms => notifications.sms.base_url.is_none(),
                ChannelKind::Push => notifications.push.base_url.is_none(),
            };
        let place = if sandboxed { " (bundled sandbox)" } else { "" };
        let started = std::time::Instant::now();
        out.push(match channel.check().await {
            Ok(message) => {
                finding(kind.as_str(), Verdict::Ok, format!("{message} in {:.0} ms{place}", ms(started.elapsed())))
            }
            Err(message) => finding(kind.as_str(), Verdict::Fail, format!("{message}{place}")),
        });
    }
    drop(channels);
    stop.cancel();
    tasks.close();
    let _ = tokio::time::timeout(Duration::from_secs(2), tasks.wait()).await;
    out
}

/// Asks the payment gateway for the balance, which proves it answers and
/// takes the secret key; the bundled sandbox is started when there is no `base_url`.
async fn check_payments(settings: &Settings) -> Finding {
    use crate::payments::{GatewayTarget, PaymentGateway as _};
    let stop = tokio_util::sync::CancellationToken::new();
    let tasks = tokio_util::task::TaskTracker::new();
    let sandbox = match settings.payments.base_url {
        Some(_) => None,
        None => match crate::app::start_sandbox(stop.clone(), &tasks).await {
            Ok(endpoint) => Some(endpoint),
            Err(e) => return finding("payments", Verdict::Fail, e.to_string()),
        },
    };
    let Some(target) = GatewayTarget::resolve(&settings.payments, sandbox.as_ref()) else {
        return finding("payments", Verdict::Fail, "no payment gateway: set payments.base_url");
    };
    let place = if target.sandbox { " (bundled sandbox)" } else { "" };
    let started = std::time::Instant::now();
    let outcome = match crate::payments::stripe_gateway(settings, &target) {
        Ok(gateway) => gateway.ping().await,
        Err(e) => Err(e),
    };
    stop.cancel();
    match outcome {
        Ok(()) => finding(
            "payments",
            Verdict::Ok,
            format!("stripe at {}{place} answered in {:.0} ms", target.base_url, ms(started.elapsed())),
        ),
        Err(e) => finding("payments", Verdict::Fail, format!("stripe at {}: {e}", target.base_url)),
    }
}

/// A tiny search against each configured provider (which, for Amadeus, also
/// fetches a token); the bundled sandbox is started for providers without a `base_url`.
async fn check_providers(settings: &Settings) -> Vec<Finding> {
    use crate::flights::model::{Cabin, FlightSearch, Passengers};
    let stop = tokio_util::sync::CancellationToken::new();
    let tasks = tokio_util::task::TaskTracker::new();
    let sandbox = match crate::app::needs_sandbox(settings) {
        true => match crate::app::start_sandbox(stop.clone(), &tasks).await {
            Ok(endpoint) => Some(endpoint),
            Err(e) => return vec![finding("providers", Verdict::Fail, e.to_string())],
        },
        false => None,
    };
    let flights = match crate::app::build_flights(settings, sandbox.as_ref(), None) {
        Ok(flights) => flights,
        Err(e) => return vec![finding("providers", Verdict::Fail, e.to_string())],
    };
    let search = FlightSearch {
        origin: "LON".to_owned(),
        destination: "PAR".to_owned(),
        departure_date: chrono::Utc::now().date_naive() + chrono::Duration::days(30),
        return_date: None,
        passengers: Passengers { adults: 1, children: 0, infants: 0 },
        cabin: Cabin::Economy,
        non_stop: false,
        currency: "EUR".to_owned(),
    };
    let outcomes = flights.search(&search).await;
    let mut out: Vec<Finding> = outcomes
        .iter()
        .map(|o| {
            // The sandbox may run for the other provider or for payments only.
            let sandboxed = match o.provider.as_str() {
                "amadeus" => settings.providers.amadeus.base_url.is_none(),
                "duffel" => settings.providers.duffel.base_url.is_none(),
                _ => false,
            };
            let place = if sandbox.is_some() && sandboxed && o.error.is_none() { " (bundled sandbox)" } else { "" };
            match &o.error {
                None => finding(
                    "provider",
                    Verdict::Ok,
                    format!(
                        "{}{place}: a LON→PAR search returned {} offers in {:.0} ms",
                        o.provider,
                        o.offers.len(),
                        ms(o.latency)
                    ),
                ),
                Some(error) => finding("provider", Verdict::Warn, format!("{}: {error}", o.provider)),
            }
        })
        .collect();
    if outcomes.is_empty() {
        out.push(finding("providers", Verdict::Warn, "no flight provider is enabled: searches will fail"));
    } else if outcomes.iter().all(|o| o.error.is_some()) {
        out.push(finding("providers", Verdict::Fail, "no flight provider answered"));
    }
    stop.cancel();
    tasks.close();
    let _ = tokio::time::timeout(Duration::from_secs(2), tasks.wait()).await;
    out
}

async fn check_store(settings: &Settings) -> Vec<Finding> {
    let url = settings.database_url();
    let display = redact_url(url.expose_secret());
    let mut out = Vec::new();
    let store =
        match tokio::time::timeout(settings.database.acquire_timeout * 2, Store::connect(&url, &settings.database))
            .await
        {
            Ok(Ok(store)) => store,
            Ok(Err(e)) => {
                return vec![finding("store", Verdict::Fail, format!("{display}: cannot connect: {e}"))];
            }
            Err(_) => {
                return vec![finding("store", Verdict::Fail, format!("{display}: no answer"))];
            }
        };
    match store.ping().await {
        Ok(rtt) => out.push(finding(
            "store",
            Verdict::Ok,
            format!("{} at {display} answers in {:.1} ms", store.engine().name(), ms(rtt)),
        )),
        Err(e) => out.push(finding("store", Verdict::Fail, format!("{display}: {e}"))),
    }
    match store.migration_state().await {
        Ok(state) if state.is_current() && state.unknown_applied == 0 => {
            out.push(finding(
                "store",
                Verdict::Ok,
                format!("migrations current ({} of {})", state.applied, state.known),
            ));
        }
        Ok(state) if state.unknown_applied > 0 => out.push(finding(
            "store",
            Verdict::Warn,
            format!(
                "{} applied migrations are newer than this binary: a newer Wayfarer ran here",
                state.unknown_applied
            ),
        )),
        Ok(state) => out.push(finding(
            "store",
            Verdict::Warn,
            format!(
                "{} of {} migrations pending; `wayfarer serve` applies them at start",
                state.known - state.applied,
                state.known
            ),
        )),
        Err(e) => out.push(finding("store", Verdict::Fail, format!("cannot read migrations: {e}"))),
    }
    store.close().await;
    out
}

async fn check_redis(url: &secrecy::SecretString, settings: &Settings) -> Vec<Finding> {
    let display = redact_url(url.expose_secret());
    let redis = match RedisPool::new(url, &settings.redis) {
        Ok(redis) => redis,
        Err(e) => return vec![finding("redis", Verdict::Fail, format!("{display}: {e}"))],
    };
    let rtt = match redis.ping().await {
        Ok(rtt) => rtt,
        Err(e) => return vec![finding("redis", Verdict::Fail, format!("{display}: {e}"))],
    };
    let mut out = vec![finding("redis", Verdict::Ok, format!("{display} answers PING in {:.2} ms", ms(rtt)))];
    let info: String = match redis.query(redis::cmd("INFO").arg("server").arg("persistence").arg("memory")).await {
        Ok(info) => info,
        Err(e) => {
            out.push(finding("redis", Verdict::Warn, format!("INFO refused: {e}")));
            return out;
        }
    };
    let field = |name: &str| {
        info.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':'))).map(|v| v.trim().to_owned())
    };
    match field("redis_version") {
        Some(version) if version_at_least(&version, (6, 2)) => {
            out.push(finding("redis", Verdict::Ok, format!("version {version}")));
        }
        Some(version) => out.push(finding(
            "redis",
            Verdict::Fail,
            format!("version {version} is too old: sessions need GETEX (Redis 6.2 or newer)"),
        )),
        None => out.push(finding("redis", Verdict::Warn, "version unknown")),
    }
    let aof = field("aof_enabled").as_deref() == Some("1");
    let save: Option<String> = match redis.query::<Vec<String>>(redis::cmd("CONFIG").arg("GET").arg("save")).await {
        Ok(pair) => pair.get(1).cloned(),
        Err(_) => None,
    };
    let rdb = save.as_deref().is_some_and(|s| !s.trim().is_empty());
    match (aof, rdb, save.is_some()) {
        (true, _, _) => out.push(finding("redis", Verdict::Ok, "persistence: AOF on")),
        (false, true, _) => out.push(finding(
            "redis",
            Verdict::Ok,
            format!("persistence: RDB snapshots ({}); a crash loses recent session writes", save.unwrap_or_default()),
        )),
        (false, false, true) => out.push(finding(
            "redis",
            Verdict::Warn,
            "persistence off: a Redis restart ends every session (enable appendonly or save points)",
        )),
        (false, false, false) => {
            out.push(finding(
                "redis",
                Verdict::Warn,
                "persistence unknown (CONFIG GET refused); check AOF/RDB yourself",
            ));
        }
    }
    let policy = match redis.query::<Vec<String>>(redis::cmd("CONFIG").arg("GET").arg("maxmemory-policy")).await {
        Ok(pair) => pair.get(1).cloned(),
        Err(_) => None,
    };
    let maxmemory = field("maxmemory").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    match policy.as_deref() {
        Some(p) if p.starts_with("allkeys-") => out.push(finding(
            "redis",
            Verdict::Warn,
            format!("maxmemory-policy {p} may evict live sessions; prefer volatile-lru or noeviction"),
        )),
        Some("noeviction") if maxmemory > 0 => out.push(finding(
            "redis",
            Verdict::Warn,
            "maxmemory-policy noeviction with a memory limit: at the limit new sessions fail to start",
        )),
        Some(p) => out.push(finding("redis", Verdict::Ok, format!("maxmemory-policy {p}"))),
        None => out.push(finding("redis", Verdict::Warn, "maxmemory-policy unknown (CONFIG GET refused)")),
    }
    out
}

fn version_at_least(version: &str, (major, minor): (u32, u32)) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let v = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    v >= (major, minor)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_versions_compare_numerically() {
        assert!(version_at_least("7.0.15", (6, 2)));
        assert!(version_at_least("6.2.0", (6, 2)));
        assert!(!version_at_least("6.0.9", (6, 2)));
        assert!(!version_at_least("5.10.1", (6, 2)));
    }
}
