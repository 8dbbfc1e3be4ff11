//! Criterion benchmarks of the pure state machine (`server::state::Center`) on a contact center
//! of 10,000 agents: a whole consult-remove-leave cycle, SendMessage on a live chat, routing
//! with a backlog of waiting chats, and the serialization every notification goes through.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use gwsim::gws::{Capability, MeOperation, Media, Notification, Operation};
use gwsim::server::state::{
    Center, CustomerApi, Delivery, Directory, InteractionRequest, NewUser, StateConfig, UserIdx,
};
use serde_json::{Map, Value, json};

/// The size the issue asks the server to sustain.
const AGENTS: u32 = 10_000;
const T0: i64 = 1_700_000_000_000;

fn params(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// `n` agents in one queue, all with a chat session; Ready if `ready`. Retention 0, so a tick
/// after the cycle forgets the closed interaction and every iteration starts from the same size.
pub(crate) fn center(n: u32, ready: bool) -> Center {
    let users = (0..n)
        .map(|i| NewUser {
            username: format!("agent-{i}"),
            first_name: "Agent".into(),
            last_name: format!("{i}"),
            queues: vec!["default".into()],
        })
        .collect();
    let dir = Directory::build(&["default".into()], users).expect("valid directory");
    let mut c = Center::new(StateConfig { retention_ms: 0, ..StateConfig::default() }, dir);
    let mut out = Vec::new();
    for u in (0..n).map(UserIdx::new) {
        c.me_operation(u, MeOperation::start_session(["chat"]), T0, &mut out).expect("session");
        if ready {
            c.me_operation(u, MeOperation::Ready {}, T0, &mut out).expect("ready");
        }
        out.clear();
    }
    c
}

/// The agent and interaction id of the first invitation in `out`.
fn invited(out: &[Delivery]) -> (UserIdx, String) {
    out.iter()
        .find_map(|d| match &d.notification {
            Notification::ChatStateChangeMessage(sc) => {
                sc.resource().map(|r| (d.user, r.id.to_string()))
            }
            _ => None,
        })
        .expect("the chat is offered to an agent")
}

struct Cycle {
    chat: Map<String, Value>,
    accept_a: Operation,
    accept_b: Operation,
    text: Operation,
    message: Operation,
    empty: Map<String, Value>,
}

impl Cycle {
    fn new() -> Cycle {
        Cycle {
            chat: params(json!({"nickname": "Chris", "subject": "Billing",
                                "userData": {"CustomerId": "C-1042", "Segment": "gold"}})),
            accept_a: Operation::Accept { nickname: "Ann".into() },
            accept_b: Operation::Accept { nickname: "Bob".into() },
            text: Operation::SendToAgents {
                text: "Can you confirm the refund?".into(),
                message_type: None,
                treat_as: None,
            },
            message: Operation::SendMessage {
                text: "Can you confirm the refund?".into(),
                message_type: None,
                treat_as: None,
            },
            empty: Map::new(),
        }
    }

    /// Routed chat, accept, consult with the next agent, accept, SendToAgents, remove the
    /// consultant, leave, complete, the customer completes, tick: protocol.md §15's seed flow.
    /// Returns how many notifications it produced.
    fn run(&self, c: &mut Center, now: i64, out: &mut Vec<Delivery>) -> usize {
        out.clear();
        let ok = c.request_chat(&self.chat, now, out).expect("chat");
        let external = ok.body["id"].as_str().expect("chat id").to_string();
        let (a, ixn) = invited(out);
        let b = UserIdx::new((a.get() + 1) % c.directory().users().len() as u32);
        let target = Some(format!("/users/{}", c.directory().user(b).id));
        let op = |c: &mut Center, user: UserIdx, operation: Operation, out: &mut _| {
            let name = operation.operation_name();
            let req = InteractionRequest::typed(user, Media::Chat, &ixn, operation);
            c.interaction_operation(req, now, out)
                .unwrap_or_else(|e| panic!("{name} by {user:?}: {e}"));
        };
        op(c, a, self.accept_a.clone(), out);
        op(c, a, Operation::Consult { target_uri: None, target_path: target.clone() }, out);
        op(c, b, self.accept_b.clone(), out);
        op(c, a, self.text.clone(), out);
        let remove = Operation::RemoveParticipantFromConference {
            target_uri: None,
            target_path: target,
            text: None,
        };
        op(c, a, remove, out);
        op(c, a, Operation::bare(Capability::Leave).expect("leave"), out);
        op(c, a, Operation::bare(Capability::Complete).expect("complete"), out);
        c.customer_operation(CustomerApi::Chat, &external, "Complete", &self.empty, now, out)
            .expect("customer completes");
        c.tick(now, out);
        out.len()
    }
}

/// A routed and accepted chat.
struct LiveChat {
    agent: UserIdx,
    id: String,
    external: String,
}

impl LiveChat {
    fn open(c: &mut Center, cycle: &Cycle, now: i64) -> LiveChat {
        let mut out = Vec::new();
        let ok = c.request_chat(&cycle.chat, now, &mut out).expect("chat");
        let external = ok.body["id"].as_str().expect("chat id").to_string();
        let (agent, id) = invited(&out);
        let req = InteractionRequest::typed(agent, Media::Chat, &id, cycle.accept_a.clone());
        c.interaction_operation(req, now, &mut out).expect("accept");
        LiveChat { agent, id, external }
    }

    /// Leave, Complete, the customer completes, and a tick forgets the chat.
    fn close(&self, c: &mut Center, cycle: &Cycle, now: i64) {
        let mut out = Vec::new();
        for name in [Capability::Leave, Capability::Complete] {
            let operation = Operation::bare(name).expect("no mandatory parameter");
            let req = InteractionRequest::typed(self.agent, Media::Chat, &self.id, operation);
            c.interaction_operation(req, now, &mut out).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        c.customer_operation(
            CustomerApi::Chat,
            &self.external,
            "Complete",
            &cycle.empty,
            now,
            &mut out,
        )
        .expect("customer completes");
        c.tick(now, &mut out);
    }
}

pub(crate) fn benches(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("state");

    // One full cycle on 10,000 Ready agents: routing scans the whole queue once per offer.
    let cycle = Cycle::new();
    for n in [100, AGENTS] {
        let mut c = center(n, true);
        let mut out = Vec::new();
        let mut now = T0;
        g.bench_function(format!("consult_remove_leave_cycle/{n}_agents"), |bch| {
            bch.iter(|| {
                now += 1;
                black_box(cycle.run(&mut c, now, &mut out))
            })
        });
        assert_eq!(c.interaction_count(), 0, "every cycle's interaction is forgotten");
    }

    // Routing alone: RequestChat, whose dispatch picks one agent out of the queue. Only that
    // call is timed; the customer then leaves and a tick forgets the chat, so every iteration
    // sees the same center.
    for n in [100, AGENTS] {
        let mut c = center(n, true);
        let mut out = Vec::new();
        let mut now = T0;
        g.bench_function(format!("request_chat_routed/{n}_agents"), |bch| {
            bch.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    now += 1;
                    out.clear();
                    let started = Instant::now();
                    let ok = c.request_chat(&cycle.chat, now, &mut out).expect("chat");
                    timed += started.elapsed();
                    let id = ok.body["id"].as_str().expect("id");
                    c.customer_operation(
                        CustomerApi::Chat,
                        id,
                        "Complete",
                        &cycle.empty,
                        now,
                        &mut out,
                    )
                    .expect("customer leaves");
                    c.tick(now, &mut out);
                }
                timed
            })
        });
    }

    // SendMessage on a live chat (no routing): the steady-state operation of a load test. A chat
    // is ended and replaced (untimed) every 100 messages, so the message log stays the length of
    // a real chat instead of growing by millions of entries.
    {
        let mut c = center(AGENTS, true);
        let mut out = Vec::new();
        let mut now = T0;
        let mut live = LiveChat::open(&mut c, &cycle, now);
        g.bench_function("send_message_live_chat/10000_agents", |bch| {
            bch.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for i in 0..iters {
                    now += 1;
                    if i % 100 == 99 {
                        live.close(&mut c, &cycle, now);
                        live = LiveChat::open(&mut c, &cycle, now);
                    }
                    out.clear();
                    let message = cycle.message.clone();
                    let req = InteractionRequest::typed(live.agent, Media::Chat, &live.id, message);
                    let started = Instant::now();
                    c.interaction_operation(req, now, &mut out).expect("send");
                    timed += started.elapsed();
                }
                timed
            })
        });
    }

    // A backlog: chats waiting while all 10,000 agents are NotReady. Every dispatch (each tick,
    // RequestChat, Ready, Reject) tries every waiting offer against every queue member.
    for waiting in [10u32, 100] {
        let mut c = center(AGENTS, false);
        let mut out = Vec::new();
        for _ in 0..waiting {
            c.request_chat(&cycle.chat, T0, &mut out).expect("chat");
        }
        assert!(out.is_empty(), "nobody is Ready");
        g.bench_function(format!("dispatch_backlog/{waiting}_waiting_10000_notready"), |bch| {
            bch.iter(|| {
                c.tick(T0, &mut out);
                black_box(out.len())
            })
        });
    }

    // Per-request scans over all interactions: GET /me?subresources=* (state recovery after a
    // re-handshake) and the timer tick (retention), with 10,000 live chats, one per agent.
    {
        let mut c = center(AGENTS, true);
        let mut out = Vec::new();
        for _ in 0..AGENTS {
            out.clear();
            c.request_chat(&cycle.chat, T0, &mut out).expect("chat");
            let (a, ixn) = invited(&out);
            let req = InteractionRequest::typed(a, Media::Chat, &ixn, cycle.accept_a.clone());
            c.interaction_operation(req, T0, &mut out).expect("accept");
        }
        assert_eq!(c.interaction_count(), AGENTS as usize);
        g.bench_function("me_view_subresources/10000_live_chats", |bch| {
            bch.iter(|| black_box(c.me_view(UserIdx::new(0), true)))
        });
        g.bench_function("tick/10000_live_chats", |bch| {
            bch.iter(|| {
                out.clear();
                c.tick(T0, &mut out);
                black_box(out.len())
            })
        });
    }

    // Serialization of what the HTTP shell publishes: a StatusChange carrying userData and a
    // MessageLogUpdated, exactly as `App::publish` does it.
    {
        let mut c = center(2, true);
        let mut out = Vec::new();
        c.request_chat(&cycle.chat, T0, &mut out).expect("chat");
        let (a, ixn) = invited(&out);
        let state_change = out[0].notification.clone();
        out.clear();
        let req = InteractionRequest::typed(a, Media::Chat, &ixn, cycle.accept_a.clone());
        c.interaction_operation(req, T0, &mut out).expect("accept");
        let req = InteractionRequest::typed(a, Media::Chat, &ixn, cycle.message.clone());
        out.clear();
        c.interaction_operation(req, T0, &mut out).expect("send");
        let message_log = out
            .iter()
            .find(|d| matches!(d.notification, Notification::MessageLogUpdated(_)))
            .expect("a message log update")
            .notification
            .clone();
        g.bench_function("serialize/state_change_with_user_data", |bch| {
            bch.iter(|| serde_json::to_string(black_box(&state_change)).expect("json"))
        });
        g.bench_function("serialize/message_log_updated", |bch| {
            bch.iter(|| serde_json::to_string(black_box(&message_log)).expect("json"))
        });
    }
    g.finish();
}
