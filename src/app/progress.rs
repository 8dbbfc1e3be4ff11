//! Live progress of a run on stderr: a one-line status (phase, elapsed and remaining, operations
//! per second, errors, violations, current p99) redrawn in place on a terminal, printed every
//! ten seconds when stderr is not one (CI logs), and nothing with `--quiet`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// What the status line shows, for one interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snapshot {
    /// Time since the load phase started.
    pub elapsed: Duration,
    pub ops_per_s: f64,
    /// Totals so far.
    pub errors: u64,
    pub violations: u64,
    pub missed_starts: u64,
    /// The highest p99 of any operation's response in the interval, in microseconds.
    pub p99_us: Option<u64>,
}

/// The status line for a snapshot of a run whose load lasts `duration` then drains.
pub fn line(s: &Snapshot, duration: Duration) -> String {
    let phase = if s.elapsed <= duration { "load" } else { "drain" };
    let remaining = duration.saturating_sub(s.elapsed);
    let p99 = match s.p99_us {
        Some(us) if us >= 1_000_000 => format!("{:.2}s", us as f64 / 1e6),
        Some(us) if us >= 1_000 => format!("{:.1}ms", us as f64 / 1e3),
        Some(us) => format!("{us}us"),
        None => "-".into(),
    };
    let mut text = format!(
        "{phase} {}s/{}s ({}s left)  {:.0} ops/s  errors {}  violations {}  p99 {p99}",
        s.elapsed.as_secs(),
        duration.as_secs(),
        remaining.as_secs(),
        s.ops_per_s,
        s.errors,
        s.violations,
    );
    if s.missed_starts > 0 {
        text.push_str(&format!("  MISSED STARTS {}", s.missed_starts));
    }
    text
}

enum Mode {
    Quiet,
    /// A terminal: one line redrawn in place.
    Live(indicatif::ProgressBar),
    /// Not a terminal: a plain line now and then, so CI logs stay readable.
    Plain {
        every: Duration,
        last: Option<Instant>,
    },
}

/// Totals so far, and the status line per interval.
impl crate::metrics::interval::IntervalObserver for Progress {
    fn interval(
        &mut self,
        start: Duration,
        end: Duration,
        data: &crate::metrics::Recorder,
        _gauges: crate::metrics::gauges::GaugeSample,
    ) {
        let ops = data.total_operations();
        self.errors += data.counter(crate::vocab::Counter::Errors);
        self.violations += data.counter(crate::vocab::Counter::Violations);
        self.missed_starts += data.counter(crate::vocab::Counter::MissedStarts);
        let p99_us = data
            .ops()
            .filter_map(|(_, s)| s.response.as_ref())
            .map(|t| t.latency.corrected())
            .filter(|h| !h.is_empty())
            // One quantile, not `summary()`: that scans the histogram five times every second.
            .map(|h| h.inner().value_at_quantile(0.99))
            .max();
        let secs = end.saturating_sub(start).as_secs_f64();
        let snapshot = Snapshot {
            elapsed: end,
            ops_per_s: if secs > 0.0 { ops as f64 / secs } else { 0.0 },
            errors: self.errors,
            violations: self.violations,
            missed_starts: self.missed_starts,
            p99_us,
        };
        self.update(&snapshot);
    }

    fn finish(&mut self) {
        Progress::finish(self);
    }
}

/// The progress display of one run.
pub struct Progress {
    mode: Mode,
    duration: Duration,
    errors: u64,
    violations: u64,
    missed_starts: u64,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress").field("duration", &self.duration).finish_non_exhaustive()
    }
}

impl Progress {
    pub fn new(quiet: bool, duration: Duration) -> Self {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            // The template carries no colour styles, so the live line has no colour codes to
            // suppress under NO_COLOR; off a terminal it is plain lines (below).
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar.set_message("logging in");
            bar.enable_steady_tick(Duration::from_millis(200));
            Mode::Live(bar)
        } else {
            Mode::Plain { every: Duration::from_secs(10), last: None }
        };
        Progress { mode, duration, errors: 0, violations: 0, missed_starts: 0 }
    }

    pub fn update(&mut self, s: &Snapshot) {
        let text = line(s, self.duration);
        match &mut self.mode {
            Mode::Quiet => {}
            Mode::Live(bar) => bar.set_message(text),
            Mode::Plain { every, last } => {
                let now = Instant::now();
                if last.is_none_or(|t| now.duration_since(t) >= *every) {
                    *last = Some(now);
                    eprintln!("{text}");
                }
            }
        }
    }

    /// Clears the live line before the final report is printed.
    pub fn finish(&mut self) {
        if let Mode::Live(bar) = &self.mode {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_says_phase_time_rate_errors_violations_and_p99() {
        let s = Snapshot {
            elapsed: Duration::from_secs(12),
            ops_per_s: 812.4,
            errors: 3,
            violations: 0,
            missed_starts: 0,
            p99_us: Some(4_250),
        };
        assert_eq!(
            line(&s, Duration::from_secs(60)),
            "load 12s/60s (48s left)  812 ops/s  errors 3  violations 0  p99 4.2ms"
        );
        let late =
            Snapshot { elapsed: Duration::from_secs(65), missed_starts: 2, p99_us: None, ..s };
        assert_eq!(
            line(&late, Duration::from_secs(60)),
            "drain 65s/60s (0s left)  812 ops/s  errors 3  violations 0  p99 -  MISSED STARTS 2"
        );
    }
}
