use sea_orm::entity::prelude::*;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum LeadStatus {
    #[default]
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "reached_out")]
    ReachedOut,
}

/// Where the lead's conflict-of-interest check stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(24))")]
pub enum ConflictState {
    /// Nothing in the register or other people's leads matched.
    #[default]
    #[sea_orm(string_value = "clear")]
    Clear,
    /// Something matched; an attorney must decide.
    #[sea_orm(string_value = "possible_conflict")]
    PossibleConflict,
    #[sea_orm(string_value = "cleared")]
    Cleared,
    #[sea_orm(string_value = "conflict")]
    Conflict,
}

/// What came of the lead for the firm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum LeadOutcome {
    #[default]
    #[sea_orm(string_value = "open")]
    Open,
    #[sea_orm(string_value = "consultation_scheduled")]
    ConsultationScheduled,
    #[sea_orm(string_value = "retained")]
    Retained,
    #[sea_orm(string_value = "declined")]
    Declined,
    #[sea_orm(string_value = "referred_out")]
    ReferredOut,
    #[sea_orm(string_value = "no_response")]
    NoResponse,
}

impl LeadOutcome {
    /// The lead's intake is over: no reminder is due any more, and it counts in the conversion
    /// rate.
    pub fn is_decided(self) -> bool {
        !matches!(self, Self::Open | Self::ConsultationScheduled)
    }
}

/// `Default` is for fixtures (tests, benchmarks) that fill in what they care about.
#[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "leads")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub status: LeadStatus,
    /// Key of the résumé in object storage; generated, never the client's filename.
    #[sea_orm(unique)]
    pub resume_key: String,
    /// The client's filename, sanitised, for display and downloads only.
    pub resume_file_name: String,
    /// Detected from the file's content, not from what the client claimed.
    pub resume_content_type: String,
    pub resume_size_bytes: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub reached_out_at: Option<DateTimeUtc>,
    pub reached_out_by: Option<Uuid>,
    /// The public form's idempotency key: a retry with the same id gets the first receipt.
    #[sea_orm(unique)]
    pub client_submission_id: Option<Uuid>,
    /// The attorney (or admin) working this lead.
    pub assigned_to: Option<Uuid>,
    /// The first lead submitted with the same email address, when this one repeats it.
    pub duplicate_of: Option<Uuid>,
    /// `email` in lower case: how repeat submissions are found.
    pub email_key: String,
    /// The name as the conflict check compares it (see `leads/conflicts/keys.rs`).
    pub name_key: String,
    pub conflict_state: ConflictState,
    /// What the last check found, as `leads::conflicts::Hit`s; null before the first check.
    pub conflict_hits: Option<Json>,
    /// Null for leads submitted before conflict checks existed and never checked since.
    pub conflict_checked_at: Option<DateTimeUtc>,
    pub conflict_decided_by: Option<Uuid>,
    pub conflict_decided_at: Option<DateTimeUtc>,
    pub conflict_note: Option<String>,
    pub outcome: LeadOutcome,
    pub outcome_reason: Option<String>,
    pub outcome_at: Option<DateTimeUtc>,
    pub outcome_by: Option<Uuid>,
    /// The response deadline; null when the firm has none.
    pub respond_by: Option<DateTimeUtc>,
    /// When the prospect ticked the form's consent box; null when they did not.
    pub consent_given_at: Option<DateTimeUtc>,
    /// SHA-256 (hex) of the consent text they were shown.
    pub consent_text_version: Option<String>,
    pub consent_ip: Option<String>,
    pub consent_user_agent: Option<String>,
    /// Set once the person's data was erased: the row is a tombstone from then on.
    pub erased_at: Option<DateTimeUtc>,
    /// Who erased it; null for the retention sweep.
    pub erased_by: Option<Uuid>,
    /// Why: the admin's reason, or `retention`.
    pub erasure_reason: Option<String>,
    /// Neither erasure nor retention may touch the lead while set.
    pub legal_hold: bool,
    pub legal_hold_reason: Option<String>,
    pub legal_hold_at: Option<DateTimeUtc>,
    pub legal_hold_by: Option<Uuid>,
    /// Where the lead came from: the form says `website`; an API key's name by default.
    pub source: Option<String>,
    /// UTM parameters, click ids, referrer and landing page, as `leads::attribution::Attribution`.
    pub attribution: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
