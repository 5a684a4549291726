//! Rules shared by comments and guestbook messages: the text rules, the initial status
//! (moderation mode, word list, admins), the allowed transitions, and the creation limits.

use std::time::Duration;

use entity::{
    moderation::ModerationStatus,
    user::{self, Role},
};

use super::rate_limit::{self, RateLimit};
use crate::{
    cache::Cache,
    config::{ModerationMode, Settings},
    error::{AppError, AppResult, ErrorCode},
    wechat::services::WechatServices,
};

pub const MAX_CHARS: usize = 2000;

/// Trimmed plain text of 1..=2000 characters. HTML is kept as text (clients must escape it).
pub fn clean_text(content: &str) -> AppResult<String> {
    let text = content.trim();
    if text.is_empty() {
        return Err(AppError::bad_field("content", "content must not be empty"));
    }
    if text.chars().count() > MAX_CHARS {
        return Err(AppError::bad_field(
            "content",
            format!("content must be at most {MAX_CHARS} characters"),
        ));
    }
    Ok(text.to_string())
}

/// True when `text` contains a blocked word, ignoring case.
pub fn has_blocked_word(settings: &Settings, text: &str) -> bool {
    let lower = text.to_lowercase();
    settings
        .moderation
        .blocked_words
        .iter()
        .any(|w| lower.contains(&w.trim().to_lowercase()))
}

/// The status of new content: an admin's publishes at once; a blocked word sends it to the
/// queue in both modes; otherwise the configured mode decides.
pub fn initial_status(settings: &Settings, author_is_admin: bool, text: &str) -> ModerationStatus {
    if author_is_admin {
        ModerationStatus::Published
    } else if has_blocked_word(settings, text) || settings.moderation.mode == ModerationMode::Pre {
        ModerationStatus::Pending
    } else {
        ModerationStatus::Published
    }
}

/// Decides the status of new content: the rules above, then WeChat's content check for
/// authors who came from the mini-program (when it is configured). A risky verdict sends
/// the content to the queue; a WeChat failure never blocks posting (the word list stands).
pub struct Screening<'a> {
    pub settings: &'a Settings,
    pub wechat: &'a WechatServices,
}

/// The content check must not hold a post for long.
const SEC_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

impl Screening<'_> {
    pub async fn initial_status(&self, author: &user::Model, text: &str) -> ModerationStatus {
        let status = initial_status(self.settings, author.role == Role::Admin, text);
        if status != ModerationStatus::Published || author.role == Role::Admin {
            return status;
        }
        let (Some(openid), Some(app)) = (
            author.wechat_mini_openid.as_deref(),
            self.wechat.miniprogram.as_ref(),
        ) else {
            return status;
        };
        let client = &self.wechat.client;
        let check = self.wechat.tokens.call_with_token(app, |token| async move {
            client.msg_sec_check(&token, openid, text).await
        });
        match tokio::time::timeout(SEC_CHECK_TIMEOUT, check).await {
            Ok(Ok(verdict)) if verdict.risky => ModerationStatus::Pending,
            Ok(Ok(_)) => status,
            Ok(Err(err)) => {
                tracing::warn!(%err, "content check unavailable; the word list decided");
                status
            }
            Err(_) => {
                tracing::warn!("content check timed out; the word list decided");
                status
            }
        }
    }
}

/// What an administrator (or an author, for delete) can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModerationAction {
    Approve,
    Hide,
    Delete,
}

/// The status an action leads to from `from`, or a 422 when the action does not apply.
pub fn transition(from: ModerationStatus, action: ModerationAction) -> AppResult<ModerationStatus> {
    use ModerationAction::*;
    use ModerationStatus::*;
    let to = match (from, action) {
        (Pending | Hidden, Approve) => Published,
        (Pending | Published, Hide) => Hidden,
        (Pending | Published | Hidden, Delete) => Deleted,
        _ => {
            return Err(AppError::Unprocessable {
                code: ErrorCode::InvalidTransition,
                message: format!("cannot {action:?} content that is {from:?}").to_lowercase(),
            });
        }
    };
    Ok(to)
}

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

/// A short excerpt for notifications.
pub fn excerpt(text: &str) -> String {
    const MAX: usize = 80;
    if text.chars().count() <= MAX {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(MAX).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ModerationAction::*;
    use ModerationStatus::*;

    #[test]
    fn every_transition_is_allowed_or_refused_as_documented() {
        assert_eq!(transition(Pending, Approve).unwrap(), Published);
        assert_eq!(transition(Hidden, Approve).unwrap(), Published);
        assert_eq!(transition(Pending, Hide).unwrap(), Hidden);
        assert_eq!(transition(Published, Hide).unwrap(), Hidden);
        for from in [Pending, Published, Hidden] {
            assert_eq!(transition(from, Delete).unwrap(), Deleted);
        }
        assert!(transition(Published, Approve).is_err());
        assert!(transition(Hidden, Hide).is_err());
        for action in [Approve, Hide, Delete] {
            assert!(transition(Deleted, action).is_err());
        }
    }

    #[test]
    fn text_is_trimmed_and_bounded_in_characters() {
        assert_eq!(clean_text("  <b>hi</b>  ").unwrap(), "<b>hi</b>");
        assert!(clean_text(" \n\t ").is_err());
        assert!(clean_text(&"字".repeat(MAX_CHARS)).is_ok());
        assert!(clean_text(&"字".repeat(MAX_CHARS + 1)).is_err());
    }

    #[test]
    fn excerpts_cut_long_text_on_a_character_boundary() {
        assert_eq!(excerpt("短"), "短");
        assert_eq!(excerpt(&"长".repeat(100)).chars().count(), 81);
    }
}
