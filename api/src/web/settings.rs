//! The web layer's settings, filled in from the configuration at start-up.

use std::{net::SocketAddr, time::Duration};

#[derive(Clone, Debug)]
pub struct WebSettings {
    /// Base of links, without a trailing slash.
    pub public_url: String,
    /// The public intake form at `/` and `/form`.
    pub public_form: bool,
    pub firm_name: String,
    /// Browser origins allowed to call the API cross-origin; empty: same origin only.
    pub cors_origins: Vec<String>,
    /// Proxies whose X-Forwarded-For is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub introspection: bool,
    pub request_timeout: Duration,
    /// How long an answer may be reused when nothing has changed.
    pub read_cache_max_age: Duration,
    /// The most memory kept answers may take, least recently used out first.
    pub read_cache_max_bytes: usize,
    pub max_upload_bytes: u64,
    /// A WebSocket that has not sent `connection_init` by then is closed (4408).
    pub socket_init_timeout: Duration,
    /// Where `/metrics` and the detailed `/readyz` go instead of the public listener.
    pub ops_addr: Option<SocketAddr>,
    /// What the form shows beside its consent box (`INTAKE_CONSENT_TEXT`).
    pub consent_text: String,
}

impl Default for WebSettings {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8000".into(),
            public_form: true,
            firm_name: "Intake".into(),
            consent_text: default_consent_text("Intake"),
            cors_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            introspection: true,
            request_timeout: Duration::from_secs(60),
            read_cache_max_age: Duration::from_millis(1000),
            read_cache_max_bytes: 32 * 1024 * 1024,
            max_upload_bytes: 10 * 1024 * 1024,
            socket_init_timeout: Duration::from_secs(10),
            ops_addr: None,
        }
    }
}

/// The consent sentence when `INTAKE_CONSENT_TEXT` is not set.
pub fn default_consent_text(firm_name: &str) -> String {
    format!("I agree that {firm_name} may store my details and résumé to review my enquiry and contact me about it.")
}
