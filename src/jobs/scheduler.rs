//! The scheduler, kept in line with the `scheduled_jobs` table. Every instance re-reads the
//! table every `jobs.sync_interval_secs` (and at once when this instance changed it) and
//! arms each enabled job for its next tick; every instance fires every tick and the run
//! claim in the database lets one of them run it.
//!
//! tokio-cron-scheduler is the timer, but only for one-shot jobs at instants that
//! [`Schedule`] computes in the job's IANA zone: its own cron jobs fix a zone's UTC offset
//! when registered, so a daylight-saving zone would drift by an hour. Each firing arms the
//! next tick before it runs.

use std::{
    collections::HashMap,
    sync::{
        Arc, Weak,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use tokio::sync::{Mutex, Notify};
use tokio_cron_scheduler::{Job, JobScheduler};
use uuid::Uuid;

use super::{
    runner,
    schedule::Schedule,
    store::{self, StoredJob},
};
use crate::state::AppState;

/// One job armed on this instance: the tick it waits for.
struct Armed {
    version: i64,
    schedule: Schedule,
    tick: DateTime<Utc>,
    uuid: Uuid,
}

pub struct Scheduler {
    state: AppState,
    cron: JobScheduler,
    armed: Mutex<HashMap<i64, Armed>>,
    in_flight: Arc<AtomicUsize>,
    idle: Arc<Notify>,
    stop: Notify,
}

impl Scheduler {
    /// Seeds the default jobs, arms the enabled ones and keeps following the table.
    pub async fn start(state: AppState) -> anyhow::Result<Arc<Self>> {
        let zone = super::schedule::parse_zone(&state.settings.jobs.timezone)?;
        store::seed_defaults(&state.db, zone, |kind| kind.ready(&state)).await?;
        let cron = JobScheduler::new().await?;
        cron.start().await?;
        let scheduler = Arc::new(Self {
            state,
            cron,
            armed: Default::default(),
            in_flight: Arc::default(),
            idle: Arc::default(),
            stop: Notify::new(),
        });
        scheduler.sync().await;
        tokio::spawn(follow_table(Arc::clone(&scheduler)));
        Ok(scheduler)
    }

    /// Makes the armed jobs match the enabled rows of the table, and fails the runs that
    /// dead instances left running.
    async fn sync(self: &Arc<Self>) {
        if let Err(err) = runner::recover_abandoned(&self.state).await {
            tracing::warn!(%err, "scheduler: cannot recover abandoned runs");
        }
        let jobs = match store::list(&self.state.db).await {
            Ok(jobs) => jobs,
            Err(err) => {
                tracing::warn!(%err, "scheduler: cannot read the jobs table");
                return;
            }
        };
        let wanted: HashMap<i64, StoredJob> = jobs
            .into_iter()
            .filter(|j| j.enabled)
            .map(|j| (j.id, StoredJob::from(j)))
            .collect();
        let now = Utc::now();
        // A job first seen now may have had a tick since the last sync (e.g. another
        // instance's edit): claiming it late is better than losing it.
        let catch_up =
            chrono::Duration::seconds(self.state.settings.jobs.sync_interval_secs as i64 + 1);
        let mut armed = self.armed.lock().await;
        let gone: Vec<i64> = armed
            .keys()
            .filter(|id| !wanted.contains_key(id))
            .copied()
            .collect();
        for id in gone {
            if let Some(old) = armed.remove(&id) {
                let _ = self.cron.remove(&old.uuid).await;
            }
        }
        for (id, job) in wanted {
            let Some(schedule) = job.schedule.clone() else {
                tracing::warn!(job = %job.row.name, problem = ?job.problem, "scheduler: job cannot be scheduled");
                if let Some(old) = armed.remove(&id) {
                    let _ = self.cron.remove(&old.uuid).await;
                }
                continue;
            };
            let pending = armed.get(&id).map(|a| (a.version, a.tick));
            let from = match pending {
                Some((version, _)) if version == job.row.version => continue,
                // An edit must not lose the tick the old version was waiting for.
                Some((_, tick)) => tick.min(job.row.updated_at),
                None => job.row.updated_at.max(now - catch_up),
            };
            let next = schedule.next_at_or_after(from);
            if let Some(a) = armed.get_mut(&id)
                && next == Some(a.tick)
            {
                // Same instant: the armed timer stands, with the new version's schedule.
                a.version = job.row.version;
                a.schedule = schedule;
                continue;
            }
            if let Some(old) = armed.remove(&id) {
                let _ = self.cron.remove(&old.uuid).await;
            }
            if let Some(tick) = next {
                self.arm(&mut armed, id, job.row.version, schedule, tick)
                    .await;
            }
        }
    }

    /// Registers a one-shot timer for `tick` of job `job_id`.
    async fn arm(
        self: &Arc<Self>,
        armed: &mut HashMap<i64, Armed>,
        job_id: i64,
        version: i64,
        schedule: Schedule,
        tick: DateTime<Utc>,
    ) {
        let delay = (tick - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        let me: Weak<Self> = Arc::downgrade(self);
        let timer = Job::new_one_shot_async(delay, move |uuid, _locked| {
            let me = me.clone();
            Box::pin(async move {
                if let Some(me) = me.upgrade() {
                    me.fired(job_id, uuid, tick).await;
                }
            })
        });
        let added = match timer {
            Ok(timer) => self.cron.add(timer).await,
            Err(err) => Err(err),
        };
        match added {
            Ok(uuid) => {
                armed.insert(
                    job_id,
                    Armed {
                        version,
                        schedule,
                        tick,
                        uuid,
                    },
                );
            }
            Err(err) => tracing::warn!(%err, job_id, "scheduler: cannot arm a job"),
        }
    }

    /// A timer went off: arm the next tick, then run this one. (Boxed: arming the next
    /// tick refers back to this function.)
    fn fired(
        self: Arc<Self>,
        job_id: i64,
        timer: Uuid,
        tick: DateTime<Utc>,
    ) -> BoxFuture<'static, ()> {
        Box::pin(self.fire(job_id, timer, tick))
    }

    async fn fire(self: Arc<Self>, job_id: i64, timer: Uuid, tick: DateTime<Utc>) {
        // The timer has whole-second resolution: never run before the tick itself.
        if let Ok(early) = (tick - Utc::now()).to_std() {
            tokio::time::sleep(early).await;
        }
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        {
            let mut armed = self.armed.lock().await;
            let current = armed
                .get(&job_id)
                .filter(|a| a.uuid == timer)
                .map(|a| (a.version, a.schedule.clone()));
            // Otherwise a sync re-armed the job meanwhile (an edit): that arming stands.
            if let Some((version, schedule)) = current {
                armed.remove(&job_id);
                if let Some(next) = schedule.next_after(tick) {
                    self.arm(&mut armed, job_id, version, schedule, next).await;
                }
            }
        }
        run(&self.state, job_id, tick).await;
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
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

/// One tick: the job is re-read, and runs if it is still enabled and its schedule, as
/// stored now, still has this tick (an edit since arming may have moved it, or kept it).
async fn run(state: &AppState, job_id: i64, tick: DateTime<Utc>) {
    let Ok(row) = store::get(&state.db, job_id).await else {
        return;
    };
    let job = StoredJob::from(row);
    if !job.row.enabled || !job.schedule.as_ref().is_some_and(|s| s.fires_at(tick)) {
        return;
    }
    if let Err(err) = runner::run_tick(state, &job, tick).await {
        tracing::warn!(%err, job = %job.row.name, "scheduler: run not recorded");
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
