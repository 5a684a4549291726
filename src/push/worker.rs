//! Delivery workers: one loop per enabled channel claims due deliveries, sends them with
//! bounded concurrency behind the channel's rate gate, and records every outcome; a
//! maintenance loop recovers claims of dead workers, resumes abandoned preparations and
//! closes finished campaigns. Every instance runs them; the claims keep them apart.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use entity::{
    push_chunk,
    push_delivery::{self, Channel},
};
use futures_util::{StreamExt, stream};
use sea_orm::EntityTrait;
use tokio::{
    sync::{Semaphore, watch},
    task::JoinSet,
};

use super::{
    campaigns, channels, chunks,
    deliveries::{self, Settle},
    devices,
    gate::{self, RateGate},
    message::ArticleBrief,
    prepare,
};
use crate::{error::AppResult, state::AppState, time};

/// The running workers of this instance. Dropping it aborts them (a crash, as far as the
/// database can tell); `shutdown` lets them finish their batch first.
pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Workers {
    pub fn start(state: AppState) -> Self {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let c = &state.settings.push.channels;
        let enabled = [
            (Channel::Inbox, c.inbox.enabled),
            (
                Channel::WechatTemplate,
                c.wechat_template.enabled || c.wechat_mass.enabled,
            ),
            (Channel::WechatMass, c.wechat_mass.enabled),
            (
                Channel::MiniprogramSubscribe,
                c.miniprogram_subscribe.enabled,
            ),
            (Channel::Apns, c.apns.enabled),
            (Channel::Fcm, c.fcm.enabled),
            (Channel::Harmony, c.harmony.enabled),
        ];
        for (channel, on) in enabled {
            if !on {
                continue;
            }
            // Several claim loops per channel, so that one sends while another claims or
            // settles; together they keep at most `concurrency` sends in flight.
            let in_flight = Arc::new(Semaphore::new(concurrency(&state, channel)));
            for _ in 0..state.settings.push.loops_per_channel {
                tasks.spawn(channel_loop(
                    state.clone(),
                    channel,
                    in_flight.clone(),
                    stopped.clone(),
                ));
            }
        }
        tasks.spawn(maintenance_loop(state, stopped));
        Self { stop, tasks }
    }

    /// Stops claiming, lets the batches in flight settle for up to `grace`, then aborts.
    pub async fn shutdown(mut self, grace: Duration) {
        let _ = self.stop.send(true);
        let drained = tokio::time::timeout(grace, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                ?grace,
                "push workers did not finish in time; their claims will be recovered"
            );
            self.tasks.abort_all();
        }
    }
}

/// Sends in flight per channel per instance (device channels have their own setting: HTTP/2
/// multiplexes many streams over one connection).
fn concurrency(state: &AppState, channel: Channel) -> usize {
    let c = &state.settings.push.channels;
    let n = match channel {
        Channel::Apns => c.apns.concurrency,
        Channel::Fcm => c.fcm.concurrency,
        Channel::Harmony => c.harmony.concurrency,
        _ => state.settings.push.concurrency,
    };
    n.max(1) as usize
}

fn rate_gate(state: &AppState, channel: Channel) -> RateGate {
    let c = &state.settings.push.channels;
    let (limit, window) = match channel {
        Channel::WechatTemplate => (c.wechat_template.rate_per_sec, Duration::from_secs(1)),
        Channel::WechatMass => (c.wechat_mass.rate_per_min, Duration::from_secs(60)),
        Channel::Apns => (c.apns.rate_per_sec, Duration::from_secs(1)),
        Channel::Fcm => (c.fcm.rate_per_sec, Duration::from_secs(1)),
        Channel::Harmony => (c.harmony.rate_per_sec, Duration::from_secs(1)),
        Channel::Inbox | Channel::MiniprogramSubscribe => (0, Duration::from_secs(1)),
    };
    RateGate::new(state.cache.clone(), channel, limit, window)
}

/// Deliveries to claim at once. A claim's lease is renewed while it sends, so a batch may
/// take longer than the lease; a rate limit still caps it, so that the rate shared by every
/// loop of every instance is split among claims rather than hoarded by one.
fn claim_size(state: &AppState, channel: Channel) -> u64 {
    let push = &state.settings.push;
    let batch = u64::from(push.claim_batch);
    match channel {
        Channel::WechatTemplate if push.channels.wechat_template.rate_per_sec > 0 => {
            let per_lease =
                u64::from(push.channels.wechat_template.rate_per_sec) * push.lease_secs / 2;
            batch.min(per_lease.max(1))
        }
        // A mass batch is claimed whole.
        Channel::WechatMass => i64::MAX as u64,
        _ => batch,
    }
}

async fn idle(state: &AppState, stopped: &mut watch::Receiver<bool>, wait: Duration) {
    tokio::select! {
        _ = stopped.changed() => {}
        _ = state.push_wake.notified() => {}
        _ = tokio::time::sleep(wait) => {}
    }
}

async fn channel_loop(
    state: AppState,
    channel: Channel,
    in_flight: Arc<Semaphore>,
    mut stopped: watch::Receiver<bool>,
) {
    let gate = rate_gate(&state, channel);
    let poll = Duration::from_millis(state.settings.push.poll_interval_ms);
    let mut articles: HashMap<i64, Vec<ArticleBrief>> = HashMap::new();
    while !*stopped.borrow() {
        match work_once(&state, channel, &gate, &in_flight, &mut articles).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(channel = gate::channel_name(channel), error = %err, "push worker error");
            }
        }
        idle(&state, &mut stopped, poll).await;
    }
}

/// Claims a chunk, sends its due deliveries and settles them; returns how many it handled
/// (at least 1 when it claimed a chunk, so the loop goes on to the next one).
pub async fn work_once(
    state: &AppState,
    channel: Channel,
    gate: &RateGate,
    in_flight: &Semaphore,
    articles: &mut HashMap<i64, Vec<ArticleBrief>>,
) -> AppResult<usize> {
    if gate::paused_until(&state.cache, channel).await.is_some() {
        return Ok(0);
    }
    let push = &state.settings.push;
    let lease = chrono::Duration::seconds(push.lease_secs as i64);
    let now = time::now();
    let token = chunks::claim_token(&state.instance);
    let Some(chunk) = chunks::claim(&state.db, channel, &token, now, now + lease).await? else {
        return Ok(0);
    };
    let size = claim_size(state, channel);
    let claimed =
        deliveries::claim(&state.db, &chunk, &state.instance, now, now + lease, size).await?;
    let lost = AtomicBool::new(false);
    let outcomes = if claimed.is_empty() {
        Vec::new()
    } else {
        let campaign_ids: HashSet<i64> = claimed.iter().map(|d| d.campaign_id).collect();
        if articles.len() > 64 {
            articles.clear();
        }
        for id in &campaign_ids {
            if !articles.contains_key(id)
                && let Some(c) = entity::push_campaign::Entity::find_by_id(*id)
                    .one(&state.db)
                    .await?
            {
                articles.insert(*id, campaigns::articles_of(&state.db, &c).await?);
            }
        }
        let sending = send(state, channel, gate, in_flight, &claimed, articles, &lost);
        tokio::select! {
            outcomes = sending => outcomes,
            () = keep_lease(state, &chunk, &token, &lost) => unreachable!("renews until dropped"),
        }
    };
    let recorded = deliveries::settle(
        &state.db,
        &chunk,
        &token,
        &state.instance,
        time::now(),
        outcomes.clone(),
    )
    .await?;
    if recorded {
        for (_, outcome) in &outcomes {
            crate::push::record_outcome(channel, outcome);
        }
    } else {
        tracing::warn!(
            channel = gate::channel_name(channel),
            chunk = chunk.id,
            "a push claim was taken over before its outcomes were recorded"
        );
    }
    campaigns::finish_if_settled(&state.db, chunk.campaign_id).await?;
    Ok(claimed.len().max(1))
}

/// Renews the claim's lease while its deliveries are being sent (a third of the lease
/// apart), so that a live worker's claim is never taken for a dead one's; if the claim was
/// lost all the same (this worker stalled past its lease), flags it so nothing more of it is
/// sent. Runs until dropped.
async fn keep_lease(state: &AppState, chunk: &push_chunk::Model, token: &str, lost: &AtomicBool) {
    let lease_secs = state.settings.push.lease_secs;
    let every = Duration::from_millis((lease_secs * 1000 / 3).max(1));
    loop {
        tokio::time::sleep(every).await;
        if lost.load(Ordering::Relaxed) {
            continue;
        }
        let until = time::now() + chrono::Duration::seconds(lease_secs as i64);
        match chunks::renew(&state.db, chunk.id, token, until).await {
            Ok(true) => {}
            Ok(false) => lost.store(true, Ordering::Relaxed),
            // The database may answer again before the lease runs out.
            Err(err) => tracing::warn!(error = %err, "cannot renew a push claim"),
        }
    }
}

async fn send(
    state: &AppState,
    channel: Channel,
    gate: &RateGate,
    in_flight: &Semaphore,
    claimed: &[push_delivery::Model],
    articles: &HashMap<i64, Vec<ArticleBrief>>,
    lost: &AtomicBool,
) -> Vec<(i64, Settle)> {
    let of = |d: &push_delivery::Model| articles.get(&d.campaign_id).map_or(&[][..], Vec::as_slice);
    match channel {
        Channel::Inbox => channels::send_inbox(state, claimed, articles).await,
        Channel::Apns | Channel::Fcm | Channel::Harmony => {
            devices::send_batch(state, channel, gate, in_flight, claimed, articles, lost).await
        }
        Channel::WechatMass => {
            gate.acquire().await;
            channels::send_mass(state, claimed, of(&claimed[0])).await
        }
        Channel::WechatTemplate | Channel::MiniprogramSubscribe => {
            // Once WeChat reports a used-up quota, the rest of the batch goes back unsent.
            let paused = AtomicBool::new(false);
            let paused = &paused;
            stream::iter(claimed.iter().cloned())
                .map(|d| async move {
                    if paused.load(Ordering::Relaxed) {
                        return (d.id, released());
                    }
                    // Ours and never closed: acquiring only waits.
                    let _permit = in_flight.acquire().await.ok();
                    gate.acquire().await;
                    if lost.load(Ordering::Relaxed) {
                        // The claim is someone else's now: they send it.
                        return (d.id, released());
                    }
                    let outcome = match channel {
                        Channel::WechatTemplate => channels::send_template(state, &d, of(&d)).await,
                        _ => channels::send_subscribe(state, &d, of(&d)).await,
                    };
                    if matches!(outcome, Settle::Retry { uncount: true, .. }) {
                        paused.store(true, Ordering::Relaxed);
                    }
                    (d.id, outcome)
                })
                .buffer_unordered(state.settings.push.concurrency as usize)
                .collect()
                .await
        }
    }
}

fn released() -> Settle {
    let now = time::now();
    Settle::Retry {
        at: gate::next_quota_reset(now),
        errcode: None,
        error: "not sent: the channel is paused until its quota resets".into(),
        uncount: true,
    }
}

async fn maintenance_loop(state: AppState, mut stopped: watch::Receiver<bool>) {
    let push = &state.settings.push;
    let every = Duration::from_millis((push.poll_interval_ms * 5).clamp(250, 5000));
    while !*stopped.borrow() {
        if let Err(err) = maintain(&state).await {
            tracing::warn!(error = %err, "push maintenance error");
        }
        tokio::select! {
            _ = stopped.changed() => {}
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// Recovers dead claims, prepares campaigns nobody is preparing, closes finished ones.
pub async fn maintain(state: &AppState) -> AppResult<()> {
    let now = time::now();
    let recovered = deliveries::recover(&state.db, now).await?;
    let lease = chrono::Duration::seconds(state.settings.push.lease_secs as i64);
    let mut woke = recovered.resend > 0;
    for id in campaigns::awaiting_preparation(&state.db, now, now - lease).await? {
        if prepare::prepare(&state.db, &state.settings.push, &state.instance, id)
            .await?
            .is_some()
        {
            woke = true;
        }
    }
    for id in campaigns::sending(&state.db).await? {
        campaigns::finish_if_settled(&state.db, id).await?;
    }
    if woke {
        state.push_wake.notify_waiters();
    }
    Ok(())
}
