//! Client-side chaos (`[chaos]`, issue 9) on the embedded server: agents that crash mid-flow and
//! come back (re-attaching from `GET /api/v2/me`), an agent that never comes back (its
//! invitations revoked and routed to another), reconnect storms, slow consumers, and customers
//! leaving in the middle of a consult. Each run must serve every customer (or see it leave),
//! invent no violation, and count what was done in the ledger.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gwsim::app::{Executed, RunOptions, execute};
use gwsim::faults::FaultKind;
use gwsim::scenario::{self, Overrides, Scenario};
use gwsim::vocab::{Counter, OpName, STORM_NOT_CAUGHT_UP, SessionOp, Transport};
use tokio_util::sync::CancellationToken;

fn load(name: &str, transport: Transport) -> Scenario {
    let path: PathBuf =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios").join(format!("{name}.toml"));
    let mut s = scenario::load(&path, &Overrides::default())
        .unwrap_or_else(|d| panic!("{name} does not validate:\n{d}"));
    s.target.transport = transport;
    s
}

async fn run(name: &str, transport: Transport) -> Executed {
    let options = RunOptions { poll_interval: Duration::from_millis(200), ..RunOptions::default() };
    execute(load(name, transport), &options, CancellationToken::new(), None)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e:#}"))
}

/// Every customer's chat ended with an agent, and no violation was recorded.
fn served_cleanly(done: &Executed) {
    let o = &done.outcome;
    let r = gwsim::report::render(&done.report);
    assert!(o.customers_started > 0, "{r}");
    assert_eq!(o.recorder.counter(Counter::ChatsCompleted), o.customers_started, "{r}");
    assert_eq!(o.recorder.counter(Counter::Violations), 0, "{r}");
    assert!(!o.partial, "the run ended by itself");
}

fn records(done: &Executed, kind: FaultKind) -> u64 {
    done.report.faults.as_ref().and_then(|f| f.kind(kind)).map_or(0, |k| k.records)
}

#[tokio::test]
async fn a_crashed_agent_comes_back_and_finishes_its_chats() {
    for transport in [Transport::Websocket, Transport::LongPolling] {
        let done = run("agent-crash", transport).await;
        served_cleanly(&done);
        // Both agents crashed once and came back once.
        assert_eq!(records(&done, FaultKind::AgentCrash), 2, "{transport:?}");
        assert_eq!(records(&done, FaultKind::AgentRecover), 2, "{transport:?}");
        assert_eq!(records(&done, FaultKind::ReconnectStorm), 2, "{transport:?}");
        // The agents came back to chats they had (taken up from GET /api/v2/me and completed).
        let chaos = done.outcome.chaos.as_ref().expect("a chaos ledger");
        let taken_up: u64 = chaos
            .records
            .iter()
            .filter(|r| r.kind == FaultKind::AgentRecover)
            .filter_map(|r| r.detail.split_whitespace().nth(3)?.parse::<u64>().ok())
            .sum();
        assert!(taken_up > 0, "{transport:?}: no chat was in flight at the crash: {chaos:?}");
        // The summary as written names the client-side kinds its schema allows.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = gwsim::report::write_results(dir.path(), &done.report).expect("summary");
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json");
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../schema/summary.schema.json")).expect("schema");
        let validator = jsonschema::draft202012::new(&schema).expect("a valid schema");
        let errors: Vec<String> = validator.iter_errors(&summary).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:#?}");
        assert_eq!(done.report.exit.code, 0, "{:?}", done.report.exit.reasons);
    }
}

#[tokio::test]
async fn a_vanished_agents_invitations_go_to_another_agent() {
    let done = run("agent-vanish", Transport::Websocket).await;
    served_cleanly(&done);
    assert_eq!(records(&done, FaultKind::AgentCrash), 1);
    assert_eq!(records(&done, FaultKind::AgentRecover), 0);
}

#[tokio::test]
async fn reconnect_storms_and_slow_consumers_lose_nothing() {
    for transport in [Transport::Websocket, Transport::LongPolling] {
        let done = run("agent-storm", transport).await;
        served_cleanly(&done);
        assert_eq!(records(&done, FaultKind::ReconnectStorm), 6, "3 agents, twice");
        assert_eq!(records(&done, FaultKind::SlowConsumer), 3, "3 agents, once");
        assert!(done.outcome.recorder.counter(Counter::Reconnects) >= 6);
        // Every storm found its marker: none is counted as lost (a Handshake error kind).
        let handshake = done.outcome.recorder.op(OpName::Session(SessionOp::Handshake));
        let lost = handshake.and_then(|h| h.error_kinds.get(STORM_NOT_CAUGHT_UP));
        assert_eq!(lost.map_or(0, |s| s.measured + s.warmup), 0, "{transport:?}");
    }
}

#[tokio::test]
async fn customers_leaving_in_the_middle_of_a_consult_end_cleanly() {
    for transport in [Transport::Websocket, Transport::LongPolling] {
        let done = run("customer-abandon-consult", transport).await;
        let o = &done.outcome;
        let r = gwsim::report::render(&done.report);
        assert!(!o.partial, "{transport:?}: the run ended by itself");
        assert_eq!(o.recorder.counter(Counter::Violations), 0, "{transport:?}: {r}");
        assert_eq!(o.recorder.counter(Counter::Errors), 0, "{transport:?}: {r}");
        // Each abandon is one record naming the customer's chat and the agent-side interaction.
        let chaos = o.chaos.as_ref().expect("a chaos ledger");
        let abandons: Vec<_> =
            chaos.records.iter().filter(|r| r.kind == FaultKind::CustomerAbandon).collect();
        let n = abandons.len() as u64;
        assert!(n > 0 && n < o.customers_started, "{transport:?}: about half: {chaos:?}");
        let mut chats: Vec<&str> = abandons.iter().filter_map(|r| r.chat.as_deref()).collect();
        chats.sort_unstable();
        chats.dedup();
        assert_eq!(chats.len() as u64, n, "{transport:?}: one record per customer: {chaos:?}");
        assert!(abandons.iter().all(|r| r.interaction.is_some()), "{chaos:?}");
        assert_eq!(records(&done, FaultKind::CustomerAbandon), n, "the summary shows them");
        // Every other customer was served to the end; every agent finished its part of every
        // chat, the abandoned ones included (the primary's flow and the consultant's).
        assert_eq!(o.recorder.counter(Counter::ChatsCompleted) + n, o.customers_started, "{r}");
        assert_eq!(o.recorder.counter(Counter::FlowsCompleted), 2 * o.customers_started, "{r}");
        assert_eq!(done.report.exit.code, 0, "{:?}", done.report.exit.reasons);
    }
}

/// The same through a whole run (issue 9): the agent that vanishes holds accepted chats; the
/// server gives it up for gone, its chats are routed to the agent that stays, and every customer
/// is served: none is left neither completed nor abandoned, and the run ends by itself.
#[tokio::test]
async fn a_vanished_agents_accepted_chats_are_finished_by_another() {
    let done = run("agent-vanish-accepted", Transport::Websocket).await;
    served_cleanly(&done);
    assert_eq!(records(&done, FaultKind::AgentCrash), 1);
    assert_eq!(records(&done, FaultKind::AgentRecover), 0);
    // The vanished agent had accepted chats: more Accepts than customers (those chats were
    // accepted twice, by the vanished agent and by the one that finished them).
    let o = &done.outcome;
    let accept = o.recorder.op(OpName::Flow(gwsim::gws::Capability::Accept)).expect("accepts");
    let accepted = accept.ok.measured + accept.ok.warmup;
    assert!(accepted > o.customers_started, "no chat was held at the crash: {accepted}");
}

/// What `GET /api/v2/me?subresources=*` says of the agent: its chat channel's state, and the
/// state of each chat it is in.
async fn me_view(agent: &mut crate::support::TestAgent) -> (String, Vec<(String, String)>) {
    let me = agent.http.login().await.expect("GET /me");
    let chat = me.other["channels"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["channel"] == "chat"))
        .map(|c| c["userState"]["state"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let chats = me.other["chats"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| (c["id"].as_str().unwrap_or_default().to_owned(), c["state"].to_string()))
                .collect()
        })
        .unwrap_or_default();
    (chat, chats)
}

/// A vanished agent (sockets dropped, never back) on the embedded server: its invitation times
/// out to Revoked and goes to another agent; once its CometD session has expired, the server
/// offers it no more chats (its channels NotReady), and the chats go to the agent that stays.
#[tokio::test]
async fn a_vanished_agent_is_offered_no_chat_once_its_session_expired() {
    use crate::support::{TestAgent, WAIT, new_interaction, resource, show, start_server};
    use gwsim::gws::{MeOperation, Media};
    for transport in [Transport::Websocket, Transport::LongPolling] {
        let server = start_server(|c| {
            c.bayeux.max_interval = Duration::from_millis(500);
            c.state.invite_timeout_ms = 1_000;
        })
        .await;
        let mut gone = TestAgent::login(&server, "agent-1", transport, &["chat"], true).await;
        let mut stays = TestAgent::login(&server, "agent-2", transport, &["chat"], false).await;
        // Agent 1 is the only Ready agent: the chat is offered to it, then it vanishes.
        let (_, first) = new_interaction(&server, Media::Chat, &mut gone).await;
        gone.cometd.abort();
        let r = stays.http.me_operation(&MeOperation::Ready {}).await.expect("ready");
        assert_eq!(r.status_code, 0);
        assert_eq!(show(&stays.next().await), "CH[Ready]");
        // Its invitation times out and is routed to the agent that stays.
        let invited = stays.next().await;
        assert_eq!(show(&invited), "SC/StatusChange(Invited)", "{transport:?}");
        assert_eq!(resource(&invited).id, first);
        let accept = serde_json::json!({"operationName": "Accept", "nickname": "agent-2"});
        assert_eq!(stays.op(Media::Chat, &first, accept.clone()).await.status_code, 0);
        stays.expect(3).await;
        // Its CometD session expires (no connect within maxInterval): NotReady, bounded wait.
        let mut waited = Duration::ZERO;
        loop {
            let (state, chats) = me_view(&mut gone).await;
            if state == "NotReady" {
                assert!(chats.is_empty(), "{transport:?}: its invitation was revoked: {chats:?}");
                break;
            }
            assert_eq!(state, "Ready", "{transport:?}");
            assert!(waited < WAIT, "{transport:?}: agent-1 still Ready after {waited:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
            waited += Duration::from_millis(100);
        }
        // New chats go to the agent that stays, never to the vanished one.
        // Agent 2 can hold three chats (the server's default capacity): the first and two more.
        for _ in 0..2 {
            let (_, ixn) = new_interaction(&server, Media::Chat, &mut stays).await;
            assert_ne!(ixn, first);
            assert_eq!(stays.op(Media::Chat, &ixn, accept.clone()).await.status_code, 0);
            stays.expect(3).await;
            assert!(me_view(&mut gone).await.1.is_empty(), "{transport:?}: offered to agent-1");
        }
        stays.logout().await;
        server.stop().await;
    }
}

/// A vanished agent that had accepted a chat (issue 9): once its CometD session has expired and
/// the server's grace period (`vanished_after`) has run out without a new one, the server gives
/// it up for gone: it leaves the chat (the customer sees it leave), is logged out, and the chat
/// is routed to the agent that stays, who finishes it, so the customer's chat ends.
#[tokio::test]
async fn a_vanished_agents_accepted_chat_is_routed_again_and_ends() {
    use crate::support::{TestAgent, new_interaction, resource, show, start_server};
    use gwsim::gws::{CustomerChatState, EntryType, MeOperation, Media};
    for transport in [Transport::Websocket, Transport::LongPolling] {
        let server = start_server(|c| {
            c.bayeux.max_interval = Duration::from_millis(500);
            c.bayeux.vanished_after = Duration::from_millis(500);
        })
        .await;
        let mut gone = TestAgent::login(&server, "agent-1", transport, &["chat"], true).await;
        let mut stays = TestAgent::login(&server, "agent-2", transport, &["chat"], false).await;
        let (chat, ixn) = new_interaction(&server, Media::Chat, &mut gone).await;
        let accept = |nick: &str| serde_json::json!({"operationName": "Accept", "nickname": nick});
        assert_eq!(gone.op(Media::Chat, &ixn, accept("Ann")).await.status_code, 0);
        gone.expect(3).await;
        // Agent 1 vanishes in the middle of the chat: sockets dropped, never back.
        gone.cometd.abort();
        let r = stays.http.me_operation(&MeOperation::Ready {}).await.expect("ready");
        assert_eq!(r.status_code, 0);
        assert_eq!(show(&stays.next().await), "CH[Ready]");
        // Given up for gone, its chat comes to the agent that stays (bounded by `next`'s wait).
        let invited = stays.next().await;
        assert_eq!(show(&invited), "SC/StatusChange(Invited)", "{transport:?}");
        assert_eq!(resource(&invited).id, ixn);
        let customer = server.customer();
        let seen = customer.get_messages(&chat, Some(0)).await.expect("messages");
        assert!(
            seen.iter().any(|e| e.kind == EntryType::ParticipantLeft && e.from.nickname == "Ann"),
            "{transport:?}: the customer sees the vanished agent leave: {seen:?}"
        );
        assert_ne!(customer.get_chat(&chat).await.expect("chat").state, CustomerChatState::Idle);
        // The agent that stays finishes it: the customer's chat ends.
        assert_eq!(stays.op(Media::Chat, &ixn, accept("Bob")).await.status_code, 0);
        stays.expect(3).await;
        let complete = serde_json::json!({"operationName": "Complete"});
        assert_eq!(stays.op(Media::Chat, &ixn, complete).await.status_code, 0);
        assert_eq!(show(&stays.next().await), "SC/StatusChange(Completed)");
        assert_eq!(customer.get_chat(&chat).await.expect("chat").state, CustomerChatState::Idle);
        // The vanished agent was logged out (no channel listed) and holds nothing.
        let (state, chats) = me_view(&mut gone).await;
        assert_eq!((state.as_str(), chats.len()), ("", 0), "{transport:?}: {chats:?}");
        stays.logout().await;
        server.stop().await;
    }
}
