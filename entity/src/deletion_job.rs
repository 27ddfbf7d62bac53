use sea_orm::entity::prelude::*;

/// What an erasure still has to delete outside the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum DeletionTarget {
    /// A résumé in the object store, by key.
    #[sea_orm(string_value = "object")]
    Object,
    /// The `.eml` copy the file mail transport wrote, by mail job id.
    #[sea_orm(string_value = "mail_copy")]
    MailCopy,
}

/// Written in the erasure's transaction and removed once the deletion succeeded, so a crash or
/// a store that is down loses none of them.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deletion_jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub target: DeletionTarget,
    pub key: String,
    pub lead_id: Option<Uuid>,
    pub attempts: i32,
    pub run_at: DateTimeUtc,
    pub locked_until: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
