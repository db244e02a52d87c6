//! What one case measures: the AWS calls made (exact, counted by the SDK
//! interceptor), wall time and this process's CPU time.

use std::time::{Duration, Instant};

use peerlink::Context;
use peerlink::aws::CallSummary;
use serde_json::{Value, json};

/// CPU time of this process (user + system): our work, not the emulator's,
/// which runs in its own process.
pub fn cpu_time() -> Duration {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we pass; RUSAGE_SELF is always valid.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

pub struct Measured<T> {
    pub value: T,
    pub calls: CallSummary,
    pub wall: Duration,
    pub cpu: Duration,
}

pub async fn measure<T>(ctx: &Context, work: impl std::future::Future<Output = T>) -> Measured<T> {
    ctx.calls().reset();
    let (t0, c0) = (Instant::now(), cpu_time());
    let value = work.await;
    Measured {
        value,
        calls: ctx.calls().summary(),
        wall: t0.elapsed(),
        cpu: cpu_time() - c0,
    }
}

pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 10.0).round() / 10.0
}

pub fn describe_calls(c: &CallSummary) -> Value {
    c.by_operation
        .iter()
        .filter(|(k, _)| peerlink::aws::is_read(k))
        .map(|(k, v)| (k.clone(), json!(v.calls)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

static NEXT_ACCOUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(800_000_000_000);

pub fn account_id() -> String {
    NEXT_ACCOUNT
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        .to_string()
}
