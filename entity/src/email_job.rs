use sea_orm::entity::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum EmailKind {
    /// To the prospect: "we received your details".
    #[sea_orm(string_value = "lead_acknowledgement")]
    LeadAcknowledgement,
    /// To an attorney: "a new lead arrived".
    #[sea_orm(string_value = "lead_notification")]
    LeadNotification,
    /// To the assignee (or the notification list): the lead is still waiting at its deadline.
    #[sea_orm(string_value = "response_reminder")]
    ResponseReminder,
    /// To the admins: the lead is still waiting at twice its deadline.
    #[sea_orm(string_value = "response_escalation")]
    ResponseEscalation,
    /// To a user a lead was just assigned to by someone else.
    #[sea_orm(string_value = "lead_assigned")]
    LeadAssigned,
}

impl EmailKind {
    /// Mails that chase a lead's first response: moot once it is answered.
    pub fn is_chaser(self) -> bool {
        matches!(self, Self::ResponseReminder | Self::ResponseEscalation)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum JobState {
    /// Waiting to be sent, or to be retried at `run_at`.
    #[sea_orm(string_value = "queued")]
    Queued,
    #[sea_orm(string_value = "sent")]
    Sent,
    /// Gave up: permanent rejection or attempts exhausted; `last_error` says why.
    #[sea_orm(string_value = "dead")]
    Dead,
    /// Dropped unsent: no longer needed (a reminder for a lead answered before it fell due).
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "email_jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub lead_id: Option<Uuid>,
    pub kind: EmailKind,
    pub recipient: String,
    /// What the message is rendered from, snapshotted when the job was enqueued.
    pub payload: Json,
    pub state: JobState,
    pub attempts: i32,
    pub run_at: DateTimeUtc,
    /// A claimed job is leased until then; a crashed worker's jobs come back after it.
    pub locked_until: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
