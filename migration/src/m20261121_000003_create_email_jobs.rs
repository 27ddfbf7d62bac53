use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261121_000002_create_leads::Leads;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EmailJobs::Table)
                    .if_not_exists()
                    .col(pk_uuid(EmailJobs::Id))
                    .col(uuid_null(EmailJobs::LeadId))
                    .col(string_len(EmailJobs::Kind, 32))
                    .col(string_len(EmailJobs::Recipient, 254))
                    .col(json(EmailJobs::Payload))
                    .col(string_len(EmailJobs::State, 16))
                    .col(integer(EmailJobs::Attempts))
                    .col(timestamp_with_time_zone(EmailJobs::RunAt))
                    .col(timestamp_with_time_zone_null(EmailJobs::LockedUntil))
                    .col(text_null(EmailJobs::LastError))
                    .col(timestamp_with_time_zone_null(EmailJobs::SentAt))
                    .col(timestamp_with_time_zone(EmailJobs::CreatedAt))
                    .col(timestamp_with_time_zone(EmailJobs::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_email_jobs_lead")
                            .from(EmailJobs::Table, EmailJobs::LeadId)
                            .to(Leads::Table, Leads::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The claim query scans queued jobs by due time.
        manager
            .create_index(
                Index::create()
                    .name("idx_email_jobs_state_run_at")
                    .table(EmailJobs::Table)
                    .col(EmailJobs::State)
                    .col(EmailJobs::RunAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_email_jobs_lead_id")
                    .table(EmailJobs::Table)
                    .col(EmailJobs::LeadId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(EmailJobs::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum EmailJobs {
    Table,
    Id,
    LeadId,
    Kind,
    Recipient,
    Payload,
    State,
    Attempts,
    RunAt,
    LockedUntil,
    LastError,
    SentAt,
    CreatedAt,
    UpdatedAt,
}
