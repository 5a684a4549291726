//! Bearer authentication: `UserAuth` yields the current user; `AdminAuth` also requires the
//! admin role (403 otherwise) and carries the audit identity of the request.

use entity::user::{self, Role};
use poem::Request;
use poem_openapi::{SecurityScheme, auth::Bearer};

use crate::{
    api::{actor, error::ApiError},
    error::AppError,
    service::{accounts, audit::Actor, tokens},
    state::AppState,
};

/// The authenticated caller and the session (refresh-token family) of their access token.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub user::Model, pub String);

impl CurrentUser {
    pub fn id(&self) -> i64 {
        self.0.id
    }
}

/// A logged-in user (any role).
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_user")]
pub struct UserAuth(CurrentUser);

impl UserAuth {
    pub fn user(&self) -> &user::Model {
        &self.0.0
    }

    pub fn id(&self) -> i64 {
        self.0.id()
    }

    /// The session this request belongs to (its logout ends it).
    pub fn session_id(&self) -> &str {
        &self.0.1
    }
}

/// A logged-in administrator.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_admin")]
pub struct AdminAuth(AdminCaller);

/// The administrator and who the audit log says acted.
#[derive(Debug, Clone)]
pub struct AdminCaller {
    user: user::Model,
    actor: Actor,
}

impl AdminAuth {
    pub fn user(&self) -> &user::Model {
        &self.0.user
    }

    /// Who acts, for `service::audit`: the user, the request id and the client IP.
    pub fn actor(&self) -> &Actor {
        &self.0.actor
    }
}

fn state(req: &Request) -> poem::Result<&AppState> {
    req.data::<AppState>()
        .ok_or_else(|| ApiError::from(AppError::Internal(anyhow::anyhow!("no app state"))).into())
}

async fn check_user(req: &Request, bearer: Bearer) -> poem::Result<CurrentUser> {
    let state = state(req)?;
    let user = accounts::authenticate(&state.db, &state.settings, &bearer.token)
        .await
        .map_err(ApiError::from)?;
    // Verified a moment ago by `authenticate`; read again for the session id.
    let session = tokens::verify_access(&state.settings.auth, &bearer.token)
        .map_err(ApiError::from)?
        .sid;
    Ok(CurrentUser(user, session))
}

async fn check_admin(req: &Request, bearer: Bearer) -> poem::Result<AdminCaller> {
    let CurrentUser(user, _) = check_user(req, bearer).await?;
    if user.role != Role::Admin {
        return Err(ApiError::from(AppError::Forbidden("administrators only".into())).into());
    }
    let actor = actor::of(&user, req, state(req)?);
    Ok(AdminCaller { user, actor })
}
