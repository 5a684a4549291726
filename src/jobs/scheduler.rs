//! The scheduler: tokio-cron-scheduler, kept in line with the `scheduled_jobs` table. Every
//! instance re-reads the table every `jobs.sync_interval_secs` (and at once when this
//! instance's API changed it) and re-registers what was added, edited, disabled or deleted.
//! Every instance fires every tick; the run claim in the database lets one of them run it.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use entity::{job_run::RunTrigger, scheduled_job};
use tokio::sync::Notify;
use tokio_cron_scheduler::{Job, JobScheduler};
use uuid::Uuid;

use super::{cron, kinds::JobKind, runner, store};
use crate::{state::AppState, time};

pub struct Scheduler {
    state: AppState,
    cron: JobScheduler,
    registered: tokio::sync::Mutex<HashMap<i64, (i64, Uuid)>>,
    in_flight: Arc<AtomicUsize>,
    idle: Arc<Notify>,
    stop: Notify,
}

impl Scheduler {
    /// Seeds the default jobs, registers the enabled ones and keeps following the table.
    pub async fn start(state: AppState) -> anyhow::Result<Arc<Self>> {
        let has_official_account = state.wechat.official_account.is_some();
        let ready = |kind: JobKind| kind != JobKind::SyncWechatFollowers || has_official_account;
        store::seed_defaults(&state.db, &state.settings.jobs.timezone, ready).await?;
        let cron = JobScheduler::new().await?;
        cron.start().await?;
        let scheduler = Arc::new(Self {
            state,
            cron,
            registered: Default::default(),
            in_flight: Arc::default(),
            idle: Arc::default(),
            stop: Notify::new(),
        });
        scheduler.sync().await;
        tokio::spawn(follow_table(Arc::clone(&scheduler)));
        Ok(scheduler)
    }

    /// Makes the registered cron jobs match the enabled rows of the table.
    async fn sync(&self) {
        let jobs = match store::list(&self.state.db).await {
            Ok(jobs) => jobs,
            Err(err) => {
                tracing::warn!(%err, "scheduler: cannot read the jobs table");
                return;
            }
        };
        let wanted: HashMap<i64, &scheduled_job::Model> = jobs
            .iter()
            .filter(|j| j.enabled)
            .map(|j| (j.id, j))
            .collect();
        let mut registered = self.registered.lock().await;
        let stale: Vec<i64> = registered
            .iter()
            .filter(|(id, (version, _))| wanted.get(id).is_none_or(|j| j.version != *version))
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            if let Some((_, uuid)) = registered.remove(&id)
                && let Err(err) = self.cron.remove(&uuid).await
            {
                tracing::warn!(%err, job_id = id, "scheduler: cannot unregister a job");
            }
        }
        for (id, job) in wanted {
            if registered.contains_key(&id) {
                continue;
            }
            match self.register(job).await {
                Ok(uuid) => {
                    registered.insert(id, (job.version, uuid));
                }
                Err(err) => {
                    tracing::warn!(%err, job = %job.name, "scheduler: cannot register a job")
                }
            }
        }
    }

    async fn register(&self, job: &scheduled_job::Model) -> anyhow::Result<Uuid> {
        let tz = cron::timezone(&job.timezone)?;
        let schedule = cron::parse(&job.cron)?;
        let (state, job_id, version) = (self.state.clone(), job.id, job.version);
        let in_flight = Arc::clone(&self.in_flight);
        let idle = Arc::clone(&self.idle);
        let cron_job = Job::new_async_tz(job.cron.as_str(), tz, move |_uuid, _locked| {
            let (state, schedule, in_flight, idle) = (
                state.clone(),
                schedule.clone(),
                in_flight.clone(),
                idle.clone(),
            );
            Box::pin(async move {
                in_flight.fetch_add(1, Ordering::SeqCst);
                fire(&state, job_id, version, &schedule, tz).await;
                if in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
                    idle.notify_waiters();
                }
            })
        })?;
        Ok(self.cron.add(cron_job).await?)
    }

    /// Stops firing and waits (up to `grace`) for running jobs to finish.
    pub async fn shutdown(&self, grace: Duration) {
        self.stop.notify_waiters();
        let mut cron = self.cron.clone();
        if let Err(err) = cron.shutdown().await {
            tracing::warn!(%err, "scheduler: shutdown");
        }
        let deadline = tokio::time::Instant::now() + grace;
        while self.in_flight.load(Ordering::SeqCst) > 0 {
            if tokio::time::timeout_at(deadline, self.idle.notified())
                .await
                .is_err()
            {
                tracing::warn!("scheduler: jobs still running at the end of the grace period");
                break;
            }
        }
    }

    pub fn running_jobs(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
}

/// One firing: the job is re-read (an edit may be on its way), its tick computed from the
/// cron expression so that every instance agrees on it, and the run claimed.
async fn fire(
    state: &AppState,
    job_id: i64,
    version: i64,
    schedule: &croner::Cron,
    tz: chrono_tz::Tz,
) {
    let Ok(job) = store::get(&state.db, job_id).await else {
        return;
    };
    if !job.enabled || job.version != version {
        return;
    }
    let Some(tick) = cron::tick_at_or_before(schedule, tz, time::now()) else {
        return;
    };
    if let Err(err) = runner::run(state, &job, tick, RunTrigger::Schedule).await {
        tracing::warn!(%err, job = %job.name, "scheduler: run not recorded");
    }
}

async fn follow_table(scheduler: Arc<Scheduler>) {
    let every = Duration::from_secs(scheduler.state.settings.jobs.sync_interval_secs.max(1));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = scheduler.state.jobs_changed.notified() => {}
            _ = scheduler.stop.notified() => return,
        }
        scheduler.sync().await;
    }
}
