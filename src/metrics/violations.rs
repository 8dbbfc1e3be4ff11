//! Every violation of a run, one at a time: [`ViolationObserver`] is how the engine hands each
//! violation the checker found, as it is recorded, to whoever streams or keeps them (the
//! `violations.jsonl` writer in `report::violations`, the [`Collector`] a fault-ledger join
//! reads). The recorder itself counts every violation but keeps only the first few.
//!
//! It lives here, beside the recorder, for the reason `interval` does: the report implements it
//! and must not depend on the engine.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::ordering::Violation;

/// Receives each violation as the engine records it, from any task. Implementations must be
/// cheap (a violation is on an agent's notification path) and must not fail the run.
pub trait ViolationObserver: Send + Sync + std::fmt::Debug {
    fn violation(&self, v: &Violation);
}

/// Several observers fed the same violations.
#[derive(Debug)]
pub struct ViolationObservers(pub Vec<std::sync::Arc<dyn ViolationObserver>>);

impl ViolationObserver for ViolationObservers {
    fn violation(&self, v: &Violation) {
        for o in &self.0 {
            o.violation(v);
        }
    }
}

/// Keeps the first `cap` violations in full, in the order they were recorded, and counts the
/// rest: what a join with the fault ledger reads after the run. Bounded, like everything else.
#[derive(Debug)]
pub struct Collector {
    cap: usize,
    kept: Mutex<Vec<Violation>>,
    dropped: AtomicU64,
}

impl Collector {
    pub fn new(cap: usize) -> Collector {
        Collector { cap, kept: Mutex::new(Vec::new()), dropped: AtomicU64::new(0) }
    }

    /// The kept violations (taking them), and how many the cap left out.
    pub fn take(&self) -> (Vec<Violation>, u64) {
        let kept = std::mem::take(&mut *self.kept.lock().unwrap_or_else(|e| e.into_inner()));
        (kept, self.dropped.load(Ordering::Relaxed))
    }
}

impl ViolationObserver for Collector {
    fn violation(&self, v: &Violation) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() < self.cap {
            kept.push(v.clone());
        } else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ordering::ViolationKind;

    #[test]
    fn the_collector_keeps_the_first_and_counts_the_rest() {
        let c = Collector::new(2);
        for at_ms in 0..5 {
            c.violation(&Violation {
                kind: ViolationKind::Missing,
                agent: "a".into(),
                interaction: "i".into(),
                expected: "e".into(),
                got: "g".into(),
                context: Vec::new(),
                at_ms,
            });
        }
        let (kept, dropped) = c.take();
        assert_eq!(kept.iter().map(|v| v.at_ms).collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(dropped, 3);
    }
}
