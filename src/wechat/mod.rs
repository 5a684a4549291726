//! WeChat: message crypto and callback XML (Official Account protocol), the API client, the
//! shared access-token manager. The fake WeChat API server lives in the `testkit` crate.

pub mod api;
pub mod client;
pub mod crypto;
pub mod services;
pub mod token;
pub mod xml;

pub use api::WechatError;
pub use client::WechatClient;
pub use token::{AccessTokens, WechatApp};
