//! Runs a job: claim the tick, keep runs of one job from overlapping, call the kind in its
//! own task (a panic becomes a failed run) within `jobs.max_run_secs`, record the outcome.
//! A run's state is final within `max_run_secs`: the instance running it stops it then, and
//! any instance marks a run left "running" by a dead instance as failed soon after.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use entity::job_run::{self, RunStatus, RunTrigger};
use serde_json::Value;
use tokio::sync::oneshot;

use super::store::{self, StoredJob};
use crate::{
    error::{AppError, AppResult, ErrorCode},
    metrics,
    service::audit::{self, Actor, Entry},
    state::AppState,
    time,
};

/// How long after `max_run_secs` another instance takes a "running" run as abandoned: the
/// instance running it stops it at `max_run_secs` and records that within this margin.
const ABANDONED_MARGIN: Duration = Duration::seconds(5);
/// How often a tick that found a manual run in progress looks again.
const WAIT_POLL: StdDuration = StdDuration::from_millis(200);

/// What a run came to, before it is recorded.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: RunStatus,
    pub summary: Option<Value>,
    pub error: Option<String>,
}

fn max_run(state: &AppState) -> Duration {
    Duration::seconds(state.settings.jobs.max_run_secs as i64)
}

/// Runs `job` for the tick `tick` if this instance claims it. Returns the recorded run, or
/// None when another instance had claimed the tick.
pub async fn run_tick(
    state: &AppState,
    job: &StoredJob,
    tick: DateTime<Utc>,
) -> AppResult<Option<job_run::Model>> {
    let Some(run) = store::claim(
        &state.db,
        job.row.id,
        tick,
        &state.instance,
        RunTrigger::Schedule,
    )
    .await?
    else {
        return Ok(None);
    };
    // Runs never overlap. A tick that meets a manual run waits for it ("run now" never
    // cancels a tick; the manual run ends within max_run_secs); one that meets the previous
    // scheduled run is skipped, as that run will have done the work.
    let mut waited = false;
    loop {
        let since = time::now() - max_run(state);
        match store::other_run_in_progress(&state.db, &run, since).await? {
            None => break,
            Some(other) if other.trigger == RunTrigger::Manual => {
                waited = true;
                tokio::time::sleep(WAIT_POLL).await;
            }
            Some(_) => {
                let skipped = Outcome {
                    status: RunStatus::Skipped,
                    summary: None,
                    error: Some("the previous run is still running".into()),
                };
                return Ok(Some(record(state, job, &run, &skipped).await?));
            }
        }
    }
    if waited {
        store::mark_started(&state.db, run.id).await?;
    }
    let outcome = perform(state, job).await;
    Ok(Some(record(state, job, &run, &outcome).await?))
}

/// Starts a manual run of `job` in the background and answers with it as soon as it is
/// claimed (running, or already final when it was skipped). The work belongs to its own
/// task, so a client that disconnects, or a request that times out, cannot stop it halfway;
/// `audit` makes the entry written (with the outcome) just before the run is recorded final.
pub async fn start_manual(
    state: &AppState,
    job: StoredJob,
    actor: Actor,
    audit: impl FnOnce(&job_run::Model, &Outcome) -> Entry + Send + 'static,
) -> AppResult<job_run::Model> {
    let (claimed_tx, claimed) = oneshot::channel();
    let state = state.clone();
    tokio::spawn(async move {
        let run = match claim_manual(&state, &job).await {
            Ok(run) => run,
            Err(err) => {
                let _ = claimed_tx.send(Err(err));
                return;
            }
        };
        let since = time::now() - max_run(&state);
        let outcome = match store::other_run_in_progress(&state.db, &run, since).await {
            Ok(None) => None,
            Ok(Some(_)) => Some(Outcome {
                status: RunStatus::Skipped,
                summary: None,
                error: Some("the previous run is still running".into()),
            }),
            Err(err) => Some(failed(&err)),
        };
        let outcome = match outcome {
            // Final at once: the answer shows it.
            Some(outcome) => {
                let finished = finish_audited(&state, &job, &run, &outcome, actor, audit).await;
                let _ = claimed_tx.send(finished);
                return;
            }
            None => {
                let _ = claimed_tx.send(Ok(run.clone()));
                perform(&state, &job).await
            }
        };
        if let Err(err) = finish_audited(&state, &job, &run, &outcome, actor, audit).await {
            tracing::warn!(%err, job = %job.row.name, "manual run not recorded");
        }
    });
    claimed
        .await
        .map_err(|_| AppError::Internal(anyhow::anyhow!("the run task ended before its claim")))?
}

async fn finish_audited(
    state: &AppState,
    job: &StoredJob,
    run: &job_run::Model,
    outcome: &Outcome,
    actor: Actor,
    audit: impl FnOnce(&job_run::Model, &Outcome) -> Entry,
) -> AppResult<job_run::Model> {
    audit::record_after(&state.db, &actor, audit(run, outcome)).await;
    record(state, job, run, outcome).await
}

async fn claim_manual(state: &AppState, job: &StoredJob) -> AppResult<job_run::Model> {
    recover_abandoned(state).await?;
    store::claim(
        &state.db,
        job.row.id,
        manual_key(time::now()),
        &state.instance,
        RunTrigger::Manual,
    )
    .await?
    .ok_or_else(|| {
        AppError::conflict(
            ErrorCode::AlreadyRunning,
            "a run for this moment already exists",
        )
    })
}

/// The claim key of a manual run: the request time, never a whole second. Ticks are whole
/// seconds, so a manual run can never take the claim of a scheduled tick.
pub fn manual_key(at: DateTime<Utc>) -> DateTime<Utc> {
    let at = time::to_millis_precision(at);
    if at.timestamp_subsec_millis() == 0 {
        at + Duration::milliseconds(1)
    } else {
        at
    }
}

/// Marks the runs of dead instances failed (see the module documentation).
pub async fn recover_abandoned(state: &AppState) -> AppResult<u64> {
    let secs = state.settings.jobs.max_run_secs;
    let before = time::now() - max_run(state) - ABANDONED_MARGIN;
    let error = format!(
        "the run did not finish within jobs.max_run_secs ({secs} s): the instance running it \
         stopped or lost the database"
    );
    store::fail_abandoned(&state.db, before, &error).await
}

/// Calls the kind with its stored params in its own task, stopped at `max_run_secs`.
async fn perform(state: &AppState, job: &StoredJob) -> Outcome {
    let Some(kind) = job.kind else {
        let problem = job.problem.clone().unwrap_or_else(|| "unknown kind".into());
        return failed(&problem);
    };
    let secs = state.settings.jobs.max_run_secs;
    // Its own task: a panic inside the job is caught here instead of unwinding the caller,
    // and a run past its time is aborted (its guards, e.g. cache locks, are dropped).
    let task = tokio::spawn(kind.run(state.clone(), job.row.params.clone()));
    let abort = task.abort_handle();
    let result = match tokio::time::timeout(StdDuration::from_secs(secs), task).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(AppError::Internal(anyhow::anyhow!(
            "the job panicked: {join}"
        ))),
        Err(_) => {
            abort.abort();
            return failed(&format!(
                "the run exceeded jobs.max_run_secs ({secs} s) and was stopped"
            ));
        }
    };
    match result {
        Ok(summary) => Outcome {
            status: RunStatus::Ok,
            summary: Some(summary),
            error: None,
        },
        Err(err) => failed(&err),
    }
}

fn failed(err: &impl ToString) -> Outcome {
    Outcome {
        status: RunStatus::Failed,
        summary: None,
        error: Some(err.to_string()),
    }
}

async fn record(
    state: &AppState,
    job: &StoredJob,
    run: &job_run::Model,
    outcome: &Outcome,
) -> AppResult<job_run::Model> {
    // A kind name in the table that no code knows is one label, whatever it says.
    let label = job.kind.map_or("unknown", |k| k.name);
    let seconds = (time::now() - run.started_at).num_milliseconds() as f64 / 1000.0;
    let (status, seconds) = match outcome.status {
        RunStatus::Ok => ("ok", Some(seconds)),
        RunStatus::Failed => ("failed", Some(seconds)),
        RunStatus::Skipped => ("skipped", None),
        RunStatus::Running => ("running", None),
    };
    if let Some(error) = &outcome.error
        && outcome.status == RunStatus::Failed
    {
        tracing::warn!(job = %job.row.name, %error, "job run failed");
    }
    metrics::record_job_run(label, status, seconds);
    store::finish(
        &state.db,
        run.id,
        outcome.status,
        outcome.summary.as_ref(),
        outcome.error.as_deref(),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_run_never_takes_the_key_of_a_tick() {
        let tick: DateTime<Utc> = "2026-03-29T07:00:00Z".parse().unwrap();
        assert_ne!(manual_key(tick), tick);
        assert_eq!(manual_key(tick).timestamp_subsec_millis(), 1);
        let later: DateTime<Utc> = "2026-03-29T07:00:00.250Z".parse().unwrap();
        assert_eq!(manual_key(later), later);
    }
}
