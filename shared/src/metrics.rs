//! CloudWatch embedded metric format: one JSON line on stdout per invocation,
//! which CloudWatch Logs turns into metrics without any API call, so users can
//! alarm on drift and conflicts without extra code.

use serde::Serialize;
use serde_json::{Map, Value, json};

/// A handler's report: what could not be carried out, if anything, and the
/// CloudWatch metrics of the invocation. Each report implements it beside
/// its own definition.
pub trait InvocationReport: Serialize {
    /// What failed. Work left for lack of time is not a failure here: it is
    /// [`InvocationReport::progress`]'s `left`, continued or failed by
    /// [`crate::continuation`].
    fn failures(&self) -> Vec<String>;
    fn metrics(&self) -> Vec<(&'static str, usize)>;
    fn progress(&self) -> Progress;
}

/// What a pass got done, and what it left because its time ran out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// Writes carried out (or found already done).
    pub done: usize,
    /// Writes not started before the deadline.
    pub left: usize,
}

impl std::ops::Add for Progress {
    type Output = Progress;
    fn add(self, other: Progress) -> Progress {
        Progress {
            done: self.done + other.done,
            left: self.left + other.left,
        }
    }
}

/// Namespace of every metric peerlink emits.
pub const NAMESPACE: &str = "Peerlink";

/// Builds the EMF record (kept separate from printing so it can be tested).
pub fn record(function: &str, account: &str, values: &[(&str, usize)], timestamp_ms: u128) -> Value {
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms as u64,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Function", "Account"]],
                "Metrics": values.iter().map(|(name, _)| json!({"Name": name, "Unit": "Count"})).collect::<Vec<_>>(),
            }],
        }),
    );
    root.insert("Function".into(), function.into());
    root.insert("Account".into(), account.into());
    for (name, value) in values {
        root.insert((*name).into(), (*value).into());
    }
    Value::Object(root)
}

/// Prints the record as one line on stdout.
pub fn emit(function: &str, account: &str, values: &[(&str, usize)]) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    println!("{}", record(function, account, values, now));
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_record_declares_every_metric() {
        let values = [("DriftFound", 3), ("Repaired", 2), ("RepairFailed", 0), ("Findings", 7)];
        let r = super::record("drift", "222222222222", &values, 1_700_000_000_000);
        let m = &r["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(m["Namespace"], "Peerlink");
        assert_eq!(m["Dimensions"], serde_json::json!([["Function", "Account"]]));
        assert_eq!(r["Function"], "drift");
        assert_eq!(r["Account"], "222222222222");
        assert_eq!(r["_aws"]["Timestamp"], 1_700_000_000_000u64);
        let declared = m["Metrics"].as_array().unwrap();
        assert_eq!(declared.len(), values.len(), "{m}");
        for ((name, value), d) in values.iter().zip(declared) {
            assert_eq!(d["Name"], *name, "{m}");
            assert_eq!(d["Unit"], "Count", "{m}");
            assert_eq!(r[*name], *value, "{r}");
        }
    }
}
