//! Logging set-up shared by every binary: JSON lines inside Lambda (CloudWatch parses
//! them), human-readable text elsewhere. `RUST_LOG` overrides the level.

use tracing_subscriber::EnvFilter;

pub fn init() {
    init_with_default("info");
}

/// Like [`init`], with another level when `RUST_LOG` is unset (e.g. quieter CLIs).
pub fn init_with_default(level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    // try_init: a second call (tests, the local server mounting several handlers) is fine.
    let _ = if in_lambda {
        builder
            .json()
            .without_time()
            .with_current_span(false)
            .try_init()
    } else {
        builder.with_writer(std::io::stderr).try_init()
    };
}
