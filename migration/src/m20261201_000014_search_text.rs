use sea_orm_migration::{prelude::*, sea_orm::DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// PostgreSQL: the three searched fields, lowercased, kept in a generated column
/// (`search_text`, one field per line) that the search tests and the trigram index covers,
/// instead of lowercasing them again for every lead a search passes (most of a common
/// term's search at a million leads). Adding the column rewrites the table once. SQLite needs
/// none: its LIKE ignores the case of ASCII letters itself, and its trigram table folds the rest.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, DOWN).await
    }
}

async fn run(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    let db = manager.get_connection();
    if db.get_database_backend() == DatabaseBackend::Postgres {
        for statement in statements {
            db.execute_unprepared(statement).await?;
        }
    }
    Ok(())
}

const UP: &[&str] = &[
    "ALTER TABLE leads ADD COLUMN search_text text GENERATED ALWAYS AS \
       (lower(first_name) || E'\\n' || lower(last_name) || E'\\n' || lower(email)) STORED",
    "DROP INDEX idx_leads_search",
    "CREATE INDEX idx_leads_search ON leads USING gin (search_text gin_trgm_ops)",
];

const DOWN: &[&str] = &[
    "DROP INDEX idx_leads_search",
    "ALTER TABLE leads DROP COLUMN search_text",
    "CREATE INDEX idx_leads_search ON leads USING gin \
       ((lower(first_name) || ' ' || lower(last_name) || ' ' || lower(email)) gin_trgm_ops)",
];
