//! Push campaigns: the list, and a campaign's per-channel counts (delivered, failed, pending,
//! skipped) with the reasons and paused channels, refreshed every 3 s while the tab is
//! visible; "retry failed only".

use askama::Template;
use chrono::{DateTime, Utc};
use entity::push_campaign::CampaignStatus;
use poem::{
    Request, Response, handler,
    web::{Path, Query},
};
use serde::Deserialize;

use super::web::{self, Console, Ctx, Guard, OrFail, signed_in};
use crate::{
    error::AppError,
    pagination::Page,
    push::{
        self,
        campaigns::{self, CampaignDetail, CampaignView},
        deliveries, gate,
    },
};

pub fn status_key(s: &CampaignStatus) -> &'static str {
    match *s {
        CampaignStatus::Pending => "push.status.pending",
        CampaignStatus::Preparing => "push.status.preparing",
        CampaignStatus::Sending => "push.status.sending",
        CampaignStatus::Done => "push.status.done",
        CampaignStatus::Failed => "push.status.failed",
    }
}

pub fn channel(c: &entity::push_delivery::Channel) -> &'static str {
    gate::channel_name(*c)
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    cursor: Option<String>,
}

fn parse_status(raw: &str) -> Result<Option<CampaignStatus>, AppError> {
    Ok(Some(match raw {
        "" => return Ok(None),
        "pending" => CampaignStatus::Pending,
        "preparing" => CampaignStatus::Preparing,
        "sending" => CampaignStatus::Sending,
        "done" => CampaignStatus::Done,
        "failed" => CampaignStatus::Failed,
        _ => return Err(AppError::bad_field("status", "unknown campaign status")),
    }))
}

#[derive(Template)]
#[template(path = "console/push.html")]
struct ListPage {
    c: Ctx,
    page: Page<CampaignView>,
    status: String,
}

#[handler]
pub async fn list(req: &Request, guard: Guard, Query(q): Query<ListQuery>) -> Response {
    let console = signed_in!(guard);
    let state = web::state(req);
    let result = async {
        let status = parse_status(q.status.as_deref().unwrap_or_default()).or_fail(&console)?;
        let page = campaigns::list(&state.db, status, q.cursor.as_deref(), Some(30))
            .await
            .or_fail(&console)?;
        Ok(web::page(
            req,
            &ListPage {
                c: console.ctx("push"),
                page,
                status: q.status.unwrap_or_default(),
            },
        ))
    }
    .await;
    web::unwrap(result)
}

#[derive(Template)]
#[template(path = "console/push_counts.html")]
struct Counts {
    c: Ctx,
    d: CampaignDetail,
    paused: Vec<(&'static str, DateTime<Utc>)>,
    /// The retry's answer, shown once.
    requeued: Option<u64>,
}

#[derive(Template)]
#[template(path = "console/push_campaign.html")]
struct DetailPage {
    c: Ctx,
    id: i64,
    title: String,
    counts: String,
}

async fn counts(
    req: &Request,
    console: &Console,
    id: i64,
    requeued: Option<u64>,
) -> Result<Counts, Response> {
    let state = web::state(req);
    let d = campaigns::detail(&state.db, id).await.or_fail(console)?;
    let mut paused = Vec::new();
    for channel in deliveries::ALL_CHANNELS {
        if let Some(until) = gate::paused_until(&state.cache, channel).await {
            paused.push((gate::channel_name(channel), until));
        }
    }
    Ok(Counts {
        c: console.ctx("push"),
        d,
        paused,
        requeued,
    })
}

#[handler]
pub async fn detail(req: &Request, guard: Guard, Path(id): Path<i64>) -> Response {
    let console = signed_in!(guard);
    let result = async {
        let counts = counts(req, &console, id, None).await?;
        Ok(web::page(
            req,
            &DetailPage {
                c: console.ctx("push"),
                id,
                title: counts.d.view.campaign.title.clone(),
                counts: counts.render().unwrap_or_default(),
            },
        ))
    }
    .await;
    web::unwrap(result)
}

/// The live region: polled while the tab is visible.
#[handler]
pub async fn counts_fragment(req: &Request, guard: Guard, Path(id): Path<i64>) -> Response {
    let console = signed_in!(guard);
    match counts(req, &console, id, None).await {
        Ok(c) => web::page(req, &c),
        Err(refusal) => refusal,
    }
}

#[handler]
pub async fn retry(req: &Request, guard: Guard, Path(id): Path<i64>) -> Response {
    let console = signed_in!(guard);
    let state = web::state(req);
    let result = async {
        let requeued = push::retry_failed(state, id, &console.actor)
            .await
            .or_fail(&console)?;
        let c = counts(req, &console, id, Some(requeued)).await?;
        Ok(web::page(req, &c))
    }
    .await;
    web::unwrap(result)
}
