//! sea-orm entities, one module per table.

pub mod app_release;
pub mod article;
pub mod article_reaction;
pub mod article_read;
pub mod article_tag;
pub mod audit_log;
pub mod category;
pub mod comment;
pub mod guestbook_message;
pub mod job_run;
pub mod miniprogram_subscription;
pub mod moderation;
pub mod notification;
pub mod push_campaign;
pub mod push_campaign_article;
pub mod push_chunk;
pub mod push_delivery;
pub mod push_preference;
pub mod refresh_token;
pub mod resource;
pub mod scheduled_job;
pub mod tag;
pub mod user;
pub mod wechat_follower;
