//! Keeps an engine equal to SQL: the published articles with their taxonomy.
//!
//! A sync compares the engine's (id, stamp) pairs with the published rows' (id, updated_at)
//! and applies the difference: new and edited articles are (re)indexed, unpublished and
//! deleted ones removed. A rename of a tag or category changes the taxonomy fingerprint,
//! which reindexes everything (renames are rare). Every instance syncs at start, whenever
//! the change signal fires (a write anywhere) and every `SAFETY_SYNC`.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Weak},
    time::Duration,
};

use entity::{article, article_tag, category, tag};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};

use super::{IndexChanges, Search, SearchDoc, SearchEngine, Shared};
use crate::{
    cache::{Cache, read_through::ReadCache},
    error::AppError,
};

/// A missed change signal (a write while the shared cache was down) is caught up after this.
const SAFETY_SYNC: Duration = Duration::from_secs(30);
/// Articles read from SQL and committed together when many changed (a rebuild).
const BATCH: usize = 1000;

/// Brings `engine` up to date with SQL, then follows the change signal.
pub async fn start(
    db: DatabaseConnection,
    cache: &Cache,
    read_cache: ReadCache,
    engine: Arc<dyn SearchEngine>,
) -> anyhow::Result<Search> {
    let changes = cache.subscribe_changes();
    let shared = Arc::new(Shared::new(read_cache));
    let started = std::time::Instant::now();
    let applied = sync_and_record(&db, engine.as_ref(), &shared).await?;
    tracing::info!(
        reindexed = applied,
        ms = started.elapsed().as_millis() as u64,
        "search index in sync"
    );
    tokio::spawn(follow(
        db,
        Arc::downgrade(&engine),
        Arc::downgrade(&shared),
        changes,
    ));
    Ok(Search { engine, shared })
}

/// A sync, recording the read-cache version it reflects.
pub(super) async fn sync_and_record(
    db: &DatabaseConnection,
    engine: &dyn SearchEngine,
    shared: &Shared,
) -> Result<usize, AppError> {
    let version = shared.read_cache.stats().version;
    let applied = sync_once(db, engine).await?;
    shared.synced.send_if_modified(|v| {
        let newer = version > *v;
        *v = (*v).max(version);
        newer
    });
    Ok(applied)
}

async fn follow(
    db: DatabaseConnection,
    engine: Weak<dyn SearchEngine>,
    shared: Weak<Shared>,
    mut changes: tokio::sync::broadcast::Receiver<crate::cache::Change>,
) {
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};
    loop {
        let Some(wake) = shared.upgrade() else { return };
        tokio::select! {
            change = changes.recv() => if let Err(RecvError::Closed) = change { return },
            _ = wake.wake.notified() => {}
            _ = tokio::time::sleep(SAFETY_SYNC) => {}
        }
        drop(wake);
        // Several writes announced together make one sync.
        while !matches!(
            changes.try_recv(),
            Err(TryRecvError::Empty | TryRecvError::Closed)
        ) {}
        let (Some(engine), Some(shared)) = (engine.upgrade(), shared.upgrade()) else {
            return;
        };
        if let Err(err) = sync_and_record(&db, engine.as_ref(), &shared).await {
            tracing::warn!(%err, "search index sync failed; retrying on the next change");
        }
    }
}

/// FNV-1a: stable across builds, unlike `DefaultHasher`.
fn fnv(hash: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *hash ^= u64::from(*b);
        *hash = hash.wrapping_mul(0x100_0000_01b3);
    }
}

fn stamp(updated_at: chrono::DateTime<chrono::Utc>) -> i64 {
    updated_at.timestamp_micros()
}

/// One pass; returns how many articles were (re)indexed or removed.
pub async fn sync_once(
    db: &DatabaseConnection,
    engine: &dyn SearchEngine,
) -> Result<usize, AppError> {
    let categories: HashMap<i64, category::Model> = category::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let tags: HashMap<i64, tag::Model> = tag::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    let mut taxonomy = 0xcbf2_9ce4_8422_2325u64;
    let mut sorted_categories: Vec<_> = categories.values().collect();
    sorted_categories.sort_by_key(|c| c.id);
    for c in sorted_categories {
        fnv(
            &mut taxonomy,
            format!("c{}\0{}\0{}\0", c.id, c.slug, c.name).as_bytes(),
        );
    }
    let mut sorted_tags: Vec<_> = tags.values().collect();
    sorted_tags.sort_by_key(|t| t.id);
    for t in &sorted_tags {
        fnv(
            &mut taxonomy,
            format!("t{}\0{}\0{}\0", t.id, t.slug, t.name).as_bytes(),
        );
    }
    let tag_list: Vec<(String, String)> = sorted_tags
        .iter()
        .map(|t| (t.slug.clone(), t.name.clone()))
        .collect();

    let published: Vec<(i64, chrono::DateTime<chrono::Utc>)> = article::Entity::find_published()
        .select_only()
        .column(article::Column::Id)
        .column(article::Column::UpdatedAt)
        .into_tuple()
        .all(db)
        .await?;
    let indexed = engine.indexed().await?;
    let rebuild = indexed.taxonomy != Some(taxonomy);
    let live: HashSet<i64> = published.iter().map(|(id, _)| *id).collect();
    let mut upserts: Vec<i64> = published
        .iter()
        .filter(|(id, at)| rebuild || indexed.stamps.get(id) != Some(&stamp(*at)))
        .map(|(id, _)| *id)
        .collect();
    upserts.sort_unstable();
    let deletes: Vec<i64> = indexed
        .stamps
        .keys()
        .filter(|id| !live.contains(id))
        .copied()
        .collect();
    let applied = upserts.len() + deletes.len();

    let batches: Vec<&[i64]> = if upserts.is_empty() {
        vec![&[]]
    } else {
        upserts.chunks(BATCH).collect()
    };
    let last = batches.len() - 1;
    for (i, ids) in batches.into_iter().enumerate() {
        let docs = load_docs(db, ids, &categories, &tags).await?;
        engine
            .apply(IndexChanges {
                upserts: docs,
                deletes: if i == 0 { deletes.clone() } else { Vec::new() },
                // Only the last batch records the fingerprint: a sync cut short redoes all.
                taxonomy: if i == last {
                    Some(taxonomy)
                } else {
                    indexed.taxonomy
                },
                tags: tag_list.clone(),
            })
            .await?;
    }
    // A rebuild leaves a part per batch, and every search pays per part.
    if applied > BATCH
        && let Err(err) = engine.compact().await
    {
        tracing::warn!(error = %err, "search index not compacted");
    }
    Ok(applied)
}

async fn load_docs(
    db: &DatabaseConnection,
    ids: &[i64],
    categories: &HashMap<i64, category::Model>,
    tags: &HashMap<i64, tag::Model>,
) -> Result<Vec<SearchDoc>, AppError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = article::Entity::find_published()
        .filter(article::Column::Id.is_in(ids.to_vec()))
        .all(db)
        .await?;
    let mut tags_of: HashMap<i64, Vec<&tag::Model>> = HashMap::new();
    for link in article_tag::Entity::find()
        .filter(article_tag::Column::ArticleId.is_in(ids.to_vec()))
        .all(db)
        .await?
    {
        if let Some(t) = tags.get(&link.tag_id) {
            tags_of.entry(link.article_id).or_default().push(t);
        }
    }
    Ok(rows
        .into_iter()
        .map(|a| {
            let category = a.category_id.and_then(|c| categories.get(&c));
            let article_tags = tags_of.remove(&a.id).unwrap_or_default();
            SearchDoc {
                id: a.id,
                stamp: stamp(a.updated_at),
                tags: article_tags.iter().map(|t| t.name.clone()).collect(),
                tag_slugs: article_tags.iter().map(|t| t.slug.clone()).collect(),
                category: category.map(|c| c.name.clone()),
                category_slug: category.map(|c| c.slug.clone()),
                featured: a.featured,
                published_at: a.published_at.unwrap_or(a.created_at).timestamp(),
                title: a.title,
                summary: a.summary,
                body: a.content,
                source_name: a.source_name,
            }
        })
        .collect())
}
