//! The agent's contact-center session and readiness: `POST /api/v2/me` (Start/End
//! ContactCenterSession, Ready, NotReady), `POST /api/v2/me/channels/{channel}`, and the
//! `GET /api/v2/me` view (protocol.md §4, §15.24).

use serde_json::Map;

use super::routing::EndOfInvitation;
use super::{Center, Delivery, OpError, OpOk, Topic, UserIdx};
use crate::gws::{
    ChannelOperation, ChannelState, ChannelStateChange, InteractionState, Me, MeOperation,
    MeSubresources, MeView, Media, Notification, UserState, status,
};

impl Center {
    /// `POST /api/v2/me`: StartContactCenterSession, EndContactCenterSession, Ready, NotReady.
    pub fn me_operation(
        &mut self,
        user: UserIdx,
        operation: MeOperation,
        now_ms: i64,
        out: &mut Vec<Delivery>,
    ) -> Result<OpOk, OpError> {
        match operation {
            MeOperation::StartContactCenterSession { channels, .. } => {
                self.start_session(user, &channels, now_ms, out)
            }
            MeOperation::EndContactCenterSession {} => self.end_session(user, now_ms, out),
            MeOperation::Ready {} => self.set_ready(user, None, true, now_ms, out),
            MeOperation::NotReady {} => self.set_ready(user, None, false, now_ms, out),
        }
    }

    /// `POST /api/v2/me/channels/{channel}`: Ready or NotReady on one channel. The HTTP shell
    /// has refused an unknown operationName already, so an unknown channel is the first thing
    /// left to refuse (404/6).
    pub fn channel_operation(
        &mut self,
        user: UserIdx,
        channel: &str,
        operation: ChannelOperation,
        now_ms: i64,
        out: &mut Vec<Delivery>,
    ) -> Result<OpOk, OpError> {
        let media = match channel {
            "chat" => Media::Chat,
            "facebook" => Media::Facebook,
            other => return Err(OpError::not_found(format!("unknown channel '{other}'"))),
        };
        let ready = matches!(operation, ChannelOperation::Ready {});
        self.set_ready(user, Some(media), ready, now_ms, out)
    }

    fn start_session(
        &mut self,
        user: UserIdx,
        names: &[String],
        now_ms: i64,
        out: &mut Vec<Delivery>,
    ) -> Result<OpOk, OpError> {
        let mut channels = Vec::new();
        let mut unsupported = Vec::new();
        for name in names {
            match name.as_str() {
                "chat" => channels.push((Media::Chat, false)),
                "facebook" => channels.push((Media::Facebook, false)),
                other => unsupported.push(other.to_string()),
            }
        }
        channels.dedup();
        if channels.is_empty() {
            return Err(OpError::new(
                status::VALIDATION,
                "no supported channel requested (this server offers chat and facebook)",
            ));
        }
        // Starting again resets readiness rather than failing, so a client that lost its
        // state can always log in afresh.
        let agent = &mut self.agents[user];
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

    fn end_session(
        &mut self,
        user: UserIdx,
        now_ms: i64,
        out: &mut Vec<Delivery>,
    ) -> Result<OpOk, OpError> {
        let Some(channels) = self.agents[user].channels.take() else {
            return Err(OpError::invalid_state("no contact-center session is active"));
        };
        self.reindex(user);
        self.announce(user, channels.iter().map(|(m, _)| (*m, "LoggedOut")), out);
        let invited: Vec<String> = self.agents[user]
            .interactions
            .iter()
            .filter(|id| {
                self.ixns.get(*id).is_some_and(|i| {
                    i.part(user).is_some_and(|p| i.parts[p].state == InteractionState::Invited)
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

    fn set_ready(
        &mut self,
        user: UserIdx,
        only: Option<Media>,
        ready: bool,
        now_ms: i64,
        out: &mut Vec<Delivery>,
    ) -> Result<OpOk, OpError> {
        let agent = &mut self.agents[user];
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

    /// The user's last CometD session expired (no connect within `maxInterval`) and it has no
    /// other: nothing can reach the agent any more, so routing stops offering it chats. Its
    /// channels go NotReady (announced, for a session it may open later); its contact-center
    /// session and its interactions stay, so a client that comes back finds them in
    /// `GET /api/v2/me`, and its open invitations time out to Revoked as any unanswered one
    /// (§15.7). protocol.md is silent here; docs/faults.md ("A vanished agent") says why.
    pub fn notifications_lost(&mut self, user: UserIdx, out: &mut Vec<Delivery>) {
        let Some(agent) = usize::try_from(user.get()).ok().and_then(|i| self.agents.get_mut(i))
        else {
            return;
        };
        let Some(channels) = agent.channels.as_mut() else { return };
        let mut changed = Vec::new();
        for (media, ready) in channels.iter_mut().filter(|(_, r)| *r) {
            *ready = false;
            changed.push(*media);
        }
        if changed.is_empty() {
            return;
        }
        self.reindex(user);
        self.announce(user, changed.into_iter().map(|m| (m, "NotReady")), out);
    }

    /// The user has had no CometD session for the server's grace period after its last one
    /// expired (`BayeuxConfig::vanished_after`): it is given up for gone, as if it had left
    /// everything and logged out. Each chat it had joined goes on without it (the others see it
    /// leave; a chat left with no agent visible to the customer is routed again, §15.23, and
    /// the customer sees the agent leave and the next one join), its open invitations are
    /// revoked and routed again (§15.7), a chat in wrap-up is dropped, and its contact-center
    /// session ends (channels LoggedOut). protocol.md is silent here; docs/faults.md ("A
    /// vanished agent") says why.
    pub fn agent_gone(&mut self, user: UserIdx, now_ms: i64, out: &mut Vec<Delivery>) {
        let Some(agent) = usize::try_from(user.get()).ok().and_then(|i| self.agents.get_mut(i))
        else {
            return;
        };
        // Out of routing first, so no chat it leaves is offered back to it.
        let channels = agent.channels.take();
        let held = agent.interactions.clone();
        self.reindex(user);
        for id in held {
            let Some(part) =
                self.ixns.get(&id).and_then(|i| i.part(user).map(|p| i.parts[p].clone()))
            else {
                continue;
            };
            match part.state {
                InteractionState::Invited => {
                    self.revoke_invitation(&id, user, EndOfInvitation::TimedOut, now_ms, out);
                }
                InteractionState::Chatting => {
                    let reference = self.reference();
                    self.depart(&id, &part, reference, true, now_ms, out);
                    self.close_if_done(&id, now_ms);
                }
                _ => {
                    self.remove_part(&id, user);
                    self.close_if_done(&id, now_ms);
                }
            }
        }
        if let Some(channels) = channels {
            self.announce(user, channels.iter().map(|(m, _)| (*m, "LoggedOut")), out);
        }
        self.dispatch(now_ms, out);
    }

    fn announce<'a>(
        &self,
        user: UserIdx,
        states: impl Iterator<Item = (Media, &'a str)>,
        out: &mut Vec<Delivery>,
    ) {
        let channels = states
            .map(|(m, s)| {
                let display_name = match s {
                    "NotReady" => "Not Ready",
                    "LoggedOut" => "Logged Out",
                    _ => s,
                };
                channel_state(m, s, display_name)
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

    pub(super) fn ok_with_reference(&mut self) -> OpOk {
        OpOk { reference_id: Some(self.reference()), ..OpOk::default() }
    }

    /// `GET /api/v2/me[?subresources=*]`: the user, and with subresources its channels and
    /// interactions.
    pub fn me_view(&self, user: UserIdx, subresources: bool) -> MeView {
        let u = self.dir.user(user);
        let me = Me {
            id: u.id.clone(),
            user_name: u.username.clone(),
            first_name: Some(u.first_name.clone()),
            last_name: Some(u.last_name.clone()),
            uri: Some(self.user_uri(user)),
            path: Some(format!("/users/{}", u.id)),
            roles: vec!["ROLE_AGENT".into()],
            enabled: Some(true),
            other: Map::new(),
        };
        let subresources = subresources.then(|| {
            let agent = &self.agents[user];
            // The view shows "NotReady" as its display name too, as it always has; only the
            // channel-state notifications spell it "Not Ready".
            let channels = agent
                .channels
                .iter()
                .flatten()
                .map(|(m, r)| {
                    let s = if *r { "Ready" } else { "NotReady" };
                    channel_state(*m, s, s)
                })
                .collect();
            let mut chats = Vec::new();
            let mut facebooksessions = Vec::new();
            for ixn in agent.interactions.iter().filter_map(|id| self.ixns.get(id)) {
                if let Some(pi) = ixn.part(user) {
                    let part = &ixn.parts[pi];
                    let r = self.resource(ixn, part, part.state, None);
                    match ixn.media {
                        Media::Chat => chats.push(r),
                        Media::Facebook => facebooksessions.push(r),
                    }
                }
            }
            MeSubresources {
                channels,
                chats,
                facebooksessions,
                devices: Vec::new(),
                settings: Map::new(),
            }
        });
        MeView { me, subresources }
    }
}

fn channel_state(media: Media, state: &str, display_name: &str) -> ChannelState {
    ChannelState {
        channel: media.channel_name().to_string(),
        user_state: UserState {
            id: agent_state_id(state).to_string(),
            state: state.to_string(),
            display_name: display_name.to_string(),
        },
    }
}

/// Stable ids for the agent states announced on `/v2/me/channels`.
fn agent_state_id(state: &str) -> &'static str {
    match state {
        "Ready" => "9430250E-0A1B-4B3B-9D5E-0B0A3A4B5C01",
        "NotReady" => "9430250E-0A1B-4B3B-9D5E-0B0A3A4B5C02",
        _ => "9430250E-0A1B-4B3B-9D5E-0B0A3A4B5C03",
    }
}
