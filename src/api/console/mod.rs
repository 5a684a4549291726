//! The admin console at `/admin`: server-rendered pages (askama templates under
//! `templates/console/`) with htmx for partial updates, over the same service functions as
//! `/api/admin`. Each section is one module; a control for an admin operation carries
//! `data-op="<operationId>"` (tests/api/console.rs fails on an operation without one).
//!
//! Adding a page for a new admin operation: a handler in the section's module calling the
//! same service function as the API, a route below, and a control with its `data-op` in the
//! section's template; its words go in both files under `locales/console/`.

// A refusal is the answer itself (an HTML page or fragment), carried as the `Err` of the
// handlers' results; it is built once per request, so its size does not matter.
#![allow(clippy::result_large_err)]

mod articles;
mod assets;
mod auth;
mod cron_text;
mod dashboard;
mod errors;
pub mod i18n;
mod jobs;
mod moderation;
mod others;
mod push;
mod sources;
mod web;

use poem::{Route, get, post};

pub fn routes() -> Route {
    Route::new()
        .at("/", get(dashboard::page))
        .at("/login", get(auth::login_page).post(auth::login))
        .at("/logout", post(auth::logout))
        .at("/language", post(auth::language))
        .at("/assets/:name", get(assets::serve))
        .at("/articles", get(articles::list).post(articles::create))
        .at("/articles/new", get(articles::new_page))
        .at("/articles/preview", post(articles::preview))
        .at("/articles/:id", get(articles::edit).post(articles::update))
        .at("/articles/:id/:action", post(articles::action))
        .at("/moderation", get(moderation::queue_page))
        .at("/moderation/comments", post(moderation::bulk_comments))
        .at("/moderation/comments/:id", get(moderation::comment_detail))
        .at(
            "/moderation/comments/:id/:action",
            post(moderation::one_comment),
        )
        .at("/moderation/guestbook/:id/reply", post(moderation::reply))
        .at(
            "/moderation/guestbook/:id/:action",
            post(moderation::one_message),
        )
        .at("/jobs", get(jobs::list).post(jobs::create))
        .at("/jobs/preview", post(jobs::preview))
        .at("/jobs/:id", get(jobs::detail).post(jobs::update))
        .at("/jobs/:id/runs", get(jobs::runs))
        .at("/jobs/:id/:action", post(jobs::action))
        .at("/push", get(push::list))
        .at("/push/:id", get(push::detail))
        .at("/push/:id/counts", get(push::counts_fragment))
        .at("/push/:id/retry", post(push::retry))
        .at("/followers", get(others::followers_page))
        .at("/followers/sync", post(others::sync_followers))
        .at(
            "/resources",
            get(others::resources_page).post(others::create_resource),
        )
        .at("/resources/:id", post(others::update_resource))
        .at("/resources/:id/delete", post(others::delete_resource))
        .at(
            "/releases",
            get(others::releases).post(others::create_release),
        )
        .at("/releases/:id", post(others::update_release))
        .at("/releases/:id/delete", post(others::delete_release))
        .at("/releases/:id/halt", post(others::halt_release))
        .at("/releases/:id/resume", post(others::resume_release))
        .at("/taxonomy", get(others::taxonomy_page))
        .at("/taxonomy/:kind", post(others::create_term))
        .at("/taxonomy/:kind/:id", post(others::update_term))
        .at("/taxonomy/:kind/:id/delete", post(others::delete_term))
        .at("/sources", get(sources::list).post(sources::create))
        .at("/sources/:id", get(sources::detail).post(sources::update))
        .at("/sources/:id/:action", post(sources::action))
        .at("/audit", get(others::audit_page))
}
