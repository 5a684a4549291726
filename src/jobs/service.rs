//! What administrators do with jobs: edit schedules (audited in their own transaction, and
//! this instance's scheduler woken at once), run a job now, sync the followers now.

use chrono_tz::Tz;
use entity::{job_run, scheduled_job};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
use serde_json::{Value, json};

use super::{
    kinds::{KindEntry, SyncWechatFollowers},
    runner::{self, Outcome},
    schedule::{CronExpr, Schedule},
    store::{self, NewJob, StoredJob},
};
use crate::{
    db,
    error::{AppError, AppResult, ErrorCode},
    jobs::kinds::Kind,
    service::{
        audit::{self, Actor, Entry},
        followers, validate,
    },
    state::AppState,
    time,
    unique::{OnUnique, UniqueIndex},
};

/// Job names.
pub const NAME_MAX: usize = 64;
/// Kind names (the longest kind is far shorter).
pub const KIND_MAX: usize = 64;

/// A job as given by an admin: kind, cron and zone already parsed (by the API's DTO
/// conversion); the name and the params are checked here.
#[derive(Debug, Clone, Default)]
pub struct JobSpec {
    pub name: Option<String>,
    pub kind: Option<&'static KindEntry>,
    pub cron: Option<CronExpr>,
    pub timezone: Option<Tz>,
    pub enabled: Option<bool>,
    pub params: Option<Value>,
}

impl JobSpec {
    /// An edit that only switches `enabled` is recorded as what it is.
    fn action(&self) -> &'static str {
        let only_enabled = self.name.is_none()
            && self.kind.is_none()
            && self.cron.is_none()
            && self.timezone.is_none()
            && self.params.is_none();
        match self.enabled {
            Some(true) if only_enabled => "job.enable",
            Some(false) if only_enabled => "job.disable",
            _ => "job.update",
        }
    }
}

/// What the audit log keeps of a schedule (params pass through the audit redaction).
fn audit_summary(job: &scheduled_job::Model) -> Value {
    json!({
        "name": job.name,
        "kind": job.kind,
        "cron": job.cron,
        "timezone": job.timezone,
        "enabled": job.enabled,
        "params": serde_json::from_str::<Value>(&job.params).unwrap_or(Value::Null),
    })
}

const JOB_NAME: UniqueIndex = UniqueIndex {
    name: "scheduled_jobs_name_key",
    table: "scheduled_jobs",
    columns: &["name"],
};

fn name_taken() -> AppError {
    AppError::conflict(ErrorCode::NameTaken, "another job has this name")
}

fn default_zone(state: &AppState) -> AppResult<Tz> {
    super::schedule::parse_zone(&state.settings.jobs.timezone)
}

pub async fn create(state: &AppState, actor: &Actor, spec: JobSpec) -> AppResult<StoredJob> {
    let name = validate::text(
        "name",
        spec.name.as_deref().unwrap_or_default(),
        1,
        NAME_MAX,
    )?;
    let kind = spec
        .kind
        .ok_or_else(|| AppError::bad_field("kind", "kind is required"))?;
    let cron = spec
        .cron
        .ok_or_else(|| AppError::bad_field("cron", "cron is required"))?;
    let zone = match spec.timezone {
        Some(zone) => zone,
        None => default_zone(state)?,
    };
    let job = NewJob {
        name,
        kind,
        schedule: Schedule::new(cron, zone),
        enabled: spec.enabled.unwrap_or(true),
        params: kind.params(spec.params.as_ref())?,
    };
    let txn = db::begin_write(&state.db).await?;
    let saved = job
        .into_active_model()
        .insert(&txn)
        .await
        .on_unique(&JOB_NAME, name_taken)?;
    let entry = Entry::new("job.create", "job", saved.id).after(audit_summary(&saved));
    audit::record(&txn, actor, entry).await?;
    txn.commit().await?;
    state.jobs_changed.notify_one();
    Ok(saved.into())
}

/// Applies the given changes; the version moves so that every instance re-arms the job.
pub async fn update(
    state: &AppState,
    actor: &Actor,
    id: i64,
    spec: JobSpec,
) -> AppResult<StoredJob> {
    let txn = db::begin_write(&state.db).await?;
    let current = store::get(&txn, id).await?;
    let before = audit_summary(&current);
    let mut model: scheduled_job::ActiveModel = current.clone().into();
    if let Some(name) = &spec.name {
        model.name = Set(validate::text("name", name, 1, NAME_MAX)?);
    }
    if let Some(kind) = spec.kind {
        model.kind = Set(kind.name.to_string());
    }
    if let Some(cron) = &spec.cron {
        model.cron = Set(cron.as_str().to_string());
    }
    if let Some(zone) = spec.timezone {
        model.timezone = Set(zone.name().to_string());
    }
    if let Some(enabled) = spec.enabled {
        model.enabled = Set(enabled);
    }
    match (&spec.params, spec.kind) {
        (Some(params), _) => {
            let kind = match spec.kind {
                Some(kind) => kind,
                None => KindEntry::find(&current.kind)?,
            };
            model.params = Set(kind.params(Some(params))?.to_string());
        }
        // A new kind must accept the params already stored (or be sent new ones).
        (None, Some(kind)) => {
            let stored: Value = serde_json::from_str(&current.params).map_err(|e| {
                AppError::bad_field(
                    "params",
                    format!("the stored params are not JSON ({e}); send params"),
                )
            })?;
            model.params = Set(kind.params(Some(&stored))?.to_string());
        }
        // Kept as stored, even when they no longer parse: the job view and its runs say
        // so, and the admin can still disable or fix it.
        (None, None) => {}
    }
    model.version = Set(current.version + 1);
    model.updated_at = Set(time::now());
    let saved = model.update(&txn).await.on_unique(&JOB_NAME, name_taken)?;
    let entry = Entry::new(spec.action(), "job", id).changes(before, audit_summary(&saved));
    audit::record(&txn, actor, entry).await?;
    txn.commit().await?;
    state.jobs_changed.notify_one();
    Ok(saved.into())
}

pub async fn set_enabled(
    state: &AppState,
    actor: &Actor,
    id: i64,
    enabled: bool,
) -> AppResult<StoredJob> {
    let spec = JobSpec {
        enabled: Some(enabled),
        ..Default::default()
    };
    update(state, actor, id, spec).await
}

/// Deletes a job and (by cascade) its runs.
pub async fn delete(state: &AppState, actor: &Actor, id: i64) -> AppResult<()> {
    let txn = db::begin_write(&state.db).await?;
    let current = store::get(&txn, id).await?;
    scheduled_job::Entity::delete_by_id(id).exec(&txn).await?;
    let entry = Entry::new("job.delete", "job", id).before(audit_summary(&current));
    audit::record(&txn, actor, entry).await?;
    txn.commit().await?;
    state.jobs_changed.notify_one();
    Ok(())
}

/// A job with its latest run.
pub async fn get(state: &AppState, id: i64) -> AppResult<(StoredJob, Option<job_run::Model>)> {
    let job = store::get(&state.db, id).await?;
    let mut last = store::last_runs(&state.db, &[id]).await?;
    Ok((job.into(), last.remove(&id)))
}

/// Every job with its latest run.
pub async fn list(state: &AppState) -> AppResult<Vec<(StoredJob, Option<job_run::Model>)>> {
    let jobs = store::list(&state.db).await?;
    let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
    let mut last = store::last_runs(&state.db, &ids).await?;
    Ok(jobs
        .into_iter()
        .map(|j| {
            let run = last.remove(&j.id);
            (j.into(), run)
        })
        .collect())
}

/// "Run now" (also when disabled): starts the run in the background and answers with it.
/// The audit entry is written with the outcome, when the run ends.
pub async fn run_now(state: &AppState, actor: &Actor, id: i64) -> AppResult<job_run::Model> {
    let job = StoredJob::from(store::get(&state.db, id).await?);
    let (name, kind) = (job.row.name.clone(), job.row.kind.clone());
    runner::start_manual(state, job, actor.clone(), move |run, outcome| {
        Entry::new("job.run", "job", run.job_id).after(json!({
            "name": name,
            "kind": kind,
            "run_id": run.id,
            "status": outcome.status,
            "error": outcome.error,
        }))
    })
    .await
}

/// The follower sync asked for by an administrator: a manual run of the
/// `sync_wechat_followers` job (its row created when missing), so its state and summary are
/// in the run history. Audited as `follower.sync` with what it did, once it succeeded.
pub async fn sync_followers_now(state: &AppState, actor: &Actor) -> AppResult<job_run::Model> {
    if !SyncWechatFollowers::ready(state) {
        return Err(followers::not_configured());
    }
    let kind = KindEntry::find(SyncWechatFollowers::NAME)?;
    let row = store::of_kind(
        &state.db,
        NewJob::default_of(kind, default_zone(state)?, true)?,
    )
    .await?;
    let job = StoredJob::from(row);
    let run = runner::start_manual(state, job, actor.clone(), |_, outcome: &Outcome| {
        let entry = Entry::new("follower.sync", "wechat_follower", None);
        match (&outcome.summary, &outcome.error) {
            (Some(summary), _) => entry.after(summary.clone()),
            (None, error) => entry.after(json!({ "status": outcome.status, "error": error })),
        }
    })
    .await?;
    state.jobs_changed.notify_one();
    Ok(run)
}
