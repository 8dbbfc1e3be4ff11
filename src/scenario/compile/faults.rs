//! `[faults]`: the scenario's fault plan, the same keys as `gwsim serve --faults FILE`, read by
//! [`crate::faults::spec::plan_from_table`] into this file's diagnostics. What only a scenario
//! knows is settled here: the plan's default seed (the scenario's), `agents:<population>`
//! selectors (resolved to the population's usernames), and that only the embedded server can be
//! told to misbehave.

use toml_edit::Item;

use super::agents::PopDraft;
use super::target::TargetDraft;
use super::*;
use crate::faults::{AgentPattern, FaultPlan};

impl Cx<'_> {
    /// The plan of a `[faults]` section; `None` (with diagnostics) when it cannot be used.
    pub(super) fn faults(
        &mut self,
        item: &Item,
        span: Span,
        seed: u64,
        target: Option<&TargetDraft>,
        pops: &[PopDraft],
    ) -> Option<FaultPlan> {
        let Some(table) = item.as_table_like() else {
            self.s.error_help(
                span,
                "`faults` must be a table",
                "write it as a [faults] section with [[faults.rule]] entries (docs/faults.md)",
            );
            return None;
        };
        let mut plan = crate::faults::spec::plan_from_table(
            table,
            span.clone(),
            seed,
            crate::faults::PlanFor::Server,
            &mut self.s,
        )?;
        if let Some(t) = target
            && let TargetKind::Remote(remote) = &t.target.kind
        {
            self.s.error_help(
                span.clone(),
                format!(
                    "[faults] needs the embedded server, but the target is {}: a remote server cannot be told to misbehave",
                    remote.base_url
                ),
                "run against the embedded target (no [target], or kind = \"embedded\"), or remove [faults]",
            );
            return None;
        }
        let unresolved = plan.resolve_populations(|name| {
            let pop = pops.iter().find(|p| p.pop.name == name)?;
            Some(population_patterns(&pop.pop, pops))
        });
        if !unresolved.is_empty() {
            let known: Vec<String> =
                pops.iter().map(|p| format!("agents:{}", p.pop.name)).collect();
            for name in unresolved {
                self.s.error_help(
                    span.clone(),
                    format!("[faults] selects `agents:{name}`, but no population has that name"),
                    format!("populations: {}", known.join(", ")),
                );
            }
            return None;
        }
        Some(plan)
    }
}

/// Username patterns selecting exactly `pop`'s agents: the population's `{n}` pattern as a glob
/// when that glob selects no other population's agent (one pattern to match per event, however
/// large the population), otherwise each username.
fn population_patterns(pop: &AgentPopulation, pops: &[PopDraft]) -> Vec<String> {
    let glob = pop.username.as_str().replace(NamePattern::PLACEHOLDER, "*");
    let as_glob = AgentPattern::Glob(glob.clone());
    let unique = pops
        .iter()
        .filter(|p| p.pop.name != pop.name)
        .all(|p| p.pop.usernames().all(|u| !as_glob.matches(&u)));
    let literal = !glob.contains('?') && pop.usernames().all(|u| as_glob.matches(&u));
    if unique && literal { vec![glob] } else { pop.usernames().collect() }
}
