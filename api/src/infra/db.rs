//! Database connections: SQLite (embedded default) or PostgreSQL, and migrations.

use std::time::Duration;

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait, sqlx,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};

use crate::infra::mask::redact_url;

#[derive(Clone, Debug)]
pub struct DatabaseSettings {
    /// `sqlite://…` (the embedded default) or `postgres://…`.
    pub url: String,
    pub max_connections: u32,
    /// How long a request waits for a pooled connection.
    pub acquire_timeout: Duration,
    pub connect_timeout: Duration,
}

impl Default for DatabaseSettings {
    /// The embedded SQLite in `./data`; four connections per core (4 to 32): enough for requests
    /// waiting on the database while others compute, without swamping a small PostgreSQL.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(2);
        Self {
            url: "sqlite://./data/intake.db?mode=rwc".into(),
            max_connections: (cores * 4).clamp(4, 32),
            acquire_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

impl DatabaseSettings {
    pub fn is_embedded(&self) -> bool {
        self.url.starts_with("sqlite:")
    }
}

pub async fn connect(config: &DatabaseSettings) -> anyhow::Result<DatabaseConnection> {
    connect_with(config, config.max_connections).await
}

/// On SQLite, the lead writer's own connection. SQLite empties a connection's page cache
/// whenever another connection has written since that connection's last transaction, so a
/// writer taking whichever pooled connection was free read the lead indexes' pages afresh
/// from the file for every batch; on its own connection, the pages of the last batch are
/// still there for the next. On a million leads this took the submission rate from 0.84× to
/// 0.87–0.89× of an empty database's (BENCHMARKS.md); larger caches measured no better. None
/// on PostgreSQL, whose writers share the pool.
pub async fn connect_lead_writer(config: &DatabaseSettings) -> anyhow::Result<Option<DatabaseConnection>> {
    if !config.is_embedded() {
        return Ok(None);
    }
    Ok(Some(connect_with(config, 1).await?))
}

async fn connect_with(config: &DatabaseSettings, connections: u32) -> anyhow::Result<DatabaseConnection> {
    if config.is_embedded() {
        sqlite_memory_statistics_off();
    }
    let mut options = ConnectOptions::new(with_tls_mode(&config.url));
    options
        .max_connections(connections)
        .min_connections(1)
        .connect_timeout(config.connect_timeout)
        .acquire_timeout(config.acquire_timeout)
        .sqlx_logging(false)
        // sqlx pings every connection it hands out by default: a second round trip (on SQLite,
        // a second hop to the connection's thread) for every query, a third of the lead list's
        // cost (BENCHMARKS.md). Only a connection idle long enough to have been dropped by the
        // server or a firewall is checked first.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        // WAL lets readers work while a lead is written; NORMAL is durable in WAL mode short of
        // power loss and avoids an fsync per commit; the busy timeout queues concurrent writers
        // instead of failing them. Secure delete overwrites what an erasure removes instead of
        // leaving it readable in the file's free space.
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                .create_if_missing(true)
                .pragma("secure_delete", "ON")
                .pragma("cache_size", format!("-{SQLITE_CACHE_KIB}"))
                .statement_cache_capacity(SQLITE_STATEMENTS_KEPT)
        })
        .map_sqlx_sqlite_pool_opts(|pool| {
            pool.after_connect(|conn, _| Box::pin(async move { stable_query_plans(conn).await }))
        });
    Database::connect(options).await.with_context(|| format!("cannot connect to {}", redact_url(&config.url)))
}

/// What each SQLite connection keeps in memory (eight connections on two cores). The pages it
/// reads again come from the operating system's file cache, so a smaller cache per connection
/// costs little; prepared statements of the lead list, forty columns each, are the larger part:
/// with sqlx's default of 100 kept per connection, the statements held about 20 MB under
/// `bench memory` (BENCHMARKS.md). (SQLite's default cache: 2,000 KiB.)
const SQLITE_CACHE_KIB: u32 = 1000;
const SQLITE_STATEMENTS_KEPT: usize = 32;

/// A transaction that will write. On SQLite it takes the write lock at `BEGIN IMMEDIATE`: a
/// deferred transaction that reads first and then writes cannot wait for the lock once another
/// writer has committed (SQLite answers "database is locked" at once, busy timeout or not), so
/// concurrent account updates failed under a submission load. Taken at the start, the lock is
/// queued for within the busy timeout like any other write. PostgreSQL ignores the mode.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let options =
        TransactionOptions { sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate), ..Default::default() };
    db.begin_with_options(options).await
}

/// The TLS mode of a PostgreSQL URL that does not choose one: none on a loopback host, else
/// TLS with the server's certificate verified (libpq's default, `prefer`, would fall back to
/// plain text and verifies nothing). On the same machine TLS protects nothing, and each
/// handshake cost 100–300 ms here (two of Nagle's delayed-ACK stalls, as sqlx does not set
/// TCP_NODELAY): most of a cold start (BENCHMARKS.md). A mode that encrypts without verifying
/// is honoured, with a warning.
fn with_tls_mode(database_url: &str) -> String {
    let Ok(mut url) = url::Url::parse(database_url) else { return database_url.to_owned() };
    if !url.scheme().starts_with("postgres") {
        return database_url.to_owned();
    }
    if let Some((_, mode)) = url.query_pairs().find(|(k, _)| k == "sslmode") {
        if matches!(mode.as_ref(), "require" | "prefer" | "allow") {
            tracing::warn!(
                sslmode = %mode,
                "the database connection does not verify the server's certificate; use sslmode=verify-full \
                 (with sslrootcert=<file> for a private CA)"
            );
        }
        return database_url.to_owned();
    }
    // `postgres:` is not a scheme the url crate knows, so it leaves IP addresses as text.
    let loopback = url.host_str().is_some_and(|host| {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    });
    url.query_pairs_mut().append_pair("sslmode", if loopback { "disable" } else { "verify-full" });
    url.into()
}

/// SQLite keeps allocation statistics by default, under one process-wide mutex taken on every
/// allocation; with a thread per connection (sqlx), copying rows out made those threads queue
/// on it (about 7 % of the lead list's CPU in futex calls, BENCHMARKS.md). Nothing here reads the
/// statistics. It can only be set before SQLite initialises, so the first connection does it.
fn sqlite_memory_statistics_off() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: MEMSTATUS takes one int; called before any connection exists (else SQLite
        // answers SQLITE_MISUSE and changes nothing, which is safe too).
        let rc = unsafe { libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS, 0) };
        if rc != libsqlite3_sys::SQLITE_OK {
            tracing::debug!(rc, "SQLite was initialised already; its allocation statistics stay on");
        }
    });
}

/// Turns on SQLite's query planner stability guarantee. Without it, SQLite (built with STAT4, as
/// sqlx builds it) compiles a statement again whenever a new value is bound to a parameter that
/// is compared with an indexed column, which is nearly every query here: that re-preparing was
/// 14% of the server's CPU on the lead list (BENCHMARKS.md). Our plans do not depend on the
/// values, and without ANALYZE statistics there is nothing to choose between anyway.
async fn stable_query_plans(conn: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: `db` is this connection's open handle, locked for us for the duration of the call;
    // ENABLE_QPSG takes an int (1: on) and an int pointer for the new setting, which may be null.
    let rc = unsafe {
        libsqlite3_sys::sqlite3_db_config(
            db,
            libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
            1,
            std::ptr::null_mut::<i32>(),
        )
    };
    if rc != libsqlite3_sys::SQLITE_OK {
        return Err(sqlx::Error::Configuration(format!("sqlite3_db_config(ENABLE_QPSG) returned {rc}").into()));
    }
    Ok(())
}

/// Applies pending migrations. On PostgreSQL, processes starting together (API replicas,
/// workers) take turns: one migrates while the others wait on an advisory lock, then find
/// nothing left to do.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return Migrator::up(db, None).await.context("applying migrations");
    }
    // Usually every migration is in already: check on the pool's connection, without opening
    // the two more that the lock and the migrator need (each a TLS handshake: ~50 ms of a
    // cold start here).
    if all_applied(db).await {
        return Ok(());
    }
    // The lock belongs to a session: hold one connection for it while the migrator uses others.
    let mut session = db.get_postgres_connection_pool().acquire().await.context("connecting to migrate")?;
    sqlx::query("SELECT pg_advisory_lock($1)").bind(MIGRATION_LOCK).execute(&mut *session).await?;
    let result = Migrator::up(db, None).await.context("applying migrations");
    sqlx::query("SELECT pg_advisory_unlock($1)").bind(MIGRATION_LOCK).execute(&mut *session).await?;
    result
}

/// Whether the database lists every migration this build knows as applied; false when it
/// cannot tell (say, no migrations table yet).
async fn all_applied(db: &DatabaseConnection) -> bool {
    let applied: Vec<String> = match sqlx::query_scalar("SELECT version FROM seaql_migrations")
        .fetch_all(db.get_postgres_connection_pool())
        .await
    {
        Ok(versions) => versions,
        Err(_) => return false,
    };
    Migrator::migrations().iter().all(|m| applied.iter().any(|v| *v == m.name()))
}

/// An arbitrary key for the migration advisory lock ("intake" in ASCII).
const MIGRATION_LOCK: i64 = 0x696e_7461_6b65;

/// Readiness: can the database answer a query right now?
pub async fn ping(db: &DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    db.execute_unprepared("SELECT 1").await.map(|_| ())
}

/// True when the error says the database could not be reached, or dropped the connection, or
/// is shutting down, rather than that a statement was wrong: the same request may succeed in a
/// moment.
pub fn is_unreachable(e: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    match e {
        DbErr::ConnectionAcquire(_) => true,
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => sqlx_unreachable(e),
        DbErr::Conn(_) => true,
        _ => false,
    }
}

fn sqlx_unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // PostgreSQL: connection exceptions (class 08), the server shutting down or starting
        // (57P01–57P03), too many connections (53300). SQLite: the database stayed locked
        // past the busy timeout (5), an I/O error (10), a full disk (13), cannot open (14).
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300" | "5" | "10" | "13" | "14")
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_is_verified_off_loopback_and_skipped_on_it_unless_chosen() {
        let mode = |url: &str| {
            let decided = with_tls_mode(url);
            decided.split("sslmode=").nth(1).map(|m| m.split('&').next().unwrap_or_default().to_owned())
        };
        let disabled = Some("disable".to_owned());
        let verified = Some("verify-full".to_owned());
        assert_eq!(mode("postgres://postgres@127.0.0.1:5432/intake"), disabled);
        assert_eq!(mode("postgresql://u:p@localhost/intake?application_name=x"), disabled);
        assert_eq!(mode("postgres://u@[::1]:5432/intake"), disabled);
        assert_eq!(mode("postgres://u@db.example.com/intake"), verified);
        assert_eq!(mode("postgres://u@postgres:5432/intake"), verified);
        assert_eq!(mode("postgres://u@10.0.0.5/intake"), verified);
        for chosen in
            ["postgres://u@127.0.0.1/intake?sslmode=require", "postgres://u@db.example.com/intake?sslmode=require"]
        {
            assert_eq!(with_tls_mode(chosen), chosen);
        }
        assert_eq!(with_tls_mode("sqlite://data/intake.db?mode=rwc"), "sqlite://data/intake.db?mode=rwc");
    }

    #[tokio::test]
    async fn sqlite_connections_keep_their_query_plans() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().display().to_string();
        let settings = DatabaseSettings {
            url: format!("sqlite://{data_dir}/intake.db?mode=rwc"),
            max_connections: 2,
            acquire_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
        };
        let db = connect(&settings).await.unwrap();
        let mut conn = db.get_sqlite_connection_pool().acquire().await.unwrap();
        let mut handle = conn.lock_handle().await.unwrap();
        let mut enabled = 0;
        // SAFETY: an open, locked handle; -1 reads the setting into `enabled` without changing it.
        let rc = unsafe {
            libsqlite3_sys::sqlite3_db_config(
                handle.as_raw_handle().as_ptr(),
                libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
                -1,
                &mut enabled as *mut i32,
            )
        };
        assert_eq!((rc, enabled), (libsqlite3_sys::SQLITE_OK, 1));
    }
}
