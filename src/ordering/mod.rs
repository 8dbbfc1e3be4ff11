//! The notification ordering checker: a pure, synchronous module that every virtual agent and
//! customer feeds with what it receives, and that returns [`Violation`]s.
//!
//! # Use
//! - One [`AgentChecker`] per virtual agent. Call [`AgentChecker::operation_started`] *before*
//!   sending each operation's HTTP request (the response and the notifications race, §6.11, so
//!   nothing here depends on when the response arrives), [`AgentChecker::observe`] for every
//!   CometD data message, [`AgentChecker::poll_timeouts`] now and then, and
//!   [`AgentChecker::finish`] at the end of the run.
//! - [`AgentChecker::observe`] returns an [`Observed`]: the violations, the operations the
//!   notification settles ([`Settled`], with the token the caller gave when the operation
//!   started; which step settles what is marked in [`rules`]), and the await events it stands
//!   for (`events::classify`). So the engine never reads a notification a second time to decide
//!   what it means; it records what the checker found.
//! - One [`CustomerChecker`] per customer, fed the log entries its message polls return.
//!
//! Time is a caller-provided monotonic millisecond value; there is no IO, clock or runtime here.
//!
//! # How matching works
//! The expectations are data ([`rules`]): ordered steps per operation and role, from
//! protocol.md §6 and §15. They are matched as ordered subsequences per interaction, so other
//! chats, typing and messages may come between the steps. A step that arrives after a later step
//! of the same expectation is out-of-order; a required step that has not arrived when the
//! expectation's timeout expires, or when the interaction ends, is missing. Independently of the
//! tables, every notification is checked against per-interaction invariants: nothing after
//! `Completed`/`Revoked` until a new invitation, no identical repeat, strictly increasing log
//! indices, and (strict profile) a first notification that is an invitation and no status change
//! that neither an operation nor an implied expectation explains.
//!
//! # Memory
//! Per agent: the live interactions (dropped when they end), a bounded list of recently ended
//! interaction ids, and a short ring of recent notification renderings for violation context.

mod agent;
pub mod cross;
mod customer;
mod events;
pub mod rules;
mod violation;

#[cfg(test)]
mod tests;

pub use agent::{AgentChecker, DEFAULT_TIMEOUT_MS, Observed, RETAINED_BYTES_BOUND, Settled};
pub use cross::CrossChecker;
pub use customer::CustomerChecker;
pub use events::AwaitEvents;
pub use violation::{Violation, ViolationKind};

use crate::gws::model::{
    EntryType, LogEntry, Notification, NotificationType, Participant, Visibility,
};

/// Which expectations the checker holds a server to (protocol.md §15 "Checker profiles").
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Everything §15 decides, in order: the embedded reference server's exact behaviour.
    /// The default against the embedded server.
    #[default]
    Strict,
    /// Only the \[DOC\]/\[SEED\] cores; \[INF\] steps are optional or not checked.
    /// The default against a remote GWS.
    Documented,
}

impl Profile {
    /// The default profile for a target: strict against the embedded server, documented against
    /// a remote GWS (§15 "Checker profiles").
    pub fn for_target(embedded: bool) -> Self {
        if embedded { Profile::Strict } else { Profile::Documented }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Strict => "strict",
            Profile::Documented => "documented",
        }
    }
}

/// Identifies an agent in `participants` and in log entries' `from`: by nickname, or by the
/// 32-hex user id that appears at the end of an agent participant's `uri`/`path`; or, for a
/// participant the checker saw itself, by its `participantId`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Party {
    pub nickname: Option<String>,
    pub user_id: Option<String>,
    /// When known, it decides alone (a nickname need not be unique in a chat).
    pub participant_id: Option<String>,
}

impl Party {
    pub fn nickname(nickname: impl Into<String>) -> Self {
        Party { nickname: Some(nickname.into()), ..Party::default() }
    }

    /// The participant `p` as seen in a notification: its participant id, and its nickname
    /// for reports (and for a server that sends no participant id).
    pub fn participant(p: &Participant) -> Self {
        let participant_id = Some(p.participant_id.to_string()).filter(|id| !id.is_empty());
        Party { nickname: Some(p.nickname.to_string()), user_id: None, participant_id }
    }

    pub fn with_user_id(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = Some(user_id.into());
        self
    }

    /// Whether `p` is this party.
    pub fn matches(&self, p: &Participant) -> bool {
        if let Some(id) = self.participant_id.as_deref()
            && !p.participant_id.is_empty()
        {
            return p.participant_id == id;
        }
        if self.nickname.as_deref().is_some_and(|n| n == p.nickname) {
            return true;
        }
        let Some(id) = self.user_id.as_deref().filter(|id| !id.is_empty()) else {
            return false;
        };
        [p.uri.as_deref(), p.path.as_deref()]
            .into_iter()
            .flatten()
            .any(|u| u.trim_end().trim_end_matches('/').ends_with(id))
    }
}

/// The interaction a notification is about. Unlike [`Notification::interaction_id`] this also
/// reads `chatUri`/`facebooksessionUri`, because the chat RemoveParticipant seed has no path.
pub(crate) fn interaction_of(n: &Notification) -> Option<&str> {
    let id = n.interaction_id().or_else(|| match n {
        Notification::MessageLogUpdated(ml) => ml
            .chat_uri
            .as_deref()
            .or(ml.facebooksession_uri.as_deref())
            .and_then(|u| u.trim_end().trim_end_matches('/').rsplit('/').next()),
        _ => None,
    })?;
    let id = id.trim();
    (!id.is_empty()).then_some(id)
}

/// A short one-line rendering of a notification for violation reports.
pub fn render(n: &Notification) -> String {
    match n {
        Notification::ChatStateChangeMessage(sc)
        | Notification::FacebooksessionStateChangeMessage(sc) => {
            let kind = format!("{:?}", sc.notification_type);
            match sc.resource() {
                Some(r) => {
                    let people: Vec<String> = r
                        .participants
                        .iter()
                        .map(|p| match p.visibility {
                            Some(crate::gws::model::Visibility::Agents) => {
                                format!("{}(Agents)", p.nickname)
                            }
                            _ => p.nickname.to_string(),
                        })
                        .collect();
                    format!("{kind}({}) [{}]", r.state.as_str(), people.join(", "))
                }
                None => kind,
            }
        }
        Notification::MessageLogUpdated(ml) => {
            const SHOWN: usize = 3;
            let mut parts: Vec<String> = ml.messages.iter().take(SHOWN).map(render_entry).collect();
            if ml.messages.len() > SHOWN {
                parts.push(format!("+{} more", ml.messages.len() - SHOWN));
            }
            format!("MessageLogUpdated[{}]", parts.join("; "))
        }
        Notification::ChannelStateChangeMessageV2(_) => "ChannelStateChangeMessageV2".to_owned(),
        Notification::Unknown => "unknown message".to_owned(),
    }
}

/// A short rendering of one log entry: `#7 ParticipantLeft from Bob (All)`.
pub fn render_entry(e: &LogEntry) -> String {
    render_entry_parts(e.index, e.kind, &e.from.nickname, e.visibility)
}

/// [`render_entry`] from the parts it shows, for a caller that keeps only those.
pub(crate) fn render_entry_parts(
    index: u64,
    kind: EntryType,
    from: &str,
    visibility: Option<Visibility>,
) -> String {
    let vis = visibility.map(|v| format!(" ({v:?})")).unwrap_or_default();
    format!("#{index} {kind:?} from {from}{vis}")
}

/// A hash of the whole value, for recognising an identical repeated delivery: the same as
/// [`raw_fingerprint`] of its serialization. Only callers without the bytes as they arrived pay
/// for serializing (a notification decoded without its bytes, tests).
pub(crate) fn fingerprint<T: serde::Serialize>(value: &T) -> Option<u64> {
    serde_json::to_vec(value).ok().map(|bytes| hash_bytes(&bytes))
}

/// The fingerprint of a notification as it arrived, from its JSON bytes: no re-serialization
/// (which cost about 12K instructions a notification, callgrind). Byte-identical deliveries
/// (what the duplicate fault and a re-sending server produce) match; any difference in content
/// does not. Equal to [`fingerprint`] of a value whose serialization is these bytes.
pub(crate) fn raw_fingerprint(json: &str) -> u64 {
    hash_bytes(json.as_bytes())
}

/// A hash of a value's fields, for recognising an identical repeated delivery among values
/// that were all decoded (the customer checker's log entries): no serialization, which
/// [`fingerprint`] pays for (about 3K instructions a log entry, callgrind).
pub(crate) fn value_fingerprint<T: std::hash::Hash>(value: &T) -> u64 {
    use std::hash::BuildHasher;
    foldhash::quality::FixedState::default().hash_one(value)
}

/// foldhash's quality variant with its fixed seed: a repeat is judged by this 64-bit value
/// alone, so it must mix well (a collision would be a false duplicate), but it need not resist
/// an adversary (it keys no map, only the checker's bounded windows of recent fingerprints).
/// SipHash, std's default, cost about 2K instructions per notification of a kilobyte
/// (callgrind).
fn hash_bytes(bytes: &[u8]) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = foldhash::quality::FixedState::default().build_hasher();
    h.write(bytes);
    h.finish()
}

/// Whether a repeat of this notification is a duplicate. Property updates are left out: the same
/// user data can legitimately be attached twice and give identical notifications.
pub(crate) fn duplicate_checked(n: &Notification) -> bool {
    match n {
        Notification::ChatStateChangeMessage(sc)
        | Notification::FacebooksessionStateChangeMessage(sc) => matches!(
            sc.notification_type,
            NotificationType::StatusChange | NotificationType::ParticipantsUpdated
        ),
        Notification::MessageLogUpdated(_) => true,
        _ => false,
    }
}
