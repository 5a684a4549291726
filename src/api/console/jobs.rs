//! Jobs: each with its cron in words, its zone, the next five fire times in the job's zone
//! and the viewer's (daylight-saving changes flagged), its last run; the editor with a live
//! preview and inline errors; enable / disable / run now / delete; the run history.

use askama::Template;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use entity::job_run::{self, RunStatus};
use poem::{
    Request, Response, handler,
    http::StatusCode,
    web::{Path, Query},
};
use serde::Deserialize;
use serde_json::Value;

use super::{
    cron_text::{self, DstNote},
    errors::{self, Described},
    web::{self, Console, Ctx, Form, Guard, OrFail, htmx_location, signed_in},
};
use crate::{
    error::{AppError, AppResult},
    jobs::{
        kinds::{self, KindEntry},
        schedule::{CronExpr, Schedule, parse_zone},
        service::{self, JobSpec},
        store::{self, StoredJob},
    },
    pagination::Page,
    time,
};

/// One upcoming fire time, as the viewer reads it.
pub struct Fire {
    pub in_job_zone: String,
    pub in_viewer_zone: String,
    pub note: Option<&'static str>,
}

fn fires(schedule: &Schedule, viewer: Tz, from: DateTime<Utc>) -> Vec<Fire> {
    schedule
        .upcoming(from, 5)
        .into_iter()
        .map(|at| Fire {
            in_job_zone: web::format_in(&at, schedule.zone()),
            in_viewer_zone: web::format_in(&at, viewer),
            note: cron_text::dst_note(&at, schedule.zone())
                .or_else(|| cron_text::dst_note(&at, viewer))
                .map(|n| match n {
                    DstNote::Repeated => "job.dst.repeated",
                    DstNote::AfterGap => "job.dst.after_gap",
                }),
        })
        .collect()
}

pub fn run_status_key(s: &RunStatus) -> &'static str {
    match *s {
        RunStatus::Running => "job.run.running",
        RunStatus::Ok => "job.run.ok",
        RunStatus::Failed => "job.run.failed",
        RunStatus::Skipped => "job.run.skipped",
    }
}

pub fn duration(run: &job_run::Model) -> String {
    run.finished_at.map_or_else(
        || "—".into(),
        |end| {
            format!(
                "{:.1} s",
                (end - run.started_at).num_milliseconds() as f64 / 1000.0
            )
        },
    )
}

/// A job as the list and the detail page show it.
pub struct JobRow {
    pub job: StoredJob,
    pub last: Option<job_run::Model>,
    pub description: String,
    pub next: Option<String>,
    pub fires: Vec<Fire>,
}

impl JobRow {
    fn new(job: StoredJob, last: Option<job_run::Model>, c: &Ctx) -> Self {
        let now = time::now();
        let description = cron_text::describe(&job.row.cron, c.t.is_zh());
        let next = job.next_fire_at(now).map(|at| c.time(at));
        let fires = job
            .schedule
            .as_ref()
            .map(|s| fires(s, c.tz, now))
            .unwrap_or_default();
        Self {
            job,
            last,
            description,
            next,
            fires,
        }
    }
}

#[derive(Template)]
#[template(path = "console/jobs.html")]
struct ListPage {
    c: Ctx,
    rows: Vec<JobRow>,
    kinds: &'static [KindEntry],
    default_zone: String,
}

#[handler]
pub async fn list(req: &Request, guard: Guard) -> Response {
    let console = signed_in!(guard);
    let state = web::state(req);
    let result = async {
        let c = console.ctx("jobs");
        let rows = service::list(state)
            .await
            .or_fail(&console)?
            .into_iter()
            .map(|(job, last)| JobRow::new(job, last, &c))
            .collect();
        Ok(web::page(
            req,
            &ListPage {
                c,
                rows,
                kinds: kinds::ALL,
                default_zone: state.settings.jobs.timezone.clone(),
            },
        ))
    }
    .await;
    web::unwrap(result)
}

#[derive(Template)]
#[template(path = "console/job.html")]
struct DetailPage {
    c: Ctx,
    r: JobRow,
    params: String,
    runs: String,
}

#[derive(Template)]
#[template(path = "console/job_runs.html")]
struct RunsTable {
    c: Ctx,
    job_id: i64,
    page: Page<job_run::Model>,
}

async fn runs_table(
    req: &Request,
    console: &Console,
    id: i64,
    cursor: Option<&str>,
) -> Result<RunsTable, Response> {
    let page = store::runs(&web::state(req).db, id, cursor, Some(20))
        .await
        .or_fail(console)?;
    Ok(RunsTable {
        c: console.ctx("jobs"),
        job_id: id,
        page,
    })
}

#[handler]
pub async fn detail(req: &Request, guard: Guard, Path(id): Path<i64>) -> Response {
    let console = signed_in!(guard);
    let state = web::state(req);
    let result = async {
        let (job, last) = service::get(state, id).await.or_fail(&console)?;
        let c = console.ctx("jobs");
        let params = serde_json::to_string_pretty(&job.params()).unwrap_or_default();
        let runs_html = runs_table(req, &console, id, None)
            .await?
            .render()
            .unwrap_or_default();
        Ok(web::page(
            req,
            &DetailPage {
                r: JobRow::new(job, last, &c),
                c,
                params,
                runs: runs_html,
            },
        ))
    }
    .await;
    web::unwrap(result)
}

#[derive(Debug, Deserialize)]
pub struct RunsQuery {
    cursor: Option<String>,
}

#[handler]
pub async fn runs(
    req: &Request,
    guard: Guard,
    Path(id): Path<i64>,
    Query(q): Query<RunsQuery>,
) -> Response {
    let console = signed_in!(guard);
    match runs_table(req, &console, id, q.cursor.as_deref()).await {
        Ok(t) => web::page(req, &t),
        Err(refusal) => refusal,
    }
}

#[derive(Template)]
#[template(path = "console/job_preview.html")]
struct Preview {
    c: Ctx,
    description: String,
    fires: Vec<Fire>,
    error: Option<Described>,
}

/// The live preview while editing: the same parse and the same fire times as the scheduler
/// (`adminPreviewJobSchedule`), or the error inline.
#[handler]
pub async fn preview(req: &Request, guard: Guard, form: Form) -> Response {
    let console = signed_in!(guard);
    let state = web::state(req);
    let c = console.ctx("jobs");
    let zone = match form.text("timezone").trim() {
        "" => state.settings.jobs.timezone.as_str(),
        z => z,
    };
    let parsed = Schedule::parse(form.text("cron").trim(), zone);
    let (status, body) = match parsed {
        Ok(schedule) => (
            StatusCode::OK,
            Preview {
                description: cron_text::describe(schedule.cron().as_str(), c.t.is_zh()),
                fires: fires(&schedule, c.tz, time::now()),
                error: None,
                c,
            },
        ),
        Err(err) => (
            StatusCode::BAD_REQUEST,
            Preview {
                description: String::new(),
                fires: Vec::new(),
                error: Some(errors::describe(&err, c.t)),
                c,
            },
        ),
    };
    web::html(
        web::accepts_gzip(req),
        status,
        body.render().unwrap_or_default(),
    )
}

fn spec(form: &Form, creating: bool) -> AppResult<JobSpec> {
    let text = |k: &str| form.get(k).map(str::trim).filter(|v| !v.is_empty());
    let params = match text("params") {
        None => None,
        Some(p) => Some(
            serde_json::from_str::<Value>(p)
                .map_err(|e| AppError::bad_field("params", format!("params is not JSON: {e}")))?,
        ),
    };
    Ok(JobSpec {
        name: text("name").map(String::from),
        kind: if creating {
            text("kind").map(KindEntry::find).transpose()?
        } else {
            None
        },
        cron: text("cron").map(CronExpr::parse).transpose()?,
        timezone: text("timezone").map(parse_zone).transpose()?,
        enabled: Some(form.checked("enabled")),
        params,
    })
}

#[handler]
pub async fn create(req: &Request, guard: Guard, form: Form) -> Response {
    let console = signed_in!(guard);
    let state = web::state(req);
    let result = async {
        let spec = spec(&form, true).or_fail(&console)?;
        let job = service::create(state, &console.actor, spec)
            .await
            .or_fail(&console)?;
        Ok(htmx_location(&format!("/admin/jobs/{}", job.row.id)))
    }
    .await;
    web::unwrap(result)
}

#[handler]
pub async fn update(req: &Request, guard: Guard, Path(id): Path<i64>, form: Form) -> Response {
    let console = signed_in!(guard);
    let state = web::state(req);
    let result = async {
        let spec = spec(&form, false).or_fail(&console)?;
        service::update(state, &console.actor, id, spec)
            .await
            .or_fail(&console)?;
        Ok(htmx_location(&format!("/admin/jobs/{id}")))
    }
    .await;
    web::unwrap(result)
}

#[handler]
pub async fn action(
    req: &Request,
    guard: Guard,
    Path((id, action)): Path<(i64, String)>,
) -> Response {
    let console = signed_in!(guard);
    let state = web::state(req);
    let actor = &console.actor;
    let result = async {
        match action.as_str() {
            "enable" => service::set_enabled(state, actor, id, true).await.map(drop),
            "disable" => service::set_enabled(state, actor, id, false)
                .await
                .map(drop),
            // In the background; the history shows the outcome. The schedule is untouched.
            "run" => service::run_now(state, actor, id).await.map(drop),
            "delete" => {
                service::delete(state, actor, id).await.or_fail(&console)?;
                return Ok(htmx_location("/admin/jobs"));
            }
            _ => Err(AppError::not_found("action")),
        }
        .or_fail(&console)?;
        Ok(htmx_location(&format!("/admin/jobs/{id}")))
    }
    .await;
    web::unwrap(result)
}
