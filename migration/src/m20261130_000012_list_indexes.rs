use sea_orm_migration::{prelude::*, sea_orm::DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Each filter of the lead list reads a page's worth of index entries at a million leads:
/// assignee, source, outcome and conflict state each get an index in the list's own order
/// (newest first, id breaking ties), replacing the single-column ones; the search gets a text
/// index (SQLite: an FTS5 trigram index over the leads table, kept by triggers and wiping
/// removed terms; PostgreSQL: a pg_trgm GIN index over the three fields lowercased).
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, col) in ORDERED {
            db.execute_unprepared(&format!("CREATE INDEX {name} ON leads ({col}, created_at, id)")).await?;
        }
        db.execute_unprepared("DROP INDEX idx_leads_assigned_to").await?;
        db.execute_unprepared("DROP INDEX idx_leads_source").await?;
        let search: &[&str] = match db.get_database_backend() {
            DatabaseBackend::Sqlite => SQLITE_SEARCH,
            _ => POSTGRES_SEARCH,
        };
        for statement in search {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match db.get_database_backend() {
            DatabaseBackend::Sqlite => {
                for statement in [
                    "DROP TRIGGER leads_search_insert",
                    "DROP TRIGGER leads_search_delete",
                    "DROP TRIGGER leads_search_update",
                    "DROP TABLE leads_search",
                ] {
                    db.execute_unprepared(statement).await?;
                }
            }
            _ => {
                db.execute_unprepared("DROP INDEX idx_leads_search").await?;
            }
        }
        db.execute_unprepared("CREATE INDEX idx_leads_assigned_to ON leads (assigned_to)").await?;
        db.execute_unprepared("CREATE INDEX idx_leads_source ON leads (source)").await?;
        for (name, _) in ORDERED {
            db.execute_unprepared(&format!("DROP INDEX {name}")).await?;
        }
        Ok(())
    }
}

const ORDERED: [(&str, &str); 4] = [
    ("idx_leads_assignee_created", "assigned_to"),
    ("idx_leads_source_created", "source"),
    ("idx_leads_outcome_created", "outcome"),
    ("idx_leads_conflict_created", "conflict_state"),
];

/// An external-content index: it holds the trigrams, the text stays in `leads`. Its rows are
/// the leads' rowids (stable: nothing here runs VACUUM). `secure-delete` makes an erasure's
/// removed terms leave the index's pages too.
const SQLITE_SEARCH: &[&str] = &[
    "CREATE VIRTUAL TABLE leads_search USING fts5(first_name, last_name, email, content='leads', tokenize='trigram')",
    "INSERT INTO leads_search(leads_search, rank) VALUES ('secure-delete', 1)",
    "INSERT INTO leads_search(leads_search) VALUES ('rebuild')",
    "CREATE TRIGGER leads_search_insert AFTER INSERT ON leads BEGIN \
       INSERT INTO leads_search(rowid, first_name, last_name, email) \
       VALUES (new.rowid, new.first_name, new.last_name, new.email); END",
    "CREATE TRIGGER leads_search_delete AFTER DELETE ON leads BEGIN \
       INSERT INTO leads_search(leads_search, rowid, first_name, last_name, email) \
       VALUES ('delete', old.rowid, old.first_name, old.last_name, old.email); END",
    "CREATE TRIGGER leads_search_update AFTER UPDATE OF first_name, last_name, email ON leads BEGIN \
       INSERT INTO leads_search(leads_search, rowid, first_name, last_name, email) \
       VALUES ('delete', old.rowid, old.first_name, old.last_name, old.email); \
       INSERT INTO leads_search(rowid, first_name, last_name, email) \
       VALUES (new.rowid, new.first_name, new.last_name, new.email); END",
];

/// The expression was the one `leads::list` searched, for the planner to use it (until
/// `m20261201_000014_search_text` put it in a column).
const POSTGRES_SEARCH: &[&str] = &[
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX idx_leads_search ON leads USING gin \
       ((lower(first_name) || ' ' || lower(last_name) || ' ' || lower(email)) gin_trgm_ops)",
];
