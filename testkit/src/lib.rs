//! Fakes of the services qshare talks to (WeChat; APNs, FCM and HarmonyOS push) and a feed
//! fixture server, for tests, benchmarks and local development. This
//! crate depends on `qshare`, never the other way round (qshare only dev-depends on it), so
//! the release `qshare` binary contains none of it.

pub mod feed_fixture;
pub mod push_fake;
pub mod wechat_fake;
