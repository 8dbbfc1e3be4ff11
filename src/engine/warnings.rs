//! Agents' warnings, aggregated per cause: when 38 agents fail to log in for one reason, the log
//! shows the first in full and, at the end of the run, one line with how many more did the same,
//! instead of 38 identical lines that bury everything else.

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
}

impl AgentWarning {
    pub(crate) fn message(self) -> &'static str {
        match self {
            AgentWarning::HttpPool => "cannot build this agent's HTTP pool",
            AgentWarning::Login => "login failed",
            AgentWarning::Handshake => "CometD handshake failed",
            AgentWarning::StartSession => "StartContactCenterSession failed",
            AgentWarning::SessionClosed => "CometD session closed",
        }
    }
}

/// How many agents hit each (warning, cause) pair.
#[derive(Debug, Default)]
pub(crate) struct Warnings {
    seen: Mutex<HashMap<(AgentWarning, String), u64>>,
}

impl Warnings {
    /// Logs `what` for `agent` if it is the first with this cause; otherwise only counts it.
    pub(crate) fn warn(&self, what: AgentWarning, agent: &str, cause: &dyn std::fmt::Display) {
        if self.count(what, cause.to_string()) == 1 {
            tracing::warn!(
                agent,
                error = %cause,
                "{} (other agents failing the same way are counted and reported at the end)",
                what.message()
            );
        }
    }

    /// Counts one more agent for this cause; returns how many so far.
    fn count(&self, what: AgentWarning, cause: String) -> u64 {
        // A panic elsewhere while holding the lock leaves a map that is still a valid count.
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let n = seen.entry((what, cause)).or_insert(0);
        *n += 1;
        *n
    }

    /// The causes more than one agent hit: (warning, cause, agents), in a stable order.
    pub(crate) fn repeated(&self) -> Vec<(AgentWarning, String, u64)> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<_> = seen
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|((what, cause), n)| (*what, cause.clone(), *n))
            .collect();
        out.sort();
        out
    }

    /// Logs one line per repeated cause: `login failed for 38 agents in all`.
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
        // The first of each cause is the one logged.
        assert_eq!(w.count(AgentWarning::Login, "timeout".into()), 2);
    }
}
