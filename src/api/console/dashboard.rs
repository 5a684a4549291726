//! The dashboard: what is waiting for an administrator.

use askama::Template;
use chrono::{DateTime, Utc};
use poem::{Request, Response, handler};

use super::web::{self, Ctx, Guard, OrFail, signed_in};
use crate::{
    service::{
        dashboard::{self, Summary},
        devices::{self, DeviceStats},
    },
    time,
};

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct Page {
    c: Ctx,
    s: Summary,
    /// What `adminDeviceStats` answers: devices by provider, validity and app version.
    d: DeviceStats,
    now: DateTime<Utc>,
}

#[handler]
pub async fn page(req: &Request, guard: Guard) -> Response {
    let console = signed_in!(guard);
    let state = web::state(req);
    let s = match dashboard::summary(&state.db).await.or_fail(&console) {
        Ok(s) => s,
        Err(refusal) => return refusal,
    };
    let d = match devices::stats(&state.db).await.or_fail(&console) {
        Ok(d) => d,
        Err(refusal) => return refusal,
    };
    web::page(
        req,
        &Page {
            c: console.ctx("dashboard"),
            s,
            d,
            now: time::now(),
        },
    )
}
