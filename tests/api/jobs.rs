//! Scheduled jobs: admin CRUD and validation, preview, live changes, one run per tick
//! across instances, failures recorded, run-now.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_sharing, spawn_app_with, test_settings};

async fn scheduler_app() -> (TestApp, qshare::Settings) {
    let (mut settings, dir) = test_settings().await;
    settings.jobs.enabled = true;
    settings.jobs.sync_interval_secs = 1;
    (spawn_app_with(settings.clone(), dir).await, settings)
}

pub async fn create_job(app: &TestApp, body: Value) -> Value {
    app.admin_json(
        Method::POST,
        "/api/admin/jobs",
        Some(body),
        StatusCode::CREATED,
    )
    .await
}

/// Waits (up to 60 s) until the run `accepted` (a 202 answer) is final, and returns it.
pub async fn finished_run(app: &TestApp, accepted: &Value) -> Value {
    let (job, id) = (accepted["job_id"].as_i64().unwrap(), &accepted["id"]);
    let start = std::time::Instant::now();
    loop {
        let run = runs(app, job).await.into_iter().find(|r| &r["id"] == id);
        if let Some(run) = run.filter(|r| r["status"] != "running") {
            assert!(run["finished_at"].is_string(), "{run}");
            return run;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "run {accepted} still running after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// "Run now": answered 202 with the run, then waited for until it is final.
pub async fn run_now(app: &TestApp, job: &Value) -> Value {
    let accepted = app
        .admin_json(
            Method::POST,
            &format!("/api/admin/jobs/{}/run", job["id"]),
            None,
            StatusCode::ACCEPTED,
        )
        .await;
    assert_eq!(accepted["trigger"], "manual", "{accepted}");
    finished_run(app, &accepted).await
}

/// The follower sync: answered 202 with a run of `sync_wechat_followers`, then waited for.
pub async fn sync_followers(app: &TestApp) -> Value {
    let accepted = app
        .admin_json(
            Method::POST,
            "/api/admin/followers/sync",
            None,
            StatusCode::ACCEPTED,
        )
        .await;
    finished_run(app, &accepted).await
}

pub async fn runs(app: &TestApp, job: i64) -> Vec<Value> {
    let page = app
        .admin_json(
            Method::GET,
            &format!("/api/admin/jobs/{job}/runs?limit=100"),
            None,
            StatusCode::OK,
        )
        .await;
    page["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn jobs_are_created_edited_and_deleted_with_every_input_checked() {
    let app = spawn_app().await;
    let job = create_job(
        &app,
        json!({ "name": "publish", "kind": "publish_scheduled", "cron": "*/5 * * * *" }),
    )
    .await;
    assert_eq!(job["cron"], "0 */5 * * * *", "five fields get zero seconds");
    assert_eq!(job["timezone"], "Asia/Shanghai");
    assert_eq!(job["enabled"], true);
    assert!(job["next_fire_at"].is_string());
    let id = job["id"].as_i64().unwrap();

    for (body, field) in [
        (
            json!({ "name": "a", "kind": "publish_scheduled", "cron": "* * *" }),
            "cron",
        ),
        (
            json!({ "name": "a", "kind": "publish_scheduled", "cron": "0 61 * * * *" }),
            "cron",
        ),
        (
            json!({ "name": "a", "kind": "publish_scheduled", "cron": "0 * * * *", "timezone": "Mars/Base" }),
            "timezone",
        ),
        (
            json!({ "name": "a", "kind": "make_coffee", "cron": "0 * * * *" }),
            "kind",
        ),
        (
            json!({ "name": "a", "kind": "push_featured", "cron": "0 * * * *", "params": { "max_articles": 0 } }),
            "params",
        ),
        (
            json!({ "name": "a", "kind": "purge_expired", "cron": "0 * * * *", "params": { "job_runs_days": "soon" } }),
            "params",
        ),
        (
            json!({ "name": "a", "kind": "flush_counters", "cron": "0 * * * *", "params": { "extra": 1 } }),
            "params",
        ),
        (
            json!({ "name": "", "kind": "flush_counters", "cron": "0 * * * *" }),
            "name",
        ),
    ] {
        let err = app
            .admin_json(
                Method::POST,
                "/api/admin/jobs",
                Some(body.clone()),
                StatusCode::BAD_REQUEST,
            )
            .await;
        assert_eq!(err["details"]["field"], field, "{body}: {err}");
    }
    let err = app
        .admin_json(
            Method::POST,
            "/api/admin/jobs",
            Some(json!({ "name": "a", "kind": "push_featured", "cron": "0 * * * *", "params": { "lookback_hours": "soon" } })),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert!(
        err["message"].as_str().unwrap().contains("lookback_hours"),
        "{err}"
    );
    let dup = app
        .admin_json(
            Method::POST,
            "/api/admin/jobs",
            Some(json!({ "name": "publish", "kind": "flush_counters", "cron": "0 * * * *" })),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(dup["code"], "name_taken");

    let edited = app
        .admin_json(
            Method::PATCH,
            &format!("/api/admin/jobs/{id}"),
            Some(json!({ "cron": "0 30 9 * * 1-5", "timezone": "UTC" })),
            StatusCode::OK,
        )
        .await;
    assert_eq!(edited["cron"], "0 30 9 * * 1-5");
    assert_eq!(edited["version"], job["version"].as_i64().unwrap() + 1);
    let disabled = app
        .admin_json(
            Method::POST,
            &format!("/api/admin/jobs/{id}/disable"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(disabled["enabled"], false);
    assert!(disabled["next_fire_at"].is_null());
    app.admin_json(
        Method::PATCH,
        &format!("/api/admin/jobs/{id}"),
        Some(json!({ "cron": "nonsense" })),
        StatusCode::BAD_REQUEST,
    )
    .await;

    let resp = app
        .admin(Method::DELETE, &format!("/api/admin/jobs/{id}"), None)
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    app.admin_json(
        Method::GET,
        &format!("/api/admin/jobs/{id}"),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    let reader = app.user_token("reader").await;
    app.as_user(
        &reader,
        Method::GET,
        "/api/admin/jobs",
        None,
        StatusCode::FORBIDDEN,
    )
    .await;
}

#[tokio::test]
async fn preview_gives_the_next_five_fire_times_in_the_jobs_timezone() {
    let app = spawn_app().await;
    let times = |v: Value| -> Vec<chrono::DateTime<chrono::Utc>> {
        v["next"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().parse().unwrap())
            .collect()
    };
    let shanghai = times(
        app.admin_json(
            Method::POST,
            "/api/admin/jobs/preview",
            Some(json!({ "cron": "0 9 * * *", "timezone": "Asia/Shanghai" })),
            StatusCode::OK,
        )
        .await,
    );
    assert_eq!(shanghai.len(), 5);
    for (i, t) in shanghai.iter().enumerate() {
        assert_eq!(
            t.format("%H:%M:%S").to_string(),
            "01:00:00",
            "09:00 in Shanghai is 01:00 UTC"
        );
        if i > 0 {
            assert_eq!(*t - shanghai[i - 1], chrono::Duration::days(1));
        }
    }
    let utc = times(
        app.admin_json(
            Method::POST,
            "/api/admin/jobs/preview",
            Some(json!({ "cron": "0 0 9 * * *", "timezone": "UTC" })),
            StatusCode::OK,
        )
        .await,
    );
    assert!(
        utc.iter()
            .all(|t| t.format("%H:%M:%S").to_string() == "09:00:00")
    );
    let seconds = times(
        app.admin_json(
            Method::POST,
            "/api/admin/jobs/preview",
            Some(json!({ "cron": "*/15 * * * * *" })),
            StatusCode::OK,
        )
        .await,
    );
    assert_eq!(seconds[1] - seconds[0], chrono::Duration::seconds(15));
    let err = app
        .admin_json(
            Method::POST,
            "/api/admin/jobs/preview",
            Some(json!({ "cron": "61 * * * *" })),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(err["details"]["field"], "cron");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_every_second_job_runs_and_edits_and_disabling_apply_without_restart() {
    let (app, _) = scheduler_app().await;
    let defaults = app
        .admin_json(Method::GET, "/api/admin/jobs", None, StatusCode::OK)
        .await;
    let kinds: Vec<&str> = defaults["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "refresh_hot_ranking",
        "flush_counters",
        "publish_scheduled",
        "purge_expired",
    ] {
        assert!(
            kinds.contains(&kind),
            "default job {kind} seeded: {kinds:?}"
        );
    }
    assert!(kinds.contains(&"push_featured"), "{kinds:?}");
    let sync = defaults["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["kind"] == "sync_wechat_followers")
        .unwrap();
    assert_eq!(
        sync["enabled"], false,
        "no Official Account configured: seeded disabled"
    );

    let job = create_job(
        &app,
        json!({ "name": "tick", "kind": "publish_scheduled", "cron": "* * * * * *" }),
    )
    .await;
    let id = job["id"].as_i64().unwrap();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let ran = runs(&app, id).await;
    assert!(
        ran.len() >= 2,
        "an every-second job ran {} times in 3.5 s",
        ran.len()
    );
    for run in &ran {
        assert_eq!(run["status"], "ok", "{run}");
        assert_eq!(run["trigger"], "schedule");
        assert_eq!(run["summary"]["published"], 0);
        assert!(
            run["scheduled_at"].as_str().unwrap().ends_with(".000Z"),
            "ticks are whole seconds"
        );
        assert!(run["finished_at"].is_string() && run["instance"].is_string());
    }
    let listed = app
        .admin_json(
            Method::GET,
            &format!("/api/admin/jobs/{id}"),
            None,
            StatusCode::OK,
        )
        .await;
    assert!(listed["last_run"]["id"].is_i64());

    // A new schedule (once a year) applies within the sync interval.
    app.admin_json(
        Method::PATCH,
        &format!("/api/admin/jobs/{id}"),
        Some(json!({ "cron": "0 0 0 1 1 *" })),
        StatusCode::OK,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let settled = runs(&app, id).await.len();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        runs(&app, id).await.len(),
        settled,
        "the edited schedule stopped the every-second runs"
    );

    // Back to every second, then disabled.
    app.admin_json(
        Method::PATCH,
        &format!("/api/admin/jobs/{id}"),
        Some(json!({ "cron": "* * * * * *" })),
        StatusCode::OK,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let resumed = runs(&app, id).await.len();
    assert!(resumed > settled, "the edit back to every second applied");
    app.admin_json(
        Method::POST,
        &format!("/api/admin/jobs/{id}/disable"),
        None,
        StatusCode::OK,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stopped = runs(&app, id).await.len();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        runs(&app, id).await.len(),
        stopped,
        "a disabled job does not run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_database_run_each_tick_exactly_once() {
    let (first, settings) = scheduler_app().await;
    let shared = (first.cache().backend_name() == "memory").then(|| first.cache().clone());
    let second = spawn_app_sharing(settings, None, shared).await;
    let job = create_job(
        &first,
        json!({ "name": "both", "kind": "flush_counters", "cron": "* * * * * *" }),
    )
    .await;
    let id = job["id"].as_i64().unwrap();
    second.state.jobs_changed.notify_one();
    tokio::time::sleep(Duration::from_millis(5500)).await;

    let ran = runs(&first, id).await;
    assert!(ran.len() >= 4, "ran {} times in 5.5 s", ran.len());
    let mut ticks: Vec<&str> = ran
        .iter()
        .map(|r| r["scheduled_at"].as_str().unwrap())
        .collect();
    let total = ticks.len();
    ticks.sort_unstable();
    ticks.dedup();
    assert_eq!(ticks.len(), total, "no tick ran twice");
    assert!(ran.iter().all(|r| r["status"] == "ok"), "{ran:?}");
    // Consecutive ticks, no gaps: every second that passed ran once.
    let first_tick: chrono::DateTime<chrono::Utc> = ticks[0].parse().unwrap();
    let last_tick: chrono::DateTime<chrono::Utc> = ticks[total - 1].parse().unwrap();
    assert_eq!(
        (last_tick - first_tick).num_seconds() as usize + 1,
        total,
        "{ticks:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_is_recorded_and_the_next_tick_still_runs() {
    let (app, _) = scheduler_app().await;
    // purge_expired needs the notifications table: without it every run fails.
    app.state
        .db
        .execute_unprepared("DROP TABLE notifications")
        .await
        .unwrap();
    let failing = create_job(
        &app,
        json!({ "name": "purge", "kind": "purge_expired", "cron": "* * * * * *" }),
    )
    .await;
    let healthy = create_job(
        &app,
        json!({ "name": "tick", "kind": "publish_scheduled", "cron": "* * * * * *" }),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(3500)).await;

    let failed = runs(&app, failing["id"].as_i64().unwrap()).await;
    assert!(
        failed.len() >= 2,
        "the scheduler kept going after a failure: {failed:?}"
    );
    for run in &failed {
        assert_eq!(run["status"], "failed");
        assert!(
            run["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{run}"
        );
        assert!(run["finished_at"].is_string());
    }
    let ok = runs(&app, healthy["id"].as_i64().unwrap()).await;
    assert!(ok.len() >= 2 && ok.iter().all(|r| r["status"] == "ok"));
}

#[tokio::test]
async fn run_now_works_while_the_schedule_is_disabled() {
    let app = spawn_app().await;
    let id = app.published_article("Due", json!({})).await;
    app.admin_json(
        Method::POST,
        &format!("/api/admin/articles/{id}/unpublish"),
        None,
        StatusCode::OK,
    )
    .await;
    let job = create_job(&app, json!({ "name": "manual", "kind": "publish_scheduled", "cron": "0 0 0 1 1 *", "enabled": false })).await;
    let job_id = job["id"].as_i64().unwrap();

    let run = run_now(&app, &job).await;
    assert_eq!(run["status"], "ok");
    assert_eq!(run["trigger"], "manual");
    assert_eq!(run["summary"]["published"], 0);
    let history = runs(&app, job_id).await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["id"], run["id"]);

    let purge = create_job(&app, json!({ "name": "purge", "kind": "purge_expired", "cron": "0 0 3 * * *", "params": { "job_runs_days": 1 } })).await;
    let run = run_now(&app, &purge).await;
    assert_eq!(run["status"], "ok");
    for key in ["refresh_tokens", "notifications", "job_runs"] {
        assert!(run["summary"][key].is_u64(), "{run}");
    }
    app.admin_json(
        Method::POST,
        "/api/admin/jobs/999999/run",
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
}
