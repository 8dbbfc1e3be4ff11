//! `[capacity]`: how `gwsim capacity` raises, holds, judges and narrows, with its flags folded in.
//!
//! Whether the scenario's load can be raised at all (open arrivals, no faults) is the capacity
//! search's own rule (`capacity::check_scenario`): a `gwsim capacity` without a `[capacity]`
//! section needs it just the same.

use toml::Spanned;

use super::cx::*;
use super::*;
use crate::scenario::raw::{self, Scalar};
use crate::scenario::units::format_duration;
use crate::scenario::{Capacity, Growth};

const KEYS_HELP: &str = "[capacity] takes start, step or factor, max, hold, warmup, min_samples, \
                         resolution, min, max_cpu, max_lag and max_missed (scenarios/README.md, Capacity)";

impl Cx<'_> {
    /// The section (or, without one, the defaults with any flag folded in); `Some(None)` when
    /// neither the file nor a flag says anything; `None` after an error.
    pub(super) fn capacity(
        &mut self,
        section: Option<(raw::Capacity, Span)>,
    ) -> Option<Option<Capacity>> {
        let o = self.o.capacity.clone();
        let (c, span) = match section {
            Some(s) => s,
            None if o.any() => (raw::Capacity::empty(), 0..0),
            None => return Some(None),
        };
        let d = Capacity::default();
        let here = At::File(span.clone());
        let rate = |cx: &mut Self, v: &Spanned<String>, what: &str| cx.rate(v, what);
        let duration = |cx: &mut Self, v: &Spanned<String>, what: &str| cx.duration(v, what);
        let start = self.pick(
            c.start.as_ref(),
            "start",
            o.start.map(|r| (r, r.to_string())),
            "--start",
            rate,
            d.start,
            &here,
        );
        let max = self.pick(
            c.max.as_ref(),
            "max",
            o.max.map(|r| (r, r.to_string())),
            "--max",
            rate,
            d.max,
            &here,
        );
        let resolution = self.pick(
            c.resolution.as_ref(),
            "resolution",
            o.resolution.map(|r| (r, r.to_string())),
            "--resolution",
            rate,
            d.resolution,
            &here,
        );
        let hold = self.pick(
            c.hold.as_ref(),
            "hold",
            o.hold.map(|d| (d, format_duration(d))),
            "--hold",
            duration,
            d.hold,
            &here,
        );
        let warmup = self.pick(
            c.warmup.as_ref(),
            "warmup",
            o.warmup.map(|d| (d, format_duration(d))),
            "--warmup",
            duration,
            d.warmup,
            &here,
        );
        let max_lag =
            self.pick(c.max_lag.as_ref(), "max_lag", None, "", duration, d.max_lag, &here);
        let min = match (o.min, c.min.as_ref()) {
            (Some(m), file) => {
                if let Some(f) = file {
                    self.rate(f, "`min`");
                }
                Some(Some((m, At::flag("--min", m))))
            }
            (None, Some(f)) => self.rate(f, "`min`").map(|m| Some((m, At::File(f.span())))),
            (None, None) => Some(None),
        };
        let min_samples = match (o.min_samples, &c.min_samples) {
            (Some(n), _) => Some(n),
            (None, Some(n)) => match u64::try_from(*n.get_ref()) {
                Ok(v) => Some(v),
                Err(_) => {
                    self.s.error(
                        n.span(),
                        format!("`min_samples` is {}, but it must be 0 or more", n.get_ref()),
                    );
                    None
                }
            },
            (None, None) => Some(d.min_samples),
        };
        let max_cpu = match (o.max_cpu, &c.max_cpu) {
            (Some(f), _) => Some((f, At::flag("--max-cpu", f))),
            (None, Some(v)) => self.number(v, "max_cpu").map(|f| (f, At::File(v.span()))),
            (None, None) => Some((d.max_cpu, here.clone())),
        };
        let max_missed = match &c.max_missed {
            Some(v) => self.number(v, "max_missed").map(|f| (f, At::File(v.span()))),
            None => Some((d.max_missed, here.clone())),
        };
        let growth = self.growth(&c, &o, &here);

        // Each rule runs on the values that could be read, so every problem shows at once.
        let mut ok = true;
        if let Some((r, at)) = &start
            && r.per_second() <= 0.0
        {
            self.error_at(at, "`start` is 0/s, so the first step would apply no load", None);
            ok = false;
        }
        if let (Some((lo, lo_at)), Some((hi, hi_at))) = (&start, &max)
            && hi < lo
        {
            // Point at whatever made it wrong: a flag over the file, the file over a default.
            let at = if hi_at.is_flag() || !lo_at.is_flag() { hi_at } else { lo_at };
            self.error_at(
                at,
                format!("`max` ({hi}) is below `start` ({lo}), so no step could run"),
                Some("raise `max` or lower `start`".to_owned()),
            );
            ok = false;
        }
        if let Some((r, at)) = &resolution
            && r.per_second() <= 0.0
        {
            self.error_at(at, "`resolution` is 0/s, so the narrowing would never end", None);
            ok = false;
        }
        for (what, v) in [("hold", &hold), ("max_lag", &max_lag)] {
            if let Some((d, at)) = v
                && d.is_zero()
            {
                self.error_at(at, format!("`{what}` is zero"), None);
                ok = false;
            }
        }
        if let Some((f, at)) = &max_cpu
            && !(*f > 0.0 && *f <= 1.0)
        {
            self.error_at(
                at,
                format!("`max_cpu` is {f}, but it is a share of this machine's cores, above 0 and at most 1"),
                Some("e.g. max_cpu = 0.9: a step where gwsim used more than 90% of the cores is generator-limited".to_owned()),
            );
            ok = false;
        }
        if let Some((f, at)) = &max_missed
            && !(0.0..=1.0).contains(f)
        {
            self.error_at(
                at,
                format!("`max_missed` is {f}, but it is a share of a step's arrivals, from 0 to 1"),
                Some(
                    "e.g. max_missed = 0.01: more than 1% of arrivals late is generator-limited"
                        .to_owned(),
                ),
            );
            ok = false;
        }
        if let (Some(Some((m, at))), Some((hi, _))) = (&min, &max)
            && m > hi
        {
            self.error_at(
                at,
                format!("`min` ({m}) is above `max` ({hi}), so the search could never find it"),
                Some("raise `max` to at least `min`".to_owned()),
            );
            ok = false;
        }
        let (start, max, resolution, hold, warmup, max_lag, min, min_samples, max_cpu, growth) = (
            start?,
            max?,
            resolution?,
            hold?,
            warmup?,
            max_lag?,
            min?,
            min_samples?,
            max_cpu?,
            growth?,
        );
        let max_missed = max_missed?;
        ok.then(|| {
            Some(Capacity {
                start: start.0,
                growth,
                max: max.0,
                hold: hold.0,
                warmup: warmup.0,
                min_samples,
                resolution: resolution.0,
                min: min.map(|(m, _)| m),
                max_cpu: max_cpu.0,
                max_lag: max_lag.0,
                max_missed: max_missed.0,
            })
        })
    }

    /// `step` or `factor` (not both), a flag replacing either.
    fn growth(
        &mut self,
        c: &raw::Capacity,
        o: &crate::scenario::CapacityOverrides,
        here: &At,
    ) -> Option<Growth> {
        let file_step = c.step.as_ref().map(|v| (self.rate(v, "`step`"), v.span()));
        let file_factor = c.factor.as_ref().map(|v| (self.number(v, "factor"), v.span()));
        let (growth, at) = match (o.step, o.factor, &file_step, &file_factor) {
            (Some(s), _, _, _) => (Growth::Step(s), At::flag("--step", s)),
            (None, Some(f), _, _) => (Growth::Factor(f), At::flag("--factor", f)),
            (None, None, Some((_, span)), Some(_)) => {
                self.s.error_help(
                    span.clone(),
                    "[capacity] has both `step` and `factor`",
                    "keep one: `step` adds a rate each time, `factor` multiplies it",
                );
                return None;
            }
            (None, None, Some((s, span)), None) => (Growth::Step((*s)?), At::File(span.clone())),
            (None, None, None, Some((f, span))) => (Growth::Factor((*f)?), At::File(span.clone())),
            (None, None, None, None) => (Capacity::default().growth, here.clone()),
        };
        match growth {
            Growth::Step(s) if s.per_second() <= 0.0 => {
                self.error_at(&at, "`step` is 0/s, so the rate would never rise", None);
                None
            }
            Growth::Factor(f) if !(f > 1.0 && f.is_finite()) => {
                self.error_at(
                    &at,
                    format!("`factor` is {f}, but it must be above 1 for the rate to rise"),
                    Some("e.g. factor = 1.5".to_owned()),
                );
                None
            }
            g => Some(g),
        }
    }

    /// A number written as an integer or a float.
    fn number(&mut self, v: &Spanned<Scalar>, key: &str) -> Option<f64> {
        match v.get_ref() {
            Scalar::Int(n) => Some(*n as f64),
            Scalar::Float(f) => Some(*f),
            Scalar::Str(_) => {
                self.s.error_help(v.span(), format!("`{key}` must be a number"), KEYS_HELP);
                None
            }
        }
    }

    /// A value from the flag when given (the file's value still read, and any mistake in it
    /// reported), else from the file, else the default; with where it came from.
    #[allow(clippy::too_many_arguments)]
    fn pick<T: Copy>(
        &mut self,
        file: Option<&Spanned<String>>,
        key: &str,
        flag: Option<(T, String)>,
        flag_name: &str,
        parse: impl Fn(&mut Self, &Spanned<String>, &str) -> Option<T>,
        default: T,
        here: &At,
    ) -> Option<(T, At)> {
        let what = format!("`{key}`");
        let from_file = file.map(|v| parse(self, v, &what).map(|t| (t, At::File(v.span()))));
        match (flag, from_file) {
            (Some((t, shown)), _) => Some((t, At::flag(flag_name, shown))),
            (None, Some(parsed)) => parsed,
            (None, None) => Some((default, here.clone())),
        }
    }
}

impl raw::Capacity {
    /// No key given: every value is a default (or a flag's).
    fn empty() -> Self {
        raw::Capacity {
            start: None,
            step: None,
            factor: None,
            max: None,
            hold: None,
            warmup: None,
            min_samples: None,
            resolution: None,
            min: None,
            max_cpu: None,
            max_lag: None,
            max_missed: None,
        }
    }
}
