//! Business rules, one module per area. Nothing in here knows about HTTP.

pub mod accounts;
pub mod app_releases;
pub mod article_admin;
pub mod articles;
pub mod audit;
pub mod comments;
pub mod demo_content;
pub mod followers;
pub mod guestbook;
pub mod hot;
pub mod moderation;
pub mod notifications;
pub mod password;
pub mod push_preferences;
pub mod rate_limit;
pub mod reactions;
pub mod read_limits;
pub mod resources;
pub mod taxonomy;
pub mod tokens;
pub mod validate;
pub mod views;
pub mod wechat_bind;
pub mod wechat_callback;
pub mod wechat_login;
pub mod wechat_replies;
