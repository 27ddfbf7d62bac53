//! The lead mail outbox: jobs are rows written in the same transaction as the lead, and a
//! worker claims, sends and settles them (recording each in the lead's history), retrying with
//! backoff.

use std::time::Duration;

pub mod queue;
pub mod worker;

pub use worker::{DrainReport, Worker};

#[derive(Clone)]
pub struct JobSettings {
    pub max_attempts: u32,
    pub backoff_base: Duration,
    /// How often an idle worker looks for due jobs it was not woken for (retries coming due).
    pub poll_interval: Duration,
    /// How long a claim lasts unless renewed; its worker renews it every third of that while
    /// it lives, so a dead worker's jobs return within one lease.
    pub lease: Duration,
    /// Sends in flight at once per worker, and SMTP connections pooled for them.
    pub concurrency: usize,
}

impl JobSettings {
    /// Jobs claimed at once: enough to keep every send slot busy for a few rounds.
    pub fn batch_size(&self) -> u64 {
        (self.concurrency * 4) as u64
    }

    /// How long an idle worker waits before looking again unasked: often enough that a dead
    /// worker's jobs are taken over soon after their lease runs out.
    pub fn idle_wait(&self) -> Duration {
        self.poll_interval.min(self.lease / 3)
    }
}

impl Default for JobSettings {
    /// 15 attempts with 30 s doubling (capped at 6 h) span more than 24 h even with jitter.
    fn default() -> Self {
        Self {
            max_attempts: 15,
            backoff_base: Duration::from_secs(30),
            poll_interval: Duration::from_secs(30),
            lease: Duration::from_secs(30),
            concurrency: 8,
        }
    }
}
