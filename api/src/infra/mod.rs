//! What the domains stand on: the database and migrations, résumé storage, mail transport and
//! templates, the one change announcer (`announce.rs`: worker wake-ups, NOTIFY/LISTEN,
//! subscriptions, freshness of kept answers), abuse limits, metrics, secrets, masking, the clock,
//! input validation. Nothing here uses `leads`, `accounts`, `web` or `app`.

pub mod announce;
pub mod clock;
pub mod db;
pub mod freshness;
pub mod limits;
pub mod listen;
pub mod mail;
pub mod mask;
pub mod metrics;
pub mod secrets;
pub mod storage;
pub mod validate;
