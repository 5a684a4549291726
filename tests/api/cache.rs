//! The Cache contract, on the configured backend (Redis in CI) and on the in-process one.

use std::time::Duration;

use qshare::cache::{Cache, CacheError};
use qshare::config::CacheSettings;

use crate::helpers::test_cache_settings;

fn backends() -> Vec<Cache> {
    let mut caches = vec![
        Cache::from_settings(&CacheSettings {
            redis_url: None,
            key_prefix: "t:".into(),
            ..CacheSettings::default()
        })
        .unwrap(),
    ];
    let configured = test_cache_settings();
    if configured.redis_url.is_some() {
        caches.push(Cache::from_settings(&configured).unwrap());
    }
    caches
}

#[tokio::test]
async fn values_are_stored_until_their_ttl_passes_or_they_are_deleted() {
    for cache in backends() {
        let name = cache.backend_name();
        assert_eq!(cache.get("k").await.unwrap(), None, "{name}");
        cache
            .set("k", b"hello", Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(
            cache.get("k").await.unwrap().as_deref(),
            Some(&b"hello"[..]),
            "{name}"
        );
        cache
            .set("k", b"again", Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(
            cache.get("k").await.unwrap().as_deref(),
            Some(&b"again"[..]),
            "{name}"
        );
        assert!(cache.delete("k").await.unwrap(), "{name}");
        assert!(!cache.delete("k").await.unwrap(), "{name}");
        assert_eq!(cache.get("k").await.unwrap(), None, "{name}");

        cache
            .set("short", b"x", Duration::from_millis(50))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(cache.get("short").await.unwrap(), None, "{name}: expired");
    }
}

#[tokio::test]
async fn counters_count_within_a_fixed_window() {
    for cache in backends() {
        let name = cache.backend_name();
        let first = cache
            .incr("hits", 1, Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(first.value, 1, "{name}");
        assert!(
            first.ttl > Duration::from_secs(29) && first.ttl <= Duration::from_secs(30),
            "{name}"
        );
        let third = {
            cache
                .incr("hits", 1, Duration::from_secs(30))
                .await
                .unwrap();
            cache
                .incr("hits", 5, Duration::from_secs(999))
                .await
                .unwrap()
        };
        assert_eq!(third.value, 7, "{name}");
        assert!(
            third.ttl <= Duration::from_secs(30),
            "{name}: later increments keep the window"
        );
        let peek = cache.counter("hits").await.unwrap().unwrap();
        assert_eq!(peek.value, 7, "{name}");
        assert!(
            peek.ttl <= Duration::from_secs(30) && peek.ttl > Duration::from_secs(25),
            "{name}"
        );
        assert_eq!(cache.counter("absent").await.unwrap(), None, "{name}");

        cache
            .incr("brief", 1, Duration::from_millis(50))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(
            cache
                .incr("brief", 1, Duration::from_secs(5))
                .await
                .unwrap()
                .value,
            1,
            "{name}: new window"
        );
    }
}

#[tokio::test]
async fn a_lock_has_one_holder_and_only_that_holder_releases_it() {
    for cache in backends() {
        let name = cache.backend_name();
        let token = cache
            .try_lock("job", Duration::from_secs(10))
            .await
            .unwrap()
            .expect("free lock");
        assert!(
            cache
                .try_lock("job", Duration::from_secs(10))
                .await
                .unwrap()
                .is_none(),
            "{name}: held"
        );

        let stranger = cache
            .try_lock("other", Duration::from_secs(1))
            .await
            .unwrap()
            .unwrap();
        assert!(
            !cache.unlock("job", &stranger).await.unwrap(),
            "{name}: a foreign token cannot release"
        );
        assert!(
            cache
                .try_lock("job", Duration::from_secs(10))
                .await
                .unwrap()
                .is_none(),
            "{name}: still held"
        );

        assert!(cache.unlock("job", &token).await.unwrap(), "{name}");
        assert!(
            cache
                .try_lock("job", Duration::from_secs(10))
                .await
                .unwrap()
                .is_some(),
            "{name}: free again"
        );

        let leased = cache
            .try_lock("lease", Duration::from_millis(50))
            .await
            .unwrap()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(120)).await;
        let next = cache
            .try_lock("lease", Duration::from_secs(5))
            .await
            .unwrap();
        assert!(next.is_some(), "{name}: an expired lease frees the lock");
        assert!(
            !cache.unlock("lease", &leased).await.unwrap(),
            "{name}: the old holder cannot release the new lock"
        );
    }
}

#[tokio::test]
async fn concurrent_increments_are_not_lost() {
    for cache in backends() {
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move {
                    cache
                        .incr("race", 1, Duration::from_secs(30))
                        .await
                        .unwrap()
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(
            cache.counter("race").await.unwrap().unwrap().value,
            50,
            "{}",
            cache.backend_name()
        );
    }
}

#[tokio::test]
async fn key_prefixes_keep_deployments_apart() {
    let settings = test_cache_settings();
    let a = Cache::from_settings(&CacheSettings {
        key_prefix: format!("{}a:", settings.key_prefix),
        ..settings.clone()
    })
    .unwrap();
    let b = Cache::from_settings(&CacheSettings {
        key_prefix: format!("{}b:", settings.key_prefix),
        ..settings
    })
    .unwrap();
    a.set("shared-name", b"a", Duration::from_secs(30))
        .await
        .unwrap();
    if a.backend_name() == "redis" {
        assert_eq!(b.get("shared-name").await.unwrap(), None);
    }
    assert_eq!(
        a.get("shared-name").await.unwrap().as_deref(),
        Some(&b"a"[..])
    );
}

#[tokio::test]
async fn an_unreachable_redis_fails_fast_with_an_unavailable_error() {
    // Port 1 on loopback is closed: a Redis that is down.
    let cache = Cache::from_settings(&CacheSettings {
        redis_url: Some("redis://127.0.0.1:1".into()),
        key_prefix: "t:".into(),
        ..CacheSettings::default()
    })
    .unwrap();
    let started = std::time::Instant::now();
    for _ in 0..20 {
        assert!(matches!(
            cache.get("k").await,
            Err(CacheError::Unavailable(_))
        ));
        assert!(matches!(
            cache.ping().await,
            Err(CacheError::Unavailable(_))
        ));
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "no connect attempt per call: {:?}",
        started.elapsed()
    );
}
