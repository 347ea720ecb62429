//! The SQL system of record: SQLite (the embedded default, a file under the
//! data directory) or PostgreSQL (`DATABASE_URL`), through sqlx.
//!
//! One set of queries serves both engines: they go through sqlx's `Any`
//! driver with `$n` placeholders, which both engines accept, and keep to
//! types both read alike (BIGINT epoch milliseconds for time, TEXT, BIGINT).
//! Migrations are embedded per engine, because DDL differs, and run at start.
//! Status transitions are conditional `UPDATE … WHERE` statements so two
//! instances racing on one row cannot both win; the schema's unique indexes
//! are the last word where two paths could both act (a booking charged
//! twice, a payment refunded twice), and their violations surface as
//! [`StoreError::Conflict`].
//!
//! - [`bookings`] — bookings and travellers, status transitions, the saga's
//!   steps, and the sweepers' claims.
//! - [`payments`] — payments and refunds, and the charge's atomic phases.
//! - [`idempotency`] — client idempotency keys and payment webhook events.
//! - [`links`] — the hosted payment pages opened for bookings.
//! - [`notifications`] — the outbox of booking events, notifications,
//!   channel preferences, and deliveries with their dead letters.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor as _, Row as _};

use crate::config::{DatabaseEngine, DatabaseSettings, redact_url};

pub mod bookings;
pub mod idempotency;
pub mod links;
pub mod notifications;
pub mod payments;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("src/store/migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("src/store/migrations/postgres");

/// A failure of the SQL store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no supported engine.
    #[error("unsupported database URL (use postgres:// or sqlite://)")]
    UnsupportedUrl,
    /// Connecting or a query failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations could not be applied.
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A unique index refused the write: another path already did what this
    /// one tried (a second successful payment for a booking, a second live
    /// refund, a duplicate id). Names the index or constraint when known.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored value could not be read back (an unknown status, bad JSON or amount).
    #[error("corrupt stored value in {column}: {detail}")]
    Corrupt {
        /// The column.
        column: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// The SQLite data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// The pooled SQL store.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    /// Where writes go. SQLite lets one connection write at a time, and a
    /// connection that finds the lock taken sleeps in SQLite's busy handler
    /// (1, 2, 5, 10 … ms) however soon the lock is free; one writing
    /// connection makes writers queue in the pool instead, woken in turn,
    /// while reads keep the other connections. `None` where writes share
    /// `pool`: PostgreSQL, and an in-memory SQLite database (one connection).
    writer: Option<AnyPool>,
    engine: DatabaseEngine,
    display_url: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("engine", &self.engine).field("url", &self.display_url).finish()
    }
}

/// Pool occupancy for `/api/status` and metrics.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StorePoolStats {
    /// Configured pool size.
    pub max_size: u32,
    /// Connections open.
    pub size: u32,
    /// Open connections idle.
    pub idle: usize,
}

fn pool_stats(pool: &AnyPool) -> StorePoolStats {
    StorePoolStats { max_size: pool.options().get_max_connections(), size: pool.size(), idle: pool.num_idle() }
}

/// Where the schema stands relative to the migrations in this binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    /// Migrations this binary carries.
    pub known: usize,
    /// Of those, applied to the database.
    pub applied: usize,
    /// Applied migrations this binary does not know (a newer version ran).
    pub unknown_applied: usize,
}

impl MigrationState {
    /// Nothing left to apply.
    pub fn is_current(&self) -> bool {
        self.applied == self.known
    }
}

/// A server instance registered in the store.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceRecord {
    /// Instance id.
    pub id: String,
    /// Its Wayfarer version.
    pub version: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Its last heartbeat.
    pub heartbeat_at: DateTime<Utc>,
}

impl Store {
    /// Connects (creating the SQLite file and its directory if needed); does not migrate.
    pub async fn connect(url: &SecretString, settings: &DatabaseSettings) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let raw = url.expose_secret();
        let engine = DatabaseEngine::of_url(raw).ok_or(StoreError::UnsupportedUrl)?;
        if engine == DatabaseEngine::Sqlite {
            ensure_sqlite_dir(raw)?;
        }
        let options: AnyConnectOptions = raw.parse()?;
        let pool_of = |size: u32| {
            AnyPoolOptions::new().max_connections(size).acquire_timeout(settings.acquire_timeout).after_connect(
                move |conn, _meta| {
                    Box::pin(async move {
                        if engine == DatabaseEngine::Sqlite {
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA busy_timeout = 5000").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                        }
                        Ok(())
                    })
                },
            )
        };
        let (pool, writer) = match engine {
            // SQLite allows one writer at a time: a small pool for reads
            // avoids piling up connections, and one connection writes.
            // An in-memory database exists once per connection: one it is.
            DatabaseEngine::Sqlite if sqlite_in_memory(raw) => (pool_of(1).connect_with(options).await?, None),
            DatabaseEngine::Sqlite => {
                let pool = pool_of(settings.max_connections.min(4)).connect_with(options.clone()).await?;
                (pool, Some(pool_of(1).connect_with(options).await?))
            }
            DatabaseEngine::Postgres => (pool_of(settings.max_connections).connect_with(options).await?, None),
        };
        Ok(Self { pool, writer, engine, display_url: redact_url(raw) })
    }

    /// Which engine this is.
    pub fn engine(&self) -> DatabaseEngine {
        self.engine
    }

    /// The URL with credentials redacted.
    pub fn display_url(&self) -> &str {
        &self.display_url
    }

    /// The pool, for the domains' queries.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The pool for writes: `INSERT`, `UPDATE`, `DELETE` and every
    /// transaction (see the field). A write must not wait for another
    /// writer connection while it holds one: on SQLite there is only one.
    pub fn writer(&self) -> &AnyPool {
        self.writer.as_ref().unwrap_or(&self.pool)
    }

    fn migrator(&self) -> &'static Migrator {
        match self.engine {
            DatabaseEngine::Sqlite => &SQLITE_MIGRATIONS,
            DatabaseEngine::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    /// Applies pending migrations; returns how many were applied now.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        let before = self.migration_state().await?.applied;
        self.migrator().run(&self.pool).await?;
        let after = self.migration_state().await?.applied;
        Ok(after.saturating_sub(before))
    }

    /// Compares applied migrations with the embedded ones, changing nothing.
    pub async fn migration_state(&self) -> Result<MigrationState, StoreError> {
        let known: Vec<i64> = self.migrator().iter().map(|m| m.version).collect();
        let table_exists = match self.engine {
            DatabaseEngine::Sqlite => {
                sqlx::query("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'")
                    .fetch_one(&self.pool)
                    .await?
                    .try_get::<i64, _>("n")?
                    > 0
            }
            DatabaseEngine::Postgres => {
                sqlx::query("SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'")
                    .fetch_one(&self.pool)
                    .await?
                    .try_get::<i64, _>("n")?
                    > 0
            }
        };
        let applied: Vec<i64> = if table_exists {
            sqlx::query("SELECT version FROM _sqlx_migrations WHERE success = $1")
                .bind(true)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|row| row.try_get::<i64, _>("version"))
                .collect::<Result<_, _>>()?
        } else {
            Vec::new()
        };
        Ok(MigrationState {
            known: known.len(),
            applied: applied.iter().filter(|v| known.contains(v)).count(),
            unknown_applied: applied.iter().filter(|v| !known.contains(v)).count(),
        })
    }

    /// Round-trip time of a trivial query.
    pub async fn ping(&self) -> Result<Duration, StoreError> {
        let started = Instant::now();
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(started.elapsed())
    }

    /// Pool occupancy (on SQLite the read pool; PostgreSQL's one pool).
    pub fn stats(&self) -> StorePoolStats {
        pool_stats(&self.pool)
    }

    /// The writing connection's occupancy when writes have a pool of their
    /// own (a SQLite file); `None` when they share [`Store::stats`]'s.
    pub fn writer_stats(&self) -> Option<StorePoolStats> {
        self.writer.as_ref().map(pool_stats)
    }

    /// Records this instance as started (or restarted).
    pub async fn register_instance(&self, id: &str, version: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let ms = now.timestamp_millis();
        sqlx::query(
            "INSERT INTO instances (id, version, started_at, heartbeat_at, stopped_at) VALUES ($1, $2, $3, $4, NULL) \
             ON CONFLICT (id) DO UPDATE SET version = excluded.version, started_at = excluded.started_at, \
             heartbeat_at = excluded.heartbeat_at, stopped_at = NULL",
        )
        .bind(id)
        .bind(version)
        .bind(ms)
        .bind(ms)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Moves this instance's heartbeat forward; `false` when it was marked stopped.
    pub async fn heartbeat(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE instances SET heartbeat_at = $1 WHERE id = $2 AND stopped_at IS NULL AND heartbeat_at <= $3",
        )
        .bind(now.timestamp_millis())
        .bind(id)
        .bind(now.timestamp_millis())
        .execute(self.writer())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Marks this instance stopped (graceful shutdown).
    pub async fn deregister_instance(&self, id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE instances SET stopped_at = $1 WHERE id = $2 AND stopped_at IS NULL")
            .bind(now.timestamp_millis())
            .bind(id)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Instances whose heartbeat is newer than `since`, oldest start first.
    pub async fn live_instances(&self, since: DateTime<Utc>) -> Result<Vec<InstanceRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, version, started_at, heartbeat_at FROM instances \
             WHERE stopped_at IS NULL AND heartbeat_at >= $1 ORDER BY started_at, id",
        )
        .bind(since.timestamp_millis())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(InstanceRecord {
                    id: row.try_get("id")?,
                    version: row.try_get("version")?,
                    started_at: from_millis(row.try_get("started_at")?),
                    heartbeat_at: from_millis(row.try_get("heartbeat_at")?),
                })
            })
            .collect()
    }

    /// Closes the pool, waiting for connections to return.
    pub async fn close(&self) {
        if let Some(writer) = &self.writer {
            writer.close().await;
        }
        self.pool.close().await;
    }
}

/// A query failure, with unique violations told apart as [`StoreError::Conflict`].
fn write_error(error: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &error
        && db.kind() == sqlx::error::ErrorKind::UniqueViolation
    {
        return StoreError::Conflict(db.constraint().map_or_else(|| db.message().to_owned(), str::to_owned));
    }
    StoreError::Database(error)
}

/// A value to bind to a query built at run time.
#[derive(Debug, Clone)]
enum Param {
    Text(String),
    Int(i64),
}

/// `$first, $first+1, …` for `count` values, for `IN (…)` lists.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
}

/// Binds `params` in order.
fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    params: &[Param],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for param in params {
        query = match param {
            Param::Text(text) => query.bind(text.clone()),
            Param::Int(int) => query.bind(*int),
        };
    }
    query
}

/// A lease length in milliseconds (saturating).
fn millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Epoch milliseconds as stored → a UTC time (out-of-range values clamp to the epoch).
pub fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::UNIX_EPOCH)
}

/// The file a `sqlite:` URL names (empty or `:memory:` for none).
fn sqlite_path(url: &str) -> &str {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    path.split('?').next().unwrap_or(path)
}

fn sqlite_in_memory(url: &str) -> bool {
    let path = sqlite_path(url);
    path.is_empty() || path == ":memory:" || url.contains("mode=memory")
}

fn ensure_sqlite_dir(url: &str) -> Result<(), StoreError> {
    if sqlite_in_memory(url) {
        return Ok(());
    }
    let path = sqlite_path(url);
    if let Some(dir) = std::path::Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)
            .map_err(|source| StoreError::DataDir { path: dir.display().to_string(), source })?;
    }
    Ok(())
}

/// An exact decimal amount from its stored text.
fn decimal_from(column: &'static str, text: &str) -> Result<rust_decimal::Decimal, StoreError> {
    rust_decimal::Decimal::from_str_exact(text).map_err(|e| StoreError::Corrupt { column, detail: e.to_string() })
}

/// A stored name read back through `parse`.
fn parsed<T>(column: &'static str, text: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, StoreError> {
    parse(text).ok_or_else(|| StoreError::Corrupt { column, detail: format!("unknown value {text:?}") })
}

/// A millisecond column that may be NULL.
fn opt_millis(ms: Option<i64>) -> Option<DateTime<Utc>> {
    ms.map(from_millis)
}
