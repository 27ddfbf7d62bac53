use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261121_000002_create_leads::Leads;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The firm's other systems: webhook endpoints and their deliveries (an outbox, as mail is),
/// API keys, and where each lead came from.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for mut column in
            [string_len_null(Integrations::Source, 100).to_owned(), json_null(Integrations::Attribution).to_owned()]
        {
            manager.alter_table(Table::alter().table(Leads::Table).add_column(&mut column).to_owned()).await?;
        }
        manager
            .create_index(
                Index::create().name("idx_leads_source").table(Leads::Table).col(Integrations::Source).to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(WebhookEndpoints::Table)
                    .col(pk_uuid(WebhookEndpoints::Id))
                    .col(string_len(WebhookEndpoints::Url, 2000))
                    .col(string_len(WebhookEndpoints::Events, 300))
                    .col(boolean(WebhookEndpoints::Active).default(true))
                    .col(text_null(WebhookEndpoints::Description))
                    .col(string_len(WebhookEndpoints::Secret, 100))
                    .col(string_len_null(WebhookEndpoints::PreviousSecret, 100))
                    .col(timestamp_with_time_zone_null(WebhookEndpoints::PreviousSecretUntil))
                    .col(timestamp_with_time_zone(WebhookEndpoints::CreatedAt))
                    .col(uuid_null(WebhookEndpoints::CreatedBy))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .col(pk_uuid(WebhookDeliveries::Id))
                    .col(uuid(WebhookDeliveries::EndpointId))
                    .col(uuid(WebhookDeliveries::LeadId))
                    .col(string_len(WebhookDeliveries::Event, 32))
                    .col(timestamp_with_time_zone(WebhookDeliveries::OccurredAt))
                    .col(string_len(WebhookDeliveries::State, 16))
                    .col(integer(WebhookDeliveries::Attempts).default(0))
                    .col(timestamp_with_time_zone(WebhookDeliveries::RunAt))
                    .col(timestamp_with_time_zone_null(WebhookDeliveries::LockedUntil))
                    .col(integer_null(WebhookDeliveries::ResponseStatus))
                    .col(text_null(WebhookDeliveries::LastError))
                    .col(timestamp_with_time_zone(WebhookDeliveries::CreatedAt))
                    .col(timestamp_with_time_zone_null(WebhookDeliveries::DeliveredAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WebhookDeliveries::Table, WebhookDeliveries::EndpointId)
                            .to(WebhookEndpoints::Table, WebhookEndpoints::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The dispatcher's question: which endpoints have something due.
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_due")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::State)
                    .col(WebhookDeliveries::RunAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_endpoint")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::EndpointId)
                    .col(WebhookDeliveries::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(pk_uuid(ApiKeys::Id))
                    .col(string_len(ApiKeys::Name, 100))
                    .col(string_len(ApiKeys::Prefix, 16).unique_key())
                    .col(string_len(ApiKeys::SecretHash, 64))
                    .col(string_len(ApiKeys::Scopes, 100))
                    .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                    .col(uuid_null(ApiKeys::CreatedBy))
                    .col(timestamp_with_time_zone_null(ApiKeys::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::LastUsedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ApiKeys::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(WebhookDeliveries::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(WebhookEndpoints::Table).to_owned()).await?;
        manager.drop_index(Index::drop().name("idx_leads_source").table(Leads::Table).to_owned()).await?;
        for col in [Integrations::Source, Integrations::Attribution] {
            manager.alter_table(Table::alter().table(Leads::Table).drop_column(col).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Integrations {
    Source,
    Attribution,
}

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    Id,
    Url,
    Events,
    Active,
    Description,
    Secret,
    PreviousSecret,
    PreviousSecretUntil,
    CreatedAt,
    CreatedBy,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    EndpointId,
    LeadId,
    Event,
    OccurredAt,
    State,
    Attempts,
    RunAt,
    LockedUntil,
    ResponseStatus,
    LastError,
    CreatedAt,
    DeliveredAt,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    Name,
    Prefix,
    SecretHash,
    Scopes,
    CreatedAt,
    CreatedBy,
    ExpiresAt,
    LastUsedAt,
    RevokedAt,
}
