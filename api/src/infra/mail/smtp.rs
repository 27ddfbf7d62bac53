//! SMTP delivery over a pool of lettre connections whose sockets we open ourselves, with
//! TCP_NODELAY: lettre writes a message body and its `.` terminator separately, and with
//! Nagle's algorithm on, the terminator waits for the server's delayed ACK, about 40 ms a mail.
//! (Implicit TLS, `smtps://`, still connects through lettre, which does not set it.)

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use lettre::{
    address::Envelope,
    transport::smtp::{
        authentication::{Credentials, Mechanism},
        client::{AsyncSmtpConnection, TlsParameters},
        extension::ClientId,
    },
};
use tokio::net::TcpStream;

use super::SendError;
use super::{SmtpSettings, SmtpTls};

const TIMEOUT: Duration = Duration::from_secs(30);
/// A connection idle longer than this is checked with NOOP before use: servers drop idle ones.
const STALE_AFTER: Duration = Duration::from_secs(20);

pub struct SmtpPool {
    settings: SmtpSettings,
    tls: Option<TlsParameters>,
    hello: ClientId,
    max_idle: usize,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

impl SmtpPool {
    /// `max_idle`: connections kept open between sends (one per concurrent sender is enough).
    pub fn new(settings: &SmtpSettings, max_idle: usize) -> anyhow::Result<Self> {
        let tls = match settings.tls {
            SmtpTls::None => None,
            SmtpTls::StartTls | SmtpTls::Implicit => Some(TlsParameters::new(settings.host.clone())?),
        };
        Ok(Self { settings: settings.clone(), tls, hello: ClientId::default(), max_idle, idle: Mutex::new(Vec::new()) })
    }

    pub async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<(), SendError> {
        let mut conn = self.checkout().await?;
        let sent = tokio::time::timeout(TIMEOUT, conn.send(envelope, message))
            .await
            .map_err(|_| SendError::Transient("the SMTP server did not answer in time".into()))?;
        match sent {
            Ok(_) => {
                if !conn.has_broken() {
                    let mut idle = self.idle.lock().expect("pool lock poisoned");
                    if idle.len() < self.max_idle {
                        idle.push((conn, Instant::now()));
                    }
                }
                Ok(())
            }
            Err(e) => Err(super::classify(&e)),
        }
    }

    async fn checkout(&self) -> Result<AsyncSmtpConnection, SendError> {
        loop {
            let popped = self.idle.lock().expect("pool lock poisoned").pop();
            match popped {
                Some((mut conn, since)) => {
                    if since.elapsed() < STALE_AFTER || conn.test_connected().await {
                        return Ok(conn);
                    }
                }
                None => return self.connect().await,
            }
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let s = &self.settings;
        let transient = |what: &str, e: &dyn std::fmt::Display| SendError::Transient(format!("{what}: {e}"));
        let mut conn = match (s.tls, &self.tls) {
            (SmtpTls::Implicit, Some(tls)) => AsyncSmtpConnection::connect_tokio1(
                (s.host.as_str(), s.port),
                Some(TIMEOUT),
                &self.hello,
                Some(tls.clone()),
                None,
            )
            .await
            .map_err(|e| super::classify(&e))?,
            _ => {
                let tcp = tokio::time::timeout(TIMEOUT, TcpStream::connect((s.host.as_str(), s.port)))
                    .await
                    .map_err(|_| SendError::Transient(format!("connecting to {}:{} timed out", s.host, s.port)))?
                    .map_err(|e| transient(&format!("connecting to {}:{}", s.host, s.port), &e))?;
                tcp.set_nodelay(true).map_err(|e| transient("setting TCP_NODELAY", &e))?;
                AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello)
                    .await
                    .map_err(|e| super::classify(&e))?
            }
        };
        if let (SmtpTls::StartTls, Some(tls)) = (s.tls, &self.tls) {
            if !conn.can_starttls() {
                return Err(SendError::Transient(
                    "the SMTP server does not offer STARTTLS, which smtp:// requires (use ?tls=none only for local relays)"
                        .into(),
                ));
            }
            conn.starttls(tls.clone(), &self.hello).await.map_err(|e| super::classify(&e))?;
        }
        if let Some((user, pass)) = &s.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], &Credentials::new(user.clone(), pass.clone()))
                .await
                .map_err(|e| super::classify(&e))?;
        }
        Ok(conn)
    }
}
