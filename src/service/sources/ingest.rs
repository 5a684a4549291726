//! One fetch of a source, and the cycle of the `ingest_sources` job. A source is claimed
//! in SQL (a lease on its row) so that one instance fetches it at a time; its items are
//! imported each in its own transaction, and the unique indexes on `articles.source_url`
//! and `source_items.source_url` make a second import of the same item fail rather than
//! duplicate (two instances, two sources carrying one article, a retried run).

use chrono::{DateTime, Duration, Utc};
use entity::{
    article::{self, ArticleStatus},
    article_tag, source, source_item,
};
use rand::Rng;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, prelude::Expr,
};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use url::Url;

use super::{
    canonical::canonical,
    content, decode,
    fetch::{FetchError, Fetched, Fetcher, Freshness, Validators},
    parse::{self, Item},
    tag_ids_of,
};
use crate::{
    db,
    error::{AppError, AppResult},
    service::{
        article_admin::{
            AUTHOR_MAX, CONTENT_MAX, COPYRIGHT_NOTICE_MAX, SOURCE_URL_INDEX, SUMMARY_MAX,
            TITLE_MAX, default_copyright_notice,
        },
        audit::{self, Actor, Entry},
    },
    state::AppState,
    time,
    unique::UniqueIndex,
};

/// Failures back off up to this, and a server's max-age or Retry-After never parks a
/// source for longer: it is always tried again within a day.
const MAX_DELAY: Duration = Duration::hours(24);
/// How long a claim on a source lasts if its instance dies mid-fetch.
const LEASE: Duration = Duration::minutes(10);
/// A host busy with another source's request: try again soon, not a failure.
const BUSY_DELAY: Duration = Duration::seconds(30);

const ITEMS_SOURCE_URL: UniqueIndex = UniqueIndex {
    name: "ux_source_items_url",
    table: "source_items",
    columns: &["source_url"],
};

/// What one fetch of one source did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FetchOutcome {
    pub source_id: i64,
    /// `not_modified` (304), `unchanged` (same body as last time: not parsed), `parsed`,
    /// `deferred` (its host was busy) or `failed`.
    pub result: &'static str,
    pub http_status: Option<u16>,
    pub imported: u64,
    pub updated: u64,
    pub skipped: u64,
    pub error: Option<String>,
}

/// One run of the job.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CycleSummary {
    pub sources: u64,
    pub not_modified: u64,
    pub unchanged: u64,
    /// Feeds parsed (a 304 or an unchanged body is not parsed).
    pub parsed: u64,
    pub deferred: u64,
    pub failed: u64,
    pub imported: u64,
    pub updated: u64,
    pub skipped: u64,
    pub errors: Vec<SourceError>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceError {
    pub source_id: i64,
    pub error: String,
}

impl CycleSummary {
    fn add(&mut self, o: &FetchOutcome) {
        self.sources += 1;
        match o.result {
            "not_modified" => self.not_modified += 1,
            "unchanged" => self.unchanged += 1,
            "parsed" => self.parsed += 1,
            "deferred" => self.deferred += 1,
            _ => self.failed += 1,
        }
        self.imported += o.imported;
        self.updated += o.updated;
        self.skipped += o.skipped;
        if let Some(error) = &o.error {
            self.errors.push(SourceError {
                source_id: o.source_id,
                error: error.clone(),
            });
        }
    }
}

fn fetcher(state: &AppState) -> AppResult<Fetcher> {
    Fetcher::new(&state.settings.ingest, state.cache.clone())
        .map_err(|e| AppError::Internal(anyhow::anyhow!("ingest client: {e}")))
}

/// Fetches every enabled source that is due at `now` (at most `max_sources`, the longest
/// waiting first) and that no other instance holds.
pub async fn run_due(
    state: &AppState,
    now: DateTime<Utc>,
    max_sources: u64,
) -> AppResult<CycleSummary> {
    let due: Vec<i64> = source::Entity::find()
        .select_only()
        .column(source::Column::Id)
        .filter(source::Column::Enabled.eq(true))
        .filter(source::Column::NextCheckAt.lte(now))
        .filter(free_at(now))
        .order_by_asc(source::Column::NextCheckAt)
        .limit(max_sources)
        .into_tuple()
        .all(&state.db)
        .await?;
    let mut summary = CycleSummary::default();
    if due.is_empty() {
        return Ok(summary);
    }
    let fetcher = fetcher(state)?;
    for id in due {
        let Some(source) = claim(&state.db, id, now, true).await? else {
            continue;
        };
        let outcome = fetch_source(state, &fetcher, source, now).await?;
        summary.add(&outcome);
    }
    Ok(summary)
}

/// "Fetch now": this source at once, due or not, enabled or not. None when another
/// instance is fetching it.
pub async fn fetch_one(state: &AppState, id: i64) -> AppResult<Option<FetchOutcome>> {
    let now = time::now();
    let Some(source) = claim(&state.db, id, now, false).await? else {
        return Ok(None);
    };
    let fetcher = fetcher(state)?;
    Ok(Some(fetch_source(state, &fetcher, source, now).await?))
}

fn free_at(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(source::Column::LeaseUntil.is_null())
        .add(source::Column::LeaseUntil.lt(now))
}

/// Takes the lease on a source; None when another instance holds it (or, for a scheduled
/// fetch, when it is no longer due or enabled).
async fn claim(
    db: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
    scheduled: bool,
) -> AppResult<Option<source::Model>> {
    let mut update = source::Entity::update_many()
        .col_expr(source::Column::LeaseUntil, Expr::value(now + LEASE))
        .filter(source::Column::Id.eq(id))
        .filter(free_at(now));
    if scheduled {
        update = update
            .filter(source::Column::Enabled.eq(true))
            .filter(source::Column::NextCheckAt.lte(now));
    }
    if update.exec(db).await?.rows_affected != 1 {
        return Ok(None);
    }
    Ok(source::Entity::find_by_id(id).one(db).await?)
}

fn delay_secs(secs: u64) -> Duration {
    Duration::seconds(secs.min(MAX_DELAY.num_seconds() as u64) as i64)
}

/// When to look again after a success: the source's own minimum, or longer if the server
/// said its answer stays fresh longer (but never over a day).
fn next_after_success(
    source: &source::Model,
    freshness: Freshness,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let min = source.min_interval_secs.max(1) as u64;
    let fresh = if freshness.expires_now {
        0
    } else {
        freshness.max_age_secs.unwrap_or(0)
    };
    now + delay_secs(min.max(fresh))
}

/// After the `failures`-th failure in a row: the minimum interval doubled per failure,
/// capped at a day, minus up to a quarter at random (so sources that failed together do not
/// retry together). A Retry-After is honoured when longer.
pub fn backoff(min_interval_secs: i64, failures: i32, retry_after: Option<u64>) -> Duration {
    let base = min_interval_secs.max(1) as f64;
    let exp = 2f64.powi((failures - 1).clamp(0, 30));
    let capped = (base * exp).min(MAX_DELAY.num_seconds() as f64);
    let jittered = capped * rand::rng().random_range(0.75..=1.0);
    let backoff = Duration::seconds(jittered.max(1.0) as i64);
    match retry_after {
        Some(secs) => backoff.max(delay_secs(secs)),
        None => backoff,
    }
}

async fn fetch_source(
    state: &AppState,
    fetcher: &Fetcher,
    source: source::Model,
    now: DateTime<Utc>,
) -> AppResult<FetchOutcome> {
    let mut outcome = FetchOutcome {
        source_id: source.id,
        ..Default::default()
    };
    let validators = Validators {
        etag: source.etag.clone(),
        last_modified: source.last_modified.clone(),
    };
    let mut model: source::ActiveModel = source.clone().into();
    model.lease_until = Set(None);
    model.updated_at = Set(time::now());
    match fetcher.get(&source.feed_url, &validators).await {
        Ok(Fetched::NotModified {
            validators: fresh,
            freshness,
        }) => {
            outcome.result = "not_modified";
            outcome.http_status = Some(304);
            // Some servers send new validators with a 304: later requests must use them.
            if fresh.etag.is_some() && fresh.etag != source.etag {
                model.etag = Set(fresh.etag);
            }
            if fresh.last_modified.is_some() && fresh.last_modified != source.last_modified {
                model.last_modified = Set(fresh.last_modified);
            }
            succeeded(&mut model, &source, 304, freshness, now);
        }
        Ok(Fetched::Body {
            final_url,
            status,
            content_type,
            body,
            validators: fresh,
            freshness,
        }) => {
            outcome.http_status = Some(status);
            let hash = sha256_hex(&[&body]);
            if source.body_hash.as_deref() == Some(hash.as_str()) {
                // The same bytes as last time (a server without validators): nothing to parse.
                outcome.result = "unchanged";
                succeeded(&mut model, &source, status, freshness, now);
            } else {
                let (text, _) = decode::decode(&body, content_type.as_deref());
                match parse::parse(&text, &final_url) {
                    Ok(items) => {
                        outcome.result = "parsed";
                        // Within one feed the first of several items sharing a URL or a
                        // GUID wins; the others would flap its draft between them.
                        let mut seen = std::collections::HashSet::new();
                        for item in items {
                            let url = item
                                .link
                                .as_deref()
                                .and_then(|l| canonical(l, Some(&final_url)));
                            let repeated = [url, item.guid.clone().map(|g| format!("guid:{g}"))]
                                .into_iter()
                                .flatten()
                                // Every key is recorded, so no short-circuit here.
                                .map(|key| !seen.insert(key))
                                .collect::<Vec<bool>>()
                                .contains(&true);
                            if repeated {
                                outcome.skipped += 1;
                                continue;
                            }
                            match import_item(state, fetcher, &source, &final_url, item).await? {
                                Imported::New => outcome.imported += 1,
                                Imported::Updated => outcome.updated += 1,
                                Imported::Skipped => outcome.skipped += 1,
                            }
                        }
                        // Validators change only with the feed; `Expires: 0` says the
                        // answer may not be reused, so its validators are not kept.
                        let keep = !freshness.expires_now;
                        model.etag = Set(fresh.etag.filter(|_| keep));
                        model.last_modified = Set(fresh.last_modified.filter(|_| keep));
                        model.body_hash = Set(Some(hash));
                        model.items_imported = Set(source.items_imported + outcome.imported as i64);
                        succeeded(&mut model, &source, status, freshness, now);
                    }
                    Err(error) => {
                        outcome.result = "failed";
                        failed(&mut model, &source, Some(status), &error, None, now);
                        outcome.error = Some(error);
                    }
                }
            }
        }
        Err(FetchError::HostBusy(host)) => {
            outcome.result = "deferred";
            model.next_check_at = Set(now + BUSY_DELAY);
            tracing::debug!(source = source.id, host, "ingest: host busy, deferred");
        }
        Err(err) => {
            outcome.result = "failed";
            outcome.http_status = err.http_status();
            let retry_after = match &err {
                FetchError::Status { freshness, .. } => freshness.retry_after_secs,
                _ => None,
            };
            let error = err.to_string();
            let error = match retry_after {
                Some(secs) => format!("{error} (Retry-After: {secs} s)"),
                None => error,
            };
            failed(
                &mut model,
                &source,
                err.http_status(),
                &error,
                retry_after,
                now,
            );
            outcome.error = Some(error);
        }
    }
    model.update(&state.db).await?;
    Ok(outcome)
}

fn succeeded(
    model: &mut source::ActiveModel,
    source: &source::Model,
    status: u16,
    freshness: Freshness,
    now: DateTime<Utc>,
) {
    model.last_fetch_at = Set(Some(now));
    model.last_http_status = Set(Some(status as i32));
    model.last_error = Set(None);
    model.consecutive_failures = Set(0);
    model.next_check_at = Set(next_after_success(source, freshness, now));
}

fn failed(
    model: &mut source::ActiveModel,
    source: &source::Model,
    status: Option<u16>,
    error: &str,
    retry_after: Option<u64>,
    now: DateTime<Utc>,
) {
    let failures = source.consecutive_failures.saturating_add(1);
    model.last_fetch_at = Set(Some(now));
    model.last_http_status = Set(status.map(i32::from));
    model.last_error = Set(Some(content::cut(error, 1000)));
    model.consecutive_failures = Set(failures);
    model.next_check_at = Set(now + backoff(source.min_interval_secs, failures, retry_after));
}

pub fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

enum Imported {
    New,
    Updated,
    Skipped,
}

/// What an item becomes as an article.
struct Draft {
    source_url: String,
    title: String,
    summary: String,
    content: String,
    author: String,
}

/// The item's fields in the article's form; None when it has no usable link.
fn draft_of(source: &source::Model, item: &Item, base: &Url, page: Option<&str>) -> Option<Draft> {
    let source_url = canonical(item.link.as_deref()?, Some(base))?;
    let link = Url::parse(&source_url).ok()?;
    let body_html = page
        .or(item.content_html.as_deref())
        .or(item.summary_html.as_deref())
        .unwrap_or_default();
    let clean = content::sanitize(body_html, &link);
    let mut markdown = content::cut(&content::to_markdown(&clean), CONTENT_MAX);
    let summary_source = item.summary_html.as_deref().unwrap_or(body_html);
    let summary = content::cut(&content::plain_text(summary_source), SUMMARY_MAX);
    let mut title = content::cut(&content::plain_text(&item.title), TITLE_MAX);
    if title.is_empty() {
        title = content::cut(&summary, TITLE_MAX.min(60));
    }
    if title.is_empty() {
        title = content::cut(&source_url, TITLE_MAX);
    }
    if markdown.is_empty() {
        markdown = format!("[原文链接]({source_url})");
    }
    let author = item
        .author
        .as_deref()
        .map(|a| content::cut(&person_name(a), AUTHOR_MAX))
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| content::cut(&source.name, AUTHOR_MAX));
    Some(Draft {
        source_url,
        title,
        summary,
        content: markdown,
        author,
    })
}

/// RSS writes authors as `email (Name)`: the name.
fn person_name(raw: &str) -> String {
    let raw = raw.trim();
    match raw.rsplit_once('(') {
        Some((_, rest)) if rest.ends_with(')') => rest.trim_end_matches(')').trim().to_string(),
        _ => raw.to_string(),
    }
}

/// The source's notice template with `{source_name}`, `{source_url}`, `{title}` and
/// `{author}` filled in; the standard notice without a template.
pub fn notice(source: &source::Model, draft_title: &str, author: &str, url: &str) -> String {
    let text = match source.notice_template.as_deref() {
        Some(t) if !t.trim().is_empty() => t
            .replace("{source_name}", &source.name)
            .replace("{source_url}", url)
            .replace("{title}", draft_title)
            .replace("{author}", author),
        _ => default_copyright_notice(&source.name, url),
    };
    content::cut(&text, COPYRIGHT_NOTICE_MAX)
}

async fn known_item(
    db: &impl ConnectionTrait,
    source_id: i64,
    url: Option<&str>,
    guid: Option<&str>,
) -> AppResult<Option<source_item::Model>> {
    if let Some(url) = url
        && let Some(found) = source_item::Entity::find()
            .filter(source_item::Column::SourceUrl.eq(url))
            .one(db)
            .await?
    {
        return Ok(Some(found));
    }
    if let Some(guid) = guid {
        return Ok(source_item::Entity::find()
            .filter(source_item::Column::SourceId.eq(source_id))
            .filter(source_item::Column::Guid.eq(guid))
            .one(db)
            .await?);
    }
    Ok(None)
}

async fn import_item(
    state: &AppState,
    fetcher: &Fetcher,
    source: &source::Model,
    base: &Url,
    item: Item,
) -> AppResult<Imported> {
    let Some(feed_url) = item.link.as_deref().and_then(|l| canonical(l, Some(base))) else {
        return Ok(Imported::Skipped);
    };
    let content_hash = sha256_hex(&[
        item.title.as_bytes(),
        item.summary_html.as_deref().unwrap_or_default().as_bytes(),
        item.content_html.as_deref().unwrap_or_default().as_bytes(),
    ]);
    let db = &state.db;
    if let Some(known) = known_item(db, source.id, Some(&feed_url), item.guid.as_deref()).await? {
        if known.content_hash == content_hash {
            return Ok(Imported::Skipped);
        }
        return update_known(state, source, base, &item, known, content_hash).await;
    }
    // A new item. With full pages on, the page gives the content and maybe a canonical URL.
    let mut page_html = None;
    let mut item = item;
    if source.full_page
        && let Some(page) = full_page(fetcher, &feed_url).await
    {
        if let Some(url) = page
            .canonical
            .as_deref()
            .and_then(|c| canonical(c, Some(&page.url)))
        {
            if known_item(db, source.id, Some(&url), None).await?.is_some() {
                return Ok(Imported::Skipped);
            }
            item.link = Some(url);
        }
        page_html = page.content_html;
    }
    let Some(draft) = draft_of(source, &item, base, page_html.as_deref()) else {
        return Ok(Imported::Skipped);
    };
    insert_new(state, source, &item, draft, content_hash).await
}

struct FullPage {
    url: Url,
    canonical: Option<String>,
    content_html: Option<String>,
}

/// The item's page through the same guarded fetcher; None when it cannot be had (the
/// feed's own content is used then).
async fn full_page(fetcher: &Fetcher, url: &str) -> Option<FullPage> {
    match fetcher.get(url, &Validators::default()).await {
        Ok(Fetched::Body {
            final_url,
            content_type,
            body,
            ..
        }) => {
            let (html, _) = decode::decode(&body, content_type.as_deref());
            let page = content::read_page(&html, &final_url);
            Some(FullPage {
                canonical: page
                    .canonical
                    .or_else(|| Some(final_url.as_str().to_string())),
                url: final_url,
                content_html: page.content_html,
            })
        }
        Ok(Fetched::NotModified { .. }) => None,
        Err(e) => {
            tracing::info!(url, error = %e, "ingest: full page not fetched");
            None
        }
    }
}

async fn insert_new(
    state: &AppState,
    source: &source::Model,
    item: &Item,
    draft: Draft,
    content_hash: String,
) -> AppResult<Imported> {
    let db = &state.db;
    // An article an editor already carries (or another source imported) is not imported
    // again; the unique index decides when two imports race.
    if article::Entity::find()
        .filter(article::Column::SourceUrl.eq(&draft.source_url))
        .one(db)
        .await?
        .is_some()
    {
        return Ok(Imported::Skipped);
    }
    let now = time::now();
    let published = source.auto_publish;
    let notice = notice(source, &draft.title, &draft.author, &draft.source_url);
    let tag_ids = tag_ids_of(source);
    let txn = db::begin_write(db).await?;
    let inserted = article::ActiveModel {
        title: Set(draft.title),
        summary: Set(draft.summary),
        content: Set(draft.content),
        cover_url: Set(None),
        author: Set(draft.author),
        source_url: Set(draft.source_url.clone()),
        source_name: Set(content::cut(
            &source.name,
            crate::service::article_admin::SOURCE_NAME_MAX,
        )),
        copyright_notice: Set(notice),
        category_id: Set(source.category_id),
        status: Set(if published {
            ArticleStatus::Published
        } else {
            ArticleStatus::Draft
        }),
        published_at: Set(published.then_some(now)),
        featured: Set(false),
        featured_at: Set(None),
        view_count: Set(0),
        like_count: Set(0),
        comment_count: Set(0),
        favorite_count: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await;
    let saved = match inserted {
        Ok(saved) => saved,
        Err(e) if SOURCE_URL_INDEX.violated_by(&e) => {
            txn.rollback().await?;
            return Ok(Imported::Skipped);
        }
        Err(e) => return Err(e.into()),
    };
    // Tags deleted since the source was set up are left out.
    let existing_tags: Vec<i64> = entity::tag::Entity::find()
        .select_only()
        .column(entity::tag::Column::Id)
        .filter(entity::tag::Column::Id.is_in(tag_ids))
        .into_tuple()
        .all(&txn)
        .await?;
    if !existing_tags.is_empty() {
        article_tag::Entity::insert_many(existing_tags.iter().map(|&tag_id| {
            article_tag::ActiveModel {
                article_id: Set(saved.id),
                tag_id: Set(tag_id),
            }
        }))
        .exec(&txn)
        .await?;
    }
    let recorded = source_item::ActiveModel {
        source_id: Set(source.id),
        guid: Set(item.guid.as_deref().map(|g| content::cut(g, 1000))),
        source_url: Set(draft.source_url.clone()),
        article_id: Set(Some(saved.id)),
        content_hash: Set(content_hash),
        article_updated_at: Set(Some(saved.updated_at)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await;
    match recorded {
        Ok(_) => {}
        Err(e) if ITEMS_SOURCE_URL.violated_by(&e) => {
            txn.rollback().await?;
            return Ok(Imported::Skipped);
        }
        Err(e) => return Err(e.into()),
    }
    let entry = Entry::new("article.import", "article", saved.id).after(json!({
        "source_id": source.id,
        "source_url": saved.source_url,
        "title": saved.title,
        "status": saved.status,
    }));
    audit::record(&txn, &Actor::system("ingest"), entry).await?;
    if published {
        crate::service::sync::record(&txn, &[saved.id]).await?;
    }
    txn.commit().await?;
    if published {
        state.read_cache.invalidate().await;
    }
    Ok(Imported::New)
}

/// An item seen before whose title or content changed: its article follows, unless an
/// editor changed the article since the import (their edit wins) or deleted it.
async fn update_known(
    state: &AppState,
    source: &source::Model,
    base: &Url,
    item: &Item,
    known: source_item::Model,
    content_hash: String,
) -> AppResult<Imported> {
    let txn = db::begin_write(&state.db).await?;
    let article = match known.article_id {
        Some(id) => article::Entity::find_by_id(id).one(&txn).await?,
        None => None,
    };
    let untouched = article
        .as_ref()
        .is_some_and(|a| Some(a.updated_at) == known.article_updated_at);
    let mut result = Imported::Skipped;
    let mut item_model: source_item::ActiveModel = known.clone().into();
    item_model.content_hash = Set(content_hash);
    item_model.updated_at = Set(time::now());
    let mut published = false;
    if let (true, Some(article)) = (untouched, article) {
        // The article keeps its URL (the key); the rest follows the feed.
        let mut item = item.clone();
        item.link = Some(known.source_url.clone());
        if let Some(draft) = draft_of(source, &item, base, None) {
            published = article.is_published();
            let mut model: article::ActiveModel = article.into();
            model.title = Set(draft.title);
            model.summary = Set(draft.summary);
            model.content = Set(draft.content);
            model.author = Set(draft.author);
            let now = time::now();
            model.updated_at = Set(now);
            let saved = model.update(&txn).await?;
            item_model.article_updated_at = Set(Some(saved.updated_at));
            result = Imported::Updated;
            if published {
                crate::service::sync::record(&txn, &[saved.id]).await?;
            }
        }
    }
    item_model.update(&txn).await?;
    txn.commit().await?;
    if published {
        state.read_cache.invalidate().await;
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_stops_at_a_day() {
        for failures in 1..=40 {
            let d = backoff(600, failures, None);
            let full = (600f64 * 2f64.powi(failures - 1)).min(86_400.0);
            assert!(d.num_seconds() as f64 <= full, "{failures}: {d}");
            assert!(
                d.num_seconds() as f64 >= full * 0.75 - 1.0,
                "{failures}: {d}"
            );
            assert!(d <= MAX_DELAY);
        }
        assert!(backoff(60, 1, Some(3600)).num_seconds() >= 3600);
        assert!(backoff(60, 1, Some(10_000_000)) <= MAX_DELAY);
    }
}
