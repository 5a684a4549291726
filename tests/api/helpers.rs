use std::path::PathBuf;

use qshare::{
    Application, Settings,
    cache::Cache,
    config::{AppEnv, CacheSettings},
    state::AppState,
};
use reqwest::{Method, Response, StatusCode};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

pub const ADMIN_USERNAME: &str = "site_admin";
pub const ADMIN_PASSWORD: &str = "admin-password-123";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub state: AppState,
    /// Access token of an administrator created for this app.
    pub admin_token: String,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: Option<tempfile::TempDir>,
    /// This instance's own search index (instances never share one).
    _index: Option<tempfile::TempDir>,
}

/// Names unique across concurrently running tests (and test processes).
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

pub fn config_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config")
}

/// Cache settings for a test: the configured Redis (fresh key prefix) or in-process.
pub fn test_cache_settings() -> CacheSettings {
    CacheSettings {
        redis_url: std::env::var("TEST_REDIS_URL")
            .ok()
            .filter(|u| !u.is_empty()),
        key_prefix: format!("{}:", unique_name("qshare:t:")),
        ..CacheSettings::default()
    }
}

/// A fresh PostgreSQL database on the TEST_DATABASE_URL server, or None when unset. A
/// configured server that cannot be reached fails the test (never a silent skip).
async fn fresh_postgres_url() -> Option<String> {
    let base = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    let name = unique_name("qshare_t_");
    let admin = Database::connect(base.as_str())
        .await
        .unwrap_or_else(|e| panic!("TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}"));
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create the test database");
    admin.close().await.ok();
    let (without_query, query) = match base.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (base.as_str(), None),
    };
    let server = without_query
        .rsplit_once('/')
        .map_or(without_query, |(s, _)| s);
    Some(match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    })
}

/// Settings for a test instance on a fresh database.
pub async fn test_settings() -> (Settings, Option<tempfile::TempDir>) {
    let mut settings = Settings::load_from(&config_dir(), AppEnv::Test).expect("test settings");
    settings.server.port = 0;
    settings.cache = test_cache_settings();
    // A unique index per test; `spawn_app_sharing` gives each instance its own, removed with it.
    settings.search.index_dir = std::env::temp_dir().join(unique_name("qshare-index-"));
    let dir = match fresh_postgres_url().await {
        Some(url) => {
            settings.database.url = url;
            settings.database.max_connections = 5;
            None
        }
        None => {
            let dir = tempfile::tempdir().expect("temp dir");
            settings.database.url = format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("qshare.db").display()
            );
            Some(dir)
        }
    };
    (settings, dir)
}

pub async fn spawn_app() -> TestApp {
    let (settings, dir) = test_settings().await;
    spawn_app_with(settings, dir).await
}

pub async fn spawn_app_with(settings: Settings, dir: Option<tempfile::TempDir>) -> TestApp {
    spawn_app_sharing(settings, dir, None).await
}

/// A second instance on the same database (and, with `cache`, the same in-process cache;
/// with Redis configured, instances share Redis through the settings anyway).
pub async fn spawn_app_sharing(
    mut settings: Settings,
    dir: Option<tempfile::TempDir>,
    cache: Option<Cache>,
) -> TestApp {
    let index = tempfile::tempdir().expect("search index dir");
    settings.search.index_dir = index.path().join("search");
    spawn_app_keeping_index(settings, dir, cache, Some(index)).await
}

/// Like `spawn_app_sharing`, with the search index where `settings.search.index_dir` says
/// (a test of the index's life on disk); `index` is kept alive with the app.
pub async fn spawn_app_keeping_index(
    settings: Settings,
    dir: Option<tempfile::TempDir>,
    cache: Option<Cache>,
    index: Option<tempfile::TempDir>,
) -> TestApp {
    let app = Application::build_with_cache(settings, cache)
        .await
        .expect("build the application");
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state().clone();
    let server = tokio::spawn(app.run_until(std::future::pending()));
    qshare::service::accounts::create_admin(&state.db, ADMIN_USERNAME, ADMIN_PASSWORD)
        .await
        .expect("create the test admin");
    // reqwest runs on rustls without a built-in crypto provider: install ring as the
    // process default before building a client (WechatClient::new does the same).
    qshare::wechat::client::install_crypto_provider();
    let mut app = TestApp {
        address,
        // Raw answers: reqwest would otherwise ask for and decode gzip and br itself (the
        // sources need those features), hiding the encodings the edge tests check.
        client: reqwest::Client::builder()
            .no_gzip()
            .no_brotli()
            .build()
            .unwrap(),
        state,
        admin_token: String::new(),
        server,
        _dir: dir,
        _index: index,
    };
    app.admin_token = app.login(ADMIN_USERNAME, ADMIN_PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    app
}

impl TestApp {
    /// Stops the instance the way a crash would: its server and background tasks (push
    /// workers included) are dropped mid-flight, nothing is shut down in order.
    pub async fn kill(&self) {
        self.server.abort();
        while !self.server.is_finished() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.expect("request sent")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path, None, None).await
    }

    /// GET expecting `status`, returning the JSON body.
    pub async fn get_json(&self, path: &str, status: StatusCode) -> Value {
        let resp = self.get(path).await;
        expect_json(resp, status).await
    }

    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        self.request(method, path, Some(&self.admin_token), body)
            .await
    }

    /// Registers a user (expects 201) and returns the token response.
    pub async fn register(&self, username: &str, password: &str) -> Value {
        let body = json!({ "username": username, "password": password });
        let resp = self
            .request(Method::POST, "/api/auth/register", None, Some(body))
            .await;
        expect_json(resp, StatusCode::CREATED).await
    }

    /// Logs in (expects 200) and returns the token response.
    pub async fn login(&self, username: &str, password: &str) -> Value {
        let body = json!({ "username": username, "password": password });
        let resp = self
            .request(Method::POST, "/api/auth/login", None, Some(body))
            .await;
        expect_json(resp, StatusCode::OK).await
    }

    /// Registers a user and returns their access token.
    pub async fn user_token(&self, username: &str) -> String {
        self.register(username, "a-good-password").await["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A call with a user's access token expecting `status`; returns the JSON body.
    pub async fn as_user(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        status: StatusCode,
    ) -> Value {
        expect_json(self.request(method, path, Some(token), body).await, status).await
    }

    /// Admin call expecting `status`, returning the JSON body (Null for an empty body).
    pub async fn admin_json(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        status: StatusCode,
    ) -> Value {
        let resp = self.admin(method, path, body).await;
        expect_json(resp, status).await
    }

    pub async fn create_category(&self, slug: &str, name: &str) -> i64 {
        let body = json!({ "slug": slug, "name": name });
        self.admin_json(
            Method::POST,
            "/api/admin/categories",
            Some(body),
            StatusCode::CREATED,
        )
        .await["id"]
            .as_i64()
            .unwrap()
    }

    pub async fn create_tag(&self, slug: &str, name: &str) -> i64 {
        let body = json!({ "slug": slug, "name": name });
        self.admin_json(
            Method::POST,
            "/api/admin/tags",
            Some(body),
            StatusCode::CREATED,
        )
        .await["id"]
            .as_i64()
            .unwrap()
    }

    /// Creates a draft article with the given title and extra fields; returns its id. Its
    /// source URL is unique unless `extra` gives one (`articles.source_url` is unique).
    pub async fn create_article(&self, title: &str, extra: Value) -> i64 {
        let mut body = json!({
            "title": title,
            "summary": format!("Summary of {title}"),
            "content": format!("# {title}\n\nBody."),
            "author": "Tester",
            "source_url": format!("https://example.com/original/{}", unique_name("a")),
            "source_name": "Example",
        });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                body.insert(k.clone(), v.clone());
            }
        }
        self.admin_json(
            Method::POST,
            "/api/admin/articles",
            Some(body),
            StatusCode::CREATED,
        )
        .await["id"]
            .as_i64()
            .unwrap()
    }

    pub async fn publish(&self, id: i64) {
        self.admin_json(
            Method::POST,
            &format!("/api/admin/articles/{id}/publish"),
            None,
            StatusCode::OK,
        )
        .await;
    }

    pub async fn feature(&self, id: i64) {
        self.admin_json(
            Method::PUT,
            &format!("/api/admin/articles/{id}/featured"),
            None,
            StatusCode::OK,
        )
        .await;
    }

    /// Creates and publishes an article; returns its id.
    pub async fn published_article(&self, title: &str, extra: Value) -> i64 {
        let id = self.create_article(title, extra).await;
        self.publish(id).await;
        id
    }

    /// Follows `next_cursor` to the end of a list, returning every item id in order.
    pub async fn collect_ids(&self, path: &str) -> Vec<i64> {
        let mut ids = Vec::new();
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut next: Option<String> = None;
        loop {
            let url = match &next {
                Some(c) => format!("{path}{sep}cursor={c}"),
                None => path.to_string(),
            };
            let page = self.get_json(&url, StatusCode::OK).await;
            ids.extend(
                page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i["id"].as_i64().unwrap()),
            );
            match page["next_cursor"].as_str() {
                Some(c) => next = Some(c.to_string()),
                None => break,
            }
            assert!(ids.len() < 100_000, "pagination does not end");
        }
        ids
    }

    pub fn cache(&self) -> &Cache {
        &self.state.cache
    }
}

/// Asserts the status and returns the JSON body; an error status must carry the error shape.
pub async fn expect_json(resp: Response, status: StatusCode) -> Value {
    let actual = resp.status();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = resp.text().await.expect("body");
    assert_eq!(actual, status, "unexpected status; body: {text}");
    if text.is_empty() {
        return Value::Null;
    }
    assert!(
        content_type.starts_with("application/json"),
        "not JSON ({content_type}): {text}"
    );
    let value: Value = serde_json::from_str(&text).expect("JSON body");
    if actual.is_client_error() || actual.is_server_error() {
        assert_error_shape(&value);
    }
    value
}

/// `{"code": snake_case, "message": non-empty, "details"?: object}`.
pub fn assert_error_shape(value: &Value) {
    let code = value["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no code in {value}"));
    assert!(
        !code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
        "code {code:?}"
    );
    assert!(
        value["message"].as_str().is_some_and(|m| !m.is_empty()),
        "no message in {value}"
    );
    if let Some(details) = value.get("details") {
        assert!(details.is_object(), "details must be an object: {value}");
    }
}

/// URLs of the real PostgreSQL server and Redis, for tests that only make sense against them.
pub struct RealServices {
    /// TEST_DATABASE_URL: a server on which tests create their own databases.
    pub database_url: String,
    pub redis_url: String,
}

/// Whether a test that needs the real services must fail without them. The rule, in one
/// place: `QSHARE_TEST_SERVICES=required` demands them; under CI they are demanded unless
/// `QSHARE_TEST_SERVICES=none` (CI's embedded pass) says otherwise; a developer's plain
/// `cargo test` skips such tests.
pub fn services_required(qshare_test_services: Option<&str>, ci: Option<&str>) -> bool {
    match qshare_test_services {
        Some("required") => true,
        Some("none") => false,
        _ => ci.is_some_and(|v| !v.is_empty()),
    }
}

/// The real services from TEST_DATABASE_URL and TEST_REDIS_URL. Without them, `test`
/// fails when `services_required` says so, and is otherwise skipped with a note on stderr
/// (the caller returns early on None).
pub fn real_services(test: &str) -> Option<RealServices> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match (var("TEST_DATABASE_URL"), var("TEST_REDIS_URL")) {
        (Some(database_url), Some(redis_url)) => Some(RealServices {
            database_url,
            redis_url,
        }),
        _ => {
            let mode = var("QSHARE_TEST_SERVICES");
            if services_required(mode.as_deref(), var("CI").as_deref()) {
                panic!(
                    "{test} needs PostgreSQL and Redis: set TEST_DATABASE_URL and TEST_REDIS_URL \
                     (QSHARE_TEST_SERVICES={mode:?}, CI={:?})",
                    var("CI")
                );
            }
            eprintln!(
                "note: {test} skipped: it needs TEST_DATABASE_URL and TEST_REDIS_URL \
                 (set QSHARE_TEST_SERVICES=required to make that a failure)"
            );
            None
        }
    }
}
