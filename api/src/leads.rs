//! Leads: submission (with its résumé and its two mails), listing, and the status workflow.

use anyhow::Context;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use entity::{
    email_job::EmailKind,
    lead::{self, LeadStatus},
    user::{self, Role},
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    Select, SqlErr,
    sea_query::{Expr, ExprTrait, Func, LikeExpr},
};
use uuid::Uuid;

use crate::{
    clock, error::AppError, jobs::queue::NewEmailJob, mail::messages::LeadMail, resume, state::AppState,
    storage::Content, users, validate,
};

pub const MAX_PAGE_SIZE: i32 = 100;
const MAX_SEARCH_CHARS: usize = 200;

pub struct SubmitLead {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    /// The honeypot: a field people never see, so only bots fill it in.
    pub website: Option<String>,
    /// Idempotency key (a UUID) chosen by the client; a retry with the same one gets the first
    /// receipt.
    pub client_submission_id: Option<String>,
}

/// What the prospect is told: the lead's id, status and time, nothing else.
pub struct Receipt {
    pub id: Uuid,
    pub status: LeadStatus,
    pub submitted_at: DateTime<Utc>,
}

impl From<&lead::Model> for Receipt {
    fn from(lead: &lead::Model) -> Self {
        Self { id: lead.id, status: lead.status, submitted_at: lead.created_at }
    }
}

/// The uploaded résumé as spooled to a temporary file by the request parser.
pub struct ResumeUpload {
    pub file_name: String,
    pub file: std::fs::File,
}

/// Validates the lead and its file, stores the file, then writes the lead and its email jobs in
/// one transaction. Either all of it happens or none of it: a failed write removes the file.
pub async fn submit(state: &AppState, input: SubmitLead, upload: ResumeUpload) -> Result<Receipt, AppError> {
    if input.website.as_deref().is_some_and(|w| !w.trim().is_empty()) {
        // Looks accepted, so the bot learns nothing; nothing is stored or sent.
        tracing::info!("honeypot field filled in: submission discarded");
        return Ok(Receipt { id: Uuid::now_v7(), status: LeadStatus::Pending, submitted_at: clock::now() });
    }
    let client_submission_id = input
        .client_submission_id
        .as_deref()
        .map(|raw| raw.trim().parse::<Uuid>())
        .transpose()
        .map_err(|_| AppError::bad_input("clientSubmissionId", "must be a UUID, e.g. from crypto.randomUUID()"))?;
    if let Some(key) = client_submission_id
        && let Some(first) = find_by_submission_id(&state.db, key).await?
    {
        return Ok(Receipt::from(&first));
    }
    let first_name = validate::person_name(&input.first_name).map_err(|m| AppError::bad_input("firstName", m))?;
    let last_name = validate::person_name(&input.last_name).map_err(|m| AppError::bad_input("lastName", m))?;
    let email = validate::email(&input.email).map_err(|m| AppError::bad_input("email", m))?;

    let limit = state.config.max_upload_bytes;
    let ResumeUpload { file_name, file } = upload;
    let (kind, content) =
        tokio::task::spawn_blocking(move || inspect(file, limit)).await.context("inspecting the résumé")??;
    let size = content.size();

    let id = Uuid::now_v7();
    let key = format!("resumes/{}.{}", Uuid::new_v4(), kind.extension);
    let display_name = resume::sanitize_file_name(&file_name, kind);
    state.storage.put(&key, content).await.context("storing the résumé")?;

    let now = clock::now();
    let row = lead::Model {
        id,
        first_name,
        last_name,
        email,
        status: LeadStatus::Pending,
        resume_key: key.clone(),
        resume_file_name: display_name,
        resume_content_type: kind.content_type.to_owned(),
        resume_size_bytes: size as i64,
        created_at: now,
        updated_at: now,
        reached_out_at: None,
        reached_out_by: None,
        client_submission_id,
    };
    let saved = insert_with_jobs(state, &row).await;
    if saved.is_err()
        && let Err(cleanup) = state.storage.delete(&key).await
    {
        tracing::error!(error = ?cleanup, key, "could not remove the résumé of a lead that was not saved");
    }
    match saved {
        Ok(()) => {
            state.jobs_enqueued.notify_one();
            crate::metrics::lead_submitted();
            tracing::info!(lead = %id, size, content_type = kind.content_type, "lead submitted; its mails are queued");
            Ok(Receipt::from(&row))
        }
        // A concurrent retry with the same key won the race: answer as it did.
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            let key = client_submission_id.ok_or_else(|| AppError::Internal(e.into()))?;
            let first = find_by_submission_id(&state.db, key).await?.ok_or(AppError::NotFound("lead"))?;
            Ok(Receipt::from(&first))
        }
        Err(e) => Err(e.into()),
    }
}

async fn find_by_submission_id(db: &impl ConnectionTrait, key: Uuid) -> Result<Option<lead::Model>, DbErr> {
    lead::Entity::find().filter(lead::Column::ClientSubmissionId.eq(key)).one(db).await
}

/// Size and type checks on the spooled file, then the file made ready to store: blocking I/O,
/// done in one go so that a submission leaves the async threads once.
fn inspect(mut file: std::fs::File, limit: u64) -> Result<(resume::ResumeType, Content), AppError> {
    let size = file.metadata().context("reading the spooled résumé")?.len();
    if size == 0 {
        return Err(AppError::bad_input("resume", "is empty; choose the file again"));
    }
    if size > limit {
        return Err(AppError::FileTooLarge { limit_bytes: limit });
    }
    match resume::detect(&mut file).context("reading the spooled résumé")? {
        Ok(kind) => Ok((kind, Content::from_spooled(file, size).context("reading the spooled résumé")?)),
        Err(detected) => Err(AppError::UnsupportedFileType { detected }),
    }
}

async fn insert_with_jobs(state: &AppState, row: &lead::Model) -> Result<(), DbErr> {
    let attorneys = notification_recipients(&state.db, state.config.mail.notify.as_deref()).await?;
    if attorneys.is_empty() {
        tracing::warn!(lead = %row.id, "no active attorney or admin to notify of a new lead");
    }
    let mail = LeadMail {
        lead_id: row.id,
        first_name: row.first_name.clone(),
        last_name: row.last_name.clone(),
        email: row.email.clone(),
        resume_file_name: row.resume_file_name.clone(),
        submitted_at: row.created_at,
        lead_url: lead_url(&state.config.public_url, row.id),
    };
    let payload = serde_json::to_value(&mail).expect("LeadMail serialises");
    let mut jobs = vec![NewEmailJob {
        lead_id: Some(row.id),
        kind: EmailKind::LeadAcknowledgement,
        recipient: row.email.clone(),
        payload: payload.clone(),
    }];
    jobs.extend(attorneys.into_iter().map(|recipient| NewEmailJob {
        lead_id: Some(row.id),
        kind: EmailKind::LeadNotification,
        recipient,
        payload: payload.clone(),
    }));
    state.lead_writer.write(row.clone(), jobs).await
}

/// `INTAKE_NOTIFY_EMAILS` when set; otherwise every active attorney, or the admins if there is
/// no attorney yet.
async fn notification_recipients(
    conn: &impl ConnectionTrait,
    configured: Option<&[String]>,
) -> Result<Vec<String>, DbErr> {
    if let Some(list) = configured {
        return Ok(list.to_vec());
    }
    let staff = users::active_staff_emails(conn).await?;
    let attorneys: Vec<String> =
        staff.iter().filter(|(role, _)| *role == Role::Attorney).map(|(_, email)| email.clone()).collect();
    if !attorneys.is_empty() {
        return Ok(attorneys);
    }
    Ok(staff.into_iter().filter(|(role, _)| *role == Role::Admin).map(|(_, email)| email).collect())
}

/// A link that opens the lead in GraphiQL, query filled in.
fn lead_url(public_url: &str, id: Uuid) -> String {
    let query = format!(
        "query OpenLead {{\n  lead(id: \"{id}\") {{\n    id firstName lastName email status createdAt\n    resume {{ fileName contentType sizeBytes downloadUrl }}\n  }}\n}}\n"
    );
    let encoded: String = url::form_urlencoded::byte_serialize(query.as_bytes()).collect();
    format!("{public_url}/graphql?query={encoded}")
}

/// Where the résumé can be fetched for the next few minutes without the Authorization header:
/// a presigned GET on S3, else a signed link to this server.
pub async fn download_url(state: &AppState, lead: &lead::Model) -> Result<String, AppError> {
    let disposition = resume::content_disposition(&lead.resume_file_name);
    let ttl = state.config.download_link_ttl;
    match state.storage.presigned_get(&lead.resume_key, &disposition, &lead.resume_content_type, ttl).await {
        Some(url) => Ok(url.context("presigning a résumé download")?),
        None => Ok(state.links.url(&lead.resume_key, clock::now())),
    }
}

pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<lead::Model>, DbErr> {
    lead::Entity::find_by_id(id).one(db).await
}

pub async fn find_by_resume_key(db: &impl ConnectionTrait, key: &str) -> Result<Option<lead::Model>, DbErr> {
    lead::Entity::find().filter(lead::Column::ResumeKey.eq(key)).one(db).await
}

/// Which leads a listing covers, independent of paging.
#[derive(Clone, Debug, Default)]
pub struct LeadFilter {
    pub status: Option<LeadStatus>,
    pub search: Option<String>,
}

pub struct LeadPage {
    pub leads: Vec<lead::Model>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub filter: LeadFilter,
}

/// Newest first, `first` at a time, after an opaque cursor.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: LeadFilter,
    first: i32,
    after: Option<&str>,
) -> Result<LeadPage, AppError> {
    if !(0..=MAX_PAGE_SIZE).contains(&first) {
        return Err(AppError::bad_input("first", format!("must be between 0 and {MAX_PAGE_SIZE}")));
    }
    let filter = LeadFilter { search: normalise_search(filter.search)?, ..filter };
    let mut select = filtered(&filter);
    if let Some(cursor) = after {
        let (created_at, id) = decode_cursor(cursor)?;
        use lead::Column as C;
        select = select.filter(
            Condition::any()
                .add(C::CreatedAt.lt(created_at))
                .add(Condition::all().add(C::CreatedAt.eq(created_at)).add(C::Id.lt(id))),
        );
    }
    let mut leads = select
        .order_by_desc(lead::Column::CreatedAt)
        .order_by_desc(lead::Column::Id)
        .limit(first as u64 + 1)
        .all(db)
        .await?;
    let has_next_page = leads.len() > first as usize;
    leads.truncate(first as usize);
    Ok(LeadPage { leads, has_next_page, has_previous_page: after.is_some(), filter })
}

pub async fn count(db: &impl ConnectionTrait, filter: &LeadFilter) -> Result<u64, DbErr> {
    filtered(filter).count(db).await
}

fn filtered(filter: &LeadFilter) -> Select<lead::Entity> {
    use lead::Column as C;
    let mut select = lead::Entity::find();
    if let Some(status) = filter.status {
        select = select.filter(C::Status.eq(status));
    }
    if let Some(term) = &filter.search {
        let pattern = format!("%{}%", escape_like(&term.to_lowercase()));
        let matches =
            |col: C| Expr::expr(Func::lower(Expr::col(col))).like(LikeExpr::new(pattern.clone()).escape('\\'));
        select =
            select.filter(Condition::any().add(matches(C::FirstName)).add(matches(C::LastName)).add(matches(C::Email)));
    }
    select
}

fn normalise_search(search: Option<String>) -> Result<Option<String>, AppError> {
    let Some(term) = search.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if term.chars().count() > MAX_SEARCH_CHARS {
        return Err(AppError::bad_input("search", format!("must be at most {MAX_SEARCH_CHARS} characters")));
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

pub fn cursor(lead: &lead::Model) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{}:{}", lead.created_at.timestamp_micros(), lead.id))
}

fn decode_cursor(cursor: &str) -> Result<(DateTime<Utc>, Uuid), AppError> {
    let invalid = || AppError::bad_input("after", "is not a cursor returned by this API");
    let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(raw).map_err(|_| invalid())?;
    let mut parts = text.splitn(3, ':');
    let (Some("v1"), Some(micros), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid());
    };
    let created_at = micros.parse().ok().and_then(DateTime::from_timestamp_micros).ok_or_else(invalid)?;
    let id = id.parse().map_err(|_| invalid())?;
    Ok((created_at, id))
}

/// Moves a lead along its one allowed transition, PENDING → REACHED_OUT, recording who and when.
/// Asking for the status it already has changes nothing and is not an error.
pub async fn update_status(
    db: &impl ConnectionTrait,
    id: Uuid,
    status: LeadStatus,
    actor: &user::Model,
) -> Result<lead::Model, AppError> {
    use lead::Column as C;
    let lead = find(db, id).await?.ok_or(AppError::NotFound("lead"))?;
    if lead.status == status {
        return Ok(lead);
    }
    if (lead.status, status) != (LeadStatus::Pending, LeadStatus::ReachedOut) {
        return Err(AppError::InvalidStatusTransition { from: status_name(lead.status), to: status_name(status) });
    }
    let now = clock::now();
    // Conditional on the status we saw, so two attorneys clicking at once record one transition.
    lead::Entity::update_many()
        .col_expr(C::Status, Expr::value(LeadStatus::ReachedOut))
        .col_expr(C::ReachedOutAt, Expr::value(now))
        .col_expr(C::ReachedOutBy, Expr::value(actor.id))
        .col_expr(C::UpdatedAt, Expr::value(now))
        .filter(C::Id.eq(id))
        .filter(C::Status.eq(LeadStatus::Pending))
        .exec(db)
        .await?;
    tracing::info!(lead = %id, by = %actor.id, "lead marked REACHED_OUT");
    find(db, id).await?.ok_or(AppError::NotFound("lead"))
}

pub fn status_name(status: LeadStatus) -> &'static str {
    match status {
        LeadStatus::Pending => "PENDING",
        LeadStatus::ReachedOut => "REACHED_OUT",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_literal() {
        assert_eq!(escape_like("100%_a\\b"), "100\\%\\_a\\\\b");
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let now = clock::now();
        let lead = lead::Model {
            id: Uuid::now_v7(),
            first_name: "a".into(),
            last_name: "b".into(),
            email: "a@b.co".into(),
            status: LeadStatus::Pending,
            resume_key: "k".into(),
            resume_file_name: "f".into(),
            resume_content_type: "t".into(),
            resume_size_bytes: 1,
            created_at: now,
            updated_at: now,
            reached_out_at: None,
            reached_out_by: None,
            client_submission_id: None,
        };
        assert_eq!(decode_cursor(&cursor(&lead)).unwrap(), (now, lead.id));
        for bad in ["", "zzz", "djE6eDp5"] {
            assert_eq!(decode_cursor(bad).unwrap_err().code(), "BAD_USER_INPUT");
        }
    }
}
