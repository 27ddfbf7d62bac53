//! Short-lived signed links to résumés and exports: usable without the Authorization header (a
//! browser download), worthless once expired or altered, and issued to one user, whose id they
//! carry signed so that the download is recorded against them and ends with their access.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

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
        mac.update(b"intake file links v2");
        Self { key: mac.finalize().into_bytes().to_vec(), base_url: base_url.to_owned(), ttl }
    }

    /// A link to `path` (`files/<key>`, `exports/<lead id>`) for `user`.
    pub fn url(&self, path: &str, user: Uuid, now: DateTime<Utc>) -> String {
        self.url_valid_for(path, user, now, self.ttl)
    }

    /// As `url`, valid for `ttl` instead of the usual time (a webhook's link, for one).
    pub fn url_valid_for(&self, path: &str, user: Uuid, now: DateTime<Utc>, ttl: Duration) -> String {
        let expires = now.timestamp() + ttl.as_secs() as i64;
        format!("{}/{path}?user={user}&expires={expires}&sig={}", self.base_url, self.sign(path, user, expires))
    }

    pub fn verify(&self, path: &str, user: Uuid, expires: i64, sig: &str, now: DateTime<Utc>) -> Result<(), LinkError> {
        let given = URL_SAFE_NO_PAD.decode(sig).map_err(|_| LinkError::BadSignature)?;
        self.mac(path, user, expires).verify_slice(&given).map_err(|_| LinkError::BadSignature)?;
        if now.timestamp() > expires {
            return Err(LinkError::Expired);
        }
        Ok(())
    }

    fn sign(&self, path: &str, user: Uuid, expires: i64) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(path, user, expires).finalize().into_bytes())
    }

    fn mac(&self, path: &str, user: Uuid, expires: i64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(path.as_bytes());
        mac.update(b"\n");
        mac.update(user.as_bytes());
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
        let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let url = links.url("files/resumes/a.pdf", alice, now);
        let query = url.split_once('?').unwrap().1;
        let param = |name: &str| query.split('&').find_map(|p| p.strip_prefix(name)).unwrap().to_owned();
        let expires: i64 = param("expires=").parse().unwrap();
        let sig = param("sig=");
        assert_eq!(param("user="), alice.to_string());
        assert_eq!(links.verify("files/resumes/a.pdf", alice, expires, &sig, now), Ok(()));
        assert_eq!(links.verify("files/resumes/b.pdf", alice, expires, &sig, now), Err(LinkError::BadSignature));
        assert_eq!(links.verify("files/resumes/a.pdf", bob, expires, &sig, now), Err(LinkError::BadSignature));
        assert_eq!(links.verify("files/resumes/a.pdf", alice, expires + 1, &sig, now), Err(LinkError::BadSignature));
        let later = now + chrono::Duration::seconds(61);
        assert_eq!(links.verify("files/resumes/a.pdf", alice, expires, &sig, later), Err(LinkError::Expired));
    }
}
