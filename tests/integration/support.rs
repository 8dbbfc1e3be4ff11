//! Shared helpers: a reference server on 127.0.0.1:0, agents that log in over real HTTP and a
//! real CometD transport, customers, and a compact rendering of notifications for assertions.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gwsim::cometd::client::{self as cometd_client, CometdConfig, CometdHandle, Event, Transport};
use gwsim::gws::client::{AgentHttp, Credentials, GwsClient, OpResponse};
use gwsim::gws::customer::CustomerClient;
use gwsim::gws::error::GwsError;
use gwsim::gws::{Me, MeOperation, Media, Notification, Visibility};
use gwsim::server::faults::{FaultInjector, NoFaults};
use gwsim::server::users::{Password, UserTable};
use gwsim::server::{self, Running, ServerConfig};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub(crate) const PASSWORD: &str = "test-password";
/// How long a test waits for a notification before calling it missing. Generous: it only
/// bounds a failing test, it is never a latency assertion.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

pub(crate) struct TestServer {
    pub(crate) running: Running,
    pub(crate) config: ServerConfig,
    pub(crate) client: GwsClient,
}

impl TestServer {
    pub(crate) fn base_url(&self) -> String {
        self.running.base_url()
    }

    pub(crate) fn customer(&self) -> CustomerClient {
        CustomerClient::new(&self.client, &self.config.contact_center_id).expect("customer client")
    }

    pub(crate) async fn stop(self) {
        self.running.stop().await.expect("server stops cleanly");
    }
}

/// A server with `agent-1` .. `agent-8` in queue `default`.
pub(crate) async fn start_server(configure: impl FnOnce(&mut ServerConfig)) -> TestServer {
    start_server_with_faults(configure, Arc::new(NoFaults)).await
}

pub(crate) async fn start_server_with_faults(
    configure: impl FnOnce(&mut ServerConfig),
    faults: Arc<dyn FaultInjector>,
) -> TestServer {
    let mut config = ServerConfig::default();
    configure(&mut config);
    let users = UserTable::demo(8, Password::new(PASSWORD)).expect("demo users");
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let running =
        server::start_with_faults(addr, &mut config, users, faults).await.expect("server starts");
    let client = GwsClient::builder()
        .base_url(running.base_url())
        .request_timeout(WAIT)
        .build()
        .expect("client");
    TestServer { running, config, client }
}

/// A logged-in agent with its own HTTP session and CometD session.
pub(crate) struct TestAgent {
    pub(crate) name: String,
    pub(crate) http: AgentHttp,
    pub(crate) me: Me,
    pub(crate) events: cometd_client::Events,
    pub(crate) cometd: CometdHandle,
    pub(crate) token: CancellationToken,
}

impl TestAgent {
    /// Logs in as GWS clients do: GET /me, CometD handshake + subscribe, start a session on
    /// `channels`, and (if `ready`) Ready.
    pub(crate) async fn login(
        server: &TestServer,
        name: &str,
        transport: Transport,
        channels: &[&str],
        ready: bool,
    ) -> TestAgent {
        let mut http = server.client.agent(Credentials::new(name, PASSWORD));
        let me = http.login().await.expect("login");
        let token = CancellationToken::new();
        let config = CometdConfig::new(server.base_url(), transport).headers(http.cometd_headers());
        let (cometd, events) =
            cometd_client::connect(config, token.clone()).await.expect("cometd connects");
        let mut agent = TestAgent { name: name.to_string(), http, me, events, cometd, token };
        let r =
            agent.http.me_operation(&MeOperation::start_session(channels.iter().copied())).await;
        assert_eq!(r.expect("session").status_code, 0);
        agent.expect_channel_state("NotReady").await;
        if ready {
            let r = agent.http.me_operation(&MeOperation::Ready {}).await.expect("ready");
            assert_eq!(r.status_code, 0);
            agent.expect_channel_state("Ready").await;
        }
        agent
    }

    async fn expect_channel_state(&mut self, state: &str) {
        let n = self.next().await;
        match n {
            Notification::ChannelStateChangeMessageV2(ch) => {
                assert!(ch.channels.iter().all(|c| c.user_state.state == state), "{ch:?}");
            }
            other => panic!("{}: expected channel state {state}, got {other:?}", self.name),
        }
    }

    /// The next GWS notification (raw JSON and parsed).
    pub(crate) async fn next_raw(&mut self) -> (String, Value, Notification) {
        loop {
            let event = tokio::time::timeout(WAIT, self.events.recv())
                .await
                .unwrap_or_else(|_| panic!("{}: no notification within {WAIT:?}", self.name))
                .unwrap_or_else(|| panic!("{}: CometD session ended", self.name));
            if let Event::Data { channel, data } = event {
                let value: Value = serde_json::from_str(data.get()).expect("notification is JSON");
                let parsed: Notification =
                    serde_json::from_str(data.get()).expect("notification parses");
                return (channel.into(), value, parsed);
            }
        }
    }

    pub(crate) async fn next(&mut self) -> Notification {
        self.next_raw().await.2
    }

    /// The next `n` notifications, rendered by [`show`].
    pub(crate) async fn expect(&mut self, n: usize) -> Vec<String> {
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            let n = self.next().await;
            v.push(show(&n));
        }
        v
    }

    /// Nothing further arrives within a short grace period (used after a terminal state).
    pub(crate) async fn expect_silence(&mut self, grace: Duration) {
        if let Ok(Some(Event::Data { data, .. })) =
            tokio::time::timeout(grace, self.events.recv()).await
        {
            panic!("{}: unexpected notification {}", self.name, data.get());
        }
    }

    /// An interaction operation, its body sent as written (so tests can send what no typed
    /// operation can); refusals come back as their HTTP status and statusCode.
    pub(crate) async fn op(&self, media: Media, id: &str, body: Value) -> OpResponse {
        match self.http.interaction_operation_json(media, id, &body).await {
            Ok(r) => r,
            Err(GwsError::Status { http, status_code, .. }) => {
                OpResponse { http, status_code, reference_id: None }
            }
            Err(e) => panic!("{}: request failed: {e}", self.name),
        }
    }

    pub(crate) fn uri(&self) -> String {
        self.me.uri.clone().expect("user uri")
    }

    pub(crate) async fn logout(self) {
        self.token.cancel();
        drop(self.cometd);
    }
}

/// A compact rendering: `SC/StatusChange(Chatting)`, `ML[ParticipantJoined Bob Agents]`,
/// `CH[Ready]`.
pub(crate) fn show(n: &Notification) -> String {
    match n {
        Notification::ChatStateChangeMessage(sc)
        | Notification::FacebooksessionStateChangeMessage(sc) => {
            let state = sc.resource().map(|r| r.state.as_str()).unwrap_or("?");
            format!("SC/{:?}({state})", sc.notification_type)
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
            format!("ML[{}]", entries.join(", "))
        }
        Notification::ChannelStateChangeMessageV2(ch) => {
            format!(
                "CH[{}]",
                ch.channels
                    .iter()
                    .map(|c| c.user_state.state.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            )
        }
        Notification::Unknown => "?".into(),
    }
}

/// The interaction resource of a state-change notification.
pub(crate) fn resource(n: &Notification) -> &gwsim::gws::InteractionResource {
    match n {
        Notification::ChatStateChangeMessage(sc)
        | Notification::FacebooksessionStateChangeMessage(sc) => {
            sc.resource().expect("state change carries its resource")
        }
        other => panic!("not a state change: {other:?}"),
    }
}

/// Starts a customer interaction of `media`; returns (customer-side id, interaction id as the
/// invited agent sees it once `agent` has its invitation).
pub(crate) async fn new_interaction(
    server: &TestServer,
    media: Media,
    agent: &mut TestAgent,
) -> (String, String) {
    let customer = server.customer();
    let external = match media {
        Media::Chat => customer
            .request_chat("Chris", "Billing question", serde_json::Map::new())
            .await
            .expect("chat"),
        Media::Facebook => customer
            .facebook_inbound(
                "Vitaliy",
                "Hello my friend!",
                "Hello my friend!",
                serde_json::Map::new(),
                None,
            )
            .await
            .expect("facebook inbound"),
    };
    let invited = agent.next().await;
    assert_eq!(show(&invited), "SC/StatusChange(Invited)");
    (external, resource(&invited).id.to_string())
}
