//! The lead domain: submission (with its résumé, mails and link to earlier submissions), the
//! list with its filters and cursors, changes by attorneys, history, assignment, numbers, and
//! the group-commit writer. It uses `infra` (and `accounts` for who gets notified), never `web`.

pub mod assignment;
pub mod changes;
pub mod file_links;
pub mod history;
pub mod list;
pub mod resume;
pub mod stats;
pub mod submission;
pub mod writer;
