//! Database connections: SQLite (embedded default) or PostgreSQL, and migrations.

use std::time::Duration;

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, sqlx,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};

use crate::config::{Config, redact_url};

pub async fn connect(config: &Config) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(config.database_url.clone());
    options
        .max_connections(config.db_max_connections)
        .min_connections(1)
        .connect_timeout(config.db_connect_timeout)
        .acquire_timeout(config.db_acquire_timeout)
        .sqlx_logging(false)
        // WAL lets readers work while a lead is written; NORMAL is durable in WAL mode short of
        // power loss and avoids an fsync per commit; the busy timeout queues concurrent writers
        // instead of failing them.
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                .create_if_missing(true)
        });
    Database::connect(options).await.with_context(|| format!("cannot connect to {}", redact_url(&config.database_url)))
}

/// Applies pending migrations. On PostgreSQL, processes starting together (API replicas,
/// workers) take turns: one migrates while the others wait on an advisory lock, then find
/// nothing left to do.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return Migrator::up(db, None).await.context("applying migrations");
    }
    // The lock belongs to a session: hold one connection for it while the migrator uses others.
    let mut session = db.get_postgres_connection_pool().acquire().await.context("connecting to migrate")?;
    sqlx::query("SELECT pg_advisory_lock($1)").bind(MIGRATION_LOCK).execute(&mut *session).await?;
    let result = Migrator::up(db, None).await.context("applying migrations");
    sqlx::query("SELECT pg_advisory_unlock($1)").bind(MIGRATION_LOCK).execute(&mut *session).await?;
    result
}

/// An arbitrary key for the migration advisory lock ("intake" in ASCII).
const MIGRATION_LOCK: i64 = 0x696e_7461_6b65;

/// Readiness: can the database answer a query right now?
pub async fn ping(db: &DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    db.execute_unprepared("SELECT 1").await.map(|_| ())
}
