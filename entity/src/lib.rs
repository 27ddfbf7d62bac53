//! SeaORM entities: one module per table.

pub mod api_key;
pub mod conflict_key;
pub mod conflict_party;
pub mod deletion_job;
pub mod email_job;
pub mod lead;
pub mod lead_event;
pub mod lead_note;
pub mod refresh_token;
pub mod replaced_resume;
pub mod schedule;
pub mod user;
pub mod webhook_delivery;
pub mod webhook_endpoint;
