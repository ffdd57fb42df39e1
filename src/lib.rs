//! agno-run: runs agents, teams and workflows declared in YAML, with Agno-compatible storage.
//!
//! The library holds all logic; `main.rs` only parses the command line and exits with the
//! code the library returns. See ARCHITECTURE.md for the map.

pub mod agent;
pub mod cli;
pub mod config;
pub mod expr;
pub mod memory;
pub mod migrate;
pub mod model;
pub mod pyrepr;
pub mod run;
pub mod runtime;
pub mod server;
pub mod store;
pub mod team;
pub mod telemetry;
pub mod tool;
pub mod workflow;

/// An error and its causes on one line (`a: b: c`): for errors whose `Display` drops the cause
/// (reqwest's, tokio-postgres's).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}
