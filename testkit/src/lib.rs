//! Fakes of the services qshare talks to (WeChat; APNs, FCM and HarmonyOS push), for tests, benchmarks and local development. This
//! crate depends on `qshare`, never the other way round (qshare only dev-depends on it), so
//! the release `qshare` binary contains none of it.

pub mod push_fake;
pub mod wechat_fake;
