//! `[customers]`: the open or closed arrival of simulated customers and what they say.

use std::time::Duration;

use toml::Spanned;

use super::cx::*;
use super::*;
use crate::scenario::plan::{Arrival, Pace, Spacing, Stage};
use crate::scenario::raw::{self, IntOrStr};
use crate::scenario::units::{Distribution, IntRange};

pub(super) struct CustomersDraft {
    pub(super) customers: Customers,
    pub(super) span: Span,
    pub(super) arrival_span: Span,
}

impl Cx<'_> {
    pub(super) fn customers(&mut self, c: raw::Customers, span: Span) -> Option<CustomersDraft> {
        let (arrival, arrival_span) = match &c.arrival {
            Some(a) => {
                let aspan = [&a.rate, &a.from, &a.to, &a.over, &a.spacing]
                    .iter()
                    .find_map(|f| f.as_ref().map(Spanned::span))
                    .or_else(|| a.stages.as_ref().map(Spanned::span))
                    .or_else(|| a.concurrency.as_ref().map(Spanned::span))
                    .unwrap_or_else(|| span.clone());
                (self.arrival(a, aspan.clone()), aspan)
            }
            None => {
                self.missing(span.clone(), "arrival", "say how customers arrive, e.g. `arrival = { rate = \"5/s\" }` (Poisson) or `arrival = { concurrency = 20 }` (closed)");
                (None, span.clone())
            }
        };
        let max_active = match &c.max_active {
            Some(m) => {
                if c.arrival.as_ref().is_some_and(|a| a.concurrency.is_some()) {
                    self.s.error_help(m.span(), "`max_active` applies only to open arrivals", "with `concurrency` the number of active customers is fixed already; remove `max_active`");
                    None
                } else {
                    self.count(m, "`max_active`", 1, MAX_COUNT).map(Some)
                }
            }
            None => Some(None),
        };
        let nickname = match &c.nickname {
            Some(n) if n.get_ref().trim().is_empty() => {
                self.s.error(n.span(), "`nickname` is empty");
                None
            }
            Some(n) => Some(NamePattern(n.get_ref().clone())),
            None => Some(NamePattern("customer-{n}".to_owned())),
        };
        let queue = match &c.queue {
            Some(q) if q.get_ref().trim().is_empty() => {
                self.s.error(
                    q.span(),
                    "`queue` is empty; remove it to use the server's default endpoint",
                );
                None
            }
            Some(q) => Some(Some(q.get_ref().clone())),
            None => Some(None),
        };
        let messages = match &c.messages {
            None => Some(Messages {
                count: IntRange { low: 1, high: 3 },
                think: Distribution::Exponential { mean: Duration::from_secs(2) },
                text: "Hello, I have a question".to_owned(),
                pace: Pace::Closed,
            }),
            Some(m) => {
                let count = match &m.count {
                    None => Some(IntRange { low: 1, high: 3 }),
                    Some(c) => match c.get_ref() {
                        IntOrStr::Int(n) => match u32::try_from(*n) {
                            Ok(n) => Some(IntRange { low: n, high: n }),
                            Err(_) => {
                                self.s.error(
                                    c.span(),
                                    format!("message `count` is {n}, but it must be 0 or more"),
                                );
                                None
                            }
                        },
                        IntOrStr::Str(s) => self.unit(
                            &Spanned::new(c.span(), s.clone()),
                            "message `count`",
                            IntRange::parse,
                        ),
                    },
                };
                let think = match &m.think {
                    Some(t) => self.distribution(t, "message `think`"),
                    None => Some(Distribution::Exponential { mean: Duration::from_secs(2) }),
                };
                let text = match &m.text {
                    Some(t) if t.get_ref().is_empty() => {
                        self.s.error(t.span(), "message `text` is empty");
                        None
                    }
                    Some(t) => Some(t.get_ref().clone()),
                    None => Some("Hello, I have a question".to_owned()),
                };
                let pace = match &m.pace {
                    Some(p) => self.choice(p, "message `pace`", &["closed", "open"], Pace::parse),
                    None => Some(Pace::Closed),
                };
                Some(Messages { count: count?, think: think?, text: text?, pace: pace? })
            }
        };
        let abandon = match &c.abandon {
            None => Some(None),
            Some(a) => {
                let p = match &a.probability {
                    Some(p) if (0.0..=1.0).contains(p.get_ref()) => Some(*p.get_ref()),
                    Some(p) => {
                        self.s.error_help(
                            p.span(),
                            format!(
                                "abandon `probability` is {}, but a probability is between 0 and 1",
                                p.get_ref()
                            ),
                            "e.g. 0.05 for one customer in twenty",
                        );
                        None
                    }
                    None => {
                        self.missing(span.clone(), "probability", "abandon needs `probability = 0.05` (the share of customers who give up)");
                        None
                    }
                };
                let after = match &a.after {
                    Some(d) => self.distribution(d, "abandon `after`"),
                    None => {
                        self.missing(span.clone(), "after", "abandon needs `after = \"10s..60s\"` (how long a customer waits before giving up)");
                        None
                    }
                };
                Some(Some(Abandon { probability: p?, after: after? }))
            }
        };
        Some(CustomersDraft {
            customers: Customers {
                arrival: arrival?,
                nickname: nickname?,
                queue: queue?,
                max_active: max_active?,
                messages: messages?,
                abandon: abandon?,
                offer_check: c.offer_check.as_ref().map(|v| *v.get_ref()),
            },
            span,
            arrival_span,
        })
    }

    pub(super) fn arrival(&mut self, a: &raw::Arrival, span: Span) -> Option<Arrival> {
        const HELP: &str = "use one shape: { rate = \"5/s\" }, { from = \"1/s\", to = \"20/s\", over = \"2m\" }, { stages = [ ... ] } or { concurrency = 20 }";
        let shapes: Vec<&str> = [
            a.rate.as_ref().map(|_| "rate"),
            (a.from.is_some() || a.to.is_some() || a.over.is_some()).then_some("from/to/over"),
            a.stages.as_ref().map(|_| "stages"),
            a.concurrency.as_ref().map(|_| "concurrency"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if shapes.len() > 1 {
            self.s.error_help(
                span,
                format!("`arrival` mixes several shapes ({})", shapes.join(", ")),
                HELP,
            );
            return None;
        }
        let spacing = match &a.spacing {
            Some(s) => {
                if a.concurrency.is_some() {
                    self.s.error(
                        s.span(),
                        "`spacing` applies only to open arrivals, not to `concurrency`",
                    );
                    return None;
                }
                self.choice(s, "spacing", &["poisson", "constant"], Spacing::parse)?
            }
            None => Spacing::Poisson,
        };
        if let Some(r) = &a.rate {
            return Some(Arrival::Steady { rate: self.rate(r, "`rate`")?, spacing });
        }
        if let Some(c) = &a.concurrency {
            return Some(Arrival::Closed {
                concurrency: self.count(c, "`concurrency`", 1, MAX_COUNT)?,
            });
        }
        if let Some(stages) = &a.stages {
            if stages.get_ref().is_empty() {
                self.s.error_help(stages.span(), "`stages` is empty", "list stages such as { rate = \"5/s\", for = \"1m\" } or { to = \"20/s\", over = \"30s\" }");
                return None;
            }
            let mut out = Vec::new();
            let mut ok = true;
            for st in stages.get_ref() {
                match self.stage(st, stages.span()) {
                    Some(s) => out.push(s),
                    None => ok = false,
                }
            }
            return ok.then_some(Arrival::Stages { stages: out, spacing });
        }
        if a.from.is_some() || a.to.is_some() || a.over.is_some() {
            for (key, f) in [("from", &a.from), ("to", &a.to), ("over", &a.over)] {
                if f.is_none() {
                    self.missing(span.clone(), key, "a ramp needs `from`, `to` and `over`, e.g. { from = \"1/s\", to = \"20/s\", over = \"2m\" }");
                }
            }
            let (from, to, over) = (a.from.as_ref(), a.to.as_ref(), a.over.as_ref());
            let from = from.and_then(|f| self.rate(f, "`from`"));
            let to = to.and_then(|t| self.rate(t, "`to`"));
            let over_v = over.and_then(|o| self.duration(o, "`over`"));
            if let (Some(o), Some(d)) = (over, over_v)
                && d.is_zero()
            {
                self.s.error(
                    o.span(),
                    "a ramp `over` zero time is a jump; use { rate = ... } instead",
                );
                return None;
            }
            return Some(Arrival::Ramp { from: from?, to: to?, over: over_v?, spacing });
        }
        self.s.error_help(span, "`arrival` has no shape", HELP);
        None
    }

    pub(super) fn stage(&mut self, st: &raw::Stage, fallback: Span) -> Option<Stage> {
        const HELP: &str = "a stage is { rate = \"5/s\", for = \"1m\" } (hold) or { to = \"20/s\", over = \"30s\" } (ramp from the previous rate)";
        let span = [&st.rate, &st.for_, &st.to, &st.over]
            .iter()
            .find_map(|f| f.as_ref().map(Spanned::span))
            .unwrap_or(fallback);
        match (&st.rate, &st.for_, &st.to, &st.over) {
            (Some(r), Some(f), None, None) => {
                let rate = self.rate(r, "stage `rate`");
                let length = self.positive_duration(f, "stage `for`");
                Some(Stage::Hold { rate: rate?, length: length? })
            }
            (None, None, Some(t), Some(o)) => {
                let to = self.rate(t, "stage `to`");
                let length = self.positive_duration(o, "stage `over`");
                Some(Stage::Ramp { to: to?, length: length? })
            }
            _ => {
                self.s.error_help(span, "this stage is neither a hold nor a ramp", HELP);
                None
            }
        }
    }
}
