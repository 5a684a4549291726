//! `/api/admin`: editorial and catalogue management.

mod articles;
mod audit;
mod devices;
mod followers;
mod jobs;
mod moderation;
mod push;
mod releases;
mod resources;
mod sources;
mod taxonomy;

pub use articles::AdminArticlesApi;
pub use audit::AdminAuditApi;
pub use devices::AdminDevicesApi;
pub use followers::AdminFollowersApi;
pub use jobs::AdminJobsApi;
pub use moderation::AdminModerationApi;
pub use push::AdminPushApi;
pub use releases::AdminReleasesApi;
pub use resources::AdminResourcesApi;
pub use sources::AdminSourcesApi;
pub use taxonomy::AdminTaxonomyApi;

use poem_openapi::{ApiResponse, payload::Json, types::ToJSON};

/// 201 with the created object.
#[derive(ApiResponse)]
pub enum Created<T: ToJSON + Send + Sync> {
    #[oai(status = 201)]
    Created(Json<T>),
}

/// 204, nothing to say.
#[derive(ApiResponse)]
pub enum Deleted {
    #[oai(status = 204)]
    Deleted,
}
