//! The system under load: a server the load test starts itself — this
//! binary's `serve` as a child process, so its CPU time and memory are read
//! from `/proc/<pid>` apart from the load generator's — with the provider
//! sandbox served from the load generator's own process (it is the "remote"
//! side: its cost is the providers', not the server's); or a server that is
//! already running (`--target`), with its sandbox's URL (`--sandbox`) and,
//! for CPU and memory figures, its process id (`--server-pid`).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::sandbox::SandboxConfig;

/// Configuration a spawned server runs with, beyond the sandbox wiring.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// `features.parallel_processing`.
    pub parallel: bool,
    /// `features.caching`.
    pub caching: bool,
    /// Extra `WAYFARER_*` variables (`NAME`, value).
    pub env: Vec<(String, String)>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self { parallel: true, caching: true, env: Vec::new() }
    }
}

/// CPU time and memory of the server process at one moment.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct ProcessSample {
    /// User + system CPU time since the process started, seconds.
    pub cpu_s: f64,
    /// Resident set, MiB.
    pub rss_mib: f64,
    /// Peak resident set, MiB.
    pub peak_rss_mib: f64,
}

/// The server (one or more instances) and its sandbox.
#[derive(Debug)]
pub struct Target {
    /// The instances' base URLs (`http://127.0.0.1:PORT`).
    pub urls: Vec<String>,
    /// The sandbox's base URL.
    pub sandbox_url: String,
    pid: Option<u32>,
    child: Option<tokio::process::Child>,
    data_dir: Option<PathBuf>,
    sandbox_stop: Option<CancellationToken>,
}

impl Target {
    /// A server that is already running.
    pub fn remote(urls: Vec<String>, sandbox_url: String, pid: Option<u32>) -> Self {
        Self { urls, sandbox_url, pid, child: None, data_dir: None, sandbox_stop: None }
    }

    /// Starts the sandbox in this process and `wayfarer serve` as a child
    /// wired to it; returns when the server answers `/api/health`.
    pub async fn spawn(options: &ServerOptions) -> Result<Self, String> {
        let server_port = free_port()?;
        let sandbox_listener =
            crate::app::listen(std::net::SocketAddr::from(([127, 0, 0, 1], 0))).map_err(|e| e.to_string())?;
        let sandbox_addr = sandbox_listener.local_addr().map_err(|e| e.to_string())?;
        let sandbox_url = format!("http://{sandbox_addr}");
        let server_url = format!("http://127.0.0.1:{server_port}");
        let config = SandboxConfig {
            stripe_webhook_url: Some(format!("{server_url}{}", crate::app::WEBHOOK_PATH)),
            ..SandboxConfig::default()
        };
        let stop = CancellationToken::new();
        let sandbox_config = config.clone();
        let sandbox_stopped = stop.clone();
        tokio::spawn(async move {
            let shutdown = async move { sandbox_stopped.cancelled().await };
            if let Err(error) = crate::sandbox::serve(sandbox_listener, sandbox_config, shutdown).await {
                eprintln!("loadtest: the sandbox stopped: {error}");
            }
        });

        let data_dir = std::env::temp_dir().join(format!("wayfarer-loadtest-{}-{server_port}", std::process::id()));
        let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
        let mut command = tokio::process::Command::new(exe);
        command
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{server_port}"))
            .env("RUST_LOG", std::env::var("LOADTEST_SERVER_LOG").unwrap_or_else(|_| "warn".into()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (key, value) in sandbox_env(&sandbox_url, &config, options) {
            command.env(key, value);
        }
        let child = command.spawn().map_err(|e| format!("cannot start the server: {e}"))?;
        let pid = child.id();
        let target = Self {
            urls: vec![server_url],
            sandbox_url,
            pid,
            child: Some(child),
            data_dir: Some(data_dir),
            sandbox_stop: Some(stop),
        };
        target.wait_healthy().await?;
        Ok(target)
    }

    async fn wait_healthy(&self) -> Result<(), String> {
        let client = reqwest::Client::new();
        for _ in 0..600 {
            if let Ok(response) = client.get(format!("{}/api/health", self.urls[0])).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("the server at {} did not become healthy in 30 s", self.urls[0]))
    }

    /// The server's process id, when known.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// The server process's CPU time and memory now, when its pid is known.
    pub fn sample(&self) -> Option<ProcessSample> {
        self.pid.and_then(read_process)
    }

    /// Stops the spawned server (SIGTERM, then kill) and the sandbox.
    pub async fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
            }
            if tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_err() {
                let _ = child.kill().await;
            }
        }
        if let Some(stop) = self.sandbox_stop.take() {
            stop.cancel();
        }
        if let Some(dir) = self.data_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The `WAYFARER_*` variables that point a server at the sandbox at `url`.
///
/// Provider concurrency and rate limits are lifted: they exist for real
/// providers' quotas, and the sandbox has none, so the figures show the
/// server, not a configured throttle. The server's own client rate limits
/// are off for the same reason (`rate_limits.enabled`).
fn sandbox_env(url: &str, config: &SandboxConfig, options: &ServerOptions) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("WAYFARER_PROVIDERS__AMADEUS__BASE_URL", url.to_owned()),
        ("WAYFARER_PROVIDERS__AMADEUS__CLIENT_ID", config.amadeus_client_id.clone()),
        ("WAYFARER_PROVIDERS__AMADEUS__CLIENT_SECRET", config.amadeus_client_secret.clone()),
        ("WAYFARER_PROVIDERS__AMADEUS__RATE_LIMIT_PER_SECOND", "1000000".into()),
        ("WAYFARER_PROVIDERS__DUFFEL__BASE_URL", url.to_owned()),
        ("WAYFARER_PROVIDERS__DUFFEL__TOKEN", config.duffel_token.clone()),
        ("WAYFARER_PROVIDERS__DUFFEL__RATE_LIMIT_PER_SECOND", "1000000".into()),
        ("WAYFARER_PAYMENTS__BASE_URL", url.to_owned()),
        ("WAYFARER_PAYMENTS__SECRET_KEY", config.stripe_secret_key.clone()),
        ("WAYFARER_PAYMENTS__WEBHOOK_SECRET", config.stripe_webhook_secret.clone()),
        ("WAYFARER_PAYMENTS__RATE_LIMIT_PER_SECOND", "1000000".into()),
        ("WAYFARER_HTTP_CLIENT__MAX_CONNECTIONS", "20000".into()),
        ("WAYFARER_HTTP_CLIENT__MAX_CONNECTIONS_PER_HOST", "10000".into()),
        // The sandbox speaks HTTP/2 over plain HTTP (h2c) as the real
        // providers speak it over TLS: one connection per provider.
        ("WAYFARER_HTTP_CLIENT__HTTP2", "prior-knowledge".into()),
        ("WAYFARER_NOTIFICATIONS__SMS__ENABLED", "false".into()),
        ("WAYFARER_NOTIFICATIONS__PUSH__ENABLED", "false".into()),
        ("WAYFARER_FEATURES__PARALLEL_PROCESSING", options.parallel.to_string()),
        ("WAYFARER_FEATURES__CACHING", options.caching.to_string()),
        // Every virtual user comes from 127.0.0.1: per-IP budgets would
        // measure the limiter refusing one address, not the server.
        ("WAYFARER_RATE_LIMITS__ENABLED", "false".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    env.extend(options.env.iter().cloned());
    env
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// Linux reports /proc CPU times in USER_HZ ticks, fixed at 100 by the ABI.
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time and memory of process `pid` from `/proc`.
pub fn read_process(pid: u32) -> Option<ProcessSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces: fields count from after its ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Some(ProcessSample {
        cpu_s: (utime + stime) / TICKS_PER_SECOND,
        rss_mib: kib("VmRSS:") / 1024.0,
        peak_rss_mib: kib("VmHWM:") / 1024.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_can_be_sampled() {
        let sample = read_process(std::process::id()).expect("own /proc entry");
        assert!(sample.rss_mib > 0.0);
        assert!(sample.peak_rss_mib >= sample.rss_mib);
    }
}
