use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261121_000001_create_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Leads::Table)
                    .if_not_exists()
                    .col(pk_uuid(Leads::Id))
                    .col(string_len(Leads::FirstName, 100))
                    .col(string_len(Leads::LastName, 100))
                    .col(string_len(Leads::Email, 254))
                    .col(string_len(Leads::Status, 16))
                    .col(string_len_uniq(Leads::ResumeKey, 200))
                    .col(string_len(Leads::ResumeFileName, 255))
                    .col(string_len(Leads::ResumeContentType, 100))
                    .col(big_integer(Leads::ResumeSizeBytes))
                    .col(timestamp_with_time_zone(Leads::CreatedAt))
                    .col(timestamp_with_time_zone(Leads::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Leads::ReachedOutAt))
                    .col(uuid_null(Leads::ReachedOutBy))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_leads_reached_out_by")
                            .from(Leads::Table, Leads::ReachedOutBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        // The dashboard lists newest first, optionally by status; id breaks ties in the cursor.
        for (name, cols) in [
            ("idx_leads_created_at", vec![Leads::CreatedAt, Leads::Id]),
            ("idx_leads_status_created_at", vec![Leads::Status, Leads::CreatedAt, Leads::Id]),
            ("idx_leads_email", vec![Leads::Email]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Leads::Table);
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Leads::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
pub enum Leads {
    Table,
    Id,
    FirstName,
    LastName,
    Email,
    Status,
    ResumeKey,
    ResumeFileName,
    ResumeContentType,
    ResumeSizeBytes,
    CreatedAt,
    UpdatedAt,
    ReachedOutAt,
    ReachedOutBy,
}
