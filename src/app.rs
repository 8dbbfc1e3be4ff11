//! Wires modules together for each subcommand; the only place that uses `anyhow`.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio_util::sync::CancellationToken;

use crate::cli::{Cli, Command, CompareArgs, ReportArgs, RunArgs, ServeArgs, ValidateArgs};
use crate::engine::{self, RunSettings};
use crate::metrics::interval::{IntervalObserver, Observers};
use crate::ordering::Profile;
use crate::report::{self, Report, RunInfo, TargetInfo};
use crate::scenario::{PasswordSource, RemoteTarget, Scenario, TargetKind};
use crate::server::faults::{FaultInjector, NoFaults, SeededFaults};
use crate::server::state::NewUser;
use crate::server::users::{Password, UserTable};
use crate::server::{self, ServerConfig};

/// How a command ended, mapped to the process exit code by `main`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 0: everything held.
    Ok,
    /// 1: a check failed (threshold, regression, ordering violation).
    ChecksFailed,
    /// 130: interrupted; partial results were written.
    Interrupted,
    /// 2: the input was invalid; the problems were printed.
    Invalid,
}

/// Runs one command. `shutdown` resolves on Ctrl-C or SIGTERM.
pub async fn run(
    cli: Cli,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Outcome> {
    match cli.command {
        Command::Run(args) => run_scenario(args, shutdown).await,
        Command::Serve(args) => serve(args, shutdown).await,
        Command::Validate(args) => validate(args),
        Command::Compare(args) => compare(args),
        Command::Report(args) => rerender(args),
    }
}

/// `gwsim compare`: 0 no regression, 1 a regression; an unreadable run or a bad tolerance is an
/// error (exit 2).
fn compare(args: CompareArgs) -> Result<Outcome> {
    use crate::report::compare::{self, Tolerances};
    use crate::report::readback;
    use std::io::Write as _;
    let mut tolerances = Tolerances::default();
    if let Some(list) = &args.tolerance {
        tolerances.set_relative(list).context("--tolerance")?;
    }
    if let Some(list) = &args.absolute {
        tolerances.set_absolute(list).context("--absolute")?;
    }
    let baseline = readback::read_run(&args.baseline).context("cannot read the baseline run")?;
    let current = readback::read_run(&args.current).context("cannot read the current run")?;
    let (b_label, c_label) =
        (args.baseline.display().to_string(), args.current.display().to_string());
    let comparison = compare::compare(
        compare::Run {
            label: &b_label,
            report: &baseline.report,
            histograms: baseline.histograms.as_ref(),
        },
        compare::Run {
            label: &c_label,
            report: &current.report,
            histograms: current.histograms.as_ref(),
        },
        &tolerances,
    );
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &comparison)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", compare::render_comparison(&comparison))?;
    }
    Ok(if comparison.exit_code() == 0 { Outcome::Ok } else { Outcome::ChecksFailed })
}

/// Everything re-rendering a finished run needs, read from its results directory: the report
/// from `summary.json`, and, when the run wrote them, its histograms (`latency.hlog`) and its
/// time series (`timeline.jsonl`). The HTML renderer takes these; the terminal table needs only
/// the report.
#[derive(Debug)]
pub struct RenderInputs {
    pub report: report::StoredReport,
    pub histograms: Option<report::readback::Histograms>,
    pub timeline: Option<Vec<report::timeline::Point>>,
}

/// Reads a results directory (or a `summary.json` path and the directory it is in) for
/// re-rendering.
pub fn render_inputs(path: &Path) -> Result<RenderInputs> {
    use crate::report::readback;
    let files = readback::read_run(path)?;
    let timeline = readback::optional(
        &files.dir.join(report::files::TIMELINE_FILE),
        report::timeline::read_timeline,
    )?;
    Ok(RenderInputs { report: files.report, histograms: files.histograms, timeline })
}

/// `gwsim report DIR`: prints the run's terminal summary again. Exit 0 when it could be read,
/// whatever the run's own verdict (that is the run's exit code, kept in `summary.json`).
fn rerender(args: ReportArgs) -> Result<Outcome> {
    use std::io::Write as _;
    let inputs = render_inputs(&args.dir)
        .with_context(|| format!("cannot re-render {}", args.dir.display()))?;
    let dir = if args.dir.is_dir() {
        args.dir.clone()
    } else {
        args.dir.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let histograms = report::html::PageHistograms::stored(inputs.histograms);
    let html = report::write_html(
        &dir,
        &inputs.report,
        &histograms,
        inputs.timeline.as_deref().unwrap_or_default(),
    )?;
    let mut out = std::io::stdout().lock();
    write!(out, "{}", report::render(&inputs.report))?;
    writeln!(out, "report: {}", html.display())?;
    Ok(Outcome::Ok)
}

fn validate(args: ValidateArgs) -> Result<Outcome> {
    use std::io::Write as _;
    let mut problems = 0;
    let mut stdout = std::io::stdout().lock();
    for path in &args.scenarios {
        match crate::scenario::load(path) {
            Ok(s) => {
                let agents: u32 = s.agents.iter().map(|p| p.count).sum();
                writeln!(
                    stdout,
                    "{}: ok ({agents} agents in {} populations, {} flows, {} thresholds)",
                    path.display(),
                    s.agents.len(),
                    s.flows.len(),
                    s.thresholds.len()
                )?;
            }
            Err(diagnostics) => {
                problems += diagnostics.0.len();
                eprint!("{diagnostics}");
            }
        }
    }
    if problems > 0 {
        eprintln!("{problems} problem(s) found");
        Ok(Outcome::Invalid)
    } else {
        Ok(Outcome::Ok)
    }
}

async fn serve(
    args: ServeArgs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Outcome> {
    let users = match (&args.users, args.demo_users) {
        (Some(path), _) => UserTable::load(path)?,
        (None, Some(n)) => UserTable::demo_from_env(n)?,
        (None, None) => anyhow::bail!("give --users FILE or --demo-users N"),
    };
    // A bad plan is refused before the server listens.
    let faults: Arc<dyn FaultInjector> = match fault_injector(&args.faults, &args.ledger)? {
        Some(f) => f,
        None => Arc::new(NoFaults),
    };
    let defaults = ServerConfig::default();
    let mut config = ServerConfig {
        csrf: !args.no_csrf,
        always_200: args.always_200,
        contact_center_id: args.contact_center_id.unwrap_or(defaults.contact_center_id.clone()),
        facebook_topic: args.facebook_topic,
        ..defaults
    };
    config.state.invite_timeout_ms = args.invite_timeout.as_millis() as u64;
    config.state.agent_capacity = args.agent_capacity.max(1);
    config.state.emit_remove_notice = !args.no_remove_notice;
    config.state.include_message_type = args.include_message_type;
    config.state.seed = args.seed;
    config.state.predictable_ids = args.predictable_ids;
    if args.predictable_ids {
        tracing::warn!("--predictable-ids: customer ids can be guessed from one another");
    }
    config.state.base_url = String::new();
    config.bayeux.timeout = args.cometd_timeout;
    config.bayeux.max_interval = args.max_interval;
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "listening on a non-loopback address: the server is reachable from the network");
    }
    tracing::info!(
        %addr,
        users = users.directory.users().len(),
        queues = users.directory.queues().len(),
        csrf = config.csrf,
        contact_center_id = %config.contact_center_id,
        "gwsim reference server listening"
    );
    server::serve(listener, config, users, faults, shutdown).await?;
    tracing::info!("server stopped");
    Ok(Outcome::Ok)
}

/// The seeded injector of `gwsim serve --faults FILE [--ledger PATH]`, if a plan is given.
fn fault_injector(
    plan: &Option<std::path::PathBuf>,
    ledger: &Option<std::path::PathBuf>,
) -> Result<Option<Arc<dyn FaultInjector>>> {
    let Some(path) = plan else { return Ok(None) };
    let plan = crate::faults::load_plan(path).map_err(|d| anyhow::anyhow!("{d}"))?;
    if let Some(pop) = plan.populations().first() {
        anyhow::bail!(
            "{}: `agents:{pop}` names a scenario population, which a standalone server does not know; select agents by username pattern instead",
            path.display()
        );
    }
    tracing::info!(rules = plan.rules.len(), seed = plan.seed, "fault injection on");
    let faults = SeededFaults::new(plan, ledger.as_deref())?;
    Ok(Some(Arc::new(faults)))
}

/// The embedded server's user table for a scenario: every agent is in queue `default` and in
/// a queue named after its population (so `queue:<population>` targets reach that
/// population); a customer queue that is not a population's takes every agent.
fn embedded_users(scenario: &Scenario, password: &str) -> Result<UserTable> {
    let mut queues = vec!["default".to_string()];
    for p in &scenario.agents {
        if !queues.contains(&p.name) {
            queues.push(p.name.clone());
        }
    }
    let extra =
        scenario.customers.as_ref().and_then(|c| c.queue.clone()).filter(|q| !queues.contains(q));
    if let Some(q) = &extra {
        queues.push(q.clone());
    }
    let mut users = Vec::new();
    for p in &scenario.agents {
        for username in p.usernames() {
            let mut member = vec!["default".to_string(), p.name.clone()];
            member.extend(extra.clone());
            member.dedup();
            let user = NewUser {
                username,
                first_name: p.name.clone(),
                last_name: String::new(),
                queues: member,
            };
            users.push((user, Password::new(password)));
        }
    }
    UserTable::new(&queues, users).context("cannot build the embedded server's users")
}

/// Options of a run that are not part of the scenario.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub per_agent_pool: bool,
    pub poll_interval: std::time::Duration,
    /// Show the live progress line on stderr (a terminal line, or a plain line every 10 s).
    pub progress: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            per_agent_pool: false,
            poll_interval: std::time::Duration::from_millis(500),
            progress: false,
        }
    }
}

/// A finished run: what the engine measured and the report built from it.
#[derive(Debug)]
pub struct Executed {
    pub outcome: engine::RunOutcome,
    pub report: Report,
}

/// Runs a validated scenario against its target (starting the embedded server if that is the
/// target) and builds the report.
///
/// With `results` (a directory made by [`report::prepare_results_dir`]), the time series
/// (`latency.hlog`, `timeline.jsonl`) are written into it during the run and one `<metric>.hgrm`
/// per latency metric at its end, interrupted or not; `summary.json` is the caller's business.
/// A failure writing those files is logged and never fails the run.
pub async fn execute(
    scenario: Scenario,
    options: &RunOptions,
    interrupt: CancellationToken,
    results: Option<&Path>,
) -> Result<Executed> {
    let started = time::OffsetDateTime::now_utc();
    let agents: u64 = scenario.agents.iter().map(|p| u64::from(p.count)).sum();
    let embedded = matches!(scenario.target.kind, TargetKind::Embedded);
    // Each agent holds a CometD connection (and, embedded, the server holds its other end),
    // plus pooled HTTP connections: ask for enough file descriptors up front.
    let wanted = agents * if embedded { 3 } else { 2 } + 1024;
    let have = raise_open_files(wanted);
    if have < wanted {
        tracing::warn!(
            have,
            wanted,
            "open-files limit is low for this many agents; raise it with ulimit -n"
        );
    }
    let (server, settings) = resolve_target(&scenario, options).await?;
    let mut observers: Vec<Box<dyn IntervalObserver>> = Vec::new();
    match results
        .map(|dir| report::live::IntervalOutputs::create(dir, &scenario.name, scenario.run.warmup))
        .transpose()
    {
        Ok(o) => observers.extend(o.map(|o| Box::new(o) as Box<dyn IntervalObserver>)),
        Err(e) => {
            if let Some(s) = server {
                let _ = s.stop().await;
            }
            return Err(e).context("cannot start the time-series outputs");
        }
    }
    if options.progress {
        observers.push(Box::new(crate::progress::Progress::new(false, scenario.run.duration)));
    }
    let observer: Option<Box<dyn IntervalObserver>> =
        if observers.is_empty() { None } else { Some(Box::new(Observers(observers))) };
    let base_url = settings.base_url.clone();
    let scenario = Arc::new(scenario);
    let outcome = engine::run_observed(scenario.clone(), settings, interrupt, observer).await;
    if let Some(s) = server {
        s.stop().await.context("embedded server did not stop cleanly")?;
    }
    let outcome = outcome?;
    if let Some(dir) = results {
        if let Err(e) = report::hgrm::write_all(dir, &outcome.recorder) {
            tracing::warn!(error = %e, "percentile distributions (.hgrm) not written");
        }
    }
    let info = RunInfo {
        target: TargetInfo::new(&scenario, base_url),
        scenario: (*scenario).clone(),
        started,
        ended: time::OffsetDateTime::now_utc(),
        elapsed: outcome.elapsed,
        partial: outcome.partial,
    };
    let report = Report::build(info, &outcome.recorder);
    Ok(Executed { outcome, report })
}

/// Raises this process's open-files limit towards `wanted`; returns the limit now in force.
/// Raising the hard limit needs privileges, so this settles for the hard limit if it must.
fn raise_open_files(wanted: u64) -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let now = getrlimit(Resource::Nofile);
    let current = now.current.unwrap_or(u64::MAX);
    if current >= wanted {
        return current;
    }
    let hard = now.maximum.unwrap_or(u64::MAX);
    let raised = Rlimit { current: Some(wanted), maximum: Some(wanted.max(hard)) };
    if setrlimit(Resource::Nofile, raised).is_err() {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit { current: Some(hard.min(wanted)), maximum: Some(hard) },
        );
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// Where and how to run: an embedded server started here, or a remote GWS.
async fn resolve_target(
    scenario: &Scenario,
    args: &RunOptions,
) -> Result<(Option<server::Running>, RunSettings)> {
    let transport = scenario.target.transport;
    let generated = uuid::Uuid::new_v4().simple().to_string();
    let mut passwords = Vec::with_capacity(scenario.agents.len());
    for p in &scenario.agents {
        passwords.push(match &p.password {
            PasswordSource::Generated => generated.clone(),
            source => source
                .resolve()
                .with_context(|| format!("password of agent population {}", p.name))?
                .expose()
                .to_string(),
        });
    }
    let mut settings = RunSettings {
        base_url: String::new(),
        transport,
        media: scenario.target.media,
        profile: Profile::for_target(matches!(scenario.target.kind, TargetKind::Embedded)),
        contact_center_id: None,
        accept_invalid_certs: false,
        per_agent_pool: args.per_agent_pool,
        passwords,
        poll_interval: args.poll_interval,
        login_concurrency: 64,
        request_timeout: std::time::Duration::from_secs(10),
    };
    match &scenario.target.kind {
        TargetKind::Embedded => {
            let users = embedded_users(scenario, &generated)?;
            let mut config = ServerConfig::default();
            config.state.seed = scenario.run.seed;
            let addr: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
            let running = server::start(addr, config.clone(), users)
                .await
                .context("cannot start the embedded server")?;
            settings.base_url = running.base_url();
            settings.contact_center_id = Some(config.contact_center_id.clone());
            tracing::info!(url = %settings.base_url, "embedded reference server started");
            Ok((Some(running), settings))
        }
        TargetKind::Remote(remote) => {
            settings.base_url = remote.base_url.clone();
            settings.accept_invalid_certs = remote.accept_invalid_certs;
            settings.contact_center_id =
                remote.contact_center_id.clone().filter(|_| remote.customer_api);
            Ok((None, settings))
        }
    }
}

async fn run_scenario(
    args: RunArgs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Outcome> {
    let mut scenario = match crate::scenario::load(&args.scenario) {
        Ok(s) => s,
        Err(diagnostics) => {
            eprint!("{diagnostics}");
            return Ok(Outcome::Invalid);
        }
    };
    if let Some(d) = args.duration {
        scenario.set_duration(d)?;
    }
    if let Some(seed) = args.seed {
        scenario.set_seed(seed);
    }
    if let Some(t) = args.transport {
        scenario.set_transport(t);
    }
    if let Some(url) = &args.target {
        scenario.set_remote_target(RemoteTarget {
            base_url: url.clone(),
            allow_remote: args.allow_remote,
            accept_invalid_certs: args.insecure,
            csrf: true,
            contact_center_id: args.contact_center_id.clone(),
            customer_api: args.contact_center_id.is_some(),
        })?;
    }
    // An unwritable results directory is an error now, not after an hour of load.
    let started = time::OffsetDateTime::now_utc();
    let results = report::prepare_results_dir(
        Path::new("results"),
        &scenario.name,
        started,
        args.out.as_deref(),
    )?;
    let interrupt = CancellationToken::new();
    let stop = interrupt.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::warn!("interrupted: stopping now and writing partial results");
        stop.cancel();
    });
    let options = RunOptions {
        per_agent_pool: args.per_agent_pool,
        poll_interval: args.poll_interval,
        progress: !args.quiet,
    };
    let Executed { outcome, report } =
        execute(scenario, &options, interrupt, Some(&results)).await?;
    let summary = report::write_results(&results, &report)?;
    let timeline = report::timeline::read_timeline(&results.join(report::files::TIMELINE_FILE))
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the time series is not readable; the HTML report goes without it");
            Vec::new()
        });
    let histograms = report::html::PageHistograms::from_recorder(&outcome.recorder);
    report::write_html(&results, &report, &histograms, &timeline)?;
    report::write_junit(&results, &report)?;
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        write!(out, "{}", report::render(&report))?;
        writeln!(
            out,
            "{} of {} agents logged in, {} customers started; summary: {}",
            outcome.agents_logged_in,
            outcome.agents_total,
            outcome.customers_started,
            summary.display()
        )?;
    }
    Ok(match report.exit_code() {
        0 => Outcome::Ok,
        1 => Outcome::ChecksFailed,
        130 => Outcome::Interrupted,
        _ => Outcome::Invalid,
    })
}
