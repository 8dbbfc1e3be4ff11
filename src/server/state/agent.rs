//! The agent API: contact-center session and readiness (`POST /api/v2/me`, channels) and every
//! chat and Facebook operation, with the error precedence of protocol.md §15.18 and the
//! notification sequences of §6 and §15.

use serde_json::{Map, Value, json};

use super::routing::EndOfInvitation;
use super::view::{EntryBody, append, opt_str, req_str};
use super::{Center, Delivery, OfferKind, OpError, OpOk, Part, QueueIdx, Topic, UserIdx};
use crate::gws::states::capabilities;
use crate::gws::{
    Capability, ChannelState, ChannelStateChange, EntryType, InteractionState, Media, Notification,
    NotificationType, UserState, Visibility, status,
};

/// One agent request on an interaction, as the HTTP shell parsed it.
#[derive(Debug, Clone, Copy)]
pub struct InteractionRequest<'a> {
    pub user: UserIdx,
    pub media: Media,
    pub id: &'a str,
    pub operation: &'a str,
    pub params: &'a Map<String, Value>,
}

/// Whom an operation's target parameters name.
enum Target {
    User(UserIdx),
    Queue(QueueIdx),
}

const REMOVE_NOTICE: &str = "REMOVE_PARTICIPANT_FROM_CONFERENCE";

impl Center {
    // ----- contact-center session and readiness -----

    /// `POST /api/v2/me`: StartContactCenterSession, EndContactCenterSession, Ready, NotReady.
    pub fn me_operation(
        &mut self,
        user: UserIdx,
        operation: &str,
        params: &Map<String, Value>,
        now_ms: i64,
        out: &mut Vec<Delivery>,
    ) -> Result<OpOk, OpError> {
        match operation {
            "StartContactCenterSession" => self.start_session(user, params, now_ms, out),
            "EndContactCenterSession" => {
                if self.agents[user as usize].channels.is_none() {
                    return Err(OpError::invalid_state("no contact-center session is active"));
                }
                let channels = self.agents[user as usize].channels.take().unwrap_or_default();
                self.reindex(user);
                self.announce(user, channels.iter().map(|(m, _)| (*m, "LoggedOut")), out);
                let invited: Vec<String> = self.agents[user as usize]
                    .interactions
                    .iter()
                    .filter(|id| {
                        self.ixns.get(*id).is_some_and(|i| {
                            i.part(user)
                                .is_some_and(|p| i.parts[p].state == InteractionState::Invited)
                        })
                    })
                    .cloned()
                    .collect();
                for id in invited {
                    self.revoke_invitation(&id, user, EndOfInvitation::TimedOut, now_ms, out);
                }
                self.dispatch(now_ms, out);
                Ok(self.ok_with_reference())
            }
            "Ready" | "NotReady" => self.set_ready(user, None, operation == "Ready", now_ms, out),
            other => Err(OpError::missing(format!("unknown operationName '{other}'"))),
        }
    }

    /// `POST /api/v2/me/channels/{channel}`: Ready or NotReady on one channel.
    pub fn channel_operation(
        &mut self,
        user: UserIdx,
        channel: &str,
        operation: &str,
        now_ms: i64,
        out: &mut Vec<Delivery>,
    ) -> Result<OpOk, OpError> {
        let ready = match operation {
            "Ready" => true,
            "NotReady" => false,
            other => return Err(OpError::missing(format!("unknown operationName '{other}'"))),
        };
        let media = match channel {
            "chat" => Media::Chat,
            "facebook" => Media::Facebook,
            other => return Err(OpError::not_found(format!("unknown channel '{other}'"))),
        };
        self.set_ready(user, Some(media), ready, now_ms, out)
    }

    fn start_session(
        &mut self,
        user: UserIdx,
        params: &Map<String, Value>,
        now_ms: i64,
        out: &mut Vec<Delivery>,
    ) -> Result<OpOk, OpError> {
        let Some(Value::Array(names)) = params.get("channels") else {
            return Err(OpError::missing("parameter 'channels' (an array) is mandatory"));
        };
        let mut channels = Vec::new();
        let mut unsupported = Vec::new();
        for name in names {
            match name.as_str() {
                Some("chat") => channels.push((Media::Chat, false)),
                Some("facebook") => channels.push((Media::Facebook, false)),
                Some(other) => unsupported.push(other.to_string()),
                None => return Err(OpError::missing("'channels' must hold strings")),
            }
        }
        channels.dedup();
        if channels.is_empty() {
            return Err(OpError::new(
                status::VALIDATION,
                "no supported channel requested (this server offers chat and facebook)",
            ));
        }
        for key in ["place", "loginCode", "queue", "devicePath"] {
            opt_str(params, key)?;
        }
        // Starting again resets readiness rather than failing, so a client that lost its
        // state can always log in afresh.
        let agent = &mut self.agents[user as usize];
        agent.channels = Some(channels.clone());
        agent.last_offer_ms = now_ms;
        self.reindex(user);
        self.announce(user, channels.iter().map(|(m, _)| (*m, "NotReady")), out);
        let mut ok = self.ok_with_reference();
        if !unsupported.is_empty() {
            ok.partial = Some(format!("channels not available: {}", unsupported.join(", ")));
        }
        Ok(ok)
    }

    fn set_ready(
        &mut self,
        user: UserIdx,
        only: Option<Media>,
        ready: bool,
        now_ms: i64,
        out: &mut Vec<Delivery>,
    ) -> Result<OpOk, OpError> {
        let agent = &mut self.agents[user as usize];
        let Some(channels) = agent.channels.as_mut() else {
            return Err(OpError::invalid_state("StartContactCenterSession first"));
        };
        let mut changed = Vec::new();
        for (media, r) in channels.iter_mut() {
            if only.is_none_or(|m| m == *media) {
                *r = ready;
                changed.push(*media);
            }
        }
        if changed.is_empty() {
            return Err(OpError::invalid_state("that channel is not in the session"));
        }
        if ready {
            agent.last_offer_ms = now_ms;
        }
        self.reindex(user);
        let label = if ready { "Ready" } else { "NotReady" };
        self.announce(user, changed.into_iter().map(|m| (m, label)), out);
        if ready {
            self.dispatch(now_ms, out);
        }
        Ok(self.ok_with_reference())
    }

    fn announce<'a>(
        &self,
        user: UserIdx,
        states: impl Iterator<Item = (Media, &'a str)>,
        out: &mut Vec<Delivery>,
    ) {
        let channels = states
            .map(|(m, s)| ChannelState {
                channel: m.channel_name().to_string(),
                user_state: UserState {
                    id: agent_state_id(s).to_string(),
                    state: s.to_string(),
                    display_name: match s {
                        "NotReady" => "Not Ready".to_string(),
                        "LoggedOut" => "Logged Out".to_string(),
                        _ => s.to_string(),
                    },
                },
            })
            .collect();
        out.push(Delivery {
            user,
            topic: Topic::Channels,
            notification: Notification::ChannelStateChangeMessageV2(ChannelStateChange {
                channels,
            }),
        });
    }

    fn ok_with_reference(&mut self) -> OpOk {
        OpOk { reference_id: Some(self.reference()), ..OpOk::default() }
    }

    /// `GET /api/v2/me[?subresources=*]`: the user, and with subresources its channels and
    /// interactions.
    pub fn me_view(&self, user: UserIdx, subresources: bool) -> Value {
        let u = self.dir.user(user);
        let mut me = json!({
            "id": u.id,
            "userName": u.username,
            "firstName": u.first_name,
            "lastName": u.last_name,
            "uri": self.user_uri(user),
            "path": format!("/users/{}", u.id),
            "roles": ["ROLE_AGENT"],
            "enabled": true,
        });
        if subresources && let Some(obj) = me.as_object_mut() {
            let channels: Vec<Value> = self.agents[user as usize]
                .channels
                .iter()
                .flatten()
                .map(|(m, r)| {
                    let s = if *r { "Ready" } else { "NotReady" };
                    json!({"channel": m.channel_name(),
                           "userState": {"id": agent_state_id(s), "state": s, "displayName": s}})
                })
                .collect();
            let mut chats = Vec::new();
            let mut sessions = Vec::new();
            for ixn in
                self.agents[user as usize].interactions.iter().filter_map(|id| self.ixns.get(id))
            {
                if let Some(pi) = ixn.part(user) {
                    let part = &ixn.parts[pi];
                    let r = self.resource(ixn, part, part.state, None);
                    let v = serde_json::to_value(r).unwrap_or(Value::Null);
                    match ixn.media {
                        Media::Chat => chats.push(v),
                        Media::Facebook => sessions.push(v),
                    }
                }
            }
            obj.insert("channels".into(), Value::Array(channels));
            obj.insert("chats".into(), Value::Array(chats));
            obj.insert("facebooksessions".into(), Value::Array(sessions));
            obj.insert("devices".into(), Value::Array(Vec::new()));
            obj.insert("settings".into(), json!({}));
        }
        me
    }

    // ----- interaction operations -----

    /// `POST /api/v2/me/{chats|facebooksessions}/{id}` with `operationName` and parameters.
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
        let InteractionRequest { user, media, id: ixn_id, operation, params } = req;
        let Some(op) = Capability::parse(operation) else {
            return Err(OpError::missing(format!("unknown operationName '{operation}'")));
        };
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
        use Capability as C;
        match op {
            C::Accept => self.accept(ixn_id, part, params, now_ms, out),
            C::Reject => {
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
            C::SendMessage => {
                let text = req_str(params, "text")?;
                self.post(
                    ixn_id,
                    &part,
                    EntryType::Text,
                    part.visibility,
                    text_body(text, params, self.cfg.include_message_type)?,
                    now_ms,
                    out,
                )
            }
            C::SendToAgents => {
                let text = req_str(params, "text")?;
                self.post(
                    ixn_id,
                    &part,
                    EntryType::Text,
                    Visibility::Agents,
                    text_body(text, params, self.cfg.include_message_type)?,
                    now_ms,
                    out,
                )
            }
            C::SendUrl => {
                let url = req_str(params, "url")?;
                let body = EntryBody {
                    url: Some(url),
                    text: opt_str(params, "text")?,
                    ..EntryBody::default()
                };
                self.post(ixn_id, &part, EntryType::PushUrl, Visibility::All, body, now_ms, out)
            }
            C::SendStartTypingNotification | C::SendStopTypingNotification => {
                let kind = typing_kind(op);
                let body = EntryBody { text: opt_str(params, "text")?, ..EntryBody::default() };
                self.post(ixn_id, &part, kind, part.visibility, body, now_ms, out)
            }
            C::SendStartTypingToAgentsNotification | C::SendStopTypingToAgentsNotification => {
                let kind = typing_kind(op);
                let body = EntryBody { text: opt_str(params, "text")?, ..EntryBody::default() };
                self.post(ixn_id, &part, kind, Visibility::Agents, body, now_ms, out)
            }
            C::SendCustomNotice | C::SendCustomNoticeToAgents => {
                let notice = req_str(params, "noticeText")?;
                let visibility =
                    if op == C::SendCustomNotice { Visibility::All } else { Visibility::Agents };
                let body = EntryBody { notice_text: Some(notice), ..EntryBody::default() };
                self.post(ixn_id, &part, EntryType::CustomNotice, visibility, body, now_ms, out)
            }
            C::Leave => self.leave(ixn_id, part, params, false, now_ms, out),
            C::Complete => {
                opt_str(params, "queueName")?;
                self.leave(ixn_id, part, params, true, now_ms, out)
            }
            C::Transfer => self.transfer(ixn_id, part, params, now_ms, out),
            C::Consult | C::Invite => {
                let kind = if op == C::Consult { OfferKind::Consult } else { OfferKind::Invite };
                self.consult_or_invite(ixn_id, part, kind, params, now_ms, out)
            }
            C::CancelConsult => {
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
            C::RemoveParticipantFromConference => {
                self.remove_participant(ixn_id, part, params, now_ms, out)
            }
            C::SetDisposition => {
                let disposition = req_str(params, "disposition")?;
                let key =
                    opt_str(params, "dispositionKey")?.unwrap_or_else(|| "DispositionCode".into());
                self.update_properties(ixn_id, &part, out, |ixn| {
                    ixn.user_data.insert(key, Value::String(disposition));
                })
            }
            C::AttachUserData | C::UpdateUserData => {
                let Some(Value::Object(data)) = params.get("userData") else {
                    return Err(OpError::missing("parameter 'userData' (an object) is mandatory"));
                };
                let data = data.clone();
                self.update_properties(ixn_id, &part, out, |ixn| ixn.user_data.extend(data))
            }
            C::DeleteUserData => {
                let Some(Value::Array(keys)) = params.get("keys") else {
                    return Err(OpError::missing("parameter 'keys' (an array) is mandatory"));
                };
                let keys: Vec<String> = keys
                    .iter()
                    .map(|k| k.as_str().map(str::to_string))
                    .collect::<Option<_>>()
                    .ok_or_else(|| OpError::missing("'keys' must hold strings"))?;
                self.update_properties(ixn_id, &part, out, |ixn| {
                    for k in &keys {
                        ixn.user_data.remove(k);
                    }
                })
            }
            C::AddComment => {
                let comment = req_str(params, "comment")?;
                self.update_properties(ixn_id, &part, out, |ixn| ixn.comment = Some(comment))
            }
            C::SetInFocus => Ok(self.ok_with_reference()),
        }
    }

    fn accept(
        &mut self,
        ixn_id: &str,
        part: Part,
        params: &Map<String, Value>,
        now_ms: i64,
        out: &mut Vec<Delivery>,
    ) -> Result<OpOk, OpError> {
        let nickname = req_str(params, "nickname")?;
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
        for other in ixn.joined().filter(|p| p.user != joined.user) {
            out.push(self.state_change(
                ixn,
                other,
                NotificationType::ParticipantsUpdated,
                other.state,
                None,
                None,
            ));
            out.push(self.message_log(ixn, other.user, vec![entry.clone()]));
        }
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

    /// Leave (`complete == false`) and Complete.
    fn leave(
        &mut self,
        ixn_id: &str,
        part: Part,
        params: &Map<String, Value>,
        complete: bool,
        now_ms: i64,
        out: &mut Vec<Delivery>,
    ) -> Result<OpOk, OpError> {
        let text = opt_str(params, "text")?;
        let body = text_body_opt(text, params, self.cfg.include_message_type)?;
        let reference = self.reference();
        if part.state == InteractionState::LeftChat {
            // Wrap-up done: only the agent hears of it.
            let ixn = &self.ixns[ixn_id];
            out.push(self.state_change(
                ixn,
                &part,
                NotificationType::StatusChange,
                InteractionState::Completed,
                Some(reference),
                None,
            ));
            self.remove_part(ixn_id, part.user);
            self.close_if_done(ixn_id, now_ms);
            return Ok(OpOk { reference_id: Some(reference), ..OpOk::default() });
        }
        if let Some(body) = body {
            self.post_entry(
                ixn_id,
                self.agent_participant(&part),
                EntryType::Text,
                part.visibility,
                body,
                now_ms,
                out,
            );
        }
        let others = self.ixns[ixn_id].joined().any(|p| p.user != part.user);
        if others {
            // In a consult or conference: this agent is done, the chat goes on (§15.12).
            self.depart(ixn_id, &part, reference, true, now_ms, out);
        } else {
            let from = self.agent_participant(&part);
            let left = Part { state: InteractionState::LeftChat, ..part.clone() };
            let Some(ixn) = self.ixns.get_mut(ixn_id) else {
                return Err(OpError::not_found("interaction vanished"));
            };
            if let Some(pi) = ixn.part(part.user) {
                ixn.parts[pi] = left.clone();
            }
            append(
                ixn,
                EntryType::ParticipantLeft,
                from,
                part.visibility,
                EntryBody::default(),
                now_ms,
            );
            // The sole agent leaving ends the chat for the customer (§15.12, §15.13).
            ixn.customer.ended = true;
            let ixn = &self.ixns[ixn_id];
            if complete {
                out.push(self.state_change(
                    ixn,
                    &left,
                    NotificationType::StatusChange,
                    InteractionState::Completed,
                    Some(reference),
                    None,
                ));
                self.remove_part(ixn_id, part.user);
            } else {
                out.push(self.state_change(
                    ixn,
                    &left,
                    NotificationType::StatusChange,
                    InteractionState::LeftChat,
                    Some(reference),
                    None,
                ));
            }
            self.withdraw_all(ixn_id, now_ms, out);
            self.close_if_done(ixn_id, now_ms);
        }
        Ok(OpOk { reference_id: Some(reference), ..OpOk::default() })
    }

    /// `part` leaves while others stay: it gets Completed; the others ParticipantsUpdated and
    /// the ParticipantLeft entry. If `reroute` and no agent visible to all remains, the chat is
    /// routed again (§15.23).
    fn depart(
        &mut self,
        ixn_id: &str,
        part: &Part,
        reference: u64,
        reroute: bool,
        now_ms: i64,
        out: &mut Vec<Delivery>,
    ) {
        let from = self.agent_participant(part);
        self.remove_part(ixn_id, part.user);
        let Some(ixn) = self.ixns.get_mut(ixn_id) else { return };
        let entry = append(
            ixn,
            EntryType::ParticipantLeft,
            from,
            part.visibility,
            EntryBody::default(),
            now_ms,
        );
        let ixn = &self.ixns[ixn_id];
        out.push(self.state_change(
            ixn,
            part,
            NotificationType::StatusChange,
            InteractionState::Completed,
            Some(reference),
            None,
        ));
        for other in ixn.joined() {
            out.push(self.state_change(
                ixn,
                other,
                NotificationType::ParticipantsUpdated,
                other.state,
                None,
                None,
            ));
            out.push(self.message_log(ixn, other.user, vec![entry.clone()]));
        }
        let owner_left = !ixn.parts.iter().any(|p| p.visibility == Visibility::All);
        let routing =
            ixn.offers.iter().any(|o| matches!(o.kind, OfferKind::Route | OfferKind::Transfer));
        if reroute && owner_left && !routing && !ixn.customer.ended {
            let queue = ixn.queue;
            self.enqueue_offer(ixn_id, OfferKind::Route, None, queue, None);
            self.dispatch(now_ms, out);
        }
    }

    fn transfer(
        &mut self,
        ixn_id: &str,
        part: Part,
        params: &Map<String, Value>,
        now_ms: i64,
        out: &mut Vec<Delivery>,
    ) -> Result<OpOk, OpError> {
        opt_str(params, "text")?;
        let target = match self.named_queue(params, "queueName")? {
            Some(q) => Target::Queue(q),
            None => self.target(params, true)?,
        };
        self.check_target(ixn_id, part.user, &target)?;
        let reference = self.reference();
        // The transfer names the next owner, so the chat is not routed again meanwhile.
        self.depart(ixn_id, &part, reference, false, now_ms, out);
        self.offer_to(ixn_id, target, OfferKind::Transfer, part.user, now_ms, out);
        Ok(OpOk { reference_id: Some(reference), ..OpOk::default() })
    }

    fn consult_or_invite(
        &mut self,
        ixn_id: &str,
        part: Part,
        kind: OfferKind,
        params: &Map<String, Value>,
        now_ms: i64,
        out: &mut Vec<Delivery>,
    ) -> Result<OpOk, OpError> {
        let target = self.target(params, true)?;
        self.check_target(ixn_id, part.user, &target)?;
        let reference = self.reference();
        self.offer_to(ixn_id, target, kind, part.user, now_ms, out);
        Ok(OpOk { reference_id: Some(reference), ..OpOk::default() })
    }

    fn offer_to(
        &mut self,
        ixn_id: &str,
        target: Target,
        kind: OfferKind,
        by: UserIdx,
        now_ms: i64,
        out: &mut Vec<Delivery>,
    ) {
        match target {
            Target::User(t) => self.invite(ixn_id, t, kind, Some(by), now_ms, out),
            Target::Queue(q) => {
                self.enqueue_offer(ixn_id, kind, Some(by), q, None);
                self.dispatch(now_ms, out);
            }
        }
    }

    fn remove_participant(
        &mut self,
        ixn_id: &str,
        part: Part,
        params: &Map<String, Value>,
        now_ms: i64,
        out: &mut Vec<Delivery>,
    ) -> Result<OpOk, OpError> {
        opt_str(params, "text")?;
        let Target::User(target) = self.target(params, false)? else {
            return Err(OpError::missing("targetUri must name a user"));
        };
        let ixn = &self.ixns[ixn_id];
        let removed = ixn
            .parts
            .iter()
            .find(|p| {
                p.user == target && p.user != part.user && p.state == InteractionState::Chatting
            })
            .cloned()
            .ok_or_else(|| {
                OpError::invalid_state("the target is not a participant of this interaction")
            })?;
        let reference = self.reference();
        let remover_from = self.agent_participant(&part);
        let removed_from = self.agent_participant(&removed);
        let removed_id = self.dir.user(removed.user).id.clone();
        let notice = self.cfg.emit_remove_notice;
        self.remove_part(ixn_id, removed.user);
        let Some(ixn) = self.ixns.get_mut(ixn_id) else {
            return Err(OpError::not_found("interaction vanished"));
        };
        let notice_entry = notice.then(|| {
            append(
                ixn,
                EntryType::Notice,
                remover_from,
                Visibility::Agents,
                EntryBody {
                    text: Some(format!("{REMOVE_NOTICE}{removed_id}")),
                    ..EntryBody::default()
                },
                now_ms,
            )
        });
        let left = append(
            ixn,
            EntryType::ParticipantLeft,
            removed_from,
            removed.visibility,
            EntryBody::default(),
            now_ms,
        );
        let ixn = &self.ixns[ixn_id];
        // The remover: Notice (only to it), ParticipantsUpdated, ParticipantLeft (§15.11).
        if let Some(n) = notice_entry {
            out.push(self.message_log(ixn, part.user, vec![n]));
        }
        for other in ixn.joined() {
            let reference = (other.user == part.user).then_some(reference);
            out.push(self.state_change(
                ixn,
                other,
                NotificationType::ParticipantsUpdated,
                other.state,
                reference,
                None,
            ));
            out.push(self.message_log(ixn, other.user, vec![left.clone()]));
        }
        // The removed agent: ParticipantsUpdated(LeftChat), ParticipantLeft, LeftChat, Completed.
        out.push(self.state_change(
            ixn,
            &removed,
            NotificationType::ParticipantsUpdated,
            InteractionState::LeftChat,
            None,
            None,
        ));
        out.push(self.message_log(ixn, removed.user, vec![left]));
        out.push(self.state_change(
            ixn,
            &removed,
            NotificationType::StatusChange,
            InteractionState::LeftChat,
            None,
            None,
        ));
        out.push(self.state_change(
            ixn,
            &removed,
            NotificationType::StatusChange,
            InteractionState::Completed,
            Some(reference),
            None,
        ));
        Ok(OpOk { reference_id: Some(reference), ..OpOk::default() })
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

    /// Resolves `targetUri` / `targetPath` to a user or (if `queues`) a queue. Only the path of
    /// a URI is used (§15.24).
    fn target(&self, params: &Map<String, Value>, queues: bool) -> Result<Target, OpError> {
        let raw = match (opt_str(params, "targetUri")?, opt_str(params, "targetPath")?) {
            (Some(uri), _) => uri,
            (None, Some(path)) => path,
            (None, None) => {
                return Err(OpError::missing("parameter 'targetUri' or 'targetPath' is mandatory"));
            }
        };
        let path = match raw.find("://") {
            Some(i) => raw[i + 3..].find('/').map_or("", |j| &raw[i + 3 + j..]),
            None => raw.as_str(),
        };
        let path = path.strip_prefix("/api/v2").unwrap_or(path);
        let mut segs = path.trim_matches('/').split('/');
        let not_found = || OpError::not_found(format!("target {raw} not found"));
        match (segs.next(), segs.next(), segs.next()) {
            (Some("users"), Some(id), None) => {
                self.dir.user_by_id(id).map(Target::User).ok_or_else(not_found)
            }
            (Some("queues"), Some(id), None) if queues => self
                .dir
                .queue_by_id(id)
                .or_else(|| self.dir.queue_by_name(id))
                .map(Target::Queue)
                .ok_or_else(not_found),
            _ => Err(not_found()),
        }
    }

    /// A named user must be logged in and not already in the interaction (§15.18).
    fn check_target(&self, ixn_id: &str, actor: UserIdx, target: &Target) -> Result<(), OpError> {
        if let Target::User(t) = *target {
            if t == actor || self.ixns[ixn_id].part(t).is_some() {
                return Err(OpError::invalid_state("the target is already in this interaction"));
            }
            if self.agents[t as usize].channels.is_none() {
                return Err(OpError::invalid_state("the target has no contact-center session"));
            }
        }
        Ok(())
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

/// A text entry's body: `text`, plus `messageType` when the server echoes it; `treatAs` is
/// validated and otherwise ignored.
fn text_body(
    text: String,
    params: &Map<String, Value>,
    echo_type: bool,
) -> Result<EntryBody, OpError> {
    let message_type = opt_str(params, "messageType")?;
    opt_str(params, "treatAs")?;
    Ok(EntryBody {
        text: Some(text),
        message_type: message_type.filter(|_| echo_type),
        ..EntryBody::default()
    })
}

fn text_body_opt(
    text: Option<String>,
    params: &Map<String, Value>,
    echo_type: bool,
) -> Result<Option<EntryBody>, OpError> {
    text.map(|t| text_body(t, params, echo_type)).transpose()
}

/// Stable ids for the agent states announced on `/v2/me/channels`.
fn agent_state_id(state: &str) -> &'static str {
    match state {
        "Ready" => "9430250E-0A1B-4B3B-9D5E-0B0A3A4B5C01",
        "NotReady" => "9430250E-0A1B-4B3B-9D5E-0B0A3A4B5C02",
        _ => "9430250E-0A1B-4B3B-9D5E-0B0A3A4B5C03",
    }
}
