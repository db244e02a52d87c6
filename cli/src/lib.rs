//! The terminal side of peerlink: what the `peerlink` command prints (and the
//! demo reuses). The engine itself is the `peerlink` library.

pub mod check;
pub mod error;
pub mod report;
pub mod stack;
pub mod text;
pub mod verify;

pub use error::{Error, Result};
