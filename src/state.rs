use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::{cache::Cache, config::Settings};

/// What every handler can reach. Cheap to clone (each part is a handle).
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub cache: Cache,
    pub settings: Arc<Settings>,
}
