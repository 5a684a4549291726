//! qshare: the backend of a quality-sharing (优质分享) tech-article site, its app and its
//! WeChat mini-program. See DESIGN.md for the whole picture.

pub mod api;
pub mod app;
pub mod cache;
pub mod config;
pub mod db;
pub mod error;
pub mod jobs;
pub mod metrics;
pub mod pagination;
pub mod push;
pub mod service;
pub mod state;
pub mod telemetry;
pub mod time;
pub mod unique;
pub mod wechat;

pub use app::Application;
pub use config::Settings;
