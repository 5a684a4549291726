use poem::web::Data;
use poem_openapi::{
    Enum, Object, OpenApi, param::Path, param::Query, payload::Json, types::MaybeUndefined,
};

use super::{Created, Deleted};
use crate::api::security::AdminAuth;
use crate::{
    api::{
        dto::{ArticleDetail, ArticlePage, ArticleStatus},
        error::ApiResult,
        tags::ApiTags,
        types::{List, Text, Timestamp},
    },
    service::article_admin::{self, ArticleChanges, NewArticle, Origin},
    state::AppState,
};

/// A new article; it starts as a draft.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ArticleCreate {
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub title: Text<{ crate::service::article_admin::TITLE_MAX }>,
    #[oai(default)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub summary: Text<{ crate::service::article_admin::SUMMARY_MAX }>,
    /// Markdown.
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub content: Text<{ crate::service::article_admin::CONTENT_MAX }>,
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub cover_url: Option<Text<{ crate::service::validate::URL_MAX }>>,
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub author: Text<{ crate::service::article_admin::AUTHOR_MAX }>,
    /// Link to the original article.
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub source_url: Text<{ crate::service::validate::URL_MAX }>,
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub source_name: Text<{ crate::service::article_admin::SOURCE_NAME_MAX }>,
    /// Generated from the source when omitted.
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub copyright_notice: Option<Text<{ crate::service::article_admin::COPYRIGHT_NOTICE_MAX }>>,
    #[oai(nullable)]
    pub category_id: Option<i64>,
    #[oai(default)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub tag_ids: List<i64, { crate::service::article_admin::MAX_TAGS }>,
}

/// Changes to an article; omitted fields stay, `null` clears a nullable field.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ArticleUpdate {
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub title: Option<Text<{ crate::service::article_admin::TITLE_MAX }>>,
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub summary: Option<Text<{ crate::service::article_admin::SUMMARY_MAX }>>,
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub content: Option<Text<{ crate::service::article_admin::CONTENT_MAX }>>,
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub cover_url: MaybeUndefined<Text<{ crate::service::validate::URL_MAX }>>,
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub author: Option<Text<{ crate::service::article_admin::AUTHOR_MAX }>>,
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub source_url: Option<Text<{ crate::service::validate::URL_MAX }>>,
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub source_name: Option<Text<{ crate::service::article_admin::SOURCE_NAME_MAX }>>,
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub copyright_notice: Option<Text<{ crate::service::article_admin::COPYRIGHT_NOTICE_MAX }>>,
    #[oai(nullable)]
    pub category_id: MaybeUndefined<i64>,
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub tag_ids: Option<List<i64, { crate::service::article_admin::MAX_TAGS }>>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ArticleSchedule {
    /// When to publish; must be in the future.
    pub publish_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ArticleOrigin {
    Source,
    Manual,
}

fn maybe<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

pub struct AdminArticlesApi;

#[OpenApi(prefix_path = "/api/admin", tag = "ApiTags::AdminArticles")]
impl AdminArticlesApi {
    /// All articles of any status, newest first
    #[oai(path = "/articles", method = "get", operation_id = "adminListArticles")]
    async fn admin_list_articles(
        &self,
        _admin: AdminAuth,
        state: Data<&AppState>,
        status: Query<Option<ArticleStatus>>,
        /// `source`: imported from a feed source; `manual`: written in by an editor.
        origin: Query<Option<ArticleOrigin>>,
        cursor: Query<Option<String>>,
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<ArticlePage>> {
        let page = article_admin::list(
            &state.db,
            status.0.map(Into::into),
            origin.0.map(|o| match o {
                ArticleOrigin::Source => Origin::Source,
                ArticleOrigin::Manual => Origin::Manual,
            }),
            cursor.0.as_deref(),
            limit.0,
        )
        .await?;
        Ok(Json(page.into()))
    }

    /// Create a draft article
    #[oai(
        path = "/articles",
        method = "post",
        operation_id = "adminCreateArticle"
    )]
    async fn admin_create_article(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        body: Json<ArticleCreate>,
    ) -> ApiResult<Created<ArticleDetail>> {
        let b = body.0;
        let view = article_admin::create(
            &state.db,
            admin.actor(),
            NewArticle {
                title: b.title.into(),
                summary: b.summary.into(),
                content: b.content.into(),
                cover_url: b.cover_url.map(Into::into),
                author: b.author.into(),
                source_url: b.source_url.into(),
                source_name: b.source_name.into(),
                copyright_notice: b.copyright_notice.map(Into::into),
                category_id: b.category_id,
                tag_ids: b.tag_ids.0,
            },
        )
        .await?;
        Ok(Created::Created(Json(view.into())))
    }

    /// Any article, whatever its status
    #[oai(
        path = "/articles/:id",
        method = "get",
        operation_id = "adminGetArticle"
    )]
    async fn admin_get_article(
        &self,
        _admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Json<ArticleDetail>> {
        Ok(Json(article_admin::get(&state.db, id.0).await?.into()))
    }

    /// Edit an article
    #[oai(
        path = "/articles/:id",
        method = "patch",
        operation_id = "adminUpdateArticle"
    )]
    async fn admin_update_article(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
        body: Json<ArticleUpdate>,
    ) -> ApiResult<Json<ArticleDetail>> {
        let b = body.0;
        let changes = ArticleChanges {
            title: b.title.map(Into::into),
            summary: b.summary.map(Into::into),
            content: b.content.map(Into::into),
            cover_url: maybe(b.cover_url).map(|v| v.map(Into::into)),
            author: b.author.map(Into::into),
            source_url: b.source_url.map(Into::into),
            source_name: b.source_name.map(Into::into),
            copyright_notice: b.copyright_notice.map(Into::into),
            category_id: maybe(b.category_id),
            tag_ids: b.tag_ids.map(|t| t.0),
        };
        Ok(Json(
            article_admin::update(&state.db, &state.read_cache, admin.actor(), id.0, changes)
                .await?
                .into(),
        ))
    }

    /// Delete an article
    #[oai(
        path = "/articles/:id",
        method = "delete",
        operation_id = "adminDeleteArticle"
    )]
    async fn admin_delete_article(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Deleted> {
        article_admin::delete(&state.db, &state.read_cache, admin.actor(), id.0).await?;
        Ok(Deleted::Deleted)
    }

    /// Publish now
    #[oai(
        path = "/articles/:id/publish",
        method = "post",
        operation_id = "adminPublishArticle"
    )]
    async fn admin_publish_article(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Json<ArticleDetail>> {
        Ok(Json(
            article_admin::publish(&state.db, &state.read_cache, admin.actor(), id.0)
                .await?
                .into(),
        ))
    }

    /// Back to draft (hidden from the public)
    #[oai(
        path = "/articles/:id/unpublish",
        method = "post",
        operation_id = "adminUnpublishArticle"
    )]
    async fn admin_unpublish_article(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Json<ArticleDetail>> {
        Ok(Json(
            article_admin::unpublish(&state.db, &state.read_cache, admin.actor(), id.0)
                .await?
                .into(),
        ))
    }

    /// Schedule publication
    #[oai(
        path = "/articles/:id/schedule",
        method = "post",
        operation_id = "adminScheduleArticle"
    )]
    async fn admin_schedule_article(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
        body: Json<ArticleSchedule>,
    ) -> ApiResult<Json<ArticleDetail>> {
        Ok(Json(
            article_admin::schedule(
                &state.db,
                &state.read_cache,
                admin.actor(),
                id.0,
                body.0.publish_at.0,
            )
            .await?
            .into(),
        ))
    }

    /// Feature (精选) an article
    #[oai(
        path = "/articles/:id/featured",
        method = "put",
        operation_id = "adminFeatureArticle"
    )]
    async fn admin_feature_article(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Json<ArticleDetail>> {
        Ok(Json(
            article_admin::set_featured(&state.db, &state.read_cache, admin.actor(), id.0, true)
                .await?
                .into(),
        ))
    }

    /// Unfeature an article
    #[oai(
        path = "/articles/:id/featured",
        method = "delete",
        operation_id = "adminUnfeatureArticle"
    )]
    async fn admin_unfeature_article(
        &self,
        admin: AdminAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<Json<ArticleDetail>> {
        Ok(Json(
            article_admin::set_featured(&state.db, &state.read_cache, admin.actor(), id.0, false)
                .await?
                .into(),
        ))
    }
}
