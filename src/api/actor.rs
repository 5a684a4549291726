//! The audit identity of a request: the user, the request id of the access log, and the
//! client IP.

use entity::user;
use poem::Request;

use crate::{
    api::{client_ip::client_ip, middleware::RequestId},
    service::audit::Actor,
    state::AppState,
};

pub fn of(user: &user::Model, req: &Request, state: &AppState) -> Actor {
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    let ip = client_ip(req, state);
    Actor::user(user).with_request(request_id, Some(ip.to_string()))
}
