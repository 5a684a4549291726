//! Admin guard. Until accounts exist, an admin is whoever presents the configured bearer
//! token (`auth.admin_token`); the accounts issue replaces this with the admin role.

use poem::Request;
use poem_openapi::{SecurityScheme, auth::Bearer};

use crate::{api::error::ApiError, error::AppError, state::AppState};

/// The authenticated admin.
pub struct Admin;

#[derive(SecurityScheme)]
#[oai(ty = "bearer", checker = "check_admin_token")]
pub struct AdminAuth(#[allow(dead_code)] Admin);

/// Equal-time comparison so that the token cannot be guessed byte by byte from timings.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn check_admin_token(req: &Request, bearer: Bearer) -> poem::Result<Admin> {
    let state = req.data::<AppState>().ok_or_else(|| {
        poem::Error::from(ApiError::from(AppError::Internal(anyhow::anyhow!(
            "no app state"
        ))))
    })?;
    if same_secret(
        bearer.token.as_bytes(),
        state.settings.auth.admin_token.as_bytes(),
    ) {
        Ok(Admin)
    } else {
        Err(ApiError::from(AppError::Unauthorized("invalid admin token".into())).into())
    }
}
