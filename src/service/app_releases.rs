//! App releases per platform and channel, and the update check the app runs at start.
//! Edits are audited in their own transaction (`service::audit`).
//!
//! The check, for one platform and channel, over the releases that are not halted:
//! - the *floor* is the highest `min_supported_version` among them, whatever their rollout;
//!   a client below it gets `required`;
//! - a device is in a release's rollout when `bucket(install_id, release) <
//!   rollout_basis_points` (a full rollout, 10000, includes devices that send no
//!   install id);
//! - the release offered is the newest (version, then build) the device is in the rollout
//!   of; a required update offers that one when it meets the floor, otherwise the oldest
//!   release that meets it, rollout or not;
//! - a halted release is offered to nobody and raises no floor.

use entity::app_release::{self, Channel, FULL_ROLLOUT, Platform};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, QueryFilter, QueryOrder,
};
use semver::Version;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

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
    /// The client runs the offered version (or newer).
    None,
    /// A newer version is offered; the client still works.
    Optional,
    /// The client is older than the minimum supported version.
    Required,
}

#[derive(Debug, Clone)]
pub struct UpdateCheck {
    /// The release offered to this device.
    pub latest: app_release::Model,
    pub update: UpdateKind,
    /// The floor: the highest minimum supported version of the live releases.
    pub min_supported_version: String,
}

/// The longest install id accepted.
pub const INSTALL_ID_MAX: usize = 128;
/// Basis points of a full rollout.
pub const ROLLOUT_MAX: i32 = FULL_ROLLOUT;

/// A device's install id: 1..=`INSTALL_ID_MAX` visible ASCII characters (a UUID, say),
/// made once per installation by the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallId(String);

impl InstallId {
    pub fn parse(value: &str) -> AppResult<Self> {
        let ok = (1..=INSTALL_ID_MAX).contains(&value.len())
            && value.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            return Err(AppError::bad_field(
                "install_id",
                format!("install_id must be 1 to {INSTALL_ID_MAX} visible ASCII characters"),
            ));
        }
        Ok(Self(value.to_string()))
    }
}

validate::parsed_string!(InstallId);

/// The device's bucket for a release, in `0..10000`: the first 8 bytes of
/// SHA-256(install id, 0, release id big-endian) as a big-endian u64, mod 10000. Stable
/// across instances, restarts and versions (never std's randomized hasher), and different
/// per release, so the same devices are not always the first.
pub fn bucket(install_id: &InstallId, release_id: i64) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(install_id.as_str().as_bytes());
    hasher.update([0u8]);
    hasher.update(release_id.to_be_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % ROLLOUT_MAX as u64) as u32
}

/// Whether the device is offered `release` (rollout and halt; not the version).
pub fn in_rollout(release: &app_release::Model, install_id: Option<&InstallId>) -> bool {
    if release.halted {
        return false;
    }
    if release.rollout_basis_points >= ROLLOUT_MAX {
        return true;
    }
    install_id.is_some_and(|id| bucket(id, release.id) < release.rollout_basis_points as u32)
}

/// What the app sends.
#[derive(Debug, Clone)]
pub struct CheckRequest {
    pub platform: Platform,
    pub channel: Channel,
    pub version: String,
    /// Unknown: the client counts as having the newest build of its version.
    pub build: Option<i64>,
    /// Unknown: only full rollouts are offered.
    pub install_id: Option<InstallId>,
}

/// The update check (see the module's documentation). 404 when no release is offered to
/// this device.
pub async fn check(db: &DatabaseConnection, request: CheckRequest) -> AppResult<UpdateCheck> {
    let client = validate::version("version", &request.version)?;
    if request.build.is_some_and(|b| b < 0) {
        return Err(AppError::bad_field("build", "build must not be negative"));
    }
    let live: Vec<(Version, app_release::Model)> = app_release::Entity::find()
        .filter(app_release::Column::Platform.eq(request.platform))
        .filter(app_release::Column::Channel.eq(request.channel))
        .filter(app_release::Column::Halted.eq(false))
        .all(db)
        .await?
        .into_iter()
        .filter_map(|r| Version::parse(&r.version).ok().map(|v| (v, r)))
        .collect();
    let key = |(v, r): &(Version, app_release::Model)| (v.clone(), r.build);
    let floor = live
        .iter()
        .map(|(v, r)| Version::parse(&r.min_supported_version).unwrap_or_else(|_| v.clone()))
        .max();
    let newest_offered = live
        .iter()
        .filter(|(_, r)| in_rollout(r, request.install_id.as_ref()))
        .max_by_key(|x| key(x));
    let required = floor.as_ref().is_some_and(|f| &client < f);
    let offered = match (&floor, required) {
        (Some(floor), true) => newest_offered.filter(|(v, _)| v >= floor).or_else(|| {
            live.iter()
                .filter(|(v, _)| v >= floor)
                .min_by_key(|x| key(x))
        }),
        _ => newest_offered,
    };
    let (version, latest) = offered.cloned().ok_or(AppError::not_found("release"))?;
    let client_key = (client, request.build.unwrap_or(i64::MAX));
    let update = if required {
        UpdateKind::Required
    } else if client_key >= (version.clone(), latest.build) {
        UpdateKind::None
    } else {
        UpdateKind::Optional
    };
    Ok(UpdateCheck {
        min_supported_version: floor.map_or_else(|| version.to_string(), |f| f.to_string()),
        latest,
        update,
    })
}

pub async fn releases(
    db: &DatabaseConnection,
    platform: Option<Platform>,
    channel: Option<Channel>,
) -> AppResult<Vec<app_release::Model>> {
    let mut query = app_release::Entity::find();
    if let Some(platform) = platform {
        query = query.filter(app_release::Column::Platform.eq(platform));
    }
    if let Some(channel) = channel {
        query = query.filter(app_release::Column::Channel.eq(channel));
    }
    Ok(query.order_by_desc(app_release::Column::Id).all(db).await?)
}

#[derive(Debug, Clone, Default)]
pub struct ReleaseInput {
    pub platform: Option<Platform>,
    /// Defaults to `official` on create.
    pub channel: Option<Channel>,
    pub version: Option<String>,
    /// Defaults to 0 on create.
    pub build: Option<i64>,
    pub min_supported_version: Option<String>,
    /// Defaults to a full rollout (10000) on create.
    pub rollout_basis_points: Option<i32>,
    pub size_bytes: Option<i64>,
    pub download_url: Option<String>,
    /// 64 hex digits; an empty string clears it.
    pub sha256: Option<String>,
    /// zh-CN.
    pub notes: Option<String>,
    pub notes_en: Option<String>,
}

/// Release notes (each language).
pub const NOTES_MAX: usize = 5000;
/// A SHA-256 in hex.
pub const SHA256_LEN: usize = 64;

const PLATFORM_CHANNEL_VERSION: UniqueIndex = UniqueIndex {
    name: "uq_app_releases_platform_channel_version",
    table: "app_releases",
    columns: &["platform", "channel", "version"],
};

fn release_exists() -> AppError {
    AppError::conflict(
        ErrorCode::ReleaseExists,
        "this platform and channel already have a release with this version",
    )
}

fn audit_summary(r: &app_release::Model) -> Value {
    json!({
        "platform": r.platform,
        "channel": r.channel,
        "version": r.version,
        "build": r.build,
        "min_supported_version": r.min_supported_version,
        "rollout_basis_points": r.rollout_basis_points,
        "halted": r.halted,
        "size_bytes": r.size_bytes,
        "download_url": r.download_url,
        "sha256": r.sha256,
        "notes": r.notes,
        "notes_en": r.notes_en,
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

/// The App Store is iOS's only; the Android vendors' stores are not iOS's.
fn check_channel(platform: Platform, channel: Channel) -> AppResult<()> {
    let ok = match channel {
        Channel::Official => true,
        Channel::Appstore => platform == Platform::Ios,
        _ => platform != Platform::Ios,
    };
    if !ok {
        return Err(AppError::bad_field(
            "channel",
            format!(
                "channel {} does not exist on this platform",
                channel.as_str()
            ),
        ));
    }
    Ok(())
}

fn non_negative(field: &str, value: i64) -> AppResult<i64> {
    if value < 0 {
        return Err(AppError::bad_field(
            field,
            format!("{field} must not be negative"),
        ));
    }
    Ok(value)
}

fn rollout(value: i32) -> AppResult<i32> {
    if !(0..=ROLLOUT_MAX).contains(&value) {
        return Err(AppError::bad_field(
            "rollout_basis_points",
            format!("rollout_basis_points must be 0 to {ROLLOUT_MAX}"),
        ));
    }
    Ok(value)
}

/// 64 hex digits, stored lowercase; empty means none.
fn sha256(value: &str) -> AppResult<Option<String>> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.len() != SHA256_LEN || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AppError::bad_field(
            "sha256",
            "sha256 must be 64 hexadecimal digits",
        ));
    }
    Ok(Some(value.to_ascii_lowercase()))
}

fn notes(field: &str, value: &str) -> AppResult<String> {
    validate::text(field, value, 0, NOTES_MAX)
}

pub async fn create(
    db: &DatabaseConnection,
    actor: &Actor,
    input: ReleaseInput,
) -> AppResult<app_release::Model> {
    let platform = input
        .platform
        .ok_or_else(|| AppError::bad_field("platform", "platform is required"))?;
    let channel = input.channel.unwrap_or(Channel::Official);
    check_channel(platform, channel)?;
    let version = input.version.unwrap_or_default().trim().to_string();
    let minimum = input
        .min_supported_version
        .map(|m| m.trim().to_string())
        .unwrap_or_else(|| version.clone());
    check_versions(&version, &minimum)?;
    let model = app_release::ActiveModel {
        platform: Set(platform),
        channel: Set(channel),
        version: Set(version),
        build: Set(non_negative("build", input.build.unwrap_or(0))?),
        min_supported_version: Set(minimum),
        rollout_basis_points: Set(rollout(input.rollout_basis_points.unwrap_or(ROLLOUT_MAX))?),
        halted: Set(false),
        size_bytes: Set(non_negative("size_bytes", input.size_bytes.unwrap_or(0))?),
        download_url: Set(String::from(HttpUrl::parse(
            "download_url",
            input.download_url.as_deref().unwrap_or_default(),
        )?)),
        sha256: Set(sha256(input.sha256.as_deref().unwrap_or_default())?),
        notes: Set(notes("notes", input.notes.as_deref().unwrap_or_default())?),
        notes_en: Set(notes(
            "notes_en",
            input.notes_en.as_deref().unwrap_or_default(),
        )?),
        created_at: Set(time::now()),
        ..Default::default()
    };
    let txn = db::begin_write(db).await?;
    let saved = model
        .insert(&txn)
        .await
        .on_unique(&PLATFORM_CHANNEL_VERSION, release_exists)?;
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
    check_channel(
        input.platform.unwrap_or(current.platform),
        input.channel.unwrap_or(current.channel),
    )?;
    let mut model: app_release::ActiveModel = current.into();
    if let Some(p) = input.platform {
        model.platform = Set(p);
    }
    if let Some(c) = input.channel {
        model.channel = Set(c);
    }
    model.version = Set(version);
    model.min_supported_version = Set(minimum);
    if let Some(v) = input.build {
        model.build = Set(non_negative("build", v)?);
    }
    if let Some(v) = input.rollout_basis_points {
        model.rollout_basis_points = Set(rollout(v)?);
    }
    if let Some(v) = input.size_bytes {
        model.size_bytes = Set(non_negative("size_bytes", v)?);
    }
    if let Some(v) = &input.download_url {
        model.download_url = Set(String::from(HttpUrl::parse("download_url", v)?));
    }
    if let Some(v) = &input.sha256 {
        model.sha256 = Set(sha256(v)?);
    }
    if let Some(v) = &input.notes {
        model.notes = Set(notes("notes", v)?);
    }
    if let Some(v) = &input.notes_en {
        model.notes_en = Set(notes("notes_en", v)?);
    }
    let saved = model
        .update(&txn)
        .await
        .on_unique(&PLATFORM_CHANNEL_VERSION, release_exists)?;
    let entry =
        Entry::new("release.update", "app_release", id).changes(before, audit_summary(&saved));
    audit::record(&txn, actor, entry).await?;
    txn.commit().await?;
    Ok(saved)
}

/// Halts (`true`) or resumes (`false`) a release's rollout. A halted release is offered to
/// nobody and raises no floor; resuming restores the same devices (the buckets do not
/// move). Idempotent; audited as `release.halt` / `release.resume`.
pub async fn set_halted(
    db: &DatabaseConnection,
    actor: &Actor,
    id: i64,
    halted: bool,
) -> AppResult<app_release::Model> {
    let txn = db::begin_write(db).await?;
    let current = find(&txn, id).await?;
    let before = audit_summary(&current);
    let mut model: app_release::ActiveModel = current.into();
    model.halted = Set(halted);
    let saved = model.update(&txn).await?;
    let action = if halted {
        "release.halt"
    } else {
        "release.resume"
    };
    let entry = Entry::new(action, "app_release", id).changes(before, audit_summary(&saved));
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
