use sea_orm::entity::prelude::*;

use crate::push_delivery::Channel;

/// A range of one campaign's deliveries on one channel, claimed as a whole: the work queue
/// the delivery workers read, and the lease of the worker sending it. Keeping the queue here
/// leaves `push_deliveries` with no index on what changes per send (status, lease), so
/// PostgreSQL updates its rows in place (HOT) instead of rewriting every index per send.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "push_chunks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub campaign_id: i64,
    pub channel: Channel,
    /// Delivery ids `first_id..=last_id` of this campaign and channel (rows of other
    /// campaigns or channels in between are not part of it).
    pub first_id: i64,
    pub last_id: i64,
    /// When its earliest pending delivery is due; None once nothing in it is pending.
    pub next_attempt_at: Option<DateTimeUtc>,
    /// The claim (`<instance>/<n>`) sending it, until `lease_until`.
    pub claimed_by: Option<String>,
    pub lease_until: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
