use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Indexes no query reads any more, each written by every submission: the email as typed
/// (nothing looks leads up by it), and the email and name keys over every lead, since the
/// submission's look-ups go through the partial indexes of leads that repeat nobody
/// (`idx_leads_first_by_email`, `idx_leads_first_by_name`). Each was a page or more written to
/// the log per lead (BENCHMARKS.md).
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, _) in UNUSED {
            db.execute_unprepared(&format!("DROP INDEX {name}")).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, column) in UNUSED {
            db.execute_unprepared(&format!("CREATE INDEX {name} ON leads ({column})")).await?;
        }
        Ok(())
    }
}

const UNUSED: [(&str, &str); 3] =
    [("idx_leads_email", "email"), ("idx_leads_email_key", "email_key"), ("idx_leads_name_key", "name_key")];
