//! The simulator: virtual agents and customers driving a GWS server, remote or embedded.
//!
//! [`run`] goes through its phases in order, in one function (`run_inner`, whose log lines name
//! them): agents log in, customers arrive by the scenario's load plan for `duration` (the first
//! `warmup` of it measured apart), the run drains for at most `drain`, agents log out. One root
//! token and child tokens per task stop
//! everything; a `TaskTracker`-like `JoinSet` drains it. Failures are measurements: nothing in
//! here returns an error because a request failed or a notification came out of order.
//!
//! # Intervals
//! [`run_observed`] also hands the run to an [`IntervalObserver`] one second at a time, from the
//! start of the load phase to the end of logout (warmup included): a ticker task replays every
//! shard's notes of the second into one interval recorder and calls
//! [`IntervalObserver::interval`], then
//! [`IntervalObserver::finish`] once with the last, partial interval flushed. What the agents
//! recorded while logging in (before the load phase) is in the totals only.
//!
//! # Gauges and the measured window
//! Agents and customers raise the run's [`Gauges`] (logged in, busy, active chats, customers
//! waiting) through guards that lower them on every exit path; the ticker samples them at each
//! interval's end, hands the sample to the observer with the interval, and folds the intervals
//! of the measured window (after warmup, until the load phase ends) into the outcome's
//! [`Window`], whether or not anyone observes: the summary's throughput comes from it.

mod agent;
mod chaos;
mod customer;
mod failure;
mod flow;
mod roster;
mod shared;
mod sink;
mod sources;
mod warnings;

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::gws::RequestGate;
use crate::gws::client::GwsClient;
use crate::gws::customer::CustomerClient;
use crate::metrics::Recorder;
use crate::metrics::gauges::{GaugeSample, Gauges, Window};
use crate::metrics::interval::IntervalObserver;
use crate::metrics::violations::ViolationObserver;
use crate::run_plan::RunPlan;
use crate::scenario::Scenario;
use crate::vocab::Counter;

use self::agent::{AgentSpec, run_agent};
use self::customer::run_customer;
use self::roster::{Correlator, Roster};
use self::sink::Shards;

/// The length of an interval.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// What a run measured.
#[derive(Debug)]
pub struct RunOutcome {
    pub recorder: Recorder,
    /// Interrupted before it could drain.
    pub partial: bool,
    pub agents_total: usize,
    pub agents_logged_in: usize,
    pub customers_started: u64,
    /// From the first agent login to the end of logout.
    pub elapsed: Duration,
    /// The wall-clock time the load phase began (after any `start_at` wait).
    pub load_started: std::time::SystemTime,
    /// The zero of the checker's clock: every violation's `at_ms` counts from here (what a join
    /// with a fault ledger lines up with the ledger's own zero).
    pub epoch: Instant,
    /// The measured window's throughput and gauges (empty for a run interrupted in warmup).
    pub window: Window,
    /// When the phases after login began, on the clock of the intervals (the report shades them).
    pub phases: PhaseTimes,
    /// With `[chaos]`: what was done to the agents (crashes, recoveries, storms, slow
    /// consumers), its `at_ms` on the checker's clock (from `epoch`).
    pub chaos: Option<crate::faults::LedgerSnapshot>,
}

/// When each phase began, measured from the start of the load phase (the zero of the intervals'
/// clock), so a report can shade its time charts; warmup's end is the scenario's own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhaseTimes {
    /// How long logging in took, before the load phase (before zero on this clock).
    pub login: Duration,
    /// The load phase ended and drain began (the same as `logout` when nothing drained, or the
    /// run was interrupted).
    pub drain: Duration,
    pub logout: Duration,
    /// Every agent logged out: the end of the run.
    pub end: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] crate::gws::error::GwsError),
    #[error(
        "no agent could log in ({0} tried); is the server at {1} reachable and are the credentials right?"
    )]
    NoAgents(usize, String),
}

/// Shared by every task of a run.
#[derive(Debug)]
pub(crate) struct RunCtx {
    pub(crate) plan: RunPlan,
    /// The shared pool, one per source address (agent `i` uses `i % len`), all within `gate`.
    clients: Vec<GwsClient>,
    /// Source addresses for agents' connections (empty: the system chooses).
    sources: Vec<std::net::IpAddr>,
    /// Bounds the REST requests in flight over every pool of the run, per-agent pools included.
    gate: RequestGate,
    pub(crate) customer: Option<CustomerClient>,
    pub(crate) roster: Roster,
    pub(crate) correlator: Correlator,
    pub(crate) login_gate: Semaphore,
    /// How many agents log out at once: 15,000 ending their sessions together would each open
    /// a connection (and, over long-polling, another for the disconnect) on top of the CometD
    /// ones, and run out of file descriptors.
    pub(crate) logout_gate: Semaphore,
    epoch: Instant,
    warmup_end: OnceLock<Instant>,
    tags: AtomicU64,
    logged_in: AtomicUsize,
    failed: AtomicUsize,
    login_progress: Notify,
    /// Flows running in all agents, and a wake-up when the count reaches zero.
    pub(crate) active_flows: AtomicUsize,
    pub(crate) flows_idle: Notify,
    pub(crate) shards: Shards,
    /// Agents' warnings, one log line per cause ([`warnings`]).
    pub(crate) warnings: warnings::Warnings,
    /// Live counts, raised and lowered by agents and customers through guards.
    pub(crate) gauges: Gauges,
    /// What `[chaos]` did to the agents, one record per event.
    pub(crate) chaos: chaos::ChaosLedger,
    load_start: OnceLock<Instant>,
}

impl RunCtx {
    /// Whether something that should have started at `intended` counts in the headline figures
    /// (after warmup).
    pub(crate) fn measured(&self, intended: Instant) -> bool {
        self.warmup_end.get().is_some_and(|w| intended >= *w)
    }

    /// Milliseconds since the run began: the checker's clock.
    pub(crate) fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Since the run began, for the chaos ledger (the checker's clock, as a duration).
    pub(crate) fn since_epoch(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// When the load phase began; `None` while agents are still logging in.
    pub(crate) fn load_start(&self) -> Option<Instant> {
        self.load_start.get().copied()
    }

    pub(crate) fn next_tag(&self) -> u64 {
        self.tags.fetch_add(1, Ordering::Relaxed)
    }

    /// The HTTP client agent `index` uses: the shared pool of its source address, or (with
    /// `per_agent_pool`) one of its own; an error if that one cannot be built, never a silent
    /// fall back to the shared pool.
    pub(crate) fn client_for(
        &self,
        index: usize,
    ) -> Result<GwsClient, crate::gws::error::GwsError> {
        if self.plan.options.per_agent_pool {
            self.plan.client_with(self.source_for(index), Some(self.gate.clone()))
        } else {
            // `clients` is never empty (run_inner builds at least one).
            Ok(self.clients[index % self.clients.len()].clone())
        }
    }

    /// The source address of agent `index`'s connections, if the run spreads them.
    pub(crate) fn source_for(&self, index: usize) -> Option<std::net::IpAddr> {
        (!self.sources.is_empty()).then(|| self.sources[index % self.sources.len()])
    }

    pub(crate) fn logged_in(&self) {
        self.logged_in.fetch_add(1, Ordering::Relaxed);
        self.login_progress.notify_waiters();
    }

    pub(crate) fn flow_started(&self) {
        self.active_flows.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn flow_ended(&self) {
        if self.active_flows.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.flows_idle.notify_waiters();
        }
    }

    pub(crate) fn login_failed(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.login_progress.notify_waiters();
    }
}

/// Runs a scenario to the end. `interrupt` stops it at once (the outcome is marked partial).
pub async fn run(plan: RunPlan, interrupt: CancellationToken) -> Result<RunOutcome, EngineError> {
    run_observed(plan, interrupt, None).await
}

/// [`run`], also handing every interval to `observer` (whose `finish` is called on every exit
/// path, errors included).
pub async fn run_observed(
    plan: RunPlan,
    interrupt: CancellationToken,
    observer: Option<Box<dyn IntervalObserver>>,
) -> Result<RunOutcome, EngineError> {
    run_with(plan, interrupt, observer, None).await
}

/// [`run_observed`], also handing every violation, as it is recorded, to `violations` (the
/// recorder keeps only the first few; `violations.jsonl` and a fault-ledger join want them all).
pub async fn run_with(
    plan: RunPlan,
    interrupt: CancellationToken,
    mut observer: Option<Box<dyn IntervalObserver>>,
    violations: Option<Arc<dyn ViolationObserver>>,
) -> Result<RunOutcome, EngineError> {
    let result = run_inner(plan, interrupt, &mut observer, violations).await;
    // On success the ticker has finished the observer and handed it back as `None`; on an early
    // error it never started.
    if let Some(o) = observer.as_mut() {
        o.finish();
    }
    result
}

async fn run_inner(
    plan: RunPlan,
    interrupt: CancellationToken,
    observer: &mut Option<Box<dyn IntervalObserver>>,
    violations: Option<Arc<dyn ViolationObserver>>,
) -> Result<RunOutcome, EngineError> {
    let gate = RequestGate::new(plan.options.http_connections);
    let agent_count: usize = plan.scenario.agents.iter().map(|p| p.count as usize).sum();
    let sources = sources::source_addresses(&plan.target.base_url, agent_count);
    if !sources.is_empty() {
        tracing::info!(
            addresses = sources.len(),
            "spreading agents over loopback source addresses"
        );
    }
    let clients = if sources.is_empty() {
        vec![plan.client_with(None, Some(gate.clone()))?]
    } else {
        let mut clients = Vec::with_capacity(sources.len());
        for s in &sources {
            clients.push(plan.client_with(Some(*s), Some(gate.clone()))?);
        }
        clients
    };
    let client = clients[0].clone();
    let customer = match (&plan.target.contact_center_id, &plan.scenario.customers) {
        (Some(id), Some(_)) if plan.target.customer_api => {
            Some(crate::gws::CustomerClient::new(&client, id)?)
        }
        _ => None,
    };
    let scenario = plan.scenario.clone();
    let ctx = Arc::new(RunCtx {
        login_gate: Semaphore::new(plan.options.login_concurrency.max(1)),
        logout_gate: Semaphore::new(plan.options.logout_concurrency.max(1)),
        plan,
        clients,
        sources,
        gate,
        customer,
        roster: Roster::default(),
        correlator: Correlator::new(Duration::from_secs(120), crate::ordering::DEFAULT_TIMEOUT_MS),
        epoch: Instant::now(),
        warmup_end: OnceLock::new(),
        tags: AtomicU64::new(1),
        logged_in: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        login_progress: Notify::new(),
        active_flows: AtomicUsize::new(0),
        flows_idle: Notify::new(),
        shards: Shards::observed(recorder_shards(), violations),
        warnings: warnings::Warnings::default(),
        gauges: Gauges::new(),
        chaos: chaos::ChaosLedger::new(&scenario),
        load_start: OnceLock::new(),
    });
    ctx.correlator.expect_offers_for(&ctx.plan);
    let started = Instant::now();
    let agents_token = interrupt.child_token();
    let customers_token = interrupt.child_token();

    // Login.
    let mut agents: JoinSet<()> = JoinSet::new();
    let mut total = 0usize;
    for (p, pop, password) in ctx.plan.populations() {
        for (i, username) in pop.usernames().enumerate() {
            let spec = AgentSpec {
                index: total,
                population: p,
                username,
                password: password.clone(),
                seed: scenario.run.seed
                    ^ ((p as u64) << 32 | i as u64).wrapping_mul(0x2545_F491_4F6C_DD1D),
            };
            agents.spawn(run_agent(ctx.clone(), spec, agents_token.child_token()));
            total += 1;
        }
    }
    tracing::info!(agents = total, "phase: login");
    loop {
        let progress = ctx.login_progress.notified();
        tokio::pin!(progress);
        progress.as_mut().enable();
        let done = ctx.logged_in.load(Ordering::Relaxed) + ctx.failed.load(Ordering::Relaxed);
        if done >= total {
            break;
        }
        tokio::select! {
            _ = interrupt.cancelled() => break,
            _ = progress => {}
        }
    }
    let logged_in = ctx.logged_in.load(Ordering::Relaxed);
    ctx.warnings.log_repeated();
    if logged_in == 0 && total > 0 && !interrupt.is_cancelled() {
        agents_token.cancel();
        while agents.join_next().await.is_some() {}
        return Err(EngineError::NoAgents(total, ctx.plan.target.base_url.clone()));
    }
    tracing::info!(logged_in, failed = total - logged_in, "phase: load");

    // Shards started at different moments begin their load together: wait for the agreed
    // wall-clock time (`--start-at`), after logging in, so login time does not skew it.
    if let Some(at) = ctx.plan.options.start_at
        && let Ok(wait) = at.duration_since(std::time::SystemTime::now())
    {
        tracing::info!(wait_ms = wait.as_millis() as u64, "waiting for the common start");
        tokio::select! {
            _ = interrupt.cancelled() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
    let load_started = std::time::SystemTime::now();
    // Load: customers by the plan.
    let load_start = Instant::now();
    let _ = ctx.warmup_end.set(load_start + scenario.run.warmup);
    let _ = ctx.load_start.set(load_start);
    // Login-phase samples stay out of the intervals, which start with the load; an observer
    // keeping live totals gets them once, below.
    let mut login = Recorder::new();
    ctx.shards.take_interval(&mut login);
    let ticker_stop = CancellationToken::new();
    // Dropping this future (a caller giving up on the run) stops the ticker too.
    let _ticker_guard = ticker_stop.clone().drop_guard();
    // The ticker runs whether or not anyone observes the intervals: the measured window it
    // builds is the summary's throughput.
    let window = Window::new(scenario.run.warmup, scenario.run.duration);
    let mut observer = observer.take();
    if let Some(o) = observer.as_mut() {
        o.load_started(logged_in, &login);
    }
    let ticker = {
        let (take_ctx, sample_ctx) = (ctx.clone(), ctx.clone());
        let clock = Clock {
            take: move |into: &mut Recorder| take_ctx.shards.take_interval(into),
            sample: move || sample_ctx.gauges.sample(),
        };
        tokio::spawn(tick(clock, observer, window, load_start, ticker_stop.clone()))
    };
    let mut customers: JoinSet<()> = JoinSet::new();
    let started_customers = if ctx.customer.is_some() {
        generate(&ctx, &scenario, load_start, &mut customers, &customers_token, &interrupt).await
    } else {
        tokio::select! {
            _ = interrupt.cancelled() => {}
            _ = tokio::time::sleep_until((load_start + scenario.run.duration).into()) => {}
        }
        0
    };

    let drain_at = load_start.elapsed();
    // Drain: in-flight customers and flows get `drain` to finish.
    if !interrupt.is_cancelled() {
        tracing::info!(active = customers.len(), "phase: drain");
        let drain_end = Instant::now() + scenario.run.drain;
        loop {
            // Registered before the check, so a flow ending in between still wakes us.
            let idle = ctx.flows_idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if customers.is_empty() && ctx.active_flows.load(Ordering::Relaxed) == 0 {
                break;
            }
            tokio::select! {
                _ = interrupt.cancelled() => break,
                _ = tokio::time::sleep_until(drain_end.into()) => break,
                _ = customers.join_next(), if !customers.is_empty() => {}
                // Customers are done: wait for the agents' flows still wrapping up.
                _ = idle, if customers.is_empty() => {}
            }
        }
    }
    customers_token.cancel();
    while customers.join_next().await.is_some() {}

    // Logout.
    let logout_at = load_start.elapsed();
    tracing::info!("phase: logout");
    agents_token.cancel();
    while agents.join_next().await.is_some() {}
    // What one participant still owed another, now that every one of them has stopped; as for
    // an agent's own checker, what was owed for less than a second may still have been on the
    // wire.
    let now_ms = ctx.now_ms();
    ctx.shards.sink(0).violations(ctx.correlator.cross(|x| x.finish(now_ms, 1_000)));
    ctx.warnings.log_repeated();
    let end_at = load_start.elapsed();
    ticker_stop.cancel();
    // The ticker finishes the observer itself; a panic in it must not lose the run.
    let window = match ticker.await {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "interval outputs stopped early");
            Window::default()
        }
    };
    Ok(RunOutcome {
        recorder: ctx.shards.merged(),
        partial: interrupt.is_cancelled(),
        agents_total: total,
        agents_logged_in: logged_in,
        customers_started: started_customers,
        elapsed: started.elapsed(),
        load_started,
        epoch: ctx.epoch,
        window,
        chaos: ctx.chaos.snapshot(),
        phases: PhaseTimes {
            login: load_start.saturating_duration_since(started),
            drain: drain_at,
            logout: logout_at,
            end: end_at,
        },
    })
}

/// What the ticker reads each interval: the interval's samples (into an emptied recorder) and the
/// gauges at its end.
struct Clock<T, G> {
    take: T,
    sample: G,
}

/// Hands `observer` one interval per [`INTERVAL`] from `load_start` until `stop`, then the last
/// partial interval, then finishes it; returns `window` with every interval folded in.
async fn tick(
    clock: Clock<impl Fn(&mut Recorder), impl Fn() -> GaugeSample>,
    mut observer: Option<Box<dyn IntervalObserver>>,
    mut window: Window,
    load_start: Instant,
    stop: CancellationToken,
) -> Window {
    // One recorder for every interval, emptied before each: its histograms keep their bucket
    // arrays, so a second costs a reset of the histograms it used, not their allocation and growth.
    let mut data = Recorder::new();
    let mut interval = |start: Duration, end: Duration| {
        data.recycle();
        (clock.take)(&mut data);
        let gauges = (clock.sample)();
        window.add(start, end, &data, gauges);
        if let Some(o) = observer.as_mut() {
            o.interval(start, end, &data, gauges);
        }
    };
    // Tokio's clock, which is the std clock except in tests with paused time.
    let base = tokio::time::Instant::from_std(load_start);
    let mut ticks = tokio::time::interval_at(base + INTERVAL, INTERVAL);
    // A late tick (a stalled runtime) is taken once, late, and its interval is as long as it
    // really was: intervals carry their real start and end.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut start = Duration::ZERO;
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = ticks.tick() => {}
        }
        let end = base.elapsed();
        interval(start, end);
        start = end;
    }
    let end = base.elapsed();
    if end > start {
        interval(start, end);
    }
    if let Some(o) = observer.as_mut() {
        o.finish();
    }
    window
}

/// Collects the customers that have finished, without waiting.
fn reap(customers: &mut JoinSet<()>) {
    while customers.try_join_next().is_some() {}
}

/// How many shared recorders tasks spread over on a runtime of several workers: enough that two
/// cores rarely contend.
const RECORDER_SHARDS: usize = 8;

/// One recorder on a one-thread runtime (`run`'s default), where no two tasks ever record at
/// once; [`RECORDER_SHARDS`] otherwise. Every shard grows its own histograms to the run's
/// largest latencies (a realloc and a copy of the bucket array at each step) and is merged at the
/// end: with eight on one thread that was about 5% of the client's instructions in a short run.
fn recorder_shards() -> usize {
    let workers = tokio::runtime::Handle::try_current().map_or(1, |h| h.metrics().num_workers());
    if workers <= 1 { 1 } else { RECORDER_SHARDS }
}

/// How late an arrival may start before it counts as a missed start. Timer granularity and
/// scheduling make arrivals about 1 ms late as a rule and a few ms late on a busy machine; that
/// is jitter, not the generator falling behind (latencies are measured from the intended start
/// either way).
const MISSED_START: Duration = Duration::from_millis(20);

/// Starts customers by the load plan until its end; returns how many started.
async fn generate(
    ctx: &Arc<RunCtx>,
    scenario: &Scenario,
    load_start: Instant,
    customers: &mut JoinSet<()>,
    token: &CancellationToken,
    interrupt: &CancellationToken,
) -> u64 {
    let plan = &scenario.plan;
    let end = load_start + scenario.run.duration;
    let mut rng = SmallRng::seed_from_u64(scenario.run.seed);
    let mut started = 0u64;
    let rec = ctx.shards.sink(0);
    if plan.is_closed() {
        // Closed model: keep `concurrency_at(t)` customers active; a finished one is replaced
        // at once, and the target is re-read on every change and every second.
        loop {
            let now = Instant::now();
            if now >= end || interrupt.is_cancelled() {
                break;
            }
            let want = plan.concurrency_at(now.duration_since(load_start)) as usize;
            while customers.len() < want {
                started += 1;
                customers.spawn(run_customer(
                    ctx.clone(),
                    started,
                    Instant::now(),
                    token.child_token(),
                ));
            }
            tokio::select! {
                _ = interrupt.cancelled() => break,
                _ = tokio::time::sleep_until(end.into()) => break,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                Some(_) = customers.join_next(), if !customers.is_empty() => {}
            }
        }
        return started;
    }
    let mut previous = None;
    while let Some(at) = crate::scenario::next_start(plan, previous, started, &mut rng) {
        previous = Some(at);
        let intended = load_start + at;
        if intended >= end {
            break;
        }
        tokio::select! {
            _ = interrupt.cancelled() => break,
            _ = tokio::time::sleep_until(intended.into()) => {}
        }
        reap(customers);
        let late = Instant::now().duration_since(intended);
        if late > MISSED_START {
            // The generator fell behind its schedule: the customer still starts, measured from
            // its intended time, and the miss is reported.
            tracing::debug!(
                customer = started + 1,
                late_ms = late.as_millis() as u64,
                "missed start"
            );
            rec.count(Counter::MissedStarts, 1);
        }
        if plan.max_active.is_some_and(|m| customers.len() >= m as usize) {
            rec.count(Counter::MissedStarts, 1);
            continue;
        }
        started += 1;
        customers.spawn(run_customer(ctx.clone(), started, intended, token.child_token()));
    }
    tokio::select! {
        _ = interrupt.cancelled() => {}
        _ = tokio::time::sleep_until(end.into()) => {}
    }
    started
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gws::Capability;
    use crate::vocab::OpName;
    use std::sync::Mutex;

    /// Records what it is given, for assertions.
    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<(Duration, Duration, u64)>>>, Arc<AtomicUsize>);

    impl IntervalObserver for Log {
        fn interval(&mut self, start: Duration, end: Duration, data: &Recorder, _: GaugeSample) {
            let mut v = self.0.lock().unwrap();
            v.push((start, end, data.total_operations()));
        }
        fn finish(&mut self) {
            self.1.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn ticker_emits_one_interval_per_second_then_the_partial_rest() {
        let shards = Arc::new(Shards::new(2));
        let log = Log::default();
        let stop = CancellationToken::new();
        // The paused clock's now, which std's `Instant::now` would not be.
        let start = tokio::time::Instant::now().into_std();
        let taker = shards.clone();
        let gauges = Arc::new(Gauges::new());
        let sampler = gauges.clone();
        let clock = Clock {
            take: move |into: &mut Recorder| taker.take_interval(into),
            sample: move || sampler.sample(),
        };
        let window = Window::new(Duration::from_secs(1), Duration::from_secs(3));
        let observer: Box<dyn IntervalObserver> = Box::new(log.clone());
        let task = tokio::spawn(tick(clock, Some(observer), window, start, stop.clone()));
        let _logged_in = gauges.raise(crate::vocab::Gauge::AgentsLoggedIn);
        let op = OpName::Flow(Capability::Accept);
        // One operation in each of the first three seconds, then stop at 3.5 s.
        for i in 0..3u64 {
            tokio::time::sleep_until((start + Duration::from_millis(500 + 1000 * i)).into()).await;
            shards.sink(i).op_ok(op, true);
        }
        tokio::time::sleep_until((start + Duration::from_millis(3500)).into()).await;
        stop.cancel();
        let window = task.await.unwrap();
        // Seconds 1-2 and 2-3 are the measured window.
        assert_eq!((window.measured, window.operations), (Duration::from_secs(2), 2));
        let logged_in = window.gauge(crate::vocab::Gauge::AgentsLoggedIn);
        assert_eq!((logged_in.mean, logged_in.peak), (1.0, 1));
        let got = log.0.lock().unwrap().clone();
        let s = Duration::from_secs;
        assert_eq!(
            got,
            vec![
                (s(0), s(1), 1),
                (s(1), s(2), 1),
                (s(2), s(3), 1),
                (s(3), Duration::from_millis(3500), 0)
            ]
        );
        assert_eq!(log.1.load(Ordering::Relaxed), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn ticker_stopped_at_once_finishes_without_empty_intervals() {
        let log = Log::default();
        let stop = CancellationToken::new();
        stop.cancel();
        let clock = Clock { take: |_: &mut Recorder| {}, sample: GaugeSample::default };
        let observer: Box<dyn IntervalObserver> = Box::new(log.clone());
        let window = tick(clock, Some(observer), Window::default(), Instant::now(), stop).await;
        assert_eq!(window, Window::default());
        assert!(log.0.lock().unwrap().is_empty());
        assert_eq!(log.1.load(Ordering::Relaxed), 1);
    }
}
