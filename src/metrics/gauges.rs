//! The run's live counts ([`Gauge`]: active chats, agents logged in and busy, customers
//! waiting), kept as atomics the engine's tasks raise and lower, sampled at each interval's end;
//! and [`Window`], what the measured window (after warmup, until the load phase ends) made of
//! the intervals: operations and completions per second, gauge means and peaks.
//!
//! A gauge is raised only through a [`GaugeGuard`], which lowers it when dropped: a task that
//! returns early, fails or is cancelled at an `.await` still lowers what it raised, so a gauge
//! cannot drift upward over a long run.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::Recorder;
use crate::vocab::{Counter, Gauge, OpName};

fn slot(g: Gauge) -> usize {
    match g {
        Gauge::ActiveChats => 0,
        Gauge::AgentsLoggedIn => 1,
        Gauge::AgentsBusy => 2,
        Gauge::CustomersWaiting => 3,
    }
}

/// The live counts of a run. Relaxed atomics: each is an independent count read once a second,
/// and no other memory is published through them.
#[derive(Debug, Default)]
pub struct Gauges([AtomicU64; Gauge::ALL.len()]);

impl Gauges {
    pub fn new() -> Self {
        Self::default()
    }

    /// Raises `gauge` by one until the guard is dropped.
    pub fn raise(&self, gauge: Gauge) -> GaugeGuard<'_> {
        self.0[slot(gauge)].fetch_add(1, Ordering::Relaxed);
        GaugeGuard { gauges: self, gauge }
    }

    pub fn get(&self, gauge: Gauge) -> u64 {
        self.0[slot(gauge)].load(Ordering::Relaxed)
    }

    /// Every gauge now. Busy agents are read before logged-in ones: an agent is logged in before
    /// it becomes busy and stops being busy before it logs out, so a sample rarely shows more
    /// busy agents than logged-in ones (readers clamp occupancy anyway).
    pub fn sample(&self) -> GaugeSample {
        let agents_busy = self.get(Gauge::AgentsBusy);
        GaugeSample {
            active_chats: self.get(Gauge::ActiveChats),
            agents_logged_in: self.get(Gauge::AgentsLoggedIn),
            agents_busy,
            customers_waiting: self.get(Gauge::CustomersWaiting),
        }
    }
}

/// One raised gauge; dropping it lowers the gauge again.
#[derive(Debug)]
#[must_use = "the gauge is lowered as soon as the guard is dropped"]
pub struct GaugeGuard<'a> {
    gauges: &'a Gauges,
    gauge: Gauge,
}

impl Drop for GaugeGuard<'_> {
    fn drop(&mut self) {
        self.gauges.0[slot(self.gauge)].fetch_sub(1, Ordering::Relaxed);
    }
}

/// Every gauge at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GaugeSample {
    pub active_chats: u64,
    pub agents_logged_in: u64,
    pub agents_busy: u64,
    pub customers_waiting: u64,
}

impl GaugeSample {
    pub fn get(&self, gauge: Gauge) -> u64 {
        match gauge {
            Gauge::ActiveChats => self.active_chats,
            Gauge::AgentsLoggedIn => self.agents_logged_in,
            Gauge::AgentsBusy => self.agents_busy,
            Gauge::CustomersWaiting => self.customers_waiting,
        }
    }
}

/// A gauge over the measured window: its time-weighted mean and its highest sample.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GaugeStat {
    pub mean: f64,
    pub peak: u64,
}

/// The measured window's throughput and gauges, built interval by interval. An interval
/// belongs to the window when its midpoint lies between `from` (the end of warmup) and `to` (the
/// end of the load phase): intervals are ticks of one second that start a little late, so
/// "wholly inside" would drop the last one by a millisecond. Gauge means are weighted by
/// interval length (the last interval of an interrupted run is short).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Window {
    from: Duration,
    to: Duration,
    /// The length of the intervals taken.
    pub measured: Duration,
    /// Operations with an outcome in the window, all kinds together and by operation.
    pub operations: u64,
    pub per_operation: HashMap<OpName, u64>,
    pub flows_completed: u64,
    pub chats_completed: u64,
    /// Per gauge (indexed like [`Gauge::ALL`]): sum of sample × interval seconds, and the peak.
    weighted: [f64; Gauge::ALL.len()],
    peaks: [u64; Gauge::ALL.len()],
}

impl Window {
    /// An empty window from `from` to `to` (offsets from the start of the load phase).
    pub fn new(from: Duration, to: Duration) -> Self {
        Window { from, to, ..Window::default() }
    }

    /// Takes the interval `start..end` (its recorder counts warmup samples as measured, as the
    /// engine's interval recorder does) with the gauges sampled at its end, if it is inside.
    pub fn add(&mut self, start: Duration, end: Duration, data: &Recorder, gauges: GaugeSample) {
        let mid = start + end.saturating_sub(start) / 2;
        if end <= start || mid < self.from || mid > self.to {
            return;
        }
        let length = end - start;
        self.measured += length;
        self.operations = self.operations.saturating_add(data.total_operations());
        for (op, stats) in data.ops() {
            let n = self.per_operation.entry(op).or_default();
            *n = n.saturating_add(stats.count());
        }
        self.flows_completed =
            self.flows_completed.saturating_add(data.counter(Counter::FlowsCompleted));
        self.chats_completed =
            self.chats_completed.saturating_add(data.counter(Counter::ChatsCompleted));
        for g in Gauge::ALL {
            let v = gauges.get(*g);
            self.weighted[slot(*g)] += v as f64 * length.as_secs_f64();
            self.peaks[slot(*g)] = self.peaks[slot(*g)].max(v);
        }
    }

    /// A gauge's mean and peak over the window; zeros when the window is empty.
    pub fn gauge(&self, gauge: Gauge) -> GaugeStat {
        let secs = self.measured.as_secs_f64();
        let mean = if secs > 0.0 { self.weighted[slot(gauge)] / secs } else { 0.0 };
        GaugeStat { mean, peak: self.peaks[slot(gauge)] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gws::Capability;

    #[test]
    fn a_guard_lowers_its_gauge_on_every_exit() {
        let g = Gauges::new();
        let a = g.raise(Gauge::AgentsLoggedIn);
        {
            let _b = g.raise(Gauge::AgentsLoggedIn);
            let _c = g.raise(Gauge::AgentsBusy);
            assert_eq!(g.sample().agents_logged_in, 2);
        }
        assert_eq!((g.get(Gauge::AgentsLoggedIn), g.get(Gauge::AgentsBusy)), (1, 0));
        // A task dropped mid-await (cancelled) drops its guards too.
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        rt.block_on(async {
            let waiting = async {
                let _w = g.raise(Gauge::CustomersWaiting);
                std::future::pending::<()>().await;
            };
            let _ = tokio::time::timeout(Duration::ZERO, waiting).await;
        });
        assert_eq!(g.get(Gauge::CustomersWaiting), 0);
        drop(a);
        assert_eq!(g.sample(), GaugeSample::default());
    }

    fn second(ops: u64) -> Recorder {
        let mut r = Recorder::new();
        for _ in 0..ops {
            r.op_ok(OpName::Flow(Capability::Accept), true);
        }
        r.count(Counter::FlowsCompleted, 1);
        r.count(Counter::ChatsCompleted, 2);
        r
    }

    #[test]
    fn the_window_takes_intervals_whose_middle_is_inside() {
        let s = |ms: u64| Duration::from_millis(ms);
        let mut w = Window::new(s(2000), s(4000));
        let sample =
            |busy| GaugeSample { agents_logged_in: 4, agents_busy: busy, ..Default::default() };
        // Warmup, then two seconds inside (ticks a little late), then drain.
        w.add(s(1001), s(2002), &second(100), sample(4));
        w.add(s(2002), s(3003), &second(10), sample(1));
        w.add(s(3003), s(4001), &second(20), sample(3));
        w.add(s(4001), s(5002), &second(100), sample(4));
        assert_eq!(w.measured, s(1999));
        assert_eq!((w.operations, w.flows_completed, w.chats_completed), (30, 2, 4));
        assert_eq!(w.per_operation[&OpName::Flow(Capability::Accept)], 30);
        let busy = w.gauge(Gauge::AgentsBusy);
        assert_eq!(busy.peak, 3);
        let expected = (1.0 * 1.001 + 3.0 * 0.998) / 1.999;
        assert!((busy.mean - expected).abs() < 1e-9, "{busy:?}");
        let logged_in = w.gauge(Gauge::AgentsLoggedIn);
        assert!((logged_in.mean - 4.0).abs() < 1e-9 && logged_in.peak == 4, "{logged_in:?}");
        assert_eq!(Window::new(s(0), s(1)).gauge(Gauge::ActiveChats), GaugeStat::default());
    }
}
