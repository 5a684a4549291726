//! `/api/admin/devices`: how many devices can be reached, per provider, validity and app
//! version.

use poem::web::Data;
use poem_openapi::{Object, OpenApi, payload::Json};

use crate::{
    api::{error::ApiResult, security::AdminAuth, tags::ApiTags},
    service::devices,
    state::AppState,
};

/// Devices of one provider.
#[derive(Debug, Clone, Object)]
pub struct ProviderDevices {
    /// `apns`, `fcm` or `harmony`.
    pub provider: String,
    pub valid: i64,
    /// Marked invalid by the provider (dead tokens), until registered again.
    pub invalid: i64,
    pub invalid_reasons: Vec<ReasonCount>,
}

#[derive(Debug, Clone, Object)]
pub struct ReasonCount {
    pub reason: String,
    pub devices: i64,
}

#[derive(Debug, Clone, Object)]
pub struct VersionDevices {
    /// `unknown` when the app did not say.
    pub app_version: String,
    pub devices: i64,
}

#[derive(Debug, Clone, Object)]
pub struct DeviceStats {
    pub total: i64,
    /// Devices with an owner (logged in when they registered).
    pub owned: i64,
    pub anonymous: i64,
    pub by_provider: Vec<ProviderDevices>,
    pub by_app_version: Vec<VersionDevices>,
}

pub struct AdminDevicesApi;

#[OpenApi(prefix_path = "/api/admin/devices", tag = "ApiTags::AdminDevices")]
impl AdminDevicesApi {
    /// Devices by provider, validity and app version
    #[oai(path = "/stats", method = "get", operation_id = "adminDeviceStats")]
    async fn admin_device_stats(
        &self,
        _admin: AdminAuth,
        state: Data<&AppState>,
    ) -> ApiResult<Json<DeviceStats>> {
        let s = devices::stats(&state.db).await?;
        Ok(Json(DeviceStats {
            total: s.total,
            owned: s.owned,
            anonymous: s.anonymous,
            by_provider: s
                .by_provider
                .into_iter()
                .map(|(provider, (valid, invalid))| ProviderDevices {
                    invalid_reasons: s
                        .invalid_reasons
                        .get(&provider)
                        .into_iter()
                        .flatten()
                        .map(|(reason, n)| ReasonCount {
                            reason: reason.clone(),
                            devices: *n,
                        })
                        .collect(),
                    provider,
                    valid,
                    invalid,
                })
                .collect(),
            by_app_version: s
                .by_app_version
                .into_iter()
                .map(|(app_version, devices)| VersionDevices {
                    app_version,
                    devices,
                })
                .collect(),
        }))
    }
}
