//! CometD (Bayeux 1.0) endpoint of the reference server: sessions, subscriptions, per-session
//! queues, long-polling and websocket transports (protocol.md §3, §15 items 6 and 25, §16).
//!
//! # Layout
//! - this file: the [`Hub`] (public API), the meta channels both transports share, publishing
//!   with fault injection, and expiry;
//! - `session`: one session's state and the registry of all sessions;
//! - `reply`: the replies and the rendering of reply arrays;
//! - `longpoll` and `websocket`: the two transports.
//!
//! # Concurrency
//! The registry and each session sit behind their own std `Mutex` (lock order: registry, then
//! session). Nothing is ever awaited while one is held, and [`Hub::publish`] is synchronous so the
//! state machine can call it under its own lock; a held connect or a websocket task waits on the
//! session's `Notify`. Requests of one client are never serialised against each other: a
//! subscribe can run while that client's connect is held.

mod longpoll;
mod reply;
mod session;
mod websocket;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::cometd::{Message, channel};
use crate::server::faults::{ConnectFault, ConnectInfo, ConnectTransport, FaultInjector};

use reply::Part;
use session::{Delivery, End, Registry, Rendered, Session, SubscribeError, lock};

/// The authenticated user (index in the user directory).
pub type UserKey = u32;

/// Tuning of the CometD endpoint.
#[derive(Debug, Clone)]
pub struct BayeuxConfig {
    /// How long a `/meta/connect` is held (advertised as `advice.timeout`).
    pub timeout: Duration,
    /// How long a session may go unserved (no connect held, no socket open) before it is dropped.
    pub max_interval: Duration,
    /// Data messages one session may have queued; one more drops the session.
    pub max_queue: usize,
    /// Websocket read buffer per socket, in bytes.
    pub ws_read_buffer: usize,
    /// Websocket write buffer per socket, in bytes.
    pub ws_write_buffer: usize,
    /// Largest websocket message (and frame) accepted from a client, in bytes.
    pub ws_max_message: usize,
    /// How long a user whose last session expired may stay without one before the server gives
    /// it up for gone: its contact-center session ends and it leaves every interaction
    /// (docs/faults.md, "A vanished agent").
    pub vanished_after: Duration,
}

impl Default for BayeuxConfig {
    fn default() -> Self {
        BayeuxConfig {
            timeout: Duration::from_secs(30),
            max_interval: Duration::from_secs(10),
            max_queue: 10_000,
            // Small buffers: 10,000 idle sockets must not cost 128 KiB each (design.md).
            ws_read_buffer: 4 * 1024,
            ws_write_buffer: 4 * 1024,
            ws_max_message: 64 * 1024,
            // Twice maxInterval: a client that is only late has had time to handshake again.
            vanished_after: Duration::from_secs(20),
        }
    }
}

/// A request the endpoint cannot read at all (the HTTP shell answers 400 with statusCode 1).
#[derive(Debug, thiserror::Error)]
pub enum BayeuxError {
    #[error("malformed bayeux message: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("empty bayeux message batch")]
    EmptyBatch,
}

/// The CometD endpoint: every session of every user.
pub struct Hub {
    config: BayeuxConfig,
    faults: Arc<dyn FaultInjector>,
    /// Whether the injector stalls (its `stall` hook is asked before each websocket frame).
    stalls: bool,
    shutdown: CancellationToken,
    /// Shared with the timers of delayed deliveries, which outlive the `publish` call.
    registry: Arc<Mutex<Registry>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("config", &self.config)
            .field("sessions", &self.session_count())
            .finish_non_exhaustive()
    }
}

/// The current time. Read through tokio so that tests with paused time move it.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// How a `/meta/connect` proceeds after the checks common to both transports.
enum ConnectStart {
    /// Answered at once (unknown client, or a session expired by fault injection).
    Reply(Box<Message>),
    /// Fault injection: drop the connection.
    Drop(Arc<Session>),
    /// Serve it: answer at once (`hold == false`) or hold it.
    Serve { session: Arc<Session>, hold: bool, generation: u64 },
    /// Fault injection (long-polling): hold it unanswered until it is superseded.
    Starve { session: Arc<Session>, generation: u64 },
}

impl Hub {
    /// A hub with no sessions. `shutdown` ends held connects, websockets, delayed deliveries and
    /// [`Hub::run_expiry`].
    pub fn new(
        config: BayeuxConfig,
        faults: Arc<dyn FaultInjector>,
        shutdown: CancellationToken,
    ) -> Arc<Hub> {
        let stalls = faults.hooks().stalls;
        Arc::new(Hub { config, faults, stalls, shutdown, registry: Arc::default() })
    }

    /// Queue a data message for every session of `user` subscribed (by pattern) to `channel`.
    /// Synchronous, cheap, never blocks on IO; called while the caller holds its own state lock,
    /// so per-session order == call order. `data_json` is already-serialized JSON of the `data`
    /// object; it is rendered into `{"channel":..,"data":..}` once and shared between sessions.
    /// Returns how many sessions took it (queued, or on a timer of their own).
    pub fn publish(&self, user: UserKey, channel: &str, data_json: &str) -> usize {
        let mut registry = lock(&self.registry);
        let mut taken = 0;
        let mut rendered: Option<Rendered> = None;
        let mut overflowed: Vec<Arc<Session>> = Vec::new();
        for session in registry.of_user(user) {
            let (message, delivery) = {
                let mut st = lock(&session.state);
                if st.end.is_some() || !st.is_subscribed(channel) {
                    continue;
                }
                let message =
                    rendered.get_or_insert_with(|| reply::data(channel, data_json)).clone();
                let fault = self.faults.on_publish(&session.id, channel);
                (message.clone(), st.deliver(message, fault, self.config.max_queue))
            };
            let delivery = match delivery {
                Delivery::Later(after) => self.deliver_later(session, message, after),
                other => other,
            };
            match delivery {
                Delivery::Queued => {
                    taken += 1;
                    session.notify.notify_waiters();
                }
                Delivery::Later(_) => taken += 1,
                Delivery::Overflow => overflowed.push(session.clone()),
                Delivery::Nothing => {}
            }
        }
        for session in overflowed {
            tracing::debug!(client_id = %session.id, "bayeux queue overflow, dropping session");
            registry.remove(&session.id);
            end_session(&session, End::Expired);
        }
        taken
    }

    /// A delayed delivery (fault injection): a timer task that queues the message later, unless
    /// the session has ended or the server is shutting down by then. Called by `publish` with the
    /// registry locked; returns what happened now (`Later` when the timer owns the message).
    fn deliver_later(
        &self,
        session: &Arc<Session>,
        message: Rendered,
        after: Duration,
    ) -> Delivery {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // Outside a runtime (a synchronous caller) there is no timer to use: deliver now
            // rather than lose the message.
            return lock(&session.state).enqueue(message, self.config.max_queue);
        };
        let registry = self.registry.clone();
        let weak = Arc::downgrade(session);
        let max_queue = self.config.max_queue;
        let shutdown = self.shutdown.clone();
        runtime.spawn(async move {
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = tokio::time::sleep(after) => deliver_delayed(&registry, &weak, message, max_queue),
            }
        });
        Delivery::Later(after)
    }

    /// Drops every session that has gone unserved for longer than `max_interval`; returns how many.
    pub fn expire_idle(&self, now: Instant) -> usize {
        let mut registry = lock(&self.registry);
        let idle: Vec<Arc<Session>> = registry
            .all()
            .filter(|s| lock(&s.state).is_idle(now, self.config.max_interval))
            .cloned()
            .collect();
        for session in &idle {
            registry.remove(&session.id);
            registry.expired(session.user, now);
            end_session(session, End::Expired);
        }
        if !idle.is_empty() {
            tracing::debug!(expired = idle.len(), "bayeux sessions expired");
        }
        idle.len()
    }

    /// Users whose last CometD session expired unserved (no connect within `maxInterval`) and
    /// who have opened none since: nothing reaches them any more (see
    /// `Center::notifications_lost`). Each is given once.
    pub fn take_orphaned(&self) -> Vec<UserKey> {
        lock(&self.registry).take_orphaned()
    }

    /// Users whose last CometD session expired `BayeuxConfig::vanished_after` or longer ago by
    /// `now`, and who have opened none since: given up for gone (see `Center::agent_gone`). Each
    /// is given once.
    pub fn take_vanished(&self, now: Instant) -> Vec<UserKey> {
        lock(&self.registry).take_vanished(now, self.config.vanished_after)
    }

    /// Expires idle sessions once a second until shutdown.
    pub async fn run_expiry(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => return,
                _ = tick.tick() => {
                    self.expire_idle(now());
                }
            }
        }
    }

    /// How much longer a stall injected by the fault injector holds frames, if one is under way.
    fn stall_remaining(&self) -> Option<Duration> {
        if self.stalls { self.faults.stall() } else { None }
    }

    /// Live sessions, for metrics and tests.
    pub fn session_count(&self) -> usize {
        lock(&self.registry).len()
    }

    /// The live session `client_id` of `user`, if any.
    fn lookup(&self, user: UserKey, client_id: Option<&str>) -> Option<Arc<Session>> {
        let registry = lock(&self.registry);
        registry.get(user, client_id?).cloned()
    }

    fn remove_session(&self, session: &Arc<Session>, end: End) {
        lock(&self.registry).remove(&session.id);
        end_session(session, end);
    }

    /// Handles every message but `/meta/connect`, which each transport serves itself. Returns the
    /// reply and, for a handshake, the new session.
    fn handle(&self, user: UserKey, request: &Message) -> (Message, Option<Arc<Session>>) {
        if request.channel == channel::HANDSHAKE {
            return self.handshake(user, request);
        }
        let Some(session) = self.lookup(user, request.client_id.as_deref()) else {
            return (reply::unknown_client(request), None);
        };
        let reply = match request.channel.as_str() {
            channel::SUBSCRIBE => self.subscribe(&session, request, true),
            channel::UNSUBSCRIBE => self.subscribe(&session, request, false),
            channel::DISCONNECT => {
                self.remove_session(&session, End::Disconnected);
                Message {
                    successful: Some(true),
                    client_id: Some(session.id.to_string()),
                    ..Message::reply_to(request)
                }
            }
            _ if request.is_meta() => reply::failure(request, "400::unknown meta channel"),
            _ => reply::failure(request, reply::PUBLISH_DENIED),
        };
        (reply, None)
    }

    fn handshake(&self, user: UserKey, request: &Message) -> (Message, Option<Arc<Session>>) {
        if let Some(types) = &request.supported_connection_types
            && !types.iter().any(|t| reply::CONNECTION_TYPES.contains(&t.as_str()))
        {
            return (reply::failure(request, "400::unsupported connection types"), None);
        }
        let id: Arc<str> = Arc::from(uuid::Uuid::new_v4().simple().to_string());
        let session = Arc::new(Session::new(id.clone(), user, now()));
        lock(&self.registry).insert(session.clone());
        (reply::handshake(request, &id, self.config.timeout), Some(session))
    }

    fn subscribe(&self, session: &Session, request: &Message, subscribe: bool) -> Message {
        let patterns: Vec<&str> = match &request.subscription {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) if !many.is_empty() => {
                match many.iter().map(Value::as_str).collect::<Option<Vec<&str>>>() {
                    Some(all) => all,
                    None => return reply::failure(request, "400::invalid subscription"),
                }
            }
            _ => return reply::failure(request, "400::missing subscription"),
        };
        let mut reply = Message {
            client_id: Some(session.id.to_string()),
            subscription: request.subscription.clone(),
            ..Message::reply_to(request)
        };
        if let Some(bad) = patterns.iter().find(|p| !channel::is_valid_pattern(p)) {
            tracing::debug!(pattern = %bad, "bayeux subscription refused");
            return Message {
                successful: Some(false),
                error: Some("400::invalid channel".to_owned()),
                ..reply
            };
        }
        if subscribe && patterns.iter().any(|p| p.starts_with("/meta/")) {
            return Message {
                successful: Some(false),
                error: Some("403::meta channels cannot be subscribed".to_owned()),
                ..reply
            };
        }
        let mut st = lock(&session.state);
        for pattern in patterns {
            if !subscribe {
                st.unsubscribe(pattern);
            } else if st.subscribe(pattern) == Err(SubscribeError::TooMany) {
                reply.successful = Some(false);
                reply.error = Some("403::too many subscriptions".to_owned());
                return reply;
            }
        }
        reply.successful = Some(true);
        reply
    }

    /// The checks and bookkeeping every `/meta/connect` goes through, whatever the transport.
    fn begin_connect(
        &self,
        user: UserKey,
        request: &Message,
        transport: ConnectTransport,
    ) -> ConnectStart {
        let Some(session) = self.lookup(user, request.client_id.as_deref()) else {
            return ConnectStart::Reply(Box::new(reply::unknown_client(request)));
        };
        let info = ConnectInfo { client_id: &session.id, user, transport };
        let mut starve = false;
        match self.faults.on_connect(&info) {
            ConnectFault::Proceed => {}
            ConnectFault::Starve => starve = transport == ConnectTransport::LongPolling,
            ConnectFault::ExpireSession => {
                self.remove_session(&session, End::Expired);
                return ConnectStart::Reply(Box::new(reply::unknown_client(request)));
            }
            ConnectFault::Disconnect => return ConnectStart::Drop(session),
        }
        // The first connect of a session, and any whose advice says timeout 0 (a client
        // recovering from a failure), is answered at once (§16).
        let wants_hold = request.advice.as_ref().and_then(|a| a.timeout) != Some(0);
        let (hold, generation) = {
            let mut st = lock(&session.state);
            if st.end.is_some() {
                return ConnectStart::Reply(Box::new(reply::unknown_client(request)));
            }
            let hold = st.connected && wants_hold;
            st.connected = true;
            st.connect_gen += 1;
            (hold, st.connect_gen)
        };
        // A connect still held for this client is now superseded: wake it so it answers at once.
        session.notify.notify_waiters();
        if starve {
            return ConnectStart::Starve { session, generation };
        }
        ConnectStart::Serve { session, hold, generation }
    }
}

/// Marks a session ended (after its removal from the registry) and wakes whoever serves it.
fn end_session(session: &Session, end: End) {
    lock(&session.state).end(end);
    session.notify.notify_waiters();
}

/// The second half of a delayed delivery (see `Hub::deliver_later`).
fn deliver_delayed(
    registry: &Mutex<Registry>,
    session: &Weak<Session>,
    message: Rendered,
    max_queue: usize,
) {
    let Some(session) = session.upgrade() else { return };
    let mut registry = lock(registry);
    let delivery = {
        let mut st = lock(&session.state);
        if st.end.is_some() {
            return;
        }
        st.enqueue(message, max_queue)
    };
    match delivery {
        Delivery::Queued => session.notify.notify_waiters(),
        Delivery::Overflow => {
            registry.remove(&session.id);
            end_session(&session, End::Expired);
        }
        Delivery::Nothing | Delivery::Later(_) => {}
    }
}

/// The data a connect reply carries, and how it ends.
fn connect_parts(
    config: &BayeuxConfig,
    request: &Message,
    session: &Session,
    data: Vec<Rendered>,
    end: reply::ConnectEnd,
    out: &mut Vec<Part>,
) {
    out.extend(data.into_iter().map(Part::Data));
    out.push(Part::Reply(Box::new(reply::connect(request, &session.id, end, config.timeout))));
}
