//! Pacing EC2 calls to EC2's request-rate token buckets ("Request throttling
//! for the Amazon EC2 API"): each action has a bucket of its own per account
//! and region, every request takes a token, and an empty bucket answers
//! `RequestLimitExceeded`. Retrying into an empty bucket only burns attempts
//! (a hub's first pass needs 240 `CreateRoute`, which EC2 admits in 38 s), so
//! the client keeps a copy of each bucket and sends a call only when its copy
//! holds a token for it.
//!
//! - [`Pacer::admit`] (before each call, in [`super::Clients`]) reserves a
//!   token and waits for it, outside the SDK's attempt timeout. Calls queue
//!   behind each other in the order they asked; `write_concurrency` bounds
//!   the queue.
//! - As an interceptor on the EC2 client it counts every attempt the SDK
//!   makes on its own against the bucket: a later page is counted, not
//!   waited for (a pass reads tens of pages; the read buckets hold 100);
//!   after a retryable failure it reserves the retry's token and tells the
//!   SDK to wait for it (the `x-amz-retry-after` hint the SDK honours), so
//!   retries are paced too.
//! - A throttle that still comes back means someone else drains the same
//!   bucket (another invocation, another tool): the refill rate we pace to
//!   is halved (at most once a second, down to a tenth), and recovers by a
//!   twentieth of the documented rate with each call EC2 takes.
//!
//! Other services are not paced: peerlink makes a handful of calls to them.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextMut, InterceptorContext,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction, RetryReason};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::retry::ErrorKind;

/// One bucket's figures: the tokens it holds, and the tokens it gets back
/// each second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub size: f64,
    pub refill: f64,
}

/// The buckets the client paces itself to: EC2's documented figures, with
/// the ones an account has had raised.
#[derive(Debug, Clone, PartialEq)]
pub struct Buckets {
    /// Non-mutating actions (`Describe*`).
    pub reads: Limit,
    /// Mutating actions (`CreateRoute`, `AcceptVpcPeeringConnection`,
    /// `AuthorizeSecurityGroupIngress`, …), each in a bucket of its own.
    pub writes: Limit,
    /// `CreateTags` and `DeleteTags`.
    pub tags: Limit,
    /// Actions whose figures differ from their class's.
    pub actions: BTreeMap<String, Limit>,
    /// `false`: nothing is paced (the emulator, which does not throttle).
    pub paced: bool,
    /// How many times faster than EC2's the buckets run ([`Buckets::faster`]).
    pub speedup: f64,
}

impl Default for Buckets {
    fn default() -> Self {
        Buckets {
            reads: Limit {
                size: 100.0,
                refill: 20.0,
            },
            writes: Limit {
                size: 50.0,
                refill: 5.0,
            },
            tags: Limit {
                size: 100.0,
                refill: 10.0,
            },
            actions: BTreeMap::new(),
            paced: true,
            speedup: 1.0,
        }
    }
}

impl Buckets {
    /// No pacing at all.
    pub fn unpaced() -> Buckets {
        Buckets {
            paced: false,
            ..Buckets::default()
        }
    }

    /// Every refill rate times `factor`: tests and benchmarks against a proxy
    /// whose buckets run `factor` times faster, so they take seconds, not
    /// minutes, with the same shape.
    pub fn faster(mut self, factor: f64) -> Buckets {
        for limit in [&mut self.reads, &mut self.writes, &mut self.tags]
            .into_iter()
            .chain(self.actions.values_mut())
        {
            limit.refill *= factor;
        }
        self.speedup *= factor;
        self
    }

    /// The tokens our copy of a bucket keeps back: one second of EC2's
    /// refill (EC2 may add it once a second rather than continuously; this
    /// keeps a call that reaches it early from finding it empty), at most
    /// half the bucket.
    fn headroom(&self, limit: Limit) -> f64 {
        (limit.refill / self.speedup).min(limit.size / 2.0)
    }

    /// The bucket of an EC2 action; `None` when nothing is paced.
    pub fn limit(&self, action: &str) -> Option<Limit> {
        if !self.paced {
            return None;
        }
        Some(match self.actions.get(action) {
            Some(limit) => *limit,
            None if super::is_read(action) => self.reads,
            None if matches!(action, "CreateTags" | "DeleteTags") => self.tags,
            None => self.writes,
        })
    }

    /// Applies `NAME=SIZE/REFILL` pairs, comma-separated, where NAME is a
    /// class (`reads`, `writes`, `tags`) or an EC2 action (`CreateRoute`):
    /// `writes=100/10,CreateRoute=200/20`.
    pub fn with_overrides(mut self, text: &str) -> Result<Buckets, String> {
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let parsed = pair.split_once('=').and_then(|(name, figures)| {
                let (size, refill) = figures.split_once('/')?;
                let number = |t: &str| t.trim().parse::<f64>().ok().filter(|n| n.is_finite() && *n > 0.0);
                Some((name.trim(), number(size)?, number(refill)?))
            });
            let Some((name, size, refill)) = parsed.filter(|(_, size, _)| *size >= 1.0) else {
                return Err(format!(
                    "{pair:?} is not NAME=SIZE/REFILL with a size of at least 1 and a refill above 0 per second"
                ));
            };
            let limit = Limit { size, refill };
            match name {
                "reads" => self.reads = limit,
                "writes" => self.writes = limit,
                "tags" => self.tags = limit,
                action
                    if action.starts_with(|c: char| c.is_ascii_uppercase())
                        && action.chars().all(|c| c.is_ascii_alphanumeric()) =>
                {
                    self.actions.insert(action.to_string(), limit);
                }
                other => {
                    return Err(format!(
                        "{other:?} is neither reads, writes, tags nor an EC2 action name such as CreateRoute"
                    ));
                }
            }
        }
        Ok(self)
    }
}

/// How much a throttle cuts the rate we pace to, how low it may go, and how
/// much each success gives back (all relative to the documented refill).
const CUT: f64 = 0.5;
const FLOOR: f64 = 0.1;
const RECOVERY: f64 = 0.05;

/// Our copy of one of EC2's buckets. Its time is passed in, so its
/// arithmetic is tested without sleeping.
#[derive(Debug, Clone)]
struct Bucket {
    limit: Limit,
    capacity: f64,
    /// The refill we pace to: the documented one, lower after throttles.
    rate: f64,
    /// Tokens left; below zero, tokens already promised to calls that wait.
    tokens: f64,
    at: Instant,
    cut_at: Option<Instant>,
}

impl Bucket {
    /// A full bucket holding `headroom` tokens less than EC2's.
    fn new(limit: Limit, headroom: f64, now: Instant) -> Bucket {
        let capacity = (limit.size - headroom).max(1.0);
        Bucket {
            limit,
            capacity,
            rate: limit.refill,
            tokens: capacity,
            at: now,
            cut_at: None,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.at = self.at.max(now);
    }

    /// How long until the balance `tokens` is back at zero.
    fn wait_for(&self, tokens: f64) -> Duration {
        if tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-tokens / self.rate)
        }
    }

    /// Takes a token; returns how long the caller waits for it.
    fn take(&mut self, now: Instant) -> Duration {
        self.refill(now);
        self.tokens -= 1.0;
        self.wait_for(self.tokens)
    }

    /// How long a call that asked now would wait, without asking.
    fn wait(&mut self, now: Instant) -> Duration {
        self.refill(now);
        self.wait_for(self.tokens - 1.0)
    }

    /// EC2 said the bucket is empty: so is ours, and someone else uses it too.
    fn throttled(&mut self, now: Instant) {
        self.refill(now);
        self.tokens = self.tokens.min(0.0);
        // One cut per burst of throttles: the calls in flight all see the same one.
        if self
            .cut_at
            .is_some_and(|at| now.saturating_duration_since(at) < Duration::from_secs(1))
        {
            return;
        }
        self.rate = (self.rate * CUT).max(self.limit.refill * FLOOR);
        self.cut_at = Some(now);
    }

    /// EC2 took a call (whatever it answered): the rate recovers a little.
    fn admitted(&mut self, now: Instant) {
        self.refill(now);
        self.rate = (self.rate + self.limit.refill * RECOVERY).min(self.limit.refill);
    }
}

#[derive(Debug)]
struct Entry {
    bucket: Bucket,
    /// Tokens taken for attempts not sent yet ([`Pacer::admit`] and retries
    /// take them ahead); any other attempt (a later page) takes its own.
    prepaid: u32,
}

/// The client's copy of EC2's buckets for one account and region (one per
/// process: a warm Lambda keeps it between invocations).
#[derive(Debug, Clone)]
pub struct Pacer(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    buckets: Buckets,
    state: Mutex<HashMap<String, Entry>>,
}

impl Pacer {
    pub fn new(buckets: Buckets) -> Pacer {
        Pacer(Arc::new(Inner {
            buckets,
            state: Mutex::new(HashMap::new()),
        }))
    }

    /// Runs `f` on the bucket of `action`; `None` when it is not paced.
    fn with<T>(&self, action: &str, now: Instant, f: impl FnOnce(&mut Entry) -> T) -> Option<T> {
        let buckets = &self.0.buckets;
        let limit = buckets.limit(action)?;
        let mut state = self.0.state.lock().expect("pacer lock");
        let entry = state.entry(action.to_string()).or_insert_with(|| Entry {
            bucket: Bucket::new(limit, buckets.headroom(limit), now),
            prepaid: 0,
        });
        Some(f(entry))
    }

    /// Takes a token for the next attempt of `action`; returns how long to
    /// wait before sending it.
    fn reserve(&self, action: &str, now: Instant) -> Duration {
        self.with(action, now, |e| {
            e.prepaid += 1;
            e.bucket.take(now)
        })
        .unwrap_or_default()
    }

    /// Waits until a call of `action` may be sent.
    pub async fn admit(&self, action: &str) {
        let wait = self.reserve(action, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// When a call of `action` asked for now would be sent.
    pub fn ready_at(&self, action: &str) -> Instant {
        let now = Instant::now();
        now + self.with(action, now, |e| e.bucket.wait(now)).unwrap_or_default()
    }

    /// An attempt is being sent: it uses a token taken ahead, or takes one.
    fn attempt(&self, action: &str, now: Instant) {
        self.with(action, now, |e| {
            if e.prepaid > 0 {
                e.prepaid -= 1;
            } else {
                e.bucket.take(now);
            }
        });
    }

    fn admitted(&self, action: &str, now: Instant) {
        self.with(action, now, |e| e.bucket.admitted(now));
    }

    /// A retryable failure: a throttle cuts the rate; either way the retry's
    /// token is taken now, and the wait for it returned.
    fn failed(&self, action: &str, throttled: bool, now: Instant) -> Duration {
        if throttled {
            self.with(action, now, |e| e.bucket.throttled(now));
        }
        self.reserve(action, now)
    }
}

fn action_of(cfg: &ConfigBag) -> Option<String> {
    cfg.load::<Metadata>().map(|m| m.name().to_string())
}

/// What the SDK's retry classifiers make of an attempt (as its standard
/// retry strategy runs them).
fn verdict(rc: &RuntimeComponents, ctx: &InterceptorContext) -> RetryAction {
    let mut result = RetryAction::NoActionIndicated;
    for classifier in rc.retry_classifiers() {
        let next = classifier.classify_retry_v2(ctx, &result);
        if next == RetryAction::NoActionIndicated {
            continue;
        }
        result = next;
        if result == RetryAction::RetryForbidden {
            break;
        }
    }
    result
}

impl Intercept for Pacer {
    fn name(&self) -> &'static str {
        "peerlink-pacer"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(action) = action_of(cfg) {
            self.attempt(&action, Instant::now());
        }
        Ok(())
    }

    fn modify_before_attempt_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(action) = action_of(cfg) else { return Ok(()) };
        let now = Instant::now();
        match context.output_or_error() {
            Some(Ok(_)) => self.admitted(&action, now),
            Some(Err(_)) => {
                let verdict = verdict(runtime_components, context.inner());
                if !verdict.should_retry() {
                    // An answer such as RouteAlreadyExists: EC2 took the call.
                    self.admitted(&action, now);
                    return Ok(());
                }
                let throttled = matches!(
                    verdict,
                    RetryAction::RetryIndicated(RetryReason::RetryableError {
                        kind: ErrorKind::ThrottlingError,
                        ..
                    })
                );
                let wait = self.failed(&action, throttled, now);
                // The SDK waits at least this long before the retry (its own
                // backoff when our bucket has a token at once).
                if let (false, Some(response)) = (wait.is_zero(), context.response_mut()) {
                    response
                        .headers_mut()
                        .insert("x-amz-retry-after", wait.as_millis().max(1).to_string());
                }
            }
            None => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
