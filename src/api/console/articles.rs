//! Articles: the list (status filter, title search, pages), the Markdown editor with its live
//! preview, and publish / schedule / feature / push / delete.

use askama::Template;
use chrono::{NaiveDateTime, TimeZone};
use entity::{article::ArticleStatus, category, tag};
use poem::{
    Request, Response, handler,
    web::{Path, Query},
};
use serde::Deserialize;

use super::web::{self, Console, Ctx, Form, Guard, OrFail, htmx_location, signed_in};
use crate::{
    error::AppError,
    pagination::Page,
    push,
    service::{
        article_admin::{self, ArticleChanges, NewArticle},
        articles::{ArticleView, CardView},
        markdown, taxonomy,
    },
};

#[derive(Debug, Deserialize, Default)]
pub struct ListQuery {
    status: Option<String>,
    origin: Option<String>,
    q: Option<String>,
    cursor: Option<String>,
}

fn parse_origin(raw: Option<&str>) -> Result<Option<article_admin::Origin>, AppError> {
    match raw.unwrap_or_default() {
        "" => Ok(None),
        "source" => Ok(Some(article_admin::Origin::Source)),
        "manual" => Ok(Some(article_admin::Origin::Manual)),
        _ => Err(AppError::bad_field(
            "origin",
            "origin must be source or manual",
        )),
    }
}

fn parse_status(raw: Option<&str>) -> Result<Option<ArticleStatus>, AppError> {
    match raw.unwrap_or_default() {
        "" => Ok(None),
        "draft" => Ok(Some(ArticleStatus::Draft)),
        "scheduled" => Ok(Some(ArticleStatus::Scheduled)),
        "published" => Ok(Some(ArticleStatus::Published)),
        _ => Err(AppError::bad_field(
            "status",
            "status must be draft, scheduled or published",
        )),
    }
}

pub fn status_key(status: &ArticleStatus) -> &'static str {
    match *status {
        ArticleStatus::Draft => "article.status.draft",
        ArticleStatus::Scheduled => "article.status.scheduled",
        ArticleStatus::Published => "article.status.published",
    }
}

#[derive(Template)]
#[template(path = "console/articles.html")]
struct ListPage {
    c: Ctx,
    table: Table,
}

/// The list itself: what the filter form and the pager swap in.
#[derive(Template)]
#[template(path = "console/articles_table.html")]
struct Table {
    c: Ctx,
    page: Page<CardView>,
    status: String,
    origin: String,
    q: String,
}

impl Table {
    fn next_url(&self) -> Option<String> {
        self.page.next_cursor.as_ref().map(|cursor| {
            let mut url = form_urlencoded::Serializer::new(String::new());
            url.append_pair("status", &self.status)
                .append_pair("origin", &self.origin)
                .append_pair("q", &self.q)
                .append_pair("cursor", cursor);
            format!("/admin/articles?{}", url.finish())
        })
    }
}

#[handler]
pub async fn list(req: &Request, guard: Guard, Query(q): Query<ListQuery>) -> Response {
    let console = signed_in!(guard);
    web::unwrap(list_page(req, &console, q).await)
}

async fn list_page(req: &Request, console: &Console, q: ListQuery) -> web::ConsoleResult {
    let state = web::state(req);
    let status = parse_status(q.status.as_deref()).or_fail(console)?;
    let origin = parse_origin(q.origin.as_deref()).or_fail(console)?;
    let page = article_admin::list_matching(
        &state.db,
        status,
        origin,
        q.q.as_deref(),
        q.cursor.as_deref(),
        Some(50),
    )
    .await
    .or_fail(console)?;
    let table = Table {
        c: console.ctx("articles"),
        page,
        status: q.status.unwrap_or_default(),
        origin: q.origin.unwrap_or_default(),
        q: q.q.unwrap_or_default(),
    };
    // The filter form and the pager ask for the table only.
    if web::wants_fragment(req) {
        return Ok(web::page(req, &table));
    }
    Ok(web::page(
        req,
        &ListPage {
            c: console.ctx("articles"),
            table,
        },
    ))
}

#[derive(Template)]
#[template(path = "console/article_edit.html")]
struct EditPage {
    c: Ctx,
    /// None: a new article.
    a: Option<ArticleView>,
    categories: Vec<category::Model>,
    tags: Vec<tag::Model>,
    preview: String,
}

impl EditPage {
    fn has_tag(&self, id: &i64) -> bool {
        self.a
            .as_ref()
            .is_some_and(|a| a.tags.iter().any(|t| t.id == *id))
    }

    fn in_category(&self, id: &i64) -> bool {
        self.a
            .as_ref()
            .is_some_and(|a| a.article.category_id == Some(*id))
    }

    /// A field's current value for its input ("" for a new article).
    fn v(&self, field: &str) -> String {
        let Some(a) = self.a.as_ref().map(|a| &a.article) else {
            return String::new();
        };
        match field {
            "title" => a.title.clone(),
            "summary" => a.summary.clone(),
            "content" => a.content.clone(),
            "author" => a.author.clone(),
            "cover_url" => a.cover_url.clone().unwrap_or_default(),
            "source_url" => a.source_url.clone(),
            "source_name" => a.source_name.clone(),
            "copyright_notice" => a.copyright_notice.clone(),
            _ => String::new(),
        }
    }
}

async fn edit_page(req: &Request, console: &Console, a: Option<ArticleView>) -> web::ConsoleResult {
    let state = web::state(req);
    let categories = taxonomy::categories(&state.db)
        .await
        .or_fail(console)?
        .into_iter()
        .map(|c| c.item)
        .collect();
    let tags = taxonomy::tags(&state.db)
        .await
        .or_fail(console)?
        .into_iter()
        .map(|t| t.item)
        .collect();
    let preview_html = a
        .as_ref()
        .map(|a| markdown::to_safe_html(&a.article.content))
        .unwrap_or_default();
    Ok(web::page(
        req,
        &EditPage {
            c: console.ctx("articles"),
            a,
            categories,
            tags,
            preview: preview_html,
        },
    ))
}

#[handler]
pub async fn new_page(req: &Request, guard: Guard) -> Response {
    let console = signed_in!(guard);
    web::unwrap(edit_page(req, &console, None).await)
}

#[handler]
pub async fn edit(req: &Request, guard: Guard, Path(id): Path<i64>) -> Response {
    let console = signed_in!(guard);
    let state = web::state(req);
    let result = async {
        let a = article_admin::get(&state.db, id).await.or_fail(&console)?;
        edit_page(req, &console, Some(a)).await
    }
    .await;
    web::unwrap(result)
}

#[derive(Template)]
#[template(path = "console/preview.html")]
struct Preview {
    html: String,
}

/// The live preview: the Markdown as the site shows it (raw HTML shown as text).
#[handler]
pub async fn preview(req: &Request, guard: Guard, form: Form) -> Response {
    let _console = signed_in!(guard);
    let content = form.text("content");
    let shown = if content.len() > article_admin::CONTENT_MAX {
        &content[..content.floor_char_boundary(article_admin::CONTENT_MAX)]
    } else {
        content
    };
    web::page(
        req,
        &Preview {
            html: markdown::to_safe_html(shown),
        },
    )
}

fn tag_ids(form: &Form) -> Result<Vec<i64>, AppError> {
    form.all("tag_ids")
        .map(|t| {
            t.parse()
                .map_err(|_| AppError::bad_field("tag_ids", "tag ids are numbers"))
        })
        .collect()
}

fn category_id(form: &Form) -> Result<Option<i64>, AppError> {
    match form.text("category_id") {
        "" => Ok(None),
        v => v
            .parse()
            .map(Some)
            .map_err(|_| AppError::bad_field("category_id", "category_id is a number")),
    }
}

fn optional(form: &Form, key: &str) -> Option<String> {
    form.get(key)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(String::from)
}

#[handler]
pub async fn create(req: &Request, guard: Guard, form: Form) -> Response {
    let console = signed_in!(guard);
    let state = web::state(req);
    let result = async {
        let new = NewArticle {
            title: form.text("title").into(),
            summary: form.text("summary").into(),
            content: form.text("content").into(),
            cover_url: optional(&form, "cover_url"),
            author: form.text("author").into(),
            source_url: form.text("source_url").into(),
            source_name: form.text("source_name").into(),
            copyright_notice: optional(&form, "copyright_notice"),
            category_id: category_id(&form).or_fail(&console)?,
            tag_ids: tag_ids(&form).or_fail(&console)?,
        };
        let view = article_admin::create(&state.db, &console.actor, new)
            .await
            .or_fail(&console)?;
        Ok(htmx_location(&format!(
            "/admin/articles/{}",
            view.article.id
        )))
    }
    .await;
    web::unwrap(result)
}

#[handler]
pub async fn update(req: &Request, guard: Guard, Path(id): Path<i64>, form: Form) -> Response {
    let console = signed_in!(guard);
    let state = web::state(req);
    let result = async {
        let changes = ArticleChanges {
            title: Some(form.text("title").into()),
            summary: Some(form.text("summary").into()),
            content: Some(form.text("content").into()),
            cover_url: Some(optional(&form, "cover_url")),
            author: Some(form.text("author").into()),
            source_url: Some(form.text("source_url").into()),
            source_name: Some(form.text("source_name").into()),
            copyright_notice: optional(&form, "copyright_notice"),
            category_id: Some(category_id(&form).or_fail(&console)?),
            tag_ids: Some(tag_ids(&form).or_fail(&console)?),
        };
        article_admin::update(&state.db, &state.read_cache, &console.actor, id, changes)
            .await
            .or_fail(&console)?;
        Ok(htmx_location(&format!("/admin/articles/{id}")))
    }
    .await;
    web::unwrap(result)
}

/// A `datetime-local` value read in the editor's zone; a time skipped by a DST change is
/// refused, a repeated one takes its first occurrence.
fn local_time(raw: &str, tz: chrono_tz::Tz) -> Result<chrono::DateTime<chrono::Utc>, AppError> {
    let naive = NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| AppError::bad_field("publish_at", "publish_at must be a date and time"))?;
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&chrono::Utc))
        .ok_or_else(|| {
            AppError::bad_field(
                "publish_at",
                "that local time does not exist (a daylight-saving gap)",
            )
        })
}

#[handler]
pub async fn action(
    req: &Request,
    guard: Guard,
    Path((id, action)): Path<(i64, String)>,
    form: Form,
) -> Response {
    let console = signed_in!(guard);
    let state = web::state(req);
    let (db, rc, actor) = (&state.db, &state.read_cache, &console.actor);
    let result = async {
        match action.as_str() {
            "publish" => article_admin::publish(db, rc, actor, id).await.map(drop),
            "unpublish" => article_admin::unpublish(db, rc, actor, id).await.map(drop),
            "feature" => article_admin::set_featured(db, rc, actor, id, true)
                .await
                .map(drop),
            "unfeature" => article_admin::set_featured(db, rc, actor, id, false)
                .await
                .map(drop),
            "schedule" => {
                let at = local_time(form.text("publish_at"), console.session.timezone)
                    .or_fail(&console)?;
                article_admin::schedule(db, rc, actor, id, at)
                    .await
                    .map(drop)
            }
            "push" => push::push_article_now(state, id, actor).await.map(drop),
            "delete" => {
                article_admin::delete(db, rc, actor, id)
                    .await
                    .or_fail(&console)?;
                return Ok(htmx_location("/admin/articles"));
            }
            _ => Err(AppError::not_found("action")),
        }
        .or_fail(&console)?;
        Ok(htmx_location(&format!("/admin/articles/{id}")))
    }
    .await;
    web::unwrap(result)
}
