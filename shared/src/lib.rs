//! peerlink: cross-account VPC peering automation.
//!
//! The library holds the whole domain; the Lambda functions and the command-line
//! tool are thin shells over it. One pass is observe → plan → apply:
//! [`aws`] reads and writes, [`decision`] and the plan are pure functions.

pub mod accepter;
pub mod aws;
pub mod config;
pub mod context;
pub mod decision;
pub mod doctor;
pub mod drift;
pub mod error;
pub mod events;
pub mod finisher;
pub mod ids;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod reconcile;
pub mod text;

pub use context::{Context, Deadline};
pub use error::{Error, Result};
