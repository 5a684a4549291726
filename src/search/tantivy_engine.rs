//! The embedded engine: a tantivy index on disk, one per instance.
//!
//! Ranking is BM25 per field, summed with field weights (title ≫ summary > tags > category,
//! source > body), times a small boost for featured and recent articles. Terms combine with
//! AND; when that finds nothing, with OR at half the score. The last term also matches as a
//! prefix (the reader may still be typing it), scored below an exact match.
//!
//! The index holds one writer for its lifetime, so a second process on the same directory
//! fails at start with a clear message instead of corrupting it. When the directory
//! disappears under a running instance, the next sync opens a fresh index and refills it.

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, RwLock},
};

use anyhow::{Context, anyhow};
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, Score, TantivyDocument, Term,
    directory::MmapDirectory,
    indexer::IndexWriterOptions,
    query::{BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query, QueryClone, TermQuery},
    schema::{
        FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
        TextOptions, Value,
    },
};

use super::{
    Hit, Hits, IndexChanges, Indexed, MatchedField, SearchDoc, SearchEngine, SearchQuery,
    Suggestion, analysis,
    highlight::{self, Matcher},
    postings,
    prefix::PrefixQuery,
    ranking,
};
use crate::error::AppError;

/// Bump when the schema changes: an index of another version is rebuilt at start.
const SCHEMA_VERSION: u32 = 1;
/// Characters of the snippet fragment.
const SNIPPET_CHARS: usize = 120;
/// The score multiplier of the OR fallback.
const RELAXED_BOOST: Score = 0.5;

/// BM25 weight of an exact term per field.
const TITLE_WEIGHT: Score = 8.0;
const SUMMARY_WEIGHT: Score = 3.0;
const TAGS_WEIGHT: Score = 2.5;
const CATEGORY_WEIGHT: Score = 1.5;
const SOURCE_WEIGHT: Score = 1.5;
const BODY_WEIGHT: Score = 1.0;

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    stamp: Field,
    featured: Field,
    published: Field,
    title: Field,
    summary: Field,
    body: Field,
    tags: Field,
    tag_slugs: Field,
    category: Field,
    category_slug: Field,
    source: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(analysis::TOKENIZER_NAME)
                .set_index_option(IndexRecordOption::WithFreqs),
        )
        .set_stored();
    let fields = Fields {
        id: b.add_i64_field("id", INDEXED | FAST | STORED),
        stamp: b.add_i64_field("stamp", FAST),
        featured: b.add_u64_field("featured", FAST),
        published: b.add_i64_field("published", FAST),
        title: b.add_text_field("title", text.clone()),
        summary: b.add_text_field("summary", text.clone()),
        body: b.add_text_field("body", text.clone()),
        tags: b.add_text_field("tags", text.clone()),
        tag_slugs: b.add_text_field("tag_slugs", STRING),
        category: b.add_text_field("category", text.clone()),
        category_slug: b.add_text_field("category_slug", STRING),
        source: b.add_text_field("source", text),
    };
    (b.build(), fields)
}

/// What the index records about itself in its commit payload.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Payload {
    schema: u32,
    analysis: u32,
    taxonomy: Option<u64>,
}

struct Opened {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
}

struct Inner {
    dir: PathBuf,
    writer_heap: usize,
    fields: Fields,
    opened: RwLock<Arc<Opened>>,
    /// (folded name, slug, name) of every tag, for suggestions.
    tags: RwLock<Vec<(String, String, String)>>,
}

#[derive(Clone)]
pub struct TantivyEngine {
    inner: Arc<Inner>,
}

fn internal(context: &'static str) -> impl FnOnce(tantivy::TantivyError) -> AppError {
    move |err| AppError::Internal(anyhow::Error::new(err).context(context))
}

impl TantivyEngine {
    /// Opens the index in `dir`, creating it (or starting over, when it was built by another
    /// schema or analysis version).
    pub fn open(dir: &Path, writer_heap: usize) -> anyhow::Result<Self> {
        let (_, fields) = schema();
        let opened = open_index(dir, writer_heap)?;
        Ok(Self {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                writer_heap,
                fields,
                opened: RwLock::new(Arc::new(opened)),
                tags: RwLock::default(),
            }),
        })
    }
}

fn open_index(dir: &Path, writer_heap: usize) -> anyhow::Result<Opened> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the search index directory {}", dir.display()))?;
    let (schema, _) = schema();
    let directory = MmapDirectory::open(dir)
        .with_context(|| format!("cannot open the search index in {}", dir.display()))?;
    let mut index = Index::open_or_create(directory, schema.clone());
    let current = |index: &Index| -> bool {
        index
            .load_metas()
            .ok()
            .and_then(|m| m.payload)
            .and_then(|p| serde_json::from_str::<Payload>(&p).ok())
            .is_none_or(|p| p.schema == SCHEMA_VERSION && p.analysis == analysis::ANALYSIS_VERSION)
    };
    if !index.as_ref().is_ok_and(current) {
        tracing::info!(dir = %dir.display(), "search index outdated or unreadable: rebuilding it");
        drop(index);
        std::fs::remove_dir_all(dir).ok();
        std::fs::create_dir_all(dir)?;
        index = Index::create_in_dir(dir, schema);
    }
    let index = index.context("cannot open the search index")?;
    index
        .tokenizers()
        .register(analysis::TOKENIZER_NAME, analysis::analyzer());
    let options = IndexWriterOptions::builder()
        .memory_budget_per_thread(writer_heap)
        .num_worker_threads(1)
        .num_merge_threads(1)
        .build();
    let writer = index.writer_with_options(options).map_err(|err| {
        anyhow!(
            "cannot lock the search index in {} ({err}); each instance needs its own \
             search.index_dir",
            dir.display()
        )
    })?;
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()
        .context("cannot read the search index")?;
    Ok(Opened {
        index,
        reader,
        writer: Mutex::new(writer),
    })
}

impl Inner {
    fn opened(&self) -> Arc<Opened> {
        self.opened
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The index directory was deleted under us: start a fresh index there.
    fn reopen_if_gone(&self) -> Result<(), AppError> {
        if self.dir.join("meta.json").exists() {
            return Ok(());
        }
        tracing::warn!(dir = %self.dir.display(), "search index directory gone: rebuilding");
        // The old writer's lock file went with the directory, so a new writer can start.
        let fresh = open_index(&self.dir, self.writer_heap).map_err(AppError::Internal)?;
        *self.opened.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
        Ok(())
    }

    fn indexed(&self) -> Result<Indexed, AppError> {
        self.reopen_if_gone()?;
        let opened = self.opened();
        let searcher = opened.reader.searcher();
        let mut stamps = HashMap::new();
        for segment in searcher.segment_readers() {
            let fast = segment.fast_fields();
            let ids = fast
                .i64("id")
                .map_err(internal("ids"))?
                .first_or_default_col(0);
            let st = fast
                .i64("stamp")
                .map_err(internal("stamps"))?
                .first_or_default_col(0);
            for doc in segment.doc_ids_alive() {
                stamps.insert(ids.get_val(doc), st.get_val(doc));
            }
        }
        let taxonomy = opened
            .index
            .load_metas()
            .ok()
            .and_then(|m| m.payload)
            .and_then(|p| serde_json::from_str::<Payload>(&p).ok())
            .and_then(|p| p.taxonomy);
        Ok(Indexed { stamps, taxonomy })
    }

    fn apply(&self, changes: IndexChanges) -> Result<(), AppError> {
        self.set_tags(changes.tags);
        if changes.upserts.is_empty()
            && changes.deletes.is_empty()
            && self.indexed_taxonomy() == changes.taxonomy
        {
            return Ok(());
        }
        let opened = self.opened();
        let f = self.fields;
        let mut writer = opened.writer.lock().unwrap_or_else(|e| e.into_inner());
        for id in &changes.deletes {
            writer.delete_term(Term::from_field_i64(f.id, *id));
        }
        for doc in changes.upserts {
            writer.delete_term(Term::from_field_i64(f.id, doc.id));
            writer
                .add_document(self.document(doc))
                .map_err(internal("index an article"))?;
        }
        let payload = serde_json::to_string(&Payload {
            schema: SCHEMA_VERSION,
            analysis: analysis::ANALYSIS_VERSION,
            taxonomy: changes.taxonomy,
        })
        .map_err(|e| AppError::Internal(e.into()))?;
        let mut commit = writer.prepare_commit().map_err(internal("commit"))?;
        commit.set_payload(&payload);
        commit.commit().map_err(internal("commit"))?;
        opened.reader.reload().map_err(internal("reload"))?;
        Ok(())
    }

    fn compact(&self) -> Result<(), AppError> {
        let opened = self.opened();
        let parts = opened
            .index
            .searchable_segment_ids()
            .map_err(internal("list segments"))?;
        if parts.len() < 2 {
            return Ok(());
        }
        let mut writer = opened.writer.lock().unwrap_or_else(|e| e.into_inner());
        writer.merge(&parts).wait().map_err(internal("merge"))?;
        writer
            .garbage_collect_files()
            .wait()
            .map_err(internal("remove merged files"))?;
        opened.reader.reload().map_err(internal("reload"))?;
        Ok(())
    }

    fn indexed_taxonomy(&self) -> Option<u64> {
        self.opened()
            .index
            .load_metas()
            .ok()
            .and_then(|m| m.payload)
            .and_then(|p| serde_json::from_str::<Payload>(&p).ok())
            .and_then(|p| p.taxonomy)
    }

    fn set_tags(&self, tags: Vec<(String, String)>) {
        let folded = tags
            .into_iter()
            .map(|(slug, name)| (analysis::fold(&name), slug, name))
            .collect();
        *self.tags.write().unwrap_or_else(|e| e.into_inner()) = folded;
    }

    fn document(&self, d: SearchDoc) -> TantivyDocument {
        let f = self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_i64(f.id, d.id);
        doc.add_i64(f.stamp, d.stamp);
        doc.add_u64(f.featured, u64::from(d.featured));
        doc.add_i64(f.published, d.published_at);
        doc.add_text(f.title, &d.title);
        doc.add_text(f.summary, &d.summary);
        doc.add_text(f.body, &d.body);
        for tag in &d.tags {
            doc.add_text(f.tags, tag);
        }
        for slug in &d.tag_slugs {
            doc.add_text(f.tag_slugs, slug);
        }
        if let Some(c) = &d.category {
            doc.add_text(f.category, c);
        }
        if let Some(c) = &d.category_slug {
            doc.add_text(f.category_slug, c);
        }
        doc.add_text(f.source, &d.source_name);
        doc
    }

    fn search(&self, q: SearchQuery) -> Result<Hits, AppError> {
        let f = self.fields;
        let Some(terms) = QueryTerms::parse(&q.text) else {
            return Ok(Hits::default());
        };
        let mut filters: Vec<Box<dyn Query>> = Vec::new();
        if let Some(slug) = &q.category_slug {
            filters.push(filter(f.category_slug, slug));
        }
        if let Some(slug) = &q.tag_slug {
            filters.push(filter(f.tag_slugs, slug));
        }
        let all_fields = [
            (f.title, TITLE_WEIGHT),
            (f.summary, SUMMARY_WEIGHT),
            (f.tags, TAGS_WEIGHT),
            (f.category, CATEGORY_WEIGHT),
            (f.source, SOURCE_WEIGHT),
            (f.body, BODY_WEIGHT),
        ];
        let prefix_fields = [
            (f.title, TITLE_WEIGHT / 4.0),
            (f.summary, SUMMARY_WEIGHT / 4.0),
            (f.tags, TAGS_WEIGHT / 4.0),
            (f.body, BODY_WEIGHT / 4.0),
        ];
        let clauses = terms.clauses(&all_fields, &prefix_fields);

        let opened = self.opened();
        let searcher = opened.reader.searcher();
        let collector = ranking::CountAndTop {
            offset: q.offset,
            limit: q.limit,
            boost: ranking::Boost {
                now: crate::time::now().timestamp(),
            },
        };
        let copy = |qs: &[Box<dyn Query>]| qs.iter().map(|q| q.box_clone()).collect::<Vec<_>>();
        let strict = all_of(copy(&clauses), copy(&filters));
        let (mut total, mut top) = searcher
            .search(&strict, &collector)
            .map_err(internal("search"))?;
        let mut relaxed = false;
        if total == 0 && clauses.len() > 1 {
            let any: Box<dyn Query> = Box::new(BooleanQuery::new(
                clauses.into_iter().map(|c| (Occur::Should, c)).collect(),
            ));
            let loose = BoostQuery::new(Box::new(all_of(vec![any], filters)), RELAXED_BOOST);
            (total, top) = searcher
                .search(&loose, &collector)
                .map_err(internal("search"))?;
            relaxed = true;
        }
        let matcher = terms.matcher();
        let addresses: Vec<DocAddress> = top.iter().map(|(_, address)| *address).collect();
        let held = self.fields_held(&searcher, &terms, &addresses)?;
        let hits = top
            .into_iter()
            .enumerate()
            .map(|(i, (score, address))| {
                let held = held.each_ref().map(|field| field.as_ref().map(|h| h[i]));
                self.hit(&searcher, address, score, &matcher, held)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Hits {
            hits,
            total: total as u64,
            relaxed,
        })
    }

    /// Per field of `HELD_FIELDS`, whether each hit holds a term of the query there (None
    /// for a field whose prefix stood for too many words: the hit's text tells instead).
    fn fields_held(
        &self,
        searcher: &tantivy::Searcher,
        terms: &QueryTerms,
        hits: &[DocAddress],
    ) -> Result<[Option<Vec<bool>>; 6], AppError> {
        let f = self.fields;
        let mut out: [Option<Vec<bool>>; 6] = Default::default();
        for (slot, field) in out
            .iter_mut()
            .zip([f.title, f.summary, f.body, f.tags, f.category, f.source])
        {
            *slot = postings::holding(searcher, field, &terms.terms, terms.prefix.as_deref(), hits)
                .map_err(internal("match fields"))?;
        }
        Ok(out)
    }

    /// `held`: per field (title, summary, body, tags, category, source), whether the index
    /// says this hit holds a query term there, when known.
    fn hit(
        &self,
        searcher: &tantivy::Searcher,
        address: DocAddress,
        score: Score,
        matcher: &Matcher,
        held: [Option<bool>; 6],
    ) -> Result<Hit, AppError> {
        let f = self.fields;
        let doc: TantivyDocument = searcher.doc(address).map_err(internal("read a hit"))?;
        let text =
            |field: Field| -> &str { doc.get_first(field).and_then(|v| v.as_str()).unwrap_or("") };
        let id = doc
            .get_first(f.id)
            .and_then(|v| v.as_i64())
            .ok_or_else(|| AppError::Internal(anyhow!("search hit without id")))?;
        let [
            title_held,
            summary_held,
            body_held,
            tags_held,
            category_held,
            source_held,
        ] = held;
        // Only a text that is shown and holds a match is tokenized for its marks.
        let ranges = |known: Option<bool>, text: &str| -> Vec<(usize, usize)> {
            if known == Some(false) {
                Vec::new()
            } else {
                matcher.ranges(text)
            }
        };
        let title = text(f.title);
        let summary = text(f.summary);
        let body = text(f.body);
        let title_ranges = ranges(title_held, title);
        let summary_ranges = ranges(summary_held, summary);
        let title_matched = title_held.unwrap_or(!title_ranges.is_empty());
        let summary_matched = summary_held.unwrap_or(!summary_ranges.is_empty());
        let body_matched = body_held.unwrap_or_else(|| matcher.any_in(body));
        let mut matched = Vec::new();
        if title_matched {
            matched.push(MatchedField::Title);
        }
        if summary_matched {
            matched.push(MatchedField::Summary);
        }
        if body_matched {
            matched.push(MatchedField::Body);
        }
        if tags_held.unwrap_or_else(|| {
            doc.get_all(f.tags)
                .filter_map(|v| v.as_str())
                .any(|t| matcher.any_in(t))
        }) {
            matched.push(MatchedField::Tags);
        }
        if category_held.unwrap_or_else(|| matcher.any_in(text(f.category))) {
            matched.push(MatchedField::Category);
        }
        if source_held.unwrap_or_else(|| matcher.any_in(text(f.source))) {
            matched.push(MatchedField::Source);
        }
        // The summary when it matched (or nothing else did), else the body's best fragment.
        let snippet_html = if !summary_matched && body_matched {
            highlight::fragment(body, &matcher.ranges(body), SNIPPET_CHARS)
        } else {
            highlight::fragment(summary, &summary_ranges, SNIPPET_CHARS)
        };
        Ok(Hit {
            id,
            score,
            title_html: highlight::mark_all(title, &title_ranges),
            snippet_html,
            matched,
        })
    }

    fn suggest(&self, prefix: &str, limit: usize) -> Result<Vec<Suggestion>, AppError> {
        let mut out = Vec::new();
        let folded = analysis::fold(prefix.trim());
        if folded.is_empty() {
            return Ok(out);
        }
        {
            let tags = self.tags.read().unwrap_or_else(|e| e.into_inner());
            for (name, slug, display) in tags.iter() {
                if out.len() >= limit / 2 {
                    break;
                }
                if name.starts_with(&folded) || slug.starts_with(&folded) {
                    out.push(Suggestion::Tag {
                        slug: slug.clone(),
                        name: display.clone(),
                    });
                }
            }
        }
        let Some(terms) = QueryTerms::parse(prefix) else {
            return Ok(out);
        };
        let f = self.fields;
        let clauses = terms.clauses(&[(f.title, 1.0)], &[(f.title, 0.5)]);
        let query = all_of(clauses, Vec::new());
        let opened = self.opened();
        let searcher = opened.reader.searcher();
        let want = limit - out.len();
        let collector = ranking::CountAndTop {
            offset: 0,
            limit: want.max(1),
            boost: ranking::Boost {
                now: crate::time::now().timestamp(),
            },
        };
        let (_, top) = searcher
            .search(&query, &collector)
            .map_err(internal("suggest"))?;
        for (_, address) in top.into_iter().take(want) {
            let doc: TantivyDocument = searcher.doc(address).map_err(internal("suggest"))?;
            let id = doc.get_first(f.id).and_then(|v| v.as_i64()).unwrap_or(0);
            let title = doc
                .get_first(f.title)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string();
            out.push(Suggestion::Title {
                article_id: id,
                title,
            });
        }
        Ok(out)
    }
}

/// A query's terms in index form, the last one maybe also a prefix.
struct QueryTerms {
    terms: Vec<String>,
    prefix: Option<String>,
}

impl QueryTerms {
    /// None when nothing searchable is left (punctuation only, say).
    fn parse(text: &str) -> Option<Self> {
        let tokens = analysis::query_tokens(text);
        let mut terms = Vec::new();
        let mut seen = HashSet::new();
        for raw in &tokens.terms {
            if let Some(term) = analysis::index_form(&raw.text)
                && seen.insert(term.clone())
            {
                terms.push(term);
            }
        }
        if terms.is_empty() {
            return None;
        }
        let prefix = tokens
            .last_is_prefix
            .then(|| tokens.terms.last())
            .flatten()
            .and_then(|raw| analysis::prefix_form(&raw.text))
            // One Latin letter would match half the dictionary.
            .filter(|p| !p.is_ascii() || p.len() >= 2);
        Some(Self { terms, prefix })
    }

    /// One clause per term: the term in any field (weighted), the last also as a prefix.
    fn clauses(
        &self,
        fields: &[(Field, Score)],
        prefix_fields: &[(Field, Score)],
    ) -> Vec<Box<dyn Query>> {
        let last = self.terms.len() - 1;
        self.terms
            .iter()
            .enumerate()
            .map(|(i, term)| {
                let mut any_field: Vec<(Occur, Box<dyn Query>)> = fields
                    .iter()
                    .map(|(field, weight)| {
                        let q = TermQuery::new(
                            Term::from_field_text(*field, term),
                            IndexRecordOption::WithFreqs,
                        );
                        (
                            Occur::Should,
                            Box::new(BoostQuery::new(Box::new(q), *weight)) as Box<dyn Query>,
                        )
                    })
                    .collect();
                if i == last
                    && let Some(prefix) = &self.prefix
                {
                    for (field, weight) in prefix_fields {
                        let q = PrefixQuery {
                            field: *field,
                            prefix: prefix.clone(),
                        };
                        any_field.push((
                            Occur::Should,
                            Box::new(BoostQuery::new(Box::new(q), *weight)),
                        ));
                    }
                }
                Box::new(BooleanQuery::new(any_field)) as Box<dyn Query>
            })
            .collect()
    }

    fn matcher(&self) -> Matcher {
        Matcher::new(self.terms.iter().cloned().collect(), self.prefix.clone())
    }
}

/// Every clause and every filter must hold.
fn all_of(clauses: Vec<Box<dyn Query>>, filters: Vec<Box<dyn Query>>) -> BooleanQuery {
    BooleanQuery::new(
        clauses
            .into_iter()
            .chain(filters)
            .map(|q| (Occur::Must, q))
            .collect(),
    )
}

/// An exact match on a keyword field, adding nothing to the score.
fn filter(field: Field, value: &str) -> Box<dyn Query> {
    Box::new(ConstScoreQuery::new(
        Box::new(TermQuery::new(
            Term::from_field_text(field, value),
            IndexRecordOption::Basic,
        )),
        0.0,
    ))
}

fn blocking<T: Send + 'static>(
    inner: Arc<Inner>,
    work: impl FnOnce(&Inner) -> Result<T, AppError> + Send + 'static,
) -> BoxFuture<'static, Result<T, AppError>> {
    Box::pin(async move {
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .map_err(|e| AppError::Internal(anyhow!("search task failed: {e}")))?
    })
}

impl SearchEngine for TantivyEngine {
    fn search(&self, query: SearchQuery) -> BoxFuture<'_, Result<Hits, AppError>> {
        blocking(self.inner.clone(), move |i| i.search(query))
    }

    fn suggest(
        &self,
        prefix: String,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Suggestion>, AppError>> {
        blocking(self.inner.clone(), move |i| i.suggest(&prefix, limit))
    }

    fn indexed(&self) -> BoxFuture<'_, Result<Indexed, AppError>> {
        blocking(self.inner.clone(), |i| i.indexed())
    }

    fn apply(&self, changes: IndexChanges) -> BoxFuture<'_, Result<(), AppError>> {
        blocking(self.inner.clone(), move |i| i.apply(changes))
    }

    fn compact(&self) -> BoxFuture<'_, Result<(), AppError>> {
        blocking(self.inner.clone(), |i| i.compact())
    }

    fn set_tags(&self, tags: Vec<(String, String)>) {
        self.inner.set_tags(tags);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: i64, title: &str) -> SearchDoc {
        SearchDoc {
            id,
            title: title.into(),
            body: format!("{title} body"),
            stamp: id,
            ..Default::default()
        }
    }

    /// Compacting leaves one part and changes no answer.
    #[test]
    fn compacting_merges_every_part_into_one_and_keeps_what_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let engine = TantivyEngine::open(dir.path(), 15_000_000).unwrap();
        let inner = &engine.inner;
        for batch in 0..4 {
            let upserts = (0..5)
                .map(|i| {
                    doc(
                        batch * 5 + i,
                        if i % 2 == 0 { "Redis 缓存" } else { "Kafka" },
                    )
                })
                .collect();
            inner
                .apply(IndexChanges {
                    upserts,
                    ..Default::default()
                })
                .unwrap();
        }
        let parts = || inner.opened().index.searchable_segment_ids().unwrap().len();
        let found = || {
            let query = SearchQuery {
                text: "redi".into(),
                limit: 20,
                ..Default::default()
            };
            let mut ids: Vec<i64> = inner
                .search(query)
                .unwrap()
                .hits
                .iter()
                .map(|h| h.id)
                .collect();
            ids.sort_unstable();
            ids
        };
        assert!(parts() > 1);
        let before = found();
        assert_eq!(before.len(), 12);
        inner.compact().unwrap();
        assert_eq!(parts(), 1);
        assert_eq!(inner.opened().reader.searcher().segment_readers().len(), 1);
        assert_eq!(found(), before);
        assert_eq!(inner.indexed().unwrap().stamps.len(), 20);
    }
}
