use poem::{Request, web::Data};
use poem_openapi::{OpenApi, param::Path, param::Query, payload::Json};

use super::{
    cached_reads::{self, article_key, featured_key, feed_key, hot_key},
    dto::{ArticleDetail, ArticleList, ArticlePage, ArticleSummary},
    error::ApiResult,
    json_bytes::JsonBytes,
    read_budget,
    tags::ApiTags,
};
use crate::{
    cache::read_through::Built,
    error::AppError,
    pagination,
    service::{
        articles::{self, ListFilter},
        hot,
        read_limits::ReadCost,
        search,
    },
    state::AppState,
};

pub struct ArticlesApi;

/// A list page for the read cache: its bytes, and the articles whose counts it shows.
fn built_page(page: &ArticlePage) -> Built {
    Built {
        bytes: JsonBytes::encode(page),
        articles: page.items.iter().map(|a| a.id).collect(),
    }
}

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Articles")]
impl ArticlesApi {
    /// Published articles, newest first
    ///
    /// Filters combine: `category` and `tag` are slugs. With `q` this is the search of
    /// `GET /api/search` (same engine, relevance order, its cursor) answered as cards.
    #[oai(path = "/articles", method = "get", operation_id = "listArticles")]
    // One argument per query parameter of the operation, plus the request and the state.
    #[allow(clippy::too_many_arguments)]
    async fn list_articles(
        &self,
        req: &Request,
        state: Data<&AppState>,
        category: Query<Option<String>>,
        tag: Query<Option<String>>,
        q: Query<Option<String>>,
        cursor: Query<Option<String>>,
        /// 1..100, default 20.
        limit: Query<Option<u32>>,
    ) -> ApiResult<JsonBytes<ArticlePage>> {
        // A search is served by the search engine, ranked by relevance.
        if q.0.as_deref().is_some_and(|q| !q.trim().is_empty()) {
            read_budget::charge(req, &state, ReadCost::Search).await?;
            let request = search::SearchRequest {
                q: q.0,
                category: category.0,
                tag: tag.0,
                cursor: cursor.0,
                limit: limit.0,
            };
            let page = search::search_cards(&state.db, &state.search, request).await?;
            return Ok(JsonBytes::from_bytes(JsonBytes::encode(
                &ArticlePage::from(page),
            )));
        }
        let filter = ListFilter {
            category: category.0,
            tag: tag.0,
            q: None,
        };
        let home_page = filter.category.is_none() && filter.tag.is_none() && cursor.0.is_none();
        if !home_page {
            read_budget::charge(req, &state, ReadCost::Uncached).await?;
        }
        let build = || async {
            let page =
                articles::list_published(&state.db, &filter, cursor.0.as_deref(), limit.0).await?;
            Ok::<_, AppError>(built_page(&ArticlePage::from(page)))
        };
        if home_page {
            let key = feed_key(pagination::limit(limit.0)?);
            let body = state.read_cache.get_or_build(&key, build).await?;
            Ok(JsonBytes::prepared(body))
        } else {
            Ok(JsonBytes::from_bytes(build().await?.bytes))
        }
    }

    /// Featured (精选) articles, most recently featured first
    #[oai(
        path = "/articles/featured",
        method = "get",
        operation_id = "listFeaturedArticles"
    )]
    async fn list_featured(
        &self,
        req: &Request,
        state: Data<&AppState>,
        cursor: Query<Option<String>>,
        /// 1..100, default 20.
        limit: Query<Option<u32>>,
    ) -> ApiResult<JsonBytes<ArticlePage>> {
        let build = || async {
            let page = articles::list_featured(&state.db, cursor.0.as_deref(), limit.0).await?;
            Ok::<_, AppError>(built_page(&ArticlePage::from(page)))
        };
        match cursor.0 {
            None => {
                let key = featured_key(pagination::limit(limit.0)?);
                let body = state.read_cache.get_or_build(&key, build).await?;
                Ok(JsonBytes::prepared(body))
            }
            Some(_) => {
                read_budget::charge(req, &state, ReadCost::Uncached).await?;
                Ok(JsonBytes::from_bytes(build().await?.bytes))
            }
        }
    }

    /// Hot articles: engagement (views, likes, comments, favourites) decayed by age
    #[oai(
        path = "/articles/hot",
        method = "get",
        operation_id = "listHotArticles"
    )]
    async fn list_hot(
        &self,
        state: Data<&AppState>,
        /// 1..100, default 20.
        limit: Query<Option<u32>>,
    ) -> ApiResult<JsonBytes<ArticlePage>> {
        let limit = pagination::limit(limit.0)? as usize;
        let body = state
            .read_cache
            .get_or_build(&hot_key(limit as u64), || async {
                let ids = hot::top_ids(&state.db, &state.cache, &state.settings.hot, limit).await?;
                let items = articles::cards_by_ids(&state.db, &ids).await?;
                let page = ArticlePage {
                    items: items.into_iter().map(ArticleSummary::from).collect(),
                    next_cursor: None,
                };
                Ok::<_, AppError>(built_page(&page))
            })
            .await?;
        Ok(JsonBytes::prepared(body))
    }

    /// One published article with its source link and copyright notice (counts a view)
    #[oai(path = "/articles/:id", method = "get", operation_id = "getArticle")]
    async fn get_article(
        &self,
        req: &Request,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<JsonBytes<ArticleDetail>> {
        let body = state
            .read_cache
            .get_or_build(&article_key(id.0), || async {
                let article = articles::get_published(&state.db, id.0).await?;
                Ok::<_, AppError>(Built {
                    bytes: JsonBytes::encode(&ArticleDetail::from(article)),
                    articles: vec![id.0],
                })
            })
            .await?;
        cached_reads::count_view(req, &state, id.0).await;
        Ok(JsonBytes::prepared(body))
    }

    /// Related articles: shared tags first, then the same category, then the newest
    #[oai(
        path = "/articles/:id/related",
        method = "get",
        operation_id = "listRelatedArticles"
    )]
    async fn related_articles(
        &self,
        req: &Request,
        state: Data<&AppState>,
        id: Path<i64>,
        /// 1..20, default 5.
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<ArticleList>> {
        read_budget::charge(req, &state, ReadCost::Uncached).await?;
        let items = articles::related(&state.db, id.0, limit.0).await?;
        Ok(Json(ArticleList {
            items: items.into_iter().map(ArticleSummary::from).collect(),
        }))
    }
}
