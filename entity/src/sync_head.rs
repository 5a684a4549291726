//! `sync_head`: the one row (`id` 1) whose `seq` is the last sequence number handed to a
//! `change_log` row. Incrementing it locks the row until the writer commits, which is what
//! orders the log by commit (see `service::sync`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_head")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    pub seq: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
