//! Finding leads: filters, orders and Relay paging in both directions with opaque cursors.
//! Paging is by keyset (the sort value and the id of the last lead seen), so leads arriving
//! or changing between pages cause neither duplicates nor gaps in the ones already ordered.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use entity::lead::{self, ConflictState, LeadOutcome, LeadStatus};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, Order, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Select, Statement,
    sea_query::{
        Alias, Expr, ExprTrait, Func, Iden, IntoCondition, IntoIden, LikeExpr, Query, SelectStatement, SimpleExpr,
    },
};
use std::time::Duration;
use uuid::Uuid;

use crate::{
    accounts::session::Reader,
    error::AppError,
    infra::{
        clock,
        freshness::{ReadAt, Recent},
    },
};

pub const MAX_PAGE_SIZE: i32 = 100;
pub const DEFAULT_PAGE_SIZE: i32 = 20;
const MAX_SEARCH_CHARS: usize = 200;

/// Which leads a listing covers, independent of paging. Every part given must hold.
#[derive(Clone, Debug, Default)]
pub struct LeadFilter {
    /// Any of these statuses.
    pub statuses: Option<Vec<LeadStatus>>,
    /// Submitted at or after.
    pub created_after: Option<DateTime<Utc>>,
    /// Submitted before.
    pub created_before: Option<DateTime<Utc>>,
    pub assigned_to: Option<Uuid>,
    /// `true`: only leads nobody is assigned to; `false`: only assigned ones.
    pub unassigned: Option<bool>,
    /// Part of the first name, last name or email, ignoring case.
    pub search: Option<String>,
    /// Any of these conflict-check states.
    pub conflict_states: Option<Vec<ConflictState>>,
    /// Any of these outcomes.
    pub outcomes: Option<Vec<LeadOutcome>>,
    /// `true`: only leads still PENDING past their deadline; `false`: only the others.
    pub overdue: Option<bool>,
    /// Any of these sources.
    pub sources: Option<Vec<String>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderField {
    CreatedAt,
    UpdatedAt,
    LastName,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeadOrder {
    pub field: OrderField,
    pub descending: bool,
}

impl Default for LeadOrder {
    /// Newest first.
    fn default() -> Self {
        Self { field: OrderField::CreatedAt, descending: true }
    }
}

/// Relay paging: `first` after a cursor, or `last` before one.
#[derive(Clone, Debug, Default)]
pub struct Paging {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

pub struct LeadPage {
    pub leads: Vec<lead::Model>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub filter: LeadFilter,
    pub order: LeadOrder,
}

pub async fn list(
    db: &impl ConnectionTrait,
    ways: &SearchWays,
    _by: Reader<'_>,
    filter: LeadFilter,
    order: LeadOrder,
    paging: Paging,
) -> Result<LeadPage, AppError> {
    let filter = checked(filter)?;
    let (size, cursor, backwards) = match (&paging.first, &paging.last) {
        (Some(_), Some(_)) => return Err(AppError::bad_input("last", "cannot be combined with first; page one way")),
        (None, Some(last)) if paging.after.is_none() => (*last, paging.before.as_deref().map(|c| ("before", c)), true),
        (None, Some(_)) => return Err(AppError::bad_input("after", "goes with first; with last, use before")),
        (first, None) if paging.before.is_none() => {
            (first.unwrap_or(DEFAULT_PAGE_SIZE), paging.after.as_deref().map(|c| ("after", c)), false)
        }
        (_, None) => return Err(AppError::bad_input("before", "goes with last; with first, use after")),
    };
    let field_name = if backwards { "last" } else { "first" };
    if !(0..=MAX_PAGE_SIZE).contains(&size) {
        return Err(AppError::bad_input(field_name, format!("must be between 0 and {MAX_PAGE_SIZE}")));
    }
    // Going backwards is going forwards in the reverse order, then turning the page around.
    let descending = order.descending != backwards;
    let mut past = filtered(&filter);
    if let Some((arg, cursor)) = cursor {
        let position = Cursor::decode(cursor, order.field).map_err(|message| AppError::bad_input(arg, message))?;
        past = past.filter(beyond(&position, order.field, descending));
    }
    let page = Page {
        field: order.field,
        direction: if descending { Order::Desc } else { Order::Asc },
        rows: size as u64 + 1,
    };
    let mut leads = match &filter.search {
        None => page.rows_of(db, page.ids(past)).await?,
        Some(term) => page.searched(db, ways, &filter, past, term).await?,
    };
    let more = leads.len() > size as usize;
    leads.truncate(size as usize);
    if backwards {
        leads.reverse();
    }
    // The other direction's flag says whether a cursor was given: a lead lies beyond it (the
    // cursor's own, at least) unless it has since gone out of the filter.
    let (has_next_page, has_previous_page) =
        if backwards { (cursor.is_some(), more) } else { (more, cursor.is_some()) };
    Ok(LeadPage { leads, has_next_page, has_previous_page, filter, order })
}

pub async fn count(db: &impl ConnectionTrait, filter: &LeadFilter) -> Result<u64, DbErr> {
    // Counting reads every match anyway: through the text index, only the matches.
    let select = match &filter.search {
        Some(term) => {
            let backend = db.get_database_backend();
            through_text_index(filtered(filter), term, backend)
                .unwrap_or_else(|| filtered(filter).filter(search_condition(term, lead::Entity, backend)))
        }
        None => filtered(filter),
    };
    select.count(db).await
}

fn checked(filter: LeadFilter) -> Result<LeadFilter, AppError> {
    if filter.assigned_to.is_some() && filter.unassigned == Some(true) {
        return Err(AppError::bad_input("unassigned", "cannot be true together with assignedTo"));
    }
    if let (Some(after), Some(before)) = (filter.created_after, filter.created_before)
        && after >= before
    {
        return Err(AppError::bad_input("createdBefore", "must be later than createdAfter"));
    }
    Ok(LeadFilter { search: normalise_search(filter.search)?, ..filter })
}

/// Every part of the filter but the search term.
fn filtered(filter: &LeadFilter) -> Select<lead::Entity> {
    use lead::Column as C;
    let mut select = lead::Entity::find();
    if let Some(statuses) = &filter.statuses {
        select = select.filter(C::Status.is_in(statuses.iter().copied()));
    }
    if let Some(after) = filter.created_after {
        select = select.filter(C::CreatedAt.gte(after));
    }
    if let Some(before) = filter.created_before {
        select = select.filter(C::CreatedAt.lt(before));
    }
    if let Some(user) = filter.assigned_to {
        select = select.filter(C::AssignedTo.eq(user));
    }
    match filter.unassigned {
        Some(true) => select = select.filter(C::AssignedTo.is_null()),
        Some(false) => select = select.filter(C::AssignedTo.is_not_null()),
        None => {}
    }
    if let Some(states) = &filter.conflict_states {
        select = select.filter(C::ConflictState.is_in(states.iter().copied()));
    }
    if let Some(outcomes) = &filter.outcomes {
        select = select.filter(C::Outcome.is_in(outcomes.iter().copied()));
    }
    if let Some(sources) = &filter.sources {
        select = select.filter(C::Source.is_in(sources.iter().cloned()));
    }
    if let Some(overdue) = filter.overdue {
        let late = Condition::all()
            .add(C::Status.eq(LeadStatus::Pending))
            .add(C::RespondBy.is_not_null())
            .add(C::RespondBy.lt(clock::now()));
        select = select.filter(if overdue { late } else { late.not() });
    }
    select
}

/// How many leads, in the list's order, a search on PostgreSQL walks before asking the text
/// index instead: a term in one lead of 70 or more fills a page within them (2 to 3 ms).
const WALK: u64 = 1_500;

/// Above this many leads matching the term, SQLite walks the list's own order rather than
/// collecting every match from the text index and sorting them.
const TEXT_INDEX_MAX_MATCHES: u64 = 3_000;

/// The page's ordering and its row count: one more than its size, to tell whether more follow.
struct Page {
    field: OrderField,
    direction: Order,
    rows: u64,
}

impl Page {
    /// The page's ids among the selected leads. They come from the filter's own index alone
    /// (PostgreSQL otherwise preferred walking the creation-time index, which follows the
    /// table's order, past every lead of the wrong kind: 30 ms instead of 0.1 at a million).
    fn ids(&self, select: Select<lead::Entity>) -> SelectStatement {
        self.in_order(select).select_only().column(lead::Column::Id).limit(self.rows).into_query()
    }

    /// The selected leads in the page's order: by sort value, then by id.
    fn in_order(&self, select: Select<lead::Entity>) -> Select<lead::Entity> {
        select
            .order_by(sort_key(lead::Entity, self.field), self.direction.clone())
            .order_by(lead::Column::Id, self.direction.clone())
    }

    /// The page of the selected leads matching the term. A common term fills a page within the
    /// first few thousand leads of the list's order; a rare one is found soonest among its few
    /// matches in the text index, while collecting and sorting every match of a common one is
    /// what costs (100 ms for 20,000 on PostgreSQL). SQLite's trigram index counts its matches
    /// cheaply, so it is asked how many there are, up to a bound. PostgreSQL's must read every
    /// candidate row to count them (and its planner misjudges how many a term has), so the
    /// first `WALK` leads are tried, and the text index only when they don't fill the page.
    /// The way found is remembered for the same filter (`SearchWays`).
    async fn searched(
        &self,
        db: &impl ConnectionTrait,
        ways: &SearchWays,
        filter: &LeadFilter,
        past: Select<lead::Entity>,
        term: &str,
    ) -> Result<Vec<lead::Model>, DbErr> {
        let backend = db.get_database_backend();
        let exact = past.clone().filter(search_condition(term, lead::Entity, backend));
        let Some(indexed) = through_text_index(past.clone(), term, backend) else {
            return self.rows_of(db, self.ids(exact)).await;
        };
        let key = format!("{filter:?}").to_lowercase();
        let known = ways.get(&key);
        if known == Some(Way::Index) {
            return self.rows_of(db, self.ids(indexed)).await;
        }
        if backend == DatabaseBackend::Sqlite {
            // SQLite's LIKE folds ASCII alone, so a term with other letters is left to the
            // text index, which folds them all.
            let way = match known {
                Some(way) => way,
                None if term.is_ascii() && text_index_matches(db, term).await? > TEXT_INDEX_MAX_MATCHES => {
                    ways.note(key, Way::Walk)
                }
                None => ways.note(key, Way::Index),
            };
            return self.rows_of(db, self.ids(if way == Way::Walk { exact } else { indexed })).await;
        }
        let walked = self.rows_of(db, self.walked(past.clone(), term)).await?;
        let filled = walked.len() as u64 == self.rows;
        // A later page of a common term may thin out; that does not make the term rare.
        if known.is_none() {
            ways.note(key, if filled { Way::Walk } else { Way::Index });
        }
        // The last pages of a common term, and small lists, were walked to their end.
        if filled || self.ends_within_walk(db, past).await? {
            return Ok(walked);
        }
        self.rows_of(db, self.ids(indexed)).await
    }

    /// Whether the selected leads end within the first `WALK`, so that a walk saw them all
    /// (the ids alone, from the order's own index).
    async fn ends_within_walk(&self, db: &impl ConnectionTrait, select: Select<lead::Entity>) -> Result<bool, DbErr> {
        let beyond: Option<Uuid> = self
            .in_order(select)
            .select_only()
            .column(lead::Column::Id)
            .offset(WALK)
            .limit(1)
            .into_tuple()
            .one(db)
            .await?;
        Ok(beyond.is_none())
    }

    /// The page's ids among the first `WALK` selected leads that match the term.
    fn walked(&self, select: Select<lead::Entity>, term: &str) -> SelectStatement {
        use lead::Column as C;
        let window = self
            .in_order(select)
            .select_only()
            // Every sort key's field, and what the search tests.
            .columns([C::Id, C::CreatedAt, C::UpdatedAt, C::LastName, C::ErasedAt])
            .limit(WALK)
            .into_query()
            .column((lead::Entity, SearchText))
            .to_owned();
        let walk = Alias::new("walk");
        Query::select()
            .column((walk.clone(), C::Id))
            .from_subquery(window, walk.clone())
            .cond_where(search_condition(term, walk.clone(), DatabaseBackend::Postgres))
            .order_by_expr(sort_key(walk.clone(), self.field), self.direction.clone())
            .order_by((walk, C::Id), self.direction.clone())
            .limit(self.rows)
            .to_owned()
    }

    /// The leads of the given ids, in the page's order.
    async fn rows_of(&self, db: &impl ConnectionTrait, ids: SelectStatement) -> Result<Vec<lead::Model>, DbErr> {
        self.in_order(lead::Entity::find().filter(lead::Column::Id.in_subquery(ids))).all(db).await
    }
}

/// How a search with a given filter was found best: by walking the list's order, or through
/// the text index.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Way {
    Walk,
    Index,
}

/// Searches remembered for the way that found them, so that the same search again (the next
/// page, the dashboard's refresh) skips the trial: SQLite's count, PostgreSQL's walk. A way
/// remembered wrongly costs time, never a lead (either way finds the same ones); each is tried
/// afresh after `WAY_KEPT`, as the leads change.
pub struct SearchWays {
    ways: Recent<String, Way>,
}

const WAYS_KEPT: usize = 1024;
const WAY_KEPT: Duration = Duration::from_secs(60);

/// A way depends on no change, only on its age.
fn unchanging() -> ReadAt {
    ReadAt::counting(0)
}

impl Default for SearchWays {
    fn default() -> Self {
        Self { ways: Recent::new(WAY_KEPT, WAYS_KEPT) }
    }
}

impl SearchWays {
    fn get(&self, key: &str) -> Option<Way> {
        self.ways.get(key, unchanging())
    }

    fn note(&self, key: String, way: Way) -> Way {
        self.ways.put(key, way, unchanging());
        way
    }
}

/// How many leads SQLite's text index gives for the term, counted up to just past the bound:
/// at most that many index entries read.
async fn text_index_matches(db: &impl ConnectionTrait, term: &str) -> Result<u64, DbErr> {
    let statement = Statement::from_sql_and_values(
        DatabaseBackend::Sqlite,
        "SELECT COUNT(*) AS n FROM (SELECT 1 FROM leads_search WHERE leads_search MATCH ? LIMIT ?)",
        [fts_phrase(term).into(), (TEXT_INDEX_MAX_MATCHES + 1).into()],
    );
    Ok(match db.query_one_raw(statement).await? {
        Some(row) => row.try_get::<i64>("", "n")? as u64,
        None => 0,
    })
}

/// The test of a search, lead by lead: the term, literally and without regard to case, in the
/// first name, the last name or the email of a lead that is not erased. PostgreSQL tests the
/// three fields lowercased as the lead's `search_text` holds them (migration
/// `m20261201_000014_search_text`): lowercasing under the database's locale converts every
/// character to a wide one and back, and doing it three times for each lead a walk passes was
/// most of a common term's search (1.1 of 1.5 ms at a million leads). SQLite's LIKE folds
/// ASCII alone: there it serves terms of ASCII (and those too short for the text index), and
/// `through_text_index` the rest.
fn search_condition(term: &str, table: impl IntoIden, backend: DatabaseBackend) -> Condition {
    use lead::Column as C;
    let table = table.into_iden();
    let pattern = || LikeExpr::new(like_pattern(term)).escape('\\');
    let matches = match backend {
        DatabaseBackend::Postgres => Expr::col((table.clone(), SearchText)).like(pattern()).into_condition(),
        // SQLite's LIKE itself ignores the case of ASCII letters, as far as its `lower()` would
        // fold them; without `lower()` a first name's walk took half the time (0.5 of 1.0 ms).
        _ => {
            let field = |col: C| Expr::col((table.clone(), col)).like(pattern());
            Condition::any().add(field(C::FirstName)).add(field(C::LastName)).add(field(C::Email))
        }
    };
    Condition::all().add(matches).add(not_erased(table))
}

/// A tombstone's "[erased]" is not a name anyone searches for.
fn not_erased(table: impl IntoIden) -> SimpleExpr {
    Expr::col((table, lead::Column::ErasedAt)).is_null()
}

/// PostgreSQL's generated column of the three search fields, lowercased, each on its own line:
/// a search term has no line break (`normalise_search`), so it matches within one field, as
/// on SQLite. It is not in the entity: nothing writes it.
#[derive(Clone, Copy)]
struct SearchText;

impl Iden for SearchText {
    fn unquoted(&self) -> &str {
        "search_text"
    }
}

fn like_pattern(term: &str) -> String {
    format!("%{}%", escape_like(&term.to_lowercase()))
}

/// The term as one FTS5 phrase: its own syntax (`OR`, `*`, quotes) means nothing.
fn fts_phrase(term: &str) -> String {
    format!("\"{}\"", term.replace('"', "\"\""))
}

/// The selected leads that match the term, found through the text index (migration
/// `m20261130_000012_list_indexes`) without reading every lead, where the term allows. SQLite's
/// trigram index matches a term of three characters or more within one field, folding the case
/// of every letter (`"ødegaard"` finds "Ødegaard"), so its match is the whole test there.
/// PostgreSQL's trigram index is on `search_text`, which the test itself reads.
fn through_text_index(
    select: Select<lead::Entity>,
    term: &str,
    backend: DatabaseBackend,
) -> Option<Select<lead::Entity>> {
    match backend {
        DatabaseBackend::Sqlite if term.chars().count() >= 3 => {
            Some(select.filter(not_erased(lead::Entity)).filter(Expr::cust_with_values(
                r#""leads"."rowid" IN (SELECT rowid FROM leads_search WHERE leads_search MATCH ?)"#,
                [fts_phrase(term)],
            )))
        }
        DatabaseBackend::Postgres => Some(select.filter(search_condition(term, lead::Entity, backend))),
        _ => None,
    }
}

/// Names sort without regard to case; the database folds both sides the same way.
fn sort_key(table: impl IntoIden, field: OrderField) -> SimpleExpr {
    use lead::Column as C;
    let table = table.into_iden();
    match field {
        OrderField::CreatedAt => Expr::col((table, C::CreatedAt)),
        OrderField::UpdatedAt => Expr::col((table, C::UpdatedAt)),
        OrderField::LastName => Func::lower(Expr::col((table, C::LastName))).into(),
    }
}

/// Leads strictly past `position` in the given direction: by sort value, then by id.
fn beyond(position: &Cursor, field: OrderField, descending: bool) -> Condition {
    let key = sort_key(lead::Entity, field);
    let value: SimpleExpr = match &position.value {
        SortValue::Time(t) => Expr::val(*t),
        SortValue::Text(s) => Func::lower(Expr::val(s.clone())).into(),
    };
    let id = Expr::col((lead::Entity, lead::Column::Id));
    let (past, id_past) = if descending {
        (key.clone().lt(value.clone()), id.lt(position.id))
    } else {
        (key.clone().gt(value.clone()), id.gt(position.id))
    };
    Condition::any().add(past).add(Condition::all().add(key.eq(value)).add(id_past))
}

fn normalise_search(search: Option<String>) -> Result<Option<String>, AppError> {
    let Some(term) = search.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if term.chars().count() > MAX_SEARCH_CHARS {
        return Err(AppError::bad_input("search", format!("must be at most {MAX_SEARCH_CHARS} characters")));
    }
    // No name or email holds one, so such a term could only match across two fields.
    if term.chars().any(char::is_control) {
        return Err(AppError::bad_input("search", "must not contain control characters (such as line breaks or tabs)"));
    }
    Ok(Some(term))
}

/// User text matched literally: `%`, `_` and `\` lose their LIKE meaning.
fn escape_like(term: &str) -> String {
    let mut out = String::with_capacity(term.len());
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[derive(Clone, Debug, PartialEq)]
enum SortValue {
    Time(DateTime<Utc>),
    Text(String),
}

/// A position in one order: the sort value and the id of a lead. Opaque to clients.
#[derive(Clone, Debug, PartialEq)]
struct Cursor {
    value: SortValue,
    id: Uuid,
}

impl Cursor {
    /// `v1:` cursors (creation time, newest first) came before orders could be chosen.
    fn decode(cursor: &str, field: OrderField) -> Result<Self, String> {
        let invalid = || "is not a cursor returned by this API".to_owned();
        let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
        let text = String::from_utf8(raw).map_err(|_| invalid())?;
        let (tag, id, value) = match text.splitn(3, ':').collect::<Vec<_>>()[..] {
            ["v1", micros, id] => ("c", id, micros),
            ["v2", rest, value] => {
                let (tag, id) = rest.split_once('.').ok_or_else(invalid)?;
                (tag, id, value)
            }
            _ => return Err(invalid()),
        };
        let expected = field_tag(field);
        if tag != expected {
            return Err("belongs to a different orderBy: ask for the first page again".into());
        }
        let id = id.parse().map_err(|_| invalid())?;
        let value = match field {
            OrderField::LastName => SortValue::Text(value.to_owned()),
            OrderField::CreatedAt | OrderField::UpdatedAt => {
                SortValue::Time(value.parse().ok().and_then(DateTime::from_timestamp_micros).ok_or_else(invalid)?)
            }
        };
        Ok(Self { value, id })
    }
}

fn field_tag(field: OrderField) -> &'static str {
    match field {
        OrderField::CreatedAt => "c",
        OrderField::UpdatedAt => "u",
        OrderField::LastName => "n",
    }
}

/// The lead's position in `order`: pass it back as `after` or `before`.
pub fn cursor(lead: &lead::Model, order: LeadOrder) -> String {
    let value = match order.field {
        OrderField::CreatedAt => lead.created_at.timestamp_micros().to_string(),
        OrderField::UpdatedAt => lead.updated_at.timestamp_micros().to_string(),
        OrderField::LastName => lead.last_name.clone(),
    };
    URL_SAFE_NO_PAD.encode(format!("v2:{}.{}:{value}", field_tag(order.field), lead.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_literal() {
        assert_eq!(escape_like("100%_a\\b"), "100\\%\\_a\\\\b");
    }

    fn sample() -> lead::Model {
        let now = crate::infra::clock::now();
        lead::Model {
            id: Uuid::now_v7(),
            first_name: "a".into(),
            last_name: "O'Brien: the 2nd".into(),
            email: "a@b.co".into(),
            status: LeadStatus::Pending,
            resume_key: "k".into(),
            resume_file_name: "f".into(),
            resume_content_type: "t".into(),
            resume_size_bytes: 1,
            created_at: now,
            updated_at: now,
            email_key: "a@b.co".into(),
            ..lead::Model::default()
        }
    }

    #[test]
    fn cursors_round_trip_in_every_order_and_reject_garbage() {
        let lead = sample();
        for field in [OrderField::CreatedAt, OrderField::UpdatedAt, OrderField::LastName] {
            let order = LeadOrder { field, descending: false };
            let decoded = Cursor::decode(&cursor(&lead, order), field).unwrap();
            assert_eq!(decoded.id, lead.id);
            let expected = match field {
                OrderField::LastName => SortValue::Text(lead.last_name.clone()),
                OrderField::CreatedAt => SortValue::Time(lead.created_at),
                OrderField::UpdatedAt => SortValue::Time(lead.updated_at),
            };
            assert_eq!(decoded.value, expected);
        }
        let by_name = cursor(&lead, LeadOrder { field: OrderField::LastName, descending: true });
        assert!(Cursor::decode(&by_name, OrderField::CreatedAt).unwrap_err().contains("different orderBy"));
        for bad in ["", "zzz", "djE6eDp5"] {
            assert!(Cursor::decode(bad, OrderField::CreatedAt).is_err());
        }
    }

    #[test]
    fn first_version_cursors_still_work() {
        let lead = sample();
        let v1 = URL_SAFE_NO_PAD.encode(format!("v1:{}:{}", lead.created_at.timestamp_micros(), lead.id));
        let decoded = Cursor::decode(&v1, OrderField::CreatedAt).unwrap();
        assert_eq!((decoded.value, decoded.id), (SortValue::Time(lead.created_at), lead.id));
    }
}
