//! Operation dispatch for the agent API: `POST /api/v2/me/{chats|facebooksessions}/{id}` with a
//! typed [`Operation`], checked in the order of protocol.md §15.18 and applied with the
//! notification sequences of §6 and §15. Conference mechanics live in `conference`, Leave and
//! Complete in `leave`.

use serde_json::Value;

use super::routing::EndOfInvitation;
use super::view::{EntryBody, append};
use super::{Center, Delivery, OfferKind, OpError, OpOk, Part, UserIdx};
use crate::gws::model::ShortStr;
use crate::gws::states::capabilities;
use crate::gws::{
    Capability, EntryType, InteractionState, Media, NotificationType, Operation, ParamError,
    Visibility, ops,
};

/// One agent request on an interaction, as the HTTP shell decoded it.
///
/// The operation's name is decoded first (an unknown name is refused before anything about the
/// interaction is looked at); its parameters are decoded too, but a [`ParamError`] is reported
/// only after the interaction, permission and capability checks, as §15.18 orders them.
#[derive(Debug, Clone)]
pub struct InteractionRequest<'a> {
    pub user: UserIdx,
    pub media: Media,
    pub id: &'a str,
    pub name: Capability,
    pub operation: Result<Operation, ParamError>,
}

impl<'a> InteractionRequest<'a> {
    /// Decodes a request body. `Err` is the 400/1 refusal of a body that is not an object or
    /// names no known operation.
    pub fn decode(
        user: UserIdx,
        media: Media,
        id: &'a str,
        body: &Value,
    ) -> Result<Self, ParamError> {
        let name = ops::operation_name(body)?;
        let name =
            Capability::parse(name).ok_or_else(|| ParamError::UnknownOperation(name.to_owned()))?;
        Ok(InteractionRequest { user, media, id, name, operation: Operation::decode(body) })
    }

    /// A request for an operation already built (it cannot fail to decode).
    pub fn typed(user: UserIdx, media: Media, id: &'a str, operation: Operation) -> Self {
        InteractionRequest { user, media, id, name: operation.name(), operation: Ok(operation) }
    }
}

impl From<ParamError> for OpError {
    fn from(e: ParamError) -> Self {
        OpError::missing(e.to_string())
    }
}

impl Center {
    /// `POST /api/v2/me/{chats|facebooksessions}/{id}`.
    pub fn interaction_operation(
        &mut self,
        req: InteractionRequest<'_>,
        now_ms: i64,
        out: &mut Vec<Delivery>,
    ) -> Result<OpOk, OpError> {
        let result = self.apply(req, now_ms, out);
        // A Leave, Complete, Transfer or removal may have freed capacity a waiting chat needs.
        if result.is_ok() {
            self.dispatch(now_ms, out);
        }
        result
    }

    fn apply(
        &mut self,
        req: InteractionRequest<'_>,
        now_ms: i64,
        out: &mut Vec<Delivery>,
    ) -> Result<OpOk, OpError> {
        let InteractionRequest { user, media, id: ixn_id, name: op, operation } = req;
        let not_found = || OpError::not_found(format!("{} {ixn_id} not found", media.as_str()));
        let ixn = self.ixns.get(ixn_id).filter(|i| i.media == media).ok_or_else(not_found)?;
        let part = ixn.part(user).map(|pi| ixn.parts[pi].clone()).ok_or_else(not_found)?;
        if op == Capability::RemoveParticipantFromConference
            && part.state == InteractionState::Chatting
            && part.visibility == Visibility::Agents
        {
            return Err(OpError::forbidden("only an agent visible to all may remove participants"));
        }
        if !capabilities(media, Self::situation(ixn, &part)).contains(&op) {
            return Err(OpError::invalid_state(format!(
                "{op} is not valid in state {}",
                part.state.as_str()
            )));
        }
        let echo = self.cfg.include_message_type;
        use Operation as O;
        match operation? {
            O::Accept { nickname } => self.accept(ixn_id, part, nickname.into(), now_ms, out),
            O::Reject {} => {
                let reference = self.reference();
                self.revoke_invitation(
                    ixn_id,
                    user,
                    EndOfInvitation::Rejected(reference),
                    now_ms,
                    out,
                );
                self.dispatch(now_ms, out);
                Ok(OpOk { reference_id: Some(reference), ..OpOk::default() })
            }
            O::SendMessage { text, message_type, .. } => {
                let body = text_body(text, message_type, echo);
                self.post(ixn_id, &part, EntryType::Text, part.visibility, body, now_ms, out)
            }
            O::SendToAgents { text, message_type, .. } => {
                let body = text_body(text, message_type, echo);
                self.post(ixn_id, &part, EntryType::Text, Visibility::Agents, body, now_ms, out)
            }
            O::SendUrl { url, text } => {
                let body = EntryBody {
                    url: Some(url),
                    text: text.map(Into::into),
                    ..EntryBody::default()
                };
                self.post(ixn_id, &part, EntryType::PushUrl, Visibility::All, body, now_ms, out)
            }
            O::SendStartTypingNotification { text } | O::SendStopTypingNotification { text } => {
                let body = EntryBody { text: text.map(Into::into), ..EntryBody::default() };
                self.post(ixn_id, &part, typing_kind(op), part.visibility, body, now_ms, out)
            }
            O::SendStartTypingToAgentsNotification { text }
            | O::SendStopTypingToAgentsNotification { text } => {
                let body = EntryBody { text: text.map(Into::into), ..EntryBody::default() };
                self.post(ixn_id, &part, typing_kind(op), Visibility::Agents, body, now_ms, out)
            }
            O::SendCustomNotice { notice_text } | O::SendCustomNoticeToAgents { notice_text } => {
                let visibility = if op == Capability::SendCustomNotice {
                    Visibility::All
                } else {
                    Visibility::Agents
                };
                let body =
                    EntryBody { notice_text: Some(notice_text.into()), ..EntryBody::default() };
                self.post(ixn_id, &part, EntryType::CustomNotice, visibility, body, now_ms, out)
            }
            O::Leave { text, message_type, .. } => {
                let body = text.map(|t| text_body(t, message_type, echo));
                self.leave(ixn_id, part, body, false, now_ms, out)
            }
            O::Complete { text, message_type, .. } => {
                let body = text.map(|t| text_body(t, message_type, echo));
                self.leave(ixn_id, part, body, true, now_ms, out)
            }
            O::Transfer { target_uri, target_path, queue_name, .. } => {
                let target = target_uri.or(target_path);
                self.transfer(ixn_id, part, target.as_deref(), queue_name.as_deref(), now_ms, out)
            }
            O::Consult { target_uri, target_path } => {
                let target = target_uri.or(target_path);
                self.consult_or_invite(
                    ixn_id,
                    part,
                    OfferKind::Consult,
                    target.as_deref(),
                    now_ms,
                    out,
                )
            }
            O::Invite { target_uri, target_path } => {
                let target = target_uri.or(target_path);
                self.consult_or_invite(
                    ixn_id,
                    part,
                    OfferKind::Invite,
                    target.as_deref(),
                    now_ms,
                    out,
                )
            }
            O::CancelConsult {} => {
                let reference = self.reference();
                let pending: Vec<UserIdx> = self.ixns[ixn_id]
                    .parts
                    .iter()
                    .filter(|p| {
                        p.kind == OfferKind::Consult
                            && p.state == InteractionState::Invited
                            && p.invited_by == Some(user)
                    })
                    .map(|p| p.user)
                    .collect();
                if let Some(ixn) = self.ixns.get_mut(ixn_id) {
                    ixn.offers.retain(|o| !(o.kind == OfferKind::Consult && o.by == Some(user)));
                }
                for target in pending {
                    self.revoke_invitation(ixn_id, target, EndOfInvitation::Withdrawn, now_ms, out);
                }
                Ok(OpOk { reference_id: Some(reference), ..OpOk::default() })
            }
            O::RemoveParticipantFromConference { target_uri, target_path, .. } => {
                let target = target_uri.or(target_path);
                self.remove_participant(ixn_id, part, target.as_deref(), now_ms, out)
            }
            O::SetDisposition { disposition, disposition_key } => {
                let key = disposition_key.unwrap_or_else(|| "DispositionCode".into());
                self.update_properties(ixn_id, &part, out, |ixn| {
                    ixn.user_data.insert(key, Value::String(disposition));
                })
            }
            O::AttachUserData { user_data } | O::UpdateUserData { user_data } => {
                self.update_properties(ixn_id, &part, out, |ixn| ixn.user_data.extend(user_data))
            }
            O::DeleteUserData { keys } => self.update_properties(ixn_id, &part, out, |ixn| {
                for k in &keys {
                    ixn.user_data.remove(k);
                }
            }),
            O::AddComment { comment } => {
                self.update_properties(ixn_id, &part, out, |ixn| ixn.comment = Some(comment))
            }
            O::SetInFocus {} => Ok(self.ok_with_reference()),
        }
    }

    fn accept(
        &mut self,
        ixn_id: &str,
        part: Part,
        nickname: ShortStr,
        now_ms: i64,
        out: &mut Vec<Delivery>,
    ) -> Result<OpOk, OpError> {
        let reference = self.reference();
        let joined = Part { state: InteractionState::Chatting, nickname, deadline: None, ..part };
        if let Some(key) = part_deadline(self, ixn_id, joined.user) {
            self.deadlines.remove(&key);
        }
        let from = self.agent_participant(&joined);
        let Some(ixn) = self.ixns.get_mut(ixn_id) else {
            return Err(OpError::not_found("interaction vanished"));
        };
        if let Some(pi) = ixn.part(joined.user) {
            ixn.parts[pi] = joined.clone();
        }
        let entry = append(
            ixn,
            EntryType::ParticipantJoined,
            from,
            joined.visibility,
            EntryBody::default(),
            now_ms,
        );
        let ixn = &self.ixns[ixn_id];
        out.push(self.state_change(
            ixn,
            &joined,
            NotificationType::StatusChange,
            InteractionState::Chatting,
            Some(reference),
            Some(Vec::new()),
        ));
        out.push(self.state_change(
            ixn,
            &joined,
            NotificationType::ParticipantsUpdated,
            InteractionState::Chatting,
            Some(reference),
            None,
        ));
        out.push(self.message_log(ixn, joined.user, ixn.log.clone()));
        self.roster_change(ixn, &entry, Some(joined.user), out);
        Ok(OpOk { reference_id: Some(reference), ..OpOk::default() })
    }

    /// Appends an entry from `part` and sends it to every joined agent.
    #[allow(clippy::too_many_arguments)]
    fn post(
        &mut self,
        ixn_id: &str,
        part: &Part,
        kind: EntryType,
        visibility: Visibility,
        body: EntryBody,
        now_ms: i64,
        out: &mut Vec<Delivery>,
    ) -> Result<OpOk, OpError> {
        let reference = self.reference();
        self.post_entry(ixn_id, self.agent_participant(part), kind, visibility, body, now_ms, out);
        Ok(OpOk { reference_id: Some(reference), ..OpOk::default() })
    }

    /// Appends an entry and delivers it to every joined agent (agents see every visibility).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn post_entry(
        &mut self,
        ixn_id: &str,
        from: crate::gws::Participant,
        kind: EntryType,
        visibility: Visibility,
        body: EntryBody,
        now_ms: i64,
        out: &mut Vec<Delivery>,
    ) {
        let Some(ixn) = self.ixns.get_mut(ixn_id) else { return };
        let entry = append(ixn, kind, from, visibility, body, now_ms);
        let ixn = &self.ixns[ixn_id];
        for p in ixn.joined() {
            out.push(self.message_log(ixn, p.user, vec![entry.clone()]));
        }
    }

    fn update_properties(
        &mut self,
        ixn_id: &str,
        part: &Part,
        out: &mut Vec<Delivery>,
        change: impl FnOnce(&mut super::Interaction),
    ) -> Result<OpOk, OpError> {
        let reference = self.reference();
        let Some(ixn) = self.ixns.get_mut(ixn_id) else {
            return Err(OpError::not_found("interaction vanished"));
        };
        change(ixn);
        let ixn = &self.ixns[ixn_id];
        out.push(self.state_change(
            ixn,
            part,
            NotificationType::PropertiesUpdated,
            part.state,
            Some(reference),
            None,
        ));
        Ok(OpOk { reference_id: Some(reference), ..OpOk::default() })
    }
}

fn part_deadline(center: &Center, ixn_id: &str, user: UserIdx) -> Option<(i64, u64)> {
    let ixn = center.ixns.get(ixn_id)?;
    ixn.parts[ixn.part(user)?].deadline
}

fn typing_kind(op: Capability) -> EntryType {
    match op {
        Capability::SendStartTypingNotification
        | Capability::SendStartTypingToAgentsNotification => EntryType::TypingStarted,
        _ => EntryType::TypingStopped,
    }
}

/// A text entry's body: `text`, plus `messageType` when the server echoes it (`treatAs` was
/// checked as a string when the operation was decoded, and is otherwise ignored).
pub(super) fn text_body(text: String, message_type: Option<String>, echo_type: bool) -> EntryBody {
    EntryBody {
        text: Some(text.into()),
        message_type: message_type.filter(|_| echo_type).map(Into::into),
        ..EntryBody::default()
    }
}
