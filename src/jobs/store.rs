//! Schedules and runs in the database. Admin edits of schedules are audited in their own
//! transaction (`service::audit`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{
    job_run::{self, RunStatus, RunTrigger},
    scheduled_job,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr, prelude::Expr,
    sea_query::OnConflict,
};
use serde_json::{Value, json};

use super::{cron, kinds::JobKind};
use crate::{
    db,
    error::{AppError, AppResult, ErrorCode},
    pagination::{self, IdCursor, Page},
    service::{
        audit::{self, Actor, Entry},
        validate,
    },
    time,
};

/// A job as given by an admin, before validation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobSpec {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub cron: Option<String>,
    pub timezone: Option<String>,
    pub enabled: Option<bool>,
    pub params: Option<Value>,
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

/// An edit that only switches `enabled` is recorded as what it is: enabling or disabling.
fn update_action(spec: &JobSpec) -> &'static str {
    let only_enabled = JobSpec {
        enabled: spec.enabled,
        ..Default::default()
    };
    match spec.enabled {
        Some(true) if *spec == only_enabled => "job.enable",
        Some(false) if *spec == only_enabled => "job.disable",
        _ => "job.update",
    }
}

fn name_taken(err: DbErr) -> AppError {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            AppError::conflict(ErrorCode::NameTaken, "another job has this name")
        }
        _ => err.into(),
    }
}

/// Inserts a default schedule for every available kind that has none (by name), so that a
/// new installation, or one where a capability just landed, gets its jobs.
/// `ready` says whether a kind's configuration is present (e.g. an Official Account for the
/// follower sync); a kind that is not ready is seeded disabled rather than failing every run.
pub async fn seed_defaults(
    db: &DatabaseConnection,
    timezone: &str,
    ready: impl Fn(JobKind) -> bool,
) -> AppResult<u64> {
    let now = time::now();
    let mut added = 0;
    for kind in super::kinds::ALL {
        let inserted = scheduled_job::Entity::insert(scheduled_job::ActiveModel {
            name: Set(kind.as_str().to_string()),
            kind: Set(kind.as_str().to_string()),
            cron: Set(kind.default_cron().to_string()),
            timezone: Set(timezone.to_string()),
            enabled: Set(ready(kind)),
            params: Set(kind.validate_params(None)?.to_string()),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        })
        .on_conflict(
            OnConflict::column(scheduled_job::Column::Name)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
        added += inserted;
    }
    Ok(added)
}

pub async fn create(
    db: &DatabaseConnection,
    actor: &Actor,
    default_tz: &str,
    spec: JobSpec,
) -> AppResult<scheduled_job::Model> {
    let name = validate::text("name", spec.name.as_deref().unwrap_or_default(), 1, 64)?;
    let kind = JobKind::parse(spec.kind.as_deref().unwrap_or_default())?;
    let cron = cron::normalize(spec.cron.as_deref().unwrap_or_default())?;
    let timezone = spec.timezone.unwrap_or_else(|| default_tz.to_string());
    cron::timezone(&timezone)?;
    let params = kind.validate_params(spec.params.as_ref())?;
    let now = time::now();
    let txn = db::begin_write(db).await?;
    let saved = scheduled_job::ActiveModel {
        name: Set(name),
        kind: Set(kind.as_str().to_string()),
        cron: Set(cron),
        timezone: Set(timezone),
        enabled: Set(spec.enabled.unwrap_or(true)),
        params: Set(params.to_string()),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(name_taken)?;
    let entry = Entry::new("job.create", "job", saved.id).after(audit_summary(&saved));
    audit::record(&txn, actor, entry).await?;
    txn.commit().await?;
    Ok(saved)
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

/// Applies the given changes; the version moves so that every instance re-registers it.
pub async fn update(
    db: &DatabaseConnection,
    actor: &Actor,
    id: i64,
    spec: JobSpec,
) -> AppResult<scheduled_job::Model> {
    let txn = db::begin_write(db).await?;
    let current = get(&txn, id).await?;
    let before = audit_summary(&current);
    let kind = match &spec.kind {
        Some(k) => JobKind::parse(k)?,
        None => JobKind::parse(&current.kind)?,
    };
    let version = current.version + 1;
    let mut model: scheduled_job::ActiveModel = current.clone().into();
    if let Some(name) = &spec.name {
        model.name = Set(validate::text("name", name, 1, 64)?);
    }
    model.kind = Set(kind.as_str().to_string());
    if let Some(expr) = &spec.cron {
        model.cron = Set(cron::normalize(expr)?);
    }
    if let Some(tz) = &spec.timezone {
        cron::timezone(tz)?;
        model.timezone = Set(tz.clone());
    }
    if let Some(enabled) = spec.enabled {
        model.enabled = Set(enabled);
    }
    let params = match &spec.params {
        Some(p) => kind.validate_params(Some(p))?,
        None if spec.kind.is_some() => {
            kind.validate_params(serde_json::from_str(&current.params).ok().as_ref())?
        }
        None => serde_json::from_str(&current.params).unwrap_or(Value::Null),
    };
    model.params = Set(params.to_string());
    model.version = Set(version);
    model.updated_at = Set(time::now());
    let saved = model.update(&txn).await.map_err(name_taken)?;
    let entry = Entry::new(update_action(&spec), "job", id).changes(before, audit_summary(&saved));
    audit::record(&txn, actor, entry).await?;
    txn.commit().await?;
    Ok(saved)
}

/// Deletes a job and (by cascade) its runs.
pub async fn delete(db: &DatabaseConnection, actor: &Actor, id: i64) -> AppResult<()> {
    let txn = db::begin_write(db).await?;
    let current = get(&txn, id).await?;
    scheduled_job::Entity::delete_by_id(id).exec(&txn).await?;
    let entry = Entry::new("job.delete", "job", id).before(audit_summary(&current));
    audit::record(&txn, actor, entry).await?;
    txn.commit().await?;
    Ok(())
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

/// Whether another run of the job started after `since` is still running.
pub async fn other_run_in_progress(
    db: &DatabaseConnection,
    run: &job_run::Model,
    since: DateTime<Utc>,
) -> AppResult<bool> {
    Ok(job_run::Entity::find()
        .filter(job_run::Column::JobId.eq(run.job_id))
        .filter(job_run::Column::Id.ne(run.id))
        .filter(job_run::Column::Status.eq(RunStatus::Running))
        .filter(job_run::Column::StartedAt.gt(since))
        .one(db)
        .await?
        .is_some())
}

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
        .exec(db)
        .await?;
    job_run::Entity::find_by_id(run_id)
        .one(db)
        .await?
        .ok_or(AppError::not_found("job run"))
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
