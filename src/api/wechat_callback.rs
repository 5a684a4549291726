//! `GET/POST /wechat/callback`: the Official Account server callback. Plain poem routes
//! (WeChat's contract, not ours, so not in the OpenAPI document).

use poem::{
    Body, Endpoint, EndpointExt, IntoResponse, Response, get, handler,
    web::{Data, Query},
};

use super::{error::ApiError, middleware::BodyLimit};
use crate::{
    error::AppError,
    service::wechat_callback::{self, CallbackQuery, CallbackReply},
    state::AppState,
};

/// WeChat's messages are a few KiB; anything near this is not from WeChat.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub fn endpoint() -> impl Endpoint {
    get(verify).post(receive).with(BodyLimit {
        max: MAX_BODY_BYTES,
    })
}

fn error(err: AppError) -> Response {
    ApiError::from(err).into_response()
}

#[handler]
async fn verify(state: Data<&AppState>, Query(query): Query<CallbackQuery>) -> Response {
    match wechat_callback::verify_url(&state, &query) {
        Ok(echostr) => echostr
            .with_content_type("text/plain; charset=utf-8")
            .into_response(),
        Err(err) => error(err),
    }
}

#[handler]
async fn receive(
    state: Data<&AppState>,
    Query(query): Query<CallbackQuery>,
    body: Body,
) -> poem::Result<Response> {
    let bytes = body.into_bytes_limit(MAX_BODY_BYTES).await?;
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Ok(error(AppError::bad_field("body", "the body is not UTF-8")));
    };
    Ok(match wechat_callback::receive(&state, &query, text).await {
        Ok(CallbackReply::Success) => "success"
            .with_content_type("text/plain; charset=utf-8")
            .into_response(),
        Ok(CallbackReply::Xml(xml)) => xml
            .with_content_type("application/xml; charset=utf-8")
            .into_response(),
        Err(err) => error(err),
    })
}
