//! `change_log`: one row per change of an article that the public reads show (new, edited,
//! featured, published, unpublished, deleted; counts excluded), for `GET /api/sync`. `seq`
//! is taken from `sync_head` under its row lock, so rows commit in `seq` order (see
//! `service::sync`). No foreign key: a deleted article's rows are its tombstone.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "change_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    pub article_id: i64,
    pub changed_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
