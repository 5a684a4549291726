//! sea-orm entities, one module per table.

pub mod app_release;
pub mod article;
pub mod article_tag;
pub mod category;
pub mod resource;
pub mod tag;
