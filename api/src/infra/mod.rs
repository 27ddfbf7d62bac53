//! What the domains stand on: the database and migrations, résumé storage, mail transport and
//! templates, the one change announcer (`announce.rs`: worker wake-ups, NOTIFY/LISTEN,
//! subscriptions, freshness of kept answers), abuse limits, metrics, guarded outbound HTTP (webhooks), secrets, masking, the clock,
//! input validation. Nothing here uses `leads`, `accounts`, `web` or `app`.

pub mod announce;
pub mod clock;
pub mod db;
pub mod freshness;
pub mod lease;
pub mod limits;
pub mod listen;
pub mod mail;
pub mod mask;
pub mod metrics;
pub mod outbound;
pub mod secrets;
pub mod storage;
pub mod validate;

/// An error with its causes, `outer: inner: innermost`, as a receiver or a mail server's
/// answer is best read.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
