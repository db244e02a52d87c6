//! Structured logs: one JSON object per line, so CloudWatch Logs Insights can
//! query every field. Level from `PEERLINK_LOG` (default `info`).

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Crates that log credentials at debug level or below (the SigV4 canonical
/// request holds the session token) or whole requests: capped whatever
/// `PEERLINK_LOG` asks for, so no setting can put a secret in the logs.
const CAPPED: &str = "aws_sigv4=info,aws_smithy_runtime=info,aws_smithy_runtime_api=info,aws_smithy_http_client=info,aws_config=info,aws_credential_types=info,hyper=info,hyper_util=info,h2=info,rustls=info";

/// The log filter: `PEERLINK_LOG` (default `info`) with the caps appended
/// (later directives win).
pub fn filter_directives(requested: Option<&str>) -> String {
    let base = requested.map(str::trim).filter(|r| !r.is_empty()).unwrap_or("info");
    format!("{base},{CAPPED}")
}

/// Installs the JSON log subscriber. Safe to call twice (the second call is a no-op).
/// (`Targets` rather than `EnvFilter`: the same `target=level` syntax without
/// a regex engine in the Lambda binaries.)
pub fn init(requested: Option<&str>) {
    let filter: Targets = filter_directives(requested).parse().unwrap_or_else(|e| {
        eprintln!("PEERLINK_LOG={requested:?} is not a valid log filter ({e}); using info");
        filter_directives(None).parse().expect("the default filter parses")
    });
    let format = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_writer(std::io::stdout);
    let _ = tracing_subscriber::registry().with(format).with(filter).try_init();
}

/// Joins CIDR blocks (or anything displayable) for a log field.
pub fn joined<T: std::fmt::Display>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}
