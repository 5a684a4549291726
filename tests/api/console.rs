//! The admin console at /admin, through the real server: sign-in and its cookie, CSRF,
//! logout on every instance, the security headers, the assets, one control per admin
//! operation, the translations, and the main flows (schedule, bulk moderation, cron preview,
//! run now).

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode, header, redirect::Policy};
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_PASSWORD, ADMIN_USERNAME, TestApp, spawn_app, spawn_app_sharing, test_settings,
};

/// A browser signed in to the console: its cookie and CSRF token.
struct Browser {
    client: reqwest::Client,
    base: String,
    cookie: String,
    csrf: String,
}

/// A form body (`application/x-www-form-urlencoded`).
trait FormBody {
    fn form_body(self, form: &[(&str, &str)]) -> Self;
}

impl FormBody for reqwest::RequestBuilder {
    fn form_body(self, form: &[(&str, &str)]) -> Self {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
    }
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(String::from)
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string()
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}

/// The sign-in form's token and its cookie.
async fn login_form(app: &TestApp, client: &reqwest::Client) -> (String, String) {
    let resp = client.get(app.url("/admin/login")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = cookie_value(&set_cookie(&resp, "qshare_console_login").expect("login cookie"));
    let body = resp.text().await.unwrap();
    let token = between(&body, "name=\"csrf\" value=\"", "\"")
        .unwrap()
        .to_string();
    (cookie, token)
}

async fn try_sign_in(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    let client = no_redirects();
    let (cookie, token) = login_form(app, &client).await;
    client
        .post(app.url("/admin/login"))
        .header(header::COOKIE, format!("qshare_console_login={cookie}"))
        .form_body(&[
            ("csrf", token.as_str()),
            ("username", username),
            ("password", password),
            ("timezone", "Asia/Shanghai"),
            ("language", "zh-CN"),
        ])
        .send()
        .await
        .unwrap()
}

async fn sign_in(app: &TestApp) -> Browser {
    let resp = try_sign_in(app, ADMIN_USERNAME, ADMIN_PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let cookie = set_cookie(&resp, "qshare_console").expect("a session cookie");
    let mut browser = Browser {
        client: no_redirects(),
        base: app.address.clone(),
        cookie: cookie_value(&cookie),
        csrf: String::new(),
    };
    let (status, page) = browser.get("/admin").await;
    assert_eq!(status, StatusCode::OK);
    browser.csrf = between(&page, "X-CSRF-Token&#34;:&#34;", "&#34;")
        .expect("the CSRF token in hx-headers")
        .to_string();
    browser
}

impl Browser {
    fn on(&self, base: &str) -> Self {
        Self {
            client: no_redirects(),
            base: base.to_string(),
            cookie: self.cookie.clone(),
            csrf: self.csrf.clone(),
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .header(header::COOKIE, format!("qshare_console={}", self.cookie))
            .send()
            .await
            .unwrap();
        (resp.status(), resp.text().await.unwrap())
    }

    /// An htmx GET swapping `target`: the fragment, raw (the test client takes no gzip).
    async fn fragment(&self, path: &str, target: &str) -> (StatusCode, String) {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .header(header::COOKIE, format!("qshare_console={}", self.cookie))
            .header("HX-Request", "true")
            .header("HX-Target", target)
            .send()
            .await
            .unwrap();
        (resp.status(), resp.text().await.unwrap())
    }

    /// An htmx POST with the CSRF header.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.post_with(path, form, Some(&self.csrf)).await
    }

    async fn post_with(
        &self,
        path: &str,
        form: &[(&str, &str)],
        csrf: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header(header::COOKIE, format!("qshare_console={}", self.cookie))
            .header("HX-Request", "true")
            .form_body(form);
        if let Some(csrf) = csrf {
            req = req.header("X-CSRF-Token", csrf);
        }
        req.send().await.unwrap()
    }
}

#[tokio::test]
async fn signing_in_sets_a_strict_expiring_cookie_and_pages_need_it() {
    let app = spawn_app().await;
    let anonymous = no_redirects()
        .get(app.url("/admin/jobs"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers()[header::LOCATION], "/admin/login");

    let resp = try_sign_in(&app, ADMIN_USERNAME, ADMIN_PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let cookie = set_cookie(&resp, "qshare_console").unwrap();
    for part in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/admin",
        "Max-Age=28800",
    ] {
        assert!(cookie.contains(part), "{cookie} lacks {part}");
    }
    // Tests run as APP_ENV=test, which is not development: the cookie is Secure.
    assert!(cookie.contains("Secure"), "{cookie}");

    let browser = sign_in(&app).await;
    let resp = browser
        .client
        .get(app.url("/admin"))
        .header(header::COOKIE, format!("qshare_console={}", browser.cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let csp = resp.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("style-src 'self'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe"), "{csp}");
    let page = resp.text().await.unwrap();
    assert!(page.contains("概览"), "zh-CN is the default language");
    assert!(!page.contains("style="), "no inline styles");
    assert!(!page.contains("<script>"), "no inline scripts");
}

#[tokio::test]
async fn a_wrong_password_or_a_non_admin_gets_no_session_and_the_api_login_limits_apply() {
    let app = spawn_app().await;
    let wrong = try_sign_in(&app, ADMIN_USERNAME, "not-the-password").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookie(&wrong, "qshare_console").is_none());

    app.register("plain_reader", "reader-password-1").await;
    let reader = try_sign_in(&app, "plain_reader", "reader-password-1").await;
    assert_eq!(reader.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&reader, "qshare_console").is_none());

    let per_user = app.state.settings.rate_limit.login_failures_per_username;
    for _ in 1..per_user {
        try_sign_in(&app, ADMIN_USERNAME, "still-wrong-1").await;
    }
    let limited = try_sign_in(&app, ADMIN_USERNAME, ADMIN_PASSWORD).await;
    assert_eq!(
        limited.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the API's limit, shared"
    );
}

#[tokio::test]
async fn the_sign_in_form_refuses_a_post_without_its_token() {
    let app = spawn_app().await;
    let resp = no_redirects()
        .post(app.url("/admin/login"))
        .form_body(&[
            ("username", ADMIN_USERNAME),
            ("password", ADMIN_PASSWORD),
            ("csrf", "forged"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&resp, "qshare_console").is_none());
}

#[tokio::test]
async fn a_change_without_the_csrf_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let id = app.create_article("CSRF target", json!({})).await;
    let browser = sign_in(&app).await;
    for csrf in [None, Some("forged-token")] {
        let resp = browser
            .post_with(&format!("/admin/articles/{id}/publish"), &[], csrf)
            .await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert!(resp.text().await.unwrap().contains("CSRF"));
    }
    let article = app
        .admin_json(
            Method::GET,
            &format!("/api/admin/articles/{id}"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(article["status"], "draft");

    let resp = browser
        .post(&format!("/admin/articles/{id}/publish"), &[])
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let article = app
        .admin_json(
            Method::GET,
            &format!("/api/admin/articles/{id}"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(article["status"], "published");
}

#[tokio::test]
async fn logging_out_on_one_instance_ends_the_session_on_every_instance() {
    let (settings, dir) = test_settings().await;
    let first = crate::helpers::spawn_app_with(settings.clone(), dir).await;
    let second = spawn_app_sharing(settings, None, Some(first.cache().clone())).await;
    let browser = sign_in(&first).await;
    let elsewhere = browser.on(&second.address);
    assert_eq!(elsewhere.get("/admin/jobs").await.0, StatusCode::OK);

    let out = browser.post("/admin/logout", &[]).await;
    assert_eq!(out.status(), StatusCode::OK);
    assert_eq!(out.headers()["hx-redirect"], "/admin/login");
    assert_eq!(elsewhere.get("/admin/jobs").await.0, StatusCode::SEE_OTHER);
    assert_eq!(browser.get("/admin").await.0, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn assets_have_hashed_names_long_cache_lifetimes_and_come_gzipped() {
    let app = spawn_app().await;
    let browser = sign_in(&app).await;
    let (_, page) = browser.get("/admin").await;
    let mut seen = 0;
    for start in ["src=\"/admin/assets/", "href=\"/admin/assets/"] {
        for chunk in page.split(start).skip(1) {
            let name = chunk.split('"').next().unwrap();
            assert!(name.split('.').count() == 3, "{name} carries a hash");
            let resp = reqwest::Client::new()
                .get(app.url(&format!("/admin/assets/{name}")))
                .header(header::ACCEPT_ENCODING, "gzip")
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            assert_eq!(
                resp.headers()[header::CACHE_CONTROL],
                "public, max-age=31536000, immutable"
            );
            seen += 1;
        }
    }
    assert_eq!(seen, 3, "htmx, our script and the stylesheet");
    let missing = reqwest::Client::new()
        .get(app.url("/admin/assets/htmx.0000.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

/// A job made through the console's create form (tests run without the default jobs).
async fn job_made_in_the_console(app: &TestApp, browser: &Browser) -> i64 {
    let name = crate::helpers::unique_name("console_job_");
    let resp = browser
        .post(
            "/admin/jobs",
            &[
                ("name", &name),
                ("kind", "publish_scheduled"),
                ("cron", "0 0 3 * * *"),
                ("timezone", "Asia/Shanghai"),
                ("enabled", "1"),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let location = resp.headers()["hx-location"].to_str().unwrap().to_string();
    let jobs = app
        .admin_json(Method::GET, "/api/admin/jobs", None, StatusCode::OK)
        .await;
    let job = jobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == name.as_str())
        .expect("the job the console created")
        .clone();
    let id = job["id"].as_i64().unwrap();
    assert_eq!(location, format!("/admin/jobs/{id}"));
    id
}

fn data_ops(page: &str) -> BTreeSet<String> {
    page.split("data-op=\"")
        .skip(1)
        .map(|c| c.split('"').next().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn every_admin_operation_in_the_openapi_document_has_a_console_control() {
    let app = spawn_app().await;
    let spec = app.get_json("/openapi.json", StatusCode::OK).await;
    let mut admin_ops = BTreeSet::new();
    for (_, item) in spec["paths"].as_object().unwrap() {
        for (_, op) in item.as_object().unwrap() {
            if let Some(id) = op["operationId"]
                .as_str()
                .filter(|id| id.starts_with("admin"))
            {
                admin_ops.insert(id.to_string());
            }
        }
    }
    assert!(admin_ops.len() >= 40, "{admin_ops:?}");

    // Something of every kind, so that every row's controls render.
    let article = app.published_article("Covered", json!({})).await;
    let token = app.user_token("cover_reader").await;
    app.as_user(
        &token,
        Method::POST,
        &format!("/api/articles/{article}/comments"),
        Some(json!({ "content": "a comment to moderate" })),
        StatusCode::CREATED,
    )
    .await;
    app.as_user(
        &token,
        Method::POST,
        "/api/guestbook",
        Some(json!({ "content": "a message to answer" })),
        StatusCode::CREATED,
    )
    .await;
    app.create_category("covered", "Covered").await;
    app.create_tag("covered", "Covered").await;
    app.admin_json(
        Method::POST,
        "/api/admin/resources",
        Some(json!({ "name": "Neovim", "homepage": "https://neovim.io", "category": "editor" })),
        StatusCode::CREATED,
    )
    .await;
    app.admin_json(Method::POST, "/api/admin/app/releases",
        Some(json!({ "platform": "ios", "version": "1.2.0", "download_url": "https://apps.example.com/q" })),
        StatusCode::CREATED).await;
    // And a halted one, so that both the halt and the resume controls show.
    let halted = app.admin_json(Method::POST, "/api/admin/app/releases",
        Some(json!({ "platform": "android", "version": "1.2.0", "download_url": "https://apps.example.com/a" })),
        StatusCode::CREATED).await["id"].as_i64().unwrap();
    app.admin_json(
        Method::POST,
        &format!("/api/admin/app/releases/{halted}/halt"),
        None,
        StatusCode::OK,
    )
    .await;
    // One source enabled and one disabled, so that both the enable and disable controls show.
    let source = app
        .admin_json(
            Method::POST,
            "/api/admin/sources",
            Some(json!({ "name": "Covered feed", "feed_url": "https://feeds.example.com/covered.xml" })),
            StatusCode::CREATED,
        )
        .await["id"]
        .as_i64()
        .unwrap();
    app.admin_json(
        Method::POST,
        "/api/admin/sources",
        Some(json!({ "name": "Paused feed", "feed_url": "https://feeds.example.com/paused.xml", "enabled": false })),
        StatusCode::CREATED,
    )
    .await;
    let browser = sign_in(&app).await;
    assert_eq!(
        browser
            .post(&format!("/admin/articles/{article}/push"), &[])
            .await
            .status(),
        StatusCode::OK
    );
    let campaign = app
        .admin_json(
            Method::GET,
            "/api/admin/push/campaigns",
            None,
            StatusCode::OK,
        )
        .await["items"][0]["id"]
        .as_i64()
        .expect("the console's push made a campaign");
    let job = job_made_in_the_console(&app, &browser).await;
    // The one-comment actions live in a comment's details row.
    let comment = app
        .admin_json(
            Method::GET,
            "/api/admin/comments?status=published",
            None,
            StatusCode::OK,
        )
        .await["items"][0]["id"]
        .as_i64()
        .expect("the comment");

    let mut controls = BTreeSet::new();
    for path in [
        "/admin".to_string(),
        "/admin/articles".into(),
        format!("/admin/articles/{article}"),
        "/admin/moderation?kind=comments&status=published".into(),
        "/admin/moderation?kind=comments&status=pending".into(),
        format!("/admin/moderation/comments/{comment}"),
        "/admin/moderation?kind=guestbook&status=published".into(),
        "/admin/moderation?kind=guestbook&status=pending".into(),
        "/admin/jobs".into(),
        format!("/admin/jobs/{job}"),
        "/admin/push".into(),
        format!("/admin/push/{campaign}"),
        "/admin/followers".into(),
        "/admin/resources".into(),
        "/admin/releases".into(),
        "/admin/taxonomy".into(),
        "/admin/sources".into(),
        format!("/admin/sources/{source}"),
        "/admin/audit".into(),
    ] {
        let (status, page) = browser.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        controls.extend(data_ops(&page));
    }
    let missing: Vec<_> = admin_ops.difference(&controls).collect();
    assert!(
        missing.is_empty(),
        "admin operations without a console control: {missing:?}"
    );
    let unknown: Vec<_> = controls.difference(&admin_ops).collect();
    assert!(
        unknown.is_empty(),
        "controls naming no operation: {unknown:?}"
    );
}

fn keys(source: &str) -> BTreeSet<&str> {
    source
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_once(" = ").expect("key = value").0)
        .collect()
}

fn console_sources() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for dir in ["templates/console", "src/api/console"] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            files.push((
                path.display().to_string(),
                std::fs::read_to_string(&path).unwrap(),
            ));
        }
    }
    files
}

#[test]
fn both_languages_have_the_same_keys_and_every_key_used_exists() {
    let zh = keys(qshare::api::console::i18n::ZH_CN);
    let en = keys(qshare::api::console::i18n::EN);
    assert_eq!(zh, en, "zh-CN and en differ");
    let mut used = BTreeSet::new();
    for (_, source) in console_sources() {
        // Every run between two quotes, so that keys nested in attributes are seen too.
        let pieces: Vec<&str> = source.split('"').collect();
        for chunk in pieces.iter().skip(1) {
            let prefix = chunk.split('.').next().unwrap();
            let is_key = chunk.contains('.')
                && chunk
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_')
                && zh.iter().any(|k| k.starts_with(&format!("{prefix}.")));
            if is_key {
                used.insert((*chunk).to_string());
            }
        }
    }
    let missing: Vec<_> = used.iter().filter(|k| !zh.contains(k.as_str())).collect();
    assert!(
        missing.is_empty(),
        "keys used but not translated: {missing:?}"
    );
    let unused: Vec<_> = zh.iter().filter(|k| !used.contains(**k)).collect();
    assert!(unused.is_empty(), "keys never used: {unused:?}");
}

/// Text a template shows that is not a translation: what is left between tags once the
/// template expressions and tags are taken out must be punctuation, numbers or the
/// language names of the switch.
#[test]
fn templates_hold_no_words_of_their_own() {
    let allowed = ["中文", "English", "OpenID"];
    for (path, source) in console_sources()
        .into_iter()
        .filter(|(p, _)| p.ends_with(".html"))
    {
        let mut text = String::new();
        let mut rest = source.as_str();
        // Drop {{ }}, {% %} and {# #}.
        while let Some(start) = rest.find('{') {
            text.push_str(&rest[..start]);
            let close = match &rest[start..start + 2.min(rest.len() - start)] {
                "{{" => "}}",
                "{%" => "%}",
                "{#" => "#}",
                _ => {
                    text.push('{');
                    rest = &rest[start + 1..];
                    continue;
                }
            };
            let end = rest[start..].find(close).expect("closed") + start + 2;
            text.push(' ');
            rest = &rest[end..];
        }
        text.push_str(rest);
        // Text nodes only: drop tags (with their attributes).
        let mut words = String::new();
        let mut in_tag = false;
        for ch in text.chars() {
            match ch {
                '<' => in_tag = true,
                '>' => {
                    in_tag = false;
                    words.push(' ');
                }
                c if !in_tag => words.push(c),
                _ => {}
            }
        }
        for word in words.split_whitespace() {
            let is_punctuation = word.chars().all(|c| !c.is_alphabetic());
            // A keyboard shortcut's key (`<span class="kbd">a</span>`).
            let is_key = word.len() == 1;
            assert!(
                is_punctuation || is_key || allowed.contains(&word),
                "{path}: hard-coded UI text {word:?}"
            );
        }
        // Attributes people read must come from the translations too.
        for attr in ["title=\"", "placeholder=\"", "aria-label=\"", "alt=\""] {
            for chunk in text.split(attr).skip(1) {
                let value = chunk.split('"').next().unwrap();
                assert!(
                    value.chars().all(|c| !c.is_alphabetic()),
                    "{path}: hard-coded {attr}{value}"
                );
            }
        }
        assert!(!source.contains("style=\""), "{path}: inline style");
        assert!(!source.contains("<script>"), "{path}: inline script");
    }
}

#[tokio::test]
async fn an_article_is_edited_scheduled_in_the_editors_zone_published_and_featured() {
    let app = spawn_app().await;
    let id = app.create_article("Draft one", json!({})).await;
    let browser = sign_in(&app).await;
    let (_, page) = browser.get(&format!("/admin/articles/{id}")).await;
    assert!(page.contains("Asia/Shanghai"), "the editor's zone is named");

    let preview = browser
        .post(
            "/admin/articles/preview",
            &[("content", "# Hi\n\n<b>x</b>")],
        )
        .await;
    let html = preview.text().await.unwrap();
    assert!(
        html.contains("<h1>Hi</h1>") && html.contains("&lt;b&gt;"),
        "{html}"
    );

    let current = app
        .admin_json(
            Method::GET,
            &format!("/api/admin/articles/{id}"),
            None,
            StatusCode::OK,
        )
        .await;
    let form = [
        ("title", "Edited title"),
        ("summary", "s"),
        ("content", "# Body"),
        ("author", current["author"].as_str().unwrap()),
        ("source_url", current["source_url"].as_str().unwrap()),
        ("source_name", current["source_name"].as_str().unwrap()),
        ("copyright_notice", "© someone"),
    ];
    let saved = browser.post(&format!("/admin/articles/{id}"), &form).await;
    assert_eq!(saved.status(), StatusCode::OK);

    // 2030-01-02 09:30 in Shanghai is 01:30 UTC.
    let scheduled = browser
        .post(
            &format!("/admin/articles/{id}/schedule"),
            &[("publish_at", "2030-01-02T09:30")],
        )
        .await;
    assert_eq!(scheduled.status(), StatusCode::OK);
    let article = app
        .admin_json(
            Method::GET,
            &format!("/api/admin/articles/{id}"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(article["status"], "scheduled");
    assert_eq!(article["title"], "Edited title");
    assert_eq!(article["copyright_notice"], "© someone");
    assert!(
        article["published_at"]
            .as_str()
            .unwrap()
            .starts_with("2030-01-02T01:30:00")
    );
    let (_, page) = browser.get(&format!("/admin/articles/{id}")).await;
    assert!(
        page.contains("2030-01-02 09:30:00 CST (Asia/Shanghai, UTC+08:00)"),
        "absolute time with its zone"
    );

    let bad = browser
        .post(
            &format!("/admin/articles/{id}/schedule"),
            &[("publish_at", "yesterday")],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert_eq!(bad.headers()["hx-retarget"], "#flash");

    for action in ["publish", "feature"] {
        let r = browser
            .post(&format!("/admin/articles/{id}/{action}"), &[])
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{action}");
    }
    let public: Value = app
        .get_json(&format!("/api/articles/{id}"), StatusCode::OK)
        .await;
    assert_eq!(public["title"], "Edited title");
    assert_eq!(public["featured"], true);

    let (_, list) = browser
        .get("/admin/articles?status=published&q=Edited")
        .await;
    assert!(list.contains("Edited title"));
    let (_, none) = browser.get("/admin/articles?status=draft&q=Edited").await;
    assert!(!none.contains("Edited title"));
}

#[tokio::test]
async fn bulk_moderation_applies_to_every_comment_matching_the_filter_across_pages() {
    let app = spawn_app().await;
    let article = app.published_article("Busy", json!({})).await;
    let token = app.user_token("busy_reader").await;
    for i in 0..60 {
        app.as_user(
            &token,
            Method::POST,
            &format!("/api/articles/{article}/comments"),
            Some(json!({ "content": format!("comment {i} spam") })),
            StatusCode::CREATED,
        )
        .await;
    }
    let browser = sign_in(&app).await;
    let a = article.to_string();
    let (_, page) = browser
        .get(&format!(
            "/admin/moderation?kind=comments&status=published&article_id={a}&keyword=spam"
        ))
        .await;
    assert!(
        page.contains("data-total=\"60\""),
        "the filter counts all 60 across pages"
    );

    let resp = browser
        .post(
            "/admin/moderation/comments",
            &[
                ("action", "hide"),
                ("status", "published"),
                ("article_id", &a),
                ("keyword", "spam"),
                ("all_matching", "1"),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.unwrap().contains("60"));
    let public = app
        .get_json(&format!("/api/articles/{article}"), StatusCode::OK)
        .await;
    assert_eq!(
        public["comment_count"], 0,
        "all 60 hidden, not only the first page"
    );

    let nothing = browser
        .post(
            "/admin/moderation/comments",
            &[("action", "approve"), ("status", "hidden")],
        )
        .await;
    assert_eq!(
        nothing.status(),
        StatusCode::BAD_REQUEST,
        "no ids and not all matching"
    );
}

#[tokio::test]
async fn the_moderation_keyword_filter_ignores_case_and_takes_wildcards_literally() {
    let app = spawn_app().await;
    let article = app.published_article("Cases", json!({})).await;
    let token = app.user_token("case_reader").await;
    for content in [
        "plain spam here",
        "SPAM in capitals",
        "Spam at the start",
        "nothing to see",
        "a 100% honest review",
        "a 1000 word review",
    ] {
        app.as_user(
            &token,
            Method::POST,
            &format!("/api/articles/{article}/comments"),
            Some(json!({ "content": content })),
            StatusCode::CREATED,
        )
        .await;
    }
    let browser = sign_in(&app).await;
    let total = |page: &str| {
        between(page, "data-total=\"", "\"")
            .expect("the matching count")
            .to_string()
    };
    let queue = format!("/admin/moderation?kind=comments&status=published&article_id={article}");
    let (_, page) = browser.get(&format!("{queue}&keyword=sPaM")).await;
    assert_eq!(total(&page), "3", "every case of spam, on either backend");
    assert!(page.contains("SPAM in capitals") && page.contains("plain spam here"));
    assert!(!page.contains("nothing to see"));
    let (_, page) = browser.get(&format!("{queue}&keyword=100%25")).await;
    assert_eq!(total(&page), "1", "% is a character, not a wildcard");
    let (_, page) = browser.get(&format!("{queue}&keyword=HONEST")).await;
    assert_eq!(total(&page), "1");
}

#[tokio::test]
async fn the_article_title_search_ignores_case_and_takes_wildcards_literally() {
    let app = spawn_app().await;
    for title in [
        "Rust Weekly",
        "RUST in capitals",
        "rust at the start",
        "Go only",
        "A 100% honest review",
        "A 1000 word review",
    ] {
        app.create_article(title, json!({})).await;
    }
    let browser = sign_in(&app).await;
    let (_, page) = browser.get("/admin/articles?q=rUsT").await;
    for title in ["Rust Weekly", "RUST in capitals", "rust at the start"] {
        assert!(
            page.contains(title),
            "{title}: every case, on either backend"
        );
    }
    assert!(!page.contains("Go only"));
    let (_, page) = browser.get("/admin/articles?q=100%25").await;
    assert!(page.contains("A 100% honest review"));
    assert!(
        !page.contains("A 1000 word review"),
        "% is a character, not a wildcard"
    );
    let (_, page) = browser.get("/admin/articles?q=HONEST").await;
    assert!(page.contains("A 100% honest review"));
}

/// Issue 19: an htmx fragment is at most 15 KB (raw, before compression).
const FRAGMENT_MAX: usize = 15 * 1024;

#[tokio::test]
async fn list_fragments_stay_under_15_kb_with_the_longest_comments_and_long_titles() {
    use entity::{comment, user};
    use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

    let app = spawn_app().await;
    let article = app.published_article("Crowded", json!({})).await;
    // The longest name and the longest comment, in three-byte characters.
    let name = format!("{}ab", "评论者".repeat(10));
    app.user_token(&name).await;
    let author = user::Entity::find()
        .filter(user::Column::Username.eq(name.as_str()))
        .one(&app.state.db)
        .await
        .unwrap()
        .expect("the commenter")
        .id;
    let longest = format!(
        "{}END",
        "长".repeat(qshare::service::moderation::MAX_CHARS - 3)
    );
    let now = chrono::Utc::now();
    let rows = (0..60).map(|_| comment::ActiveModel {
        article_id: Set(article),
        user_id: Set(author),
        content: Set(longest.clone()),
        status: Set(comment::CommentStatus::Pending),
        reply_count: Set(0),
        client_ip: Set("127.0.0.1".into()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    });
    comment::Entity::insert_many(rows)
        .exec(&app.state.db)
        .await
        .unwrap();
    // A full page of articles with long headlines.
    for i in 0..55 {
        app.create_article(
            &format!("{i} 一个相当长的中文标题，用来衡量文章列表片段的大小 A rather long English headline too"),
            json!({}),
        )
        .await;
    }
    let browser = sign_in(&app).await;

    let (status, queue) = browser
        .fragment("/admin/moderation?kind=comments&status=pending", "queue")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(queue.contains("data-total=\"60\""), "all 60 counted");
    assert!(
        queue.contains("/admin/moderation?kind=comments"),
        "a next page"
    );
    assert!(!queue.contains("END"), "the rows show excerpts");
    assert!(
        queue.len() <= FRAGMENT_MAX,
        "moderation queue fragment: {} bytes",
        queue.len()
    );
    // The whole text, the audit log and the one-comment actions are there on demand.
    let id = between(&queue, "name=\"ids\" value=\"", "\"").unwrap();
    let (status, detail) = browser
        .fragment(&format!("/admin/moderation/comments/{id}"), "closest tr")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(detail.contains(&longest), "the full comment");
    assert!(detail.contains(&format!("object_id={id}")), "its audit log");
    assert!(detail.contains(&format!("/admin/moderation/comments/{id}/approve")));

    for path in ["/admin/articles", "/admin/articles?status=draft"] {
        let (status, table) = browser.fragment(path, "article-table").await;
        assert_eq!(status, StatusCode::OK);
        assert!(table.contains("data-op=\"adminGetArticle\""));
        assert!(table.len() <= FRAGMENT_MAX, "{path}: {} bytes", table.len());
    }
}

#[tokio::test]
async fn a_service_error_reads_in_the_viewers_language_with_its_field_label() {
    let app = spawn_app().await;
    let browser = sign_in(&app).await;
    let long_title = "题".repeat(300);
    let form = [("title", long_title.as_str()), ("content", "body")];
    let refused = browser.post("/admin/articles", &form).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert_eq!(refused.headers().get("hx-retarget").unwrap(), "#flash");
    let html = refused.text().await.unwrap();
    assert!(html.contains("data-code=\"invalid_input\""), "{html}");
    assert!(html.contains("输入有误") && html.contains("标题"), "{html}");
    assert!(!html.contains("Invalid input"), "{html}");

    let cron = browser
        .post(
            "/admin/jobs/preview",
            &[("cron", "61 * * * *"), ("timezone", "UTC")],
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(
        cron.contains("输入有误") && cron.contains("Cron 表达式"),
        "{cron}"
    );

    let (status, page) = browser.get("/admin/jobs/999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("找不到该对象"), "{page}");

    let switched = browser.post("/admin/language", &[("language", "en")]).await;
    assert_eq!(switched.status(), StatusCode::OK);
    let html = browser
        .post("/admin/articles", &form)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Invalid input") && html.contains("Title"),
        "{html}"
    );
    assert!(!html.contains("输入有误"), "{html}");
}

#[tokio::test]
async fn the_cron_preview_shows_five_fire_times_in_both_zones_or_the_error_inline() {
    let app = spawn_app().await;
    let browser = sign_in(&app).await;
    let ok = browser
        .post(
            "/admin/jobs/preview",
            &[("cron", "0 30 9 * * *"), ("timezone", "America/New_York")],
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    let html = ok.text().await.unwrap();
    assert!(html.contains("每天 09:30:00"), "{html}");
    assert_eq!(html.matches("data-testid=\"fire-job\"").count(), 5);
    assert!(html.contains("America/New_York") && html.contains("Asia/Shanghai"));

    let bad = browser
        .post(
            "/admin/jobs/preview",
            &[("cron", "61 * * * *"), ("timezone", "UTC")],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(
        bad.headers().get("hx-retarget").is_none(),
        "shown inline, next to the field"
    );
    assert!(bad.text().await.unwrap().contains("cron-error"));
}

#[tokio::test]
async fn run_now_from_the_console_leaves_the_next_fire_time_unchanged() {
    let app = spawn_app().await;
    let browser = sign_in(&app).await;
    let id = job_made_in_the_console(&app, &browser).await;
    let disabled = browser
        .post(&format!("/admin/jobs/{id}/disable"), &[])
        .await;
    assert_eq!(disabled.status(), StatusCode::OK);
    let enabled = browser.post(&format!("/admin/jobs/{id}/enable"), &[]).await;
    assert_eq!(enabled.status(), StatusCode::OK);
    let job = app
        .admin_json(
            Method::GET,
            &format!("/api/admin/jobs/{id}"),
            None,
            StatusCode::OK,
        )
        .await;
    assert!(job["next_fire_at"].is_string(), "{job}");
    let before = job["next_fire_at"].clone();
    let resp = browser.post(&format!("/admin/jobs/{id}/run"), &[]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let after = app
        .admin_json(
            Method::GET,
            &format!("/api/admin/jobs/{id}"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(after["next_fire_at"], before);
    let runs = app
        .admin_json(
            Method::GET,
            &format!("/api/admin/jobs/{id}/runs"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(runs["items"][0]["trigger"], "manual");
    let (_, page) = browser.get(&format!("/admin/jobs/{id}")).await;
    assert!(
        page.contains("手动"),
        "the run history shows the manual run"
    );
}

#[tokio::test]
async fn a_source_made_with_the_console_form_shows_in_the_list_with_its_status() {
    let app = spawn_app().await;
    let browser = sign_in(&app).await;
    let resp = browser
        .post(
            "/admin/sources",
            &[
                ("name", "Console feed"),
                ("feed_url", "https://feeds.example.com/console.xml"),
                ("category_id", ""),
                ("tag_ids", ""),
                ("min_interval_secs", ""),
                ("notice_template", ""),
                ("enabled", "1"),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers().get("hx-location").unwrap(), "/admin/sources");
    let listed = app
        .admin_json(Method::GET, "/api/admin/sources", None, StatusCode::OK)
        .await;
    let made = &listed["items"][0];
    assert_eq!(made["name"], "Console feed");
    assert_eq!(made["enabled"], true);
    let id = made["id"].as_i64().unwrap();
    let (status, page) = browser.get("/admin/sources").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Console feed"), "{page}");
    assert!(page.contains(&format!("href=\"/admin/sources/{id}\"")));
    let (status, detail) = browser.get(&format!("/admin/sources/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(detail.contains("https://feeds.example.com/console.xml"));

    // Without the CSRF token the form changes nothing.
    let refused = browser
        .post_with(
            "/admin/sources",
            &[
                ("name", "Forged"),
                ("feed_url", "https://feeds.example.com/f.xml"),
            ],
            None,
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let listed = app
        .admin_json(Method::GET, "/api/admin/sources", None, StatusCode::OK)
        .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
}
