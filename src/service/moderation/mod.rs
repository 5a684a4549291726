//! Rules shared by comments and guestbook messages: the text (`text`), the initial status
//! (`screening`), the one moderation transition (`transition`), and the creation limits.

mod screening;
mod text;
mod transition;

use std::time::Duration;

pub use screening::{Screening, has_blocked_word, initial_status};
pub use text::{CommentText, MAX_CHARS, excerpt, excerpt_of};
pub use transition::{Moderated, ModerationAction, apply, find, transition};

use super::rate_limit::{self, RateLimit};
use crate::{cache::Cache, config::Settings, error::AppResult};

/// Counts one new comment or guestbook message against the per-user and per-IP limits.
pub async fn count_creation(
    cache: &Cache,
    settings: &Settings,
    user_id: i64,
    client_ip: &str,
) -> AppResult<()> {
    let window = Duration::from_secs(settings.rate_limit.comment_window_secs);
    let per_user = RateLimit {
        max: settings.rate_limit.comments_per_user,
        window,
    };
    let per_ip = RateLimit {
        max: settings.rate_limit.comments_per_ip,
        window,
    };
    rate_limit::count(cache, &format!("post:user:{user_id}"), per_user).await?;
    rate_limit::count(cache, &format!("post:ip:{client_ip}"), per_ip).await
}
