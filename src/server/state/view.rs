//! How each recipient sees an interaction: resources with per-agent state and capabilities,
//! participant lists, log entries, and the notifications built from them (protocol.md §8).

use serde_json::Value;

use super::{Center, Delivery, Interaction, Part, Topic, UserIdx};
use crate::gws::model::{ShortStr, UserData};
use crate::gws::states::{Situation, capabilities};
use crate::gws::time::format_timestamp;
use crate::gws::{
    EntryType, InteractionResource, InteractionState, LogEntry, Media, MessageLog, Notification,
    NotificationType, Participant, ParticipantType, StateChange, Visibility,
};

impl Center {
    /// The queue a parameter (`key`) names, if the parameter is there; a name that is not a
    /// queue is "not found" (404/6).
    pub(crate) fn named_queue(
        &self,
        name: Option<&str>,
        key: &str,
    ) -> Result<Option<super::QueueIdx>, super::OpError> {
        match name {
            Some(name) => self
                .dir
                .queue_by_name(name)
                .map(Some)
                .ok_or_else(|| super::OpError::not_found(format!("{key} {name} not found"))),
            None => Ok(None),
        }
    }

    pub(crate) fn user_uri(&self, user: UserIdx) -> String {
        format!("{}/api/v2/users/{}", self.cfg.base_url, self.dir.user(user).id)
    }

    pub(crate) fn interaction_uri(&self, media: Media, id: &str) -> String {
        format!("{}/api/v2/{}/{}", self.cfg.base_url, media.path_segment(), id)
    }

    /// A part as it appears in `participants` and `from`.
    pub(crate) fn agent_participant(&self, part: &Part) -> Participant {
        Participant {
            participant_id: part.pid.clone(),
            id: Some(part.pid.clone()),
            kind: ParticipantType::Agent,
            nickname: part.nickname.clone(),
            visibility: Some(part.visibility),
            uri: Some(self.user_uri(part.user)),
            path: Some(format!("/users/{}", self.dir.user(part.user).id)),
        }
    }

    /// The participants an agent sees: the customer (while present), then every joined agent.
    pub(crate) fn participants(&self, ixn: &Interaction) -> Vec<Participant> {
        let mut v = Vec::with_capacity(1 + ixn.parts.len());
        if ixn.customer.present {
            v.push(ixn.customer.participant.clone());
        }
        v.extend(ixn.joined().map(|p| self.agent_participant(p)));
        v
    }

    pub(crate) fn situation(ixn: &Interaction, part: &Part) -> Situation {
        match part.state {
            InteractionState::Invited => Situation::Invited,
            InteractionState::Chatting if part.visibility == Visibility::Agents => {
                Situation::Consultant
            }
            InteractionState::Chatting => Situation::Owner {
                others: ixn.joined().any(|p| p.user != part.user),
                pending_consult: ixn.parts.iter().any(|p| {
                    p.kind == super::OfferKind::Consult
                        && p.state == InteractionState::Invited
                        && p.invited_by == Some(part.user)
                }) || ixn
                    .offers
                    .iter()
                    .any(|o| o.kind == super::OfferKind::Consult && o.by == Some(part.user)),
            },
            InteractionState::LeftChat => Situation::LeftChat,
            InteractionState::Completed | InteractionState::Revoked => Situation::Done,
        }
    }

    /// The interaction resource as `part` sees it, in `state` (which may be a state the part
    /// is passing through, such as LeftChat on the way to Completed).
    pub(crate) fn resource(
        &self,
        ixn: &Interaction,
        part: &Part,
        state: InteractionState,
        participants: Option<Vec<Participant>>,
    ) -> InteractionResource {
        let shown = Part { state, ..part.clone() };
        let facebook = ixn.media == Media::Facebook;
        InteractionResource {
            id: ixn.id.as_str().into(),
            uri: self.interaction_uri(ixn.media, &ixn.id),
            state,
            capabilities: capabilities(ixn.media, Self::situation(ixn, &shown)),
            participants: participants.unwrap_or_else(|| self.participants(ixn)),
            user_data: UserData::from_map(&ixn.user_data),
            facebooksession_type: facebook.then(|| "Inbound".to_string()),
            received_date: facebook.then(|| ixn.received_date.clone()),
            suggested_queue_uris: facebook.then(|| {
                vec![format!(
                    "{}/api/v2/queues/{}",
                    self.cfg.base_url,
                    self.dir.queue(ixn.queue).id
                )]
            }),
            relevant_response_template_groups: facebook.then(Vec::new),
            comment: ixn.comment.clone(),
        }
    }

    /// A state-change notification to `part`.
    pub(crate) fn state_change(
        &self,
        ixn: &Interaction,
        part: &Part,
        kind: NotificationType,
        state: InteractionState,
        reference_id: Option<u64>,
        participants: Option<Vec<Participant>>,
    ) -> Delivery {
        let resource = self.resource(ixn, part, state, participants);
        let (chat, facebooksession) = match ixn.media {
            Media::Chat => (Some(resource), None),
            Media::Facebook => (None, Some(resource)),
        };
        Delivery {
            user: part.user,
            topic: Topic::Interaction(ixn.media),
            notification: Notification::state_change(
                ixn.media,
                StateChange {
                    notification_type: kind,
                    reference_id,
                    chat,
                    facebooksession,
                    error_message: None,
                },
            ),
        }
    }

    /// A roster change as every joined agent but `except` sees it: a ParticipantsUpdated in its
    /// own state, then the join or leave `entry` (protocol.md §6.11: the change of the list comes
    /// before the entry that tells of it).
    pub(crate) fn roster_change(
        &self,
        ixn: &Interaction,
        entry: &LogEntry,
        except: Option<UserIdx>,
        out: &mut Vec<Delivery>,
    ) {
        for p in ixn.joined().filter(|p| Some(p.user) != except) {
            out.push(self.state_change(
                ixn,
                p,
                NotificationType::ParticipantsUpdated,
                p.state,
                None,
                None,
            ));
            out.push(self.message_log(ixn, p.user, vec![entry.clone()]));
        }
    }

    /// A MessageLogUpdated carrying `entries` to `user`.
    pub(crate) fn message_log(
        &self,
        ixn: &Interaction,
        user: UserIdx,
        entries: Vec<LogEntry>,
    ) -> Delivery {
        let uri = self.interaction_uri(ixn.media, &ixn.id);
        let path = format!("/{}/{}", ixn.media.path_segment(), ixn.id);
        let (chat_uri, chat_path, fb_uri, fb_path) = match ixn.media {
            Media::Chat => (Some(uri), Some(path), None, None),
            Media::Facebook => (None, None, Some(uri), Some(path)),
        };
        Delivery {
            user,
            topic: Topic::Interaction(ixn.media),
            notification: Notification::MessageLogUpdated(MessageLog {
                notification_type: NotificationType::NewMessages,
                messages: entries,
                chat_uri,
                chat_path,
                facebooksession_uri: fb_uri,
                facebooksession_path: fb_path,
            }),
        }
    }
}

/// The parts of a log entry that vary by type.
#[derive(Debug, Clone, Default)]
pub(crate) struct EntryBody {
    pub(crate) text: Option<ShortStr>,
    pub(crate) url: Option<String>,
    pub(crate) notice_text: Option<ShortStr>,
    pub(crate) message_type: Option<ShortStr>,
}

/// Appends an entry to the interaction's log and returns a copy of it.
pub(crate) fn append(
    ixn: &mut Interaction,
    kind: EntryType,
    from: Participant,
    visibility: Visibility,
    body: EntryBody,
    now_ms: i64,
) -> LogEntry {
    let entry = LogEntry {
        index: ixn.next_index(),
        kind,
        from,
        text: body.text,
        url: body.url,
        notice_text: body.notice_text,
        message_type: body.message_type,
        visibility: Some(visibility),
        timestamp: format_timestamp(now_ms),
        timestamp_seconds: now_ms,
    };
    ixn.log.push(entry.clone());
    entry
}

/// A log entry as a customer sees it: no visibility, and `from` reduced to nickname,
/// participantId and type (protocol.md §15.19).
pub(crate) fn customer_entry(e: &LogEntry) -> LogEntry {
    LogEntry {
        visibility: None,
        from: Participant {
            participant_id: e.from.participant_id.clone(),
            id: None,
            kind: e.from.kind,
            nickname: e.from.nickname.clone(),
            visibility: None,
            uri: None,
            path: None,
        },
        ..e.clone()
    }
}

/// Reads an optional string parameter; a present value of another type is an error.
pub(crate) fn opt_str(
    params: &serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<String>, super::OpError> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(super::OpError::missing(format!("parameter '{key}' must be a string"))),
    }
}

/// Reads a mandatory, non-empty string parameter.
pub(crate) fn req_str(
    params: &serde_json::Map<String, Value>,
    key: &str,
) -> Result<String, super::OpError> {
    match opt_str(params, key)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(super::OpError::missing(format!("parameter '{key}' is mandatory"))),
    }
}
