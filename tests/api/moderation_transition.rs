//! The one moderation transition shared by comments and guestbook messages
//! (`service::moderation::apply`): the allowed status changes, the compare-and-set that
//! turns a racing second change into a 409, one audit entry per change, and who may act.

use entity::{comment, guestbook_message, user};
use qshare::{
    config::ModerationMode,
    error::{AppError, ErrorCode},
    service::{
        audit::Actor,
        moderation::{self, Moderated, ModerationAction},
    },
};
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_USERNAME, TestApp, spawn_app_with, test_settings};

async fn pre_moderated_app() -> TestApp {
    let (mut settings, dir) = test_settings().await;
    settings.moderation.mode = ModerationMode::Pre;
    spawn_app_with(settings, dir).await
}

/// A pending comment and a pending guestbook message by `token`'s user:
/// `[("comments", id), ("guestbook", id)]`.
async fn pending_items(app: &TestApp, token: &str) -> [(&'static str, i64); 2] {
    let article = app.published_article("Moderated", json!({})).await;
    let body = Some(json!({ "content": "waiting for a moderator" }));
    let c = app
        .as_user(
            token,
            Method::POST,
            &format!("/api/articles/{article}/comments"),
            body.clone(),
            StatusCode::CREATED,
        )
        .await;
    let m = app
        .as_user(
            token,
            Method::POST,
            "/api/guestbook",
            body,
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(c["status"], "pending");
    assert_eq!(m["status"], "pending");
    [
        ("comments", c["id"].as_i64().unwrap()),
        ("guestbook", m["id"].as_i64().unwrap()),
    ]
}

fn object_type(what: &str) -> &'static str {
    if what == "comments" {
        "comment"
    } else {
        "guestbook_message"
    }
}

async fn audit_actions(app: &TestApp, what: &str, id: i64) -> Vec<String> {
    let page = app
        .admin_json(
            Method::GET,
            &format!(
                "/api/admin/audit?limit=100&object_type={}&object_id={id}",
                object_type(what)
            ),
            None,
            StatusCode::OK,
        )
        .await;
    let mut actions: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    actions.reverse();
    actions
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

async fn admin_user(app: &TestApp) -> user::Model {
    user::Entity::find()
        .filter(user::Column::Username.eq(ADMIN_USERNAME))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn approve_hide_and_delete_follow_one_rule_for_comments_and_guestbook_messages() {
    let app = pre_moderated_app().await;
    let token = app.user_token("trans_user").await;
    for (what, id) in pending_items(&app, &token).await {
        let prefix = if what == "comments" {
            "comment"
        } else {
            "guestbook"
        };
        assert_eq!(
            moderate(&app, what, id, "approve", StatusCode::OK).await["status"],
            "published"
        );
        let again = moderate(&app, what, id, "approve", StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(again["code"], "invalid_transition", "{what}");
        assert_eq!(
            moderate(&app, what, id, "hide", StatusCode::OK).await["status"],
            "hidden"
        );
        assert_eq!(
            moderate(&app, what, id, "approve", StatusCode::OK).await["status"],
            "published"
        );
        assert_eq!(
            moderate(&app, what, id, "delete", StatusCode::OK).await["status"],
            "deleted"
        );
        for action in ["approve", "hide", "delete"] {
            moderate(&app, what, id, action, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
        assert_eq!(
            audit_actions(&app, what, id).await,
            ["approve", "hide", "approve", "delete"].map(|a| format!("{prefix}.{a}")),
            "one audit entry per change of {what}, none for refused ones"
        );
    }
}

/// Applies `action` to `stale` (a row read before someone else changed it).
async fn apply_stale<E: Moderated>(
    app: &TestApp,
    admin: &user::Model,
    id: i64,
    stale: &E::Model,
    action: ModerationAction,
) -> Result<(), AppError> {
    let txn = app.state.db.begin().await.unwrap();
    let result = moderation::apply::<E>(&txn, admin, &Actor::user(admin), id, stale, action).await;
    txn.commit().await.unwrap();
    result.map(|_| ())
}

#[tokio::test]
async fn a_second_transition_racing_the_first_gets_a_conflict_and_the_audit_has_one_entry() {
    let app = pre_moderated_app().await;
    let token = app.user_token("race_user").await;
    let admin = admin_user(&app).await;
    let [(_, comment_id), (_, message_id)] = pending_items(&app, &token).await;
    let db = &app.state.db;
    // Both moderators read the pending rows; the first approves them.
    let stale_comment = moderation::find::<comment::Entity>(db, comment_id)
        .await
        .unwrap();
    let stale_message = moderation::find::<guestbook_message::Entity>(db, message_id)
        .await
        .unwrap();
    moderate(&app, "comments", comment_id, "approve", StatusCode::OK).await;
    moderate(&app, "guestbook", message_id, "approve", StatusCode::OK).await;

    // The second, still holding "pending", hides: pending -> hidden is allowed, but the
    // row is no longer pending.
    let hide = ModerationAction::Hide;
    let results = [
        apply_stale::<comment::Entity>(&app, &admin, comment_id, &stale_comment, hide).await,
        apply_stale::<guestbook_message::Entity>(&app, &admin, message_id, &stale_message, hide)
            .await,
    ];
    for result in results {
        assert!(
            matches!(
                result,
                Err(AppError::Conflict {
                    code: ErrorCode::ChangedConcurrently,
                    ..
                })
            ),
            "{result:?}"
        );
    }
    let comment = moderation::find::<comment::Entity>(db, comment_id)
        .await
        .unwrap();
    assert_eq!(
        comment.status,
        entity::moderation::ModerationStatus::Published
    );
    let message = moderation::find::<guestbook_message::Entity>(db, message_id)
        .await
        .unwrap();
    assert_eq!(
        message.status,
        entity::moderation::ModerationStatus::Published
    );
    assert_eq!(
        audit_actions(&app, "comments", comment_id).await,
        ["comment.approve"]
    );
    assert_eq!(
        audit_actions(&app, "guestbook", message_id).await,
        ["guestbook.approve"]
    );
}

#[tokio::test]
async fn only_an_admin_moderates_and_an_author_may_only_delete_their_own() {
    let app = pre_moderated_app().await;
    let author = app.user_token("own_user").await;
    let other = app.user_token("other_user").await;
    let items = pending_items(&app, &author).await;
    let author_model = user::Entity::find()
        .filter(user::Column::Username.eq("own_user"))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    for (what, id) in items {
        // The admin routes refuse a non-admin.
        let refused = app
            .as_user(
                &other,
                Method::POST,
                &format!("/api/admin/{what}/{id}/approve"),
                None,
                StatusCode::FORBIDDEN,
            )
            .await;
        assert_eq!(refused["code"], "forbidden", "{refused}");
        // Deleting someone else's is refused.
        let delete_path = if what == "comments" {
            format!("/api/comments/{id}")
        } else {
            format!("/api/guestbook/{id}")
        };
        app.as_user(
            &other,
            Method::DELETE,
            &delete_path,
            None,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    // The shared transition itself refuses an author's approve, whatever the route.
    let [(_, comment_id), (_, message_id)] = items;
    let stale = moderation::find::<comment::Entity>(&app.state.db, comment_id)
        .await
        .unwrap();
    let approve = ModerationAction::Approve;
    let result =
        apply_stale::<comment::Entity>(&app, &author_model, comment_id, &stale, approve).await;
    assert!(matches!(result, Err(AppError::Forbidden(_))), "{result:?}");
    for (what, id) in items {
        assert!(
            audit_actions(&app, what, id).await.is_empty(),
            "nothing was audited for refused actions on {what}"
        );
    }
    let comment = moderation::find::<comment::Entity>(&app.state.db, comment_id)
        .await
        .unwrap();
    assert_eq!(
        comment.status,
        entity::moderation::ModerationStatus::Pending
    );

    // The author deletes their own; that is not an admin action, so not audited.
    let resp = app
        .request(
            Method::DELETE,
            &format!("/api/guestbook/{message_id}"),
            Some(&author),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let message = moderation::find::<guestbook_message::Entity>(&app.state.db, message_id)
        .await
        .unwrap();
    assert_eq!(
        message.status,
        entity::moderation::ModerationStatus::Deleted
    );
    assert!(
        audit_actions(&app, "guestbook", message_id)
            .await
            .is_empty()
    );
}
