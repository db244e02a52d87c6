//! Structured logs: one JSON object per line, so CloudWatch Logs Insights can
//! query every field. Level from `PEERLINK_LOG` (default `info`).

use tracing_subscriber::EnvFilter;

/// Installs the JSON log subscriber. Safe to call twice (the second call is a no-op).
pub fn init() {
    let filter = EnvFilter::try_from_env("PEERLINK_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .try_init();
}

/// Joins CIDR blocks (or anything displayable) for a log field.
pub fn joined<T: std::fmt::Display>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}
