use sea_orm::entity::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum DeliveryState {
    /// Not tried yet.
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "delivered")]
    Delivered,
    /// The last attempt failed; another follows at `run_at`.
    #[sea_orm(string_value = "failed")]
    Failed,
    /// Given up on: attempts used up, or the endpoint answered 410 Gone.
    #[sea_orm(string_value = "dead")]
    Dead,
}

/// One event for one endpoint, written in the transaction of the change it reports; its id is
/// the `webhook-id` of every attempt.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub lead_id: Uuid,
    /// The event's GraphQL name (`LEAD_SUBMITTED`…).
    pub event: String,
    pub occurred_at: DateTimeUtc,
    pub state: DeliveryState,
    pub attempts: i32,
    pub run_at: DateTimeUtc,
    pub locked_until: Option<DateTimeUtc>,
    pub response_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub delivered_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
