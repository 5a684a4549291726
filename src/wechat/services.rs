//! The WeChat handles the application uses: one API client, the shared token manager, and
//! the configured apps (the Official Account and the mini-program are different apps).

use super::{
    api::WechatError,
    client::WechatClient,
    token::{AccessTokens, WechatApp},
};
use crate::{cache::Cache, config::WechatSettings};

#[derive(Clone)]
pub struct WechatServices {
    pub client: WechatClient,
    pub tokens: AccessTokens,
    /// None when `wechat.official_account.app_id` is empty.
    pub official_account: Option<WechatApp>,
    /// None when `wechat.miniprogram.app_id` is empty.
    pub miniprogram: Option<WechatApp>,
}

impl WechatServices {
    pub fn new(settings: &WechatSettings, cache: Cache) -> Result<Self, WechatError> {
        let client = WechatClient::new(&settings.api_base_url)?;
        let oa = &settings.official_account;
        let mp = &settings.miniprogram;
        Ok(Self {
            tokens: AccessTokens::new(client.clone(), cache),
            official_account: oa
                .enabled()
                .then(|| WechatApp::new(&oa.app_id, &oa.app_secret)),
            miniprogram: mp
                .enabled()
                .then(|| WechatApp::new(&mp.app_id, &mp.app_secret)),
            client,
        })
    }
}
