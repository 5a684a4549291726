//! App releases per platform and the update check the app runs at start. Edits are
//! audited in their own transaction (`service::audit`).

use entity::app_release::{self, Platform};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, QueryFilter, QueryOrder,
};
use serde_json::{Value, json};

use super::{
    audit::{self, Actor, Entry},
    validate::{self, HttpUrl},
};
use crate::{
    db,
    error::{AppError, AppResult, ErrorCode},
    time,
    unique::{OnUnique, UniqueIndex},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateKind {
    /// The client runs the latest version (or newer).
    None,
    /// A newer version exists; the client still works.
    Optional,
    /// The client is older than the minimum supported version.
    Required,
}

#[derive(Debug, Clone)]
pub struct UpdateCheck {
    pub latest: app_release::Model,
    pub update: UpdateKind,
}

/// Compares the client's version with the latest release of its platform. The latest
/// release is the highest semantic version, not the newest row.
pub async fn check(
    db: &DatabaseConnection,
    platform: Platform,
    client_version: &str,
) -> AppResult<UpdateCheck> {
    let client = validate::version("version", client_version)?;
    let latest = releases(db, Some(platform))
        .await?
        .into_iter()
        .filter_map(|r| semver::Version::parse(&r.version).ok().map(|v| (v, r)))
        .max_by(|a, b| a.0.cmp(&b.0))
        .ok_or(AppError::not_found("release"))?;
    let (latest_version, latest) = latest;
    let minimum = semver::Version::parse(&latest.min_supported_version)
        .unwrap_or_else(|_| latest_version.clone());
    let update = if client >= latest_version {
        UpdateKind::None
    } else if client < minimum {
        UpdateKind::Required
    } else {
        UpdateKind::Optional
    };
    Ok(UpdateCheck { latest, update })
}

pub async fn releases(
    db: &DatabaseConnection,
    platform: Option<Platform>,
) -> AppResult<Vec<app_release::Model>> {
    let mut query = app_release::Entity::find();
    if let Some(platform) = platform {
        query = query.filter(app_release::Column::Platform.eq(platform));
    }
    Ok(query.order_by_desc(app_release::Column::Id).all(db).await?)
}

#[derive(Debug, Clone, Default)]
pub struct ReleaseInput {
    pub platform: Option<Platform>,
    pub version: Option<String>,
    pub min_supported_version: Option<String>,
    pub size_bytes: Option<i64>,
    pub download_url: Option<String>,
    pub notes: Option<String>,
}

/// Release notes.
pub const NOTES_MAX: usize = 5000;

const PLATFORM_VERSION: UniqueIndex = UniqueIndex {
    name: "uq_app_releases_platform_version",
    table: "app_releases",
    columns: &["platform", "version"],
};

fn release_exists() -> AppError {
    AppError::conflict(
        ErrorCode::ReleaseExists,
        "this platform already has a release with this version",
    )
}

fn audit_summary(r: &app_release::Model) -> Value {
    json!({
        "platform": r.platform,
        "version": r.version,
        "min_supported_version": r.min_supported_version,
        "size_bytes": r.size_bytes,
        "download_url": r.download_url,
        "notes": r.notes,
    })
}

async fn find(db: &impl ConnectionTrait, id: i64) -> AppResult<app_release::Model> {
    app_release::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::not_found("release"))
}

fn check_versions(version: &str, minimum: &str) -> AppResult<()> {
    let version = validate::version("version", version)?;
    if validate::version("min_supported_version", minimum)? > version {
        return Err(AppError::bad_field(
            "min_supported_version",
            "min_supported_version must not be above version",
        ));
    }
    Ok(())
}

fn size(value: i64) -> AppResult<i64> {
    if value < 0 {
        return Err(AppError::bad_field(
            "size_bytes",
            "size_bytes must not be negative",
        ));
    }
    Ok(value)
}

pub async fn create(
    db: &DatabaseConnection,
    actor: &Actor,
    input: ReleaseInput,
) -> AppResult<app_release::Model> {
    let platform = input
        .platform
        .ok_or_else(|| AppError::bad_field("platform", "platform is required"))?;
    let version = input.version.unwrap_or_default().trim().to_string();
    let minimum = input
        .min_supported_version
        .map(|m| m.trim().to_string())
        .unwrap_or_else(|| version.clone());
    check_versions(&version, &minimum)?;
    let model = app_release::ActiveModel {
        platform: Set(platform),
        version: Set(version),
        min_supported_version: Set(minimum),
        size_bytes: Set(size(input.size_bytes.unwrap_or(0))?),
        download_url: Set(String::from(HttpUrl::parse(
            "download_url",
            input.download_url.as_deref().unwrap_or_default(),
        )?)),
        notes: Set(validate::text(
            "notes",
            input.notes.as_deref().unwrap_or_default(),
            0,
            NOTES_MAX,
        )?),
        created_at: Set(time::now()),
        ..Default::default()
    };
    let txn = db::begin_write(db).await?;
    let saved = model
        .insert(&txn)
        .await
        .on_unique(&PLATFORM_VERSION, release_exists)?;
    let entry = Entry::new("release.create", "app_release", saved.id).after(audit_summary(&saved));
    audit::record(&txn, actor, entry).await?;
    txn.commit().await?;
    Ok(saved)
}

pub async fn update(
    db: &DatabaseConnection,
    actor: &Actor,
    id: i64,
    input: ReleaseInput,
) -> AppResult<app_release::Model> {
    let txn = db::begin_write(db).await?;
    let current = find(&txn, id).await?;
    let before = audit_summary(&current);
    let version = input
        .version
        .as_deref()
        .unwrap_or(&current.version)
        .trim()
        .to_string();
    let minimum = input
        .min_supported_version
        .as_deref()
        .unwrap_or(&current.min_supported_version)
        .trim()
        .to_string();
    check_versions(&version, &minimum)?;
    let mut model: app_release::ActiveModel = current.into();
    if let Some(p) = input.platform {
        model.platform = Set(p);
    }
    model.version = Set(version);
    model.min_supported_version = Set(minimum);
    if let Some(v) = input.size_bytes {
        model.size_bytes = Set(size(v)?);
    }
    if let Some(v) = &input.download_url {
        model.download_url = Set(String::from(HttpUrl::parse("download_url", v)?));
    }
    if let Some(v) = &input.notes {
        model.notes = Set(validate::text("notes", v, 0, NOTES_MAX)?);
    }
    let saved = model
        .update(&txn)
        .await
        .on_unique(&PLATFORM_VERSION, release_exists)?;
    let entry =
        Entry::new("release.update", "app_release", id).changes(before, audit_summary(&saved));
    audit::record(&txn, actor, entry).await?;
    txn.commit().await?;
    Ok(saved)
}

pub async fn delete(db: &DatabaseConnection, actor: &Actor, id: i64) -> AppResult<()> {
    let txn = db::begin_write(db).await?;
    let current = find(&txn, id).await?;
    app_release::Entity::delete_by_id(id).exec(&txn).await?;
    let entry = Entry::new("release.delete", "app_release", id).before(audit_summary(&current));
    audit::record(&txn, actor, entry).await?;
    txn.commit().await?;
    Ok(())
}
