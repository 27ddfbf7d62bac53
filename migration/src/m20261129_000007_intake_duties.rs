use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261121_000002_create_leads::Leads;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The firm's intake duties: the conflict register and each lead's conflict check, the lead's
/// outcome, and its response deadline.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        let columns = [
            string_len(Duties::NameKey, 300).default("").to_owned(),
            string_len(Duties::ConflictState, 24).default("clear").to_owned(),
            json_null(Duties::ConflictHits).to_owned(),
            timestamp_with_time_zone_null(Duties::ConflictCheckedAt).to_owned(),
            uuid_null(Duties::ConflictDecidedBy).to_owned(),
            timestamp_with_time_zone_null(Duties::ConflictDecidedAt).to_owned(),
            text_null(Duties::ConflictNote).to_owned(),
            string_len(Duties::Outcome, 32).default("open").to_owned(),
            text_null(Duties::OutcomeReason).to_owned(),
            timestamp_with_time_zone_null(Duties::OutcomeAt).to_owned(),
            uuid_null(Duties::OutcomeBy).to_owned(),
            timestamp_with_time_zone_null(Duties::RespondBy).to_owned(),
        ];
        for mut column in columns {
            manager.alter_table(Table::alter().table(Leads::Table).add_column(&mut column).to_owned()).await?;
        }
        // Leads from before the check were never checked: they say so by having no check time
        // (the API shows their submission time) and can be checked with rerunConflictCheck.
        // The name key (earlier leads by name, and those still to be keyed) and the deadline get
        // an index; conflict states and outcomes are few values that the list filters while
        // walking its own order, and every index is paid for by each submission.
        for (name, col) in [("idx_leads_name_key", Duties::NameKey), ("idx_leads_respond_by", Duties::RespondBy)] {
            manager.create_index(Index::create().name(name).table(Leads::Table).col(col).to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(ConflictParties::Table)
                    .col(pk_uuid(ConflictParties::Id))
                    .col(string_len(ConflictParties::Name, 300))
                    .col(string_len_null(ConflictParties::Email, 254))
                    .col(string_len_null(ConflictParties::Organization, 300))
                    .col(string_len(ConflictParties::Role, 24))
                    .col(text_null(ConflictParties::Note))
                    .col(timestamp_with_time_zone(ConflictParties::CreatedAt))
                    .col(uuid_null(ConflictParties::CreatedBy))
                    .col(string_len(ConflictParties::NameKey, 300))
                    .col(string_len_null(ConflictParties::EmailKey, 254))
                    .col(string_len_null(ConflictParties::OrganizationKey, 300))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("idx_conflict_parties_email_key", ConflictParties::EmailKey),
            ("idx_conflict_parties_organization_key", ConflictParties::OrganizationKey),
            ("idx_conflict_parties_name_key", ConflictParties::NameKey),
        ] {
            manager.create_index(Index::create().name(name).table(ConflictParties::Table).col(col).to_owned()).await?;
        }
        // Every register party's look-up strings (its name's key and one-typo variants): the
        // primary key is the index a check reads, and the only one, since a party's rows are
        // found again from its variants. (Leads are not keyed so: a submission would write a
        // dozen scattered index entries, which halved the form's throughput.) On SQLite the rows live in that key
        // itself (WITHOUT ROWID): one B-tree to write per row instead of two.
        let table = Table::create()
            .table(ConflictKeys::Table)
            .col(string_len(ConflictKeys::Variant, 300))
            .col(uuid(ConflictKeys::PartyId))
            .primary_key(Index::create().col(ConflictKeys::Variant).col(ConflictKeys::PartyId))
            .to_owned();
        let keys = match manager.get_database_backend() {
            sea_orm::DatabaseBackend::Sqlite => format!("{} WITHOUT ROWID", table.to_string(SqliteQueryBuilder)),
            _ => table.to_string(PostgresQueryBuilder),
        };
        manager.get_connection().execute_unprepared(&keys).await?;
        // Reminders of one lead are cancelled together when it is answered.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX idx_email_jobs_lead_queued ON email_jobs (lead_id) WHERE state = 'queued'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ConflictKeys::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(ConflictParties::Table).to_owned()).await?;
        for name in ["idx_leads_name_key", "idx_leads_respond_by"] {
            manager.drop_index(Index::drop().name(name).table(Leads::Table).to_owned()).await?;
        }
        for col in [
            Duties::NameKey,
            Duties::ConflictState,
            Duties::ConflictHits,
            Duties::ConflictCheckedAt,
            Duties::ConflictDecidedBy,
            Duties::ConflictDecidedAt,
            Duties::ConflictNote,
            Duties::Outcome,
            Duties::OutcomeReason,
            Duties::OutcomeAt,
            Duties::OutcomeBy,
            Duties::RespondBy,
        ] {
            manager.alter_table(Table::alter().table(Leads::Table).drop_column(col).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Duties {
    NameKey,
    ConflictState,
    ConflictHits,
    ConflictCheckedAt,
    ConflictDecidedBy,
    ConflictDecidedAt,
    ConflictNote,
    Outcome,
    OutcomeReason,
    OutcomeAt,
    OutcomeBy,
    RespondBy,
}

#[derive(DeriveIden)]
enum ConflictParties {
    Table,
    Id,
    Name,
    Email,
    Organization,
    Role,
    Note,
    CreatedAt,
    CreatedBy,
    NameKey,
    EmailKey,
    OrganizationKey,
}

#[derive(DeriveIden)]
enum ConflictKeys {
    Table,
    Variant,
    PartyId,
}
