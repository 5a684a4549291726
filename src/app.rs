//! `Application`: everything wired together and bound to a port (0 picks a free one, which
//! is how tests start real servers side by side).

use std::{io, sync::Arc, time::Duration};

use anyhow::Context;
use poem::{
    Server,
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
};

use crate::{
    api,
    cache::{Cache, read_through::ReadCache},
    config::Settings,
    db,
    jobs::scheduler::Scheduler,
    push::worker::Workers,
    service::demo_content,
    state::AppState,
    wechat::services::WechatServices,
};

/// How long graceful shutdown waits for in-flight requests.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

pub struct Application {
    port: u16,
    acceptor: TcpAcceptor,
    state: AppState,
    scheduler: Option<Arc<Scheduler>>,
    /// Push delivery workers; dropping them aborts them.
    push_workers: Option<Workers>,
}

/// `host:pid:random`, unique among instances sharing a database.
fn instance_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    format!(
        "{host}:{}:{:04x}",
        std::process::id(),
        rand::random::<u16>()
    )
}

/// Opens this instance's search index and brings it up to date with SQL.
async fn start_search(
    settings: &Settings,
    database: &sea_orm::DatabaseConnection,
    cache: &Cache,
    read_cache: &ReadCache,
) -> anyhow::Result<crate::search::Search> {
    use crate::{config::SearchEngineKind, search::tantivy_engine::TantivyEngine};
    let engine = match settings.search.engine {
        SearchEngineKind::Tantivy => {
            let dir = settings.search.index_dir.clone();
            let heap = settings.search.writer_heap_mb * 1024 * 1024;
            tokio::task::spawn_blocking(move || TantivyEngine::open(&dir, heap))
                .await
                .context("search index open panicked")??
        }
    };
    crate::search::sync::start(
        database.clone(),
        cache,
        read_cache.clone(),
        Arc::new(engine),
    )
    .await
    .context("cannot build the search index")
}

impl Application {
    /// Connects the database (and migrates it), the cache, seeds demo content when asked and
    /// the database is empty, and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_cache(settings, None).await
    }

    /// Like `build`, sharing `cache` when given (tests run two instances on one in-process
    /// cache the way production runs them on one Redis).
    pub async fn build_with_cache(
        settings: Settings,
        cache: Option<Cache>,
    ) -> anyhow::Result<Self> {
        // One rustls crypto provider for the whole process (reqwest is built without one).
        crate::wechat::client::install_crypto_provider();
        crate::service::password::configure(settings.auth.password_hash_concurrency);
        let database = db::connect(&settings.database)
            .await
            .context("cannot connect to the database")?;
        db::migrate(&database)
            .await
            .context("cannot apply migrations")?;
        let cache = match cache {
            Some(cache) => cache,
            None => Cache::from_settings(&settings.cache).context("cannot set up the cache")?,
        };
        let read_cache = ReadCache::start(cache.clone()).await;
        if settings.demo.seed_when_empty && demo_content::is_empty(&database).await? {
            demo_content::seed(&database, &read_cache)
                .await
                .context("cannot seed demo content")?;
            tracing::info!("seeded demo content into the empty database");
        }
        db::keep_statistics_fresh(&database)
            .await
            .context("cannot refresh the database's planner statistics")?;
        let search = start_search(&settings, &database, &cache, &read_cache).await?;
        let acceptor = TcpListener::bind(settings.bind_address())
            .into_acceptor()
            .await
            .with_context(|| format!("cannot listen on {}", settings.bind_address()))?;
        let port = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().map(|s| s.port()))
            .context("listener has no address")?;
        let wechat = WechatServices::new(&settings.wechat, cache.clone())
            .context("cannot set up the WeChat client")?;
        let push_providers = crate::mobile_push::Providers::from_settings(&settings.push, &cache)
            .context("cannot set up the device push channels")?;
        let state = AppState {
            db: database,
            cache,
            read_cache,
            search,
            settings: Arc::new(settings),
            instance: instance_name().into(),
            jobs_changed: Arc::default(),
            wechat,
            push_wake: Arc::default(),
            push_providers,
        };
        let scheduler = if state.settings.jobs.enabled {
            Some(
                Scheduler::start(state.clone())
                    .await
                    .context("cannot start the scheduler")?,
            )
        } else {
            None
        };
        let push_workers = state
            .settings
            .push
            .workers_enabled
            .then(|| Workers::start(state.clone()));
        Ok(Self {
            port,
            acceptor,
            state,
            scheduler,
            push_workers,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGINT/SIGTERM, then lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `stop` completes, then lets in-flight requests finish.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        tracing::info!(
            port = self.port,
            cache = self.state.cache.backend_name(),
            "qshare listening"
        );
        let grace = Duration::from_secs(self.state.settings.jobs.shutdown_grace_secs);
        let server = &self.state.settings.server;
        let acceptor = api::slow_clients::DeadlineAcceptor::new(
            self.acceptor,
            api::slow_clients::Limits {
                header: Duration::from_secs(server.header_read_timeout_secs),
                idle: Duration::from_secs(server.idle_timeout_secs),
            },
        );
        let served = Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(api::routes(self.state), stop, Some(SHUTDOWN_GRACE))
            .await;
        // Jobs and deliveries in flight finish (up to the grace period) after the last
        // request; both bounds run side by side.
        let scheduler = async {
            if let Some(scheduler) = self.scheduler {
                scheduler.shutdown(grace).await;
            }
        };
        let workers = async {
            if let Some(workers) = self.push_workers {
                workers.shutdown(grace).await;
            }
        };
        tokio::join!(scheduler, workers);
        served
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
