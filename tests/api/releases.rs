//! The update check's second version: channels, builds, staged rollouts by install id,
//! halting, the minimum supported version, and the admin operations behind them.

use std::collections::BTreeSet;

use futures_util::{StreamExt, stream};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

const DEVICES: usize = 10_000;

async fn release(app: &TestApp, body: Value) -> Value {
    app.admin_json(
        Method::POST,
        "/api/admin/app/releases",
        Some(body),
        StatusCode::CREATED,
    )
    .await
}

async fn patch(app: &TestApp, id: i64, body: Value) -> Value {
    app.admin_json(
        Method::PATCH,
        &format!("/api/admin/app/releases/{id}"),
        Some(body),
        StatusCode::OK,
    )
    .await
}

/// The install ids (of `DEVICES` made-up devices) that the check offers `version`.
async fn offered(app: &TestApp, query: &str, version: &str) -> BTreeSet<usize> {
    let answers: Vec<(usize, Value)> = stream::iter(0..DEVICES)
        .map(|i| async move {
            let path = format!("/api/app/release?{query}&install_id=device-{i:05}");
            (i, app.get_json(&path, StatusCode::OK).await)
        })
        .buffer_unordered(16)
        .collect()
        .await;
    answers
        .into_iter()
        .filter(|(_, a)| a["latest_version"] == version)
        .map(|(i, _)| i)
        .collect()
}

#[tokio::test]
async fn a_staged_rollout_keeps_each_device_in_its_group_only_adds_devices_and_halting_removes_all()
{
    let app = spawn_app().await;
    let url = "https://dl.example.com/qshare.apk";
    release(
        &app,
        json!({ "platform": "android", "version": "1.0.0", "download_url": url }),
    )
    .await;
    let staged = release(
        &app,
        json!({ "platform": "android", "version": "2.0.0", "build": 200, "min_supported_version": "1.0.0",
                "rollout_basis_points": 2500, "download_url": url,
                "sha256": "AB".repeat(32), "size_bytes": 1234,
                "notes": "新首页", "notes_en": "New home page" }),
    )
    .await;
    assert_eq!(staged["sha256"], "ab".repeat(32), "stored lowercase");
    let id = staged["id"].as_i64().unwrap();
    let query = "platform=android&channel=official&version=1.0.0&build=100";

    let quarter = offered(&app, query, "2.0.0").await;
    let share = quarter.len() as f64 / DEVICES as f64;
    assert!((0.23..=0.27).contains(&share), "share at 2500 bp: {share}");
    let one = quarter.iter().next().copied().unwrap();
    let answer = app
        .get_json(
            &format!("/api/app/release?{query}&install_id=device-{one:05}"),
            StatusCode::OK,
        )
        .await;
    assert_eq!(answer["update"], "optional");
    assert_eq!(answer["release_id"], id);
    assert_eq!(answer["latest_build"], 200);
    assert_eq!(answer["sha256"], "ab".repeat(32));
    assert_eq!(answer["notes_en"], "New home page");
    assert_eq!(answer["channel"], "official");
    let left_out = (0..DEVICES).find(|i| !quarter.contains(i)).unwrap();
    let answer = app
        .get_json(
            &format!("/api/app/release?{query}&install_id=device-{left_out:05}"),
            StatusCode::OK,
        )
        .await;
    assert_eq!(answer["latest_version"], "1.0.0");
    assert_eq!(answer["update"], "none");
    // Without an install id a device is in full rollouts only.
    let anonymous = app
        .get_json(&format!("/api/app/release?{query}"), StatusCode::OK)
        .await;
    assert_eq!(anonymous["latest_version"], "1.0.0");

    patch(&app, id, json!({ "rollout_basis_points": 5000 })).await;
    let half = offered(&app, query, "2.0.0").await;
    let share = half.len() as f64 / DEVICES as f64;
    assert!((0.48..=0.52).contains(&share), "share at 5000 bp: {share}");
    assert!(
        quarter.is_subset(&half),
        "raising the rollout dropped {} devices",
        quarter.difference(&half).count()
    );

    let halted = app
        .admin_json(
            Method::POST,
            &format!("/api/admin/app/releases/{id}/halt"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(halted["halted"], true);
    assert!(offered(&app, query, "2.0.0").await.is_empty());

    app.admin_json(
        Method::POST,
        &format!("/api/admin/app/releases/{id}/resume"),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        offered(&app, query, "2.0.0").await,
        half,
        "resuming brings back the same devices"
    );

    let audit = app
        .admin_json(
            Method::GET,
            &format!("/api/admin/audit?limit=100&object_type=app_release&object_id={id}"),
            None,
            StatusCode::OK,
        )
        .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in [
        "release.create",
        "release.update",
        "release.halt",
        "release.resume",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
}

#[tokio::test]
async fn a_client_below_the_minimum_must_update_even_at_zero_basis_points_but_not_to_a_halted_release()
 {
    let app = spawn_app().await;
    let url = "https://dl.example.com/qshare.apk";
    release(
        &app,
        json!({ "platform": "android", "version": "2.0.0", "download_url": url }),
    )
    .await;
    let strict = release(
        &app,
        json!({ "platform": "android", "version": "3.0.0", "min_supported_version": "2.5.0",
                "rollout_basis_points": 0, "download_url": url }),
    )
    .await;
    let check = |version: &str, device: &str| {
        format!("/api/app/release?platform=android&version={version}&install_id={device}")
    };
    for device in ["a", "b", "c", "d"] {
        let answer = app.get_json(&check("2.0.0", device), StatusCode::OK).await;
        assert_eq!(answer["update"], "required", "{device}");
        assert_eq!(answer["latest_version"], "3.0.0");
        assert_eq!(answer["min_supported_version"], "2.5.0");
    }
    // At or above the floor, a release at 0 bp is offered to no one.
    let answer = app.get_json(&check("2.6.0", "a"), StatusCode::OK).await;
    assert_eq!(answer["update"], "none");
    assert_eq!(answer["latest_version"], "2.0.0");

    let id = strict["id"].as_i64().unwrap();
    app.admin_json(
        Method::POST,
        &format!("/api/admin/app/releases/{id}/halt"),
        None,
        StatusCode::OK,
    )
    .await;
    let answer = app.get_json(&check("2.0.0", "a"), StatusCode::OK).await;
    assert_eq!(answer["update"], "none", "a halted release raises no floor");
    assert_eq!(answer["latest_version"], "2.0.0");
}

#[tokio::test]
async fn each_channel_gets_its_own_releases_and_a_build_orders_one_version() {
    let app = spawn_app().await;
    let official = release(
        &app,
        json!({ "platform": "android", "version": "2.0.0", "build": 7, "download_url": "https://dl.example.com/a.apk" }),
    )
    .await;
    release(
        &app,
        json!({ "platform": "android", "channel": "huawei", "version": "2.1.0", "min_supported_version": "1.0.0", "download_url": "https://appgallery.example.com/q" }),
    )
    .await;
    // The same version again in another channel is its own release.
    release(
        &app,
        json!({ "platform": "android", "channel": "xiaomi", "version": "2.0.0", "download_url": "https://mi.example.com/q" }),
    )
    .await;
    let check = |channel: &str, version: &str, build: &str| {
        format!(
            "/api/app/release?platform=android&channel={channel}&version={version}&build={build}"
        )
    };
    let huawei = app
        .get_json(&check("huawei", "2.0.0", "7"), StatusCode::OK)
        .await;
    assert_eq!(huawei["latest_version"], "2.1.0");
    assert_eq!(huawei["update"], "optional");
    let own = app
        .get_json(&check("official", "2.0.0", "7"), StatusCode::OK)
        .await;
    assert_eq!(own["release_id"], official["id"]);
    assert_eq!(own["update"], "none");
    let older_build = app
        .get_json(&check("official", "2.0.0", "5"), StatusCode::OK)
        .await;
    assert_eq!(older_build["update"], "optional", "build 5 < build 7");
    let none = app
        .get_json(&check("oppo", "2.0.0", "1"), StatusCode::NOT_FOUND)
        .await;
    assert_eq!(none["code"], "not_found");
    let bad = app
        .get_json(&check("googleplay", "2.0.0", "1"), StatusCode::BAD_REQUEST)
        .await;
    assert_eq!(bad["details"]["field"], "channel");
    let bad = app
        .get_json(
            "/api/app/release?platform=android&version=2.0.0&install_id=has%20space",
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(bad["details"]["field"], "install_id");

    let listed = app
        .admin_json(
            Method::GET,
            "/api/admin/app/releases?channel=huawei",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_release_fields_are_400s_naming_the_field_and_change_nothing() {
    let app = spawn_app().await;
    let ok = release(
        &app,
        json!({ "platform": "ios", "channel": "appstore", "version": "1.0.0", "download_url": "https://apps.example.com/q" }),
    )
    .await;
    let id = ok["id"].as_i64().unwrap();
    let base = json!({ "platform": "android", "version": "9.0.0", "download_url": "https://dl.example.com/a.apk" });
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    for (body, field) in [
        (
            with("rollout_basis_points", json!(10001)),
            "rollout_basis_points",
        ),
        (
            with("rollout_basis_points", json!(-1)),
            "rollout_basis_points",
        ),
        (with("sha256", json!("g".repeat(64))), "sha256"),
        (with("sha256", json!("ab12")), "sha256"),
        (with("sha256", json!("a".repeat(65))), "sha256"),
        (with("build", json!(-3)), "build"),
        (with("channel", json!("appstore")), "channel"),
    ] {
        let err = app
            .admin_json(
                Method::POST,
                "/api/admin/app/releases",
                Some(body.clone()),
                StatusCode::BAD_REQUEST,
            )
            .await;
        assert_eq!(err["details"]["field"], field, "{body}: {err}");
        assert_eq!(err["code"], "invalid_input");
    }
    let err = app
        .admin_json(
            Method::POST,
            "/api/admin/app/releases",
            Some(with("channel", json!("googleplay"))),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert!(err["code"].is_string(), "{err}");
    let err = app
        .admin_json(
            Method::PATCH,
            &format!("/api/admin/app/releases/{id}"),
            Some(json!({ "rollout_basis_points": 10001 })),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(err["details"]["field"], "rollout_basis_points");
    let err = app
        .admin_json(
            Method::PATCH,
            &format!("/api/admin/app/releases/{id}"),
            Some(json!({ "channel": "huawei" })),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(err["details"]["field"], "channel", "no vendor store on iOS");

    let list = app
        .admin_json(Method::GET, "/api/admin/app/releases", None, StatusCode::OK)
        .await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "nothing was created: {list}");
    assert_eq!(items[0]["rollout_basis_points"], 10000);
    assert_eq!(items[0]["channel"], "appstore");
}
