//! The reaper: the only code that ends another process's runs. A run left PENDING or RUNNING by
//! a runner that is gone (its heartbeat older than the lease, or, on this host, its process no
//! longer running) is stored as ERROR with the reason. It runs when a process opens a database
//! and then every [`super::runner::REAP_INTERVAL`] while that process runs runs there.
//!
//! Runs that name no runner (written by Python Agno, which does not heartbeat) are left alone:
//! history skips them whatever they are.

use std::collections::HashMap;

use super::{Registry, Runner};
use crate::store::{RunnerSeen, Store, StoreError};

/// A run the reaper ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaped {
    /// Run id.
    pub run_id: String,
    /// Its session.
    pub session_id: String,
    /// Why it was ended (also its stored content).
    pub reason: String,
}

/// Ends the runs in flight in `store` whose runner is gone, as seen by `me` (judged by the
/// database's clock); removes the rows of runners found gone. With `registry` (this process's
/// runs in flight), also ends `me`'s own rows that no run of this process holds any more: runs
/// whose end could not be stored. Every write is conditional: a runner that heartbeats again
/// meanwhile keeps its runs and its row, and a run that ended meanwhile is left as it is.
/// Returns the runs it ended.
pub async fn reap(store: &Store, me: &Runner, registry: Option<&Registry>) -> Result<Vec<Reaped>, StoreError> {
    // In-flight runs first: a runner's row is written before its first RUNNING row, so every
    // runner those rows name is in the list read after them, unless it is gone.
    let in_flight = store.in_flight_runs().await?;
    let runners = store.runners().await?;
    let now = store.clock().await?;
    let mut gone: HashMap<&str, (String, i64)> = HashMap::new();
    for r in runners.iter().filter(|r| r.runner_id != me.id) {
        if let Some(why) = me.gone(r, now) {
            gone.insert(&r.runner_id, (why, r.heartbeat_at));
        }
    }
    let mut reaped = Vec::new();
    for run in &in_flight {
        let Some(runner) = run.runner_id.as_deref() else { continue };
        let (reason, seen) = if runner == me.id {
            match registry {
                Some(reg) if reg.get(&run.run_id).is_none() => {
                    ("its end could not be stored by this process".to_string(), None)
                }
                _ => continue,
            }
        } else {
            match gone.get(runner) {
                Some((why, heartbeat)) => {
                    (why.clone(), Some(RunnerSeen { runner_id: runner.to_string(), heartbeat_at: Some(*heartbeat) }))
                }
                None if runners.iter().any(|r| r.runner_id == runner) => continue,
                // No row: its runner exited (a clean exit removes the row after its runs ended) or
                // a reaper already found it dead.
                None => (
                    "its runner is gone (no record of it is left)".to_string(),
                    Some(RunnerSeen { runner_id: runner.to_string(), heartbeat_at: None }),
                ),
            }
        };
        let reason = format!("run stopped: {reason}");
        if store.reap_run(&run.run_id, &reason, seen.as_ref()).await? {
            tracing::warn!(run_id = %run.run_id, session_id = %run.session_id, %reason, "ended a run of a dead runner as ERROR");
            reaped.push(Reaped { run_id: run.run_id.clone(), session_id: run.session_id.clone(), reason });
        }
    }
    for (runner, (_, heartbeat)) in &gone {
        store.remove_stale_runner(runner, *heartbeat).await?;
    }
    Ok(reaped)
}
