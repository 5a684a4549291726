//! `/api/admin/followers`: the Official Account's followers and the reconciliation sync.

use entity::wechat_follower;
use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Query, payload::Json};

use super::jobs::RunAccepted;
use crate::{
    api::{error::ApiResult, security::AdminAuth, tags::ApiTags, types::Timestamp},
    jobs,
    service::followers,
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

    /// Reconcile the table with WeChat's follower list, in the background: 202 with the
    /// run of the `sync_wechat_followers` job, whose outcome and summary the job's run
    /// history shows (a sync already running makes the run fail with `sync_running`)
    #[oai(
        path = "/followers/sync",
        method = "post",
        operation_id = "adminSyncFollowers"
    )]
    async fn admin_sync_followers(
        &self,
        admin: AdminAuth,
        Data(state): Data<&AppState>,
    ) -> ApiResult<RunAccepted> {
        let run = jobs::service::sync_followers_now(state, admin.actor()).await?;
        Ok(RunAccepted::Accepted(Json(run.into())))
    }
}
