//! Where a lead came from: a source (`website`, an API key's name, what an integrator sends)
//! and the marketing attribution the form reads off its page (UTM parameters, click ids,
//! referrer, landing page).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::AppError;

pub const MAX_SOURCE_CHARS: usize = 100;
const MAX_VALUE_CHARS: usize = 200;
const MAX_URL_CHARS: usize = 2000;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attribution {
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub utm_term: Option<String>,
    pub utm_content: Option<String>,
    pub referrer: Option<String>,
    pub landing_page: Option<String>,
    pub gclid: Option<String>,
    pub fbclid: Option<String>,
}

/// Trimmed, empty as absent, without control characters, at most `max` characters.
fn clean(value: Option<String>, field: &'static str, max: usize) -> Result<Option<String>, AppError> {
    let Some(value) = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) else { return Ok(None) };
    if value.chars().any(char::is_control) {
        return Err(AppError::bad_input(field, "must not contain control characters"));
    }
    if value.chars().count() > max {
        return Err(AppError::bad_input(field, format!("must be at most {max} characters")));
    }
    Ok(Some(value))
}

fn url(value: Option<String>, field: &'static str) -> Result<Option<String>, AppError> {
    let Some(value) = clean(value, field, MAX_URL_CHARS)? else { return Ok(None) };
    match url::Url::parse(&value) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(Some(value)),
        _ => Err(AppError::bad_input(field, "must be an http or https URL")),
    }
}

/// The source as stored, or a clear error naming the field.
pub fn source(raw: Option<String>) -> Result<Option<String>, AppError> {
    clean(raw, "source", MAX_SOURCE_CHARS)
}

impl Attribution {
    /// Checked field by field; `None` when nothing is left.
    pub fn checked(self) -> Result<Option<Value>, AppError> {
        let checked = Self {
            utm_source: clean(self.utm_source, "attribution.utmSource", MAX_VALUE_CHARS)?,
            utm_medium: clean(self.utm_medium, "attribution.utmMedium", MAX_VALUE_CHARS)?,
            utm_campaign: clean(self.utm_campaign, "attribution.utmCampaign", MAX_VALUE_CHARS)?,
            utm_term: clean(self.utm_term, "attribution.utmTerm", MAX_VALUE_CHARS)?,
            utm_content: clean(self.utm_content, "attribution.utmContent", MAX_VALUE_CHARS)?,
            referrer: url(self.referrer, "attribution.referrer")?,
            landing_page: url(self.landing_page, "attribution.landingPage")?,
            gclid: clean(self.gclid, "attribution.gclid", MAX_VALUE_CHARS)?,
            fbclid: clean(self.fbclid, "attribution.fbclid", MAX_VALUE_CHARS)?,
        };
        Ok((checked != Self::default()).then(|| serde_json::to_value(checked).expect("attribution serialises")))
    }

    pub fn read(stored: Option<&Value>) -> Option<Self> {
        serde_json::from_value(stored?.clone()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_bounded_and_urls_checked() {
        let long = "x".repeat(201);
        let bad = Attribution { utm_campaign: Some(long), ..Default::default() };
        assert_eq!(bad.checked().unwrap_err().field(), Some("attribution.utmCampaign"));
        let bad = Attribution { referrer: Some("javascript:alert(1)".into()), ..Default::default() };
        assert_eq!(bad.checked().unwrap_err().field(), Some("attribution.referrer"));
        assert_eq!(Attribution { utm_source: Some("  ".into()), ..Default::default() }.checked().unwrap(), None);
        let good = Attribution { utm_source: Some("google".into()), ..Default::default() }.checked().unwrap().unwrap();
        assert_eq!(good["utmSource"], "google");
        assert_eq!(source(Some("x".repeat(101))).unwrap_err().field(), Some("source"));
    }
}
