//! The lead domain: submission (with its résumé, mails and link to earlier submissions), the
//! list with its filters and cursors, changes by attorneys, history, assignment, numbers, the
//! group-commit writer and the mail outbox; the firm's duties: the conflict check, the
//! outcome and the response deadline; personal data (access record, export, erasure,
//! retention). Its functions take the `Leads` service (what they
//! need, nothing more) and, where a role is needed, the proof of it. It uses `infra` and
//! `accounts` (who gets notified, the role proofs), never `web` or `app`.

pub mod assignment;
pub mod attribution;
pub mod changes;
pub mod conflicts;
pub mod deadline;
pub mod file_links;
pub mod history;
pub mod list;
pub mod outbox;
pub mod outcome;
pub mod privacy;
pub mod resume;
pub mod service;
pub mod stats;
pub mod submission;
pub mod webhooks;
pub mod writer;
