//! Sending mail: SMTP through lettre, or `.eml` files in the data dir for the embedded default.

pub mod messages;
mod smtp;

use std::sync::Arc;

use anyhow::Context;
use lettre::{AsyncFileTransport, AsyncTransport, Message, Tokio1Executor, message::Mailbox};
use smtp::SmtpPool;

use crate::app::config::{MailSettings, MailTransport};

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

/// `ada@lovelace.example` → `a***@lovelace.example`: enough to tell mails apart in logs
/// without writing personal data into them.
pub fn mask_email(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

/// Masks every email address in free text (error chains that quote database values, say).
pub fn mask_emails_in(text: &str) -> String {
    let is_local = |c: char| c.is_ascii_alphanumeric() || "._%+-".contains(c);
    let is_domain = |c: char| c.is_ascii_alphanumeric() || ".-".contains(c);
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '@' {
            let mut start = i;
            while start > 0 && is_local(chars[start - 1]) {
                start -= 1;
            }
            let mut end = i + 1;
            while end < chars.len() && is_domain(chars[end]) {
                end += 1;
            }
            let local_len = i - start;
            if local_len > 0 && end > i + 1 {
                // Drop the local part already copied, keep its first character.
                for _ in 0..local_len {
                    out.pop();
                }
                let address: String = chars[start..end].iter().collect();
                out.push_str(&mask_email(&address));
                i = end;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_masked_in_logs() {
        assert_eq!(mask_email("ada@lovelace.example"), "a***@lovelace.example");
        assert_eq!(
            mask_emails_in("Key (email)=(ada.l+cv@lovelace.example) already exists; see bob@x.io."),
            "Key (email)=(a***@lovelace.example) already exists; see b***@x.io."
        );
        assert_eq!(mask_emails_in("no address @ all"), "no address @ all");
    }
}
