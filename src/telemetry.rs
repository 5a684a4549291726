//! tracing: pretty logs in development, JSON in production. `RUST_LOG` overrides the level.

use tracing_subscriber::{EnvFilter, fmt};

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber; a second call (tests) is a no-op.
pub fn init(settings: &LogSettings) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.level));
    let result = match settings.format {
        LogFormat::Pretty => fmt().with_env_filter(filter).compact().try_init(),
        LogFormat::Json => fmt()
            .with_env_filter(filter)
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
    let _ = result;
}
