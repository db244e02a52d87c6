//! peerlink: cross-account VPC peering automation.
//!
//! The library holds the whole domain; the Lambda functions and the
//! command-line tool are thin shells over it. The map of the code (every
//! module, the flow of one invocation, the edits that go together) is
//! `ARCHITECTURE.md` at the workspace root, written once; a test below keeps
//! it naming every module.

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
pub mod exposure;
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
pub mod outcome;
pub mod ownership;
pub mod reconcile;
pub mod routing;
pub mod settings;
pub mod stale;
pub mod verify;

pub use context::{Context, Deadline, Mode};
pub use error::{Error, Result};

#[cfg(test)]
mod map {
    /// ARCHITECTURE.md names every file and directory of this crate's
    /// `src/`, so the map cannot silently fall behind the code.
    #[test]
    fn the_map_names_every_module() {
        let map = include_str!("../../ARCHITECTURE.md");
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut missing = Vec::new();
        for entry in std::fs::read_dir(&src).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            let named = if entry.file_type().unwrap().is_dir() {
                format!("{name}/")
            } else {
                name.clone()
            };
            if name != "lib.rs" && !map.contains(&named) {
                missing.push(named);
            }
        }
        missing.sort();
        assert!(missing.is_empty(), "ARCHITECTURE.md does not name {missing:?}");
    }
}
