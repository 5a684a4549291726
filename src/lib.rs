//! qshare: the backend of a quality-sharing (优质分享) tech-article site, its app and its
//! WeChat mini-program. ARCHITECTURE.md at the repository root is the map: layers, a
//! request's path, and where to add a route, a job kind, a channel, a migration or a setting.

pub mod api;
pub mod app;
pub mod cache;
pub mod config;
pub mod db;
pub mod edge;
pub mod error;
pub mod jobs;
pub mod metrics;
pub mod mobile_push;
pub mod pagination;
pub mod push;
pub mod search;
pub mod service;
pub mod state;
pub mod telemetry;
pub mod time;
pub mod unique;
pub mod wechat;

pub use app::Application;
pub use config::Settings;
