//! Feed sources: the list with each source's fetch status, the create form, a source's page
//! (its settings and status), and its actions (enable, disable, fetch now, delete), over the
//! same `service::sources` functions as `/api/admin/sources`.

use askama::Template;
use poem::{
    Request, Response, handler,
    web::{Path, Query},
};
use serde::Deserialize;

use super::{
    others::number,
    web::{self, Console, Ctx, Form, Guard, OrFail, htmx_location, signed_in},
};
use crate::{
    error::{AppError, AppResult},
    pagination::Page,
    service::sources::{self, NewSource, SourceChanges, SourceView},
};

#[derive(Debug, Deserialize, Default)]
pub struct Cursor {
    cursor: Option<String>,
}

#[derive(Template)]
#[template(path = "console/sources.html")]
struct ListPage {
    c: Ctx,
    page: Page<SourceView>,
}

#[derive(Template)]
#[template(path = "console/source.html")]
struct DetailPage {
    c: Ctx,
    s: SourceView,
}

impl ListPage {
    /// The create form's empty values.
    fn blank(&self) -> SourceView {
        let now = crate::time::now();
        SourceView {
            id: 0,
            name: String::new(),
            feed_url: String::new(),
            category_id: None,
            tag_ids: Vec::new(),
            notice_template: None,
            full_page: false,
            auto_publish: false,
            enabled: true,
            min_interval_secs: 0,
            last_fetch_at: None,
            last_http_status: None,
            last_error: None,
            consecutive_failures: 0,
            next_check_at: now,
            items_imported: 0,
            created_at: now,
            updated_at: now,
        }
    }
}

/// The tag ids of a source as the form shows them: `1, 2`.
pub fn tags_text(s: &SourceView) -> String {
    s.tag_ids
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn category_text(s: &SourceView) -> String {
    s.category_id.map(|c| c.to_string()).unwrap_or_default()
}

pub fn status_text(s: &SourceView) -> String {
    s.last_http_status
        .map(|c| c.to_string())
        .unwrap_or_else(|| "—".into())
}

/// Tag ids separated by commas or spaces.
fn tag_ids(form: &Form) -> AppResult<Vec<i64>> {
    form.text("tag_ids")
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse()
                .map_err(|_| AppError::bad_field("tag_ids", "tag ids are numbers"))
        })
        .collect()
}

fn notice(form: &Form) -> Option<String> {
    Some(form.text("notice_template").trim().to_string()).filter(|t| !t.is_empty())
}

fn new_source(form: &Form) -> AppResult<NewSource> {
    Ok(NewSource {
        name: form.text("name").trim().to_string(),
        feed_url: form.text("feed_url").trim().to_string(),
        category_id: number(form, "category_id")?,
        tag_ids: tag_ids(form)?,
        notice_template: notice(form),
        full_page: form.checked("full_page"),
        auto_publish: form.checked("auto_publish"),
        enabled: Some(form.checked("enabled")),
        min_interval_secs: number(form, "min_interval_secs")?,
    })
}

fn changes(form: &Form) -> AppResult<SourceChanges> {
    Ok(SourceChanges {
        name: Some(form.text("name").trim().to_string()),
        feed_url: Some(form.text("feed_url").trim().to_string()),
        category_id: Some(number(form, "category_id")?),
        tag_ids: Some(tag_ids(form)?),
        notice_template: Some(notice(form)),
        full_page: Some(form.checked("full_page")),
        auto_publish: Some(form.checked("auto_publish")),
        min_interval_secs: number(form, "min_interval_secs")?,
    })
}

fn back(console: &Console, to: &str, result: AppResult<()>) -> Response {
    match result {
        Ok(()) => htmx_location(to),
        Err(err) => console.fail(err),
    }
}

#[handler]
pub async fn list(req: &Request, guard: Guard, Query(q): Query<Cursor>) -> Response {
    let console = signed_in!(guard);
    let db = &web::state(req).db;
    match sources::list(db, q.cursor.as_deref(), Some(50)).await {
        Ok(page) => web::page(
            req,
            &ListPage {
                c: console.ctx("sources"),
                page,
            },
        ),
        Err(err) => console.fail(err),
    }
}

#[handler]
pub async fn detail(req: &Request, guard: Guard, Path(id): Path<i64>) -> Response {
    let console = signed_in!(guard);
    let db = &web::state(req).db;
    let result = async {
        let s = sources::get(db, id).await.or_fail(&console)?;
        Ok(web::page(
            req,
            &DetailPage {
                c: console.ctx("sources"),
                s,
            },
        ))
    }
    .await;
    web::unwrap(result)
}

#[handler]
pub async fn create(req: &Request, guard: Guard, form: Form) -> Response {
    let console = signed_in!(guard);
    let state = web::state(req);
    let r = match new_source(&form) {
        Ok(new) => sources::create(state, &console.actor, new).await.map(drop),
        Err(err) => Err(err),
    };
    back(&console, "/admin/sources", r)
}

#[handler]
pub async fn update(req: &Request, guard: Guard, Path(id): Path<i64>, form: Form) -> Response {
    let console = signed_in!(guard);
    let state = web::state(req);
    let r = match changes(&form) {
        Ok(changes) => sources::update(state, &console.actor, id, changes)
            .await
            .map(drop),
        Err(err) => Err(err),
    };
    back(&console, &format!("/admin/sources/{id}"), r)
}

#[handler]
pub async fn action(
    req: &Request,
    guard: Guard,
    Path((id, action)): Path<(i64, String)>,
) -> Response {
    let console = signed_in!(guard);
    let state = web::state(req);
    let here = format!("/admin/sources/{id}");
    let r = match action.as_str() {
        "enable" => sources::set_enabled(state, &console.actor, id, true)
            .await
            .map(drop),
        "disable" => sources::set_enabled(state, &console.actor, id, false)
            .await
            .map(drop),
        "fetch" => sources::fetch_now(state, &console.actor, id)
            .await
            .map(drop),
        "delete" => {
            let r = sources::delete(state, &console.actor, id).await;
            return back(&console, "/admin/sources", r);
        }
        _ => Err(AppError::NotFound { what: "action" }),
    };
    back(&console, &here, r)
}
