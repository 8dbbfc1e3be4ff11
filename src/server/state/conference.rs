//! Conference mechanics: Transfer, Consult, Invite and RemoveParticipantFromConference, and
//! the resolution of their targets (protocol.md §6.4-§6.7, §15.9-§15.11, §15.14, §15.24).

use super::view::{EntryBody, append};
use super::{Center, Delivery, OfferKind, OpError, OpOk, Part, QueueIdx, UserIdx};
use crate::gws::{EntryType, InteractionState, NotificationType, Visibility};

/// Whom an operation's target parameters name.
pub(super) enum Target {
    User(UserIdx),
    Queue(QueueIdx),
}

const REMOVE_NOTICE: &str = "REMOVE_PARTICIPANT_FROM_CONFERENCE";

impl Center {
    pub(super) fn transfer(
        &mut self,
        ixn_id: &str,
        part: Part,
        target: Option<&str>,
        queue_name: Option<&str>,
        now_ms: i64,
        out: &mut Vec<Delivery>,
    ) -> Result<OpOk, OpError> {
        let target = match self.named_queue(queue_name, "queueName")? {
            Some(q) => Target::Queue(q),
            None => self.target(target, true)?,
        };
        self.check_target(ixn_id, part.user, &target)?;
        let reference = self.reference();
        // The transfer names the next owner, so the chat is not routed again meanwhile.
        self.depart(ixn_id, &part, reference, false, now_ms, out);
        self.offer_to(ixn_id, target, OfferKind::Transfer, part.user, now_ms, out);
        Ok(OpOk { reference_id: Some(reference), ..OpOk::default() })
    }

    pub(super) fn consult_or_invite(
        &mut self,
        ixn_id: &str,
        part: Part,
        kind: OfferKind,
        target: Option<&str>,
        now_ms: i64,
        out: &mut Vec<Delivery>,
    ) -> Result<OpOk, OpError> {
        let target = self.target(target, true)?;
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

    pub(super) fn remove_participant(
        &mut self,
        ixn_id: &str,
        part: Part,
        target: Option<&str>,
        now_ms: i64,
        out: &mut Vec<Delivery>,
    ) -> Result<OpOk, OpError> {
        let Target::User(target) = self.target(target, false)? else {
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
                    text: Some(compact_str::format_compact!("{REMOVE_NOTICE}{removed_id}")),
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

    /// Resolves `targetUri` / `targetPath` to a user or (if `queues`) a queue. Only the path of
    /// a URI is used (§15.24).
    fn target(&self, raw: Option<&str>, queues: bool) -> Result<Target, OpError> {
        // Decoding guarantees one of them; this only keeps the function total.
        let Some(raw) = raw else {
            return Err(OpError::missing("parameter 'targetUri' or 'targetPath' is mandatory"));
        };
        let path = match raw.find("://") {
            Some(i) => raw[i + 3..].find('/').map_or("", |j| &raw[i + 3 + j..]),
            None => raw,
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
            if self.agents[t].channels.is_none() {
                return Err(OpError::invalid_state("the target has no contact-center session"));
            }
        }
        Ok(())
    }
}
