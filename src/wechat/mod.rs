//! WeChat: message crypto and callback XML (Official Account protocol). The API client,
//! token manager and callback handler build on these.

pub mod crypto;
pub mod xml;
