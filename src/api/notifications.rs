use entity::notification::{self, NotificationKind};
use poem::web::Data;
use poem_openapi::{Enum, Object, OpenApi, param::Query, payload::Json};

use super::{
    error::ApiResult,
    security::UserAuth,
    tags::ApiTags,
    types::{List, Timestamp},
};
use crate::{service::notifications, state::AppState};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum NotificationType {
    CommentReply,
    GuestbookReply,
    FeaturedArticles,
}

impl From<NotificationKind> for NotificationType {
    fn from(k: NotificationKind) -> Self {
        match k {
            NotificationKind::CommentReply => Self::CommentReply,
            NotificationKind::GuestbookReply => Self::GuestbookReply,
            NotificationKind::FeaturedArticles => Self::FeaturedArticles,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct Notification {
    pub id: i64,
    pub kind: NotificationType,
    pub title: String,
    pub body: String,
    #[oai(nullable)]
    pub article_id: Option<i64>,
    #[oai(nullable)]
    pub comment_id: Option<i64>,
    #[oai(nullable)]
    pub guestbook_message_id: Option<i64>,
    pub read: bool,
    pub created_at: Timestamp,
}

impl From<notification::Model> for Notification {
    fn from(n: notification::Model) -> Self {
        Self {
            id: n.id,
            kind: n.kind.into(),
            title: n.title,
            body: n.body,
            article_id: n.article_id,
            comment_id: n.comment_id,
            guestbook_message_id: n.guestbook_message_id,
            read: n.read_at.is_some(),
            created_at: n.created_at.into(),
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct NotificationPage {
    pub items: Vec<Notification>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
    pub unread_count: u64,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct MarkRead {
    /// The notifications to mark read; omit to mark them all.
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub ids: Option<List<i64, { crate::service::notifications::MAX_MARK_IDS }>>,
}

#[derive(Debug, Object)]
pub struct UnreadCount {
    pub unread_count: u64,
}

pub struct NotificationsApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Me")]
impl NotificationsApi {
    /// My inbox, newest first, with the unread count
    #[oai(
        path = "/me/notifications",
        method = "get",
        operation_id = "myNotifications"
    )]
    async fn my_notifications(
        &self,
        auth: UserAuth,
        state: Data<&AppState>,
        unread_only: Query<Option<bool>>,
        cursor: Query<Option<String>>,
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<NotificationPage>> {
        let user_id = auth.id();
        let page = notifications::list(
            &state.db,
            user_id,
            unread_only.0.unwrap_or(false),
            cursor.0.as_deref(),
            limit.0,
        )
        .await?;
        let unread_count = notifications::unread_count(&state.db, user_id).await?;
        let page = page.map(Notification::from);
        Ok(Json(NotificationPage {
            items: page.items,
            next_cursor: page.next_cursor,
            unread_count,
        }))
    }

    /// Mark notifications read (all of them when `ids` is omitted)
    #[oai(
        path = "/me/notifications/read",
        method = "post",
        operation_id = "markNotificationsRead"
    )]
    async fn mark_read(
        &self,
        auth: UserAuth,
        state: Data<&AppState>,
        body: Json<MarkRead>,
    ) -> ApiResult<Json<UnreadCount>> {
        let unread_count =
            notifications::mark_read(&state.db, auth.id(), body.0.ids.map(|ids| ids.0)).await?;
        Ok(Json(UnreadCount { unread_count }))
    }
}
