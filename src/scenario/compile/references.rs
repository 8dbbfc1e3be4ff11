//! Cross-section rules: references between sections, the consultant's flow, what a remote
//! target requires, and username collisions.

use std::collections::{BTreeMap, HashMap};

use super::customers::CustomersDraft;
use super::cx::*;
use super::*;
use crate::gws::model::Media;
use crate::gws::states::{Capability, Situation, capabilities};
use crate::scenario::diagnostic::did_you_mean;

impl Cx<'_> {
    pub(super) fn resolve_references(
        &mut self,
        flows: &BTreeMap<String, Option<Flow>>,
        pops: &[PopDraft],
        pop_names: &HashMap<String, Option<usize>>,
        target: Option<&TargetDraft>,
        media: Media,
    ) {
        let flow_names: Vec<&str> = flows.keys().map(String::as_str).collect();
        for FlowRef { key, flow: f, span } in std::mem::take(&mut self.flow_refs) {
            if !flows.contains_key(&f) {
                let help = match did_you_mean(&f, flow_names.iter().copied()) {
                    Some(n) => {
                        format!("did you mean `{n}`? flows defined: {}", flow_names.join(", "))
                    }
                    None if flow_names.is_empty() => {
                        "define it as [flows.<name>] with `steps = [ ... ]`".to_owned()
                    }
                    None => format!("flows defined: {}", flow_names.join(", ")),
                };
                self.s.error_help(
                    span,
                    format!("`{key}` names flow `{f}`, which does not exist"),
                    help,
                );
            }
        }
        for p in pops {
            if p.pop.flow.is_none() && !matches!(p.pop.readiness, Readiness::NotReady) {
                self.s.error_help(
                    p.readiness_span.clone(),
                    format!("population `{}` becomes Ready, so it is offered new interactions, but it has no `flow` to handle them", p.pop.name),
                    "give it a `flow`, or set `readiness = \"not-ready\"` so it only receives invitations addressed to it",
                );
            }
        }
        let embedded = target.is_some_and(|t| t.target.kind == TargetKind::Embedded);
        let mut names: Vec<&str> = pop_names.keys().map(String::as_str).collect();
        names.sort_unstable();
        for u in std::mem::take(&mut self.target_uses) {
            {
                match &u.target {
                    TargetRef::Agents(p) => match pop_names.get(p) {
                        None => {
                            let help = match did_you_mean(p, names.iter().copied()) {
                                Some(n) => format!(
                                    "did you mean `agents:{n}`? populations: {}",
                                    names.join(", ")
                                ),
                                None => format!("populations: {}", names.join(", ")),
                            };
                            self.s.error_help(
                                u.span.clone(),
                                format!(
                                    "`{}` names population `{p}`, which does not exist",
                                    u.target
                                ),
                                help,
                            );
                        }
                        Some(Some(i)) => {
                            let pop = &pops[*i].pop;
                            if u.op == Capability::Consult {
                                self.check_consultant_flow(pop, flows, media, &u.span);
                            }
                            if u.op == Capability::Transfer && pop.flow.is_none() {
                                self.s.error_help(u.span.clone(), format!("a Transfer hands the interaction to `{p}`, whose agents handle it with their `flow`, but they have none"), format!("give population `{p}` a `flow`"));
                            }
                        }
                        Some(None) => {}
                    },
                    TargetRef::User(name) if embedded => {
                        let known =
                            pops.iter().any(|p| {
                                p.pop.username.number_of(name).is_some_and(|n| {
                                    n >= p.pop.first && n - p.pop.first < p.pop.count
                                }) || p.pop.username.as_str() == name
                            });
                        let some_pop_failed = pop_names.values().any(Option::is_none);
                        if !known && !some_pop_failed {
                            self.s.error_help(u.span.clone(), format!("no population logs in as `{name}`, and the embedded server knows only the scenario's own agents"), "use agents:<population>, or a username one of the populations produces");
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// A consulted agent joins with visibility Agents and has only the consultant's capabilities
    /// (protocol.md §15.21); a flow asking for more would fail on every consult.
    pub(super) fn check_consultant_flow(
        &mut self,
        pop: &AgentPopulation,
        flows: &BTreeMap<String, Option<Flow>>,
        media: Media,
        span: &Span,
    ) {
        let Some(name) = pop.flow_for_consult() else { return };
        let Some(Some(flow)) = flows.get(name) else { return };
        let allowed = capabilities(media, Situation::Consultant);
        let bad = flow.steps.iter().find_map(|s| match s {
            Step::Op(o)
                if !matches!(o.op, Capability::Accept | Capability::Reject)
                    && !allowed.contains(&o.op) =>
            {
                Some(o.op)
            }
            _ => None,
        });
        if let Some(op) = bad {
            let key = if pop.consult_flow.is_some() { "consult_flow" } else { "flow" };
            self.s.error_help(
                span.clone(),
                format!("`Consult` brings in an agent of `{}`, who runs flow `{name}`, but `{op}` is not something a consultant can do", pop.name),
                format!("a consultant may only {}; give `{}` a `consult_flow` without `{op}`, or remove it from `{name}` (the population's `{key}`)", allowed.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", "), pop.name),
            );
        }
    }

    pub(super) fn check_target_rules(
        &mut self,
        t: &TargetDraft,
        pops: &[PopDraft],
        customers: Option<&CustomersDraft>,
    ) {
        let TargetKind::Remote(remote) = &t.target.kind else { return };
        // Where the remote-ness came from, for the messages: `--target URL` or the file.
        let by = match &t.flag {
            Some(At::Flag(flag)) => format!(" ({flag})"),
            _ => String::new(),
        };
        for p in pops {
            if !p.has_password {
                self.s.error_help(
                    p.span.clone(),
                    format!("population `{}` has no password, and a remote server{by} will ask for one", p.pop.name),
                    "add `password = { env = \"GWS_PASSWORD\" }` (or `{ file = \"path\" }`), or give every population one with --password-env VAR or --password-file FILE; only the embedded server accepts generated passwords",
                );
            }
        }
        let Some(c) = customers else { return };
        if self.o.agents_only {
            // The command line chose agents only; [customers] is ignored.
            return;
        }
        if !remote.customer_api {
            self.s.error_help(
                t.customer_api_span.clone().unwrap_or_else(|| t.span.clone()),
                "[customers] is configured but `customer_api = false`, so customers could not reach the server",
                "remove [customers] when real traffic feeds the target (or pass --agents-only), or set `customer_api = true`",
            );
        } else if t.target.media == Media::Chat && remote.contact_center_id.is_none() {
            const MESSAGE: &str = "simulated chat customers need the target's contact center id (the customer chat API's ContactCenterId header)";
            match &t.flag {
                Some(at) => self.error_at(
                    at,
                    format!("the scenario has [customers], and {MESSAGE}"),
                    Some("pass --contact-center-id ID, or --agents-only to run only the agents when real traffic feeds the target".to_owned()),
                ),
                None => self.s.error_help(
                    c.span.clone(),
                    MESSAGE.replace("contact center id", "`contact_center_id`"),
                    "add `contact_center_id = \"<uuid>\"` to [target]; to run only the agents, remove [customers] and set `customer_api = false`, or pass --agents-only",
                ),
            }
        }
    }

    pub(super) fn check_username_collisions(&mut self, pops: &[PopDraft]) {
        /// Enumerating every login is exact; past this many it would cost real memory, so only
        /// identical patterns with overlapping numbers are compared.
        const ENUMERATE_UP_TO: u64 = 200_000;
        let total: u64 = pops.iter().map(|p| u64::from(p.pop.count)).sum();
        if total > ENUMERATE_UP_TO {
            for (i, p) in pops.iter().enumerate() {
                let range = |p: &PopDraft| {
                    (u64::from(p.pop.first), u64::from(p.pop.first) + u64::from(p.pop.count))
                };
                if let Some(q) = pops[..i].iter().find(|q| {
                    let ((a0, a1), (b0, b1)) = (range(p), range(q));
                    q.pop.username == p.pop.username && a0 < b1 && b0 < a1
                }) {
                    self.s.error_help(
                        p.name_span.clone(),
                        format!(
                            "populations `{}` and `{}` would log in with the same names (`{}`)",
                            q.pop.name,
                            p.pop.name,
                            p.pop.username.as_str()
                        ),
                        "give each population its own `username` pattern or `first` number",
                    );
                }
            }
            return;
        }
        let mut seen: HashMap<String, &str> = HashMap::new();
        for p in pops {
            for u in p.pop.usernames() {
                if let Some(other) = seen.insert(u.clone(), &p.pop.name) {
                    let msg = if other == p.pop.name {
                        format!("population `{}` would log in as `{u}` more than once", p.pop.name)
                    } else {
                        format!(
                            "populations `{other}` and `{}` would both log in as `{u}`",
                            p.pop.name
                        )
                    };
                    self.s.error_help(
                        p.name_span.clone(),
                        msg,
                        "give each population its own `username` pattern or `first` number",
                    );
                    break;
                }
            }
        }
    }
}
