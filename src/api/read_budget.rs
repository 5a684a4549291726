//! Charges a public read that misses the cache to its client's budget
//! (`service::read_limits`), from handlers that know when they miss it.

use poem::Request;

use super::client_ip::client_ip;
use crate::{
    error::AppResult,
    service::read_limits::{self, ReadCost},
    state::AppState,
};

pub async fn charge(req: &Request, state: &AppState, cost: ReadCost) -> AppResult<()> {
    let ip = client_ip(req, state);
    read_limits::charge(&state.cache, &state.settings.rate_limit, ip, cost).await
}
