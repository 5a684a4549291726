use poem::web::Data;
use poem_openapi::{OpenApi, param::Path, param::Query, payload::Json};

use super::{
    dto::{Resource, ResourcePage},
    error::ApiResult,
    tags::ApiTags,
};
use crate::{service::resources, state::AppState};

pub struct ResourcesApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Resources")]
impl ResourcesApi {
    /// Software resources, newest first
    #[oai(path = "/resources", method = "get", operation_id = "listResources")]
    async fn list_resources(
        &self,
        state: Data<&AppState>,
        /// e.g. `editor`, `os`, `service-discovery`.
        category: Query<Option<String>>,
        q: Query<Option<String>>,
        cursor: Query<Option<String>>,
        /// 1..100, default 20.
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<ResourcePage>> {
        let page = resources::list(
            &state.db,
            category.0.as_deref(),
            q.0.as_deref(),
            cursor.0.as_deref(),
            limit.0,
        )
        .await?;
        Ok(Json(page.into()))
    }

    /// One software resource with its download links
    #[oai(path = "/resources/:id", method = "get", operation_id = "getResource")]
    async fn get_resource(
        &self,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Json<Resource>> {
        Ok(Json(resources::get(&state.db, id.0).await?.into()))
    }
}
