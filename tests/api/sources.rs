//! Feed sources: the admin API, the guarded fetcher, conditional GET and scheduling, the
//! content pipeline and "nothing twice", against a local feed fixture server
//! (`testkit::feed_fixture`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use qshare::service::sources::ingest::{self, CycleSummary};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::feed_fixture::{FeedFixture, Resource};

use crate::helpers::{TestApp, spawn_app_sharing, spawn_app_with, test_settings};

/// An app whose sources may reach the fixture on loopback, without the per-host gap.
async fn ingest_app() -> (TestApp, qshare::Settings) {
    let (mut settings, dir) = test_settings().await;
    settings.ingest.allow_private_networks = true;
    settings.ingest.min_host_gap_ms = 0;
    (spawn_app_with(settings.clone(), dir).await, settings)
}

struct Entry<'a> {
    guid: Option<&'a str>,
    link: &'a str,
    title: &'a str,
    body: &'a str,
}

fn entry<'a>(guid: Option<&'a str>, link: &'a str, title: &'a str, body: &'a str) -> Entry<'a> {
    Entry {
        guid,
        link,
        title,
        body,
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// An RSS 2.0 document (no XML declaration: callers add one when they need it).
fn rss(entries: &[Entry]) -> String {
    let items: String = entries
        .iter()
        .map(|e| {
            let guid = e
                .guid
                .map(|g| format!("<guid isPermaLink=\"false\">{g}</guid>"))
                .unwrap_or_default();
            format!(
                "<item><title>{}</title><link>{}</link>{guid}<author>editor@example.cn (李雷)</author><description>{}</description></item>",
                escape(e.title),
                escape(e.link),
                escape(e.body)
            )
        })
        .collect();
    format!(
        "<rss version=\"2.0\"><channel><title>Fixture</title><link>https://blog.example.cn/</link>{items}</channel></rss>"
    )
}

async fn create_source(app: &TestApp, feed_url: &str, extra: Value) -> Value {
    let mut body = json!({ "name": "阿里云开发者社区", "feed_url": feed_url });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    app.admin_json(
        Method::POST,
        "/api/admin/sources",
        Some(body),
        StatusCode::CREATED,
    )
    .await
}

async fn fetch_now(app: &TestApp, id: &Value) -> Value {
    app.admin_json(
        Method::POST,
        &format!("/api/admin/sources/{id}/fetch"),
        None,
        StatusCode::OK,
    )
    .await
}

async fn source(app: &TestApp, id: &Value) -> Value {
    app.admin_json(
        Method::GET,
        &format!("/api/admin/sources/{id}"),
        None,
        StatusCode::OK,
    )
    .await
}

/// Articles imported from sources (any status).
async fn imported(app: &TestApp) -> Vec<Value> {
    let page = app
        .admin_json(
            Method::GET,
            "/api/admin/articles?origin=source&limit=100",
            None,
            StatusCode::OK,
        )
        .await;
    page["items"].as_array().unwrap().clone()
}

async fn article(app: &TestApp, id: &Value) -> Value {
    app.admin_json(
        Method::GET,
        &format!("/api/admin/articles/{id}"),
        None,
        StatusCode::OK,
    )
    .await
}

async fn cycle(app: &TestApp, at: DateTime<Utc>) -> CycleSummary {
    ingest::run_due(&app.state, at, 100)
        .await
        .expect("an ingest cycle")
}

fn at(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_is_created_listed_edited_disabled_and_deleted_with_its_input_checked() {
    let (app, _) = ingest_app().await;
    let cat = app.create_category("cloud", "云计算").await;
    let tag = app.create_tag("db", "数据库").await;
    let created = create_source(
        &app,
        "https://developer.aliyun.com/feed",
        json!({ "category_id": cat, "tag_ids": [tag], "min_interval_secs": 900 }),
    )
    .await;
    assert_eq!(created["enabled"], true);
    assert_eq!(
        created["auto_publish"], false,
        "auto-publish is off by default"
    );
    assert_eq!(created["full_page"], false);
    assert_eq!(created["tag_ids"], json!([tag]));
    assert_eq!(created["consecutive_failures"], 0);
    assert_eq!(created["items_imported"], 0);
    assert!(created["last_fetch_at"].is_null());
    let id = &created["id"];

    for (field, value) in [
        ("feed_url", json!("ftp://example.com/feed")),
        ("feed_url", json!("javascript:alert(1)")),
        ("name", json!("  ")),
        ("min_interval_secs", json!(5)),
        ("category_id", json!(999_999)),
        ("tag_ids", json!([999_999])),
    ] {
        let mut body = json!({ "name": "n", "feed_url": "https://e.org/feed" });
        body[field] = value;
        let err = app
            .admin_json(
                Method::POST,
                "/api/admin/sources",
                Some(body),
                StatusCode::BAD_REQUEST,
            )
            .await;
        assert_eq!(err["details"]["field"], field, "{err}");
    }

    let edited = app
        .admin_json(
            Method::PATCH,
            &format!("/api/admin/sources/{id}"),
            Some(json!({ "name": "InfoQ", "notice_template": "转载自{source_name}：{source_url}", "category_id": null })),
            StatusCode::OK,
        )
        .await;
    assert_eq!(edited["name"], "InfoQ");
    assert!(edited["category_id"].is_null());
    assert_eq!(edited["tag_ids"], json!([tag]), "an omitted field stays");

    let disabled = app
        .admin_json(
            Method::POST,
            &format!("/api/admin/sources/{id}/disable"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(disabled["enabled"], false);
    let list = app
        .admin_json(Method::GET, "/api/admin/sources", None, StatusCode::OK)
        .await;
    assert_eq!(list["items"][0]["id"], *id);
    assert_eq!(list["items"][0]["enabled"], false);
    let enabled = app
        .admin_json(
            Method::POST,
            &format!("/api/admin/sources/{id}/enable"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(enabled["enabled"], true);

    app.admin_json(
        Method::DELETE,
        &format!("/api/admin/sources/{id}"),
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    app.admin_json(
        Method::GET,
        &format!("/api/admin/sources/{id}"),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    let anonymous = app.get("/api/admin/sources").await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread")]
async fn fetched_items_become_clean_drafts_with_the_sources_defaults() {
    let (app, _) = ingest_app().await;
    let fixture = FeedFixture::start().await;
    let body = r#"<p onclick="steal()">正文 <a href="/u/42">作者主页</a></p><script>alert(1)</script><img src="img/arch.png"><a href="javascript:alert(1)">x</a>"#;
    fixture.set(
        "/feed.xml",
        Resource::feed(rss(&[entry(
            Some("post-1"),
            "https://Blog.Example.cn/posts/1?utm_source=rss&id=7&spm=a2c6h#top",
            "云原生数据库实践",
            body,
        )])),
    );
    let cat = app.create_category("cloud", "云计算").await;
    let tag = app.create_tag("db", "数据库").await;
    let src = create_source(
        &app,
        &fixture.url("/feed.xml"),
        json!({ "category_id": cat, "tag_ids": [tag],
                "notice_template": "转载自「{source_name}」，原文：{source_url}，作者 {author}" }),
    )
    .await;
    let fetched = fetch_now(&app, &src["id"]).await;
    assert_eq!(fetched["result"], "parsed", "{fetched}");
    assert_eq!(fetched["imported"], 1);
    assert_eq!(fetched["source"]["items_imported"], 1);
    assert_eq!(fetched["source"]["last_http_status"], 200);
    assert!(fetched["source"]["last_fetch_at"].is_string());

    let drafts = app
        .admin_json(
            Method::GET,
            "/api/admin/articles?origin=source&status=draft",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(drafts["items"].as_array().unwrap().len(), 1, "{drafts}");
    let manual = app.create_article("Hand-written", json!({})).await;
    let manual_list = app
        .admin_json(
            Method::GET,
            "/api/admin/articles?origin=manual",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(manual_list["items"][0]["id"], manual);
    assert_eq!(manual_list["items"].as_array().unwrap().len(), 1);

    let a = article(&app, &drafts["items"][0]["id"]).await;
    assert_eq!(a["status"], "draft");
    assert_eq!(a["title"], "云原生数据库实践");
    assert_eq!(a["source_name"], "阿里云开发者社区");
    assert_eq!(a["author"], "李雷");
    assert_eq!(
        a["source_url"], "https://blog.example.cn/posts/1?id=7",
        "the canonical URL: host lower-cased, tracking and fragment gone"
    );
    assert_eq!(a["category"]["id"], cat);
    assert_eq!(a["tags"][0]["id"], tag);
    assert_eq!(
        a["copyright_notice"],
        "转载自「阿里云开发者社区」，原文：https://blog.example.cn/posts/1?id=7，作者 李雷"
    );
    let content = a["content"].as_str().unwrap();
    assert!(
        content.contains("[作者主页](https://blog.example.cn/u/42)"),
        "{content}"
    );
    assert!(
        content.contains("https://blog.example.cn/posts/img/arch.png"),
        "{content}"
    );
    for bad in ["script", "alert", "onclick", "javascript:"] {
        assert!(!content.contains(bad), "{bad} in {content}");
    }
    assert!(
        a["summary"].as_str().unwrap().starts_with("正文 作者主页"),
        "{a}"
    );
    assert_eq!(fixture.seen("/feed.xml").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unchanged_feed_is_answered_304_from_its_validators_and_not_parsed() {
    let (app, _) = ingest_app().await;
    let fixture = FeedFixture::start().await;
    fixture.set(
        "/feed",
        Resource::feed(rss(&[entry(None, "https://e.cn/1", "One", "<p>1</p>")]))
            .with_etag("\"v1\"")
            .with_last_modified("Tue, 01 Dec 2026 08:00:00 GMT"),
    );
    let src = create_source(&app, &fixture.url("/feed"), json!({})).await;
    assert_eq!(fetch_now(&app, &src["id"]).await["result"], "parsed");
    let second = fetch_now(&app, &src["id"]).await;
    assert_eq!(second["result"], "not_modified", "{second}");
    assert_eq!(second["source"]["last_http_status"], 304);
    let seen = fixture.seen("/feed");
    assert_eq!(seen[0].if_none_match, None);
    assert_eq!(seen[1].if_none_match.as_deref(), Some("\"v1\""));
    assert_eq!(
        seen[1].if_modified_since.as_deref(),
        Some("Tue, 01 Dec 2026 08:00:00 GMT")
    );
    assert_eq!(seen[1].status, 304);
    assert_eq!(imported(&app).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_304_that_carries_new_validators_updates_the_stored_ones() {
    let (app, _) = ingest_app().await;
    let fixture = FeedFixture::start().await;
    let mut feed = Resource::feed(rss(&[entry(None, "https://e.cn/1", "One", "<p>1</p>")]))
        .with_etag("\"v1\"");
    fixture.set("/feed", feed.clone());
    let src = create_source(&app, &fixture.url("/feed"), json!({})).await;
    fetch_now(&app, &src["id"]).await;
    feed.etag_on_304 = Some("\"v2\"".into());
    fixture.set("/feed", feed);
    assert_eq!(fetch_now(&app, &src["id"]).await["result"], "not_modified");
    assert_eq!(fetch_now(&app, &src["id"]).await["result"], "not_modified");
    let seen = fixture.seen("/feed");
    assert_eq!(seen[1].if_none_match.as_deref(), Some("\"v1\""));
    assert_eq!(
        seen[2].if_none_match.as_deref(),
        Some("\"v2\""),
        "the validators of the 304 are used from then on"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn expires_zero_keeps_validators_from_being_reused_and_the_body_is_not_parsed_twice() {
    let (app, _) = ingest_app().await;
    let fixture = FeedFixture::start().await;
    fixture.set(
        "/feed",
        Resource::feed(rss(&[entry(None, "https://e.cn/1", "One", "<p>1</p>")]))
            .with_etag("\"v1\"")
            .with_header("expires", "0"),
    );
    let src = create_source(&app, &fixture.url("/feed"), json!({})).await;
    assert_eq!(fetch_now(&app, &src["id"]).await["result"], "parsed");
    let second = fetch_now(&app, &src["id"]).await;
    let seen = fixture.seen("/feed");
    assert_eq!(
        seen[1].if_none_match, None,
        "an answer that expired at once is not revalidated with its ETag"
    );
    assert_eq!(
        second["result"], "unchanged",
        "the same body is recognised and not parsed again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn items_without_guid_with_shared_guids_or_edited_titles_create_no_second_article() {
    let (app, _) = ingest_app().await;
    let fixture = FeedFixture::start().await;
    let first = rss(&[
        entry(None, "https://e.cn/no-guid", "No guid", "<p>a</p>"),
        entry(Some("dup"), "https://e.cn/dup", "Dup one", "<p>b</p>"),
        entry(Some("dup"), "https://e.cn/dup#again", "Dup two", "<p>b</p>"),
        entry(
            Some("edit-1"),
            "https://e.cn/edit",
            "Before the edit",
            "<p>old</p>",
        ),
        entry(
            Some("touched"),
            "https://e.cn/touched",
            "Touched",
            "<p>old</p>",
        ),
    ]);
    fixture.set("/feed", Resource::feed(first));
    let src = create_source(&app, &fixture.url("/feed"), json!({})).await;
    let fetched = fetch_now(&app, &src["id"]).await;
    assert_eq!(fetched["imported"], 4, "{fetched}");
    assert_eq!(
        fetched["skipped"], 1,
        "the second item with GUID dup: {fetched}"
    );
    assert_eq!(imported(&app).await.len(), 4);

    // An editor changes one draft; then the feed edits every item.
    let touched = imported(&app)
        .await
        .into_iter()
        .find(|a| a["title"] == "Touched")
        .unwrap();
    app.admin_json(
        Method::PATCH,
        &format!("/api/admin/articles/{}", touched["id"]),
        Some(json!({ "title": "Edited by an editor" })),
        StatusCode::OK,
    )
    .await;
    let second = rss(&[
        entry(
            None,
            "https://e.cn/no-guid?utm_medium=feed",
            "No guid (edited)",
            "<p>a2</p>",
        ),
        entry(Some("dup"), "https://e.cn/dup", "Dup one", "<p>b</p>"),
        entry(
            Some("edit-1"),
            "https://e.cn/edit-renamed",
            "After the edit",
            "<p>new</p>",
        ),
        entry(
            Some("touched"),
            "https://e.cn/touched",
            "Touched v2",
            "<p>new</p>",
        ),
    ]);
    fixture.set("/feed", Resource::feed(second));
    let fetched = fetch_now(&app, &src["id"]).await;
    assert_eq!(fetched["imported"], 0, "{fetched}");
    assert_eq!(fetched["updated"], 2, "{fetched}");
    let all = imported(&app).await;
    assert_eq!(all.len(), 4, "nothing twice: {all:?}");
    let titles: Vec<&str> = all.iter().map(|a| a["title"].as_str().unwrap()).collect();
    assert!(titles.contains(&"No guid (edited)"), "{titles:?}");
    assert!(titles.contains(&"After the edit"), "{titles:?}");
    assert!(
        titles.contains(&"Edited by an editor"),
        "an editor's edit is not overwritten: {titles:?}"
    );
    let edited = all.iter().find(|a| a["title"] == "After the edit").unwrap();
    let edited = article(&app, &edited["id"]).await;
    assert!(edited["content"].as_str().unwrap().contains("new"));
    assert_eq!(edited["source_url"], "https://e.cn/edit", "the key stays");
}

const CHINESE: &str = "阿里云开发者社区：云原生数据库实践与性能调优";

fn gbk(text: &str) -> Vec<u8> {
    encoding_rs::GBK.encode(text).0.into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn gbk_feeds_come_out_without_mojibake_wherever_the_charset_is_declared() {
    let (app, _) = ingest_app().await;
    let fixture = FeedFixture::start().await;
    let feed = |n: u32| {
        rss(&[entry(
            None,
            &format!("https://gbk.cn/{n}"),
            CHINESE,
            "<p>正文：数据库</p>",
        )])
    };
    fixture.set(
        "/header",
        Resource::feed(gbk(&feed(1))).with_content_type("application/rss+xml; charset=GBK"),
    );
    fixture.set(
        "/declaration",
        Resource::feed(gbk(&format!(
            "<?xml version=\"1.0\" encoding=\"GB2312\"?>{}",
            feed(2)
        )))
        .with_content_type("application/rss+xml"),
    );
    fixture.set(
        "/nowhere",
        Resource::feed(gbk(&feed(3))).with_content_type("application/xml"),
    );
    for path in ["/header", "/declaration", "/nowhere"] {
        let src = create_source(&app, &fixture.url(path), json!({})).await;
        let fetched = fetch_now(&app, &src["id"]).await;
        assert_eq!(fetched["imported"], 1, "{path}: {fetched}");
    }
    let all = imported(&app).await;
    assert_eq!(all.len(), 3);
    for a in all {
        assert_eq!(a["title"], CHINESE, "{a}");
        let full = article(&app, &a["id"]).await;
        assert!(
            full["content"].as_str().unwrap().contains("正文：数据库"),
            "{full}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_with_retry_after_holds_back_that_source_only() {
    let (app, _) = ingest_app().await;
    let fixture = FeedFixture::start().await;
    fixture.set(
        "/busy",
        Resource::status(429).with_header("retry-after", "7200"),
    );
    fixture.set(
        "/fine",
        Resource::feed(rss(&[entry(None, "https://e.cn/f", "F", "<p>f</p>")])),
    );
    let busy = create_source(
        &app,
        &fixture.url("/busy"),
        json!({ "min_interval_secs": 60 }),
    )
    .await;
    let fine = create_source(
        &app,
        &fixture.url("/fine"),
        json!({ "min_interval_secs": 60 }),
    )
    .await;
    let now = qshare::time::now();
    let summary = cycle(&app, now).await;
    assert_eq!(summary.failed, 1);
    assert_eq!(summary.parsed, 1);
    let held = source(&app, &busy["id"]).await;
    assert_eq!(held["last_http_status"], 429);
    assert!(
        held["last_error"].as_str().unwrap().contains("Retry-After"),
        "{held}"
    );
    let wait = at(&held["next_check_at"]) - now;
    assert!(wait >= chrono::Duration::seconds(7200), "{wait}");
    // The other source on the same host keeps its own schedule.
    let other = source(&app, &fine["id"]).await;
    assert!(at(&other["next_check_at"]) - now <= chrono::Duration::seconds(61));
    let later = cycle(&app, now + chrono::Duration::seconds(120)).await;
    assert_eq!(
        later.sources, 1,
        "only the source that is not held back: {later:?}"
    );
    assert_eq!(fixture.seen("/busy").len(), 1);
    assert_eq!(fixture.seen("/fine").len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn loopback_is_refused_with_the_reason_stored_when_private_networks_are_off() {
    let (settings, dir) = test_settings().await;
    assert!(!settings.ingest.allow_private_networks, "off by default");
    let app = spawn_app_with(settings, dir).await;
    let fixture = FeedFixture::start().await;
    fixture.set("/feed", Resource::feed(rss(&[])));
    for url in [
        fixture.url("/feed"),
        format!("http://localhost:{}/feed", fixture.addr().port()),
    ] {
        let src = create_source(&app, &url, json!({})).await;
        let fetched = fetch_now(&app, &src["id"]).await;
        assert_eq!(fetched["result"], "failed", "{fetched}");
        let error = fetched["source"]["last_error"].as_str().unwrap();
        assert!(
            error.contains("refused") && error.contains("loopback"),
            "{url}: {error}"
        );
        assert_eq!(fetched["source"]["consecutive_failures"], 1);
    }
    assert!(
        fixture.seen("/feed").is_empty(),
        "nothing reached the server"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_to_a_private_address_is_refused() {
    let (mut settings, dir) = test_settings().await;
    // Only the fixture's own address is let through.
    settings.ingest.allowed_networks = vec!["127.0.0.1/32".parse().unwrap()];
    settings.ingest.min_host_gap_ms = 0;
    let app = spawn_app_with(settings, dir).await;
    let fixture = FeedFixture::start().await;
    fixture.set(
        "/metadata",
        Resource::redirect("http://169.254.169.254/latest/meta-data/"),
    );
    fixture.set("/intranet", Resource::redirect("http://10.0.0.8/feed"));
    fixture.set("/ok", Resource::redirect("/real"));
    fixture.set(
        "/real",
        Resource::feed(rss(&[entry(None, "https://e.cn/r", "R", "<p>r</p>")])),
    );
    for (path, kind) in [("/metadata", "link-local"), ("/intranet", "private")] {
        let src = create_source(&app, &fixture.url(path), json!({})).await;
        let fetched = fetch_now(&app, &src["id"]).await;
        let error = fetched["source"]["last_error"].as_str().unwrap_or_default();
        assert!(
            error.contains("refused") && error.contains(kind),
            "{path}: {fetched}"
        );
    }
    let src = create_source(&app, &fixture.url("/ok"), json!({})).await;
    let fetched = fetch_now(&app, &src["id"]).await;
    assert_eq!(
        fetched["imported"], 1,
        "a redirect within allowed hosts is followed: {fetched}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn gzip_feeds_are_accepted_and_oversize_bodies_refused() {
    let (mut settings, dir) = test_settings().await;
    settings.ingest.allow_private_networks = true;
    settings.ingest.min_host_gap_ms = 0;
    settings.ingest.max_body_bytes = 64 * 1024;
    let app = spawn_app_with(settings, dir).await;
    let fixture = FeedFixture::start().await;
    let mut zipped = Resource::feed(rss(&[entry(None, "https://e.cn/z", "Zipped", "<p>z</p>")]));
    zipped.gzip = true;
    fixture.set("/gzip", zipped);
    let big_body = "<p>x</p>".repeat(20_000);
    fixture.set(
        "/big",
        Resource::feed(rss(&[entry(None, "https://e.cn/big", "Big", &big_body)])),
    );
    // Compressed it is small; the limit counts what it inflates to.
    let mut bomb = Resource::feed(rss(&[entry(None, "https://e.cn/bomb", "Bomb", &big_body)]));
    bomb.gzip = true;
    fixture.set("/bomb", bomb);

    let src = create_source(&app, &fixture.url("/gzip"), json!({})).await;
    assert_eq!(fetch_now(&app, &src["id"]).await["imported"], 1);
    let seen = fixture.seen("/gzip");
    assert!(seen[0].accept_encoding.as_deref().unwrap().contains("gzip"));
    assert!(seen[0].accept_encoding.as_deref().unwrap().contains("br"));
    for path in ["/big", "/bomb"] {
        let src = create_source(&app, &fixture.url(path), json!({})).await;
        let fetched = fetch_now(&app, &src["id"]).await;
        assert_eq!(fetched["result"], "failed", "{fetched}");
        let error = fetched["source"]["last_error"].as_str().unwrap();
        assert!(error.contains("larger than 65536"), "{path}: {error}");
    }
    assert_eq!(imported(&app).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_down_for_several_cycles_backs_off_and_recovers_by_itself() {
    let (app, _) = ingest_app().await;
    let fixture = FeedFixture::start().await;
    fixture.set("/feed", Resource::status(503));
    let src = create_source(
        &app,
        &fixture.url("/feed"),
        json!({ "min_interval_secs": 600 }),
    )
    .await;
    let mut now = qshare::time::now();
    let mut waits = Vec::new();
    for failures in 1..=12 {
        let summary = cycle(&app, now).await;
        assert_eq!(summary.failed, 1, "cycle {failures}: {summary:?}");
        let s = source(&app, &src["id"]).await;
        assert_eq!(s["consecutive_failures"], failures);
        assert_eq!(s["last_http_status"], 503);
        assert_eq!(s["enabled"], true, "never parked");
        let next = at(&s["next_check_at"]);
        let wait = next - now;
        assert!(
            wait <= chrono::Duration::hours(24),
            "capped at a day: {wait}"
        );
        waits.push(wait.num_seconds());
        // Not due before its time.
        assert_eq!(
            cycle(&app, next - chrono::Duration::seconds(1))
                .await
                .sources,
            0
        );
        now = next;
    }
    assert!(waits[3] > waits[0] * 4, "exponential: {waits:?}");
    assert!(waits[11] >= 86_400 * 3 / 4, "reaches the cap: {waits:?}");
    fixture.set(
        "/feed",
        Resource::feed(rss(&[entry(None, "https://e.cn/back", "Back", "<p>b</p>")])),
    );
    let summary = cycle(&app, now).await;
    assert_eq!(summary.imported, 1, "{summary:?}");
    let s = source(&app, &src["id"]).await;
    assert_eq!(s["consecutive_failures"], 0);
    assert!(s["last_error"].is_null());
    assert_eq!(
        at(&s["next_check_at"]) - now,
        chrono::Duration::seconds(600)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_ingesting_at_once_import_every_item_exactly_once() {
    let (app, settings) = ingest_app().await;
    let shared = (app.cache().backend_name() == "memory").then(|| app.cache().clone());
    let second = spawn_app_sharing(settings, None, shared).await;
    let fixture = FeedFixture::start().await;
    let entries: Vec<(String, String)> = (0..30)
        .map(|i| (format!("https://e.cn/p/{i}"), format!("Post {i}")))
        .collect();
    let feed = |offset: usize| {
        let list: Vec<Entry> = entries
            .iter()
            .skip(offset)
            .map(|(l, t)| entry(None, l, t, "<p>x</p>"))
            .collect();
        rss(&list)
    };
    // Three sources carrying overlapping items, on two hosts.
    let mut slow = Resource::feed(feed(0));
    slow.delay = Duration::from_millis(100);
    fixture.set("/a", slow);
    fixture.set("/b", Resource::feed(feed(10)));
    let other_host = FeedFixture::start().await;
    other_host.set("/c", Resource::feed(feed(5)));
    create_source(&app, &fixture.url("/a"), json!({})).await;
    create_source(&app, &fixture.url("/b"), json!({})).await;
    create_source(&app, &other_host.url("/c"), json!({})).await;
    let now = qshare::time::now();
    let (one, two) = tokio::join!(
        ingest::run_due(&app.state, now, 100),
        ingest::run_due(&second.state, now, 100)
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!(
        one.sources + two.sources,
        3,
        "each source fetched once: {one:?} {two:?}"
    );
    assert_eq!(one.imported + two.imported, 30, "{one:?} {two:?}");
    let all = imported(&app).await;
    assert_eq!(all.len(), 30);
    let mut urls: Vec<String> = Vec::new();
    for a in &all {
        urls.push(
            article(&app, &a["id"]).await["source_url"]
                .as_str()
                .unwrap()
                .into(),
        );
    }
    urls.sort();
    urls.dedup();
    assert_eq!(urls.len(), 30, "zero duplicates");
    assert_eq!(fixture.max_in_flight(), 1, "one request in flight per host");
}

#[tokio::test(flavor = "multi_thread")]
async fn over_100_cycles_unchanged_feeds_are_answered_304_and_never_parsed_again() {
    let (app, _) = ingest_app().await;
    let fixture = FeedFixture::start().await;
    let paths = ["/etag", "/last-modified", "/both"];
    fixture.set(
        "/etag",
        Resource::feed(rss(&[entry(None, "https://e.cn/1", "1", "<p>1</p>")])).with_etag("\"e\""),
    );
    fixture.set(
        "/last-modified",
        Resource::feed(rss(&[entry(None, "https://e.cn/2", "2", "<p>2</p>")]))
            .with_last_modified("Tue, 01 Dec 2026 08:00:00 GMT"),
    );
    fixture.set(
        "/both",
        Resource::feed(rss(&[entry(None, "https://e.cn/3", "3", "<p>3</p>")]))
            .with_etag("W/\"b\"")
            .with_last_modified("Tue, 01 Dec 2026 09:00:00 GMT"),
    );
    for path in paths {
        create_source(&app, &fixture.url(path), json!({ "min_interval_secs": 60 })).await;
    }
    let mut now = qshare::time::now();
    let first = cycle(&app, now).await;
    assert_eq!(first.parsed, 3);
    assert_eq!(first.imported, 3);
    let mut later = CycleSummary::default();
    for _ in 0..100 {
        now += chrono::Duration::seconds(61);
        let c = cycle(&app, now).await;
        later.sources += c.sources;
        later.not_modified += c.not_modified;
        later.parsed += c.parsed;
        later.imported += c.imported;
    }
    assert_eq!(later.sources, 300, "every source fetched every cycle");
    assert_eq!(later.parsed, 0, "nothing parsed again");
    assert_eq!(later.imported, 0);
    let answered_304: usize = paths
        .iter()
        .flat_map(|p| fixture.seen(p).into_iter().skip(1))
        .filter(|s| s.status == 304)
        .count();
    let requests: usize = paths.iter().map(|p| fixture.seen(p).len() - 1).sum();
    assert_eq!(requests, 300);
    let share = answered_304 as f64 / requests as f64;
    println!("304 share from the second cycle on: {answered_304}/{requests} = {share:.3}");
    assert!(share >= 0.95, "{answered_304}/{requests}");
    assert_eq!(later.not_modified as usize, answered_304);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ingest_sources_job_records_its_counts_and_errors_per_source() {
    let (app, _) = ingest_app().await;
    let fixture = FeedFixture::start().await;
    fixture.set(
        "/feed",
        Resource::feed(rss(&[
            entry(None, "https://e.cn/j1", "J1", "<p>1</p>"),
            entry(None, "https://e.cn/j2", "J2", "<p>2</p>"),
        ])),
    );
    fixture.set("/broken", Resource::feed("<html>not a feed</html>"));
    create_source(&app, &fixture.url("/feed"), json!({})).await;
    let broken = create_source(&app, &fixture.url("/broken"), json!({})).await;
    let job = crate::jobs::create_job(
        &app,
        json!({ "name": "ingest", "kind": "ingest_sources", "cron": "0 0 3 * * *",
                "params": { "max_sources": 10 } }),
    )
    .await;
    let run = crate::jobs::run_now(&app, &job).await;
    assert_eq!(run["status"], "ok", "{run}");
    let summary = &run["summary"];
    assert_eq!(summary["imported"], 2, "{summary}");
    assert_eq!(summary["failed"], 1, "{summary}");
    assert_eq!(summary["errors"][0]["source_id"], broken["id"]);
    assert!(
        summary["errors"][0]["error"]
            .as_str()
            .unwrap()
            .contains("does not parse"),
        "{summary}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn full_page_sources_take_the_article_from_the_page_and_auto_publish_publishes() {
    let (app, _) = ingest_app().await;
    let fixture = FeedFixture::start().await;
    let page_url = fixture.url("/post/1?utm_source=feed");
    let paragraph = "数据库连接池的大小应当根据实际负载测量而定，而不是凭感觉设置。".repeat(8);
    fixture.set(
        "/post/1",
        Resource::feed(format!(
            "<html><head><title>P</title><link rel=\"canonical\" href=\"{}\"></head><body>\
             <nav>菜单 首页 关于</nav><article><h1>连接池</h1><p>{paragraph}</p><p>{paragraph}</p>\
             <p><img src=\"/i/pool.png\"></p></article><footer>版权所有</footer></body></html>",
            fixture.url("/post/1")
        ))
        .with_content_type("text/html; charset=utf-8"),
    );
    fixture.set(
        "/feed",
        Resource::feed(rss(&[entry(None, &page_url, "连接池", "<p>摘要</p>")])),
    );
    let src = create_source(
        &app,
        &fixture.url("/feed"),
        json!({ "full_page": true, "auto_publish": true }),
    )
    .await;
    let fetched = fetch_now(&app, &src["id"]).await;
    assert_eq!(fetched["imported"], 1, "{fetched}");
    let all = imported(&app).await;
    let a = article(&app, &all[0]["id"]).await;
    assert_eq!(a["status"], "published", "auto-publish publishes at once");
    assert_eq!(a["source_url"], fixture.url("/post/1"), "rel=canonical");
    let content = a["content"].as_str().unwrap();
    assert!(content.contains("数据库连接池的大小"), "{content}");
    assert!(content.contains(&fixture.url("/i/pool.png")), "{content}");
    assert!(
        !content.contains("版权所有"),
        "boilerplate left out: {content}"
    );
    let public = app
        .get_json(&format!("/api/articles/{}", a["id"]), StatusCode::OK)
        .await;
    assert_eq!(public["title"], "连接池");
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_to_one_host_keep_the_minimum_gap() {
    let (mut settings, dir) = test_settings().await;
    settings.ingest.allow_private_networks = true;
    settings.ingest.min_host_gap_ms = 300;
    let app = spawn_app_with(settings, dir).await;
    let fixture = FeedFixture::start().await;
    for path in ["/1", "/2", "/3"] {
        fixture.set(path, Resource::feed(rss(&[])));
        create_source(&app, &fixture.url(path), json!({})).await;
    }
    let started = std::time::Instant::now();
    let summary = cycle(&app, qshare::time::now()).await;
    assert_eq!(summary.parsed, 3, "{summary:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "three requests, two gaps: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_article_with_a_source_url_already_carried_is_refused_with_409() {
    let (app, _) = ingest_app().await;
    app.create_article("First", json!({ "source_url": "https://e.org/same" }))
        .await;
    let body = json!({ "title": "Second", "content": "c", "author": "a",
                       "source_url": "https://e.org/same", "source_name": "e" });
    let err = app
        .admin_json(
            Method::POST,
            "/api/admin/articles",
            Some(body),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(err["code"], "source_url_taken");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_migration_keeps_articles_that_already_share_a_source_url_apart() {
    use migration::{Migrator, MigratorTrait};
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, Database, EntityTrait, QueryOrder};

    let (settings, _dir) = test_settings().await;
    let db = Database::connect(settings.database.url.as_str())
        .await
        .unwrap();
    // Every migration before this one (others may come after it).
    let before = Migrator::migrations()
        .iter()
        .position(|m| m.name() == "m20261204_000001_sources")
        .expect("the sources migration is listed") as u32;
    Migrator::up(&db, Some(before)).await.unwrap();
    let now = qshare::time::now();
    for title in ["Oldest", "Copy", "Another copy"] {
        entity::article::ActiveModel {
            title: Set(title.into()),
            summary: Set(String::new()),
            content: Set("c".into()),
            cover_url: Set(None),
            author: Set("a".into()),
            source_url: Set("https://e.org/same".into()),
            source_name: Set("e".into()),
            copyright_notice: Set("n".into()),
            category_id: Set(None),
            status: Set(entity::article::ArticleStatus::Draft),
            published_at: Set(None),
            featured: Set(false),
            featured_at: Set(None),
            view_count: Set(0),
            like_count: Set(0),
            comment_count: Set(0),
            favorite_count: Set(0),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&db)
        .await
        .unwrap();
    }
    Migrator::up(&db, None).await.unwrap();
    let rows = entity::article::Entity::find()
        .order_by_asc(entity::article::Column::Id)
        .all(&db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 3, "no article is lost");
    assert_eq!(
        rows[0].source_url, "https://e.org/same",
        "the oldest keeps it"
    );
    assert_eq!(
        rows[1].source_url,
        format!("https://e.org/same#duplicate-{}", rows[1].id)
    );
    assert_eq!(
        rows[2].source_url,
        format!("https://e.org/same#duplicate-{}", rows[2].id)
    );
    db.close().await.ok();
}
