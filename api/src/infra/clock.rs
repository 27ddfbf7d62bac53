//! One notion of "now" for every stored timestamp.

use chrono::{DateTime, SubsecRound, Utc};

/// The current time at microsecond precision: what PostgreSQL keeps, so a value read back (or
/// carried in a cursor) compares equal to the one written, on SQLite too.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
