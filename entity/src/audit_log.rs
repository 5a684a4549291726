use sea_orm::entity::prelude::*;

/// One administrative change. `before` and `after` are small JSON summaries (never secrets);
/// `actor_id` is not a foreign key so that the history outlives the account.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: DateTimeUtc,
    /// None for the command line and the system.
    pub actor_id: Option<i64>,
    pub actor_name: String,
    /// `<object type>.<verb>`, e.g. `article.update`.
    pub action: String,
    pub object_type: String,
    pub object_id: Option<i64>,
    /// JSON text.
    #[sea_orm(column_type = "Text", nullable)]
    pub before: Option<String>,
    /// JSON text.
    #[sea_orm(column_type = "Text", nullable)]
    pub after: Option<String>,
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
