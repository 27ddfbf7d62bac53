//! Masking and redaction for messages and logs: personal data and secrets stay out of them.
//! A leaf: it uses nothing of Intake's.

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

/// A database URL with its password replaced, for messages and logs.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => raw.to_owned(),
    }
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
