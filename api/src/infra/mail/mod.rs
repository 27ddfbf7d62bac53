//! Sending mail: SMTP through lettre, or `.eml` files in the data dir for the embedded default.

pub mod messages;
mod smtp;

use std::{path::PathBuf, sync::Arc};

use anyhow::Context;
use lettre::{AsyncFileTransport, AsyncTransport, Message, Tokio1Executor, message::Mailbox};
use smtp::SmtpPool;

#[derive(Clone)]
pub struct MailSettings {
    pub transport: MailTransport,
    pub from: Mailbox,
    /// Where the prospect's replies to the acknowledgement go; `None`: to `from`.
    pub reply_to: Option<Mailbox>,
    /// Explicit attorney notification recipients; `None` means the active attorneys.
    pub notify: Option<Vec<String>>,
}

#[derive(Clone)]
pub enum MailTransport {
    Smtp(SmtpSettings),
    /// Writes each message as an `.eml` file into this folder.
    Files(PathBuf),
}

#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub credentials: Option<(String, String)>,
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
    Files(AsyncFileTransport<Tokio1Executor>),
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
                Transport::Files(AsyncFileTransport::new(dir))
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

    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        match &self.transport {
            Transport::Smtp(pool) => pool.send(message.envelope(), &message.formatted()).await,
            Transport::Files(files) => {
                files.send(message).await.map(drop).map_err(|e| SendError::Transient(error_chain(&e)))
            }
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

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
