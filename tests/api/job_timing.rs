//! Scheduled jobs in time: ticks computed in the job's IANA zone (what preview shows is what
//! fires), edits and "run now" that never lose a tick, runs that outlive neither their
//! request nor `jobs.max_run_secs`, and stored params that no longer parse.

use std::time::{Duration, Instant};

use chrono::{DateTime, Timelike, Utc};
use qshare::config::OfficialAccountSettings;
use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use testkit::wechat_fake::{self as fake, FakeConfig, FakeWechat};
use tokio::io::AsyncWriteExt;

use crate::{
    helpers::{TestApp, spawn_app_with, test_settings},
    jobs::{create_job, finished_run, run_now, sync_followers},
};

async fn app_with(edit: impl FnOnce(&mut qshare::Settings)) -> TestApp {
    let (mut settings, dir) = test_settings().await;
    settings.jobs.enabled = true;
    settings.jobs.sync_interval_secs = 1;
    edit(&mut settings);
    spawn_app_with(settings, dir).await
}

/// An app with an Official Account on a fake WeChat whose every answer takes `latency`.
async fn slow_wechat_app(
    latency: Duration,
    edit: impl FnOnce(&mut qshare::Settings),
) -> (TestApp, FakeWechat) {
    let fake = FakeWechat::start_with(FakeConfig {
        followers: fake::generated_followers(3),
        latency,
        ..FakeConfig::default()
    })
    .await;
    let base_url = fake.base_url().to_string();
    let app = app_with(|s| {
        s.wechat.api_base_url = base_url;
        s.wechat.official_account = OfficialAccountSettings {
            app_id: fake::OA_APP_ID.into(),
            app_secret: fake::OA_SECRET.into(),
            token: "timingtoken".into(),
            encoding_aes_key: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG".into(),
        };
        edit(s);
    })
    .await;
    (app, fake)
}

async fn runs(app: &TestApp, job: &Value) -> Vec<Value> {
    crate::jobs::runs(app, job["id"].as_i64().unwrap()).await
}

fn at(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

/// Sleeps until `wall` (a UTC instant).
async fn sleep_until(wall: DateTime<Utc>) {
    if let Ok(d) = (wall - Utc::now()).to_std() {
        tokio::time::sleep(d).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_in_a_daylight_saving_zone_fires_at_the_instants_preview_shows_and_claims_each() {
    let app = app_with(|_| {}).await;
    // One instant a few seconds ahead, written as Berlin wall-clock time.
    let berlin = chrono_tz::Europe::Berlin;
    let target = (Utc::now() + chrono::Duration::seconds(4))
        .with_nanosecond(0)
        .unwrap();
    let local = target.with_timezone(&berlin);
    let cron = format!(
        "{} {} {} * * *",
        local.second(),
        local.minute(),
        local.hour()
    );
    let preview = app
        .admin_json(
            Method::POST,
            "/api/admin/jobs/preview",
            Some(json!({ "cron": cron, "timezone": "Europe/Berlin" })),
            StatusCode::OK,
        )
        .await;
    assert_eq!(at(&preview["next"][0]), target, "{preview}");
    assert_eq!(
        at(&preview["next"][1]) - target,
        chrono::Duration::days(1),
        "daily at the same Berlin time"
    );
    let once = create_job(
        &app,
        json!({ "name": "berlin", "kind": "publish_scheduled", "cron": cron, "timezone": "Europe/Berlin" }),
    )
    .await;
    assert_eq!(at(&once["next_fire_at"]), target);

    // And a two-second schedule in New York: every run claims one of the previewed ticks.
    let every_two = create_job(
        &app,
        json!({ "name": "new-york", "kind": "publish_scheduled", "cron": "*/2 * * * * *", "timezone": "America/New_York" }),
    )
    .await;
    let preview = app
        .admin_json(
            Method::POST,
            "/api/admin/jobs/preview",
            Some(json!({ "cron": "*/2 * * * * *", "timezone": "America/New_York" })),
            StatusCode::OK,
        )
        .await;
    let previewed: Vec<DateTime<Utc>> =
        preview["next"].as_array().unwrap().iter().map(at).collect();
    sleep_until(previewed[3] + chrono::Duration::milliseconds(1500)).await;

    let ran = runs(&app, &once).await;
    assert_eq!(ran.len(), 1, "{ran:?}");
    assert_eq!(at(&ran[0]["scheduled_at"]), target, "the claim is the tick");
    assert_eq!(ran[0]["status"], "ok");
    assert!(
        at(&ran[0]["started_at"]) >= target,
        "never before its instant: {}",
        ran[0]
    );
    let ticks: Vec<DateTime<Utc>> = runs(&app, &every_two)
        .await
        .iter()
        .map(|r| at(&r["scheduled_at"]))
        .collect();
    for tick in &previewed[..4] {
        assert!(ticks.contains(tick), "previewed {tick} ran: {ticks:?}");
    }
    assert!(
        ticks
            .iter()
            .all(|t| t.second() % 2 == 0 && t.nanosecond() == 0),
        "{ticks:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_just_before_each_tick_lose_no_tick() {
    let app = app_with(|_| {}).await;
    let job = create_job(
        &app,
        json!({ "name": "edited", "kind": "publish_scheduled", "cron": "* * * * * *", "timezone": "Europe/Berlin" }),
    )
    .await;
    let id = job["id"].as_i64().unwrap();
    // Edit the job (its name, and its cron between two spellings of "every second") a few
    // times a second for four seconds, each edit moving the version.
    let crons = ["*/1 * * * * *", "* * * * * *"];
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < Duration::from_secs(4) {
        app.admin_json(
            Method::PATCH,
            &format!("/api/admin/jobs/{id}"),
            Some(json!({ "name": format!("edited-{n}"), "cron": crons[n % 2] })),
            StatusCode::OK,
        )
        .await;
        n += 1;
        tokio::time::sleep(Duration::from_millis(230)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut ticks: Vec<DateTime<Utc>> = runs(&app, &job)
        .await
        .iter()
        .map(|r| at(&r["scheduled_at"]))
        .collect();
    ticks.sort_unstable();
    assert!(ticks.len() >= 4, "{ticks:?}");
    let span = (ticks[ticks.len() - 1] - ticks[0]).num_seconds() as usize + 1;
    assert_eq!(span, ticks.len(), "every second ran once: {ticks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_now_just_before_a_tick_neither_takes_nor_skips_it() {
    // A follower sync takes about three seconds here (token, two pages, 1 s each).
    let (app, _fake) = slow_wechat_app(Duration::from_secs(1), |_| {}).await;
    let job = create_job(
        &app,
        json!({ "name": "sync", "kind": "sync_wechat_followers", "cron": "*/10 * * * * *", "timezone": "America/New_York" }),
    )
    .await;
    // One second before a tick (and long after the previous one's run ended).
    let mut tick = at(&job["next_fire_at"]);
    if tick - Utc::now() < chrono::Duration::seconds(5) {
        tick += chrono::Duration::seconds(10);
    }
    sleep_until(tick - chrono::Duration::seconds(1)).await;
    let manual = run_now(&app, &job).await;
    assert_eq!(manual["status"], "ok", "{manual}");
    assert!(
        at(&manual["scheduled_at"]).nanosecond() != 0,
        "a manual run's key is never a tick: {manual}"
    );

    let start = Instant::now();
    let scheduled = loop {
        let ran = runs(&app, &job).await;
        if let Some(r) = ran
            .iter()
            .find(|r| at(&r["scheduled_at"]) == tick && r["status"] != "running")
        {
            break r.clone();
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{ran:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(scheduled["trigger"], "schedule");
    assert_eq!(scheduled["status"], "ok", "the tick ran: {scheduled}");
    assert!(
        at(&scheduled["started_at"]) >= at(&manual["finished_at"]),
        "after the manual run, not alongside it: {scheduled} {manual}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_or_times_out_leaves_a_run_that_finishes() {
    // The sync outlasts the request timeout.
    let (app, _fake) = slow_wechat_app(Duration::from_millis(800), |s| {
        s.jobs.enabled = false;
        s.server.request_timeout_secs = 1;
    })
    .await;
    // Send the request and hang up at once.
    let addr = app.address.trim_start_matches("http://").to_string();
    let mut socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let request = format!(
        "POST /api/admin/followers/sync HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Length: 0\r\n\r\n",
        app.admin_token
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    drop(socket);

    let start = Instant::now();
    let (job, run) = loop {
        let jobs = app
            .admin_json(Method::GET, "/api/admin/jobs", None, StatusCode::OK)
            .await;
        let job = jobs["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["kind"] == "sync_wechat_followers")
            .cloned();
        if let Some(job) = job {
            let ran = runs(&app, &job).await;
            if let Some(run) = ran.first().filter(|r| r["status"] != "running") {
                assert_eq!(ran.len(), 1, "{ran:?}");
                break (job, run.clone());
            }
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no final run");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(run["status"], "ok", "{run}");
    assert_eq!(run["summary"]["added"], 3);

    // A client that waits is answered 202 at once, well within the request timeout.
    let asked = Instant::now();
    let synced = sync_followers(&app).await;
    assert_eq!(synced["status"], "ok", "{synced}");
    assert_eq!(synced["job_id"], job["id"]);
    assert!(
        asked.elapsed() > Duration::from_secs(1),
        "the sync outlasted the timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_longer_than_max_run_secs_ends_failed_and_leaves_no_lock() {
    let (app, fake) = slow_wechat_app(Duration::ZERO, |s| {
        s.jobs.enabled = false;
        s.jobs.max_run_secs = 1;
    })
    .await;
    // A first sync fetches the access token, so the slow one is stopped inside the sync
    // itself (holding the follower sync lock).
    assert_eq!(sync_followers(&app).await["status"], "ok");
    fake.set_latency(Duration::from_millis(1500));
    let accepted = app
        .admin_json(
            Method::POST,
            "/api/admin/followers/sync",
            None,
            StatusCode::ACCEPTED,
        )
        .await;
    assert_eq!(accepted["status"], "running", "{accepted}");
    let run = finished_run(&app, &accepted).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"].as_str().unwrap().contains("max_run_secs"),
        "{run}"
    );
    let took = at(&run["finished_at"]) - at(&run["started_at"]);
    assert!(took < chrono::Duration::milliseconds(1900), "{run}");

    // The stopped sync released its lock: the next one runs.
    fake.set_latency(Duration::ZERO);
    let again = sync_followers(&app).await;
    assert_eq!(again["status"], "ok", "{again}");
    assert_eq!(again["summary"]["listed"], 3);
}

#[tokio::test]
async fn a_run_left_running_by_a_dead_instance_is_failed_by_the_next_instance_that_looks() {
    let app = app_with(|s| {
        s.jobs.enabled = false;
        s.jobs.max_run_secs = 2;
    })
    .await;
    let job = create_job(
        &app,
        json!({ "name": "orphan", "kind": "publish_scheduled", "cron": "0 0 0 1 1 *", "enabled": false }),
    )
    .await;
    let id = job["id"].as_i64().unwrap();
    // What a crashed instance leaves: a claimed run, never finished, started long ago.
    let long_ago = Utc::now() - chrono::Duration::seconds(60);
    let orphan = qshare::jobs::store::claim(
        &app.state.db,
        id,
        long_ago.with_nanosecond(0).unwrap(),
        "dead-instance",
        entity::job_run::RunTrigger::Schedule,
    )
    .await
    .unwrap()
    .unwrap();
    app.state
        .db
        .execute_unprepared(&format!(
            "UPDATE job_runs SET started_at = (SELECT scheduled_at FROM job_runs WHERE id = {0}) WHERE id = {0}",
            orphan.id
        ))
        .await
        .unwrap();

    let manual = run_now(&app, &job).await;
    assert_eq!(
        manual["status"], "ok",
        "not blocked by the orphan: {manual}"
    );
    let ran = runs(&app, &job).await;
    let orphan = ran.iter().find(|r| r["id"] == orphan.id).unwrap();
    assert_eq!(orphan["status"], "failed", "{orphan}");
    assert!(
        orphan["error"].as_str().unwrap().contains("max_run_secs"),
        "{orphan}"
    );
}

#[tokio::test]
async fn stored_params_that_no_longer_parse_fail_the_run_and_show_in_the_job() {
    let app = app_with(|s| s.jobs.enabled = false).await;
    let job = create_job(
        &app,
        json!({ "name": "push", "kind": "push_featured", "cron": "0 0 20 * * *", "enabled": false }),
    )
    .await;
    assert!(job["problem"].is_null(), "{job}");
    for (stored, says) in [
        (r#"{"max_articles": 99}"#, "max_articles"),
        (r#"{"max_articles": 3, "colour": "red"}"#, "colour"),
        ("not json", "no longer parse"),
    ] {
        app.state
            .db
            .execute_unprepared(&format!(
                "UPDATE scheduled_jobs SET params = '{stored}' WHERE id = {}",
                job["id"]
            ))
            .await
            .unwrap();
        let shown = app
            .admin_json(
                Method::GET,
                &format!("/api/admin/jobs/{}", job["id"]),
                None,
                StatusCode::OK,
            )
            .await;
        let problem = shown["problem"].as_str().unwrap_or_default();
        assert!(problem.contains(says), "{stored}: {shown}");
        let listed = app
            .admin_json(Method::GET, "/api/admin/jobs", None, StatusCode::OK)
            .await;
        let listed = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["id"] == job["id"])
            .unwrap()
            .clone();
        assert_eq!(listed["problem"], shown["problem"]);

        let run = run_now(&app, &job).await;
        assert_eq!(run["status"], "failed", "{stored}: {run}");
        let error = run["error"].as_str().unwrap();
        assert!(
            error.contains("stored params no longer parse") && error.contains(says),
            "{stored}: {error}"
        );
    }
    // Fixing the params clears the problem.
    let fixed = app
        .admin_json(
            Method::PATCH,
            &format!("/api/admin/jobs/{}", job["id"]),
            Some(json!({ "params": { "max_articles": 3 } })),
            StatusCode::OK,
        )
        .await;
    assert!(fixed["problem"].is_null(), "{fixed}");
    assert_eq!(run_now(&app, &fixed).await["status"], "ok");
}
