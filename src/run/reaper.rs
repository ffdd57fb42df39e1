//! The reaper: the only code that ends another process's runs. A run left PENDING or RUNNING by
//! a runner that is gone (its heartbeat older than the lease, or, on this host, its process no
//! longer running) is stored as ERROR with the reason. It runs when a process opens a database
//! and then every [`super::runner::REAP_INTERVAL`] while that process runs runs there.
//!
//! Runs that name no runner (written by Python Agno, which does not heartbeat) are left alone:
//! history skips them whatever they are.

use std::collections::HashMap;

use super::Runner;
use crate::store::{Store, StoreError, now};

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

/// Ends the runs in flight in `store` whose runner is gone, as seen by `me`; removes the rows of
/// runners found gone. Returns the runs it ended.
pub async fn reap(store: &Store, me: &Runner) -> Result<Vec<Reaped>, StoreError> {
    let in_flight = store.in_flight_runs().await?;
    let runners = store.runners().await?;
    let t = now();
    let mut gone: HashMap<&str, String> = HashMap::new();
    for r in &runners {
        if let Some(why) = me.gone(r, t) {
            gone.insert(&r.runner_id, why);
        }
    }
    let mut reaped = Vec::new();
    for run in &in_flight {
        let Some(runner) = run.runner_id.as_deref() else { continue };
        let reason = match gone.get(runner) {
            Some(why) => why.clone(),
            None if runners.iter().any(|r| r.runner_id == runner) => continue,
            // No row: its runner exited (a clean exit removes the row after its runs ended) or
            // a reaper already found it dead.
            None => "its runner is gone (no record of it is left)".to_string(),
        };
        let reason = format!("run stopped: {reason}");
        if store.reap_run(&run.run_id, &reason).await? {
            tracing::warn!(run_id = %run.run_id, session_id = %run.session_id, %reason, "ended a run of a dead runner as ERROR");
            reaped.push(Reaped { run_id: run.run_id.clone(), session_id: run.session_id.clone(), reason });
        }
    }
    for runner in gone.keys() {
        store.remove_runner(runner).await?;
    }
    Ok(reaped)
}
