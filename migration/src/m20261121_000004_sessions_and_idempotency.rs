use sea_orm_migration::{prelude::*, schema::*};

use crate::{m20261121_000001_create_users::Users, m20261121_000002_create_leads::Leads};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Bumped when a password changes or an account is deactivated: tokens carry the version
        // they were issued under, so older ones stop working at once.
        manager
            .alter_table(
                Table::alter().table(Users::Table).add_column(integer(Sessions::SessionVersion).default(0)).to_owned(),
            )
            .await?;
        // A retried public submission carries the same id and gets the first receipt back.
        manager
            .alter_table(
                Table::alter().table(Leads::Table).add_column(uuid_null(Sessions::ClientSubmissionId)).to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_leads_client_submission_id")
                    .table(Leads::Table)
                    .col(Sessions::ClientSubmissionId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .if_not_exists()
                    .col(pk_uuid(RefreshTokens::Id))
                    .col(uuid(RefreshTokens::UserId))
                    .col(uuid(RefreshTokens::FamilyId))
                    .col(string_len_uniq(RefreshTokens::TokenHash, 64))
                    .col(timestamp_with_time_zone(RefreshTokens::ExpiresAt))
                    .col(timestamp_with_time_zone(RefreshTokens::CreatedAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::RotatedAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_refresh_tokens_user")
                            .from(RefreshTokens::Table, RefreshTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, col) in
            [("idx_refresh_tokens_family", RefreshTokens::FamilyId), ("idx_refresh_tokens_user", RefreshTokens::UserId)]
        {
            manager.create_index(Index::create().name(name).table(RefreshTokens::Table).col(col).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(RefreshTokens::Table).to_owned()).await?;
        manager.drop_index(Index::drop().name("idx_leads_client_submission_id").table(Leads::Table).to_owned()).await?;
        manager
            .alter_table(Table::alter().table(Leads::Table).drop_column(Sessions::ClientSubmissionId).to_owned())
            .await?;
        manager.alter_table(Table::alter().table(Users::Table).drop_column(Sessions::SessionVersion).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Sessions {
    SessionVersion,
    ClientSubmissionId,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Id,
    UserId,
    FamilyId,
    TokenHash,
    ExpiresAt,
    CreatedAt,
    RotatedAt,
    RevokedAt,
}
