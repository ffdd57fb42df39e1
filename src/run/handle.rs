//! Runs as spawned tasks: [`spawn`] starts one and returns its [`RunHandle`] at once (its id, its
//! event stream, a cancel, its result). Dropping the handle cancels the run, which is then
//! stored CANCELLED by its own task. A run whose executor panics is still ended (ERROR, with the
//! panic's message) by the task that ran it.

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::{Event, EventKind, EventStream, Registry, RunError, RunOutput, Scope};

/// A run in flight. Dropping it cancels the run (a client that went away); [`RunHandle::result`]
/// waits for the end instead.
#[derive(Debug)]
pub struct RunHandle {
    run_id: String,
    session_id: String,
    /// The run tree's events; None for member and step runs, which report into their root's.
    events: Option<EventStream>,
    token: CancellationToken,
    /// Cancels the run when the handle is dropped.
    _guard: DropGuard,
    /// Fires once the RUNNING row exists; taken by [`RunHandle::started`].
    started: Option<oneshot::Receiver<()>>,
    /// The run's own terminal event was returned by [`RunHandle::next_event`] (and, when work
    /// follows the run, that work is done).
    ended: bool,
    /// The run said work follows its end ([`EventKind::AfterRun`]).
    after: bool,
    join: JoinHandle<Result<RunOutput, RunError>>,
    /// The result, when the task was joined already (by `started`).
    outcome: Option<Result<RunOutput, RunError>>,
}

/// Starts `work`, the run of `scope`, in a task of its own, registered in `registry` while it
/// runs. `events` is the stream of a top-level run (None for member and step runs); `started`
/// fires when the run's row exists.
pub fn spawn<F>(
    registry: &Registry,
    scope: Scope,
    events: Option<EventStream>,
    started: oneshot::Receiver<()>,
    work: F,
) -> RunHandle
where
    F: std::future::Future<Output = Result<RunOutput, RunError>> + Send + 'static,
{
    let registration = registry.insert(&scope);
    let token = scope.cancel_token().clone();
    let (run_id, session_id) = (scope.run_id().to_string(), scope.session_id().to_string());
    let join = tokio::spawn(async move {
        let _registered = registration;
        match AssertUnwindSafe(work).catch_unwind().await {
            Ok(result) => result,
            Err(panic) => {
                let text = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into());
                let message = format!("internal error: {text}");
                tracing::error!(run_id = scope.run_id(), %message, "a run panicked; ending it as ERROR");
                // Its row may exist: end it, if it is still in flight.
                if let Err(e) = scope.store().reap_run(scope.run_id(), &message, None).await {
                    tracing::error!(run_id = scope.run_id(), error = %e, "cannot store the panicked run as ERROR");
                }
                scope.emit(EventKind::RunError { message: message.clone() });
                Err(RunError::Internal {
                    run_id: scope.run_id().to_string(),
                    session_id: scope.session_id().to_string(),
                    message,
                })
            }
        }
    });
    RunHandle {
        run_id,
        session_id,
        events,
        _guard: token.clone().drop_guard(),
        token,
        started: Some(started),
        ended: false,
        after: false,
        join,
        outcome: None,
    }
}

impl RunHandle {
    /// The run's id, known before it starts.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Its session's id.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// Waits until the run's row exists; when the run could not start (refused session,
    /// database unavailable), returns why.
    pub async fn started(mut self) -> Result<Self, RunError> {
        let Some(mut started) = self.started.take() else { return Ok(self) };
        // The run's task may end without saying it started (and without dropping every clone
        // of its scope, when a tool keeps one): whichever comes first.
        let ended = tokio::select! {
            // Biased: a run that started and already ended (a fast one) started.
            biased;
            said = &mut started => if said.is_ok() { return Ok(self) } else { None },
            joined = &mut self.join => Some(joined),
        };
        let joined = match ended {
            Some(j) => j,
            None => (&mut self.join).await,
        };
        // A fast run on another worker thread can end before this task sees its start: what
        // it said is still in the channel. It started; its result is kept for `result`.
        if started.try_recv().is_ok() {
            self.outcome = Some(match joined {
                Ok(r) => r,
                Err(e) => Err(self.join_error(&e)),
            });
            return Ok(self);
        }
        match joined {
            Ok(Err(e)) => Err(e),
            Ok(Ok(_)) => Err(RunError::Internal {
                run_id: self.run_id.clone(),
                session_id: self.session_id.clone(),
                message: "the run ended without starting".into(),
            }),
            Err(e) => Err(self.join_error(&e)),
        }
    }

    /// The next event of the run tree, or None once the run itself has ended (its terminal
    /// event was the last one returned, or, when work follows the run — its memory update, its
    /// summary —, the events of that work were) or every sender is gone. Member runs report
    /// into the same stream with their own run ids: a member's terminal event does not end it.
    /// Always None for member and step runs (their events go to the root's stream).
    pub async fn next_event(&mut self) -> Option<Event> {
        loop {
            if self.ended {
                return None;
            }
            let event = self.events.as_mut()?.recv().await?;
            if event.run_id == self.run_id {
                match event.kind {
                    EventKind::AfterRun => {
                        self.after = true;
                        continue;
                    }
                    EventKind::AfterRunDone => {
                        self.ended = true;
                        return None;
                    }
                    ref k if k.is_terminal() && !self.after => self.ended = true,
                    _ => {}
                }
            } else if matches!(event.kind, EventKind::AfterRun | EventKind::AfterRunDone) {
                continue;
            }
            return Some(event);
        }
    }

    /// Takes the event stream, to read it elsewhere. The handle still controls the run:
    /// dropping it cancels the run, so keep it (or await [`RunHandle::result`]) while the
    /// stream is read.
    pub fn take_events(&mut self) -> Option<EventStream> {
        self.events.take()
    }

    /// Cancels the run; it ends as CANCELLED (a no-op once it has ended).
    pub fn cancel(&self) {
        self.token.cancel();
    }

    /// The run's cancel token (a signal handler may hold it).
    pub fn cancel_token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Waits for the run to end and returns its result; events not read yet are dropped. If
    /// this future is dropped before the end, the run is cancelled.
    pub async fn result(mut self) -> Result<RunOutput, RunError> {
        self.events = None;
        if let Some(outcome) = self.outcome.take() {
            return outcome;
        }
        match (&mut self.join).await {
            Ok(r) => r,
            Err(e) => Err(self.join_error(&e)),
        }
    }

    /// Waits for the run to end, keeping the handle (and its event stream: what follows the
    /// run's end, its memory update and summary, can still be read). The result is kept for
    /// [`RunHandle::result`].
    pub async fn wait(&mut self) -> &Result<RunOutput, RunError> {
        let joined = match self.outcome.take() {
            Some(o) => o,
            None => match (&mut self.join).await {
                Ok(r) => r,
                Err(e) => Err(self.join_error(&e)),
            },
        };
        self.outcome.insert(joined)
    }

    fn join_error(&self, e: &tokio::task::JoinError) -> RunError {
        RunError::Internal {
            run_id: self.run_id.clone(),
            session_id: self.session_id.clone(),
            message: format!("the run's task ended abnormally: {e}"),
        }
    }
}
