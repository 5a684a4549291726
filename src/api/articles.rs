use poem::web::Data;
use poem_openapi::{OpenApi, param::Path, param::Query, payload::Json};

use super::{
    dto::{ArticleDetail, ArticleList, ArticlePage, ArticleSummary},
    error::ApiResult,
    tags::ApiTags,
};
use crate::{
    service::articles::{self, ListFilter},
    state::AppState,
};

pub struct ArticlesApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Articles")]
impl ArticlesApi {
    /// Published articles, newest first
    ///
    /// Filters combine: `category` and `tag` are slugs, `q` searches titles and summaries.
    #[oai(path = "/articles", method = "get")]
    async fn list_articles(
        &self,
        state: Data<&AppState>,
        category: Query<Option<String>>,
        tag: Query<Option<String>>,
        q: Query<Option<String>>,
        cursor: Query<Option<String>>,
        /// 1..100, default 20.
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<ArticlePage>> {
        let filter = ListFilter {
            category: category.0,
            tag: tag.0,
            q: q.0,
        };
        let page =
            articles::list_published(&state.db, &filter, cursor.0.as_deref(), limit.0).await?;
        Ok(Json(page.into()))
    }

    /// Featured (精选) articles, most recently featured first
    #[oai(path = "/articles/featured", method = "get")]
    async fn list_featured(
        &self,
        state: Data<&AppState>,
        cursor: Query<Option<String>>,
        /// 1..100, default 20.
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<ArticlePage>> {
        let page = articles::list_featured(&state.db, cursor.0.as_deref(), limit.0).await?;
        Ok(Json(page.into()))
    }

    /// One published article with its source link and copyright notice
    #[oai(path = "/articles/:id", method = "get")]
    async fn get_article(
        &self,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Json<ArticleDetail>> {
        Ok(Json(articles::get_published(&state.db, id.0).await?.into()))
    }

    /// Related articles: shared tags first, then the same category, then the newest
    #[oai(path = "/articles/:id/related", method = "get")]
    async fn related_articles(
        &self,
        state: Data<&AppState>,
        id: Path<i64>,
        /// 1..20, default 5.
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<ArticleList>> {
        let items = articles::related(&state.db, id.0, limit.0).await?;
        Ok(Json(ArticleList {
            items: items.into_iter().map(ArticleSummary::from).collect(),
        }))
    }
}
