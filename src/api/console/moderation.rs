//! Moderation of comments and guestbook messages: filter (status, article, keyword), select
//! the page or everything matching, bulk approve / hide / delete (staged 10 s in the browser
//! with an undo), one at a time, and answers to the guestbook.

use askama::Template;
use entity::moderation::ModerationStatus;
use poem::{
    Request, Response, handler,
    web::{Path, Query},
};
use serde::Deserialize;

use super::web::{self, Console, Ctx, Form, Guard, OrFail, signed_in};
use crate::{
    error::AppError,
    pagination::Page,
    service::{
        comments::{self, CommentView, QueueFilter},
        guestbook::{self, MessageView},
        moderation::{CommentText, ModerationAction},
    },
};

#[derive(Debug, Deserialize, Default, Clone)]
pub struct Filter {
    kind: Option<String>,
    status: Option<String>,
    article_id: Option<String>,
    keyword: Option<String>,
    cursor: Option<String>,
}

fn status_of(raw: &str) -> Result<ModerationStatus, AppError> {
    match raw {
        "" | "pending" => Ok(ModerationStatus::Pending),
        "published" => Ok(ModerationStatus::Published),
        "hidden" => Ok(ModerationStatus::Hidden),
        "deleted" => Ok(ModerationStatus::Deleted),
        _ => Err(AppError::bad_field(
            "status",
            "status must be pending, published, hidden or deleted",
        )),
    }
}

pub fn status_key(s: &ModerationStatus) -> &'static str {
    match *s {
        ModerationStatus::Pending => "moderation.status.pending",
        ModerationStatus::Published => "moderation.status.published",
        ModerationStatus::Hidden => "moderation.status.hidden",
        ModerationStatus::Deleted => "moderation.status.deleted",
    }
}

fn action_of(raw: &str) -> Result<ModerationAction, AppError> {
    match raw {
        "approve" => Ok(ModerationAction::Approve),
        "hide" => Ok(ModerationAction::Hide),
        "delete" => Ok(ModerationAction::Delete),
        _ => Err(AppError::bad_field(
            "action",
            "action must be approve, hide or delete",
        )),
    }
}

impl Filter {
    fn is_guestbook(&self) -> bool {
        self.kind.as_deref() == Some("guestbook")
    }

    fn queue(&self) -> Result<QueueFilter, AppError> {
        let article_id = match self
            .article_id
            .as_deref()
            .map(str::trim)
            .unwrap_or_default()
        {
            "" => None,
            v => Some(
                v.parse()
                    .map_err(|_| AppError::bad_field("article_id", "article_id is a number"))?,
            ),
        };
        Ok(QueueFilter {
            status: status_of(self.status.as_deref().unwrap_or_default())?,
            article_id,
            keyword: self.keyword.clone(),
        })
    }

    fn from_form(form: &Form) -> Self {
        let get = |k: &str| form.get(k).map(String::from);
        Self {
            kind: get("kind"),
            status: get("status"),
            article_id: get("article_id"),
            keyword: get("keyword"),
            cursor: None,
        }
    }

    fn status(&self) -> &str {
        self.status.as_deref().unwrap_or("pending")
    }

    fn query(&self, cursor: Option<&str>) -> String {
        let mut url = form_urlencoded::Serializer::new(String::new());
        url.append_pair("kind", self.kind.as_deref().unwrap_or("comments"))
            .append_pair("status", self.status())
            .append_pair("article_id", self.article_id.as_deref().unwrap_or_default())
            .append_pair("keyword", self.keyword.as_deref().unwrap_or_default());
        if let Some(c) = cursor {
            url.append_pair("cursor", c);
        }
        url.finish()
    }
}

#[derive(Template)]
#[template(path = "console/moderation.html")]
struct ModerationPage {
    c: Ctx,
    f: Filter,
    table: String,
}

#[derive(Template)]
#[template(path = "console/moderation_comments.html")]
struct CommentTable {
    c: Ctx,
    f: Filter,
    page: Page<CommentView>,
    total: u64,
    /// What the last bulk action did, shown above the table.
    done: Option<String>,
}

/// One comment in full (the queue shows excerpts), with its article and audit links.
#[derive(Template)]
#[template(path = "console/moderation_comment.html")]
struct CommentDetail {
    c: Ctx,
    v: CommentView,
}

/// The queue's rows per page: small enough that a page of the longest comments stays a
/// light fragment (issue 19: ≤ 15 KB), while "all matching" still reaches every page.
pub const QUEUE_PAGE: u32 = 20;

/// The characters of a comment its queue row shows (the rest is in its details row).
pub const ROW_EXCERPT: usize = 60;

#[derive(Template)]
#[template(path = "console/moderation_guestbook.html")]
struct GuestbookTable {
    c: Ctx,
    f: Filter,
    page: Page<MessageView>,
}

impl CommentTable {
    fn next_url(&self) -> Option<String> {
        self.page
            .next_cursor
            .as_deref()
            .map(|c| format!("/admin/moderation?{}", self.f.query(Some(c))))
    }
}

impl GuestbookTable {
    fn next_url(&self) -> Option<String> {
        self.page
            .next_cursor
            .as_deref()
            .map(|c| format!("/admin/moderation?{}", self.f.query(Some(c))))
    }
}

async fn table(
    req: &Request,
    console: &Console,
    f: Filter,
    done: Option<String>,
) -> Result<String, Response> {
    let db = &web::state(req).db;
    let rendered = if f.is_guestbook() {
        let status = status_of(f.status.as_deref().unwrap_or_default()).or_fail(console)?;
        let page = guestbook::queue(db, status, f.cursor.as_deref(), Some(QUEUE_PAGE))
            .await
            .or_fail(console)?;
        GuestbookTable {
            c: console.ctx("moderation"),
            f,
            page,
        }
        .render()
    } else {
        let queue = f.queue().or_fail(console)?;
        let page = comments::queue_filtered(db, &queue, f.cursor.as_deref(), Some(QUEUE_PAGE))
            .await
            .or_fail(console)?;
        let total = comments::count_matching(db, &queue)
            .await
            .or_fail(console)?;
        CommentTable {
            c: console.ctx("moderation"),
            f,
            page,
            total,
            done,
        }
        .render()
    };
    rendered.map_err(|e| console.fail(AppError::Internal(anyhow::anyhow!("template: {e}"))))
}

fn fragment(req: &Request, body: String) -> Response {
    web::html(web::accepts_gzip(req), poem::http::StatusCode::OK, body)
}

#[handler]
pub async fn queue_page(req: &Request, guard: Guard, Query(f): Query<Filter>) -> Response {
    let console = signed_in!(guard);
    let table = match table(req, &console, f.clone(), None).await {
        Ok(t) => t,
        Err(refusal) => return refusal,
    };
    if web::wants_fragment(req) {
        return fragment(req, table);
    }
    web::page(
        req,
        &ModerationPage {
            c: console.ctx("moderation"),
            f,
            table,
        },
    )
}

/// One comment's whole text, on demand from its row.
#[handler]
pub async fn comment_detail(req: &Request, guard: Guard, Path(id): Path<i64>) -> Response {
    let console = signed_in!(guard);
    let result = async {
        let v = comments::queue_item(&web::state(req).db, id)
            .await
            .or_fail(&console)?;
        let body = CommentDetail {
            c: console.ctx("moderation"),
            v,
        }
        .render()
        .map_err(|e| console.fail(AppError::Internal(anyhow::anyhow!("template: {e}"))))?;
        Ok(fragment(req, body))
    }
    .await;
    web::unwrap(result)
}

/// The bulk form: the ids checked, or every comment matching the filter when
/// `all_matching` is set; answers the refreshed table.
#[handler]
pub async fn bulk_comments(req: &Request, guard: Guard, form: Form) -> Response {
    let console = signed_in!(guard);
    let state = web::state(req);
    let result = async {
        let action = action_of(form.text("action")).or_fail(&console)?;
        let f = Filter::from_form(&form);
        let ids: Vec<i64> = if form.checked("all_matching") {
            let queue = f.queue().or_fail(&console)?;
            comments::matching(&state.db, &queue)
                .await
                .or_fail(&console)?
                .1
        } else {
            form.all("ids").filter_map(|v| v.parse().ok()).collect()
        };
        if ids.is_empty() {
            return Err(console.fail(AppError::bad_field(
                "ids",
                console.lang().t("moderation.none_selected"),
            )));
        }
        let mut changed = 0;
        let mut failed = 0;
        for chunk in ids.chunks(comments::MAX_BULK) {
            let outcomes = comments::apply_many(
                &state.db,
                &state.read_cache,
                &console.session.user,
                &console.actor,
                chunk,
                action,
            )
            .await;
            for o in outcomes {
                if o.result.is_ok() {
                    changed += 1;
                } else {
                    failed += 1;
                }
            }
        }
        let done = console
            .lang()
            .t("moderation.done")
            .replace("{ok}", &changed.to_string())
            .replace("{failed}", &failed.to_string());
        let body = table(req, &console, f, Some(done)).await?;
        Ok(fragment(req, body))
    }
    .await;
    web::unwrap(result)
}

#[handler]
pub async fn one_comment(
    req: &Request,
    guard: Guard,
    Path((id, action)): Path<(i64, String)>,
    form: Form,
) -> Response {
    let console = signed_in!(guard);
    let state = web::state(req);
    let result = async {
        let action = action_of(&action).or_fail(&console)?;
        comments::apply(
            &state.db,
            &state.read_cache,
            &console.session.user,
            &console.actor,
            id,
            action,
        )
        .await
        .or_fail(&console)?;
        let body = table(req, &console, Filter::from_form(&form), None).await?;
        Ok(fragment(req, body))
    }
    .await;
    web::unwrap(result)
}

#[handler]
pub async fn one_message(
    req: &Request,
    guard: Guard,
    Path((id, action)): Path<(i64, String)>,
    form: Form,
) -> Response {
    let console = signed_in!(guard);
    let state = web::state(req);
    let result = async {
        let action = action_of(&action).or_fail(&console)?;
        guestbook::apply(&state.db, &console.session.user, &console.actor, id, action)
            .await
            .or_fail(&console)?;
        let body = table(req, &console, Filter::from_form(&form), None).await?;
        Ok(fragment(req, body))
    }
    .await;
    web::unwrap(result)
}

#[handler]
pub async fn reply(req: &Request, guard: Guard, Path(id): Path<i64>, form: Form) -> Response {
    let console = signed_in!(guard);
    let state = web::state(req);
    let result = async {
        let answer = CommentText::parse(form.text("content")).or_fail(&console)?;
        guestbook::reply(&state.db, &console.session.user, &console.actor, id, answer)
            .await
            .or_fail(&console)?;
        let body = table(req, &console, Filter::from_form(&form), None).await?;
        Ok(fragment(req, body))
    }
    .await;
    web::unwrap(result)
}
