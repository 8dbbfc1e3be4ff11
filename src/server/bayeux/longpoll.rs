//! The long-polling transport: one HTTP POST carries a batch of Bayeux messages, and a
//! `/meta/connect` in it is held until data is queued, the timeout passes, the session ends,
//! a newer connect supersedes it, or the server shuts down.

use std::sync::Arc;

use crate::cometd::message::parse_batch;
use crate::cometd::{Message, channel};

use super::reply::{self, ConnectEnd, Part};
use super::session::{End, Rendered, Session, lock};
use super::{BayeuxError, ConnectStart, Hub, UserKey, connect_parts, now};
use crate::server::faults::ConnectTransport;

/// Counts a long-poll connect as "serving" its session for as long as it is held, and starts the
/// session's `maxInterval` grace period when it ends. A guard, because the HTTP shell drops the
/// request future when the client goes away mid-hold.
struct HoldGuard<'a>(&'a Session);

impl<'a> HoldGuard<'a> {
    fn new(session: &'a Session) -> HoldGuard<'a> {
        lock(&session.state).holds += 1;
        HoldGuard(session)
    }
}

impl Drop for HoldGuard<'_> {
    fn drop(&mut self) {
        let mut st = lock(&self.0.state);
        st.holds = st.holds.saturating_sub(1);
        st.last_active = now();
    }
}

impl Hub {
    /// One long-polling POST (body = JSON array of Bayeux messages, or a single object) from an
    /// authenticated user. Returns the response body: always a non-empty JSON array (§16).
    /// Holds `/meta/connect` as the protocol says.
    ///
    /// The other messages of the batch are answered first, in order; the batch's last
    /// `/meta/connect` comes last (after the data it carries), since only it may be held.
    pub async fn long_poll(
        self: &Arc<Self>,
        user: UserKey,
        body: String,
    ) -> Result<String, BayeuxError> {
        let batch = parse_batch(&body)?;
        // Not held through a held connect: the parsed batch is all that is needed.
        drop(body);
        let last_connect = batch.iter().rposition(|m| m.channel == channel::CONNECT);
        let mut out = Vec::with_capacity(batch.len() + 1);
        for (i, request) in batch.iter().enumerate() {
            if request.channel != channel::CONNECT {
                out.push(Part::Reply(Box::new(self.handle(user, request).0)));
            } else if Some(i) != last_connect {
                self.poll_connect(user, request, false, &mut out).await;
            }
        }
        match last_connect.and_then(|i| batch.get(i)) {
            Some(request) => self.poll_connect(user, request, true, &mut out).await,
            None if out.is_empty() => return Err(BayeuxError::EmptyBatch),
            None => {}
        }
        Ok(reply::render(&out))
    }

    async fn poll_connect(
        &self,
        user: UserKey,
        request: &Message,
        may_hold: bool,
        out: &mut Vec<Part>,
    ) {
        match self.begin_connect(user, request, ConnectTransport::LongPolling) {
            ConnectStart::Reply(message) => out.push(Part::Reply(message)),
            ConnectStart::Drop(session) => {
                // Fault injection: the "dropped" request is answered with a failure at once; the
                // session lives on and its grace period starts now.
                lock(&session.state).last_active = now();
                connect_parts(
                    &self.config,
                    request,
                    &session,
                    Vec::new(),
                    ConnectEnd::Dropped,
                    out,
                );
            }
            ConnectStart::Serve { session, hold, generation } => {
                let (data, end) = self.hold(&session, hold && may_hold, generation).await;
                connect_parts(&self.config, request, &session, data, end, out);
            }
            ConnectStart::Starve { session, generation } => {
                let end = self.starve(&session, generation).await;
                connect_parts(&self.config, request, &session, Vec::new(), end, out);
            }
        }
    }

    /// Fault injection: holds a connect past its timeout and whatever is queued, until a newer
    /// connect supersedes it (which then takes the data), the session ends, the server stops, or
    /// the client gives up and the request is dropped.
    async fn starve(&self, session: &Session, generation: u64) -> ConnectEnd {
        let _guard = HoldGuard::new(session);
        loop {
            let notified = session.notify.notified();
            tokio::pin!(notified);
            {
                let st = lock(&session.state);
                match st.end {
                    Some(End::Disconnected) => return ConnectEnd::Stop,
                    Some(End::Expired) => return ConnectEnd::Unknown,
                    None if st.connect_gen != generation => return ConnectEnd::Normal,
                    None => {}
                }
            }
            if self.shutdown.is_cancelled() {
                return ConnectEnd::Stop;
            }
            tokio::select! {
                () = &mut notified => {}
                () = self.shutdown.cancelled() => {}
            }
        }
    }

    /// Waits until the connect can be answered; returns the data to deliver with it.
    async fn hold(
        &self,
        session: &Session,
        hold: bool,
        generation: u64,
    ) -> (Vec<Rendered>, ConnectEnd) {
        let _guard = HoldGuard::new(session);
        let timeout = tokio::time::sleep(self.config.timeout);
        tokio::pin!(timeout);
        let mut timed_out = false;
        loop {
            // Created before the state is read, so a wake-up between the read and the wait is
            // not lost.
            let notified = session.notify.notified();
            tokio::pin!(notified);
            let stopping = self.shutdown.is_cancelled();
            {
                let mut st = lock(&session.state);
                match st.end {
                    Some(End::Disconnected) => return (st.take_queue(true), ConnectEnd::Stop),
                    Some(End::Expired) => return (Vec::new(), ConnectEnd::Unknown),
                    None => {}
                }
                if st.connect_gen != generation {
                    // Superseded: the newer connect takes the data.
                    return (Vec::new(), ConnectEnd::Normal);
                }
                if stopping {
                    return (st.take_queue(true), ConnectEnd::Stop);
                }
                if !hold || timed_out || st.has_data() {
                    return (st.take_queue(timed_out), ConnectEnd::Normal);
                }
            }
            tokio::select! {
                () = &mut notified => {}
                () = &mut timeout => timed_out = true,
                () = self.shutdown.cancelled() => {}
            }
        }
    }
}
