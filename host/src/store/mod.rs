//! The durable store: SQLite (a file in the data directory, WAL) for one host,
//! PostgreSQL for several replicas. One migration set (`host/migrations/`) and one
//! query set serve both, through sqlx's `Any` driver: the SQL sticks to what both
//! dialects share (`$n` parameters in order, `ON CONFLICT`, `RETURNING`), types to
//! TEXT, BIGINT and BYTEA.
//!
//! - [`tenants`]: tenants, their limits, config and secrets.
//! - [`keys`]: tenant API keys (only hashes stored; shown once).
//! - [`plugins`]: component blobs by SHA-256, plugin versions, activation, rollback.
//! - [`routes`]: phone numbers and ACS identities → a tenant's plugin.
//! - [`calls`]: the invocation log (each event handled, per call, in order).
//! - [`live`]: calls in progress: durable state, owner and lease, inbox of events.
//! - [`wake`]: wake-ups between replicas (PostgreSQL `NOTIFY`, batched).
//! - [`scratch`]: a PostgreSQL schema of its own for a test or a benchmark.
//!
//! Every function that takes a tenant id scopes its query by it: what belongs to
//! another tenant is indistinguishable from what does not exist ([`StoreError::NotFound`]).

pub mod calls;
pub mod keys;
pub mod live;
pub mod plugins;
pub mod routes;
pub mod scratch;
pub mod tenants;
pub mod wake;

use std::str::FromStr as _;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions as _};

/// Pooled connections per host on PostgreSQL unless `store.max_connections` says
/// otherwise (several replicas share what the database's cores can serve: README).
pub const POSTGRES_CONNECTIONS: u32 = 16;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such thing (or it belongs to another tenant).
    #[error("{0} not found")]
    NotFound(String),
    /// It exists already, or conflicts with what does.
    #[error("{0}")]
    Conflict(String),
    /// The request makes no sense (an invalid id, a bad value).
    #[error("{0}")]
    Invalid(String),
    #[error("store: {0}")]
    Database(#[from] sqlx::Error),
    #[error("store migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A pooled connection idle this long is pinged before it is used again.
const PING_IF_IDLE_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// The store: a connection pool, migrated.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// PostgreSQL only: sends wake-ups to other replicas.
    waker: Option<wake::Waker>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Store {
    /// Opens `url` and brings its schema up to date. `sqlite://path/to/file.db`
    /// (created if missing; WAL, foreign keys on) or `postgres://…` (add
    /// `?options=-c search_path=NAME` to use a schema other than `public`).
    pub async fn open(url: &str) -> Result<Self> {
        Self::open_with(url, None).await
    }

    /// [`Store::open`] with at most `max_connections` connections (default: 4 on
    /// SQLite, 16 on PostgreSQL). Replicas sharing one PostgreSQL share its cores:
    /// their pools together should stay near what one host would use.
    pub async fn open_with(url: &str, max_connections: Option<u32>) -> Result<Self> {
        if max_connections == Some(0) {
            return Err(StoreError::Invalid(
                "store.max_connections: at least 1".into(),
            ));
        }
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Invalid(format!(
                "store URL `{url}`: expected sqlite://FILE or postgres://…"
            )));
        };
        if backend == Backend::Sqlite {
            let path = url
                .trim_start_matches("sqlite:")
                .trim_start_matches("//")
                .split('?')
                .next()
                .unwrap_or_default();
            if let Some(parent) = std::path::Path::new(path).parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Invalid(format!("store directory {}: {e}", parent.display()))
                })?;
            }
        }
        let url = match backend {
            // Created if missing; the pragmas below make it a WAL database.
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)?.disable_statement_logging();
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections.unwrap_or(match backend {
                // One writer at a time anyway; readers share WAL snapshots.
                Backend::Sqlite => 4,
                Backend::Postgres => POSTGRES_CONNECTIONS,
            }))
            // sqlx pings every connection when it goes back to the pool, and by
            // default again when it is taken: two round trips around each
            // statement. One taken soon after it went back was just found alive;
            // only a connection idle for a while (the server may have restarted
            // meanwhile) is pinged again.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IF_IDLE_FOR {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        for pragma in [
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = NORMAL",
                            "PRAGMA foreign_keys = ON",
                            "PRAGMA busy_timeout = 5000",
                        ] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        let waker = (backend == Backend::Postgres).then(|| wake::Waker::start(pool.clone()));
        Ok(Self {
            pool,
            backend,
            waker,
        })
    }

    #[must_use]
    pub fn backend(&self) -> Backend {
        self.backend
    }

    #[must_use]
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes every connection (waits for those in use).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Now, in Unix milliseconds (the store's time unit).
#[must_use]
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Whether `id` is a usable identifier for tenants and plugins: 1–64 characters of
/// `a-z`, `0-9`, `-`, `_`, starting with a letter or digit.
pub fn check_id(kind: &str, id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && id.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "{kind} id `{id}`: use 1–64 of a-z, 0-9, '-', '_', starting with a letter or digit"
        )))
    }
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`].
fn conflict(error: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what()),
        _ => StoreError::Database(error),
    }
}
