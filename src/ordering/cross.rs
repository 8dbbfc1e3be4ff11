//! The cross-participant checker: the simulator plays every side of a chat, so it can check what
//! must cross from one participant to another, which no single participant's checker can see.
//! Pure: the engine tells it what each side did and received, with `now_ms` from the run's clock,
//! and [`CrossChecker::poll`] returns what is overdue.
//!
//! What it checks, each with the timeout given to [`CrossChecker::new`]:
//! - a message (a customer's, an agent's SendMessage, a SendToAgents text; recognised by the tag
//!   the engine puts in every text it sends) reaches every agent that was in the chat when it was
//!   sent, and the customer when it is visible to all: [`ViolationKind::NotDelivered`];
//! - an Agents-only message (SendToAgents, anything a consultant sends) and a consultant's own
//!   entries never reach the customer: [`CrossChecker::hidden_from_customer`] tells the
//!   customer's checker, which reports each leaked entry;
//! - a consult or conference target gets its `Invited`: [`ViolationKind::NotInvited`];
//! - an agent invited to a chat whose customer then left gets its `Revoked` (or `Completed`):
//!   [`ViolationKind::NotRevoked`];
//! - a customer's chat is offered to some agent, when routing certainly had room for it (see
//!   [`CrossChecker::expect_offers`]): [`ViolationKind::NeverOffered`].
//!
//! Races: a participant is owed something only when the order of the two requests on the server
//! is certain from the simulator's side. An agent is owed a message when its Accept was answered
//! before the message was sent and it had started no Leave, Complete, Transfer or Reject (and no
//! one had started removing it) before the send was answered; an invited agent is owed its
//! Revoked when it had started nothing on the chat before the customer's leave was answered.
//!
//! Ids: a chat is keyed by the agent-side interaction id (every agent of one chat shares it); the
//! customer links its number (the `gwsimCustomer` user data key) to its own chat id, and an
//! agent's invitation links that number to the interaction id. Violations name the agent and its
//! interaction id, or the customer and its chat id, as the fault ledger does.
//!
//! Memory: messages leave when every owed recipient has them or their violation is reported;
//! chats and unanswered sends expire after `horizon_ms` without news.

use std::collections::{HashMap as StdHashMap, HashSet as StdHashSet};

use super::{Violation, ViolationKind};
use crate::gws::Capability;
use crate::gws::model::{EntryType, LogEntry, ParticipantType};

/// The checker's maps are looked up several times for every notification and customer poll:
/// foldhash, seeded per process (their keys are the server's ids), instead of SipHash.
type HashMap<K, V> = StdHashMap<K, V, foldhash::fast::RandomState>;
type HashSet<K> = StdHashSet<K, foldhash::fast::RandomState>;

/// How long a chat, a link or an unanswered send is kept without news.
const HORIZON_MS: u64 = 120_000;
/// Owed items per chat and messages in flight are bounded so a server that loses everything
/// cannot grow the simulator's memory without end.
const MAX_MESSAGES: usize = 100_000;
const MAX_CHATS: usize = 100_000;
const MAX_HIDDEN_TAGS: usize = 1_024;
const MAX_OPEN: usize = 10_000;

/// Who sent a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    /// A customer, by its number.
    Customer(u64),
    /// An agent, by username, on its interaction.
    Agent { username: String, interaction: String },
}

/// An agent's operation, as the cross checker needs it: `target` is the other agent it names (a
/// username), `tag` the tag of the text it sends.
#[derive(Debug, Clone, Copy)]
pub struct OpCall<'a> {
    pub username: &'a str,
    pub interaction: &'a str,
    pub op: Capability,
    pub target: Option<&'a str>,
    pub tag: Option<&'a str>,
}

/// What a recipient is owed, and since when.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Recipient {
    Agent(String),
    Customer,
}

#[derive(Debug, Default)]
struct AgentIn {
    /// When the agent's invitation arrived.
    invited_ms: Option<u64>,
    /// When its Accept was answered.
    joined_ms: Option<u64>,
    /// When it (or someone removing it) first started ending its part; or its terminal state.
    exit_ms: Option<u64>,
    /// When it first started any operation on the chat.
    answered_ms: Option<u64>,
    /// Invited as a consultant (visibility Agents).
    consultant: bool,
    /// Owed an `Invited` (consult or conference target) since this deadline.
    invite_due: Option<u64>,
    /// Owed a terminal state (its customer left) by this deadline.
    revoke_due: Option<u64>,
}

#[derive(Debug, Default)]
struct Chat {
    customer: Option<u64>,
    agents: HashMap<String, AgentIn>,
    /// Nicknames the customer must never hear from (consultants).
    hidden: Vec<String>,
    /// Tags of the texts sent to agents only, kept while the chat is (its recipients may have
    /// them long before the customer's poll would show a leak).
    hidden_tags: Vec<String>,
    touched_ms: u64,
}

#[derive(Debug)]
struct Message {
    interaction: String,
    from: Sender,
    agents_only: bool,
    sent_ms: u64,
    /// Filled when the send is answered; until then, what arrived is only noted.
    deadline_ms: Option<u64>,
    owed: Vec<Recipient>,
    received: Vec<Recipient>,
}

#[derive(Debug)]
struct Customer {
    name: String,
    chat: String,
    interaction: Option<String>,
    /// When its request was answered: its chat waits for routing from then.
    started_ms: u64,
    /// Customers whose chat may have been in the routing queue before its own (an upper bound
    /// of the offers ahead of it).
    ahead: u64,
    /// Some agent received an invitation to its chat.
    offered: bool,
    /// When it stopped waiting (began to leave, or the run ended).
    stopped_ms: Option<u64>,
    /// Its polls ended: nothing more can be seen by it.
    gone: bool,
    touched_ms: u64,
}

/// What the checker knows of an agent routing may offer customers' chats to.
#[derive(Debug, Default)]
struct Routable {
    /// Logged in and Ready (set once Ready is answered, cleared when it starts NotReady, logs
    /// out or is gone).
    ready: bool,
    /// It crashed: what it held then is unknown, so it is never idle again.
    vanished: bool,
    /// Interactions it was invited to and has not seen end.
    open: HashSet<String>,
    /// Its last stretch of idleness (ready, nothing open): from, and until (`None`: still).
    idle: Option<(u64, Option<u64>)>,
}

impl Routable {
    fn update(&mut self, now_ms: u64) {
        let idle = self.ready && !self.vanished && self.open.is_empty();
        match (idle, self.idle) {
            (true, None | Some((_, Some(_)))) => self.idle = Some((now_ms, None)),
            (false, Some((from, None))) => self.idle = Some((from, Some(now_ms))),
            _ => {}
        }
    }
}

/// The cross-participant checker of one run.
#[derive(Debug)]
pub struct CrossChecker {
    timeout_ms: u64,
    chats: HashMap<String, Chat>,
    customers: HashMap<u64, Customer>,
    messages: HashMap<String, Message>,
    next_sweep_ms: u64,
    /// The server's invitation timeout, when customers are owed offers
    /// ([`Self::expect_offers`]).
    invite_timeout_ms: Option<u64>,
    routable: HashMap<String, Routable>,
    /// Invitations that named a customer not started yet, by its number: the interaction and
    /// when. The server offers a chat in the batch that answers its request, so the agent task
    /// can read the `Invited` before the customer's task has told [`Self::customer_started`] its
    /// chat id; [`Self::customer_started`] takes the link from here.
    early: HashMap<u64, (String, u64)>,
}

impl CrossChecker {
    pub fn new(timeout_ms: u64) -> Self {
        CrossChecker {
            timeout_ms,
            chats: HashMap::default(),
            customers: HashMap::default(),
            messages: HashMap::default(),
            next_sweep_ms: 0,
            invite_timeout_ms: None,
            routable: HashMap::default(),
            early: HashMap::default(),
        }
    }

    /// Customers are owed offers ([`ViolationKind::NeverOffered`]), routing being the embedded
    /// server's: a waiting chat goes, oldest first, to any agent of its queue that is Ready with
    /// room; an invitation nobody answers is revoked after `invite_timeout_ms` and its chat
    /// queued again behind the others, excluding that agent.
    ///
    /// The rule (docs/faults.md, "never-offered"): customer C, whose request was answered at
    /// `t`, with `q` customers before it still active (so at most `q` offers ahead of it in the
    /// queue), is owed an offer by `a + (1 + ceil(q / j)) * invite_timeout + timeout` if `j`
    /// routable agents were idle (Ready, every invitation they received ended) throughout,
    /// from `a >= t` until then. An idle agent can still hold invitations the simulator never
    /// saw (dropped): those made before `a` lapse within one invitation timeout, and after `a`
    /// each of its slots takes a chat ahead of C, which is queued again behind C if it lapses,
    /// at most one per timeout; so C's turn comes within the bound. The check is judged when the
    /// customer stops waiting (it leaves, or the run ends), so every invitation of its chat
    /// was made before the violation. A customer of a crashed agent's run is not owed this:
    /// the engine only asks for it when no agent can vanish.
    pub fn expect_offers(&mut self, invite_timeout_ms: u64) {
        self.invite_timeout_ms = Some(invite_timeout_ms);
    }

    /// A routable agent's readiness: `true` once its Ready is answered, `false` when it starts
    /// NotReady or its logout.
    pub fn agent_ready(&mut self, now_ms: u64, username: &str, ready: bool) {
        let a = self.routable.entry(username.to_owned()).or_default();
        a.ready = ready;
        a.update(now_ms);
    }

    /// Whether customer `c` was owed an offer by `stop_ms` (see [`Self::expect_offers`]).
    fn owed_offer(&self, c: &Customer, stop_ms: u64) -> bool {
        let Some(invite) = self.invite_timeout_ms else { return false };
        if c.offered {
            return false;
        }
        let due = |from: u64, j: u64| {
            from.max(c.started_ms) + (1 + c.ahead.div_ceil(j)) * invite + self.timeout_ms
        };
        let stretches = || {
            self.routable.values().filter_map(|a| a.idle).map(|(f, u)| (f, u.unwrap_or(u64::MAX)))
        };
        // One agent idle until the offer was due, whenever its stretch ended.
        if stretches().any(|(f, u)| {
            let d = due(f, 1);
            d <= stop_ms && d <= u
        }) {
            return true;
        }
        // Or the first `j` (by when they became idle) of the agents still idle when the customer
        // stopped: all idle from the latest of them on. (Not every subset is tried: the check
        // is linear in the agents, and a miss only makes it more lenient.)
        let mut still: Vec<u64> =
            stretches().filter(|&(_, u)| u >= stop_ms).map(|(f, _)| f).collect();
        still.sort_unstable();
        still.iter().enumerate().any(|(i, &f)| due(f, i as u64 + 1) <= stop_ms)
    }

    fn chat(&mut self, now_ms: u64, interaction: &str) -> Option<&mut Chat> {
        if !self.chats.contains_key(interaction) && self.chats.len() >= MAX_CHATS {
            return None;
        }
        let c = self.chats.entry(interaction.to_owned()).or_default();
        c.touched_ms = now_ms;
        Some(c)
    }

    fn agent(&mut self, now_ms: u64, interaction: &str, username: &str) -> Option<&mut AgentIn> {
        let c = self.chat(now_ms, interaction)?;
        Some(c.agents.entry(username.to_owned()).or_default())
    }

    /// A customer's chat request was answered (customer number `n`, its chat or session id).
    pub fn customer_started(&mut self, now_ms: u64, n: u64, name: &str, chat: &str) {
        let ahead = self.customers.values().filter(|c| !c.gone).count() as u64;
        let interaction = self.early.remove(&n).map(|(ixn, _)| ixn);
        self.customers.insert(
            n,
            Customer {
                name: name.to_owned(),
                chat: chat.to_owned(),
                offered: interaction.is_some(),
                interaction,
                started_ms: now_ms,
                ahead,
                stopped_ms: None,
                gone: false,
                touched_ms: now_ms,
            },
        );
    }

    /// The customer stops waiting for an agent: it is about to leave (or the run ended).
    pub fn customer_stopping(&mut self, now_ms: u64, n: u64) {
        if let Some(c) = self.customers.get_mut(&n) {
            c.stopped_ms.get_or_insert(now_ms);
        }
    }

    /// The customer left (its leave was answered): while no agent is in the chat, every agent
    /// invited and not yet answering is owed its Revoked. With an agent in the chat (a customer
    /// leaving in the middle of a consult) the chat goes on (§15.15) and so may an invitation.
    pub fn customer_left(&mut self, now_ms: u64, n: u64) {
        let due = now_ms + self.timeout_ms;
        let Some(c) = self.customers.get(&n) else { return };
        let Some(ixn) = c.interaction.clone() else { return };
        if let Some(chat) = self.chats.get_mut(&ixn) {
            if chat.agents.values().any(|a| a.joined_ms.is_some() && a.exit_ms.is_none()) {
                return;
            }
            for a in chat.agents.values_mut() {
                if a.invited_ms.is_some() && a.answered_ms.is_none() && a.exit_ms.is_none() {
                    a.revoke_due = Some(due);
                }
            }
        }
    }

    /// Whether customer `n`'s chat is in a consult: a consultant invited (or owed its
    /// invitation) or joined, and not gone. Gives the agent-side interaction and whether the
    /// consultant has joined.
    pub fn consult_of(&self, n: u64) -> Option<(&str, bool)> {
        let ixn = self.customers.get(&n)?.interaction.as_deref()?;
        let chat = self.chats.get(ixn)?;
        let consult = || chat.agents.values().filter(|a| a.consultant && a.exit_ms.is_none());
        let joined = consult().any(|a| a.joined_ms.is_some());
        let invited = consult().any(|a| a.invited_ms.is_some() || a.invite_due.is_some());
        (joined || invited).then_some((ixn, joined))
    }

    /// The customer's polls ended: what it is still owed can no longer be seen (the run ended,
    /// or the chat did: a message sent before the agents left precedes their leave in the log).
    /// Returns its `never-offered`, if it was owed an offer by the time it stopped waiting.
    pub fn customer_ended(&mut self, now_ms: u64, n: u64) -> Option<Violation> {
        let c = self.customers.get(&n)?;
        let owed = !c.gone && self.owed_offer(c, c.stopped_ms.unwrap_or(now_ms));
        let v = owed.then(|| self.never_offered(c, now_ms));
        if let Some(c) = self.customers.get_mut(&n) {
            c.gone = true;
            c.touched_ms = now_ms;
        }
        v
    }

    fn never_offered(&self, c: &Customer, now_ms: u64) -> Violation {
        let invite = self.invite_timeout_ms.unwrap_or(0);
        violation(
            ViolationKind::NeverOffered,
            c.name.clone(),
            c.chat.clone(),
            format!(
                "an agent offered the chat while routable agents were idle (invitation timeout \
                 {invite} ms, {} customer(s) ahead, {} ms for the notification)",
                c.ahead, self.timeout_ms
            ),
            "no agent was invited".to_owned(),
            now_ms,
        )
    }

    /// An agent received its `Invited` for `interaction`, whose user data names customer `n`.
    pub fn agent_invited(
        &mut self,
        now_ms: u64,
        username: &str,
        interaction: &str,
        n: Option<u64>,
    ) {
        if let Some(n) = n {
            match self.customers.get_mut(&n) {
                Some(c) => {
                    c.interaction = Some(interaction.to_owned());
                    c.offered = true;
                    c.touched_ms = now_ms;
                }
                None if self.early.len() < MAX_CHATS => {
                    self.early.insert(n, (interaction.to_owned(), now_ms));
                }
                None => {}
            }
        }
        // Kept for every agent (one entry each), so an invitation that overtakes the answer to
        // its Ready is not forgotten.
        let r = self.routable.entry(username.to_owned()).or_default();
        if r.open.len() < MAX_OPEN {
            r.open.insert(interaction.to_owned());
        } else {
            r.vanished = true;
        }
        r.update(now_ms);
        let Some(chat) = self.chat(now_ms, interaction) else { return };
        if chat.customer.is_none() {
            chat.customer = n;
        }
        let a = chat.agents.entry(username.to_owned()).or_default();
        // A new invitation (a transfer back, a second consult) starts the agent's part afresh.
        let consultant = a.consultant;
        *a = AgentIn { invited_ms: Some(now_ms), consultant, ..AgentIn::default() };
    }

    /// An agent's part in `interaction` ended (Completed or Revoked arrived).
    pub fn agent_ended(&mut self, now_ms: u64, username: &str, interaction: &str) {
        if let Some(r) = self.routable.get_mut(username) {
            r.open.remove(interaction);
            r.update(now_ms);
        }
        if let Some(a) = self.agents_mut(interaction, username) {
            a.exit_ms.get_or_insert(now_ms);
            a.revoke_due = None;
            a.invite_due = None;
        }
    }

    /// The agent's stream is gone (it crashed, as a chaos rule made it): what was on its way to
    /// it will never be read, so it is owed nothing more in any chat it was in. A re-attached
    /// agent takes its chats up from `GET /api/v2/me`, not from the stream it lost.
    pub fn agent_gone(&mut self, now_ms: u64, username: &str) {
        // Never idle again: what it held when it went is unknown.
        if let Some(r) = self.routable.get_mut(username) {
            r.vanished = true;
            r.update(now_ms);
        }
        for chat in self.chats.values_mut() {
            if let Some(a) = chat.agents.get_mut(username) {
                a.exit_ms.get_or_insert(now_ms);
                a.revoke_due = None;
                a.invite_due = None;
            }
        }
        let gone = Recipient::Agent(username.to_owned());
        for m in self.messages.values_mut() {
            m.owed.retain(|r| *r != gone);
        }
        self.messages.retain(|_, m| m.deadline_ms.is_none() || !m.owed.is_empty());
    }

    fn agents_mut(&mut self, interaction: &str, username: &str) -> Option<&mut AgentIn> {
        self.chats.get_mut(interaction)?.agents.get_mut(username)
    }

    /// An agent started an operation.
    pub fn op_started(&mut self, now_ms: u64, call: &OpCall<'_>) {
        let OpCall { username, interaction, op, target, tag } = *call;
        use Capability as C;
        let Some(a) = self.agent(now_ms, interaction, username) else { return };
        a.answered_ms.get_or_insert(now_ms);
        let consultant = a.consultant;
        match op {
            C::Leave | C::Complete | C::Transfer | C::Reject => {
                a.exit_ms.get_or_insert(now_ms);
            }
            C::RemoveParticipantFromConference => {
                if let Some(t) = target
                    && let Some(t) = self.agent(now_ms, interaction, t)
                {
                    t.exit_ms.get_or_insert(now_ms);
                }
            }
            C::Consult | C::Invite => {
                if let Some(t) = target
                    && let Some(chat) = self.chat(now_ms, interaction)
                {
                    let consult = op == C::Consult;
                    if consult && !chat.hidden.iter().any(|h| h == t) {
                        chat.hidden.push(t.to_owned());
                    } else if !consult {
                        chat.hidden.retain(|h| h != t);
                    }
                    chat.agents.entry(t.to_owned()).or_default().consultant = consult;
                }
            }
            C::SendMessage | C::SendToAgents => {
                if let Some(tag) = tag {
                    let agents_only = op == C::SendToAgents || consultant;
                    let from = Sender::Agent {
                        username: username.to_owned(),
                        interaction: interaction.to_owned(),
                    };
                    self.message_sending(now_ms, tag, interaction, from, agents_only);
                }
            }
            _ => {}
        }
    }

    /// The answer to an operation [`Self::op_started`] announced.
    pub fn op_done(&mut self, now_ms: u64, call: &OpCall<'_>, ok: bool) {
        let OpCall { username, interaction, op, target, tag } = *call;
        use Capability as C;
        match op {
            C::Accept if ok => {
                if let Some(a) = self.agent(now_ms, interaction, username) {
                    a.joined_ms.get_or_insert(now_ms);
                }
            }
            C::Consult | C::Invite if ok => {
                let due = now_ms + self.timeout_ms;
                if let Some(t) = target
                    && let Some(a) = self.agent(now_ms, interaction, t)
                {
                    // The invitation may have overtaken this answer.
                    if a.invited_ms.is_none() || a.exit_ms.is_some() {
                        a.invite_due = Some(due);
                    }
                }
            }
            C::SendMessage | C::SendToAgents => {
                if let Some(tag) = tag {
                    self.message_sent(now_ms, tag, ok);
                }
            }
            _ => {}
        }
    }

    /// A customer is sending a tagged message.
    pub fn customer_sending(&mut self, now_ms: u64, n: u64, tag: &str) {
        let Some(ixn) = self.customers.get(&n).and_then(|c| c.interaction.clone()) else { return };
        self.message_sending(now_ms, tag, &ixn, Sender::Customer(n), false);
    }

    fn message_sending(
        &mut self,
        now_ms: u64,
        tag: &str,
        interaction: &str,
        from: Sender,
        agents_only: bool,
    ) {
        if agents_only
            && let Some(chat) = self.chat(now_ms, interaction)
            && chat.hidden_tags.len() < MAX_HIDDEN_TAGS
        {
            chat.hidden_tags.push(tag.to_owned());
        }
        if self.messages.len() >= MAX_MESSAGES {
            return;
        }
        self.messages.insert(
            tag.to_owned(),
            Message {
                interaction: interaction.to_owned(),
                from,
                agents_only,
                sent_ms: now_ms,
                deadline_ms: None,
                owed: Vec::new(),
                received: Vec::new(),
            },
        );
    }

    /// The answer to a tagged send (an agent's or a customer's): who is owed it is decided now.
    pub fn message_sent(&mut self, now_ms: u64, tag: &str, ok: bool) {
        if !ok {
            self.messages.remove(tag);
            return;
        }
        let Some(m) = self.messages.get_mut(tag) else { return };
        let Some(chat) = self.chats.get(&m.interaction) else {
            self.messages.remove(tag);
            return;
        };
        let sender = match &m.from {
            Sender::Agent { username, .. } => Some(username.as_str()),
            Sender::Customer(_) => None,
        };
        let mut owed: Vec<Recipient> = chat
            .agents
            .iter()
            .filter(|(name, a)| {
                Some(name.as_str()) != sender
                    && a.joined_ms.is_some_and(|j| j <= m.sent_ms)
                    && a.exit_ms.is_none()
            })
            .map(|(name, _)| Recipient::Agent(name.clone()))
            .collect();
        let customer_here =
            chat.customer.and_then(|n| self.customers.get(&n)).is_some_and(|c| !c.gone);
        if sender.is_some() && !m.agents_only && customer_here {
            owed.push(Recipient::Customer);
        }
        owed.retain(|r| !m.received.contains(r));
        if owed.is_empty() {
            self.messages.remove(tag);
            return;
        }
        m.owed = owed;
        m.deadline_ms = Some(now_ms + self.timeout_ms);
    }

    /// Log entries an agent received (a MessageLogUpdated, history batches included).
    pub fn agent_received(&mut self, username: &str, entries: &[LogEntry]) {
        for e in entries.iter().filter(|e| e.kind == EntryType::Text) {
            if let Some(tag) = e.text.as_deref().and_then(tag_of) {
                self.received(tag, Recipient::Agent(username.to_owned()));
            }
        }
    }

    /// Log entries a customer's poll returned.
    pub fn customer_received(&mut self, entries: &[LogEntry]) {
        for e in entries.iter().filter(|e| e.kind == EntryType::Text) {
            if let Some(tag) = e.text.as_deref().and_then(tag_of) {
                self.received(tag, Recipient::Customer);
            }
        }
    }

    fn received(&mut self, tag: &str, who: Recipient) {
        let Some(m) = self.messages.get_mut(tag) else { return };
        if m.deadline_ms.is_none() {
            // Not answered yet: noted, so the answer does not owe it again.
            if !m.received.contains(&who) {
                m.received.push(who);
            }
            return;
        }
        m.owed.retain(|r| *r != who);
        if m.owed.is_empty() {
            self.messages.remove(tag);
        }
    }

    /// Why customer `n` must never see entry `e`, if the simulator knows: a text sent to agents
    /// only, or an entry from a consultant of its chat.
    pub fn hidden_from_customer(&self, n: u64, e: &LogEntry) -> Option<&'static str> {
        let ixn = self.customers.get(&n)?.interaction.as_deref()?;
        let chat = self.chats.get(ixn)?;
        if e.text
            .as_deref()
            .and_then(tag_of)
            .is_some_and(|t| chat.hidden_tags.iter().any(|h| h == t))
        {
            return Some("a text sent to agents only");
        }
        (e.from.kind == ParticipantType::Agent && chat.hidden.iter().any(|h| *h == e.from.nickname))
            .then_some("from a consultant, whom the customer must not see")
    }

    /// Everything overdue at `now_ms`, and a sweep of what has expired.
    pub fn poll(&mut self, now_ms: u64) -> Vec<Violation> {
        self.overdue(now_ms, now_ms)
    }

    /// What is due by `due_ms`, reported at `now_ms`.
    fn overdue(&mut self, due_ms: u64, now_ms: u64) -> Vec<Violation> {
        let mut out = Vec::new();
        let timeout = self.timeout_ms;
        let mut done = Vec::new();
        for (tag, m) in &mut self.messages {
            let Some(deadline) = m.deadline_ms else {
                if now_ms.saturating_sub(m.sent_ms) > HORIZON_MS {
                    done.push(tag.clone());
                }
                continue;
            };
            if due_ms < deadline {
                continue;
            }
            for r in &m.owed {
                let v = match r {
                    Recipient::Agent(name) => Some((name.clone(), m.interaction.clone())),
                    Recipient::Customer => self
                        .chats
                        .get(&m.interaction)
                        .and_then(|c| c.customer)
                        .and_then(|n| self.customers.get(&n))
                        .filter(|c| !c.gone)
                        .map(|c| (c.name.clone(), c.chat.clone())),
                };
                if let Some((who, ixn)) = v {
                    let from = match &m.from {
                        Sender::Customer(_) => "the customer".to_owned(),
                        Sender::Agent { username, .. } => username.clone(),
                    };
                    out.push(violation(
                        ViolationKind::NotDelivered,
                        who,
                        ixn,
                        format!("{from}'s text [#{tag}] within {timeout} ms of its answer"),
                        "nothing".to_owned(),
                        now_ms,
                    ));
                }
            }
            done.push(tag.clone());
        }
        for tag in done {
            self.messages.remove(&tag);
        }
        for (ixn, chat) in &mut self.chats {
            for (name, a) in &mut chat.agents {
                if a.invite_due.is_some_and(|d| due_ms >= d) {
                    a.invite_due = None;
                    out.push(violation(
                        ViolationKind::NotInvited,
                        name.clone(),
                        ixn.clone(),
                        format!("StatusChange(Invited) within {timeout} ms of the invitation"),
                        "nothing".to_owned(),
                        now_ms,
                    ));
                }
                if a.revoke_due.is_some_and(|d| due_ms >= d) {
                    a.revoke_due = None;
                    out.push(violation(
                        ViolationKind::NotRevoked,
                        name.clone(),
                        ixn.clone(),
                        format!(
                            "StatusChange(Revoked) within {timeout} ms of the customer leaving"
                        ),
                        "nothing".to_owned(),
                        now_ms,
                    ));
                }
            }
        }
        if now_ms >= self.next_sweep_ms {
            self.next_sweep_ms = now_ms + 1_000;
            let stale = |t: u64| now_ms.saturating_sub(t) > HORIZON_MS;
            self.chats.retain(|_, c| !stale(c.touched_ms));
            self.customers.retain(|_, c| !(c.gone && stale(c.touched_ms)));
            self.early.retain(|_, (_, t)| !stale(*t));
        }
        out
    }

    /// At the end of the run, once every participant has stopped: what was owed since at least
    /// `grace_ms` ago is reported (nothing more will arrive); what is younger may still have
    /// been on the wire, and is forgotten.
    pub fn finish(&mut self, now_ms: u64, grace_ms: u64) -> Vec<Violation> {
        let due = now_ms + self.timeout_ms.saturating_sub(grace_ms);
        let mut out = self.overdue(due, now_ms);
        for c in self.customers.values().filter(|c| !c.gone) {
            if self.owed_offer(c, c.stopped_ms.unwrap_or(now_ms)) {
                out.push(self.never_offered(c, now_ms));
            }
        }
        self.messages.clear();
        self.chats.clear();
        self.customers.clear();
        self.early.clear();
        out
    }

    #[cfg(test)]
    fn tracked(&self) -> (usize, usize, usize) {
        (self.messages.len(), self.chats.len(), self.customers.len())
    }
}

fn violation(
    kind: ViolationKind,
    agent: String,
    interaction: String,
    expected: String,
    got: String,
    at_ms: u64,
) -> Violation {
    Violation { kind, agent, interaction, expected, got, context: Vec::new(), at_ms }
}

/// The tag the engine appends to every text it sends (`... [#1f]`), without the brackets.
pub fn tag_of(text: &str) -> Option<&str> {
    let open = text.rfind(" [#")?;
    text.strip_suffix(']').map(|t| &t[open + 3..])
}

#[cfg(test)]
mod tests;
