//! A real SMTP server in the test process: it speaks the protocol to lettre over TCP, keeps
//! what it receives, and can be told to fail.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
};

#[derive(Clone, Debug)]
pub struct ReceivedMail {
    /// The user the client authenticated as, if it did.
    pub authenticated_as: Option<String>,
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: String,
}

impl ReceivedMail {
    pub fn parsed(&self) -> mailparse::ParsedMail<'_> {
        mailparse::parse_mail(self.data.as_bytes()).expect("a parseable message")
    }

    pub fn header(&self, name: &str) -> String {
        use mailparse::MailHeaderMap;
        self.parsed().headers.get_first_value(name).unwrap_or_default()
    }

    /// The decoded text/plain and text/html parts.
    pub fn bodies(&self) -> (String, String) {
        let parsed = self.parsed();
        let mut text = String::new();
        let mut html = String::new();
        for part in parsed.subparts.iter().chain(std::iter::once(&parsed)) {
            match part.ctype.mimetype.as_str() {
                "text/plain" => text = part.get_body().unwrap(),
                "text/html" => html = part.get_body().unwrap(),
                _ => {}
            }
        }
        (text, html)
    }
}

#[derive(Default)]
struct Behaviour {
    /// Answer 451 to this many messages at the end of DATA.
    temp_failures: usize,
    /// Answer 550 to RCPT TO for these addresses.
    rejected: HashSet<String>,
    /// When set, AUTH PLAIN with this user and password is required before MAIL FROM.
    credentials: Option<(String, String)>,
    /// Answer every connection with 421 and hang up, as a server that is down for maintenance.
    down: bool,
    /// Wait this long before accepting each message, as a slow server.
    delay: Duration,
}

#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    received: Arc<Mutex<Vec<ReceivedMail>>>,
    behaviour: Arc<Mutex<Behaviour>>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink = Self {
            port: listener.local_addr().unwrap().port(),
            received: Default::default(),
            behaviour: Default::default(),
        };
        let server = sink.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let conn = server.clone();
                tokio::spawn(async move { conn.session(stream).await });
            }
        });
        sink
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.received.lock().unwrap().clone()
    }

    pub fn fail_next(&self, n: usize) {
        self.behaviour.lock().unwrap().temp_failures = n;
    }

    pub fn set_down(&self, down: bool) {
        self.behaviour.lock().unwrap().down = down;
    }

    pub fn set_delay(&self, delay: Duration) {
        self.behaviour.lock().unwrap().delay = delay;
    }

    pub fn require_auth(&self, user: &str, password: &str) {
        self.behaviour.lock().unwrap().credentials = Some((user.into(), password.into()));
    }

    pub fn unreject(&self, address: &str) {
        self.behaviour.lock().unwrap().rejected.remove(&address.to_lowercase());
    }

    pub fn reject(&self, address: &str) {
        self.behaviour.lock().unwrap().rejected.insert(address.to_lowercase());
    }

    /// Waits for at least `n` messages, for the tests that watch the background worker.
    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let got = self.messages();
            if got.len() >= n || tokio::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn session(self, stream: TcpStream) {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        if self.behaviour.lock().unwrap().down {
            let _ = write.write_all(b"421 4.3.2 sink.test service not available, try again later\r\n").await;
            return;
        }
        let _ = write.write_all(b"220 sink.test ESMTP test sink\r\n").await;
        let mut mail_from = String::new();
        let mut rcpt_to = Vec::new();
        let mut authenticated_as = None;
        while let Ok(Some(line)) = lines.next_line().await {
            let upper = line.to_ascii_uppercase();
            let credentials = self.behaviour.lock().unwrap().credentials.clone();
            let reply: String = if upper.starts_with("EHLO") {
                let auth = if credentials.is_some() { "250-AUTH PLAIN\r\n" } else { "" };
                format!("250-sink.test\r\n250-PIPELINING\r\n{auth}250 8BITMIME")
            } else if upper.starts_with("AUTH PLAIN ") {
                use base64::Engine;
                let decoded = base64::engine::general_purpose::STANDARD.decode(line[11..].trim()).unwrap_or_default();
                let parts: Vec<String> =
                    decoded.split(|b| *b == 0).map(|p| String::from_utf8_lossy(p).into_owned()).collect();
                match (&credentials, parts.as_slice()) {
                    (Some((user, pass)), [_, u, p]) if u == user && p == pass => {
                        authenticated_as = Some(u.clone());
                        "235 2.7.0 authenticated".into()
                    }
                    _ => "535 5.7.8 authentication credentials invalid".into(),
                }
            } else if upper.starts_with("MAIL FROM:") && credentials.is_some() && authenticated_as.is_none() {
                "530 5.7.0 authentication required".into()
            } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
                "250 OK".into()
            } else if upper.starts_with("RSET") {
                mail_from.clear();
                rcpt_to.clear();
                "250 OK".into()
            } else if upper.starts_with("MAIL FROM:") {
                mail_from = address(&line);
                rcpt_to.clear();
                "250 OK".into()
            } else if upper.starts_with("RCPT TO:") {
                let to = address(&line);
                if self.behaviour.lock().unwrap().rejected.contains(&to.to_lowercase()) {
                    format!("550 5.1.1 <{to}>: mailbox unavailable")
                } else {
                    rcpt_to.push(to);
                    "250 OK".into()
                }
            } else if upper == "DATA" {
                let _ = write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await;
                let mut data = String::new();
                while let Ok(Some(l)) = lines.next_line().await {
                    if l == "." {
                        break;
                    }
                    data.push_str(l.strip_prefix('.').unwrap_or(&l));
                    data.push_str("\r\n");
                }
                let delay = self.behaviour.lock().unwrap().delay;
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let fail = {
                    let mut b = self.behaviour.lock().unwrap();
                    let fail = b.temp_failures > 0;
                    b.temp_failures = b.temp_failures.saturating_sub(1);
                    fail
                };
                if fail {
                    "451 4.3.0 mailbox busy, try again later".into()
                } else {
                    self.received.lock().unwrap().push(ReceivedMail {
                        authenticated_as: authenticated_as.clone(),
                        mail_from: mail_from.clone(),
                        rcpt_to: std::mem::take(&mut rcpt_to),
                        data,
                    });
                    "250 2.0.0 queued".into()
                }
            } else if upper.starts_with("QUIT") {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            } else {
                "500 unrecognised command".into()
            };
            if write.write_all(format!("{reply}\r\n").as_bytes()).await.is_err() {
                return;
            }
        }
    }
}

fn address(line: &str) -> String {
    let start = line.find('<').map(|i| i + 1).unwrap_or(0);
    let end = line[start..].find('>').map(|i| i + start).unwrap_or(line.len());
    line[start..end].to_owned()
}
