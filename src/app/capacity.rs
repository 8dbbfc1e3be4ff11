//! `gwsim capacity`: the IO shell around [`crate::capacity`]. Each step is a normal run of the
//! scenario ([`super::execute`]) with the customers' arrival rate overridden; around it the
//! shell measures the generator (its process's CPU from `/proc/self/stat`, and the scheduling lag
//! of a probe task on the same runtime), hands the figures to the pure judge and search, and
//! writes every step's `summary.json`, then `capacity.json` and `capacity.html`.
//!
//! Every step starts from a fresh target state: an embedded target is a new in-process server per
//! step, so a chat left waiting when an overloaded step ended cannot load the next step and make
//! a verdict depend on the order of the search. Agents log in at the start of each step and out at
//! its end (the engine's phases), against the embedded server or `--target` alike.

use std::path::Path;

use anyhow::{Context, Result};
use tokio_util::sync::CancellationToken;

use super::Outcome;
use crate::capacity::{self, Search, StepFigures, judge, show_rate};
use crate::cli::CapacityArgs;
use crate::report::{self, capacity::StepRecord};
use crate::run_plan::RunOptions;
use crate::scenario::units::format_duration;
use crate::scenario::{CapacityOverrides, Overrides};

/// Runs the search; 0 when the capacity found reaches the required minimum, 1 below it, 2 on bad
/// input.
pub(super) async fn capacity(
    args: CapacityArgs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Outcome> {
    let base = overrides(&args);
    let scenario = match crate::scenario::load(&args.scenario, &base) {
        Ok(s) => s,
        Err(diagnostics) => {
            eprint!("{diagnostics}");
            return Ok(Outcome::Invalid);
        }
    };
    if let Err(e) = capacity::check_scenario(&scenario) {
        eprintln!("{}: {e}", args.scenario.display());
        return Ok(Outcome::Invalid);
    }
    let settings = scenario.capacity.clone().unwrap_or_default();
    let started = time::OffsetDateTime::now_utc();
    let results = report::prepare_results_dir(
        Path::new("results"),
        &format!("{}-capacity", scenario.name),
        started,
        args.out.as_deref(),
        report::Existing::Refuse,
    )?;
    let interrupt = CancellationToken::new();
    let stop = interrupt.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::warn!("interrupted: stopping the search and writing what it found");
        stop.cancel();
    });
    let options = options(&args);
    let cores = std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64);
    let mut search = Search::new(&settings);
    let mut steps: Vec<StepRecord> = Vec::new();
    let mut target = None;
    while let Some(rate) = search.next() {
        if interrupt.is_cancelled() {
            break;
        }
        let n = steps.len() + 1;
        let hold = settings.hold_for(rate);
        let step_overrides = Overrides {
            rate: Some(rate),
            duration: Some(settings.warmup + hold),
            warmup: Some(settings.warmup),
            ..base.clone()
        };
        let step = crate::scenario::load(&args.scenario, &step_overrides).map_err(|d| {
            anyhow::anyhow!("step {n} at {}: the scenario does not validate:\n{d}", show_rate(rate))
        })?;
        let max_active = step.customers.as_ref().is_some_and(|c| c.max_active.is_some());
        let name = format!("step-{n:02}");
        let dir = results.join(&name);
        std::fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        if !args.quiet {
            eprintln!(
                "step {n}: {} offered, {} warmup + {} judged",
                show_rate(rate),
                format_duration(settings.warmup),
                format_duration(hold)
            );
        }
        let executed = super::execute(step, &options, interrupt.clone(), Some(&dir)).await?;
        // The run measured its generator (the embedded server's threads apart) from login to
        // logout.
        let generator = executed.report.generator.as_ref();
        let lag_us = |ms: Option<f64>| ms.map(|ms| (ms * 1000.0).round() as u64);
        report::write_results(&dir, &executed.report)?;
        target.get_or_insert_with(|| executed.report.target.clone());
        let r = &executed.report;
        let checks = report::capacity::step_checks(r);
        // Throughput by when chats were answered and operations done, from the time series; the
        // run's counts (by intended start) include what the drain finished after the step.
        let points = report::timeline::read_timeline(&dir.join(report::files::TIMELINE_FILE))
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "time series unreadable; throughput from the run's counts");
                Vec::new()
            });
        let (answered, operations, judged_secs) =
            report::capacity::achieved(&points, settings.warmup, settings.warmup + hold)
                .unwrap_or((checks.answered, r.counts.operations, hold.as_secs_f64()));
        let figures = StepFigures {
            offered: rate,
            judged_secs,
            arrivals: executed.outcome.customers_started,
            answered,
            operations,
            errors: r.counts.errors,
            violations: r.counts.violations,
            missed_starts: r.counts.missed_starts,
            max_active,
            checks: checks.checks,
            failures: checks.failures,
            samples: checks.samples,
            cpu_cores: generator.map(|g| g.cpu_cores),
            server_cpu_cores: generator.and_then(|g| g.server_cpu_cores),
            cores,
            lag_p99_us: lag_us(generator.and_then(|g| g.lag_p99_ms)),
            lag_max_us: lag_us(generator.and_then(|g| g.lag_max_ms)),
            partial: r.partial,
            latencies: checks.latencies,
        };
        let verdict = judge(&settings, &figures);
        if !args.quiet {
            let why = match &verdict {
                capacity::Verdict::Good => String::new(),
                capacity::Verdict::Bad { reasons } => format!(": {}", reasons.join("; ")),
                capacity::Verdict::Inconclusive { reason } => format!(": {reason}"),
            };
            eprintln!(
                "step {n}: {} chats/s answered, {} ops/s, {}{why}",
                format_args!("{:.2}", figures.chats_per_second()),
                format_args!("{:.1}", figures.ops_per_second()),
                verdict.word()
            );
        }
        search.record(rate, &verdict);
        steps.push(StepRecord {
            step: n,
            dir: name,
            chats_per_s: figures.chats_per_second(),
            ops_per_s: figures.ops_per_second(),
            figures,
            verdict,
        });
    }
    let finding = search.finding();
    let headline = report::capacity::headline(&steps, &finding, &settings);
    let meets_min = finding.meets(settings.min);
    let out = report::capacity::CapacityReport {
        schema: report::capacity::CAPACITY_SCHEMA,
        scenario: scenario.name.clone(),
        target,
        started: rfc3339(started),
        ended: rfc3339(time::OffsetDateTime::now_utc()),
        margin: finding.margin(),
        min: settings.min.map(|m| m.per_second()),
        settings,
        steps,
        finding,
        headline,
        meets_min,
    };
    let (json, html) = report::capacity::write(&results, &out)?;
    {
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        write!(stdout, "{}", report::capacity::render(&out))?;
        writeln!(stdout, "results: {} and {}", json.display(), html.display())?;
    }
    Ok(if interrupt.is_cancelled() {
        Outcome::Interrupted
    } else if meets_min {
        Outcome::Ok
    } else {
        Outcome::ChecksFailed
    })
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    use time::format_description::well_known::Rfc3339;
    t.format(&Rfc3339).unwrap_or_else(|_| format!("@{}", t.unix_timestamp()))
}

/// What `gwsim capacity`'s flags change in the scenario (the rate of each step comes later).
fn overrides(args: &CapacityArgs) -> Overrides {
    let remote = args.remote.overrides();
    Overrides {
        target: remote.target,
        transport: args.transport,
        seed: args.seed,
        password: remote.password,
        capacity: CapacityOverrides {
            start: args.start,
            step: args.step,
            factor: args.factor,
            max: args.max,
            hold: args.hold,
            warmup: args.warmup,
            min_samples: args.min_samples,
            resolution: args.resolution,
            min: args.min,
            max_cpu: args.max_cpu,
        },
        ..Overrides::default()
    }
}

fn options(args: &CapacityArgs) -> RunOptions {
    let d = RunOptions::default();
    RunOptions {
        poll_interval: args.poll_interval.unwrap_or(d.poll_interval),
        login_concurrency: args.login_concurrency.unwrap_or(d.login_concurrency),
        request_timeout: args.request_timeout.unwrap_or(d.request_timeout),
        // One line per step instead: a step's progress line would restart every step.
        progress: false,
        ..d
    }
}
