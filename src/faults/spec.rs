//! A fault plan: which faults to inject, how often, when and into what, read from TOML with every
//! problem reported at once with file:line:col.
//!
//! The format (docs/faults.md has one example per kind) is the same for `gwsim serve --faults
//! FILE` and for a scenario's `[faults]` table:
//!
//! ```toml
//! seed = 7                  # optional: the scenario's seed, or 1
//! ledger_cap = 100000       # optional: records kept in memory
//!
//! [[rule]]
//! kind = "drop"             # what to do
//! rate = 0.5                # probability per event, 0..=1
//! from = "10s"              # schedule: active from 10 s after start,
//! for = "5s"                # for 5 s,
//! every = "30s"             # every 30 s
//! operations = ["Consult"]  # selector: operations, agents (username globs), media
//! agents = ["agent-1*"]
//! media = ["chat"]
//! ```
//!
//! The file is read by hand from `toml_edit` rather than through serde so that each key, each
//! value and each list element keeps its own position, and so that a key that does not apply to
//! the rule's kind gets a sentence saying so.

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml_edit::{ImDocument, Item, TableLike};

use crate::gws::Media;
use crate::gws::states::Capability;
use crate::scenario::diagnostic::{Diagnostic, Diagnostics, Sink, did_you_mean};
use crate::scenario::units::{Distribution, parse_duration};

type Span = Range<usize>;

/// Every kind of fault, with its name in plans and in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// A notification an operation owes an agent is never sent.
    Drop,
    /// A notification is sent twice in a row.
    Duplicate,
    /// Two notifications of the same batch to the same agent arrive in swapped order.
    Swap,
    /// A notification is held back and sent later, after later batches.
    Delay,
    /// A notification is sent again after the agent's terminal state for that interaction.
    Late,
    /// A MessageLogUpdated carries an index that does not increase.
    IndexRegression,
    /// An `Agents`-only log entry is shown to the customer.
    Leak,
    /// Agent or customer REST requests are answered late.
    Latency,
    /// A REST request fails with an injected statusCode.
    Error,
    /// A REST request is held (for a while, or until the client gives up).
    RequestStall,
    /// The CometD session is forgotten: the next connect gets `402::Unknown client`.
    Expire,
    /// The websocket is closed by the server.
    WsClose,
    /// A long-poll connect is not answered.
    ConnectStarvation,
    /// The whole server holds requests, long-poll answers and websocket frames.
    Stall,
    /// Latency on the customer API only.
    SlowCustomer,
}

impl FaultKind {
    pub const ALL: &'static [FaultKind] = &[
        FaultKind::Drop,
        FaultKind::Duplicate,
        FaultKind::Swap,
        FaultKind::Delay,
        FaultKind::Late,
        FaultKind::IndexRegression,
        FaultKind::Leak,
        FaultKind::Latency,
        FaultKind::Error,
        FaultKind::RequestStall,
        FaultKind::Expire,
        FaultKind::WsClose,
        FaultKind::ConnectStarvation,
        FaultKind::Stall,
        FaultKind::SlowCustomer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Drop => "drop",
            FaultKind::Duplicate => "duplicate",
            FaultKind::Swap => "swap",
            FaultKind::Delay => "delay",
            FaultKind::Late => "late",
            FaultKind::IndexRegression => "index-regression",
            FaultKind::Leak => "leak",
            FaultKind::Latency => "latency",
            FaultKind::Error => "error",
            FaultKind::RequestStall => "request-stall",
            FaultKind::Expire => "expire",
            FaultKind::WsClose => "ws-close",
            FaultKind::ConnectStarvation => "connect-starvation",
            FaultKind::Stall => "stall",
            FaultKind::SlowCustomer => "slow-customer",
        }
    }

    pub fn parse(s: &str) -> Option<FaultKind> {
        FaultKind::ALL.iter().copied().find(|k| k.as_str() == s)
    }

    /// Faults on the notifications of one operation's batch (injected where the state machine's
    /// outbox is published).
    pub fn is_notification(self) -> bool {
        matches!(
            self,
            FaultKind::Drop
                | FaultKind::Duplicate
                | FaultKind::Swap
                | FaultKind::Delay
                | FaultKind::Late
                | FaultKind::IndexRegression
        )
    }

    /// Faults on HTTP requests (agent or customer).
    pub fn is_request(self) -> bool {
        matches!(
            self,
            FaultKind::Latency
                | FaultKind::Error
                | FaultKind::RequestStall
                | FaultKind::SlowCustomer
        )
    }

    /// Faults on CometD connects.
    pub fn is_connect(self) -> bool {
        matches!(self, FaultKind::Expire | FaultKind::WsClose | FaultKind::ConnectStarvation)
    }

    /// The keys a rule of this kind takes besides `kind`, `rate` and the schedule.
    fn keys(self) -> &'static [&'static str] {
        match self {
            FaultKind::Drop
            | FaultKind::Duplicate
            | FaultKind::Swap
            | FaultKind::Late
            | FaultKind::IndexRegression => &["operations", "agents", "media"],
            FaultKind::Delay => &["delay", "operations", "agents", "media"],
            FaultKind::Leak => &["agents", "media"],
            FaultKind::Latency => &["latency", "operations", "agents", "media"],
            FaultKind::Error => &["status_code", "http_status", "operations", "agents", "media"],
            FaultKind::RequestStall => &["hold", "operations", "agents", "media"],
            FaultKind::Expire | FaultKind::WsClose | FaultKind::ConnectStarvation => &["agents"],
            FaultKind::Stall => &[],
            FaultKind::SlowCustomer => &["latency", "media"],
        }
    }
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for FaultKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for FaultKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        FaultKind::parse(&s).ok_or_else(|| {
            serde::de::Error::unknown_variant(&s, &["drop", "duplicate", "swap", "..."])
        })
    }
}

/// What a rule does, with the parameters of its kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Drop,
    Duplicate,
    Swap,
    /// Hold the notification back for a time drawn from this distribution.
    Delay(Distribution),
    Late,
    IndexRegression,
    Leak,
    /// Answer the request after a time drawn from this distribution.
    Latency(Distribution),
    /// Fail the request with this statusCode; the HTTP status is the usual one for that code
    /// unless given.
    Error {
        status_code: u32,
        http_status: Option<u16>,
    },
    /// Hold the request this long, or (None) until the client gives up or the server stops.
    RequestStall {
        hold: Option<Duration>,
    },
    Expire,
    WsClose,
    ConnectStarvation,
    /// Hold everything for the rule's schedule windows.
    Stall,
    SlowCustomer(Distribution),
}

impl Action {
    pub fn kind(&self) -> FaultKind {
        match self {
            Action::Drop => FaultKind::Drop,
            Action::Duplicate => FaultKind::Duplicate,
            Action::Swap => FaultKind::Swap,
            Action::Delay(_) => FaultKind::Delay,
            Action::Late => FaultKind::Late,
            Action::IndexRegression => FaultKind::IndexRegression,
            Action::Leak => FaultKind::Leak,
            Action::Latency(_) => FaultKind::Latency,
            Action::Error { .. } => FaultKind::Error,
            Action::RequestStall { .. } => FaultKind::RequestStall,
            Action::Expire => FaultKind::Expire,
            Action::WsClose => FaultKind::WsClose,
            Action::ConnectStarvation => FaultKind::ConnectStarvation,
            Action::Stall => FaultKind::Stall,
            Action::SlowCustomer(_) => FaultKind::SlowCustomer,
        }
    }
}

/// When a rule is active, relative to the server's start: from `from`, for `length`, repeating
/// every `every`. Without `length` it stays active; without `every` it happens once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Schedule {
    pub from: Duration,
    pub length: Option<Duration>,
    pub every: Option<Duration>,
}

impl Schedule {
    /// The window containing `elapsed`, as (window number, start, end), if the rule is active
    /// then. The end is `None` for a window that never closes.
    pub fn window(&self, elapsed: Duration) -> Option<(u64, Duration, Option<Duration>)> {
        let since = elapsed.checked_sub(self.from)?;
        let (k, start) = match self.every {
            Some(every) if !every.is_zero() => {
                let k = (since.as_nanos() / every.as_nanos()) as u64;
                let start = self.from + every.saturating_mul(u32::try_from(k).unwrap_or(u32::MAX));
                (k, start)
            }
            _ => (0, self.from),
        };
        let end = self.length.map(|l| start + l);
        match end {
            Some(end) if elapsed >= end => None,
            _ => Some((k, start, end)),
        }
    }

    pub fn is_active(&self, elapsed: Duration) -> bool {
        self.window(elapsed).is_some()
    }
}

/// An operation selector: an interaction operation by its Capability name, or a whole class of
/// causes that are not interaction operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpSelector {
    Operation(Capability),
    /// Customer API requests (RequestChat, the customer's SendMessage, ...) and the Facebook
    /// injector, and the notifications they cause.
    Customer,
    /// The agent's own session: StartContactCenterSession, Ready, NotReady, EndContactCenterSession.
    Session,
    /// What the server does on its own: routing offers, invitation timeouts.
    Routing,
}

impl OpSelector {
    pub fn parse(s: &str) -> Option<OpSelector> {
        match s {
            "customer" => Some(OpSelector::Customer),
            "session" => Some(OpSelector::Session),
            "routing" => Some(OpSelector::Routing),
            _ => Capability::parse(s).map(OpSelector::Operation),
        }
    }

    fn names() -> impl Iterator<Item = &'static str> {
        Capability::ALL.iter().map(|c| c.as_str()).chain(["customer", "session", "routing"])
    }
}

/// An agent selector: a username pattern (`*` any run of characters, `?` one), or a scenario
/// population (`agents:<name>`), which the scenario compiler resolves to patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentPattern {
    Glob(String),
    Population(String),
}

impl AgentPattern {
    pub fn matches(&self, username: &str) -> bool {
        match self {
            AgentPattern::Glob(p) => glob(p.as_bytes(), username.as_bytes()),
            // Unresolved: matches nobody rather than everybody.
            AgentPattern::Population(_) => false,
        }
    }
}

/// `*` and `?` over bytes, iteratively with one backtrack point (linear in practice).
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// What a rule applies to. An absent list selects everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selector {
    pub operations: Option<Vec<OpSelector>>,
    pub agents: Option<Vec<AgentPattern>>,
    pub media: Option<Vec<Media>>,
}

impl Selector {
    /// Whether an event caused by `op` (None: no known cause) is selected.
    pub fn operation(&self, op: Option<OpSelector>) -> bool {
        match (&self.operations, op) {
            (None, _) => true,
            (Some(ops), Some(op)) => ops.contains(&op),
            (Some(_), None) => false,
        }
    }

    /// Whether an event of agent `username` (None: no agent, e.g. a customer) is selected.
    pub fn agent(&self, username: Option<&str>) -> bool {
        match (&self.agents, username) {
            (None, _) => true,
            (Some(pats), Some(u)) => pats.iter().any(|p| p.matches(u)),
            (Some(_), None) => false,
        }
    }

    pub fn media(&self, media: Option<Media>) -> bool {
        match (&self.media, media) {
            (None, _) => true,
            (Some(list), Some(m)) => list.contains(&m),
            (Some(_), None) => false,
        }
    }
}

/// One fault rule of a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    pub action: Action,
    /// Probability that an eligible event is faulted (1 when only a schedule is given).
    pub rate: f64,
    pub schedule: Option<Schedule>,
    pub select: Selector,
}

impl FaultRule {
    pub fn kind(&self) -> FaultKind {
        self.action.kind()
    }

    /// Whether the rule is active `elapsed` after the server started.
    pub fn active(&self, elapsed: Duration) -> bool {
        self.schedule.is_none_or(|s| s.is_active(elapsed))
    }
}

/// A validated fault plan.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultPlan {
    /// Seed of every decision (see `decide`).
    pub seed: u64,
    /// Ledger records kept in memory; later ones are counted, not kept.
    pub ledger_cap: usize,
    pub rules: Vec<FaultRule>,
}

/// Records kept in memory unless the plan says otherwise.
pub const DEFAULT_LEDGER_CAP: usize = 100_000;
const DEFAULT_SEED: u64 = 1;

impl FaultPlan {
    /// A plan that injects nothing.
    pub fn empty(seed: u64) -> FaultPlan {
        FaultPlan { seed, ledger_cap: DEFAULT_LEDGER_CAP, rules: Vec::new() }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Populations (`agents:<name>`) the plan names; a standalone server cannot resolve them.
    pub fn populations(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .rules
            .iter()
            .filter_map(|r| r.select.agents.as_ref())
            .flatten()
            .filter_map(|p| match p {
                AgentPattern::Population(n) => Some(n.as_str()),
                AgentPattern::Glob(_) => None,
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Replaces each population by the username patterns `resolve` gives for it; returns the
    /// names it could not resolve (left in place, matching nobody).
    pub fn resolve_populations(
        &mut self,
        resolve: impl Fn(&str) -> Option<Vec<String>>,
    ) -> Vec<String> {
        let mut unresolved = Vec::new();
        for rule in &mut self.rules {
            let Some(agents) = &mut rule.select.agents else { continue };
            let mut out = Vec::with_capacity(agents.len());
            for p in agents.drain(..) {
                match &p {
                    AgentPattern::Population(name) => match resolve(name) {
                        Some(globs) => out.extend(globs.into_iter().map(AgentPattern::Glob)),
                        None => {
                            unresolved.push(name.clone());
                            out.push(p);
                        }
                    },
                    AgentPattern::Glob(_) => out.push(p),
                }
            }
            *agents = out;
        }
        unresolved
    }
}

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

/// Validates plan text; `file` is only used in diagnostics.
pub fn parse_plan(file: &str, text: &str) -> Result<FaultPlan, Diagnostics> {
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
    let plan = plan_from_table(doc.as_table(), 0..0, DEFAULT_SEED, &mut sink);
    match plan {
        Some(plan) if !sink.has_errors() => Ok(plan),
        _ => Err(sink.finish()),
    }
}

const TOP_KEYS: &[&str] = &["seed", "ledger_cap", "rule"];
const COMMON_KEYS: &[&str] = &["kind", "rate", "from", "for", "every"];

/// Reads a plan from a TOML table: the whole `--faults` file, or a scenario's `[faults]` table
/// (for the scenario compiler, which passes its own diagnostics sink and its seed as the default
/// seed). `span` locates the table for problems of the table as a whole. Every problem goes to
/// `sink`; `None` when the plan cannot be used.
pub(crate) fn plan_from_table(
    table: &dyn TableLike,
    span: Span,
    default_seed: u64,
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
                    if let Some(rule) = rule(entry, espan, sink) {
                        plan.rules.push(rule);
                    }
                }
            }
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
fn rule(table: &dyn TableLike, span: Span, sink: &mut Errs<'_, '_>) -> Option<FaultRule> {
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
            let kind = FaultKind::parse(name);
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
            kind
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

fn kind_names() -> String {
    FaultKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests;
