use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The abuse limits' counts, shared by every API replica on PostgreSQL (on SQLite they are kept
/// in memory and these tables stay empty), and the index behind the cap on acknowledgements.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Times are microseconds since the epoch by the database's clock.
        manager
            .create_table(
                Table::create()
                    .table(RateLimits::Table)
                    .col(string_len(RateLimits::Key, 320).primary_key())
                    .col(big_integer(RateLimits::Tat))
                    .col(boolean(RateLimits::Allowed))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SignInFailures::Table)
                    .col(string_len(SignInFailures::Account, 254))
                    .col(string_len(SignInFailures::Client, 64))
                    .col(integer(SignInFailures::Failures))
                    .col(big_integer(SignInFailures::LastFailedAt))
                    .col(big_integer_null(SignInFailures::LockedUntil))
                    .primary_key(Index::create().col(SignInFailures::Account).col(SignInFailures::Client))
                    .to_owned(),
            )
            .await?;
        // Acknowledgements sent to one address lately: a bounded index range per submission.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX idx_email_jobs_ack_recipient ON email_jobs (LOWER(recipient), created_at) \
                 WHERE kind = 'lead_acknowledgement'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("DROP INDEX idx_email_jobs_ack_recipient").await?;
        manager.drop_table(Table::drop().table(SignInFailures::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(RateLimits::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum RateLimits {
    Table,
    Key,
    Tat,
    Allowed,
}

#[derive(DeriveIden)]
enum SignInFailures {
    Table,
    Account,
    Client,
    Failures,
    LastFailedAt,
    LockedUntil,
}
