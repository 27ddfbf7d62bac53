//! How names, emails and organisations are compared: each is folded to a key (lower case,
//! accents and punctuation gone, words sorted, so "Lovelace, Ada" is "Ada Lovelace"), and a
//! name also gets its one-typo variants. Two names one typo apart share a variant (a
//! substitution deletes to the same string on both sides), so near-matches are found by an
//! index look-up of a few dozen short strings, never by scanning the register.

use std::collections::BTreeSet;

/// Names shorter than this (letters, without spaces) are matched exactly only: one typo in
/// "Al Li" is a different person more often than not.
const MIN_FUZZY_LETTERS: usize = 6;
/// How alike two name keys must be (Damerau–Levenshtein, normalised) to count as a near-match.
pub const MIN_NEAR_SIMILARITY: f64 = 0.8;

/// Words in a name or organisation, folded: ASCII lower case (accents and other scripts
/// transliterated), punctuation as spaces.
fn words(text: &str) -> Vec<String> {
    let folded = deunicode::deunicode(text).to_lowercase();
    folded.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_owned).collect()
}

/// A person's name as a key: its words sorted. Empty when it has no letters or digits.
pub fn name_key(name: &str) -> String {
    let mut words = words(name);
    words.sort();
    words.join(" ")
}

/// A lead's name key as stored: `-` for a name without letters or digits, which matches
/// nothing but says the lead was keyed.
pub fn lead_name_key(first_name: &str, last_name: &str) -> String {
    let key = name_key(&format!("{first_name} {last_name}"));
    if key.is_empty() { UNMATCHABLE.to_owned() } else { key }
}

pub const UNMATCHABLE: &str = "-";

pub fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Legal forms that say nothing about who an organisation is.
const LEGAL_FORMS: &[&str] = &[
    "inc",
    "incorporated",
    "llc",
    "llp",
    "lp",
    "ltd",
    "limited",
    "corp",
    "corporation",
    "co",
    "company",
    "plc",
    "gmbh",
    "ag",
    "sa",
    "sarl",
    "bv",
    "nv",
    "pc",
    "pllc",
    "the",
    "and",
];

/// An organisation as a key: its words without legal forms, run together ("Acme Corp." and
/// "ACME, Inc." are both "acme"), so that it also compares with an email domain's name.
pub fn organization_key(organization: &str) -> String {
    words(organization).into_iter().filter(|w| !LEGAL_FORMS.contains(&w.as_str())).collect()
}

/// Mail providers whose domain says nothing about where a person works.
const PERSONAL_MAIL: &[&str] = &[
    "gmail",
    "googlemail",
    "outlook",
    "hotmail",
    "live",
    "msn",
    "yahoo",
    "ymail",
    "icloud",
    "me",
    "mac",
    "aol",
    "proton",
    "protonmail",
    "pm",
    "gmx",
    "web",
    "mail",
    "yandex",
    "zoho",
    "fastmail",
    "hey",
    "tutanota",
    "qq",
    "example",
];

/// The organisation an email address's domain names, as an organisation key: `acme` for
/// `ada@mail.acme.co.uk`; `None` for personal mail providers.
pub fn email_organization(email: &str) -> Option<String> {
    let domain = email_key(email).rsplit_once('@')?.1.to_owned();
    let labels: Vec<&str> = domain.split('.').filter(|l| !l.is_empty()).collect();
    // The label before the public suffix: skip a two-letter country code and a short second
    // level ("co", "com", "org"…) before it.
    let mut end = labels.len().checked_sub(1)?;
    if end >= 2 && labels[end].len() == 2 && labels[end - 1].len() <= 3 {
        end -= 1;
    }
    let name = *labels.get(end.checked_sub(1)?)?;
    let key = organization_key(name);
    (!key.is_empty() && !PERSONAL_MAIL.contains(&name)).then_some(key)
}

/// The strings a name key is looked up under: itself and, for names long enough, every way of
/// deleting one letter from one word (words re-sorted, so a typo that changes which word sorts
/// first still meets the original).
pub fn name_variants(key: &str) -> BTreeSet<String> {
    let words: Vec<&str> = key.split(' ').filter(|w| !w.is_empty()).collect();
    let mut variants = BTreeSet::new();
    if words.is_empty() || key == UNMATCHABLE {
        return variants;
    }
    variants.insert(key.to_owned());
    if words.iter().map(|w| w.len()).sum::<usize>() < MIN_FUZZY_LETTERS {
        return variants;
    }
    for (i, word) in words.iter().enumerate() {
        for cut in 0..word.len() {
            let shorter = format!("{}{}", &word[..cut], &word[cut + 1..]);
            let mut changed: Vec<&str> = words.clone();
            changed[i] = &shorter;
            changed.retain(|w| !w.is_empty());
            changed.sort_unstable();
            variants.insert(changed.join(" "));
        }
    }
    variants
}

/// How alike two name keys are, 1.0 for the same.
pub fn similarity(a: &str, b: &str) -> f64 {
    strsim::normalized_damerau_levenshtein(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ignore_case_accents_punctuation_and_order() {
        assert_eq!(name_key("Lovelace, Ada"), "ada lovelace");
        assert_eq!(name_key("  ADA   lovelace "), "ada lovelace");
        assert_eq!(name_key("Zoë O'Brien-Núñez"), "brien nunez o zoe");
        assert_eq!(name_key("José Ñúñez"), "jose nunez");
        assert_eq!(name_key("!!!"), "");
    }

    #[test]
    fn one_typo_shares_a_variant() {
        let shared = |a: &str, b: &str| {
            let (a, b) = (name_variants(&name_key(a)), name_variants(&name_key(b)));
            a.intersection(&b).next().is_some()
        };
        assert!(shared("Ada Lovelace", "Ada Lovelase"), "substitution");
        assert!(shared("Ada Lovelace", "Ada Lovelacee"), "insertion");
        assert!(shared("Ada Lovelace", "Ada Lovlace"), "deletion");
        assert!(shared("Ann Marker", "Nnn Marker"), "a typo that changes which word sorts first");
        assert!(!shared("Ada Lovelace", "Grace Hopper"));
        assert!(!shared("Al Li", "Al Lu"), "short names match exactly only");
        assert_eq!(lead_name_key("!!", "?"), UNMATCHABLE);
        assert!(name_variants(UNMATCHABLE).is_empty());
        assert!(similarity(&name_key("Ada Lovelace"), &name_key("Ada Lovelase")) >= MIN_NEAR_SIMILARITY);
    }

    #[test]
    fn organisations_drop_legal_forms_and_compare_with_domains() {
        assert_eq!(organization_key("Acme Corp."), "acme");
        assert_eq!(organization_key("ACME, Inc."), "acme");
        assert_eq!(organization_key("Wayne Enterprises LLC"), "wayneenterprises");
        assert_eq!(email_organization("ada@acme.com").as_deref(), Some("acme"));
        assert_eq!(email_organization("ada@mail.acme.co.uk").as_deref(), Some("acme"));
        assert_eq!(email_organization("ada@wayneenterprises.io").as_deref(), Some("wayneenterprises"));
        assert_eq!(email_organization("ada@gmail.com"), None);
        assert_eq!(email_organization("not an email"), None);
    }
}
