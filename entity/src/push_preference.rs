use sea_orm::entity::prelude::*;

/// A user's push settings; users without a row get the defaults (everything, no quiet hours).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "push_preferences")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: i64,
    pub opted_out: bool,
    /// JSON array of category slugs; empty = all categories.
    #[sea_orm(column_type = "Text")]
    pub categories: String,
    /// Minutes after local midnight.
    pub quiet_start_minute: Option<i32>,
    pub quiet_end_minute: Option<i32>,
    pub timezone: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
