//! Intake: the library behind the `intake` binary.

pub mod auth;
pub mod cli;
pub mod client_ip;
pub mod clock;
pub mod config;
pub mod db;
pub mod error;
pub mod file_links;
pub mod graphql;
pub mod health_probe;
pub mod http;
pub mod jobs;
pub mod lead_writer;
pub mod leads;
pub mod limits;
pub mod mail;
pub mod metrics;
pub mod resume;
pub mod secrets;
pub mod sessions;
pub mod startup;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod users;
pub mod validate;
