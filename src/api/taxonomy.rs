use poem::web::Data;
use poem_openapi::{OpenApi, payload::Json};

use super::{
    dto::{CategoryList, TagList},
    error::ApiResult,
    tags::ApiTags,
};
use crate::{service::taxonomy, state::AppState};

pub struct TaxonomyApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Taxonomy")]
impl TaxonomyApi {
    /// All categories with their number of published articles
    #[oai(path = "/categories", method = "get", operation_id = "listCategories")]
    async fn list_categories(&self, state: Data<&AppState>) -> ApiResult<Json<CategoryList>> {
        let items = taxonomy::categories(&state.db).await?;
        Ok(Json(CategoryList {
            items: items.into_iter().map(Into::into).collect(),
        }))
    }

    /// All tags with their number of published articles
    #[oai(path = "/tags", method = "get", operation_id = "listTags")]
    async fn list_tags(&self, state: Data<&AppState>) -> ApiResult<Json<TagList>> {
        let items = taxonomy::tags(&state.db).await?;
        Ok(Json(TagList {
            items: items.into_iter().map(Into::into).collect(),
        }))
    }
}
