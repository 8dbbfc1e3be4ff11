//! One flow run by one agent on one interaction: steps (operations, think times, awaits) with
//! their latencies measured from the intended start.
//!
//! What a notification means is the ordering checker's to say: the agent's main loop feeds it
//! every notification, records the settles it reports (see [`super::shared`]), and hands the
//! flow the notification with its await events ([`Delivered`]). The flow only keeps its own
//! state (for targets and tidying up) and waits. [`operation_for`] is pure: what each operation
//! sends; [`FlowRun::run`] is the async shell.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::SmallRng;
use serde_json::{Map, Value};
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio_util::sync::CancellationToken;

use super::failure::FailureKind;
use super::roster::{Key, Started, tag_text};
use super::shared::AgentShared;
use super::sink::Sink;
use crate::gws::{
    Capability, EntryType, InteractionState, Media, Notification, NotificationType, Operation,
    ParticipantType, Visibility,
};
use crate::ordering::Party;
use crate::ordering::cross::OpCall;
use crate::scenario::{OpStep, Step, TargetRef};
use crate::vocab::{AwaitEvent, OpMetric, OpName};

/// How long a flow keeps listening, after its last step, for the notifications that settle its
/// last operations.
const SETTLE_GRACE: Duration = Duration::from_secs(10);

/// A notification routed to the flow of its interaction, with the await events the checker
/// found it stands for.
#[derive(Debug)]
pub(crate) struct Delivered {
    pub(crate) n: Notification,
    pub(crate) events: Vec<AwaitEvent>,
    /// Its share of the agent's flow budget ([`FLOW_HELD_BYTES`]), given back when the flow
    /// has handled it (dropped with it).
    pub(crate) held: OwnedSemaphorePermit,
}

/// Bytes of notifications (as received) an agent's flows may hold between the agent task that
/// checks them and the flows that take them. Flows drain their queue at every step, so this is
/// reached only when a server floods one interaction faster than its flow runs; the agent task
/// then waits (backpressure down to the CometD client's own budget), and nothing is dropped.
pub(crate) const FLOW_HELD_BYTES: usize = 2 << 20;

/// The operation a step sends. `target_uri` is the resolved target, `text` the (possibly
/// tagged) text.
pub(crate) fn operation_for(
    step: &OpStep,
    nickname: &str,
    target_uri: Option<&str>,
    text: Option<&str>,
) -> Operation {
    use Capability as C;
    use Operation as O;
    let text_opt = || text.map(str::to_owned);
    let text = || text.unwrap_or_default().to_owned();
    let target_uri = || target_uri.map(str::to_owned);
    match step.op {
        C::Accept => {
            O::Accept { nickname: step.nickname.as_deref().unwrap_or(nickname).to_owned() }
        }
        C::Reject => O::Reject {},
        C::Transfer => O::Transfer {
            queue_name: if target_uri().is_none() { step.queue.clone() } else { None },
            target_uri: target_uri(),
            target_path: None,
            text: text_opt(),
        },
        C::Leave => O::Leave { text: text_opt(), message_type: None, treat_as: None },
        C::Invite => O::Invite { target_uri: target_uri(), target_path: None },
        C::Consult => O::Consult { target_uri: target_uri(), target_path: None },
        C::CancelConsult => O::CancelConsult {},
        C::SetInFocus => O::SetInFocus {},
        C::SetDisposition => O::SetDisposition {
            disposition: step.disposition.as_deref().unwrap_or("Resolved").to_owned(),
            disposition_key: step.disposition_key.clone(),
        },
        C::AttachUserData => O::AttachUserData { user_data: user_data(step) },
        C::UpdateUserData => O::UpdateUserData { user_data: user_data(step) },
        C::DeleteUserData => O::DeleteUserData { keys: step.keys.clone() },
        C::SendToAgents => O::SendToAgents { text: text(), message_type: None, treat_as: None },
        C::SendStartTypingToAgentsNotification => {
            O::SendStartTypingToAgentsNotification { text: text_opt() }
        }
        C::SendStopTypingToAgentsNotification => {
            O::SendStopTypingToAgentsNotification { text: text_opt() }
        }
        C::SendCustomNoticeToAgents => O::SendCustomNoticeToAgents { notice_text: notice(step) },
        C::Complete => O::Complete {
            queue_name: step.queue.clone(),
            text: text_opt(),
            message_type: None,
            treat_as: None,
        },
        C::SendMessage => O::SendMessage { text: text(), message_type: None, treat_as: None },
        C::SendUrl => O::SendUrl {
            url: step.url.as_deref().unwrap_or("https://example.com/help").to_owned(),
            text: text_opt(),
        },
        C::SendStartTypingNotification => O::SendStartTypingNotification { text: text_opt() },
        C::SendStopTypingNotification => O::SendStopTypingNotification { text: text_opt() },
        C::SendCustomNotice => O::SendCustomNotice { notice_text: notice(step) },
        C::RemoveParticipantFromConference => O::RemoveParticipantFromConference {
            target_uri: target_uri(),
            target_path: None,
            text: text_opt(),
        },
        C::AddComment => O::AddComment { comment: step.comment.clone().unwrap_or_default() },
    }
}

fn user_data(step: &OpStep) -> Map<String, Value> {
    step.user_data.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect()
}

fn notice(step: &OpStep) -> String {
    step.notice.as_deref().unwrap_or("notice").to_owned()
}

/// Why a flow stopped before its last step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The run is ending.
    Cancelled,
    /// This agent's part in the interaction ended (Completed or Revoked).
    Ended,
}

/// The state of one running flow.
pub(crate) struct FlowRun {
    pub(crate) agent: Arc<AgentShared>,
    pub(crate) ixn: String,
    pub(crate) media: Media,
    pub(crate) rx: mpsc::UnboundedReceiver<Delivered>,
    pub(crate) rec: Sink,
    pub(crate) rng: SmallRng,
    pub(crate) token: CancellationToken,
    /// Await events seen and not yet consumed, oldest first (bounded).
    events: VecDeque<AwaitEvent>,
    /// Our own state in the interaction, as last notified.
    state: InteractionState,
    /// The URI of the current consultant (an Agents-visibility agent), from participants.
    consultant: Option<String>,
    nickname: String,
}

impl FlowRun {
    pub(crate) fn new(
        agent: Arc<AgentShared>,
        ixn: String,
        media: Media,
        rx: mpsc::UnboundedReceiver<Delivered>,
        rec: Sink,
        seed: u64,
        token: CancellationToken,
    ) -> Self {
        let nickname = agent.username.clone();
        FlowRun {
            agent,
            ixn,
            media,
            rx,
            rec,
            rng: SmallRng::seed_from_u64(seed),
            token,
            events: VecDeque::new(),
            state: InteractionState::Invited,
            consultant: None,
            nickname,
        }
    }

    /// Starts from `state` rather than an invitation (an interaction taken up after a crash).
    pub(crate) fn with_state(mut self, state: InteractionState) -> Self {
        self.state = state;
        self
    }

    fn handle(&mut self, d: Delivered) {
        let now = Instant::now();
        let n = &d.n;
        if let Notification::ChatStateChangeMessage(sc)
        | Notification::FacebooksessionStateChangeMessage(sc) = n
            && let Some(r) = sc.resource()
        {
            if sc.notification_type != NotificationType::PropertiesUpdated {
                self.state = r.state;
            }
            self.consultant = r
                .participants
                .iter()
                .find(|p| {
                    p.kind == ParticipantType::Agent
                        && p.visibility == Some(Visibility::Agents)
                        && p.nickname != self.nickname
                })
                .and_then(|p| p.uri.clone());
        }
        for e in d.events {
            if self.events.len() >= 64 {
                self.events.pop_front();
            }
            self.events.push_back(e);
        }
        // Messages from customers carry a tag: their delivery to us is measured here.
        if let Notification::MessageLogUpdated(ml) = n {
            for e in ml
                .messages
                .iter()
                .filter(|e| e.kind == EntryType::Text && e.from.kind == ParticipantType::Customer)
            {
                if let Some(key) = e.text.as_deref().and_then(super::roster::message_key)
                    && let Some(s) = self.agent.ctx.correlator.finish(&key)
                {
                    self.rec.customer_latency(
                        crate::vocab::CustomerMetric::ToAgent,
                        s.intended,
                        s.sent,
                        now,
                        s.measured,
                    );
                }
            }
        }
        // Handled: its bytes go back to the agent's flow budget.
        drop(d.held);
    }

    fn ended(&self) -> bool {
        self.state.is_terminal()
    }

    /// Receives notifications until `deadline`; `Err` when the flow must stop.
    async fn pump_until(&mut self, deadline: Instant) -> Result<(), Stop> {
        loop {
            tokio::select! {
                _ = self.token.cancelled() => return Err(Stop::Cancelled),
                _ = tokio::time::sleep_until(deadline.into()) => return Ok(()),
                n = self.rx.recv() => match n {
                    Some(n) => self.handle(n),
                    None => return Err(Stop::Cancelled),
                },
            }
        }
    }

    /// Waits for `event` (possibly already seen) until `timeout`.
    async fn await_event(&mut self, event: AwaitEvent, timeout: Duration) -> Result<bool, Stop> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(pos) = self.events.iter().position(|e| *e == event) {
                self.events.remove(pos);
                return Ok(true);
            }
            if self.ended() && !matches!(event, AwaitEvent::Completed | AwaitEvent::Removed) {
                return Err(Stop::Ended);
            }
            tokio::select! {
                _ = self.token.cancelled() => return Err(Stop::Cancelled),
                _ = tokio::time::sleep_until(deadline.into()) => return Ok(false),
                n = self.rx.recv() => match n {
                    Some(n) => self.handle(n),
                    None => return Err(Stop::Cancelled),
                },
            }
        }
    }

    /// Resolves a step's target to a URI (and the party, for the checker).
    fn target(&mut self, t: &TargetRef) -> Option<(String, Option<Party>)> {
        let ctx = &self.agent.ctx;
        match t {
            TargetRef::Agents(pop) => {
                let m = ctx.roster.pick(pop, &self.agent.username, &mut self.rng)?;
                let party = Party::nickname(m.username.clone()).with_user_id(m.user_id.clone());
                Some((m.uri, Some(party)))
            }
            TargetRef::User(u) => {
                let m = ctx.roster.find(u)?;
                let party = Party::nickname(m.username.clone()).with_user_id(m.user_id.clone());
                Some((m.uri, Some(party)))
            }
            TargetRef::Queue(q) => {
                Some((format!("{}/api/v2/queues/{q}", ctx.plan.target.base_url), None))
            }
            TargetRef::Consultant => {
                let uri = self.consultant.clone()?;
                let id = uri.rsplit('/').next().unwrap_or_default().to_string();
                Some((uri, Some(Party { nickname: None, user_id: Some(id) })))
            }
        }
    }

    /// Sends one operation, measuring from `intended`. Returns whether it succeeded.
    async fn operation(&mut self, step: &OpStep, intended: Instant) -> Result<bool, Stop> {
        let op = step.op;
        let measured = self.agent.ctx.measured(intended);
        let (target_uri, party) = match &step.target {
            Some(t) => match self.target(t) {
                Some((uri, party)) => (Some(uri), party),
                None => {
                    self.rec.op_error(
                        OpName::Flow(op),
                        &FailureKind::NoTarget(t.clone()),
                        measured,
                    );
                    return Ok(false);
                }
            },
            None => (None, None),
        };
        let text = step.text.as_deref().map(|t| tag_text(t, self.agent.ctx.next_tag()));
        let body = operation_for(step, &self.nickname, target_uri.as_deref(), text.as_deref());
        if op == Capability::Accept {
            self.nickname = step.nickname.clone().unwrap_or_else(|| self.agent.username.clone());
        }
        let now_ms = self.agent.ctx.now_ms();
        let sent = Instant::now();
        let started = Started { intended, sent, measured };
        // The checker hands `started` back when the operation settles.
        self.agent.checker(|c| c.operation_started(now_ms, &self.ixn, op, party.clone(), started));
        // Register before sending: notifications can overtake the HTTP response.
        if op == Capability::SendMessage
            && let Some(key) = text.as_deref().and_then(super::roster::message_key)
        {
            self.agent.ctx.correlator.start(key, started);
        }
        if op == Capability::RemoveParticipantFromConference
            && let Some(id) = party.as_ref().and_then(|p| p.user_id.clone())
        {
            self.agent.ctx.correlator.start(Key::Removal(self.ixn.clone(), id), started);
        }
        // The cross-participant checker learns who is in the chat and who sent what; the other
        // agent an operation names is known to it by username.
        let target_name = party.as_ref().and_then(|p| {
            p.nickname.clone().or_else(|| {
                p.user_id
                    .as_deref()
                    .and_then(|id| self.agent.ctx.roster.find_id(id))
                    .map(|m| m.username)
            })
        });
        let tag = text.as_deref().and_then(crate::ordering::cross::tag_of).map(str::to_owned);
        let username = self.agent.username.clone();
        let ixn = self.ixn.clone();
        let call = OpCall {
            username: &username,
            interaction: &ixn,
            op,
            target: target_name.as_deref(),
            tag: tag.as_deref(),
        };
        self.agent.ctx.correlator.cross(|x| x.op_started(now_ms, &call));
        let http = self.agent.http.clone();
        let media = self.media;
        let ixn = self.ixn.clone();
        let request = async move { http.interaction_operation(media, &ixn, &body).await };
        tokio::pin!(request);
        let result = loop {
            tokio::select! {
                _ = self.token.cancelled() => return Err(Stop::Cancelled),
                r = &mut request => break r,
                n = self.rx.recv() => match n {
                    Some(n) => self.handle(n),
                    None => return Err(Stop::Cancelled),
                },
            }
        };
        let done = Instant::now();
        let done_ms = self.agent.ctx.now_ms();
        self.agent.ctx.correlator.cross(|x| x.op_done(done_ms, &call, result.is_ok()));
        // A refusal is a response too: its latency counts like a success's.
        self.rec.latency(OpName::Flow(op), OpMetric::Response, intended, sent, done, measured);
        match result {
            Ok(_) => {
                self.rec.op_ok(OpName::Flow(op), measured);
                Ok(true)
            }
            Err(e) => {
                self.rec.op_error(OpName::Flow(op), &FailureKind::from(&e), measured);
                self.agent.checker(|c| c.operation_failed(&self.ixn, op));
                Ok(false)
            }
        }
    }

    /// Runs `steps`; on a failure, tidies up so the agent's capacity is not held forever.
    /// Returns whether the flow completed: every step ran.
    pub(crate) async fn run(mut self, steps: &[Step]) -> bool {
        let outcome = self.steps(steps).await;
        if outcome.is_ok() || outcome == Err(Stop::Ended) {
            self.linger().await;
        } else if outcome != Err(Stop::Cancelled) {
            self.tidy_up().await;
        }
        outcome.is_ok()
    }

    async fn steps(&mut self, steps: &[Step]) -> Result<(), Stop> {
        let mut intended = Instant::now();
        let mut last_op = Capability::Accept;
        for step in steps {
            if self.ended() && self.state != InteractionState::Invited {
                return Err(Stop::Ended);
            }
            match step {
                Step::Think { think } => {
                    intended += think.sample(&mut self.rng);
                    self.pump_until(intended).await?;
                }
                Step::Await { event, timeout } => {
                    if !self.await_event(*event, *timeout).await? {
                        // A flow failure, not an ordering violation: whatever the protocol
                        // owes, the checker's own expectations already judge (see
                        // ARCHITECTURE.md, "Await timeouts").
                        let measured = self.agent.ctx.measured(intended);
                        let failure = FailureKind::AwaitTimeout(*event);
                        self.rec.op_error(OpName::Flow(last_op), &failure, measured);
                        self.tidy_up().await;
                        return Err(Stop::Ended);
                    }
                    intended = Instant::now();
                }
                Step::Op(op) => {
                    last_op = op.op;
                    if !self.operation(op, intended).await? {
                        self.tidy_up().await;
                        return Err(Stop::Ended);
                    }
                    intended = Instant::now();
                }
            }
        }
        Ok(())
    }

    /// After the last step: keep listening while the checker still waits for a notification
    /// that settles an operation on this interaction (or this agent's removal), bounded.
    async fn linger(&mut self) {
        let deadline = Instant::now() + SETTLE_GRACE;
        while self.agent.checker(|c| c.settles_pending(&self.ixn)) {
            if self
                .pump_until(deadline.min(Instant::now() + Duration::from_millis(100)))
                .await
                .is_err()
                || Instant::now() >= deadline
            {
                break;
            }
        }
    }

    /// Releases the interaction after a failed step: Reject an invitation, otherwise Complete.
    async fn tidy_up(&mut self) {
        let op = match self.state {
            InteractionState::Invited => Capability::Reject,
            InteractionState::Chatting | InteractionState::LeftChat => Capability::Complete,
            InteractionState::Completed | InteractionState::Revoked => return,
        };
        let step = OpStep::new(op);
        if let Ok(true) = self.operation(&step, Instant::now()).await {
            self.linger().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn operations_carry_the_documented_parameters() {
        let mut step = OpStep::new(Capability::Consult);
        step.target = Some(TargetRef::Agents("specialist".into()));
        let op = operation_for(&step, "ann", Some("http://h/api/v2/users/1"), None);
        assert_eq!(
            serde_json::to_value(&op).expect("json"),
            json!({"operationName": "Consult", "targetUri": "http://h/api/v2/users/1"})
        );
        let op = operation_for(&OpStep::new(Capability::Accept), "ann", None, None);
        assert_eq!(serde_json::to_value(&op).expect("json")["nickname"], "ann");
        let mut step = OpStep::new(Capability::Transfer);
        step.queue = Some("experts".into());
        let op = operation_for(&step, "ann", None, None);
        assert_eq!(serde_json::to_value(&op).expect("json")["queueName"], "experts");
        let op = operation_for(&OpStep::new(Capability::SendMessage), "ann", None, Some("hi [#1]"));
        assert_eq!(serde_json::to_value(&op).expect("json")["text"], "hi [#1]");
        for c in Capability::ALL {
            assert_eq!(operation_for(&OpStep::new(*c), "ann", None, None).name(), *c);
        }
    }
}
