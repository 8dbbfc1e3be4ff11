//! Agents' warnings, aggregated per cause: when 38 agents fail to log in for one reason, the log
//! shows the first in full and, when the login phase ends and when the run ends, one line with how
//! many agents did the same, instead of 38 identical lines that bury everything else.

use std::collections::HashMap;
use std::sync::Mutex;

/// What went wrong for an agent, as its log line says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum AgentWarning {
    HttpPool,
    Login,
    Handshake,
    StartSession,
    SessionClosed,
    /// An exchange of an established CometD stream failed (logged once per kind of failure).
    StreamFailing,
    /// A reconnect storm's old stream was dropped before its marker was seen; the cause names
    /// the storm's rule and firing, so the count per cause is the agents that firing left behind.
    StormNotCaughtUp,
}

impl AgentWarning {
    pub(crate) fn message(self) -> &'static str {
        match self {
            AgentWarning::HttpPool => "cannot build this agent's HTTP pool",
            AgentWarning::Login => "login failed",
            AgentWarning::Handshake => "CometD handshake failed",
            AgentWarning::StartSession => "StartContactCenterSession failed",
            AgentWarning::SessionClosed => "CometD session closed",
            AgentWarning::StreamFailing => "CometD stream failing, retrying",
            AgentWarning::StormNotCaughtUp => {
                "reconnect storm: old stream not caught up (counted as Handshake error storm-not-caught-up; notifications may be lost)"
            }
        }
    }
}

/// How many agents hit each (warning, cause) pair, and how many of those were already reported.
#[derive(Debug, Default)]
pub(crate) struct Warnings {
    seen: Mutex<HashMap<(AgentWarning, String), Seen>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    agents: u64,
    reported: u64,
}

impl Warnings {
    /// Logs `what` for `agent` if it is the first with this cause; otherwise only counts it.
    pub(crate) fn warn(&self, what: AgentWarning, agent: &str, cause: &dyn std::fmt::Display) {
        if self.count(what, cause.to_string()) == 1 {
            tracing::warn!(
                agent,
                error = %cause,
                "{} (other agents failing the same way are counted, not logged one by one)",
                what.message()
            );
        }
    }

    /// Counts one more agent for this cause; returns how many so far.
    fn count(&self, what: AgentWarning, cause: String) -> u64 {
        // A panic elsewhere while holding the lock leaves a map that is still a valid count.
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let n = seen.entry((what, cause)).or_default();
        n.agents += 1;
        n.agents
    }

    /// The causes more than one agent hit that have grown since the last call: (warning, cause,
    /// agents so far), in a stable order. Each is then reported.
    pub(crate) fn repeated(&self) -> Vec<(AgentWarning, String, u64)> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<_> = seen
            .iter_mut()
            .filter(|(_, n)| n.agents > 1 && n.agents > n.reported)
            .map(|((what, cause), n)| {
                n.reported = n.agents;
                (*what, cause.clone(), n.agents)
            })
            .collect();
        out.sort();
        out
    }

    /// Logs one line per repeated cause not reported yet: `login failed for 38 agents in all`.
    /// Called when the login phase ends and when the run ends.
    pub(crate) fn log_repeated(&self) {
        for (what, cause, n) in self.repeated() {
            tracing::warn!(error = %cause, agents = n, "{} for {n} agents in all (one logged above)", what.message());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 10: 38 identical login failures are one warning and one count, not 38 lines.
    #[test]
    fn identical_warnings_are_counted_once_per_cause() {
        let w = Warnings::default();
        for i in 0..38 {
            w.warn(AgentWarning::Login, &format!("agent-{i}"), &"http 401");
        }
        w.warn(AgentWarning::Login, "agent-x", &"timeout");
        w.warn(AgentWarning::Handshake, "agent-y", &"http 401");
        assert_eq!(w.repeated(), vec![(AgentWarning::Login, "http 401".to_owned(), 38)]);
        // Reported once; again only when more agents hit it.
        assert_eq!(w.repeated(), vec![]);
        w.warn(AgentWarning::Login, "agent-z", &"http 401");
        assert_eq!(w.repeated(), vec![(AgentWarning::Login, "http 401".to_owned(), 39)]);
        // The first of each cause is the one logged.
        assert_eq!(w.count(AgentWarning::Login, "timeout".into()), 2);
    }

    /// A storm's warning names its firing, so the agents each firing left behind are counted
    /// apart.
    #[test]
    fn storms_not_caught_up_are_counted_per_firing() {
        let w = Warnings::default();
        let first = "rule 2, firing 0 at 30.0s into the load";
        let second = "rule 2, firing 1 at 60.0s into the load";
        w.warn(AgentWarning::StormNotCaughtUp, "agent-1", &first);
        for i in 0..3 {
            w.warn(AgentWarning::StormNotCaughtUp, &format!("agent-{i}"), &second);
        }
        assert_eq!(w.repeated(), vec![(AgentWarning::StormNotCaughtUp, second.to_owned(), 3)]);
    }
}
