//! The runs in flight in this process, by id: what cancels a run by id (an HTTP cancel, a
//! shutdown), and what tells when the process has none left.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{Component, Scope};
use crate::store::now;

/// Runs in flight in this process. Clones share the map; entries are added by
/// [`super::spawn`] and removed when the run's task ends.
#[derive(Clone, Default)]
pub struct Registry {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// std mutex: held only to insert, remove or copy an entry, never across an await.
    runs: Mutex<HashMap<String, Entry>>,
    /// Woken whenever a run leaves the map, or work after a run ends.
    removed: Notify,
    /// Work going on after runs ended (memory updates, summaries).
    after: Mutex<usize>,
    /// Cancels that work (a shutdown past its grace).
    after_cancel: CancellationToken,
}

struct Entry {
    info: InFlight,
    cancel: CancellationToken,
}

/// A run in flight, as the registry lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    /// Run id.
    pub run_id: String,
    /// Its session.
    pub session_id: String,
    /// What runs.
    pub component: Component,
    /// Its parent, for member and step runs.
    pub parent_run_id: Option<String>,
    /// The caller.
    pub user_id: Option<String>,
    /// When it was spawned (epoch seconds).
    pub started_at: i64,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("in_flight", &self.len()).finish()
    }
}

/// Removes its run from the registry when dropped (when the run's task ends, however it ends).
pub(super) struct Registration {
    inner: Arc<Inner>,
    run_id: String,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut runs) = self.inner.runs.lock() {
            runs.remove(&self.run_id);
        }
        self.inner.removed.notify_waiters();
    }
}

/// Work after a run, held in the registry until dropped.
pub struct AfterRunHold {
    inner: Arc<Inner>,
}

impl Drop for AfterRunHold {
    fn drop(&mut self) {
        if let Ok(mut n) = self.inner.after.lock() {
            *n = n.saturating_sub(1);
        }
        self.inner.removed.notify_waiters();
    }
}

impl Registry {
    pub(super) fn insert(&self, scope: &Scope) -> Registration {
        let info = InFlight {
            run_id: scope.run_id().to_string(),
            session_id: scope.session_id().to_string(),
            component: scope.component().clone(),
            parent_run_id: scope.parent_run_id().map(str::to_string),
            user_id: scope.user_id().map(str::to_string),
            started_at: now(),
        };
        if let Ok(mut runs) = self.inner.runs.lock() {
            runs.insert(info.run_id.clone(), Entry { info, cancel: scope.cancel_token().clone() });
        }
        Registration { inner: self.inner.clone(), run_id: scope.run_id().to_string() }
    }

    /// Cancels the run `run_id` (and its member runs); false when it is not in flight here.
    pub fn cancel(&self, run_id: &str) -> bool {
        let token = self.inner.runs.lock().ok().and_then(|runs| runs.get(run_id).map(|e| e.cancel.clone()));
        token.map(|t| t.cancel()).is_some()
    }

    /// Holds work that goes on after a run ended: [`Registry::idle`] waits for it too. The
    /// token is cancelled by [`Registry::cancel_all`].
    pub fn hold_after_run(&self) -> (AfterRunHold, CancellationToken) {
        if let Ok(mut n) = self.inner.after.lock() {
            *n += 1;
        }
        (AfterRunHold { inner: self.inner.clone() }, self.inner.after_cancel.clone())
    }

    /// How many pieces of work after runs are going on.
    pub fn after_runs(&self) -> usize {
        self.inner.after.lock().map(|n| *n).unwrap_or(0)
    }

    /// Cancels every run in flight (a shutdown).
    pub fn cancel_all(&self) {
        self.inner.after_cancel.cancel();
        let tokens: Vec<CancellationToken> =
            self.inner.runs.lock().map(|runs| runs.values().map(|e| e.cancel.clone()).collect()).unwrap_or_default();
        for t in tokens {
            t.cancel();
        }
    }

    /// The run `run_id`, when in flight here.
    pub fn get(&self, run_id: &str) -> Option<InFlight> {
        self.inner.runs.lock().ok()?.get(run_id).map(|e| e.info.clone())
    }

    /// Every run in flight, oldest first.
    pub fn list(&self) -> Vec<InFlight> {
        let mut all: Vec<InFlight> =
            self.inner.runs.lock().map(|runs| runs.values().map(|e| e.info.clone()).collect()).unwrap_or_default();
        all.sort_by(|a, b| a.started_at.cmp(&b.started_at).then_with(|| a.run_id.cmp(&b.run_id)));
        all
    }

    /// How many runs are in flight.
    pub fn len(&self) -> usize {
        self.inner.runs.lock().map(|r| r.len()).unwrap_or(0)
    }

    /// True when no run is in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until no run is in flight and no work after a run is going on.
    pub async fn idle(&self) {
        loop {
            let notified = self.inner.removed.notified();
            if self.is_empty() && self.after_runs() == 0 {
                return;
            }
            notified.await;
        }
    }
}
