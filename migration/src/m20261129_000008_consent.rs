use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261121_000002_create_leads::Leads;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The prospect's consent, as given on the form: when, to which text, from where.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for mut column in [
            timestamp_with_time_zone_null(Alias::new("consent_given_at")).to_owned(),
            string_len_null(Alias::new("consent_text_version"), 64).to_owned(),
            string_len_null(Alias::new("consent_ip"), 64).to_owned(),
            string_len_null(Alias::new("consent_user_agent"), 512).to_owned(),
        ] {
            manager.alter_table(Table::alter().table(Leads::Table).add_column(&mut column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [
            Alias::new("consent_given_at"),
            Alias::new("consent_text_version"),
            Alias::new("consent_ip"),
            Alias::new("consent_user_agent"),
        ] {
            manager.alter_table(Table::alter().table(Leads::Table).drop_column(col).to_owned()).await?;
        }
        Ok(())
    }
}
