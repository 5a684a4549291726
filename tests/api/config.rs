//! Configuration layers and start-up validation.

use qshare::{
    Settings,
    config::{AppEnv, ConfigError, redact_url},
};

use crate::helpers::config_dir;

#[test]
fn the_embedded_default_needs_no_configuration_files() {
    let empty = tempfile::tempdir().unwrap();
    let settings = Settings::load_from(empty.path(), AppEnv::Development).unwrap();
    assert_eq!(settings.server.port, 8080);
    assert_eq!(settings.server.host, "127.0.0.1");
    assert!(settings.database.url.starts_with("sqlite://data/"));
    assert!(settings.cache.redis_url.is_none());
    assert!(settings.demo.seed_when_empty);
}

#[test]
fn later_layers_override_earlier_ones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("test.yaml"),
        "server:\n  port: 9100\ncache:\n  key_prefix: \"a:\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("test.local.yaml"),
        "cache:\n  key_prefix: \"b:\"\n",
    )
    .unwrap();
    let settings = Settings::load_from(dir.path(), AppEnv::Test).unwrap();
    assert_eq!(settings.server.port, 9100);
    assert_eq!(settings.cache.key_prefix, "b:");
}

#[test]
fn production_refuses_the_development_jwt_secret_and_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("production.yaml"),
        "database:\n  url: \"postgres://u:p@db/q\"\n",
    )
    .unwrap();
    let err = Settings::load_from(dir.path(), AppEnv::Production).unwrap_err();
    assert!(
        matches!(err, ConfigError::Invalid(ref m) if m.contains("jwt_secret")),
        "{err}"
    );

    std::fs::write(
        dir.path().join("production.local.yaml"),
        "auth:\n  jwt_secret: \"a-real-production-secret-of-enough-length\"\ndatabase:\n  url: \"sqlite://x.db\"\n",
    )
    .unwrap();
    let err = Settings::load_from(dir.path(), AppEnv::Production).unwrap_err();
    assert!(err.to_string().contains("PostgreSQL"), "{err}");
}

#[test]
fn bad_values_are_refused_with_a_message_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (yaml, key) in [
        ("database:\n  url: \"mysql://x\"\n", "database.url"),
        ("cache:\n  redis_url: \"http://x\"\n", "cache.redis_url"),
        ("cache:\n  key_prefix: \"\"\n", "cache.key_prefix"),
        ("auth:\n  jwt_secret: \"short\"\n", "auth.jwt_secret"),
        ("rate_limit:\n  window_secs: 0\n", "rate_limit.window_secs"),
    ] {
        std::fs::write(dir.path().join("test.local.yaml"), yaml).unwrap();
        let err = Settings::load_from(dir.path(), AppEnv::Test).unwrap_err();
        assert!(err.to_string().contains(key), "{yaml}: {err}");
    }
    std::fs::write(
        dir.path().join("test.local.yaml"),
        "server:\n  port: \"eighty\"\n",
    )
    .unwrap();
    assert!(matches!(
        Settings::load_from(dir.path(), AppEnv::Test),
        Err(ConfigError::Load(_))
    ));
}

#[test]
fn cors_takes_bare_origins_and_refuses_any_origin_with_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let load = |yaml: &str| {
        std::fs::write(dir.path().join("test.local.yaml"), yaml).unwrap();
        Settings::load_from(dir.path(), AppEnv::Test)
    };
    let settings = load(
        "server:\n  cors:\n    allowed_origins: [\"https://web.example\", \"http://127.0.0.1:3000\"]\n",
    )
    .unwrap();
    assert!(settings.server.cors.enabled());
    assert_eq!(settings.server.cors.allowed_origins.len(), 2);
    for bad in [
        "server:\n  cors:\n    allowed_origins: [\"https://web.example/app\"]\n",
        "server:\n  cors:\n    allowed_origins: [\"web.example\"]\n",
        "server:\n  cors:\n    allowed_origins: [\"*\"]\n    allow_credentials: true\n",
    ] {
        let err = load(bad).unwrap_err();
        assert!(
            err.to_string().contains("server.cors.allowed_origins"),
            "{bad}: {err}"
        );
    }
    assert!(
        !load("{}\n").unwrap().server.cors.enabled(),
        "off by default"
    );
}

#[test]
fn secrets_never_appear_when_settings_are_printed() {
    let mut settings = Settings::load_from(&config_dir(), AppEnv::Test).unwrap();
    settings.database.url = "postgres://qshare:hunter2@db:5432/qshare".into();
    settings.cache.redis_url = Some("redis://:redispass@cache:6379".into());
    let printed = format!("{settings:?}");
    assert!(
        !printed.contains("hunter2") && !printed.contains("redispass"),
        "{printed}"
    );
    assert!(!printed.contains(&settings.auth.jwt_secret), "{printed}");
    assert_eq!(
        redact_url("postgres://u:secret@h/d"),
        "postgres://u:***@h/d"
    );
    assert_eq!(redact_url("sqlite://data/q.db"), "sqlite://data/q.db");
}
