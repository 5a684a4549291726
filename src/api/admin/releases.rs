use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Path, param::Query, payload::Json};

use super::{Created, Deleted};
use crate::api::security::AdminAuth;
use crate::{
    api::{
        dto::{AppRelease, AppReleaseList, Channel, Platform},
        error::ApiResult,
        tags::ApiTags,
        types::Text,
    },
    service::app_releases::{self, ReleaseInput},
    state::AppState,
};

/// Fields of a release; `platform`, `version` and `download_url` are required on create.
/// Halting is its own operation (`adminHaltRelease`, `adminResumeRelease`).
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct AppReleaseWrite {
    #[oai(nullable)]
    pub platform: Option<Platform>,
    /// `official` on create when absent. `appstore` is iOS's only; the Android vendors'
    /// stores are not iOS's.
    #[oai(nullable)]
    pub channel: Option<Channel>,
    /// The build number (0 or more); 0 on create when absent.
    #[oai(nullable)]
    pub build: Option<i64>,
    /// The share of devices offered the release, 0..=10000 basis points; 10000 (everyone)
    /// on create when absent. Raising it only adds devices.
    #[oai(nullable)]
    pub rollout_basis_points: Option<i32>,
    /// 64 hex digits; an empty string clears it.
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub sha256: Option<Text<{ crate::service::app_releases::SHA256_LEN }>>,
    /// Semantic version.
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub version: Option<Text<{ crate::service::validate::VERSION_MAX }>>,
    /// Defaults to `version` on create.
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub min_supported_version: Option<Text<{ crate::service::validate::VERSION_MAX }>>,
    #[oai(nullable)]
    pub size_bytes: Option<i64>,
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub download_url: Option<Text<{ crate::service::validate::URL_MAX }>>,
    /// Release notes in zh-CN.
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub notes: Option<Text<{ crate::service::app_releases::NOTES_MAX }>>,
    /// Release notes in English.
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub notes_en: Option<Text<{ crate::service::app_releases::NOTES_MAX }>>,
}

impl From<AppReleaseWrite> for ReleaseInput {
    fn from(b: AppReleaseWrite) -> Self {
        Self {
            platform: b.platform.map(Into::into),
            channel: b.channel.map(Into::into),
            build: b.build,
            rollout_basis_points: b.rollout_basis_points,
            sha256: b.sha256.map(Into::into),
            notes_en: b.notes_en.map(Into::into),
            version: b.version.map(Into::into),
            min_supported_version: b.min_supported_version.map(Into::into),
            size_bytes: b.size_bytes,
            download_url: b.download_url.map(Into::into),
            notes: b.notes.map(Into::into),
        }
    }
}

pub struct AdminReleasesApi;

#[OpenApi(prefix_path = "/api/admin", tag = "ApiTags::AdminReleases")]
impl AdminReleasesApi {
    /// App releases, newest first
    #[oai(
        path = "/app/releases",
        method = "get",
        operation_id = "adminListReleases"
    )]
    async fn admin_list_releases(
        &self,
        _admin: AdminAuth,
        state: Data<&AppState>,
        platform: Query<Option<Platform>>,
        channel: Query<Option<Channel>>,
    ) -> ApiResult<Json<AppReleaseList>> {
        let items = app_releases::releases(
            &state.db,
            platform.0.map(Into::into),
            channel.0.map(Into::into),
        )
        .await?;
        Ok(Json(AppReleaseList {
            items: items.into_iter().map(Into::into).collect(),
        }))
    }

    /// Publish an app release
    #[oai(
        path = "/app/releases",
        method = "post",
        operation_id = "adminCreateRelease"
    )]
    async fn admin_create_release(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        body: Json<AppReleaseWrite>,
    ) -> ApiResult<Created<AppRelease>> {
        Ok(Created::Created(Json(
            app_releases::create(&state.db, admin.actor(), body.0.into())
                .await?
                .into(),
        )))
    }

    /// Edit an app release
    #[oai(
        path = "/app/releases/:id",
        method = "patch",
        operation_id = "adminUpdateRelease"
    )]
    async fn admin_update_release(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
        body: Json<AppReleaseWrite>,
    ) -> ApiResult<Json<AppRelease>> {
        Ok(Json(
            app_releases::update(&state.db, admin.actor(), id.0, body.0.into())
                .await?
                .into(),
        ))
    }

    /// Halt a release's rollout: it is offered to nobody until resumed
    #[oai(
        path = "/app/releases/:id/halt",
        method = "post",
        operation_id = "adminHaltRelease"
    )]
    async fn admin_halt_release(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Json<AppRelease>> {
        Ok(Json(
            app_releases::set_halted(&state.db, admin.actor(), id.0, true)
                .await?
                .into(),
        ))
    }

    /// Resume a halted release's rollout (the same devices as before the halt)
    #[oai(
        path = "/app/releases/:id/resume",
        method = "post",
        operation_id = "adminResumeRelease"
    )]
    async fn admin_resume_release(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Json<AppRelease>> {
        Ok(Json(
            app_releases::set_halted(&state.db, admin.actor(), id.0, false)
                .await?
                .into(),
        ))
    }

    /// Delete an app release
    #[oai(
        path = "/app/releases/:id",
        method = "delete",
        operation_id = "adminDeleteRelease"
    )]
    async fn admin_delete_release(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Deleted> {
        app_releases::delete(&state.db, admin.actor(), id.0).await?;
        Ok(Deleted::Deleted)
    }
}
