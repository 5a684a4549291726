use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Path, payload::Json};

use super::{Created, Deleted};
use crate::api::security::AdminAuth;
use entity::resource::DownloadLink;

use crate::{
    api::{
        dto::Resource,
        error::ApiResult,
        tags::ApiTags,
        types::{List, Text},
    },
    service::resources::{self, ResourceInput},
    state::AppState,
};

/// One download of a resource.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct DownloadLinkWrite {
    /// e.g. `windows`, `macos`, `linux`, `android`, `source`.
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub platform: Text<{ crate::service::resources::LINK_PLATFORM_MAX }>,
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub url: Text<{ crate::service::validate::URL_MAX }>,
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub label: Option<Text<{ crate::service::resources::LINK_LABEL_MAX }>>,
}

/// Fields of a resource; `name`, `homepage` and `category` are required on create.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ResourceWrite {
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub name: Option<Text<{ crate::service::resources::NAME_MAX }>>,
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub summary: Option<Text<{ crate::service::resources::SUMMARY_MAX }>>,
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub description: Option<Text<{ crate::service::resources::DESCRIPTION_MAX }>>,
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub homepage: Option<Text<{ crate::service::validate::URL_MAX }>>,
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub download_links: Option<List<DownloadLinkWrite, { crate::service::resources::MAX_LINKS }>>,
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub version: Option<Text<{ crate::service::resources::VERSION_MAX }>>,
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub license: Option<Text<{ crate::service::resources::LICENSE_MAX }>>,
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub category: Option<Text<{ crate::service::resources::CATEGORY_MAX }>>,
}

impl From<ResourceWrite> for ResourceInput {
    fn from(b: ResourceWrite) -> Self {
        Self {
            name: b.name.map(Into::into),
            summary: b.summary.map(Into::into),
            description: b.description.map(Into::into),
            homepage: b.homepage.map(Into::into),
            download_links: b.download_links.map(|links| {
                links
                    .into_iter()
                    .map(|l| DownloadLink {
                        platform: l.platform.into(),
                        url: l.url.into(),
                        label: l.label.map(Into::into),
                    })
                    .collect()
            }),
            version: b.version.map(Into::into),
            license: b.license.map(Into::into),
            category: b.category.map(Into::into),
        }
    }
}

pub struct AdminResourcesApi;

#[OpenApi(prefix_path = "/api/admin", tag = "ApiTags::AdminResources")]
impl AdminResourcesApi {
    /// Create a software resource
    #[oai(
        path = "/resources",
        method = "post",
        operation_id = "adminCreateResource"
    )]
    async fn admin_create_resource(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        body: Json<ResourceWrite>,
    ) -> ApiResult<Created<Resource>> {
        Ok(Created::Created(Json(
            resources::create(&state.db, admin.actor(), body.0.into())
                .await?
                .into(),
        )))
    }

    /// Edit a software resource
    #[oai(
        path = "/resources/:id",
        method = "patch",
        operation_id = "adminUpdateResource"
    )]
    async fn admin_update_resource(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
        body: Json<ResourceWrite>,
    ) -> ApiResult<Json<Resource>> {
        Ok(Json(
            resources::update(&state.db, admin.actor(), id.0, body.0.into())
                .await?
                .into(),
        ))
    }

    /// Delete a software resource
    #[oai(
        path = "/resources/:id",
        method = "delete",
        operation_id = "adminDeleteResource"
    )]
    async fn admin_delete_resource(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Deleted> {
        resources::delete(&state.db, admin.actor(), id.0).await?;
        Ok(Deleted::Deleted)
    }
}
