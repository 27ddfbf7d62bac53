//! The check itself: a lead's email, name and email domain against the register and against
//! other people's earlier leads. Two or three indexed statements, whatever the register's
//! size: the name's variants in `conflict_keys` (its primary key), then the parties (by
//! email, organisation or the ids found) and the leads (by the ids found) through their
//! indexes, each bounded. Ids are looked up first and passed as values, so that no query
//! planner can choose to walk a whole table to join them.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use entity::{
    conflict_key, conflict_party,
    lead::{self, ConflictState},
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QuerySelect, sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::keys;

/// Hits kept per source, best first: enough for an attorney to judge, bounded for the mail and
/// the row.
const MAX_HITS: usize = 20;
/// Parties or leads read per look-up (the PostgreSQL statements spell it out: 50).
const MAX_CANDIDATES: u64 = 50;

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
    /// The first lead with the same email, when this one repeats it.
    pub earlier: Option<&'a lead::Model>,
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

pub async fn run(conn: &DatabaseConnection, subject: &Subject<'_>) -> Result<Finding, DbErr> {
    let variants = keys::name_variants(subject.name_key);
    let named = parties_named(conn, &variants).await?;
    let mut hits = register_hits(conn, subject, named).await?;
    hits.extend(lead_hits(conn, subject, &variants).await?);
    Ok(Finding::of(hits))
}

/// The parties whose names share a variant with these, at most `MAX_CANDIDATES`.
async fn parties_named(conn: &DatabaseConnection, variants: &BTreeSet<String>) -> Result<Vec<Uuid>, DbErr> {
    use conflict_key::Column as K;
    if variants.is_empty() {
        return Ok(Vec::new());
    }
    match conn.get_database_backend() {
        // Planned afresh for these very strings (an unnamed statement): a plan cached while the
        // register was small would keep scanning it whole once it has grown.
        DatabaseBackend::Postgres => {
            const SQL: &str = "SELECT party_id FROM conflict_keys WHERE variant = ANY($1) LIMIT 50";
            let variants: Vec<&str> = variants.iter().map(String::as_str).collect();
            let rows: Vec<(Uuid,)> = sea_orm::sqlx::query_as(SQL)
                .bind(variants)
                .persistent(false)
                .fetch_all(conn.get_postgres_connection_pool())
                .await
                .map_err(sqlx_error)?;
            Ok(rows.into_iter().map(|(id,)| id).collect())
        }
        // SQLite always reads an IN list on the primary key through it.
        _ => {
            conflict_key::Entity::find()
                .select_only()
                .column(K::PartyId)
                .filter(K::Variant.is_in(variants.iter().cloned()))
                .limit(MAX_CANDIDATES)
                .into_tuple()
                .all(conn)
                .await
        }
    }
}

fn sqlx_error(e: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Query(sea_orm::RuntimeErr::SqlxError(e.into()))
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

async fn register_hits(
    conn: &impl ConnectionTrait,
    subject: &Subject<'_>,
    named: Vec<Uuid>,
) -> Result<Vec<Hit>, DbErr> {
    use conflict_party::Column as P;
    let organization = keys::email_organization(subject.email);
    let mut any = Condition::any().add(P::EmailKey.eq(subject.email_key));
    if let Some(org) = &organization {
        any = any.add(P::OrganizationKey.eq(org.as_str()));
    }
    if !named.is_empty() {
        any = any.add(P::Id.is_in(named));
    }
    let parties = conflict_party::Entity::find().filter(any).limit(MAX_CANDIDATES).all(conn).await?;
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
    Ok(hits)
}

/// Earlier leads of other people whose name matches, and the first lead of this same person.
/// Leads are found by their stored name key among the new name's key and its one-letter
/// deletions: the same name, or one with a letter more. (Only register parties keep their own
/// variants, which a lead with a letter wrong or missing also meets.) Each other person counts
/// by their first lead (`duplicate_of IS NULL`, a partial index): an address that submitted
/// thousands of times costs one index entry, not thousands.
async fn lead_hits(
    conn: &DatabaseConnection,
    subject: &Subject<'_>,
    variants: &BTreeSet<String>,
) -> Result<Vec<Hit>, DbErr> {
    use lead::Column as L;
    let mut hits = Vec::new();
    if let Some(first) = subject.earlier {
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
    if variants.is_empty() {
        return Ok(hits);
    }
    let others: Vec<(Uuid, String, String, String)> = match conn.get_database_backend() {
        // An unnamed statement, for the reason `parties_named` gives.
        DatabaseBackend::Postgres => {
            const SQL: &str = "SELECT id, first_name, last_name, name_key FROM leads WHERE name_key = ANY($1) \
                 AND duplicate_of IS NULL AND email_key <> $2 AND id <> $3 AND created_at < $4 LIMIT 50";
            let variants: Vec<&str> = variants.iter().map(String::as_str).collect();
            sea_orm::sqlx::query_as(SQL)
                .bind(variants)
                .bind(subject.email_key)
                .bind(subject.lead_id)
                .bind(subject.submitted_at)
                .persistent(false)
                .fetch_all(conn.get_postgres_connection_pool())
                .await
                .map_err(sqlx_error)?
        }
        _ => {
            lead::Entity::find()
                .select_only()
                .columns([L::Id, L::FirstName, L::LastName, L::NameKey])
                .filter(L::NameKey.is_in(variants.iter().cloned()))
                .filter(L::DuplicateOf.is_null())
                .filter(L::EmailKey.ne(subject.email_key))
                .filter(L::Id.ne(subject.lead_id))
                .filter(L::CreatedAt.lt(subject.submitted_at))
                .limit(MAX_CANDIDATES)
                .into_tuple()
                .all(conn)
                .await?
        }
    };
    let mut others: Vec<Hit> = others
        .into_iter()
        .filter_map(|(id, first_name, last_name, name_key)| {
            let mut matched = Matched::default();
            matched.name(subject.name_key, &name_key);
            matched.into_hit(|matched_on, score| Hit {
                source: Source::Lead,
                matched_on,
                score,
                party_id: None,
                lead_id: Some(id),
                name: format!("{first_name} {last_name}"),
                role: None,
                same_person: false,
            })
        })
        .collect();
    best_first(&mut others);
    hits.extend(others);
    Ok(hits)
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
