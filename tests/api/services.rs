//! Private, killable dependency servers for the fault tests: a `redis-server`
//! and a PostgreSQL cluster (initdb into a tempdir) on their own free ports,
//! so a test can `kill -9` and restart them without touching the shared
//! services the rest of the suite uses. Both restart on the same port and
//! data directory, so whatever the server persisted is there again.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::free_port;

/// A `redis-server` child on its own port and directory.
pub(crate) struct PrivateRedis {
    port: u16,
    dir: tempfile::TempDir,
    append_only: bool,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Starts one; with `append_only` every write is fsynced to an AOF, so
    /// keys survive a `kill -9`.
    pub(crate) async fn start(append_only: bool) -> Self {
        let dir = tempfile::tempdir().expect("redis dir");
        let mut redis = Self { port: free_port(), dir, append_only, child: None };
        redis.spawn().await;
        redis
    }

    /// `redis://127.0.0.1:port`.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", if self.append_only { "yes" } else { "no" }, "--appendfsync", "always"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (install redis-server; .ci/test does)");
        self.child = Some(child);
        for _ in 0..200 {
            if self.pong().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("private redis-server on {} did not answer PING", self.port);
    }

    async fn pong(&self) -> bool {
        let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await else {
            return false;
        };
        if stream.write_all(b"PING\r\n").await.is_err() {
            return false;
        }
        let mut buffer = [0u8; 16];
        matches!(
            tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buffer)).await,
            Ok(Ok(n)) if buffer[..n].starts_with(b"+PONG")
        )
    }

    /// `kill -9`, and waits for the process to be gone.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and directory.
    pub(crate) async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A PostgreSQL cluster of its own: initdb into a tempdir, served on a free
/// port with its socket in that directory. initdb and postgres refuse to
/// run as root, so as root they run as the `postgres` user.
pub(crate) struct PrivatePostgres {
    port: u16,
    dir: tempfile::TempDir,
    bin: PathBuf,
}

/// The newest installed PostgreSQL's `bin` directory.
fn postgres_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed under /usr/lib/postgresql (.ci/test installs it)")
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().expect("an initdb under /usr/lib/postgresql/*/bin")
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"))
}

/// Runs a PostgreSQL tool, as `postgres` when we are root.
fn run_pg(bin: &Path, tool: &str, args: &[&str]) -> std::process::Output {
    let program = bin.join(tool);
    let mut command = if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    };
    command.args(args).stdin(Stdio::null()).output().expect("PostgreSQL tool runs")
}

impl PrivatePostgres {
    /// initdb, then start.
    pub(crate) async fn start() -> Self {
        let dir = tempfile::Builder::new().prefix("wf-pg-").tempdir().expect("pg dir");
        if is_root() {
            let status = Command::new("chown").arg("postgres").arg(dir.path()).status().expect("chown");
            assert!(status.success(), "chown the data dir to postgres");
        }
        let bin = postgres_bin();
        let data = dir.path().to_str().expect("utf-8 path").to_owned();
        let init = run_pg(&bin, "initdb", &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"]);
        assert!(init.status.success(), "initdb: {}", String::from_utf8_lossy(&init.stderr));
        let postgres = Self { port: free_port(), dir, bin };
        postgres.spawn().await;
        postgres
    }

    /// The admin URL (`postgres` database).
    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn data(&self) -> String {
        self.dir.path().to_str().expect("utf-8 path").to_owned()
    }

    async fn spawn(&self) {
        let data = self.data();
        let options = format!("-p {} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off", self.port);
        let log = format!("{data}/server.log");
        let started = run_pg(&self.bin, "pg_ctl", &["-D", &data, "-o", &options, "-l", &log, "-w", "start"]);
        assert!(started.status.success(), "pg_ctl start: {}", String::from_utf8_lossy(&started.stderr));
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("private PostgreSQL on {} does not accept connections", self.port);
    }

    /// A crash: every backend killed at once (`pg_ctl stop -m immediate`),
    /// with WAL recovery at the next start.
    pub(crate) fn crash(&self) {
        let stopped = run_pg(&self.bin, "pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
        assert!(stopped.status.success(), "pg_ctl stop: {}", String::from_utf8_lossy(&stopped.stderr));
    }

    /// Starts it again on the same port and data.
    pub(crate) async fn restart(&self) {
        self.spawn().await;
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = run_pg(&self.bin, "pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
    }
}
