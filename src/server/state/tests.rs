//! Unit and property tests of the state machine: the seed sequences per role, the error
//! precedence of protocol.md §15.18, routing and timeouts, and invariants under random operations.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;
use crate::gws::{Capability, EntryType, MeOperation, NotificationType, Operation};

const T0: i64 = 1_700_000_000_000;

pub(crate) fn center() -> Center {
    let users = ["ann", "bob", "cat", "dan"]
        .iter()
        .map(|n| NewUser {
            username: n.to_string(),
            first_name: n.to_string(),
            last_name: "Test".into(),
            queues: vec![if *n == "dan" { "experts".into() } else { "default".into() }],
        })
        .collect();
    let dir = Directory::build(&["default".into(), "experts".into()], users).expect("valid");
    Center::new(StateConfig { agent_capacity: 1, ..StateConfig::default() }, dir)
}

fn params(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// A request body: `operationName` plus the parameters in `p`.
fn body(op: &str, p: Value) -> Value {
    let mut m = params(p);
    m.insert("operationName".into(), Value::String(op.into()));
    Value::Object(m)
}

/// A compact rendering of one delivery, e.g. `ann SC/StatusChange(Chatting) ref` or
/// `bob ML[ParticipantJoined bob Agents]`.
pub(crate) fn show(c: &Center, d: &Delivery) -> String {
    let who = &c.dir.user(d.user).username;
    match &d.notification {
        Notification::ChatStateChangeMessage(sc)
        | Notification::FacebooksessionStateChangeMessage(sc) => {
            let r = sc.resource().map(|r| r.state.as_str()).unwrap_or("?");
            let reference = if sc.reference_id.is_some() { " ref" } else { "" };
            format!("{who} SC/{:?}({r}){reference}", sc.notification_type)
        }
        Notification::MessageLogUpdated(ml) => {
            let entries: Vec<String> = ml
                .messages
                .iter()
                .map(|e| {
                    format!(
                        "{:?} {} {:?}",
                        e.kind,
                        e.from.nickname,
                        e.visibility.unwrap_or(Visibility::All)
                    )
                })
                .collect();
            format!("{who} ML[{}]", entries.join(", "))
        }
        Notification::ChannelStateChangeMessageV2(ch) => {
            format!(
                "{who} CH[{}]",
                ch.channels
                    .iter()
                    .map(|c| c.user_state.state.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            )
        }
        Notification::Unknown => format!("{who} ?"),
    }
}

pub(crate) struct World {
    pub(crate) c: Center,
    pub(crate) now: i64,
}

impl World {
    pub(crate) fn new() -> World {
        World { c: center(), now: T0 }
    }

    pub(crate) fn user(&self, name: &str) -> UserIdx {
        self.c.dir.user_by_name(name).expect("known user")
    }

    pub(crate) fn me(
        &mut self,
        name: &str,
        op: &str,
        p: Value,
    ) -> (Result<OpOk, OpError>, Vec<String>) {
        let u = self.user(name);
        let mut out = Vec::new();
        let r = match MeOperation::decode(&body(op, p)) {
            Ok(op) => self.c.me_operation(u, op, self.now, &mut out),
            Err(e) => Err(OpError::from(e)),
        };
        (r, out.iter().map(|d| show(&self.c, d)).collect())
    }

    pub(crate) fn login(&mut self, name: &str, channels: &[&str]) {
        let (r, _) = self.me(name, "StartContactCenterSession", json!({"channels": channels}));
        r.expect("session starts");
        let (r, _) = self.me(name, "Ready", json!({}));
        r.expect("ready");
    }

    pub(crate) fn op(
        &mut self,
        name: &str,
        media: Media,
        id: &str,
        op: &str,
        p: Value,
    ) -> (Result<OpOk, OpError>, Vec<String>) {
        let u = self.user(name);
        let mut out = Vec::new();
        let r = match InteractionRequest::decode(u, media, id, &body(op, p)) {
            Ok(req) => self.c.interaction_operation(req, self.now, &mut out),
            Err(e) => Err(OpError::from(e)),
        };
        (r, out.iter().map(|d| show(&self.c, d)).collect())
    }

    /// A customer chat; returns (customer id, interaction id, deliveries).
    pub(crate) fn customer(&mut self, nickname: &str) -> (String, String, Vec<String>) {
        let mut out = Vec::new();
        let ok = self
            .c
            .request_chat(
                &params(json!({"nickname": nickname, "subject": "help"})),
                self.now,
                &mut out,
            )
            .expect("chat");
        let cid = ok.body["id"].as_str().expect("id").to_string();
        let ixn = self.c.customer_ids[&cid].clone();
        (cid, ixn, out.iter().map(|d| show(&self.c, d)).collect())
    }

    pub(crate) fn uri(&self, name: &str) -> String {
        self.c.user_uri(self.user(name))
    }
}

fn code(r: &Result<OpOk, OpError>) -> u32 {
    match r {
        Ok(_) => 0,
        Err(e) => e.status_code,
    }
}

/// Customer chat routed to ann, accepted, consult with bob accepted; returns ids.
fn consulting(w: &mut World, media: Media) -> String {
    w.login("ann", &["chat"]);
    let ixn = match media {
        Media::Chat => w.customer("Chris").1,
        Media::Facebook => {
            let mut out = Vec::new();
            let ok =
                w.c.facebook_inbound(
                    &params(json!({"nickname": "Vitaliy", "text": "hello"})),
                    w.now,
                    &mut out,
                )
                .expect("inbound");
            ok.body["id"].as_str().expect("id").to_string()
        }
    };
    w.op("ann", media, &ixn, "Accept", json!({"nickname": "Ann"})).0.expect("accept");
    w.login("bob", &["chat"]);
    let bob = w.uri("bob");
    let (r, out) = w.op("ann", media, &ixn, "Consult", json!({"targetUri": bob}));
    assert!(r.expect("consult").reference_id.is_some());
    assert_eq!(out, ["bob SC/StatusChange(Invited)"]);
    ixn
}

#[test]
fn offer_and_accept_follow_15_7_and_15_8() {
    let mut w = World::new();
    w.login("ann", &["chat"]);
    let (_, ixn, out) = w.customer("Chris");
    assert_eq!(out, ["ann SC/StatusChange(Invited)"]);
    let (r, out) = w.op("ann", Media::Chat, &ixn, "Accept", json!({"nickname": "Ann"}));
    assert!(r.is_ok());
    assert_eq!(
        out,
        [
            "ann SC/StatusChange(Chatting) ref",
            "ann SC/ParticipantsUpdated(Chatting) ref",
            "ann ML[ParticipantJoined Chris All, ParticipantJoined Ann All]",
        ]
    );
}

#[test]
fn consult_sequences_for_originator_and_consultant() {
    let mut w = World::new();
    let ixn = consulting(&mut w, Media::Chat);
    let (r, out) = w.op("bob", Media::Chat, &ixn, "Accept", json!({"nickname": "Bob"}));
    assert!(r.is_ok());
    assert_eq!(
        out,
        [
            "bob SC/StatusChange(Chatting) ref",
            "bob SC/ParticipantsUpdated(Chatting) ref",
            "bob ML[ParticipantJoined Chris All, ParticipantJoined Ann All, ParticipantJoined Bob Agents]",
            "ann SC/ParticipantsUpdated(Chatting)",
            "ann ML[ParticipantJoined Bob Agents]",
        ]
    );
    // The originator gains the conference capabilities; the consultant has the §15.21 list.
    let ann = w.user("ann");
    let i = &w.c.ixns[&ixn];
    let caps = capabilities_of(&w.c, i, ann);
    assert!(caps.contains(&Capability::SendToAgents));
    assert!(caps.contains(&Capability::RemoveParticipantFromConference));
    let bob_caps = capabilities_of(&w.c, i, w.user("bob"));
    assert!(!bob_caps.contains(&Capability::Transfer));
    // The customer sees nothing of the consultant.
    let cid = i.customer.external_id.clone();
    let seen = w.c.customer_messages(CustomerApi::Chat, &cid, Some(0)).expect("messages");
    assert!(seen.iter().all(|e| e.from.nickname != "Bob"), "{seen:?}");
}

fn capabilities_of(_: &Center, ixn: &Interaction, user: UserIdx) -> Vec<Capability> {
    let part = &ixn.parts[ixn.part(user).expect("participant")];
    crate::gws::states::capabilities(ixn.media, Center::situation(ixn, part))
}

#[test]
fn remove_participant_sequences_for_remover_and_removed() {
    for media in [Media::Chat, Media::Facebook] {
        let mut w = World::new();
        let ixn = consulting(&mut w, media);
        w.op("bob", media, &ixn, "Accept", json!({"nickname": "Bob"})).0.expect("accept");
        let bob = w.uri("bob");
        let (r, out) =
            w.op("ann", media, &ixn, "RemoveParticipantFromConference", json!({"targetUri": bob}));
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(
            out,
            [
                "ann ML[Notice Ann Agents]",
                "ann SC/ParticipantsUpdated(Chatting) ref",
                "ann ML[ParticipantLeft Bob Agents]",
                "bob SC/ParticipantsUpdated(LeftChat)",
                "bob ML[ParticipantLeft Bob Agents]",
                "bob SC/StatusChange(LeftChat)",
                "bob SC/StatusChange(Completed) ref",
            ],
            "{media:?}"
        );
        // The removed agent is no longer a participant: 404 from now on.
        let (r, out) = w.op("bob", media, &ixn, "SendMessage", json!({"text": "late"}));
        assert_eq!(code(&r), 6);
        assert!(out.is_empty());
    }
}

#[test]
fn remove_notice_names_the_removed_user_and_is_configurable() {
    let mut w = World::new();
    let ixn = consulting(&mut w, Media::Chat);
    w.op("bob", Media::Chat, &ixn, "Accept", json!({"nickname": "Bob"})).0.expect("accept");
    let bob = w.user("bob");
    let mut out = Vec::new();
    let op = Operation::RemoveParticipantFromConference {
        target_uri: None,
        target_path: Some(format!("/users/{}", w.c.dir.user(bob).id)),
        text: None,
    };
    let ann = w.user("ann");
    let req = InteractionRequest::typed(ann, Media::Chat, &ixn, op);
    w.c.interaction_operation(req, w.now, &mut out).expect("remove");
    let Notification::MessageLogUpdated(ml) = &out[0].notification else {
        panic!("first is the notice")
    };
    assert_eq!(ml.messages[0].kind, EntryType::Notice);
    assert_eq!(
        ml.messages[0].text.as_deref(),
        Some(format!("REMOVE_PARTICIPANT_FROM_CONFERENCE{}", w.c.dir.user(bob).id).as_str())
    );

    let mut w = World::new();
    w.c.cfg.emit_remove_notice = false;
    let ixn = consulting(&mut w, Media::Chat);
    w.op("bob", Media::Chat, &ixn, "Accept", json!({"nickname": "Bob"})).0.expect("accept");
    let bob = w.uri("bob");
    let (_, out) = w.op(
        "ann",
        Media::Chat,
        &ixn,
        "RemoveParticipantFromConference",
        json!({"targetUri": bob}),
    );
    assert_eq!(out[0], "ann SC/ParticipantsUpdated(Chatting) ref");
}

#[test]
fn leave_sole_agent_and_consultant() {
    // Consultant leaves: Completed for it, ParticipantsUpdated + ParticipantLeft for the other.
    let mut w = World::new();
    let ixn = consulting(&mut w, Media::Facebook);
    w.op("bob", Media::Facebook, &ixn, "Accept", json!({"nickname": "Bob"})).0.expect("accept");
    let (_, out) = w.op("bob", Media::Facebook, &ixn, "Leave", json!({}));
    assert_eq!(
        out,
        [
            "bob SC/StatusChange(Completed) ref",
            "ann SC/ParticipantsUpdated(Chatting)",
            "ann ML[ParticipantLeft Bob Agents]"
        ]
    );
    // Sole agent leaves: LeftChat with the customer as the only participant, then Complete.
    let (_, out) = w.op("ann", Media::Facebook, &ixn, "Leave", json!({}));
    assert_eq!(out, ["ann SC/StatusChange(LeftChat) ref"]);
    let i = &w.c.ixns[&ixn];
    assert_eq!(capabilities_of(&w.c, i, w.user("ann")).len(), 6);
    let view = w.c.customer_chat(CustomerApi::Facebook, &ixn).expect("view");
    assert_eq!(view["chat"]["state"], "Idle");
    let (r, _) = w.op("ann", Media::Facebook, &ixn, "SendMessage", json!({"text": "x"}));
    assert_eq!(code(&r), 2, "wrap-up has no SendMessage");
    let (_, out) = w.op("ann", Media::Facebook, &ixn, "Complete", json!({}));
    assert_eq!(out, ["ann SC/StatusChange(Completed) ref"]);
    assert_eq!(code(&w.op("ann", Media::Facebook, &ixn, "Complete", json!({})).0), 6);
}

/// An agent given up for gone (its CometD sessions expired long ago) leaves every chat: a
/// consultant as by Leave, so the chat goes on; the only agent so that the customer sees it
/// leave and the chat is routed to another agent; it is logged out and offered nothing more.
#[test]
fn a_gone_agent_leaves_its_chats_which_go_on_or_are_routed_again() {
    let mut w = World::new();
    let ixn = consulting(&mut w, Media::Chat);
    w.op("bob", Media::Chat, &ixn, "Accept", json!({"nickname": "Bob"})).0.expect("accept");
    let mut out = Vec::new();
    w.c.agent_gone(w.user("bob"), w.now, &mut out);
    let shown: Vec<String> = out.iter().map(|d| show(&w.c, d)).collect();
    assert_eq!(
        shown,
        [
            "bob SC/StatusChange(Completed) ref",
            "ann SC/ParticipantsUpdated(Chatting)",
            "ann ML[ParticipantLeft Bob Agents]",
            "bob CH[LoggedOut]",
        ]
    );
    assert!(w.c.agents[w.user("bob")].interactions.is_empty());
    // Ann, now alone, is gone too: the customer sees her leave, the chat waits for an agent
    // and goes to the next one Ready (never back to her).
    let mut out = Vec::new();
    w.c.agent_gone(w.user("ann"), w.now, &mut out);
    let shown: Vec<String> = out.iter().map(|d| show(&w.c, d)).collect();
    assert_eq!(shown, ["ann SC/StatusChange(Completed) ref", "ann CH[LoggedOut]"]);
    let cid = w.c.ixns[&ixn].customer.external_id.clone();
    let seen = w.c.customer_messages(CustomerApi::Chat, &cid, Some(0)).expect("messages");
    let last = seen.last().expect("entries");
    assert_eq!((last.kind, last.from.nickname.as_str()), (EntryType::ParticipantLeft, "Ann"));
    let view = w.c.customer_chat(CustomerApi::Chat, &cid).expect("view");
    assert_ne!(view["chat"]["state"], "Idle", "the chat is not over for the customer");
    w.login("cat", &["chat"]);
    let invited = w.c.ixns[&ixn].part(w.user("cat")).map(|p| w.c.ixns[&ixn].parts[p].state);
    assert_eq!(invited, Some(InteractionState::Invited));
    // Cat finishes it: the customer's chat ends.
    w.op("cat", Media::Chat, &ixn, "Accept", json!({"nickname": "Cat"})).0.expect("accept");
    w.op("cat", Media::Chat, &ixn, "Complete", json!({})).0.expect("complete");
    let view = w.c.customer_chat(CustomerApi::Chat, &cid).expect("view");
    assert_eq!(view["chat"]["state"], "Idle");
    // A gone agent with an open invitation: it is revoked and routed again.
    let mut w = World::new();
    w.login("ann", &["chat"]);
    let (_, ixn, _) = w.customer("Chris");
    w.login("bob", &["chat"]);
    let mut out = Vec::new();
    w.c.agent_gone(w.user("ann"), w.now, &mut out);
    let shown: Vec<String> = out.iter().map(|d| show(&w.c, d)).collect();
    assert_eq!(
        shown,
        ["ann SC/StatusChange(Revoked)", "ann CH[LoggedOut]", "bob SC/StatusChange(Invited)"],
        "{ixn}"
    );
}

#[test]
fn error_precedence_follows_15_18() {
    let mut w = World::new();
    let ixn = consulting(&mut w, Media::Chat);
    // Unknown operation beats unknown interaction.
    assert_eq!(code(&w.op("ann", Media::Chat, "nope", "Frobnicate", json!({})).0), 1);
    assert_eq!(code(&w.op("ann", Media::Chat, "nope", "SendMessage", json!({"text": "x"})).0), 6);
    // Wrong media is "not found" too; so is a chat the agent is not in.
    assert_eq!(code(&w.op("ann", Media::Facebook, &ixn, "SendMessage", json!({"text": "x"})).0), 6);
    assert_eq!(code(&w.op("cat", Media::Chat, &ixn, "SendMessage", json!({"text": "x"})).0), 6);
    // Not in capabilities, before parameters: an invited agent cannot send.
    assert_eq!(code(&w.op("bob", Media::Chat, &ixn, "SendMessage", json!({})).0), 2);
    // Missing and mistyped parameters.
    assert_eq!(code(&w.op("bob", Media::Chat, &ixn, "Accept", json!({})).0), 1);
    assert_eq!(code(&w.op("bob", Media::Chat, &ixn, "Accept", json!({"nickname": 5})).0), 1);
    w.op("bob", Media::Chat, &ixn, "Accept", json!({"nickname": "Bob"})).0.expect("accept");
    // A consultant may not remove: 403/3, before the capability check.
    let ann = w.uri("ann");
    assert_eq!(
        code(
            &w.op(
                "bob",
                Media::Chat,
                &ixn,
                "RemoveParticipantFromConference",
                json!({"targetUri": ann})
            )
            .0
        ),
        3
    );
    // Targets: missing (1), unknown (6), not logged in (2), already in the chat (2).
    assert_eq!(code(&w.op("ann", Media::Chat, &ixn, "Invite", json!({})).0), 1);
    assert_eq!(
        code(
            &w.op(
                "ann",
                Media::Chat,
                &ixn,
                "Invite",
                json!({"targetUri": "http://x/api/v2/users/00"})
            )
            .0
        ),
        6
    );
    let cat = w.uri("cat");
    assert_eq!(code(&w.op("ann", Media::Chat, &ixn, "Invite", json!({"targetUri": cat})).0), 2);
    let bob = w.uri("bob");
    assert_eq!(code(&w.op("ann", Media::Chat, &ixn, "Invite", json!({"targetUri": bob})).0), 2);
    // An errored request changed nothing.
    assert_eq!(w.c.ixns[&ixn].parts.len(), 2);
    // Session state: Ready before StartContactCenterSession is 400/2.
    assert_eq!(code(&w.me("cat", "Ready", json!({})).0), 2);
    assert_eq!(code(&w.me("cat", "StartContactCenterSession", json!({})).0), 1);
    assert_eq!(code(&w.me("cat", "Dance", json!({})).0), 1);
}

#[test]
fn unanswered_invitation_is_revoked_and_routed_again() {
    let mut w = World::new();
    w.login("ann", &["chat"]);
    w.login("bob", &["chat"]);
    let (_, ixn, out) = w.customer("Chris");
    let first = out[0].split(' ').next().expect("user").to_string();
    let other = if first == "ann" { "bob" } else { "ann" };
    let mut out = Vec::new();
    w.c.tick(T0 + 29_999, &mut out);
    assert!(out.is_empty());
    w.c.tick(T0 + 30_000, &mut out);
    let shown: Vec<String> = out.iter().map(|d| show(&w.c, d)).collect();
    assert_eq!(
        shown,
        [format!("{first} SC/StatusChange(Revoked)"), format!("{other} SC/StatusChange(Invited)")]
    );
    // Reject routes it again as well, back to the first agent (now the only one free).
    w.now = T0 + 30_001;
    let (r, out) = w.op(other, Media::Chat, &ixn, "Reject", json!({}));
    assert!(r.is_ok());
    assert_eq!(
        out,
        [
            format!("{other} SC/StatusChange(Completed) ref"),
            format!("{first} SC/StatusChange(Invited)")
        ]
    );
}

#[test]
fn routing_prefers_least_busy_then_longest_idle_and_respects_queues() {
    let mut w = World::new();
    w.c.cfg.agent_capacity = 2;
    w.login("ann", &["chat"]);
    w.now += 10;
    w.login("bob", &["chat"]);
    w.login("dan", &["chat"]); // experts queue only
    let (_, _, out) = w.customer("c1");
    assert_eq!(out, ["ann SC/StatusChange(Invited)"], "ann has waited longest");
    let (_, _, out) = w.customer("c2");
    assert_eq!(out, ["bob SC/StatusChange(Invited)"], "bob is less busy");
    let mut out = Vec::new();
    w.c.request_chat(&params(json!({"nickname": "c3", "endpoint": "experts"})), w.now, &mut out)
        .expect("chat");
    assert_eq!(show(&w.c, &out[0]), "dan SC/StatusChange(Invited)");
}

#[test]
fn customer_leaving_first_and_abandoning() {
    let mut w = World::new();
    w.login("ann", &["chat"]);
    let (cid, ixn, _) = w.customer("Chris");
    w.op("ann", Media::Chat, &ixn, "Accept", json!({"nickname": "Ann"})).0.expect("accept");
    let mut out = Vec::new();
    w.c.customer_operation(
        CustomerApi::Chat,
        &cid,
        "SendMessage",
        &params(json!({"text": "hi"})),
        w.now,
        &mut out,
    )
    .expect("send");
    w.c.customer_operation(CustomerApi::Chat, &cid, "Complete", &Map::new(), w.now, &mut out)
        .expect("complete");
    let shown: Vec<String> = out.iter().map(|d| show(&w.c, d)).collect();
    assert_eq!(
        shown,
        [
            "ann ML[Text Chris All]",
            "ann SC/ParticipantsUpdated(Chatting)",
            "ann ML[ParticipantLeft Chris All]"
        ]
    );
    // A customer who gives up while waiting withdraws the invitation.
    let (cid2, _, out) = w.customer("Dora");
    assert!(out.is_empty(), "ann is at capacity");
    w.login("bob", &["chat"]);
    let mut out = Vec::new();
    w.c.customer_operation(CustomerApi::Chat, &cid2, "Complete", &Map::new(), w.now, &mut out)
        .expect("abandon");
    let shown: Vec<String> = out.iter().map(|d| show(&w.c, d)).collect();
    assert_eq!(shown, ["bob SC/StatusChange(Revoked)"]);
}

#[test]
fn transfer_to_user_and_queue() {
    let mut w = World::new();
    w.login("ann", &["chat"]);
    let (cid, ixn, _) = w.customer("Chris");
    w.op("ann", Media::Chat, &ixn, "Accept", json!({"nickname": "Ann"})).0.expect("accept");
    w.login("bob", &["chat"]);
    let bob = w.uri("bob");
    let (_, out) = w.op("ann", Media::Chat, &ixn, "Transfer", json!({"targetUri": bob}));
    assert_eq!(out, ["ann SC/StatusChange(Completed) ref", "bob SC/StatusChange(Invited)"]);
    let (_, out) = w.op("bob", Media::Chat, &ixn, "Accept", json!({"nickname": "Bob"}));
    assert_eq!(
        out[2],
        "bob ML[ParticipantJoined Chris All, ParticipantJoined Ann All, ParticipantLeft Ann All, ParticipantJoined Bob All]"
    );
    let seen = w.c.customer_messages(CustomerApi::Chat, &cid, None).expect("messages");
    let kinds: Vec<_> = seen.iter().map(|e| (e.kind, e.from.nickname.as_str())).collect();
    assert_eq!(
        kinds[2..],
        [(EntryType::ParticipantLeft, "Ann"), (EntryType::ParticipantJoined, "Bob")]
    );
    // To a queue with nobody Ready there: it waits, then goes to the first expert who is.
    let (_, out) = w.op("bob", Media::Chat, &ixn, "Transfer", json!({"queueName": "experts"}));
    assert_eq!(out, ["bob SC/StatusChange(Completed) ref"]);
    let (_, out) = {
        w.me("dan", "StartContactCenterSession", json!({"channels": ["chat"]})).0.expect("session");
        w.me("dan", "Ready", json!({}))
    };
    assert_eq!(out, ["dan CH[Ready]", "dan SC/StatusChange(Invited)"]);
}

#[test]
fn cancel_consult_revokes_the_invitation_silently_for_the_originator() {
    let mut w = World::new();
    let ixn = consulting(&mut w, Media::Chat);
    let ann = w.user("ann");
    assert!(capabilities_of(&w.c, &w.c.ixns[&ixn], ann).contains(&Capability::CancelConsult));
    let (r, out) = w.op("ann", Media::Chat, &ixn, "CancelConsult", json!({}));
    assert!(r.expect("cancel").reference_id.is_some());
    assert_eq!(out, ["bob SC/StatusChange(Revoked)"]);
    assert!(!capabilities_of(&w.c, &w.c.ixns[&ixn], ann).contains(&Capability::CancelConsult));
}

#[test]
fn customer_messages_cursor_and_index() {
    let mut w = World::new();
    w.login("ann", &["chat"]);
    let (cid, ixn, _) = w.customer("Chris");
    assert_eq!(
        w.c.customer_chat(CustomerApi::Chat, &cid).expect("view")["chat"]["state"],
        "WaitingForAgent"
    );
    w.op("ann", Media::Chat, &ixn, "Accept", json!({"nickname": "Ann"})).0.expect("accept");
    assert_eq!(
        w.c.customer_chat(CustomerApi::Chat, &cid).expect("view")["chat"]["state"],
        "Chatting"
    );
    let first = w.c.customer_messages(CustomerApi::Chat, &cid, None).expect("messages");
    assert_eq!(first.iter().map(|e| e.index).collect::<Vec<_>>(), [1, 2]);
    assert!(w.c.customer_messages(CustomerApi::Chat, &cid, None).expect("messages").is_empty());
    w.op("ann", Media::Chat, &ixn, "SendMessage", json!({"text": "hello"})).0.expect("send");
    let next = w.c.customer_messages(CustomerApi::Chat, &cid, None).expect("messages");
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].text.as_deref(), Some("hello"));
    assert!(next[0].visibility.is_none(), "customers never see visibility");
    assert_eq!(w.c.customer_messages(CustomerApi::Chat, &cid, Some(2)).expect("messages").len(), 2);
    assert_eq!(
        w.c.customer_messages(CustomerApi::Chat, "unknown", None)
            .map(|_| ())
            .err()
            .map(|e| e.status_code),
        Some(6)
    );
}

#[test]
fn a_waiting_chat_is_offered_as_soon_as_capacity_frees() {
    let mut w = World::new();
    w.login("ann", &["chat"]);
    let (_, first, _) = w.customer("c1");
    w.op("ann", Media::Chat, &first, "Accept", json!({"nickname": "Ann"})).0.expect("accept");
    let (_, second, out) = w.customer("c2");
    assert!(out.is_empty(), "ann is at capacity (1): the second chat waits");
    // Many more waiting chats: one pass over the busy queue, every one stays queued.
    for n in 3..40 {
        let (_, _, out) = w.customer(&format!("c{n}"));
        assert!(out.is_empty());
    }
    let (_, out) = w.op("ann", Media::Chat, &first, "Complete", json!({}));
    assert_eq!(out, ["ann SC/StatusChange(Completed) ref", "ann SC/StatusChange(Invited)"]);
    let ann = w.user("ann");
    assert_eq!(w.c.agents[ann].interactions, vec![second], "the oldest waiting chat comes first");
}

#[test]
fn closed_interactions_are_forgotten_after_retention() {
    let mut w = World::new();
    w.login("ann", &["chat"]);
    let (cid, ixn, _) = w.customer("Chris");
    w.op("ann", Media::Chat, &ixn, "Accept", json!({"nickname": "Ann"})).0.expect("accept");
    w.op("ann", Media::Chat, &ixn, "Complete", json!({})).0.expect("complete");
    let mut out = Vec::new();
    w.c.tick(w.now + 1, &mut out);
    assert_eq!(w.c.interaction_count(), 1, "still readable by the customer");
    w.c.tick(w.now + w.c.cfg.retention_ms as i64, &mut out);
    assert_eq!(w.c.interaction_count(), 0);
    assert!(w.c.customer_chat(CustomerApi::Chat, &cid).is_err());
    assert_eq!(w.c.agents[w.user("ann")].load, 0);
}

// ----- property test -----

#[derive(Debug, Clone)]
enum Action {
    Login(usize),
    Logout(usize),
    Ready(usize, bool),
    Customer,
    CustomerSend(usize),
    CustomerComplete(usize),
    CustomerPoll(usize),
    /// (agent, interaction pick, operation, target, whether to pick among valid operations)
    Agent(usize, usize, Capability, usize, bool),
    Tick(u16),
    /// The agent is given up for gone (its CometD sessions expired long ago).
    Gone(usize),
}

fn action() -> impl Strategy<Value = Action> {
    let op = prop::sample::select(Capability::ALL.to_vec());
    prop_oneof![
        2 => (0..4usize).prop_map(Action::Login),
        1 => (0..4usize).prop_map(Action::Logout),
        2 => (0..4usize, prop::bool::weighted(0.8)).prop_map(|(u, r)| Action::Ready(u, r)),
        2 => Just(Action::Customer),
        1 => (0..8usize).prop_map(Action::CustomerSend),
        1 => (0..8usize).prop_map(Action::CustomerComplete),
        1 => (0..8usize).prop_map(Action::CustomerPoll),
        4 => (0..4usize, 0..8usize, op, 0..4usize, prop::bool::weighted(0.85))
            .prop_map(|(u, i, o, t, v)| Action::Agent(u, i, o, t, v)),
        1 => (0..40_000u16).prop_map(Action::Tick),
        1 => (0..4usize).prop_map(Action::Gone),
    ]
}

/// The simple model: per (agent, interaction), what that agent may still receive; per
/// recipient and interaction, the last index seen.
#[derive(Default)]
struct Model {
    terminal: std::collections::HashSet<(UserIdx, String)>,
    last_index: HashMap<(UserIdx, String), u64>,
    customer_last: HashMap<String, u64>,
}

impl Model {
    fn observe(&mut self, d: &Delivery) -> Result<(), String> {
        let Some(id) = d.notification.interaction_id().map(str::to_string) else { return Ok(()) };
        let key = (d.user, id);
        match &d.notification {
            Notification::ChatStateChangeMessage(sc)
            | Notification::FacebooksessionStateChangeMessage(sc) => {
                let state = sc.resource().map(|r| r.state);
                if state == Some(InteractionState::Invited) {
                    self.terminal.remove(&key);
                    self.last_index.remove(&key);
                } else if self.terminal.contains(&key) {
                    return Err(format!("{sc:?} after a terminal state"));
                }
                if state.is_some_and(|s| s.is_terminal()) {
                    self.terminal.insert(key);
                }
            }
            Notification::MessageLogUpdated(ml) => {
                if self.terminal.contains(&key) {
                    return Err("message log after a terminal state".into());
                }
                for e in &ml.messages {
                    let last = self.last_index.entry(key.clone()).or_insert(0);
                    if e.index <= *last {
                        return Err(format!("index {} after {}", e.index, last));
                    }
                    *last = e.index;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_keep_the_invariants(actions in prop::collection::vec(action(), 1..120)) {
        let mut w = World::new();
        let names = ["ann", "bob", "cat", "dan"];
        let mut customers: Vec<String> = Vec::new();
        let mut model = Model::default();
        for a in actions {
            let mut out = Vec::new();
            let pick_ixn = |w: &World, i: usize| -> Option<String> {
                let mut ids: Vec<&String> = w.c.ixns.keys().collect();
                ids.sort();
                ids.get(i % ids.len().max(1)).map(|s| s.to_string())
            };
            match a {
                Action::Login(u) => { let _ = w.c.me_operation(UserIdx::new(u as u32), MeOperation::start_session(["chat", "facebook"]), w.now, &mut out); }
                Action::Logout(u) => { let _ = w.c.me_operation(UserIdx::new(u as u32), MeOperation::EndContactCenterSession {}, w.now, &mut out); }
                Action::Ready(u, r) => { let _ = w.c.me_operation(UserIdx::new(u as u32), if r { MeOperation::Ready {} } else { MeOperation::NotReady {} }, w.now, &mut out); }
                Action::Customer => {
                    if let Ok(ok) = w.c.request_chat(&params(json!({"nickname": "c"})), w.now, &mut out) {
                        customers.push(ok.body["id"].as_str().unwrap_or_default().to_string());
                    }
                }
                Action::CustomerSend(i) | Action::CustomerComplete(i) | Action::CustomerPoll(i) if !customers.is_empty() => {
                    let cid = customers[i % customers.len()].clone();
                    match a {
                        Action::CustomerSend(_) => { let _ = w.c.customer_operation(CustomerApi::Chat, &cid, "SendMessage", &params(json!({"text": "t"})), w.now, &mut out); }
                        Action::CustomerComplete(_) => { let _ = w.c.customer_operation(CustomerApi::Chat, &cid, "Complete", &Map::new(), w.now, &mut out); }
                        _ => {
                            if let Ok(entries) = w.c.customer_messages(CustomerApi::Chat, &cid, None) {
                                for e in entries {
                                    // Customers see no visibility field, and never a consultant's entry.
                                    prop_assert!(e.visibility.is_none());
                                    let last = model.customer_last.entry(cid.clone()).or_insert(0);
                                    prop_assert!(e.index > *last, "customer index regression");
                                    *last = e.index;
                                }
                            }
                        }
                    }
                }
                Action::Agent(u, i, op, t, valid) => {
                    // Mostly act on one's own interactions with an operation its capabilities
                    // allow, so that deep sequences (consult, accept, remove) are reached.
                    let own: Vec<String> = {
                        let mut v: Vec<&String> = w.c.ixns.iter().filter(|(_, x)| x.part(UserIdx::new(u as u32)).is_some()).map(|(k, _)| k).collect();
                        v.sort();
                        v.into_iter().cloned().collect()
                    };
                    let chosen = if valid && !own.is_empty() { Some(own[i % own.len()].clone()) } else { pick_ixn(&w, i) };
                    if let Some(id) = chosen {
                        let media = w.c.ixns[&id].media;
                        let op = match w.c.ixns[&id].part(UserIdx::new(u as u32)) {
                            Some(pi) if valid => {
                                let x = &w.c.ixns[&id];
                                let caps = crate::gws::states::capabilities(media, Center::situation(x, &x.parts[pi]));
                                if caps.is_empty() { op } else { caps[(op as usize) % caps.len()] }
                            }
                            _ => op,
                        };
                        // A target that can make the operation succeed, when there is one.
                        let x = &w.c.ixns[&id];
                        let fitting: Vec<usize> = (0..names.len())
                            .filter(|&k| k != u)
                            .filter(|&k| match op {
                                Capability::RemoveParticipantFromConference => x.joined().any(|p| p.user == UserIdx::new(k as u32)),
                                _ => x.part(UserIdx::new(k as u32)).is_none() && w.c.agents[k].channels.is_some(),
                            })
                            .collect();
                        let t = if valid && !fitting.is_empty() { fitting[t % fitting.len()] } else { t };
                        let target = w.uri(names[t]);
                        let p = body(op.as_str(), json!({"nickname": names[u], "text": "x", "url": "http://x", "noticeText": "n",
                            "targetUri": target, "disposition": "done", "userData": {"k": "v"}, "keys": ["k"], "comment": "c"}));
                        let req = InteractionRequest::decode(UserIdx::new(u as u32), media, &id, &p).expect("a known operation");
                        let before = w.c.ixns.get(&id).map(|i| (i.parts.len(), i.log.len()));
                        let r = w.c.interaction_operation(req, w.now, &mut out);
                        if r.is_err() {
                            prop_assert!(out.is_empty(), "an errored request notified someone");
                            prop_assert_eq!(before, w.c.ixns.get(&id).map(|i| (i.parts.len(), i.log.len())), "an errored request changed state");
                        }
                    }
                }
                Action::Tick(ms) => { w.now += i64::from(ms); w.c.tick(w.now, &mut out); }
                Action::Gone(u) => {
                    let user = UserIdx::new(u as u32);
                    w.c.agent_gone(user, w.now, &mut out);
                    // It holds nothing and is offered nothing any more.
                    prop_assert!(w.c.agents[user].interactions.is_empty(), "a gone agent kept a chat");
                    prop_assert!(w.c.agents[user].channels.is_none(), "a gone agent is still logged in");
                }
                _ => {}
            }
            for d in &out {
                model.observe(d).map_err(|e| TestCaseError::fail(format!("{}: {e}", show(&w.c, d))))?;
            }
            // Customers never see Agents-visibility entries, whatever happened.
            for ixn in w.c.ixns.values() {
                let cid = ixn.customer.external_id.clone();
                let api = if ixn.media == Media::Chat { CustomerApi::Chat } else { CustomerApi::Facebook };
                let view = w.c.customer_chat(api, &cid).map_err(|e| TestCaseError::fail(e.to_string()))?;
                for p in view["chat"]["participants"].as_array().into_iter().flatten() {
                    prop_assert!(p.get("visibility").is_none());
                }
                for p in &ixn.parts {
                    prop_assert!(w.c.agents[p.user].load > 0);
                }
            }
            // The routing index holds exactly the agents a full scan would find.
            prop_assert!(w.c.index_is_consistent(), "routing index out of step");
            // Load and the interaction list match the live parts per agent.
            for (u, a) in w.c.agents.iter().enumerate() {
                let mut live: Vec<String> = w.c.ixns.values().filter(|i| i.part(UserIdx::new(u as u32)).is_some()).map(|i| i.id.clone()).collect();
                prop_assert_eq!(a.load, live.len() as u32, "load of user {}", u);
                let mut listed = a.interactions.clone();
                live.sort();
                listed.sort();
                prop_assert_eq!(listed, live, "interactions of user {}", u);
            }
        }
    }
}

#[test]
fn notification_types_used_are_documented_ones() {
    // Guard against a typo creating an undocumented notificationType.
    let mut w = World::new();
    let ixn = consulting(&mut w, Media::Chat);
    let mut out = Vec::new();
    let bob = w.user("bob");
    let op = Operation::Accept { nickname: "Bob".into() };
    let req = InteractionRequest::typed(bob, Media::Chat, &ixn, op);
    w.c.interaction_operation(req, w.now, &mut out).expect("accept");
    for d in out {
        if let Notification::ChatStateChangeMessage(sc) = d.notification {
            assert!(matches!(
                sc.notification_type,
                NotificationType::StatusChange | NotificationType::ParticipantsUpdated
            ));
        }
    }
}

#[test]
fn parameter_errors_wait_for_the_interaction_permission_and_capability_checks() {
    let mut w = World::new();
    let ixn = consulting(&mut w, Media::Chat);
    // A bad parameter on an interaction that does not exist, or is not this agent's: 404.
    assert_eq!(code(&w.op("ann", Media::Chat, "nope", "Accept", json!({})).0), 6);
    assert_eq!(code(&w.op("cat", Media::Chat, &ixn, "SendMessage", json!({"text": 5})).0), 6);
    // Not in the capabilities (bob is only invited): 400/2, even with a mistyped parameter.
    assert_eq!(code(&w.op("bob", Media::Chat, &ixn, "SendMessage", json!({"text": 5})).0), 2);
    assert_eq!(code(&w.op("bob", Media::Chat, &ixn, "Consult", json!({"targetUri": 5})).0), 2);
    w.op("bob", Media::Chat, &ixn, "Accept", json!({"nickname": "Bob"})).0.expect("accept");
    // A consultant removing: 403/3, even without a target.
    let (r, _) = w.op("bob", Media::Chat, &ixn, "RemoveParticipantFromConference", json!({}));
    assert_eq!(code(&r), 3);
    // Then the parameters (400/1): a mistyped or empty one, before the target is looked up.
    assert_eq!(code(&w.op("ann", Media::Chat, &ixn, "Invite", json!({"targetUri": 5})).0), 1);
    let (r, _) = w.op("ann", Media::Chat, &ixn, "SendMessage", json!({"text": ""}));
    assert_eq!(code(&r), 1);
    let (r, _) = w.op("ann", Media::Chat, &ixn, "AttachUserData", json!({"userData": [1]}));
    assert_eq!(code(&r), 1);
    let (r, _) = w.op("ann", Media::Chat, &ixn, "Transfer", json!({"queueName": "nope"}));
    assert_eq!(code(&r), 6, "an unknown queue is a missing target");
    // Unknown keys are ignored, as before.
    let (r, _) = w.op("ann", Media::Chat, &ixn, "SetInFocus", json!({"whatever": [1, 2]}));
    assert_eq!(code(&r), 0);
}

/// The customer chat ids two centers with the same seed hand out, and the Facebook session ids.
fn credential_ids(predictable: bool) -> [(String, String); 2] {
    [0, 1].map(|_| {
        let cfg = StateConfig { predictable_ids: predictable, ..StateConfig::default() };
        let mut w = World { c: Center::new(cfg, center().dir.clone()), now: T0 };
        let (chat_id, _, _) = w.customer("Chris");
        let mut out = Vec::new();
        let fb =
            w.c.facebook_inbound(&params(json!({"nickname": "V", "text": "hi"})), w.now, &mut out);
        let fb = fb.expect("inbound").body["id"].as_str().expect("id").to_string();
        (chat_id, fb)
    })
}

#[test]
fn customer_credentials_are_unpredictable_unless_asked_for() {
    let [a, b] = credential_ids(false);
    assert_ne!(a.0, b.0, "same seed, different customer chat ids");
    assert_ne!(a.1, b.1, "same seed, different Facebook session ids");
    assert!(uuid::Uuid::parse_str(&a.0).is_ok_and(|u| u.get_version_num() == 4), "{}", a.0);
    assert_eq!(a.1.len(), 16, "{}", a.1);
    let [a, b] = credential_ids(true);
    assert_eq!(a, b, "predictable mode reproduces the ids");
}
