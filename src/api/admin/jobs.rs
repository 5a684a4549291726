use entity::job_run::{self, RunStatus, RunTrigger};
use poem::web::Data;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, param::Path, param::Query, payload::Json};
use serde_json::Value;

use super::{Created, Deleted};
use crate::{
    api::{
        error::ApiResult,
        security::AdminAuth,
        tags::ApiTags,
        types::{Text, Timestamp},
    },
    error::{AppError, AppResult},
    jobs::{
        kinds::KindEntry,
        schedule::{CronExpr, Schedule, parse_zone},
        service::{self, JobSpec},
        store::{self, StoredJob},
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
    /// As stored; null when the stored text is not JSON (`problem` says so).
    pub params: Value,
    pub version: i64,
    /// Null when disabled or when the job cannot be scheduled.
    #[oai(nullable)]
    pub next_fire_at: Option<Timestamp>,
    /// Why this job cannot run as stored (e.g. its stored params no longer parse); null
    /// when it can.
    #[oai(nullable)]
    pub problem: Option<String>,
    #[oai(nullable)]
    pub last_run: Option<JobRun>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl ScheduledJob {
    fn new(job: StoredJob, last_run: Option<job_run::Model>) -> Self {
        let next_fire_at = job.next_fire_at(time::now()).map(Into::into);
        let params = job.params();
        let StoredJob { row, problem, .. } = job;
        Self {
            id: row.id,
            name: row.name,
            kind: row.kind,
            cron: row.cron,
            timezone: row.timezone,
            enabled: row.enabled,
            params,
            version: row.version,
            next_fire_at,
            problem,
            last_run: last_run.map(Into::into),
            created_at: row.created_at.into(),
            updated_at: row.updated_at.into(),
        }
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
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub name: Option<Text<{ crate::jobs::service::NAME_MAX }>>,
    /// push_featured, refresh_hot_ranking, flush_counters, publish_scheduled,
    /// sync_wechat_followers or purge_expired; required on create.
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub kind: Option<Text<{ crate::jobs::service::KIND_MAX }>>,
    /// 5 fields (crontab) or 6 (seconds first); required on create.
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub cron: Option<Text<{ crate::jobs::schedule::CRON_MAX }>>,
    /// IANA timezone; default `jobs.timezone` (Asia/Shanghai).
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub timezone: Option<Text<{ crate::service::validate::TIMEZONE_MAX }>>,
    #[oai(nullable)]
    pub enabled: Option<bool>,
    /// A JSON object, validated per kind.
    #[oai(nullable)]
    pub params: Option<Value>,
}

/// Kind, cron and zone are parsed here, once.
impl TryFrom<JobWrite> for JobSpec {
    type Error = AppError;

    fn try_from(b: JobWrite) -> Result<Self, AppError> {
        Ok(Self {
            kind: b.kind.map(|k| KindEntry::find(&k.0)).transpose()?,
            cron: b.cron.map(|c| CronExpr::parse(&c.0)).transpose()?,
            timezone: b.timezone.map(|t| parse_zone(&t.0)).transpose()?,
            name: b.name.map(Into::into),
            enabled: b.enabled,
            params: b.params,
        })
    }
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct CronPreview {
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub cron: Text<{ crate::jobs::schedule::CRON_MAX }>,
    /// IANA timezone; default `jobs.timezone`.
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub timezone: Option<Text<{ crate::service::validate::TIMEZONE_MAX }>>,
}

impl CronPreview {
    fn schedule(self, default_zone: &str) -> AppResult<Schedule> {
        let zone = self
            .timezone
            .map_or_else(|| default_zone.to_string(), |t| t.0);
        Ok(Schedule::new(
            CronExpr::parse(&self.cron.0)?,
            parse_zone(&zone)?,
        ))
    }
}

#[derive(Debug, Object)]
pub struct CronPreviewResult {
    /// The next five fire times, exactly the instants the scheduler fires at.
    pub next: Vec<Timestamp>,
}

/// The run started in the background: poll `/api/admin/jobs/{job_id}/runs` for its outcome.
#[derive(ApiResponse)]
pub enum RunAccepted {
    #[oai(status = 202)]
    Accepted(Json<JobRun>),
}

pub struct AdminJobsApi;

#[OpenApi(prefix_path = "/api/admin", tag = "ApiTags::AdminJobs")]
impl AdminJobsApi {
    /// All jobs with their next fire time and last run
    #[oai(path = "/jobs", method = "get", operation_id = "adminListJobs")]
    async fn admin_list_jobs(
        &self,
        _admin: AdminAuth,
        Data(state): Data<&AppState>,
    ) -> ApiResult<Json<JobList>> {
        let items = service::list(state).await?;
        let items = items
            .into_iter()
            .map(|(job, run)| ScheduledJob::new(job, run))
            .collect();
        Ok(Json(JobList { items }))
    }

    /// Create a job
    #[oai(path = "/jobs", method = "post", operation_id = "adminCreateJob")]
    async fn admin_create_job(
        &self,
        admin: AdminAuth,
        Data(state): Data<&AppState>,
        Json(body): Json<JobWrite>,
    ) -> ApiResult<Created<ScheduledJob>> {
        let job = service::create(state, admin.actor(), body.try_into()?).await?;
        Ok(Created::Created(Json(ScheduledJob::new(job, None))))
    }

    /// One job
    #[oai(path = "/jobs/:id", method = "get", operation_id = "adminGetJob")]
    async fn admin_get_job(
        &self,
        _admin: AdminAuth,
        Data(state): Data<&AppState>,
        Path(id): Path<i64>,
    ) -> ApiResult<Json<ScheduledJob>> {
        let (job, run) = service::get(state, id).await?;
        Ok(Json(ScheduledJob::new(job, run)))
    }

    /// Edit a job (takes effect on every instance within seconds)
    #[oai(path = "/jobs/:id", method = "patch", operation_id = "adminUpdateJob")]
    async fn admin_update_job(
        &self,
        admin: AdminAuth,
        Data(state): Data<&AppState>,
        Path(id): Path<i64>,
        Json(body): Json<JobWrite>,
    ) -> ApiResult<Json<ScheduledJob>> {
        service::update(state, admin.actor(), id, body.try_into()?).await?;
        let (job, run) = service::get(state, id).await?;
        Ok(Json(ScheduledJob::new(job, run)))
    }

    /// Delete a job and its run history
    #[oai(path = "/jobs/:id", method = "delete", operation_id = "adminDeleteJob")]
    async fn admin_delete_job(
        &self,
        admin: AdminAuth,
        Data(state): Data<&AppState>,
        Path(id): Path<i64>,
    ) -> ApiResult<Deleted> {
        service::delete(state, admin.actor(), id).await?;
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
        Data(state): Data<&AppState>,
        Path(id): Path<i64>,
    ) -> ApiResult<Json<ScheduledJob>> {
        service::set_enabled(state, admin.actor(), id, true).await?;
        let (job, run) = service::get(state, id).await?;
        Ok(Json(ScheduledJob::new(job, run)))
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
        Data(state): Data<&AppState>,
        Path(id): Path<i64>,
    ) -> ApiResult<Json<ScheduledJob>> {
        service::set_enabled(state, admin.actor(), id, false).await?;
        let (job, run) = service::get(state, id).await?;
        Ok(Json(ScheduledJob::new(job, run)))
    }

    /// Run a job now (also when disabled), in the background; 202 with the run, whose
    /// outcome the run history shows
    #[oai(path = "/jobs/:id/run", method = "post", operation_id = "adminRunJob")]
    async fn admin_run_job(
        &self,
        admin: AdminAuth,
        Data(state): Data<&AppState>,
        Path(id): Path<i64>,
    ) -> ApiResult<RunAccepted> {
        let run = service::run_now(state, admin.actor(), id).await?;
        Ok(RunAccepted::Accepted(Json(run.into())))
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
        Data(state): Data<&AppState>,
        Path(id): Path<i64>,
        Query(cursor): Query<Option<String>>,
        Query(limit): Query<Option<u32>>,
    ) -> ApiResult<Json<JobRunPage>> {
        let page = store::runs(&state.db, id, cursor.as_deref(), limit).await?;
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
        Data(state): Data<&AppState>,
        Json(body): Json<CronPreview>,
    ) -> ApiResult<Json<CronPreviewResult>> {
        let schedule = body.schedule(&state.settings.jobs.timezone)?;
        let next = schedule
            .upcoming(time::now(), 5)
            .into_iter()
            .map(Into::into)
            .collect();
        Ok(Json(CronPreviewResult { next }))
    }
}
