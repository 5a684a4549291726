//! Comments: posting, threading, pagination, moderation in both modes, the word list,
//! tombstones, permissions, limits, counts under concurrency and reply notifications.

use qshare::config::ModerationMode;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_json, spawn_app, spawn_app_with, test_settings};

async fn comment(app: &TestApp, token: &str, article: i64, body: Value) -> Value {
    app.as_user(
        token,
        Method::POST,
        &format!("/api/articles/{article}/comments"),
        Some(body),
        StatusCode::CREATED,
    )
    .await
}

async fn comment_count(app: &TestApp, article: i64) -> i64 {
    app.get_json(&format!("/api/articles/{article}"), StatusCode::OK)
        .await["comment_count"]
        .as_i64()
        .unwrap()
}

fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap()
}

async fn moderate(app: &TestApp, what: &str, id: i64, action: &str, status: StatusCode) -> Value {
    app.admin_json(
        Method::POST,
        &format!("/api/admin/{what}/{id}/{action}"),
        None,
        status,
    )
    .await
}

async fn app_with_mode(mode: ModerationMode, words: &[&str]) -> TestApp {
    let (mut settings, dir) = test_settings().await;
    settings.moderation.mode = mode;
    settings.moderation.blocked_words = words.iter().map(|w| w.to_string()).collect();
    spawn_app_with(settings, dir).await
}

#[tokio::test]
async fn comments_thread_one_level_deep_with_replies_nested_under_their_thread() {
    let app = spawn_app().await;
    let article = app.published_article("Threads", json!({})).await;
    let (alice, bob, carol) = (
        app.user_token("alice").await,
        app.user_token("bob_b").await,
        app.user_token("carol").await,
    );

    let top = comment(&app, &alice, article, json!({ "content": "  好文章！  " })).await;
    assert_eq!(top["content"], "好文章！", "content is trimmed");
    assert_eq!(top["status"], "published");
    let reply = comment(
        &app,
        &bob,
        article,
        json!({ "content": "同意", "parent_id": id(&top) }),
    )
    .await;
    assert_eq!(reply["parent_id"], id(&top));
    assert_eq!(
        reply["reply_to"]["id"],
        id(&top),
        "reply_to defaults to the parent"
    );
    let answer = comment(
        &app,
        &carol,
        article,
        json!({ "content": "+1", "parent_id": id(&top), "reply_to": id(&reply) }),
    )
    .await;
    assert_eq!(answer["reply_to"]["author"]["nickname"], "bob_b");
    // reply_to alone finds the thread.
    let via_reply_to = comment(
        &app,
        &alice,
        article,
        json!({ "content": "谢谢", "reply_to": id(&answer) }),
    )
    .await;
    assert_eq!(via_reply_to["parent_id"], id(&top));

    let page = app
        .get_json(&format!("/api/articles/{article}/comments"), StatusCode::OK)
        .await;
    let threads = page["items"].as_array().unwrap();
    assert_eq!(threads.len(), 1);
    assert_eq!(threads[0]["reply_count"], 3);
    let replies: Vec<i64> = threads[0]["replies"]
        .as_array()
        .unwrap()
        .iter()
        .map(id)
        .collect();
    assert_eq!(
        replies,
        vec![id(&reply), id(&answer), id(&via_reply_to)],
        "oldest first, up to three"
    );
    assert_eq!(threads[0]["author"]["nickname"], "alice");
    assert_eq!(comment_count(&app, article).await, 4);

    let html = comment(
        &app,
        &bob,
        article,
        json!({ "content": "<script>alert(1)</script>" }),
    )
    .await;
    let stored = app
        .get_json(
            &format!("/api/articles/{article}/comments?limit=1"),
            StatusCode::OK,
        )
        .await;
    assert_eq!(stored["items"][0]["id"], id(&html));
    assert_eq!(
        stored["items"][0]["content"], "<script>alert(1)</script>",
        "HTML is kept as text"
    );
}

#[tokio::test]
async fn threads_and_replies_page_to_the_end_without_gaps() {
    let app = spawn_app().await;
    let article = app.published_article("Busy", json!({})).await;
    let token = app.user_token("dave_user").await;
    let mut tops = Vec::new();
    for i in 0..7 {
        tops.push(id(&comment(
            &app,
            &token,
            article,
            json!({ "content": format!("top {i}") }),
        )
        .await));
    }
    tops.reverse();
    assert_eq!(
        app.collect_ids(&format!("/api/articles/{article}/comments?limit=3"))
            .await,
        tops
    );

    let thread = tops[0];
    let mut replies = Vec::new();
    for i in 0..5 {
        replies.push(id(&comment(
            &app,
            &token,
            article,
            json!({ "content": format!("r{i}"), "parent_id": thread }),
        )
        .await));
    }
    assert_eq!(
        app.collect_ids(&format!("/api/comments/{thread}/replies?limit=2"))
            .await,
        replies
    );
    let page = app
        .get_json(
            &format!("/api/articles/{article}/comments?limit=1"),
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        page["items"][0]["replies"].as_array().unwrap().len(),
        3,
        "the list previews three replies"
    );
    assert_eq!(page["items"][0]["reply_count"], 5);
}

#[tokio::test]
async fn bad_comments_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let article = app.published_article("Rules", json!({})).await;
    let other = app.published_article("Other", json!({})).await;
    let draft = app.create_article("Draft", json!({})).await;
    let token = app.user_token("erin_user").await;
    let top = comment(&app, &token, article, json!({ "content": "top" })).await;
    let reply = comment(
        &app,
        &token,
        article,
        json!({ "content": "reply", "parent_id": id(&top) }),
    )
    .await;
    let elsewhere = comment(&app, &token, other, json!({ "content": "elsewhere" })).await;
    let second = comment(&app, &token, article, json!({ "content": "second" })).await;
    let before = comment_count(&app, article).await;

    let path = format!("/api/articles/{article}/comments");
    for (body, field) in [
        (json!({ "content": "" }), "content"),
        (json!({ "content": " \n\t " }), "content"),
        (json!({ "content": "长".repeat(2001) }), "content"),
        (json!({ "content": "x", "parent_id": 999999 }), "parent_id"),
        (
            json!({ "content": "x", "parent_id": id(&reply) }),
            "parent_id",
        ),
        (
            json!({ "content": "x", "parent_id": id(&elsewhere) }),
            "parent_id",
        ),
        (
            json!({ "content": "x", "reply_to": id(&elsewhere) }),
            "reply_to",
        ),
        (
            json!({ "content": "x", "parent_id": id(&top), "reply_to": id(&second) }),
            "reply_to",
        ),
    ] {
        let err = app
            .as_user(
                &token,
                Method::POST,
                &path,
                Some(body.clone()),
                StatusCode::BAD_REQUEST,
            )
            .await;
        assert_eq!(err["details"]["field"], field, "{body}: {err}");
    }
    app.as_user(
        &token,
        Method::POST,
        &path,
        Some(json!({ "content": 5 })),
        StatusCode::BAD_REQUEST,
    )
    .await;
    app.as_user(
        &token,
        Method::POST,
        &format!("/api/articles/{draft}/comments"),
        Some(json!({ "content": "x" })),
        StatusCode::NOT_FOUND,
    )
    .await;
    let anonymous = expect_json(
        app.request(Method::POST, &path, None, Some(json!({ "content": "x" })))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(anonymous["code"], "unauthorized");
    app.get_json(
        &format!("/api/articles/{draft}/comments"),
        StatusCode::NOT_FOUND,
    )
    .await;

    assert_eq!(comment_count(&app, article).await, before);
    let mine = app
        .as_user(
            &token,
            Method::GET,
            "/api/me/comments",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn only_the_author_or_an_admin_deletes_a_comment() {
    let app = spawn_app().await;
    let article = app.published_article("Mine", json!({})).await;
    let (owner, stranger) = (
        app.user_token("fay_user").await,
        app.user_token("gus_user").await,
    );
    let c = id(&comment(&app, &owner, article, json!({ "content": "mine" })).await);
    let d = id(&comment(&app, &owner, article, json!({ "content": "also mine" })).await);
    let err = app
        .as_user(
            &stranger,
            Method::DELETE,
            &format!("/api/comments/{c}"),
            None,
            StatusCode::FORBIDDEN,
        )
        .await;
    assert_eq!(err["code"], "forbidden");
    app.as_user(
        &stranger,
        Method::POST,
        &format!("/api/admin/comments/{c}/hide"),
        None,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(comment_count(&app, article).await, 2);

    let resp = app
        .request(
            Method::DELETE,
            &format!("/api/comments/{c}"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = app
        .admin(Method::DELETE, &format!("/api/comments/{d}"), None)
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(comment_count(&app, article).await, 0);
    app.as_user(
        &owner,
        Method::DELETE,
        &format!("/api/comments/{c}"),
        None,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    app.as_user(
        &owner,
        Method::DELETE,
        "/api/comments/999999",
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn a_deleted_comment_with_visible_replies_stays_as_a_tombstone() {
    let app = spawn_app().await;
    let article = app.published_article("Tombs", json!({})).await;
    let (a, b) = (
        app.user_token("hal_user").await,
        app.user_token("ivy_user").await,
    );
    let parent = id(&comment(&app, &a, article, json!({ "content": "parent" })).await);
    let reply = id(&comment(
        &app,
        &b,
        article,
        json!({ "content": "reply", "parent_id": parent }),
    )
    .await);
    let lonely = id(&comment(&app, &a, article, json!({ "content": "no replies" })).await);

    app.as_user(
        &a,
        Method::DELETE,
        &format!("/api/comments/{parent}"),
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    app.as_user(
        &a,
        Method::DELETE,
        &format!("/api/comments/{lonely}"),
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    let page = app
        .get_json(&format!("/api/articles/{article}/comments"), StatusCode::OK)
        .await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "the comment without replies is gone");
    assert_eq!(items[0]["id"], parent);
    assert_eq!(items[0]["tombstone"], true);
    assert!(items[0]["author"].is_null());
    assert!(items[0]["content"].as_str().unwrap().contains("deleted"));
    assert_eq!(items[0]["replies"][0]["id"], reply);
    assert_eq!(
        comment_count(&app, article).await,
        1,
        "only the reply is counted"
    );

    // Once its last visible reply goes, the tombstone goes too.
    moderate(&app, "comments", reply, "hide", StatusCode::OK).await;
    let page = app
        .get_json(&format!("/api/articles/{article}/comments"), StatusCode::OK)
        .await;
    assert!(page["items"].as_array().unwrap().is_empty());
    assert_eq!(comment_count(&app, article).await, 0);
    app.get_json(
        &format!("/api/comments/{parent}/replies"),
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn in_post_mode_comments_publish_at_once_and_admins_hide_approve_and_delete() {
    let app = spawn_app().await;
    let article = app.published_article("Post mode", json!({})).await;
    let token = app.user_token("jay_user").await;
    let c = id(&comment(&app, &token, article, json!({ "content": "hello" })).await);
    assert_eq!(comment_count(&app, article).await, 1);

    assert_eq!(
        moderate(&app, "comments", c, "hide", StatusCode::OK).await["status"],
        "hidden"
    );
    assert_eq!(comment_count(&app, article).await, 0);
    assert!(
        app.collect_ids(&format!("/api/articles/{article}/comments"))
            .await
            .is_empty()
    );
    let hidden = app
        .admin_json(
            Method::GET,
            "/api/admin/comments?status=hidden",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(hidden["items"][0]["id"], c);

    assert_eq!(
        moderate(&app, "comments", c, "approve", StatusCode::OK).await["status"],
        "published"
    );
    assert_eq!(comment_count(&app, article).await, 1);
    let err = moderate(
        &app,
        "comments",
        c,
        "approve",
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(err["code"], "invalid_transition");

    assert_eq!(
        moderate(&app, "comments", c, "delete", StatusCode::OK).await["status"],
        "deleted"
    );
    assert_eq!(comment_count(&app, article).await, 0);
    moderate(
        &app,
        "comments",
        c,
        "hide",
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    moderate(&app, "comments", 999999, "hide", StatusCode::NOT_FOUND).await;
    moderate(&app, "comments", c, "explode", StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn in_pre_mode_comments_wait_in_a_queue_that_includes_replies() {
    let app = app_with_mode(ModerationMode::Pre, &[]).await;
    let article = app.published_article("Pre mode", json!({})).await;
    let token = app.user_token("kim_user").await;
    let pending = comment(
        &app,
        &token,
        article,
        json!({ "content": "please approve" }),
    )
    .await;
    assert_eq!(pending["status"], "pending");
    assert_eq!(comment_count(&app, article).await, 0);
    assert!(
        app.collect_ids(&format!("/api/articles/{article}/comments"))
            .await
            .is_empty()
    );

    // An admin's own comment publishes at once; a user's reply to it waits.
    let admin_comment = comment(
        &app,
        &app.admin_token,
        article,
        json!({ "content": "官方回复" }),
    )
    .await;
    assert_eq!(admin_comment["status"], "published");
    let reply = comment(
        &app,
        &token,
        article,
        json!({ "content": "a reply", "parent_id": id(&admin_comment) }),
    )
    .await;
    assert_eq!(reply["status"], "pending");

    let queue = app
        .admin_json(Method::GET, "/api/admin/comments", None, StatusCode::OK)
        .await;
    let queued: Vec<i64> = queue["items"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(
        queued,
        vec![id(&reply), id(&pending)],
        "the queue includes replies"
    );

    let result = app
        .admin_json(
            Method::POST,
            "/api/admin/comments/moderate",
            Some(json!({ "ids": [id(&pending), id(&reply), 999999], "action": "approve" })),
            StatusCode::OK,
        )
        .await;
    let results = result["results"].as_array().unwrap();
    assert_eq!(results[0]["status"], "published");
    assert_eq!(results[1]["status"], "published");
    assert_eq!(results[2]["error"], "not_found");
    assert_eq!(comment_count(&app, article).await, 3);
    assert!(
        app.admin_json(Method::GET, "/api/admin/comments", None, StatusCode::OK)
            .await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let mine = app
        .as_user(
            &token,
            Method::GET,
            "/api/me/comments",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(mine["items"][0]["status"], "published");
    app.admin_json(
        Method::POST,
        "/api/admin/comments/moderate",
        Some(json!({ "ids": [], "action": "hide" })),
        StatusCode::BAD_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn a_blocked_word_sends_a_comment_to_the_queue_in_post_mode() {
    let app = app_with_mode(ModerationMode::Post, &["Casino", "发票"]).await;
    let article = app.published_article("Words", json!({})).await;
    let token = app.user_token("lee_user").await;
    assert_eq!(
        comment(
            &app,
            &token,
            article,
            json!({ "content": "best CASINO online" })
        )
        .await["status"],
        "pending"
    );
    assert_eq!(
        comment(&app, &token, article, json!({ "content": "代开发票" })).await["status"],
        "pending"
    );
    assert_eq!(
        comment(&app, &token, article, json!({ "content": "clean words" })).await["status"],
        "published"
    );
    assert_eq!(
        comment(
            &app,
            &app.admin_token,
            article,
            json!({ "content": "casino policy" })
        )
        .await["status"],
        "published"
    );
    assert_eq!(comment_count(&app, article).await, 2);
}

#[tokio::test]
async fn commenting_is_rate_limited_per_user() {
    let (mut settings, dir) = test_settings().await;
    settings.rate_limit.comments_per_user = 2;
    let app = spawn_app_with(settings, dir).await;
    let article = app.published_article("Limits", json!({})).await;
    let token = app.user_token("max_user").await;
    comment(&app, &token, article, json!({ "content": "1" })).await;
    comment(&app, &token, article, json!({ "content": "2" })).await;
    let resp = app
        .request(
            Method::POST,
            &format!("/api/articles/{article}/comments"),
            Some(&token),
            Some(json!({ "content": "3" })),
        )
        .await;
    assert!(resp.headers().contains_key("retry-after"));
    let body = expect_json(resp, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(body["code"], "rate_limited");
    assert_eq!(comment_count(&app, article).await, 2);
    // Another user is not affected.
    comment(
        &app,
        &app.user_token("ned_user").await,
        article,
        json!({ "content": "4" }),
    )
    .await;
}

#[tokio::test]
async fn the_comment_count_stays_right_under_concurrent_posts_hides_and_deletes() {
    let app = spawn_app().await;
    let article = app.published_article("Concurrency", json!({})).await;
    let mut tokens = Vec::new();
    for i in 0..5 {
        tokens.push(app.user_token(&format!("racer_{i}")).await);
    }
    let path = format!("/api/articles/{article}/comments");
    let posts = (0..50).map(|i| {
        let body = json!({ "content": format!("comment {i}") });
        app.request(Method::POST, &path, Some(&tokens[i % 5]), Some(body))
    });
    let mut ids = Vec::new();
    for resp in futures_util::future::join_all(posts).await {
        ids.push(id(&expect_json(resp, StatusCode::CREATED).await));
    }
    assert_eq!(comment_count(&app, article).await, 50);

    // Hide 0..20 and delete 10..30 at the same time: 10..20 race between the two.
    let hide_paths: Vec<String> = ids[..20]
        .iter()
        .map(|c| format!("/api/admin/comments/{c}/hide"))
        .collect();
    let delete_paths: Vec<String> = ids[10..30]
        .iter()
        .map(|c| format!("/api/comments/{c}"))
        .collect();
    let hides = hide_paths.iter().map(|p| app.admin(Method::POST, p, None));
    let deletes = delete_paths
        .iter()
        .map(|p| app.admin(Method::DELETE, p, None));
    let (hidden, deleted) = futures_util::future::join(
        futures_util::future::join_all(hides),
        futures_util::future::join_all(deletes),
    )
    .await;
    for resp in hidden.into_iter().chain(deleted) {
        assert!(
            resp.status().is_success()
                || resp.status() == StatusCode::UNPROCESSABLE_ENTITY
                || resp.status() == StatusCode::CONFLICT,
            "{}",
            resp.status()
        );
    }
    let visible = app.collect_ids(&format!("{path}?limit=100")).await.len() as i64;
    assert_eq!(visible, 20);
    assert_eq!(comment_count(&app, article).await, 20);
}

#[tokio::test]
async fn a_reply_notifies_the_person_answered_once_and_never_oneself() {
    let app = app_with_mode(ModerationMode::Pre, &[]).await;
    let article = app.published_article("Notify", json!({})).await;
    let (a, b) = (
        app.user_token("ora_user").await,
        app.user_token("pat_user").await,
    );
    let top = comment(&app, &a, article, json!({ "content": "question" })).await;
    moderate(&app, "comments", id(&top), "approve", StatusCode::OK).await;

    let own = comment(
        &app,
        &a,
        article,
        json!({ "content": "self reply", "parent_id": id(&top) }),
    )
    .await;
    moderate(&app, "comments", id(&own), "approve", StatusCode::OK).await;
    let inbox = app
        .as_user(
            &a,
            Method::GET,
            "/api/me/notifications",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        inbox["unread_count"], 0,
        "no notification about one's own reply"
    );

    let answer = comment(
        &app,
        &b,
        article,
        json!({ "content": "an answer", "parent_id": id(&top) }),
    )
    .await;
    let inbox = app
        .as_user(
            &a,
            Method::GET,
            "/api/me/notifications",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        inbox["unread_count"], 0,
        "a pending reply notifies nobody yet"
    );
    moderate(&app, "comments", id(&answer), "approve", StatusCode::OK).await;
    moderate(&app, "comments", id(&answer), "hide", StatusCode::OK).await;
    moderate(&app, "comments", id(&answer), "approve", StatusCode::OK).await;

    let inbox = app
        .as_user(
            &a,
            Method::GET,
            "/api/me/notifications",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(inbox["unread_count"], 1, "one notification per event");
    let n = &inbox["items"][0];
    assert_eq!(n["kind"], "comment_reply");
    assert_eq!(n["comment_id"], id(&answer));
    assert_eq!(n["article_id"], article);
    assert_eq!(n["body"], "an answer");
    let b_inbox = app
        .as_user(
            &b,
            Method::GET,
            "/api/me/notifications",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(b_inbox["unread_count"], 0);

    let after = app
        .as_user(
            &a,
            Method::POST,
            "/api/me/notifications/read",
            Some(json!({ "ids": [n["id"]] })),
            StatusCode::OK,
        )
        .await;
    assert_eq!(after["unread_count"], 0);
    let inbox = app
        .as_user(
            &a,
            Method::GET,
            "/api/me/notifications",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(inbox["items"][0]["read"], true);
}
