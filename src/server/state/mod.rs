//! The contact-center state machine of the reference server: users, agent sessions, interactions,
//! message logs, visibility and routing. Pure and synchronous: no sockets, no clocks, no tokio.
//!
//! Every entry point takes the current time (`now_ms`, epoch milliseconds) from the caller and
//! appends the notifications it causes to an outbox of [`Delivery`] values, in the order each
//! recipient must receive them (protocol.md §6 and §15). The HTTP shell applies an operation and
//! publishes its outbox while holding one lock, so per-recipient order is the state's order.
//!
//! Layout: this file holds the data model and the small shared helpers; `view` renders
//! resources and log entries as each recipient may see them. The agent API is `session`
//! (contact-center session, readiness, `GET /api/v2/me`), `operations` (the dispatch of
//! interaction operations), `conference` (transfer, consult, invite, remove) and `leave`;
//! `customer` is the customer chat API and the Facebook injector, `routing` offers, invitation
//! timeouts and the choice of agent.

mod conference;
mod customer;
mod directory;
mod leave;
mod operations;
mod routing;
mod session;
mod view;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde_json::{Map, Value};

use crate::gws::model::ShortStr;
use crate::gws::{
    InteractionState, LogEntry, Media, Notification, Participant, Visibility, status,
};

use routing::EndOfInvitation;

pub use customer::CustomerApi;
pub use operations::InteractionRequest;

pub use directory::{
    Directory, DirectoryError, NewUser, QueueIdx, QueueRecord, UserIdx, UserRecord,
};

/// Options of the state machine (protocol.md §15: the *configurable* choices).
#[derive(Debug, Clone)]
pub struct StateConfig {
    /// Scheme, host and port used in resource URIs (`http://127.0.0.1:8090`); empty means
    /// "derive it from the listening address".
    pub base_url: String,
    /// How long an invitation waits for Accept or Reject before it is revoked (§15.7).
    pub invite_timeout_ms: u64,
    /// Whether the remover gets the REMOVE_PARTICIPANT Notice (§15.11).
    pub emit_remove_notice: bool,
    /// Whether `messageType` given by a sender is echoed in log entries.
    pub include_message_type: bool,
    /// How many interactions routing gives one agent at once (directed consults and transfers
    /// are not limited).
    pub agent_capacity: u32,
    /// How long an ended interaction stays readable by its customer before it is forgotten.
    pub retention_ms: u64,
    /// Seed of the generator behind the ids that are not credentials (participant ids), and,
    /// with `predictable_ids`, behind the credential ids too.
    pub seed: u64,
    /// Draw the ids that act as credentials (customer chat ids, Facebook session ids) from the
    /// seeded generator instead of the operating system. UNSAFE: anyone who knows one id can
    /// compute the others and read those customers' transcripts. For reproducible tests only.
    pub predictable_ids: bool,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            base_url: String::new(),
            invite_timeout_ms: 30_000,
            emit_remove_notice: true,
            include_message_type: false,
            agent_capacity: 3,
            retention_ms: 60_000,
            seed: 0x5EED,
            predictable_ids: false,
        }
    }
}

/// Where a notification goes: one user's CometD sessions, on one topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// `/v2/me/chats` or the Facebook topic, by media.
    Interaction(Media),
    /// `/v2/me/channels`.
    Channels,
}

/// One notification for one user.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub user: UserIdx,
    pub topic: Topic,
    pub notification: Notification,
}

/// A refused request: the GWS statusCode and its message. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (statusCode {status_code})")]
pub struct OpError {
    pub status_code: u32,
    pub message: String,
}

impl OpError {
    pub(crate) fn new(status_code: u32, message: impl Into<String>) -> Self {
        OpError { status_code, message: message.into() }
    }
    pub(crate) fn missing(message: impl Into<String>) -> Self {
        Self::new(status::MISSING_PARAMETER, message)
    }
    pub(crate) fn invalid_state(message: impl Into<String>) -> Self {
        Self::new(status::INVALID_STATE, message)
    }
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(status::NOT_FOUND, message)
    }
    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(status::FORBIDDEN, message)
    }
}

/// A successful operation's response fields beyond `statusCode: 0`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpOk {
    pub reference_id: Option<u64>,
    /// Extra fields of the response body (RequestChat's `id` and `path`, GET bodies, ...).
    pub body: Map<String, Value>,
    /// statusCode 7 (partial success) instead of 0, with its message.
    pub partial: Option<String>,
}

/// How an agent came to be offered an interaction; decides its visibility once it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OfferKind {
    Route,
    Consult,
    Invite,
    Transfer,
}

impl OfferKind {
    fn visibility(self) -> Visibility {
        match self {
            OfferKind::Consult => Visibility::Agents,
            _ => Visibility::All,
        }
    }
}

/// An agent's part in an interaction. Parts are removed when they reach a terminal state, so an
/// interaction only holds live parts.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    pub(crate) user: UserIdx,
    pub(crate) pid: ShortStr,
    pub(crate) nickname: ShortStr,
    pub(crate) visibility: Visibility,
    pub(crate) state: InteractionState,
    pub(crate) kind: OfferKind,
    pub(crate) invited_by: Option<UserIdx>,
    /// Key of the invitation's timeout in `Center::deadlines` while Invited.
    pub(crate) deadline: Option<(i64, u64)>,
}

/// An offer waiting for routing to find an agent.
#[derive(Debug, Clone)]
pub(crate) struct Offer {
    pub(crate) seq: u64,
    pub(crate) kind: OfferKind,
    pub(crate) by: Option<UserIdx>,
    pub(crate) queue: QueueIdx,
    pub(crate) exclude: Option<UserIdx>,
}

#[derive(Debug, Clone)]
pub(crate) struct CustomerSide {
    pub(crate) participant: Participant,
    /// Still in the chat (has not completed).
    pub(crate) present: bool,
    /// The customer's chat is over (state Idle).
    pub(crate) ended: bool,
    /// First index not yet returned by a GET of messages without `index`.
    pub(crate) cursor: u64,
    /// The customer API's own id (chat), or the interaction id (Facebook).
    pub(crate) external_id: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Interaction {
    pub(crate) id: String,
    pub(crate) media: Media,
    pub(crate) queue: QueueIdx,
    pub(crate) customer: CustomerSide,
    pub(crate) parts: Vec<Part>,
    pub(crate) offers: Vec<Offer>,
    pub(crate) log: Vec<LogEntry>,
    pub(crate) user_data: Map<String, Value>,
    pub(crate) comment: Option<String>,
    pub(crate) received_date: String,
    /// Set when nothing can happen any more; the interaction is forgotten after retention.
    pub(crate) closed_at: Option<i64>,
}

impl Interaction {
    pub(crate) fn part(&self, user: UserIdx) -> Option<usize> {
        self.parts.iter().position(|p| p.user == user)
    }

    pub(crate) fn joined(&self) -> impl Iterator<Item = &Part> {
        self.parts.iter().filter(|p| p.state == InteractionState::Chatting)
    }

    fn next_index(&self) -> u64 {
        self.log.last().map_or(1, |e| e.index + 1)
    }
}

/// An agent's contact-center session (StartContactCenterSession .. EndContactCenterSession).
#[derive(Debug, Clone, Default)]
pub(crate) struct AgentRuntime {
    /// Channels of the session and whether each is Ready; `None` when logged out.
    pub(crate) channels: Option<Vec<(Media, bool)>>,
    /// Interactions this agent holds a live part in.
    pub(crate) load: u32,
    /// When routing last offered this agent something (or it became Ready): "longest idle".
    pub(crate) last_offer_ms: i64,
    /// The interactions it holds a live part in (`load` is their number), so reading an
    /// agent's state or logging it out never scans every interaction.
    pub(crate) interactions: Vec<String>,
    /// The `(load, last_offer_ms)` under which it is filed in `Center::available`, if it is.
    pub(crate) indexed: Option<(u32, i64)>,
}

/// Available agents per (queue, media), ordered by (load, last offer, index).
pub(crate) type AvailableIndex = HashMap<(QueueIdx, Media), BTreeSet<(u32, i64, UserIdx)>>;

/// The whole contact center.
#[derive(Debug)]
pub struct Center {
    pub(crate) cfg: StateConfig,
    pub(crate) dir: Directory,
    pub(crate) agents: Vec<AgentRuntime>,
    pub(crate) ixns: HashMap<String, Interaction>,
    /// Customer-API chat id to interaction id.
    pub(crate) customer_ids: HashMap<String, String>,
    /// Interactions with offers waiting for an agent, oldest first (may hold stale entries).
    pub(crate) waiting: VecDeque<(String, u64)>,
    /// Invitation deadlines: (deadline, seq) -> (interaction, user).
    pub(crate) deadlines: BTreeMap<(i64, u64), (String, UserIdx)>,
    /// Agents routing may offer an interaction to, per queue and media, in routing order
    /// (least busy, then longest since the last offer, then index): picking one is O(log n)
    /// however large the queue. Kept in step by `Center::reindex`.
    pub(crate) available: AvailableIndex,
    pub(crate) next_reference: u64,
    pub(crate) next_seq: u64,
    pub(crate) next_ixn: u64,
    pub(crate) rng: u64,
}

impl Center {
    pub fn new(cfg: StateConfig, dir: Directory) -> Center {
        let agents = vec![AgentRuntime::default(); dir.users().len()];
        let rng = cfg.seed;
        Center {
            cfg,
            dir,
            agents,
            ixns: HashMap::new(),
            customer_ids: HashMap::new(),
            waiting: VecDeque::new(),
            deadlines: BTreeMap::new(),
            available: HashMap::new(),
            next_reference: 0,
            next_seq: 0,
            next_ixn: 0,
            rng,
        }
    }

    pub fn config(&self) -> &StateConfig {
        &self.cfg
    }

    pub fn directory(&self) -> &Directory {
        &self.dir
    }

    /// The customer API's id of interaction `ixn_id` (its chat id, or for Facebook the
    /// interaction id), while the interaction is kept.
    pub fn customer_chat_id(&self, ixn_id: &str) -> Option<&str> {
        self.ixns.get(ixn_id).map(|i| i.customer.external_id.as_str())
    }

    /// Number of interactions held (live or within retention).
    pub fn interaction_count(&self) -> usize {
        self.ixns.len()
    }

    /// Number of agents with a contact-center session.
    pub fn logged_in_count(&self) -> usize {
        self.agents.iter().filter(|a| a.channels.is_some()).count()
    }

    /// The earliest moment [`Center::tick`] has work to do, if any.
    pub fn next_deadline(&self) -> Option<i64> {
        self.deadlines.keys().next().map(|(d, _)| *d)
    }

    /// Time passes: revokes unanswered invitations (and routes their interactions again) and
    /// forgets interactions whose retention is over.
    pub fn tick(&mut self, now_ms: i64, out: &mut Vec<Delivery>) {
        while let Some((&(deadline, seq), _)) = self.deadlines.iter().next() {
            if deadline > now_ms {
                break;
            }
            if let Some((ixn, user)) = self.deadlines.remove(&(deadline, seq)) {
                self.revoke_invitation(&ixn, user, EndOfInvitation::TimedOut, now_ms, out);
            }
        }
        let retention = self.cfg.retention_ms as i64;
        let expired: Vec<String> = self
            .ixns
            .values()
            .filter(|i| i.closed_at.is_some_and(|t| now_ms - t >= retention))
            .map(|i| i.id.clone())
            .collect();
        for id in expired {
            if let Some(ixn) = self.ixns.remove(&id) {
                self.customer_ids.remove(&ixn.customer.external_id);
            }
        }
        self.dispatch(now_ms, out);
    }

    fn reference(&mut self) -> u64 {
        self.next_reference += 1;
        self.next_reference
    }

    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// SplitMix64: a tiny seeded generator for ids, so a seed reproduces a run's ids.
    fn random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A 16-character Interaction Server style id (`0000Na9B26EF002X`), counted up. Chat
    /// interaction ids are shown only to authenticated agents who take part (anyone else gets
    /// 404), so they are not credentials and stay sequential, which keeps tests readable.
    fn new_interaction_id(&mut self) -> String {
        self.next_ixn += 1;
        interaction_id_from(self.next_ixn)
    }

    /// A Facebook session id. The simulator-only customer endpoints (`/sim/v1/facebook/{id}`)
    /// take it as the customer's only credential, so it comes from the operating system, unless
    /// the configuration asks for predictable ids.
    fn new_facebook_id(&mut self) -> String {
        loop {
            let n = if self.cfg.predictable_ids {
                u128::from(self.random())
            } else {
                // The low 80 bits of a v4 UUID (74 of them random) fit the 16 base-34 digits.
                u128::from_be_bytes(uuid::Uuid::new_v4().into_bytes()) & ((1 << 80) - 1)
            };
            let id = interaction_id_from_wide(n);
            if !self.ixns.contains_key(&id) {
                return id;
            }
        }
    }

    /// A 16-hex-digit participant id. Participant ids are shown to everyone in the chat but
    /// grant nothing, so they come from the seeded generator.
    fn new_participant_id(&mut self) -> ShortStr {
        compact_str::format_compact!("{:016X}", self.random())
    }

    /// The customer API's chat id (a UUID, §15.19): the customer's only credential, so it comes
    /// from the operating system, unless the configuration asks for predictable ids.
    fn new_customer_chat_id(&mut self) -> String {
        if !self.cfg.predictable_ids {
            let mut id = uuid::Uuid::new_v4().to_string();
            while self.customer_ids.contains_key(&id) {
                id = uuid::Uuid::new_v4().to_string();
            }
            return id;
        }
        let hi = self.random();
        let lo = self.random();
        let hi = (hi & !0xF000) | 0x4000;
        let lo = (lo & !(0xC << 60)) | (0x8 << 60);
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xFFFF,
            hi & 0xFFFF,
            lo >> 48,
            lo & 0xFFFF_FFFF_FFFF
        )
    }

    /// Marks an interaction closed when nothing more can happen in it.
    fn close_if_done(&mut self, ixn_id: &str, now_ms: i64) {
        if let Some(ixn) = self.ixns.get_mut(ixn_id) {
            let idle = ixn.parts.is_empty()
                && ixn.offers.is_empty()
                && (ixn.customer.ended || !ixn.customer.present);
            if idle && ixn.closed_at.is_none() {
                ixn.closed_at = Some(now_ms);
                ixn.customer.ended = true;
            }
        }
    }
}

const ID_DIGITS: &[u8] = b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";

/// `n` in the 16 base-34 digits of an Interaction Server id (the top digits of a u64 are 0).
fn interaction_id_from(n: u64) -> String {
    interaction_id_from_wide(u128::from(n))
}

fn interaction_id_from_wide(mut n: u128) -> String {
    let base = ID_DIGITS.len() as u128;
    let mut s = [b'0'; 16];
    for slot in s.iter_mut().rev() {
        *slot = ID_DIGITS[(n % base) as usize];
        n /= base;
    }
    String::from_utf8_lossy(&s).into_owned()
}

#[cfg(test)]
mod tests;
