//! One CometD session and the registry of all of them: subscriptions, the bounded queue of
//! rendered data messages, the fault-injection hold slot, and the bookkeeping that decides when
//! an idle session expires.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::UserKey;
use crate::cometd::channel;
use crate::server::faults::PublishFault;

/// A data message rendered once per publish (`{"channel":..,"data":..}`) and shared by every
/// session that receives it.
pub(super) type Rendered = Arc<str>;

/// How many patterns one session may hold. Real clients subscribe one or two (`/v2/me/*`,
/// `/**`); the cap keeps a misbehaving client from growing a session without bound.
pub(super) const MAX_SUBSCRIPTIONS: usize = 64;

/// Locks a std mutex, recovering the data if another thread panicked while holding it. Every
/// critical section in this module leaves the state consistent between statements, so the data
/// behind a poisoned lock is still sound; refusing it would turn one bug into a dead server.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why a session ended. Anything but a client's own disconnect looks the same to the client:
/// `402::Unknown client`, handshake again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    Disconnected,
    Expired,
}

pub(super) struct Session {
    pub(super) id: Arc<str>,
    pub(super) user: UserKey,
    /// Wakes whoever serves this session (a held long-poll connect, or the websocket task) when
    /// data is queued, a newer connect arrives, or the session ends. Waiters always create their
    /// `Notified` before they inspect the state, and every waker calls `notify_waiters`, so no
    /// wake-up is lost and every waiter sees it.
    pub(super) notify: Notify,
    /// A std mutex, not a tokio one: every critical section is a few field updates, none spans an
    /// `.await`, and `Hub::publish` must take it from synchronous code (under the caller's own
    /// state lock) without blocking on IO.
    pub(super) state: Mutex<SessionState>,
}

impl Session {
    pub(super) fn new(id: Arc<str>, user: UserKey, now: Instant) -> Session {
        Session { id, user, notify: Notify::new(), state: Mutex::new(SessionState::new(now)) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SubscribeError {
    TooMany,
}

/// What a publish fault did to a message on its way into a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Delivery {
    /// Something was queued: wake the session.
    Queued,
    /// Nothing was queued (dropped, or parked in the swap slot).
    Nothing,
    /// Deliver later; the caller owns the timer.
    Later(Duration),
    /// The queue is full: the session must be dropped.
    Overflow,
}

pub(super) struct SessionState {
    subscriptions: Vec<Box<str>>,
    queue: VecDeque<Rendered>,
    /// A message held back by `PublishFault::SwapWithNext`, released right after the next one.
    swap_slot: Option<Rendered>,
    /// Whether a `/meta/connect` has been seen: the first one is answered at once.
    pub(super) connected: bool,
    /// Bumped by every `/meta/connect`; a held connect whose generation is no longer current has
    /// been superseded and is answered at once.
    pub(super) connect_gen: u64,
    /// Long-poll connects currently held.
    pub(super) holds: u32,
    /// Websockets currently serving this session.
    pub(super) sockets: u32,
    /// When the session last stopped being served (handshake, a connect returning, a socket
    /// closing): the start of its `maxInterval` grace period.
    pub(super) last_active: Instant,
    pub(super) end: Option<End>,
}

impl SessionState {
    fn new(now: Instant) -> SessionState {
        SessionState {
            subscriptions: Vec::new(),
            queue: VecDeque::new(),
            swap_slot: None,
            connected: false,
            connect_gen: 0,
            holds: 0,
            sockets: 0,
            last_active: now,
            end: None,
        }
    }

    pub(super) fn is_subscribed(&self, channel_name: &str) -> bool {
        self.subscriptions.iter().any(|p| channel::matches(p, channel_name))
    }

    pub(super) fn subscribe(&mut self, pattern: &str) -> Result<(), SubscribeError> {
        if self.subscriptions.iter().any(|p| &**p == pattern) {
            return Ok(());
        }
        if self.subscriptions.len() >= MAX_SUBSCRIPTIONS {
            return Err(SubscribeError::TooMany);
        }
        self.subscriptions.push(pattern.into());
        Ok(())
    }

    pub(super) fn unsubscribe(&mut self, pattern: &str) {
        self.subscriptions.retain(|p| &**p != pattern);
    }

    pub(super) fn has_data(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Queues `message`, or reports that the queue is full.
    pub(super) fn enqueue(&mut self, message: Rendered, max_queue: usize) -> Delivery {
        if self.queue.len() >= max_queue {
            return Delivery::Overflow;
        }
        self.queue.push_back(message);
        Delivery::Queued
    }

    /// Applies one publish fault to `message` (see `PublishFault`).
    pub(super) fn deliver(
        &mut self,
        message: Rendered,
        fault: PublishFault,
        max_queue: usize,
    ) -> Delivery {
        let first = match fault {
            PublishFault::Drop => return Delivery::Nothing,
            PublishFault::Delay(after) => return Delivery::Later(after),
            PublishFault::SwapWithNext if self.swap_slot.is_none() => {
                self.swap_slot = Some(message);
                return Delivery::Nothing;
            }
            // A swap requested while another message is parked: this one is "the next", so
            // delivering it now and the parked one after it completes that swap.
            PublishFault::SwapWithNext | PublishFault::Deliver => self.enqueue(message, max_queue),
            PublishFault::Duplicate => match self.enqueue(message.clone(), max_queue) {
                Delivery::Queued => self.enqueue(message, max_queue),
                other => other,
            },
        };
        if first != Delivery::Queued {
            return first;
        }
        match self.swap_slot.take() {
            Some(parked) => self.enqueue(parked, max_queue),
            None => Delivery::Queued,
        }
    }

    /// Takes everything queued, in order. With `release_slot`, a message parked by a swap fault
    /// that no later message came to overtake is released too, so a swap never becomes a loss.
    pub(super) fn take_queue(&mut self, release_slot: bool) -> Vec<Rendered> {
        let mut out: Vec<Rendered> = self.queue.drain(..).collect();
        if release_slot {
            out.extend(self.swap_slot.take());
        }
        // A queue that once held a burst keeps its capacity; give it back so 10,000 idle
        // sessions stay small.
        if self.queue.capacity() > 64 {
            self.queue.shrink_to(16);
        }
        out
    }

    /// Takes up to `max` queued messages, in order (the swap slot stays parked).
    pub(super) fn take_batch(&mut self, max: usize) -> Vec<Rendered> {
        let n = self.queue.len().min(max);
        let out: Vec<Rendered> = self.queue.drain(..n).collect();
        if self.queue.is_empty() && self.queue.capacity() > 64 {
            self.queue.shrink_to(16);
        }
        out
    }

    /// Ends the session and frees what it holds. Queued data is kept for a clean disconnect
    /// (the held connect still delivers it) and dropped otherwise.
    pub(super) fn end(&mut self, end: End) {
        if self.end.is_none() {
            self.end = Some(end);
        }
        self.subscriptions = Vec::new();
        if end != End::Disconnected {
            self.queue = VecDeque::new();
            self.swap_slot = None;
        }
    }

    /// Whether the session has gone unserved for longer than `max_interval`.
    pub(super) fn is_idle(&self, now: Instant, max_interval: Duration) -> bool {
        self.holds == 0
            && self.sockets == 0
            && now.saturating_duration_since(self.last_active) > max_interval
    }
}

/// Every live session, by clientId and by user. Lock order: the registry before any session.
#[derive(Default)]
pub(super) struct Registry {
    sessions: HashMap<Arc<str>, Arc<Session>>,
    by_user: HashMap<UserKey, Vec<Arc<Session>>>,
    /// Users whose last session expired unserved, not yet told to the contact center (at most
    /// one entry per user).
    orphaned: Vec<UserKey>,
    /// Since when each orphaned user has had no session, until it opens one or is given up
    /// for gone (`take_vanished`); at most one entry per user.
    vanishing: HashMap<UserKey, Instant>,
}

impl Registry {
    pub(super) fn insert(&mut self, session: Arc<Session>) {
        self.by_user.entry(session.user).or_default().push(session.clone());
        self.sessions.insert(session.id.clone(), session);
    }

    /// The session `client_id` if it exists and belongs to `user`.
    pub(super) fn get(&self, user: UserKey, client_id: &str) -> Option<&Arc<Session>> {
        self.sessions.get(client_id).filter(|s| s.user == user)
    }

    pub(super) fn remove(&mut self, client_id: &str) -> Option<Arc<Session>> {
        let session = self.sessions.remove(client_id)?;
        if let Some(list) = self.by_user.get_mut(&session.user) {
            list.retain(|s| !Arc::ptr_eq(s, &session));
            if list.is_empty() {
                self.by_user.remove(&session.user);
            }
        }
        Some(session)
    }

    /// `user`'s session expired unserved at `now`: if it was the user's last, the user is
    /// orphaned.
    pub(super) fn expired(&mut self, user: UserKey, now: Instant) {
        if !self.of_user(user).is_empty() {
            return;
        }
        if !self.orphaned.contains(&user) {
            self.orphaned.push(user);
        }
        self.vanishing.entry(user).or_insert(now);
    }

    /// The users orphaned for `after` or longer by `now` without opening a session since: given
    /// up for gone, each once. A user that opened one meanwhile is forgotten here.
    pub(super) fn take_vanished(&mut self, now: Instant, after: Duration) -> Vec<UserKey> {
        let by_user = &self.by_user;
        self.vanishing.retain(|u, _| !by_user.contains_key(u));
        let mut gone: Vec<UserKey> = self
            .vanishing
            .iter()
            .filter(|(_, since)| now.saturating_duration_since(**since) >= after)
            .map(|(u, _)| *u)
            .collect();
        gone.sort_unstable();
        for u in &gone {
            self.vanishing.remove(u);
        }
        gone
    }

    /// The orphaned users that still have no session (one that handshook since is not).
    pub(super) fn take_orphaned(&mut self) -> Vec<UserKey> {
        let orphaned = std::mem::take(&mut self.orphaned);
        orphaned.into_iter().filter(|u| self.of_user(*u).is_empty()).collect()
    }

    pub(super) fn of_user(&self, user: UserKey) -> &[Arc<Session>] {
        self.by_user.get(&user).map(Vec::as_slice).unwrap_or(&[])
    }

    pub(super) fn all(&self) -> impl Iterator<Item = &Arc<Session>> {
        self.sessions.values()
    }

    pub(super) fn len(&self) -> usize {
        self.sessions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(s: &str) -> Rendered {
        Arc::from(s)
    }

    fn state() -> SessionState {
        SessionState::new(Instant::now())
    }

    #[test]
    fn faults_drop_duplicate_and_swap() {
        let mut st = state();
        assert_eq!(st.deliver(msg("a"), PublishFault::Drop, 10), Delivery::Nothing);
        assert_eq!(st.deliver(msg("b"), PublishFault::Duplicate, 10), Delivery::Queued);
        assert_eq!(st.deliver(msg("c"), PublishFault::SwapWithNext, 10), Delivery::Nothing);
        assert_eq!(st.deliver(msg("d"), PublishFault::Deliver, 10), Delivery::Queued);
        let taken: Vec<String> = st.take_queue(false).iter().map(|m| m.to_string()).collect();
        assert_eq!(taken, ["b", "b", "d", "c"]);
    }

    #[test]
    fn batches_are_taken_in_order() {
        let mut st = state();
        for m in ["a", "b", "c"] {
            st.enqueue(msg(m), 10);
        }
        let first: Vec<String> = st.take_batch(2).iter().map(|m| m.to_string()).collect();
        assert_eq!(first, ["a", "b"]);
        assert_eq!(st.take_batch(2).len(), 1);
        assert!(!st.has_data());
    }

    #[test]
    fn parked_swap_is_released_when_asked() {
        let mut st = state();
        st.deliver(msg("a"), PublishFault::SwapWithNext, 10);
        assert!(st.take_queue(false).is_empty());
        assert_eq!(st.take_queue(true).len(), 1);
    }

    #[test]
    fn queue_overflow_is_reported() {
        let mut st = state();
        assert_eq!(st.deliver(msg("a"), PublishFault::Deliver, 1), Delivery::Queued);
        assert_eq!(st.deliver(msg("b"), PublishFault::Deliver, 1), Delivery::Overflow);
        assert_eq!(st.take_queue(false).len(), 1);
        assert_eq!(st.deliver(msg("c"), PublishFault::Duplicate, 2), Delivery::Queued);
        assert_eq!(st.deliver(msg("d"), PublishFault::Duplicate, 3), Delivery::Overflow);
    }

    #[test]
    fn subscriptions_are_deduplicated_and_capped() {
        let mut st = state();
        assert_eq!(st.subscribe("/v2/me/*"), Ok(()));
        assert_eq!(st.subscribe("/v2/me/*"), Ok(()));
        assert!(st.is_subscribed("/v2/me/chats"));
        st.unsubscribe("/v2/me/*");
        assert!(!st.is_subscribed("/v2/me/chats"));
        for i in 0..MAX_SUBSCRIPTIONS {
            assert_eq!(st.subscribe(&format!("/c/{i}")), Ok(()));
        }
        assert_eq!(st.subscribe("/c/x"), Err(SubscribeError::TooMany));
    }

    #[test]
    fn idle_only_when_unserved_past_max_interval() {
        let t0 = Instant::now();
        let mut st = SessionState::new(t0);
        let max = Duration::from_secs(10);
        assert!(!st.is_idle(t0 + Duration::from_secs(10), max));
        assert!(st.is_idle(t0 + Duration::from_secs(11), max));
        st.holds = 1;
        assert!(!st.is_idle(t0 + Duration::from_secs(11), max));
        st.holds = 0;
        st.sockets = 1;
        assert!(!st.is_idle(t0 + Duration::from_secs(11), max));
    }

    #[test]
    fn registry_keeps_users_apart() {
        let mut reg = Registry::default();
        let now = Instant::now();
        reg.insert(Arc::new(Session::new(Arc::from("a"), 1, now)));
        reg.insert(Arc::new(Session::new(Arc::from("b"), 2, now)));
        assert!(reg.get(1, "a").is_some());
        assert!(reg.get(2, "a").is_none());
        assert_eq!(reg.of_user(1).len(), 1);
        assert!(reg.remove("a").is_some());
        assert!(reg.of_user(1).is_empty());
        assert_eq!(reg.len(), 1);
    }

    #[test]
    fn a_user_is_orphaned_when_its_last_session_expires() {
        let mut reg = Registry::default();
        let now = Instant::now();
        for (id, user) in [("a", 1), ("b", 1), ("c", 2)] {
            reg.insert(Arc::new(Session::new(Arc::from(id), user, now)));
        }
        reg.remove("a");
        reg.expired(1, now);
        assert!(reg.take_orphaned().is_empty(), "user 1 still has a session");
        reg.remove("b");
        reg.expired(1, now);
        reg.expired(1, now);
        reg.remove("c");
        reg.expired(2, now);
        // User 2 handshook again before the contact center was told: not orphaned any more.
        reg.insert(Arc::new(Session::new(Arc::from("d"), 2, now)));
        assert_eq!(reg.take_orphaned(), vec![1]);
        assert!(reg.take_orphaned().is_empty(), "each is given once");
    }

    /// A user orphaned for the grace period is given up for gone, once; one that opened a
    /// session meanwhile is not.
    #[test]
    fn an_orphaned_user_is_gone_after_the_grace_period_unless_it_came_back() {
        let mut reg = Registry::default();
        let t0 = Instant::now();
        let grace = Duration::from_secs(20);
        for (id, user) in [("a", 1), ("b", 2)] {
            reg.insert(Arc::new(Session::new(Arc::from(id), user, t0)));
        }
        reg.remove("a");
        reg.expired(1, t0);
        reg.remove("b");
        reg.expired(2, t0 + Duration::from_secs(1));
        assert!(reg.take_vanished(t0 + Duration::from_secs(19), grace).is_empty());
        // User 2 handshook again before its grace ran out.
        reg.insert(Arc::new(Session::new(Arc::from("c"), 2, t0)));
        let late = t0 + Duration::from_secs(30);
        assert_eq!(reg.take_vanished(late, grace), vec![1]);
        assert!(reg.take_vanished(late, grace).is_empty(), "each is given once");
        // User 2's session expires in its turn: its grace starts afresh.
        reg.remove("c");
        reg.expired(2, late);
        assert!(reg.take_vanished(late + Duration::from_secs(10), grace).is_empty());
        assert_eq!(reg.take_vanished(late + grace, grace), vec![2]);
    }
}
