//! What needs attention, counted for the console's dashboard.

use entity::{
    article::{self, ArticleStatus},
    comment, guestbook_message, job_run,
    moderation::ModerationStatus,
    push_campaign::{self, CampaignStatus},
    scheduled_job,
};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};

use crate::{error::AppResult, service::followers};

#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub drafts: u64,
    pub scheduled: u64,
    pub pending_comments: u64,
    pub pending_guestbook: u64,
    pub campaigns_sending: u64,
    pub campaigns_failed: u64,
    /// Jobs whose latest run failed.
    pub failing_jobs: u64,
    pub followers: u64,
    pub subscribed_followers: u64,
}

pub async fn summary(db: &DatabaseConnection) -> AppResult<Summary> {
    let articles = |s| {
        article::Entity::find()
            .filter(article::Column::Status.eq(s))
            .count(db)
    };
    let campaigns = |s| {
        push_campaign::Entity::find()
            .filter(push_campaign::Column::Status.eq(s))
            .count(db)
    };
    let mut failing_jobs = 0;
    for job in scheduled_job::Entity::find().all(db).await? {
        let last = job_run::Entity::find()
            .filter(job_run::Column::JobId.eq(job.id))
            .order_by_desc(job_run::Column::Id)
            .one(db)
            .await?;
        if last.is_some_and(|r| r.status == job_run::RunStatus::Failed) {
            failing_jobs += 1;
        }
    }
    let follower_counts = followers::counts(db).await?;
    Ok(Summary {
        drafts: articles(ArticleStatus::Draft).await?,
        scheduled: articles(ArticleStatus::Scheduled).await?,
        pending_comments: comment::Entity::find()
            .filter(comment::Column::Status.eq(ModerationStatus::Pending))
            .count(db)
            .await?,
        pending_guestbook: guestbook_message::Entity::find()
            .filter(guestbook_message::Column::Status.eq(ModerationStatus::Pending))
            .count(db)
            .await?,
        campaigns_sending: campaigns(CampaignStatus::Sending).await?,
        campaigns_failed: campaigns(CampaignStatus::Failed).await?,
        failing_jobs,
        followers: follower_counts.total,
        subscribed_followers: follower_counts.subscribed,
    })
}
