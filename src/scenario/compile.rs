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
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{DeserializeOwned, IntoDeserializer};
use toml::Spanned;
use toml_edit::{ImDocument, Item, Table, Value};

use super::diagnostic::{Diagnostics, Sink, did_you_mean};
use super::model::*;
use super::plan::{self, Arrival, Spacing, Stage};
use super::raw::{self, IntOrStr, Scalar, StrOrTable};
use super::units::{Distribution, IntRange, Rate, UnitError, format_duration, parse_duration};
use crate::gws::model::Media;
use crate::gws::states::{Capability, Situation, capabilities};
use crate::vocab::{AwaitEvent, METRIC_PATTERNS, Metric, OpName, Stat, Transport};

type Span = Range<usize>;

const TOP_KEYS: &[&str] =
    &["name", "description", "target", "run", "agents", "customers", "flows", "thresholds"];

/// Most agents one population may have: far beyond one machine, small enough to enumerate names.
const MAX_COUNT: i64 = 1_000_000;
const DEFAULT_DRAIN: Duration = Duration::from_secs(10);
const DEFAULT_SEED: u64 = 1;

pub(crate) fn compile(file: &str, text: &str) -> Result<Scenario, Diagnostics> {
    let mut cx = Cx { s: Sink::new(file, text), flow_refs: Vec::new(), target_uses: Vec::new() };
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
        Some((item, span)) => cx.de::<raw::Target>(item, span).map(|t| cx.target(t, span.clone())),
        None => Some(TargetDraft::default()),
    };
    let run = match sections.get("run") {
        Some((item, span)) => cx.de::<raw::Run>(item, span).and_then(|r| cx.run(r, span.clone())),
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
    if let (Some(entries), Some((_, span))) = (&flow_entries, sections.get("flows")) {
        if entries.is_empty() {
            cx.s.error(span.clone(), "`flows` is empty; define at least one [flows.<name>]");
        }
    }
    for (fname, item, span) in flow_entries.unwrap_or_default() {
        let compiled = cx.flow(&fname, &item, span, media);
        flows.insert(fname, compiled);
    }

    let mut pops: Vec<PopDraft> = Vec::new();
    let mut pop_names: HashMap<String, Option<usize>> = HashMap::new();
    // Where each population name was first defined, broken populations included.
    let mut first_defined: HashMap<String, Span> = HashMap::new();
    match sections.get("agents") {
        Some((item, span)) => match elements(item, span) {
            Some(elems) if !elems.is_empty() => {
                for (value, espan) in elems {
                    let pname = peek_str(&value, "name");
                    let Some(raw) = cx.de_value::<raw::Agents>(value, &espan) else {
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
                    match cx.population(raw, espan, media) {
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

    let customers = sections
        .get("customers")
        .and_then(|(item, span)| cx.de::<raw::Customers>(item, span).map(|c| (c, span.clone())))
        .and_then(|(c, span)| cx.customers(c, span));

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
                    if let Some(t) = cx.de_value::<raw::Threshold>(value, &espan) {
                        thresholds.extend(cx.threshold(t, espan, &flows));
                    }
                }
            }
            None => cx.s.error_help(
                span.clone(),
                "`thresholds` must be a list",
                "write each threshold as its own [[thresholds]] section",
            ),
        }
    }

    // Cross-section rules: references and combinations.
    cx.resolve_references(&flows, &pops, &pop_names, target.as_ref(), media);
    if let (Some(t), Some(run)) = (target.as_ref(), run.as_ref()) {
        cx.check_target_rules(t, &pops, customers.as_ref(), run);
    }
    if let (Some(c), Some(run)) = (customers.as_ref(), run.as_ref()) {
        if let Some(len) = c.customers.arrival.shape_length() {
            if len > run.duration {
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
        }
    }
    cx.check_username_collisions(&pops);

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
    let plan = match &customers {
        Some(c) => plan::lower(&c.customers.arrival, run.duration, c.customers.max_active),
        None => plan::LoadPlan::empty(run.duration),
    };
    Ok(Scenario {
        name,
        description,
        target: target.target,
        run,
        agents: pops.into_iter().map(|p| p.pop).collect(),
        customers: customers.map(|c| c.customers),
        flows: flow_map,
        thresholds,
        plan,
    })
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

/// The span of a key in a table (where "unknown key" and "missing key" point).
fn key_span(t: &Table, key: &str) -> Span {
    t.key(key).and_then(|k| k.span()).unwrap_or(0..0)
}

/// The entries of a list of tables written either as `[[x]]` sections or as an inline array.
fn elements(item: &Item, fallback: &Span) -> Option<Vec<(Value, Span)>> {
    match item {
        Item::ArrayOfTables(a) => Some(
            a.iter()
                .map(|t| {
                    let span = t.span().unwrap_or_else(|| fallback.clone());
                    (Value::InlineTable(t.clone().into_inline_table()), span)
                })
                .collect(),
        ),
        Item::Value(Value::Array(a)) => Some(
            a.iter().map(|v| (v.clone(), v.span().unwrap_or_else(|| fallback.clone()))).collect(),
        ),
        _ => None,
    }
}

/// A string key of a table-like value, read without deserializing the rest.
fn peek_str(value: &Value, key: &str) -> Option<String> {
    value.as_inline_table()?.get(key)?.as_str().map(str::to_owned)
}

struct TargetDraft {
    target: Target,
    span: Span,
    customer_api_span: Option<Span>,
}

impl Default for TargetDraft {
    fn default() -> Self {
        TargetDraft {
            target: Target {
                kind: TargetKind::Embedded,
                transport: Transport::Websocket,
                media: Media::Chat,
            },
            span: 0..0,
            customer_api_span: None,
        }
    }
}

struct PopDraft {
    pop: AgentPopulation,
    span: Span,
    name_span: Span,
    /// `None`: no `password` key (fine for embedded targets only).
    password_span: Option<Span>,
    readiness_span: Span,
}

struct CustomersDraft {
    customers: Customers,
    span: Span,
    arrival_span: Span,
}

/// A reference from a flow step to something outside the flow, checked once all is known.
struct TargetUse {
    op: Capability,
    target: TargetRef,
    span: Span,
}

struct Cx<'a> {
    s: Sink<'a>,
    /// References from populations to flows, recorded even when the population is otherwise
    /// broken, so that every dangling name is reported in the same pass.
    flow_refs: Vec<FlowRef>,
    /// References from flow steps to populations and users, likewise recorded for broken flows.
    target_uses: Vec<TargetUse>,
}

struct FlowRef {
    key: &'static str,
    flow: String,
    span: Span,
}

impl Cx<'_> {
    /// Deserializes a whole item, reporting a type or unknown-key error at its position.
    fn de<T: DeserializeOwned>(&mut self, item: &Item, fallback: &Span) -> Option<T> {
        match item.clone().into_value() {
            Ok(v) => self.de_value(v, fallback),
            Err(_) => None,
        }
    }

    fn de_value<T: DeserializeOwned>(&mut self, value: Value, fallback: &Span) -> Option<T> {
        match T::deserialize(value.into_deserializer()) {
            Ok(t) => Some(t),
            Err(e) => {
                let span = e.span().unwrap_or_else(|| fallback.clone());
                self.serde_error(span, e.message());
                None
            }
        }
    }

    /// Rewrites serde's messages into plain sentences, keeping the original when unrecognised.
    fn serde_error(&mut self, span: Span, message: &str) {
        let message = message.trim().trim_end_matches('.');
        if let Some(rest) = message.strip_prefix("unknown field `") {
            let (key, expected) = rest.split_once('`').unwrap_or((rest, ""));
            let allowed: Vec<&str> = expected
                .split('`')
                .enumerate()
                .filter(|(i, _)| i % 2 == 1)
                .map(|(_, s)| s)
                .collect();
            let help = match did_you_mean(key, allowed.iter().copied()) {
                Some(s) => format!("did you mean `{s}`? keys allowed here: {}", allowed.join(", ")),
                None if allowed.is_empty() => "no keys are allowed here".to_owned(),
                None => format!("keys allowed here: {}", allowed.join(", ")),
            };
            self.s.error_help(span, format!("unknown key `{key}`"), help);
        } else if message.starts_with("invalid length") && message.contains("expected struct") {
            self.s.error(span, "wrong type: expected a table here, found a list");
        } else if message.contains("a borrowed string") || message.contains("expected a spanned") {
            // A single value was expected but a table came (often an unquoted dotted key).
            self.s.error(span, "wrong type: expected a single value here, found a table");
        } else if let Some(rest) = message.strip_prefix("invalid type: ") {
            match rest.split_once(", expected ") {
                Some((found, expected)) => {
                    let expected = match expected {
                        "i64" | "u64" | "u32" => "a whole number",
                        "f64" => "a number",
                        "a boolean" => "true or false",
                        "a sequence" => "a list",
                        "a map" => "a table",
                        // Serde names the raw struct; the user only needs to know it is a table.
                        other if other.starts_with("struct ") => "a table",
                        other => other,
                    };
                    self.s
                        .error(span, format!("wrong type: expected {expected} here, found {found}"))
                }
                None => self.s.error(span, format!("wrong type: {rest}")),
            }
        } else {
            self.s.error(span, message.to_owned());
        }
    }

    fn unknown_key(&mut self, span: Span, key: &str, where_: &str, allowed: &[&str]) {
        let help = match did_you_mean(key, allowed.iter().copied()) {
            Some(s) => format!("did you mean `{s}`? keys allowed {where_}: {}", allowed.join(", ")),
            None => format!("keys allowed {where_}: {}", allowed.join(", ")),
        };
        self.s.error_help(span, format!("unknown key `{key}` {where_}"), help);
    }

    fn missing(&mut self, span: Span, what: &str, help: &str) {
        self.s.error_help(span, format!("missing `{what}`"), help);
    }

    /// Names are used in references (`agents:<name>`) and result paths: keep them plain.
    fn check_name(&mut self, n: &Spanned<String>, what: &str) -> bool {
        let ok = !n.get_ref().is_empty()
            && n.get_ref()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            self.s.error_help(
                n.span(),
                format!("`{}` is not a valid {what}", n.get_ref()),
                "use letters, digits, `-`, `_` and `.` only",
            );
        }
        ok
    }

    fn unit<T>(
        &mut self,
        v: &Spanned<String>,
        what: &str,
        parse: impl Fn(&str) -> Result<T, UnitError>,
    ) -> Option<T> {
        match parse(v.get_ref()) {
            Ok(t) => Some(t),
            Err(e) => {
                self.s.error(v.span(), format!("{what}: {e}"));
                None
            }
        }
    }

    fn duration(&mut self, v: &Spanned<String>, what: &str) -> Option<Duration> {
        self.unit(v, what, parse_duration)
    }

    fn distribution(&mut self, v: &Spanned<String>, what: &str) -> Option<Distribution> {
        self.unit(v, what, Distribution::parse)
    }

    fn rate(&mut self, v: &Spanned<String>, what: &str) -> Option<Rate> {
        self.unit(v, what, Rate::parse)
    }

    fn choice<T>(
        &mut self,
        v: &Spanned<String>,
        what: &str,
        names: &[&str],
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let got = parse(v.get_ref());
        if got.is_none() {
            let list = names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ");
            let help = match did_you_mean(v.get_ref(), names.iter().copied()) {
                Some(s) => format!("did you mean \"{s}\"? the choices are {list}"),
                None => format!("the choices are {list}"),
            };
            self.s.error_help(v.span(), format!("`{}` is not a valid {what}", v.get_ref()), help);
        }
        got
    }

    fn count(&mut self, v: &Spanned<i64>, what: &str, min: i64, max: i64) -> Option<u32> {
        let n = *v.get_ref();
        if n < min {
            let msg = if min == 1 {
                format!("{what} is {n}, but it must be at least 1")
            } else {
                format!("{what} is {n}, but it must be at least {min}")
            };
            self.s.error(v.span(), msg);
            None
        } else if n > max {
            self.s.error(v.span(), format!("{what} is {n}, more than the {max} gwsim accepts"));
            None
        } else {
            u32::try_from(n).ok()
        }
    }

    // ----- [target] -----

    fn target(&mut self, t: raw::Target, span: Span) -> TargetDraft {
        let kind_remote = match &t.kind {
            Some(k) => self
                .choice(k, "target kind", &["embedded", "remote"], |s| match s {
                    "embedded" => Some(false),
                    "remote" => Some(true),
                    _ => None,
                })
                .unwrap_or(false),
            None => false,
        };
        let media = t
            .media
            .as_ref()
            .and_then(|m| {
                self.choice(m, "media", &["chat", "facebook"], |s| match s {
                    "chat" => Some(Media::Chat),
                    "facebook" => Some(Media::Facebook),
                    _ => None,
                })
            })
            .unwrap_or(Media::Chat);
        // GWS 8.5.2 GA offers only long-polling; the embedded server offers both.
        let default_transport =
            if kind_remote { Transport::LongPolling } else { Transport::Websocket };
        let transport = t
            .transport
            .as_ref()
            .and_then(|tr| self.choice(tr, "transport", Transport::NAMES, Transport::parse))
            .unwrap_or(default_transport);

        let kind = if kind_remote {
            let base_url = match &t.base_url {
                Some(u) => self.base_url(u, t.allow_remote.as_ref().is_some_and(|a| *a.get_ref())),
                None => {
                    self.missing(
                        span.clone(),
                        "base_url",
                        "a remote target needs `base_url = \"https://gws.example:8443\"`",
                    );
                    None
                }
            };
            TargetKind::Remote(RemoteTarget {
                base_url: base_url.unwrap_or_default(),
                allow_remote: t.allow_remote.as_ref().is_some_and(|a| *a.get_ref()),
                accept_invalid_certs: t
                    .tls
                    .as_ref()
                    .and_then(|tls| tls.accept_invalid_certs.as_ref())
                    .is_some_and(|a| *a.get_ref()),
                csrf: t.csrf.as_ref().is_none_or(|c| *c.get_ref()),
                contact_center_id: t.contact_center_id.as_ref().and_then(|c| {
                    if c.get_ref().trim().is_empty() {
                        self.s.error(c.span(), "`contact_center_id` is empty");
                        None
                    } else {
                        Some(c.get_ref().clone())
                    }
                }),
                customer_api: t.customer_api.as_ref().is_none_or(|c| *c.get_ref()),
            })
        } else {
            let remote_only: [(&str, Option<Span>); 6] = [
                ("base_url", t.base_url.as_ref().map(Spanned::span)),
                ("allow_remote", t.allow_remote.as_ref().map(Spanned::span)),
                ("tls", t.tls.as_ref().map(|_| span.clone())),
                ("csrf", t.csrf.as_ref().map(Spanned::span)),
                ("contact_center_id", t.contact_center_id.as_ref().map(Spanned::span)),
                ("customer_api", t.customer_api.as_ref().map(Spanned::span)),
            ];
            for (key, s) in remote_only {
                if let Some(s) = s {
                    self.s.error_help(
                        s,
                        format!("`{key}` applies only to remote targets, and this one is embedded"),
                        "remove it, or set `kind = \"remote\"` to run against another server",
                    );
                }
            }
            TargetKind::Embedded
        };
        TargetDraft {
            target: Target { kind, transport, media },
            span,
            customer_api_span: t.customer_api.as_ref().map(Spanned::span),
        }
    }

    fn base_url(&mut self, u: &Spanned<String>, allow_remote: bool) -> Option<String> {
        let url = match reqwest::Url::parse(u.get_ref()) {
            Ok(url) => url,
            Err(e) => {
                self.s.error_help(
                    u.span(),
                    format!("`{}` is not a URL: {e}", u.get_ref()),
                    "write the server's address with its scheme, e.g. \"https://gws.example:8443\"",
                );
                return None;
            }
        };
        if !matches!(url.scheme(), "http" | "https") {
            self.s.error(
                u.span(),
                format!("`base_url` must start with http:// or https://, not {}://", url.scheme()),
            );
            return None;
        }
        let Some(host) = url.host_str() else {
            self.s.error(u.span(), "`base_url` has no host");
            return None;
        };
        if url.query().is_some() || url.fragment().is_some() {
            self.s.error(u.span(), "`base_url` must not have a query or fragment");
            return None;
        }
        if !super::is_loopback_host(host) && !allow_remote {
            // A load test aimed at the wrong server is an outage; make the user say it on purpose.
            self.s.error_help(
                u.span(),
                format!("`{}` is not on this machine, and load-testing another machine needs confirmation", u.get_ref()),
                "add `allow_remote = true` to [target] if you mean to load that server",
            );
        }
        Some(u.get_ref().trim_end_matches('/').to_owned())
    }

    // ----- [run] -----

    fn run(&mut self, r: raw::Run, span: Span) -> Option<Run> {
        let duration = match &r.duration {
            Some(d) => self.duration(d, "`duration`").and_then(|d| {
                if d.is_zero() {
                    self.s.error(
                        r.duration.as_ref().map_or(span.clone(), Spanned::span),
                        "`duration` is zero, so nothing would run",
                    );
                    None
                } else {
                    Some(d)
                }
            }),
            None => {
                self.missing(
                    span.clone(),
                    "duration",
                    "add `duration = \"60s\"` to [run]: how long load is applied",
                );
                None
            }
        };
        let warmup = match &r.warmup {
            Some(w) => self.duration(w, "`warmup`"),
            None => Some(Duration::ZERO),
        };
        let drain = match &r.drain {
            Some(d) => self.duration(d, "`drain`"),
            None => Some(DEFAULT_DRAIN),
        };
        let seed = match &r.seed {
            Some(s) => match u64::try_from(*s.get_ref()) {
                Ok(v) => Some(v),
                Err(_) => {
                    self.s.error(
                        s.span(),
                        format!("`seed` is {}, but it must be 0 or more", s.get_ref()),
                    );
                    None
                }
            },
            None => Some(DEFAULT_SEED),
        };
        let (duration, warmup, drain, seed) = (duration?, warmup?, drain?, seed?);
        if warmup >= duration {
            self.s.error_help(
                r.warmup.as_ref().map_or(span, Spanned::span),
                format!(
                    "`warmup` ({}) is not shorter than `duration` ({}), so nothing would be measured",
                    format_duration(warmup),
                    format_duration(duration)
                ),
                "the warmup is the first part of the duration; make it shorter",
            );
            return None;
        }
        Some(Run { duration, warmup, drain, seed })
    }

    // ----- [[agents]] -----

    fn population(&mut self, a: raw::Agents, span: Span, media: Media) -> Option<PopDraft> {
        let name = match &a.name {
            Some(n) => self.check_name(n, "population name").then(|| n.get_ref().clone()),
            None => {
                self.missing(
                    span.clone(),
                    "name",
                    "give the population a `name`; flows target it as agents:<name>",
                );
                None
            }
        };
        let count = match &a.count {
            Some(c) => self.count(c, "`count`", 1, MAX_COUNT),
            None => {
                self.missing(
                    span.clone(),
                    "count",
                    "say how many agents this population has, e.g. `count = 10`",
                );
                None
            }
        };
        let first = match &a.first {
            Some(f) => self.count(f, "`first`", 0, i64::from(u32::MAX) - MAX_COUNT),
            None => Some(1),
        };
        let username = match &a.username {
            Some(u) => {
                let n = u.get_ref().matches(NamePattern::PLACEHOLDER).count();
                let stripped = u.get_ref().replace(NamePattern::PLACEHOLDER, "");
                if u.get_ref().trim().is_empty() {
                    self.s.error(u.span(), "`username` is empty");
                    None
                } else if stripped.contains('{') || stripped.contains('}') {
                    self.s.error_help(
                        u.span(),
                        format!("`{}` has a placeholder other than {{n}}", u.get_ref()),
                        "{n} (the agent's number) is the only placeholder",
                    );
                    None
                } else if n > 1 {
                    self.s.error(u.span(), "`username` has {n} more than once");
                    None
                } else if n == 0 && a.count.as_ref().is_some_and(|c| *c.get_ref() > 1) {
                    self.s.error_help(
                        u.span(),
                        format!("`{}` has no {{n}}, so all agents of the population would share one login", u.get_ref()),
                        format!("write e.g. \"{}-{{n}}\"; {{n}} becomes 1, 2, 3, ...", u.get_ref()),
                    );
                    None
                } else {
                    Some(NamePattern(u.get_ref().clone()))
                }
            }
            None => name.as_ref().map(|n| NamePattern(format!("{n}-{{n}}"))),
        };
        let password = match &a.password {
            None => Some(None),
            Some(p) => match p.get_ref() {
                StrOrTable::Str(_) => {
                    self.s.error_help(
                        p.span(),
                        "a password must not be written in the scenario file",
                        "scenario files are shared and copied into results; write `password = { env = \"GWS_PASSWORD\" }` or `password = { file = \"secrets/agents.txt\" }`",
                    );
                    None
                }
                StrOrTable::Table(t) => match (&t.env, &t.file) {
                    (Some(e), None) => {
                        let valid = !e.get_ref().is_empty()
                            && !e.get_ref().starts_with(|c: char| c.is_ascii_digit())
                            && e.get_ref().chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                        if valid {
                            Some(Some(PasswordSource::Env(e.get_ref().clone())))
                        } else {
                            self.s.error_help(
                                e.span(),
                                format!("`{}` is not an environment variable name", e.get_ref()),
                                "use letters, digits and `_`, e.g. GWS_PASSWORD",
                            );
                            None
                        }
                    }
                    (None, Some(f)) if !f.get_ref().trim().is_empty() => {
                        Some(Some(PasswordSource::File(PathBuf::from(f.get_ref()))))
                    }
                    (None, Some(f)) => {
                        self.s.error(f.span(), "the password `file` path is empty");
                        None
                    }
                    (Some(e), Some(_)) => {
                        self.s.error(
                            e.span(),
                            "a password comes from `env` or from `file`, not both",
                        );
                        None
                    }
                    (None, None) => {
                        self.s.error_help(
                            p.span(),
                            "the password table names no source",
                            "write `{ env = \"NAME\" }` or `{ file = \"path\" }`",
                        );
                        None
                    }
                },
            },
        };
        let name_ref = |f: &Option<Spanned<String>>, cx: &mut Self| -> Option<Option<String>> {
            match f {
                Some(f) => cx.check_name(f, "flow name").then(|| Some(f.get_ref().clone())),
                None => Some(None),
            }
        };
        let flow = name_ref(&a.flow, self);
        let consult_flow = name_ref(&a.consult_flow, self);
        for (key, valid, f) in
            [("flow", &flow, &a.flow), ("consult_flow", &consult_flow, &a.consult_flow)]
        {
            if let (Some(Some(name)), Some(f)) = (valid, f) {
                self.flow_refs.push(FlowRef { key, flow: name.clone(), span: f.span() });
            }
        }
        if a.flow.is_none() && a.consult_flow.is_none() {
            self.missing(span.clone(), "flow", "say what these agents do with an interaction: `flow = \"<name of a [flows.<name>] section>\"`");
        }
        let readiness = match &a.readiness {
            None => Some(Readiness::Ready),
            Some(r) => {
                match r.get_ref() {
                    StrOrTable::Str(s) => {
                        let s = Spanned::new(r.span(), s.clone());
                        self.choice(&s, "readiness", &["ready", "not-ready"], |s| match s {
                            "ready" => Some(Readiness::Ready),
                            "not-ready" => Some(Readiness::NotReady),
                            _ => None,
                        })
                    }
                    StrOrTable::Table(t) => {
                        match (&t.ready, &t.not_ready) {
                            (Some(rd), Some(nr)) => {
                                let rd = self.distribution(rd, "`ready`");
                                let nr = self.distribution(nr, "`not_ready`");
                                Some(Readiness::Cycle { ready: rd?, not_ready: nr? })
                            }
                            _ => {
                                self.s.error_help(r.span(), "a readiness cycle needs both `ready` and `not_ready` periods", "e.g. readiness = { ready = \"exp(5m)\", not_ready = \"30s..2m\" }");
                                None
                            }
                        }
                    }
                }
            }
        };
        let channels = match &a.channels {
            None => Some(vec![media]),
            Some(list) if list.is_empty() => {
                self.s.error(
                    span.clone(),
                    "`channels` is empty; agents need at least one media channel",
                );
                None
            }
            Some(list) => {
                let mut out = Vec::new();
                for c in list {
                    let m = self.choice(c, "channel", &["chat", "facebook"], |s| match s {
                        "chat" => Some(Media::Chat),
                        "facebook" => Some(Media::Facebook),
                        _ => None,
                    })?;
                    if out.contains(&m) {
                        self.s
                            .error(c.span(), format!("channel `{}` is listed twice", c.get_ref()));
                        return None;
                    }
                    out.push(m);
                }
                // Facebook sessions are routed to chat-Ready agents too (protocol.md §15.20).
                let reachable = out.contains(&media)
                    || (media == Media::Facebook && out.contains(&Media::Chat));
                if !reachable {
                    self.s.error_help(
                        list[0].span(),
                        format!("these agents log in without the `{}` channel, so they would never receive the scenario's interactions", media.channel_name()),
                        format!("add \"{}\" to `channels`", media.channel_name()),
                    );
                    return None;
                }
                Some(out)
            }
        };
        let readiness_span = a.readiness.as_ref().map_or(span.clone(), Spanned::span);
        let name_span = a.name.as_ref().map_or(span.clone(), Spanned::span);
        Some(PopDraft {
            pop: AgentPopulation {
                name: name?,
                count: count?,
                username: username?,
                first: first?,
                password: password?.unwrap_or(PasswordSource::Generated),
                flow: flow?,
                consult_flow: consult_flow?,
                readiness: readiness?,
                channels: channels?,
            },
            password_span: a.password.as_ref().map(Spanned::span),
            readiness_span,
            name_span,
            span,
        })
    }

    // ----- [customers] -----

    fn customers(&mut self, c: raw::Customers, span: Span) -> Option<CustomersDraft> {
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
                Some(Messages { count: count?, think: think?, text: text? })
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
            },
            span,
            arrival_span,
        })
    }

    fn arrival(&mut self, a: &raw::Arrival, span: Span) -> Option<Arrival> {
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
            if let (Some(o), Some(d)) = (over, over_v) {
                if d.is_zero() {
                    self.s.error(
                        o.span(),
                        "a ramp `over` zero time is a jump; use { rate = ... } instead",
                    );
                    return None;
                }
            }
            return Some(Arrival::Ramp { from: from?, to: to?, over: over_v?, spacing });
        }
        self.s.error_help(span, "`arrival` has no shape", HELP);
        None
    }

    fn stage(&mut self, st: &raw::Stage, fallback: Span) -> Option<Stage> {
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

    fn positive_duration(&mut self, v: &Spanned<String>, what: &str) -> Option<Duration> {
        let d = self.duration(v, what)?;
        if d.is_zero() {
            self.s.error(v.span(), format!("{what} is zero"));
            return None;
        }
        Some(d)
    }

    // ----- [flows.<name>] -----

    fn flow(&mut self, name: &str, item: &Item, span: Span, media: Media) -> Option<Flow> {
        let name_ok = self.check_name(&Spanned::new(span.clone(), name.to_owned()), "flow name");
        let header: raw::FlowHeader = self.de(item, &span)?;
        let steps_item = match item {
            Item::Table(t) => t.get("steps").cloned(),
            Item::Value(Value::InlineTable(t)) => t.get("steps").cloned().map(Item::Value),
            _ => None,
        };
        let Some(steps_item) = steps_item else {
            self.missing(span, "steps", "a flow is a list: `steps = [ { op = \"Accept\" }, ... ]`");
            return None;
        };
        let Some(elems) = elements(&steps_item, &span) else {
            self.s.error(steps_item.span().unwrap_or(span), "`steps` must be a list of steps");
            return None;
        };
        if elems.is_empty() {
            self.s.error_help(span, format!("flow `{name}` has no steps"), "add steps such as { op = \"Accept\" }, { think = \"1s\" }, { await = \"completed\", timeout = \"30s\" }");
            return None;
        }
        let mut steps = Vec::new();
        let mut ok = name_ok;
        // Sequence facts for the ordering rules below.
        let mut brought_agent_in = false;
        let mut finished: Option<&'static str> = None;
        let mut finished_reported = false;
        let mut answered = false;
        for (value, espan) in elems {
            let Some(raw) = self.de_value::<raw::Step>(value, &espan) else {
                ok = false;
                continue;
            };
            let lead = [&raw.op, &raw.think, &raw.await_]
                .iter()
                .find_map(|f| f.as_ref().map(Spanned::span))
                .unwrap_or(espan.clone());
            // Every flow starts from an invitation (StatusChange Invited), whose capabilities are
            // only Accept and Reject (protocol.md §15.7); think steps may come first.
            if !answered && raw.think.is_none() {
                answered = true;
                let op = raw.op.as_ref().and_then(|o| Capability::parse(o.get_ref()));
                let known_op = raw.op.is_some() && op.is_some();
                if !matches!(op, Some(Capability::Accept | Capability::Reject))
                    && (known_op || raw.await_.is_some())
                {
                    self.s.error_help(
                        lead.clone(),
                        "a flow begins with an invitation, which can only be accepted or rejected, so its first operation must be `Accept` or `Reject`",
                        "start the steps with { op = \"Accept\" }",
                    );
                    ok = false;
                }
            }
            // Reported once per flow: every later step is "after" it too.
            if let Some(what) = finished.take() {
                finished_reported = true;
                self.s.error_help(lead.clone(), format!("this step comes after {what}, when the interaction is already over for this agent"), "remove it, or move it before that step");
                ok = false;
            }
            match self.step(&raw, espan, media, brought_agent_in) {
                Some(step) => steps.push(step),
                None => ok = false,
            }
            // Sequence facts come from what the step says it is, even when the step itself is
            // broken, so that one mistake is not reported again by every step after it.
            let op = raw.op.as_ref().and_then(|o| Capability::parse(o.get_ref()));
            let event = raw.await_.as_ref().and_then(|e| AwaitEvent::parse(e.get_ref()));
            match (op, event) {
                (Some(Capability::Consult | Capability::Invite), _) => brought_agent_in = true,
                (Some(Capability::Complete), _) => finished = Some("`Complete`"),
                (Some(Capability::Reject), _) => finished = Some("`Reject`"),
                (Some(Capability::Transfer), _) => finished = Some("`Transfer`"),
                (_, Some(AwaitEvent::Completed)) => finished = Some("awaiting `completed`"),
                (_, Some(AwaitEvent::Removed)) => finished = Some("awaiting `removed`"),
                _ => {}
            }
            if finished_reported {
                finished = None;
            }
        }
        let description = header.description.map(Spanned::into_inner);
        ok.then(|| Flow { name: name.to_owned(), description, steps })
    }

    fn step(
        &mut self,
        s: &raw::Step,
        span: Span,
        media: Media,
        brought_agent_in: bool,
    ) -> Option<Step> {
        let kinds: Vec<&str> = [
            s.op.as_ref().map(|_| "op"),
            s.think.as_ref().map(|_| "think"),
            s.await_.as_ref().map(|_| "await"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if kinds.len() != 1 {
            let msg = if kinds.is_empty() {
                "this step has none of `op`, `think` or `await`".to_owned()
            } else {
                format!(
                    "this step has {}; a step does exactly one thing",
                    kinds.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(" and ")
                )
            };
            self.s.error_help(span, msg, "write { op = \"SendMessage\", text = \"Hi\" }, { think = \"1s..3s\" } or { await = \"consultant-joined\", timeout = \"10s\" }");
            return None;
        }
        let params = present_params(s);
        if let Some(t) = &s.think {
            self.no_params(&params, "a think step", &[]);
            let d = self.distribution(t, "`think`")?;
            return Some(Step::Think { think: d });
        }
        if let Some(ev) = &s.await_ {
            self.no_params(&params, "an await step", &["timeout"]);
            let event = self.choice(ev, "event to await", AwaitEvent::NAMES, AwaitEvent::parse);
            if event == Some(AwaitEvent::ConsultantJoined) && !brought_agent_in {
                self.s.error_help(
                    ev.span(),
                    "`consultant-joined` is awaited before any Consult or Invite step in this flow",
                    "put a { op = \"Consult\", target = ... } step before it",
                );
                return None;
            }
            let timeout = match &s.timeout {
                Some(t) => self.positive_duration(t, "`timeout`"),
                None => {
                    self.s.error_help(ev.span(), "an await step needs a `timeout`", "e.g. { await = \"consultant-joined\", timeout = \"10s\" }; not seeing the event in time fails the flow: an `await-timeout:<event>` error of the operation before it, not an ordering violation");
                    None
                }
            };
            return Some(Step::Await { event: event?, timeout: timeout? });
        }
        let op_v = s.op.as_ref()?;
        let Some(op) = Capability::parse(op_v.get_ref()) else {
            let names: Vec<&str> = Capability::ALL.iter().map(|c| c.as_str()).collect();
            let help = match did_you_mean(op_v.get_ref(), names.iter().copied()) {
                Some(n) => format!("did you mean `{n}`? operations: {}", names.join(", ")),
                None => format!("operations: {}", names.join(", ")),
            };
            self.s.error_help(
                op_v.span(),
                format!("`{}` is not an operation of the GWS chat or Facebook API", op_v.get_ref()),
                help,
            );
            return None;
        };
        let spec = op_spec(op);
        let mut ok = true;
        for (p, pspan) in &params {
            if *p == "timeout" {
                self.s.error_help(pspan.clone().unwrap_or(span.clone()), format!("`{op}` takes no `timeout`"), "operations are timed and measured by gwsim; use an await step to wait for an event");
                ok = false;
            } else if !spec.mandatory.contains(p) && !spec.optional.contains(p) {
                let allowed: Vec<&str> =
                    spec.mandatory.iter().chain(spec.optional).copied().collect();
                let help = if allowed.is_empty() {
                    format!("`{op}` takes no parameters")
                } else {
                    format!("`{op}` takes: {}", allowed.join(", "))
                };
                self.s.error_help(
                    pspan.clone().unwrap_or(span.clone()),
                    format!("`{op}` has no parameter `{p}`"),
                    help,
                );
                ok = false;
            }
        }
        for m in spec.mandatory {
            if !params.iter().any(|(p, _)| p == m) {
                self.s.error_help(op_v.span(), format!("`{op}` needs `{m}`"), param_help(op, m));
                ok = false;
            }
        }
        if op == Capability::AddComment && media != Media::Facebook {
            self.s.error_help(
                op_v.span(),
                "`AddComment` exists only for Facebook sessions, and this scenario's media is chat",
                "remove the step, or set `media = \"facebook\"` in [target]",
            );
            ok = false;
        }
        let mut step = OpStep::new(op);
        if let Some(t) = &s.target {
            if let Some(tr) = self.target_ref(t, op, media, brought_agent_in) {
                self.target_uses.push(TargetUse { op, target: tr.clone(), span: t.span() });
                step.target = Some(tr);
            } else {
                ok = false;
            }
        }
        let mut text_param =
            |v: &Option<Spanned<String>>, what: &str, cx: &mut Self| -> Option<String> {
                let v = v.as_ref()?;
                if v.get_ref().is_empty() {
                    cx.s.error(v.span(), format!("`{what}` is empty"));
                    ok = false;
                }
                Some(v.get_ref().clone())
            };
        step.text = text_param(&s.text, "text", self);
        step.url = text_param(&s.url, "url", self);
        step.notice = text_param(&s.notice, "notice", self);
        step.nickname = text_param(&s.nickname, "nickname", self);
        step.disposition = text_param(&s.disposition, "disposition", self);
        step.disposition_key = text_param(&s.disposition_key, "disposition_key", self);
        step.queue = text_param(&s.queue, "queue", self);
        step.comment = text_param(&s.comment, "comment", self);
        if let Some(ud) = &s.user_data {
            if ud.is_empty() {
                self.s.error(op_v.span(), "`user_data` is empty");
                ok = false;
            }
            step.user_data = ud.clone();
        }
        if let Some(keys) = &s.keys {
            if keys.is_empty() {
                self.s.error(op_v.span(), "`keys` is empty; list the user-data keys to delete");
                ok = false;
            }
            step.keys = keys.clone();
        }
        ok.then(|| Step::Op(Box::new(step)))
    }

    fn no_params(&mut self, params: &[(&'static str, Option<Span>)], what: &str, except: &[&str]) {
        for (p, span) in params {
            if !except.contains(p) {
                if let Some(span) = span {
                    self.s.error(span.clone(), format!("`{p}` does not belong in {what}"));
                }
            }
        }
    }

    fn target_ref(
        &mut self,
        t: &Spanned<String>,
        op: Capability,
        media: Media,
        brought_agent_in: bool,
    ) -> Option<TargetRef> {
        const HELP: &str =
            "targets are agents:<population>, queue:<name>, user:<username> or consultant";
        let raw = t.get_ref().trim();
        let parsed = if raw == "consultant" {
            Some(TargetRef::Consultant)
        } else if let Some((kind, rest)) = raw.split_once(':') {
            let rest = rest.trim();
            if rest.is_empty() {
                self.s.error_help(
                    t.span(),
                    format!("target `{raw}` names nobody after the colon"),
                    HELP,
                );
                return None;
            }
            match kind {
                "agents" => Some(TargetRef::Agents(rest.to_owned())),
                "queue" => Some(TargetRef::Queue(rest.to_owned())),
                "user" => Some(TargetRef::User(rest.to_owned())),
                _ => None,
            }
        } else {
            None
        };
        let Some(tr) = parsed else {
            self.s.error_help(t.span(), format!("`{raw}` is not a target"), HELP);
            return None;
        };
        let kind_ok = match (&tr, op) {
            (TargetRef::Consultant, Capability::Consult) => false,
            (TargetRef::Queue(_), Capability::RemoveParticipantFromConference) => false,
            // Chat invites name an agent; invite-through-queue exists only for Facebook (§5).
            (TargetRef::Queue(_), Capability::Invite) => media == Media::Facebook,
            _ => true,
        };
        if !kind_ok {
            let why = match tr {
                TargetRef::Consultant => format!(
                    "`{op}` cannot target `consultant`: the consultant is whoever an earlier Consult brought in"
                ),
                _ => format!("`{op}` cannot target a queue here"),
            };
            self.s.error_help(t.span(), why, "use agents:<population> or user:<username>");
            return None;
        }
        if tr == TargetRef::Consultant && !brought_agent_in {
            self.s.error_help(t.span(), "target `consultant` is used before any Consult or Invite step in this flow", "`consultant` means the agent an earlier Consult or Invite brought in; add that step first");
            return None;
        }
        Some(tr)
    }

    // ----- [[thresholds]] -----

    fn threshold(
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

    fn metric(&mut self, m: &Spanned<String>) -> Option<Metric> {
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

    fn limit(&mut self, metric: Metric, stat: Stat, v: &Spanned<Scalar>) -> Option<Limit> {
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

    // ----- cross-section rules -----

    fn resolve_references(
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
    fn check_consultant_flow(
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

    fn check_target_rules(
        &mut self,
        t: &TargetDraft,
        pops: &[PopDraft],
        customers: Option<&CustomersDraft>,
        _run: &Run,
    ) {
        let TargetKind::Remote(remote) = &t.target.kind else { return };
        for p in pops {
            if p.password_span.is_none() {
                self.s.error_help(
                    p.span.clone(),
                    format!("population `{}` has no password, and a remote server will ask for one", p.pop.name),
                    "add `password = { env = \"GWS_PASSWORD\" }` (or `{ file = \"path\" }`); only the embedded server accepts generated passwords",
                );
            }
        }
        if let Some(c) = customers {
            if !remote.customer_api {
                self.s.error_help(
                    t.customer_api_span.clone().unwrap_or_else(|| t.span.clone()),
                    "[customers] is configured but `customer_api = false`, so customers could not reach the server",
                    "remove [customers] when real traffic feeds the target, or set `customer_api = true`",
                );
            } else if t.target.media == Media::Chat && remote.contact_center_id.is_none() {
                self.s.error_help(
                    c.span.clone(),
                    "simulated chat customers need the target's `contact_center_id` (the customer chat API's ContactCenterId header)",
                    "add `contact_center_id = \"<uuid>\"` to [target]",
                );
            }
        }
    }

    fn check_username_collisions(&mut self, pops: &[PopDraft]) {
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

/// The parameter keys a step carries, with their spans where known.
fn present_params(s: &raw::Step) -> Vec<(&'static str, Option<Span>)> {
    let mut out = Vec::new();
    let spanned = [
        ("target", &s.target),
        ("text", &s.text),
        ("url", &s.url),
        ("notice", &s.notice),
        ("nickname", &s.nickname),
        ("disposition", &s.disposition),
        ("disposition_key", &s.disposition_key),
        ("queue", &s.queue),
        ("comment", &s.comment),
        ("timeout", &s.timeout),
    ];
    for (k, v) in spanned {
        if let Some(v) = v {
            out.push((k, Some(v.span())));
        }
    }
    if s.user_data.is_some() {
        out.push(("user_data", None));
    }
    if s.keys.is_some() {
        out.push(("keys", None));
    }
    out
}

struct OpSpec {
    mandatory: &'static [&'static str],
    optional: &'static [&'static str],
}

/// Step parameters per operation (protocol.md §5, §15.18). `Accept.nickname` is mandatory on the
/// wire but optional here: the engine sends the agent's username when the flow gives none.
fn op_spec(op: Capability) -> OpSpec {
    use Capability as C;
    let (mandatory, optional): (&[&str], &[&str]) = match op {
        C::Accept => (&[], &["nickname"]),
        C::Reject | C::CancelConsult | C::SetInFocus => (&[], &[]),
        C::SendStartTypingToAgentsNotification | C::SendStopTypingToAgentsNotification => {
            (&[], &[])
        }
        C::SendStartTypingNotification | C::SendStopTypingNotification => (&[], &[]),
        C::Transfer => (&["target"], &["text"]),
        C::Leave => (&[], &["text"]),
        C::Invite | C::Consult => (&["target"], &[]),
        C::RemoveParticipantFromConference => (&["target"], &["text"]),
        C::SetDisposition => (&["disposition"], &["disposition_key"]),
        C::AttachUserData | C::UpdateUserData => (&["user_data"], &[]),
        C::DeleteUserData => (&["keys"], &[]),
        C::SendToAgents | C::SendMessage => (&["text"], &[]),
        C::SendCustomNotice | C::SendCustomNoticeToAgents => (&["notice"], &[]),
        C::Complete => (&[], &["queue", "text"]),
        C::SendUrl => (&["url"], &["text"]),
        C::AddComment => (&["comment"], &[]),
    };
    OpSpec { mandatory, optional }
}

fn param_help(op: Capability, param: &str) -> String {
    match param {
        "target" => match op {
            Capability::Consult => "who to consult: target = \"agents:<population>\", \"queue:<name>\" or \"user:<username>\"".to_owned(),
            Capability::RemoveParticipantFromConference => "who to remove: target = \"consultant\" (the agent an earlier Consult brought in)".to_owned(),
            _ => format!("who to {}: target = \"agents:<population>\", \"user:<username>\" or \"consultant\"", op.as_str().to_lowercase()),
        },
        "text" => "the message: text = \"Hello\"".to_owned(),
        "notice" => "the notice text: notice = \"...\"".to_owned(),
        "url" => "the link to push: url = \"https://example.com\"".to_owned(),
        "disposition" => "the disposition code: disposition = \"Resolved\"".to_owned(),
        "user_data" => "the keys and values: user_data = { key = \"value\" }".to_owned(),
        "keys" => "the user-data keys to delete: keys = [\"key\"]".to_owned(),
        "comment" => "the comment: comment = \"...\"".to_owned(),
        other => format!("add `{other}`"),
    }
}
