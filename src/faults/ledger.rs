//! The fault ledger: one record per injected fault, carrying what a join with the checker's
//! violations needs (kind, agent, interaction, operation, time), and a bounded in-memory store.
//!
//! Time is given by the caller as milliseconds since the server started plus the server's
//! wall-clock start, so the record can carry both (a simulator in another process lines the
//! ledger up with its own clock through the RFC 3339 time). The store keeps the first
//! `cap` records and counts the rest: a join then knows how much of the ledger it did not see.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::spec::FaultKind;

/// One injected fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerRecord {
    /// 1, 2, 3 ... in the order faults were injected (records dropped by the cap included).
    pub seq: u64,
    pub kind: FaultKind,
    /// Index of the plan rule that fired (0-based, in file order).
    pub rule: usize,
    /// The agent (username) the fault was done to; for a leak, the author of the leaked entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The interaction concerned (the agent-side interaction id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interaction: Option<String>,
    /// The customer's chat (or Facebook session) id, for a fault the customer sees (a leak):
    /// the id the customer's checker reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat: Option<String>,
    /// The interaction operation (Capability name) whose request or notifications were faulted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// What caused the faulted notifications when it was not an interaction operation:
    /// `customer:<operation>`, `session:<operation>`, `routing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The faulted notification, e.g. `StatusChange(Completed)` or
    /// `MessageLogUpdated[ParticipantJoined#5]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<String>,
    /// 0-based ordinal of the faulted notification among those this agent was sent about this
    /// interaction (since its last terminal state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordinal: Option<u32>,
    /// The message-log index concerned (the leaked entry, the regressed entry's true index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// The fault proxy's connection (1, 2, 3 ... in accept order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<u64>,
    /// The fault proxy's direction: `upstream` (towards the server) or `downstream`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// What was done, in words.
    pub detail: String,
    /// For a delay: whether a later notification for the same agent and interaction went out
    /// before the delayed one in an order the protocol promises (protocol.md §6.11: the same
    /// operation's sequence, log indices, the terminal state last, the invitation first), so
    /// that an ordering checker could see it. Otherwise it broke no promise (or no session took
    /// it: nobody received it): a latency, not an ordering fault, counted in no recall. Absent: never published (the server stopped, or
    /// the ledger was read while it was still on its timer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overtaken: Option<bool>,
    /// Milliseconds since the server started.
    pub at_ms: u64,
    /// Wall-clock time, RFC 3339 with milliseconds, UTC.
    pub at: String,
}

/// A record before the ledger numbers and timestamps it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewRecord {
    pub agent: Option<String>,
    pub interaction: Option<String>,
    pub chat: Option<String>,
    pub operation: Option<String>,
    pub cause: Option<String>,
    pub notification: Option<String>,
    pub ordinal: Option<u32>,
    pub index: Option<u64>,
    pub connection: Option<u64>,
    pub direction: Option<String>,
    pub detail: String,
    pub overtaken: Option<bool>,
}

/// What the ledger holds at one moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LedgerSnapshot {
    /// The kept records, oldest first.
    pub records: Vec<LedgerRecord>,
    /// Faults injected in all (kept or not).
    pub total: u64,
    /// Records not kept because the cap was reached.
    pub dropped: u64,
}

#[derive(Debug, Default)]
struct Inner {
    records: Vec<LedgerRecord>,
    total: u64,
    dropped: u64,
}

/// The bounded store of records.
#[derive(Debug)]
pub struct Ledger {
    cap: usize,
    started: SystemTime,
    /// A std mutex: pushes are a few field updates, called from synchronous code (under the
    /// server's state lock for notification faults) and never across an await.
    inner: Mutex<Inner>,
}

impl Ledger {
    /// A ledger keeping at most `cap` records; `started` is the wall-clock time of the server's
    /// start, to which `at_ms` is added.
    pub fn new(cap: usize, started: SystemTime) -> Ledger {
        Ledger { cap, started, inner: Mutex::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A push cannot leave the store half-updated, so a poisoned lock still holds sound data.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Numbers, timestamps and stores one record; returns it (for a file or log copy).
    pub fn push(
        &self,
        kind: FaultKind,
        rule: usize,
        elapsed: Duration,
        new: NewRecord,
    ) -> LedgerRecord {
        let mut inner = self.lock();
        inner.total += 1;
        let record = self.unstored(inner.total, kind, rule, elapsed, new);
        if inner.records.len() < self.cap {
            inner.records.push(record.clone());
        } else {
            inner.dropped += 1;
        }
        record
    }

    /// A record as [`Ledger::push`] would make it, numbered `seq`, without storing it (a fault
    /// still being carried out, shown in a snapshot before its record exists).
    pub fn unstored(
        &self,
        seq: u64,
        kind: FaultKind,
        rule: usize,
        elapsed: Duration,
        new: NewRecord,
    ) -> LedgerRecord {
        let at_ms = elapsed.as_millis() as u64;
        LedgerRecord {
            seq,
            kind,
            rule,
            agent: new.agent,
            interaction: new.interaction,
            chat: new.chat,
            operation: new.operation,
            cause: new.cause,
            notification: new.notification,
            ordinal: new.ordinal,
            index: new.index,
            connection: new.connection,
            direction: new.direction,
            detail: new.detail,
            overtaken: new.overtaken,
            at_ms,
            at: rfc3339(self.started + Duration::from_millis(at_ms)),
        }
    }

    /// A copy of the kept records with `seq > after` (all with 0), and the counters.
    pub fn snapshot_after(&self, after: u64) -> LedgerSnapshot {
        let inner = self.lock();
        let start = inner.records.partition_point(|r| r.seq <= after);
        LedgerSnapshot {
            records: inner.records[start..].to_vec(),
            total: inner.total,
            dropped: inner.dropped,
        }
    }

    pub fn snapshot(&self) -> LedgerSnapshot {
        self.snapshot_after(0)
    }
}

/// `2024-05-01T12:00:00.123Z`.
fn rfc3339(t: SystemTime) -> String {
    let nanos = t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos()) as i128;
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(nanos - nanos % 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(detail: &str) -> NewRecord {
        NewRecord { detail: detail.into(), ..NewRecord::default() }
    }

    #[test]
    fn records_are_numbered_timed_and_capped() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let ledger = Ledger::new(2, start);
        let a = ledger.push(FaultKind::Drop, 0, Duration::from_millis(1_500), rec("a"));
        assert_eq!(a.seq, 1);
        assert_eq!(a.at_ms, 1_500);
        assert_eq!(a.at, "2023-11-14T22:13:21.5Z");
        ledger.push(FaultKind::Swap, 1, Duration::from_millis(1_600), rec("b"));
        ledger.push(FaultKind::Swap, 1, Duration::from_millis(1_700), rec("c"));
        let snap = ledger.snapshot();
        assert_eq!(snap.records.len(), 2);
        assert_eq!((snap.total, snap.dropped), (3, 1));
        assert_eq!(ledger.snapshot_after(1).records.len(), 1);
        let json = serde_json::to_string(&a).expect("json");
        assert!(json.contains("\"kind\":\"drop\""), "{json}");
        assert!(!json.contains("agent"), "absent fields are left out: {json}");
        let back: LedgerRecord = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back, a);
    }
}
