//! The fault section of a report: what the embedded server injected (its ledger) joined with the
//! run's violations ([`crate::faults::join`]): recall and precision per fault kind, and the faults
//! the checker missed and the violations no fault explains, each with its context (bounded).
//!
//! Present only for a run whose scenario has a `[faults]` section; `None` otherwise, so a clean
//! run's summary has no fault section at all.

use serde::{Deserialize, Serialize};

use super::ViolationReport;
use crate::faults::join::{self, Join};
use crate::faults::{FaultKind, LedgerRecord, LedgerSnapshot};
use crate::ordering::Violation;

/// Missed faults and unexplained violations kept in full (the rest are counted).
pub const DETAILS_KEPT: usize = 20;

/// The join of the fault ledger with the run's violations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultsReport {
    /// Faults injected in all, ledger records joined (the kept ones) and records the ledger's cap
    /// left out (they cannot be joined).
    pub injected: u64,
    pub records: u64,
    pub records_dropped: u64,
    /// Violations joined, and violations the join could not see (beyond its cap).
    pub violations: u64,
    pub violations_dropped: u64,
    /// How much later the run's clock started than the ledger's (milliseconds): a record at
    /// ledger time `t` happened at run time `t - clock_offset_ms`.
    pub clock_offset_ms: i64,
    /// Ordering faults found / ordering faults injected; `None` without ordering faults.
    pub recall: Option<f64>,
    /// Violations a fault explains / violations; `None` without violations.
    pub precision: Option<f64>,
    /// Every kind the ledger holds, in the plan format's order.
    pub kinds: Vec<FaultKindReport>,
    /// Ordering faults no violation found: the first [`DETAILS_KEPT`], and how many in all.
    pub missed: Vec<LedgerRecord>,
    pub missed_total: u64,
    /// Violations no fault explains: the first [`DETAILS_KEPT`], and how many in all.
    pub unexplained: Vec<ViolationReport>,
    pub unexplained_total: u64,
}

/// One fault kind's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultKindReport {
    pub kind: FaultKind,
    /// Whether the kind should show up as ordering violations (only those have a recall).
    pub ordering: bool,
    pub records: u64,
    /// Records whose fault changed no order an agent could see (a delay nothing the protocol
    /// orders against it overtook, a
    /// drop after a dropped invitation to the same agent): not in the recall.
    #[serde(default)]
    pub unobservable: u64,
    /// Records matched one to one with a violation.
    pub found: u64,
    /// Violations explained by a record of this kind.
    pub explained: u64,
    /// Unexplained violations this kind could have produced.
    pub unexplained: u64,
    /// found / (records - unobservable), for ordering kinds with observable records.
    pub recall: Option<f64>,
    /// explained / (explained + unexplained), when some violation concerns the kind.
    pub precision: Option<f64>,
}

impl FaultsReport {
    /// Joins `ledger` with `violations` (`violations_dropped`: those the caller could not keep)
    /// with the two clocks `clock_offset_ms` apart.
    pub fn build(
        ledger: &LedgerSnapshot,
        violations: &[Violation],
        violations_dropped: u64,
        clock_offset_ms: i64,
    ) -> FaultsReport {
        let j: Join = join::join(&ledger.records, violations, clock_offset_ms);
        let kinds = j
            .kinds
            .iter()
            .map(|(kind, k)| FaultKindReport {
                kind: *kind,
                ordering: join::is_ordering(*kind),
                records: k.records,
                unobservable: k.unobservable,
                found: k.found,
                explained: k.explained,
                unexplained: k.unexplained,
                recall: k.recall(*kind),
                precision: k.precision(),
            })
            .collect();
        FaultsReport {
            injected: ledger.total,
            records: ledger.records.len() as u64,
            records_dropped: ledger.dropped,
            violations: j.violations,
            violations_dropped,
            clock_offset_ms,
            recall: j.recall(),
            precision: j.precision(),
            kinds,
            missed: j
                .missed
                .iter()
                .take(DETAILS_KEPT)
                .map(|&i| ledger.records[i].clone())
                .collect(),
            missed_total: j.missed.len() as u64,
            unexplained: j
                .unexplained
                .iter()
                .take(DETAILS_KEPT)
                .map(|&i| ViolationReport::from(&violations[i]))
                .collect(),
            unexplained_total: j.unexplained.len() as u64,
        }
    }

    pub fn kind(&self, kind: FaultKind) -> Option<&FaultKindReport> {
        self.kinds.iter().find(|k| k.kind == kind)
    }
}

/// A missed fault as one line, for the terminal and JUnit.
pub(super) fn missed_line(r: &LedgerRecord) -> String {
    let mut s = format!(
        "#{} {} (rule {}) at {} ms [{}]: agent {} interaction {}",
        r.seq,
        r.kind,
        r.rule,
        r.at_ms,
        r.at,
        r.agent.as_deref().unwrap_or("-"),
        r.interaction.as_deref().unwrap_or("-"),
    );
    if let Some(op) = r.operation.as_deref().or(r.cause.as_deref()) {
        s.push_str(&format!(", by {op}"));
    }
    if let Some(n) = &r.notification {
        s.push_str(&format!(", {n}"));
    }
    if let Some(o) = r.ordinal {
        s.push_str(&format!(" (ordinal {o})"));
    }
    if let Some(i) = r.index {
        s.push_str(&format!(", index {i}"));
    }
    s.push_str(&format!(": {}", r.detail));
    s
}

/// `0.95` as `0.950`, `None` as `-`.
pub(super) fn ratio(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_owned(), |x| format!("{x:.3}"))
}
