//! The HTTP edge: entity tags and 304s on every public GET (fast lane included), caching
//! headers per kind of answer, compression negotiation, and no stale 304 after a change,
//! also across two instances.

use std::{io::Read, time::Duration};

use qshare::edge::etag;
use reqwest::{Method, StatusCode, header};
use serde_json::json;

use crate::helpers::{TestApp, spawn_app, spawn_app_sharing, spawn_app_with, test_settings};

/// Enough published articles with long summaries that the feed is well over 1 KiB.
async fn app_with_a_large_feed() -> (TestApp, Vec<i64>) {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for i in 0..6 {
        let summary = format!("文章 {i}: ").repeat(40);
        ids.push(
            app.published_article(&format!("Article {i}"), json!({ "summary": summary }))
                .await,
        );
    }
    (app, ids)
}

async fn get_with(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = app.client.get(app.url(path));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.expect("request sent")
}

fn header_of(resp: &reqwest::Response, name: header::HeaderName) -> String {
    resp.headers()
        .get_all(&name)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect::<Vec<_>>()
        .join(", ")
}

fn decode(coding: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match coding {
        "" => out.extend_from_slice(body),
        "gzip" => {
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .unwrap();
        }
        "br" => brotli::BrotliDecompress(&mut &body[..], &mut out).unwrap(),
        "zstd" => out = zstd::stream::decode_all(body).unwrap(),
        other => panic!("unexpected coding {other}"),
    }
    out
}

#[tokio::test]
async fn every_public_get_carries_a_strong_etag_and_answers_its_304() {
    let (app, ids) = app_with_a_large_feed().await;
    let id = ids[0];
    let paths = [
        "/api/articles".to_string(),
        "/api/articles?limit=3".to_string(),
        "/api/articles/featured".to_string(),
        "/api/articles/hot".to_string(),
        format!("/api/articles/{id}"),
        format!("/api/articles/{id}/related"),
        format!("/api/articles/{id}/comments"),
        "/api/articles?q=Article".to_string(),
        "/api/categories".to_string(),
        "/api/tags".to_string(),
        "/api/resources".to_string(),
        "/api/guestbook".to_string(),
        "/openapi.json".to_string(),
    ];
    for path in &paths {
        // Twice: the first answer may be built, the second comes from the cache (the fast
        // lane for the cached reads); both carry the same tag.
        let mut tags = Vec::new();
        for _ in 0..2 {
            let resp = app.get(path).await;
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
            let tag = header_of(&resp, header::ETAG);
            assert!(
                tag.starts_with('"') && tag.ends_with('"'),
                "{path}: strong tag {tag:?}"
            );
            assert!(
                header_of(&resp, header::CACHE_CONTROL).starts_with("public, max-age="),
                "{path}"
            );
            assert!(
                header_of(&resp, header::CACHE_CONTROL).contains("stale-while-revalidate="),
                "{path}"
            );
            assert!(
                header_of(&resp, header::VARY).contains("Accept-Encoding"),
                "{path}"
            );
            let body = resp.bytes().await.unwrap();
            assert_eq!(tag, etag::of(&body), "{path}: the tag names these bytes");
            tags.push(tag);
        }
        assert_eq!(tags[0], tags[1], "{path}");

        let resp = get_with(&app, path, &[("if-none-match", &tags[0])]).await;
        assert_eq!(resp.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert_eq!(header_of(&resp, header::ETAG), tags[0], "{path}");
        assert!(
            header_of(&resp, header::VARY).contains("Accept-Encoding"),
            "{path}"
        );
        assert!(
            !header_of(&resp, header::CACHE_CONTROL).is_empty(),
            "{path}"
        );
        assert!(
            resp.bytes().await.unwrap().is_empty(),
            "{path}: a 304 has no body"
        );

        let list = format!("\"other\", W/{}", tags[0]);
        let resp = get_with(&app, path, &[("if-none-match", &list)]).await;
        assert_eq!(
            resp.status(),
            StatusCode::NOT_MODIFIED,
            "{path}: one of a list"
        );

        let resp = get_with(&app, path, &[("if-none-match", "\"not-it\"")]).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}: another tag");
    }
}

#[tokio::test]
async fn cache_control_fits_each_kind_of_answer() {
    let app = spawn_app().await;
    let id = app.published_article("Kinds", json!({})).await;
    let token = app.user_token("kinds_reader").await;

    // The reader's own data: only their client keeps it, always revalidated (with a tag).
    let me = app
        .request(Method::GET, "/api/me", Some(&token), None)
        .await;
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(header_of(&me, header::CACHE_CONTROL), "private, no-cache");
    let tag = header_of(&me, header::ETAG);
    assert!(tag.starts_with('"'));
    let again = app
        .client
        .get(app.url("/api/me"))
        .bearer_auth(&token)
        .header("if-none-match", &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(
        header_of(&again, header::CACHE_CONTROL),
        "private, no-cache"
    );

    // A public read made with credentials is not for shared caches either.
    let page = app
        .request(
            Method::GET,
            &format!("/api/articles/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(header_of(&page, header::CACHE_CONTROL), "private, no-cache");

    // Tokens, admin and ops: never stored, no tag.
    let login = app
        .request(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({ "username": "kinds_reader", "password": "a-good-password" })),
        )
        .await;
    assert_eq!(login.status(), StatusCode::OK);
    assert_eq!(header_of(&login, header::CACHE_CONTROL), "no-store");
    for path in ["/api/admin/articles", "/api/admin/jobs"] {
        let resp = app.admin(Method::GET, path, None).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(
            header_of(&resp, header::CACHE_CONTROL),
            "no-store",
            "{path}"
        );
        assert!(resp.headers().get(header::ETAG).is_none(), "{path}");
        assert!(
            header_of(&resp, header::VARY).contains("Accept-Encoding"),
            "{path}"
        );
    }
    for path in ["/healthz", "/metrics"] {
        let resp = app.get(path).await;
        assert_eq!(
            header_of(&resp, header::CACHE_CONTROL),
            "no-store",
            "{path}"
        );
    }
    // Errors are not kept.
    let missing = app.get("/api/articles/999999").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(header_of(&missing, header::CACHE_CONTROL), "no-store");
}

#[tokio::test]
async fn compression_follows_q_values_and_decodes_to_the_identity_body() {
    let (app, ids) = app_with_a_large_feed().await;
    let identity = app.get("/api/articles").await.bytes().await.unwrap();
    assert!(
        identity.len() > 2048,
        "the feed is large: {}",
        identity.len()
    );
    let article = format!("/api/articles/{}", ids[0]);
    let cases = [
        (None, ""),
        (Some("br, gzip"), "br"),
        (Some("gzip, br, zstd"), "zstd"),
        (Some("gzip;q=1.0, br;q=0.5"), "gzip"),
        (Some("zstd;q=0.2, br;q=0.9, gzip;q=0.5"), "br"),
        (Some("*"), "zstd"),
        (Some("zstd;q=0, *;q=0.3"), "br"),
        (Some("identity"), ""),
        (Some("gzip;q=0.5, identity"), ""),
        (Some("br;q=0, gzip;q=0"), ""),
        (Some("*;q=0"), ""),
        (Some("deflate"), ""),
    ];
    // The feed twice (built, then from the fast lane), an uncached list, and the hot list.
    for path in [
        "/api/articles",
        "/api/articles",
        "/api/articles?q=Article",
        "/api/articles/hot",
    ] {
        let plain = app.get(path).await.bytes().await.unwrap();
        for (accept, expected) in cases {
            let headers: Vec<(&str, &str)> =
                accept.map(|a| ("accept-encoding", a)).into_iter().collect();
            let resp = get_with(&app, path, &headers).await;
            assert_eq!(resp.status(), StatusCode::OK, "{path} {accept:?}");
            assert_eq!(
                header_of(&resp, header::CONTENT_ENCODING),
                expected,
                "{path} {accept:?}"
            );
            assert!(header_of(&resp, header::VARY).contains("Accept-Encoding"));
            let tag = header_of(&resp, header::ETAG);
            let body = resp.bytes().await.unwrap();
            if !expected.is_empty() {
                assert!(
                    body.len() < plain.len() / 2,
                    "{path} {accept:?}: compressed"
                );
            }
            assert_eq!(decode(expected, &body), plain, "{path} {accept:?}");
            // Each coding is its own representation with its own tag, and revalidates.
            let mut conditional = headers.clone();
            conditional.push(("if-none-match", &tag));
            let resp = get_with(&app, path, &conditional).await;
            assert_eq!(resp.status(), StatusCode::NOT_MODIFIED, "{path} {accept:?}");
            assert!(resp.headers().get(header::CONTENT_ENCODING).is_none());
            assert!(resp.bytes().await.unwrap().is_empty());
        }
    }
    // A body under 1 KiB goes out as it is.
    let small = get_with(&app, "/api/tags", &[("accept-encoding", "br, gzip")]).await;
    assert!(small.headers().get(header::CONTENT_ENCODING).is_none());
    assert!(header_of(&small, header::VARY).contains("Accept-Encoding"));
    // And an article page (large enough) decodes to its identity body.
    let plain = app.get(&article).await.bytes().await.unwrap();
    let coded = get_with(&app, &article, &[("accept-encoding", "gzip")]).await;
    let coding = header_of(&coded, header::CONTENT_ENCODING);
    let body = coded.bytes().await.unwrap();
    assert_eq!(decode(&coding, &body), plain);
    assert_eq!(
        identity.len(),
        app.get("/api/articles").await.bytes().await.unwrap().len()
    );
}

#[tokio::test]
async fn a_content_coded_request_body_is_refused_unread() {
    let app = spawn_app().await;
    let gzipped = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(
            &mut e,
            br#"{"username":"zipped_user","password":"a-good-password"}"#,
        )
        .unwrap();
        e.finish().unwrap()
    };
    let resp = app
        .client
        .post(app.url("/api/auth/register"))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gzipped)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "unsupported_media_type");
    // Nothing was registered.
    let login = app
        .request(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({ "username": "zipped_user", "password": "a-good-password" })),
        )
        .await;
    assert_eq!(login.status(), StatusCode::UNAUTHORIZED);
}

/// Conditional GETs racing with changes: every 200 carries the tag of its own bytes, and
/// once a change is answered, the old tag never gets a 304 again.
#[tokio::test]
async fn a_change_never_yields_a_stale_304_on_either_instance() {
    let (settings, dir) = test_settings().await;
    let first = spawn_app_with(settings.clone(), dir).await;
    let shared = (first.cache().backend_name() == "memory").then(|| first.cache().clone());
    let second = spawn_app_sharing(settings, None, shared).await;
    let id = first.published_article("Raced", json!({})).await;
    let token = first.user_token("racer").await;
    let path = format!("/api/articles/{id}");

    let readers: Vec<_> = [&first, &second]
        .into_iter()
        .map(|app| {
            let client = app.client.clone();
            let url = app.url(&path);
            tokio::spawn(async move {
                let mut tag = String::new();
                let mut checked = 0;
                let deadline = std::time::Instant::now() + Duration::from_millis(1500);
                while std::time::Instant::now() < deadline {
                    let resp = client
                        .get(&url)
                        .header("if-none-match", &tag)
                        .send()
                        .await
                        .unwrap();
                    match resp.status() {
                        StatusCode::NOT_MODIFIED => {
                            assert_eq!(resp.headers()[header::ETAG].to_str().unwrap(), tag);
                        }
                        StatusCode::OK => {
                            let new = resp.headers()[header::ETAG].to_str().unwrap().to_owned();
                            let body = resp.bytes().await.unwrap();
                            assert_eq!(new, etag::of(&body), "a 200's tag names its bytes");
                            tag = new;
                        }
                        other => panic!("unexpected {other}"),
                    }
                    checked += 1;
                }
                checked
            })
        })
        .collect();
    let mut tags_before = Vec::new();
    for round in 0..6 {
        tags_before.push(header_of(&first.get(&path).await, header::ETAG));
        let method = if round % 2 == 0 {
            Method::PUT
        } else {
            Method::DELETE
        };
        first
            .as_user(
                &token,
                method,
                &format!("{path}/like"),
                None,
                StatusCode::OK,
            )
            .await;
        // On the instance that made the change: the old tag is stale at once.
        let resp = get_with(
            &first,
            &path,
            &[("if-none-match", tags_before.last().unwrap())],
        )
        .await;
        assert_eq!(resp.status(), StatusCode::OK, "round {round}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for reader in readers {
        assert!(reader.await.unwrap() > 10);
    }
    // Afterwards no earlier tag revalidates anywhere, and the current one does.
    let current = header_of(&first.get(&path).await, header::ETAG);
    for app in [&first, &second] {
        for old in &tags_before[1..] {
            if *old == current {
                continue;
            }
            let resp = get_with(app, &path, &[("if-none-match", old)]).await;
            assert_eq!(resp.status(), StatusCode::OK);
        }
        let resp = get_with(app, &path, &[("if-none-match", &current)]).await;
        assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    }
}

/// Everything an answer says, less what differs per request (its id, date and framing).
async fn comparable(resp: reqwest::Response) -> (StatusCode, Vec<(String, String)>, Vec<u8>) {
    let status = resp.status();
    let mut headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .filter(|(name, _)| {
            ![
                "x-request-id",
                "date",
                "content-length",
                "transfer-encoding",
            ]
            .contains(&name.as_str())
        })
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_string()))
        .collect();
    headers.sort();
    (status, headers, resp.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn a_cached_read_answers_the_same_from_the_fast_lane_as_through_the_layers() {
    let (app, ids) = app_with_a_large_feed().await;
    let article = format!("/api/articles/{}", ids[0]);
    for path in [
        "/api/articles",
        "/api/articles?limit=3",
        "/api/articles/hot",
        "/api/articles/featured",
        &article,
    ] {
        // Built once, so that both ways below find it cached.
        let tag = header_of(&app.get(path).await, header::ETAG);
        let br_tag = header_of(
            &get_with(&app, path, &[("accept-encoding", "br")]).await,
            header::ETAG,
        );
        for headers in [
            vec![],
            vec![("accept-encoding", "br, gzip")],
            vec![("accept-encoding", "zstd;q=0.5, gzip")],
            vec![("if-none-match", tag.as_str())],
            vec![
                ("accept-encoding", "br"),
                ("if-none-match", br_tag.as_str()),
            ],
            vec![("accept-encoding", "br"), ("if-none-match", tag.as_str())],
        ] {
            let fast = comparable(get_with(&app, path, &headers).await).await;
            // An `Origin` (CORS is off here, so it changes nothing in the answer) sends the
            // request through the layers and the typed handler.
            let mut through_layers = headers.clone();
            through_layers.push(("origin", "https://elsewhere.example"));
            let layered = comparable(get_with(&app, path, &through_layers).await).await;
            assert_eq!(fast, layered, "{path} {headers:?}");
        }
    }
}
