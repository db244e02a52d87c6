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
pub mod error;
pub mod events;
pub mod ids;
pub mod logging;
pub mod model;

pub use context::{Context, Deadline};
pub use error::{Error, Result};
