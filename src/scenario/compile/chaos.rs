//! `[chaos]`: client-side chaos (agents that crash and come back, reconnect storms, slow
//! consumers, customers leaving in the middle of a consult), each rule a kind, a schedule, a
//! share of agents (or customers) and the populations it hits.

use std::collections::HashMap;

use toml::Spanned;

use super::cx::*;
use super::*;
use crate::scenario::raw;
use crate::scenario::{Chaos, ChaosKind, ChaosRule};

const KINDS: &[&str] = &["crash", "reconnect-storm", "slow-consumer", "customer-abandon"];

impl Cx<'_> {
    /// The section, checked; `None` after an error.
    pub(super) fn chaos(
        &mut self,
        c: raw::Chaos,
        span: Span,
        pops: &HashMap<String, Option<usize>>,
    ) -> Option<Chaos> {
        let invite_timeout = match &c.invite_timeout {
            Some(v) => Some(self.duration(v, "invite_timeout")?),
            None => None,
        };
        if c.rule.is_empty() {
            self.s.error_help(
                span,
                "[chaos] has no rule",
                "add [[chaos.rule]] entries with kind = \"crash\", \"reconnect-storm\", \"slow-consumer\" or \"customer-abandon\"",
            );
            return None;
        }
        let mut rules = Vec::new();
        let mut ok = true;
        for r in c.rule {
            match self.chaos_rule(r, pops) {
                Some(rule) => rules.push(rule),
                None => ok = false,
            }
        }
        ok.then_some(Chaos { invite_timeout, rules })
    }

    fn chaos_rule(
        &mut self,
        r: raw::ChaosRule,
        pops: &HashMap<String, Option<usize>>,
    ) -> Option<ChaosRule> {
        let kind_name =
            self.choice(&r.kind, "chaos kind", KINDS, |k| KINDS.iter().copied().find(|n| *n == k))?;
        let only = |cx: &mut Self, v: &Option<Spanned<String>>, key: &str, owner: &str| {
            if let Some(v) = v
                && kind_name != owner
            {
                cx.s.error(v.span(), format!("`{key}` applies to kind = \"{owner}\" only"));
            }
        };
        only(self, &r.down, "down", "crash");
        only(self, &r.pause, "pause", "slow-consumer");
        if kind_name == "customer-abandon" {
            // A customer has no schedule of its own and belongs to no population: it is hit
            // once, when its chat is in a consult.
            if let Some(v) = &r.every {
                self.s.error(v.span(), "`every` does not apply to kind = \"customer-abandon\"");
            }
            if r.populations.is_some() {
                self.s.error(
                    r.kind.span(),
                    "`populations` does not apply to kind = \"customer-abandon\" (it hits customers)",
                );
            }
        }
        let kind = match kind_name {
            "crash" => match &r.down {
                Some(v) if v.get_ref() == "never" => ChaosKind::Crash { down: None },
                Some(v) => ChaosKind::Crash { down: Some(self.distribution(v, "down")?) },
                None => {
                    self.missing(
                        r.kind.span(),
                        "down",
                        "how long a crashed agent is gone: `down = \"2s..5s\"`, or \"never\"",
                    );
                    return None;
                }
            },
            "slow-consumer" => match &r.pause {
                Some(v) => ChaosKind::SlowConsumer { pause: self.distribution(v, "pause")? },
                None => {
                    self.missing(
                        r.kind.span(),
                        "pause",
                        "how long the agent stops reading: `pause = \"3s\"`",
                    );
                    return None;
                }
            },
            "customer-abandon" => ChaosKind::CustomerAbandon,
            _ => ChaosKind::ReconnectStorm,
        };
        let share = match &r.share {
            Some(v) if !(0.0..=1.0).contains(v.get_ref()) => {
                self.s.error(
                    v.span(),
                    format!("share is {}, but it must be within 0..=1", v.get_ref()),
                );
                return None;
            }
            Some(v) => *v.get_ref(),
            None => 1.0,
        };
        let from = match &r.from {
            Some(v) => self.duration(v, "from")?,
            None => {
                self.missing(
                    r.kind.span(),
                    "from",
                    "when the rule first fires, from the start of the load: `from = \"5s\"`",
                );
                return None;
            }
        };
        let every = match &r.every {
            Some(v) => {
                let d = self.duration(v, "every")?;
                if d.is_zero() {
                    self.s.error(v.span(), "every must be longer than 0s");
                    return None;
                }
                Some(d)
            }
            None => None,
        };
        let populations = r.populations.unwrap_or_default();
        for p in &populations {
            if !pops.contains_key(p) {
                let known: Vec<&str> = pops.keys().map(String::as_str).collect();
                self.s.error_help(
                    r.kind.span(),
                    format!("[[chaos.rule]] names population `{p}`, which does not exist"),
                    format!("populations: {}", known.join(", ")),
                );
                return None;
            }
        }
        Some(ChaosRule { kind, share, from, every, populations })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::scenario::{ChaosKind, Distribution, Overrides, parse};

    fn scenario(chaos: &str) -> String {
        format!(
            r#"name = "t"
[run]
duration = "10s"
[[agents]]
name = "a"
count = 2
flow = "f"
[flows.f]
steps = [ {{ op = "Accept" }}, {{ op = "Complete" }} ]
{chaos}"#
        )
    }

    #[test]
    fn rules_compile_with_their_defaults() {
        let text = scenario(
            r#"[chaos]
invite_timeout = "2s"
[[chaos.rule]]
kind = "crash"
from = "1s"
down = "never"
[[chaos.rule]]
kind = "slow-consumer"
from = "2s"
every = "3s"
share = 0.5
pause = "1s"
populations = ["a"]
[[chaos.rule]]
kind = "customer-abandon"
from = "3s"
share = 0.25
"#,
        );
        let s = parse("t.toml", &text, &Overrides::default()).expect("valid");
        let c = s.chaos.expect("[chaos]");
        assert_eq!(c.invite_timeout, Some(Duration::from_secs(2)));
        assert_eq!(c.rules[0].kind, ChaosKind::Crash { down: None });
        assert_eq!((c.rules[0].share, c.rules[0].every), (1.0, None));
        let pause = Distribution::Constant(Duration::from_secs(1));
        assert_eq!(c.rules[1].kind, ChaosKind::SlowConsumer { pause });
        assert_eq!(c.rules[1].populations, vec!["a".to_owned()]);
        assert_eq!(c.rules[2].kind, ChaosKind::CustomerAbandon);
        assert_eq!((c.rules[2].share, c.rules[2].from), (0.25, Duration::from_secs(3)));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = scenario(
            r#"[chaos]
[[chaos.rule]]
kind = "crash"
from = "1s"
pause = "1s"
[[chaos.rule]]
kind = "explode"
from = "1s"
[[chaos.rule]]
kind = "reconnect-storm"
share = 2.0
from = "1s"
populations = ["nobody"]
[[chaos.rule]]
kind = "customer-abandon"
from = "1s"
every = "2s"
populations = ["a"]
"#,
        );
        let d = parse("t.toml", &text, &Overrides::default()).expect_err("invalid");
        let messages: Vec<String> = d.iter().map(|d| d.message.clone()).collect();
        let all = messages.join("\n");
        assert!(all.contains("`pause` applies to kind = \"slow-consumer\" only"), "{all}");
        assert!(all.contains("missing `down`"), "{all}");
        assert!(all.contains("`explode` is not a valid chaos kind"), "{all}");
        assert!(all.contains("share is 2, but it must be within 0..=1"), "{all}");
        assert!(all.contains("`every` does not apply to kind = \"customer-abandon\""), "{all}");
        assert!(all.contains("`populations` does not apply"), "{all}");
        assert_eq!(messages.len(), 6, "{all}");
    }
}
