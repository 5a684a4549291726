//! Push claims and their leases (issue 13): a claim whose sends are slowed by a rate limit
//! shared by many loops and instances stays its worker's for as long as the worker lives,
//! so nothing is "recovered" (resent, or marked unknown) while it is still being sent.

use std::time::Duration;

use entity::push_delivery::DeliveryStatus;
use serde_json::json;

use crate::{
    helpers::{spawn_app_sharing, spawn_app_with},
    push::{
        assert_no_duplicates, channel, deliveries, fake_with, featured, push_now, push_settings,
        sync_followers, wait_settled,
    },
};

#[tokio::test]
async fn a_claim_slowed_by_a_shared_rate_limit_is_never_recovered_while_its_worker_lives() {
    const FOLLOWERS: usize = 30;
    let fake = fake_with(FOLLOWERS).await;
    fake.set_latency(Duration::from_millis(5));
    let (mut settings, dir) = push_settings(&fake).await;
    settings.push.channels.inbox.enabled = false;
    // 5 sends a second shared by 4 loops on each of 2 instances, big claims and a 2 s
    // lease: the 30 messages take 6 s or more, several leases' worth.
    settings.push.channels.wechat_template.rate_per_sec = 5;
    settings.push.loops_per_channel = 4;
    settings.push.claim_batch = 1000;
    settings.push.lease_secs = 2;
    let first = spawn_app_with(settings.clone(), dir).await;
    let second = spawn_app_sharing(settings, None, Some(first.state.cache.clone())).await;
    sync_followers(&first).await;
    let article = featured(&first, "Slow and steady", json!({})).await;
    let id = push_now(&first, article).await;

    let done = wait_settled(&second, id).await;
    assert_eq!(done["status"], "done", "{done:#}");
    assert_eq!(channel(&done, "wechat_template")["sent"], FOLLOWERS as i64);
    let rows = deliveries(&first, id).await;
    assert_eq!(rows.len(), FOLLOWERS);
    for d in &rows {
        assert_eq!(d.status, DeliveryStatus::Sent, "{d:?}");
        // A recovered claim goes back to pending and is claimed again: a second attempt.
        assert_eq!(d.attempts, 1, "claimed once, never recovered: {d:?}");
    }
    let stats = fake.stats();
    assert_eq!(
        stats.template_duplicates, 0,
        "no message was sent again while its first send was under way"
    );
    assert_eq!(stats.templates_sent, FOLLOWERS as u64);
    assert_no_duplicates(&fake);
}

#[tokio::test]
async fn loops_racing_for_many_chunks_each_send_the_chunk_they_claim_and_none_waits_out_a_lease() {
    const FOLLOWERS: usize = 60;
    let fake = fake_with(FOLLOWERS).await;
    let (mut settings, dir) = push_settings(&fake).await;
    settings.push.channels.inbox.enabled = false;
    // Twelve chunks of five raced for by four loops. A claim that took a chunk its loop never
    // saw would hold it for the whole (long) lease.
    settings.push.loops_per_channel = 4;
    settings.push.claim_batch = 5;
    settings.push.lease_secs = 600;
    let app = spawn_app_with(settings, dir).await;
    sync_followers(&app).await;
    let article = featured(&app, "Many small chunks", json!({})).await;
    let started = std::time::Instant::now();
    let id = push_now(&app, article).await;
    let done = wait_settled(&app, id).await;
    assert_eq!(done["status"], "done", "{done:#}");
    assert_eq!(channel(&done, "wechat_template")["sent"], FOLLOWERS as i64);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "a chunk waited for its lease: {:?}",
        started.elapsed()
    );
    assert_no_duplicates(&fake);
}

/// The plan of a claim on a campaign that just wrote its deliveries (the table's statistics
/// know nothing of it yet): a range of the primary key, never the campaign's whole share of
/// the unique (campaign, channel, recipient) index, which would read every delivery of the
/// campaign to find the thousand of one chunk.
#[tokio::test]
async fn a_claim_reads_its_chunk_by_primary_key_range_on_a_table_without_statistics() {
    use entity::{
        push_campaign::{self, CampaignStatus, CampaignTrigger},
        push_chunk,
        push_delivery::Channel,
    };
    use sea_orm::{
        ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DbBackend, QueryTrait, Statement,
    };

    const DELIVERIES: i64 = 20_000;
    let app = crate::helpers::spawn_app().await;
    let db = &app.state.db;
    let now = chrono::Utc::now();
    let campaign = push_campaign::ActiveModel {
        status: Set(CampaignStatus::Sending),
        trigger: Set(CampaignTrigger::Manual),
        title: Set("plan".into()),
        article_ids: Set("[]".into()),
        follower_horizon: Set(0),
        user_horizon: Set(0),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    let backend = db.get_database_backend();
    let numbers = match backend {
        DbBackend::Postgres => format!("SELECT generate_series(1, {DELIVERIES}) AS i"),
        _ => format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {DELIVERIES}) SELECT i FROM n"
        ),
    };
    db.execute_unprepared(&format!(
        "INSERT INTO push_deliveries (campaign_id, channel, recipient, status, attempts, batch_leader, next_attempt_at, created_at) \
         SELECT {}, 'wechat_template', 'openid-' || i, 'pending', 0, false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM ({numbers}) AS numbers",
        campaign.id
    ))
    .await
    .unwrap();
    let first: i64 = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT MIN(id) FROM push_deliveries",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap();
    let chunk = push_chunk::Model {
        id: 1,
        campaign_id: campaign.id,
        channel: Channel::WechatTemplate,
        first_id: first + 5_000,
        last_id: first + 5_999,
        next_attempt_at: Some(now),
        claimed_by: None,
        lease_until: None,
    };
    // The rows were written at the database's clock: a claim a minute on finds them due.
    let at = now + chrono::Duration::minutes(1);
    let claim = qshare::push::deliveries::due(&chunk, at, 1000).build(backend);
    let (explain, column) = match backend {
        DbBackend::Postgres => ("EXPLAIN", 0),
        _ => ("EXPLAIN QUERY PLAN", 3),
    };
    let plan: Vec<String> = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            format!("{explain} {}", claim.sql),
            claim.values.unwrap(),
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get_by_index::<String>(column).unwrap())
        .collect();
    let plan = plan.join("\n");
    assert!(
        !plan.contains("uq_push_deliveries_recipient"),
        "the claim walks the campaign's index:\n{plan}"
    );
    let by_key = match backend {
        DbBackend::Postgres => "push_deliveries_pkey",
        _ => "INTEGER PRIMARY KEY",
    };
    assert!(
        plan.contains(by_key),
        "the claim is not a key range:\n{plan}"
    );

    let claimed = qshare::push::deliveries::due(&chunk, at, 1000)
        .all(db)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1000);
    assert!(
        claimed
            .iter()
            .all(|d| (chunk.first_id..=chunk.last_id).contains(&d.id))
    );
}
