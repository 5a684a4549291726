use poem::web::Data;
use poem_openapi::{Enum, Object, OpenApi, param::Query, payload::Json};

use super::{dto::Platform, error::ApiResult, tags::ApiTags, types::Timestamp};
use crate::{
    service::app_releases::{self, UpdateKind},
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

/// What the app should do about its version.
#[derive(Debug, Clone, Object)]
pub struct ReleaseCheck {
    pub platform: Platform,
    pub update: UpdateAdvice,
    pub latest_version: String,
    pub min_supported_version: String,
    pub size_bytes: i64,
    pub download_url: String,
    pub notes: String,
    pub released_at: Timestamp,
}

pub struct AppReleaseApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::App")]
impl AppReleaseApi {
    /// Update check: compares the client's version with the latest release
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
    ) -> ApiResult<Json<ReleaseCheck>> {
        let check = app_releases::check(&state.db, platform.0.into(), &version.0).await?;
        let latest = check.latest;
        Ok(Json(ReleaseCheck {
            platform: latest.platform.into(),
            update: check.update.into(),
            latest_version: latest.version,
            min_supported_version: latest.min_supported_version,
            size_bytes: latest.size_bytes,
            download_url: latest.download_url,
            notes: latest.notes,
            released_at: latest.created_at.into(),
        }))
    }
}
