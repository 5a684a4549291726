use entity::{
    job_run::{self, RunStatus, RunTrigger},
    scheduled_job,
};
use poem::web::Data;
use poem_openapi::{Enum, Object, OpenApi, param::Path, param::Query, payload::Json};
use serde_json::Value;

use super::{Created, Deleted};
use crate::{
    api::{
        error::ApiResult,
        security::AdminAuth,
        tags::ApiTags,
        types::{Text, Timestamp},
    },
    error::AppError,
    jobs::{
        cron, runner,
        store::{self, JobSpec},
    },
    state::AppState,
    time,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum JobRunStatus {
    Running,
    Ok,
    Failed,
    Skipped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum JobRunTrigger {
    Schedule,
    Manual,
}

/// One run of a job.
#[derive(Debug, Clone, Object)]
pub struct JobRun {
    pub id: i64,
    pub job_id: i64,
    /// The tick this run belongs to (the request time for a manual run).
    pub scheduled_at: Timestamp,
    pub started_at: Timestamp,
    #[oai(nullable)]
    pub finished_at: Option<Timestamp>,
    pub status: JobRunStatus,
    pub trigger: JobRunTrigger,
    /// The instance that ran it.
    pub instance: String,
    /// What the run did, e.g. `{"published": 2}`.
    #[oai(nullable)]
    pub summary: Option<Value>,
    #[oai(nullable)]
    pub error: Option<String>,
}

impl From<job_run::Model> for JobRun {
    fn from(r: job_run::Model) -> Self {
        Self {
            id: r.id,
            job_id: r.job_id,
            scheduled_at: r.scheduled_at.into(),
            started_at: r.started_at.into(),
            finished_at: r.finished_at.map(Into::into),
            status: match r.status {
                RunStatus::Running => JobRunStatus::Running,
                RunStatus::Ok => JobRunStatus::Ok,
                RunStatus::Failed => JobRunStatus::Failed,
                RunStatus::Skipped => JobRunStatus::Skipped,
            },
            trigger: match r.trigger {
                RunTrigger::Schedule => JobRunTrigger::Schedule,
                RunTrigger::Manual => JobRunTrigger::Manual,
            },
            instance: r.instance,
            summary: r.summary.and_then(|s| serde_json::from_str(&s).ok()),
            error: r.error,
        }
    }
}

/// A scheduled job.
#[derive(Debug, Clone, Object)]
pub struct ScheduledJob {
    pub id: i64,
    pub name: String,
    pub kind: String,
    /// Six fields, seconds first.
    pub cron: String,
    pub timezone: String,
    pub enabled: bool,
    pub params: Value,
    pub version: i64,
    /// Null when disabled.
    #[oai(nullable)]
    pub next_fire_at: Option<Timestamp>,
    #[oai(nullable)]
    pub last_run: Option<JobRun>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

fn view(job: scheduled_job::Model, last_run: Option<job_run::Model>) -> ScheduledJob {
    let next_fire_at = if job.enabled {
        match (cron::parse(&job.cron), cron::timezone(&job.timezone)) {
            (Ok(c), Ok(tz)) => cron::next_times(&c, tz, time::now(), 1)
                .first()
                .copied()
                .map(Into::into),
            _ => None,
        }
    } else {
        None
    };
    ScheduledJob {
        id: job.id,
        params: serde_json::from_str(&job.params).unwrap_or(Value::Null),
        name: job.name,
        kind: job.kind,
        cron: job.cron,
        timezone: job.timezone,
        enabled: job.enabled,
        version: job.version,
        next_fire_at,
        last_run: last_run.map(Into::into),
        created_at: job.created_at.into(),
        updated_at: job.updated_at.into(),
    }
}

#[derive(Debug, Clone, Object)]
pub struct JobList {
    pub items: Vec<ScheduledJob>,
}

#[derive(Debug, Clone, Object)]
pub struct JobRunPage {
    pub items: Vec<JobRun>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct JobWrite {
    /// Unique; required on create.
    #[oai(nullable)]
    pub name: Option<Text>,
    /// push_featured, refresh_hot_ranking, flush_counters, publish_scheduled,
    /// sync_wechat_followers or purge_expired; required on create.
    #[oai(nullable)]
    pub kind: Option<Text>,
    /// 5 fields (crontab) or 6 (seconds first); required on create.
    #[oai(nullable)]
    pub cron: Option<Text>,
    /// IANA timezone; default `jobs.timezone` (Asia/Shanghai).
    #[oai(nullable)]
    pub timezone: Option<Text>,
    #[oai(nullable)]
    pub enabled: Option<bool>,
    /// A JSON object, validated per kind.
    #[oai(nullable)]
    pub params: Option<Value>,
}

impl From<JobWrite> for JobSpec {
    fn from(b: JobWrite) -> Self {
        Self {
            name: b.name.map(Into::into),
            kind: b.kind.map(Into::into),
            cron: b.cron.map(Into::into),
            timezone: b.timezone.map(Into::into),
            enabled: b.enabled,
            params: b.params,
        }
    }
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct CronPreview {
    pub cron: Text,
    #[oai(nullable)]
    pub timezone: Option<Text>,
}

#[derive(Debug, Object)]
pub struct CronPreviewResult {
    /// The next five fire times.
    pub next: Vec<Timestamp>,
}

pub struct AdminJobsApi;

impl AdminJobsApi {
    async fn with_last_run(
        state: &AppState,
        job: scheduled_job::Model,
    ) -> Result<ScheduledJob, AppError> {
        let mut last = store::last_runs(&state.db, &[job.id]).await?;
        let run = last.remove(&job.id);
        Ok(view(job, run))
    }
}

#[OpenApi(prefix_path = "/api/admin", tag = "ApiTags::AdminJobs")]
impl AdminJobsApi {
    /// All jobs with their next fire time and last run
    #[oai(path = "/jobs", method = "get", operation_id = "adminListJobs")]
    async fn admin_list_jobs(
        &self,
        _admin: AdminAuth,
        state: Data<&AppState>,
    ) -> ApiResult<Json<JobList>> {
        let jobs = store::list(&state.db).await?;
        let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
        let mut last = store::last_runs(&state.db, &ids).await?;
        let items = jobs
            .into_iter()
            .map(|j| {
                let run = last.remove(&j.id);
                view(j, run)
            })
            .collect();
        Ok(Json(JobList { items }))
    }

    /// Create a job
    #[oai(path = "/jobs", method = "post", operation_id = "adminCreateJob")]
    async fn admin_create_job(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        body: Json<JobWrite>,
    ) -> ApiResult<Created<ScheduledJob>> {
        let job = store::create(
            &state.db,
            admin.actor(),
            &state.settings.jobs.timezone,
            body.0.into(),
        )
        .await?;
        state.jobs_changed.notify_one();
        Ok(Created::Created(Json(view(job, None))))
    }

    /// One job
    #[oai(path = "/jobs/:id", method = "get", operation_id = "adminGetJob")]
    async fn admin_get_job(
        &self,
        _admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Json<ScheduledJob>> {
        let job = store::get(&state.db, id.0).await?;
        Ok(Json(Self::with_last_run(&state, job).await?))
    }

    /// Edit a job (takes effect on every instance within seconds)
    #[oai(path = "/jobs/:id", method = "patch", operation_id = "adminUpdateJob")]
    async fn admin_update_job(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
        body: Json<JobWrite>,
    ) -> ApiResult<Json<ScheduledJob>> {
        let job = store::update(&state.db, admin.actor(), id.0, body.0.into()).await?;
        state.jobs_changed.notify_one();
        Ok(Json(Self::with_last_run(&state, job).await?))
    }

    /// Delete a job and its run history
    #[oai(path = "/jobs/:id", method = "delete", operation_id = "adminDeleteJob")]
    async fn admin_delete_job(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Deleted> {
        store::delete(&state.db, admin.actor(), id.0).await?;
        state.jobs_changed.notify_one();
        Ok(Deleted::Deleted)
    }

    /// Enable a job
    #[oai(
        path = "/jobs/:id/enable",
        method = "post",
        operation_id = "adminEnableJob"
    )]
    async fn admin_enable_job(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Json<ScheduledJob>> {
        let job = store::update(
            &state.db,
            admin.actor(),
            id.0,
            JobSpec {
                enabled: Some(true),
                ..Default::default()
            },
        )
        .await?;
        state.jobs_changed.notify_one();
        Ok(Json(Self::with_last_run(&state, job).await?))
    }

    /// Disable a job
    #[oai(
        path = "/jobs/:id/disable",
        method = "post",
        operation_id = "adminDisableJob"
    )]
    async fn admin_disable_job(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Json<ScheduledJob>> {
        let job = store::update(
            &state.db,
            admin.actor(),
            id.0,
            JobSpec {
                enabled: Some(false),
                ..Default::default()
            },
        )
        .await?;
        state.jobs_changed.notify_one();
        Ok(Json(Self::with_last_run(&state, job).await?))
    }

    /// Run a job now (also when disabled); recorded like any run
    #[oai(path = "/jobs/:id/run", method = "post", operation_id = "adminRunJob")]
    async fn admin_run_job(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Json<JobRun>> {
        let run = runner::run_now(&state, admin.actor(), id.0).await?;
        Ok(Json(run.into()))
    }

    /// A job's runs, newest first
    #[oai(
        path = "/jobs/:id/runs",
        method = "get",
        operation_id = "adminListJobRuns"
    )]
    async fn admin_job_runs(
        &self,
        _admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
        cursor: Query<Option<String>>,
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<JobRunPage>> {
        let page = store::runs(&state.db, id.0, cursor.0.as_deref(), limit.0).await?;
        let page = page.map(JobRun::from);
        Ok(Json(JobRunPage {
            items: page.items,
            next_cursor: page.next_cursor,
        }))
    }

    /// The next five fire times of a cron expression
    #[oai(
        path = "/jobs/preview",
        method = "post",
        operation_id = "adminPreviewJobSchedule"
    )]
    async fn admin_preview_cron(
        &self,
        _admin: AdminAuth,
        state: Data<&AppState>,
        body: Json<CronPreview>,
    ) -> ApiResult<Json<CronPreviewResult>> {
        let six = cron::normalize(&body.0.cron.0)?;
        let tz_name = body
            .0
            .timezone
            .map(|t| t.0)
            .unwrap_or_else(|| state.settings.jobs.timezone.clone());
        let tz = cron::timezone(&tz_name)?;
        let next = cron::next_times(&cron::parse(&six)?, tz, time::now(), 5)
            .into_iter()
            .map(Into::into)
            .collect();
        Ok(Json(CronPreviewResult { next }))
    }
}
