//! Validation rules shared by the GraphQL inputs, the CLI and the configuration.

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

pub const MAX_NAME_CHARS: usize = 100;
const MAX_EMAIL_CHARS: usize = 254;

/// Returns the trimmed address, or why it is not one a person could receive mail at.
pub fn email(raw: &str) -> Result<String, String> {
    let value = raw.trim();
    if value.is_empty() {
        return Err("is required".into());
    }
    if value.chars().count() > MAX_EMAIL_CHARS {
        return Err(format!("must be at most {MAX_EMAIL_CHARS} characters"));
    }
    let parsed: email_address::EmailAddress =
        value.parse().map_err(|_| "is not a valid email address (expected name@example.com)".to_owned())?;
    // The RFC allows quoted local parts and dotless domains; no real prospect uses them,
    // and accepting them would only let typos through.
    let domain = parsed.domain();
    let plain = value.chars().all(|c| !c.is_whitespace() && !c.is_control() && c != '"');
    let labels_ok = domain.split('.').all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
    if !plain || !labels_ok || (!domain.contains('.') && domain != "localhost") {
        return Err("is not a valid email address (expected name@example.com)".into());
    }
    Ok(value.to_owned())
}

/// Returns the trimmed name, or why it is unusable.
pub fn person_name(raw: &str) -> Result<String, String> {
    let value = raw.trim();
    if value.is_empty() {
        return Err("is required".into());
    }
    if value.chars().count() > MAX_NAME_CHARS {
        return Err(format!("must be at most {MAX_NAME_CHARS} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(value.to_owned())
}

/// Free text that may be left out: trimmed, empty as none, at most `max_chars`.
pub fn optional_text(raw: Option<String>, max_chars: usize) -> Result<Option<String>, String> {
    let text = raw.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    if text.as_ref().is_some_and(|t| t.chars().count() > max_chars) {
        return Err(format!("must be at most {max_chars} characters"));
    }
    Ok(text)
}

pub fn password(raw: &str) -> Result<(), String> {
    if raw.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!("must be at least {MIN_PASSWORD_CHARS} characters"));
    }
    if raw.len() > 1024 {
        return Err("must be at most 1024 bytes".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(email("  ada@lovelace.example ").unwrap(), "ada@lovelace.example");
        assert!(email("admin@localhost").is_ok());
        for bad in ["", "ada", "ada@", "@x.com", "ada@x", "a b@x.com", "ada@-x.com", "ada@x..com", "\"a\"@x.com"] {
            assert!(email(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn names() {
        assert_eq!(person_name(" Zoë ").unwrap(), "Zoë");
        assert!(person_name("   ").is_err());
        assert!(person_name(&"x".repeat(101)).is_err());
        assert!(person_name("a\u{0}b").is_err());
    }

    #[test]
    fn passwords() {
        assert!(password("short").is_err());
        assert!(password("long enough pass").is_ok());
    }
}
