//! What the ordering checker reports: one [`Violation`] per broken expectation or invariant.

use std::fmt;

pub use crate::vocab::ViolationKind;

/// One violation, with enough context for a person to find it in a run's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub kind: ViolationKind,
    /// The virtual agent's or customer's name.
    pub agent: String,
    /// The interaction (chat or Facebook session) id; empty when unknown.
    pub interaction: String,
    /// What the checker expected at this point.
    pub expected: String,
    /// What arrived instead (a short rendering of the notification, or why nothing did).
    pub got: String,
    /// Short renderings of the notifications around it for this interaction, oldest first.
    pub context: Vec<String>,
    /// The caller's monotonic clock, in milliseconds, when the violation was found.
    pub at_ms: u64,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at {} ms: agent {} interaction {}: expected {}, got {}",
            self.kind, self.at_ms, self.agent, self.interaction, self.expected, self.got
        )?;
        if !self.context.is_empty() {
            write!(f, " (recent: {})", self.context.join(" | "))?;
        }
        Ok(())
    }
}
