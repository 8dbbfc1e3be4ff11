//! Scenario text → validated [`Scenario`]: parse, resolve references, check every rule, and
//! collect every problem rather than stopping at the first.
//!
//! The file is parsed once with `toml_edit` (which keeps byte spans), then each section, each
//! `[[agents]]` entry, each flow step and each threshold is deserialized into its [`raw`] mirror
//! separately: a wrong type in one place costs only that entry, and the rest is still checked.
//! Entries that fail still register their names, so a broken population is not reported again as
//! "dangling" wherever it is referenced.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;
use toml_edit::{ImDocument, Item, Value};

use self::agents::PopDraft;
use self::cx::{Cx, elements, key_span, peek_str};
use self::target::TargetDraft;
use super::Overrides;
use super::diagnostic::{Diagnostics, Sink};
use super::model::*;
use super::plan;
use super::raw;
use super::units::format_duration;
use crate::gws::model::Media;

type Span = Range<usize>;

/// The top-level keys of a scenario file (`scenario::schema` lists the same).
pub(super) const TOP_KEYS: &[&str] = &[
    "name",
    "description",
    "target",
    "run",
    "agents",
    "customers",
    "flows",
    "thresholds",
    "faults",
    "proxy",
    "capacity",
    "chaos",
];

/// Most agents one population may have: far beyond one machine, small enough to enumerate names.
const MAX_COUNT: i64 = 1_000_000;
const DEFAULT_DRAIN: Duration = Duration::from_secs(10);
const DEFAULT_SEED: u64 = 1;

mod agents;
mod capacity;
mod chaos;
mod customers;
mod cx;
mod faults;
mod flows;
mod proxy;
mod references;
mod run;
mod target;
mod thresholds;

/// Compiles scenario text with `overrides` folded in before the rules run. `base_dir` is where
/// relative password files in the text are taken from.
pub(crate) fn compile(
    file: &str,
    text: &str,
    overrides: &Overrides,
    base_dir: Option<&Path>,
) -> Result<Scenario, Diagnostics> {
    let mut cx = Cx {
        s: Sink::new(file, text),
        o: overrides,
        base_dir,
        flow_refs: Vec::new(),
        target_uses: Vec::new(),
        count_bounds: Vec::new(),
        fault_thresholds: Vec::new(),
    };
    let doc = match ImDocument::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            // toml_edit gives "what" on the first line and "expected ..." or a detail on the next.
            let msg = e.message().trim().trim_end_matches('.').replace('\n', ": ");
            cx.s.error_help(span, format!("this is not valid TOML: {msg}"), toml_help(&msg));
            return Err(cx.s.finish());
        }
    };
    let root = doc.as_table();
    let mut sections: HashMap<&str, (&Item, Span)> = HashMap::new();
    for (key, item) in root.iter() {
        let span = key_span(root, key);
        if TOP_KEYS.contains(&key) {
            sections.insert(key, (item, span));
        } else {
            cx.unknown_key(span, key, "at the top of the file", TOP_KEYS);
        }
    }
    let whole = 0..0;

    let name = match sections.get("name") {
        Some((item, span)) => cx.de::<Spanned<String>>(item, span).and_then(|n| {
            let ok = cx.check_name(&n, "scenario name");
            ok.then(|| n.into_inner())
        }),
        None => {
            cx.s.error_help(
                whole.clone(),
                "the scenario has no `name`",
                "add `name = \"my-scenario\"` at the top; results are stored under it",
            );
            None
        }
    };
    let description = sections
        .get("description")
        .and_then(|(item, span)| cx.de::<Spanned<String>>(item, span))
        .map(Spanned::into_inner);

    let target = match sections.get("target") {
        Some((item, span)) => (*item).clone().into_value().ok().and_then(|v| {
            cx.checked(v, span, |cx, t: raw::Target| Some(cx.target(t, span.clone())))
        }),
        // No [target]: the embedded default, unless the command line names one.
        None => Some(cx.target(raw::Target::default(), whole.clone())),
    };
    let run = match sections.get("run") {
        Some((item, span)) => {
            let value = (*item).clone().into_value().ok();
            value.and_then(|v| cx.checked(v, span, |cx, r: raw::Run| cx.run(r, span.clone())))
        }
        None => {
            cx.s.error_help(
                whole.clone(),
                "the scenario has no [run] section",
                "add [run] with at least `duration = \"60s\"`",
            );
            None
        }
    };
    let media = target.as_ref().map_or(Media::Chat, |t| t.target.media);

    // Flows and populations by name, including the ones that failed to compile (value `None`), so
    // references to them are not reported a second time.
    let mut flows: BTreeMap<String, Option<Flow>> = BTreeMap::new();
    // `[flows.x]` sections and `flows = { x = { ... } }` are the same table to TOML.
    let flow_entries: Option<Vec<(String, Item, Span)>> = match sections.get("flows") {
        Some((Item::Table(t), _)) => {
            Some(t.iter().map(|(k, item)| (k.to_owned(), item.clone(), key_span(t, k))).collect())
        }
        Some((Item::Value(Value::InlineTable(t)), _)) => Some(
            t.iter()
                .map(|(k, v)| {
                    let span = t.key(k).and_then(|key| key.span()).unwrap_or(0..0);
                    (k.to_owned(), Item::Value(v.clone()), span)
                })
                .collect(),
        ),
        Some((_, span)) => {
            cx.s.error_help(
                span.clone(),
                "`flows` must be a table of named flows",
                "write each flow as [flows.<name>] with `steps = [ ... ]`",
            );
            None
        }
        None => {
            cx.s.error_help(
                whole.clone(),
                "the scenario has no flows",
                "add a [flows.<name>] section with `steps = [ ... ]` and point an [[agents]] population at it",
            );
            None
        }
    };
    if let (Some(entries), Some((_, span))) = (&flow_entries, sections.get("flows"))
        && entries.is_empty()
    {
        cx.s.error(span.clone(), "`flows` is empty; define at least one [flows.<name>]");
    }
    for (fname, item, span) in flow_entries.unwrap_or_default() {
        let compiled = cx.flow(&fname, &item, span, media);
        flows.insert(fname, compiled);
    }

    let password_override = cx.password_override();
    let mut pops: Vec<PopDraft> = Vec::new();
    let mut pop_names: HashMap<String, Option<usize>> = HashMap::new();
    // Where each population name was first defined, broken populations included.
    let mut first_defined: HashMap<String, Span> = HashMap::new();
    match sections.get("agents") {
        Some((item, span)) => match elements(item, span) {
            Some(elems) if !elems.is_empty() => {
                for (value, espan) in elems {
                    let pname = peek_str(&value, "name");
                    let Some((raw, dropped)) = cx.de_lenient::<raw::Agents>(value, &espan) else {
                        if let Some(n) = pname {
                            pop_names.entry(n).or_insert(None);
                        }
                        continue;
                    };
                    if let Some(n) = &raw.name {
                        if let Some(prev) = first_defined.get(n.get_ref()) {
                            let line = cx.s.position(prev.start).0;
                            cx.s.error(
                                n.span(),
                                format!(
                                    "a population named `{}` is already defined on line {line}",
                                    n.get_ref()
                                ),
                            );
                            continue;
                        }
                        first_defined.insert(n.get_ref().clone(), n.span());
                    }
                    let mark = cx.s.mark();
                    let pop = cx.population(raw, espan, media, password_override.as_ref());
                    cx.forget_missing(mark, &dropped);
                    // A population with a broken key is checked for everything else, then left
                    // out (its name still counts as defined).
                    match pop.filter(|_| dropped.is_empty()) {
                        Some(p) => {
                            pop_names.insert(p.pop.name.clone(), Some(pops.len()));
                            pops.push(p);
                        }
                        None => {
                            if let Some(n) = pname {
                                pop_names.entry(n).or_insert(None);
                            }
                        }
                    }
                }
            }
            Some(_) => {
                cx.s.error(span.clone(), "`agents` is empty; define at least one population")
            }
            None => cx.s.error_help(
                span.clone(),
                "`agents` must be a list of populations",
                "write each population as its own [[agents]] section",
            ),
        },
        None => cx.s.error_help(
            whole.clone(),
            "the scenario has no agents",
            "add an [[agents]] section with `name`, `count` and `flow`",
        ),
    }

    let customers = sections.get("customers").and_then(|(item, span)| {
        let value = (*item).clone().into_value().ok()?;
        cx.checked(value, span, |cx, c: raw::Customers| cx.customers(c, span.clone()))
    });

    let mut thresholds = Vec::new();
    if let Some((item, span)) = sections.get("thresholds") {
        match elements(item, span) {
            Some(elems) => {
                for (value, espan) in elems {
                    // `p99.9 = "1s"` is a TOML dotted key: a table `p99` holding `9`.
                    let dotted = value.as_inline_table().and_then(|t| {
                        t.get_key_value("p99")
                            .filter(|(_, v)| v.is_inline_table())
                            .map(|(k, _)| k.span())
                    });
                    if let Some(span) = dotted {
                        cx.s.error_help(
                            span.unwrap_or(espan),
                            "TOML reads an unquoted p99.9 as a table `p99` holding a key `9`",
                            "quote the key, `\"p99.9\" = \"1s\"`, or write `p999 = \"1s\"`",
                        );
                        continue;
                    }
                    let checked = cx.checked(value, &espan.clone(), |cx, t: raw::Threshold| {
                        Some(cx.threshold(t, espan, &flows))
                    });
                    thresholds.extend(checked.into_iter().flatten());
                }
            }
            None => cx.s.error_help(
                span.clone(),
                "`thresholds` must be a list",
                "write each threshold as its own [[thresholds]] section",
            ),
        }
    }

    cx.check_count_bounds();

    let capacity = match sections.get("capacity") {
        Some((item, span)) => (*item).clone().into_value().ok().and_then(|v| {
            cx.checked(v, span, |cx, c: raw::Capacity| cx.capacity(Some((c, span.clone()))))
        }),
        None => cx.capacity(None),
    };

    // Cross-section rules: references and combinations.
    cx.resolve_references(&flows, &pops, &pop_names, target.as_ref(), media);
    if let Some(t) = target.as_ref() {
        cx.check_target_rules(t, &pops, customers.as_ref());
    }
    // A `--duration` shorter than the shape cuts it, which is what the user asked for.
    if let (Some(c), Some(run), None) = (customers.as_ref(), run.as_ref(), overrides.duration)
        && let Some(len) = c.customers.arrival.shape_length()
        && len > run.duration
    {
        cx.s.error_help(
                    c.arrival_span.clone(),
                    format!(
                        "the arrival shape lasts {} but the run is only {} long, so its end would never run",
                        format_duration(len),
                        format_duration(run.duration)
                    ),
                    "shorten the ramp or stages, or lengthen [run] duration",
                );
    }
    cx.check_username_collisions(&pops);
    // Last, so that `agents:<population>` can name every population and the seed is final.
    let faults = match sections.get("faults") {
        Some((item, span)) => {
            let seed = run.as_ref().map_or(DEFAULT_SEED, |r| r.seed);
            let plan = cx.faults(item, span.clone(), seed, target.as_ref(), &pops);
            if plan.is_none() && !cx.s.has_errors() {
                // plan_from_table reported its problems; keep the contract that `None` errs.
                cx.s.error(span.clone(), "[faults] is not a usable fault plan");
            }
            plan
        }
        None => {
            for span in std::mem::take(&mut cx.fault_thresholds) {
                cx.s.error_help(
                    span,
                    "this threshold judges injected faults, but the scenario has no [faults] section",
                    "add [faults] with at least one [[faults.rule]] (scenarios/README.md, Faults)",
                );
            }
            None
        }
    };

    let proxy = sections.get("proxy").and_then(|(item, span)| {
        let seed = run.as_ref().map_or(DEFAULT_SEED, |r| r.seed);
        let proxy = cx.proxy(item, span.clone(), seed);
        if proxy.is_none() && !cx.s.has_errors() {
            cx.s.error(span.clone(), "[proxy] is not a usable fault plan");
        }
        proxy
    });
    let chaos = sections.get("chaos").and_then(|(item, span)| {
        let value = (*item).clone().into_value().ok()?;
        cx.checked(value, span, |cx, c: raw::Chaos| cx.chaos(c, span.clone(), &pop_names))
    });

    if cx.s.has_errors() {
        return Err(cx.s.finish());
    }
    // Every `None` below has produced a diagnostic, so this path is only taken without errors; the
    // `let else` keeps it panic-free regardless.
    let (Some(name), Some(target), Some(run)) = (name, target, run) else {
        return Err(cx.s.finish());
    };
    let mut flow_map = BTreeMap::new();
    for (k, v) in flows {
        let Some(flow) = v else { return Err(cx.s.finish()) };
        flow_map.insert(k, flow);
    }
    // `--agents-only`: [customers] was checked like the rest of the file, but none are simulated
    // (the target records `customer_api = false`).
    let mut customers = customers.filter(|_| !overrides.agents_only);
    // One step of a capacity search: a steady rate in place of the file's shape, spaced as the
    // file says (a closed arrival has no rate; the search refuses it before any step).
    if let (Some(rate), Some(c)) = (overrides.rate, customers.as_mut()) {
        let spacing = match &c.customers.arrival {
            plan::Arrival::Steady { spacing, .. }
            | plan::Arrival::Ramp { spacing, .. }
            | plan::Arrival::Stages { spacing, .. } => Some(*spacing),
            plan::Arrival::Closed { .. } => None,
        };
        if let Some(spacing) = spacing {
            c.customers.arrival = plan::Arrival::Steady { rate, spacing };
        }
    }
    let plan = match &customers {
        Some(c) => plan::lower(&c.customers.arrival, run.duration, c.customers.max_active),
        None => plan::LoadPlan::empty(run.duration),
    };
    let whole = Scenario {
        name,
        description,
        target: target.target,
        run,
        agents: pops.into_iter().map(|p| p.pop).collect(),
        customers: customers.map(|c| c.customers),
        flows: flow_map,
        thresholds,
        plan,
        faults,
        proxy,
        capacity: capacity.flatten(),
        chaos,
        sharding: Sharding::default(),
    };
    let fingerprint = super::shard::fingerprint(&whole);
    let Some(shard) = overrides.shard else {
        return Ok(Scenario {
            sharding: Sharding { shard: None, fingerprint, whole: None },
            ..whole
        });
    };
    match super::shard::shard(&whole, shard) {
        Ok(part) => {
            let whole = Some(std::sync::Arc::new(whole));
            Ok(Scenario { sharding: Sharding { shard: Some(shard), fingerprint, whole }, ..part })
        }
        Err(e) => {
            cx.error_at(
                &cx::At::flag("--shard", shard),
                e.to_string(),
                Some(
                    "use fewer shards, or give every population at least one agent per shard"
                        .into(),
                ),
            );
            Err(cx.s.finish())
        }
    }
}

/// A hint for the usual TOML mistakes, keyed on toml_edit's message.
fn toml_help(msg: &str) -> &'static str {
    if msg.starts_with("invalid inline table") {
        "an inline table { key = value, ... } must be on one line; for longer ones use a [section]"
    } else if msg.starts_with("invalid string") {
        "text values need double quotes: name = \"my-scenario\""
    } else if msg.contains("duplicate key") {
        "each key, and each [section] other than [[list]] sections, may appear only once"
    } else if msg.starts_with("invalid array") {
        "a list is [a, b, c] and needs its closing `]`"
    } else if msg.starts_with("expected newline") {
        "put one `key = value` on each line"
    } else {
        "see scenarios/README.md for the format; every scenario in scenarios/ is a working example"
    }
}
