use poem::{Request, web::Data};
use poem_openapi::{Enum, Object, OpenApi, param::Query, payload::Json};

use super::{dto::ArticleSummary, error::ApiResult, read_budget, tags::ApiTags};
use crate::{
    search::{MatchedField, Suggestion},
    service::{
        read_limits::ReadCost,
        search::{self, SearchPage, SearchRequest, SearchResult},
    },
    state::AppState,
};

pub struct SearchApi;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum SearchField {
    Title,
    Summary,
    Body,
    Tags,
    Category,
    Source,
}

impl From<MatchedField> for SearchField {
    fn from(f: MatchedField) -> Self {
        match f {
            MatchedField::Title => Self::Title,
            MatchedField::Summary => Self::Summary,
            MatchedField::Body => Self::Body,
            MatchedField::Tags => Self::Tags,
            MatchedField::Category => Self::Category,
            MatchedField::Source => Self::Source,
        }
    }
}

/// One ranked result.
#[derive(Debug, Clone, Object)]
pub struct SearchHit {
    pub article: ArticleSummary,
    /// Relevance (higher is better; only comparable within one answer).
    pub score: f32,
    /// The title, HTML-escaped, matched words in `<mark>`.
    pub title_highlight: String,
    /// The best fragment of the summary or body, HTML-escaped, matched words in `<mark>`.
    pub snippet: String,
    pub matched_fields: Vec<SearchField>,
}

#[derive(Debug, Clone, Object)]
pub struct SearchResults {
    pub items: Vec<SearchHit>,
    /// Matching articles, exact up to 10,000; when `total_exact` is false there are more.
    pub total: u64,
    pub total_exact: bool,
    /// No article had every word, so these have some of them (ranked lower).
    pub relaxed: bool,
    /// Pass as `cursor` to get the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

impl From<SearchResult> for SearchHit {
    fn from(r: SearchResult) -> Self {
        Self {
            article: ArticleSummary::from(r.card),
            score: r.hit.score,
            title_highlight: r.hit.title_html,
            snippet: r.hit.snippet_html,
            matched_fields: r.hit.matched.into_iter().map(SearchField::from).collect(),
        }
    }
}

impl From<SearchPage> for SearchResults {
    fn from(p: SearchPage) -> Self {
        Self {
            items: p.items.into_iter().map(SearchHit::from).collect(),
            total: p.total,
            total_exact: p.total_exact,
            relaxed: p.relaxed,
            next_cursor: p.next_cursor,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum SuggestionKind {
    Title,
    Tag,
}

#[derive(Debug, Clone, Object)]
pub struct SearchSuggestion {
    pub kind: SuggestionKind,
    pub text: String,
    /// For a title.
    #[oai(nullable)]
    pub article_id: Option<i64>,
    /// For a tag (use it as `?tag=`).
    #[oai(nullable)]
    pub slug: Option<String>,
}

#[derive(Debug, Clone, Object)]
pub struct SearchSuggestions {
    pub items: Vec<SearchSuggestion>,
}

impl From<Suggestion> for SearchSuggestion {
    fn from(s: Suggestion) -> Self {
        match s {
            Suggestion::Title { article_id, title } => Self {
                kind: SuggestionKind::Title,
                text: title,
                article_id: Some(article_id),
                slug: None,
            },
            Suggestion::Tag { slug, name } => Self {
                kind: SuggestionKind::Tag,
                text: name,
                article_id: None,
                slug: Some(slug),
            },
        }
    }
}

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Search")]
impl SearchApi {
    /// Ranked full-text search over published articles
    ///
    /// Chinese is segmented (tech words such as 微服务 stay whole), English is stemmed,
    /// full-width and traditional forms match their plain forms. Every word must match; when
    /// no article has them all, articles with some of them are ranked lower (`relaxed`). The
    /// last word also matches as a prefix. The text is never query syntax.
    #[oai(path = "/search", method = "get", operation_id = "searchArticles")]
    // One argument per query parameter of the operation, plus the request and the state.
    #[allow(clippy::too_many_arguments)]
    async fn search(
        &self,
        req: &Request,
        state: Data<&AppState>,
        /// 1..200 characters.
        q: Query<Option<String>>,
        /// A category slug.
        category: Query<Option<String>>,
        /// A tag slug.
        tag: Query<Option<String>>,
        cursor: Query<Option<String>>,
        /// 1..100, default 20.
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<SearchResults>> {
        read_budget::charge(req, &state, ReadCost::Search).await?;
        let request = SearchRequest {
            q: q.0,
            category: category.0,
            tag: tag.0,
            cursor: cursor.0,
            limit: limit.0,
        };
        let page = search::search(&state.db, &state.search, request).await?;
        Ok(Json(page.into()))
    }

    /// Up to 10 tags and article titles for what the reader has typed
    #[oai(
        path = "/search/suggest",
        method = "get",
        operation_id = "suggestSearches"
    )]
    async fn suggest(
        &self,
        req: &Request,
        state: Data<&AppState>,
        /// 1..200 characters.
        q: Query<Option<String>>,
    ) -> ApiResult<Json<SearchSuggestions>> {
        read_budget::charge(req, &state, ReadCost::Uncached).await?;
        let items = search::suggest(&state.search, q.0).await?;
        Ok(Json(SearchSuggestions {
            items: items.into_iter().map(SearchSuggestion::from).collect(),
        }))
    }
}
