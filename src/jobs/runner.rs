//! Runs a job: claim the tick, refuse to overlap a run still in progress, call the kind's
//! service function in its own task (a panic becomes a failed run), record the outcome.

use chrono::{DateTime, Duration, Utc};
use entity::{
    job_run::{self, RunStatus, RunTrigger},
    scheduled_job,
};
use serde_json::{Value, json};

use super::{kinds::JobKind, store};
use crate::{
    error::{AppError, AppResult, ErrorCode},
    metrics,
    service::{
        article_admin,
        audit::{self, Actor, Entry},
        followers, hot, notifications, tokens, views,
    },
    state::AppState,
    time,
};

/// Calls the service function of `kind`; returns the summary recorded with the run.
pub async fn execute(state: &AppState, kind: JobKind, params: &Value) -> AppResult<Value> {
    let now = time::now();
    let days = |name: &str, default: i64| {
        Duration::days(params.get(name).and_then(Value::as_i64).unwrap_or(default))
    };
    match kind {
        JobKind::PublishScheduled => {
            let published = article_admin::publish_due(&state.db, &state.read_cache, now).await?;
            Ok(json!({ "published": published }))
        }
        JobKind::FlushCounters => {
            // No invalidation: view counts may lag in cached reads until their entries
            // expire (minutes); flushing every minute must not make every instance rebuild
            // every cached page.
            let views = views::flush(&state.db, &state.cache).await?;
            Ok(json!({ "views": views }))
        }
        JobKind::RefreshHotRanking => {
            let ranked = hot::refresh(
                &state.db,
                &state.cache,
                &state.read_cache,
                &state.settings.hot,
                now,
            )
            .await?;
            Ok(json!({ "ranked": ranked }))
        }
        JobKind::PurgeExpired => {
            let refresh_tokens = tokens::purge_expired(&state.db, now).await?;
            let notifications =
                notifications::purge_read(&state.db, now - days("notifications_days", 90)).await?;
            let job_runs = store::purge_runs(&state.db, now - days("job_runs_days", 30)).await?;
            // Dedup keys and rate-limit counters live in the cache with TTLs: nothing to do.
            Ok(
                json!({ "refresh_tokens": refresh_tokens, "notifications": notifications, "job_runs": job_runs }),
            )
        }
        JobKind::SyncWechatFollowers => {
            let summary = followers::sync(state).await?;
            Ok(serde_json::to_value(summary).map_err(|e| AppError::Internal(e.into()))?)
        }
        JobKind::PushFeatured => crate::push::job::push_featured(state, params).await,
    }
}

/// Runs `job` for the tick `scheduled_at` if this instance claims it. Returns the recorded
/// run, or None when another instance had claimed the tick.
pub async fn run(
    state: &AppState,
    job: &scheduled_job::Model,
    scheduled_at: DateTime<Utc>,
    trigger: RunTrigger,
) -> AppResult<Option<job_run::Model>> {
    let Some(run) = store::claim(&state.db, job.id, scheduled_at, &state.instance, trigger).await?
    else {
        return Ok(None);
    };
    let kind = JobKind::parse(&job.kind);
    // A kind name in the table that no code knows is one label, whatever it says.
    let kind_label = kind.as_ref().map_or("unknown", |k| k.as_str());
    let stale_before = time::now() - Duration::seconds(state.settings.jobs.max_run_secs as i64);
    if store::other_run_in_progress(&state.db, &run, stale_before).await? {
        let skipped = store::finish(
            &state.db,
            run.id,
            RunStatus::Skipped,
            None,
            Some("the previous run is still running"),
        )
        .await?;
        metrics::record_job_run(kind_label, "skipped", None);
        return Ok(Some(skipped));
    }
    let started = std::time::Instant::now();
    let outcome = match kind {
        Ok(kind) => {
            let params: Value = serde_json::from_str(&job.params).unwrap_or(Value::Null);
            let task_state = state.clone();
            // Its own task: a panic inside the job is caught here instead of unwinding the
            // scheduler.
            match tokio::spawn(async move { execute(&task_state, kind, &params).await }).await {
                Ok(result) => result,
                Err(join) => Err(AppError::Internal(anyhow::anyhow!(
                    "the job panicked: {join}"
                ))),
            }
        }
        Err(err) => Err(err),
    };
    let seconds = started.elapsed().as_secs_f64();
    let finished = match outcome {
        Ok(summary) => {
            metrics::record_job_run(kind_label, "ok", Some(seconds));
            store::finish(&state.db, run.id, RunStatus::Ok, Some(&summary), None).await?
        }
        Err(err) => {
            tracing::warn!(job = %job.name, error = %err, "job run failed");
            metrics::record_job_run(kind_label, "failed", Some(seconds));
            store::finish(
                &state.db,
                run.id,
                RunStatus::Failed,
                None,
                Some(&err.to_string()),
            )
            .await?
        }
    };
    Ok(Some(finished))
}

/// "Run now" from the admin API: runs `job_id` at once (also when disabled) and audits it.
/// A run can take long and keeps its own record in `job_runs`, so the audit entry is
/// written after it, with its outcome (`record_after`).
pub async fn run_now(state: &AppState, actor: &Actor, job_id: i64) -> AppResult<job_run::Model> {
    let job = store::get(&state.db, job_id).await?;
    let run = run(state, &job, time::now(), RunTrigger::Manual)
        .await?
        .ok_or_else(|| {
            AppError::conflict(
                ErrorCode::AlreadyRunning,
                "a run for this moment already exists",
            )
        })?;
    let entry = Entry::new("job.run", "job", job.id).after(json!({
        "name": job.name,
        "kind": job.kind,
        "run_id": run.id,
        "status": run.status,
        "error": run.error,
    }));
    audit::record_after(&state.db, actor, entry).await;
    Ok(run)
}
