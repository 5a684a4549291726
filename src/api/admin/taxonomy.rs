use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Path, payload::Json};

use super::{Created, Deleted};
use crate::api::security::AdminAuth;
use crate::{
    api::{
        dto::{Category, Tag},
        error::ApiResult,
        tags::ApiTags,
        types::Text,
    },
    service::taxonomy::{self, CategoryInput, TagInput},
    state::AppState,
};

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct CategoryWrite {
    /// a-z, 0-9 and '-'; required on create.
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub slug: Option<Text<{ crate::service::validate::SLUG_MAX }>>,
    /// Required on create.
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub name: Option<Text<{ crate::service::taxonomy::NAME_MAX }>>,
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub description: Option<Text<{ crate::service::taxonomy::DESCRIPTION_MAX }>>,
    #[oai(nullable)]
    pub sort_order: Option<i32>,
}

impl From<CategoryWrite> for CategoryInput {
    fn from(b: CategoryWrite) -> Self {
        Self {
            slug: b.slug.map(Into::into),
            name: b.name.map(Into::into),
            description: b.description.map(Into::into),
            sort_order: b.sort_order,
        }
    }
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct TagWrite {
    /// a-z, 0-9 and '-'; required on create.
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub slug: Option<Text<{ crate::service::validate::SLUG_MAX }>>,
    /// Required on create.
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub name: Option<Text<{ crate::service::taxonomy::NAME_MAX }>>,
}

impl From<TagWrite> for TagInput {
    fn from(b: TagWrite) -> Self {
        Self {
            slug: b.slug.map(Into::into),
            name: b.name.map(Into::into),
        }
    }
}

pub struct AdminTaxonomyApi;

#[OpenApi(prefix_path = "/api/admin", tag = "ApiTags::AdminTaxonomy")]
impl AdminTaxonomyApi {
    /// Create a category
    #[oai(
        path = "/categories",
        method = "post",
        operation_id = "adminCreateCategory"
    )]
    async fn admin_create_category(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        body: Json<CategoryWrite>,
    ) -> ApiResult<Created<Category>> {
        let c = taxonomy::create_category(&state.db, admin.actor(), body.0.into()).await?;
        Ok(Created::Created(Json(Category::with_count(c, 0))))
    }

    /// Edit a category
    #[oai(
        path = "/categories/:id",
        method = "patch",
        operation_id = "adminUpdateCategory"
    )]
    async fn admin_update_category(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
        body: Json<CategoryWrite>,
    ) -> ApiResult<Json<Category>> {
        let c = taxonomy::update_category(
            &state.db,
            &state.read_cache,
            admin.actor(),
            id.0,
            body.0.into(),
        )
        .await?;
        Ok(Json(c.into()))
    }

    /// Delete a category (its articles stay, uncategorised)
    #[oai(
        path = "/categories/:id",
        method = "delete",
        operation_id = "adminDeleteCategory"
    )]
    async fn admin_delete_category(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Deleted> {
        taxonomy::delete_category(&state.db, &state.read_cache, admin.actor(), id.0).await?;
        Ok(Deleted::Deleted)
    }

    /// Create a tag
    #[oai(path = "/tags", method = "post", operation_id = "adminCreateTag")]
    async fn admin_create_tag(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        body: Json<TagWrite>,
    ) -> ApiResult<Created<Tag>> {
        let t = taxonomy::create_tag(&state.db, admin.actor(), body.0.into()).await?;
        Ok(Created::Created(Json(Tag::with_count(t, 0))))
    }

    /// Edit a tag
    #[oai(path = "/tags/:id", method = "patch", operation_id = "adminUpdateTag")]
    async fn admin_update_tag(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
        body: Json<TagWrite>,
    ) -> ApiResult<Json<Tag>> {
        let t = taxonomy::update_tag(
            &state.db,
            &state.read_cache,
            admin.actor(),
            id.0,
            body.0.into(),
        )
        .await?;
        Ok(Json(t.into()))
    }

    /// Delete a tag (and its links to articles)
    #[oai(path = "/tags/:id", method = "delete", operation_id = "adminDeleteTag")]
    async fn admin_delete_tag(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Deleted> {
        taxonomy::delete_tag(&state.db, &state.read_cache, admin.actor(), id.0).await?;
        Ok(Deleted::Deleted)
    }
}
