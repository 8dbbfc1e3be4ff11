//! Reading a fault plan from TOML by hand (`toml_edit`), so that each key, value and list element
//! keeps its position and every problem is reported at once with file:line:col.

use std::path::Path;
use std::time::Duration;

use toml_edit::{ImDocument, Item, TableLike};

use super::*;
use crate::scenario::diagnostic::{Diagnostic, Diagnostics, Sink, did_you_mean};
use crate::scenario::units::parse_duration;

/// Reads and validates a plan file.
pub fn load_plan(path: impl AsRef<Path>) -> Result<FaultPlan, Diagnostics> {
    let path = path.as_ref();
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => parse_plan(&file, &text),
        Err(e) => Err(Diagnostics(vec![Diagnostic {
            file,
            line: 0,
            col: 0,
            message: format!("cannot read the fault plan: {e}"),
            help: None,
        }])),
    }
}

/// Reads and validates a fault proxy's plan file (`gwsim proxy --faults FILE`): the same format,
/// with the proxy's kinds only.
pub fn load_proxy_plan(path: impl AsRef<Path>) -> Result<FaultPlan, Diagnostics> {
    let path = path.as_ref();
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => parse_proxy_plan(&file, &text),
        Err(e) => Err(Diagnostics(vec![Diagnostic {
            file,
            line: 0,
            col: 0,
            message: format!("cannot read the proxy's fault plan: {e}"),
            help: None,
        }])),
    }
}

/// Validates plan text; `file` is only used in diagnostics.
pub fn parse_plan(file: &str, text: &str) -> Result<FaultPlan, Diagnostics> {
    parse_for(file, text, PlanFor::Server)
}

/// Validates a proxy plan's text (the proxy's kinds only).
pub fn parse_proxy_plan(file: &str, text: &str) -> Result<FaultPlan, Diagnostics> {
    parse_for(file, text, PlanFor::Proxy { extra_keys: &[] })
}

fn parse_for(file: &str, text: &str, what: PlanFor) -> Result<FaultPlan, Diagnostics> {
    let mut sink = Sink::new(file, text);
    let doc = match ImDocument::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let msg = e.message().trim().trim_end_matches('.').replace('\n', ": ");
            sink.error(span, format!("this is not valid TOML: {msg}"));
            return Err(sink.finish());
        }
    };
    let plan = plan_from_table(doc.as_table(), 0..0, DEFAULT_SEED, what, &mut sink);
    match plan {
        Some(plan) if !sink.has_errors() => Ok(plan),
        _ => Err(sink.finish()),
    }
}

const TOP_KEYS: &[&str] = &["seed", "ledger_cap", "rule"];

/// Who carries a plan out: the reference server (`[faults]`, `gwsim serve --faults`) takes the
/// server's kinds, the fault proxy (`[proxy]`, `gwsim proxy --faults`) the `proxy-*` kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanFor {
    Server,
    /// `extra_keys`: top-level keys the caller reads itself (a scenario's `[proxy] listen`).
    Proxy {
        extra_keys: &'static [&'static str],
    },
}
const COMMON_KEYS: &[&str] = &["kind", "rate", "from", "for", "every"];

/// Reads a plan from a TOML table: the whole `--faults` file, or a scenario's `[faults]` table
/// (for the scenario compiler, which passes its own diagnostics sink and its seed as the default
/// seed). `span` locates the table for problems of the table as a whole. Every problem goes to
/// `sink`; `None` when the plan cannot be used.
pub(crate) fn plan_from_table(
    table: &dyn TableLike,
    span: Span,
    default_seed: u64,
    what: PlanFor,
    sink: &mut Sink<'_>,
) -> Option<FaultPlan> {
    let sink = &mut Errs { sink, count: 0 };
    let mut plan = FaultPlan::empty(default_seed);
    for (key, item) in table.iter() {
        let kspan = key_span(table, key, &span);
        match key {
            "seed" => {
                if let Some(n) = int(item, &kspan, "seed", sink) {
                    match u64::try_from(n) {
                        Ok(n) => plan.seed = n,
                        Err(_) => sink.error(value_span(item, &kspan), "`seed` cannot be negative"),
                    }
                }
            }
            "ledger_cap" => {
                if let Some(n) = int(item, &kspan, "ledger_cap", sink) {
                    match usize::try_from(n) {
                        Ok(n) if n > 0 => plan.ledger_cap = n,
                        _ => sink.error_help(
                            value_span(item, &kspan),
                            format!("`ledger_cap` is {n}; it must be at least 1"),
                            "it is how many ledger records are kept in memory",
                        ),
                    }
                }
            }
            "rule" => {
                for (entry, espan) in entries(item, &kspan, sink) {
                    if let Some(rule) = rule(entry, espan, what, sink) {
                        plan.rules.push(rule);
                    }
                }
            }
            other if matches!(what, PlanFor::Proxy { extra_keys } if extra_keys.contains(&other)) =>
                {}
            other => {
                let help = match did_you_mean(other, TOP_KEYS.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`? keys allowed: {}", TOP_KEYS.join(", ")),
                    None => format!("keys allowed: {}", TOP_KEYS.join(", ")),
                };
                sink.error_help(kspan, format!("unknown key `{other}` in a fault plan"), help);
            }
        }
    }
    (sink.count == 0).then_some(plan)
}

/// The caller's sink, counting what this module adds to it (a scenario's sink may already hold
/// problems of other sections).
struct Errs<'s, 'f> {
    sink: &'s mut Sink<'f>,
    count: usize,
}

impl Errs<'_, '_> {
    fn error(&mut self, span: Span, message: impl Into<String>) {
        self.count += 1;
        self.sink.error(span, message);
    }

    fn error_help(&mut self, span: Span, message: impl Into<String>, help: impl Into<String>) {
        self.count += 1;
        self.sink.error_help(span, message, help);
    }
}

fn key_span(table: &dyn TableLike, key: &str, fallback: &Span) -> Span {
    table.key(key).and_then(|k| k.span()).unwrap_or_else(|| fallback.clone())
}

fn value_span(item: &Item, fallback: &Span) -> Span {
    item.span().unwrap_or_else(|| fallback.clone())
}

/// The tables of `rule`: `[[rule]]` sections or an inline array of inline tables.
fn entries<'a>(
    item: &'a Item,
    span: &Span,
    sink: &mut Errs<'_, '_>,
) -> Vec<(&'a dyn TableLike, Span)> {
    match item {
        Item::ArrayOfTables(a) => a
            .iter()
            .map(|t| (t as &dyn TableLike, t.span().unwrap_or_else(|| span.clone())))
            .collect(),
        Item::Value(toml_edit::Value::Array(a)) => {
            let mut out = Vec::new();
            for v in a.iter() {
                let vspan = v.span().unwrap_or_else(|| span.clone());
                match v.as_inline_table() {
                    Some(t) => out.push((t as &dyn TableLike, vspan)),
                    None => sink.error(vspan, "wrong type: a fault rule is a table"),
                }
            }
            out
        }
        _ => {
            sink.error_help(
                value_span(item, span),
                "wrong type: `rule` is a list of tables",
                "write each rule as a `[[rule]]` section",
            );
            Vec::new()
        }
    }
}

fn int(item: &Item, kspan: &Span, key: &str, sink: &mut Errs<'_, '_>) -> Option<i64> {
    let v = item.as_integer();
    if v.is_none() {
        sink.error(value_span(item, kspan), format!("wrong type: `{key}` is a whole number"));
    }
    v
}

fn string<'a>(item: &'a Item, kspan: &Span, key: &str, sink: &mut Errs<'_, '_>) -> Option<&'a str> {
    let v = item.as_str();
    if v.is_none() {
        sink.error(value_span(item, kspan), format!("wrong type: `{key}` is a string"));
    }
    v
}

fn duration(item: &Item, kspan: &Span, key: &str, sink: &mut Errs<'_, '_>) -> Option<Duration> {
    let s = string(item, kspan, key, sink)?;
    match parse_duration(s) {
        Ok(d) => Some(d),
        Err(e) => {
            sink.error(value_span(item, kspan), format!("`{key}`: {e}"));
            None
        }
    }
}

fn distribution(
    item: &Item,
    kspan: &Span,
    key: &str,
    sink: &mut Errs<'_, '_>,
) -> Option<Distribution> {
    let s = string(item, kspan, key, sink)?;
    match Distribution::parse(s) {
        Ok(d) => Some(d),
        Err(e) => {
            sink.error(value_span(item, kspan), format!("`{key}`: {e}"));
            None
        }
    }
}

/// A list of strings, each with its span.
fn strings<'a>(
    item: &'a Item,
    kspan: &Span,
    key: &str,
    sink: &mut Errs<'_, '_>,
) -> Option<Vec<(&'a str, Span)>> {
    let Some(array) = item.as_array() else {
        sink.error_help(
            value_span(item, kspan),
            format!("wrong type: `{key}` is a list of strings"),
            format!("write `{key} = [\"...\"]`"),
        );
        return None;
    };
    let mut out = Vec::new();
    let mut ok = true;
    for v in array.iter() {
        let vspan = v.span().unwrap_or_else(|| kspan.clone());
        match v.as_str() {
            Some(s) => out.push((s, vspan)),
            None => {
                sink.error(vspan, format!("wrong type: each of `{key}` is a string"));
                ok = false;
            }
        }
    }
    if ok && out.is_empty() {
        sink.error_help(
            value_span(item, kspan),
            format!("`{key}` is empty, so the rule selects nothing"),
            format!("remove `{key}` to select everything"),
        );
        return None;
    }
    ok.then_some(out)
}

/// One `[[rule]]`.
fn rule(
    table: &dyn TableLike,
    span: Span,
    what: PlanFor,
    sink: &mut Errs<'_, '_>,
) -> Option<FaultRule> {
    let before = sink.count;
    let kind = match table.get("kind") {
        None => {
            sink.error_help(
                span.clone(),
                "a fault rule has no `kind`",
                format!("add `kind = \"...\"`, one of: {}", kind_names()),
            );
            None
        }
        Some(item) => {
            let kspan = key_span(table, "kind", &span);
            let name = string(item, &kspan, "kind", sink)?;
            // Client-side kinds are `[chaos]`'s, done by the simulator: a plan cannot ask for them.
            let kind = FaultKind::parse(name).filter(|k| !k.is_client());
            if kind.is_none() {
                let help = match did_you_mean(name, FaultKind::ALL.iter().map(|k| k.as_str())) {
                    Some(s) => format!("did you mean `{s}`? kinds: {}", kind_names()),
                    None => format!("kinds: {}", kind_names()),
                };
                sink.error_help(
                    value_span(item, &kspan),
                    format!("`{name}` is not a kind of fault"),
                    help,
                );
            }
            // One home per fault: the server cannot forward bytes, the proxy sees no operation.
            match (kind, what) {
                (Some(k), PlanFor::Server) if k.is_proxy() => {
                    sink.error_help(
                        value_span(item, &kspan),
                        format!("`{k}` is a fault of the proxy, not of the server"),
                        "put it in the scenario's [proxy] section, or in `gwsim proxy --faults FILE`",
                    );
                    None
                }
                (Some(k), PlanFor::Proxy { .. }) if !k.is_proxy() => {
                    sink.error_help(
                        value_span(item, &kspan),
                        format!("`{k}` is a fault of the reference server, not of the proxy"),
                        format!("the proxy's kinds: {}", proxy_kind_names()),
                    );
                    None
                }
                _ => kind,
            }
        }
    };
    // Keys are checked even without a usable kind, against every key any kind takes.
    let allowed: Vec<&str> = match kind {
        Some(k) => COMMON_KEYS.iter().chain(k.keys()).copied().collect(),
        None => {
            let mut all: Vec<&str> = COMMON_KEYS.to_vec();
            for k in FaultKind::ALL {
                for key in k.keys() {
                    if !all.contains(key) {
                        all.push(key);
                    }
                }
            }
            all
        }
    };
    let mut rate = None;
    let mut rate_given = false;
    let mut schedule = Schedule::default();
    let mut scheduled = false;
    let mut length_span = None;
    let mut select = Selector::default();
    let mut dist = None;
    let mut status_code = None;
    let mut http_status = None;
    let mut hold = None;
    let mut bytes_per_sec = None;
    for (key, item) in table.iter() {
        let kspan = key_span(table, key, &span);
        if !allowed.contains(&key) {
            let any_kind = FaultKind::ALL.iter().any(|k| k.keys().contains(&key));
            match kind {
                Some(k) if any_kind => sink.error_help(
                    kspan,
                    format!("`{key}` does not apply to `{k}` faults"),
                    format!("keys of a `{k}` rule: {}", allowed.join(", ")),
                ),
                _ => {
                    let help = match did_you_mean(key, allowed.iter().copied()) {
                        Some(s) => {
                            format!("did you mean `{s}`? keys allowed: {}", allowed.join(", "))
                        }
                        None => format!("keys allowed: {}", allowed.join(", ")),
                    };
                    sink.error_help(kspan, format!("unknown key `{key}` in a fault rule"), help);
                }
            }
            continue;
        }
        match key {
            "kind" => {}
            "rate" => {
                rate_given = true;
                let v = item.as_float().or_else(|| item.as_integer().map(|i| i as f64));
                match v {
                    Some(r) if (0.0..=1.0).contains(&r) => rate = Some(r),
                    Some(r) => sink.error_help(
                        value_span(item, &kspan),
                        format!("`rate` is {r}, outside 0..1"),
                        "a rate is the probability that an eligible event is faulted: 0.25 is one in four, 1 is every one",
                    ),
                    None => {
                        sink.error(value_span(item, &kspan), "wrong type: `rate` is a number")
                    }
                }
            }
            "from" => {
                scheduled = true;
                if let Some(d) = duration(item, &kspan, key, sink) {
                    schedule.from = d;
                }
            }
            "for" => {
                scheduled = true;
                length_span = Some(value_span(item, &kspan));
                if let Some(d) = duration(item, &kspan, key, sink) {
                    if d.is_zero() {
                        sink.error(
                            value_span(item, &kspan),
                            "`for` is zero, so the rule never fires",
                        );
                    }
                    schedule.length = Some(d);
                }
            }
            "every" => {
                scheduled = true;
                if let Some(d) = duration(item, &kspan, key, sink) {
                    if d.is_zero() {
                        sink.error(value_span(item, &kspan), "`every` must be more than zero");
                    }
                    schedule.every = Some(d);
                }
            }
            "delay" | "latency" => dist = distribution(item, &kspan, key, sink),
            "hold" => hold = duration(item, &kspan, key, sink),
            "status_code" => {
                if let Some(n) = int(item, &kspan, key, sink) {
                    match u32::try_from(n) {
                        Ok(n) if n > 0 => status_code = Some(n),
                        _ => sink.error_help(
                            value_span(item, &kspan),
                            format!("`status_code` is {n}; an error's statusCode is 1 or more"),
                            "0 means success; GWS errors are 1 (missing parameter), 2 (invalid state), 3 (forbidden), 4 (internal), 6 (not found) ...",
                        ),
                    }
                }
            }
            "http_status" => {
                if let Some(n) = int(item, &kspan, key, sink) {
                    match u16::try_from(n) {
                        Ok(n) if (100..=599).contains(&n) => http_status = Some(n),
                        _ => sink.error(
                            value_span(item, &kspan),
                            format!("`http_status` is {n}; an HTTP status is from 100 to 599"),
                        ),
                    }
                }
            }
            "bytes_per_sec" => {
                if let Some(n) = int(item, &kspan, key, sink) {
                    match u64::try_from(n) {
                        Ok(n) if n > 0 => bytes_per_sec = Some(n),
                        _ => sink.error(
                            value_span(item, &kspan),
                            format!("`bytes_per_sec` is {n}; a bandwidth is 1 byte/s or more"),
                        ),
                    }
                }
            }
            "direction" => {
                // One direction as a string, or a list of them.
                let list = match item.as_str() {
                    Some(d) => Some(vec![(d, value_span(item, &kspan))]),
                    None => strings(item, &kspan, key, sink),
                };
                let mut dirs = Vec::new();
                for (d, vspan) in list.unwrap_or_default() {
                    match Direction::parse(d) {
                        Some(d) => dirs.push(d),
                        None => sink.error_help(
                            vspan,
                            format!("`{d}` is not a direction"),
                            "`upstream` (towards the server) or `downstream` (back to the simulator)",
                        ),
                    }
                }
                select.directions = Some(dirs);
            }
            "operations" => {
                let mut ops = Vec::new();
                for (name, vspan) in strings(item, &kspan, key, sink).unwrap_or_default() {
                    match OpSelector::parse(name) {
                        Some(op) => ops.push(op),
                        None => {
                            let help = match did_you_mean(name, OpSelector::names()) {
                                Some(s) => format!("did you mean `{s}`?"),
                                None => "an operation name (Accept, Consult, SendMessage, ...), or `customer`, `session` or `routing`".to_owned(),
                            };
                            sink.error_help(vspan, format!("`{name}` is not an operation"), help);
                        }
                    }
                }
                select.operations = Some(ops);
            }
            "agents" => {
                let mut pats = Vec::new();
                for (p, vspan) in strings(item, &kspan, key, sink).unwrap_or_default() {
                    if p.is_empty() {
                        sink.error(vspan, "an empty agent pattern selects nobody");
                    } else if let Some(pop) = p.strip_prefix("agents:") {
                        pats.push(AgentPattern::Population(pop.to_owned()));
                    } else {
                        pats.push(AgentPattern::Glob(p.to_owned()));
                    }
                }
                select.agents = Some(pats);
            }
            "media" => {
                let mut media = Vec::new();
                for (m, vspan) in strings(item, &kspan, key, sink).unwrap_or_default() {
                    match m {
                        "chat" => media.push(Media::Chat),
                        "facebook" => media.push(Media::Facebook),
                        other => sink.error_help(
                            vspan,
                            format!("`{other}` is not a media"),
                            "the media are `chat` and `facebook`",
                        ),
                    }
                }
                select.media = Some(media);
            }
            _ => {}
        }
    }
    let kind = kind?;
    if schedule.every.is_some() && schedule.length.is_none() {
        sink.error_help(
            key_span(table, "every", &span),
            "`every` without `for`: a repeating window needs a length",
            "add `for = \"5s\"` (how long each window lasts)",
        );
    }
    if let (Some(every), Some(length)) = (schedule.every, schedule.length)
        && length >= every
    {
        sink.error_help(
            length_span.clone().unwrap_or_else(|| span.clone()),
            "`for` is not shorter than `every`, so the windows never close",
            "drop `every` and `for` to stay active, or make `for` shorter",
        );
    }
    if kind == FaultKind::Stall {
        if rate_given {
            sink.error_help(
                key_span(table, "rate", &span),
                "a `stall` takes no `rate`: it holds everything for its windows",
                "give its windows with `from`, `for` and `every`",
            );
        }
        if schedule.length.is_none() {
            sink.error_help(
                span.clone(),
                "a `stall` needs `for`, how long it lasts",
                "e.g. `from = \"10s\"` and `for = \"5s\"`",
            );
        }
    } else if !rate_given && !scheduled {
        sink.error_help(
            span.clone(),
            format!("this `{kind}` rule has neither a `rate` nor a schedule"),
            "add `rate = 1.0` for every eligible event, or `from`/`for`/`every` for a window",
        );
    }
    let needs = |dist: Option<Distribution>, key: &str, sink: &mut Errs<'_, '_>| {
        if dist.is_none() && table.get(key).is_none() {
            sink.error_help(
                span.clone(),
                format!("a `{kind}` rule needs `{key}`"),
                format!("e.g. `{key} = \"20ms\"`, `\"10ms..50ms\"` or `\"exp(20ms)\"`"),
            );
        }
        dist
    };
    let action = match kind {
        FaultKind::Drop => Some(Action::Drop),
        FaultKind::Duplicate => Some(Action::Duplicate),
        FaultKind::Swap => Some(Action::Swap),
        FaultKind::Delay => needs(dist, "delay", sink).map(Action::Delay),
        FaultKind::Late => Some(Action::Late),
        FaultKind::IndexRegression => Some(Action::IndexRegression),
        FaultKind::Leak => Some(Action::Leak),
        FaultKind::Latency => needs(dist, "latency", sink).map(Action::Latency),
        FaultKind::SlowCustomer => needs(dist, "latency", sink).map(Action::SlowCustomer),
        FaultKind::Error => Some(Action::Error {
            status_code: status_code.unwrap_or(crate::gws::status::INTERNAL),
            http_status,
        }),
        FaultKind::RequestStall => Some(Action::RequestStall { hold }),
        FaultKind::Expire => Some(Action::Expire),
        FaultKind::WsClose => Some(Action::WsClose),
        FaultKind::ConnectStarvation => Some(Action::ConnectStarvation),
        FaultKind::Stall => Some(Action::Stall),
        FaultKind::ProxyLatency => needs(dist, "latency", sink).map(Action::ProxyLatency),
        FaultKind::ProxyStall => {
            if hold.is_none() && schedule.length.is_none() && table.get("hold").is_none() {
                sink.error_help(
                    span.clone(),
                    "a `proxy-stall` needs `hold` (how long bytes are held) or `for` (held to the window's end)",
                    "e.g. `hold = \"3s\"` with `rate`, or `from = \"10s\"` and `for = \"5s\"`",
                );
            }
            Some(Action::ProxyStall { hold })
        }
        FaultKind::ProxyReset => Some(Action::ProxyReset),
        FaultKind::ProxyBandwidth => match bytes_per_sec {
            Some(bytes_per_sec) => Some(Action::ProxyBandwidth { bytes_per_sec }),
            None => {
                if table.get("bytes_per_sec").is_none() {
                    sink.error_help(
                        span.clone(),
                        "a `proxy-bandwidth` rule needs `bytes_per_sec`",
                        "e.g. `bytes_per_sec = 65536`",
                    );
                }
                None
            }
        },
        // Refused when the kind was read; the simulator does these itself.
        FaultKind::AgentCrash
        | FaultKind::AgentRecover
        | FaultKind::ReconnectStorm
        | FaultKind::SlowConsumer
        | FaultKind::CustomerAbandon => None,
    };
    if sink.count != before {
        return None;
    }
    Some(FaultRule {
        action: action?,
        rate: rate.unwrap_or(1.0),
        schedule: scheduled.then_some(schedule),
        select,
    })
}

fn proxy_kind_names() -> String {
    let kinds = FaultKind::ALL.iter().filter(|k| k.is_proxy());
    kinds.map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
}

fn kind_names() -> String {
    FaultKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
}
