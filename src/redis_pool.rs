//! The shared Redis connection pool, with every wait bounded.
//!
//! deadpool has no timeouts by default and redis-rs waits for a reconnect, so a
//! Redis outage would hang every request. Here the pool wait, the connection
//! creation and each command are bounded by the configured timeouts, and the
//! caller gets [`RedisError`] instead. Long-lived consumers (the pub/sub task)
//! open their own dedicated connection from [`RedisPool::client`] rather than
//! holding a pooled one, which deadpool would never heal after a Redis restart.

use std::time::{Duration, Instant};

use deadpool_redis::{PoolConfig, Runtime, Timeouts};
use redis::FromRedisValue;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::config::{RedisSettings, redact_url};

/// Why a Redis call failed.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// No connection could be had in time (server down, pool exhausted).
    #[error("redis unavailable: {0}")]
    Unavailable(String),
    /// The command did not answer within the command timeout.
    #[error("redis command timed out after {0:?}")]
    Timeout(Duration),
    /// Redis answered with an error, or the connection broke mid-command.
    #[error("redis command failed: {0}")]
    Command(#[from] redis::RedisError),
}

/// A pool of Redis connections plus the client used for dedicated connections.
#[derive(Clone)]
pub struct RedisPool {
    pool: deadpool_redis::Pool,
    client: redis::Client,
    command_timeout: Duration,
    connection_timeout: Duration,
    key_prefix: String,
    display_url: String,
}

impl std::fmt::Debug for RedisPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisPool").field("url", &self.display_url).finish_non_exhaustive()
    }
}

/// Pool occupancy for `/api/status` and metrics.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedisPoolStats {
    /// Configured pool size.
    pub max_size: usize,
    /// Connections currently open.
    pub size: usize,
    /// Open connections idle in the pool.
    pub available: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
}

impl RedisPool {
    /// Builds the pool; connects lazily, so this fails only on a bad URL.
    pub fn new(url: &SecretString, settings: &RedisSettings) -> Result<Self, RedisError> {
        let raw = url.expose_secret();
        let client = redis::Client::open(raw).map_err(|e| RedisError::Unavailable(format!("bad URL: {e}")))?;
        let mut config = deadpool_redis::Config::from_url(raw);
        config.pool = Some(PoolConfig {
            max_size: settings.max_connections,
            timeouts: Timeouts {
                wait: Some(settings.connection_timeout),
                create: Some(settings.connection_timeout),
                recycle: Some(settings.connection_timeout),
            },
            ..PoolConfig::default()
        });
        let pool = config
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|e| RedisError::Unavailable(format!("cannot build pool: {e}")))?;
        Ok(Self {
            pool,
            client,
            command_timeout: settings.command_timeout,
            connection_timeout: settings.connection_timeout,
            key_prefix: settings.key_prefix.clone(),
            display_url: redact_url(raw),
        })
    }

    /// The URL with credentials redacted.
    pub fn display_url(&self) -> &str {
        &self.display_url
    }

    /// `key_prefix:rest` — every key and channel goes through this.
    pub fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.key_prefix)
    }

    /// The client for dedicated (non-pooled) connections such as pub/sub.
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// Longest wait to open a connection.
    pub fn connection_timeout(&self) -> Duration {
        self.connection_timeout
    }

    /// Runs one command on a pooled connection, bounded by the timeouts.
    pub async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, RedisError> {
        let mut conn = self.connection().await?;
        match tokio::time::timeout(self.command_timeout, cmd.query_async(&mut conn)).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(RedisError::Timeout(self.command_timeout)),
        }
    }

    /// Runs a pipeline (atomic when built with `.atomic()`), bounded by the timeouts.
    pub async fn query_pipeline<T: FromRedisValue>(&self, pipe: &redis::Pipeline) -> Result<T, RedisError> {
        let mut conn = self.connection().await?;
        match tokio::time::timeout(self.command_timeout, pipe.query_async(&mut conn)).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(RedisError::Timeout(self.command_timeout)),
        }
    }

    async fn connection(&self) -> Result<deadpool_redis::Connection, RedisError> {
        // deadpool's own wait/create timeouts apply; the outer bound also covers
        // the recycle PING so nothing here can wait longer than configured.
        let bound = self.connection_timeout + self.command_timeout;
        match tokio::time::timeout(bound, self.pool.get()).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(RedisError::Unavailable(e.to_string())),
            Err(_) => Err(RedisError::Unavailable(format!("no connection within {bound:?}"))),
        }
    }

    /// Round-trip time of a `PING`.
    pub async fn ping(&self) -> Result<Duration, RedisError> {
        let started = Instant::now();
        let pong: String = self.query(&redis::cmd("PING")).await?;
        if pong != "PONG" {
            return Err(RedisError::Unavailable(format!("unexpected PING answer {pong:?}")));
        }
        Ok(started.elapsed())
    }

    /// Pool occupancy.
    pub fn stats(&self) -> RedisPoolStats {
        let status = self.pool.status();
        RedisPoolStats {
            max_size: status.max_size,
            size: status.size,
            available: status.available,
            waiting: status.waiting,
        }
    }
}
