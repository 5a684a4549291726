//! Refresh-token rotation is atomic: one winner among concurrent refreshes of one token, a
//! detected reuse kills the whole session (a token minted concurrently included), and a
//! database failure in the middle of a rotation leaves the old token working.

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, spawn_app, unique_name},
    sql_fault,
};

async fn refresh(app: &TestApp, refresh_token: &str) -> (StatusCode, Value) {
    let resp = app
        .request(
            Method::POST,
            "/api/auth/refresh",
            None,
            Some(json!({ "refresh_token": refresh_token })),
        )
        .await;
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn token(body: &Value, name: &str) -> String {
    body[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} in {body}"))
        .to_string()
}

async fn me_status(app: &TestApp, access_token: &str) -> StatusCode {
    app.request(Method::GET, "/api/me", Some(access_token), None)
        .await
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_refreshes_of_one_token_let_exactly_one_win_and_end_the_session() {
    let app = spawn_app().await;
    let session = app
        .register(&unique_name("racer_")[..20], "a-good-password")
        .await;
    let first = token(&session, "refresh_token");
    let answers = join_all((0..20).map(|_| refresh(&app, &first))).await;
    let winners: Vec<&Value> = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .map(|(_, body)| body)
        .collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    for (status, body) in &answers {
        assert!(
            *status == StatusCode::OK || *status == StatusCode::UNAUTHORIZED,
            "{status}: {body}"
        );
    }
    // 19 presentations of a rotated token are a reuse: the session is over, including the
    // pair the winner was handed while the others were being refused.
    let (status, _) = refresh(&app, &token(winners[0], "refresh_token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        me_status(&app, &token(winners[0], "access_token")).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reuse_during_a_rotation_in_flight_also_kills_the_token_that_rotation_mints() {
    let app = spawn_app().await;
    for round in 0..15 {
        let session = app
            .register(&unique_name("thief_")[..20], "a-good-password")
            .await;
        let stolen = token(&session, "refresh_token");
        let (status, rotated) = refresh(&app, &stolen).await;
        assert_eq!(status, StatusCode::OK);
        let current = token(&rotated, "refresh_token");
        // The thief replays the old token while the owner refreshes the current one.
        let ((reuse, _), (_, minted)) =
            tokio::join!(refresh(&app, &stolen), refresh(&app, &current));
        assert_eq!(reuse, StatusCode::UNAUTHORIZED);
        if let Some(next) = minted["refresh_token"].as_str() {
            let (status, body) = refresh(&app, next).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "round {round}: a token minted during the reuse survived: {body}"
            );
        }
    }
}

#[tokio::test]
async fn a_database_error_in_the_middle_of_a_rotation_leaves_the_old_refresh_token_working() {
    let app = spawn_app().await;
    let session = app
        .register(&unique_name("unlucky_")[..20], "a-good-password")
        .await;
    let old = token(&session, "refresh_token");

    // The claim of the old token succeeds; storing its successor fails.
    sql_fault::install(&app.state.db, "refresh_tokens", "INSERT").await;
    let (status, body) = refresh(&app, &old).await;
    sql_fault::remove(&app.state.db, "refresh_tokens").await;
    assert!(status.is_server_error(), "{status}: {body}");

    let (status, body) = refresh(&app, &old).await;
    assert_eq!(status, StatusCode::OK, "the user stays logged in: {body}");
    assert_eq!(
        me_status(&app, &token(&body, "access_token")).await,
        StatusCode::OK
    );
    // And the rotation that did happen is a normal one: the old token is now spent.
    let (status, _) = refresh(&app, &old).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
