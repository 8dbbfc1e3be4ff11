//! One virtual agent: logs in as GWS clients do, keeps its own HTTP session and CometD session,
//! checks the order of everything it receives, runs its population's flow on each interaction
//! it is offered, and logs out at the end.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::RunCtx;
use super::chaos;
use super::failure::FailureKind;
use super::flow::{FlowRun, Inbox, customer_messages_delivered};
use super::roster::{Correlator, Member};
use super::shared::AgentShared;
use super::sink::Sink;
use super::warnings::AgentWarning;
use crate::cometd::client::{self as cometd_client, CometdConfig, CometdHandle, Event, Payload};
use crate::faults::FaultKind;
use crate::gws::client::{AgentHttp, Credentials, GwsClient};
use crate::gws::error::GwsError;
use crate::gws::{
    Capability, InteractionResource, InteractionState, MeOperation, Notification, ParticipantType,
};
use crate::metrics::gauges::GaugeGuard;
use crate::ordering::AgentChecker;
use crate::scenario::{OpStep, Readiness, Secret, Step};
use crate::vocab::{CometdFailure, Counter, Gauge, OpMetric, OpName, SessionOp};

/// Who one virtual agent is.
#[derive(Debug, Clone)]
pub(crate) struct AgentSpec {
    /// The agent's place in the run (0..agents): which pool and source address it uses.
    pub(crate) index: usize,
    pub(crate) population: usize,
    pub(crate) username: String,
    pub(crate) password: Secret,
    pub(crate) seed: u64,
}

/// Times one login step as a session operation; a failure is counted under its kind and
/// returned as it came.
async fn timed<T, E>(
    rec: &Sink,
    op: SessionOp,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, E>
where
    for<'e> FailureKind: From<&'e E>,
{
    let start = Instant::now();
    let r = fut.await;
    let done = Instant::now();
    rec.latency(OpName::Session(op), OpMetric::Response, start, start, done, true);
    match &r {
        Ok(_) => rec.op_ok(OpName::Session(op), true),
        Err(e) => rec.op_error(OpName::Session(op), &FailureKind::from(e), true),
    }
    r
}

/// A timed `POST /api/v2/me` session operation.
async fn session_op(
    rec: &Sink,
    http: &AgentHttp,
    op: SessionOp,
    body: MeOperation,
) -> Result<(), GwsError> {
    timed(rec, op, async { http.me_operation(&body).await.map(drop) }).await
}

/// One logged-in session of an agent: everything a crash throws away.
struct Session {
    http: Arc<AgentHttp>,
    cometd: CometdHandle,
    cometd_token: SessionToken,
    events: cometd_client::Events,
    shared: Arc<AgentShared>,
    ready: bool,
    /// After a crash: the interactions `GET /api/v2/me` still lists, to take up.
    resume: Vec<InteractionResource>,
    /// Readiness announcements (`/v2/me/channels`) this session caused since its stream
    /// subscribed, and those read from the stream: a reconnect storm finds its marker by them.
    announced: u64,
    heard: u64,
}

/// A CometD session's token: not a child of the run's token (a session must outlive the run's
/// end until its agent's turn to log out comes), and cancelled when dropped, so that every other
/// way out of a session (a crash, a failed login, a replaced stream) ends it.
struct SessionToken(CancellationToken);

impl SessionToken {
    fn new() -> Self {
        SessionToken(CancellationToken::new())
    }
}

impl Drop for SessionToken {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

impl std::ops::Deref for SessionToken {
    type Target = CancellationToken;

    fn deref(&self) -> &CancellationToken {
        &self.0
    }
}

/// How a session's loop ended.
enum Exit {
    /// The run ended: log out and judge what is still owed.
    RunEnded,
    /// The CometD stream ended on its own: log out.
    StreamEnded,
    /// A chaos crash (rule index, time gone; `None`: never back).
    Crash(usize, Option<Duration>),
}

/// Runs one agent until `token` fires, recording into its shard. A `[chaos]` crash ends its
/// session without a goodbye; the agent then logs in again and takes up its interactions.
pub(crate) async fn run_agent(ctx: Arc<RunCtx>, spec: AgentSpec, token: CancellationToken) {
    let rec = ctx.shards.sink(spec.seed);
    let pop = &ctx.plan.scenario.agents[spec.population];
    let client = match ctx.client_for(spec.index) {
        Ok(c) => c,
        Err(e) => {
            ctx.warnings.warn(AgentWarning::HttpPool, &spec.username, &e);
            ctx.login_failed();
            return;
        }
    };
    let scenario = &ctx.plan.scenario;
    let mut chaos = chaos::Schedule::for_agent(
        scenario.chaos.as_ref(),
        scenario.run.seed,
        scenario.run.duration,
        &pop.name,
        &spec.username,
    );
    // Login and logout are boxed: they run once (or once per crash) but their REST and CometD
    // handshake states are the largest in the task, which every idle agent would carry inline.
    // Each box is made only once the agent's turn has come (`turn`): made before, every agent
    // of the run would hold one at once while waiting for the gate.
    let Some(permit) = turn(&ctx.login_gate, &token).await else {
        return;
    };
    let Some(mut session) =
        Box::pin(login(&ctx, &spec, &client, &rec, &token, permit, false)).await
    else {
        if !token.is_cancelled() {
            ctx.login_failed();
        }
        return;
    };
    ctx.logged_in();
    let mut rng = SmallRng::seed_from_u64(spec.seed);
    let mut resume = Vec::new();
    loop {
        // Lowered when the contact-center session ends below, at a crash, or on any early return.
        let logged_in = ctx.gauges.raise(Gauge::AgentsLoggedIn);
        match serve(&ctx, &spec, &rec, &mut session, &mut chaos, &mut rng, &token, resume).await {
            Exit::RunEnded => {
                return logout(&ctx, &spec, &rec, session, true, logged_in).await;
            }
            Exit::StreamEnded => {
                return logout(&ctx, &spec, &rec, session, false, logged_in).await;
            }
            Exit::Crash(rule, down) => {
                // Sockets dropped as a dying process drops them: no Leave, no
                // EndContactCenterSession, no /meta/disconnect. The checker goes with the
                // session, unjudged.
                ctx.roster.leave(&pop.name, &spec.username);
                session.cometd.abort();
                drop(session);
                let now_ms = ctx.now_ms();
                ctx.correlator.cross(|c| c.agent_gone(now_ms, &spec.username));
                drop(logged_in);
                let gone =
                    down.map_or("for good".to_owned(), |d| format!("for {}ms", d.as_millis()));
                ctx.chaos.record(
                    FaultKind::AgentCrash,
                    rule,
                    ctx.since_epoch(),
                    &spec.username,
                    format!("crashed {gone}"),
                );
                let Some(down) = down else {
                    token.cancelled().await;
                    return;
                };
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = tokio::time::sleep(down) => {}
                }
                let Some(permit) = turn(&ctx.login_gate, &token).await else {
                    return;
                };
                let Some(again) =
                    Box::pin(login(&ctx, &spec, &client, &rec, &token, permit, true)).await
                else {
                    return;
                };
                session = again;
                resume = std::mem::take(&mut session.resume);
                let now_ms = ctx.now_ms();
                session.shared.checker(|c| {
                    for r in &resume {
                        c.adopt(now_ms, &r.id, r.state, r.participants.clone());
                    }
                });
                ctx.chaos.record(
                    FaultKind::AgentRecover,
                    rule,
                    ctx.since_epoch(),
                    &spec.username,
                    format!("logged in again, {} interaction(s) to take up", resume.len()),
                );
            }
        }
    }
}

/// A turn at a gate (login, logout): held while the step runs. `None` from a gate that is never
/// closed means no bound, not no turn.
type Turn<'a> = Option<tokio::sync::SemaphorePermit<'a>>;

/// Waits for a turn at `gate`; `None` when the run ends first. Login goes through it so a large
/// population does not arrive as one burst, and so only the agents whose turn it is hold a
/// login's state.
async fn turn<'a>(gate: &'a Semaphore, token: &CancellationToken) -> Option<Turn<'a>> {
    tokio::select! {
        _ = token.cancelled() => None,
        p = gate.acquire() => Some(p.ok()),
    }
}

/// Logs in as GWS clients do (GET /me, CometD handshake, StartContactCenterSession, Ready) and
/// joins the roster; `None` after a failure (warned) or the run's end.
async fn login(
    ctx: &Arc<RunCtx>,
    spec: &AgentSpec,
    client: &GwsClient,
    rec: &Sink,
    token: &CancellationToken,
    permit: Turn<'_>,
    recover: bool,
) -> Option<Session> {
    let pop = &ctx.plan.scenario.agents[spec.population];
    let mut http =
        client.agent(Credentials::new(spec.username.clone(), spec.password.expose().to_owned()));
    let me = match timed(rec, SessionOp::GetMe, http.login()).await {
        Ok(me) => me,
        Err(e) => {
            ctx.warnings.warn(AgentWarning::Login, &spec.username, &e);
            return None;
        }
    };
    let cometd_token = SessionToken::new();
    let mut config = CometdConfig::new(ctx.plan.target.base_url.clone(), ctx.plan.target.transport)
        .headers(http.cometd_headers());
    config.jitter_seed = Some(spec.seed);
    config.local_address = ctx.source_for(spec.index);
    config.accept_invalid_certs = ctx.plan.target.accept_invalid_certs;
    let handshake =
        timed(rec, SessionOp::Handshake, cometd_client::connect(config, cometd_token.clone()));
    // Ctrl-C during the handshake ends it with `CometdError::Cancelled`: gwsim's own doing, not a
    // failed handshake. The run's token is polled first, so that outcome is never recorded.
    let connected = tokio::select! {
        biased;
        _ = token.cancelled() => return None,
        c = handshake => c,
    };
    let (cometd, events) = match connected {
        Ok(c) => c,
        Err(e) => {
            ctx.warnings.warn(AgentWarning::Handshake, &spec.username, &e);
            return None;
        }
    };
    let channels: Vec<&str> = pop.channels.iter().map(|m| m.channel_name()).collect();
    let body = MeOperation::start_session(channels);
    if let Err(e) = session_op(rec, &http, SessionOp::StartContactCenterSession, body).await {
        ctx.warnings.warn(AgentWarning::StartSession, &spec.username, &e);
        cometd_token.cancel();
        return None;
    }
    // StartContactCenterSession announced the channels NotReady.
    let mut announced = 1;
    let mut ready = !matches!(pop.readiness, Readiness::NotReady);
    // After a crash, the interactions are read again once the new CometD session is subscribed,
    // so nothing about them falls between the read and the stream.
    let resume = if recover {
        match timed(rec, SessionOp::GetMe, http.login()).await {
            Ok(me) => reattachable(&me),
            Err(e) => {
                ctx.warnings.warn(AgentWarning::Login, &spec.username, &e);
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    let http = Arc::new(http);
    if ready {
        ready = session_op(rec, &http, SessionOp::Ready, MeOperation::Ready {}).await.is_ok();
        announced += u64::from(ready);
        // A recovered agent holds what GET /me listed, which the cross checker never saw
        // invited: it is not counted idle (and crashes turn the offer check off anyway).
        if ready && !recover && Correlator::routed_to(&ctx.plan, spec.population) {
            ctx.correlator.agent_ready(ctx.now_ms(), &spec.username, true);
        }
    }
    drop(permit);

    let uri = me
        .uri
        .clone()
        .unwrap_or_else(|| format!("{}/api/v2/users/{}", ctx.plan.target.base_url, me.id));
    ctx.roster
        .join(&pop.name, Member { username: spec.username.clone(), user_id: me.id.clone(), uri });
    let checker = AgentChecker::new(&spec.username, ctx.plan.target.media, ctx.plan.target.profile)
        .with_user_id(&me.id);
    let shared = Arc::new(AgentShared::new(
        ctx.clone(),
        http.clone(),
        spec.username.clone(),
        me.id.clone(),
        checker,
    ));
    Some(Session { http, cometd, cometd_token, events, shared, ready, resume, announced, heard: 0 })
}

/// The interactions `GET /api/v2/me?subresources=*` says the agent still has (chats and
/// Facebook sessions), those not ended.
fn reattachable(me: &crate::gws::Me) -> Vec<InteractionResource> {
    let mut out = Vec::new();
    for key in ["chats", "facebooksessions"] {
        let Some(list) = me.other.get(key) else { continue };
        if let Ok(items) = serde_json::from_value::<Vec<InteractionResource>>(list.clone()) {
            out.extend(items.into_iter().filter(|r| !r.state.is_terminal()));
        }
    }
    out
}

/// The flows of one session and the routes of notifications to them.
struct Flows<'a> {
    ctx: &'a Arc<RunCtx>,
    spec: &'a AgentSpec,
    rec: &'a Sink,
    shared: Arc<AgentShared>,
    set: JoinSet<()>,
    /// Looked up for every notification: foldhash, seeded per process (the ids are the
    /// server's).
    routes: HashMap<String, Arc<Inbox>, foldhash::fast::RandomState>,
    token: CancellationToken,
}

impl Flows<'_> {
    fn spawn(&mut self, id: &str, steps: Vec<Step>, state: InteractionState, seed: u64) {
        let inbox = Inbox::new(state, self.spec.username.clone());
        let media = self.ctx.plan.target.media;
        let run = FlowRun::new(
            self.shared.clone(),
            id.to_owned(),
            media,
            inbox.clone(),
            self.rec.clone(),
            seed,
            self.token.clone(),
        );
        self.ctx.flow_started();
        let (flow_ctx, flow_rec) = (self.ctx.clone(), self.rec.clone());
        self.set.spawn(async move {
            if run.run(&steps).await {
                flow_rec.count(Counter::FlowsCompleted, 1);
            }
            flow_ctx.flow_ended();
        });
        self.routes.insert(id.to_owned(), inbox);
    }

    /// Checks one data message and notes it in its interaction's flow's inbox, starting a flow
    /// for an invitation. Synchronous: a flood is checked at the agent task's own pace, and the
    /// CometD client's budget stops the reading meanwhile.
    fn data(&mut self, mut data: Payload, rng: &mut SmallRng) {
        // Decoded by the CometD client in its pass over the message when it could.
        let n: Notification = match data.notification() {
            Ok(n) => n,
            Err(e) => {
                let op = OpName::Session(SessionOp::Notifications);
                self.rec.op_error(op, &FailureKind::BadNotification, true);
                tracing::debug!(agent = %self.spec.username, error = %e, "unparseable notification");
                return;
            }
        };
        // The bytes go on to the checker's ring of recent notifications, moved rather than copied.
        let events = self.shared.observe(self.rec, &n, data.into());
        let Some(id) = n.interaction_id() else { return };
        if n.is_invitation() && self.routes.get(id).is_none_or(Inbox::flow_gone) {
            let steps = steps_for(self.ctx, self.spec.population, &n);
            self.spawn(id, steps, InteractionState::Invited, rng.random());
        }
        // The flow ended, or the flows are ending: the notification was checked.
        let Some(inbox) = self.routes.get(id).filter(|i| !Inbox::flow_gone(i)) else { return };
        if self.token.is_cancelled() {
            return;
        }
        inbox.deliver(&n, events);
        customer_messages_delivered(&self.shared, self.rec, &n);
    }
}

/// What the agent loop knows of its CometD stream's health.
#[derive(Debug, Default)]
struct StreamHealth {
    /// The stream's last exchange failed and none has succeeded since.
    failing: bool,
    /// The kinds of failure this agent has warned about (once each, so the log stays one line
    /// per kind and agent).
    warned: Vec<CometdFailure>,
}

/// Takes one CometD event: data is checked and routed to its flow, failures are counted (and
/// warned about once per kind: a failing stream is never silent). `Some` when the stream ended.
fn take_event(
    event: Option<Event>,
    flows: &mut Flows<'_>,
    heard: &mut u64,
    health: &mut StreamHealth,
    rng: &mut SmallRng,
) -> Option<Exit> {
    let (ctx, spec, rec) = (flows.ctx, flows.spec, flows.rec);
    let notifications = OpName::Session(SessionOp::Notifications);
    match event {
        Some(Event::Data { channel, data }) => {
            if channel == CHANNELS {
                *heard += 1;
            }
            flows.data(data, rng);
        }
        Some(Event::Rehandshake) | Some(Event::Reconnected { .. }) => {
            health.failing = false;
            rec.count(Counter::Reconnects, 1);
        }
        Some(Event::Failed { error, attempt }) => {
            rec.op_error(notifications, &FailureKind::from(&error), true);
            health.failing |= attempt > 0;
            if !health.warned.contains(&error.failure()) {
                health.warned.push(error.failure());
                ctx.warnings.warn(AgentWarning::StreamFailing, &spec.username, &error.kind());
                tracing::debug!(agent = %spec.username, %error, attempt, "CometD exchange failed");
            }
        }
        Some(Event::Closed { reason }) => {
            // A session gwsim ended itself (its token, cancelled only on the way out) is no
            // failure.
            match FailureKind::from_close(&reason) {
                Some(kind) => {
                    ctx.warnings.warn(AgentWarning::SessionClosed, &spec.username, &reason);
                    rec.op_error(notifications, &kind, true);
                }
                None => tracing::debug!(agent = %spec.username, %reason, "CometD session ended"),
            }
            return Some(Exit::StreamEnded);
        }
        None => return Some(Exit::StreamEnded),
    }
    None
}

/// Most CometD events the agent loop takes in one turn before it looks at its other branches.
const EVENTS_PER_TURN: usize = 32;

/// The channel readiness notifications come on: a reconnect storm's marker.
const CHANNELS: &str = "/v2/me/channels";

/// The session's main loop: notifications to the checker and the flows, readiness cycles,
/// chaos. `resume`: interactions taken up after a crash, each given a flow that finishes it.
#[allow(clippy::too_many_arguments)]
async fn serve(
    ctx: &Arc<RunCtx>,
    spec: &AgentSpec,
    rec: &Sink,
    session: &mut Session,
    chaos: &mut chaos::Schedule,
    rng: &mut SmallRng,
    token: &CancellationToken,
    resume: Vec<InteractionResource>,
) -> Exit {
    let pop = &ctx.plan.scenario.agents[spec.population];
    let http = session.http.clone();
    let mut ready = session.ready;
    // Raised while the agent has at least one interaction in flight (a flow running).
    let mut busy: Option<GaugeGuard<'_>> = None;
    let mut flows = Flows {
        ctx,
        spec,
        rec,
        shared: session.shared.clone(),
        set: JoinSet::new(),
        routes: HashMap::default(),
        token: token.child_token(),
    };
    let mut checks = tokio::time::interval(Duration::from_millis(500));
    checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_toggle = readiness_deadline(&pop.readiness, ready, rng);
    // After a crash: an invitation still open is taken from the start of its flow; anything
    // further along is completed (where the flow stood is gone with the crashed process).
    for r in resume {
        let steps = if r.state == InteractionState::Invited {
            steps_for_resource(ctx, spec.population, &r)
        } else {
            vec![Step::Op(Box::new(OpStep::new(Capability::Complete)))]
        };
        flows.spawn(&r.id, steps, r.state, rng.random());
    }
    let mut health = StreamHealth::default();
    // Set while a slow-consumer pause lasts: the stream is not read until then.
    let mut paused_until: Option<Instant> = None;
    // Made once, not per event: each new one registers with the token and deregisters again.
    let run_ended = token.cancelled();
    tokio::pin!(run_ended);
    let exit = 'serve: loop {
        let next_chaos = chaos.next_at(ctx.load_start());
        let reading = paused_until.is_none();
        tokio::select! {
            // The run's end first: a session closed by that same end must not be read as the
            // server's doing (see `FailureKind::from_close`).
            biased;
            () = &mut run_ended => break Exit::RunEnded,
            Some(_) = flows.set.join_next(), if !flows.set.is_empty() => {}
            _ = sleep_until_opt(paused_until) => paused_until = None,
            _ = sleep_until_opt(next_chaos) => match chaos.take() {
                Some((rule, chaos::Hit::Crash(down))) => break Exit::Crash(rule, down),
                Some((rule, chaos::Hit::SlowConsumer(pause))) => {
                    let detail = format!("stopped reading for {}ms", pause.as_millis());
                    ctx.chaos.record(FaultKind::SlowConsumer, rule, ctx.since_epoch(), &spec.username, detail);
                    paused_until = Some(Instant::now() + pause);
                }
                Some((rule, chaos::Hit::ReconnectStorm(firing))) => {
                    let at = ctx.since_epoch();
                    // Reconnecting reads the old stream to its end: a pause ends here.
                    paused_until = None;
                    // Boxed: a storm is rare, and inline its state (a second CometD session's
                    // handshake) would make every idle agent's task larger for the whole run.
                    let caught_up = Box::pin(storm(session, &mut flows, ready, rng, token)).await;
                    // Recorded once the outcome is known, at the time the storm began.
                    let detail = match caught_up {
                        Some(false) => format!("re-handshake ({firing}); old stream not caught up within {}s, dropped", CATCH_UP.as_secs()),
                        _ => format!("re-handshake ({firing})"),
                    };
                    ctx.chaos.record(FaultKind::ReconnectStorm, rule, at, &spec.username, detail);
                    match caught_up {
                        Some(true) => rec.count(Counter::Reconnects, 1),
                        Some(false) => {
                            rec.count(Counter::Reconnects, 1);
                            // Counted, not only logged: the report's Handshake errors say how
                            // many agents' storms lost the marker (docs/faults.md); the warning,
                            // aggregated per firing, how many agents each storm left behind.
                            let failure = FailureKind::StormNotCaughtUp;
                            rec.op_error(OpName::Session(SessionOp::Handshake), &failure, true);
                            let cause = format!("rule {rule}, {firing}");
                            ctx.warnings.warn(AgentWarning::StormNotCaughtUp, &spec.username, &cause);
                        }
                        None => {}
                    }
                }
                None => {}
            },
            _ = checks.tick() => {
                let now_ms = ctx.now_ms();
                rec.violations(flows.shared.checker(|c| c.poll_timeouts(now_ms)));
                flows.routes.retain(|_, inbox| !Inbox::flow_gone(inbox));
            }
            _ = sleep_until_opt(next_toggle) => {
                let op = if ready { SessionOp::NotReady } else { SessionOp::Ready };
                let body = if ready { MeOperation::NotReady {} } else { MeOperation::Ready {} };
                // Not routable from the moment NotReady is asked for; routable again only once
                // Ready is answered.
                let routed = Correlator::routed_to(&ctx.plan, spec.population);
                if ready && routed {
                    ctx.correlator.agent_ready(ctx.now_ms(), &spec.username, false);
                }
                // Boxed like the storm: a readiness toggle's request state is held only while
                // it runs.
                if Box::pin(session_op(rec, &http, op, body)).await.is_ok() {
                    ready = !ready;
                    session.announced += 1;
                    if ready && routed {
                        ctx.correlator.agent_ready(ctx.now_ms(), &spec.username, true);
                    }
                }
                next_toggle = readiness_deadline(&pop.readiness, ready, rng);
            }
            event = session.events.recv(), if reading => {
                let mut event = event;
                // The events already queued are taken in the same turn (a bounded few), not one
                // turn each: a turn polls every other branch again.
                for taken in 1..=EVENTS_PER_TURN {
                    if let Some(exit) =
                        take_event(event, &mut flows, &mut session.heard, &mut health, rng)
                    {
                        break 'serve exit;
                    }
                    if taken == EVENTS_PER_TURN || token.is_cancelled() {
                        break;
                    }
                    match session.events.try_recv() {
                        Ok(next) => event = Some(next),
                        Err(_) => break,
                    }
                }
            }
        }
        // Flows are spawned and reaped only in the branches above.
        match (flows.set.is_empty(), busy.is_some()) {
            (false, false) => busy = Some(ctx.gauges.raise(Gauge::AgentsBusy)),
            (true, true) => busy = None,
            _ => {}
        }
    };
    // Flows stop: at the run's end, a dead stream, or a crash (which takes them down unfinished).
    flows.token.cancel();
    while flows.set.join_next().await.is_some() {}
    drop(busy);
    if matches!(exit, Exit::RunEnded) && health.failing {
        // Dead at the end without having given up yet: as dead as a closed stream for a verdict.
        ctx.warnings.warn(
            AgentWarning::SessionClosed,
            &spec.username,
            &"still failing when the run ended",
        );
        rec.op_error(OpName::Session(SessionOp::Notifications), &FailureKind::StreamDown, true);
    }
    session.ready = ready;
    exit
}

/// How long a reconnect storm reads the old stream for its marker before giving up on it.
const CATCH_UP: Duration = Duration::from_secs(10);

/// A reconnect storm: a new CometD session is handshaken and subscribed beside the old one,
/// then the agent sets its readiness again as it is, which the server announces on both. The new
/// stream's head up to that marker went to both sessions and is skipped; the old stream is read
/// (and checked) up to the marker, found by counting the readiness announcements the session
/// caused, then dropped without a disconnect, and the new stream goes on after the marker. So nothing is lost and nothing is seen twice. Returns whether the
/// old stream was caught up (`None`: no new session; the old one goes on).
async fn storm(
    session: &mut Session,
    flows: &mut Flows<'_>,
    ready: bool,
    rng: &mut SmallRng,
    token: &CancellationToken,
) -> Option<bool> {
    let (ctx, spec, rec) = (flows.ctx, flows.spec, flows.rec);
    let cometd_token = SessionToken::new();
    let mut config = CometdConfig::new(ctx.plan.target.base_url.clone(), ctx.plan.target.transport)
        .headers(session.http.cometd_headers());
    config.jitter_seed = Some(spec.seed);
    config.local_address = ctx.source_for(spec.index);
    config.accept_invalid_certs = ctx.plan.target.accept_invalid_certs;
    let handshake =
        timed(rec, SessionOp::Handshake, cometd_client::connect(config, cometd_token.clone()));
    let connected = tokio::select! {
        biased;
        _ = token.cancelled() => return None,
        c = handshake => c,
    };
    let (cometd, events) = match connected {
        Ok(c) => c,
        Err(e) => {
            ctx.warnings.warn(AgentWarning::Handshake, &spec.username, &e);
            return None;
        }
    };
    let (op, body) = if ready {
        (SessionOp::Ready, MeOperation::Ready {})
    } else {
        (SessionOp::NotReady, MeOperation::NotReady {})
    };
    let marked = session_op(rec, &session.http, op, body).await.is_ok();
    let mut events = events;
    let caught_up = marked && {
        // The marker is the old stream's `announced`-th readiness announcement (every
        // readiness operation of this session is announced once on each subscribed session;
        // an earlier one may read the same).
        session.announced += 1;
        let switch = async {
            // The new stream up to the marker went to both sessions: the old stream has it.
            let mut overlap = 0usize;
            loop {
                match events.recv().await {
                    Some(Event::Data { channel, .. }) if channel == CHANNELS => break,
                    Some(Event::Data { .. }) if overlap < MAX_OVERLAP => overlap += 1,
                    Some(Event::Data { .. }) | None => return false,
                    Some(_) => {}
                }
            }
            while session.heard < session.announced {
                match session.events.recv().await {
                    Some(Event::Data { channel, data }) => {
                        if channel == CHANNELS {
                            session.heard += 1;
                        }
                        flows.data(data, rng);
                    }
                    Some(_) => {}
                    None => return false,
                }
            }
            true
        };
        tokio::select! {
            _ = token.cancelled() => false,
            r = tokio::time::timeout(CATCH_UP, switch) => r.unwrap_or(false),
        }
    };
    if !caught_up {
        tracing::debug!(agent = %spec.username, "reconnect storm: old stream not caught up");
    }
    // On the new stream the marker was the first announcement, and it has been read.
    (session.announced, session.heard) = (1, 1);
    session.cometd.abort();
    session.cometd = cometd;
    session.cometd_token = cometd_token;
    session.events = events;
    Some(caught_up)
}

/// Most notifications a reconnect storm's two sessions may share before the marker (bounds
/// the wait, not memory: they are counted, not kept).
const MAX_OVERLAP: usize = 4096;

/// Logs out: the contact-center session ends, the CometD session disconnects. `run_ended`:
/// the agent heard everything the server owed it, so what is still owed is judged.
async fn logout(
    ctx: &Arc<RunCtx>,
    spec: &AgentSpec,
    rec: &Sink,
    mut session: Session,
    run_ended: bool,
    logged_in: GaugeGuard<'_>,
) {
    let pop = &ctx.plan.scenario.agents[spec.population];
    let shared = &session.shared;
    if run_ended {
        // What already arrived is checked before judging what is still owed; a drop near the
        // end of a run is found here or not at all (the 500 ms poll has stopped).
        while let Ok(event) = session.events.try_recv() {
            if let Event::Data { mut data, .. } = event
                && let Ok(n) = data.notification()
            {
                shared.observe(rec, &n, data.into());
            }
        }
        let now_ms = ctx.now_ms();
        rec.violations(shared.checker(|c| c.finish_with_grace(now_ms, FINISH_GRACE_MS)));
    }
    ctx.roster.leave(&pop.name, &spec.username);
    ctx.correlator.agent_ready(ctx.now_ms(), &spec.username, false);
    // A few agents at a time, each holding its turn until its CometD session has disconnected:
    // the semaphore is never closed, so a missing permit only means no bound.
    let turn = ctx.logout_gate.acquire().await.ok();
    // Boxed once the turn has come: the request's state is the largest of the task, and every
    // agent reaches this point at the run's end at once.
    Box::pin(end_session(rec, session, logged_in)).await;
    drop(turn);
}

/// EndContactCenterSession, then the CometD session's disconnect (timed).
async fn end_session(rec: &Sink, session: Session, logged_in: GaugeGuard<'_>) {
    let body = MeOperation::EndContactCenterSession {};
    let _ = session_op(rec, &session.http, SessionOp::EndContactCenterSession, body).await;
    drop(logged_in);
    session.cometd_token.cancel();
    let start = Instant::now();
    let _ = tokio::time::timeout(Duration::from_secs(5), session.cometd.join()).await;
    let done = Instant::now();
    rec.latency(
        OpName::Session(SessionOp::Disconnect),
        OpMetric::Response,
        start,
        start,
        done,
        true,
    );
    rec.op_ok(OpName::Session(SessionOp::Disconnect), true);
}

/// How long before the end of the run an operation must have started for its missing
/// notifications to be reported at the end: a younger one may still have them on the wire.
const FINISH_GRACE_MS: u64 = 1_000;

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// When a cycling agent next changes readiness.
fn readiness_deadline(r: &Readiness, ready: bool, rng: &mut SmallRng) -> Option<Instant> {
    match r {
        Readiness::Cycle { ready: on, not_ready: off } => {
            let d = if ready { on.sample(rng) } else { off.sample(rng) };
            Some(Instant::now() + d)
        }
        _ => None,
    }
}

/// The steps for an invitation: a consult or conference invitation (another agent is already
/// in the interaction) runs the population's consult flow, anything else its main flow; a
/// population with no flow for it rejects.
fn steps_for(ctx: &RunCtx, population: usize, invitation: &Notification) -> Vec<Step> {
    let consult = match invitation {
        Notification::ChatStateChangeMessage(sc)
        | Notification::FacebooksessionStateChangeMessage(sc) => sc
            .resource()
            .is_some_and(|r| r.participants.iter().any(|p| p.kind == ParticipantType::Agent)),
        _ => false,
    };
    flow_steps(ctx, population, consult)
}

/// The steps for an invitation found by `GET /api/v2/me` after a crash (see [`steps_for`]).
fn steps_for_resource(ctx: &RunCtx, population: usize, r: &InteractionResource) -> Vec<Step> {
    let consult = r.participants.iter().any(|p| p.kind == ParticipantType::Agent);
    flow_steps(ctx, population, consult)
}

fn flow_steps(ctx: &RunCtx, population: usize, consult: bool) -> Vec<Step> {
    let pop = &ctx.plan.scenario.agents[population];
    let name = if consult { pop.flow_for_consult() } else { pop.flow.as_deref() };
    match name.and_then(|n| ctx.plan.scenario.flows.get(n)) {
        Some(flow) => flow.steps.clone(),
        None => vec![Step::Op(Box::new(OpStep::new(Capability::Reject)))],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of what `make` returns, without calling it (so without building its inputs).
    fn size_of_output<F>(_make: impl FnOnce() -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// Every agent's task lives for the whole run, sized by its largest state: the rare ones
    /// (login, logout, a reconnect storm, a readiness toggle's request) are boxed, so an idle
    /// agent carries only its wait. With the storm and the toggle inline the task was 3.9 KiB
    /// (issue 11).
    #[test]
    #[allow(unreachable_code, unused_variables)]
    fn an_agent_task_holds_no_rare_state_inline() {
        // About 2 KiB in a debug build, which lays futures out no smaller than a release one.
        const BOUND: usize = 2560;
        let size = size_of_output(|| run_agent(unreachable!(), unreachable!(), unreachable!()));
        assert!(size <= BOUND, "the agent task is {size} bytes");
    }
}
