//! One flow run by one agent on one interaction: steps (operations, think times, awaits) with
//! their latencies measured from the intended start, and the settle of each operation (the
//! notification that completes it) recorded when it arrives.
//!
//! The pure parts ([`classify`], [`settle_matches`], [`operation_for`]) decide what a notification
//! means for a flow and what each operation sends; [`run_flow`] is the thin async shell.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::SmallRng;
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::agent::AgentShared;
use super::roster::{Key, Started, tag_text};
use super::sink::Sink;
use crate::gws::error::GwsError;
use crate::gws::{
    Capability, EntryType, InteractionState, Media, Notification, NotificationType, Operation,
    ParticipantType, Visibility,
};
use crate::ordering::Party;
use crate::scenario::{OpStep, Step, TargetRef};
use crate::vocab::{AwaitEvent, OpMetric, OpName};

/// How long a flow keeps listening, after its last step, for the notifications that settle its
/// last operations.
const SETTLE_GRACE: Duration = Duration::from_secs(10);

/// Await events a notification stands for, seen by agent `me` (its nickname in this
/// interaction). `removing` is set by a ParticipantsUpdated(LeftChat), which is how a removal
/// begins for the removed agent.
pub(crate) fn classify(n: &Notification, me: &str, removing: &mut bool) -> Vec<AwaitEvent> {
    let mut events = Vec::new();
    match n {
        Notification::ChatStateChangeMessage(sc)
        | Notification::FacebooksessionStateChangeMessage(sc) => {
            let Some(r) = sc.resource() else { return events };
            match (sc.notification_type, r.state) {
                (NotificationType::StatusChange, InteractionState::Invited) => {
                    events.push(AwaitEvent::Invited)
                }
                (NotificationType::ParticipantsUpdated, InteractionState::LeftChat) => {
                    *removing = true
                }
                (
                    NotificationType::StatusChange,
                    InteractionState::Completed | InteractionState::Revoked,
                ) => {
                    if *removing {
                        events.push(AwaitEvent::Removed);
                    }
                    events.push(AwaitEvent::Completed);
                }
                _ => {}
            }
        }
        Notification::MessageLogUpdated(ml) => {
            for e in &ml.messages {
                let mine = e.from.nickname == me && e.from.kind == ParticipantType::Agent;
                if mine && e.kind == EntryType::ParticipantJoined {
                    // The history an agent gets on Accept ends with its own join: what happened
                    // before it is the past, not events to react to.
                    events.clear();
                    continue;
                }
                match (e.kind, e.from.kind) {
                    (EntryType::ParticipantJoined, ParticipantType::Agent) if !mine => {
                        events.push(AwaitEvent::ParticipantJoined);
                        if e.from.visibility == Some(Visibility::Agents) {
                            events.push(AwaitEvent::ConsultantJoined);
                        }
                    }
                    (EntryType::ParticipantLeft, ParticipantType::Customer) => {
                        events.push(AwaitEvent::ParticipantLeft);
                        events.push(AwaitEvent::CustomerLeft);
                    }
                    (EntryType::ParticipantLeft, ParticipantType::Agent) if !mine => {
                        events.push(AwaitEvent::ParticipantLeft);
                    }
                    (EntryType::Text, ParticipantType::Customer) => {
                        events.push(AwaitEvent::CustomerMessage)
                    }
                    (EntryType::Text, ParticipantType::Agent) if !mine => {
                        events.push(AwaitEvent::AgentMessage)
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
    events
}

/// Whether `n` is the notification that settles `op` for the agent that sent it (its own
/// notifications only; a removal settles at the removed agent, see [`Key::Removal`]).
pub(crate) fn settle_matches(op: Capability, n: &Notification, me: &str) -> bool {
    use Capability as C;
    match n {
        Notification::ChatStateChangeMessage(sc)
        | Notification::FacebooksessionStateChangeMessage(sc) => {
            let state = sc.resource().map(|r| r.state);
            match op {
                C::Reject | C::Complete | C::Transfer => {
                    sc.notification_type == NotificationType::StatusChange
                        && state == Some(InteractionState::Completed)
                }
                C::Leave => {
                    sc.notification_type == NotificationType::StatusChange
                        && matches!(
                            state,
                            Some(InteractionState::LeftChat | InteractionState::Completed)
                        )
                }
                C::SetDisposition
                | C::AttachUserData
                | C::UpdateUserData
                | C::DeleteUserData
                | C::AddComment => sc.notification_type == NotificationType::PropertiesUpdated,
                _ => false,
            }
        }
        Notification::MessageLogUpdated(ml) => ml.messages.iter().any(|e| {
            let mine = e.from.nickname == me && e.from.kind == ParticipantType::Agent;
            match op {
                C::Accept => mine && e.kind == EntryType::ParticipantJoined,
                C::Consult | C::Invite => {
                    !mine
                        && e.kind == EntryType::ParticipantJoined
                        && e.from.kind == ParticipantType::Agent
                }
                C::SendMessage | C::SendToAgents => mine && e.kind == EntryType::Text,
                C::SendUrl => mine && e.kind == EntryType::PushUrl,
                C::SendStartTypingNotification | C::SendStartTypingToAgentsNotification => {
                    mine && e.kind == EntryType::TypingStarted
                }
                C::SendStopTypingNotification | C::SendStopTypingToAgentsNotification => {
                    mine && e.kind == EntryType::TypingStopped
                }
                C::SendCustomNotice | C::SendCustomNoticeToAgents => {
                    mine && e.kind == EntryType::CustomNotice
                }
                _ => false,
            }
        }),
        _ => false,
    }
}

/// Whether an operation settles by a notification at all.
fn settles(op: Capability) -> bool {
    !matches!(
        op,
        Capability::SetInFocus
            | Capability::CancelConsult
            | Capability::RemoveParticipantFromConference
    )
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
        C::Complete => {
            O::Complete { queue_name: None, text: text_opt(), message_type: None, treat_as: None }
        }
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

/// An operation waiting for its settling notification.
#[derive(Debug, Clone, Copy)]
struct PendingSettle {
    op: Capability,
    started: Started,
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
    pub(crate) rx: mpsc::UnboundedReceiver<Arc<Notification>>,
    pub(crate) rec: Sink,
    pub(crate) rng: SmallRng,
    pub(crate) token: CancellationToken,
    /// Await events seen and not yet consumed, oldest first (bounded).
    events: VecDeque<AwaitEvent>,
    settles: Vec<PendingSettle>,
    removing: bool,
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
        rx: mpsc::UnboundedReceiver<Arc<Notification>>,
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
            settles: Vec::new(),
            removing: false,
            state: InteractionState::Invited,
            consultant: None,
            nickname,
        }
    }

    fn handle(&mut self, n: &Notification) {
        let now = Instant::now();
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
        for e in classify(n, &self.nickname, &mut self.removing) {
            if self.events.len() >= 64 {
                self.events.pop_front();
            }
            self.events.push_back(e);
        }
        // Settles of our own operations, oldest first, one notification each.
        if let Some(pos) = self.settles.iter().position(|s| settle_matches(s.op, n, &self.nickname))
        {
            let s = self.settles.remove(pos);
            self.rec.latency(
                OpName::Flow(s.op),
                OpMetric::Settle,
                s.started.intended,
                s.started.sent,
                now,
                s.started.measured,
            );
        }
        // A removal of us settles here, measured from the remover's intended start.
        if self.removing && self.state == InteractionState::Completed {
            let key = Key::Removal(self.ixn.clone(), self.agent.user_id.clone());
            if let Some(s) = self.agent.ctx.correlator.finish(&key) {
                let op = OpName::Flow(Capability::RemoveParticipantFromConference);
                self.rec.latency(op, OpMetric::Settle, s.intended, s.sent, now, s.measured);
            }
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
                        now.duration_since(s.sent),
                        s.measured,
                    );
                }
            }
        }
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
                    Some(n) => self.handle(&n),
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
                    Some(n) => self.handle(&n),
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
                Some((format!("{}/api/v2/queues/{q}", ctx.settings.base_url), None))
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
                    self.rec.op_error(OpName::Flow(op), &format!("no-target:{t}"), measured);
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
        self.agent.checker(|c| c.operation_started(now_ms, &self.ixn, op, party.clone()));
        let sent = Instant::now();
        let started = Started { intended, sent, measured };
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
        if settles(op) {
            self.settles.push(PendingSettle { op, started });
        }
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
                    Some(n) => self.handle(&n),
                    None => return Err(Stop::Cancelled),
                },
            }
        };
        let done = Instant::now();
        // A refusal is a response too: its latency counts like a success's.
        self.rec.latency(OpName::Flow(op), OpMetric::Response, intended, sent, done, measured);
        match result {
            Ok(_) => {
                self.rec.op_ok(OpName::Flow(op), measured);
                Ok(true)
            }
            Err(e) => {
                self.rec.op_error(OpName::Flow(op), &error_kind(&e), measured);
                self.settles.retain(|s| s.op != op || s.started.sent != sent);
                self.agent.checker(|c| c.operation_failed(&self.ixn, op));
                Ok(false)
            }
        }
    }

    /// Runs `steps`; on a failure, tidies up so the agent's capacity is not held forever.
    pub(crate) async fn run(mut self, steps: &[Step]) {
        let outcome = self.steps(steps).await;
        if outcome.is_ok() || outcome == Err(Stop::Ended) {
            self.linger().await;
        } else if outcome != Err(Stop::Cancelled) {
            self.tidy_up().await;
        }
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
                        let measured = self.agent.ctx.measured(intended);
                        self.rec.op_error(
                            OpName::Flow(last_op),
                            &format!("await-timeout:{event}"),
                            measured,
                        );
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

    /// After the last step: keep listening until pending settles arrive (bounded).
    async fn linger(&mut self) {
        let deadline = Instant::now() + SETTLE_GRACE;
        while !self.settles.is_empty() || (!self.ended() && self.removing) {
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

/// A short, stable error kind for metrics.
pub(crate) fn error_kind(e: &GwsError) -> String {
    e.kind().to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::gws::{LogEntry, MessageLog, Participant, StateChange};

    fn entry(kind: EntryType, nick: &str, who: ParticipantType, vis: Visibility) -> LogEntry {
        LogEntry {
            index: 1,
            kind,
            from: Participant {
                participant_id: "p".into(),
                id: None,
                kind: who,
                nickname: nick.into(),
                visibility: Some(vis),
                uri: None,
                path: None,
            },
            text: Some("t".into()),
            url: None,
            notice_text: None,
            message_type: None,
            visibility: Some(vis),
            timestamp: String::new(),
            timestamp_seconds: 0,
        }
    }

    fn ml(entries: Vec<LogEntry>) -> Notification {
        Notification::MessageLogUpdated(MessageLog {
            notification_type: NotificationType::NewMessages,
            messages: entries,
            chat_uri: None,
            chat_path: Some("/chats/x".into()),
            facebooksession_uri: None,
            facebooksession_path: None,
        })
    }

    fn sc(kind: NotificationType, state: InteractionState) -> Notification {
        let raw = json!({"notificationType": kind, "chat": {"id": "x", "uri": "u", "state": state, "capabilities": []}});
        let sc: StateChange = serde_json::from_value(raw).expect("valid");
        Notification::ChatStateChangeMessage(sc)
    }

    #[test]
    fn consultant_join_and_messages_are_classified() {
        let mut removing = false;
        let n = ml(vec![entry(
            EntryType::ParticipantJoined,
            "Bob",
            ParticipantType::Agent,
            Visibility::Agents,
        )]);
        assert_eq!(
            classify(&n, "Ann", &mut removing),
            [AwaitEvent::ParticipantJoined, AwaitEvent::ConsultantJoined]
        );
        assert!(classify(&n, "Bob", &mut removing).is_empty(), "one's own join is not an event");
        let n = ml(vec![entry(EntryType::Text, "Bob", ParticipantType::Agent, Visibility::Agents)]);
        assert_eq!(classify(&n, "Ann", &mut removing), [AwaitEvent::AgentMessage]);
        let n = ml(vec![entry(
            EntryType::ParticipantLeft,
            "Chris",
            ParticipantType::Customer,
            Visibility::All,
        )]);
        assert_eq!(
            classify(&n, "Ann", &mut removing),
            [AwaitEvent::ParticipantLeft, AwaitEvent::CustomerLeft]
        );
    }

    #[test]
    fn removal_is_participants_updated_left_chat_then_completed() {
        let mut removing = false;
        assert_eq!(
            classify(
                &sc(NotificationType::StatusChange, InteractionState::Completed),
                "Bob",
                &mut removing
            ),
            [AwaitEvent::Completed]
        );
        assert!(
            classify(
                &sc(NotificationType::ParticipantsUpdated, InteractionState::LeftChat),
                "Bob",
                &mut removing
            )
            .is_empty()
        );
        assert!(removing);
        assert_eq!(
            classify(
                &sc(NotificationType::StatusChange, InteractionState::Completed),
                "Bob",
                &mut removing
            ),
            [AwaitEvent::Removed, AwaitEvent::Completed]
        );
    }

    #[test]
    fn settles_match_the_documented_final_notification() {
        let joined = ml(vec![entry(
            EntryType::ParticipantJoined,
            "Ann",
            ParticipantType::Agent,
            Visibility::All,
        )]);
        assert!(settle_matches(Capability::Accept, &joined, "Ann"));
        assert!(!settle_matches(Capability::Accept, &joined, "Bob"));
        let consultant = ml(vec![entry(
            EntryType::ParticipantJoined,
            "Bob",
            ParticipantType::Agent,
            Visibility::Agents,
        )]);
        assert!(settle_matches(Capability::Consult, &consultant, "Ann"));
        let left = sc(NotificationType::StatusChange, InteractionState::LeftChat);
        assert!(settle_matches(Capability::Leave, &left, "Ann"));
        assert!(!settle_matches(Capability::Complete, &left, "Ann"));
        let props = sc(NotificationType::PropertiesUpdated, InteractionState::Chatting);
        assert!(settle_matches(Capability::SetDisposition, &props, "Ann"));
        assert!(!settles(Capability::SetInFocus));
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
