//! The email outbox: jobs are rows written in the same transaction as the lead, and a worker
//! claims, sends and settles them, retrying with backoff.

pub mod notify;
pub mod queue;
pub mod worker;

pub use worker::{DrainReport, Worker};
