//! The runner: this process as the runs it writes name it (host, pid, start time), its row in
//! each database it runs in, and the one heartbeat per database that keeps that row fresh.
//!
//! Heartbeats are per process and database, never per run: a process with 10,000 runs in
//! flight writes one heartbeat per [`HEARTBEAT_INTERVAL`]. A runner whose heartbeat is older
//! than [`LEASE`] is taken for dead by any other agno-run process (see [`super::reaper`]); on the
//! same host (same boot, same pid namespace) a dead pid is noticed at once, without waiting for
//! the lease.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::{Registry, reaper};
use crate::store::{RunnerRow, Store, StoreError, now};

/// How often a runner refreshes its row in each database it runs in.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(10);
/// How old a heartbeat may be before its runner is taken for dead (six missed heartbeats).
pub const LEASE: Duration = Duration::from_secs(60);
/// How often a process with runs in a database looks for runs of dead runners there.
pub const REAP_INTERVAL: Duration = Duration::from_secs(30);

/// This process, as a runner of runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runner {
    /// A fresh id per process (per library instance).
    pub id: String,
    /// Host name.
    pub host: String,
    /// Boot id and pid namespace: equal keys share a process table (see [`RunnerRow::host_key`]).
    pub host_key: Option<String>,
    /// Process id.
    pub pid: u32,
    /// Start time in clock ticks since boot, which tells a reused pid apart.
    pub process_start: Option<i64>,
    /// When this runner was created (epoch seconds).
    pub started_at: i64,
}

impl Runner {
    /// This process.
    pub fn current() -> Runner {
        let pid = std::process::id();
        Runner {
            id: uuid::Uuid::now_v7().to_string(),
            host: host_name(),
            host_key: host_key(),
            pid,
            process_start: process_start(pid),
            started_at: now(),
        }
    }

    /// Its row, with a heartbeat at `at`.
    pub fn row(&self, at: i64) -> RunnerRow {
        RunnerRow {
            runner_id: self.id.clone(),
            host: self.host.clone(),
            host_key: self.host_key.clone(),
            pid: i64::from(self.pid),
            process_start: self.process_start,
            started_at: self.started_at,
            heartbeat_at: at,
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// What a RUNNING row says of its runner (`run_data.runner`).
    pub fn stamp(&self) -> Value {
        json!({"id": self.id, "host": self.host, "pid": self.pid, "started_at": self.started_at})
    }

    /// Why `other` is gone, as seen from this process at `now` (the database's clock); None
    /// while it looks alive. On this host (same boot, same pid namespace, and other users'
    /// processes visible) its process decides: alive if its pid runs with the same start time,
    /// even past the lease (a stopped process may go on); gone at once if not. Elsewhere the
    /// lease decides: no heartbeat for [`LEASE`].
    pub fn gone(&self, other: &RunnerRow, now: i64) -> Option<String> {
        let same_table = self.host_key.is_some() && self.host_key == other.host_key && processes_visible();
        if same_table {
            let pid = u32::try_from(other.pid).ok()?;
            return match process_start(pid) {
                None => Some(format!("its runner (pid {} on {}) is no longer running", other.pid, other.host)),
                Some(start) if other.process_start.is_some_and(|s| s != start) => Some(format!(
                    "its runner (pid {} on {}) is no longer running (the pid now belongs to another process)",
                    other.pid, other.host
                )),
                Some(_) => None,
            };
        }
        // Saturating: a row's values are not trusted (a forged i64::MIN is simply very old).
        let silent = now.saturating_sub(other.heartbeat_at);
        (silent > LEASE.as_secs() as i64).then(|| {
            format!(
                "its runner (pid {} on {}) stopped heartbeating {silent} s ago (lease {} s)",
                other.pid,
                other.host,
                LEASE.as_secs()
            )
        })
    }
}

/// True when this process can see other users' processes in `/proc` (no `hidepid`), so that a
/// pid missing from it is a process that does not run.
fn processes_visible() -> bool {
    std::fs::metadata("/proc/1/stat").is_ok()
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

/// The boot id and the pid namespace of this process: two processes with the same key see the
/// same pids. None off Linux, where liveness falls back to the lease.
fn host_key() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(format!("{}/{}", boot.trim(), ns.display()))
}

/// The start time of `pid` in clock ticks since boot (field 22 of `/proc/<pid>/stat`), or None
/// when no such process runs (a zombie counts as gone).
fn process_start(pid: u32) -> Option<i64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces or parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// The heartbeat of this process in one database: registered once, refreshed every
/// [`HEARTBEAT_INTERVAL`]; beside it, a look for dead runners' runs every [`REAP_INTERVAL`] (a
/// task of its own, so that a slow look never delays a heartbeat). Both stop when this is
/// dropped; [`Heartbeat::stop`] also removes the runner's row.
#[derive(Debug)]
pub struct Heartbeat {
    store: Store,
    runner: Arc<Runner>,
    /// Heartbeats written since the start; read by [`Heartbeat::beats`].
    beats: Arc<AtomicU64>,
    tasks: [JoinHandle<()>; 2],
}

impl Heartbeat {
    /// Records the runner in `store` and starts its heartbeat and its reaper; `registry` holds
    /// this process's runs in flight (the reaper ends this runner's own rows that no run of the
    /// process holds any more: ends that could not be stored).
    pub async fn start(store: Store, runner: Arc<Runner>, registry: Registry) -> Result<Heartbeat, StoreError> {
        store.register_runner(&runner.row(now())).await?;
        let beats = Arc::new(AtomicU64::new(0));
        let (s, r, counter) = (store.clone(), runner.clone(), beats.clone());
        let beat = tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                counter.fetch_add(1, Ordering::Relaxed);
                match s.heartbeat_runner(&r.id).await {
                    Ok(true) => {}
                    // A reaper took this runner for dead (it did not heartbeat for the lease):
                    // record it again; runs still in flight will store their real end.
                    Ok(false) => {
                        tracing::warn!(runner = %r.id, "this runner's row was removed by another process; recording it again");
                        if let Err(e) = s.register_runner(&r.row(now())).await {
                            tracing::warn!(runner = %r.id, error = %e, "cannot record the runner");
                        }
                    }
                    Err(e) => tracing::warn!(runner = %r.id, error = %e, "heartbeat failed"),
                }
            }
        });
        let (s, r) = (store.clone(), runner.clone());
        let reap = tokio::spawn(async move {
            let mut tick = tokio::time::interval(REAP_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = reaper::reap(&s, &r, Some(&registry)).await {
                    tracing::warn!(error = %e, "looking for runs of dead runners failed");
                }
            }
        });
        Ok(Heartbeat { store, runner, beats, tasks: [beat, reap] })
    }

    /// How many heartbeats were written since the start (one per interval, whatever the
    /// number of runs in flight).
    pub fn beats(&self) -> u64 {
        self.beats.load(Ordering::Relaxed)
    }

    /// Stops the heartbeat and removes the runner's row (a clean exit).
    pub async fn stop(&self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Err(e) = self.store.remove_runner(&self.runner.id).await {
            tracing::debug!(error = %e, "cannot remove the runner's row");
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_start_time_and_a_host_key() {
        let me = Runner::current();
        assert!(me.process_start.is_some(), "reads /proc/self/stat");
        assert!(me.host_key.is_some());
        assert_eq!(process_start(me.pid), me.process_start);
    }

    #[test]
    fn a_runner_is_gone_when_its_pid_died_on_this_host_or_its_lease_lapsed_elsewhere() {
        let me = Runner::current();
        let t = now();
        let mut other = me.row(t);
        other.runner_id = "other".into();
        // Same process table, alive: this very process, even past the lease (a stopped
        // process is not dead).
        assert_eq!(me.gone(&other, t), None);
        assert_eq!(me.gone(&other, t + LEASE.as_secs() as i64 + 1), None);
        // A pid that does not run here: gone at once.
        other.pid = i64::from(u32::MAX - 7);
        assert!(me.gone(&other, t).unwrap().contains("no longer running"));
        // The same pid with another start time: reused.
        other.pid = i64::from(me.pid);
        other.process_start = me.process_start.map(|s| s + 1);
        assert!(me.gone(&other, t).unwrap().contains("another process"));
        // Another host: only the lease counts.
        other.host_key = Some("elsewhere".into());
        other.pid = i64::from(u32::MAX - 7);
        assert_eq!(me.gone(&other, t), None);
        assert!(me.gone(&other, t + LEASE.as_secs() as i64 + 1).unwrap().contains("stopped heartbeating"));
    }
}
