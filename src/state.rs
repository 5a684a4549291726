use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::{
    cache::{Cache, read_through::ReadCache},
    config::Settings,
    mobile_push::Providers,
    search::Search,
    wechat::services::WechatServices,
};

/// What every handler can reach. Cheap to clone (each part is a handle).
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub cache: Cache,
    /// Pre-serialized public reads; invalidated by every write that changes them.
    pub read_cache: ReadCache,
    /// Full-text search over the published articles (this instance's index).
    pub search: Search,
    pub settings: Arc<Settings>,
    /// This process among the instances (recorded with job runs).
    pub instance: Arc<str>,
    /// Wakes this instance's scheduler after the jobs table changed here.
    pub jobs_changed: Arc<tokio::sync::Notify>,
    pub wechat: WechatServices,
    /// Wakes this instance's push workers (a campaign was prepared or retried here).
    pub push_wake: Arc<tokio::sync::Notify>,
    /// The device push clients (APNs, FCM, HarmonyOS) shared by every worker here.
    pub push_providers: Providers,
}
