use sea_orm::entity::prelude::*;

/// A schedule (admins edit these at run time); `kind` names code, `params` is JSON text
/// validated per kind.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "scheduled_jobs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub name: String,
    pub kind: String,
    /// Six fields, seconds first (five-field input is normalised on save).
    pub cron: String,
    /// IANA zone, e.g. `Asia/Shanghai`.
    pub timezone: String,
    pub enabled: bool,
    #[sea_orm(column_type = "Text")]
    pub params: String,
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
