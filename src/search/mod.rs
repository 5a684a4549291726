//! Full-text search over published articles.
//!
//! `SearchEngine` is the small interface an engine implements; `tantivy_engine` is the
//! embedded one (an on-disk index per instance). Every index derives from SQL: `sync` diffs
//! what the engine holds against the published articles and applies the difference, at start
//! and whenever the read cache's change signal fires on any instance (and every
//! `SAFETY_SYNC` in case a signal was missed). A shared engine such as Meilisearch could
//! implement the same trait; none ships, since none can be tested here.

pub mod analysis;
pub mod highlight;
pub mod postings;
pub mod prefix;
pub mod ranking;
pub mod sync;
pub mod tantivy_engine;

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures_util::future::BoxFuture;

use crate::{cache::read_through::ReadCache, error::AppError};

/// Everything of a published article that is searched.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchDoc {
    pub id: i64,
    pub title: String,
    pub summary: String,
    pub body: String,
    /// Tag names.
    pub tags: Vec<String>,
    pub tag_slugs: Vec<String>,
    pub category: Option<String>,
    pub category_slug: Option<String>,
    pub source_name: String,
    pub featured: bool,
    /// Unix seconds.
    pub published_at: i64,
    /// Changes whenever the article's row changes (its `updated_at`, in microseconds).
    pub stamp: i64,
}

/// A search as the engine runs it (already validated by the service).
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub text: String,
    pub category_slug: Option<String>,
    pub tag_slug: Option<String>,
    pub offset: usize,
    pub limit: usize,
}

/// The fields a hit can match in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MatchedField {
    Title,
    Summary,
    Body,
    Tags,
    Category,
    Source,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: i64,
    pub score: f32,
    /// The title with the matched words in `<mark>`, HTML-escaped.
    pub title_html: String,
    /// The best fragment of the summary or body, marked the same way.
    pub snippet_html: String,
    pub matched: Vec<MatchedField>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hits {
    pub hits: Vec<Hit>,
    /// Matching articles in all (exact; the service caps what it shows).
    pub total: u64,
    /// False when every term had to be found (AND); true when that found nothing and any
    /// term was enough (OR, scored lower).
    pub relaxed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Suggestion {
    Title { article_id: i64, title: String },
    Tag { slug: String, name: String },
}

/// What an engine holds: id -> stamp of every article in it, and the taxonomy fingerprint
/// it was built with.
#[derive(Debug, Clone, Default)]
pub struct Indexed {
    pub stamps: HashMap<i64, i64>,
    pub taxonomy: Option<u64>,
}

/// A change to apply in one commit.
#[derive(Debug, Clone, Default)]
pub struct IndexChanges {
    pub upserts: Vec<SearchDoc>,
    pub deletes: Vec<i64>,
    /// The taxonomy fingerprint to record with the commit.
    pub taxonomy: Option<u64>,
    /// Tag (slug, name) pairs for suggestions.
    pub tags: Vec<(String, String)>,
}

pub trait SearchEngine: Send + Sync + 'static {
    fn search(&self, query: SearchQuery) -> BoxFuture<'_, Result<Hits, AppError>>;
    fn suggest(
        &self,
        prefix: String,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Suggestion>, AppError>>;
    fn indexed(&self) -> BoxFuture<'_, Result<Indexed, AppError>>;
    fn apply(&self, changes: IndexChanges) -> BoxFuture<'_, Result<(), AppError>>;
    /// Merges what many applies left behind into as few parts as the engine can (after a
    /// rebuild): searches then read one dictionary and one postings list per term.
    fn compact(&self) -> BoxFuture<'_, Result<(), AppError>>;
    /// Tag suggestions are kept in memory; the sync sets them at start.
    fn set_tags(&self, tags: Vec<(String, String)>);
}

/// How long a search waits for this instance's index to catch up with a write it has heard
/// of, before answering from the index as it is.
const FRESHNESS_WAIT: Duration = Duration::from_secs(3);

/// The handle the rest of the application holds.
#[derive(Clone)]
pub struct Search {
    engine: Arc<dyn SearchEngine>,
    shared: Arc<Shared>,
}

struct Shared {
    /// Its version moves on every write any instance announces.
    read_cache: ReadCache,
    /// The read-cache version the index is known to reflect.
    synced: tokio::sync::watch::Sender<u64>,
    /// Asks the sync task for a pass now.
    wake: tokio::sync::Notify,
    /// One permit per core. A search is CPU from start to end: more of them at once than
    /// cores only time-slice, so every one takes longer. Waiting in line (first come,
    /// first served) keeps the tail close to the median.
    running: Arc<tokio::sync::Semaphore>,
}

impl Shared {
    fn new(read_cache: ReadCache) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            read_cache,
            synced: tokio::sync::watch::Sender::new(0),
            wake: tokio::sync::Notify::new(),
            running: Arc::new(tokio::sync::Semaphore::new(cores)),
        }
    }
}

impl Search {
    /// Waits (briefly) until the index reflects every write this instance has heard of, so
    /// a search right after a write on this instance sees it.
    async fn fresh(&self) {
        let want = self.shared.read_cache.stats().version;
        if *self.shared.synced.borrow() >= want {
            return;
        }
        self.shared.wake.notify_one();
        let mut synced = self.shared.synced.subscribe();
        let _ = tokio::time::timeout(FRESHNESS_WAIT, synced.wait_for(|v| *v >= want)).await;
    }

    pub async fn search(&self, query: SearchQuery) -> Result<Hits, AppError> {
        self.fresh().await;
        let engine = self.engine.clone();
        self.in_turn(async move { engine.search(query).await })
            .await
    }

    pub async fn suggest(&self, prefix: String, limit: usize) -> Result<Vec<Suggestion>, AppError> {
        self.fresh().await;
        let engine = self.engine.clone();
        self.in_turn(async move { engine.suggest(prefix, limit).await })
            .await
    }

    /// Runs `work` once a core is free and holds the core until `work` ends, even when the
    /// caller stops waiting (a client that disconnects): the engine works on a blocking
    /// thread that a dropped future does not stop, so the permit goes with the work, in a
    /// task of its own, not with the caller's future.
    async fn in_turn<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, AppError>> + Send + 'static,
    ) -> Result<T, AppError> {
        let turn = self
            .shared
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| AppError::Internal(anyhow::anyhow!("search is shutting down")))?;
        tokio::spawn(async move {
            let out = work.await;
            drop(turn);
            out
        })
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("search task failed: {e}")))?
    }

    /// Brings the index up to date with SQL now.
    pub async fn sync_now(&self, db: &sea_orm::DatabaseConnection) -> Result<usize, AppError> {
        sync::sync_and_record(db, self.engine.as_ref(), &self.shared).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::{cache::Cache, config::CacheSettings};

    /// How many searches run at once, and the most that ever did.
    #[derive(Default)]
    struct Counts {
        running: AtomicUsize,
        most: AtomicUsize,
    }

    /// An engine whose searches take a while and count how many run at once.
    #[derive(Default)]
    struct Slow {
        counts: Arc<Counts>,
    }

    impl Slow {
        /// 20 ms of work that, like the tantivy engine's blocking task, goes on when the
        /// caller's future is dropped.
        async fn work(&self) {
            let counts = self.counts.clone();
            let work = tokio::spawn(async move {
                let now = counts.running.fetch_add(1, Ordering::SeqCst) + 1;
                counts.most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                counts.running.fetch_sub(1, Ordering::SeqCst);
            });
            work.await.unwrap();
        }
    }

    impl SearchEngine for Slow {
        fn search(&self, _: SearchQuery) -> BoxFuture<'_, Result<Hits, AppError>> {
            Box::pin(async move {
                self.work().await;
                Ok(Hits::default())
            })
        }
        fn suggest(&self, _: String, _: usize) -> BoxFuture<'_, Result<Vec<Suggestion>, AppError>> {
            Box::pin(async move {
                self.work().await;
                Ok(Vec::new())
            })
        }
        fn indexed(&self) -> BoxFuture<'_, Result<Indexed, AppError>> {
            Box::pin(async { Ok(Indexed::default()) })
        }
        fn apply(&self, _: IndexChanges) -> BoxFuture<'_, Result<(), AppError>> {
            Box::pin(async { Ok(()) })
        }
        fn compact(&self) -> BoxFuture<'_, Result<(), AppError>> {
            Box::pin(async { Ok(()) })
        }
        fn set_tags(&self, _: Vec<(String, String)>) {}
    }

    /// A `Search` over a `Slow` engine.
    async fn slow_search() -> (Arc<Slow>, Search) {
        let cache = Cache::from_settings(&CacheSettings::default()).unwrap();
        let engine = Arc::new(Slow::default());
        let search = Search {
            engine: engine.clone(),
            shared: Arc::new(Shared::new(ReadCache::start(cache).await)),
        };
        (engine, search)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_searches_run_at_once_than_there_are_cores() {
        let (engine, search) = slow_search().await;
        let cores = std::thread::available_parallelism().unwrap().get();
        let calls = (0..12).map(|i| {
            let search = search.clone();
            tokio::spawn(async move {
                if i % 2 == 0 {
                    search.search(SearchQuery::default()).await.map(|_| ())
                } else {
                    search.suggest("re".into(), 10).await.map(|_| ())
                }
            })
        });
        for call in futures_util::future::join_all(calls).await {
            call.unwrap().unwrap();
        }
        let most = engine.counts.most.load(Ordering::SeqCst);
        assert_eq!(
            most,
            cores.min(12),
            "{most} ran at once on {cores} cores: every core is used, and no more"
        );
        assert_eq!(engine.counts.running.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn callers_that_stop_waiting_do_not_free_a_core_their_search_still_uses() {
        let (engine, search) = slow_search().await;
        let cores = std::thread::available_parallelism().unwrap().get();
        // Twelve clients that each give up after 5 ms of a 20 ms search, as a client that
        // disconnects does: their searches go on, and must keep their cores while they do.
        let calls = (0..12).map(|i| {
            let search = search.clone();
            tokio::spawn(async move {
                let give_up = Duration::from_millis(5);
                if i % 2 == 0 {
                    let _ =
                        tokio::time::timeout(give_up, search.search(SearchQuery::default())).await;
                } else {
                    let _ = tokio::time::timeout(give_up, search.suggest("re".into(), 10)).await;
                }
            })
        });
        futures_util::future::join_all(calls).await;
        // Whatever was started runs out.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let most = engine.counts.most.load(Ordering::SeqCst);
        assert!(
            most <= cores,
            "{most} searches ran at once on {cores} cores after their callers left"
        );
        assert_eq!(engine.counts.running.load(Ordering::SeqCst), 0);
    }
}
