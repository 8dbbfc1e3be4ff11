//! The validated scenario: every reference resolved, every value in range, every secret a source
//! (never a value). Only these types travel beyond `scenario`.
//!
//! They serialize (for the resolved scenario in `summary.json`) without spans and without secrets.
//! Only the pieces a threshold verdict holds (metric, statistic, limit) and the transport also
//! deserialize, so that a report can be read back from `summary.json`; a whole scenario never is
//! (a `Scenario` only comes from validation).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::plan::{Arrival, LoadPlan, Pace};
use super::units::{Distribution, IntRange, Rate, serialize_duration};
use crate::gws::model::Media;
use crate::gws::states::Capability;
use crate::vocab::{AwaitEvent, Metric, Stat, Transport};

/// A scenario ready to run.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub name: String,
    pub description: Option<String>,
    pub target: Target,
    pub run: Run,
    pub agents: Vec<AgentPopulation>,
    /// `None`: no simulated customers (e.g. a remote target fed by real traffic).
    pub customers: Option<Customers>,
    pub flows: BTreeMap<String, Flow>,
    pub thresholds: Vec<Threshold>,
    /// The customer arrivals, lowered; empty when there are no customers.
    pub plan: LoadPlan,
    /// The `[faults]` section: what the embedded server is to inject (`None`: nothing, ever).
    /// Populations are resolved to usernames and the seed defaulted to the run's. Not in
    /// `summary.json`'s scenario: the report's `faults` section says what was injected.
    #[serde(skip)]
    pub faults: Option<crate::faults::FaultPlan>,
    /// The `[proxy]` section: a fault proxy `gwsim run` starts in front of the target (`None`:
    /// the simulator talks to the target directly). Not in `summary.json`'s scenario, like
    /// `faults`.
    #[serde(skip)]
    pub proxy: Option<ProxySection>,
    /// The `[capacity]` section (or `gwsim capacity`'s flags); `None`: neither says anything, and
    /// a capacity search uses [`Capacity::default`]. Not in `summary.json`'s scenario:
    /// `capacity.json` records the search it drove.
    #[serde(skip)]
    pub capacity: Option<Capacity>,
    /// The `[chaos]` section: what the simulated agents do to themselves (crashes, reconnect
    /// storms, slow consumers). Not in `summary.json`'s scenario: the report's `faults` section
    /// counts what was done.
    #[serde(skip)]
    pub chaos: Option<Chaos>,

    /// Which shard of the whole scenario this is (`--shard`), with the whole's fingerprint;
    /// recorded in `summary.json` beside the scenario, not in it.
    #[serde(skip)]
    pub sharding: Sharding,
}

/// Where a scenario stands among shards: the shard it is (`None`: the whole scenario) and the
/// [`fingerprint`](super::shard::fingerprint) of the whole scenario as resolved before sharding,
/// so a merge can refuse shards of different scenarios.
#[derive(Debug, Clone, Default)]
pub struct Sharding {
    pub shard: Option<super::shard::Shard>,
    pub fingerprint: String,
    /// A shard's whole scenario, which its `summary.json` records (the shard is a pure function
    /// of it), so a merge has the scenario it judges; `None` for a whole run.
    pub whole: Option<std::sync::Arc<Scenario>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    #[serde(flatten)]
    pub kind: TargetKind,
    pub transport: Transport,
    pub media: Media,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TargetKind {
    /// The reference server, started in-process on 127.0.0.1:0.
    Embedded,
    Remote(RemoteTarget),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RemoteTarget {
    /// `http://` or `https://`, with a host; no trailing slash.
    pub base_url: String,
    /// Confirmed by the user for a host that is not this machine.
    pub allow_remote: bool,
    pub accept_invalid_certs: bool,
    /// Fetch and send the CSRF token (GWS default: on).
    pub csrf: bool,
    /// The `ContactCenterId` header of the customer chat API.
    pub contact_center_id: Option<String>,
    /// Whether simulated customers use the server's customer chat API.
    pub customer_api: bool,
}

/// Run timing. Load runs from 0 to `duration`; the first `warmup` of it is measured but kept out
/// of the headline histograms; then in-flight flows get `drain` to finish. Wall time is about
/// `duration + drain` plus login.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    #[serde(serialize_with = "serialize_duration")]
    pub duration: Duration,
    #[serde(serialize_with = "serialize_duration")]
    pub warmup: Duration,
    #[serde(serialize_with = "serialize_duration")]
    pub drain: Duration,
    pub seed: u64,
}

/// A closed population of virtual agents sharing a configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentPopulation {
    pub name: String,
    pub count: u32,
    pub username: NamePattern,
    /// The number substituted for `{n}` for the first agent; the others follow.
    pub first: u32,
    pub password: PasswordSource,
    /// What an agent does with an interaction routed to it (a new chat, a transfer). `None`: the
    /// population only takes consult and conference invitations.
    pub flow: Option<String>,
    /// What an agent does with a consult or conference invitation; `None`: `flow` is used.
    pub consult_flow: Option<String>,
    pub readiness: Readiness,
    /// The media channels of `StartContactCenterSession`.
    pub channels: Vec<Media>,
}

impl AgentPopulation {
    /// The login names of the population, in order.
    pub fn usernames(&self) -> impl Iterator<Item = String> + '_ {
        (0..self.count).map(move |i| self.username.render(self.first.saturating_add(i)))
    }

    /// The flow for a consult or conference invitation.
    pub fn flow_for_consult(&self) -> Option<&str> {
        self.consult_flow.as_deref().or(self.flow.as_deref())
    }
}

/// A name with an optional `{n}` placeholder, e.g. `frontline-{n}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern(pub(crate) String);

impl NamePattern {
    pub const PLACEHOLDER: &'static str = "{n}";

    pub fn render(&self, n: u32) -> String {
        self.0.replace(Self::PLACEHOLDER, &n.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number `name` was rendered from, if it was.
    pub fn number_of(&self, name: &str) -> Option<u32> {
        let (prefix, suffix) = self.0.split_once(Self::PLACEHOLDER)?;
        let digits = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }
}

impl Serialize for NamePattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Where a password comes from. The value itself is read only when the run starts
/// ([`PasswordSource::resolve`]) and never stored in the scenario, so serializing a scenario cannot
/// leak it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PasswordSource {
    /// Embedded targets only: the engine makes one up and registers it with the embedded server.
    Generated,
    /// The named environment variable.
    Env(String),
    /// The first line of this file ([`super::load`] makes a relative path relative to the
    /// scenario file's directory).
    File(PathBuf),
}

/// A secret read at run time; `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A secret made at run time (the embedded server's password for populations without one).
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set (the scenario reads a password from it)")]
    EnvMissing(String),
    #[error("environment variable {0} is not valid unicode")]
    EnvNotUnicode(String),
    #[error("cannot read password file {path}: {source}")]
    File { path: PathBuf, source: std::io::Error },
    #[error("password file {0} is empty")]
    EmptyFile(PathBuf),
    #[error("no password source: the engine generates passwords for the embedded server itself")]
    Generated,
}

impl PasswordSource {
    /// Reads the secret. `Generated` has nothing to read and is the engine's business.
    pub fn resolve(&self) -> Result<Secret, SecretError> {
        match self {
            PasswordSource::Generated => Err(SecretError::Generated),
            PasswordSource::Env(name) => match std::env::var(name) {
                Ok(v) => Ok(Secret(v)),
                Err(std::env::VarError::NotPresent) => Err(SecretError::EnvMissing(name.clone())),
                Err(std::env::VarError::NotUnicode(_)) => {
                    Err(SecretError::EnvNotUnicode(name.clone()))
                }
            },
            PasswordSource::File(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| SecretError::File { path: path.clone(), source })?;
                // Only the first line: editors add a trailing newline that is not part of it.
                let first = text.lines().next().unwrap_or("");
                if first.is_empty() {
                    return Err(SecretError::EmptyFile(path.clone()));
                }
                Ok(Secret(first.to_owned()))
            }
        }
    }
}

/// When an agent is Ready for routed interactions.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Readiness {
    /// Ready on every channel right after login, for the whole run.
    Ready,
    /// Logged in but never Ready: receives only invitations addressed to it by name
    /// (consults, conferences and transfers to `agents:<population>` or `user:<name>`).
    NotReady,
    /// Alternates: Ready for a drawn period, then NotReady for a drawn period, and so on.
    Cycle { ready: Distribution, not_ready: Distribution },
}

/// Simulated customers and their behaviour; their arrivals are in [`Scenario::plan`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Customers {
    /// The arrival shape as written (the plan is its lowering), kept for the resolved scenario.
    pub arrival: Arrival,
    /// Nickname pattern of `RequestChat` (`{n}` is the arrival number).
    pub nickname: NamePattern,
    /// `endpoint` of `RequestChat` (a queue), if any.
    pub queue: Option<String>,
    /// Open model only: arrivals beyond this many active customers are counted as missed.
    pub max_active: Option<u32>,
    pub messages: Messages,
    pub abandon: Option<Abandon>,
    /// Whether a chat offered to no agent while agents were idle is a `never-offered`
    /// violation (`None`: against the embedded server only; see docs/faults.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offer_check: Option<bool>,
}

/// What a customer says once an agent has joined.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Messages {
    pub count: IntRange,
    pub think: Distribution,
    pub text: String,
    /// Closed by default; `open` keeps the plan's times whatever the answers took.
    pub pace: Pace,
}

/// A customer who is still waiting for an agent after `after` gives up, with this probability.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Abandon {
    pub probability: f64,
    pub after: Distribution,
}

/// A named list of steps an agent runs for one interaction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flow {
    pub name: String,
    pub description: Option<String>,
    pub steps: Vec<Step>,
}

/// One step of a flow; serializes with the same keys the scenario file uses.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Step {
    /// Call an operation on the interaction.
    Op(Box<OpStep>),
    /// Wait a drawn time.
    Think { think: Distribution },
    /// Wait for a protocol event on the interaction. Not seeing it in time fails the flow: an
    /// `await-timeout:<event>` error of the operation before it (not an ordering violation).
    Await {
        #[serde(rename = "await")]
        event: AwaitEvent,
        #[serde(serialize_with = "serialize_duration")]
        timeout: Duration,
    },
}

/// An operation and its parameters (protocol.md §5); mandatory ones are guaranteed present.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpStep {
    #[serde(serialize_with = "serialize_capability")]
    pub op: Capability,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `noticeText` of the custom-notice operations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    /// `Accept.nickname`; `None`: the engine uses the agent's username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disposition: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disposition_key: Option<String>,
    /// `Complete.queueName`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub user_data: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
}

impl OpStep {
    pub fn new(op: Capability) -> Self {
        OpStep {
            op,
            target: None,
            text: None,
            url: None,
            notice: None,
            nickname: None,
            disposition: None,
            disposition_key: None,
            queue: None,
            comment: None,
            user_data: BTreeMap::new(),
            keys: Vec::new(),
        }
    }
}

fn serialize_capability<S: Serializer>(c: &Capability, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(c.as_str())
}

/// Who an operation is aimed at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetRef {
    /// `agents:<population>`: a logged-in agent of that population, chosen by the engine.
    Agents(String),
    /// `queue:<name>`: a multimedia queue; the server picks the agent.
    Queue(String),
    /// `user:<username>`: one named agent.
    User(String),
    /// `consultant`: the agent brought in by this flow's latest Consult or Invite.
    Consultant,
}

impl fmt::Display for TargetRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetRef::Agents(p) => write!(f, "agents:{p}"),
            TargetRef::Queue(q) => write!(f, "queue:{q}"),
            TargetRef::User(u) => write!(f, "user:{u}"),
            TargetRef::Consultant => f.write_str("consultant"),
        }
    }
}

impl Serialize for TargetRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The bound of a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Limit {
    #[serde(serialize_with = "serialize_duration")]
    Latency(Duration),
    Count(u64),
    Fraction(f64),
}

/// As written: a duration string is a latency, a whole number a count, any other number a
/// fraction.
impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Limit;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"250ms\", a count or a fraction")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Limit, E> {
                super::units::parse_duration(s).map(Limit::Latency).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Limit, E> {
                Ok(Limit::Count(n))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Limit, E> {
                u64::try_from(n).map(Limit::Count).map_err(|_| E::custom("a negative limit"))
            }
            fn visit_f64<E: serde::de::Error>(self, f: f64) -> Result<Limit, E> {
                Ok(Limit::Fraction(f))
            }
        }
        d.deserialize_any(V)
    }
}

/// One verdict to compute after the run: `stat(metric)` must be within `limit` (`≤`, except
/// `min`, which is `≥`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Threshold {
    pub metric: Metric,
    pub stat: Stat,
    pub limit: Limit,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_patterns_render_and_invert() {
        let p = NamePattern("frontline-{n}".into());
        assert_eq!(p.render(7), "frontline-7");
        assert_eq!(p.number_of("frontline-7"), Some(7));
        assert_eq!(p.number_of("frontline-x"), None);
        assert_eq!(p.number_of("frontline-"), None);
        assert_eq!(p.number_of("other-7"), None);
        assert_eq!(NamePattern("solo".into()).number_of("solo"), None);
    }

    #[test]
    fn password_sources_read_env_and_file_but_never_print_the_value() {
        let dir = std::env::temp_dir().join(format!("gwsim-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pw");
        std::fs::write(&path, "s3cret\n").unwrap();
        let secret = PasswordSource::File(path.clone()).resolve().unwrap();
        assert_eq!(secret.expose(), "s3cret");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(PasswordSource::File(path).resolve(), Err(SecretError::EmptyFile(_))));
        assert!(matches!(
            PasswordSource::Env("GWSIM_TEST_SURELY_UNSET_VARIABLE".into()).resolve(),
            Err(SecretError::EnvMissing(_))
        ));
        let json = serde_json::to_string(&PasswordSource::Env("GWS_PASSWORD".into())).unwrap();
        assert_eq!(json, r#"{"env":"GWS_PASSWORD"}"#);
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// `[capacity]`: how `gwsim capacity` searches for the highest sustainable customer arrival rate
/// (command-line flags folded in). Without the section the defaults of [`Capacity::default`]
/// apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Capacity {
    /// The first step's arrival rate.
    pub start: Rate,
    /// How the rate rises from one step to the next until a step fails.
    pub growth: Growth,
    /// The highest rate tried; a search that reaches it without a failure stops there.
    pub max: Rate,
    /// How long each step's load is judged (after its warmup); longer when `min_samples` needs it.
    #[serde(serialize_with = "serialize_duration")]
    pub hold: Duration,
    /// Load applied before the judged part of each step, kept out of its figures.
    #[serde(serialize_with = "serialize_duration")]
    pub warmup: Duration,
    /// Fewest samples each judged latency metric needs before a step may be called good.
    pub min_samples: u64,
    /// The narrowing stops when the last good and first bad rates are this close.
    pub resolution: Rate,
    /// The capacity a pipeline requires: found capacity below it exits 1.
    pub min: Option<Rate>,
    /// The share of this machine's cores (0..1] the gwsim process may use in a step before the
    /// step is inconclusive: generator-limited.
    pub max_cpu: f64,
    /// The p99 of the generator's scheduling lag above which a step is generator-limited.
    #[serde(serialize_with = "serialize_duration")]
    pub max_lag: Duration,
    /// The share of a step's arrivals (0..1) that may start late (missed starts) before the step
    /// is generator-limited; never fewer than 2 arrivals, so one hiccup is not a verdict. Latency
    /// is measured from the intended start, so a late arrival hides no latency; what late
    /// arrivals cost is offered load, and a few percent of them tens of milliseconds late change
    /// the offered rate far less than a step does.
    pub max_missed: f64,
}

/// How a capacity search raises the rate between steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Growth {
    /// Add this rate.
    Step(Rate),
    /// Multiply by this (> 1).
    Factor(f64),
}

impl Default for Capacity {
    fn default() -> Self {
        let rate = |r: f64| Rate::from_per_second(r).unwrap_or(Rate::ZERO);
        Capacity {
            start: rate(1.0),
            growth: Growth::Step(rate(1.0)),
            max: rate(100.0),
            hold: Duration::from_secs(30),
            warmup: Duration::from_secs(5),
            min_samples: 100,
            resolution: rate(0.25),
            min: None,
            max_cpu: 0.9,
            max_lag: Duration::from_millis(50),
            max_missed: 0.05,
        }
    }
}

impl Capacity {
    /// How long the judged part of a step at `rate` lasts: `hold`, or longer when fewer than
    /// `min_samples` arrivals would come in it (a quarter more than needed, since arrivals are
    /// random and not every arrival is answered within the step).
    pub fn hold_for(&self, rate: Rate) -> Duration {
        let r = rate.per_second();
        if r <= 0.0 {
            return self.hold;
        }
        let needed = self.min_samples as f64 * 1.25 / r;
        // Whole seconds, capped at an hour: a tiny rate with many samples is a mistake the
        // validator cannot see, not a reason to hold for a day.
        let needed = Duration::from_secs(needed.ceil().min(3600.0) as u64);
        self.hold.max(needed)
    }
}

/// A scenario's `[proxy]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxySection {
    /// Where the proxy listens (loopback; port 0 by default).
    pub listen: std::net::SocketAddr,
    /// The `proxy-*` rules; the seed defaults to the run's.
    pub plan: crate::faults::FaultPlan,
}

/// The embedded server's invitation timeout when `[chaos] invite_timeout` does not set it.
pub const DEFAULT_INVITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// `[chaos]`: client-side chaos, every decision a function of the run's seed.
#[derive(Debug, Clone, PartialEq)]
pub struct Chaos {
    /// The embedded server's invitation timeout, so a vanished agent's invitations come back to
    /// routing within the run (`None`: the server's default, 30 s).
    pub invite_timeout: Option<std::time::Duration>,
    pub rules: Vec<ChaosRule>,
}

/// One `[[chaos.rule]]`: at `from` (and every `every` after it, while the run's load lasts),
/// each agent of `populations` (all when empty) is hit with probability `share`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChaosRule {
    pub kind: ChaosKind,
    pub share: f64,
    pub from: std::time::Duration,
    pub every: Option<std::time::Duration>,
    pub populations: Vec<String>,
}

/// What a chaos rule does to an agent.
#[derive(Debug, Clone, PartialEq)]
pub enum ChaosKind {
    /// The agent drops its sockets (no Leave, no logout, no disconnect) and comes back after
    /// `down`; `None`: it never comes back.
    Crash { down: Option<Distribution> },
    /// The agent's CometD session is dropped and a new one handshaken at once.
    ReconnectStorm,
    /// The agent stops reading its CometD stream for `pause`.
    SlowConsumer { pause: Distribution },
    /// Not an agent's: a customer whose chat is in a consult (the consultant invited or joined)
    /// leaves there and then, each customer hit with probability `share`.
    CustomerAbandon,
}
