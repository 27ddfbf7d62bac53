//! The firm's conflict register: parties added in bulk (by admins, or from a CSV file by the
//! operator), removed, and listed. A batch is stored whole or not at all.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Utc;
use entity::{
    conflict_key,
    conflict_party::{self, PartyRole},
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::{
    check::{forget_name, key_rows},
    keys,
};
use crate::{
    accounts::session::{Admin, Staff},
    error::AppError,
    infra::{announce::Announcer, clock, validate},
};

/// Parties per `addConflictParties` call; the command line imports any number.
pub const MAX_PARTIES_PER_CALL: usize = 1000;
pub const MAX_PAGE_SIZE: i32 = 100;
const MAX_NOTE_CHARS: usize = 2000;
const MAX_TEXT_CHARS: usize = 300;
/// Rows per INSERT statement: well under SQLite's 32,766 bound parameters.
const ROWS_PER_STATEMENT: usize = 500;
/// Parties added at once from which the statistics are brought up to date.
const ANALYZE_AFTER: usize = 1000;

#[derive(Clone, Debug, Default)]
pub struct NewParty {
    pub name: String,
    pub email: Option<String>,
    pub organization: Option<String>,
    pub role: Option<PartyRole>,
    pub note: Option<String>,
}

/// A party checked and keyed, ready to store; the error says what is wrong with it.
fn prepare(
    input: NewParty,
    created_by: Option<Uuid>,
    now: chrono::DateTime<Utc>,
) -> Result<conflict_party::Model, String> {
    let name = validate::person_name(&input.name).map_err(|m| format!("name {m}"))?;
    let name_key = keys::name_key(&name);
    if name_key.is_empty() {
        return Err("name has no letters".into());
    }
    let email = validate::optional_text(input.email, MAX_TEXT_CHARS)
        .and_then(|e| e.map(|e| validate::email(&e)).transpose())
        .map_err(|m| format!("email {m}"))?;
    let organization =
        validate::optional_text(input.organization, MAX_TEXT_CHARS).map_err(|m| format!("organization {m}"))?;
    let note = validate::optional_text(input.note, MAX_NOTE_CHARS).map_err(|m| format!("note {m}"))?;
    let role = input.role.ok_or("role is required: CLIENT, FORMER_CLIENT, ADVERSE_PARTY or RELATED_PARTY")?;
    let organization_key = organization.as_deref().map(keys::organization_key).filter(|k| !k.is_empty());
    Ok(conflict_party::Model {
        id: Uuid::now_v7(),
        email_key: email.as_deref().map(keys::email_key),
        email,
        organization_key,
        organization,
        name,
        name_key,
        role,
        note,
        created_at: now,
        created_by,
    })
}

/// Adds parties from the API, all or none; an error names the first bad one by its position.
pub async fn add(
    db: &DatabaseConnection,
    announcer: &Announcer,
    admin: Admin<'_>,
    parties: Vec<NewParty>,
) -> Result<Vec<conflict_party::Model>, AppError> {
    if parties.is_empty() {
        return Err(AppError::bad_input("parties", "is empty: give at least one party"));
    }
    if parties.len() > MAX_PARTIES_PER_CALL {
        return Err(AppError::bad_input(
            "parties",
            format!(
                "has {} parties; send at most {MAX_PARTIES_PER_CALL} per call, or import a CSV file with `intake conflicts import`",
                parties.len()
            ),
        ));
    }
    let now = clock::now();
    let rows = parties
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            prepare(p, Some(admin.user().id), now).map_err(|m| AppError::bad_input("parties", format!("[{i}]: {m}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    store(db, &rows).await?;
    announcer.register_changed().await;
    tracing::info!(count = rows.len(), by = %admin.user().id, "conflict parties added");
    Ok(rows)
}

async fn store(db: &DatabaseConnection, rows: &[conflict_party::Model]) -> Result<(), DbErr> {
    let txn = crate::infra::db::begin_write(db).await?;
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        conflict_party::Entity::insert_many(chunk.iter().cloned().map(conflict_party::ActiveModel::from))
            .exec_without_returning(&txn)
            .await?;
        let keys: Vec<conflict_key::ActiveModel> = chunk.iter().flat_map(|p| key_rows(p.id, &p.name_key)).collect();
        for keys in keys.chunks(ROWS_PER_STATEMENT * 4) {
            conflict_key::Entity::insert_many(keys.to_vec()).exec_without_returning(&txn).await?;
        }
    }
    txn.commit().await?;
    // After a bulk load, PostgreSQL's statistics would still describe the register as it was
    // and could plan its look-ups as scans until autovacuum came round.
    if rows.len() >= ANALYZE_AFTER && db.get_database_backend() == DatabaseBackend::Postgres {
        db.execute_unprepared("ANALYZE conflict_parties, conflict_keys").await?;
    }
    Ok(())
}

/// Removes a party; false when there was none with that id. Checks already made keep their
/// hits (the party then shows as removed).
pub async fn remove(
    db: &DatabaseConnection,
    announcer: &Announcer,
    admin: Admin<'_>,
    id: Uuid,
) -> Result<bool, AppError> {
    let txn = crate::infra::db::begin_write(db).await?;
    let Some(party) = find(&txn, id).await? else {
        txn.rollback().await?;
        return Ok(false);
    };
    forget_name(&txn, id, &party.name_key).await?;
    let removed = conflict_party::Entity::delete_by_id(id).exec(&txn).await?.rows_affected == 1;
    txn.commit().await?;
    if removed {
        announcer.register_changed().await;
        tracing::info!(party = %id, by = %admin.user().id, "conflict party removed");
    }
    Ok(removed)
}

/// One line of a CSV file that cannot be imported, and why.
#[derive(Debug, PartialEq, Eq)]
pub struct BadRow {
    pub line: u64,
    pub message: String,
}

/// Imports `name,email,organization,role,note` rows (a header row first, columns in any
/// order, `email`, `organization` and `note` optional) by the operator. Every row is checked
/// before any is stored: with one bad row, nothing of the file is.
pub async fn import_csv(
    db: &DatabaseConnection,
    announcer: &Announcer,
    file: impl std::io::Read,
) -> Result<Result<usize, Vec<BadRow>>, AppError> {
    let rows = match parse_csv(file) {
        Ok(rows) => rows,
        Err(bad) => return Ok(Err(bad)),
    };
    store(db, &rows).await?;
    announcer.register_changed().await;
    tracing::info!(count = rows.len(), "conflict parties imported");
    Ok(Ok(rows.len()))
}

fn parse_csv(file: impl std::io::Read) -> Result<Vec<conflict_party::Model>, Vec<BadRow>> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(file);
    let header = |message: String| vec![BadRow { line: 1, message }];
    let headers = reader.headers().map_err(|e| header(format!("cannot read the header row: {e}")))?.clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let known = ["name", "email", "organization", "role", "note"];
    if let Some(unknown) = headers.iter().find(|h| !known.iter().any(|k| h.eq_ignore_ascii_case(k))) {
        return Err(header(format!("unknown column `{unknown}`: the columns are {}", known.join(","))));
    }
    let (Some(name), Some(role)) = (column("name"), column("role")) else {
        return Err(header(format!(
            "the header row must name the columns {} (name and role required)",
            known.join(",")
        )));
    };
    let (email, organization, note) = (column("email"), column("organization"), column("note"));
    let now = clock::now();
    let mut parties = Vec::new();
    let mut bad = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                bad.push(BadRow { line, message: format!("cannot be read: {e}") });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: Option<usize>| i.and_then(|i| record.get(i)).map(str::to_owned);
        let role_text = field(Some(role)).unwrap_or_default();
        let parsed = parse_role(&role_text).and_then(|role| {
            prepare(
                NewParty {
                    name: field(Some(name)).unwrap_or_default(),
                    email: field(email),
                    organization: field(organization),
                    role: Some(role),
                    note: field(note),
                },
                None,
                now,
            )
        });
        match parsed {
            Ok(party) => parties.push(party),
            Err(message) => bad.push(BadRow { line, message }),
        }
    }
    if !bad.is_empty() {
        return Err(bad);
    }
    if parties.is_empty() {
        return Err(header("the file has no rows after its header".into()));
    }
    Ok(parties)
}

/// `CLIENT`, `former client`, `Adverse-Party`…
fn parse_role(text: &str) -> Result<PartyRole, String> {
    let folded: String =
        text.trim().chars().map(|c| if c == ' ' || c == '-' { '_' } else { c.to_ascii_uppercase() }).collect();
    match folded.as_str() {
        "CLIENT" => Ok(PartyRole::Client),
        "FORMER_CLIENT" => Ok(PartyRole::FormerClient),
        "ADVERSE_PARTY" => Ok(PartyRole::AdverseParty),
        "RELATED_PARTY" => Ok(PartyRole::RelatedParty),
        "" => Err("role is required: CLIENT, FORMER_CLIENT, ADVERSE_PARTY or RELATED_PARTY".into()),
        _ => Err(format!("role `{text}` is not one of CLIENT, FORMER_CLIENT, ADVERSE_PARTY, RELATED_PARTY")),
    }
}

pub struct PartyPage {
    pub parties: Vec<conflict_party::Model>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub search: Option<String>,
}

/// Newest first; `search` is part of the name, email or organisation (ignoring case and
/// accents).
pub async fn list(
    db: &impl ConnectionTrait,
    _by: Staff<'_>,
    search: Option<String>,
    first: i32,
    after: Option<&str>,
) -> Result<PartyPage, AppError> {
    use conflict_party::Column as C;
    if !(0..=MAX_PAGE_SIZE).contains(&first) {
        return Err(AppError::bad_input("first", format!("must be between 0 and {MAX_PAGE_SIZE}")));
    }
    let after = after.map(decode_cursor).transpose()?;
    let search = search.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let mut select = searched(search.as_deref());
    if let Some(after) = after {
        select = select.filter(C::Id.lt(after));
    }
    let mut parties = select.order_by_desc(C::Id).limit(first as u64 + 1).all(db).await?;
    let has_next_page = parties.len() > first as usize;
    parties.truncate(first as usize);
    Ok(PartyPage { parties, has_next_page, has_previous_page: after.is_some(), search })
}

pub async fn count(db: &impl ConnectionTrait, search: Option<&str>) -> Result<u64, DbErr> {
    searched(search).count(db).await
}

fn searched(search: Option<&str>) -> sea_orm::Select<conflict_party::Entity> {
    use conflict_party::Column as C;
    let select = conflict_party::Entity::find();
    let Some(search) = search else { return select };
    let words = keys::name_key(search);
    let mut any = Condition::any().add(C::EmailKey.contains(search.to_lowercase()));
    if !words.is_empty() {
        any = any.add(C::NameKey.contains(&words));
        let org = keys::organization_key(search);
        if !org.is_empty() {
            any = any.add(C::OrganizationKey.contains(&org));
        }
    }
    select.filter(any)
}

pub fn cursor(party: &conflict_party::Model) -> String {
    URL_SAFE_NO_PAD.encode(format!("party:{}", party.id))
}

fn decode_cursor(raw: &str) -> Result<Uuid, AppError> {
    let invalid = || AppError::bad_input("after", "is not a cursor returned by this API");
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?).map_err(|_| invalid())?;
    text.strip_prefix("party:").and_then(|id| id.parse().ok()).ok_or_else(invalid)
}

pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<conflict_party::Model>, DbErr> {
    conflict_party::Entity::find_by_id(id).one(db).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_with_a_bad_row_is_refused_whole_with_line_numbers() {
        let csv = "name,email,organization,role,note\n\
                   \"Lovelace, Ada\",ada@example.com,Analytical Engines,CLIENT,\n\
                   Charles Babbage,,,former client,met in 1833\n\
                   Nobody,not-an-email,,ADVERSE_PARTY,\n\
                   Grace Hopper,,,PRESIDENT,\n";
        let bad = parse_csv(csv.as_bytes()).unwrap_err();
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert_eq!(bad[0].line, 4);
        assert!(bad[0].message.starts_with("email"), "{}", bad[0].message);
        assert_eq!(bad[1].line, 5);
        assert!(bad[1].message.contains("PRESIDENT"), "{}", bad[1].message);
        let good = parse_csv(&csv.as_bytes()[..csv.find("Nobody").unwrap()]).unwrap();
        assert_eq!(good.len(), 2);
        assert_eq!(good[0].name_key, "ada lovelace");
        assert_eq!(good[0].organization_key.as_deref(), Some("analyticalengines"));
        assert_eq!(good[1].role, PartyRole::FormerClient);
    }

    #[test]
    fn headers_are_checked() {
        assert!(parse_csv("name,email\nAda,\n".as_bytes()).unwrap_err()[0].message.contains("role"));
        assert!(parse_csv("name,role,age\nAda,CLIENT,36\n".as_bytes()).unwrap_err()[0].message.contains("age"));
        assert!(parse_csv("role,name\n".as_bytes()).unwrap_err()[0].message.contains("no rows"));
        assert_eq!(parse_csv("ROLE,Name\nclient,Ada Lovelace\n".as_bytes()).unwrap().len(), 1);
    }
}
