//! The current user (我的): profile, likes and favourites.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{expect_json, spawn_app};

#[tokio::test]
async fn a_user_reads_and_edits_their_profile() {
    let app = spawn_app().await;
    let token = app.user_token("liam_user").await;
    let me = app
        .as_user(&token, Method::GET, "/api/me", None, StatusCode::OK)
        .await;
    assert_eq!(me["nickname"], "liam_user");
    assert!(me["avatar_url"].is_null());

    let body = json!({ "nickname": "小李", "bio": "写 Rust 的", "avatar_url": "https://img.example.org/l.png" });
    let edited = app
        .as_user(&token, Method::PATCH, "/api/me", Some(body), StatusCode::OK)
        .await;
    assert_eq!(edited["nickname"], "小李");
    assert_eq!(edited["bio"], "写 Rust 的");
    let cleared = app
        .as_user(
            &token,
            Method::PATCH,
            "/api/me",
            Some(json!({ "avatar_url": null })),
            StatusCode::OK,
        )
        .await;
    assert!(cleared["avatar_url"].is_null());
    assert_eq!(cleared["nickname"], "小李", "omitted fields stay");

    let err = app
        .as_user(
            &token,
            Method::PATCH,
            "/api/me",
            Some(json!({ "nickname": "  " })),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(err["details"]["field"], "nickname");
    let err = app
        .as_user(
            &token,
            Method::PATCH,
            "/api/me",
            Some(json!({ "role": "admin" })),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(err["code"], "invalid_body", "unknown fields are refused");
    let me = app
        .as_user(&token, Method::GET, "/api/me", None, StatusCode::OK)
        .await;
    assert_eq!(me["role"], "user");
    assert_eq!(me["nickname"], "小李");
}

#[tokio::test]
async fn liking_twice_then_unliking_leaves_the_count_right() {
    let app = spawn_app().await;
    let article = app.published_article("Likeable", json!({})).await;
    let token = app.user_token("mia_user").await;
    let other = app.user_token("noah_user").await;
    let like = format!("/api/articles/{article}/like");

    let first = app
        .as_user(&token, Method::PUT, &like, None, StatusCode::OK)
        .await;
    assert_eq!(first["active"], true);
    assert_eq!(first["count"], 1);
    let again = app
        .as_user(&token, Method::PUT, &like, None, StatusCode::OK)
        .await;
    assert_eq!(again["count"], 1, "liking twice counts once");
    assert_eq!(
        app.as_user(&other, Method::PUT, &like, None, StatusCode::OK)
            .await["count"],
        2
    );

    let undone = app
        .as_user(&token, Method::DELETE, &like, None, StatusCode::OK)
        .await;
    assert_eq!(undone["active"], false);
    assert_eq!(undone["count"], 1);
    assert_eq!(
        app.as_user(&token, Method::DELETE, &like, None, StatusCode::OK)
            .await["count"],
        1
    );
    let page = app
        .get_json(&format!("/api/articles/{article}"), StatusCode::OK)
        .await;
    assert_eq!(page["like_count"], 1);
    assert_eq!(page["favorite_count"], 0);

    let anonymous = expect_json(
        app.request(Method::PUT, &like, None, None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(anonymous["code"], "unauthorized");
}

#[tokio::test]
async fn concurrent_likes_from_many_users_are_all_counted() {
    let app = spawn_app().await;
    let article = app.published_article("Popular", json!({})).await;
    let mut tokens = Vec::new();
    for i in 0..12 {
        tokens.push(app.user_token(&format!("fan_{i:02}")).await);
    }
    let like = format!("/api/articles/{article}/like");
    let requests = tokens
        .iter()
        .flat_map(|t| [t, t])
        .map(|t| app.request(Method::PUT, &like, Some(t), None));
    for resp in futures_util::future::join_all(requests).await {
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let page = app
        .get_json(&format!("/api/articles/{article}"), StatusCode::OK)
        .await;
    assert_eq!(page["like_count"], 12);
}

#[tokio::test]
async fn my_likes_and_favorites_list_published_articles_newest_reaction_first() {
    let app = spawn_app().await;
    let token = app.user_token("olivia_user").await;
    let mut liked = Vec::new();
    for i in 0..5 {
        let id = app
            .published_article(&format!("Liked {i}"), json!({}))
            .await;
        app.as_user(
            &token,
            Method::PUT,
            &format!("/api/articles/{id}/like"),
            None,
            StatusCode::OK,
        )
        .await;
        liked.push(id);
    }
    let fav = app.published_article("Favourite", json!({})).await;
    app.as_user(
        &token,
        Method::PUT,
        &format!("/api/articles/{fav}/favorite"),
        None,
        StatusCode::OK,
    )
    .await;
    liked.reverse();

    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/me/likes?limit=2&cursor={c}"),
            None => "/api/me/likes?limit=2".to_string(),
        };
        let page = app
            .as_user(&token, Method::GET, &path, None, StatusCode::OK)
            .await;
        ids.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(ids, liked);

    let favs = app
        .as_user(
            &token,
            Method::GET,
            "/api/me/favorites",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(favs["items"][0]["id"], fav);
    assert_eq!(favs["items"].as_array().unwrap().len(), 1);

    // An article that leaves publication leaves the lists too.
    app.admin_json(
        Method::POST,
        &format!("/api/admin/articles/{}/unpublish", liked[0]),
        None,
        StatusCode::OK,
    )
    .await;
    let likes = app
        .as_user(&token, Method::GET, "/api/me/likes", None, StatusCode::OK)
        .await;
    assert_eq!(likes["items"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn drafts_cannot_be_liked() {
    let app = spawn_app().await;
    let draft = app.create_article("Draft", json!({})).await;
    let token = app.user_token("paul_user").await;
    app.as_user(
        &token,
        Method::PUT,
        &format!("/api/articles/{draft}/like"),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    app.as_user(
        &token,
        Method::PUT,
        "/api/articles/987654/favorite",
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn push_preferences_default_to_everything_and_round_trip() {
    let app = spawn_app().await;
    app.create_category("ai", "AI").await;
    let token = app.user_token("quinn_push").await;
    let defaults = app
        .as_user(
            &token,
            Method::GET,
            "/api/me/push-preferences",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(defaults["opted_out"], false);
    assert!(defaults["categories"].as_array().unwrap().is_empty());
    assert!(defaults["quiet_hours"].is_null());
    assert_eq!(defaults["timezone"], "Asia/Shanghai");

    let body = json!({ "opted_out": false, "categories": ["ai", "ai"], "quiet_hours": { "start": "22:30", "end": "07:00" }, "timezone": "Europe/Berlin" });
    let saved = app
        .as_user(
            &token,
            Method::PUT,
            "/api/me/push-preferences",
            Some(body),
            StatusCode::OK,
        )
        .await;
    assert_eq!(saved["categories"], json!(["ai"]));
    assert_eq!(saved["quiet_hours"]["start"], "22:30");
    assert_eq!(saved["timezone"], "Europe/Berlin");
    let read = app
        .as_user(
            &token,
            Method::GET,
            "/api/me/push-preferences",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(read, saved);

    for (body, field) in [
        (
            json!({ "opted_out": false, "categories": ["nope"] }),
            "categories",
        ),
        (
            json!({ "opted_out": false, "quiet_hours": { "start": "25:00", "end": "07:00" } }),
            "quiet_hours.start",
        ),
        (
            json!({ "opted_out": false, "quiet_hours": { "start": "07:00", "end": "07:00" } }),
            "quiet_hours",
        ),
        (
            json!({ "opted_out": false, "timezone": "Moon/Base" }),
            "timezone",
        ),
    ] {
        let err = app
            .as_user(
                &token,
                Method::PUT,
                "/api/me/push-preferences",
                Some(body),
                StatusCode::BAD_REQUEST,
            )
            .await;
        assert_eq!(err["details"]["field"], field, "{err}");
    }
    assert_eq!(
        app.as_user(
            &token,
            Method::GET,
            "/api/me/push-preferences",
            None,
            StatusCode::OK
        )
        .await,
        saved,
        "refused edits change nothing"
    );
    let opted_out = app
        .as_user(
            &token,
            Method::PUT,
            "/api/me/push-preferences",
            Some(json!({ "opted_out": true })),
            StatusCode::OK,
        )
        .await;
    assert_eq!(opted_out["opted_out"], true);
    assert!(opted_out["quiet_hours"].is_null());
    expect_json(
        app.get("/api/me/push-preferences").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn subscribe_message_grants_add_one_credit_per_accepted_template() {
    let app = spawn_app().await;
    let token = app.user_token("rita_grant").await;
    let body = json!({ "template_ids": ["tpl-featured", "tpl-reply"] });
    app.as_user(
        &token,
        Method::POST,
        "/api/me/wechat/subscriptions",
        Some(body),
        StatusCode::OK,
    )
    .await;
    let again = app
        .as_user(
            &token,
            Method::POST,
            "/api/me/wechat/subscriptions",
            Some(json!({ "template_ids": ["tpl-featured"] })),
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        again["items"],
        json!([{ "template_id": "tpl-featured", "credits": 2 }, { "template_id": "tpl-reply", "credits": 1 }])
    );
    app.as_user(
        &token,
        Method::POST,
        "/api/me/wechat/subscriptions",
        Some(json!({ "template_ids": [] })),
        StatusCode::BAD_REQUEST,
    )
    .await;
    app.as_user(
        &token,
        Method::POST,
        "/api/me/wechat/subscriptions",
        Some(json!({ "template_ids": [""] })),
        StatusCode::BAD_REQUEST,
    )
    .await;
}
