//! Feeds out: which articles the site's feeds carry (the whole site, featured, one
//! category, one tag), in full. Rendering them as RSS, Atom or JSON Feed is `api::feeds`.

use entity::{article, category, tag};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use super::articles::{self, ArticleView, ListFilter};
use crate::error::{AppError, AppResult};

/// Items per feed: the newest ones.
pub const FEED_ITEMS: u32 = 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedScope {
    All,
    Featured,
    Category(String),
    Tag(String),
}

/// A feed's title and its articles, newest first.
pub struct FeedContent {
    pub title: String,
    pub items: Vec<ArticleView>,
}

/// The articles of `scope`; an unknown category or tag is "not found".
pub async fn content(db: &DatabaseConnection, scope: &FeedScope) -> AppResult<FeedContent> {
    let (title, page) = match scope {
        FeedScope::All => (
            "优质分享".to_string(),
            articles::list_published(db, &ListFilter::default(), None, Some(FEED_ITEMS)).await?,
        ),
        FeedScope::Featured => (
            "优质分享 · 精选".to_string(),
            articles::list_featured(db, None, Some(FEED_ITEMS)).await?,
        ),
        FeedScope::Category(slug) => {
            let found = category::Entity::find()
                .filter(category::Column::Slug.eq(slug.as_str()))
                .one(db)
                .await?
                .ok_or(AppError::not_found("category"))?;
            let filter = ListFilter {
                category: Some(slug.clone()),
                ..ListFilter::default()
            };
            (
                format!("优质分享 · {}", found.name),
                articles::list_published(db, &filter, None, Some(FEED_ITEMS)).await?,
            )
        }
        FeedScope::Tag(slug) => {
            let found = tag::Entity::find()
                .filter(tag::Column::Slug.eq(slug.as_str()))
                .one(db)
                .await?
                .ok_or(AppError::not_found("tag"))?;
            let filter = ListFilter {
                tag: Some(slug.clone()),
                ..ListFilter::default()
            };
            (
                format!("优质分享 · #{}", found.name),
                articles::list_published(db, &filter, None, Some(FEED_ITEMS)).await?,
            )
        }
    };
    let ids: Vec<i64> = page.items.iter().map(|c| c.article.id).collect();
    let mut full = article::Entity::find_published()
        .filter(article::Column::Id.is_in(ids.clone()))
        .all(db)
        .await?;
    let position = |id: i64| ids.iter().position(|i| *i == id).unwrap_or(usize::MAX);
    full.sort_by_key(|a| position(a.id));
    let items = articles::with_taxonomy(db, full, |a| (a.id, a.category_id)).await?;
    Ok(FeedContent { title, items })
}
