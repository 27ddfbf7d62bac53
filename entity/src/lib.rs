//! SeaORM entities: one module per table.

pub mod email_job;
pub mod lead;
pub mod refresh_token;
pub mod user;
