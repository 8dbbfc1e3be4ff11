//! Routing: offers waiting for an agent, the choice of agent (least busy, then longest idle),
//! invitations and their timeouts (protocol.md §4, §15.7, §15.9, §15.14, §15.23).

use super::{Center, Delivery, Offer, OfferKind, Part, QueueIdx, UserIdx};

/// Why an invitation ends before it is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndOfInvitation {
    /// The agent rejected it (the operation's referenceId): Completed, offered again.
    Rejected(u64),
    /// Nobody answered in time: Revoked, offered again.
    TimedOut,
    /// The interaction no longer needs it (customer left, consult cancelled): Revoked.
    Withdrawn,
}
use crate::gws::{InteractionState, Media, NotificationType};

impl Center {
    /// Queues an offer of `ixn_id` to some agent of `queue`.
    pub(crate) fn enqueue_offer(
        &mut self,
        ixn_id: &str,
        kind: OfferKind,
        by: Option<UserIdx>,
        queue: QueueIdx,
        exclude: Option<UserIdx>,
    ) {
        let seq = self.seq();
        if let Some(ixn) = self.ixns.get_mut(ixn_id) {
            ixn.offers.push(Offer { seq, kind, by, queue, exclude });
            self.waiting.push_back((ixn_id.to_string(), seq));
        }
    }

    /// Whether `user` may be offered an interaction of `media` now.
    fn can_take(&self, user: UserIdx, media: Media) -> bool {
        let agent = &self.agents[user];
        let Some(channels) = &agent.channels else { return false };
        // Facebook goes to agents Ready on `facebook` if their session listed it, otherwise to
        // agents Ready on `chat`: both media go through Chat Server (§15.20).
        let ready = match media {
            Media::Chat => channels.iter().any(|&(m, r)| m == Media::Chat && r),
            Media::Facebook => match channels.iter().find(|(m, _)| *m == Media::Facebook) {
                Some(&(_, r)) => r,
                None => channels.iter().any(|&(m, r)| m == Media::Chat && r),
            },
        };
        ready && agent.load < self.cfg.agent_capacity
    }

    /// Picks the agent of `queue` for an offer: least busy, then longest since its last offer,
    /// then lowest index (deterministic). The index is in that order, so this is the first
    /// entry that is neither excluded nor already in the interaction.
    fn pick_agent(&self, ixn_id: &str, offer: &Offer) -> Option<UserIdx> {
        let ixn = self.ixns.get(ixn_id)?;
        self.available
            .get(&(offer.queue, ixn.media))?
            .iter()
            .map(|&(_, _, u)| u)
            .find(|&u| Some(u) != offer.exclude && ixn.part(u).is_none())
    }

    /// Files `user` in `available` as its session, readiness and load now say: call it after
    /// any change to those.
    pub(crate) fn reindex(&mut self, user: UserIdx) {
        let queues = self.dir.user(user).queues.clone();
        if let Some((load, last)) = self.agents[user].indexed.take() {
            for &q in &queues {
                for media in [Media::Chat, Media::Facebook] {
                    if let Some(set) = self.available.get_mut(&(q, media)) {
                        set.remove(&(load, last, user));
                    }
                }
            }
        }
        let agent = &self.agents[user];
        let key = (agent.load, agent.last_offer_ms, user);
        let mut filed = false;
        for media in [Media::Chat, Media::Facebook] {
            if self.can_take(user, media) {
                filed = true;
                for &q in &queues {
                    self.available.entry((q, media)).or_default().insert(key);
                }
            }
        }
        if filed {
            self.agents[user].indexed = Some((key.0, key.1));
        }
    }

    /// Whether the index holds exactly the agents a full scan would find (for tests).
    #[cfg(test)]
    pub(crate) fn index_is_consistent(&self) -> bool {
        use std::collections::BTreeSet;
        for queue in self.dir.queues() {
            let Some(q) = self.dir.queue_by_id(&queue.id) else { return false };
            for media in [Media::Chat, Media::Facebook] {
                let want: BTreeSet<(u32, i64, UserIdx)> = queue
                    .members
                    .iter()
                    .filter(|&&u| self.can_take(u, media))
                    .map(|&u| (self.agents[u].load, self.agents[u].last_offer_ms, u))
                    .collect();
                let have = self.available.get(&(q, media)).cloned().unwrap_or_default();
                if want != have {
                    return false;
                }
            }
        }
        true
    }

    /// Matches waiting offers with available agents, oldest offer first.
    pub(crate) fn dispatch(&mut self, now_ms: i64, out: &mut Vec<Delivery>) {
        if self.waiting.is_empty() {
            return;
        }
        let mut still_waiting = std::collections::VecDeque::with_capacity(self.waiting.len());
        // Queues (per media) found to have nobody available in this pass: a backlog of chats
        // waiting for a busy queue costs one scan of its members, not one per chat.
        let mut exhausted: Vec<(QueueIdx, Media)> = Vec::new();
        while let Some((ixn_id, seq)) = self.waiting.pop_front() {
            let Some(offer) = self
                .ixns
                .get(&ixn_id)
                .and_then(|i| i.offers.iter().find(|o| o.seq == seq))
                .cloned()
            else {
                continue; // stale: the offer was withdrawn or the interaction is gone
            };
            if !self.offer_still_wanted(&ixn_id, &offer) {
                self.drop_offer(&ixn_id, seq, now_ms);
                continue;
            }
            let Some(ixn) = self.ixns.get(&ixn_id) else { continue };
            // Only an offer that excludes nobody, for an interaction nobody is in yet, says
            // something about every other offer of its queue.
            let general = offer.exclude.is_none() && ixn.parts.is_empty();
            let key = (offer.queue, ixn.media);
            if general && exhausted.contains(&key) {
                still_waiting.push_back((ixn_id, seq));
                continue;
            }
            match self.pick_agent(&ixn_id, &offer) {
                Some(user) => {
                    self.drop_offer(&ixn_id, seq, now_ms);
                    self.invite(&ixn_id, user, offer.kind, offer.by, now_ms, out);
                }
                None => {
                    if general {
                        exhausted.push(key);
                    }
                    still_waiting.push_back((ixn_id, seq));
                }
            }
        }
        self.waiting = still_waiting;
    }

    /// A consult or conference offer lapses when the agent who asked for it is gone.
    fn offer_still_wanted(&self, ixn_id: &str, offer: &Offer) -> bool {
        let Some(ixn) = self.ixns.get(ixn_id) else { return false };
        if ixn.customer.ended && !ixn.customer.present && ixn.parts.is_empty() {
            return false;
        }
        match (offer.kind, offer.by) {
            (OfferKind::Consult | OfferKind::Invite, Some(by)) => {
                ixn.parts.iter().any(|p| p.user == by && p.state == InteractionState::Chatting)
            }
            _ => true,
        }
    }

    fn drop_offer(&mut self, ixn_id: &str, seq: u64, now_ms: i64) {
        if let Some(ixn) = self.ixns.get_mut(ixn_id) {
            ixn.offers.retain(|o| o.seq != seq);
        }
        self.close_if_done(ixn_id, now_ms);
    }

    /// Offers the interaction to `user`: a new Invited part and its StatusChange(Invited).
    pub(crate) fn invite(
        &mut self,
        ixn_id: &str,
        user: UserIdx,
        kind: OfferKind,
        by: Option<UserIdx>,
        now_ms: i64,
        out: &mut Vec<Delivery>,
    ) {
        let pid = self.new_participant_id();
        let seq = self.seq();
        let nickname = self.dir.user(user).username.as_str().into();
        let deadline = now_ms.saturating_add(self.cfg.invite_timeout_ms as i64);
        let Some(ixn) = self.ixns.get_mut(ixn_id) else { return };
        ixn.parts.push(Part {
            user,
            pid,
            nickname,
            visibility: kind.visibility(),
            state: InteractionState::Invited,
            kind,
            invited_by: by,
            deadline: Some((deadline, seq)),
        });
        let agent = &mut self.agents[user];
        agent.load += 1;
        agent.last_offer_ms = now_ms;
        agent.interactions.push(ixn_id.to_string());
        self.reindex(user);
        self.deadlines.insert((deadline, seq), (ixn_id.to_string(), user));
        let ixn = &self.ixns[ixn_id];
        let part = &ixn.parts[ixn.parts.len() - 1];
        out.push(self.state_change(
            ixn,
            part,
            NotificationType::StatusChange,
            InteractionState::Invited,
            None,
            None,
        ));
    }

    /// Ends `user`'s invitation: `StatusChange(Revoked)`, or (for Reject) `Completed`. A
    /// routed or transferred interaction is offered again, to someone else if possible.
    pub(crate) fn revoke_invitation(
        &mut self,
        ixn_id: &str,
        user: UserIdx,
        reason: EndOfInvitation,
        now_ms: i64,
        out: &mut Vec<Delivery>,
    ) {
        let Some(ixn) = self.ixns.get(ixn_id) else { return };
        let Some(pi) = ixn.part(user) else { return };
        let part = ixn.parts[pi].clone();
        if part.state != InteractionState::Invited {
            return;
        }
        let (state, reference) = match reason {
            EndOfInvitation::Rejected(reference) => (InteractionState::Completed, Some(reference)),
            EndOfInvitation::TimedOut | EndOfInvitation::Withdrawn => {
                (InteractionState::Revoked, None)
            }
        };
        let ixn = &self.ixns[ixn_id];
        out.push(self.state_change(
            ixn,
            &part,
            NotificationType::StatusChange,
            state,
            reference,
            Some(Vec::new()),
        ));
        self.remove_part(ixn_id, user);
        let again = !matches!(reason, EndOfInvitation::Withdrawn);
        if again && matches!(part.kind, OfferKind::Route | OfferKind::Transfer) {
            let queue = self.ixns[ixn_id].queue;
            self.enqueue_offer(ixn_id, part.kind, part.invited_by, queue, Some(user));
        }
        self.close_if_done(ixn_id, now_ms);
    }

    /// Removes a part whose state became terminal and frees the agent's capacity.
    pub(crate) fn remove_part(&mut self, ixn_id: &str, user: UserIdx) {
        if let Some(ixn) = self.ixns.get_mut(ixn_id)
            && let Some(pi) = ixn.part(user)
        {
            let part = ixn.parts.remove(pi);
            let agent = &mut self.agents[user];
            agent.load = agent.load.saturating_sub(1);
            if let Some(i) = agent.interactions.iter().position(|id| id == ixn_id) {
                agent.interactions.swap_remove(i);
            }
            if let Some(key) = part.deadline {
                self.deadlines.remove(&key);
            }
            self.reindex(user);
        }
    }

    /// Withdraws every pending invitation and offer of an interaction (the customer gave up).
    pub(crate) fn withdraw_all(&mut self, ixn_id: &str, now_ms: i64, out: &mut Vec<Delivery>) {
        let invited: Vec<UserIdx> = match self.ixns.get_mut(ixn_id) {
            Some(ixn) => {
                ixn.offers.clear();
                ixn.parts
                    .iter()
                    .filter(|p| p.state == InteractionState::Invited)
                    .map(|p| p.user)
                    .collect()
            }
            None => return,
        };
        for user in invited {
            self.revoke_invitation(ixn_id, user, EndOfInvitation::Withdrawn, now_ms, out);
        }
    }
}
