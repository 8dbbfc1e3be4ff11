//! What an agent's flows share with its main loop ([`AgentShared`]): the run, the agent's HTTP
//! session, and its ordering checker. Its own file so that `agent` (the main loop, which starts
//! flows) and `flow` (which uses this) do not import each other.
//!
//! The checker decides what each notification settles; [`AgentShared::observe`] only records
//! it. A removal settles at the *removed* agent, whose checker cannot know when the remover
//! started: that start travels through the run's [`super::roster::Correlator`].

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::RunCtx;
use super::roster::{Key, Started};
use super::sink::Sink;
use crate::gws::client::AgentHttp;
use crate::gws::{Capability, Notification};
use crate::ordering::{AgentChecker, AwaitEvents, Settled};
use crate::vocab::{OpMetric, OpName};

/// What an agent's flows share with its main loop.
#[derive(Debug)]
pub(crate) struct AgentShared {
    pub(crate) ctx: Arc<RunCtx>,
    pub(crate) http: Arc<AgentHttp>,
    pub(crate) username: String,
    pub(crate) user_id: String,
    /// One checker per agent, fed by the main loop and told of operations by the flows. A std
    /// mutex: every use is a short synchronous call. Its token is each operation's start, which
    /// it hands back when the operation settles.
    checker: Mutex<AgentChecker<Started>>,
}

impl AgentShared {
    pub(crate) fn new(
        ctx: Arc<RunCtx>,
        http: Arc<AgentHttp>,
        username: String,
        user_id: String,
        checker: AgentChecker<Started>,
    ) -> Self {
        AgentShared { ctx, http, username, user_id, checker: Mutex::new(checker) }
    }

    pub(crate) fn checker<T>(&self, f: impl FnOnce(&mut AgentChecker<Started>) -> T) -> T {
        f(&mut self.checker.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Checks one notification and records what the checker found in it: its violations, and
    /// the `settle` latency of each operation it settles. Returns the await events it stands
    /// for, for the flow on its interaction. `raw` is the JSON `n` was decoded from (the checker
    /// keeps it a while, for the context of violations).
    pub(crate) fn observe(&self, rec: &Sink, n: &Notification, raw: Box<str>) -> AwaitEvents {
        let now_ms = self.ctx.now_ms();
        let found = self.checker(|c| c.observe_raw(now_ms, n, raw));
        let now = Instant::now();
        rec.violations(found.violations);
        // What crosses between participants: this agent's side of it.
        self.ctx.correlator.cross_notification(now_ms, &self.username, n);
        rec.violations(self.ctx.correlator.cross_poll(now_ms));
        for settled in found.settled {
            let (op, s) = match settled {
                Settled::Operation { op, token } => (op, token),
                Settled::Removal => {
                    // Measured from the remover's intended start; nothing to record if that
                    // agent's start has expired or was never registered.
                    let Some(ixn) = n.interaction_id() else { continue };
                    let key = Key::Removal(ixn.to_owned(), self.user_id.clone());
                    let Some(s) = self.ctx.correlator.finish(&key) else { continue };
                    (Capability::RemoveParticipantFromConference, s)
                }
            };
            rec.latency(OpName::Flow(op), OpMetric::Settle, s.intended, s.sent, now, s.measured);
        }
        found.events
    }
}
