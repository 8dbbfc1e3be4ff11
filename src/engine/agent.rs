//! One virtual agent: logs in as GWS clients do, keeps its own HTTP session and CometD session,
//! checks the order of everything it receives, runs its population's flow on each interaction
//! it is offered, and logs out at the end.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::RunCtx;
use super::failure::FailureKind;
use super::flow::{Delivered, FlowRun};
use super::roster::Member;
use super::shared::AgentShared;
use super::sink::Sink;
use super::warnings::AgentWarning;
use crate::cometd::client::{self as cometd_client, CometdConfig, Event};
use crate::gws::client::{AgentHttp, Credentials};
use crate::gws::error::GwsError;
use crate::gws::{
    Capability, InteractionState, MeOperation, Notification, NotificationType, ParticipantType,
};
use crate::metrics::gauges::GaugeGuard;
use crate::ordering::AgentChecker;
use crate::scenario::{OpStep, Readiness, Secret, Step};
use crate::vocab::{Counter, Gauge, OpMetric, OpName, SessionOp};

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

/// Runs one agent until `token` fires, recording into its shard.
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

    // Log in, at most `login_concurrency` agents at a time so a large population does not
    // arrive as one burst.
    let permit = tokio::select! {
        _ = token.cancelled() => return,
        p = ctx.login_gate.acquire() => p,
    };
    let mut http =
        client.agent(Credentials::new(spec.username.clone(), spec.password.expose().to_owned()));
    let me = match timed(&rec, SessionOp::GetMe, http.login()).await {
        Ok(me) => me,
        Err(e) => {
            ctx.warnings.warn(AgentWarning::Login, &spec.username, &e);
            ctx.login_failed();
            return;
        }
    };
    // Not a child of `token`: the session must outlive the run's end until this agent's turn to
    // log out comes (see the logout gate below); the guard ends it on every other exit path.
    let cometd_token = CancellationToken::new();
    let _cometd_guard = cometd_token.clone().drop_guard();
    let mut config = CometdConfig::new(ctx.plan.target.base_url.clone(), ctx.plan.target.transport)
        .headers(http.cometd_headers());
    config.jitter_seed = Some(spec.seed);
    config.local_address = ctx.source_for(spec.index);
    config.accept_invalid_certs = ctx.plan.target.accept_invalid_certs;
    let handshake = timed(
        &rec,
        SessionOp::Handshake,
        cometd_client::connect(config, client.http().clone(), cometd_token.clone()),
    );
    // Ctrl-C during the handshake ends it with `CometdError::Cancelled`: gwsim's own doing, not a
    // failed handshake. The run's token is polled first, so that outcome is never recorded.
    let connected = tokio::select! {
        biased;
        _ = token.cancelled() => return,
        c = handshake => c,
    };
    let (cometd, mut events) = match connected {
        Ok(c) => c,
        Err(e) => {
            ctx.warnings.warn(AgentWarning::Handshake, &spec.username, &e);
            ctx.login_failed();
            return;
        }
    };
    let channels: Vec<&str> = pop.channels.iter().map(|m| m.channel_name()).collect();
    let body = MeOperation::start_session(channels);
    if let Err(e) = session_op(&rec, &http, SessionOp::StartContactCenterSession, body).await {
        ctx.warnings.warn(AgentWarning::StartSession, &spec.username, &e);
        cometd_token.cancel();
        ctx.login_failed();
        return;
    }
    let mut ready = !matches!(pop.readiness, Readiness::NotReady);
    let http = Arc::new(http);
    if ready {
        ready = session_op(&rec, &http, SessionOp::Ready, MeOperation::Ready {}).await.is_ok();
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
    ctx.logged_in();
    // Lowered when the contact-center session ends below, or on any early return.
    let logged_in = ctx.gauges.raise(Gauge::AgentsLoggedIn);
    // Raised while the agent has at least one interaction in flight (a flow running).
    let mut busy: Option<GaugeGuard<'_>> = None;

    let mut rng = SmallRng::seed_from_u64(spec.seed);
    let mut flows: JoinSet<()> = JoinSet::new();
    let mut routes: HashMap<String, mpsc::UnboundedSender<Delivered>> = HashMap::new();
    let mut checks = tokio::time::interval(Duration::from_millis(500));
    checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_toggle = readiness_deadline(&pop.readiness, ready, &mut rng);
    let flow_token = token.child_token();
    // Whether the loop ended with the run (not with a dead stream): only then has the agent
    // heard everything the server owed it, and what is still owed can be judged missing.
    let mut run_ended = false;
    loop {
        tokio::select! {
            // The run's end first: a session closed by that same end must not be read as the
            // server's doing (see `FailureKind::from_close`).
            biased;
            _ = token.cancelled() => {
                run_ended = true;
                break;
            }
            Some(_) = flows.join_next(), if !flows.is_empty() => {}
            _ = checks.tick() => {
                let now_ms = ctx.now_ms();
                rec.violations(shared.checker(|c| c.poll_timeouts(now_ms)));
                routes.retain(|_, tx| !tx.is_closed());
            }
            _ = sleep_until_opt(next_toggle) => {
                let op = if ready { SessionOp::NotReady } else { SessionOp::Ready };
                let body = if ready { MeOperation::NotReady {} } else { MeOperation::Ready {} };
                if session_op(&rec, &http, op, body).await.is_ok() {
                    ready = !ready;
                }
                next_toggle = readiness_deadline(&pop.readiness, ready, &mut rng);
            }
            event = events.recv() => match event {
                Some(Event::Data { data, .. }) => {
                    let n: Notification = match serde_json::from_str(data.get()) {
                        Ok(n) => n,
                        Err(e) => {
                            rec.op_error(OpName::Session(SessionOp::Notifications), &FailureKind::BadNotification, true);
                            tracing::debug!(agent = %spec.username, error = %e, "unparseable notification");
                            continue;
                        }
                    };
                    let events = shared.observe(&rec, &n);
                    let Some(id) = n.interaction_id().map(str::to_string) else { continue };
                    if is_invitation(&n) && routes.get(&id).is_none_or(|tx| tx.is_closed()) {
                        let steps = steps_for(&ctx, spec.population, &n);
                        let (tx, rx) = mpsc::unbounded_channel();
                        let run = FlowRun::new(shared.clone(), id.clone(), ctx.plan.target.media, rx, rec.clone(), rng.random(), flow_token.clone());
                        ctx.flow_started();
                        let (flow_ctx, flow_rec) = (ctx.clone(), rec.clone());
                        flows.spawn(async move {
                            if run.run(&steps).await {
                                flow_rec.count(Counter::FlowsCompleted, 1);
                            }
                            flow_ctx.flow_ended();
                        });
                        routes.insert(id.clone(), tx);
                    }
                    if let Some(tx) = routes.get(&id) {
                        // A closed channel means the flow ended; the notification was checked.
                        let _ = tx.send(Delivered { n, events });
                    }
                }
                Some(Event::Rehandshake) | Some(Event::Reconnected { .. }) => rec.count(Counter::Reconnects, 1),
                Some(Event::Closed { reason }) => {
                    // A session gwsim ended itself (its token, cancelled only on the way out) is
                    // no failure.
                    match FailureKind::from_close(&reason) {
                        Some(kind) => {
                            ctx.warnings.warn(AgentWarning::SessionClosed, &spec.username, &reason);
                            rec.op_error(OpName::Session(SessionOp::Notifications), &kind, true);
                        }
                        None => tracing::debug!(agent = %spec.username, %reason, "CometD session ended"),
                    }
                    break;
                }
                None => break,
            },
        }
        // Flows are spawned and reaped only in the branches above.
        match (flows.is_empty(), busy.is_some()) {
            (false, false) => busy = Some(ctx.gauges.raise(Gauge::AgentsBusy)),
            (true, true) => busy = None,
            _ => {}
        }
    }

    // Log out: flows stop, the contact-center session ends, the CometD session disconnects.
    flow_token.cancel();
    while flows.join_next().await.is_some() {}
    drop(busy);
    if run_ended {
        // What already arrived is checked before judging what is still owed; a drop near the
        // end of a run is found here or not at all (the 500 ms poll has stopped).
        while let Ok(event) = events.try_recv() {
            if let Event::Data { data, .. } = event
                && let Ok(n) = serde_json::from_str::<Notification>(data.get())
            {
                shared.observe(&rec, &n);
            }
        }
        let now_ms = ctx.now_ms();
        rec.violations(shared.checker(|c| c.finish_with_grace(now_ms, FINISH_GRACE_MS)));
    }
    ctx.roster.leave(&pop.name, &spec.username);
    // A few agents at a time, each holding its turn until its CometD session has disconnected:
    // the semaphore is never closed, so a missing permit only means no bound.
    let _turn = ctx.logout_gate.acquire().await.ok();
    let body = MeOperation::EndContactCenterSession {};
    let _ = session_op(&rec, &http, SessionOp::EndContactCenterSession, body).await;
    drop(logged_in);
    cometd_token.cancel();
    let start = Instant::now();
    let _ = tokio::time::timeout(Duration::from_secs(5), cometd.join()).await;
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

fn is_invitation(n: &Notification) -> bool {
    match n {
        Notification::ChatStateChangeMessage(sc)
        | Notification::FacebooksessionStateChangeMessage(sc) => {
            sc.notification_type == NotificationType::StatusChange
                && sc.resource().is_some_and(|r| r.state == InteractionState::Invited)
        }
        _ => false,
    }
}

/// The steps for an invitation: a consult or conference invitation (another agent is already
/// in the interaction) runs the population's consult flow, anything else its main flow; a
/// population with no flow for it rejects.
fn steps_for(ctx: &RunCtx, population: usize, invitation: &Notification) -> Vec<Step> {
    let pop = &ctx.plan.scenario.agents[population];
    let consult = match invitation {
        Notification::ChatStateChangeMessage(sc)
        | Notification::FacebooksessionStateChangeMessage(sc) => sc
            .resource()
            .is_some_and(|r| r.participants.iter().any(|p| p.kind == ParticipantType::Agent)),
        _ => false,
    };
    let name = if consult { pop.flow_for_consult() } else { pop.flow.as_deref() };
    match name.and_then(|n| ctx.plan.scenario.flows.get(n)) {
        Some(flow) => flow.steps.clone(),
        None => vec![Step::Op(Box::new(OpStep::new(Capability::Reject)))],
    }
}
