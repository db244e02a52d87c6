//! Counts every AWS operation made through the SDK clients; the benchmarks,
//! the "zero writes" assertions and the round counts read it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde::Serialize;

/// Calls and attempts per operation, as seen by the SDK. An attempt is one
/// HTTP request: retries after throttling show up as attempts > calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CallCount {
    pub calls: u64,
    pub attempts: u64,
}

/// Counts every AWS operation made through [`Clients`]; the benchmarks and the
/// "zero writes" assertions read it.
#[derive(Debug, Clone, Default)]
pub struct ApiCalls(Arc<Mutex<BTreeMap<String, CallCount>>>);

/// Summary of the counters, split into reads and writes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CallSummary {
    pub reads: u64,
    pub writes: u64,
    pub attempts: u64,
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
        let mut map = self.0.lock().expect("counter lock");
        let entry = map.entry(operation.to_string()).or_default();
        if call {
            entry.calls += 1;
        } else {
            entry.attempts += 1;
        }
    }

    pub fn summary(&self) -> CallSummary {
        let map = self.0.lock().expect("counter lock").clone();
        let mut s = CallSummary::default();
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
        self.0.lock().expect("counter lock").clear();
    }
}

impl Intercept for ApiCalls {
    fn name(&self) -> &'static str {
        "peerlink-api-calls"
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
