use sea_orm_migration::{prelude::*, schema::*};

use crate::{m20261121_000001_create_users::Users, m20261121_000002_create_leads::Leads};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite cannot add foreign keys to an existing table, so these two columns are plain
        // (indexed) ids on both databases; the code clears them where a row goes away.
        for col in [Workflow::AssignedTo, Workflow::DuplicateOf] {
            manager.alter_table(Table::alter().table(Leads::Table).add_column(uuid_null(col)).to_owned()).await?;
        }
        // The email folded to lower case, for finding earlier submissions by the same person.
        manager
            .alter_table(
                Table::alter()
                    .table(Leads::Table)
                    .add_column(string_len(Workflow::EmailKey, 254).default(""))
                    .to_owned(),
            )
            .await?;
        manager.get_connection().execute_unprepared("UPDATE leads SET email_key = LOWER(email)").await?;
        for (name, cols) in [
            ("idx_leads_assigned_to", vec![Workflow::AssignedTo]),
            ("idx_leads_duplicate_of", vec![Workflow::DuplicateOf]),
            ("idx_leads_email_key", vec![Workflow::EmailKey]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Leads::Table);
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_leads_updated_at")
                    .table(Leads::Table)
                    .col(Leads::UpdatedAt)
                    .col(Leads::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LeadEvents::Table)
                    .if_not_exists()
                    .col(pk_uuid(LeadEvents::Id))
                    .col(uuid(LeadEvents::LeadId))
                    .col(string_len(LeadEvents::Kind, 32))
                    .col(string_len(LeadEvents::ActorKind, 16))
                    .col(uuid_null(LeadEvents::ActorId))
                    .col(json(LeadEvents::Data))
                    .col(timestamp_with_time_zone(LeadEvents::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_lead_events_lead")
                            .from(LeadEvents::Table, LeadEvents::LeadId)
                            .to(Leads::Table, Leads::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_lead_events_lead")
                    .table(LeadEvents::Table)
                    .col(LeadEvents::LeadId)
                    .col(LeadEvents::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LeadNotes::Table)
                    .if_not_exists()
                    .col(pk_uuid(LeadNotes::Id))
                    .col(uuid(LeadNotes::LeadId))
                    .col(uuid_null(LeadNotes::AuthorId))
                    .col(text(LeadNotes::Body))
                    .col(timestamp_with_time_zone(LeadNotes::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_lead_notes_lead")
                            .from(LeadNotes::Table, LeadNotes::LeadId)
                            .to(Leads::Table, Leads::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_lead_notes_author")
                            .from(LeadNotes::Table, LeadNotes::AuthorId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("idx_lead_notes_lead").table(LeadNotes::Table).col(LeadNotes::LeadId).to_owned(),
            )
            .await?;

        // A replaced résumé stays in the store; its row keeps it downloadable from the history.
        manager
            .create_table(
                Table::create()
                    .table(ReplacedResumes::Table)
                    .if_not_exists()
                    .col(string_len(ReplacedResumes::Key, 200).primary_key())
                    .col(uuid(ReplacedResumes::LeadId))
                    .col(string_len(ReplacedResumes::FileName, 255))
                    .col(string_len(ReplacedResumes::ContentType, 100))
                    .col(big_integer(ReplacedResumes::SizeBytes))
                    .col(timestamp_with_time_zone(ReplacedResumes::ReplacedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_replaced_resumes_lead")
                            .from(ReplacedResumes::Table, ReplacedResumes::LeadId)
                            .to(Leads::Table, Leads::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        // One shared counter for round-robin assignment: every process takes turns from it.
        manager
            .create_table(
                Table::create()
                    .table(Counters::Table)
                    .if_not_exists()
                    .col(string_len(Counters::Name, 64).primary_key())
                    .col(big_integer(Counters::Value).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared("INSERT INTO counters (name, value) VALUES ('round_robin', 0)")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Counters::Table.into_iden(),
            ReplacedResumes::Table.into_iden(),
            LeadNotes::Table.into_iden(),
            LeadEvents::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        for index in ["idx_leads_assigned_to", "idx_leads_duplicate_of", "idx_leads_email_key", "idx_leads_updated_at"]
        {
            manager.drop_index(Index::drop().name(index).table(Leads::Table).to_owned()).await?;
        }
        for col in [Workflow::AssignedTo, Workflow::DuplicateOf, Workflow::EmailKey] {
            manager.alter_table(Table::alter().table(Leads::Table).drop_column(col).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Workflow {
    AssignedTo,
    DuplicateOf,
    EmailKey,
}

#[derive(DeriveIden)]
enum LeadEvents {
    Table,
    Id,
    LeadId,
    Kind,
    ActorKind,
    ActorId,
    Data,
    CreatedAt,
}

#[derive(DeriveIden)]
enum LeadNotes {
    Table,
    Id,
    LeadId,
    AuthorId,
    Body,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ReplacedResumes {
    Table,
    Key,
    LeadId,
    FileName,
    ContentType,
    SizeBytes,
    ReplacedAt,
}

#[derive(DeriveIden)]
enum Counters {
    Table,
    Name,
    Value,
}
