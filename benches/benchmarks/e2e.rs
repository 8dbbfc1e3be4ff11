//! End-to-end criterion benchmark against a real server on 127.0.0.1:0: from an agent's HTTP
//! SendMessage in a live chat to the resulting MessageLogUpdated delivered to that agent's
//! CometD client, over websocket and over long-polling.

use std::time::Duration;

use criterion::Criterion;
use gwsim::cometd::client::Transport;

use super::agent::{Agent, BenchServer};

pub(crate) fn benches(cr: &mut Criterion) {
    // Two workers, like the machine: client and server share them, as in `gwsim run` with the
    // embedded server.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut g = cr.benchmark_group("e2e");
    for (label, transport) in
        [("websocket", Transport::Websocket), ("long_polling", Transport::LongPolling)]
    {
        let (server, mut agent, chat) = rt.block_on(async {
            let server = BenchServer::start(8).await;
            let mut agent = Agent::login(&server, "agent-1", transport).await;
            let chat = agent.take_chat(&server).await;
            (server, agent, chat)
        });
        g.bench_function(format!("send_message_to_notification/{label}"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += agent.message_round_trip(&chat).await;
                    }
                    total
                })
            })
        });
        rt.block_on(async {
            agent.logout();
            server.stop().await;
        });
    }
    g.finish();
}
