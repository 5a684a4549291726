use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, param::Query, payload::Json};

use super::{
    actor,
    client_ip::client_ip,
    dto::{ModerationState, UserBrief},
    error::ApiResult,
    read_budget,
    security::UserAuth,
    tags::ApiTags,
    types::{Text, Timestamp},
};
use crate::{
    pagination::Page,
    service::{
        comments::{self, CommentView, NewComment},
        moderation::{CommentText, ModerationAction},
        read_limits::ReadCost,
    },
    state::AppState,
};
use entity::comment::CommentStatus;

const DELETED_TEXT: &str = "该评论已删除 (this comment was deleted)";
const HIDDEN_TEXT: &str = "该评论已被隐藏 (this comment was hidden)";

/// Who a reply answers.
#[derive(Debug, Clone, Object)]
pub struct ReplyTarget {
    pub id: i64,
    #[oai(nullable)]
    pub author: Option<UserBrief>,
}

#[derive(Debug, Clone, Object)]
pub struct Comment {
    pub id: i64,
    pub article_id: i64,
    /// The thread; null for a top-level comment.
    #[oai(nullable)]
    pub parent_id: Option<i64>,
    #[oai(nullable)]
    pub reply_to: Option<ReplyTarget>,
    /// Null for a tombstone.
    #[oai(nullable)]
    pub author: Option<UserBrief>,
    /// Plain text: clients must escape it, never render it as HTML.
    pub content: String,
    pub status: ModerationState,
    /// A deleted or hidden comment kept in the list because it has visible replies.
    pub tombstone: bool,
    /// Published replies (top-level comments).
    pub reply_count: i64,
    /// The first replies, for threads in an article's list.
    pub replies: Vec<Comment>,
    pub created_at: Timestamp,
}

impl Comment {
    /// `public`: lists that everyone sees turn deleted/hidden comments into tombstones.
    pub fn from_view(v: CommentView, public: bool) -> Self {
        let c = v.comment;
        let tombstone =
            public && matches!(c.status, CommentStatus::Deleted | CommentStatus::Hidden);
        let content = match (tombstone, c.status) {
            (true, CommentStatus::Hidden) => HIDDEN_TEXT.to_string(),
            (true, _) => DELETED_TEXT.to_string(),
            (false, _) => c.content,
        };
        Self {
            id: c.id,
            article_id: c.article_id,
            parent_id: c.parent_id,
            reply_to: c.reply_to_id.map(|id| ReplyTarget {
                id,
                author: v.reply_to_author.map(Into::into),
            }),
            author: if tombstone {
                None
            } else {
                v.author.map(Into::into)
            },
            content,
            status: c.status.into(),
            tombstone,
            reply_count: c.reply_count,
            replies: v
                .replies
                .into_iter()
                .map(|r| Self::from_view(r, public))
                .collect(),
            created_at: c.created_at.into(),
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct CommentPage {
    pub items: Vec<Comment>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

impl CommentPage {
    pub fn from_page(page: Page<CommentView>, public: bool) -> Self {
        Self {
            items: page
                .items
                .into_iter()
                .map(|v| Comment::from_view(v, public))
                .collect(),
            next_cursor: page.next_cursor,
        }
    }
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct CommentCreate {
    /// 1..2000 characters of plain text.
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub content: Text<{ crate::service::moderation::MAX_CHARS }>,
    /// The thread (a top-level comment) this reply belongs to.
    #[oai(nullable)]
    pub parent_id: Option<i64>,
    /// The comment answered (defaults to the parent).
    #[oai(nullable)]
    pub reply_to: Option<i64>,
}

#[derive(ApiResponse)]
pub enum CommentCreated {
    /// Created; `status` says whether it is published or waits for moderation.
    #[oai(status = 201)]
    Created(Json<Comment>),
}

#[derive(ApiResponse)]
pub enum CommentDeleted {
    #[oai(status = 204)]
    Deleted,
}

pub struct CommentsApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Comments")]
impl CommentsApi {
    /// Comment threads of an article, newest first, each with its first replies
    #[oai(
        path = "/articles/:id/comments",
        method = "get",
        operation_id = "listComments"
    )]
    async fn list_comments(
        &self,
        req: &Request,
        state: Data<&AppState>,
        id: Path<i64>,
        cursor: Query<Option<String>>,
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<CommentPage>> {
        read_budget::charge(req, &state, ReadCost::Uncached).await?;
        let page = comments::threads(&state.db, id.0, cursor.0.as_deref(), limit.0).await?;
        Ok(Json(CommentPage::from_page(page, true)))
    }

    /// Post a comment or a reply (login required)
    #[oai(
        path = "/articles/:id/comments",
        method = "post",
        operation_id = "createComment"
    )]
    async fn create_comment(
        &self,
        auth: UserAuth,
        req: &Request,
        state: Data<&AppState>,
        id: Path<i64>,
        body: Json<CommentCreate>,
    ) -> ApiResult<CommentCreated> {
        let new = NewComment {
            content: CommentText::parse(&body.0.content.0)?,
            parent_id: body.0.parent_id,
            reply_to: body.0.reply_to,
            client_ip: client_ip(req, &state).to_string(),
        };
        let view = comments::create(&state, auth.user(), id.0, new).await?;
        Ok(CommentCreated::Created(Json(Comment::from_view(
            view, false,
        ))))
    }

    /// All published replies of a thread, oldest first
    #[oai(
        path = "/comments/:id/replies",
        method = "get",
        operation_id = "listReplies"
    )]
    async fn list_replies(
        &self,
        req: &Request,
        state: Data<&AppState>,
        id: Path<i64>,
        cursor: Query<Option<String>>,
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<CommentPage>> {
        read_budget::charge(req, &state, ReadCost::Uncached).await?;
        let page = comments::replies(&state.db, id.0, cursor.0.as_deref(), limit.0).await?;
        Ok(Json(CommentPage::from_page(page, true)))
    }

    /// Delete my comment (administrators: any comment)
    #[oai(
        path = "/comments/:id",
        method = "delete",
        operation_id = "deleteComment"
    )]
    async fn delete_comment(
        &self,
        auth: UserAuth,
        state: Data<&AppState>,
        req: &Request,
        id: Path<i64>,
    ) -> ApiResult<CommentDeleted> {
        let audit_as = actor::of(auth.user(), req, &state);
        let delete = ModerationAction::Delete;
        comments::apply(
            &state.db,
            &state.read_cache,
            auth.user(),
            &audit_as,
            id.0,
            delete,
        )
        .await?;
        Ok(CommentDeleted::Deleted)
    }

    /// My comments, newest first, with their moderation status
    #[oai(path = "/me/comments", method = "get", operation_id = "myComments")]
    async fn my_comments(
        &self,
        auth: UserAuth,
        state: Data<&AppState>,
        cursor: Query<Option<String>>,
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<CommentPage>> {
        let page = comments::mine(&state.db, auth.id(), cursor.0.as_deref(), limit.0).await?;
        Ok(Json(CommentPage::from_page(page, false)))
    }
}
