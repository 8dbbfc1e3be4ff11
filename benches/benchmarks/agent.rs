//! Agents and a server for the end-to-end benchmark and the scale probe: an embedded server on
//! 127.0.0.1:0, agents that log in over real HTTP and a real CometD transport (as GWS clients do:
//! GET /me, handshake + subscribe, StartContactCenterSession, Ready), and the measured round trip
//! from an HTTP SendMessage to the notification it causes reaching the sender's CometD client.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gwsim::cometd::client::{self as cometd_client, CometdConfig, CometdHandle, Event, Transport};
use gwsim::gws::client::{AgentHttp, Credentials, GwsClient};
use gwsim::gws::{MeOperation, Media, Notification, Operation};
use gwsim::server::users::{Password, UserTable};
use gwsim::server::{self, Running, ServerConfig};
use serde_json::Map;
use tokio_util::sync::CancellationToken;

const PASSWORD: &str = "bench-password";
/// Bounds a wait for a notification that should come in microseconds; only a broken server
/// hits it, and then the benchmark stops with a message instead of hanging.
const WAIT: Duration = Duration::from_secs(30);

pub(crate) struct BenchServer {
    /// The server when it runs in this process; `None` when it runs elsewhere (the scale probe
    /// may put it in a child process) and only `base_url` is known.
    pub(crate) running: Option<Running>,
    pub(crate) base_url: String,
    pub(crate) config: ServerConfig,
    pub(crate) client: GwsClient,
}

impl BenchServer {
    /// A server with `agent-1` .. `agent-{agents}` in queue `default`.
    pub(crate) async fn start(agents: u32) -> BenchServer {
        let config = ServerConfig::default();
        let users = UserTable::demo(agents, Password::new(PASSWORD)).expect("demo users");
        let addr: SocketAddr = "127.0.0.1:0".parse().expect("address");
        let running = server::start(addr, config.clone(), users).await.expect("server starts");
        let mut server = BenchServer::at(&running.base_url());
        server.running = Some(running);
        server
    }

    /// A server already listening at `base_url`, with the default configuration.
    pub(crate) fn at(base_url: &str) -> BenchServer {
        let client =
            GwsClient::builder().base_url(base_url).request_timeout(WAIT).build().expect("client");
        BenchServer {
            running: None,
            base_url: base_url.to_owned(),
            config: ServerConfig::default(),
            client,
        }
    }

    pub(crate) async fn stop(self) {
        if let Some(running) = self.running {
            running.stop().await.expect("server stops cleanly");
        }
    }
}

/// A logged-in agent: its HTTP session and its CometD session's events.
pub(crate) struct Agent {
    name: String,
    http: AgentHttp,
    events: cometd_client::Events,
    // Held so the session task lives as long as the agent.
    _cometd: CometdHandle,
    token: CancellationToken,
}

impl Agent {
    pub(crate) async fn login(server: &BenchServer, name: &str, transport: Transport) -> Agent {
        let mut http = server.client.agent(Credentials::new(name, PASSWORD));
        http.login().await.unwrap_or_else(|e| panic!("{name}: GET /me: {e}"));
        let token = CancellationToken::new();
        let config =
            CometdConfig::new(server.base_url.as_str(), transport).headers(http.cometd_headers());
        let (cometd, events) = cometd_client::connect(config, token.clone())
            .await
            .unwrap_or_else(|e| panic!("{name}: CometD: {e}"));
        let mut agent = Agent { name: name.to_owned(), http, events, _cometd: cometd, token };
        agent.me_operation(&MeOperation::start_session(["chat"])).await;
        agent.channel_state("NotReady").await;
        agent.me_operation(&MeOperation::Ready {}).await;
        agent.channel_state("Ready").await;
        agent
    }

    async fn me_operation(&self, body: &MeOperation) {
        let r = self.http.me_operation(body).await;
        let r = r.unwrap_or_else(|e| panic!("{}: {body:?}: {e}", self.name));
        assert_eq!(r.status_code, 0, "{}: {body:?}", self.name);
    }

    async fn channel_state(&mut self, state: &str) {
        match self.next().await {
            Notification::ChannelStateChangeMessageV2(ch)
                if ch.channels.iter().all(|c| c.user_state.state == state) => {}
            other => panic!("{}: expected channel state {state}, got {other:?}", self.name),
        }
    }

    /// The next notification.
    async fn next(&mut self) -> Notification {
        next_notification(&self.name, &mut self.events).await
    }

    /// A customer chat routed to this agent (the only Ready one in the queue, or the first) and
    /// accepted; returns the interaction id. Drains the notifications of the accept.
    pub(crate) async fn take_chat(&mut self, server: &BenchServer) -> String {
        let customer =
            gwsim::gws::CustomerClient::new(&server.client, &server.config.contact_center_id)
                .expect("customer");
        customer.request_chat("Chris", "Billing", Map::new()).await.expect("RequestChat");
        let id = match self.next().await {
            Notification::ChatStateChangeMessage(sc) => {
                sc.resource().expect("resource").id.to_string()
            }
            other => panic!("{}: expected the invitation, got {other:?}", self.name),
        };
        let accept = Operation::Accept { nickname: "Agent".into() };
        let r = self.http.interaction_operation(Media::Chat, &id, &accept).await.expect("Accept");
        assert_eq!(r.status_code, 0);
        // StatusChange(Chatting), ParticipantsUpdated, MessageLogUpdated (protocol.md §15.8).
        for _ in 0..3 {
            self.next().await;
        }
        id
    }

    /// Time from sending SendMessage to its MessageLogUpdated reaching this agent's CometD
    /// client (the HTTP response may come before or after; both are awaited).
    pub(crate) async fn message_round_trip(&mut self, chat: &str) -> Duration {
        let body =
            Operation::SendMessage { text: "ping".into(), message_type: None, treat_as: None };
        let (name, http, events) = (&self.name, &self.http, &mut self.events);
        let started = Instant::now();
        let (response, notification) =
            tokio::join!(http.interaction_operation(Media::Chat, chat, &body), async {
                loop {
                    if let Notification::MessageLogUpdated(_) =
                        next_notification(name, events).await
                    {
                        break Instant::now();
                    }
                }
            });
        let r = response.unwrap_or_else(|e| panic!("{}: SendMessage: {e}", self.name));
        assert_eq!(r.status_code, 0);
        notification - started
    }

    pub(crate) fn logout(self) {
        self.token.cancel();
    }
}

async fn next_notification(name: &str, events: &mut cometd_client::Events) -> Notification {
    loop {
        let event = tokio::time::timeout(WAIT, events.recv())
            .await
            .unwrap_or_else(|_| panic!("{name}: no notification within {WAIT:?}"))
            .unwrap_or_else(|| panic!("{name}: CometD session ended"));
        if let Event::Data { data, .. } = event {
            return serde_json::from_str(data.get()).expect("notification parses");
        }
    }
}
