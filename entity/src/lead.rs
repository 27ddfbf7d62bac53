use sea_orm::entity::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum LeadStatus {
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "reached_out")]
    ReachedOut,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
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
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
