//! Throughput and concurrency over the measured window: operations, completed flows and chats
//! per second, and the gauges' means and peaks (`summary.json`'s `throughput`, the terminal's
//! throughput block). Built from the engine's [`Window`]; a merge of shards sums its parts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::metrics::gauges::{GaugeStat, Window};
use crate::vocab::{Gauge, OpName};

/// A gauge over the measured window: its time-weighted mean and its highest sample (sampled once
/// per interval, at the interval's end).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct GaugeFigures {
    pub mean: f64,
    pub peak: u64,
}

/// Busy agents over logged-in agents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Occupancy {
    /// Busy agent-seconds over logged-in agent-seconds, 0..=1.
    pub mean: f64,
}

/// Rates and concurrency over the measured window (after warmup, until the load phase ends:
/// login, drain and logout are outside it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    /// The window's length in seconds (the intervals taken).
    pub measured_s: f64,
    /// Operations with an outcome (succeeded or failed) per second, all kinds together.
    pub ops_per_s: f64,
    /// Agent flows that ran every step, per second.
    pub flows_per_s: f64,
    /// Customer chats that ended after an agent joined, per second.
    pub chats_per_s: f64,
    /// Operations per second by operation (only operations seen in the window).
    pub per_operation: BTreeMap<OpName, f64>,
    pub active_chats: GaugeFigures,
    pub agents_logged_in: GaugeFigures,
    pub agents_busy: GaugeFigures,
    pub occupancy: Occupancy,
    pub customers_waiting: GaugeFigures,
}

/// Rates to a thousandth, means to a hundredth: `summary.json` carries no float noise.
fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

fn figures(g: GaugeStat) -> GaugeFigures {
    GaugeFigures { mean: round(g.mean, 2), peak: g.peak }
}

fn occupancy(busy_mean: f64, logged_in_mean: f64) -> Occupancy {
    let mean =
        if logged_in_mean > 0.0 { (busy_mean / logged_in_mean).clamp(0.0, 1.0) } else { 0.0 };
    Occupancy { mean: round(mean, 3) }
}

impl Throughput {
    /// The figures of a run's measured window; `None` when the window took no interval (a run
    /// interrupted before warmup ended has no measured throughput).
    pub fn of(w: &Window) -> Option<Throughput> {
        let secs = w.measured.as_secs_f64();
        if secs <= 0.0 {
            return None;
        }
        let rate = |n: u64| round(n as f64 / secs, 3);
        let busy = w.gauge(Gauge::AgentsBusy);
        let logged_in = w.gauge(Gauge::AgentsLoggedIn);
        Some(Throughput {
            measured_s: round(secs, 3),
            ops_per_s: rate(w.operations),
            flows_per_s: rate(w.flows_completed),
            chats_per_s: rate(w.chats_completed),
            per_operation: w.per_operation.iter().map(|(op, n)| (*op, rate(*n))).collect(),
            active_chats: figures(w.gauge(Gauge::ActiveChats)),
            agents_logged_in: figures(logged_in),
            agents_busy: figures(busy),
            occupancy: occupancy(busy.mean, logged_in.mean),
            customers_waiting: figures(w.gauge(Gauge::CustomersWaiting)),
        })
    }

    /// Shards run side by side: their rates and mean gauges add up. Peaks add up too, an upper
    /// bound (the shards' peaks need not coincide); the window is the longest shard's. `None`
    /// when a shard has no throughput (a partial shard, or a summary from before it existed).
    pub fn sum<'a>(parts: impl IntoIterator<Item = Option<&'a Throughput>>) -> Option<Throughput> {
        let mut total: Option<Throughput> = None;
        for p in parts {
            let p = p?;
            let Some(t) = total.as_mut() else {
                total = Some(p.clone());
                continue;
            };
            t.measured_s = t.measured_s.max(p.measured_s);
            t.ops_per_s = round(t.ops_per_s + p.ops_per_s, 3);
            t.flows_per_s = round(t.flows_per_s + p.flows_per_s, 3);
            t.chats_per_s = round(t.chats_per_s + p.chats_per_s, 3);
            for (op, r) in &p.per_operation {
                let slot = t.per_operation.entry(*op).or_default();
                *slot = round(*slot + r, 3);
            }
            for (mine, theirs) in [
                (&mut t.active_chats, p.active_chats),
                (&mut t.agents_logged_in, p.agents_logged_in),
                (&mut t.agents_busy, p.agents_busy),
                (&mut t.customers_waiting, p.customers_waiting),
            ] {
                mine.mean = round(mine.mean + theirs.mean, 2);
                mine.peak = mine.peak.saturating_add(theirs.peak);
            }
            t.occupancy = occupancy(t.agents_busy.mean, t.agents_logged_in.mean);
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::gws::Capability;
    use crate::metrics::Recorder;
    use crate::metrics::gauges::GaugeSample;
    use crate::vocab::Counter;

    const ACCEPT: OpName = OpName::Flow(Capability::Accept);

    fn window() -> Window {
        let mut w = Window::new(Duration::ZERO, Duration::from_secs(10));
        for i in 0..4u64 {
            let mut r = Recorder::new();
            for _ in 0..=i {
                r.op_ok(ACCEPT, true);
            }
            r.count(Counter::ChatsCompleted, 1);
            let g = GaugeSample {
                active_chats: i,
                agents_logged_in: 4,
                agents_busy: i,
                customers_waiting: 0,
            };
            w.add(Duration::from_secs(i), Duration::from_secs(i + 1), &r, g);
        }
        w
    }

    #[test]
    fn figures_are_rates_over_the_window() {
        let t = Throughput::of(&window()).unwrap();
        assert_eq!((t.measured_s, t.ops_per_s, t.flows_per_s, t.chats_per_s), (4.0, 2.5, 0.0, 1.0));
        assert_eq!(t.per_operation[&ACCEPT], 2.5);
        assert_eq!(t.agents_busy, GaugeFigures { mean: 1.5, peak: 3 });
        assert_eq!(t.agents_logged_in, GaugeFigures { mean: 4.0, peak: 4 });
        assert_eq!(t.occupancy.mean, 0.375);
        assert!(Throughput::of(&Window::default()).is_none());
    }

    #[test]
    fn shards_add_up() {
        let t = Throughput::of(&window()).unwrap();
        let sum = Throughput::sum([Some(&t), Some(&t)]).unwrap();
        assert_eq!((sum.measured_s, sum.ops_per_s, sum.per_operation[&ACCEPT]), (4.0, 5.0, 5.0));
        assert_eq!(sum.agents_logged_in, GaugeFigures { mean: 8.0, peak: 8 });
        assert_eq!(sum.occupancy.mean, 0.375);
        assert!(Throughput::sum([Some(&t), None]).is_none());
        let json = serde_json::to_value(&sum).unwrap();
        assert_eq!(json["per_operation"]["Accept"], 5.0);
        assert_eq!(serde_json::from_value::<Throughput>(json).unwrap(), sum);
    }
}
