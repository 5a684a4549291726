use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::{
    client_ip::client_ip,
    dto::{Role, UserProfile},
    error::ApiResult,
    tags::ApiTags,
    types::Text,
};
use crate::{
    service::{
        accounts::{self, Registration},
        tokens::{self, IssuedTokens},
        wechat_login,
    },
    state::AppState,
};

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 3..32 letters (Chinese included), digits or '_'; unique ignoring case.
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub username: Text<{ crate::service::accounts::USERNAME_MAX }>,
    /// 8..128 characters, not the username.
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub password: Text<{ crate::service::accounts::PASSWORD_MAX }>,
    #[oai(nullable)]
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub nickname: Option<Text<{ crate::service::accounts::NICKNAME_MAX }>>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct LoginRequest {
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub username: Text<{ crate::service::accounts::USERNAME_MAX }>,
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub password: Text<{ crate::service::accounts::PASSWORD_MAX }>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct MiniProgramLogin {
    /// The code from `wx.login` (single use, valid for five minutes).
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub code: Text<{ crate::service::wechat_login::CODE_MAX }>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct RefreshRequest {
    #[oai(validator(custom = "crate::api::types::WithinMax"))]
    pub refresh_token: Text<{ crate::service::tokens::REFRESH_TOKEN_MAX }>,
}

/// Tokens for the app and mini-program: send `Authorization: Bearer <access_token>`; when it
/// expires, exchange the refresh token (each refresh token works once).
#[derive(Debug, Object)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub user: UserProfile,
}

impl From<IssuedTokens> for TokenResponse {
    fn from(t: IssuedTokens) -> Self {
        Self {
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            token_type: "Bearer".into(),
            expires_in: t.expires_in,
            user: t.user.into(),
        }
    }
}

#[derive(ApiResponse)]
pub enum Registered {
    /// The account exists and is logged in.
    #[oai(status = 201)]
    Created(Json<TokenResponse>),
}

#[derive(ApiResponse)]
pub enum LoggedOut {
    #[oai(status = 204)]
    Done,
}

pub struct AuthApi;

#[OpenApi(prefix_path = "/api/auth", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Create an account with a username and password
    #[oai(path = "/register", method = "post", operation_id = "register")]
    async fn register(
        &self,
        req: &Request,
        state: Data<&AppState>,
        body: Json<RegisterRequest>,
    ) -> ApiResult<Registered> {
        let ip = client_ip(req, &state);
        let reg = Registration {
            username: body.0.username.into(),
            password: body.0.password.into(),
            nickname: body.0.nickname.map(Into::into),
        };
        let tokens = accounts::register(&state.db, &state.cache, &state.settings, reg, ip).await?;
        Ok(Registered::Created(Json(tokens.into())))
    }

    /// Log in with a username and password
    #[oai(path = "/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        req: &Request,
        state: Data<&AppState>,
        body: Json<LoginRequest>,
    ) -> ApiResult<Json<TokenResponse>> {
        let ip = client_ip(req, &state);
        let tokens = accounts::login(
            &state.db,
            &state.cache,
            &state.settings,
            &body.0.username.0,
            &body.0.password.0,
            ip,
        )
        .await?;
        Ok(Json(tokens.into()))
    }

    /// Log in from the mini-program with a `wx.login` code
    ///
    /// Finds the user by mini-program openid, or links the account with the same unionid, or
    /// creates one. WeChat's session_key is never returned.
    #[oai(
        path = "/wechat/miniprogram",
        method = "post",
        operation_id = "loginMiniprogram"
    )]
    async fn login_miniprogram(
        &self,
        state: Data<&AppState>,
        body: Json<MiniProgramLogin>,
    ) -> ApiResult<Json<TokenResponse>> {
        let tokens = wechat_login::login(
            &state.db,
            &state.wechat,
            &state.settings.auth,
            &body.0.code.0,
        )
        .await?;
        Ok(Json(tokens.into()))
    }

    /// Exchange a refresh token for new tokens (the old refresh token stops working)
    #[oai(path = "/refresh", method = "post", operation_id = "refreshSession")]
    async fn refresh(
        &self,
        state: Data<&AppState>,
        body: Json<RefreshRequest>,
    ) -> ApiResult<Json<TokenResponse>> {
        Ok(Json(
            tokens::rotate(&state.db, &state.settings.auth, &body.0.refresh_token.0)
                .await?
                .into(),
        ))
    }

    /// End the session of a refresh token (its access tokens stop working too)
    #[oai(path = "/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        state: Data<&AppState>,
        body: Json<RefreshRequest>,
    ) -> ApiResult<LoggedOut> {
        tokens::revoke(&state.db, &body.0.refresh_token.0).await?;
        Ok(LoggedOut::Done)
    }
}

impl From<entity::user::Role> for Role {
    fn from(r: entity::user::Role) -> Self {
        match r {
            entity::user::Role::User => Self::User,
            entity::user::Role::Admin => Self::Admin,
        }
    }
}
