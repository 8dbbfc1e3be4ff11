//! The seed pages' flows reproduced notification by notification against the reference server
//! (protocol.md §6 and §15): Consult (originator and consultant), RemoveParticipantFromConference
//! (remover and removed), Leave (sole agent; consultant), for chat and Facebook, over websocket
//! and long-polling.

use std::time::Duration;

use gwsim::cometd::client::Transport;
use gwsim::gws::{Capability, EntryType, Media, Notification, Visibility};
use serde_json::json;

use crate::support::{TestAgent, TestServer, new_interaction, resource, show, start_server};

fn names(caps: &[Capability]) -> Vec<&'static str> {
    caps.iter().map(|c| c.as_str()).collect()
}

const LEFT_CHAT_CAPS: [&str; 6] = [
    "SetInFocus",
    "Complete",
    "SetDisposition",
    "AttachUserData",
    "DeleteUserData",
    "UpdateUserData",
];

async fn customer_entries(
    server: &TestServer,
    media: Media,
    external: &str,
) -> Vec<(EntryType, String)> {
    let customer = server.customer();
    let entries = match media {
        Media::Chat => customer.get_messages(external, Some(0)).await,
        Media::Facebook => customer.facebook_messages(external, Some(0)).await,
    }
    .expect("customer messages");
    assert!(entries.iter().all(|e| e.visibility.is_none()), "customers never see visibility");
    entries.into_iter().map(|e| (e.kind, e.from.nickname.to_string())).collect()
}

/// Ann takes the customer's interaction and consults Bob, who accepts. Returns the ids.
async fn consult(
    server: &TestServer,
    media: Media,
    ann: &mut TestAgent,
    bob: &mut TestAgent,
) -> (String, String) {
    let (external, id) = new_interaction(server, media, ann).await;
    let r = ann.op(media, &id, json!({"operationName": "Accept", "nickname": "Ann"})).await;
    assert_eq!((r.http, r.status_code), (200, 0));
    let history = match media {
        Media::Chat => "ML[ParticipantJoined Chris All, ParticipantJoined Ann All]",
        Media::Facebook => {
            "ML[ParticipantJoined Vitaliy All, Text Vitaliy All, ParticipantJoined Ann All]"
        }
    };
    assert_eq!(
        ann.expect(3).await,
        ["SC/StatusChange(Chatting)", "SC/ParticipantsUpdated(Chatting)", history]
    );

    let r = ann.op(media, &id, json!({"operationName": "Consult", "targetUri": bob.uri()})).await;
    assert_eq!(r.status_code, 0);
    assert!(r.reference_id.is_some(), "Consult answers with a referenceId");
    let invited = bob.next().await;
    assert_eq!(show(&invited), "SC/StatusChange(Invited)");
    assert_eq!(resource(&invited).id, id, "the consultant is invited to the same interaction");
    assert_eq!(names(&resource(&invited).capabilities), ["Accept", "Reject"]);

    let r = bob.op(media, &id, json!({"operationName": "Accept", "nickname": "Bob"})).await;
    assert_eq!(r.status_code, 0);
    let bob_seq = bob.expect(3).await;
    assert_eq!(bob_seq[..2], ["SC/StatusChange(Chatting)", "SC/ParticipantsUpdated(Chatting)"]);
    assert!(
        bob_seq[2].ends_with("ParticipantJoined Ann All, ParticipantJoined Bob Agents]"),
        "{}",
        bob_seq[2]
    );

    // The originator: ParticipantsUpdated with Bob at visibility Agents, then Bob's join.
    let (_, raw, updated) = ann.next_raw().await;
    assert_eq!(show(&updated), "SC/ParticipantsUpdated(Chatting)");
    let r = resource(&updated);
    let bob_p = r.participants.iter().find(|p| p.nickname == "Bob").expect("Bob listed");
    assert_eq!(bob_p.visibility, Some(Visibility::Agents));
    for cap in [
        Capability::SendToAgents,
        Capability::SendStartTypingToAgentsNotification,
        Capability::SendStopTypingToAgentsNotification,
        Capability::RemoveParticipantFromConference,
    ] {
        assert!(r.capabilities.contains(&cap), "originator lacks {cap}");
    }
    match media {
        Media::Facebook => {
            assert_eq!(raw["messageType"], "FacebooksessionStateChangeMessage");
            let fb = &raw["facebooksession"];
            assert_eq!(fb["facebooksessionType"], "Inbound");
            assert!(
                fb["revelantResponseTemplateGroups"].is_array(),
                "documented misspelling kept: {fb}"
            );
            assert!(fb["suggestedQueueUris"].is_array());
        }
        Media::Chat => assert_eq!(raw["messageType"], "ChatStateChangeMessage"),
    }
    let (channel, raw, joined) = ann.next_raw().await;
    assert_eq!(show(&joined), "ML[ParticipantJoined Bob Agents]");
    match media {
        Media::Chat => {
            assert_eq!(channel, "/v2/me/chats");
            assert_eq!(raw["chatPath"], format!("/chats/{id}"));
        }
        Media::Facebook => {
            assert_eq!(channel, "/v2/me/facebooksession");
            assert_eq!(raw["facebooksessionPath"], format!("/facebooksessions/{id}"));
            assert!(raw["facebooksessionUri"].as_str().is_some_and(|u| u.ends_with(&id)));
        }
    }
    (external, id)
}

async fn consult_remove_leave(media: Media, transport: Transport) {
    let server = start_server(|_| {}).await;
    let mut ann = TestAgent::login(&server, "agent-1", transport, &["chat"], true).await;
    // Bob is logged in but not Ready: routing leaves him alone, a consult reaches him.
    let mut bob = TestAgent::login(&server, "agent-2", transport, &["chat"], false).await;
    let (external, id) = consult(&server, media, &mut ann, &mut bob).await;

    // The consultant's messages reach both agents, at visibility Agents, and never the customer.
    let r = bob.op(media, &id, json!({"operationName": "SendMessage", "text": "Checking"})).await;
    assert_eq!(r.status_code, 0);
    assert_eq!(bob.expect(1).await, ["ML[Text Bob Agents]"]);
    assert_eq!(ann.expect(1).await, ["ML[Text Bob Agents]"]);
    assert!(
        customer_entries(&server, media, &external).await.iter().all(|(_, from)| from != "Bob")
    );

    // RemoveParticipantFromConference: remover and removed (§15.11).
    let r = ann
        .op(
            media,
            &id,
            json!({"operationName": "RemoveParticipantFromConference", "targetUri": bob.uri()}),
        )
        .await;
    assert_eq!(r.status_code, 0);
    let notice = ann.next().await;
    assert_eq!(show(&notice), "ML[Notice Ann Agents]");
    let Notification::MessageLogUpdated(ml) = &notice else { unreachable!() };
    assert_eq!(
        ml.messages[0].text.as_deref(),
        Some(format!("REMOVE_PARTICIPANT_FROM_CONFERENCE{}", bob.me.id).as_str())
    );
    let updated = ann.next().await;
    assert_eq!(show(&updated), "SC/ParticipantsUpdated(Chatting)");
    let r = resource(&updated);
    assert!(!r.capabilities.contains(&Capability::SendToAgents), "back to the single-agent list");
    assert!(r.participants.iter().all(|p| p.nickname != "Bob"));
    assert_eq!(ann.expect(1).await, ["ML[ParticipantLeft Bob Agents]"]);

    let first = bob.next().await;
    assert_eq!(show(&first), "SC/ParticipantsUpdated(LeftChat)");
    assert_eq!(names(&resource(&first).capabilities), LEFT_CHAT_CAPS);
    let remaining: Vec<&str> =
        resource(&first).participants.iter().map(|p| p.nickname.as_str()).collect();
    assert_eq!(remaining.len(), 2, "the remaining agent and the customer: {remaining:?}");
    assert_eq!(
        bob.expect(2).await,
        ["ML[ParticipantLeft Bob Agents]", "SC/StatusChange(LeftChat)"]
    );
    let last = bob.next().await;
    assert_eq!(show(&last), "SC/StatusChange(Completed)");
    assert!(resource(&last).capabilities.is_empty());
    bob.expect_silence(Duration::from_millis(300)).await;
    let r = bob.op(media, &id, json!({"operationName": "SendMessage", "text": "late"})).await;
    assert_eq!((r.http, r.status_code), (404, 6), "a removed agent is no longer a participant");

    // Leave as the sole agent: LeftChat with the customer as the only participant (FB Leave seed).
    let r = ann.op(media, &id, json!({"operationName": "Leave"})).await;
    assert_eq!(r.status_code, 0);
    let left = ann.next().await;
    assert_eq!(show(&left), "SC/StatusChange(LeftChat)");
    assert_eq!(names(&resource(&left).capabilities), LEFT_CHAT_CAPS);
    let only: Vec<_> = resource(&left).participants.iter().map(|p| p.kind).collect();
    assert_eq!(only, [gwsim::gws::ParticipantType::Customer]);
    let seen = customer_entries(&server, media, &external).await;
    assert_eq!(seen.last(), Some(&(EntryType::ParticipantLeft, "Ann".to_string())));
    let r = ann.op(media, &id, json!({"operationName": "Complete"})).await;
    assert_eq!(r.status_code, 0);
    assert_eq!(ann.expect(1).await, ["SC/StatusChange(Completed)"]);
    ann.expect_silence(Duration::from_millis(300)).await;

    // Leave as a consultant: Completed for the consultant; the originator sees it leave.
    let (_, id) = consult(&server, media, &mut ann, &mut bob).await;
    let r = bob.op(media, &id, json!({"operationName": "Leave"})).await;
    assert_eq!(r.status_code, 0);
    assert_eq!(bob.expect(1).await, ["SC/StatusChange(Completed)"]);
    assert_eq!(
        ann.expect(2).await,
        ["SC/ParticipantsUpdated(Chatting)", "ML[ParticipantLeft Bob Agents]"]
    );

    ann.logout().await;
    bob.logout().await;
    server.stop().await;
}

#[tokio::test]
async fn chat_over_websocket() {
    consult_remove_leave(Media::Chat, Transport::Websocket).await;
}

#[tokio::test]
async fn chat_over_long_polling() {
    consult_remove_leave(Media::Chat, Transport::LongPolling).await;
}

#[tokio::test]
async fn facebook_over_websocket() {
    consult_remove_leave(Media::Facebook, Transport::Websocket).await;
}

#[tokio::test]
async fn facebook_over_long_polling() {
    consult_remove_leave(Media::Facebook, Transport::LongPolling).await;
}
