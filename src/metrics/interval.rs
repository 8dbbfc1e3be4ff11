//! The run one interval at a time: [`IntervalObserver`] is how the engine hands each interval's
//! [`Recorder`] to whoever writes or shows time series (the result files in `report::live`, the
//! live progress line), and [`Observers`] feeds several of them the same intervals.
//!
//! It lives here, beside the recorder it carries, rather than in `engine`: the report and the
//! progress line implement it, and they render the engine's outcome, so they must not depend on
//! the engine.

use std::time::Duration;

use super::Recorder;
use super::gauges::GaugeSample;

/// Receives the run one interval at a time (the engine's module docs say when). Implementations
/// write files; they must not fail the run, so neither method returns an error.
pub trait IntervalObserver: Send {
    /// The load phase begins, with `agents_logged_in` of the run's agents in; `login` is what
    /// was recorded while they logged in (once, before the first interval). The time series
    /// start with the load and ignore both; a live total (Prometheus) adds `login` so that its
    /// counts are the run's.
    fn load_started(&mut self, _agents_logged_in: usize, _login: &Recorder) {}
    /// What was recorded between `start` and `end` (offsets from the start of the load phase).
    /// In `data`, warmup samples count as measured: warmup is `start < scenario.run.warmup`.
    /// `gauges` are the run's live counts sampled at `end`.
    fn interval(&mut self, start: Duration, end: Duration, data: &Recorder, gauges: GaugeSample);
    /// The run is over (also after an interrupt or a failed login): flush and close.
    fn finish(&mut self);
}

/// Several observers fed the same intervals (the result files and the live progress line).
pub struct Observers(pub Vec<Box<dyn IntervalObserver>>);

impl IntervalObserver for Observers {
    fn load_started(&mut self, agents_logged_in: usize, login: &Recorder) {
        for o in &mut self.0 {
            o.load_started(agents_logged_in, login);
        }
    }

    fn interval(&mut self, start: Duration, end: Duration, data: &Recorder, gauges: GaugeSample) {
        for o in &mut self.0 {
            o.interval(start, end, data, gauges);
        }
    }

    fn finish(&mut self) {
        for o in &mut self.0 {
            o.finish();
        }
    }
}
