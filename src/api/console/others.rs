//! The smaller sections: followers (list, sync), resources, app releases, categories and
//! tags, and the audit log (filters; each object's page links here with its filter).

use askama::Template;
use entity::{
    app_release::{self, Channel, Platform},
    audit_log, category,
    resource::{self, DownloadLink},
    tag, wechat_follower,
};
use poem::{
    Request, Response, handler,
    web::{Path, Query},
};
use serde::Deserialize;

use super::web::{self, Console, Ctx, Form, Guard, OrFail, htmx_location, signed_in};
use crate::{
    error::{AppError, AppResult},
    jobs,
    pagination::Page,
    service::{
        app_releases::{self, ReleaseInput},
        audit::{self, Filter},
        followers::{self, Counts},
        resources::{self, ResourceInput},
        taxonomy::{self, CategoryInput, Counted, TagInput},
    },
};

#[derive(Debug, Deserialize, Default)]
pub struct Cursor {
    cursor: Option<String>,
    subscribed: Option<String>,
}

fn optional(form: &Form, key: &str) -> Option<String> {
    form.get(key).map(|v| v.trim().to_string())
}

pub(super) fn number<T: std::str::FromStr>(form: &Form, key: &str) -> AppResult<Option<T>> {
    match form.text(key).trim() {
        "" => Ok(None),
        v => v
            .parse()
            .map(Some)
            .map_err(|_| AppError::bad_field(key, format!("{key} is a number"))),
    }
}

// ---- followers

#[derive(Template)]
#[template(path = "console/followers.html")]
struct FollowersPage {
    c: Ctx,
    page: Page<wechat_follower::Model>,
    counts: Counts,
    subscribed: String,
}

#[handler]
pub async fn followers_page(req: &Request, guard: Guard, Query(q): Query<Cursor>) -> Response {
    let console = signed_in!(guard);
    let db = &web::state(req).db;
    let result = async {
        let subscribed = match q.subscribed.as_deref().unwrap_or_default() {
            "" => None,
            "true" => Some(true),
            "false" => Some(false),
            _ => return Err(console.fail(AppError::bad_field("subscribed", "true or false"))),
        };
        let page = followers::list(db, subscribed, q.cursor.as_deref(), Some(50))
            .await
            .or_fail(&console)?;
        let counts = followers::counts(db).await.or_fail(&console)?;
        Ok(web::page(
            req,
            &FollowersPage {
                c: console.ctx("followers"),
                page,
                counts,
                subscribed: q.subscribed.unwrap_or_default(),
            },
        ))
    }
    .await;
    web::unwrap(result)
}

#[handler]
pub async fn sync_followers(req: &Request, guard: Guard) -> Response {
    let console = signed_in!(guard);
    let state = web::state(req);
    match jobs::service::sync_followers_now(state, &console.actor).await {
        Ok(run) => htmx_location(&format!("/admin/jobs/{}", run.job_id)),
        Err(err) => console.fail(err),
    }
}

// ---- resources

#[derive(Template)]
#[template(path = "console/resources.html")]
struct ResourcesPage {
    c: Ctx,
    page: Page<resource::Model>,
}

pub fn links_text(r: &resource::Model) -> String {
    r.download_links
        .0
        .iter()
        .map(|l| match &l.label {
            Some(label) => format!("{} {} {label}", l.platform, l.url),
            None => format!("{} {}", l.platform, l.url),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One link a line: `platform url [label]`.
fn links(form: &Form) -> Option<Vec<DownloadLink>> {
    form.get("download_links").map(|text| {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| {
                let mut parts = l.splitn(3, ' ');
                DownloadLink {
                    platform: parts.next().unwrap_or_default().to_string(),
                    url: parts.next().unwrap_or_default().to_string(),
                    label: parts.next().map(String::from),
                }
            })
            .collect()
    })
}

fn resource_input(form: &Form) -> ResourceInput {
    ResourceInput {
        name: optional(form, "name"),
        summary: optional(form, "summary"),
        description: optional(form, "description"),
        homepage: optional(form, "homepage"),
        download_links: links(form),
        version: optional(form, "version"),
        license: optional(form, "license"),
        category: optional(form, "category"),
    }
}

impl ResourcesPage {
    /// The create form's empty values.
    fn blank(&self) -> resource::Model {
        let now = crate::time::now();
        resource::Model {
            id: 0,
            name: String::new(),
            summary: String::new(),
            description: String::new(),
            homepage: String::new(),
            download_links: resource::DownloadLinks(Vec::new()),
            version: String::new(),
            license: String::new(),
            category: String::new(),
            created_at: now,
            updated_at: now,
        }
    }
}

#[handler]
pub async fn resources_page(req: &Request, guard: Guard, Query(q): Query<Cursor>) -> Response {
    let console = signed_in!(guard);
    let db = &web::state(req).db;
    match resources::list(db, None, None, q.cursor.as_deref(), Some(50)).await {
        Ok(page) => web::page(
            req,
            &ResourcesPage {
                c: console.ctx("resources"),
                page,
            },
        ),
        Err(err) => console.fail(err),
    }
}

fn back(console: &Console, to: &str, result: AppResult<()>) -> Response {
    match result {
        Ok(()) => htmx_location(to),
        Err(err) => console.fail(err),
    }
}

#[handler]
pub async fn create_resource(req: &Request, guard: Guard, form: Form) -> Response {
    let console = signed_in!(guard);
    let db = &web::state(req).db;
    let r = resources::create(db, &console.actor, resource_input(&form)).await;
    back(&console, "/admin/resources", r.map(drop))
}

#[handler]
pub async fn update_resource(
    req: &Request,
    guard: Guard,
    Path(id): Path<i64>,
    form: Form,
) -> Response {
    let console = signed_in!(guard);
    let db = &web::state(req).db;
    let r = resources::update(db, &console.actor, id, resource_input(&form)).await;
    back(&console, "/admin/resources", r.map(drop))
}

#[handler]
pub async fn delete_resource(req: &Request, guard: Guard, Path(id): Path<i64>) -> Response {
    let console = signed_in!(guard);
    let db = &web::state(req).db;
    let r = resources::delete(db, &console.actor, id).await;
    back(&console, "/admin/resources", r)
}

// ---- app releases

#[derive(Template)]
#[template(path = "console/releases.html")]
struct ReleasesPage {
    c: Ctx,
    items: Vec<app_release::Model>,
}

/// The channels, in the order the console lists them: form value and the key of its name.
pub const CHANNELS: [(&str, &str); 7] = [
    ("official", "release.channel.official"),
    ("appstore", "release.channel.appstore"),
    ("huawei", "release.channel.huawei"),
    ("xiaomi", "release.channel.xiaomi"),
    ("oppo", "release.channel.oppo"),
    ("vivo", "release.channel.vivo"),
    ("honor", "release.channel.honor"),
];

pub fn channel_name(c: impl std::borrow::Borrow<Channel>) -> &'static str {
    c.borrow().as_str()
}

/// The key of a channel's name.
pub fn channel_key(c: impl std::borrow::Borrow<Channel>) -> &'static str {
    let name = c.borrow().as_str();
    CHANNELS
        .iter()
        .find(|(value, _)| *value == name)
        .map_or("release.channel", |(_, key)| key)
}

fn channel(form: &Form) -> AppResult<Option<Channel>> {
    Ok(Some(match form.text("channel") {
        "" => return Ok(None),
        "official" => Channel::Official,
        "appstore" => Channel::Appstore,
        "huawei" => Channel::Huawei,
        "xiaomi" => Channel::Xiaomi,
        "oppo" => Channel::Oppo,
        "vivo" => Channel::Vivo,
        "honor" => Channel::Honor,
        _ => {
            let names: Vec<&str> = CHANNELS.iter().map(|(value, _)| *value).collect();
            return Err(AppError::bad_field("channel", names.join(", ")));
        }
    }))
}

pub fn platform_name(p: &Platform) -> &'static str {
    match p {
        Platform::Android => "android",
        Platform::Ios => "ios",
        Platform::Harmony => "harmony",
    }
}

fn release_input(form: &Form) -> AppResult<ReleaseInput> {
    let platform = match form.text("platform") {
        "" => None,
        "android" => Some(Platform::Android),
        "ios" => Some(Platform::Ios),
        "harmony" => Some(Platform::Harmony),
        _ => return Err(AppError::bad_field("platform", "android, ios or harmony")),
    };
    Ok(ReleaseInput {
        platform,
        channel: channel(form)?,
        build: number(form, "build")?,
        rollout_basis_points: number(form, "rollout_basis_points")?,
        sha256: optional(form, "sha256"),
        notes_en: optional(form, "notes_en"),
        version: optional(form, "version"),
        min_supported_version: optional(form, "min_supported_version"),
        size_bytes: number(form, "size_bytes")?,
        download_url: optional(form, "download_url"),
        notes: optional(form, "notes"),
    })
}

#[handler]
pub async fn releases(req: &Request, guard: Guard) -> Response {
    let console = signed_in!(guard);
    let db = &web::state(req).db;
    match app_releases::releases(db, None, None).await {
        Ok(items) => web::page(
            req,
            &ReleasesPage {
                c: console.ctx("releases"),
                items,
            },
        ),
        Err(err) => console.fail(err),
    }
}

#[handler]
pub async fn create_release(req: &Request, guard: Guard, form: Form) -> Response {
    let console = signed_in!(guard);
    let db = &web::state(req).db;
    let r = match release_input(&form) {
        Ok(input) => app_releases::create(db, &console.actor, input)
            .await
            .map(drop),
        Err(e) => Err(e),
    };
    back(&console, "/admin/releases", r)
}

#[handler]
pub async fn update_release(
    req: &Request,
    guard: Guard,
    Path(id): Path<i64>,
    form: Form,
) -> Response {
    let console = signed_in!(guard);
    let db = &web::state(req).db;
    let r = match release_input(&form) {
        Ok(input) => app_releases::update(db, &console.actor, id, input)
            .await
            .map(drop),
        Err(e) => Err(e),
    };
    back(&console, "/admin/releases", r)
}

#[handler]
pub async fn halt_release(req: &Request, guard: Guard, Path(id): Path<i64>) -> Response {
    let console = signed_in!(guard);
    let db = &web::state(req).db;
    let r = app_releases::set_halted(db, &console.actor, id, true)
        .await
        .map(drop);
    back(&console, "/admin/releases", r)
}

#[handler]
pub async fn resume_release(req: &Request, guard: Guard, Path(id): Path<i64>) -> Response {
    let console = signed_in!(guard);
    let db = &web::state(req).db;
    let r = app_releases::set_halted(db, &console.actor, id, false)
        .await
        .map(drop);
    back(&console, "/admin/releases", r)
}

#[handler]
pub async fn delete_release(req: &Request, guard: Guard, Path(id): Path<i64>) -> Response {
    let console = signed_in!(guard);
    let db = &web::state(req).db;
    let r = app_releases::delete(db, &console.actor, id).await;
    back(&console, "/admin/releases", r)
}

// ---- categories and tags

#[derive(Template)]
#[template(path = "console/taxonomy.html")]
struct TaxonomyPage {
    c: Ctx,
    categories: Vec<Counted<category::Model>>,
    tags: Vec<Counted<tag::Model>>,
}

#[handler]
pub async fn taxonomy_page(req: &Request, guard: Guard) -> Response {
    let console = signed_in!(guard);
    let db = &web::state(req).db;
    let result = async {
        Ok(web::page(
            req,
            &TaxonomyPage {
                c: console.ctx("taxonomy"),
                categories: taxonomy::categories(db).await.or_fail(&console)?,
                tags: taxonomy::tags(db).await.or_fail(&console)?,
            },
        ))
    }
    .await;
    web::unwrap(result)
}

fn category_input(form: &Form) -> AppResult<CategoryInput> {
    Ok(CategoryInput {
        slug: optional(form, "slug"),
        name: optional(form, "name"),
        description: optional(form, "description"),
        sort_order: number(form, "sort_order")?,
    })
}

fn tag_input(form: &Form) -> TagInput {
    TagInput {
        slug: optional(form, "slug"),
        name: optional(form, "name"),
    }
}

#[handler]
pub async fn create_term(
    req: &Request,
    guard: Guard,
    Path(kind): Path<String>,
    form: Form,
) -> Response {
    let console = signed_in!(guard);
    let db = &web::state(req).db;
    let actor = &console.actor;
    let r = match kind.as_str() {
        "categories" => match category_input(&form) {
            Ok(input) => taxonomy::create_category(db, actor, input).await.map(drop),
            Err(e) => Err(e),
        },
        "tags" => taxonomy::create_tag(db, actor, tag_input(&form))
            .await
            .map(drop),
        _ => Err(AppError::not_found("kind")),
    };
    back(&console, "/admin/taxonomy", r)
}

#[handler]
pub async fn update_term(
    req: &Request,
    guard: Guard,
    Path((kind, id)): Path<(String, i64)>,
    form: Form,
) -> Response {
    let console = signed_in!(guard);
    let state = web::state(req);
    let (db, rc, actor) = (&state.db, &state.read_cache, &console.actor);
    let r = match kind.as_str() {
        "categories" => match category_input(&form) {
            Ok(input) => taxonomy::update_category(db, rc, actor, id, input)
                .await
                .map(drop),
            Err(e) => Err(e),
        },
        "tags" => taxonomy::update_tag(db, rc, actor, id, tag_input(&form))
            .await
            .map(drop),
        _ => Err(AppError::not_found("kind")),
    };
    back(&console, "/admin/taxonomy", r)
}

#[handler]
pub async fn delete_term(
    req: &Request,
    guard: Guard,
    Path((kind, id)): Path<(String, i64)>,
) -> Response {
    let console = signed_in!(guard);
    let state = web::state(req);
    let (db, rc, actor) = (&state.db, &state.read_cache, &console.actor);
    let r = match kind.as_str() {
        "categories" => taxonomy::delete_category(db, rc, actor, id).await,
        "tags" => taxonomy::delete_tag(db, rc, actor, id).await,
        _ => Err(AppError::not_found("kind")),
    };
    back(&console, "/admin/taxonomy", r)
}

// ---- audit log

#[derive(Debug, Deserialize, Default)]
pub struct AuditQuery {
    actor_id: Option<String>,
    action: Option<String>,
    object_type: Option<String>,
    object_id: Option<String>,
    cursor: Option<String>,
}

impl AuditQuery {
    fn filter(&self) -> AppResult<Filter> {
        let text = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(String::from)
        };
        let num = |field: &str, v: &Option<String>| -> AppResult<Option<i64>> {
            text(v)
                .map(|v| {
                    v.parse()
                        .map_err(|_| AppError::bad_field(field, format!("{field} is a number")))
                })
                .transpose()
        };
        Ok(Filter {
            actor_id: num("actor_id", &self.actor_id)?,
            action: text(&self.action),
            object_type: text(&self.object_type),
            object_id: num("object_id", &self.object_id)?,
            from: None,
            to: None,
        })
    }

    fn value<'a>(&'a self, v: &'a Option<String>) -> &'a str {
        v.as_deref().unwrap_or_default()
    }

    fn next_url(&self, cursor: &str) -> String {
        let mut url = form_urlencoded::Serializer::new(String::new());
        url.append_pair("actor_id", self.value(&self.actor_id))
            .append_pair("action", self.value(&self.action))
            .append_pair("object_type", self.value(&self.object_type))
            .append_pair("object_id", self.value(&self.object_id))
            .append_pair("cursor", cursor);
        format!("/admin/audit?{}", url.finish())
    }
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    c: Ctx,
    q: AuditQuery,
    page: Page<audit_log::Model>,
}

#[handler]
pub async fn audit_page(req: &Request, guard: Guard, Query(q): Query<AuditQuery>) -> Response {
    let console = signed_in!(guard);
    let db = &web::state(req).db;
    let result = async {
        let filter = q.filter().or_fail(&console)?;
        let page = audit::list(db, &filter, q.cursor.as_deref(), Some(50))
            .await
            .or_fail(&console)?;
        Ok(web::page(
            req,
            &AuditPage {
                c: console.ctx("audit"),
                q,
                page,
            },
        ))
    }
    .await;
    web::unwrap(result)
}
