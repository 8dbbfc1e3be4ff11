//! `[[thresholds]]`: what counts as a pass; a metric, a statistic and a limit each.

use std::collections::BTreeMap;

use toml::Spanned;

use super::cx::*;
use super::*;
use crate::scenario::diagnostic::did_you_mean;
use crate::scenario::raw::{self, Scalar};
use crate::vocab::{METRIC_PATTERNS, Metric, OpName, Stat};

/// A `min` or `max` of a count, kept until every threshold is read: the two may be in different
/// `[[thresholds]]` entries.
pub(super) struct CountBound {
    metric: Metric,
    stat: Stat,
    value: u64,
    span: Span,
}

impl Cx<'_> {
    /// A `min` above a `max` of the same metric can never hold: every run would fail (after
    /// applying all its load), so it is refused before any load is applied.
    pub(super) fn check_count_bounds(&mut self) {
        let bounds = std::mem::take(&mut self.count_bounds);
        for min in bounds.iter().filter(|b| b.stat == Stat::Min) {
            for max in bounds.iter().filter(|b| b.stat == Stat::Max && b.metric == min.metric) {
                if min.value > max.value {
                    let (line, col) = self.s.position(max.span.start);
                    self.s.error_help(
                        min.span.clone(),
                        format!(
                            "`min` of `{}` is {}, above its `max` of {} (line {line}, column {col}), so no run could pass",
                            min.metric, min.value, max.value
                        ),
                        "lower `min` or raise `max`",
                    );
                }
            }
        }
    }

    pub(super) fn threshold(
        &mut self,
        t: raw::Threshold,
        span: Span,
        flows: &BTreeMap<String, Option<Flow>>,
    ) -> Vec<Threshold> {
        let Some(m) = &t.metric else {
            self.missing(span, "metric", "name what to limit, e.g. `metric = \"Consult.settle\"` or `metric = \"violations\"`");
            return Vec::new();
        };
        let Some(metric) = self.metric(m) else { return Vec::new() };
        if let Metric::Op(OpName::Flow(op), _) = metric {
            let performed = flows
                .values()
                .flatten()
                .any(|f| f.steps.iter().any(|s| matches!(s, Step::Op(o) if o.op == op)));
            let some_flow_failed = flows.values().any(Option::is_none);
            if !performed && !some_flow_failed {
                self.s.error_help(
                    m.span(),
                    format!("no flow performs `{op}`, so `{metric}` would never be measured"),
                    "check the operation name, or add the operation to a flow",
                );
                return Vec::new();
            }
        }
        let stats = [
            (Stat::P50, &t.p50),
            (Stat::P90, &t.p90),
            (Stat::P99, &t.p99),
            (Stat::P999, &t.p999),
            (Stat::Max, &t.max),
            (Stat::Mean, &t.mean),
            (Stat::Min, &t.min),
            (Stat::Rate, &t.rate),
        ];
        let mut out = Vec::new();
        for (stat, v) in stats {
            let Some(v) = v else { continue };
            if let Some(limit) = self.limit(metric, stat, v) {
                if let (Stat::Min | Stat::Max, Limit::Count(n)) = (stat, &limit) {
                    self.count_bounds.push(CountBound { metric, stat, value: *n, span: v.span() });
                }
                out.push(Threshold { metric, stat, limit });
            }
        }
        if stats.iter().all(|(_, v)| v.is_none()) {
            let help = if metric.is_latency() {
                "add a limit such as `p99 = \"250ms\"` (also p50, p90, p99.9, max, mean)"
            } else {
                "add a limit such as `max = 0` (also min, and rate for error counts)"
            };
            self.s.error_help(m.span(), format!("the threshold on `{metric}` sets no limit"), help);
        }
        out
    }

    pub(super) fn metric(&mut self, m: &Spanned<String>) -> Option<Metric> {
        let s = m.get_ref().as_str();
        match Metric::parse(s) {
            Ok(metric) => Some(metric),
            Err(e) => {
                let help = match (&e, e.candidates()) {
                    (crate::vocab::MetricError::NoSettle { op }, _) => {
                        format!("use `{op}.response`")
                    }
                    (_, Some((word, names))) => match did_you_mean(word, names) {
                        Some(n) => format!("did you mean `{n}`? {METRIC_PATTERNS}"),
                        None => METRIC_PATTERNS.to_owned(),
                    },
                    (_, None) => METRIC_PATTERNS.to_owned(),
                };
                self.s.error_help(m.span(), e.to_string(), help);
                None
            }
        }
    }

    pub(super) fn limit(
        &mut self,
        metric: Metric,
        stat: Stat,
        v: &Spanned<Scalar>,
    ) -> Option<Limit> {
        let latency_stat =
            matches!(stat, Stat::P50 | Stat::P90 | Stat::P99 | Stat::P999 | Stat::Max | Stat::Mean);
        if metric.is_latency() {
            if !latency_stat {
                self.s.error_help(
                    v.span(),
                    format!("`{metric}` is a latency, so it takes no `{stat}`"),
                    "use p50, p90, p99, p99.9, max or mean with a duration",
                );
                return None;
            }
            return match v.get_ref() {
                Scalar::Str(s) => self
                    .duration(&Spanned::new(v.span(), s.clone()), &format!("`{stat}`"))
                    .map(Limit::Latency),
                _ => {
                    self.s.error_help(
                        v.span(),
                        format!("`{stat}` of `{metric}` must be a duration"),
                        format!("e.g. {stat} = \"250ms\""),
                    );
                    None
                }
            };
        }
        if metric.is_fault_ratio() {
            // Only the embedded server's ledger can tell; [faults] is read after the thresholds.
            self.fault_thresholds.push(v.span());
            let f = match v.get_ref() {
                Scalar::Int(n) => Some(*n as f64),
                Scalar::Float(f) => Some(*f),
                Scalar::Str(_) => None,
            };
            return match (stat, f) {
                (Stat::Min, Some(f)) if (0.0..=1.0).contains(&f) => Some(Limit::Fraction(f)),
                (Stat::Min, _) => {
                    self.s.error_help(
                        v.span(),
                        format!("`{metric}` is a fraction, so `min` must be a number from 0 to 1"),
                        "e.g. min = 1.0: every injected fault found",
                    );
                    None
                }
                _ => {
                    self.s.error_help(
                        v.span(),
                        format!("`{metric}` takes only `min`, not `{stat}`"),
                        "e.g. min = 0.95",
                    );
                    None
                }
            };
        }
        match stat {
            Stat::Max | Stat::Min => {
                match v.get_ref() {
                    Scalar::Int(n) if *n >= 0 => u64::try_from(*n).ok().map(Limit::Count),
                    _ => {
                        self.s.error_help(v.span(), format!("`{metric}` is a count, so `{stat}` must be a whole number 0 or more"), format!("e.g. {stat} = 0"));
                        None
                    }
                }
            }
            Stat::Rate if metric.is_error_count() => {
                let f = match v.get_ref() {
                    Scalar::Int(n) => Some(*n as f64),
                    Scalar::Float(f) => Some(*f),
                    Scalar::Str(_) => None,
                };
                match f {
                    Some(f) if (0.0..=1.0).contains(&f) => Some(Limit::Fraction(f)),
                    _ => {
                        self.s.error_help(v.span(), "an error `rate` is the share of operations that failed, a number from 0 to 1", "e.g. rate = 0.01 for at most one in a hundred");
                        None
                    }
                }
            }
            _ => {
                let help = if metric.is_error_count() {
                    "use max, min or rate"
                } else {
                    "use max or min with a whole number"
                };
                self.s.error_help(
                    v.span(),
                    format!("`{metric}` is a count, so it takes no `{stat}`"),
                    help,
                );
                None
            }
        }
    }
}
