//! Schedules and runs in the database: the queries, and the loader that turns a stored row
//! into a [`StoredJob`] (its schedule parsed once, or why it no longer parses).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{
    job_run::{self, RunStatus, RunTrigger},
    scheduled_job,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, prelude::Expr, sea_query::OnConflict,
};
use serde_json::Value;

use super::{kinds::KindEntry, schedule::Schedule};
use crate::{
    error::{AppError, AppResult},
    pagination::{self, IdCursor, Page},
    time,
};

/// A stored job, read once: its schedule parsed, its kind looked up, its params checked.
#[derive(Debug, Clone)]
pub struct StoredJob {
    pub row: scheduled_job::Model,
    /// None when the stored cron or zone no longer parses (see `problem`).
    pub schedule: Option<Schedule>,
    pub kind: Option<&'static KindEntry>,
    /// Why this job cannot run as stored; None when it can.
    pub problem: Option<String>,
}

impl From<scheduled_job::Model> for StoredJob {
    fn from(row: scheduled_job::Model) -> Self {
        let schedule = Schedule::parse(&row.cron, &row.timezone)
            .map_err(|e| format!("the stored schedule no longer parses: {e}"));
        let kind = KindEntry::find(&row.kind).map_err(|e| e.to_string());
        let params = kind
            .as_ref()
            .ok()
            .and_then(|k| k.stored_params_problem(&row.params));
        let problem = [
            schedule.as_ref().err(),
            kind.as_ref().err(),
            params.as_ref(),
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect::<Vec<_>>();
        Self {
            schedule: schedule.ok(),
            kind: kind.ok(),
            problem: (!problem.is_empty()).then(|| problem.join("; ")),
            row,
        }
    }
}

impl StoredJob {
    /// The stored params as JSON; null when the text is not JSON (`problem` says so).
    pub fn params(&self) -> Value {
        serde_json::from_str(&self.row.params).unwrap_or(Value::Null)
    }

    /// The next fire instant after `now`; None when disabled or unschedulable.
    pub fn next_fire_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule
            .as_ref()
            .filter(|_| self.row.enabled)
            .and_then(|s| s.next_after(now))
    }
}

/// A new row: every part already parsed and checked.
pub struct NewJob {
    pub name: String,
    pub kind: &'static KindEntry,
    pub schedule: Schedule,
    pub enabled: bool,
    /// Checked by the kind, defaults filled.
    pub params: Value,
}

impl NewJob {
    pub fn into_active_model(self) -> scheduled_job::ActiveModel {
        let now = time::now();
        scheduled_job::ActiveModel {
            name: Set(self.name),
            kind: Set(self.kind.name.to_string()),
            cron: Set(self.schedule.cron().as_str().to_string()),
            timezone: Set(self.schedule.zone().name().to_string()),
            enabled: Set(self.enabled),
            params: Set(self.params.to_string()),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
    }

    /// A kind's default row, named after the kind.
    pub fn default_of(
        kind: &'static KindEntry,
        zone: chrono_tz::Tz,
        enabled: bool,
    ) -> AppResult<Self> {
        let cron = super::schedule::CronExpr::parse(kind.default_cron)?;
        Ok(Self {
            name: kind.name.to_string(),
            kind,
            schedule: Schedule::new(cron, zone),
            enabled,
            params: kind.params(None)?,
        })
    }
}

/// Inserts a default schedule for every kind that has none (by name), so that a new
/// installation, or one where a capability just landed, gets its jobs. `ready` says whether
/// a kind's configuration is present; a kind that is not is seeded disabled.
pub async fn seed_defaults(
    db: &DatabaseConnection,
    zone: chrono_tz::Tz,
    ready: impl Fn(&KindEntry) -> bool,
) -> AppResult<u64> {
    let mut added = 0;
    for kind in super::kinds::ALL {
        added += insert_default(db, NewJob::default_of(kind, zone, ready(kind))?).await?;
    }
    Ok(added)
}

async fn insert_default(db: &DatabaseConnection, job: NewJob) -> AppResult<u64> {
    Ok(scheduled_job::Entity::insert(job.into_active_model())
        .on_conflict(
            OnConflict::column(scheduled_job::Column::Name)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?)
}

/// The (first) job of `kind`, its default row inserted when there is none (jobs may be off
/// on this instance, so nothing seeded it).
pub async fn of_kind(db: &DatabaseConnection, default: NewJob) -> AppResult<scheduled_job::Model> {
    let kind = default.kind.name;
    let find = || {
        scheduled_job::Entity::find()
            .filter(scheduled_job::Column::Kind.eq(kind))
            .order_by_asc(scheduled_job::Column::Id)
            .one(db)
    };
    if let Some(job) = find().await? {
        return Ok(job);
    }
    insert_default(db, default).await?;
    find().await?.ok_or(AppError::not_found("job"))
}

pub async fn get(db: &impl ConnectionTrait, id: i64) -> AppResult<scheduled_job::Model> {
    scheduled_job::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::not_found("job"))
}

pub async fn list(db: &DatabaseConnection) -> AppResult<Vec<scheduled_job::Model>> {
    Ok(scheduled_job::Entity::find()
        .order_by_asc(scheduled_job::Column::Id)
        .all(db)
        .await?)
}

/// The latest run of each job.
pub async fn last_runs(
    db: &DatabaseConnection,
    job_ids: &[i64],
) -> AppResult<HashMap<i64, job_run::Model>> {
    let mut latest = HashMap::new();
    for &job_id in job_ids {
        if let Some(run) = job_run::Entity::find()
            .filter(job_run::Column::JobId.eq(job_id))
            .order_by_desc(job_run::Column::Id)
            .one(db)
            .await?
        {
            latest.insert(job_id, run);
        }
    }
    Ok(latest)
}

/// A job's runs, newest first.
pub async fn runs(
    db: &DatabaseConnection,
    job_id: i64,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> AppResult<Page<job_run::Model>> {
    let limit = pagination::limit(limit)?;
    get(db, job_id).await?;
    let mut query = job_run::Entity::find().filter(job_run::Column::JobId.eq(job_id));
    if let Some(c) = cursor.map(IdCursor::decode).transpose()? {
        query = query.filter(job_run::Column::Id.lt(c.0));
    }
    let rows = query
        .order_by_desc(job_run::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    Ok(pagination::page_from_rows(rows, limit, |r| {
        IdCursor(r.id).encode()
    }))
}

/// Claims the run of `job_id` at `scheduled_at`: the one instance whose insert succeeds gets
/// the row; the others get None.
pub async fn claim(
    db: &DatabaseConnection,
    job_id: i64,
    scheduled_at: DateTime<Utc>,
    instance: &str,
    trigger: RunTrigger,
) -> AppResult<Option<job_run::Model>> {
    let inserted = job_run::Entity::insert(job_run::ActiveModel {
        job_id: Set(job_id),
        scheduled_at: Set(scheduled_at),
        instance: Set(instance.to_string()),
        trigger: Set(trigger),
        status: Set(RunStatus::Running),
        started_at: Set(time::now()),
        finished_at: Set(None),
        summary: Set(None),
        error: Set(None),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([job_run::Column::JobId, job_run::Column::ScheduledAt])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    if inserted == 0 {
        return Ok(None);
    }
    Ok(job_run::Entity::find()
        .filter(job_run::Column::JobId.eq(job_id))
        .filter(job_run::Column::ScheduledAt.eq(scheduled_at))
        .one(db)
        .await?)
}

/// Another run of the job, started after `since`, that is still running (runs never
/// overlap; older "running" rows belong to a dead instance).
pub async fn other_run_in_progress(
    db: &DatabaseConnection,
    run: &job_run::Model,
    since: DateTime<Utc>,
) -> AppResult<Option<job_run::Model>> {
    Ok(job_run::Entity::find()
        .filter(job_run::Column::JobId.eq(run.job_id))
        .filter(job_run::Column::Id.ne(run.id))
        .filter(job_run::Column::Status.eq(RunStatus::Running))
        .filter(job_run::Column::StartedAt.gt(since))
        .order_by_asc(job_run::Column::Id)
        .one(db)
        .await?)
}

/// Restarts the clock of a run that waited for a manual run to end.
pub async fn mark_started(db: &DatabaseConnection, run_id: i64) -> AppResult<()> {
    job_run::Entity::update_many()
        .col_expr(job_run::Column::StartedAt, Expr::value(time::now()))
        .filter(job_run::Column::Id.eq(run_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Records a run's outcome. Only a running run changes: a final state stays final (a run
/// another instance already declared dead is not revived).
pub async fn finish(
    db: &DatabaseConnection,
    run_id: i64,
    status: RunStatus,
    summary: Option<&Value>,
    error: Option<&str>,
) -> AppResult<job_run::Model> {
    job_run::Entity::update_many()
        .col_expr(job_run::Column::Status, Expr::value(status))
        .col_expr(job_run::Column::FinishedAt, Expr::value(time::now()))
        .col_expr(
            job_run::Column::Summary,
            Expr::value(summary.map(Value::to_string)),
        )
        .col_expr(
            job_run::Column::Error,
            Expr::value(error.map(str::to_string)),
        )
        .filter(job_run::Column::Id.eq(run_id))
        .filter(job_run::Column::Status.eq(RunStatus::Running))
        .exec(db)
        .await?;
    get_run(db, run_id).await
}

pub async fn get_run(db: &DatabaseConnection, run_id: i64) -> AppResult<job_run::Model> {
    job_run::Entity::find_by_id(run_id)
        .one(db)
        .await?
        .ok_or(AppError::not_found("job run"))
}

/// Marks runs still "running" that started before `before` as failed: their instance died
/// (or lost the database) before it could record an outcome. Any instance may do this.
pub async fn fail_abandoned(
    db: &DatabaseConnection,
    before: DateTime<Utc>,
    error: &str,
) -> AppResult<u64> {
    Ok(job_run::Entity::update_many()
        .col_expr(job_run::Column::Status, Expr::value(RunStatus::Failed))
        .col_expr(job_run::Column::FinishedAt, Expr::value(time::now()))
        .col_expr(job_run::Column::Error, Expr::value(error.to_string()))
        .filter(job_run::Column::Status.eq(RunStatus::Running))
        .filter(job_run::Column::StartedAt.lt(before))
        .exec(db)
        .await?
        .rows_affected)
}

/// Deletes finished runs that started before `before` (the `purge_expired` job).
pub async fn purge_runs(db: &DatabaseConnection, before: DateTime<Utc>) -> AppResult<u64> {
    Ok(job_run::Entity::delete_many()
        .filter(job_run::Column::StartedAt.lt(before))
        .filter(job_run::Column::Status.ne(RunStatus::Running))
        .exec(db)
        .await?
        .rows_affected)
}
