//! `/api/admin/push`: push campaigns (what went out, to how many, what failed), retrying
//! failed deliveries, and pushing an article now.

use entity::{
    push_campaign::{self, CampaignStatus as Status},
    push_delivery::Channel,
};
use poem::web::Data;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, param::Path, param::Query, payload::Json};
use sea_orm::ActiveEnum;

use crate::{
    api::{error::ApiResult, security::AdminAuth, tags::ApiTags, types::Timestamp},
    push::{
        self,
        campaigns::{self, CampaignDetail as Detail, CampaignView, ChannelCounts},
        gate,
        message::ArticleBrief,
    },
    state::AppState,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum CampaignStatus {
    Pending,
    Preparing,
    Sending,
    Done,
    Failed,
}

impl From<Status> for CampaignStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Pending => Self::Pending,
            Status::Preparing => Self::Preparing,
            Status::Sending => Self::Sending,
            Status::Done => Self::Done,
            Status::Failed => Self::Failed,
        }
    }
}

impl From<CampaignStatus> for Status {
    fn from(s: CampaignStatus) -> Self {
        match s {
            CampaignStatus::Pending => Self::Pending,
            CampaignStatus::Preparing => Self::Preparing,
            CampaignStatus::Sending => Self::Sending,
            CampaignStatus::Done => Self::Done,
            CampaignStatus::Failed => Self::Failed,
        }
    }
}

/// An article a campaign covers.
#[derive(Debug, Clone, Object)]
pub struct CampaignArticle {
    pub id: i64,
    pub title: String,
    /// Category slug.
    #[oai(nullable)]
    pub category: Option<String>,
}

impl From<ArticleBrief> for CampaignArticle {
    fn from(a: ArticleBrief) -> Self {
        Self {
            id: a.id,
            title: a.title,
            category: a.category,
        }
    }
}

/// Deliveries of one channel by status.
#[derive(Debug, Clone, Object)]
pub struct ChannelSummary {
    /// `inbox`, `wechat_template`, `wechat_mass`, `miniprogram_subscribe`, `apns`, `fcm` or
    /// `harmony`.
    pub channel: String,
    pub total: i64,
    /// Waiting (includes deliveries deferred by quiet hours or a paused channel, and, on a
    /// channel that de-duplicates, those a worker is sending right now).
    pub pending: i64,
    /// Claimed by a worker right now, on a channel that cannot de-duplicate.
    pub sending: i64,
    pub sent: i64,
    /// Failed for good; `retry` sends these again.
    pub failed: i64,
    /// Not sent on purpose (preferences, unfollowed, refused).
    pub skipped: i64,
    /// A worker died mid-send on a channel that cannot de-duplicate: not resent.
    pub unknown: i64,
}

fn channel_name(c: Channel) -> String {
    gate::channel_name(c).to_string()
}

fn summaries(counts: Vec<(Channel, ChannelCounts)>) -> Vec<ChannelSummary> {
    counts
        .into_iter()
        .map(|(channel, c)| ChannelSummary {
            channel: channel_name(channel),
            total: c.total(),
            pending: c.pending,
            sending: c.sending,
            sent: c.sent,
            failed: c.failed,
            skipped: c.skipped,
            unknown: c.unknown,
        })
        .collect()
}

/// A push campaign.
#[derive(Debug, Clone, Object)]
pub struct Campaign {
    pub id: i64,
    pub status: CampaignStatus,
    /// `schedule` (the push_featured job) or `manual`.
    pub trigger: String,
    /// The digest's headline.
    pub title: String,
    pub articles: Vec<CampaignArticle>,
    /// The admin who pushed it by hand.
    #[oai(nullable)]
    pub created_by: Option<i64>,
    pub created_at: Timestamp,
    /// When its recipients were frozen.
    #[oai(nullable)]
    pub prepared_at: Option<Timestamp>,
    #[oai(nullable)]
    pub finished_at: Option<Timestamp>,
    #[oai(nullable)]
    pub error: Option<String>,
    pub channels: Vec<ChannelSummary>,
}

fn campaign(
    c: push_campaign::Model,
    articles: Vec<ArticleBrief>,
    counts: Vec<(Channel, ChannelCounts)>,
) -> Campaign {
    Campaign {
        id: c.id,
        status: c.status.into(),
        trigger: c.trigger.to_value(),
        title: c.title,
        articles: articles.into_iter().map(Into::into).collect(),
        created_by: c.created_by,
        created_at: c.created_at.into(),
        prepared_at: c.prepared_at.map(Into::into),
        finished_at: c.finished_at.map(Into::into),
        error: c.error,
        channels: summaries(counts),
    }
}

impl From<CampaignView> for Campaign {
    fn from(v: CampaignView) -> Self {
        campaign(v.campaign, v.articles, v.counts)
    }
}

/// Deliveries that share an outcome and error.
#[derive(Debug, Clone, Object)]
pub struct DeliveryErrors {
    pub channel: String,
    /// The deliveries' status (`failed`, `skipped`, `unknown`, or `pending` for one that
    /// will be retried).
    pub status: String,
    /// WeChat's errcode, when WeChat answered.
    #[oai(nullable)]
    pub errcode: Option<i64>,
    pub error: String,
    pub count: i64,
}

/// A paused channel.
#[derive(Debug, Clone, Object)]
pub struct ChannelPause {
    pub channel: String,
    /// WeChat's quota resets then, or a device channel's pause after a credential or
    /// configuration error (or a provider's back-off) ends.
    pub until: Timestamp,
    /// Why: `quota used up`, or the provider's reason (e.g. `InvalidProviderToken`).
    pub reason: String,
}

/// A campaign with its errors.
#[derive(Debug, Clone, Object)]
pub struct CampaignDetail {
    #[oai(flatten)]
    pub campaign: Campaign,
    pub errors: Vec<DeliveryErrors>,
    /// Channels paused on every instance: a WeChat quota used up, or a device channel's
    /// credential or configuration error.
    pub paused_channels: Vec<ChannelPause>,
}

/// A page of campaigns, newest first.
#[derive(Debug, Clone, Object)]
pub struct CampaignPage {
    pub items: Vec<Campaign>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// What a retry requeued.
#[derive(Debug, Clone, Object)]
pub struct CampaignRetry {
    /// Failed deliveries sent again (0 when none had failed).
    pub requeued: u64,
    pub campaign: Campaign,
}

#[derive(ApiResponse)]
pub enum PushArticleResponse {
    /// A new campaign pushes the article
    #[oai(status = 201)]
    Created(Json<Campaign>),
    /// The article was pushed before: the campaign that pushed it
    #[oai(status = 200)]
    Existing(Json<Campaign>),
}

pub struct AdminPushApi;

async fn load(state: &AppState, id: i64) -> ApiResult<Detail> {
    Ok(campaigns::detail(&state.db, id).await?)
}

#[OpenApi(prefix_path = "/api/admin/push", tag = "ApiTags::AdminPush")]
impl AdminPushApi {
    /// Push campaigns, newest first; `status` filters
    #[oai(
        path = "/campaigns",
        method = "get",
        operation_id = "adminListCampaigns"
    )]
    async fn admin_list_campaigns(
        &self,
        _admin: AdminAuth,
        state: Data<&AppState>,
        status: Query<Option<CampaignStatus>>,
        cursor: Query<Option<String>>,
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<CampaignPage>> {
        let page = campaigns::list(
            &state.db,
            status.0.map(Into::into),
            cursor.0.as_deref(),
            limit.0,
        )
        .await?;
        Ok(Json(CampaignPage {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor,
        }))
    }

    /// A campaign: deliveries by channel and status, grouped errors, paused channels
    #[oai(
        path = "/campaigns/:id",
        method = "get",
        operation_id = "adminGetCampaign"
    )]
    async fn admin_get_campaign(
        &self,
        _admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Json<CampaignDetail>> {
        let detail = load(&state, id.0).await?;
        let mut paused_channels = Vec::new();
        for channel in push::deliveries::ALL_CHANNELS {
            if let Some((until, reason)) = gate::pause_of(&state.cache, channel).await {
                paused_channels.push(ChannelPause {
                    channel: channel_name(channel),
                    until: until.into(),
                    reason,
                });
            }
        }
        Ok(Json(CampaignDetail {
            campaign: detail.view.into(),
            errors: detail
                .errors
                .into_iter()
                .map(|e| DeliveryErrors {
                    channel: channel_name(e.channel),
                    status: e.status.to_value(),
                    errcode: e.errcode,
                    error: e.error,
                    count: e.count,
                })
                .collect(),
            paused_channels,
        }))
    }

    /// Send a campaign's failed deliveries again (only those)
    #[oai(
        path = "/campaigns/:id/retry",
        method = "post",
        operation_id = "adminRetryCampaign"
    )]
    async fn admin_retry_campaign(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Json<CampaignRetry>> {
        let requeued = push::retry_failed(&state, id.0, admin.actor()).await?;
        let detail = load(&state, id.0).await?;
        Ok(Json(CampaignRetry {
            requeued,
            campaign: detail.view.into(),
        }))
    }

    /// Push a published article now (201); an article pushed before answers 200 with the
    /// campaign that pushed it
    #[oai(
        path = "/articles/:id",
        method = "post",
        operation_id = "adminPushArticle"
    )]
    async fn admin_push_article(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<PushArticleResponse> {
        let (created, is_new) = push::push_article_now(&state, id.0, admin.actor()).await?;
        let view: Campaign = load(&state, created.id).await?.view.into();
        Ok(if is_new {
            PushArticleResponse::Created(Json(view))
        } else {
            PushArticleResponse::Existing(Json(view))
        })
    }
}
