//! The simulator's CometD client: one Bayeux session per agent over websocket or long-polling,
//! behaving like the standard CometD clients of protocol.md §16, delivering notifications as
//! [`Event`]s on a bounded channel, re-handshaking on `402::Unknown client` and reconnecting with
//! bounded exponential backoff (plus the server's advised interval). Every failed or malformed
//! exchange is reported as an [`Event::Failed`] with its kind, and giving up is a
//! [`CloseReason::GaveUp`] that says after how many attempts and why: a stream never dies
//! silently. Every body or frame is bounded in bytes ([`CometdConfig::ws_max_message`]).
//!
//! What one agent's session holds is bounded in bytes too, by one budget
//! ([`CometdConfig::max_held_bytes`], 4 MiB by default): the data of every event delivered but
//! not yet taken by the receiver (a [`Payload`]'s text, and as much again for the notification
//! decoded from it), and before [`connect`] returns, of every event held for it.
//! Past the budget the session stops reading (backpressure, as the standard CometD clients do:
//! a websocket is not read, a long-poll not sent) until the receiver has taken enough, so
//! nothing already received is dropped; the server queues meanwhile (and may drop a session
//! whose queue overflows, which the client then sees as `402::Unknown client`). Besides the
//! budget, the session reads at most one body or frame at a time (at most `ws_max_message`,
//! 1 MiB, plus its parsed copy, text and decoded notifications, while it is handed out): an
//! agent's session holds at most `max_held_bytes + 3 × ws_max_message` of notification data,
//! whatever the server sends.
//! [`CometdStats::held_bytes_peak`] is the most it ever held against the budget.
//!
//! How an agent logs in with it (protocol.md §1.2 order):
//!
//! ```no_run
//! # async fn agent(token: tokio_util::sync::CancellationToken) -> anyhow::Result<()> {
//! use gwsim::cometd::client::{self, CometdConfig, Event, Transport};
//! use gwsim::gws::{ChannelOperation, Credentials, GwsClient, MeOperation, Notification};
//!
//! let gws = GwsClient::builder().base_url("http://127.0.0.1:8090").build()?;
//! let mut agent = gws.agent(Credentials::new("ann", "secret"));
//! let me = agent.login().await?;
//! let config = CometdConfig::new(gws.base_url(), Transport::LongPolling)
//!     .headers(agent.cometd_headers());
//! let (_handle, mut events) = client::connect(config, token).await?;
//! agent.me_operation(&MeOperation::start_session(["chat"])).await?;
//! agent.channel_operation("chat", &ChannelOperation::Ready {}).await?;
//! while let Some(event) = events.recv().await {
//!     match event {
//!         Event::Data { mut data, .. } => {
//!             let notification: Notification = data.notification()?;
//!             # let _ = (&notification, &me);
//!         }
//!         Event::Rehandshake => { /* events may be lost: re-read state with agent.login() */ }
//!         Event::Reconnected { .. } => {}
//!         Event::Failed { error, .. } => { /* count error.kind(); the session retries */ }
//!         Event::Closed { .. } => break,
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Layout: `session` is the pure Bayeux state machine (messages in, decisions out),
//! `backoff` the pure reconnect schedule, `transport` the two byte movers (`tls` adds `wss`),
//! and this file the task that drives them.

mod backoff;
#[cfg(test)]
mod hostile_tests;
mod incoming;
mod session;
#[cfg(test)]
mod tests;
mod transport;

use std::collections::VecDeque;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::header::HeaderMap;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use self::incoming::Payload;
pub use self::session::Transport;
use self::session::{ConnectOutcome, Reply, Session, encode_batch, parse_incoming};
use self::transport::{LongPolling, MAX_BATCH_BYTES, WebSocket, WsBuffers, long_polling_suffix};
use super::error::CometdError;
use super::message::Message;

/// Events delivered before [`connect`] returns are held here; a server cannot flood more than
/// this during a handshake (the excess is counted as ignored), nor more bytes of data than the
/// session's budget ([`CometdConfig::max_held_bytes`]).
const MAX_EARLY_EVENTS: usize = 4096;
/// The default [`CometdConfig::max_held_bytes`].
pub const MAX_HELD_BYTES: usize = 4 << 20;

/// How one agent's CometD session is set up. Build with [`CometdConfig::new`] and adjust fields.
#[derive(Clone)]
pub struct CometdConfig {
    /// `http(s)://host:port[/prefix]`; the endpoint is `base + /api/v2/notifications`
    /// (`ws://` for websocket).
    pub base_url: String,
    pub transport: Transport,
    /// Channels to subscribe; default `["/v2/me/*"]` (protocol.md §15.6).
    pub subscriptions: Vec<String>,
    /// Sent on every long-poll request and on the websocket upgrade: the agent's Authorization
    /// and Cookie ([`crate::gws::AgentHttp::cometd_headers`]).
    pub headers: HeaderMap,
    /// Time allowed for a reply other than a held connect, and added to the advised hold time
    /// for a connect (the standard client waits `timeout` + 10 s).
    pub request_timeout: Duration,
    /// Websocket read buffer, held for the socket's whole life: small, because an idle agent
    /// must cost at most 16 KiB of the client (issue 11). A larger message is read whole anyway
    /// (tungstenite reserves its length), in reads of this size.
    pub ws_read_buffer: usize,
    /// Websocket write threshold; 0 writes every frame at once (each batch is one frame anyway).
    pub ws_write_buffer: usize,
    /// Largest accepted websocket message or long-poll response body, in bytes; a larger one
    /// fails its exchange as `oversize` and is not buffered whole.
    pub ws_max_message: usize,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Give up after this many consecutive failed attempts...
    pub max_reconnects: u32,
    /// ...or when failures have lasted this long, whichever comes first.
    pub max_reconnect_time: Duration,
    /// Capacity of the event channel; a full channel pauses reading (backpressure).
    pub event_buffer: usize,
    /// The session's budget in bytes: the data of the events delivered and not yet received
    /// (and of those held before [`connect`] returns) never exceeds it. Past it the session
    /// stops reading until the receiver has taken enough (backpressure; nothing is dropped). An
    /// event larger than the whole budget is delivered alone, once the channel is empty.
    pub max_held_bytes: usize,
    /// Best-effort bound on the `/meta/disconnect` at cancellation.
    pub disconnect_timeout: Duration,
    /// Source address of the session's connections (websocket or long-poll).
    pub local_address: Option<IpAddr>,
    /// Accept any certificate on `wss` and `https`. Test
    /// deployments with self-signed certificates only.
    pub accept_invalid_certs: bool,
    /// Seed of the backoff jitter. Give each agent its own (e.g. scenario seed mixed with the
    /// agent's index) for reproducible runs; `None` draws one from the OS, because agents sharing
    /// a seed would reconnect in lockstep and the jitter would spread nothing.
    pub jitter_seed: Option<u64>,
}

impl CometdConfig {
    pub fn new(base_url: impl Into<String>, transport: Transport) -> Self {
        CometdConfig {
            base_url: base_url.into(),
            transport,
            subscriptions: vec!["/v2/me/*".to_owned()],
            headers: HeaderMap::new(),
            request_timeout: Duration::from_secs(10),
            ws_read_buffer: 1024,
            ws_write_buffer: 0,
            ws_max_message: MAX_BATCH_BYTES,
            backoff_min: Duration::from_millis(250),
            // Below the server's 10 s maxInterval (§15.25), so a short outage keeps the session
            // instead of forcing a re-handshake.
            backoff_max: Duration::from_secs(5),
            max_reconnects: 30,
            max_reconnect_time: Duration::from_secs(120),
            event_buffer: 64,
            max_held_bytes: MAX_HELD_BYTES,
            disconnect_timeout: Duration::from_secs(2),
            local_address: None,
            accept_invalid_certs: false,
            jitter_seed: None,
        }
    }

    pub fn headers(mut self, headers: HeaderMap) -> Self {
        self.headers = headers;
        self
    }
}

impl fmt::Debug for CometdConfig {
    // Header values carry credentials: only their names are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CometdConfig")
            .field("base_url", &self.base_url)
            .field("transport", &self.transport)
            .field("subscriptions", &self.subscriptions)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("request_timeout", &self.request_timeout)
            .field("backoff", &(self.backoff_min, self.backoff_max))
            .field("max_reconnects", &self.max_reconnects)
            .field("max_reconnect_time", &self.max_reconnect_time)
            .finish_non_exhaustive()
    }
}

/// What the session task reports, in order.
#[derive(Debug)]
pub enum Event {
    /// A data message, in delivery order: `data` as it arrived, and the
    /// [`crate::gws::Notification`] it is, decoded in the same pass ([`Payload::take_notification`]).
    /// The channel is kept inline when short, as GWS's are.
    Data { channel: compact_str::CompactString, data: Payload },
    /// The server forgot the session; a new one is handshaken and subscribed. Notifications may
    /// have been lost in between: the caller should re-read its state.
    Rehandshake,
    /// Connected again after `attempt` failed attempts (a lost socket or failed requests).
    Reconnected { attempt: u32 },
    /// One exchange failed (`attempt` is the number of consecutive failures so far; the session
    /// retries after a backoff unless that was past its bounds, then `Closed` follows), or part
    /// of a reply was malformed and dropped (`attempt` 0: the exchange went on). Count it by
    /// [`CometdError::kind`].
    Failed { error: CometdError, attempt: u32 },
    /// The session ended; always the last event.
    Closed { reason: CloseReason },
}

/// The receiving end of a session's events, in order.
///
/// Events travel boxed: the channel's first block of 32 slots is allocated with the session and
/// held for its whole life, so every agent pays for 32 slots of the event's size (1.5 KiB for a
/// 48-byte [`Event`], 0.25 KiB for a box); an idle agent receives few events.
#[derive(Debug)]
pub struct Events {
    rx: mpsc::Receiver<Box<Event>>,
}

impl Events {
    /// The next event; `None` once the session task has ended and every event was received.
    /// Cancel-safe, like [`mpsc::Receiver::recv`].
    pub async fn recv(&mut self) -> Option<Event> {
        self.rx.recv().await.map(|event| *event)
    }

    /// The next event if one is queued.
    pub fn try_recv(&mut self) -> Result<Event, mpsc::error::TryRecvError> {
        self.rx.try_recv().map(|event| *event)
    }
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The cancellation token fired; a `/meta/disconnect` was sent (best effort).
    Cancelled,
    /// The server advised `reconnect: none`.
    ServerClosed,
    /// The credentials were refused, or the server keeps forgetting new sessions.
    Failed(CometdError),
    /// Reconnecting failed `attempts` times in a row, past the configured bounds; `last` is the
    /// last failure.
    GaveUp { attempts: u32, last: CometdError },
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Cancelled => f.write_str("cancelled"),
            CloseReason::ServerClosed => f.write_str("closed by server"),
            CloseReason::Failed(e) => write!(f, "failed: {e}"),
            CloseReason::GaveUp { attempts, last } => {
                write!(f, "gave up after {attempts} failed attempts in a row, the last: {last}")
            }
        }
    }
}

/// Counters of one session, readable while it runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CometdStats {
    /// Successful re-handshakes after the server forgot the session.
    pub rehandshakes: u64,
    /// Successful reconnections after failures.
    pub reconnects: u64,
    /// Failed exchanges (requests, sockets, refused connects).
    pub failures: u64,
    /// Data messages delivered.
    pub data_messages: u64,
    /// Server messages dropped as malformed, stale or unexpected.
    pub ignored_messages: u64,
    /// The most data bytes the session ever held against [`CometdConfig::max_held_bytes`]
    /// (delivered and not yet received, or held before [`connect`] returned).
    pub held_bytes_peak: u64,
}

#[derive(Debug, Default)]
struct Counters {
    rehandshakes: AtomicU64,
    reconnects: AtomicU64,
    failures: AtomicU64,
    data_messages: AtomicU64,
    ignored_messages: AtomicU64,
    held_bytes_peak: AtomicU64,
}

impl Counters {
    fn bump(counter: &AtomicU64, n: u64) {
        // Relaxed: independent counters read for reporting, ordering nothing else.
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// The caller's side of a running session.
#[derive(Debug)]
pub struct CometdHandle {
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

impl CometdHandle {
    pub fn stats(&self) -> CometdStats {
        let c = &self.counters;
        CometdStats {
            rehandshakes: c.rehandshakes.load(Ordering::Relaxed),
            reconnects: c.reconnects.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
            data_messages: c.data_messages.load(Ordering::Relaxed),
            ignored_messages: c.ignored_messages.load(Ordering::Relaxed),
            held_bytes_peak: c.held_bytes_peak.load(Ordering::Relaxed),
        }
    }

    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Ends the session task at once, as a crashed process would: no `/meta/disconnect`, the
    /// socket or held request simply dropped (the server expires the session later).
    pub fn abort(&self) {
        self.task.abort();
    }

    /// Waits for the session task to end (after cancellation or its `Closed` event).
    pub async fn join(self) {
        // A JoinError means the task panicked or was aborted; either way it has ended.
        let _ = self.task.await;
    }
}

/// Handshakes and subscribes (waiting for every subscribe reply), then spawns the task that
/// runs the connect loop and returns the handle and the event channel. The session ends when
/// `token` is cancelled, when the server says `reconnect: none`, when reconnecting fails past the
/// configured bounds, or when the receiver is dropped.
pub async fn connect(
    config: CometdConfig,
    token: CancellationToken,
) -> Result<(CometdHandle, Events), CometdError> {
    let (mut driver, rx) = Driver::new(config)?;
    let opened = tokio::select! {
        biased;
        () = token.cancelled() => Err(CometdError::Cancelled),
        // Boxed: the caller's future (an agent's whole task) would otherwise carry the upgrade
        // and handshake state for as long as the agent lives.
        opened = Box::pin(driver.open()) => opened,
    };
    if let Err(e) = opened {
        // A session the server already accepted (e.g. its subscribe was refused) is closed
        // rather than left to expire; bounded by the disconnect timeout.
        driver.delivery = Delivery::Off;
        Box::pin(driver.disconnect()).await;
        return Err(e);
    }
    driver.delivery = Delivery::Live;
    let counters = Arc::clone(&driver.counters);
    // Boxed apart from the task: an async fn moved into its task keeps its argument twice
    // (the argument and the local it becomes), and the driver is most of the task.
    let task = tokio::spawn(Box::new(driver).run(token));
    Ok((CometdHandle { counters, task }, rx))
}

enum Conn {
    LongPolling(LongPolling),
    WebSocket(WebSocket),
}

impl Conn {
    fn is_open(&self) -> bool {
        match self {
            Conn::LongPolling(_) => true,
            Conn::WebSocket(ws) => ws.is_open(),
        }
    }

    async fn open(&mut self) -> Result<(), CometdError> {
        match self {
            Conn::LongPolling(_) => Ok(()),
            // Boxed: the upgrade (TCP, TLS, HTTP handshake) is the largest state machine of the
            // session and runs once per socket; inline, every idle agent's task would carry it.
            Conn::WebSocket(ws) => Box::pin(ws.open()).await,
        }
    }

    /// Sends a batch. Long-polling returns the reply batch at once; websocket returns `None`
    /// and the replies come from [`Conn::recv`].
    async fn send(
        &mut self,
        first_channel: &str,
        body: String,
        timeout: Duration,
    ) -> Result<Option<String>, CometdError> {
        match self {
            // Boxed: the HTTP request's state is large, and inline it would size every
            // websocket agent's task too (both transports share this future).
            Conn::LongPolling(lp) => {
                Box::pin(lp.post(long_polling_suffix(first_channel), body, timeout)).await.map(Some)
            }
            Conn::WebSocket(ws) => tokio::time::timeout(timeout, ws.send(body))
                .await
                .map_err(|_| CometdError::Timeout)?
                .map(|()| None),
        }
    }

    /// The next websocket frame; unbounded in time (the caller's one timer bounds the wait).
    /// Cancel-safe: dropping it loses no frame.
    async fn recv(&mut self) -> Result<String, CometdError> {
        match self {
            Conn::LongPolling(_) => Err(CometdError::Protocol("long-polling reply missing".into())),
            Conn::WebSocket(ws) => ws.recv().await,
        }
    }

    fn lose(&mut self) {
        if let Conn::WebSocket(ws) = self {
            ws.drop_socket();
        }
    }

    async fn close(&mut self, timeout: Duration) {
        if let Conn::WebSocket(ws) = self {
            ws.close(timeout).await;
        }
    }
}

/// What one turn of the connect loop achieved.
enum Step {
    Connected,
    Rehandshaked,
    NeedRehandshake,
    Stop,
}

/// Where [`Driver::deliver`] puts events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// Before [`connect`] returns: into `early`.
    Early,
    /// Into the channel.
    Live,
    /// After cancellation: dropped, only `Closed` follows.
    Off,
}

/// The session task's state. Owned by one task; nothing in it is shared but the counters.
struct Driver {
    session: Session,
    conn: Conn,
    config: CometdConfig,
    tx: mpsc::Sender<Box<Event>>,
    closed_permit: Option<mpsc::OwnedPermit<Box<Event>>>,
    /// Events produced before [`connect`] handed out the receiver.
    early: VecDeque<Event>,
    /// The data bytes held in `early`.
    early_bytes: usize,
    /// The data bytes of each event in the channel not yet received, oldest first (the channel
    /// is FIFO, so what the receiver has taken is always the front).
    queued: VecDeque<usize>,
    /// Their sum: what the session holds against its budget once live.
    queued_bytes: usize,
    delivery: Delivery,
    receiver_gone: bool,
    counters: Arc<Counters>,
    rng: SmallRng,
}

impl Driver {
    /// The session task's state before its first exchange, and the receiving end of its events.
    fn new(config: CometdConfig) -> Result<(Driver, Events), CometdError> {
        let conn = match config.transport {
            Transport::LongPolling => Conn::LongPolling(LongPolling::new(
                &config.base_url,
                &config.headers,
                config.ws_max_message.max(4 * 1024),
                config.local_address,
                config.accept_invalid_certs,
            )?),
            Transport::Websocket => Conn::WebSocket(WebSocket::new(
                &config.base_url,
                config.headers.clone(),
                WsBuffers {
                    read: config.ws_read_buffer,
                    write: config.ws_write_buffer,
                    max_message: config.ws_max_message,
                },
                config.local_address,
                config.request_timeout,
                config.accept_invalid_certs,
            )?),
        };
        // One slot more than asked for, held by `closed_permit`, so the final Closed event can
        // always be delivered without waiting for a reader that may have stopped reading.
        let (tx, rx) = mpsc::channel(config.event_buffer.max(1) + 1);
        let closed_permit = tx.clone().try_reserve_owned().ok();
        let driver = Driver {
            session: Session::new(config.transport, config.subscriptions.clone()),
            conn,
            tx,
            closed_permit,
            early: VecDeque::new(),
            early_bytes: 0,
            queued: VecDeque::new(),
            queued_bytes: 0,
            delivery: Delivery::Early,
            receiver_gone: false,
            counters: Arc::new(Counters::default()),
            rng: match config.jitter_seed {
                Some(seed) => SmallRng::seed_from_u64(seed),
                None => SmallRng::from_rng(&mut rand::rng()),
            },
            config,
        };
        Ok((driver, Events { rx }))
    }

    async fn open(&mut self) -> Result<(), CometdError> {
        self.conn.open().await?;
        self.handshake_and_subscribe().await
    }

    async fn run(mut self: Box<Self>, token: CancellationToken) {
        // The loop future borrows `self`; it is dropped when the select ends, so the disconnect
        // below can use `self` again.
        let ended = tokio::select! {
            biased;
            () = token.cancelled() => None,
            ended = self.main_loop() => Some(ended),
        };
        let reason = match ended {
            Some(Some(reason)) => reason,
            // Cancelled, or nobody is listening any more: leave politely.
            None | Some(None) => {
                self.delivery = Delivery::Off;
                // Boxed: once per session, so its state need not sit in the task all run long.
                Box::pin(self.disconnect()).await;
                CloseReason::Cancelled
            }
        };
        tracing::debug!(%reason, "cometd session ended");
        if let Some(permit) = self.closed_permit.take() {
            permit.send(Box::new(Event::Closed { reason }));
        }
    }

    /// Runs until the server stops the session, reconnection gives up (`Some(reason)`), or the
    /// receiver is dropped (`None`). Each turn is one server round trip bounded by its timeout,
    /// and consecutive failures are bounded by the configured limits.
    async fn main_loop(&mut self) -> Option<CloseReason> {
        while let Some(event) = self.early.pop_front() {
            self.early_bytes -= event_bytes(&event);
            self.deliver(event).await;
        }
        let mut failures: u32 = 0;
        let mut failing_since: Option<Instant> = None;
        let mut rehandshakes_in_a_row: u32 = 0;
        let mut delay = Duration::ZERO;
        loop {
            if self.receiver_gone {
                return None;
            }
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            delay = Duration::ZERO;
            match self.step().await {
                Ok(Step::Connected) => {
                    if failures > 0 {
                        Counters::bump(&self.counters.reconnects, 1);
                        self.deliver(Event::Reconnected { attempt: failures }).await;
                    }
                    failures = 0;
                    failing_since = None;
                    rehandshakes_in_a_row = 0;
                    delay = Duration::from_millis(self.session.interval_ms());
                }
                Ok(Step::Rehandshaked) => {
                    Counters::bump(&self.counters.rehandshakes, 1);
                    self.deliver(Event::Rehandshake).await;
                }
                Ok(Step::NeedRehandshake) => {
                    rehandshakes_in_a_row += 1;
                    delay = Duration::from_millis(self.session.interval_ms());
                    // A server that forgets every new session at once must not be looped on.
                    if rehandshakes_in_a_row > self.config.max_reconnects {
                        return Some(CloseReason::Failed(CometdError::Handshake(
                            "server keeps forgetting the session".into(),
                        )));
                    }
                    if rehandshakes_in_a_row > 1 {
                        delay += self.backoff(rehandshakes_in_a_row - 1);
                    }
                }
                Ok(Step::Stop) => return Some(CloseReason::ServerClosed),
                Err(CometdError::Unauthorized) => {
                    return Some(CloseReason::Failed(CometdError::Unauthorized));
                }
                Err(e) => {
                    Counters::bump(&self.counters.failures, 1);
                    failures = failures.saturating_add(1);
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    tracing::debug!(error = %e, failures, "cometd exchange failed");
                    self.deliver(Event::Failed { error: e.clone(), attempt: failures }).await;
                    if !backoff::should_retry(
                        failures,
                        since.elapsed(),
                        self.config.max_reconnects,
                        self.config.max_reconnect_time,
                    ) {
                        return Some(CloseReason::GaveUp { attempts: failures, last: e });
                    }
                    self.session.connection_lost();
                    self.conn.lose();
                    // The CometD clients wait the advised interval plus their backoff.
                    delay =
                        Duration::from_millis(self.session.interval_ms()) + self.backoff(failures);
                }
            }
        }
    }

    fn backoff(&mut self, attempt: u32) -> Duration {
        let jitter: f64 = self.rng.random();
        backoff::delay(attempt, self.config.backoff_min, self.config.backoff_max, jitter)
    }

    async fn step(&mut self) -> Result<Step, CometdError> {
        if !self.conn.is_open() {
            self.conn.open().await?;
        }
        if self.session.client_id().is_none() {
            // Boxed, as the upgrade: rare, and larger than the connect the task waits in.
            Box::pin(self.handshake_and_subscribe()).await?;
            return Ok(Step::Rehandshaked);
        }
        let connect = self.session.connect();
        let hold = Duration::from_millis(self.session.timeout_ms());
        let replies = self.exchange(vec![connect], hold + self.config.request_timeout).await?;
        for reply in replies {
            if let Reply::Connect(outcome) = reply {
                return match outcome {
                    ConnectOutcome::Continue => Ok(Step::Connected),
                    ConnectOutcome::Rehandshake => Ok(Step::NeedRehandshake),
                    ConnectOutcome::Stop => Ok(Step::Stop),
                    ConnectOutcome::Retry(error) => Err(CometdError::ConnectRefused(error)),
                    ConnectOutcome::Mistyped => Err(CometdError::WrongShape(
                        "/meta/connect reply without a boolean `successful`".into(),
                    )),
                };
            }
        }
        Err(CometdError::Protocol("no /meta/connect reply".into()))
    }

    async fn handshake_and_subscribe(&mut self) -> Result<(), CometdError> {
        let handshake = self.session.handshake();
        let replies = self.exchange(vec![handshake], self.config.request_timeout).await?;
        let outcome = replies.into_iter().find_map(|reply| match reply {
            Reply::Handshake(result) => Some(result),
            _ => None,
        });
        outcome.unwrap_or_else(|| Err(CometdError::Protocol("no /meta/handshake reply".into())))?;
        let subscribes = self.session.subscribe_all();
        if subscribes.is_empty() {
            return Ok(());
        }
        let replies = self.exchange(subscribes, self.config.request_timeout).await?;
        for reply in replies {
            if let Reply::Subscribe { subscription, result: Err(error) } = reply {
                // Connecting without the subscription would look healthy and deliver nothing:
                // start over with a new session instead.
                self.session.forget_client();
                return Err(CometdError::Handshake(format!(
                    "subscribe {subscription} refused: {error}"
                )));
            }
        }
        Ok(())
    }

    /// Sends one batch and processes what comes back until every message of the batch has its
    /// reply, delivering data messages on the way. Returns the replies.
    async fn exchange(
        &mut self,
        batch: Vec<Message>,
        timeout: Duration,
    ) -> Result<Vec<Reply>, CometdError> {
        let ids: Vec<String> = batch
            .iter()
            .filter_map(|m| m.id.as_ref().and_then(|id| id.as_str()).map(str::to_owned))
            .collect();
        let result = self.exchange_inner(&batch, &ids, timeout).await;
        if result.is_err() {
            self.session.abandon(&ids);
        }
        result
    }

    async fn exchange_inner(
        &mut self,
        batch: &[Message],
        ids: &[String],
        timeout: Duration,
    ) -> Result<Vec<Reply>, CometdError> {
        let first_channel = batch.first().map_or("", |m| m.channel.as_str());
        let body = encode_batch(batch)?;
        let mut replies = Vec::with_capacity(ids.len());
        if let Some(text) = self.conn.send(first_channel, body, timeout).await? {
            // Boxed (here and below): processing a batch is the largest state of the session's
            // task, which would otherwise sit in it while it waits for the next reply.
            Box::pin(self.process(&text, &mut replies)).await?;
            if !self.answered(ids) {
                return Err(CometdError::Protocol(format!("no reply to {first_channel}")));
            }
            return Ok(replies);
        }
        // Websocket: replies and pushed data share the socket. The timeout bounds the time spent
        // waiting on the socket, not the time spent handing events to a slow reader, so
        // backpressure is not a failure while a server that streams data but never answers is.
        // One timer serves the whole exchange (not one per frame): the deadline moves later by
        // the time each frame took to hand over, and the timer is re-armed only when it fires
        // before the deadline it lags behind.
        let mut deadline = Instant::now() + timeout;
        let timer = tokio::time::sleep_until(deadline);
        tokio::pin!(timer);
        // Bounded: each turn reads a frame, or re-arms the timer to the deadline, which only
        // the time spent handing frames over moves (the socket wait uses it up).
        while !self.answered(ids) {
            let text = tokio::select! {
                biased;
                text = self.conn.recv() => text?,
                () = &mut timer => {
                    if Instant::now() >= deadline {
                        return Err(CometdError::Timeout);
                    }
                    timer.as_mut().reset(deadline);
                    continue;
                }
            };
            let handing = Instant::now();
            Box::pin(self.process(&text, &mut replies)).await?;
            deadline += handing.elapsed();
        }
        Ok(replies)
    }

    fn answered(&self, ids: &[String]) -> bool {
        ids.iter().all(|id| self.session.is_answered(id))
    }

    async fn process(&mut self, text: &str, replies: &mut Vec<Reply>) -> Result<(), CometdError> {
        let (batch, dropped) = parse_incoming(text)?;
        if dropped > 0 {
            Counters::bump(&self.counters.ignored_messages, dropped as u64);
            let error = CometdError::WrongShape(format!("{dropped} elements are not messages"));
            self.deliver(Event::Failed { error, attempt: 0 }).await;
        }
        for message in batch {
            match self.session.on_message(message) {
                Reply::Data { channel, data } => {
                    Counters::bump(&self.counters.data_messages, 1);
                    self.deliver(Event::Data { channel, data }).await;
                }
                Reply::Ignored(why) => {
                    Counters::bump(&self.counters.ignored_messages, 1);
                    tracing::trace!(why, "cometd message ignored");
                }
                reply => replies.push(reply),
            }
        }
        Ok(())
    }

    async fn deliver(&mut self, event: Event) {
        let size = event_bytes(&event);
        match self.delivery {
            Delivery::Early
                if self.early.len() < MAX_EARLY_EVENTS
                    && self.early_bytes + size <= self.config.max_held_bytes =>
            {
                self.early_bytes += size;
                self.early.push_back(event);
                self.note_held();
            }
            Delivery::Early | Delivery::Off => {
                Counters::bump(&self.counters.ignored_messages, 1);
            }
            Delivery::Live if self.receiver_gone => {}
            Delivery::Live => {
                if !self.make_room(size).await || self.tx.send(Box::new(event)).await.is_err() {
                    self.receiver_gone = true;
                    return;
                }
                self.queued.push_back(size);
                self.queued_bytes += size;
                self.note_held();
            }
        }
    }

    /// Waits until `size` more bytes fit the budget, or nothing is queued (an event larger
    /// than the whole budget goes alone). This is the backpressure: while it waits, the session
    /// reads nothing. `false`: the receiver is gone.
    async fn make_room(&mut self, size: usize) -> bool {
        let budget = self.config.max_held_bytes;
        // Bounded: each turn waits for at least one more event to be received, and at most
        // `event_buffer + 1` are queued.
        for _ in 0..=self.queued.len() {
            self.reclaim();
            if self.queued.is_empty() || self.held() + size <= budget {
                return true;
            }
            // The oldest events whose reading frees enough, then wait for that many free slots
            // more than now: the channel tells when the receiver has taken them.
            let mut excess = self.held() + size - budget;
            let mut needed = 0;
            for bytes in &self.queued {
                needed += 1;
                if *bytes >= excess {
                    break;
                }
                excess -= bytes;
            }
            match self.tx.reserve_many(self.tx.capacity() + needed).await {
                Ok(permits) => drop(permits),
                Err(_) => return false,
            }
        }
        self.reclaim();
        true
    }

    /// Forgets the sizes of the events the receiver has taken: the channel holds
    /// `max_capacity - capacity` events, less the slot reserved for the final `Closed`.
    fn reclaim(&mut self) {
        let reserved = usize::from(self.closed_permit.is_some());
        let in_channel = (self.tx.max_capacity() - self.tx.capacity()).saturating_sub(reserved);
        while self.queued.len() > in_channel {
            if let Some(bytes) = self.queued.pop_front() {
                self.queued_bytes -= bytes;
            }
        }
    }

    /// The data bytes held against the budget: queued in the channel, and still in `early`
    /// while those are handed over.
    fn held(&self) -> usize {
        self.early_bytes + self.queued_bytes
    }

    fn note_held(&self) {
        self.counters.held_bytes_peak.fetch_max(self.held() as u64, Ordering::Relaxed);
    }

    /// Best-effort `/meta/disconnect`, bounded by the disconnect timeout.
    async fn disconnect(&mut self) {
        let timeout = self.config.disconnect_timeout;
        if self.session.client_id().is_some() && self.conn.is_open() {
            let message = self.session.disconnect();
            let _ = tokio::time::timeout(timeout, self.exchange(vec![message], timeout)).await;
        }
        self.conn.close(timeout).await;
    }
}

/// The data bytes an event holds (what bounds the early buffer).
fn event_bytes(event: &Event) -> usize {
    match event {
        Event::Data { channel, data } => channel.len() + data.held_bytes(),
        _ => 0,
    }
}
