//! What every console handler shares: the signed-in session (with the CSRF check), the page
//! context templates read, form bodies, and turning results into HTML answers.

use std::io::Write;

use askama::Template;
use chrono::{DateTime, Utc};
use flate2::{Compression, write::GzEncoder};
use poem::{
    FromRequest, IntoResponse, Request, RequestBody, Response,
    http::{HeaderValue, Method, StatusCode, header},
};

use super::{
    assets,
    errors::{self, Described},
    i18n::Lang,
};
use crate::{
    api::{actor, error::ApiError},
    error::AppError,
    service::{audit::Actor, console_sessions},
    state::AppState,
};

pub const SESSION_COOKIE: &str = "qshare_console";
/// The double-submit token of the sign-in form (there is no session yet to hold one).
pub const LOGIN_COOKIE: &str = "qshare_console_login";
pub const CSRF_HEADER: &str = "x-csrf-token";

pub fn state(req: &Request) -> &AppState {
    req.data::<AppState>().expect("the app state is attached")
}

pub fn cookie<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, path /admin, Secure outside development.
pub fn set_cookie(state: &AppState, name: &str, value: &str, max_age: u64) -> String {
    let secure = if state.settings.env == crate::config::AppEnv::Development {
        ""
    } else {
        "; Secure"
    };
    format!("{name}={value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

pub fn is_htmx(req: &Request) -> bool {
    req.headers().contains_key("hx-request")
}

/// An htmx request that swaps part of the page (not a boosted or history navigation).
pub fn wants_fragment(req: &Request) -> bool {
    is_htmx(req)
        && req.headers().contains_key("hx-target")
        && !req.headers().contains_key("hx-history-restore-request")
}

/// The signed-in administrator. Extracting it refuses a request without a live session, and
/// a state-changing one whose `X-CSRF-Token` header is not the session's token.
pub struct Console {
    pub session: console_sessions::ConsoleSession,
    pub token: String,
    pub actor: Actor,
    pub htmx: bool,
}

/// The session check as an extractor that never fails: errors are the console's own answers
/// (a sign-in redirect, an HTML refusal), not the API's JSON. Handlers unwrap it with
/// `signed_in!`.
pub struct Guard(pub Result<Console, Response>);

impl<'a> FromRequest<'a> for Guard {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        Ok(Self(Console::check(req).await))
    }
}

/// The `Console` of a `Guard`, or return its refusal.
macro_rules! signed_in {
    ($guard:expr) => {
        match $guard.0 {
            Ok(console) => console,
            Err(refusal) => return refusal,
        }
    };
}
pub(crate) use signed_in;

impl Console {
    async fn check(req: &Request) -> Result<Self, Response> {
        let state = state(req);
        let htmx = is_htmx(req);
        let token = cookie(req, SESSION_COOKIE).unwrap_or_default().to_string();
        let session = console_sessions::resolve(&state.db, &state.cache, &token)
            .await
            .map_err(|e| match e {
                AppError::Unauthorized(_) => to_sign_in(htmx),
                other => error_response(other, Lang::first(), htmx),
            })?;
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let sent = req
                .headers()
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !console_sessions::same_token(sent, &session.csrf) {
                let lang = Lang::of(session.language);
                return Err(error_response(
                    AppError::Forbidden(lang.t("error.csrf").into()),
                    lang,
                    htmx,
                ));
            }
        }
        let actor = actor::of(&session.user, req, state);
        Ok(Self {
            session,
            token,
            actor,
            htmx,
        })
    }

    pub fn lang(&self) -> &'static Lang {
        Lang::of(self.session.language)
    }

    /// The context of a page in the section `nav`.
    pub fn ctx(&self, nav: &'static str) -> Ctx {
        Ctx {
            t: self.lang(),
            nav,
            csrf: self.session.csrf.clone(),
            user: self.session.user.username.clone(),
            tz: self.session.timezone,
            assets: assets::urls(),
        }
    }

    /// An `AppError` as this viewer's error answer.
    pub fn fail(&self, err: AppError) -> Response {
        error_response(err, self.lang(), self.htmx)
    }
}

/// What the layout and every template read.
pub struct Ctx {
    pub t: &'static Lang,
    pub nav: &'static str,
    pub csrf: String,
    pub user: String,
    pub tz: chrono_tz::Tz,
    pub assets: &'static assets::Urls,
}

impl Ctx {
    pub fn t(&self, key: &str) -> &'static str {
        self.t.t(key)
    }

    /// `{"X-CSRF-Token": "..."}` for `hx-headers` (escaped by the template).
    pub fn csrf_header(&self) -> String {
        format!("{{\"X-CSRF-Token\":\"{}\"}}", self.csrf)
    }

    /// An instant in the viewer's zone, always with the zone.
    pub fn time(&self, at: impl std::borrow::Borrow<DateTime<Utc>>) -> String {
        format_in(at.borrow(), self.tz)
    }

    pub fn time_opt(&self, at: &Option<DateTime<Utc>>) -> String {
        at.as_ref().map_or_else(|| "—".into(), |at| self.time(at))
    }

    /// A `datetime-local` value for an input, in the viewer's zone.
    pub fn local_input(&self, at: &Option<DateTime<Utc>>) -> String {
        at.as_ref()
            .map(|at| {
                at.with_timezone(&self.tz)
                    .format("%Y-%m-%dT%H:%M")
                    .to_string()
            })
            .unwrap_or_default()
    }

    pub fn is_nav(&self, nav: &str) -> bool {
        self.nav == nav
    }
}

/// `2026-12-01 21:30:00 CST (Asia/Shanghai, UTC+08:00)`.
pub fn format_in(at: &DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    let local = at.with_timezone(&tz);
    format!(
        "{} ({}, UTC{})",
        local.format("%Y-%m-%d %H:%M:%S %Z"),
        tz.name(),
        local.format("%:z")
    )
}

/// A form body (`application/x-www-form-urlencoded`), keeping repeated keys.
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value, or "" when absent.
    pub fn text(&self, key: &str) -> &str {
        self.get(key).unwrap_or_default()
    }

    pub fn all(&self, key: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn checked(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

impl<'a> FromRequest<'a> for Form {
    async fn from_request(_req: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        let bytes = body.take()?.into_bytes().await?;
        Ok(Self(
            form_urlencoded::parse(&bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ))
    }
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::with_capacity(bytes.len() / 3), Compression::best());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}

/// An HTML answer, gzipped when the client takes it (pages are text: a fifth of the size).
pub fn html(req_accepts_gzip: bool, status: StatusCode, body: String) -> Response {
    let mut resp = Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::VARY, "Accept-Encoding");
    if req_accepts_gzip && body.len() > 512 {
        let mut enc = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::fast());
        if enc.write_all(body.as_bytes()).is_ok()
            && let Ok(bytes) = enc.finish()
        {
            resp = resp.header(header::CONTENT_ENCODING, "gzip");
            return resp.body(bytes);
        }
    }
    resp.body(body)
}

pub fn accepts_gzip(req: &Request) -> bool {
    req.headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")))
}

/// A rendered template as the answer.
pub fn page(req: &Request, template: &impl Template) -> Response {
    match template.render() {
        Ok(body) => html(accepts_gzip(req), StatusCode::OK, body),
        Err(err) => error_response(
            AppError::Internal(anyhow::anyhow!("template: {err}")),
            Lang::first(),
            is_htmx(req),
        ),
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    t: &'a Lang,
    e: &'a Described,
    assets: &'static assets::Urls,
}

#[derive(Template)]
#[template(path = "console/flash_error.html")]
struct ErrorFlash<'a> {
    t: &'a Lang,
    e: &'a Described,
}

/// An error as HTML with its status (the API's mapping), in the viewer's language
/// (`errors::describe`). For htmx it replaces the page's alert region; otherwise it is a
/// small page of its own.
pub fn error_response(err: AppError, lang: &'static Lang, htmx: bool) -> Response {
    let e = errors::describe(&err, lang);
    let status = ApiError::from(err).parts().0;
    let rendered = if htmx {
        ErrorFlash { t: lang, e: &e }.render()
    } else {
        ErrorPage {
            t: lang,
            e: &e,
            assets: assets::urls(),
        }
        .render()
    };
    let mut resp = html(
        false,
        status,
        rendered.unwrap_or_else(|_| e.headline.to_string()),
    );
    if htmx {
        let headers = resp.headers_mut();
        headers.insert("hx-retarget", HeaderValue::from_static("#flash"));
        headers.insert("hx-reswap", HeaderValue::from_static("innerHTML"));
    }
    resp
}

/// Where a request without a session goes.
pub fn to_sign_in(htmx: bool) -> Response {
    if htmx {
        Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header("hx-redirect", "/admin/login")
            .finish()
    } else {
        redirect("/admin/login")
    }
}

pub fn redirect(to: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, to)
        .finish()
}

/// After an htmx action that changes the page: load `to` (a full page) in place.
pub fn htmx_location(to: &str) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header("hx-location", to)
        .finish()
}

pub type ConsoleResult = Result<Response, Response>;

/// Unwraps a service result, turning its error into the viewer's error answer.
pub trait OrFail<T> {
    fn or_fail(self, console: &Console) -> Result<T, Response>;
}

impl<T> OrFail<T> for Result<T, AppError> {
    fn or_fail(self, console: &Console) -> Result<T, Response> {
        self.map_err(|e| console.fail(e))
    }
}

pub fn unwrap(result: ConsoleResult) -> Response {
    result.unwrap_or_else(|e| e).into_response()
}
