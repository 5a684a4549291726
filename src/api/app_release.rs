use poem::web::Data;
use poem_openapi::{Enum, Object, OpenApi, param::Query, payload::Json};

use super::{
    dto::{Channel, Platform},
    error::ApiResult,
    tags::ApiTags,
    types::Timestamp,
};
use crate::{
    service::app_releases::{self, CheckRequest, InstallId, UpdateKind},
    state::AppState,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum UpdateAdvice {
    /// The client is up to date.
    None,
    /// A newer version exists.
    Optional,
    /// The client is below the minimum supported version.
    Required,
}

impl From<UpdateKind> for UpdateAdvice {
    fn from(kind: UpdateKind) -> Self {
        match kind {
            UpdateKind::None => Self::None,
            UpdateKind::Optional => Self::Optional,
            UpdateKind::Required => Self::Required,
        }
    }
}

/// What the app should do about its version, and the release offered to this device.
#[derive(Debug, Clone, Object)]
pub struct ReleaseCheck {
    pub platform: Platform,
    pub channel: Channel,
    pub update: UpdateAdvice,
    /// The id of the release offered.
    pub release_id: i64,
    pub latest_version: String,
    pub latest_build: i64,
    /// The floor: below it the update is `required`.
    pub min_supported_version: String,
    pub size_bytes: i64,
    pub download_url: String,
    /// Lowercase hex SHA-256 of the package; verify the download against it when present.
    #[oai(nullable)]
    pub sha256: Option<String>,
    /// Release notes in zh-CN.
    pub notes: String,
    /// Release notes in English.
    pub notes_en: String,
    pub released_at: Timestamp,
}

pub struct AppReleaseApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::App")]
impl AppReleaseApi {
    /// Update check: the release offered to this device and whether to install it
    ///
    /// The device is in a staged rollout when its bucket (SHA-256 of `install_id` and the
    /// release) falls under the release's basis points; without an `install_id` only full
    /// rollouts are offered. A client below the minimum supported version gets `required`
    /// whatever the rollout. Halted releases are offered to nobody. 404 when nothing is
    /// offered to this device.
    #[oai(
        path = "/app/release",
        method = "get",
        operation_id = "checkAppRelease"
    )]
    async fn check_release(
        &self,
        state: Data<&AppState>,
        platform: Query<Platform>,
        /// The client's semantic version, e.g. `2.0.1`.
        version: Query<String>,
        /// Where the app was installed from; `official` when absent.
        channel: Query<Option<Channel>>,
        /// The client's build number.
        build: Query<Option<i64>>,
        /// A random id the app made once at install (e.g. a UUID); decides its rollout group.
        install_id: Query<Option<String>>,
    ) -> ApiResult<Json<ReleaseCheck>> {
        let request = CheckRequest {
            platform: platform.0.into(),
            channel: channel.0.unwrap_or(Channel::Official).into(),
            version: version.0,
            build: build.0,
            install_id: install_id.0.as_deref().map(InstallId::parse).transpose()?,
        };
        let check = app_releases::check(&state.db, request).await?;
        let latest = check.latest;
        Ok(Json(ReleaseCheck {
            platform: latest.platform.into(),
            channel: latest.channel.into(),
            update: check.update.into(),
            release_id: latest.id,
            latest_version: latest.version,
            latest_build: latest.build,
            min_supported_version: check.min_supported_version,
            size_bytes: latest.size_bytes,
            download_url: latest.download_url,
            sha256: latest.sha256,
            notes: latest.notes,
            notes_en: latest.notes_en,
            released_at: latest.created_at.into(),
        }))
    }
}
