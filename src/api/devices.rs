//! Device registration for push (APNs, FCM, HarmonyOS): for the logged-in user under
//! `/api/me/devices`, and anonymous under `/api/devices` with `X-Device-Secret`.

use poem::{Request, web::Data};
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::{Header, Path},
    payload::Json,
};

use super::{
    client_ip::client_ip,
    error::ApiResult,
    me::QuietHoursWindow,
    security::UserAuth,
    tags::ApiTags,
    types::{Text, Timestamp},
};
use crate::{
    service::{
        devices::{self, DevicePreferences, Owner, Registration},
        push_preferences,
    },
    state::AppState,
};

#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename = "DeviceProvider", rename_all = "snake_case")]
pub enum ProviderName {
    Apns,
    Fcm,
    Harmony,
}

#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename = "DeviceEnvironment", rename_all = "snake_case")]
pub enum EnvironmentName {
    Production,
    Sandbox,
}

/// A device token to register (again: the same token updates its row).
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct DeviceRegistration {
    pub provider: ProviderName,
    /// The push token the operating system gave the app.
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub token: Text<{ crate::service::devices::TOKEN_MAX }>,
    /// Bundle id / package name (informational).
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub app_id: Option<Text<{ crate::service::devices::APP_ID_MAX }>>,
    /// APNs service of the build: `production` (default) or `sandbox`.
    #[oai(nullable)]
    pub environment: Option<EnvironmentName>,
    /// `zh-CN` (default) or `en`: the language of the notifications.
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub locale: Option<Text<{ crate::service::devices::LOCALE_MAX }>>,
    /// IANA timezone (default Asia/Shanghai), for quiet hours.
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub timezone: Option<Text<{ crate::service::validate::TIMEZONE_MAX }>>,
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub app_version: Option<Text<{ crate::service::devices::APP_VERSION_MAX }>>,
}

/// A registered device.
#[derive(Debug, Object)]
pub struct Device {
    pub id: i64,
    pub provider: ProviderName,
    pub token: String,
    #[oai(nullable)]
    pub app_id: Option<String>,
    pub environment: EnvironmentName,
    pub locale: String,
    pub timezone: String,
    #[oai(nullable)]
    pub app_version: Option<String>,
    /// False once the provider said the token is dead (register it again to revive it).
    pub valid: bool,
    #[oai(nullable)]
    pub invalid_reason: Option<String>,
    pub registered_at: Timestamp,
}

#[derive(Debug, Object)]
pub struct DeviceList {
    pub items: Vec<Device>,
}

/// An anonymous device: keep `device_secret`, it is shown only once.
#[derive(Debug, Object)]
pub struct AnonymousDevice {
    pub id: i64,
    /// Send it as `X-Device-Secret` on later calls for this device.
    pub device_secret: String,
    pub device: Device,
}

/// An anonymous device's own push preferences.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct DevicePreferencesBody {
    /// No pushes to this device.
    pub opted_out: bool,
    /// Pushes falling inside are delivered when the window ends.
    #[oai(nullable)]
    pub quiet_hours: Option<QuietHoursWindow>,
    /// IANA timezone of the quiet hours (default: the device's).
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub timezone: Option<Text<{ crate::service::validate::TIMEZONE_MAX }>>,
}

#[derive(ApiResponse)]
pub enum DeviceRegistered {
    /// The device as registered (new or updated).
    #[oai(status = 201)]
    Created(Json<Device>),
}

#[derive(ApiResponse)]
pub enum AnonymousDeviceRegistered {
    #[oai(status = 201)]
    Created(Json<AnonymousDevice>),
}

#[derive(ApiResponse)]
pub enum DeviceDeleted {
    #[oai(status = 204)]
    Deleted,
}

fn provider_of(p: entity::device::Provider) -> ProviderName {
    match p {
        entity::device::Provider::Apns => ProviderName::Apns,
        entity::device::Provider::Fcm => ProviderName::Fcm,
        entity::device::Provider::Harmony => ProviderName::Harmony,
    }
}

impl From<entity::device::Model> for Device {
    fn from(d: entity::device::Model) -> Self {
        Self {
            id: d.id,
            provider: provider_of(d.provider),
            token: d.token,
            app_id: d.app_id,
            environment: match d.environment {
                entity::device::Environment::Production => EnvironmentName::Production,
                entity::device::Environment::Sandbox => EnvironmentName::Sandbox,
            },
            locale: d.locale,
            timezone: d.timezone,
            app_version: d.app_version,
            valid: d.invalid_at.is_none(),
            invalid_reason: d.invalid_reason,
            registered_at: d.registered_at.into(),
        }
    }
}

fn registration(body: DeviceRegistration) -> Registration {
    Registration {
        provider: match body.provider {
            ProviderName::Apns => "apns",
            ProviderName::Fcm => "fcm",
            ProviderName::Harmony => "harmony",
        }
        .into(),
        token: body.token.into(),
        app_id: body.app_id.map(Into::into),
        environment: body.environment.map(|e| {
            match e {
                EnvironmentName::Production => "production",
                EnvironmentName::Sandbox => "sandbox",
            }
            .into()
        }),
        locale: body.locale.map(Into::into),
        timezone: body.timezone.map(Into::into),
        app_version: body.app_version.map(Into::into),
    }
}

fn preferences_view(d: &entity::device::Model) -> DevicePreferencesBody {
    let prefs = devices::own_preferences(d);
    DevicePreferencesBody {
        opted_out: prefs.opted_out,
        quiet_hours: prefs.quiet_hours.map(|q| QuietHoursWindow {
            start: Text(push_preferences::format_clock(q.start_minute)),
            end: Text(push_preferences::format_clock(q.end_minute)),
        }),
        timezone: Some(Text(prefs.timezone)),
    }
}

pub struct DevicesApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Devices")]
impl DevicesApi {
    /// Register this device for my pushes (the same token again updates it)
    #[oai(
        path = "/me/devices",
        method = "post",
        operation_id = "registerMyDevice"
    )]
    async fn register_my_device(
        &self,
        auth: UserAuth,
        state: Data<&AppState>,
        body: Json<DeviceRegistration>,
    ) -> ApiResult<DeviceRegistered> {
        let owner = Owner::User {
            user_id: auth.id(),
            session_id: auth.session_id().to_string(),
        };
        let registered = devices::register(&state.db, owner, registration(body.0)).await?;
        Ok(DeviceRegistered::Created(Json(registered.device.into())))
    }

    /// My registered devices
    #[oai(path = "/me/devices", method = "get", operation_id = "listMyDevices")]
    async fn list_my_devices(
        &self,
        auth: UserAuth,
        state: Data<&AppState>,
    ) -> ApiResult<Json<DeviceList>> {
        let items = devices::list_mine(&state.db, auth.id()).await?;
        Ok(Json(DeviceList {
            items: items.into_iter().map(Into::into).collect(),
        }))
    }

    /// Remove one of my devices (it gets no more pushes)
    #[oai(
        path = "/me/devices/:id",
        method = "delete",
        operation_id = "deleteMyDevice"
    )]
    async fn delete_my_device(
        &self,
        auth: UserAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> ApiResult<DeviceDeleted> {
        devices::delete_mine(&state.db, auth.id(), id.0).await?;
        Ok(DeviceDeleted::Deleted)
    }

    /// Register a device without logging in; answers its id and secret
    #[oai(path = "/devices", method = "post", operation_id = "registerDevice")]
    async fn register_device(
        &self,
        req: &Request,
        state: Data<&AppState>,
        body: Json<DeviceRegistration>,
    ) -> ApiResult<AnonymousDeviceRegistered> {
        let ip = client_ip(req, &state);
        let registered = devices::register_anonymous(
            &state.db,
            &state.cache,
            &state.settings,
            registration(body.0),
            ip,
        )
        .await?;
        Ok(AnonymousDeviceRegistered::Created(Json(AnonymousDevice {
            id: registered.device.id,
            device_secret: registered.secret.unwrap_or_default(),
            device: registered.device.into(),
        })))
    }

    /// Set an anonymous device's push preferences (`X-Device-Secret`)
    #[oai(
        path = "/devices/:id/preferences",
        method = "put",
        operation_id = "setDevicePreferences"
    )]
    async fn set_device_preferences(
        &self,
        state: Data<&AppState>,
        id: Path<i64>,
        #[oai(name = "X-Device-Secret")] secret: Header<Option<String>>,
        body: Json<DevicePreferencesBody>,
    ) -> ApiResult<Json<DevicePreferencesBody>> {
        let b = body.0;
        let prefs = DevicePreferences {
            opted_out: b.opted_out,
            quiet_hours: b.quiet_hours.map(|q| (q.start.into(), q.end.into())),
            timezone: b.timezone.map(Into::into),
        };
        let device = devices::set_preferences(&state.db, id.0, secret.0.as_deref(), prefs).await?;
        Ok(Json(preferences_view(&device)))
    }
}
