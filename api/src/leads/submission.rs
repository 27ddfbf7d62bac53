//! Leads: submission (with its résumé, its conflict check, its mails, its deadline and its link
//! to earlier submissions by the same person), look-ups and résumé downloads. Listing is in
//! `list.rs`, changes in `changes.rs`.

use anyhow::Context;
use chrono::{DateTime, Utc};
use entity::{
    email_job::EmailKind,
    lead::{self, LeadOutcome, LeadStatus},
    replaced_resume,
    user::Role,
};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, SqlErr};
use tracing::Instrument;
use uuid::Uuid;

use crate::{
    accounts::users,
    error::AppError,
    infra::clock,
    infra::mail::messages::{ConflictMail, EarlierLead, LeadMail},
    infra::validate,
    leads::attribution::{self, Attribution},
    leads::conflicts::{
        check::{self, Finding, FirstLead, Hit, Source},
        keys,
    },
    leads::outbox::queue::NewEmailJob,
    leads::resume,
    leads::service::{LeadSettings, Leads},
};

pub struct SubmitLead {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    /// The honeypot: a field people never see, so only bots fill it in.
    pub website: Option<String>,
    /// Idempotency key (a UUID) chosen by the client; a retry with the same one gets the first
    /// receipt.
    pub client_submission_id: Option<String>,
    /// The form's consent box, ticked (`true`) or not.
    pub consent: Option<bool>,
    /// Where the submission came from, kept with a consent given.
    pub client: Client,
    /// `website`, an integration's name…; an API key's name when it sends none.
    pub source: Option<String>,
    pub attribution: Option<Attribution>,
}

#[derive(Clone, Debug, Default)]
pub struct Client {
    pub ip: Option<std::net::IpAddr>,
    pub user_agent: Option<String>,
}

/// Longest user agent kept with a consent.
const MAX_USER_AGENT_CHARS: usize = 512;

/// What a consent was given to: the SHA-256 of the text shown, in hex.
pub fn consent_text_version(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
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
pub async fn submit(leads: &Leads, input: SubmitLead, upload: ResumeUpload) -> Result<Receipt, AppError> {
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
        && let Some(first) = find_by_submission_id(&leads.db, key).await?
    {
        return Ok(Receipt::from(&first));
    }
    let first_name = validate::person_name(&input.first_name).map_err(|m| AppError::bad_input("firstName", m))?;
    let last_name = validate::person_name(&input.last_name).map_err(|m| AppError::bad_input("lastName", m))?;
    let email = validate::email(&input.email).map_err(|m| AppError::bad_input("email", m))?;
    let source = attribution::source(input.source)?;
    let attribution = input.attribution.map(Attribution::checked).transpose()?.flatten();
    let consented = input.consent == Some(true);
    if leads.settings.require_consent && !consented {
        return Err(AppError::bad_input("consent", "must be given: tick the box to agree, then send again"));
    }

    let now = clock::now();
    // The row as the prospect's input makes it; its conflict check and résumé come next.
    let row = lead::Model {
        id: Uuid::now_v7(),
        email_key: email.to_lowercase(),
        name_key: keys::lead_name_key(&first_name, &last_name),
        first_name,
        last_name,
        email,
        status: LeadStatus::Pending,
        created_at: now,
        updated_at: now,
        client_submission_id,
        outcome: LeadOutcome::Open,
        respond_by: leads.settings.deadline.respond_by(now),
        consent_given_at: consented.then_some(now),
        consent_text_version: consented.then(|| leads.settings.consent_text_version.clone()),
        consent_ip: input.client.ip.filter(|_| consented).map(|ip| ip.to_string()),
        consent_user_agent: input
            .client
            .user_agent
            .filter(|_| consented)
            .map(|agent| agent.chars().filter(|c| !c.is_control()).take(MAX_USER_AGENT_CHARS).collect()),
        source,
        attribution,
        ..lead::Model::default()
    };
    // From here on the submission runs to its end even if the client goes away or the request
    // times out: stopped half-way, it would leave a stored résumé that no lead names, and lose
    // a lead whose form had arrived whole. A retry with the same key gets this lead's receipt.
    let own = leads.clone();
    let stored = leads.tasks.spawn(async move { store_lead(&own, row, upload).await }.in_current_span());
    stored.await.context("storing the submission")?
}

/// Checks the lead for conflicts, stores its résumé, and writes it with its mails.
async fn store_lead(leads: &Leads, mut row: lead::Model, upload: ResumeUpload) -> Result<Receipt, AppError> {
    let subject = check::Subject {
        lead_id: row.id,
        name_key: &row.name_key,
        email_key: &row.email_key,
        email: &row.email,
        submitted_at: row.created_at,
    };
    // The address's first lead comes with the check's reads: a new lead repeats it.
    let (earlier, candidates) = check::look_up(&leads.db, &subject).await?;
    let finding = check::judge(&subject, earlier.as_ref(), candidates);
    let ResumeFile { key, file_name, content_type, size_bytes } = store_resume(leads, upload).await?;
    row.resume_key = key;
    row.resume_file_name = file_name;
    row.resume_content_type = content_type;
    row.resume_size_bytes = size_bytes;
    row.duplicate_of = earlier.as_ref().map(|e| e.id);
    row.conflict_state = finding.state;
    row.conflict_hits = Some(serde_json::to_value(&finding.hits).expect("hits serialise"));
    row.conflict_checked_at = Some(row.created_at);
    let saved = insert_with_jobs(leads, &row, earlier.as_ref(), &finding).await;
    if saved.is_err() {
        discard_resume(leads, &row.resume_key).await;
    }
    match saved {
        Ok(()) => {
            leads.announcer.mail_enqueued();
            crate::infra::metrics::lead_submitted();
            tracing::info!(lead = %row.id, size = row.resume_size_bytes, content_type = row.resume_content_type, "lead submitted; its mails are queued");
            Ok(Receipt::from(&row))
        }
        // A concurrent retry with the same key won the race: answer as it did.
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            let key = row.client_submission_id.ok_or_else(|| AppError::Internal(e.into()))?;
            let first = find_by_submission_id(&leads.db, key).await?.ok_or(AppError::NotFound("lead"))?;
            Ok(Receipt::from(&first))
        }
        Err(e) => Err(e.into()),
    }
}

async fn find_by_submission_id(db: &impl ConnectionTrait, key: Uuid) -> Result<Option<lead::Model>, DbErr> {
    lead::Entity::find().filter(lead::Column::ClientSubmissionId.eq(key)).one(db).await
}

/// Checks the spooled upload and puts it in the store under a new key.
pub(crate) async fn store_resume(leads: &Leads, upload: ResumeUpload) -> Result<ResumeFile, AppError> {
    let limit = leads.settings.max_upload_bytes;
    let ResumeUpload { file_name, file } = upload;
    let storage = leads.storage.clone();
    // One hop off the async threads both inspects the upload and, on the local disk, stores it.
    let (kind, size, key, content) = tokio::task::spawn_blocking(move || {
        let (kind, file, size) = inspect(file, limit)?;
        let key = format!("resumes/{}.{}", Uuid::new_v4(), kind.extension);
        let content = storage.prepare(&key, file, size).context("storing the résumé")?;
        Ok::<_, AppError>((kind, size, key, content))
    })
    .await
    .context("inspecting the résumé")??;
    leads.storage.put(&key, content).await.context("storing the résumé")?;
    Ok(ResumeFile {
        key,
        file_name: resume::sanitize_file_name(&file_name, kind),
        content_type: kind.content_type.to_owned(),
        size_bytes: size as i64,
    })
}

/// Removes a stored résumé whose database write failed.
pub(crate) async fn discard_resume(leads: &Leads, key: &str) {
    if let Err(cleanup) = leads.storage.delete(key).await {
        tracing::error!(error = ?cleanup, key, "could not remove the résumé of a change that was not saved");
    }
}

/// Size and type checks on the spooled file (blocking I/O); returns its type, the file and its
/// size.
fn inspect(mut file: std::fs::File, limit: u64) -> Result<(resume::ResumeType, std::fs::File, u64), AppError> {
    let size = file.metadata().context("reading the spooled résumé")?.len();
    if size == 0 {
        return Err(AppError::bad_input("resume", "is empty; choose the file again"));
    }
    if size > limit {
        return Err(AppError::FileTooLarge { limit_bytes: limit });
    }
    match resume::detect(&mut file).context("reading the spooled résumé")? {
        Ok(kind) => Ok((kind, file, size)),
        Err(detected) => Err(AppError::UnsupportedFileType { detected }),
    }
}

async fn insert_with_jobs(
    leads: &Leads,
    row: &lead::Model,
    earlier: Option<&FirstLead>,
    finding: &Finding,
) -> Result<(), DbErr> {
    let staff = leads.staff.active(&leads.db).await?;
    let attorneys = recipients_among(&staff, leads.settings.notify.as_deref());
    if attorneys.is_empty() {
        tracing::warn!(lead = %row.id, "no active attorney or admin to notify of a new lead");
    }
    let mail = LeadMail {
        duplicate_of: earlier.map(|e| EarlierLead {
            lead_id: e.id,
            submitted_at: e.created_at,
            lead_url: lead_url(&leads.settings.public_url, e.id),
        }),
        conflicts: finding.conflicting().map(conflict_mail).collect(),
        ..lead_mail(&leads.settings, row)
    };
    let payload = serde_json::to_value(&mail).expect("LeadMail serialises");
    let job = |kind, recipient: &String, run_at| NewEmailJob {
        lead_id: Some(row.id),
        kind,
        recipient: recipient.clone(),
        payload: payload.clone(),
        run_at,
    };
    let mut jobs = vec![job(EmailKind::LeadAcknowledgement, &row.email, None)];
    jobs.extend(attorneys.iter().map(|to| job(EmailKind::LeadNotification, to, None)));
    // The chasers, due at the deadline and at twice the target; the writer sends the reminder
    // to the round-robin assignee alone, and the answer to the lead drops both.
    if let Some(due) = row.respond_by {
        jobs.extend(attorneys.iter().map(|to| job(EmailKind::ResponseReminder, to, Some(due))));
    }
    if let Some(due) = leads.settings.deadline.escalate_at(row.created_at) {
        let admins = staff.iter().filter(|(role, _)| *role == Role::Admin);
        jobs.extend(admins.map(|(_, to)| job(EmailKind::ResponseEscalation, to, Some(due))));
    }
    leads.writer.write(row.clone(), jobs).await
}

/// What a lead's mails show of it: who, when, where to open it, and its deadline.
pub(crate) fn lead_mail(settings: &LeadSettings, lead: &lead::Model) -> LeadMail {
    LeadMail {
        lead_id: lead.id,
        first_name: lead.first_name.clone(),
        last_name: lead.last_name.clone(),
        email: lead.email.clone(),
        resume_file_name: lead.resume_file_name.clone(),
        submitted_at: lead.created_at,
        lead_url: lead_url(&settings.public_url, lead.id),
        respond_by: lead.respond_by,
        ..LeadMail::default()
    }
}

fn conflict_mail(hit: &Hit) -> ConflictMail {
    let what = match (&hit.source, &hit.role) {
        (Source::Register, Some(role)) => format!("register: {role}"),
        (Source::Register, None) => "register".to_owned(),
        (Source::Lead, _) => "an earlier lead".to_owned(),
    };
    ConflictMail { name: hit.name.clone(), what, matched_on: hit.matched_on.clone(), score: hit.score }
}

/// `INTAKE_NOTIFY_EMAILS` when set; otherwise every active attorney, or the admins if there is
/// no attorney yet.
pub(crate) async fn notification_recipients(
    conn: &impl ConnectionTrait,
    configured: Option<&[String]>,
) -> Result<Vec<String>, DbErr> {
    if let Some(list) = configured {
        return Ok(list.to_vec());
    }
    Ok(recipients_among(&users::active_staff_emails(conn).await?, None))
}

fn recipients_among(staff: &[(Role, String)], configured: Option<&[String]>) -> Vec<String> {
    if let Some(list) = configured {
        return list.to_vec();
    }
    let of = |wanted: Role| staff.iter().filter(move |(role, _)| *role == wanted).map(|(_, email)| email.clone());
    let attorneys: Vec<String> = of(Role::Attorney).collect();
    if attorneys.is_empty() { of(Role::Admin).collect() } else { attorneys }
}

/// A link that opens the lead in GraphiQL, query filled in.
fn lead_url(public_url: &str, id: Uuid) -> String {
    let query = format!(
        "query OpenLead {{\n  lead(id: \"{id}\") {{\n    id firstName lastName email status createdAt\n    resume {{ fileName contentType sizeBytes downloadUrl }}\n  }}\n}}\n"
    );
    let encoded: String = url::form_urlencoded::byte_serialize(query.as_bytes()).collect();
    format!("{public_url}/graphql?query={encoded}")
}

/// A résumé in the store: a lead's current one or one it replaced.
#[derive(Clone, Debug)]
pub struct ResumeFile {
    pub key: String,
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: i64,
}

impl From<&lead::Model> for ResumeFile {
    fn from(lead: &lead::Model) -> Self {
        Self {
            key: lead.resume_key.clone(),
            file_name: lead.resume_file_name.clone(),
            content_type: lead.resume_content_type.clone(),
            size_bytes: lead.resume_size_bytes,
        }
    }
}

impl From<replaced_resume::Model> for ResumeFile {
    fn from(old: replaced_resume::Model) -> Self {
        Self { key: old.key, file_name: old.file_name, content_type: old.content_type, size_bytes: old.size_bytes }
    }
}

pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<lead::Model>, DbErr> {
    lead::Entity::find_by_id(id).one(db).await
}

/// The résumé stored under `key`, current or replaced, with its lead's id.
pub async fn find_resume(db: &impl ConnectionTrait, key: &str) -> Result<Option<(Uuid, ResumeFile)>, DbErr> {
    if let Some(lead) = lead::Entity::find().filter(lead::Column::ResumeKey.eq(key)).one(db).await? {
        return Ok(Some((lead.id, ResumeFile::from(&lead))));
    }
    Ok(replaced_resume::Entity::find_by_id(key).one(db).await?.map(|old| (old.lead_id, ResumeFile::from(old))))
}
