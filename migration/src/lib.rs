//! Database migrations, applied by `intake migrate` and at the start of `serve` and `worker`.

pub use sea_orm_migration::prelude::*;

mod m20261121_000001_create_users;
mod m20261121_000002_create_leads;
mod m20261121_000003_create_email_jobs;
mod m20261121_000004_sessions_and_idempotency;
mod m20261121_000005_attorney_workflow;
mod m20261129_000006_abuse_limits;
mod m20261129_000007_intake_duties;
mod m20261129_000008_consent;
mod m20261129_000009_personal_data;
mod m20261130_000010_integrations;
mod m20261130_000011_bounded_lookups;
mod m20261130_000012_list_indexes;
mod m20261130_000013_unlogged_rate_limits;
mod m20261201_000014_search_text;
mod m20261201_000015_unused_lead_indexes;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_create_users::Migration),
            Box::new(m20261121_000002_create_leads::Migration),
            Box::new(m20261121_000003_create_email_jobs::Migration),
            Box::new(m20261121_000004_sessions_and_idempotency::Migration),
            Box::new(m20261121_000005_attorney_workflow::Migration),
            Box::new(m20261129_000006_abuse_limits::Migration),
            Box::new(m20261129_000007_intake_duties::Migration),
            Box::new(m20261129_000008_consent::Migration),
            Box::new(m20261129_000009_personal_data::Migration),
            Box::new(m20261130_000010_integrations::Migration),
            Box::new(m20261130_000011_bounded_lookups::Migration),
            Box::new(m20261130_000012_list_indexes::Migration),
            Box::new(m20261130_000013_unlogged_rate_limits::Migration),
            Box::new(m20261201_000014_search_text::Migration),
            Box::new(m20261201_000015_unused_lead_indexes::Migration),
        ]
    }
}
