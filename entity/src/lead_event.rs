use sea_orm::entity::prelude::*;

/// What happened to a lead. The details of each kind are in `data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum EventKind {
    #[sea_orm(string_value = "submitted")]
    Submitted,
    #[sea_orm(string_value = "status_changed")]
    StatusChanged,
    #[sea_orm(string_value = "fields_updated")]
    FieldsUpdated,
    #[sea_orm(string_value = "resume_replaced")]
    ResumeReplaced,
    #[sea_orm(string_value = "assigned")]
    Assigned,
    #[sea_orm(string_value = "note_added")]
    NoteAdded,
    #[sea_orm(string_value = "email_sent")]
    EmailSent,
    #[sea_orm(string_value = "email_failed")]
    EmailFailed,
    /// No acknowledgement was queued: the prospect's address had as many as allowed lately.
    #[sea_orm(string_value = "acknowledgement_capped")]
    AcknowledgementCapped,
    /// The conflict check ran (at submission or again on request).
    #[sea_orm(string_value = "conflict_checked")]
    ConflictChecked,
    /// An attorney decided a possible conflict.
    #[sea_orm(string_value = "conflict_resolved")]
    ConflictResolved,
    #[sea_orm(string_value = "outcome_set")]
    OutcomeSet,
    /// Someone downloaded one of the lead's résumés.
    #[sea_orm(string_value = "resume_downloaded")]
    ResumeDownloaded,
    /// An admin exported everything Intake holds on the person.
    #[sea_orm(string_value = "lead_exported")]
    LeadExported,
    /// The person's data was erased (on request or by retention).
    #[sea_orm(string_value = "lead_erased")]
    LeadErased,
    /// A legal hold was placed or lifted.
    #[sea_orm(string_value = "legal_hold_set")]
    LegalHoldSet,
}

impl EventKind {
    /// Kinds that record who looked at, exported or erased the person's data.
    pub fn is_access(self) -> bool {
        matches!(self, Self::ResumeDownloaded | Self::LeadExported | Self::LeadErased)
    }
}

/// Who did it: a signed-in user, the system (worker, round-robin), the prospect, or another
/// system of the firm's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum ActorKind {
    #[sea_orm(string_value = "user")]
    User,
    #[sea_orm(string_value = "system")]
    System,
    #[sea_orm(string_value = "prospect")]
    Prospect,
    /// One of the firm's other systems (a webhook endpoint or an API key) following a résumé link.
    #[sea_orm(string_value = "integration")]
    Integration,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "lead_events")]
pub struct Model {
    /// A UUIDv7: ordering by id is ordering by time of recording.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub lead_id: Uuid,
    pub kind: EventKind,
    pub actor_kind: ActorKind,
    pub actor_id: Option<Uuid>,
    pub data: Json,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
