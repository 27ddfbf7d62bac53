//! What the lead functions need, and nothing more: the database, the résumé store, the
//! group-commit writer, the announcer, the staff to notify, how recent searches were found,
//! download links, the mail copies an erasure removes, the few settings they read, and the work
//! they leave running.

use std::{sync::Arc, time::Duration};

use sea_orm::DatabaseConnection;
use tokio_util::task::TaskTracker;

use super::privacy::retention::RetentionPeriod;
use super::{deadline::DeadlineSettings, file_links::FileLinks, list::SearchWays, writer::LeadWriter};
use crate::accounts::users::StaffDirectory;
use crate::infra::{announce::Announcer, mail::MailCopies, storage::Storage};

#[derive(Clone)]
pub struct Leads {
    pub db: DatabaseConnection,
    pub storage: Storage,
    pub writer: LeadWriter,
    pub announcer: Announcer,
    /// Who is told of new leads.
    pub staff: StaffDirectory,
    /// How recent searches were found best (`list::SearchWays`).
    pub search_ways: Arc<SearchWays>,
    pub links: Arc<FileLinks>,
    /// The file transport's `.eml` copies, which an erasure removes.
    pub mail_copies: MailCopies,
    pub settings: Arc<LeadSettings>,
    /// Submissions and corrections that run on without their request; shutdown waits for them.
    pub tasks: TaskTracker,
}

pub struct LeadSettings {
    /// Base of links in mails, without a trailing slash.
    pub public_url: String,
    /// Largest résumé accepted.
    pub max_upload_bytes: u64,
    /// Explicit notification recipients; `None`: the active attorneys.
    pub notify: Option<Vec<String>>,
    /// How long a résumé download link works.
    pub download_link_ttl: Duration,
    /// When a new lead must be answered.
    pub deadline: DeadlineSettings,
    /// SHA-256 (hex) of `INTAKE_CONSENT_TEXT`, stored with each consent given.
    pub consent_text_version: String,
    /// `INTAKE_REQUIRE_CONSENT`: a submission without consent is refused.
    pub require_consent: bool,
    /// Named in the mails, which an export renders again.
    pub firm_name: String,
    /// `INTAKE_RETENTION`: how long leads are kept; `None`, until erased by hand.
    pub retention: Option<RetentionPeriod>,
}
