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
        guestbook::{self, MessageView, NewMessage},
        moderation::{CommentText, ModerationAction},
        read_limits::ReadCost,
    },
    state::AppState,
};

/// A guestbook (留言) message and the site's answer.
#[derive(Debug, Clone, Object)]
pub struct GuestbookMessage {
    pub id: i64,
    #[oai(nullable)]
    pub author: Option<UserBrief>,
    /// Plain text.
    pub content: String,
    pub status: ModerationState,
    /// The site's answer, if any.
    #[oai(nullable)]
    pub reply: Option<String>,
    #[oai(nullable)]
    pub replied_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

impl From<MessageView> for GuestbookMessage {
    fn from(v: MessageView) -> Self {
        let m = v.message;
        Self {
            id: m.id,
            author: v.author.map(Into::into),
            content: m.content,
            status: m.status.into(),
            reply: m.reply,
            replied_at: m.replied_at.map(Into::into),
            created_at: m.created_at.into(),
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct GuestbookPage {
    pub items: Vec<GuestbookMessage>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

impl From<Page<MessageView>> for GuestbookPage {
    fn from(page: Page<MessageView>) -> Self {
        let page = page.map(GuestbookMessage::from);
        Self {
            items: page.items,
            next_cursor: page.next_cursor,
        }
    }
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct GuestbookCreate {
    /// 1..2000 characters of plain text.
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub content: Text<{ crate::service::moderation::MAX_CHARS }>,
}

#[derive(ApiResponse)]
pub enum GuestbookCreated {
    /// Created; `status` says whether it is published or waits for moderation.
    #[oai(status = 201)]
    Created(Json<GuestbookMessage>),
}

#[derive(ApiResponse)]
pub enum GuestbookDeleted {
    #[oai(status = 204)]
    Deleted,
}

pub struct GuestbookApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Guestbook")]
impl GuestbookApi {
    /// Published guestbook messages with the site's answers, newest first
    #[oai(path = "/guestbook", method = "get", operation_id = "listGuestbook")]
    async fn list_guestbook(
        &self,
        req: &Request,
        state: Data<&AppState>,
        cursor: Query<Option<String>>,
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<GuestbookPage>> {
        read_budget::charge(req, &state, ReadCost::Uncached).await?;
        Ok(Json(
            guestbook::published(&state.db, cursor.0.as_deref(), limit.0)
                .await?
                .into(),
        ))
    }

    /// Write in the guestbook (login required)
    #[oai(
        path = "/guestbook",
        method = "post",
        operation_id = "createGuestbookMessage"
    )]
    async fn create_guestbook_message(
        &self,
        auth: UserAuth,
        req: &Request,
        state: Data<&AppState>,
        body: Json<GuestbookCreate>,
    ) -> ApiResult<GuestbookCreated> {
        let new = NewMessage {
            content: CommentText::parse(&body.0.content.0)?,
            client_ip: client_ip(req, &state).to_string(),
        };
        let view = guestbook::create(&state, auth.user(), new).await?;
        Ok(GuestbookCreated::Created(Json(view.into())))
    }

    /// Delete my guestbook message
    #[oai(
        path = "/guestbook/:id",
        method = "delete",
        operation_id = "deleteGuestbookMessage"
    )]
    async fn delete_guestbook_message(
        &self,
        auth: UserAuth,
        state: Data<&AppState>,
        req: &Request,
        id: Path<i64>,
    ) -> ApiResult<GuestbookDeleted> {
        let audit_as = actor::of(auth.user(), req, &state);
        guestbook::apply(
            &state.db,
            auth.user(),
            &audit_as,
            id.0,
            ModerationAction::Delete,
        )
        .await?;
        Ok(GuestbookDeleted::Deleted)
    }
}
