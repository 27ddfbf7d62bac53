use sea_orm_migration::{prelude::*, sea_orm::DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// PostgreSQL: the submission and sign-in allowances (`rate_limits`) are kept out of the
/// write-ahead log. Every submission from one address updates one row, and while that
/// statement's commit waited for its log flush the next submission from the address waited
/// on the row: one flush per submission, in a line. An allowance lost in a crash (or not
/// carried to a standby) only restarts that address's count. SQLite keeps them in memory.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set(manager, "UNLOGGED").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set(manager, "LOGGED").await
    }
}

async fn set(manager: &SchemaManager<'_>, mode: &str) -> Result<(), DbErr> {
    let db = manager.get_connection();
    if db.get_database_backend() == DatabaseBackend::Postgres {
        db.execute_unprepared(&format!("ALTER TABLE rate_limits SET {mode}")).await?;
    }
    Ok(())
}
