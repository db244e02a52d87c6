//! peerlink: cross-account VPC peering automation.
//!
//! The library holds the whole domain; the Lambda functions and the
//! command-line tool are thin shells over it.
//!
//! # Layout
//!
//! | module | what it holds |
//! |---|---|
//! | [`settings`] | every `PEERLINK_*` environment variable, read once |
//! | [`config`] | the TOML document: entries, values, ARNs, where it comes from; every problem with its line; its JSON Schema |
//! | [`ids`], [`model`] | validated ids; what we read from AWS, in our own terms |
//! | [`matching`] | which entry a peering belongs to (the most specific); CIDR overlap |
//! | [`routing`] | the routing invariant: which peer blocks may get a route or rule |
//! | [`ownership`] | what carries our mark (rule markers, Sids, tags) |
//! | [`events`] | what an invocation asks for (an event is only a hint) |
//! | [`aws`] | the [`aws::Aws`] trait: every AWS call, with the SDK implementation |
//! | [`context`] | one invocation's identity, configuration, calls, settings, deadline |
//! | [`decision`], [`accepter`] | the pure accept/reject decision and its checks; its orchestration (concurrent acceptances undone, announcements, `peerlink approve`, peerings accepted outside peerlink) |
//! | [`reconcile`] | observe (one round) → [`reconcile::plan`] (pure) → apply, shared by finisher, drift and CLI |
//! | [`finisher`], [`drift`], [`doctor`] | what each function (and `peerlink doctor`) does |
//! | [`stale`] | rules left referencing a group through a gone peering: the user's reported (drift, doctor) |
//! | [`continuation`] | a pass out of time asks for its own continuation (bounded) |
//! | [`finding`], [`metrics`], [`logging`] | what we report: findings, EMF metrics, JSON logs |
//! | [`verify`] | proving a path hop by hop (pure), its reads, the paths a configuration declares, advice when peering is the wrong tool |
//! | `lambda` | the shared Lambda entrypoint (feature `lambda`) |
//!
//! # One invocation
//!
//! event → [`events::parse`] (a hint: which peering, table, group or secret)
//! → [`Context`] (settings, the configuration as it is now, identity, AWS calls)
//! → observe (few filtered reads) → plan (pure: actions with reasons, findings)
//! → apply (bounded concurrency, idempotent, paced to EC2's request rate)
//! → report (one JSON record per decision or action, metrics) → a
//! continuation when time ran out with work left, or a failed invocation if
//! something failed.

pub mod accepter;
pub mod aws;
pub mod config;
pub mod context;
pub mod continuation;
pub mod decision;
pub mod doctor;
pub mod drift;
pub mod error;
pub mod events;
pub mod finding;
pub mod finisher;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod ids;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod logging;
pub mod matching;
pub mod metrics;
pub mod model;
pub mod ownership;
pub mod reconcile;
pub mod routing;
pub mod settings;
pub mod stale;
pub mod verify;

pub use context::{Context, Deadline, Mode};
pub use error::{Error, Result};
