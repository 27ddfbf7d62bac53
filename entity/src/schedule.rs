use sea_orm::entity::prelude::*;

/// A periodic task shared by every worker process: the one that moves `last_started_at`
/// forward runs it, the others skip.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "schedules")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub last_started_at: DateTimeUtc,
    /// The process that started it last (host and pid), for the logs.
    pub started_by: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
