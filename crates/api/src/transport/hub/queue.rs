//! A subscriber's bounded queue of notices: the hub pushes without ever waiting, the
//! subscription takes them in order.
//!
//! Ten thousand idle streams hold ten thousand of these, so a queue is small: a lock, the
//! notices (nothing allocated until the first one arrives) and the waker of the subscription
//! waiting for one. A queue the hub let go (it was full) still hands out what it holds, then
//! says so ([`Received::LetGo`]).

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use super::Notice;

/// One subscriber's queue, shared by the hub and the subscription.
pub(super) struct Queue {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    notices: VecDeque<Notice>,
    /// The subscription waiting for a notice, if it is.
    waker: Option<Waker>,
    /// The hub let this queue go: nothing more will be pushed.
    let_go: bool,
}

/// What the subscription finds in its queue.
#[derive(Debug)]
pub(super) enum Received {
    Notice(Notice),
    /// Nothing yet.
    Empty,
    /// Nothing, and nothing more will come: the hub let the queue go.
    LetGo,
}

/// Why a push was refused.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Full;

impl Queue {
    pub(super) fn new() -> Self {
        Self {
            state: Mutex::new(State::default()),
        }
    }

    /// Queues `notice` unless `capacity` notices wait already; wakes the subscription.
    pub(super) fn push(&self, notice: Notice, capacity: usize) -> Result<(), Full> {
        let mut state = self.state();
        if state.notices.len() >= capacity {
            return Err(Full);
        }
        state.notices.push_back(notice);
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Lets the queue go: the subscription takes what it holds, then learns it.
    pub(super) fn let_go(&self) {
        let mut state = self.state();
        state.let_go = true;
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The next notice, without waiting.
    pub(super) fn take(&self) -> Received {
        let mut state = self.state();
        match state.notices.pop_front() {
            Some(notice) => Received::Notice(notice),
            None if state.let_go => Received::LetGo,
            None => Received::Empty,
        }
    }

    /// The next notice; `None` once the queue is let go and drained. Wakes `cx` when one comes.
    pub(super) fn poll_next(&self, cx: &Context<'_>) -> Poll<Option<Notice>> {
        let mut state = self.state();
        match state.notices.pop_front() {
            Some(notice) => Poll::Ready(Some(notice)),
            None if state.let_go => Poll::Ready(None),
            None => {
                match &mut state.waker {
                    Some(waker) => waker.clone_from(cx.waker()),
                    waiting @ None => *waiting = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }

    /// Every critical section leaves the state consistent, so a poisoned lock is still usable.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use futures_util::task::noop_waker;

    use super::*;

    fn poll(queue: &Queue) -> Poll<Option<Notice>> {
        let waker = noop_waker();
        queue.poll_next(&Context::from_waker(&waker))
    }

    #[test]
    fn notices_come_in_order_up_to_the_capacity() {
        let queue = Queue::new();
        assert_eq!(queue.push(Notice::Resync, 2), Ok(()));
        assert_eq!(queue.push(Notice::Lagged, 2), Ok(()));
        assert_eq!(queue.push(Notice::Resync, 2), Err(Full));
        assert!(matches!(poll(&queue), Poll::Ready(Some(Notice::Resync))));
        assert!(matches!(queue.take(), Received::Notice(Notice::Lagged)));
        assert!(matches!(queue.take(), Received::Empty));
        assert!(poll(&queue).is_pending());
    }

    #[test]
    fn a_queue_let_go_hands_out_what_it_holds_then_ends() {
        let queue = Queue::new();
        queue.push(Notice::Resync, 4).unwrap();
        queue.let_go();
        assert!(matches!(poll(&queue), Poll::Ready(Some(Notice::Resync))));
        assert!(matches!(poll(&queue), Poll::Ready(None)));
        assert!(matches!(queue.take(), Received::LetGo));
    }
}
