use sea_orm::entity::prelude::*;

/// Where the firm's other systems hear about leads.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub url: String,
    /// The events it takes, by their GraphQL names, comma-separated.
    pub events: String,
    /// Cleared by an admin, or by the receiver answering 410 Gone.
    pub active: bool,
    pub description: Option<String>,
    /// `whsec_<base64>`, as the Standard Webhooks libraries take it. Kept as it is: signing
    /// needs it, and a hash would not do.
    pub secret: String,
    /// The secret before the last rotation, still signing beside the new one until
    /// `previous_secret_until`.
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub created_by: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
