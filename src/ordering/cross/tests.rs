//! The cross-participant checker on hand-written histories: what is owed, to whom, and the
//! races in which nothing is owed.

use serde_json::json;

use super::*;

const T: u64 = 1_000;

fn call<'a>(
    username: &'a str,
    interaction: &'a str,
    op: Capability,
    target: Option<&'a str>,
    tag: Option<&'a str>,
) -> OpCall<'a> {
    OpCall { username, interaction, op, target, tag }
}

fn entry(kind: &str, from_kind: &str, nickname: &str, text: Option<&str>) -> LogEntry {
    serde_json::from_value(json!({
        "index": 1, "type": kind, "text": text,
        "from": {"participantId": "p", "type": from_kind, "nickname": nickname},
        "timestamp": "", "timestampSeconds": 0,
    }))
    .expect("entry")
}

fn text(from_kind: &str, nickname: &str, tag: &str) -> LogEntry {
    entry("Text", from_kind, nickname, Some(&format!("hello [#{tag}]")))
}

/// Customer 7 (chat "c7") is in interaction "i1" with agent "ann", whose Accept was answered
/// at 10 ms.
fn chat_with_ann() -> CrossChecker {
    let mut x = CrossChecker::new(T);
    x.customer_started(0, 7, "cust-7", "c7");
    x.agent_invited(5, "ann", "i1", Some(7));
    x.op_started(6, &call("ann", "i1", Capability::Accept, None, None));
    x.op_done(10, &call("ann", "i1", Capability::Accept, None, None), true);
    x
}

#[test]
fn a_customer_message_is_owed_to_every_agent_in_the_chat() {
    let mut x = chat_with_ann();
    x.customer_sending(20, 7, "a1");
    x.message_sent(25, "a1", true);
    assert!(x.poll(25 + T - 1).is_empty(), "not overdue yet");
    let v = x.poll(25 + T);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!((v[0].kind, v[0].agent.as_str()), (ViolationKind::NotDelivered, "ann"));
    assert_eq!(v[0].interaction, "i1", "named by the agent-side id");
    assert!(x.poll(10 * T).is_empty(), "reported once");

    // Delivered (even before the send was answered): nothing owed, nothing kept.
    let mut x = chat_with_ann();
    x.customer_sending(20, 7, "a2");
    x.agent_received("ann", &[text("Customer", "cust-7", "a2")]);
    x.message_sent(25, "a2", true);
    assert!(x.poll(10 * T).is_empty());
    assert_eq!(x.tracked().0, 0);
}

#[test]
fn an_agent_that_was_leaving_or_not_yet_in_is_owed_nothing() {
    let mut x = chat_with_ann();
    x.op_started(15, &call("ann", "i1", Capability::Leave, None, None));
    x.customer_sending(20, 7, "b1");
    x.message_sent(25, "b1", true);
    assert!(x.poll(10 * T).is_empty(), "ann's leave may have gone first");

    let mut x = CrossChecker::new(T);
    x.customer_started(0, 7, "cust-7", "c7");
    x.agent_invited(5, "ann", "i1", Some(7));
    x.customer_sending(20, 7, "b2");
    x.op_done(21, &call("ann", "i1", Capability::Accept, None, None), true);
    x.message_sent(25, "b2", true);
    assert!(x.poll(10 * T).is_empty(), "ann joined after the send: its history carries it");
}

#[test]
fn an_agent_message_is_owed_to_the_customer_and_the_other_agents_not_the_sender() {
    let mut x = chat_with_ann();
    x.op_started(30, &call("ann", "i1", Capability::Consult, Some("bob"), None));
    x.agent_invited(32, "bob", "i1", Some(7));
    x.op_done(33, &call("ann", "i1", Capability::Consult, Some("bob"), None), true);
    x.op_done(40, &call("bob", "i1", Capability::Accept, None, None), true);
    x.op_started(50, &call("ann", "i1", Capability::SendMessage, None, Some("m1")));
    x.op_done(55, &call("ann", "i1", Capability::SendMessage, None, Some("m1")), true);
    let mut v = x.poll(55 + T);
    v.sort_by(|a, b| a.agent.cmp(&b.agent));
    let who: Vec<(&str, &str)> =
        v.iter().map(|v| (v.agent.as_str(), v.interaction.as_str())).collect();
    assert_eq!(who, [("bob", "i1"), ("cust-7", "c7")], "the customer is named by its chat id");
}

#[test]
fn agents_only_texts_and_consultants_are_hidden_from_the_customer_and_owed_to_agents() {
    let mut x = chat_with_ann();
    x.op_started(30, &call("ann", "i1", Capability::Consult, Some("bob"), None));
    x.agent_invited(32, "bob", "i1", Some(7));
    x.op_done(40, &call("bob", "i1", Capability::Accept, None, None), true);
    // A consultant's SendMessage is Agents-only (§15.21), like SendToAgents.
    x.op_started(50, &call("bob", "i1", Capability::SendMessage, None, Some("s1")));
    x.op_done(55, &call("bob", "i1", Capability::SendMessage, None, Some("s1")), true);
    x.op_started(60, &call("ann", "i1", Capability::SendToAgents, None, Some("s2")));
    x.op_done(65, &call("ann", "i1", Capability::SendToAgents, None, Some("s2")), true);
    x.agent_received("ann", &[text("Agent", "bob", "s1")]);
    let v = x.poll(65 + T);
    assert_eq!(v.len(), 1, "only bob's copy of s2 is owed, never the customer's: {v:?}");
    assert_eq!(v[0].agent, "bob");
    // Leaks, each entry its own: the texts, and anything from the consultant.
    assert!(x.hidden_from_customer(7, &text("Agent", "ann", "s2")).is_some());
    assert!(x.hidden_from_customer(7, &text("Agent", "bob", "zz")).is_some());
    assert!(x.hidden_from_customer(7, &entry("ParticipantJoined", "Agent", "bob", None)).is_some());
    assert!(x.hidden_from_customer(7, &entry("ParticipantJoined", "Agent", "ann", None)).is_none());
    assert!(x.hidden_from_customer(7, &text("Customer", "cust-7", "zz")).is_none());
    // A conference invitation reveals.
    x.op_started(70, &call("ann", "i1", Capability::Invite, Some("bob"), None));
    assert!(x.hidden_from_customer(7, &entry("ParticipantJoined", "Agent", "bob", None)).is_none());
}

#[test]
fn a_consult_target_is_owed_its_invitation() {
    let mut x = chat_with_ann();
    x.op_started(30, &call("ann", "i1", Capability::Consult, Some("bob"), None));
    x.op_done(33, &call("ann", "i1", Capability::Consult, Some("bob"), None), true);
    let v = x.poll(33 + T);
    assert_eq!(v.len(), 1);
    assert_eq!(
        (v[0].kind, v[0].agent.as_str(), v[0].interaction.as_str()),
        (ViolationKind::NotInvited, "bob", "i1")
    );

    let mut x = chat_with_ann();
    x.op_started(30, &call("ann", "i1", Capability::Consult, Some("bob"), None));
    x.op_done(33, &call("ann", "i1", Capability::Consult, Some("bob"), None), true);
    x.agent_invited(40, "bob", "i1", Some(7));
    assert!(x.poll(10 * T).is_empty());
}

#[test]
fn an_invited_agent_is_owed_its_revocation_when_the_customer_leaves() {
    let mut x = CrossChecker::new(T);
    x.customer_started(0, 7, "cust-7", "c7");
    x.agent_invited(5, "ann", "i1", Some(7));
    x.customer_left(20, 7);
    let v = x.poll(20 + T);
    assert_eq!(v.len(), 1);
    assert_eq!((v[0].kind, v[0].agent.as_str()), (ViolationKind::NotRevoked, "ann"));

    let mut x = CrossChecker::new(T);
    x.customer_started(0, 7, "cust-7", "c7");
    x.agent_invited(5, "ann", "i1", Some(7));
    x.customer_left(20, 7);
    x.agent_ended(30, "ann", "i1");
    assert!(x.poll(10 * T).is_empty());

    // Ann had started answering: her Accept may have gone first.
    let mut x = CrossChecker::new(T);
    x.customer_started(0, 7, "cust-7", "c7");
    x.agent_invited(5, "ann", "i1", Some(7));
    x.op_started(15, &call("ann", "i1", Capability::Accept, None, None));
    x.customer_left(20, 7);
    assert!(x.poll(10 * T).is_empty());
}

/// Invitation timeout of the offer tests.
const INV: u64 = 2_000;

/// A checker owing offers, with agents ann and bob Ready (and idle) from 100 ms.
fn owing_offers() -> CrossChecker {
    let mut x = CrossChecker::new(T);
    x.expect_offers(INV);
    x.agent_ready(100, "ann", true);
    x.agent_ready(100, "bob", true);
    x
}

#[test]
fn a_customer_leaving_in_the_middle_of_a_consult_owes_the_invited_consultant_nothing() {
    let mut x = CrossChecker::new(T);
    x.customer_started(0, 7, "cust-7", "c7");
    x.agent_invited(5, "ann", "i1", Some(7));
    x.op_started(6, &call("ann", "i1", Capability::Accept, None, None));
    x.op_done(10, &call("ann", "i1", Capability::Accept, None, None), true);
    assert_eq!(x.consult_of(7), None, "no consult yet");
    x.op_started(20, &call("ann", "i1", Capability::Consult, Some("bob"), None));
    x.op_done(25, &call("ann", "i1", Capability::Consult, Some("bob"), None), true);
    assert_eq!(x.consult_of(7), Some(("i1", false)), "bob owed his invitation");
    x.agent_invited(26, "bob", "i1", Some(7));
    assert_eq!(x.consult_of(7), Some(("i1", false)));
    // Ann is still in the chat: it goes on without the customer, and Bob's invitation with it.
    x.customer_left(30, 7);
    assert!(x.poll(10 * T).is_empty());
    x.op_started(40, &call("bob", "i1", Capability::Accept, None, None));
    x.op_done(45, &call("bob", "i1", Capability::Accept, None, None), true);
    assert_eq!(x.consult_of(7), Some(("i1", true)));
    x.agent_ended(50, "bob", "i1");
    assert_eq!(x.consult_of(7), None, "the consultant has gone");
}

#[test]
fn a_chat_offered_to_no_agent_while_agents_were_idle_is_reported_when_the_customer_stops() {
    // Alone in the queue with two idle agents: owed by 100 + (1 + 0) * INV + T.
    let due = 100 + INV + T;
    let mut x = owing_offers();
    x.customer_started(0, 7, "cust-7", "c7");
    assert!(x.poll(10 * T).is_empty(), "judged when the customer stops, not before");
    x.customer_stopping(due, 7);
    let v = x.customer_ended(due + 50, 7).expect("never offered");
    assert_eq!(
        (v.kind, v.agent.as_str(), v.interaction.as_str(), v.at_ms),
        (ViolationKind::NeverOffered, "cust-7", "c7", due + 50),
        "named by the customer's chat id, at the end (after every invitation of the chat)"
    );
    assert!(x.finish(20 * T, 0).is_empty(), "reported once");

    // Stopped a moment earlier: routing may still have been cycling hidden invitations.
    let mut x = owing_offers();
    x.customer_started(0, 7, "cust-7", "c7");
    x.customer_stopping(due - 1, 7);
    assert!(x.customer_ended(due + 50, 7).is_none());

    // Offered (to anyone): nothing owed.
    let mut x = owing_offers();
    x.customer_started(0, 7, "cust-7", "c7");
    x.agent_invited(5, "carl", "i1", Some(7));
    x.customer_stopping(10 * T, 7);
    assert!(x.customer_ended(10 * T, 7).is_none());

    // Not asked for (a remote target, or a run whose agents may crash).
    let mut x = CrossChecker::new(T);
    x.agent_ready(100, "ann", true);
    x.customer_started(0, 7, "cust-7", "c7");
    x.customer_stopping(100 * T, 7);
    assert!(x.customer_ended(100 * T, 7).is_none());
}

#[test]
fn a_chat_waits_without_a_violation_while_every_agent_is_busy() {
    let mut x = owing_offers();
    x.agent_invited(50, "ann", "i1", Some(1));
    x.agent_invited(50, "bob", "i2", Some(2));
    x.customer_started(60, 7, "cust-7", "c7");
    x.customer_stopping(100 * T, 7);
    assert!(x.customer_ended(100 * T, 7).is_none(), "nobody was idle");

    // Ann ended her chat at 5 s: idle from then; owed from 5 s on. Three customers ahead
    // (1, 2 and 8, none gone) and one idle agent: 5_000 + (1 + 3) * INV + T.
    let mut x = owing_offers();
    x.agent_invited(50, "ann", "i1", Some(1));
    x.agent_invited(50, "bob", "i2", Some(2));
    x.customer_started(55, 1, "cust-1", "c1");
    x.customer_started(55, 2, "cust-2", "c2");
    x.customer_started(56, 8, "cust-8", "c8");
    x.customer_started(60, 7, "cust-7", "c7");
    x.agent_ended(5_000, "ann", "i1");
    let due = 5_000 + 4 * INV + T;
    x.customer_stopping(due - 1, 7);
    assert!(x.customer_ended(due, 7).is_none());
    let mut y = owing_offers();
    y.agent_invited(50, "ann", "i1", Some(1));
    y.agent_invited(50, "bob", "i2", Some(2));
    y.customer_started(55, 1, "cust-1", "c1");
    y.customer_started(55, 2, "cust-2", "c2");
    y.customer_started(56, 8, "cust-8", "c8");
    y.customer_started(60, 7, "cust-7", "c7");
    y.agent_ended(5_000, "ann", "i1");
    y.customer_stopping(due, 7);
    assert!(y.customer_ended(due, 7).is_some());
}

#[test]
fn an_idle_stretch_must_last_until_the_offer_was_due() {
    // Ann goes NotReady before the offer is due, and crashed bob is never idle again.
    let mut x = owing_offers();
    x.agent_gone(50, "bob");
    x.agent_ready(100, "bob", true);
    x.customer_started(0, 7, "cust-7", "c7");
    x.agent_ready(100 + INV, "ann", false);
    x.customer_stopping(100 * T, 7);
    assert!(x.customer_ended(100 * T, 7).is_none());

    // Two idle agents share the queue ahead: ceil(3 / 2) + 1 = 3 timeouts.
    let mut x = owing_offers();
    for n in 1..=3 {
        x.customer_started(0, n, "c", &format!("c{n}"));
    }
    x.customer_started(0, 7, "cust-7", "c7");
    let due = 100 + 3 * INV + T;
    x.customer_stopping(due, 7);
    assert!(x.customer_ended(due, 7).is_some());

    // At the run's end, a customer still waiting is judged at the end.
    let mut x = owing_offers();
    x.customer_started(0, 7, "cust-7", "c7");
    let v = x.finish(100 + INV + T, 0);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].kind, ViolationKind::NeverOffered);
}

#[test]
fn memory_is_bounded_by_expiry() {
    let mut x = CrossChecker::new(T);
    for i in 0..100u64 {
        x.customer_started(i, i, "c", &format!("c{i}"));
        x.agent_invited(i, "ann", &format!("i{i}"), Some(i));
        let _ = x.customer_ended(i, i);
        let (ixn, tag) = (format!("i{i}"), format!("t{i}"));
        x.op_started(i, &call("ann", &ixn, Capability::SendMessage, None, Some(&tag)));
    }
    // An invitation naming a customer that never started (its answer was lost).
    x.agent_invited(100, "bob", "orphan", Some(1_000));
    assert!(x.poll(200).is_empty());
    assert!(x.poll(HORIZON_MS + 1_000).is_empty(), "an unanswered send is forgotten, not owed");
    assert_eq!(x.tracked(), (0, 0, 0));
    assert!(x.early.is_empty(), "an early link expires too");
}

#[test]
fn tags_are_read_back_from_texts() {
    assert_eq!(tag_of("Where is my order? [#beef]"), Some("beef"));
    assert_eq!(tag_of("no tag"), None);
    assert_eq!(tag_of("x [#]"), Some(""));
}

#[test]
fn at_the_end_what_was_owed_long_enough_is_reported_the_rest_forgotten() {
    let mut x = chat_with_ann();
    x.customer_sending(20, 7, "e1");
    x.message_sent(25, "e1", true);
    x.customer_sending(600, 7, "e2");
    x.message_sent(650, "e2", true);
    let v = x.finish(700, 500);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!((v[0].at_ms, v[0].expected.contains("e1")), (700, true));
    assert_eq!(x.tracked(), (0, 0, 0));
}

#[test]
fn a_crashed_agent_is_owed_nothing_it_can_no_longer_read() {
    // Sent and answered, then ann's stream died with her (a chaos crash): not her fault, and
    // not the server's.
    let mut x = chat_with_ann();
    x.customer_sending(20, 7, "g1");
    x.message_sent(25, "g1", true);
    x.agent_gone(30, "ann");
    assert!(x.poll(10 * T).is_empty(), "nothing owed to a gone agent");
    // Sent after the crash: she is out of the chat.
    x.customer_sending(40, 7, "g2");
    x.message_sent(45, "g2", true);
    assert!(x.poll(20 * T).is_empty());
}

/// Under CPU starvation the agent task can read its `Invited` (which names customer 7 in its
/// user data) before customer 7's task, whose request was answered first, gets to tell the
/// checker its chat id. The link must survive that order: without it the customer's polls
/// judge every Agents-only entry as unknown (`leak` faults missed), its texts are owed to
/// nobody, and its chat reads as never offered.
#[test]
fn an_invitation_read_before_its_customer_started_still_links_them() {
    let mut x = CrossChecker::new(T);
    x.agent_invited(5, "ann", "i1", Some(7));
    x.customer_started(6, 7, "cust-7", "c7");
    x.op_started(8, &call("ann", "i1", Capability::Accept, None, None));
    x.op_done(10, &call("ann", "i1", Capability::Accept, None, None), true);
    x.op_started(20, &call("ann", "i1", Capability::SendToAgents, None, Some("s1")));
    x.op_done(25, &call("ann", "i1", Capability::SendToAgents, None, Some("s1")), true);
    assert_eq!(
        x.hidden_from_customer(7, &text("Agent", "ann", "s1")),
        Some("a text sent to agents only"),
        "the SendToAgents text is known hidden from customer 7"
    );
    // Its own messages are owed to the agent, and it was offered.
    x.customer_sending(30, 7, "a1");
    x.message_sent(35, "a1", true);
    let v = x.poll(35 + T);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!((v[0].kind, v[0].agent.as_str()), (ViolationKind::NotDelivered, "ann"));
    assert_eq!(x.consult_of(7), None);
    let mut x = owing_offers();
    x.agent_invited(5, "ann", "i1", Some(7));
    x.customer_started(6, 7, "cust-7", "c7");
    assert_eq!(x.customer_ended(100 * T, 7), None, "an offered chat is not never-offered");
}
