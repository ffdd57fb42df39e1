//! The event stream of one run tree: many senders (the root run, its member and step runs), one
//! consumer (a terminal, an HTTP response). Sending never blocks a run; to keep a consumer that
//! stops reading (a stalled HTTP client) from making the queue grow by one event per model
//! delta, a text piece sent while many events wait unread is appended to the last unread text
//! of the same run instead. The queue then holds about the text itself, which the run bounds
//! (`max_reply_bytes`, the run's byte limit), plus a bounded number of other events.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::{Event, EventKind};

/// Unread events past which text pieces are merged.
const MERGE_AFTER: usize = 1024;
/// How far back a text piece looks for its run's last unread event.
const MERGE_LOOKBACK: usize = 64;

#[derive(Default)]
struct Queue {
    state: Mutex<State>,
    ready: Notify,
}

#[derive(Default)]
struct State {
    events: VecDeque<Event>,
    senders: usize,
    /// The consumer went away: events are dropped.
    closed: bool,
}

impl Queue {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Where the runs of one tree report their events (cheap to clone).
pub struct EventSink(Arc<Queue>);

/// The consumer's end of an [`EventSink`].
pub struct EventStream(Arc<Queue>);

/// A new stream: its sender and its consumer.
pub fn channel() -> (EventSink, EventStream) {
    let queue = Arc::new(Queue::default());
    queue.state().senders = 1;
    (EventSink(queue.clone()), EventStream(queue))
}

impl EventSink {
    /// Queues `event`; false (and dropped) when the consumer went away.
    pub fn send(&self, event: Event) -> bool {
        let mut s = self.0.state();
        if s.closed {
            return false;
        }
        if s.events.len() >= MERGE_AFTER
            && let EventKind::Content(text) = &event.kind
            && let Some(last) = s.events.iter_mut().rev().take(MERGE_LOOKBACK).find(|e| e.run_id == event.run_id)
            && let EventKind::Content(unread) = &mut last.kind
        {
            unread.push_str(text);
            return true;
        }
        s.events.push_back(event);
        drop(s);
        self.0.ready.notify_one();
        true
    }
}

impl Clone for EventSink {
    fn clone(&self) -> Self {
        self.0.state().senders += 1;
        EventSink(self.0.clone())
    }
}

impl Drop for EventSink {
    fn drop(&mut self) {
        let last = {
            let mut s = self.0.state();
            s.senders -= 1;
            s.senders == 0
        };
        if last {
            self.0.ready.notify_one();
        }
    }
}

impl EventStream {
    /// The next event; None once every sender is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<Event> {
        loop {
            {
                let mut s = self.0.state();
                if let Some(e) = s.events.pop_front() {
                    return Some(e);
                }
                if s.senders == 0 {
                    return None;
                }
            }
            // A send between the check and here leaves a permit: this returns at once.
            self.0.ready.notified().await;
        }
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        let mut s = self.0.state();
        s.closed = true;
        s.events.clear();
    }
}

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSink").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").field("unread", &self.0.state().events.len()).finish()
    }
}
