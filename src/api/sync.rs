//! `GET /api/sync`: the delta sync for offline reading (`service::sync`).

use poem::web::Data;
use poem_openapi::{Enum, Object, OpenApi, param::Query, payload::Json};

use super::{dto::ArticleDetail, error::ApiResult, tags::ApiTags};
use crate::{
    service::sync::{self, Gone},
    state::AppState,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum TombstoneReason {
    /// The article still exists but is no longer public.
    Unpublished,
    Deleted,
}

/// An article to remove from the offline copy.
#[derive(Debug, Clone, Object)]
pub struct Tombstone {
    pub id: i64,
    pub reason: TombstoneReason,
}

#[derive(Debug, Clone, Object)]
pub struct SyncPage {
    /// Published articles that are new or changed, in their current state (counts as they
    /// are now; a count change alone does not make an article come).
    pub articles: Vec<ArticleDetail>,
    /// Articles to remove.
    pub tombstones: Vec<Tombstone>,
    /// Pass as `since` next time (opaque).
    pub next_cursor: String,
    /// More changes wait: call again with `next_cursor` at once.
    pub has_more: bool,
}

pub struct SyncApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Articles")]
impl SyncApi {
    /// Delta sync: the articles changed since a cursor, and tombstones
    ///
    /// Start without `since` (everything published), then always pass the last
    /// `next_cursor`. No change is ever skipped, even when writes commit out of order; an
    /// article may come again if it changed again. A cursor this server did not give is a 400.
    #[oai(path = "/sync", method = "get", operation_id = "syncArticles")]
    async fn sync_articles(
        &self,
        state: Data<&AppState>,
        /// The `next_cursor` of the previous call; absent for a first sync.
        since: Query<Option<String>>,
        /// Changes per call, 1..500, default 100.
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<SyncPage>> {
        let page = sync::changes(&state.db, since.0.as_deref(), limit.0).await?;
        Ok(Json(SyncPage {
            articles: page.changed.into_iter().map(Into::into).collect(),
            tombstones: page
                .removed
                .into_iter()
                .map(|(id, gone)| Tombstone {
                    id,
                    reason: match gone {
                        Gone::Unpublished => TombstoneReason::Unpublished,
                        Gone::Deleted => TombstoneReason::Deleted,
                    },
                })
                .collect(),
            next_cursor: page.next.encode(),
            has_more: page.has_more,
        }))
    }
}
