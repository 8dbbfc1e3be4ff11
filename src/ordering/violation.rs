//! What the ordering checker reports: one [`Violation`] per broken expectation or invariant.

use std::fmt;

/// The kinds of ordering violation (design.md "The ordering checker").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ViolationKind {
    /// A required step did not arrive within its timeout (or before the interaction ended).
    Missing,
    /// A step arrived after a later step of the same expectation.
    OutOfOrder,
    /// A notification that should never arrive, e.g. anything after `Completed`.
    Unexpected,
    /// The same notification delivered twice.
    Duplicate,
    /// A message-log index that does not strictly increase.
    IndexRegression,
    /// An `Agents`-only entry reached a customer.
    VisibilityLeak,
}

impl ViolationKind {
    pub const ALL: [ViolationKind; 6] = [
        Self::Missing,
        Self::OutOfOrder,
        Self::Unexpected,
        Self::Duplicate,
        Self::IndexRegression,
        Self::VisibilityLeak,
    ];

    /// The stable name used in reports and counters.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::OutOfOrder => "out-of-order",
            Self::Unexpected => "unexpected",
            Self::Duplicate => "duplicate",
            Self::IndexRegression => "index-regression",
            Self::VisibilityLeak => "visibility-leak",
        }
    }
}

impl fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
