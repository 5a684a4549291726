//! `/api/admin/followers`: the Official Account's followers and the reconciliation sync.

use entity::wechat_follower;
use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Query, payload::Json};

use crate::{
    api::{error::ApiResult, security::AdminAuth, tags::ApiTags, types::Timestamp},
    service::followers::{self, SyncSummary},
    state::AppState,
};

/// A follower of the Official Account.
#[derive(Debug, Clone, Object)]
pub struct Follower {
    pub id: i64,
    pub openid: String,
    #[oai(nullable)]
    pub unionid: Option<String>,
    /// The qshare user who scanned their bind QR code.
    #[oai(nullable)]
    pub user_id: Option<i64>,
    pub subscribed: bool,
    #[oai(nullable)]
    pub subscribed_at: Option<Timestamp>,
    #[oai(nullable)]
    pub unsubscribed_at: Option<Timestamp>,
    /// QR scene of the last subscribe (`qrscene_` stripped).
    #[oai(nullable)]
    pub scene: Option<String>,
    #[oai(nullable)]
    pub last_event_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<wechat_follower::Model> for Follower {
    fn from(f: wechat_follower::Model) -> Self {
        Self {
            id: f.id,
            openid: f.openid,
            unionid: f.unionid,
            user_id: f.user_id,
            subscribed: f.subscribed,
            subscribed_at: f.subscribed_at.map(Into::into),
            unsubscribed_at: f.unsubscribed_at.map(Into::into),
            scene: f.scene,
            last_event_at: f.last_event_at.map(Into::into),
            created_at: f.created_at.into(),
            updated_at: f.updated_at.into(),
        }
    }
}

/// A page of followers, newest first, with the table's counts.
#[derive(Debug, Clone, Object)]
pub struct FollowerPage {
    pub items: Vec<Follower>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
    /// Every follower we know, subscribed or not.
    pub total: u64,
    /// Currently subscribed.
    pub subscribed: u64,
}

/// What a sync did.
#[derive(Debug, Clone, Object)]
pub struct FollowerSync {
    /// `user/get` pages fetched.
    pub pages: u64,
    /// Openids WeChat listed.
    pub listed: u64,
    /// Followers we did not know.
    pub added: u64,
    /// Followers WeChat no longer lists, now marked unsubscribed.
    pub unsubscribed: u64,
    /// WeChat's follower total.
    pub wechat_total: u64,
}

impl From<SyncSummary> for FollowerSync {
    fn from(s: SyncSummary) -> Self {
        Self {
            pages: s.pages,
            listed: s.listed,
            added: s.added,
            unsubscribed: s.unsubscribed,
            wechat_total: s.wechat_total,
        }
    }
}

pub struct AdminFollowersApi;

#[OpenApi(prefix_path = "/api/admin", tag = "ApiTags::AdminFollowers")]
impl AdminFollowersApi {
    /// Followers, newest first; `subscribed` filters
    #[oai(
        path = "/followers",
        method = "get",
        operation_id = "adminListFollowers"
    )]
    async fn admin_list_followers(
        &self,
        _admin: AdminAuth,
        state: Data<&AppState>,
        subscribed: Query<Option<bool>>,
        cursor: Query<Option<String>>,
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<FollowerPage>> {
        let page = followers::list(&state.db, subscribed.0, cursor.0.as_deref(), limit.0).await?;
        let counts = followers::counts(&state.db).await?;
        Ok(Json(FollowerPage {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor,
            total: counts.total,
            subscribed: counts.subscribed,
        }))
    }

    /// Reconcile the table with WeChat's follower list now (409 while one runs)
    #[oai(
        path = "/followers/sync",
        method = "post",
        operation_id = "adminSyncFollowers"
    )]
    async fn admin_sync_followers(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
    ) -> ApiResult<Json<FollowerSync>> {
        Ok(Json(
            followers::sync_by(&state, admin.actor()).await?.into(),
        ))
    }
}
