//! The command line: `serve` (the default), `schema`, `doctor`, `sandbox`, `loadtest`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::app::Application;
use crate::config::{Overrides, Settings};

/// Wayfarer: a travel-agent GraphQL API server.
///
/// With no configuration it runs self-contained: sessions and events in
/// memory, the system of record in a SQLite file under ./data. Set REDIS_URL
/// and DATABASE_URL (PostgreSQL) for the production shape.
#[derive(Debug, Parser)]
#[command(name = "wayfarer", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, Clone, Args)]
struct CommonArgs {
    /// Config file (TOML). Default: ./wayfarer.toml when it exists.
    #[arg(long, global = true, value_name = "FILE", env = "WAYFARER_CONFIG")]
    config: Option<PathBuf>,
    /// Directory of the embedded default's files (SQLite database).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(ListenArgs),
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Check the configuration and every configured component; non-zero exit on failure.
    Doctor,
    /// Run the bundled provider sandbox alone (Amadeus at /, Duffel at /air, Twilio at /2010-04-01, FCM at
    /// /v1/projects, control at /_sandbox; default 127.0.0.1:8001).
    Sandbox(ListenArgs),
    /// Drive a server (one it starts, with the sandbox, or --target) and report throughput, latency, errors,
    /// provider calls and server CPU/RSS.
    Loadtest(crate::loadtest::LoadtestArgs),
}

#[derive(Debug, Clone, Default, Args)]
struct ListenArgs {
    /// Address to listen on, HOST:PORT [env: WAYFARER_LISTEN; default 127.0.0.1:8000].
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<SocketAddr>,
}

impl Cli {
    /// Runs the chosen command.
    pub async fn run(self) -> ExitCode {
        let common = self.common.clone();
        match self.command {
            Some(Command::Schema) => {
                print!("{}", crate::graphql::sdl());
                ExitCode::SUCCESS
            }
            Some(Command::Doctor) => match load(&common, None) {
                Ok(settings) => crate::doctor::run(&settings).await,
                Err(code) => code,
            },
            Some(Command::Serve(listen)) => serve(&common, listen).await,
            Some(Command::Sandbox(listen)) => sandbox(listen).await,
            Some(Command::Loadtest(args)) => crate::loadtest::run(args).await,
            None => serve(&common, ListenArgs::default()).await,
        }
    }
}

fn load(common: &CommonArgs, listen: Option<SocketAddr>) -> Result<Settings, ExitCode> {
    let overrides = Overrides { listen, data_dir: common.data_dir.clone() };
    Settings::load(common.config.as_deref(), &overrides).map_err(|error| {
        eprintln!("wayfarer: {error}");
        ExitCode::from(2)
    })
}

async fn serve(common: &CommonArgs, listen: ListenArgs) -> ExitCode {
    let settings = match load(common, listen.listen) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    crate::telemetry::init_logging(&settings.telemetry);
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(error) => {
            tracing::error!("{error}");
            eprintln!("wayfarer: {error}");
            return ExitCode::FAILURE;
        }
    };
    match app.run_until_stopped(shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "server failed");
            ExitCode::FAILURE
        }
    }
}

/// The sandbox's default address: next to the server's 8000.
const SANDBOX_LISTEN: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 8001));

async fn sandbox(listen: ListenArgs) -> ExitCode {
    crate::telemetry::init_logging(&Settings::default().telemetry);
    let addr = listen.listen.unwrap_or(SANDBOX_LISTEN);
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("wayfarer: cannot listen on {addr}: {error}. Choose another with --listen HOST:PORT.");
            return ExitCode::FAILURE;
        }
    };
    match crate::sandbox::serve(listener, crate::sandbox::SandboxConfig::default(), shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "sandbox failed");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}
