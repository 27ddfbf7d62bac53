//! Sending mail: SMTP through lettre, or `.eml` files in the data dir for the embedded default.

pub mod messages;
mod smtp;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use url::Url;

use anyhow::Context;
use lettre::{Message, message::Mailbox};
use smtp::SmtpPool;

use super::error_chain;
use uuid::Uuid;

#[derive(Clone)]
pub struct MailSettings {
    pub transport: MailTransport,
    pub from: Mailbox,
    /// Where the prospect's replies to the acknowledgement go; `None`: to `from`.
    pub reply_to: Option<Mailbox>,
    /// Explicit attorney notification recipients; `None` means the active attorneys.
    pub notify: Option<Vec<String>>,
}

impl Default for MailSettings {
    /// `.eml` files in `./data/mail`, from `Intake <no-reply@localhost>`, to the attorneys.
    fn default() -> Self {
        Self {
            transport: MailTransport::Files(PathBuf::from("./data/mail")),
            from: "Intake <no-reply@localhost>".parse().expect("a valid mailbox"),
            reply_to: None,
            notify: None,
        }
    }
}

#[derive(Clone)]
pub enum MailTransport {
    Smtp(SmtpSettings),
    /// Writes each message as `<job id>.eml` into this folder.
    Files(PathBuf),
}

#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub credentials: Option<(String, String)>,
}

impl SmtpSettings {
    /// Reads `smtp://user:pass@host:587` (STARTTLS), `smtps://…` (TLS) or
    /// `smtp://host:1025?tls=none` (plain, local relays only).
    pub fn from_url(raw: &str) -> Result<Self, String> {
        let url = Url::parse(raw).map_err(|e| format!("not a URL ({e}); e.g. smtp://user:pass@host:587"))?;
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or("has no host")?.to_owned();
        let tls_param = url.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v.into_owned());
        let tls = match (url.scheme(), tls_param.as_deref()) {
            ("smtps", None) => SmtpTls::Implicit,
            ("smtp", None | Some("starttls" | "required")) => SmtpTls::StartTls,
            ("smtp", Some("none")) => SmtpTls::None,
            (scheme @ ("smtp" | "smtps"), Some(other)) => {
                return Err(format!(
                    "tls={other} is not supported with {scheme}:// (use tls=none or tls=starttls with smtp://)"
                ));
            }
            (scheme, _) => return Err(format!("scheme '{scheme}' is not smtp or smtps")),
        };
        let port = url.port().unwrap_or(match tls {
            SmtpTls::Implicit => 465,
            SmtpTls::StartTls => 587,
            SmtpTls::None => 25,
        });
        let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
        let credentials =
            (!url.username().is_empty()).then(|| (decode(url.username()), decode(url.password().unwrap_or(""))));
        Ok(Self { host, port, tls, credentials })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// `smtp://`: plain connection upgraded with STARTTLS, which must succeed.
    StartTls,
    /// `smtps://`: TLS from the first byte.
    Implicit,
    /// `smtp://…?tls=none`: no encryption, for local relays and test sinks.
    None,
}

#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
    pub firm_name: String,
}

#[derive(Clone)]
enum Transport {
    Smtp(Arc<SmtpPool>),
    Files(PathBuf),
}

/// The `.eml` copies the file transport keeps, so that an erasure can remove a person's mails;
/// with SMTP there are none.
#[derive(Clone, Default)]
pub struct MailCopies(Option<PathBuf>);

impl MailCopies {
    /// Whether there are copies to remove at all.
    pub fn kept(&self) -> bool {
        self.0.is_some()
    }

    /// Removes the copy of the mail of job `job_id`, if there is one.
    pub async fn remove(&self, job_id: Uuid) -> std::io::Result<()> {
        let Some(dir) = &self.0 else { return Ok(()) };
        match tokio::fs::remove_file(copy_path(dir, job_id)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

fn copy_path(dir: &Path, job_id: Uuid) -> PathBuf {
    dir.join(format!("{job_id}.eml"))
}

/// Written beside its final name and renamed into place: a reader never sees half a message,
/// and a resend after a crash replaces the copy instead of adding one. Both in one hop off the
/// async threads (as `tokio::fs` calls, two).
async fn write_copy(dir: &Path, job_id: Uuid, message: Vec<u8>) -> std::io::Result<()> {
    let staged = dir.join(format!(".{job_id}.eml.part"));
    let placed = copy_path(dir, job_id);
    tokio::task::spawn_blocking(move || {
        std::fs::write(&staged, message)?;
        std::fs::rename(&staged, placed)
    })
    .await
    .map_err(std::io::Error::other)?
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later: connection refused, timeouts, 4xx answers.
    #[error("{0}")]
    Transient(String),
    /// The server refused for good (5xx), e.g. an unknown mailbox.
    #[error("{0}")]
    Permanent(String),
}

impl Mailer {
    /// `connections`: how many SMTP connections the pool keeps open for concurrent sends.
    pub fn new(settings: &MailSettings, firm_name: &str, connections: u32) -> anyhow::Result<Self> {
        let transport = match &settings.transport {
            MailTransport::Files(dir) => {
                std::fs::create_dir_all(dir).with_context(|| format!("creating mail folder {}", dir.display()))?;
                Transport::Files(dir.clone())
            }
            MailTransport::Smtp(smtp) => Transport::Smtp(Arc::new(SmtpPool::new(smtp, connections as usize)?)),
        };
        Ok(Self {
            transport,
            from: settings.from.clone(),
            reply_to: settings.reply_to.clone(),
            firm_name: firm_name.to_owned(),
        })
    }

    /// Sends the message of job `job_id` (the file transport names its copy after the job).
    pub async fn send(&self, job_id: Uuid, message: Message) -> Result<(), SendError> {
        match &self.transport {
            Transport::Smtp(pool) => pool.send(message.envelope(), &message.formatted()).await,
            Transport::Files(dir) => {
                write_copy(dir, job_id, message.formatted()).await.map_err(|e| SendError::Transient(error_chain(&e)))
            }
        }
    }

    pub fn copies(&self) -> MailCopies {
        match &self.transport {
            Transport::Files(dir) => MailCopies(Some(dir.clone())),
            Transport::Smtp(_) => MailCopies(None),
        }
    }
}

/// Permanent when the server refused for good; but 53x answers (authentication required or
/// refused) are our own misconfiguration: retried, so fixing the settings delivers the mail.
fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    let auth_problem = e.status().is_some_and(|code| code.to_string().starts_with("53"));
    if e.is_permanent() && !auth_problem {
        SendError::Permanent(error_chain(e))
    } else {
        SendError::Transient(error_chain(e))
    }
}
