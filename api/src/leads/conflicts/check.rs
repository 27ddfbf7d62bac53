//! The check itself: a lead's email, name and email domain against the register and against
//! other people's earlier leads. One statement of bounded index reads, whatever the register's
//! or the leads' size (`look_up`), then scoring in memory (`judge`).

use chrono::{DateTime, Utc};
use entity::{
    conflict_key, conflict_party,
    lead::{self, ConflictState},
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, QueryFilter, QuerySelect, Statement,
    sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::keys;

/// Hits kept per source, best first: enough for an attorney to judge, bounded for the mail and
/// the row.
const MAX_HITS: usize = 20;

/// Scores of each kind of match; several kinds together score higher than any alone.
const EMAIL_SCORE: f64 = 1.0;
const NAME_SCORE: f64 = 0.9;
const ORGANIZATION_SCORE: f64 = 0.6;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Source {
    Register,
    Lead,
}

/// One match, as stored with the lead (`leads.conflict_hits`) and shown in its mail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hit {
    pub source: Source,
    /// `email`, `name`, `organization`.
    pub matched_on: Vec<String>,
    pub score: f64,
    pub party_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    /// Who matched, as they were when checked (for the mail; the API reads the row itself).
    pub name: String,
    /// The party's role in the register (`ADVERSE_PARTY`…), for register hits.
    #[serde(default)]
    pub role: Option<String>,
    /// An earlier lead of the same person (same email): a repeat, not a conflict.
    #[serde(default)]
    pub same_person: bool,
}

/// What a check is about: the lead's keys, and which leads count as earlier.
pub struct Subject<'a> {
    pub lead_id: Uuid,
    pub name_key: &'a str,
    pub email_key: &'a str,
    pub email: &'a str,
    /// Only leads submitted before this count.
    pub submitted_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub state: ConflictState,
    pub hits: Vec<Hit>,
}

impl Finding {
    /// A hit from the register, or on someone else's lead, needs an attorney's decision; a
    /// repeat submission by the same person does not.
    fn of(hits: Vec<Hit>) -> Self {
        let state =
            if hits.iter().any(|h| !h.same_person) { ConflictState::PossibleConflict } else { ConflictState::Clear };
        Self { state, hits }
    }

    /// The hits that make it a possible conflict.
    pub fn conflicting(&self) -> impl Iterator<Item = &Hit> {
        self.hits.iter().filter(|h| !h.same_person)
    }
}

/// A lead as the check sees it: a first lead (one that repeats no earlier one).
#[derive(Clone, Debug, PartialEq)]
pub struct FirstLead {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub name_key: String,
    pub created_at: DateTime<Utc>,
}

impl From<&lead::Model> for FirstLead {
    fn from(lead: &lead::Model) -> Self {
        Self {
            id: lead.id,
            first_name: lead.first_name.clone(),
            last_name: lead.last_name.clone(),
            name_key: lead.name_key.clone(),
            created_at: lead.created_at,
        }
    }
}

/// Who a lead may conflict with, as `look_up` found them.
pub struct Candidates {
    parties: Vec<Party>,
    /// Other people's first leads whose name key is one of the name's variants.
    others: Vec<FirstLead>,
}

struct Party {
    id: Uuid,
    name: String,
    name_key: String,
    email_key: Option<String>,
    organization_key: Option<String>,
    role: conflict_party::PartyRole,
}

/// The address's first lead (one index entry, through the partial index of first leads,
/// however many repeats the address has), the register's parties with the lead's email,
/// organisation or a name variant (the variants through `conflict_keys`' primary key), and
/// other people's first leads under a variant; each part bounded (50 parties, 50 leads).
/// The first lead is the one a new lead repeats (two first submissions racing each other both
/// count as first). One statement instead of four: on PostgreSQL each round trip cost the
/// database more than the reads themselves.
/// The variants go in as a JSON array, which both databases unpack. On PostgreSQL the other
/// leads are looked up once per variant, joined to the variants: with `name_key = ANY(…)`
/// the planner, before the table's first ANALYZE (a new database's first minutes), walked the
/// whole `(email_key, created_at)` index for `created_at < $5` instead (0.85 ms a submission at
/// 5,000 leads, growing; BENCHMARKS.md). Joined, the name's index is the only way in, so the
/// statement can be prepared once; a register import ANALYZEs, which re-plans it.
pub async fn look_up(
    conn: &impl ConnectionTrait,
    subject: &Subject<'_>,
) -> Result<(Option<FirstLead>, Candidates), DbErr> {
    const POSTGRES: &str = "\
        (SELECT 0 AS part, id, first_name AS name, last_name, name_key, created_at, NULL AS email_key, \
           NULL AS organization_key, NULL AS role \
         FROM leads WHERE email_key = $2 AND duplicate_of IS NULL ORDER BY created_at, id LIMIT 1) \
        UNION ALL (SELECT 1, id, name, '', name_key, NULL, email_key, organization_key, role FROM conflict_parties \
         WHERE email_key = $2 OR organization_key = $3 OR id = ANY(ARRAY(SELECT party_id FROM conflict_keys \
           WHERE variant IN (SELECT json_array_elements_text($1::json)) LIMIT 50)) LIMIT 50) \
        UNION ALL (SELECT 2, l.id, l.first_name, l.last_name, l.name_key, l.created_at, NULL, NULL, NULL \
         FROM json_array_elements_text($1::json) AS v(key) CROSS JOIN LATERAL (SELECT id, first_name, last_name, \
           name_key, created_at FROM leads WHERE name_key = v.key AND duplicate_of IS NULL AND email_key <> $2 \
           AND id <> $4 AND created_at < $5 LIMIT 50) AS l LIMIT 50)";
    // SQLite reads an IN list through the index on its column.
    const SQLITE: &str = "\
        SELECT * FROM (SELECT 0 AS part, id, first_name AS name, last_name, name_key, created_at, NULL AS email_key, \
           NULL AS organization_key, NULL AS role \
         FROM leads WHERE email_key = $2 AND duplicate_of IS NULL ORDER BY created_at, id LIMIT 1) \
        UNION ALL SELECT * FROM (SELECT 1, id, name, '', name_key, NULL, email_key, organization_key, role \
         FROM conflict_parties WHERE email_key = $2 OR organization_key = $3 OR id IN (SELECT party_id \
           FROM conflict_keys WHERE variant IN (SELECT value FROM json_each($1)) LIMIT 50) LIMIT 50) \
        UNION ALL SELECT * FROM (SELECT 2, id, first_name, last_name, name_key, created_at, NULL, NULL, NULL \
         FROM leads WHERE name_key IN (SELECT value FROM json_each($1)) AND duplicate_of IS NULL \
           AND email_key <> $2 AND id <> $4 AND created_at < $5 LIMIT 50)";
    let backend = conn.get_database_backend();
    let sql = if backend == DatabaseBackend::Postgres { POSTGRES } else { SQLITE };
    let variants = serde_json::to_string(&keys::name_variants(subject.name_key)).expect("strings serialise");
    let values: Vec<sea_orm::Value> = vec![
        variants.into(),
        subject.email_key.into(),
        keys::email_organization(subject.email).into(),
        subject.lead_id.into(),
        subject.submitted_at.into(),
    ];
    let (mut first_of_address, mut found) = (None, Candidates { parties: Vec::new(), others: Vec::new() });
    for row in conn.query_all_raw(Statement::from_sql_and_values(backend, sql, values)).await? {
        match row.try_get::<i32>("", "part")? {
            0 => first_of_address = Some(first_lead(&row)?),
            1 => found.parties.push(Party {
                id: row.try_get("", "id")?,
                name: row.try_get("", "name")?,
                name_key: row.try_get("", "name_key")?,
                email_key: row.try_get("", "email_key")?,
                organization_key: row.try_get("", "organization_key")?,
                role: row.try_get("", "role")?,
            }),
            _ => found.others.push(first_lead(&row)?),
        }
    }
    Ok((first_of_address, found))
}

fn first_lead(row: &sea_orm::QueryResult) -> Result<FirstLead, DbErr> {
    Ok(FirstLead {
        id: row.try_get("", "id")?,
        first_name: row.try_get("", "name")?,
        last_name: row.try_get("", "last_name")?,
        name_key: row.try_get("", "name_key")?,
        created_at: row.try_get("", "created_at")?,
    })
}

/// Scores what was found: register parties, the same person's first lead (`earlier`, when this
/// lead repeats one), other people's.
pub fn judge(subject: &Subject<'_>, earlier: Option<&FirstLead>, found: Candidates) -> Finding {
    let mut hits = register_hits(subject, found.parties);
    hits.extend(lead_hits(subject, earlier, found.others));
    Finding::of(hits)
}

/// Forgets a removed party's look-up rows, found by its variants.
pub async fn forget_name(conn: &impl ConnectionTrait, party_id: Uuid, name_key: &str) -> Result<(), DbErr> {
    let variants = keys::name_variants(name_key);
    if variants.is_empty() {
        return Ok(());
    }
    conflict_key::Entity::delete_many()
        .filter(conflict_key::Column::Variant.is_in(variants))
        .filter(conflict_key::Column::PartyId.eq(party_id))
        .exec(conn)
        .await?;
    Ok(())
}

fn register_hits(subject: &Subject<'_>, parties: Vec<Party>) -> Vec<Hit> {
    let organization = keys::email_organization(subject.email);
    let mut hits: Vec<Hit> = parties
        .into_iter()
        .filter_map(|party| {
            let mut matched = Matched::default();
            if party.email_key.as_deref() == Some(subject.email_key) {
                matched.add("email", EMAIL_SCORE);
            }
            matched.name(subject.name_key, &party.name_key);
            if organization.is_some() && party.organization_key == organization {
                matched.add("organization", ORGANIZATION_SCORE);
            }
            matched.into_hit(|matched_on, score| Hit {
                source: Source::Register,
                matched_on,
                score,
                party_id: Some(party.id),
                lead_id: None,
                name: party.name.clone(),
                role: Some(role_name(party.role).to_owned()),
                same_person: false,
            })
        })
        .collect();
    best_first(&mut hits);
    hits
}

/// Earlier leads of other people whose name matches, and the first lead of this same person.
/// Leads are found by their stored name key among the new name's key and its one-letter
/// deletions: the same name, or one with a letter more. (Only register parties keep their own
/// variants, which a lead with a letter wrong or missing also meets.) Each other person counts
/// by their first lead (`duplicate_of IS NULL`, a partial index): an address that submitted
/// thousands of times costs one index entry, not thousands.
fn lead_hits(subject: &Subject<'_>, earlier: Option<&FirstLead>, others: Vec<FirstLead>) -> Vec<Hit> {
    let mut hits = Vec::new();
    if let Some(first) = earlier {
        let mut matched_on = vec!["email".to_owned()];
        if first.name_key == subject.name_key {
            matched_on.push("name".to_owned());
        }
        hits.push(Hit {
            source: Source::Lead,
            matched_on,
            score: EMAIL_SCORE,
            party_id: None,
            lead_id: Some(first.id),
            name: format!("{} {}", first.first_name, first.last_name),
            role: None,
            same_person: true,
        });
    }
    let mut others: Vec<Hit> = others
        .into_iter()
        .filter_map(|other| {
            let mut matched = Matched::default();
            matched.name(subject.name_key, &other.name_key);
            matched.into_hit(|matched_on, score| Hit {
                source: Source::Lead,
                matched_on,
                score,
                party_id: None,
                lead_id: Some(other.id),
                name: format!("{} {}", other.first_name, other.last_name),
                role: None,
                same_person: false,
            })
        })
        .collect();
    best_first(&mut others);
    hits.extend(others);
    hits
}

/// What one candidate matched on, and how strongly.
#[derive(Default)]
struct Matched {
    on: Vec<String>,
    misses: f64,
}

impl Matched {
    fn add(&mut self, on: &str, score: f64) {
        self.on.push(on.to_owned());
        // Independent evidence: the chance that all of it is coincidence shrinks with each.
        self.misses = if self.on.len() == 1 { 1.0 - score } else { self.misses * (1.0 - score) };
    }

    /// The same name, or one a typo away.
    fn name(&mut self, wanted: &str, found: &str) {
        if [wanted, found].iter().any(|k| k.is_empty() || *k == keys::UNMATCHABLE) {
            return;
        }
        let similarity = keys::similarity(wanted, found);
        if similarity >= keys::MIN_NEAR_SIMILARITY {
            self.add("name", NAME_SCORE * similarity);
        }
    }

    fn into_hit(self, hit: impl FnOnce(Vec<String>, f64) -> Hit) -> Option<Hit> {
        if self.on.is_empty() {
            return None;
        }
        let score = ((1.0 - self.misses) * 1000.0).round() / 1000.0;
        Some(hit(self.on, score))
    }
}

fn best_first(hits: &mut Vec<Hit>) {
    hits.sort_by(|a, b| b.score.total_cmp(&a.score));
    hits.truncate(MAX_HITS);
}

pub fn role_name(role: conflict_party::PartyRole) -> &'static str {
    use conflict_party::PartyRole as R;
    match role {
        R::Client => "CLIENT",
        R::FormerClient => "FORMER_CLIENT",
        R::AdverseParty => "ADVERSE_PARTY",
        R::RelatedParty => "RELATED_PARTY",
    }
}

/// The stored hits of a lead (none before its first check).
pub fn stored_hits(lead: &lead::Model) -> Vec<Hit> {
    lead.conflict_hits.as_ref().and_then(|json| serde_json::from_value(json.clone()).ok()).unwrap_or_default()
}

/// The rows that make a party's name findable: its key and one-typo variants.
pub fn key_rows(party_id: Uuid, name_key: &str) -> Vec<conflict_key::ActiveModel> {
    keys::name_variants(name_key)
        .into_iter()
        .map(|variant| conflict_key::ActiveModel {
            variant: sea_orm::ActiveValue::Set(variant),
            party_id: sea_orm::ActiveValue::Set(party_id),
        })
        .collect()
}

/// Gives leads stored before conflict checks existed their name key, so that new submissions
/// are checked against them too. Run at start-up; finds nothing to do after
/// the first time (an indexed look-up of empty keys).
pub async fn key_earlier_leads(db: &sea_orm::DatabaseConnection) -> Result<u64, DbErr> {
    use lead::Column as L;
    let mut keyed = 0;
    loop {
        let batch: Vec<(Uuid, String, String)> = lead::Entity::find()
            .select_only()
            .columns([L::Id, L::FirstName, L::LastName])
            .filter(L::NameKey.eq(""))
            .limit(500)
            .into_tuple()
            .all(db)
            .await?;
        if batch.is_empty() {
            return Ok(keyed);
        }
        let txn = crate::infra::db::begin_write(db).await?;
        for (id, first, last) in &batch {
            let key = keys::lead_name_key(first, last);
            lead::Entity::update_many().col_expr(L::NameKey, Expr::value(key)).filter(L::Id.eq(*id)).exec(&txn).await?;
        }
        txn.commit().await?;
        keyed += batch.len() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_kinds_of_match_score_higher_than_one() {
        let mut one = Matched::default();
        one.add("name", NAME_SCORE);
        let mut two = Matched::default();
        two.add("name", NAME_SCORE);
        two.add("organization", ORGANIZATION_SCORE);
        let score = |m: Matched| {
            m.into_hit(|_, s| Hit {
                source: Source::Register,
                matched_on: vec![],
                score: s,
                party_id: None,
                lead_id: None,
                name: String::new(),
                role: None,
                same_person: false,
            })
        };
        let (one, two) = (score(one).unwrap().score, score(two).unwrap().score);
        assert_eq!(one, 0.9);
        assert!(two > one && two <= 1.0, "{two}");
        assert!(score(Matched::default()).is_none());
    }

    #[test]
    fn repeats_alone_are_no_conflict() {
        let hit = |same_person| Hit {
            source: Source::Lead,
            matched_on: vec!["email".into()],
            score: 1.0,
            party_id: None,
            lead_id: Some(Uuid::nil()),
            name: "Ada Lovelace".into(),
            role: None,
            same_person,
        };
        assert_eq!(Finding::of(vec![]).state, ConflictState::Clear);
        assert_eq!(Finding::of(vec![hit(true)]).state, ConflictState::Clear);
        assert_eq!(Finding::of(vec![hit(true), hit(false)]).state, ConflictState::PossibleConflict);
    }
}
