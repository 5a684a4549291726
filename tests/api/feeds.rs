//! Feeds out: RSS 2.0, Atom 1.0 and JSON Feed 1.1 for the site, featured, a category and a
//! tag; well-formed, full content with source and 转载 notice, stable ids and bytes, cached
//! with tags and 304s, and advertised in the API root.

use quick_xml::{Reader, events::Event};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::spawn_app;

/// Parses `xml` to the end, returning the text of every element named `name`.
fn texts_of(xml: &str, name: &str) -> Vec<String> {
    let mut reader = Reader::from_str(xml);
    let mut inside = false;
    let mut found = Vec::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) if e.name().as_ref() == name => {
                inside = true;
                found.push(String::new());
            }
            Event::End(e) if e.name().as_ref() == name => inside = false,
            Event::Text(t) if inside => {
                found.last_mut().unwrap().push_str(&t.xml10_content());
            }
            Event::GeneralRef(r) if inside => {
                let entity: &str = &r;
                found.last_mut().unwrap().push_str(match entity {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    other => panic!("unexpected entity {other}"),
                });
            }
            Event::Eof => return found,
            _ => {}
        }
    }
}

#[tokio::test]
async fn feeds_in_three_formats_carry_full_articles_with_their_source() {
    let app = spawn_app().await;
    let category = app.create_category("rust", "Rust").await;
    let tag = app.create_tag("async", "Async").await;
    let tagged = app
        .published_article(
            "Async & <Rust>",
            json!({
                "category_id": category,
                "tag_ids": [tag],
                "content": "正文 body",
                "source_name": "Original Blog",
                "source_url": "https://blog.example.com/post",
                "copyright_notice": "转载自 Original Blog，版权归原作者所有",
            }),
        )
        .await;
    let plain = app.published_article("Plain", json!({})).await;
    app.feature(plain).await;

    for (path, expected) in [
        ("/feeds/all", vec![plain, tagged]),
        ("/feeds/featured", vec![plain]),
        ("/feeds/category/rust", vec![tagged]),
        ("/feeds/tag/async", vec![tagged]),
    ] {
        let guids: Vec<String> = expected
            .iter()
            .map(|id| format!("urn:qshare:article:{id}"))
            .collect();
        let rss = app.get(&format!("{path}.rss")).await;
        assert_eq!(rss.status(), StatusCode::OK, "{path}");
        assert!(
            rss.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("application/rss+xml")
        );
        let rss = rss.text().await.unwrap();
        assert!(rss.contains("<rss version=\"2.0\""));
        assert_eq!(texts_of(&rss, "guid"), guids, "{path} rss");

        let atom = app.get(&format!("{path}.atom")).await.text().await.unwrap();
        assert!(atom.contains("<feed xmlns=\"http://www.w3.org/2005/Atom\">"));
        let ids = texts_of(&atom, "id");
        assert_eq!(
            &ids[1..],
            &guids[..],
            "{path} atom (after the feed's own id)"
        );

        let feed: Value = app.get(&format!("{path}.json")).await.json().await.unwrap();
        assert_eq!(feed["version"], "https://jsonfeed.org/version/1.1");
        let ids: Vec<&str> = feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, guids, "{path} json");
    }

    // Full content, source name and link, and the 转载 notice, in every format.
    let rss = app.get("/feeds/tag/async.rss").await.text().await.unwrap();
    assert_eq!(texts_of(&rss, "title")[1], "Async & <Rust>");
    let content = &texts_of(&rss, "content:encoded")[0];
    assert!(content.contains("正文 body"));
    assert!(content.contains("转载自 Original Blog，版权归原作者所有"));
    assert_eq!(texts_of(&rss, "source"), ["Original Blog"]);
    assert!(rss.contains("<source url=\"https://blog.example.com/post\">"));
    let atom = app.get("/feeds/tag/async.atom").await.text().await.unwrap();
    assert!(atom.contains("rel=\"via\" href=\"https://blog.example.com/post\""));
    assert_eq!(
        texts_of(&atom, "rights"),
        ["转载自 Original Blog，版权归原作者所有"]
    );
    let feed: Value = app.get("/feeds/tag/async.json").await.json().await.unwrap();
    let item = &feed["items"][0];
    assert!(item["content_text"].as_str().unwrap().contains("正文 body"));
    assert_eq!(item["external_url"], "https://blog.example.com/post");
    assert_eq!(item["_qshare"]["source_name"], "Original Blog");
    assert_eq!(
        item["_qshare"]["copyright_notice"],
        "转载自 Original Blog，版权归原作者所有"
    );

    for missing in [
        "/feeds/tag/nope.rss",
        "/feeds/category/nope.json",
        "/feeds/all.xml",
        "/feeds/x",
    ] {
        let resp = app.get(missing).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{missing}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["code"], "not_found");
    }
}

#[tokio::test]
async fn feeds_are_stable_revalidate_with_304_and_change_with_their_articles() {
    let app = spawn_app().await;
    let id = app.published_article("Stable", json!({})).await;
    let first = app.get("/feeds/all.atom").await;
    let tag = first.headers()[header::ETAG].to_str().unwrap().to_owned();
    assert!(
        first.headers()[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .starts_with("public")
    );
    let bytes = first.bytes().await.unwrap();

    // A like moves no feed bytes: same tag, and it still revalidates.
    let token = app.user_token("feed_reader").await;
    app.as_user(
        &token,
        Method::PUT,
        &format!("/api/articles/{id}/like"),
        None,
        StatusCode::OK,
    )
    .await;
    let again = app.get("/feeds/all.atom").await;
    assert_eq!(again.headers()[header::ETAG].to_str().unwrap(), tag);
    assert_eq!(again.bytes().await.unwrap(), bytes);
    let revalidated = app
        .client
        .get(app.url("/feeds/all.atom"))
        .header("if-none-match", &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);

    // An edit does.
    app.admin_json(
        Method::PATCH,
        &format!("/api/admin/articles/{id}"),
        Some(json!({ "title": "Edited" })),
        StatusCode::OK,
    )
    .await;
    let edited = app
        .client
        .get(app.url("/feeds/all.atom"))
        .header("if-none-match", &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(edited.status(), StatusCode::OK);
    assert!(
        edited
            .text()
            .await
            .unwrap()
            .contains("<title>Edited</title>")
    );
}

#[tokio::test]
async fn the_api_root_advertises_the_feeds() {
    let app = spawn_app().await;
    let root = app.get_json("/api", StatusCode::OK).await;
    let links = root["links"].as_array().unwrap();
    let hrefs: Vec<&str> = links.iter().map(|l| l["href"].as_str().unwrap()).collect();
    for feed in [
        "/feeds/all.rss",
        "/feeds/all.atom",
        "/feeds/all.json",
        "/feeds/featured.rss",
    ] {
        let link = links
            .iter()
            .find(|l| l["href"].as_str().unwrap().ends_with(feed))
            .unwrap_or_else(|| panic!("{feed} not in {hrefs:?}"));
        assert_eq!(link["rel"], "alternate");
        let path = &link["href"].as_str().unwrap()
            [link["href"].as_str().unwrap().find("/feeds/").unwrap()..];
        let resp = app.get(path).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(
            resp.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with(link["type"].as_str().unwrap())
        );
    }
}

#[tokio::test]
async fn feeds_carry_last_modified_once_settled_and_answer_if_modified_since_with_304() {
    let app = spawn_app().await;
    let id = app.published_article("Dated", json!({})).await;
    // Right after a change the date is not sent yet: a second change within the same
    // second would not move it.
    let fresh = app.get("/feeds/all.rss").await;
    assert_eq!(fresh.status(), StatusCode::OK);
    assert!(fresh.headers().get(header::LAST_MODIFIED).is_none());
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;

    for path in ["/feeds/all.rss", "/feeds/all.atom", "/feeds/all.json"] {
        let first = app.get(path).await;
        let modified = first.headers()[header::LAST_MODIFIED]
            .to_str()
            .unwrap()
            .to_owned();
        let at = chrono::DateTime::parse_from_rfc2822(&modified).expect("an HTTP date");
        assert!(modified.ends_with(" GMT"), "{modified}");
        let tag = first.headers()[header::ETAG].to_str().unwrap().to_owned();
        let ask = |since: String, none_match: Option<&str>| {
            let mut req = app
                .client
                .get(app.url(path))
                .header(header::IF_MODIFIED_SINCE, since);
            if let Some(t) = none_match {
                req = req.header(header::IF_NONE_MATCH, t.to_owned());
            }
            req.send()
        };
        let same = ask(modified.clone(), None).await.unwrap();
        assert_eq!(same.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert_eq!(same.headers()[header::LAST_MODIFIED], modified.as_str());
        assert_eq!(same.headers()[header::ETAG], tag.as_str());
        let before = (at - chrono::Duration::seconds(1))
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        assert_eq!(ask(before, None).await.unwrap().status(), StatusCode::OK);
        assert_eq!(
            ask("not a date".into(), None).await.unwrap().status(),
            StatusCode::OK
        );
        // If-None-Match wins over If-Modified-Since.
        assert_eq!(
            ask(modified.clone(), Some("\"other\""))
                .await
                .unwrap()
                .status(),
            StatusCode::OK,
            "{path}"
        );
    }

    // An edit moves the date: the old one no longer gets a 304.
    let old = app.get("/feeds/all.rss").await.headers()[header::LAST_MODIFIED]
        .to_str()
        .unwrap()
        .to_owned();
    app.admin_json(
        Method::PATCH,
        &format!("/api/admin/articles/{id}"),
        Some(json!({ "title": "Dated, edited" })),
        StatusCode::OK,
    )
    .await;
    let after = app
        .client
        .get(app.url("/feeds/all.rss"))
        .header(header::IF_MODIFIED_SINCE, old)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::OK);
    assert!(after.text().await.unwrap().contains("Dated, edited"));
}
