//! Sign-in, sign-out and the language switch.

use askama::Template;
use poem::{IntoResponse, Request, Response, handler, http::StatusCode};

use super::{
    assets,
    i18n::Lang,
    web::{self, Form, Guard, LOGIN_COOKIE, SESSION_COOKIE, signed_in},
};
use crate::{
    api::client_ip::client_ip,
    error::AppError,
    service::console_sessions::{self, SESSION_TTL},
};

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage<'a> {
    t: &'static Lang,
    assets: &'static assets::Urls,
    token: &'a str,
    error: Option<String>,
}

fn lang_of(req: &Request) -> &'static Lang {
    // Before sign-in the page follows the browser: English only when it prefers it.
    let accept = req
        .headers()
        .get("accept-language")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if accept.trim_start().starts_with("en") {
        Lang::of("en")
    } else {
        Lang::first()
    }
}

fn login_form(req: &Request, status: StatusCode, error: Option<String>) -> Response {
    let state = web::state(req);
    let token = console_sessions::random_token();
    let body = LoginPage {
        t: lang_of(req),
        assets: assets::urls(),
        token: &token,
        error,
    }
    .render()
    .unwrap_or_default();
    let mut resp = web::html(web::accepts_gzip(req), status, body);
    if let Ok(v) = web::set_cookie(state, LOGIN_COOKIE, &token, 3600).parse() {
        resp.headers_mut().append(poem::http::header::SET_COOKIE, v);
    }
    resp
}

#[handler]
pub fn login_page(req: &Request) -> Response {
    login_form(req, StatusCode::OK, None)
}

#[handler]
pub async fn login(req: &Request, form: Form) -> Response {
    let state = web::state(req);
    let lang = lang_of(req);
    let expected = web::cookie(req, LOGIN_COOKIE).unwrap_or_default();
    if !console_sessions::same_token(form.text("csrf"), expected) {
        return login_form(
            req,
            StatusCode::FORBIDDEN,
            Some(lang.t("error.csrf").into()),
        );
    }
    let started = console_sessions::start(
        &state.db,
        &state.cache,
        &state.settings,
        form.text("username"),
        form.text("password"),
        client_ip(req, state),
        form.get("language").unwrap_or(lang.code),
        form.text("timezone"),
    )
    .await;
    match started {
        Ok(token) => {
            let mut resp = web::redirect("/admin");
            let headers = resp.headers_mut();
            let cookie = web::set_cookie(state, SESSION_COOKIE, &token, SESSION_TTL.as_secs());
            if let Ok(v) = cookie.parse() {
                headers.append(poem::http::header::SET_COOKIE, v);
            }
            if let Ok(v) = web::set_cookie(state, LOGIN_COOKIE, "", 0).parse() {
                headers.append(poem::http::header::SET_COOKIE, v);
            }
            resp
        }
        Err(err) => {
            let message = match &err {
                AppError::Unauthorized(_) => lang.t("login.failed").to_string(),
                AppError::Forbidden(_) => lang.t("login.not_admin").to_string(),
                AppError::TooManyRequests { .. } => lang.t("login.too_many").to_string(),
                _ => err.to_string(),
            };
            let status = crate::api::error::ApiError::from(err).parts().0;
            login_form(req, status, Some(message))
        }
    }
}

#[handler]
pub async fn logout(req: &Request, guard: Guard) -> Response {
    let console = signed_in!(guard);
    let state = web::state(req);
    if let Err(err) = console_sessions::end(&state.db, &state.cache, &console.token).await {
        return console.fail(err);
    }
    let mut resp = if console.htmx {
        Response::builder()
            .status(StatusCode::OK)
            .header("hx-redirect", "/admin/login")
            .finish()
    } else {
        web::redirect("/admin/login")
    };
    if let Ok(v) = web::set_cookie(state, SESSION_COOKIE, "", 0).parse() {
        resp.headers_mut().append(poem::http::header::SET_COOKIE, v);
    }
    resp
}

#[handler]
pub async fn language(req: &Request, guard: Guard, form: Form) -> Response {
    let console = signed_in!(guard);
    let state = web::state(req);
    match console_sessions::set_language(&state.cache, &console.token, form.text("language")).await
    {
        Ok(()) => Response::builder()
            .status(StatusCode::OK)
            .header("hx-refresh", "true")
            .finish(),
        Err(err) => console.fail(err),
    }
    .into_response()
}
