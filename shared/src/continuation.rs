//! Finishing across invocations, on purpose. A pass that cannot start every
//! write before its deadline (a hub's first pass: 1,200 routes need 230 s of
//! EC2's refill, the finisher has 120 s) stops in time, reports what it left,
//! and asks for its own continuation at once: a `Peerlink Continuation`
//! event on its bus, which that function's rule delivers back to it as a
//! whole-account pass, instead of waiting for the schedule. Such an
//! invocation does not fail: no `IncompleteWork`, no alarm.
//!
//! The chain is bounded. A pass asks only when it got something done, and a
//! pass started by a continuation asks again only when it left fewer items
//! than that continuation said: `left` strictly decreases along a chain, so a
//! chain that starts with N items left ends within N links. Otherwise the
//! work left fails the invocation as it always did, and the schedule takes
//! over. (A forged continuation can only cause one whole-account pass, as
//! the schedule does.)

use serde::Serialize;
use serde_json::json;

use crate::context::Context;
use crate::events::{CONTINUATION_DETAIL_TYPE, Event, Function};
use crate::metrics::Progress;

/// What became of the work a pass left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Continuation {
    pub function: Function,
    /// Writes not started before the deadline.
    pub left: usize,
    /// A continuation event was published.
    pub requested: bool,
    /// Why none was, when work is left.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Continuation {
    /// `WorkLeft`, `ContinuationsRequested`.
    pub fn metrics(&self) -> [(&'static str, usize); 2] {
        [
            ("WorkLeft", self.left),
            ("ContinuationsRequested", usize::from(self.requested)),
        ]
    }

    /// Work left and not continued fails the invocation.
    pub fn failure(&self) -> Option<String> {
        (self.left > 0 && !self.requested).then(|| {
            format!(
                "{} write(s) not started before the deadline and not continued ({}); the next scheduled run does them",
                self.left,
                self.note.as_deref().unwrap_or("no reason")
            )
        })
    }
}

/// Why a pass that left `progress.left` items is not continued, if it is not.
fn refusal(event: &Event, progress: Progress, bus: Option<&str>) -> Option<String> {
    if progress.done == 0 {
        return Some("the pass got nothing done".into());
    }
    if let Event::Continue { left: before, .. } = event {
        if progress.left as u64 >= *before {
            return Some(format!(
                "{} left, no fewer than the {before} the continuation that started this pass said",
                progress.left
            ));
        }
    }
    match bus {
        None => Some("PEERLINK_EVENT_BUS is not set".into()),
        Some(_) => None,
    }
}

/// After a pass of `function` started by `event`: publishes its
/// continuation when it left work and may go on.
pub async fn after(ctx: &Context, function: Function, event: &Event, progress: Progress) -> Continuation {
    let mut c = Continuation {
        function,
        left: progress.left,
        requested: false,
        note: None,
    };
    if progress.left == 0 {
        return c;
    }
    let bus = ctx.settings.event_bus.as_deref();
    c.note = refusal(event, progress, bus);
    if let (None, Some(bus)) = (&c.note, bus) {
        let detail = json!({"function": function.name(), "account": ctx.me.account, "left": progress.left});
        match ctx.aws.put_event(bus, CONTINUATION_DETAIL_TYPE, &detail).await {
            Ok(()) => c.requested = true,
            Err(e) => c.note = Some(format!("the continuation could not be published: {e}")),
        }
    }
    if c.requested {
        tracing::info!(
            function = function.name(),
            left = c.left,
            done = progress.done,
            "out of time: continuation requested"
        );
    } else {
        tracing::warn!(
            function = function.name(),
            left = c.left,
            done = progress.done,
            why = c.note.as_deref().unwrap_or(""),
            "out of time: not continued"
        );
    }
    c
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::aws::Aws;
    use crate::aws::memory::{Memory, World};
    use crate::fixtures::{Entry, LOCAL_VPC, PEER, document, me};
    use crate::settings::Settings;

    fn ctx(bus: Option<&str>) -> (Arc<Memory>, Context) {
        let memory = Arc::new(Memory::new(World::default()));
        let config = crate::config::Config::parse(
            &document("", &[Entry::new("orders", PEER, LOCAL_VPC, &["10.0.0.0/8"])]),
            "test",
        )
        .unwrap();
        let settings = Settings {
            event_bus: bus.map(str::to_string),
            ..Settings::default()
        };
        let aws: Arc<dyn Aws> = memory.clone();
        (memory, Context::new(aws, me(), config, settings))
    }

    fn progress(done: usize, left: usize) -> Progress {
        Progress { done, left }
    }

    #[tokio::test]
    async fn work_left_with_progress_is_continued_on_the_bus_and_does_not_fail() {
        let (memory, ctx) = ctx(Some("default"));
        let c = after(&ctx, Function::Finisher, &Event::Scheduled, progress(45, 200)).await;
        assert!(c.requested, "{c:?}");
        assert_eq!(c.failure(), None);
        assert_eq!(c.metrics(), [("WorkLeft", 200), ("ContinuationsRequested", 1)]);
        let events = memory.world().events.clone();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].1, CONTINUATION_DETAIL_TYPE);
        assert_eq!(
            events[0].2,
            json!({"function": "finisher", "account": me().account, "left": 200})
        );
    }

    #[tokio::test]
    async fn a_chain_goes_on_only_while_fewer_items_are_left() {
        let (memory, ctx) = ctx(Some("default"));
        let continued = |left| Event::Continue {
            function: Function::Drift,
            left,
        };
        assert!(
            after(&ctx, Function::Drift, &continued(300), progress(1, 299))
                .await
                .requested
        );
        for (before, left) in [(300, 300), (300, 301)] {
            let c = after(&ctx, Function::Drift, &continued(before), progress(50, left)).await;
            assert!(!c.requested, "{before} -> {left}");
            assert!(c.failure().unwrap().contains("no fewer than"), "{c:?}");
        }
        assert_eq!(memory.world().events.len(), 1);
    }

    #[tokio::test]
    async fn no_progress_no_bus_or_nothing_left_is_not_continued() {
        let (memory, with_bus) = ctx(Some("default"));
        let stalled = after(&with_bus, Function::Accepter, &Event::Scheduled, progress(0, 120)).await;
        assert!(stalled.failure().unwrap().contains("nothing done"), "{stalled:?}");
        let finished = after(&with_bus, Function::Accepter, &Event::Scheduled, progress(120, 0)).await;
        assert_eq!((finished.requested, finished.failure()), (false, None));
        assert_eq!(memory.world().events.len(), 0);
        let (_, no_bus) = ctx(None);
        let c = after(&no_bus, Function::Finisher, &Event::Scheduled, progress(5, 5)).await;
        assert!(c.failure().unwrap().contains("PEERLINK_EVENT_BUS"), "{c:?}");
    }

    #[tokio::test]
    async fn each_function_runs_a_whole_account_pass_on_its_own_continuation_only() {
        use crate::context::Deadline;
        use crate::{accepter, drift, finisher};
        let (_, ctx) = ctx(None);
        let go_on = |function| Event::Continue { function, left: 3 };
        let d = Deadline::none();
        assert!(finisher::handle(&ctx, &go_on(Function::Finisher), d).await.is_ok());
        assert!(drift::handle(&ctx, &go_on(Function::Drift), d).await.is_ok());
        assert!(accepter::handle(&ctx, &go_on(Function::Accepter), d).await.is_ok());
        let refused = |r: crate::Result<()>| matches!(r, Err(crate::Error::Event(_)));
        assert!(refused(
            finisher::handle(&ctx, &go_on(Function::Drift), d).await.map(drop)
        ));
        assert!(refused(
            drift::handle(&ctx, &go_on(Function::Accepter), d).await.map(drop)
        ));
        assert!(refused(
            accepter::handle(&ctx, &go_on(Function::Finisher), d).await.map(drop)
        ));
    }

    #[tokio::test]
    async fn a_continuation_that_cannot_be_published_fails_the_invocation() {
        let (memory, ctx) = ctx(Some("default"));
        memory.fail("PutEvents", "AccessDeniedException");
        let c = after(&ctx, Function::Finisher, &Event::Scheduled, progress(5, 5)).await;
        assert!(c.failure().unwrap().contains("AccessDenied"), "{c:?}");
    }
}
