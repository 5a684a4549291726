//! The status of new content: the configured mode, the word list, administrators, and
//! WeChat's content check for authors who came from the mini-program.

use std::time::Duration;

use entity::{
    moderation::ModerationStatus,
    user::{self, Role},
};

use crate::{
    config::{ModerationMode, Settings},
    state::AppState,
    wechat::services::WechatServices,
};

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
/// The check calls WeChat: run it before any write transaction begins.
pub struct Screening<'a> {
    pub settings: &'a Settings,
    pub wechat: &'a WechatServices,
}

/// The content check must not hold a post for long.
const SEC_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

impl<'a> Screening<'a> {
    pub fn of(state: &'a AppState) -> Self {
        Self {
            settings: &state.settings,
            wechat: &state.wechat,
        }
    }

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
