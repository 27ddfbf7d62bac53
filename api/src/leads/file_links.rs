//! Short-lived signed links to résumés: usable without the Authorization header (a browser
//! download), worthless once expired or altered.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

#[derive(Clone)]
pub struct FileLinks {
    key: Vec<u8>,
    base_url: String,
    ttl: Duration,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("this download link has expired; fetch the lead again for a fresh one")]
    Expired,
    #[error("this download link is not valid")]
    BadSignature,
}

impl FileLinks {
    /// The signing key is derived from the JWT secret so that one secret serves both, while a
    /// signature of one kind can never pass for the other.
    pub fn new(secret: &[u8], base_url: &str, ttl: Duration) -> Self {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"intake file links v1");
        Self { key: mac.finalize().into_bytes().to_vec(), base_url: base_url.to_owned(), ttl }
    }

    pub fn url(&self, key: &str, now: DateTime<Utc>) -> String {
        let expires = now.timestamp() + self.ttl.as_secs() as i64;
        format!("{}/files/{key}?expires={expires}&sig={}", self.base_url, self.sign(key, expires))
    }

    pub fn verify(&self, key: &str, expires: i64, sig: &str, now: DateTime<Utc>) -> Result<(), LinkError> {
        let given = URL_SAFE_NO_PAD.decode(sig).map_err(|_| LinkError::BadSignature)?;
        self.mac(key, expires).verify_slice(&given).map_err(|_| LinkError::BadSignature)?;
        if now.timestamp() > expires {
            return Err(LinkError::Expired);
        }
        Ok(())
    }

    fn sign(&self, key: &str, expires: i64) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(key, expires).finalize().into_bytes())
    }

    fn mac(&self, key: &str, expires: i64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(key.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_verify_until_they_expire_or_change() {
        let links = FileLinks::new(b"0123456789abcdef0123456789abcdef", "http://x", Duration::from_secs(60));
        let now = Utc::now();
        let url = links.url("resumes/a.pdf", now);
        let query = url.split_once('?').unwrap().1;
        let expires: i64 = query.split('&').next().unwrap()["expires=".len()..].parse().unwrap();
        let sig = &query[query.find("sig=").unwrap() + 4..];
        assert_eq!(links.verify("resumes/a.pdf", expires, sig, now), Ok(()));
        assert_eq!(links.verify("resumes/b.pdf", expires, sig, now), Err(LinkError::BadSignature));
        assert_eq!(links.verify("resumes/a.pdf", expires + 1, sig, now), Err(LinkError::BadSignature));
        let later = now + chrono::Duration::seconds(61);
        assert_eq!(links.verify("resumes/a.pdf", expires, sig, later), Err(LinkError::Expired));
    }
}
