//! The WeChat API client and the shared access-token manager, against the fake WeChat
//! (`testkit::wechat_fake`), on the configured cache (Redis in CI) or the in-process one.

use std::{collections::HashSet, time::Duration};

use qshare::{
    Settings,
    cache::Cache,
    config::{AppEnv, CacheSettings, ConfigError},
    wechat::{
        WechatError,
        client::{MassMessage, SubscribeMessage, TemplateMessage, WechatClient, message_data},
        token::{AccessTokens, TokenOptions, WechatApp},
    },
};
use testkit::wechat_fake::{self as fake, Endpoint, FakeConfig, FakeWechat};

use crate::helpers::test_cache_settings;

fn oa() -> WechatApp {
    WechatApp::new(fake::OA_APP_ID, fake::OA_SECRET)
}

fn mp() -> WechatApp {
    WechatApp::new(fake::MP_APP_ID, fake::MP_SECRET)
}

/// Default options with short busy backoff so the tests stay fast.
fn options() -> TokenOptions {
    TokenOptions {
        busy_backoff: Duration::from_millis(10),
        ..TokenOptions::default()
    }
}

fn tokens(fake: &FakeWechat, cache: Cache) -> AccessTokens {
    AccessTokens::with_options(
        WechatClient::new(fake.base_url()).unwrap(),
        cache,
        options(),
    )
}

/// Two handles on one shared cache: two Redis connections when Redis is configured (like two
/// instances), or clones of one in-process store.
fn shared_caches() -> (Cache, Cache) {
    let settings = test_cache_settings();
    let a = Cache::from_settings(&settings).unwrap();
    let b = if settings.redis_url.is_some() {
        Cache::from_settings(&settings).unwrap()
    } else {
        a.clone()
    };
    (a, b)
}

fn cache() -> Cache {
    Cache::from_settings(&test_cache_settings()).unwrap()
}

async fn fake_with_followers(n: usize) -> FakeWechat {
    FakeWechat::start_with(FakeConfig {
        followers: fake::generated_followers(n),
        ..FakeConfig::default()
    })
    .await
}

fn template(touser: &str, key: &str) -> TemplateMessage {
    TemplateMessage {
        touser: touser.into(),
        template_id: "TPL_FEATURED".into(),
        url: Some("https://qshare.example/articles/42".into()),
        miniprogram: None,
        client_msg_id: key.into(),
        data: message_data([("thing1", "Rust 异步实战"), ("time2", "2024-05-01 10:00")]),
    }
}

fn errcode(result: Result<impl std::fmt::Debug, WechatError>) -> i64 {
    match result {
        Err(e) => e
            .errcode()
            .unwrap_or_else(|| panic!("expected an API error, got {e}")),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

/// Runs `user/get` (first page) with a token from `tokens`.
async fn first_page(tokens: &AccessTokens) -> Result<u64, WechatError> {
    let client = tokens.client();
    tokens
        .call_with_token(&oa(), |token| async move {
            Ok(client.user_get(&token, None).await?.total)
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_calls_on_two_instances_share_one_token_fetch() {
    let fake = fake_with_followers(3).await;
    let (cache_a, cache_b) = shared_caches();
    let a = tokens(&fake, cache_a.clone());
    let b = tokens(&fake, cache_b);
    // Slow answers make sure both instances want a token while the first fetch runs.
    fake.set_latency(Duration::from_millis(30));

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let t = if i % 2 == 0 { a.clone() } else { b.clone() };
        // Spawning proves the call future is Send (it runs on a multi-thread runtime).
        tasks.spawn(async move { first_page(&t).await });
    }
    while let Some(result) = tasks.join_next().await {
        assert_eq!(result.unwrap().unwrap(), 3);
    }
    let stats = fake.stats();
    assert_eq!(stats.calls(Endpoint::UserGet), 40);
    assert_eq!(
        stats.token_fetches, 1,
        "one stable_token call for all: {stats:?}"
    );
    assert_eq!(stats.tokens_issued, 1);

    // A third instance starting later reads the shared token instead of fetching.
    let c = tokens(&fake, cache_a.clone());
    first_page(&c).await.unwrap();
    assert_eq!(fake.stats().token_fetches, 1);

    // The cache holds the token under the documented key.
    let token = c.token(&oa()).await.unwrap();
    let raw = cache_a
        .get(&AccessTokens::cache_key(fake::OA_APP_ID))
        .await
        .unwrap()
        .expect("the token is in the shared cache");
    assert!(
        String::from_utf8(raw.to_vec())
            .unwrap()
            .ends_with(&format!(":{token}"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_account_and_the_mini_program_get_separate_tokens() {
    let fake = FakeWechat::start().await;
    let t = tokens(&fake, cache());
    let oa_token = t.token(&oa()).await.unwrap();
    let mp_token = t.token(&mp()).await.unwrap();
    assert_ne!(oa_token, mp_token);
    assert_eq!(fake.stats().token_fetches, 2);
    // A mini-program token cannot call Official Account APIs, and the reverse.
    let client = t.client();
    assert_eq!(errcode(client.user_get(&mp_token, None).await), 48001);
    assert_eq!(
        errcode(client.msg_sec_check(&oa_token, "o", "hello").await),
        48001
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_injected_40001_refetches_the_token_once_and_the_call_succeeds() {
    let fake = fake_with_followers(2).await;
    let t = tokens(&fake, cache());
    first_page(&t).await.unwrap();
    assert_eq!(fake.stats().token_fetches, 1);

    fake.fail_next(Endpoint::UserGet, 40001, 1);
    assert_eq!(first_page(&t).await.unwrap(), 2);
    let stats = fake.stats();
    assert_eq!(
        stats.calls(Endpoint::UserGet),
        3,
        "1 + the failed call + its retry"
    );
    assert_eq!(stats.token_fetches, 2, "exactly one refetch");
    assert_eq!(stats.injected_errors, 1);

    // 40014 and 42001 are handled the same way.
    for code in [40014, 42001] {
        fake.fail_next(Endpoint::UserGet, code, 1);
        assert_eq!(first_page(&t).await.unwrap(), 2, "{code}");
    }
    assert_eq!(fake.stats().token_fetches, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_invalidated_at_wechat_is_replaced_once_without_clobbering_a_peers_newer_token() {
    let fake = fake_with_followers(2).await;
    let (cache_a, cache_b) = shared_caches();
    let a = tokens(&fake, cache_a);
    let b = tokens(&fake, cache_b);
    first_page(&a).await.unwrap();
    first_page(&b).await.unwrap();
    let old = a.token(&oa()).await.unwrap();
    assert_eq!(fake.stats().token_fetches, 1);

    // Someone force-refreshed: the token both instances hold in memory is dead.
    fake.invalidate_tokens();
    first_page(&a).await.unwrap();
    let new = a.token(&oa()).await.unwrap();
    assert_ne!(old, new);
    assert_eq!(fake.stats().token_fetches, 2);

    // b still holds the old token: its 40001 must not delete a's new token from the cache
    // (compare-and-delete), so b picks the new one up without fetching.
    first_page(&b).await.unwrap();
    assert_eq!(b.token(&oa()).await.unwrap(), new);
    let stats = fake.stats();
    assert_eq!(stats.token_fetches, 2, "{stats:?}");
    assert_eq!(stats.tokens_issued, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_token_error_in_a_row_is_returned_not_retried_forever() {
    let fake = fake_with_followers(1).await;
    let t = tokens(&fake, cache());
    let client = t.client();
    fake.fail_next(Endpoint::TemplateSend, 40001, 2);
    let msg = &template("o_fake_000000", "a1-o0");
    let result = t
        .call_with_token(&oa(), |token| async move {
            client.send_template(&token, msg).await
        })
        .await;
    let err = result.unwrap_err();
    assert!(err.is_token_invalid(), "{err}");
    let stats = fake.stats();
    assert_eq!(
        stats.calls(Endpoint::TemplateSend),
        2,
        "one try and one retry"
    );
    assert_eq!(stats.token_fetches, 2);
    assert_eq!(stats.templates_sent, 0);

    // The queue is drained: the next call goes through.
    let msgid = t
        .call_with_token(&oa(), |token| async move {
            client.send_template(&token, msg).await
        })
        .await
        .unwrap();
    assert!(msgid > 0);
    assert_eq!(fake.messages_to("o_fake_000000"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_answers_are_retried_with_backoff_only_for_idempotent_calls() {
    let fake = fake_with_followers(2).await;
    let t = tokens(&fake, cache());
    first_page(&t).await.unwrap();

    fake.fail_next(Endpoint::UserGet, -1, 2);
    assert_eq!(first_page(&t).await.unwrap(), 2);
    assert_eq!(fake.stats().calls(Endpoint::UserGet), 4);

    // Retries are bounded (3 by default).
    fake.fail_next(Endpoint::UserGet, -1, 4);
    assert_eq!(errcode(first_page(&t).await), -1);
    assert_eq!(fake.stats().calls(Endpoint::UserGet), 8);

    // Subscribe messages are not de-duplicated by WeChat: -1 is returned at once.
    fake.grant_subscribe("mp_user", "SUB", 1);
    fake.fail_next(Endpoint::SubscribeSend, -1, 1);
    let client = t.client();
    let msg = &SubscribeMessage {
        touser: "mp_user".into(),
        template_id: "SUB".into(),
        page: Some("pages/article/index?id=42".into()),
        miniprogram_state: None,
        lang: None,
        data: message_data([("thing1", "New featured article")]),
    };
    let err = t
        .call_with_token_no_busy_retry(&mp(), |token| async move {
            client.send_subscribe(&token, msg).await
        })
        .await
        .unwrap_err();
    assert!(err.is_busy() && err.is_transient(), "{err}");
    assert_eq!(fake.stats().calls(Endpoint::SubscribeSend), 1);
    assert_eq!(fake.subscribe_credits("mp_user", "SUB"), 1, "not spent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_get_pages_through_25000_followers() {
    let fake = fake_with_followers(25_000).await;
    let t = tokens(&fake, cache());
    let client = t.client();
    let mut all = Vec::new();
    let mut counts = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let from = next.as_deref();
        let page = t
            .call_with_token(
                &oa(),
                |token| async move { client.user_get(&token, from).await },
            )
            .await
            .unwrap();
        assert_eq!(page.total, 25_000);
        counts.push(page.count);
        all.extend(page.openids);
        match page.next_openid {
            Some(n) => next = Some(n),
            None => break,
        }
    }
    assert_eq!(counts, [10_000, 10_000, 5_000, 0]);
    assert_eq!(all, fake::generated_followers(25_000));
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 25_000);
    assert_eq!(fake.stats().calls(Endpoint::UserGet), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_info_tells_followers_from_people_who_left() {
    let fake = fake_with_followers(2).await;
    fake.set_unionid("o_fake_000000", "union-0");
    fake.unfollow("o_fake_000001");
    let t = tokens(&fake, cache());
    let token = t.token(&oa()).await.unwrap();
    let client = t.client();
    let info = client.user_info(&token, "o_fake_000000").await.unwrap();
    assert!(info.subscribe);
    assert_eq!(info.unionid.as_deref(), Some("union-0"));
    let gone = client.user_info(&token, "o_fake_000001").await.unwrap();
    assert!(!gone.subscribe);
    assert_eq!(errcode(client.user_info(&token, "stranger").await), 40003);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_client_msg_id_is_delivered_once() {
    let fake = fake_with_followers(3).await;
    let t = tokens(&fake, cache());
    let token = t.token(&oa()).await.unwrap();
    let client = t.client();

    let first = client
        .send_template(&token, &template("o_fake_000000", "a42-o0"))
        .await
        .unwrap();
    let again = client
        .send_template(&token, &template("o_fake_000000", "a42-o0"))
        .await
        .unwrap();
    assert_eq!(first, again, "the repeat gets the original msgid");
    assert_eq!(fake.messages_to("o_fake_000000"), 1);
    assert_eq!(fake.stats().duplicates_prevented(), 1);

    let other = client
        .send_template(&token, &template("o_fake_000000", "a43-o0"))
        .await
        .unwrap();
    assert_ne!(other, first);
    assert_eq!(fake.messages_to("o_fake_000000"), 2);
    let sent = fake.templates_sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].client_msg_id.as_deref(), Some("a42-o0"));

    // Recipients that left or never followed, and injected per-openid errors.
    fake.unfollow("o_fake_000001");
    let err = client
        .send_template(&token, &template("o_fake_000001", "a42-o1"))
        .await
        .unwrap_err();
    assert!(err.is_unsubscribed(), "{err}");
    let err = client
        .send_template(&token, &template("o_nobody", "a42-x"))
        .await
        .unwrap_err();
    assert!(err.is_invalid_openid(), "{err}");
    fake.fail_openid("o_fake_000002", 45009, Some(1));
    let err = client
        .send_template(&token, &template("o_fake_000002", "a42-o2"))
        .await
        .unwrap_err();
    assert!(err.is_quota() && !err.is_transient(), "{err}");
    client
        .send_template(&token, &template("o_fake_000002", "a42-o2"))
        .await
        .unwrap();
    assert_eq!(fake.openids_with_several_messages(), ["o_fake_000000"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mass_sends_are_de_duplicated_by_clientmsgid_and_need_two_recipients() {
    let fake = fake_with_followers(3).await;
    let t = tokens(&fake, cache());
    let token = t.token(&oa()).await.unwrap();
    let client = t.client();
    let to = fake::generated_followers(3);
    let msg = MassMessage::Text {
        content: "本周精选".into(),
    };
    let first = client
        .mass_send(&token, &to, &msg, "digest-1")
        .await
        .unwrap();
    assert!(!first.duplicate);
    let again = client
        .mass_send(&token, &to, &msg, "digest-1")
        .await
        .unwrap();
    assert!(again.duplicate, "45065 counts as success");
    assert_eq!(again.msg_id, first.msg_id);
    for openid in &to {
        assert_eq!(fake.messages_to(openid), 1, "{openid}");
    }
    let stats = fake.stats();
    assert_eq!((stats.mass_sends, stats.mass_duplicates), (1, 1));

    let err = client
        .mass_send(&token, &to[..1], &msg, "digest-2")
        .await
        .unwrap_err();
    assert_eq!(err.errcode(), Some(40130));
    assert!(err.is_misconfiguration());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_messages_spend_a_grant_and_43101_says_there_is_none() {
    let fake = FakeWechat::start().await;
    fake.grant_subscribe("mp_user", "SUB", 1);
    let t = tokens(&fake, cache());
    let client = t.client();
    let msg = &SubscribeMessage {
        touser: "mp_user".into(),
        template_id: "SUB".into(),
        page: None,
        miniprogram_state: Some("formal".into()),
        lang: Some("zh_CN".into()),
        data: message_data([("thing1", "New featured article")]),
    };
    let app = mp();
    let send = || {
        t.call_with_token_no_busy_retry(&app, |token| async move {
            client.send_subscribe(&token, msg).await
        })
    };
    send().await.unwrap();
    assert_eq!(fake.subscribe_credits("mp_user", "SUB"), 0);
    assert_eq!(fake.messages_to("mp_user"), 1);
    let err = send().await.unwrap_err();
    assert!(err.is_subscription_refused(), "{err}");
    assert_eq!(fake.messages_to("mp_user"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jscode2session_maps_a_code_once_and_rejects_unknown_codes() {
    let fake = FakeWechat::start().await;
    fake.add_login_code("code-1", "mp_openid_1", Some("union-1"));
    fake.add_login_code("code-2", "mp_openid_2", None);
    let client = WechatClient::new(fake.base_url()).unwrap();

    let session = client
        .jscode2session(fake::MP_APP_ID, fake::MP_SECRET, "code-1")
        .await
        .unwrap();
    assert_eq!(session.openid, "mp_openid_1");
    assert_eq!(session.unionid.as_deref(), Some("union-1"));
    assert!(!session.session_key.is_empty());
    let shown = format!("{session:?}");
    assert!(!shown.contains(&session.session_key), "{shown}");

    let without_unionid = client
        .jscode2session(fake::MP_APP_ID, fake::MP_SECRET, "code-2")
        .await
        .unwrap();
    assert_eq!(without_unionid.unionid, None);

    let used = client
        .jscode2session(fake::MP_APP_ID, fake::MP_SECRET, "code-1")
        .await;
    assert_eq!(errcode(used), 40163);
    let unknown = client
        .jscode2session(fake::MP_APP_ID, fake::MP_SECRET, "code-unknown")
        .await;
    assert_eq!(errcode(unknown), 40029);
    let bad_secret = client
        .jscode2session(fake::MP_APP_ID, "not-the-secret", "code-2")
        .await;
    assert_eq!(errcode(bad_secret), 40125);
    assert_eq!(fake.stats().sessions, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msg_sec_check_flags_risky_words() {
    let fake = FakeWechat::start().await;
    fake.set_risky_words(&["casino"]);
    let t = tokens(&fake, cache());
    let client = t.client();
    let check = async |content: &str| {
        t.call_with_token(&mp(), |token| async move {
            client.msg_sec_check(&token, "mp_openid_1", content).await
        })
        .await
        .unwrap()
    };
    let risky = check("Best online CASINO here").await;
    assert!(risky.risky);
    assert_eq!(risky.suggest, "risky");
    assert_ne!(risky.label, 100);
    let clean = check("A good article about Rust lifetimes").await;
    assert!(!clean.risky);
    assert_eq!((clean.suggest.as_str(), clean.label), ("pass", 100));
    assert_eq!(fake.stats().sec_checks, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_errcodes_and_never_secrets_or_tokens() {
    let fake = fake_with_followers(2).await;
    let t = tokens(&fake, cache());
    let token = t.token(&oa()).await.unwrap();
    let leaks = |text: &str| text.contains(&token) || text.contains(fake::OA_SECRET);

    // Wrong secret: the errcode, not the secret.
    let wrong = WechatApp::new(fake::OA_APP_ID, "a-wrong-secret-value");
    // (A fresh cache: tokens are cached per app id, so `t` would answer from its cache.)
    let err = tokens(&fake, cache()).token(&wrong).await.unwrap_err();
    assert_eq!(err.errcode(), Some(40125));
    assert!(err.to_string().contains("40125"));
    assert!(!err.to_string().contains("a-wrong-secret-value"), "{err}");
    assert!(!format!("{err:?}").contains("a-wrong-secret-value"));

    // An HTTP error status is a transport error; the URL (with the token) is not in it.
    fake.fail_next_http(Endpoint::UserGet, 502, 1);
    let err = t.client().user_get(&token, None).await.unwrap_err();
    assert!(matches!(err, WechatError::Transport(_)), "{err}");
    assert!(
        err.to_string().contains("502") && !leaks(&err.to_string()),
        "{err}"
    );

    // A timeout.
    fake.set_latency(Duration::from_millis(500));
    let slow = WechatClient::with_timeouts(
        fake.base_url(),
        Duration::from_secs(1),
        Duration::from_millis(100),
    )
    .unwrap();
    let err = slow.user_get(&token, None).await.unwrap_err();
    assert!(
        matches!(err, WechatError::Transport(_)) && err.is_transient(),
        "{err}"
    );
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(
        !leaks(&err.to_string()) && !leaks(&format!("{err:?}")),
        "{err:?}"
    );
    fake.set_latency(Duration::ZERO);

    // Nobody listening.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let nowhere = WechatClient::new(&format!("http://{closed}")).unwrap();
    let err = nowhere
        .stable_token(fake::OA_APP_ID, fake::OA_SECRET, false)
        .await
        .unwrap_err();
    assert!(matches!(err, WechatError::Transport(_)), "{err}");
    assert!(!leaks(&format!("{err:?}")), "{err:?}");
    let err = nowhere
        .jscode2session(fake::MP_APP_ID, fake::MP_SECRET, "code-xyz")
        .await
        .unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains(fake::MP_SECRET) && !shown.contains("code-xyz"),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_refetched_before_they_expire() {
    let fake = FakeWechat::start_with(FakeConfig {
        token_lifetime: Duration::from_secs(2),
        followers: fake::generated_followers(1),
        ..FakeConfig::default()
    })
    .await;
    let t = tokens(&fake, cache());
    first_page(&t).await.unwrap();
    // Cached for half of a short lifetime (1 s); then refetched, never used expired.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    first_page(&t).await.unwrap();
    let stats = fake.stats();
    assert_eq!(stats.token_fetches, 2, "{stats:?}");
    assert_eq!(stats.calls(Endpoint::UserGet), 2, "no call was rejected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cache_falls_back_to_one_in_process_token() {
    let fake = fake_with_followers(1).await;
    let down = Cache::from_settings(&CacheSettings {
        redis_url: Some("redis://127.0.0.1:1".into()),
        key_prefix: "t:".into(),
        ..CacheSettings::default()
    })
    .unwrap();
    let t = tokens(&fake, down);
    for _ in 0..10 {
        first_page(&t).await.unwrap();
    }
    assert_eq!(fake.stats().token_fetches, 1);
}

#[tokio::test]
async fn the_fake_stops_when_asked() {
    let fake = FakeWechat::start().await;
    let url = fake.base_url().to_string();
    fake.stop().await;
    let err = WechatClient::new(&url)
        .unwrap()
        .stable_token(fake::OA_APP_ID, fake::OA_SECRET, false)
        .await
        .unwrap_err();
    assert!(matches!(err, WechatError::Transport(_)), "{err}");
}

// ---- configuration (DESIGN.md §2 `wechat`) ------------------------------------------

#[test]
fn wechat_is_disabled_by_default_and_points_at_the_real_api() {
    let empty = tempfile::tempdir().unwrap();
    let settings = Settings::load_from(empty.path(), AppEnv::Development).unwrap();
    assert_eq!(settings.wechat.api_base_url, "https://api.weixin.qq.com");
    assert!(!settings.wechat.official_account.enabled());
    assert!(!settings.wechat.miniprogram.enabled());
}

#[test]
fn wechat_settings_are_validated_and_their_secrets_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let key43 = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    assert_eq!(key43.len(), 43);
    for (yaml, key) in [
        (
            format!(
                "wechat:\n  official_account:\n    app_id: wx1\n    app_secret: s\n    encoding_aes_key: \"{}\"\n",
                &key43[..42]
            ),
            "encoding_aes_key",
        ),
        (
            "wechat:\n  official_account:\n    app_id: wx1\n".to_string(),
            "official_account.app_secret",
        ),
        (
            "wechat:\n  miniprogram:\n    app_id: wx2\n".to_string(),
            "miniprogram.app_secret",
        ),
        (
            "wechat:\n  api_base_url: \"ftp://x\"\n".to_string(),
            "wechat.api_base_url",
        ),
        (
            "wechat:\n  api_base_url: \"http://\"\n".to_string(),
            "wechat.api_base_url is not a valid URL",
        ),
    ] {
        std::fs::write(dir.path().join("test.local.yaml"), &yaml).unwrap();
        let err = Settings::load_from(dir.path(), AppEnv::Test).unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid(m) if m.contains(key)),
            "{yaml}: {err}"
        );
    }

    std::fs::write(
        dir.path().join("test.local.yaml"),
        format!(
            "wechat:\n  api_base_url: \"http://127.0.0.1:9090\"\n  official_account:\n    app_id: wxoa\n    app_secret: oa-secret-value\n    token: callback-token-value\n    encoding_aes_key: \"{key43}\"\n  miniprogram:\n    app_id: wxmp\n    app_secret: mp-secret-value\n"
        ),
    )
    .unwrap();
    let settings = Settings::load_from(dir.path(), AppEnv::Test).unwrap();
    let w = &settings.wechat;
    assert_eq!(w.api_base_url, "http://127.0.0.1:9090");
    assert!(w.official_account.enabled() && w.miniprogram.enabled());
    assert_eq!(w.official_account.encoding_aes_key, key43);
    let printed = format!("{settings:?}");
    assert!(
        printed.contains("wxoa") && printed.contains("wxmp"),
        "{printed}"
    );
    for secret in [
        "oa-secret-value",
        "callback-token-value",
        key43,
        "mp-secret-value",
    ] {
        assert!(!printed.contains(secret), "{secret} in {printed}");
    }
}
