use sea_orm::entity::prelude::*;

/// A key another system uses instead of a user's sign-in: `ik_<prefix>_<secret>`, stored as the
/// prefix (to find it) and the secret's SHA-256 (to check it).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    #[sea_orm(unique)]
    pub prefix: String,
    pub secret_hash: String,
    /// Scopes by their GraphQL names, comma-separated.
    pub scopes: String,
    pub created_at: DateTimeUtc,
    pub created_by: Option<Uuid>,
    pub expires_at: Option<DateTimeUtc>,
    pub last_used_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
