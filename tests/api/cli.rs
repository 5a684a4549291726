//! The command line, run as a real process.

use std::{io::Write, process::Stdio};

use reqwest::{Method, StatusCode};

use crate::helpers::{config_dir, spawn_app_with, test_settings};

#[tokio::test]
async fn admin_create_reads_the_password_from_stdin_and_makes_an_administrator() {
    let (settings, dir) = test_settings().await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_qshare"))
        .args(["admin", "create", "--username", "root_admin"])
        .current_dir(config_dir().parent().unwrap())
        .env("APP_ENV", "test")
        .env("DATABASE_URL", &settings.database.url)
        .env_remove("REDIS_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run qshare");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"root-password-42\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("root_admin"));

    let app = spawn_app_with(settings, dir).await;
    let login = app.login("root_admin", "root-password-42").await;
    assert_eq!(login["user"]["role"], "admin");
    let token = login["access_token"].as_str().unwrap();
    app.as_user(
        token,
        Method::GET,
        "/api/admin/articles",
        None,
        StatusCode::OK,
    )
    .await;

    // The command line's action is in the audit log, without the password.
    let log = app
        .as_user(
            token,
            Method::GET,
            "/api/admin/audit?action=user.create_admin",
            None,
            StatusCode::OK,
        )
        .await;
    let entry = &log["items"][0];
    assert_eq!(entry["actor_name"], "cli");
    assert!(entry["actor_id"].is_null());
    assert_eq!(entry["object_id"], login["user"]["id"]);
    assert_eq!(entry["after"]["username"], "root_admin");
    assert!(!log.to_string().contains("root-password-42"));
}

#[tokio::test]
async fn admin_create_refuses_a_weak_password() {
    let (settings, _dir) = test_settings().await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_qshare"))
        .args([
            "admin",
            "create",
            "--username",
            "root_admin",
            "--password",
            "short",
        ])
        .current_dir(config_dir().parent().unwrap())
        .env("APP_ENV", "test")
        .env("DATABASE_URL", &settings.database.url)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("password"));
}
