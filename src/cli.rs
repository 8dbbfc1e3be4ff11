//! Command-line arguments (clap derive); low-level options only, no logic.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// The exit codes, shown under `--help` (main.rs maps outcomes to them).
pub const EXIT_CODES: &str = "\
Exit codes:
  0    passed: every threshold held, no ordering violation (compare: no regression)
  1    checks failed: a threshold failed, ordering violations, compare found a regression, or
       capacity found less than its min
  2    usage, scenario or setup error (e.g. --out DIR holds files), or an unreadable results file
  130  interrupted (Ctrl-C or SIGTERM); a run still writes its partial results

Logs go to stderr; colour only on a terminal, never when NO_COLOR is set.";

#[derive(Debug, Parser)]
#[command(
    name = "gwsim",
    version,
    about = "Load simulator and reference server for the GWS v2 multimedia API",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario: virtual agents and customers against the embedded server or a remote GWS.
    #[command(after_help = EXIT_CODES)]
    Run(RunArgs),
    /// Run the embedded GWS reference server until Ctrl-C or SIGTERM.
    Serve(ServeArgs),
    /// Run the fault-injecting TCP proxy on its own until Ctrl-C or SIGTERM: forward --listen
    /// to --upstream, injecting the `proxy-*` faults of --faults (docs/faults.md, The fault proxy).
    Proxy(ProxyArgs),
    /// Check scenario files; print every problem with file:line:col (exit 2 on any).
    Validate(ValidateArgs),
    /// Compare a run with a baseline: exit 1 on a regression beyond tolerance and noise.
    #[command(after_help = EXIT_CODES)]
    Compare(CompareArgs),
    /// Re-render a finished run's terminal summary and report.html from its results directory.
    Report(ReportArgs),
    /// Join the results of shards 0..N-1 of one run (`run --shard`) into one run's results,
    /// exactly; exit 2 on a shard given twice, a missing one, or shards of different scenarios.
    Merge(MergeArgs),
    /// Find the highest customer arrival rate the target sustains within the scenario's
    /// thresholds: raise it in steps, then narrow between the last good and first bad step;
    /// exit 1 when the capacity found is below --min (or `[capacity] min`).
    #[command(after_help = EXIT_CODES)]
    Capacity(CapacityArgs),
    /// Print a shell completion script, e.g. `gwsim completions bash > ~/.local/share/bash-completion/completions/gwsim`.
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' results directories.
    #[arg(required = true, value_name = "SHARD_DIR")]
    pub shards: Vec<PathBuf>,
    /// Where the merged results go (created if needed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline run: a results directory or its summary.json.
    pub baseline: PathBuf,
    /// The run to judge: a results directory or its summary.json.
    pub current: PathBuf,
    /// Relative minimum effects, per statistic: `p99=10%,p50=5%,max=25%`; a bare `10%` sets
    /// every latency statistic; `errors=0.5%` sets the error rate's minimum rise (percentage
    /// points). A statistic named here is judged even when it is only informational (max, thin
    /// tails). Defaults: p50 5%, mean 10%, p90 10%, p99 10%, p99.9 15%, max 25%, errors 0.1%.
    #[arg(long, visible_alias = "max-regression", value_name = "LIST")]
    pub tolerance: Option<String>,
    /// Absolute minimum effects: a latency difference up to this is never a change (`1ms`, or
    /// per statistic `p50=200us,max=5ms`). Defaults: p50 1ms, mean 1ms, p90 2ms, p99 5ms,
    /// p99.9 10ms, max 20ms.
    #[arg(long, value_name = "LIST")]
    pub absolute: Option<String>,
    /// Judge max, statistics with too few samples to resolve them, and metrics measured in one
    /// burst (login, logout) too; by default they are shown as `info`, never a regression.
    #[arg(long)]
    pub strict_tails: bool,
    /// Print the comparison as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A results directory (or its summary.json).
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Run only the agents, without simulated customers, against a remote target that real
    /// traffic feeds (the scenario's `[customers]` is ignored; summary.json records
    /// `customer_api: false`).
    #[arg(long)]
    pub agents_only: bool,
    /// CometD transport: websocket or long-polling (the only one GWS 8.5.2 GA offers, and the
    /// default with --target).
    #[arg(long, value_name = "TRANSPORT")]
    pub transport: Option<crate::vocab::Transport>,
    /// Override the scenario's run duration.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Override the scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Results directory (default: a new `results/<UTC timestamp>-<scenario>/`). A directory
    /// that holds files is refused (exit 2) unless --force.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// With --out: replace an earlier run's results in DIR (gwsim's own files are removed
    /// first; other files are left alone).
    #[arg(long, requires = "out")]
    pub force: bool,
    /// One HTTP connection pool per agent (closest to real desktops) instead of a shared one.
    #[arg(long)]
    pub per_agent_pool: bool,
    /// How often simulated customers poll for messages (customer-side latencies have this
    /// resolution) [default: 500ms].
    #[arg(long, value_parser = parse_duration)]
    pub poll_interval: Option<Duration>,
    /// How many agents log in at once [default: 64].
    #[arg(long, value_name = "N")]
    pub login_concurrency: Option<usize>,
    /// How many agents log out at once [default: 64; less when the open-files limit says so].
    #[arg(long, value_name = "N")]
    pub logout_concurrency: Option<usize>,
    /// How many REST requests may be in flight at once over the shared pool, which bounds its
    /// connections [default: 256; less when the open-files limit says so].
    #[arg(long, value_name = "N")]
    pub http_connections: Option<usize>,
    /// How long one HTTP request may take before it counts as failed [default: 10s].
    #[arg(long, value_parser = parse_duration)]
    pub request_timeout: Option<Duration>,
    /// Worker threads of the simulator's runtime [default: 1]. One thread costs the fewest
    /// system calls and context switches per flow (no wake-ups between threads); a process
    /// whose load needs more than one core either gets more threads here or is split into
    /// shards (the report's generator line says when the simulator was the limit).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// No live progress line (for CI logs); the final report is printed all the same.
    #[arg(long, short)]
    pub quiet: bool,
    /// Run only shard INDEX of COUNT (`2/4`): its own slice of every population and its share of
    /// the arrivals; `gwsim merge` joins the shards' results (README "More than one machine").
    #[arg(long, value_name = "INDEX/COUNT", conflicts_with = "shards")]
    pub shard: Option<String>,
    /// Run one of COUNT shards, the index taken from JOB_COMPLETION_INDEX (what a Kubernetes
    /// Indexed Job gives each pod).
    #[arg(long, value_name = "COUNT")]
    pub shards: Option<u32>,
    /// With --shards: this shard's index (normally from the environment, set by Kubernetes).
    #[arg(long, value_name = "INDEX", env = "JOB_COMPLETION_INDEX", hide = true)]
    pub shard_index: Option<u32>,
    /// Start the load phase at this time (RFC 3339, or Unix seconds), after logging in, so
    /// shards started at different moments apply load together. A time more than a few seconds
    /// past is an error.
    #[arg(long, value_name = "TIME", value_parser = parse_start_at)]
    pub start_at: Option<std::time::SystemTime>,
    /// Also write the summary JSON (as in summary.json) to FILE (k6's flag name).
    #[arg(long, value_name = "FILE")]
    pub summary_export: Option<PathBuf>,
    /// Print the summary JSON on stdout instead of the table (the closing line goes to stderr).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub prometheus: PrometheusArgs,
    /// With --prometheus: after the run, keep serving its final figures this long, so a scraper
    /// gets them (Ctrl-C ends it sooner; the exit code stays the run's) [default: 15s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "prometheus")]
    pub prometheus_linger: Option<Duration>,
}

/// Where `run` and `capacity` send their load when not to the scenario's own target, and where
/// the agents' passwords come from.
#[derive(Debug, Args)]
pub struct RemoteArgs {
    /// Send the load to a remote GWS at this base URL instead of the scenario's target.
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// With --target: the host is not this machine, and loading it is intended.
    #[arg(long, requires = "target")]
    pub allow_remote: bool,
    /// With --target: the customers' ContactCenterId header.
    #[arg(long, value_name = "ID", requires = "target")]
    pub contact_center_id: Option<String>,
    /// With --target: accept TLS certificates that do not verify (test clusters only).
    #[arg(long, requires = "target")]
    pub insecure: bool,
    /// Every agent population's password comes from this environment variable (give its name,
    /// never the password), replacing the scenario's password sources.
    #[arg(long, value_name = "VAR", env = "GWSIM_PASSWORD_ENV")]
    pub password_env: Option<String>,
    /// Every agent population's password is the first line of this file (relative to the
    /// working directory), replacing the scenario's password sources; wins over --password-env.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

impl RemoteArgs {
    /// The scenario overrides these flags ask for: the target, and the password source (an
    /// explicit --password-file wins over GWSIM_PASSWORD_ENV from the environment).
    pub fn overrides(&self) -> crate::scenario::Overrides {
        use crate::scenario::{PasswordSource, TargetOverride};
        let target = self.target.as_ref().map(|url| TargetOverride {
            base_url: url.clone(),
            allow_remote: self.allow_remote,
            contact_center_id: self.contact_center_id.clone(),
            accept_invalid_certs: self.insecure,
        });
        let password = match (&self.password_file, &self.password_env) {
            (Some(file), _) => Some(PasswordSource::File(file.clone())),
            (None, Some(var)) => Some(PasswordSource::Env(var.clone())),
            (None, None) => None,
        };
        crate::scenario::Overrides { target, password, ..Default::default() }
    }
}

/// `--prometheus ADDR` (run and serve): live metrics at `http://ADDR/metrics`.
#[derive(Debug, Args)]
pub struct PrometheusArgs {
    /// Serve live metrics for Prometheus at http://ADDR/metrics (OpenMetrics text format; port 0
    /// takes a free port, logged on stderr). Loopback only unless --prometheus-allow-remote.
    #[arg(id = "prometheus", long = "prometheus", value_name = "ADDR")]
    pub addr: Option<SocketAddr>,
    /// With --prometheus: a non-loopback address is intended (e.g. 0.0.0.0:9464 in a Kubernetes
    /// pod, where Prometheus scrapes the pod's address).
    #[arg(
        id = "prometheus_allow_remote",
        long = "prometheus-allow-remote",
        requires = "prometheus"
    )]
    pub allow_remote: bool,
}

#[derive(Debug, Args)]
pub struct CapacityArgs {
    /// The scenario file (TOML); its `[capacity]` section, if any, sets the search.
    pub scenario: PathBuf,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// CometD transport: websocket or long-polling.
    #[arg(long, value_name = "TRANSPORT")]
    pub transport: Option<crate::vocab::Transport>,
    /// Override the scenario's seed (every step uses it).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Results directory (default: a new `results/<UTC timestamp>-<scenario>-capacity/`); one
    /// that holds files is refused (exit 2).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The first step's arrival rate (`[capacity] start`, e.g. `2/s`).
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub start: Option<crate::scenario::Rate>,
    /// Raise the rate by this much each step (`[capacity] step`).
    #[arg(long, value_name = "RATE", value_parser = parse_rate, conflicts_with = "factor")]
    pub step: Option<crate::scenario::Rate>,
    /// Multiply the rate by this each step (`[capacity] factor`, above 1).
    #[arg(long, value_name = "X")]
    pub factor: Option<f64>,
    /// The highest rate tried (`[capacity] max`).
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub max: Option<crate::scenario::Rate>,
    /// How long each step's load is judged, after its warmup (`[capacity] hold`).
    #[arg(long, value_parser = parse_duration)]
    pub hold: Option<Duration>,
    /// Load before the judged part of each step (`[capacity] warmup`).
    #[arg(long, value_parser = parse_duration)]
    pub warmup: Option<Duration>,
    /// Fewest samples each judged latency metric needs for a good step (`[capacity] min_samples`).
    #[arg(long, value_name = "N")]
    pub min_samples: Option<u64>,
    /// Stop narrowing when the last good and first bad rates are this close (`[capacity] resolution`).
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub resolution: Option<crate::scenario::Rate>,
    /// Exit 1 when the capacity found is below this rate (`[capacity] min`).
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub min: Option<crate::scenario::Rate>,
    /// The share of this machine's cores gwsim may use in a step before the step is
    /// generator-limited (`[capacity] max_cpu`, 0..1).
    #[arg(long, value_name = "SHARE")]
    pub max_cpu: Option<f64>,
    /// How often simulated customers poll for messages [default: 500ms].
    #[arg(long, value_parser = parse_duration)]
    pub poll_interval: Option<Duration>,
    /// How many agents log in at once [default: 64].
    #[arg(long, value_name = "N")]
    pub login_concurrency: Option<usize>,
    /// How long one HTTP request may take before it counts as failed [default: 10s].
    #[arg(long, value_parser = parse_duration)]
    pub request_timeout: Option<Duration>,
    /// No live progress lines (for CI logs).
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Scenario files to check.
    #[arg(required = true)]
    pub scenarios: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Address to listen on (loopback only; port 0 takes a free port, logged on stderr).
    #[arg(long, default_value = "127.0.0.1:8091")]
    pub listen: SocketAddr,
    /// The server to forward to, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    pub upstream: String,
    /// The faults to inject (TOML, `proxy-*` kinds; see docs/faults.md); none without it.
    #[arg(long, value_name = "FILE")]
    pub faults: Option<PathBuf>,
    /// Also append every ledger record to this file as one JSON line.
    #[arg(long, value_name = "PATH")]
    pub ledger: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (loopback by default; another address exposes the server).
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub bind: SocketAddr,
    /// User directory file (TOML; see README "User directory").
    #[arg(long, group = "directory", required_unless_present_any = ["demo_users", "users_from"])]
    pub users: Option<PathBuf>,
    /// Generate users agent-1 .. agent-N in queue "default"; their password comes from the
    /// environment variable GWSIM_DEMO_PASSWORD.
    #[arg(long, value_name = "N", group = "directory")]
    pub demo_users: Option<u32>,
    /// Create exactly the agents this scenario logs in (and its queues), each with its
    /// population's password source, so `gwsim run SCENARIO --target` can run against this server.
    #[arg(long, value_name = "SCENARIO", group = "directory")]
    pub users_from: Option<PathBuf>,
    /// With --users-from: every population's password comes from this environment variable
    /// (its name, never the password), as `gwsim run --password-env` gives it.
    #[arg(long, value_name = "VAR", env = "GWSIM_PASSWORD_ENV")]
    pub password_env: Option<String>,
    /// Turn CSRF protection off (GWS option enableCsrfProtection: false).
    #[arg(long)]
    pub no_csrf: bool,
    /// Answer errors with HTTP 200 (statusCode in the body only).
    #[arg(long)]
    pub always_200: bool,
    /// The ContactCenterId header customers must send.
    #[arg(long, value_name = "ID")]
    pub contact_center_id: Option<String>,
    /// How long an invitation waits for Accept or Reject before it is revoked.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub invite_timeout: Duration,
    /// How many interactions routing gives one agent at once.
    #[arg(long, default_value_t = 3)]
    pub agent_capacity: u32,
    /// Do not send the REMOVE_PARTICIPANT_FROM_CONFERENCE notice to the remover.
    #[arg(long)]
    pub no_remove_notice: bool,
    /// Echo the optional messageType of sent messages in log entries.
    #[arg(long)]
    pub include_message_type: bool,
    /// CometD topic of Facebook events.
    #[arg(long, default_value = "/v2/me/facebooksession")]
    pub facebook_topic: String,
    /// How long a /meta/connect is held (CometD `timeout` advice).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub cometd_timeout: Duration,
    /// A CometD session without a connect for this long is dropped.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub max_interval: Duration,
    /// Seed of the generator behind participant ids (and, with --predictable-ids, customer ids).
    #[arg(long, default_value_t = 0x5EED)]
    pub seed: u64,
    /// UNSAFE, for reproducible tests only: derive customer chat ids and Facebook session ids
    /// from --seed instead of the operating system's randomness. Those ids are a customer's only
    /// credential; with this flag, anyone holding one id can compute the others and read those
    /// customers' transcripts. Never use it on a server others can reach.
    #[arg(long)]
    pub predictable_ids: bool,
    /// Inject the faults of this plan (TOML; see docs/faults.md), seeded by its `seed`.
    #[arg(long, value_name = "FILE")]
    pub faults: Option<PathBuf>,
    /// With --faults: also append every ledger record to this file as one JSON line.
    #[arg(long, value_name = "PATH", requires = "faults")]
    pub ledger: Option<PathBuf>,
    #[command(flatten)]
    pub prometheus: PrometheusArgs,
}

/// `--start-at`: RFC 3339 (`2026-12-03T15:00:00Z`) or Unix seconds (`1796310000`).
fn parse_start_at(s: &str) -> Result<std::time::SystemTime, String> {
    use time::format_description::well_known::Rfc3339;
    let t = match s.trim().parse::<i64>() {
        Ok(secs) => time::OffsetDateTime::from_unix_timestamp(secs).map_err(|e| e.to_string())?,
        Err(_) => time::OffsetDateTime::parse(s.trim(), &Rfc3339).map_err(|e| {
            format!("`{s}` is neither RFC 3339 (2026-12-03T15:00:00Z) nor Unix seconds: {e}")
        })?,
    };
    Ok(t.into())
}

/// Rates on the command line read as in scenario files (`5/s`, `300/m`).
fn parse_rate(s: &str) -> Result<crate::scenario::Rate, String> {
    crate::scenario::Rate::parse(s).map_err(|e| e.to_string())
}

/// Durations on the command line read as in scenario files (`500ms`, `30s`, `1m30s`).
fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::scenario::units::parse_duration(s).map_err(|e| e.to_string())
}
