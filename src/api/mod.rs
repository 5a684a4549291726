//! HTTP: the OpenAPI service (public and admin), ops routes, and the middleware stack.

mod actor;
pub mod admin;
mod app_release;
mod articles;
mod auth;
mod cached_reads;
mod client_ip;
pub mod comments;
pub mod console;
mod cors;
mod devices;
pub mod dto;
mod edge;
pub mod error;
mod feeds;
pub mod guestbook;
mod http_metrics;
mod json_bytes;
mod me;
pub mod middleware;
mod notifications;
mod openapi_doc;
mod ops;
mod read_budget;
mod resources;
mod search;
pub mod security;
mod security_headers;
pub mod slow_clients;
mod sync;
mod tags;
mod taxonomy;
pub mod types;
mod wechat_callback;

use std::time::Duration;

use poem::{Endpoint, EndpointExt, Route, get};
use poem_openapi::OpenApiService;

use crate::state::AppState;

/// Public and user APIs. poem-openapi implements `OpenApi` for tuples of up to 16, so the
/// service is a pair of groups with room to grow.
type PublicApis = (
    articles::ArticlesApi,
    taxonomy::TaxonomyApi,
    resources::ResourcesApi,
    app_release::AppReleaseApi,
    auth::AuthApi,
    me::MeApi,
    devices::DevicesApi,
    notifications::NotificationsApi,
    comments::CommentsApi,
    guestbook::GuestbookApi,
    search::SearchApi,
    sync::SyncApi,
);

/// `/api/admin/*`.
type AdminApis = (
    admin::AdminArticlesApi,
    admin::AdminTaxonomyApi,
    admin::AdminResourcesApi,
    admin::AdminReleasesApi,
    admin::AdminModerationApi,
    admin::AdminJobsApi,
    admin::AdminFollowersApi,
    admin::AdminPushApi,
    admin::AdminAuditApi,
    admin::AdminSourcesApi,
    admin::AdminDevicesApi,
);

type Apis = (PublicApis, AdminApis);

pub fn openapi_service() -> OpenApiService<Apis, ()> {
    let public = (
        articles::ArticlesApi,
        taxonomy::TaxonomyApi,
        resources::ResourcesApi,
        app_release::AppReleaseApi,
        auth::AuthApi,
        me::MeApi,
        devices::DevicesApi,
        notifications::NotificationsApi,
        comments::CommentsApi,
        guestbook::GuestbookApi,
        search::SearchApi,
        sync::SyncApi,
    );
    let admin = (
        admin::AdminArticlesApi,
        admin::AdminTaxonomyApi,
        admin::AdminResourcesApi,
        admin::AdminReleasesApi,
        admin::AdminModerationApi,
        admin::AdminJobsApi,
        admin::AdminFollowersApi,
        admin::AdminPushApi,
        admin::AdminAuditApi,
        admin::AdminSourcesApi,
        admin::AdminDevicesApi,
    );
    OpenApiService::new((public, admin), "qshare", env!("CARGO_PKG_VERSION"))
    .description("Backend of the qshare quality-sharing (优质分享) tech-article site, app and WeChat mini-program.")
}

/// The whole application as one endpoint.
pub fn routes(state: AppState) -> impl Endpoint {
    let api = openapi_service();
    let spec = openapi_doc::endpoint(openapi_doc::Document::new(&api.spec()));
    let docs = api.swagger_ui();
    let body_limit = state.settings.server.body_limit_bytes;
    let timeout = Duration::from_secs(state.settings.server.request_timeout_secs);
    let cors = &state.settings.server.cors;
    // Outermost last. Errors stay errors up to the metrics (which read the matched route
    // off them); CORS and the edge (tags, caching, compression) turn them into their JSON
    // answers. The fast lane, outermost, answers cached reads by the layers' own rules
    // without entering them.
    Route::new()
        .nest("/", api)
        .at("/openapi.json", get(spec))
        .nest("/docs", docs)
        .nest("/admin", console::routes())
        .at("/healthz", get(ops::healthz))
        .at("/readyz", get(ops::readyz))
        .at("/metrics", get(ops::metrics))
        .at("/wechat/callback", wechat_callback::endpoint())
        .at("/feeds/*path", get(feeds::endpoint))
        .at("/api", get(feeds::api_root))
        .with(middleware::BodyLimit { max: body_limit })
        // Outside the body limit, so that reading a body (chunked ones too) is timed.
        .with(middleware::Timeout { limit: timeout })
        .data(state.clone())
        .with(http_metrics::HttpMetrics::new(
            http_metrics::RouteLabels::of::<Apis>(),
        ))
        .with_if(cors.enabled(), cors::Cors::new(cors))
        .with(edge::Edge)
        .with(security_headers::SecurityHeaders)
        .with(middleware::RequestLog)
        .with(cached_reads::FastLane { state })
}
