//! One flow run by one agent on one interaction: steps (operations, think times, awaits) with
//! their latencies measured from the intended start.
//!
//! What a notification means is the ordering checker's to say: the agent's main loop feeds it
//! every notification, records the settles it reports (see [`super::shared`]), and notes in the
//! flow's [`Inbox`] what the flow needs of it: its await events, the interaction's state and
//! consultant. The flow reads those at its steps and is woken only for what it may be waiting
//! on (an await event, its part ending), not for every notification: a notification costs no
//! task switch and no channel. [`operation_for`] is pure: what each operation sends;
//! [`FlowRun::run`] is the async shell.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::SmallRng;
use serde_json::{Map, Value};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::failure::FailureKind;
use super::roster::{Key, Started, tag_text};
use super::shared::AgentShared;
use super::sink::Sink;
use crate::gws::{
    Capability, EntryType, InteractionState, Media, Notification, NotificationType, Operation,
    ParticipantType, Visibility,
};
use crate::ordering::cross::OpCall;
use crate::ordering::{AwaitEvents, Party};
use crate::scenario::{OpStep, Step, TargetRef};
use crate::vocab::{AwaitEvent, OpMetric, OpName};

/// How long a flow keeps listening, after its last step, for the notifications that settle its
/// last operations.
const SETTLE_GRACE: Duration = Duration::from_secs(10);

/// Await events a flow keeps unconsumed, oldest dropped first.
const EVENTS_KEPT: usize = 64;

/// What the agent task has seen of one interaction, for its flow. The agent task writes it as
/// each notification is checked ([`Inbox::deliver`]); the flow reads it at its steps. It holds no
/// notification, only the latest state and consultant and a bounded queue of await events, so
/// a flood on one interaction costs the flow nothing and is bounded by the CometD client's
/// own budget (the agent task checks at its own pace).
#[derive(Debug)]
pub(crate) struct Inbox {
    seen: Mutex<Seen>,
    /// Raised for what a flow may be waiting on: an await event, or its part ending.
    wake: Notify,
}

#[derive(Debug)]
struct Seen {
    /// Await events seen and not yet consumed, oldest first (at most [`EVENTS_KEPT`]).
    events: VecDeque<AwaitEvent>,
    /// Our own state in the interaction, as last notified.
    state: InteractionState,
    /// The URI of the current consultant (an Agents-visibility agent), from participants.
    consultant: Option<String>,
    /// Our nickname in the interaction (who is not the consultant).
    nickname: String,
}

impl Inbox {
    pub(crate) fn new(state: InteractionState, nickname: String) -> Arc<Self> {
        let seen = Seen { events: VecDeque::new(), state, consultant: None, nickname };
        Arc::new(Inbox { seen: Mutex::new(seen), wake: Notify::new() })
    }

    fn seen(&self) -> MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the flow this inbox was made for has ended (the agent task holds the other
    /// handle).
    pub(crate) fn flow_gone(inbox: &Arc<Inbox>) -> bool {
        Arc::strong_count(inbox) <= 1
    }

    /// Notes what the flow needs of one checked notification about its interaction, with the
    /// await events the checker found it stands for.
    pub(crate) fn deliver(&self, n: &Notification, events: AwaitEvents) {
        let mut wake = !events.is_empty();
        {
            let mut seen = self.seen();
            if let Notification::ChatStateChangeMessage(sc)
            | Notification::FacebooksessionStateChangeMessage(sc) = n
                && let Some(r) = sc.resource()
            {
                if sc.notification_type != NotificationType::PropertiesUpdated {
                    wake |= r.state.is_terminal() && !seen.state.is_terminal();
                    seen.state = r.state;
                }
                let consultant = r
                    .participants
                    .iter()
                    .find(|p| {
                        p.kind == ParticipantType::Agent
                            && p.visibility == Some(Visibility::Agents)
                            && p.nickname != seen.nickname
                    })
                    .and_then(|p| p.uri.as_deref());
                // Most state changes name the same consultant again: copied only when it moved.
                if seen.consultant.as_deref() != consultant {
                    seen.consultant = consultant.map(str::to_owned);
                }
            }
            for e in events {
                if seen.events.len() >= EVENTS_KEPT {
                    seen.events.pop_front();
                }
                seen.events.push_back(e);
            }
        }
        if wake {
            self.wake.notify_one();
        }
    }
}

/// The delivery to an agent of the customers' messages a notification carries (tagged
/// texts), measured when the agent task has checked it.
pub(crate) fn customer_messages_delivered(agent: &AgentShared, rec: &Sink, n: &Notification) {
    let Notification::MessageLogUpdated(ml) = n else { return };
    let now = Instant::now();
    for e in ml
        .messages
        .iter()
        .filter(|e| e.kind == EntryType::Text && e.from.kind == ParticipantType::Customer)
    {
        if let Some(key) = e.text.as_deref().and_then(super::roster::message_key)
            && let Some(s) = agent.ctx.correlator.finish(&key)
        {
            rec.customer_latency(
                crate::vocab::CustomerMetric::ToAgent,
                s.intended,
                s.sent,
                now,
                s.measured,
            );
        }
    }
}

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
    inbox: Arc<Inbox>,
    pub(crate) rec: Sink,
    pub(crate) rng: SmallRng,
    pub(crate) token: CancellationToken,
}

impl FlowRun {
    pub(crate) fn new(
        agent: Arc<AgentShared>,
        ixn: String,
        media: Media,
        inbox: Arc<Inbox>,
        rec: Sink,
        seed: u64,
        token: CancellationToken,
    ) -> Self {
        FlowRun { agent, ixn, media, inbox, rec, rng: SmallRng::seed_from_u64(seed), token }
    }

    fn state(&self) -> InteractionState {
        self.inbox.seen().state
    }

    fn ended(&self) -> bool {
        self.state().is_terminal()
    }

    /// Waits until `deadline` (the agent task notes what arrives meanwhile); `Err` when the flow
    /// must stop.
    async fn pump_until(&mut self, deadline: Instant) -> Result<(), Stop> {
        tokio::select! {
            _ = self.token.cancelled() => Err(Stop::Cancelled),
            _ = tokio::time::sleep_until(deadline.into()) => Ok(()),
        }
    }

    /// Waits for `event` (possibly already seen) until `timeout`.
    async fn await_event(&mut self, event: AwaitEvent, timeout: Duration) -> Result<bool, Stop> {
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        // Bounded by the deadline: each turn but the last waits for a wake.
        loop {
            {
                let mut seen = self.inbox.seen();
                if let Some(pos) = seen.events.iter().position(|e| *e == event) {
                    seen.events.remove(pos);
                    return Ok(true);
                }
                if seen.state.is_terminal()
                    && !matches!(event, AwaitEvent::Completed | AwaitEvent::Removed)
                {
                    return Err(Stop::Ended);
                }
            }
            // A wake raised since the check above is kept by `Notify` as a permit, so none is
            // lost between the check and the wait.
            tokio::select! {
                _ = self.token.cancelled() => return Err(Stop::Cancelled),
                _ = &mut deadline => return Ok(false),
                _ = self.inbox.wake.notified() => {}
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
                let uri = self.inbox.seen().consultant.clone()?;
                let id = uri.rsplit('/').next().unwrap_or_default().to_string();
                Some((uri, Some(Party { user_id: Some(id), ..Party::default() })))
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
        let body = {
            let mut seen = self.inbox.seen();
            let body = operation_for(step, &seen.nickname, target_uri.as_deref(), text.as_deref());
            if op == Capability::Accept {
                seen.nickname =
                    step.nickname.clone().unwrap_or_else(|| self.agent.username.clone());
            }
            body
        };
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
        let tag = text.as_deref().and_then(crate::ordering::cross::tag_of);
        let call = OpCall {
            username: &self.agent.username,
            interaction: &self.ixn,
            op,
            target: target_name.as_deref(),
            tag,
        };
        self.agent.ctx.correlator.cross(|x| x.op_started(now_ms, &call));
        let request = self.agent.http.interaction_operation(self.media, &self.ixn, &body);
        let result = tokio::select! {
            _ = self.token.cancelled() => return Err(Stop::Cancelled),
            r = request => r,
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
            if self.ended() && self.state() != InteractionState::Invited {
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
        let op = match self.state() {
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

    fn state_change(state: &str, participants: &str) -> Notification {
        let json = format!(
            r#"{{"messageType":"ChatStateChangeMessage","notificationType":"StatusChange","chat":{{"id":"c1","uri":"u","state":"{state}","capabilities":[],"participants":[{participants}]}}}}"#
        );
        serde_json::from_str(&json).expect("a state change")
    }

    /// Whether a wake is pending for the flow (consumed if so).
    fn woken(inbox: &Inbox) -> bool {
        let notified = inbox.wake.notified();
        tokio::pin!(notified);
        // `Notify` keeps one permit for a wake nobody waited on; a fresh waiter takes it at once.
        notified.as_mut().enable()
    }

    #[test]
    fn an_inbox_notes_state_consultant_and_events_and_wakes_only_for_what_is_awaited() {
        let inbox = Inbox::new(InteractionState::Invited, "ann".into());
        let ann = r#"{"participantId":"p1","type":"Agent","nickname":"ann","visibility":"Agents","uri":"u/ann"}"#;
        let bob = r#"{"participantId":"p2","type":"Agent","nickname":"bob","visibility":"Agents","uri":"u/bob"}"#;
        inbox.deliver(&state_change("Chatting", &format!("{ann},{bob}")), Default::default());
        {
            let seen = inbox.seen();
            assert_eq!(seen.state, InteractionState::Chatting);
            // Our own Agents-visibility entry is not the consultant.
            assert_eq!(seen.consultant.as_deref(), Some("u/bob"));
        }
        assert!(!woken(&inbox), "nothing awaited arrived");
        inbox.deliver(
            &state_change("Chatting", ann),
            [AwaitEvent::ConsultantJoined].into_iter().collect(),
        );
        assert_eq!(inbox.seen().consultant, None);
        assert!(woken(&inbox), "an await event wakes the flow");
        for _ in 0..EVENTS_KEPT + 10 {
            inbox.deliver(
                &state_change("Chatting", ann),
                [AwaitEvent::ParticipantLeft].into_iter().collect(),
            );
        }
        assert_eq!(inbox.seen().events.len(), EVENTS_KEPT);
        assert_eq!(inbox.seen().events.front(), Some(&AwaitEvent::ParticipantLeft));
        let _ = woken(&inbox);
        inbox.deliver(&state_change("Completed", ann), Default::default());
        assert!(inbox.seen().state.is_terminal());
        assert!(woken(&inbox), "its part ending wakes the flow");
        // The agent task's handle alone: the flow is gone.
        assert!(Inbox::flow_gone(&inbox));
        let flows = inbox.clone();
        assert!(!Inbox::flow_gone(&inbox));
        drop(flows);
    }

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
