//! The application: configuration from the environment, start-up and shutdown, the shared
//! state, the command line. It may use every other folder; nothing uses it but `main`.

pub mod cli;
pub mod config;
pub mod health_probe;
pub mod memory;
pub mod startup;
pub mod telemetry;
