//! Categories and tags, with the number of published articles in each. Edits are audited
//! in their own transaction (`service::audit`).

use std::collections::HashMap;

use entity::{article, article_tag, category, tag};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::{Value, json};

use super::{
    audit::{self, Actor, Entry},
    sync,
    validate::{self, Slug},
};
use crate::{
    cache::read_through::ReadCache,
    db,
    error::{AppError, AppResult, ErrorCode},
    time,
    unique::{OnUnique, UniqueIndex},
};

#[derive(Debug, Clone)]
pub struct Counted<T> {
    pub item: T,
    pub article_count: i64,
}

pub async fn categories(db: &DatabaseConnection) -> AppResult<Vec<Counted<category::Model>>> {
    let counts: HashMap<i64, i64> = article::Entity::find()
        .select_only()
        .column(article::Column::CategoryId)
        .column_as(article::Column::Id.count(), "n")
        .filter(article::Entity::published())
        .filter(article::Column::CategoryId.is_not_null())
        .group_by(article::Column::CategoryId)
        .into_tuple::<(Option<i64>, i64)>()
        .all(db)
        .await?
        .into_iter()
        .filter_map(|(id, n)| id.map(|id| (id, n)))
        .collect();
    let list = category::Entity::find()
        .order_by_asc(category::Column::SortOrder)
        .order_by_asc(category::Column::Id)
        .all(db)
        .await?;
    Ok(list
        .into_iter()
        .map(|c| Counted {
            article_count: counts.get(&c.id).copied().unwrap_or(0),
            item: c,
        })
        .collect())
}

pub async fn tags(db: &DatabaseConnection) -> AppResult<Vec<Counted<tag::Model>>> {
    let counts: HashMap<i64, i64> = article_tag::Entity::find()
        .inner_join(article::Entity)
        .select_only()
        .column(article_tag::Column::TagId)
        .column_as(article_tag::Column::ArticleId.count(), "n")
        .filter(article::Entity::published())
        .group_by(article_tag::Column::TagId)
        .into_tuple::<(i64, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let list = tag::Entity::find()
        .order_by_asc(tag::Column::Name)
        .all(db)
        .await?;
    Ok(list
        .into_iter()
        .map(|t| Counted {
            article_count: counts.get(&t.id).copied().unwrap_or(0),
            item: t,
        })
        .collect())
}

/// Category and tag names.
pub const NAME_MAX: usize = 64;
/// Category descriptions.
pub const DESCRIPTION_MAX: usize = 500;

const CATEGORY_SLUG: UniqueIndex = UniqueIndex {
    name: "categories_slug_key",
    table: "categories",
    columns: &["slug"],
};

const TAG_SLUG: UniqueIndex = UniqueIndex {
    name: "tags_slug_key",
    table: "tags",
    columns: &["slug"],
};

fn slug_taken() -> AppError {
    AppError::conflict(ErrorCode::SlugTaken, "another item already uses this slug")
}

fn category_summary(c: &category::Model) -> Value {
    json!({
        "slug": c.slug,
        "name": c.name,
        "description": c.description,
        "sort_order": c.sort_order,
    })
}

fn tag_summary(t: &tag::Model) -> Value {
    json!({ "slug": t.slug, "name": t.name })
}

async fn find_category(db: &impl ConnectionTrait, id: i64) -> AppResult<category::Model> {
    category::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::not_found("category"))
}

async fn find_tag(db: &impl ConnectionTrait, id: i64) -> AppResult<tag::Model> {
    tag::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::not_found("tag"))
}

#[derive(Debug, Clone, Default)]
pub struct CategoryInput {
    pub slug: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub sort_order: Option<i32>,
}

/// A new category's or tag's slug and name, checked.
fn slug_and_name(slug: Option<&str>, name: Option<&str>) -> AppResult<(String, String)> {
    let slug = Slug::parse("slug", slug.unwrap_or_default())?;
    let name = validate::text("name", name.unwrap_or_default(), 1, NAME_MAX)?;
    Ok((slug.into(), name))
}

pub async fn create_category(
    db: &DatabaseConnection,
    actor: &Actor,
    input: CategoryInput,
) -> AppResult<category::Model> {
    let (slug, name) = slug_and_name(input.slug.as_deref(), input.name.as_deref())?;
    let description = validate::text(
        "description",
        input.description.as_deref().unwrap_or_default(),
        0,
        DESCRIPTION_MAX,
    )?;
    let now = time::now();
    let txn = db::begin_write(db).await?;
    let saved = category::ActiveModel {
        slug: Set(slug),
        name: Set(name),
        description: Set(description),
        sort_order: Set(input.sort_order.unwrap_or(0)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .on_unique(&CATEGORY_SLUG, slug_taken)?;
    let entry = Entry::new("category.create", "category", saved.id).after(category_summary(&saved));
    audit::record(&txn, actor, entry).await?;
    txn.commit().await?;
    Ok(saved)
}

async fn published_in_category(db: &DatabaseConnection, id: i64) -> AppResult<i64> {
    Ok(article::Entity::find_published()
        .filter(article::Column::CategoryId.eq(id))
        .count(db)
        .await? as i64)
}

async fn published_with_tag(db: &DatabaseConnection, id: i64) -> AppResult<i64> {
    Ok(article_tag::Entity::find()
        .inner_join(article::Entity)
        .filter(article::Entity::published())
        .filter(article_tag::Column::TagId.eq(id))
        .count(db)
        .await? as i64)
}

/// Edits a category; returns it with its number of published articles.
pub async fn update_category(
    db: &DatabaseConnection,
    read_cache: &ReadCache,
    actor: &Actor,
    id: i64,
    input: CategoryInput,
) -> AppResult<Counted<category::Model>> {
    let txn = db::begin_write(db).await?;
    let current = find_category(&txn, id).await?;
    let before = category_summary(&current);
    let mut model: category::ActiveModel = current.into();
    if let Some(v) = &input.slug {
        model.slug = Set(String::from(Slug::parse("slug", v)?));
    }
    if let Some(v) = &input.name {
        model.name = Set(validate::text("name", v, 1, NAME_MAX)?);
    }
    if let Some(v) = &input.description {
        model.description = Set(validate::text("description", v, 0, DESCRIPTION_MAX)?);
    }
    if let Some(v) = input.sort_order {
        model.sort_order = Set(v);
    }
    model.updated_at = Set(time::now());
    let saved = model
        .update(&txn)
        .await
        .on_unique(&CATEGORY_SLUG, slug_taken)?;
    let entry =
        Entry::new("category.update", "category", id).changes(before, category_summary(&saved));
    audit::record(&txn, actor, entry).await?;
    if input.slug.is_some() || input.name.is_some() {
        // The articles show the category's slug and name.
        sync::record(&txn, &sync::published_in_category(&txn, id).await?).await?;
    }
    txn.commit().await?;
    read_cache.invalidate().await;
    let article_count = published_in_category(db, saved.id).await?;
    Ok(Counted {
        item: saved,
        article_count,
    })
}

/// Deletes a category; its articles stay, without a category.
pub async fn delete_category(
    db: &DatabaseConnection,
    read_cache: &ReadCache,
    actor: &Actor,
    id: i64,
) -> AppResult<()> {
    let txn = db::begin_write(db).await?;
    let current = find_category(&txn, id).await?;
    let shown = sync::published_in_category(&txn, id).await?;
    category::Entity::delete_by_id(id).exec(&txn).await?;
    let entry = Entry::new("category.delete", "category", id).before(category_summary(&current));
    audit::record(&txn, actor, entry).await?;
    sync::record(&txn, &shown).await?;
    txn.commit().await?;
    read_cache.invalidate().await;
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct TagInput {
    pub slug: Option<String>,
    pub name: Option<String>,
}

pub async fn create_tag(
    db: &DatabaseConnection,
    actor: &Actor,
    input: TagInput,
) -> AppResult<tag::Model> {
    let (slug, name) = slug_and_name(input.slug.as_deref(), input.name.as_deref())?;
    let txn = db::begin_write(db).await?;
    let saved = tag::ActiveModel {
        slug: Set(slug),
        name: Set(name),
        created_at: Set(time::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .on_unique(&TAG_SLUG, slug_taken)?;
    let entry = Entry::new("tag.create", "tag", saved.id).after(tag_summary(&saved));
    audit::record(&txn, actor, entry).await?;
    txn.commit().await?;
    Ok(saved)
}

pub async fn update_tag(
    db: &DatabaseConnection,
    read_cache: &ReadCache,
    actor: &Actor,
    id: i64,
    input: TagInput,
) -> AppResult<Counted<tag::Model>> {
    let txn = db::begin_write(db).await?;
    let current = find_tag(&txn, id).await?;
    let before = tag_summary(&current);
    let mut model: tag::ActiveModel = current.into();
    if let Some(v) = &input.slug {
        model.slug = Set(String::from(Slug::parse("slug", v)?));
    }
    if let Some(v) = &input.name {
        model.name = Set(validate::text("name", v, 1, NAME_MAX)?);
    }
    let saved = model.update(&txn).await.on_unique(&TAG_SLUG, slug_taken)?;
    let entry = Entry::new("tag.update", "tag", id).changes(before, tag_summary(&saved));
    audit::record(&txn, actor, entry).await?;
    sync::record(&txn, &sync::published_with_tag(&txn, id).await?).await?;
    txn.commit().await?;
    read_cache.invalidate().await;
    let article_count = published_with_tag(db, saved.id).await?;
    Ok(Counted {
        item: saved,
        article_count,
    })
}

/// Deletes a tag and its links to articles.
pub async fn delete_tag(
    db: &DatabaseConnection,
    read_cache: &ReadCache,
    actor: &Actor,
    id: i64,
) -> AppResult<()> {
    let txn = db::begin_write(db).await?;
    let current = find_tag(&txn, id).await?;
    let shown = sync::published_with_tag(&txn, id).await?;
    tag::Entity::delete_by_id(id).exec(&txn).await?;
    let entry = Entry::new("tag.delete", "tag", id).before(tag_summary(&current));
    audit::record(&txn, actor, entry).await?;
    sync::record(&txn, &shown).await?;
    txn.commit().await?;
    read_cache.invalidate().await;
    Ok(())
}
