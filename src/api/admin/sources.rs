use poem::web::Data;
use poem_openapi::{
    Object, OpenApi, param::Path, param::Query, payload::Json, types::MaybeUndefined,
};

use super::{Created, Deleted};
use crate::{
    api::{
        error::ApiResult,
        security::AdminAuth,
        tags::ApiTags,
        types::{List, Text, Timestamp},
    },
    service::sources::{self, NewSource, SourceChanges, SourceView, ingest::FetchOutcome},
    state::AppState,
};

/// A feed to import drafts from.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct SourceCreate {
    /// Becomes the articles' `source_name`.
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub name: Text<{ crate::service::sources::NAME_MAX }>,
    /// RSS 0.9x/1.0/2.0, Atom or JSON Feed; http(s) only.
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub feed_url: Text<{ crate::service::validate::URL_MAX }>,
    #[oai(nullable)]
    pub category_id: Option<i64>,
    #[oai(default)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub tag_ids: List<i64, { crate::service::sources::MAX_SOURCE_TAGS }>,
    /// The copyright notice of imported articles; `{source_name}`, `{source_url}`,
    /// `{title}` and `{author}` are filled in. Null: the standard notice.
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub notice_template: Option<Text<{ crate::service::sources::NOTICE_TEMPLATE_MAX }>>,
    /// Fetch each item's page and extract the article (for feeds that carry summaries).
    #[oai(default)]
    pub full_page: bool,
    /// Publish imported items at once instead of leaving drafts.
    #[oai(default)]
    pub auto_publish: bool,
    #[oai(default = "default_true")]
    pub enabled: bool,
    /// Least seconds between two fetches (60..86400); `ingest.default_min_interval_secs`
    /// when omitted.
    #[oai(nullable)]
    pub min_interval_secs: Option<i64>,
}

fn default_true() -> bool {
    true
}

/// Changes to a source; omitted fields stay, `null` clears a nullable field.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct SourceUpdate {
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub name: Option<Text<{ crate::service::sources::NAME_MAX }>>,
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub feed_url: Option<Text<{ crate::service::validate::URL_MAX }>>,
    #[oai(nullable)]
    pub category_id: MaybeUndefined<i64>,
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub tag_ids: Option<List<i64, { crate::service::sources::MAX_SOURCE_TAGS }>>,
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub notice_template: MaybeUndefined<Text<{ crate::service::sources::NOTICE_TEMPLATE_MAX }>>,
    #[oai(nullable)]
    pub full_page: Option<bool>,
    #[oai(nullable)]
    pub auto_publish: Option<bool>,
    #[oai(nullable)]
    pub min_interval_secs: Option<i64>,
}

/// A source with its fetch status.
#[derive(Debug, Clone, Object)]
pub struct Source {
    pub id: i64,
    pub name: String,
    pub feed_url: String,
    #[oai(nullable)]
    pub category_id: Option<i64>,
    pub tag_ids: Vec<i64>,
    #[oai(nullable)]
    pub notice_template: Option<String>,
    pub full_page: bool,
    pub auto_publish: bool,
    pub enabled: bool,
    pub min_interval_secs: i64,
    #[oai(nullable)]
    pub last_fetch_at: Option<Timestamp>,
    /// 200, 304, 429, ...; null when the last fetch got no answer (refused, timeout).
    #[oai(nullable)]
    pub last_http_status: Option<i32>,
    /// Why the last fetch failed (e.g. `refused: 127.0.0.1 is a loopback address`); null
    /// after a success.
    #[oai(nullable)]
    pub last_error: Option<String>,
    pub consecutive_failures: i32,
    /// When the job fetches it next (failures back off, at most a day).
    pub next_check_at: Timestamp,
    pub items_imported: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<SourceView> for Source {
    fn from(s: SourceView) -> Self {
        Self {
            id: s.id,
            name: s.name,
            feed_url: s.feed_url,
            category_id: s.category_id,
            tag_ids: s.tag_ids,
            notice_template: s.notice_template,
            full_page: s.full_page,
            auto_publish: s.auto_publish,
            enabled: s.enabled,
            min_interval_secs: s.min_interval_secs,
            last_fetch_at: s.last_fetch_at.map(Into::into),
            last_http_status: s.last_http_status,
            last_error: s.last_error,
            consecutive_failures: s.consecutive_failures,
            next_check_at: s.next_check_at.into(),
            items_imported: s.items_imported,
            created_at: s.created_at.into(),
            updated_at: s.updated_at.into(),
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct SourcePage {
    pub items: Vec<Source>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// What "fetch now" did, and the source afterwards.
#[derive(Debug, Clone, Object)]
pub struct SourceFetch {
    /// `parsed`, `not_modified` (304), `unchanged` (same body: not parsed), `deferred`
    /// (its host was busy) or `failed`.
    pub result: String,
    #[oai(nullable)]
    pub http_status: Option<u16>,
    pub imported: u64,
    pub updated: u64,
    pub skipped: u64,
    #[oai(nullable)]
    pub error: Option<String>,
    pub source: Source,
}

impl SourceFetch {
    fn new(outcome: FetchOutcome, source: SourceView) -> Self {
        Self {
            result: outcome.result.into(),
            http_status: outcome.http_status,
            imported: outcome.imported,
            updated: outcome.updated,
            skipped: outcome.skipped,
            error: outcome.error,
            source: source.into(),
        }
    }
}

fn maybe<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

pub struct AdminSourcesApi;

#[OpenApi(prefix_path = "/api/admin", tag = "ApiTags::AdminSources")]
impl AdminSourcesApi {
    /// Feed sources with their fetch status, newest first
    #[oai(path = "/sources", method = "get", operation_id = "adminListSources")]
    async fn admin_list_sources(
        &self,
        _admin: AdminAuth,
        state: Data<&AppState>,
        cursor: Query<Option<String>>,
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<SourcePage>> {
        let page = sources::list(&state.db, cursor.0.as_deref(), limit.0).await?;
        let page = page.map(Source::from);
        Ok(Json(SourcePage {
            items: page.items,
            next_cursor: page.next_cursor,
        }))
    }

    /// Add a feed source (due at once)
    #[oai(path = "/sources", method = "post", operation_id = "adminCreateSource")]
    async fn admin_create_source(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        body: Json<SourceCreate>,
    ) -> ApiResult<Created<Source>> {
        let b = body.0;
        let new = NewSource {
            name: b.name.into(),
            feed_url: b.feed_url.into(),
            category_id: b.category_id,
            tag_ids: b.tag_ids.0,
            notice_template: b.notice_template.map(Into::into),
            full_page: b.full_page,
            auto_publish: b.auto_publish,
            enabled: Some(b.enabled),
            min_interval_secs: b.min_interval_secs,
        };
        let view = sources::create(&state, admin.actor(), new).await?;
        Ok(Created::Created(Json(view.into())))
    }

    /// One source with its status
    #[oai(path = "/sources/:id", method = "get", operation_id = "adminGetSource")]
    async fn admin_get_source(
        &self,
        _admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Json<Source>> {
        Ok(Json(sources::get(&state.db, id.0).await?.into()))
    }

    /// Edit a source
    #[oai(
        path = "/sources/:id",
        method = "patch",
        operation_id = "adminUpdateSource"
    )]
    async fn admin_update_source(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
        body: Json<SourceUpdate>,
    ) -> ApiResult<Json<Source>> {
        let b = body.0;
        let changes = SourceChanges {
            name: b.name.map(Into::into),
            feed_url: b.feed_url.map(Into::into),
            category_id: maybe(b.category_id),
            tag_ids: b.tag_ids.map(|t| t.0),
            notice_template: maybe(b.notice_template).map(|v| v.map(Into::into)),
            full_page: b.full_page,
            auto_publish: b.auto_publish,
            min_interval_secs: b.min_interval_secs,
        };
        Ok(Json(
            sources::update(&state, admin.actor(), id.0, changes)
                .await?
                .into(),
        ))
    }

    /// Delete a source (its articles stay)
    #[oai(
        path = "/sources/:id",
        method = "delete",
        operation_id = "adminDeleteSource"
    )]
    async fn admin_delete_source(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Deleted> {
        sources::delete(&state, admin.actor(), id.0).await?;
        Ok(Deleted::Deleted)
    }

    /// Enable a source (due at once)
    #[oai(
        path = "/sources/:id/enable",
        method = "post",
        operation_id = "adminEnableSource"
    )]
    async fn admin_enable_source(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Json<Source>> {
        Ok(Json(
            sources::set_enabled(&state, admin.actor(), id.0, true)
                .await?
                .into(),
        ))
    }

    /// Disable a source (the job skips it)
    #[oai(
        path = "/sources/:id/disable",
        method = "post",
        operation_id = "adminDisableSource"
    )]
    async fn admin_disable_source(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Json<Source>> {
        Ok(Json(
            sources::set_enabled(&state, admin.actor(), id.0, false)
                .await?
                .into(),
        ))
    }

    /// Fetch the source now and import its new items
    #[oai(
        path = "/sources/:id/fetch",
        method = "post",
        operation_id = "adminFetchSource"
    )]
    async fn admin_fetch_source(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Json<SourceFetch>> {
        let (outcome, view) = sources::fetch_now(&state, admin.actor(), id.0).await?;
        Ok(Json(SourceFetch::new(outcome, view)))
    }
}
