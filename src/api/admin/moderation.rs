use entity::moderation::ModerationStatus;
use poem::web::Data;
use poem_openapi::{Enum, Object, OpenApi, param::Path, param::Query, payload::Json};

use crate::{
    api::{
        comments::CommentPage,
        dto::ModerationState,
        error::ApiResult,
        guestbook::GuestbookPage,
        security::AdminAuth,
        tags::ApiTags,
        types::{List, Text},
    },
    error::ErrorCode,
    service::{
        comments, guestbook,
        moderation::{CommentText, ModerationAction},
    },
    state::AppState,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ModerationVerb {
    Approve,
    Hide,
    Delete,
}

impl From<ModerationVerb> for ModerationAction {
    fn from(v: ModerationVerb) -> Self {
        match v {
            ModerationVerb::Approve => Self::Approve,
            ModerationVerb::Hide => Self::Hide,
            ModerationVerb::Delete => Self::Delete,
        }
    }
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct BulkModeration {
    /// At least one id.
    #[oai(validator(min_items = 1, custom = "crate::api::types::WithinMax"))]
    pub ids: List<i64, { comments::MAX_BULK }>,
    pub action: ModerationVerb,
}

#[derive(Debug, Object)]
pub struct BulkItemResult {
    pub id: i64,
    /// The new status when the action applied.
    #[oai(nullable)]
    pub status: Option<ModerationState>,
    /// Why it did not apply (e.g. `not_found`, `invalid_transition`).
    #[oai(nullable)]
    pub error: Option<ErrorCode>,
}

#[derive(Debug, Object)]
pub struct BulkResult {
    pub results: Vec<BulkItemResult>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct GuestbookReplyWrite {
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub content: Text<{ crate::service::moderation::MAX_CHARS }>,
}

pub struct AdminModerationApi;

#[OpenApi(prefix_path = "/api/admin", tag = "ApiTags::AdminModeration")]
impl AdminModerationApi {
    /// The comment moderation queue (replies included), newest first
    #[oai(
        path = "/comments",
        method = "get",
        operation_id = "adminListCommentQueue"
    )]
    async fn admin_comment_queue(
        &self,
        _admin: AdminAuth,
        state: Data<&AppState>,
        /// Default `pending`.
        status: Query<Option<ModerationState>>,
        cursor: Query<Option<String>>,
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<CommentPage>> {
        let status = status.0.map_or(ModerationStatus::Pending, Into::into);
        let page = comments::queue(&state.db, status, cursor.0.as_deref(), limit.0).await?;
        Ok(Json(CommentPage::from_page(page, false)))
    }

    /// Approve, hide or delete one comment
    #[oai(
        path = "/comments/:id/:action",
        method = "post",
        operation_id = "adminModerateComment"
    )]
    async fn admin_moderate_comment(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
        action: Path<ModerationVerb>,
    ) -> ApiResult<Json<ModerationOutcome>> {
        let action = action.0.into();
        let c = comments::apply(
            &state.db,
            &state.read_cache,
            admin.user(),
            admin.actor(),
            id.0,
            action,
        )
        .await?;
        Ok(Json(ModerationOutcome {
            id: c.id,
            status: c.status.into(),
        }))
    }

    /// Approve, hide or delete many comments; each id gets its own result
    #[oai(
        path = "/comments/moderate",
        method = "post",
        operation_id = "adminModerateComments"
    )]
    async fn admin_moderate_comments(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        body: Json<BulkModeration>,
    ) -> ApiResult<Json<BulkResult>> {
        let BulkModeration { ids, action } = body.0;
        let outcomes = comments::apply_many(
            &state.db,
            &state.read_cache,
            admin.user(),
            admin.actor(),
            &ids,
            action.into(),
        )
        .await;
        let results = outcomes
            .into_iter()
            .map(|o| match o.result {
                Ok(status) => BulkItemResult {
                    id: o.id,
                    status: Some(status.into()),
                    error: None,
                },
                Err(e) => BulkItemResult {
                    id: o.id,
                    status: None,
                    error: Some(e.code()),
                },
            })
            .collect();
        Ok(Json(BulkResult { results }))
    }

    /// The guestbook moderation queue, newest first
    #[oai(
        path = "/guestbook",
        method = "get",
        operation_id = "adminListGuestbookQueue"
    )]
    async fn admin_guestbook_queue(
        &self,
        _admin: AdminAuth,
        state: Data<&AppState>,
        /// Default `pending`.
        status: Query<Option<ModerationState>>,
        cursor: Query<Option<String>>,
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<GuestbookPage>> {
        let status = status.0.map_or(ModerationStatus::Pending, Into::into);
        Ok(Json(
            guestbook::queue(&state.db, status, cursor.0.as_deref(), limit.0)
                .await?
                .into(),
        ))
    }

    /// Answer a guestbook message (the author is notified once)
    #[oai(
        path = "/guestbook/:id/reply",
        method = "post",
        operation_id = "adminReplyGuestbook"
    )]
    async fn admin_reply_guestbook(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
        body: Json<GuestbookReplyWrite>,
    ) -> ApiResult<Json<ModerationOutcome>> {
        let answer = CommentText::parse(&body.0.content.0)?;
        let m = guestbook::reply(&state.db, admin.user(), admin.actor(), id.0, answer).await?;
        Ok(Json(ModerationOutcome {
            id: m.id,
            status: m.status.into(),
        }))
    }

    /// Approve, hide or delete one guestbook message
    #[oai(
        path = "/guestbook/:id/:action",
        method = "post",
        operation_id = "adminModerateGuestbook"
    )]
    async fn admin_moderate_guestbook(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
        action: Path<ModerationVerb>,
    ) -> ApiResult<Json<ModerationOutcome>> {
        let m = guestbook::apply(
            &state.db,
            admin.user(),
            admin.actor(),
            id.0,
            action.0.into(),
        )
        .await?;
        Ok(Json(ModerationOutcome {
            id: m.id,
            status: m.status.into(),
        }))
    }
}

/// The status after a moderation action.
#[derive(Debug, Object)]
pub struct ModerationOutcome {
    pub id: i64,
    pub status: ModerationState,
}
