//! Leaving an interaction: Leave and Complete by an agent (protocol.md §6.8, §15.12, §15.13,
//! §15.23), and `depart`, the common step of an agent going while others stay.

use super::view::{EntryBody, append};
use super::{Center, Delivery, OfferKind, OpError, OpOk, Part};
use crate::gws::{EntryType, InteractionState, NotificationType, Visibility};

impl Center {
    /// Leave (`complete == false`) and Complete.
    pub(super) fn leave(
        &mut self,
        ixn_id: &str,
        part: Part,
        body: Option<EntryBody>,
        complete: bool,
        now_ms: i64,
        out: &mut Vec<Delivery>,
    ) -> Result<OpOk, OpError> {
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
    pub(super) fn depart(
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
        self.roster_change(ixn, &entry, None, out);
        let owner_left = !ixn.parts.iter().any(|p| p.visibility == Visibility::All);
        let routing =
            ixn.offers.iter().any(|o| matches!(o.kind, OfferKind::Route | OfferKind::Transfer));
        if reroute && owner_left && !routing && !ixn.customer.ended {
            let queue = ixn.queue;
            self.enqueue_offer(ixn_id, OfferKind::Route, None, queue, None);
            self.dispatch(now_ms, out);
        }
    }
}
