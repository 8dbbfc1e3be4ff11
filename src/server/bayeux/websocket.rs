//! The websocket transport: one task per socket reads Bayeux batches, pushes data messages as
//! they are queued (each flush one array frame), and holds `/meta/connect` for the timeout.
//!
//! The task is generic over `Stream + Sink` so tests can drive it with channels and paused time.
//! It reads and writes itself (no separate writer task): a socket costs one task and its buffers.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocketUpgrade, close_code};
use axum::response::Response;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::cometd::message::parse_batch;
use crate::cometd::{Message, channel};

use super::reply::{self, ConnectEnd, Part};
use super::session::{End, Session, lock};
use super::{ConnectStart, Hub, UserKey, connect_parts, now};
use crate::server::faults::ConnectTransport;

impl Hub {
    /// Finish a websocket upgrade for an authenticated user: apply the buffer sizes from config,
    /// echo a requested subprotocol (`requested_protocols` is the raw `Sec-WebSocket-Protocol`
    /// header; the first one offered is echoed, none if none was requested), then serve the
    /// socket.
    pub fn upgrade(
        self: &Arc<Self>,
        user: UserKey,
        ws: WebSocketUpgrade,
        requested_protocols: Option<&str>,
    ) -> Response {
        let config = &self.config;
        let mut ws = ws
            .read_buffer_size(config.ws_read_buffer)
            .write_buffer_size(config.ws_write_buffer)
            .max_message_size(config.ws_max_message)
            .max_frame_size(config.ws_max_message);
        let first = requested_protocols
            .and_then(|raw| raw.split(',').map(str::trim).find(|p| !p.is_empty()));
        if let Some(protocol) = first {
            // `protocols` only selects a name the client actually offered, so a header value
            // that axum could not parse is never echoed.
            ws = ws.protocols([protocol.to_owned()]);
        }
        let hub = self.clone();
        ws.on_upgrade(move |socket| serve(hub, user, socket))
    }
}

/// Most data messages pushed in one frame: a backlog goes out as several frames, so no single
/// frame (rendered in memory at once) grows with the queue.
const MAX_PUSH: usize = 256;

/// Counts a socket as serving its session (so it does not expire), and starts the session's
/// `maxInterval` grace period when the socket lets go of it.
struct Attached(Arc<Session>);

impl Attached {
    fn new(session: Arc<Session>) -> Attached {
        lock(&session.state).sockets += 1;
        Attached(session)
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        let mut st = lock(&self.0.state);
        st.sockets = st.sockets.saturating_sub(1);
        st.last_active = now();
    }
}

/// A `/meta/connect` waiting for its timeout.
struct Held {
    request: Message,
    generation: u64,
    deadline: Instant,
}

/// What the socket task does after a frame.
enum Next {
    Continue,
    Close,
}

struct SocketState {
    hub: Arc<Hub>,
    user: UserKey,
    /// The session this socket serves: the last one handshaken or connected on it.
    attached: Option<Attached>,
    /// The attached session's held connect.
    held: Option<Held>,
}

impl SocketState {
    fn session(&self) -> Option<&Arc<Session>> {
        self.attached.as_ref().map(|a| &a.0)
    }

    /// Serve `session` from now on; a connect held for another session is answered first.
    fn attach(&mut self, session: &Arc<Session>, out: &mut Vec<Part>) {
        if self.session().is_some_and(|s| Arc::ptr_eq(s, session)) {
            return;
        }
        self.answer_held(ConnectEnd::Normal, false, out);
        self.attached = Some(Attached::new(session.clone()));
    }

    /// Answers the held connect, if any, with the attached session's queued data.
    fn answer_held(&mut self, end: ConnectEnd, release_slot: bool, out: &mut Vec<Part>) {
        let Some(held) = self.held.take() else { return };
        let Some(session) = self.session() else { return };
        let data = if end == ConnectEnd::Unknown {
            Vec::new()
        } else {
            lock(&session.state).take_queue(release_slot)
        };
        connect_parts(&self.hub.config, &held.request, session, data, end, out);
    }

    /// What the attached session needs sent now: queued data, and the answer to a held connect
    /// that was superseded or whose session ended.
    fn pending(&mut self, out: &mut Vec<Part>) {
        let Some(session) = self.session().cloned() else { return };
        let (end, superseded) = {
            let st = lock(&session.state);
            (st.end, self.held.as_ref().is_some_and(|h| h.generation != st.connect_gen))
        };
        match end {
            Some(end) => {
                let how =
                    if end == End::Disconnected { ConnectEnd::Stop } else { ConnectEnd::Unknown };
                self.answer_held(how, true, out);
                self.attached = None;
            }
            None if superseded => self.answer_held(ConnectEnd::Normal, false, out),
            None => {
                out.extend(lock(&session.state).take_batch(MAX_PUSH).into_iter().map(Part::Data))
            }
        }
    }

    fn on_frame(&mut self, text: &str, out: &mut Vec<Part>) -> Next {
        let batch = match parse_batch(text) {
            Ok(batch) => batch,
            Err(err) => {
                // A frame that is not Bayeux is ignored, as standard servers do; the client's
                // own timeouts recover.
                tracing::debug!(%err, "ignoring malformed bayeux websocket frame");
                return Next::Continue;
            }
        };
        for request in &batch {
            match request.channel.as_str() {
                channel::CONNECT => {
                    if let Next::Close = self.on_connect(request, out) {
                        return Next::Close;
                    }
                }
                channel::DISCONNECT => {
                    // The held connect is answered before the disconnect reply, in the same
                    // frame (§16), so the client closes cleanly.
                    let names_held_session = self.held.is_some()
                        && self
                            .session()
                            .is_some_and(|s| request.client_id.as_deref() == Some(&*s.id));
                    if names_held_session {
                        self.answer_held(ConnectEnd::Stop, true, out);
                    }
                    out.push(Part::Reply(Box::new(self.hub.handle(self.user, request).0)));
                }
                _ => {
                    let (message, new_session) = self.hub.handle(self.user, request);
                    if let Some(session) = new_session {
                        self.attach(&session, out);
                    }
                    out.push(Part::Reply(Box::new(message)));
                }
            }
        }
        Next::Continue
    }

    fn on_connect(&mut self, request: &Message, out: &mut Vec<Part>) -> Next {
        // One connect at a time per socket: a new one answers the one still held.
        self.answer_held(ConnectEnd::Normal, false, out);
        match self.hub.begin_connect(self.user, request, ConnectTransport::Websocket) {
            ConnectStart::Reply(message) => out.push(Part::Reply(message)),
            ConnectStart::Drop(_) => return Next::Close,
            // Starvation is a long-polling fault; `begin_connect` never asks it of a websocket,
            // and a held websocket connect would be answered at its timeout anyway.
            ConnectStart::Starve { session, generation } => {
                self.attach(&session, out);
                let deadline = Instant::now() + self.hub.config.timeout;
                self.held = Some(Held { request: request.clone(), generation, deadline });
            }
            ConnectStart::Serve { session, hold, generation } => {
                self.attach(&session, out);
                if hold {
                    let deadline = Instant::now() + self.hub.config.timeout;
                    self.held = Some(Held { request: request.clone(), generation, deadline });
                } else {
                    let data = lock(&session.state).take_queue(false);
                    connect_parts(
                        &self.hub.config,
                        request,
                        &session,
                        data,
                        ConnectEnd::Normal,
                        out,
                    );
                }
            }
        }
        Next::Continue
    }
}

/// What bounds a write: shutdown, and a client that stops reading for longer than the connect
/// timeout (its socket is dropped rather than left holding a frame and a task forever).
struct WriteLimits {
    shutdown: CancellationToken,
    timeout: Duration,
}

/// Sends one frame; false if the socket is gone or the write could not complete within the
/// limits. Once shutdown has begun, only sends that complete without waiting go out.
async fn send<S>(socket: &mut S, limits: &WriteLimits, frame: WsMessage) -> bool
where
    S: Sink<WsMessage> + Unpin,
{
    tokio::select! {
        biased;
        sent = tokio::time::timeout(limits.timeout, socket.send(frame)) => matches!(sent, Ok(Ok(()))),
        () = limits.shutdown.cancelled() => false,
    }
}

/// Sends `parts` as one array frame (nothing if empty); false if the socket is gone.
async fn flush<S>(socket: &mut S, limits: &WriteLimits, parts: &mut Vec<Part>) -> bool
where
    S: Sink<WsMessage> + Unpin,
{
    if parts.is_empty() {
        return true;
    }
    let frame = reply::render(parts);
    parts.clear();
    // A burst can leave a large buffer behind; an idle socket should not keep it.
    parts.shrink_to(16);
    send(socket, limits, WsMessage::Text(frame.into())).await
}

/// Serves one websocket until the client closes it, it fails, fault injection drops it, or the
/// server shuts down.
pub(super) async fn serve<S, E>(hub: Arc<Hub>, user: UserKey, mut socket: S)
where
    S: Stream<Item = Result<WsMessage, E>> + Sink<WsMessage> + Unpin,
    E: std::fmt::Display,
{
    let shutdown = hub.shutdown.clone();
    let limits = WriteLimits { shutdown: shutdown.clone(), timeout: hub.config.timeout };
    let mut state = SocketState { hub, user, attached: None, held: None };
    // Waited on while no session is attached; never notified.
    let unattached = Notify::new();
    let mut out = Vec::new();
    loop {
        let session = state.session().cloned();
        let notified = session.as_deref().map_or(&unattached, |s| &s.notify).notified();
        tokio::pin!(notified);
        state.pending(&mut out);
        if !out.is_empty() {
            // Fault injection: a stall holds frames too (they go out, in order, when it ends).
            if let Some(rest) = state.hub.stall_remaining() {
                tokio::select! {
                    () = tokio::time::sleep(rest) => {}
                    () = shutdown.cancelled() => {}
                }
            }
            if !flush(&mut socket, &limits, &mut out).await {
                break;
            }
            // Sending took time: look again before waiting.
            continue;
        }
        let deadline = state.held.as_ref().map(|h| h.deadline);
        tokio::select! {
            () = shutdown.cancelled() => {
                state.answer_held(ConnectEnd::Stop, true, &mut out);
                if flush(&mut socket, &limits, &mut out).await {
                    let frame = CloseFrame { code: close_code::AWAY, reason: "server shutting down".into() };
                    // The socket is dropped either way; whether the close frame made it out
                    // changes nothing here.
                    send(&mut socket, &limits, WsMessage::Close(Some(frame))).await;
                }
                break;
            }
            () = &mut notified => {}
            () = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                state.answer_held(ConnectEnd::Normal, true, &mut out);
            }
            frame = socket.next() => match frame {
                Some(Ok(WsMessage::Text(text))) => {
                    if let Next::Close = state.on_frame(text.as_str(), &mut out) {
                        // Fault injection drops the socket: the replies of this frame so far, then a
                        // close; the socket is dropped whether or not they made it out.
                        if flush(&mut socket, &limits, &mut out).await {
                            send(&mut socket, &limits, WsMessage::Close(None)).await;
                        }
                        break;
                    }
                }
                // The websocket layer queues the pong when it reads a ping; flushing sends it now
                // instead of with the next data frame.
                Some(Ok(WsMessage::Ping(_))) => {
                    let flushed = tokio::select! {
                        biased;
                        flushed = socket.flush() => flushed.is_ok(),
                        () = shutdown.cancelled() => false,
                    };
                    if !flushed {
                        break;
                    }
                }
                Some(Ok(WsMessage::Close(_))) | None => break,
                Some(Ok(WsMessage::Binary(_) | WsMessage::Pong(_))) => {}
                Some(Err(err)) => {
                    tracing::debug!(%err, "bayeux websocket read failed");
                    break;
                }
            },
        }
    }
}
