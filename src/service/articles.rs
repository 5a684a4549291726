//! Public reads of the article catalogue: the feed, featured, one article, related.

use std::collections::HashMap;

use entity::{
    article::{self, ArticleStatus},
    article_tag, category, tag,
};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DerivePartialModel, EntityTrait, ExprTrait,
    QueryFilter, QueryOrder, QuerySelect,
    prelude::{DateTimeUtc, Expr},
    sea_query::{Func, LikeExpr, Query},
};

use crate::{
    error::{AppError, AppResult},
    pagination::{self, Page, TimeCursor},
};

/// What a list shows of an article: everything but the body.
#[derive(Debug, Clone, DerivePartialModel)]
#[sea_orm(entity = "article::Entity")]
pub struct ArticleCard {
    pub id: i64,
    pub title: String,
    pub summary: String,
    pub cover_url: Option<String>,
    pub author: String,
    pub source_name: String,
    pub category_id: Option<i64>,
    pub status: ArticleStatus,
    pub published_at: Option<DateTimeUtc>,
    pub featured: bool,
    pub featured_at: Option<DateTimeUtc>,
    pub view_count: i64,
    pub like_count: i64,
    pub comment_count: i64,
    pub favorite_count: i64,
}

/// An article (card or full model) with its category and tags resolved.
#[derive(Debug, Clone)]
pub struct WithTaxonomy<T> {
    pub article: T,
    pub category: Option<category::Model>,
    pub tags: Vec<tag::Model>,
}

pub type CardView = WithTaxonomy<ArticleCard>;
pub type ArticleView = WithTaxonomy<article::Model>;

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Category slug.
    pub category: Option<String>,
    /// Tag slug.
    pub tag: Option<String>,
    /// Words searched in title and summary.
    pub q: Option<String>,
}

fn time_keyset_after(time_col: article::Column, cursor: &TimeCursor) -> Expr {
    cursor.older(
        (article::Entity, time_col),
        (article::Entity, article::Column::Id),
    )
}

/// `LIKE` pattern matching `text` anywhere, with the wildcards in `text` taken literally.
/// It is lowercased: compare it with `LOWER(column)` to match regardless of case on every
/// backend (PostgreSQL's `LIKE` is case-sensitive, SQLite's is not).
pub(crate) fn contains_pattern(text: &str) -> LikeExpr {
    let escaped = text
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    LikeExpr::new(format!("%{escaped}%")).escape('\\')
}

/// Published articles, newest first, filtered by category, tag and search words.
pub async fn list_published(
    db: &DatabaseConnection,
    filter: &ListFilter,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> AppResult<Page<CardView>> {
    let limit = pagination::limit(limit)?;
    let cursor = cursor.map(TimeCursor::decode).transpose()?;
    let mut condition = Condition::all().add(article::Entity::published());

    if let Some(slug) = filter.category.as_deref() {
        match category::Entity::find()
            .filter(category::Column::Slug.eq(slug))
            .one(db)
            .await?
        {
            Some(c) => condition = condition.add(article::Column::CategoryId.eq(c.id)),
            None => return Ok(empty_page()),
        }
    }
    if let Some(slug) = filter.tag.as_deref() {
        match tag::Entity::find()
            .filter(tag::Column::Slug.eq(slug))
            .one(db)
            .await?
        {
            Some(t) => {
                condition = condition.add(
                    article::Column::Id.in_subquery(
                        Query::select()
                            .column(article_tag::Column::ArticleId)
                            .from(article_tag::Entity)
                            .and_where(article_tag::Column::TagId.eq(t.id))
                            .to_owned(),
                    ),
                )
            }
            None => return Ok(empty_page()),
        }
    }
    if let Some(q) = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        if q.chars().count() > 100 {
            return Err(AppError::bad_field("q", "q must be at most 100 characters"));
        }
        let pattern = contains_pattern(q);
        condition = condition.add(
            Condition::any()
                .add(
                    Expr::expr(Func::lower(Expr::col(article::Column::Title)))
                        .like(pattern.clone()),
                )
                .add(Expr::expr(Func::lower(Expr::col(article::Column::Summary))).like(pattern)),
        );
    }
    newest_cards(db, condition, Newest::Published, cursor, limit).await
}

/// Which time orders a list of cards.
#[derive(Clone, Copy)]
enum Newest {
    Published,
    Featured,
}

/// Cards matching `condition`, newest by `by` first, keyset paged, with their taxonomy.
async fn newest_cards(
    db: &DatabaseConnection,
    mut condition: Condition,
    by: Newest,
    cursor: Option<TimeCursor>,
    limit: u64,
) -> AppResult<Page<CardView>> {
    let (column, at): (_, fn(&ArticleCard) -> Option<DateTimeUtc>) = match by {
        Newest::Published => (article::Column::PublishedAt, |a| a.published_at),
        Newest::Featured => (article::Column::FeaturedAt, |a| a.featured_at),
    };
    if let Some(cursor) = &cursor {
        condition = condition.add(time_keyset_after(column, cursor));
    }
    let rows = article::Entity::find()
        .filter(condition)
        .order_by_desc(column)
        .order_by_desc(article::Column::Id)
        .limit(limit + 1)
        .into_partial_model::<ArticleCard>()
        .all(db)
        .await?;
    let page = pagination::page_from_rows(rows, limit, |a| {
        TimeCursor {
            at: at(a).unwrap_or_default(),
            id: a.id,
        }
        .encode()
    });
    with_taxonomy_page(db, page).await
}

/// Featured published articles, most recently featured first.
pub async fn list_featured(
    db: &DatabaseConnection,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> AppResult<Page<CardView>> {
    let limit = pagination::limit(limit)?;
    let cursor = cursor.map(TimeCursor::decode).transpose()?;
    let condition = Condition::all()
        .add(article::Entity::published())
        .add(article::Column::Featured.eq(true));
    newest_cards(db, condition, Newest::Featured, cursor, limit).await
}

/// One published article in full. Drafts and scheduled articles are "not found".
pub async fn get_published(db: &DatabaseConnection, id: i64) -> AppResult<ArticleView> {
    let article = article::Entity::find_published_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::not_found("article"))?;
    let mut views = with_taxonomy(db, vec![article], |a| (a.id, a.category_id)).await?;
    Ok(views.remove(0))
}

pub const RELATED_DEFAULT: u32 = 5;
pub const RELATED_MAX: u32 = 20;
/// How many candidates each signal contributes before scoring.
const RELATED_CANDIDATES: u64 = 50;

/// Articles related to `id`: most shared tags first, then same category, then the newest.
pub async fn related(
    db: &DatabaseConnection,
    id: i64,
    limit: Option<u32>,
) -> AppResult<Vec<CardView>> {
    let limit = match limit {
        None => RELATED_DEFAULT,
        Some(n) if (1..=RELATED_MAX).contains(&n) => n,
        Some(_) => {
            return Err(AppError::bad_field(
                "limit",
                format!("limit must be between 1 and {RELATED_MAX}"),
            ));
        }
    } as usize;
    let source = article::Entity::find_published_by_id(id)
        .into_partial_model::<ArticleCard>()
        .one(db)
        .await?
        .ok_or(AppError::not_found("article"))?;

    let tag_ids: Vec<i64> = article_tag::Entity::find()
        .filter(article_tag::Column::ArticleId.eq(id))
        .all(db)
        .await?
        .into_iter()
        .map(|t| t.tag_id)
        .collect();

    // Score = 2 per shared tag + 1 for the same category; ties go to the newest.
    let mut scores: HashMap<i64, i64> = HashMap::new();
    if !tag_ids.is_empty() {
        let shared = article_tag::Entity::find()
            .inner_join(article::Entity)
            .filter(article_tag::Column::TagId.is_in(tag_ids))
            .filter(article_tag::Column::ArticleId.ne(id))
            .filter(article::Entity::published())
            .order_by_desc(article::Column::PublishedAt)
            .limit(RELATED_CANDIDATES * 4)
            .all(db)
            .await?;
        for row in shared {
            *scores.entry(row.article_id).or_default() += 2;
        }
    }
    let mut candidates = Vec::new();
    if !scores.is_empty() {
        candidates = article::Entity::find()
            .filter(article::Column::Id.is_in(scores.keys().copied().collect::<Vec<_>>()))
            .into_partial_model::<ArticleCard>()
            .all(db)
            .await?;
    }
    if let Some(category_id) = source.category_id {
        let same_category = article::Entity::find_published()
            .filter(article::Column::CategoryId.eq(category_id))
            .filter(article::Column::Id.ne(id))
            .order_by_desc(article::Column::PublishedAt)
            .order_by_desc(article::Column::Id)
            .limit(RELATED_CANDIDATES)
            .into_partial_model::<ArticleCard>()
            .all(db)
            .await?;
        for card in same_category {
            if !scores.contains_key(&card.id) {
                candidates.push(card.clone());
            }
            *scores.entry(card.id).or_default() += 1;
        }
    }
    candidates.sort_by(|a, b| {
        scores[&b.id]
            .cmp(&scores[&a.id])
            .then(b.published_at.cmp(&a.published_at))
            .then(b.id.cmp(&a.id))
    });
    candidates.truncate(limit);

    if candidates.len() < limit {
        let mut exclude: Vec<i64> = candidates.iter().map(|c| c.id).collect();
        exclude.push(id);
        let newest = article::Entity::find_published()
            .filter(article::Column::Id.is_not_in(exclude))
            .order_by_desc(article::Column::PublishedAt)
            .order_by_desc(article::Column::Id)
            .limit((limit - candidates.len()) as u64)
            .into_partial_model::<ArticleCard>()
            .all(db)
            .await?;
        candidates.extend(newest);
    }
    with_taxonomy(db, candidates, |a| (a.id, a.category_id)).await
}

/// Published articles by id, in the order of `ids` (missing or unpublished ones skipped).
pub async fn cards_by_ids(db: &DatabaseConnection, ids: &[i64]) -> AppResult<Vec<CardView>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut cards = article::Entity::find_published()
        .filter(article::Column::Id.is_in(ids.to_vec()))
        .into_partial_model::<ArticleCard>()
        .all(db)
        .await?;
    let position: HashMap<i64, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    cards.sort_by_key(|c| position.get(&c.id).copied().unwrap_or(usize::MAX));
    with_taxonomy(db, cards, |a| (a.id, a.category_id)).await
}

fn empty_page<T>() -> Page<T> {
    Page {
        items: Vec::new(),
        next_cursor: None,
    }
}

async fn with_taxonomy_page(
    db: &DatabaseConnection,
    page: Page<ArticleCard>,
) -> AppResult<Page<CardView>> {
    let items = with_taxonomy(db, page.items, |a| (a.id, a.category_id)).await?;
    Ok(Page {
        items,
        next_cursor: page.next_cursor,
    })
}

/// Resolves categories and tags for a batch of articles in two queries.
pub async fn with_taxonomy<T>(
    db: &DatabaseConnection,
    articles: Vec<T>,
    keys: impl Fn(&T) -> (i64, Option<i64>),
) -> AppResult<Vec<WithTaxonomy<T>>> {
    if articles.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = articles.iter().map(|a| keys(a).0).collect();
    let mut category_ids: Vec<i64> = articles.iter().filter_map(|a| keys(a).1).collect();
    category_ids.sort_unstable();
    category_ids.dedup();

    let categories: HashMap<i64, category::Model> = if category_ids.is_empty() {
        HashMap::new()
    } else {
        category::Entity::find()
            .filter(category::Column::Id.is_in(category_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect()
    };

    let mut tags_by_article: HashMap<i64, Vec<tag::Model>> = HashMap::new();
    let links = article_tag::Entity::find()
        .filter(article_tag::Column::ArticleId.is_in(ids))
        .find_also_related(tag::Entity)
        .order_by_asc(tag::Column::Name)
        .all(db)
        .await?;
    for (link, tag) in links {
        if let Some(tag) = tag {
            tags_by_article
                .entry(link.article_id)
                .or_default()
                .push(tag);
        }
    }

    Ok(articles
        .into_iter()
        .map(|article| {
            let (id, category_id) = keys(&article);
            WithTaxonomy {
                category: category_id.and_then(|c| categories.get(&c).cloned()),
                tags: tags_by_article.remove(&id).unwrap_or_default(),
                article,
            }
        })
        .collect())
}
