use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261121_000002_create_leads::Leads;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Personal data the firm can account for: erasure (the tombstone's columns), legal hold, the
/// object and mail-copy deletions an erasure leaves to do, and the schedule of the retention
/// sweep shared by every worker.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        let columns = [
            timestamp_with_time_zone_null(Privacy::ErasedAt).to_owned(),
            uuid_null(Privacy::ErasedBy).to_owned(),
            text_null(Privacy::ErasureReason).to_owned(),
            boolean(Privacy::LegalHold).default(false).to_owned(),
            text_null(Privacy::LegalHoldReason).to_owned(),
            timestamp_with_time_zone_null(Privacy::LegalHoldAt).to_owned(),
            uuid_null(Privacy::LegalHoldBy).to_owned(),
        ];
        for mut column in columns {
            manager.alter_table(Table::alter().table(Leads::Table).add_column(&mut column).to_owned()).await?;
        }
        // The retention sweep walks the oldest leads not yet erased; tombstones (the oldest of
        // all, in time) stay out of its way. Both backends take a partial index.
        manager
            .get_connection()
            .execute_unprepared("CREATE INDEX idx_leads_retention ON leads (created_at) WHERE erased_at IS NULL")
            .await?;
        // An erasure finds the later leads whose conflict check named the person among the few
        // whose check found someone, not by reading every later lead.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX idx_leads_conflicting ON leads (created_at) WHERE conflict_state <> 'clear'",
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(DeletionJobs::Table)
                    .col(pk_uuid(DeletionJobs::Id))
                    .col(string_len(DeletionJobs::Target, 16))
                    .col(string_len(DeletionJobs::Key, 512))
                    .col(uuid_null(DeletionJobs::LeadId))
                    .col(integer(DeletionJobs::Attempts).default(0))
                    .col(timestamp_with_time_zone(DeletionJobs::RunAt))
                    .col(timestamp_with_time_zone_null(DeletionJobs::LockedUntil))
                    .col(text_null(DeletionJobs::LastError))
                    .col(timestamp_with_time_zone(DeletionJobs::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_deletion_jobs_run_at")
                    .table(DeletionJobs::Table)
                    .col(DeletionJobs::RunAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Schedules::Table)
                    .col(string_len(Schedules::Name, 64).primary_key())
                    .col(timestamp_with_time_zone(Schedules::LastStartedAt))
                    .col(string_len(Schedules::StartedBy, 64))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Schedules::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(DeletionJobs::Table).to_owned()).await?;
        for index in ["idx_leads_conflicting", "idx_leads_retention"] {
            manager.drop_index(Index::drop().name(index).table(Leads::Table).to_owned()).await?;
        }
        for col in [
            Privacy::ErasedAt,
            Privacy::ErasedBy,
            Privacy::ErasureReason,
            Privacy::LegalHold,
            Privacy::LegalHoldReason,
            Privacy::LegalHoldAt,
            Privacy::LegalHoldBy,
        ] {
            manager.alter_table(Table::alter().table(Leads::Table).drop_column(col).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Privacy {
    ErasedAt,
    ErasedBy,
    ErasureReason,
    LegalHold,
    LegalHoldReason,
    LegalHoldAt,
    LegalHoldBy,
}

#[derive(DeriveIden)]
enum DeletionJobs {
    Table,
    Id,
    /// `object` (a résumé in the store) or `mail_copy` (an `.eml` file of the file transport).
    Target,
    Key,
    LeadId,
    Attempts,
    RunAt,
    LockedUntil,
    LastError,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Schedules {
    Table,
    Name,
    LastStartedAt,
    StartedBy,
}
