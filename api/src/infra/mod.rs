//! What the domains stand on: the database and migrations, résumé storage, mail, the job
//! outbox, change announcements (LISTEN/NOTIFY) and freshness, abuse limits, metrics, secrets,
//! the clock, input validation. Nothing here uses `leads`, `accounts`, `web` or `app`.

pub mod clock;
pub mod db;
pub mod freshness;
pub mod jobs;
pub mod limits;
pub mod live;
pub mod mail;
pub mod mask;
pub mod metrics;
pub mod secrets;
pub mod storage;
pub mod validate;
