//! Counts every AWS operation made through the SDK clients; the benchmarks,
//! the "zero writes" assertions and the round counts read it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use serde::Serialize;

/// Calls and attempts per operation, as seen by the SDK. An attempt is one
/// HTTP request: retries after throttling show up as attempts > calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CallCount {
    pub calls: u64,
    pub attempts: u64,
}

/// Counts every AWS operation made through the SDK clients, and when each
/// ran; the benchmarks, the "zero writes" assertions and the round counts
/// read it.
#[derive(Debug, Clone, Default)]
pub struct ApiCalls(Arc<Mutex<Counters>>);

#[derive(Debug, Clone, Default)]
struct Counters {
    by_operation: BTreeMap<String, CallCount>,
    /// When each call started and ended.
    spans: Vec<(Instant, Instant)>,
}

/// When an operation's execution started (kept in its config bag).
#[derive(Debug, Clone, Copy)]
struct Started(Instant);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

/// Summary of the counters, split into reads and writes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CallSummary {
    pub reads: u64,
    pub writes: u64,
    pub attempts: u64,
    /// Dependent rounds: the longest chain of calls each of which started
    /// after the one before it had ended. Calls made at once (a join) are
    /// one round; a read that needs another's answer is a second. With a
    /// latency on every call (the fault proxy's `latency_ms`), this is the
    /// number of round trips a user waits for.
    pub rounds: u64,
    pub by_operation: BTreeMap<String, CallCount>,
}

impl CallSummary {
    pub fn calls(&self, operation: &str) -> u64 {
        self.by_operation.get(operation).map_or(0, |c| c.calls)
    }
}

/// Whether an operation only reads. Everything else counts as a write.
pub fn is_read(operation: &str) -> bool {
    ["Describe", "Get", "List"].iter().any(|p| operation.starts_with(p))
}

impl ApiCalls {
    pub(crate) fn bump(&self, operation: &str, call: bool) {
        let mut counters = self.0.lock().expect("counter lock");
        let entry = counters.by_operation.entry(operation.to_string()).or_default();
        if call {
            entry.calls += 1;
        } else {
            entry.attempts += 1;
        }
    }

    fn span(&self, started: Instant, ended: Instant) {
        self.0.lock().expect("counter lock").spans.push((started, ended));
    }

    pub fn summary(&self) -> CallSummary {
        let counters = self.0.lock().expect("counter lock").clone();
        let map = counters.by_operation;
        let mut s = CallSummary {
            rounds: rounds(&counters.spans),
            ..CallSummary::default()
        };
        for (op, c) in &map {
            if is_read(op) {
                s.reads += c.calls;
            } else {
                s.writes += c.calls;
            }
            s.attempts += c.attempts;
        }
        s.by_operation = map;
        s
    }

    pub fn reset(&self) {
        *self.0.lock().expect("counter lock") = Counters::default();
    }
}

/// The longest chain of spans each starting at or after the previous end.
fn rounds(spans: &[(Instant, Instant)]) -> u64 {
    let mut sorted = spans.to_vec();
    sorted.sort();
    let mut depth: Vec<u64> = Vec::with_capacity(sorted.len());
    for (i, (start, _)) in sorted.iter().enumerate() {
        let before = (0..i)
            .filter(|&j| sorted[j].1 <= *start)
            .map(|j| depth[j])
            .max()
            .unwrap_or(0);
        depth.push(before + 1);
    }
    depth.into_iter().max().unwrap_or(0)
}

impl Intercept for ApiCalls {
    fn name(&self) -> &'static str {
        "peerlink-api-calls"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Started(Instant::now()));
        Ok(())
    }

    // The operation's metadata is only in the bag once the execution is under
    // way; counting at its end sees every call exactly once, failed or not.
    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            self.bump(m.name(), true);
        }
        if let Some(Started(at)) = cfg.load::<Started>() {
            self.span(*at, Instant::now());
        }
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            self.bump(m.name(), false);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    #[test]
    fn rounds_are_the_longest_chain_of_dependent_calls() {
        let t = Instant::now();
        let ms = |n: u64| t + Duration::from_millis(n);
        assert_eq!(super::rounds(&[]), 0);
        // Three at once, then two that waited for them, then one more.
        let spans = [
            (ms(0), ms(30)),
            (ms(1), ms(31)),
            (ms(2), ms(32)),
            (ms(32), ms(62)),
            (ms(33), ms(63)),
            (ms(63), ms(93)),
        ];
        assert_eq!(super::rounds(&spans), 3);
        assert_eq!(super::rounds(&spans[..3]), 1);
    }
}
