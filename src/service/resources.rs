//! Software resources (资源下载): curated downloads with their links per platform. Edits
//! are audited in their own transaction (`service::audit`).

use entity::resource::{self, DownloadLink, DownloadLinks};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, ExprTrait,
    QueryFilter, QueryOrder, QuerySelect,
    prelude::Expr,
    sea_query::{Func, LikeExpr},
};
use serde_json::{Value, json};

use super::{
    audit::{self, Actor, Entry},
    validate::{self, HttpUrl},
};
use crate::{
    db,
    error::{AppError, AppResult},
    pagination::{self, IdCursor, Page},
    time,
};

/// Download links per resource.
pub const MAX_LINKS: usize = 20;
pub const LINK_PLATFORM_MAX: usize = 32;
pub const LINK_LABEL_MAX: usize = 64;
pub const NAME_MAX: usize = 100;
pub const SUMMARY_MAX: usize = 300;
pub const DESCRIPTION_MAX: usize = 20_000;
pub const VERSION_MAX: usize = 64;
pub const LICENSE_MAX: usize = 64;
pub const CATEGORY_MAX: usize = 64;

#[derive(Debug, Clone, Default)]
pub struct ResourceInput {
    pub name: Option<String>,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub homepage: Option<String>,
    pub download_links: Option<Vec<DownloadLink>>,
    pub version: Option<String>,
    pub license: Option<String>,
    pub category: Option<String>,
}

fn links(value: &[DownloadLink]) -> AppResult<DownloadLinks> {
    if value.len() > MAX_LINKS {
        return Err(AppError::bad_field(
            "download_links",
            format!("at most {MAX_LINKS} links"),
        ));
    }
    value
        .iter()
        .map(|link| {
            Ok(DownloadLink {
                platform: validate::text(
                    "download_links.platform",
                    &link.platform,
                    1,
                    LINK_PLATFORM_MAX,
                )?,
                url: String::from(HttpUrl::parse("download_links.url", &link.url)?),
                label: link
                    .label
                    .as_deref()
                    .map(|l| validate::text("download_links.label", l, 1, LINK_LABEL_MAX))
                    .transpose()?,
            })
        })
        .collect::<AppResult<Vec<_>>>()
        .map(DownloadLinks)
}

pub async fn list(
    db: &DatabaseConnection,
    category: Option<&str>,
    q: Option<&str>,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> AppResult<Page<resource::Model>> {
    let limit = pagination::limit(limit)?;
    let mut condition = Condition::all();
    if let Some(category) = category {
        condition = condition.add(resource::Column::Category.eq(category));
    }
    if let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) {
        let q = validate::text("q", q, 1, 100)?.to_lowercase();
        let escaped = q
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = LikeExpr::new(format!("%{escaped}%")).escape('\\');
        condition = condition.add(
            Condition::any()
                .add(
                    Expr::expr(Func::lower(Expr::col(resource::Column::Name)))
                        .like(pattern.clone()),
                )
                .add(Expr::expr(Func::lower(Expr::col(resource::Column::Summary))).like(pattern)),
        );
    }
    if let Some(cursor) = cursor.map(IdCursor::decode).transpose()? {
        condition = condition.add(resource::Column::Id.lt(cursor.0));
    }
    let rows = resource::Entity::find()
        .filter(condition)
        .order_by_desc(resource::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    Ok(pagination::page_from_rows(rows, limit, |r| {
        IdCursor(r.id).encode()
    }))
}

/// What the audit log keeps of a resource (the description only by length).
fn audit_summary(r: &resource::Model) -> Value {
    json!({
        "name": r.name,
        "summary": r.summary,
        "description_chars": r.description.chars().count(),
        "homepage": r.homepage,
        "download_links": r.download_links.0,
        "version": r.version,
        "license": r.license,
        "category": r.category,
    })
}

pub async fn get(db: &impl ConnectionTrait, id: i64) -> AppResult<resource::Model> {
    resource::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::not_found("resource"))
}

pub async fn create(
    db: &DatabaseConnection,
    actor: &Actor,
    input: ResourceInput,
) -> AppResult<resource::Model> {
    let text = |field: &str, v: &Option<String>, min, max| {
        validate::text(field, v.as_deref().unwrap_or_default(), min, max)
    };
    let now = time::now();
    let model = resource::ActiveModel {
        name: Set(text("name", &input.name, 1, NAME_MAX)?),
        summary: Set(text("summary", &input.summary, 0, SUMMARY_MAX)?),
        description: Set(text("description", &input.description, 0, DESCRIPTION_MAX)?),
        homepage: Set(String::from(HttpUrl::parse(
            "homepage",
            input.homepage.as_deref().unwrap_or_default(),
        )?)),
        download_links: Set(links(input.download_links.as_deref().unwrap_or_default())?),
        version: Set(text("version", &input.version, 0, VERSION_MAX)?),
        license: Set(text("license", &input.license, 0, LICENSE_MAX)?),
        category: Set(text("category", &input.category, 1, CATEGORY_MAX)?),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    let txn = db::begin_write(db).await?;
    let saved = model.insert(&txn).await?;
    let entry = Entry::new("resource.create", "resource", saved.id).after(audit_summary(&saved));
    audit::record(&txn, actor, entry).await?;
    txn.commit().await?;
    Ok(saved)
}

pub async fn update(
    db: &DatabaseConnection,
    actor: &Actor,
    id: i64,
    input: ResourceInput,
) -> AppResult<resource::Model> {
    let txn = db::begin_write(db).await?;
    let current = get(&txn, id).await?;
    let before = audit_summary(&current);
    let mut model: resource::ActiveModel = current.into();
    if let Some(v) = &input.name {
        model.name = Set(validate::text("name", v, 1, NAME_MAX)?);
    }
    if let Some(v) = &input.summary {
        model.summary = Set(validate::text("summary", v, 0, SUMMARY_MAX)?);
    }
    if let Some(v) = &input.description {
        model.description = Set(validate::text("description", v, 0, DESCRIPTION_MAX)?);
    }
    if let Some(v) = &input.homepage {
        model.homepage = Set(String::from(HttpUrl::parse("homepage", v)?));
    }
    if let Some(v) = &input.download_links {
        model.download_links = Set(links(v)?);
    }
    if let Some(v) = &input.version {
        model.version = Set(validate::text("version", v, 0, VERSION_MAX)?);
    }
    if let Some(v) = &input.license {
        model.license = Set(validate::text("license", v, 0, LICENSE_MAX)?);
    }
    if let Some(v) = &input.category {
        model.category = Set(validate::text("category", v, 1, CATEGORY_MAX)?);
    }
    model.updated_at = Set(time::now());
    let saved = model.update(&txn).await?;
    let entry =
        Entry::new("resource.update", "resource", id).changes(before, audit_summary(&saved));
    audit::record(&txn, actor, entry).await?;
    txn.commit().await?;
    Ok(saved)
}

pub async fn delete(db: &DatabaseConnection, actor: &Actor, id: i64) -> AppResult<()> {
    let txn = db::begin_write(db).await?;
    let current = get(&txn, id).await?;
    resource::Entity::delete_by_id(id).exec(&txn).await?;
    let entry = Entry::new("resource.delete", "resource", id).before(audit_summary(&current));
    audit::record(&txn, actor, entry).await?;
    txn.commit().await?;
    Ok(())
}
