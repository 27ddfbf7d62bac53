use sea_orm::entity::prelude::*;

/// How a party in the conflict register relates to the firm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(24))")]
pub enum PartyRole {
    #[sea_orm(string_value = "client")]
    Client,
    #[sea_orm(string_value = "former_client")]
    FormerClient,
    #[sea_orm(string_value = "adverse_party")]
    AdverseParty,
    #[sea_orm(string_value = "related_party")]
    RelatedParty,
}

/// A person or organisation in the firm's conflict register.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "conflict_parties")]
pub struct Model {
    /// A UUIDv7: ordering by id is ordering by time of entry.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub organization: Option<String>,
    pub role: PartyRole,
    pub note: Option<String>,
    pub created_at: DateTimeUtc,
    /// The admin who added it; null when imported from the command line.
    pub created_by: Option<Uuid>,
    /// The comparison keys (see `api/src/leads/conflicts/keys.rs`).
    pub name_key: String,
    pub email_key: Option<String>,
    pub organization_key: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
