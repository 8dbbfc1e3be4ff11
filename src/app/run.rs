//! `gwsim run`: flags folded into scenario validation, the one [`RunPlan`] resolved from the
//! scenario and the target (starting the embedded server when that is the target), the run, and
//! its results written.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio_util::sync::CancellationToken;

use super::Outcome;
use super::generator::{Measure, ServerRuntime};
use super::os::{FileDemand, plan_files, raise_open_files};
use crate::cli::RunArgs;
use crate::engine;
use crate::metrics::interval::{IntervalObserver, Observers};
use crate::metrics::violations::{Collector, ViolationObserver, ViolationObservers};
use crate::ordering::Profile;
use crate::proxy;
use crate::report::{self, ExitStatus, Report, RunInfo};
use crate::run_plan::{ResolvedTarget, RunOptions, RunPlan, TargetType};
use crate::scenario::{Overrides, Scenario, Secret, TargetKind};
use crate::server::faults::{FaultInjector, NoFaults, SeededFaults};
use crate::server::{self, ServerConfig};
use crate::telemetry::run::RunMetrics;

/// Violations kept in memory for the join with the fault ledger (the rest are counted).
const JOIN_CAP: usize = 100_000;

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
    execute_observed(scenario, options, interrupt, results, None).await
}

/// [`execute`], also handing every interval to `live` (the Prometheus families of
/// `--prometheus`).
pub async fn execute_observed(
    scenario: Scenario,
    options: &RunOptions,
    interrupt: CancellationToken,
    results: Option<&Path>,
    live: Option<Box<dyn IntervalObserver>>,
) -> Result<Executed> {
    let started = time::OffsetDateTime::now_utc();
    let agents: u64 = scenario.agents.iter().map(|p| u64::from(p.count)).sum();
    let embedded = matches!(scenario.target.kind, TargetKind::Embedded);
    let options = &fit_open_files(agents, embedded, options)?;
    let ledger_file = results.map(|dir| dir.join(report::files::LEDGER_FILE));
    let (server, plan, faults_zero) =
        resolve(scenario, options.clone(), ledger_file.as_deref()).await?;
    // The fault proxy, in front of whatever the target resolved to.
    let (proxy, plan) = match start_proxy(plan, ledger_file.as_deref()).await {
        Ok(p) => p,
        Err(e) => {
            if let Some(s) = server {
                let _ = s.stop().await;
            }
            return Err(e);
        }
    };
    // From here to the end of logout: the generator's CPU (the embedded server's threads apart)
    // and the lag of a probe on the simulator's runtime.
    let measure = Measure::start(server.is_some());
    let mut observers: Vec<Box<dyn IntervalObserver>> = Vec::new();
    let scenario = plan.scenario.clone();
    match results
        .map(|dir| report::live::IntervalOutputs::create(dir, &scenario.name, scenario.run.warmup))
        .transpose()
    {
        Ok(o) => observers.extend(o.map(|o| Box::new(o) as Box<dyn IntervalObserver>)),
        Err(e) => {
            stop_both(server, proxy).await;
            return Err(e).context("cannot start the time-series outputs");
        }
    }
    if options.progress {
        observers.push(Box::new(super::progress::Progress::new(false, scenario.run.duration)));
    }
    observers.extend(live);
    let observer: Option<Box<dyn IntervalObserver>> =
        if observers.is_empty() { None } else { Some(Box::new(Observers(observers))) };
    // Every violation: streamed to violations.jsonl, and kept (bounded) for the ledger join.
    let file = match results
        .map(|dir| report::violations::ViolationsFile::create(dir, report::violations::DEFAULT_CAP))
        .transpose()
    {
        Ok(f) => f.map(Arc::new),
        Err(e) => {
            stop_both(server, proxy).await;
            return Err(e).context("cannot create the violations file");
        }
    };
    let collector = (scenario.faults.is_some() || scenario.chaos.is_some() || proxy.is_some())
        .then(|| Arc::new(Collector::new(JOIN_CAP)));
    let mut violation_observers: Vec<Arc<dyn ViolationObserver>> = Vec::new();
    violation_observers.extend(file.clone().map(|f| f as Arc<dyn ViolationObserver>));
    violation_observers.extend(collector.clone().map(|c| c as Arc<dyn ViolationObserver>));
    let violations: Option<Arc<dyn ViolationObserver>> = (!violation_observers.is_empty())
        .then(|| Arc::new(ViolationObservers(violation_observers)) as Arc<dyn ViolationObserver>);
    let target = plan.target.clone();
    let options = plan.options.clone();
    let outcome = engine::run_with(plan, interrupt, observer, violations).await;
    // Before the server stops: its runtime's threads take their CPU time with them.
    let generator = measure.finish().await;
    // The ledger as the run left it (a delay still pending when the server stops is not in it,
    // and was not seen by the checker either).
    let ledger = server.as_ref().filter(|_| faults_zero.is_some()).map(|e| e.running.ledger());
    let proxy_ledger = proxy.as_ref().map(|p| (p.ledger(), p.zero()));
    if let Some(p) = proxy {
        p.stop().await;
    }
    if let Some(s) = server {
        s.stop().await.context("embedded server did not stop cleanly")?;
    }
    let outcome = outcome?;
    if let Some(dir) = results
        && let Err(e) = report::hgrm::write_all(dir, &outcome.recorder)
    {
        tracing::warn!(error = %e, "percentile distributions (.hgrm) not written");
    }
    if let Some(dir) = results
        && let Err(e) = report::totals::write(
            dir,
            &report::totals::histograms(&outcome.recorder),
            outcome.elapsed,
        )
    {
        tracing::warn!(error = %e, "the exact histograms for merges (totals.hlog) not written");
    }
    let start = options.start_at.map(|asked| report::StartRecord {
        asked: rfc3339(asked),
        real: rfc3339(outcome.load_started),
    });
    let info = RunInfo {
        target,
        options,
        scenario: (*scenario).clone(),
        started,
        ended: time::OffsetDateTime::now_utc(),
        elapsed: outcome.elapsed,
        partial: outcome.partial,
        start,
        window: outcome.window.clone(),
        phases: Some(phases(&outcome.phases, scenario.run.warmup)),
    };
    // Both clocks are this process's monotonic clock: the ledger's zero was taken just before the
    // injector was made (within microseconds of its own), the checker's is the engine's epoch.
    // The proxy's records join the server's: its kinds explain no violation (they are counted,
    // like the server's latencies), so its clock's offset does not matter to the join.
    let (ledger, faults_zero) = match (ledger.zip(faults_zero), proxy_ledger) {
        (Some((mut l, zero)), Some((p, _))) => {
            l.records.extend(p.records);
            l.total += p.total;
            l.dropped += p.dropped;
            (Some(l), Some(zero))
        }
        (Some((l, zero)), None) | (None, Some((l, zero))) => (Some(l), Some(zero)),
        (None, None) => (None, None),
    };
    // The simulator's own chaos records join the server's ledger on the ledger's clock (without a
    // server ledger, on the run's own: offset 0).
    let faults = match (ledger, &collector) {
        (ledger, Some(c)) if ledger.is_some() || outcome.chaos.is_some() => {
            let (violations, dropped) = c.take();
            let offset = faults_zero
                .map_or(0, |zero| outcome.epoch.saturating_duration_since(zero).as_millis() as i64);
            let mut ledger = ledger.unwrap_or_default();
            if let Some(chaos) = &outcome.chaos {
                with_chaos(&mut ledger, chaos, offset);
            }
            Some(report::faults::FaultsReport::build(&ledger, &violations, dropped, offset))
        }
        _ => None,
    };
    let mut report = Report::build_with(info, &outcome.recorder, faults);
    report.violations.file = file.map(|f| f.finish());
    report.generator = generator;
    if let Some(w) = report.generator.as_ref().and_then(|g| g.warning()) {
        tracing::warn!("{w}");
        report.warnings.push(w);
    }
    Ok(Executed { outcome, report })
}

async fn stop_both(server: Option<Embedded>, proxy: Option<proxy::Running>) {
    if let Some(p) = proxy {
        p.stop().await;
    }
    if let Some(s) = server {
        let _ = s.stop().await;
    }
}

/// With a `[proxy]` section: starts the fault proxy in front of the resolved target and points
/// the simulator at it (the base URL's scheme and path are kept; only host and port change, so
/// a TLS target still sees the client's TLS, whose name check then needs `--insecure`).
async fn start_proxy(
    mut plan: RunPlan,
    ledger_file: Option<&Path>,
) -> Result<(Option<proxy::Running>, RunPlan)> {
    let Some(section) = plan.scenario.proxy.clone() else { return Ok((None, plan)) };
    let mut url = url::Url::parse(&plan.target.base_url)
        .with_context(|| format!("the target {} is not a URL", plan.target.base_url))?;
    let host = url.host_str().context("the target has no host")?.to_owned();
    let port = url.port_or_known_default().context("the target has no port")?;
    // An IPv6 literal comes back bracketed from the URL, which is what `host:port` needs too.
    let upstream = format!("{host}:{port}");
    let running = proxy::start(proxy::ProxyConfig {
        listen: section.listen,
        upstream: upstream.clone(),
        plan: section.plan,
        ledger_file: ledger_file.map(Path::to_path_buf),
    })
    .await
    .context("cannot start the fault proxy")?;
    let addr = running.local_addr();
    if url.set_ip_host(addr.ip()).is_err() || url.set_port(Some(addr.port())).is_err() {
        running.stop().await;
        anyhow::bail!("cannot point the target URL {} at the proxy", plan.target.base_url);
    }
    // The URL crate adds a trailing slash to an empty path; the target's own spelling had none.
    let mut base = url.to_string();
    if !plan.target.base_url.ends_with('/') && base.ends_with('/') {
        base.pop();
    }
    tracing::info!(listen = %addr, upstream, "fault proxy started");
    plan.target.base_url = base;
    Ok((Some(running), plan))
}

/// Adds the simulator's chaos records to the server's ledger: their times moved onto the
/// ledger's clock, numbered after its records, the whole in time order.
fn with_chaos(
    ledger: &mut crate::faults::LedgerSnapshot,
    chaos: &crate::faults::LedgerSnapshot,
    offset_ms: i64,
) {
    let base = ledger.total;
    ledger.records.extend(chaos.records.iter().cloned().map(|mut r| {
        r.seq += base;
        r.at_ms = (r.at_ms as i64 + offset_ms).max(0) as u64;
        r
    }));
    ledger.records.sort_by_key(|r| (r.at_ms, r.seq));
    ledger.total += chaos.total;
    ledger.dropped += chaos.dropped;
}

/// The run's options planned to fit this process's open-files limit (raised towards what the run
/// asks for when the hard limit allows): the pool bound and the login and logout concurrency come
/// down to fit it, never the other way round. An error when even the smallest plan cannot fit.
fn fit_open_files(agents: u64, embedded: bool, options: &RunOptions) -> Result<RunOptions> {
    let as_u64 = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    let demand = FileDemand {
        agents,
        embedded,
        http_connections: as_u64(options.http_connections),
        login_concurrency: as_u64(options.login_concurrency),
        logout_concurrency: as_u64(options.logout_concurrency),
    };
    let limit = raise_open_files(demand.wanted());
    let plan = plan_files(limit, demand).map_err(anyhow::Error::new)?;
    let as_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    let fitted = RunOptions {
        http_connections: as_usize(plan.http_connections),
        login_concurrency: as_usize(plan.login_concurrency),
        logout_concurrency: as_usize(plan.logout_concurrency),
        ..options.clone()
    };
    if fitted != *options {
        tracing::info!(
            limit,
            needed = plan.needed,
            http_connections = fitted.http_connections,
            login_concurrency = fitted.login_concurrency,
            logout_concurrency = fitted.logout_concurrency,
            "open-files limit: pool and phase concurrency planned to fit it"
        );
    }
    Ok(fitted)
}

fn rfc3339(t: std::time::SystemTime) -> String {
    use time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::from(t);
    t.format(&Rfc3339).unwrap_or_else(|_| format!("@{}", t.unix_timestamp()))
}

/// How far in the past `--start-at` may be (clocks of different machines, a slow pod start):
/// such a shard starts its load at once; further is a mistake.
const START_AT_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// `--shard I/N`, or `--shards N` with the index from `JOB_COMPLETION_INDEX`; the scenario's
/// rules judge the values (an index beyond the count, more shards than agents).
fn shard(args: &RunArgs) -> Result<Option<crate::scenario::Shard>, String> {
    use crate::scenario::{Shard, ShardError};
    match (&args.shard, args.shards) {
        (Some(text), _) => {
            let syntax = || format!("--shard {text}: {}", ShardError::Syntax(text.clone()));
            let (i, n) = text.split_once('/').ok_or_else(syntax)?;
            let index = i.trim().parse().map_err(|_| syntax())?;
            let count = n.trim().parse().map_err(|_| syntax())?;
            Ok(Some(Shard { index, count }))
        }
        (None, Some(count)) => match args.shard_index {
            Some(index) => Ok(Some(Shard { index, count })),
            None => Err(format!(
                "--shards {count}: the shard index comes from JOB_COMPLETION_INDEX, which is not set \
                 (or use --shard INDEX/{count})"
            )),
        },
        (None, None) => Ok(None),
    }
}

/// The embedded server and the runtime it runs on (dropped after it stopped).
struct Embedded {
    running: server::Running,
    _runtime: ServerRuntime,
}

impl Embedded {
    async fn stop(self) -> Result<()> {
        self.running.stop().await?;
        Ok(())
    }
}

/// The run plan: the scenario's target resolved to an address (an embedded server started here,
/// bound to 127.0.0.1:0, or the remote base URL), each population's password read, and the
/// options. The embedded server gets exactly the scenario's agents with their own passwords.
///
/// With a `[faults]` section, every ledger record also goes to `ledger_file` as it happens (one
/// JSON line each, uncapped), and the result carries the instant the fault ledger's clock started (the zero its
/// records' `at_ms` count from, to within microseconds).
async fn resolve(
    scenario: Scenario,
    options: RunOptions,
    ledger_file: Option<&Path>,
) -> Result<(Option<Embedded>, RunPlan, Option<std::time::Instant>)> {
    // Only the embedded server, made for this run, can take a password nobody gave.
    let generated = Secret::new(uuid::Uuid::new_v4().simple().to_string());
    let embedded = matches!(scenario.target.kind, TargetKind::Embedded);
    let passwords = super::users::passwords(&scenario, embedded.then_some(&generated))?;
    let mut target = ResolvedTarget {
        kind: if embedded { TargetType::Embedded } else { TargetType::Remote },
        base_url: String::new(),
        transport: scenario.target.transport,
        media: scenario.target.media,
        profile: Profile::for_target(embedded),
        customer_api: false,
        accept_invalid_certs: false,
        contact_center_id: None,
    };
    let mut faults_zero = None;
    let server = match &scenario.target.kind {
        TargetKind::Embedded => {
            let users = super::users::user_table(&scenario, &passwords)?;
            let mut config = ServerConfig::default();
            config.state.seed = scenario.run.seed;
            // `[chaos]` may shorten the invitation timeout, so that a crashed agent's
            // invitations come back to routing within the run.
            if let Some(t) = scenario.chaos.as_ref().and_then(|c| c.invite_timeout) {
                config.state.invite_timeout_ms = t.as_millis() as u64;
            }
            let addr: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
            // Faults only when the scenario has a [faults] section; otherwise `NoFaults`.
            let faults: Arc<dyn FaultInjector> = match &scenario.faults {
                Some(plan) => {
                    faults_zero = Some(std::time::Instant::now());
                    Arc::new(
                        SeededFaults::new(plan.clone(), ledger_file)
                            .context("cannot set up the fault injector")?,
                    )
                }
                None => Arc::new(NoFaults),
            };
            // On a runtime of its own, so its CPU is measured apart from the simulator's.
            let runtime = ServerRuntime::start().context("cannot start the server's runtime")?;
            let (running, config) = runtime
                .run(async move {
                    let running = server::start_with_faults(addr, &mut config, users, faults).await;
                    (running, config)
                })
                .await
                .context("the embedded server's start panicked")?;
            let running = running.context("cannot start the embedded server")?;
            target.base_url = running.base_url();
            target.customer_api = true;
            target.contact_center_id = Some(config.contact_center_id.clone());
            tracing::info!(url = %target.base_url, "embedded reference server started");
            Some(Embedded { running, _runtime: runtime })
        }
        TargetKind::Remote(remote) => {
            target.base_url = remote.base_url.clone();
            target.accept_invalid_certs = remote.accept_invalid_certs;
            target.customer_api = remote.customer_api && remote.contact_center_id.is_some();
            target.contact_center_id =
                remote.contact_center_id.clone().filter(|_| remote.customer_api);
            None
        }
    };
    let plan = RunPlan::new(Arc::new(scenario), target, passwords, options)?;
    Ok((server, plan, faults_zero))
}

/// What `gwsim run`'s flags change in the scenario.
fn overrides(args: &RunArgs) -> Overrides {
    let remote = args.remote.overrides();
    Overrides {
        target: remote.target,
        transport: args.transport,
        duration: args.duration,
        seed: args.seed,
        password: remote.password,
        agents_only: args.agents_only,
        shard: shard(args).ok().flatten(),
        ..Overrides::default()
    }
}

/// What `gwsim run`'s flags set in the simulator's behaviour.
fn options(args: &RunArgs) -> RunOptions {
    let defaults = RunOptions::default();
    RunOptions {
        per_agent_pool: args.per_agent_pool,
        poll_interval: args.poll_interval.unwrap_or(defaults.poll_interval),
        login_concurrency: args.login_concurrency.unwrap_or(defaults.login_concurrency).max(1),
        logout_concurrency: args.logout_concurrency.unwrap_or(defaults.logout_concurrency).max(1),
        http_connections: args.http_connections.unwrap_or(defaults.http_connections).max(1),
        request_timeout: args.request_timeout.unwrap_or(defaults.request_timeout),
        progress: !args.quiet,
        start_at: args.start_at,
    }
}

pub(super) async fn run_scenario(
    args: RunArgs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Outcome> {
    if let Err(e) = shard(&args) {
        eprintln!("{e}");
        return Ok(Outcome::Invalid);
    }
    if let Some(at) = args.start_at
        && let Ok(late) = std::time::SystemTime::now().duration_since(at)
        && late > START_AT_GRACE
    {
        eprintln!(
            "--start-at {}: that was {}s ago; give a time in the future (shards wait for it)",
            rfc3339(at),
            late.as_secs()
        );
        return Ok(Outcome::Invalid);
    }
    // The flags are folded in before validation, so the scenario's rules judge them too.
    let scenario = match crate::scenario::load(&args.scenario, &overrides(&args)) {
        Ok(s) => s,
        Err(diagnostics) => {
            eprint!("{diagnostics}");
            return Ok(Outcome::Invalid);
        }
    };
    // An export path whose directory does not exist is an error now, not after the run.
    if let Some(export) = &args.summary_export
        && let Some(parent) = export.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        anyhow::bail!(
            "cannot export the summary to {}: {} is not a directory",
            export.display(),
            parent.display()
        );
    }
    // An unwritable results directory is an error now, not after an hour of load.
    let started = time::OffsetDateTime::now_utc();
    let results = report::prepare_results_dir(
        Path::new("results"),
        &scenario.name,
        started,
        args.out.as_deref(),
        if args.force { report::Existing::Replace } else { report::Existing::Refuse },
    )?;
    // Live metrics: bound before the run (a bad address fails now), served until after it.
    let (live, registry) = RunMetrics::new(&scenario.name, scenario.sharding.shard);
    let exporter = super::prometheus::start(&args.prometheus, registry).await?;
    let live = exporter.as_ref().map(|_| Box::new(live) as Box<dyn IntervalObserver>);
    let interrupt = CancellationToken::new();
    let stop = interrupt.clone();
    // Set once the results are written: an interrupt after that only ends the linger.
    let written = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = written.clone();
    tokio::spawn(async move {
        shutdown.await;
        if done.load(std::sync::atomic::Ordering::Relaxed) {
            tracing::info!("interrupted: the results are written; ending the prometheus linger");
        } else {
            tracing::warn!("interrupted: stopping now and writing partial results");
        }
        stop.cancel();
    });
    let Executed { outcome, report } =
        execute_observed(scenario, &options(&args), interrupt.clone(), Some(&results), live)
            .await?;
    let summary = report::write_results(&results, &report)?;
    if let Some(export) = &args.summary_export {
        report::write_summary(export, &report)
            .with_context(|| format!("cannot export the summary to {}", export.display()))?;
    }
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
        let closing = format!(
            "{} of {} agents logged in, {} customers started; summary: {}",
            outcome.agents_logged_in,
            outcome.agents_total,
            outcome.customers_started,
            summary.display()
        );
        let mut out = std::io::stdout().lock();
        if args.json {
            // stdout is the JSON alone, for a pipe into jq; the closing line is for people.
            write!(out, "{}", report::to_json(&report)?)?;
            eprintln!("{closing}");
        } else {
            write!(out, "{}", report::render(&report))?;
            writeln!(out, "{closing}")?;
        }
    }
    written.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(exporter) = exporter {
        let linger = args.prometheus_linger.unwrap_or(super::prometheus::DEFAULT_LINGER);
        super::prometheus::linger(exporter, linger, interrupt).await;
    }
    Ok(match report.exit.status {
        ExitStatus::Pass => Outcome::Ok,
        ExitStatus::ChecksFailed => Outcome::ChecksFailed,
        ExitStatus::Interrupted => Outcome::Interrupted,
    })
}

/// The engine's phase times as the report records them (milliseconds on the intervals' clock).
fn phases(t: &engine::PhaseTimes, warmup: std::time::Duration) -> report::Phases {
    let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    report::Phases {
        login_ms: ms(t.login),
        // An interrupted run can stop inside warmup: its warmup ends where the load did.
        warmup_ms: ms(warmup.min(t.drain)),
        drain_ms: ms(t.drain),
        logout_ms: ms(t.logout),
        end_ms: ms(t.end),
    }
}
