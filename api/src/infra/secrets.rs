//! The embedded default's generated secret (made once, kept in the data dir, owner-only), and
//! the refusal of secrets that anyone could know.

use std::{io::Write, path::Path};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;

pub fn load_or_create(path: &Path) -> std::io::Result<Vec<u8>> {
    match std::fs::read_to_string(path) {
        Ok(existing) if existing.trim().len() >= 32 => {
            return Ok(existing.trim().as_bytes().to_vec());
        }
        Ok(_) => {
            return Err(std::io::Error::other(format!(
                "{} is shorter than 32 bytes; delete it to generate a new one",
                path.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let secret = random_token(48);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(secret.as_bytes())?;
            file.sync_all()?;
            Ok(secret.into_bytes())
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create(path),
        Err(e) => Err(e),
    }
}

/// `bytes` random bytes from the OS generator, URL-safe base64 encoded.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Values published with Intake (its compose file, examples and tests, old and new): a server
/// signing tokens with one of them would accept tokens forged by anyone who read them.
const PUBLISHED: &[&str] =
    &["compose-placeholder-secret-change-me-in-dot-env", "test-secret-that-is-at-least-32-bytes-long"];
/// Words that mark a value as an unreplaced placeholder.
const PLACEHOLDER_WORDS: &[&str] =
    &["changeme", "change-me", "change_me", "placeholder", "replace-me", "replaceme", "your-secret", "example"];
/// A random secret of 32 bytes or more has far more distinct bytes than this.
const MIN_DISTINCT_BYTES: usize = 16;

/// Why `secret` must not be used to sign anything, if it must not.
pub fn weakness(secret: &[u8]) -> Option<&'static str> {
    let text = String::from_utf8_lossy(secret).to_ascii_lowercase();
    if PUBLISHED.iter().any(|known| text == *known) {
        return Some("is a value published with Intake");
    }
    if PLACEHOLDER_WORDS.iter().any(|word| text.contains(word)) {
        return Some("is a placeholder");
    }
    let distinct = secret.iter().collect::<std::collections::HashSet<_>>().len();
    if distinct < MIN_DISTINCT_BYTES {
        return Some("is too predictable (fewer than 16 different characters)");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_placeholder_and_low_entropy_secrets_are_refused() {
        for weak in [
            "compose-placeholder-secret-change-me-in-dot-env",
            "TEST-SECRET-THAT-IS-AT-LEAST-32-BYTES-LONG",
            "please-CHANGEME-before-going-to-production-0123456789",
            "a".repeat(64).as_str(),
            "abababababababababababababababababababab",
            "0123456789abcde0123456789abcde0123456789",
        ] {
            assert!(weakness(weak.as_bytes()).is_some(), "{weak}");
        }
        assert_eq!(weakness(random_token(48).as_bytes()), None);
        assert_eq!(weakness(b"Vq3nZ8rT1xLmK0pW7yHcJ4sD9fGbN2aE"), None);
    }
}
