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
    running: tokio::sync::Semaphore,
}

impl Shared {
    fn new(read_cache: ReadCache) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            read_cache,
            synced: tokio::sync::watch::Sender::new(0),
            wake: tokio::sync::Notify::new(),
            running: tokio::sync::Semaphore::new(cores),
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
        let _turn = self.turn().await?;
        self.engine.search(query).await
    }

    pub async fn suggest(&self, prefix: String, limit: usize) -> Result<Vec<Suggestion>, AppError> {
        self.fresh().await;
        let _turn = self.turn().await?;
        self.engine.suggest(prefix, limit).await
    }

    /// Waits for a core to run a search on.
    async fn turn(&self) -> Result<tokio::sync::SemaphorePermit<'_>, AppError> {
        self.shared
            .running
            .acquire()
            .await
            .map_err(|_| AppError::Internal(anyhow::anyhow!("search is shutting down")))
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

    /// An engine whose searches take a while and count how many run at once.
    #[derive(Default)]
    struct Slow {
        running: AtomicUsize,
        most: AtomicUsize,
    }

    impl Slow {
        async fn work(&self) {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_searches_run_at_once_than_there_are_cores() {
        let cache = Cache::from_settings(&CacheSettings::default()).unwrap();
        let engine = Arc::new(Slow::default());
        let search = Search {
            engine: engine.clone(),
            shared: Arc::new(Shared::new(ReadCache::start(cache).await)),
        };
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
        let most = engine.most.load(Ordering::SeqCst);
        assert!(
            most >= 1 && most <= cores,
            "{most} ran at once on {cores} cores"
        );
        assert_eq!(engine.running.load(Ordering::SeqCst), 0);
    }
}
