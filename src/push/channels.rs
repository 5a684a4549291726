//! Sending claimed deliveries through their channel and turning each answer into a
//! settlement (shared/reference/wechat-protocol.md §3.5): transient errors retry with
//! backoff, 43004 unsubscribes the follower, 43101 clears the grant, quota errors pause
//! the channel, request and template errors fail for good.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use entity::{
    miniprogram_subscription,
    push_delivery::{self, Channel},
};
use sea_orm::{ColumnTrait, EntityTrait, ExprTrait, QueryFilter, prelude::Expr};

use super::{
    deliveries::{Settle, deduplicates},
    gate,
    message::{self, ArticleBrief},
};
use crate::{
    config::PushSettings,
    service::{
        followers,
        notifications::{self, NewNotification},
    },
    state::AppState,
    time,
    wechat::{
        api::WechatError,
        client::{MassMessage, MiniProgramLink, SubscribeMessage, TemplateMessage},
    },
};

/// The articles one delivery covers: the campaign's, or the recipient's subset of them.
pub fn articles_for(
    campaign: &[ArticleBrief],
    delivery: &push_delivery::Model,
) -> Vec<ArticleBrief> {
    let subset: Option<Vec<i64>> = delivery
        .article_ids
        .as_deref()
        .and_then(|raw| serde_json::from_str(raw).ok());
    campaign
        .iter()
        .filter(|a| subset.as_ref().is_none_or(|ids| ids.contains(&a.id)))
        .cloned()
        .collect()
}

/// Every article of the campaign was deleted before this delivery went out.
fn articles_gone() -> Settle {
    Settle::Skipped {
        errcode: None,
        error: "the articles are gone".into(),
    }
}

/// Delay before attempt `attempts + 1`: base · 2^(attempts-1), capped.
pub fn backoff(settings: &PushSettings, attempts: i32) -> Duration {
    let exp = attempts.clamp(1, 20) as u32 - 1;
    let ms = Ord::min(
        settings.retry_base_ms.saturating_mul(1u64 << exp),
        settings.retry_max_ms,
    );
    Duration::milliseconds(ms as i64)
}

/// What a WeChat error means for a delivery on `channel`, before side effects.
pub fn classify(
    settings: &PushSettings,
    channel: Channel,
    err: &WechatError,
    attempts: i32,
    now: DateTime<Utc>,
) -> Settle {
    let errcode = err.errcode();
    let error = err.to_string();
    if err.is_quota() {
        return Settle::Retry {
            at: gate::next_quota_reset(now),
            errcode,
            error,
            uncount: true,
        };
    }
    if err.is_unsubscribed() || err.is_invalid_openid() || err.is_subscription_refused() {
        return Settle::Skipped { errcode, error };
    }
    if err.is_transient() || err.is_token_invalid() {
        // A send that timed out or died on the wire may have arrived; only a channel that
        // de-duplicates may try again.
        if matches!(err, WechatError::Transport(_)) && !deduplicates(channel) {
            return Settle::Unknown { error };
        }
        if attempts >= settings.max_attempts as i32 {
            return Settle::Failed {
                errcode,
                error: format!("gave up after {attempts} attempts: {error}"),
            };
        }
        return Settle::Retry {
            at: now + backoff(settings, attempts),
            errcode,
            error,
            uncount: false,
        };
    }
    Settle::Failed { errcode, error }
}

/// Side effects of an error that says something about the recipient or the channel.
async fn react(state: &AppState, delivery: &push_delivery::Model, err: &WechatError) {
    let now = time::now();
    if err.is_unsubscribed()
        && let Err(e) = followers::record_unsubscribe(&state.db, &delivery.recipient, now).await
    {
        tracing::warn!(error = %e, "cannot mark the follower unsubscribed");
    }
    if err.is_subscription_refused()
        && let Some(user_id) = delivery.user_id
        && let Err(e) = clear_credits(state, user_id).await
    {
        tracing::warn!(error = %e, "cannot clear the subscribe credits");
    }
    if err.is_quota() {
        gate::pause(&state.cache, delivery.channel, gate::next_quota_reset(now)).await;
    }
}

/// Writes the inbox notifications of a claimed batch in one statement; the dedup key
/// (`push:<campaign>`) makes a resend after a crash a no-op.
pub async fn send_inbox(
    state: &AppState,
    claimed: &[push_delivery::Model],
    articles: &HashMap<i64, Vec<ArticleBrief>>,
) -> Vec<(i64, Settle)> {
    let mut rows = Vec::with_capacity(claimed.len());
    let mut settled = Vec::with_capacity(claimed.len());
    for d in claimed {
        let wanted = articles_for(articles.get(&d.campaign_id).map_or(&[], Vec::as_slice), d);
        let (Some(user_id), Some(first)) = (d.user_id, wanted.first()) else {
            settled.push((d.id, articles_gone()));
            continue;
        };
        let (title, body) = message::inbox(&wanted);
        rows.push(NewNotification::featured_articles(
            user_id,
            d.campaign_id,
            message::truncate_chars(&title, 200),
            body,
            first.id,
        ));
        settled.push((d.id, Settle::Sent));
    }
    if let Err(err) = notifications::notify_many(&state.db, rows).await {
        let at = time::now() + backoff(&state.settings.push, 1);
        return claimed
            .iter()
            .map(|d| {
                (
                    d.id,
                    Settle::Retry {
                        at,
                        errcode: None,
                        error: format!("cannot write the notifications: {err}"),
                        uncount: false,
                    },
                )
            })
            .collect();
    }
    settled
}

fn not_configured(what: &str) -> Settle {
    Settle::Failed {
        errcode: None,
        error: format!("{what} is not configured"),
    }
}

fn miniprogram_link(state: &AppState, article_id: i64) -> Option<MiniProgramLink> {
    state.wechat.miniprogram.as_ref().map(|mp| MiniProgramLink {
        appid: mp.app_id.clone(),
        pagepath: format!(
            "{}?id={article_id}",
            state.settings.push.channels.miniprogram_subscribe.page
        ),
    })
}

/// One template message; `client_msg_id` is derived from campaign and openid.
pub async fn send_template(
    state: &AppState,
    delivery: &push_delivery::Model,
    campaign: &[ArticleBrief],
) -> Settle {
    let Some(app) = state.wechat.official_account.as_ref() else {
        return not_configured("wechat.official_account");
    };
    let owned = articles_for(campaign, delivery);
    let Some(first) = owned.first() else {
        return articles_gone();
    };
    let push = &state.settings.push;
    let msg = TemplateMessage {
        touser: delivery.recipient.clone(),
        template_id: push.channels.wechat_template.template_id.clone(),
        url: Some(message::article_url(&push.site_url, first.id)),
        miniprogram: miniprogram_link(state, first.id),
        client_msg_id: message::client_msg_id(delivery.campaign_id, &delivery.recipient),
        data: message::template_data(&owned, time::now()),
    };
    let client = &state.wechat.client;
    let msg = &msg;
    let sent = state
        .wechat
        .tokens
        .call_with_token_no_busy_retry(app, |token| async move {
            client.send_template(&token, msg).await
        })
        .await;
    settle_wechat(state, delivery, sent.map(|_| ())).await
}

/// One mass send to a whole batch (every row shares the outcome).
pub async fn send_mass(
    state: &AppState,
    batch: &[push_delivery::Model],
    campaign: &[ArticleBrief],
) -> Vec<(i64, Settle)> {
    let Some(first) = batch.first() else {
        return Vec::new();
    };
    let outcome = match state.wechat.official_account.as_ref() {
        None => not_configured("wechat.official_account"),
        Some(app) => {
            let openids: Vec<String> = batch.iter().map(|d| d.recipient.clone()).collect();
            let text = MassMessage::Text {
                content: message::mass_text(campaign, &state.settings.push.site_url),
            };
            let key = message::clientmsgid(first.campaign_id, first.batch.unwrap_or(0));
            let client = &state.wechat.client;
            let (openids, text, key) = (&openids, &text, &key);
            let sent = state
                .wechat
                .tokens
                .call_with_token_no_busy_retry(app, |token| async move {
                    client.mass_send(&token, openids, text, key).await
                })
                .await;
            settle_wechat(state, first, sent.map(|_| ())).await
        }
    };
    batch.iter().map(|d| (d.id, outcome.clone())).collect()
}

/// One mini-program subscribe message; spends the user's credit only when WeChat accepted.
pub async fn send_subscribe(
    state: &AppState,
    delivery: &push_delivery::Model,
    campaign: &[ArticleBrief],
) -> Settle {
    let Some(app) = state.wechat.miniprogram.as_ref() else {
        return not_configured("wechat.miniprogram");
    };
    let config = &state.settings.push.channels.miniprogram_subscribe;
    let Some(user_id) = delivery.user_id else {
        return Settle::Skipped {
            errcode: None,
            error: "no user".into(),
        };
    };
    match credits(state, user_id, &config.template_id).await {
        Ok(n) if n > 0 => {}
        Ok(_) => {
            return Settle::Skipped {
                errcode: None,
                error: "no subscribe credit left".into(),
            };
        }
        Err(e) => {
            return Settle::Retry {
                at: time::now() + backoff(&state.settings.push, delivery.attempts),
                errcode: None,
                error: format!("cannot read the credits: {e}"),
                uncount: false,
            };
        }
    }
    let owned = articles_for(campaign, delivery);
    let Some(first) = owned.first() else {
        return articles_gone();
    };
    let msg = SubscribeMessage {
        touser: delivery.recipient.clone(),
        template_id: config.template_id.clone(),
        page: Some(format!("{}?id={}", config.page, first.id)),
        miniprogram_state: None,
        lang: Some("zh_CN".into()),
        data: message::template_data(&owned, time::now()),
    };
    let client = &state.wechat.client;
    let msg = &msg;
    let sent = state
        .wechat
        .tokens
        .call_with_token_no_busy_retry(app, |token| async move {
            client.send_subscribe(&token, msg).await
        })
        .await;
    if sent.is_ok()
        && let Err(e) = spend_credit(state, user_id, &config.template_id).await
    {
        tracing::warn!(error = %e, user_id, "sent, but cannot spend the subscribe credit");
    }
    settle_wechat(state, delivery, sent).await
}

async fn settle_wechat(
    state: &AppState,
    delivery: &push_delivery::Model,
    sent: Result<(), WechatError>,
) -> Settle {
    match sent {
        Ok(()) => Settle::Sent,
        Err(err) => {
            react(state, delivery, &err).await;
            classify(
                &state.settings.push,
                delivery.channel,
                &err,
                delivery.attempts,
                time::now(),
            )
        }
    }
}

async fn credits(state: &AppState, user_id: i64, template_id: &str) -> Result<i32, sea_orm::DbErr> {
    Ok(
        miniprogram_subscription::Entity::find_by_id((user_id, template_id.to_string()))
            .one(&state.db)
            .await?
            .map_or(0, |s| s.credits),
    )
}

async fn spend_credit(
    state: &AppState,
    user_id: i64,
    template_id: &str,
) -> Result<(), sea_orm::DbErr> {
    use miniprogram_subscription::Column as C;
    miniprogram_subscription::Entity::update_many()
        .col_expr(C::Credits, Expr::col(C::Credits).sub(1))
        .col_expr(C::UpdatedAt, Expr::value(time::now()))
        .filter(C::UserId.eq(user_id))
        .filter(C::TemplateId.eq(template_id))
        .filter(C::Credits.gt(0))
        .exec(&state.db)
        .await?;
    Ok(())
}

/// 43101: the user refused or cancelled; their grants for our template are void.
async fn clear_credits(state: &AppState, user_id: i64) -> Result<(), sea_orm::DbErr> {
    use miniprogram_subscription::Column as C;
    let template = &state
        .settings
        .push
        .channels
        .miniprogram_subscribe
        .template_id;
    miniprogram_subscription::Entity::update_many()
        .col_expr(C::Credits, Expr::value(0))
        .col_expr(C::UpdatedAt, Expr::value(time::now()))
        .filter(C::UserId.eq(user_id))
        .filter(C::TemplateId.eq(template.as_str()))
        .exec(&state.db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wechat::api::errcode;

    fn settings() -> PushSettings {
        PushSettings {
            max_attempts: 3,
            retry_base_ms: 1000,
            retry_max_ms: 3000,
            ..PushSettings::default()
        }
    }

    #[test]
    fn backoff_doubles_per_attempt_up_to_the_cap() {
        let s = settings();
        assert_eq!(backoff(&s, 1), Duration::milliseconds(1000));
        assert_eq!(backoff(&s, 2), Duration::milliseconds(2000));
        assert_eq!(backoff(&s, 3), Duration::milliseconds(3000));
        assert_eq!(backoff(&s, 30), Duration::milliseconds(3000));
    }

    #[test]
    fn each_errcode_settles_the_way_the_reference_table_says() {
        let s = settings();
        let now = time::now();
        let t = Channel::WechatTemplate;
        let api = |code| WechatError::api(code, "x");
        assert!(matches!(classify(&s, t, &api(errcode::BUSY), 1, now),
            Settle::Retry { uncount: false, at, .. } if at == now + Duration::seconds(1)));
        assert!(matches!(
            classify(&s, t, &api(errcode::BUSY), 3, now),
            Settle::Failed { .. }
        ));
        assert!(matches!(
            classify(&s, t, &api(errcode::REQUIRE_SUBSCRIBE), 1, now),
            Settle::Skipped {
                errcode: Some(43004),
                ..
            }
        ));
        assert!(matches!(
            classify(&s, t, &api(errcode::DAILY_QUOTA), 1, now),
            Settle::Retry { uncount: true, .. }
        ));
        assert!(matches!(
            classify(&s, t, &api(errcode::INVALID_TEMPLATE_ID), 1, now),
            Settle::Failed {
                errcode: Some(40037),
                ..
            }
        ));
        let timeout = WechatError::Transport("timed out".into());
        assert!(matches!(
            classify(&s, t, &timeout, 1, now),
            Settle::Retry { .. }
        ));
        // No de-duplication key: a send lost on the wire may have arrived.
        assert!(matches!(
            classify(&s, Channel::MiniprogramSubscribe, &timeout, 1, now),
            Settle::Unknown { .. }
        ));
        assert!(matches!(
            classify(
                &s,
                Channel::MiniprogramSubscribe,
                &api(errcode::USER_REFUSED),
                1,
                now
            ),
            Settle::Skipped {
                errcode: Some(43101),
                ..
            }
        ));
    }
}
