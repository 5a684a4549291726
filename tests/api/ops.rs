//! Ops routes, the OpenAPI document and request ids.

use reqwest::StatusCode;

use crate::helpers::spawn_app;

#[tokio::test]
async fn healthz_and_readyz_report_the_process_and_its_dependencies() {
    let app = spawn_app().await;
    let health = app.get_json("/healthz", StatusCode::OK).await;
    assert_eq!(health["status"], "ok");
    let ready = app.get_json("/readyz", StatusCode::OK).await;
    assert_eq!(ready["status"], "ok");
    assert_eq!(ready["checks"]["database"], "ok");
    assert_eq!(ready["checks"]["cache"]["status"], "ok");
    assert_eq!(
        ready["checks"]["cache"]["backend"],
        app.cache().backend_name()
    );
}

#[tokio::test]
async fn readyz_is_503_when_the_database_is_gone() {
    let app = spawn_app().await;
    app.state.db.clone().close().await.unwrap();
    let ready = app
        .get_json("/readyz", StatusCode::SERVICE_UNAVAILABLE)
        .await;
    assert_eq!(ready["checks"]["database"], "unavailable");
    let body = app
        .get_json("/api/articles", StatusCode::SERVICE_UNAVAILABLE)
        .await;
    assert_eq!(body["code"], "service_unavailable");
}

#[tokio::test]
async fn the_openapi_document_describes_every_public_and_admin_route() {
    let app = spawn_app().await;
    let spec = app.get_json("/openapi.json", StatusCode::OK).await;
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let paths = spec["paths"].as_object().unwrap();
    for path in [
        "/api/articles",
        "/api/articles/featured",
        "/api/articles/{id}",
        "/api/articles/{id}/related",
        "/api/categories",
        "/api/tags",
        "/api/resources",
        "/api/resources/{id}",
        "/api/app/release",
        "/api/admin/articles",
        "/api/admin/articles/{id}/featured",
        "/api/admin/categories/{id}",
        "/api/admin/resources/{id}",
        "/api/admin/app/releases/{id}",
    ] {
        assert!(paths.contains_key(path), "missing {path}");
    }
    let get_article = &spec["paths"]["/api/articles/{id}"]["get"]["responses"];
    for status in ["200", "400", "404", "503"] {
        assert!(
            get_article.get(status).is_some(),
            "status {status} not documented"
        );
    }
    assert!(spec["components"]["schemas"]["Error"].is_object());
    let docs = app.get("/docs").await;
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(
        docs.text()
            .await
            .unwrap()
            .to_lowercase()
            .contains("swagger")
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_sane_client_id_is_kept() {
    let app = spawn_app().await;
    let resp = app.get("/api/articles").await;
    let generated = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(generated.len(), 32);
    let resp = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "trace-123");
    let resp = app
        .client
        .get(app.url("/nope"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    assert_ne!(resp.headers()["x-request-id"], "bad id with spaces");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_on_a_fresh_database_both_come_up() {
    let (settings, _dir) = crate::helpers::test_settings().await;
    // Each instance keeps its own search index.
    let mut other = settings.clone();
    other.search.index_dir =
        std::env::temp_dir().join(crate::helpers::unique_name("qshare-index-"));
    let (a, b) = tokio::join!(
        qshare::Application::build(settings.clone()),
        qshare::Application::build(other)
    );
    let (a, b) = (a.expect("first instance"), b.expect("second instance"));
    // Both see the whole schema.
    for app in [&a, &b] {
        qshare::service::articles::list_published(&app.state().db, &Default::default(), None, None)
            .await
            .unwrap();
    }
}
