//! The embedded GWS reference server: a pure contact-center state machine ([`state`]) with thin
//! HTTP ([`http`]) and CometD ([`bayeux`]) shells around it.
//!
//! Entry points: [`serve`] runs the server on a listener until a shutdown future resolves;
//! [`start`] binds, spawns it and returns a handle (for tests and embedded runs).

pub mod auth;
pub mod bayeux;
mod conn;
pub mod faults;
pub mod http;
pub mod state;
pub mod users;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use self::auth::Authenticator;
use self::bayeux::{BayeuxConfig, Hub};
use self::faults::overtake::{Class, Overtaken, Position, Published};
use self::faults::{BatchInfo, Cause, Delayed, FaultInjector, Hooks, NoFaults};
use self::state::{Center, Delivery, StateConfig, Topic};
use self::users::UserTable;
use crate::gws::{Media, topics};
use crate::telemetry::serve::ServeMetrics;

/// Everything `gwsim serve` can configure.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub state: StateConfig,
    pub bayeux: BayeuxConfig,
    /// CSRF protection on POST/PUT/DELETE (§1.2; default on).
    pub csrf: bool,
    /// Answer errors with HTTP 200 instead of the §1.3 mapping.
    pub always_200: bool,
    /// The value customers must send in the ContactCenterId header.
    pub contact_center_id: String,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// The CometD topic of Facebook events (documented singular by default).
    pub facebook_topic: String,
    /// HTTP sessions idle for longer than this are forgotten.
    pub session_idle: Duration,
    /// `gwsim serve --prometheus`: the families the server feeds (requests, sessions,
    /// notifications, faults); `None` costs nothing.
    pub telemetry: Option<Arc<ServeMetrics>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            state: StateConfig::default(),
            bayeux: BayeuxConfig::default(),
            csrf: true,
            always_200: false,
            contact_center_id: DEFAULT_CONTACT_CENTER_ID.into(),
            body_limit: 64 * 1024,
            facebook_topic: topics::FACEBOOK.into(),
            session_idle: Duration::from_secs(1800),
            telemetry: None,
        }
    }
}

/// Installs what a scrape reads from the server's own bookkeeping: the live CometD sessions, and
/// the faults the injector's ledger holds, counted by kind as the ledger grows (each scrape reads
/// only the records added since the last; records beyond the ledger's cap are not counted).
fn sample_into(t: &ServeMetrics, hub: &Arc<Hub>, faults: &Arc<dyn FaultInjector>) {
    // Weak handles: the exporter can outlive the server for a moment, and must not keep its hub
    // or injector alive; a scrape then reads 0 sessions and the counts so far.
    let hub = Arc::downgrade(hub);
    t.sessions.install(move || {
        let n = hub.upgrade().map_or(0, |h| h.session_count());
        vec![(String::new(), n as u64)]
    });
    let faults = Arc::downgrade(faults);
    // A std mutex: held for one ledger read per scrape, never across an await.
    let seen: Mutex<(u64, std::collections::BTreeMap<&'static str, u64>)> = Mutex::default();
    t.faults.install(move || {
        let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
        let (last, by_kind) = &mut *seen;
        if let Some(snapshot) = faults.upgrade().and_then(|f| f.ledger_after(*last)) {
            for r in &snapshot.records {
                *by_kind.entry(r.kind.as_str()).or_default() += 1;
                *last = (*last).max(r.seq);
            }
        }
        by_kind.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
    });
}

/// The ContactCenterId customers send unless configured otherwise.
pub const DEFAULT_CONTACT_CENTER_ID: &str = "5f3a2e9c-1b7d-4c5e-8f00-9a6b1c2d3e4f";

fn lock_published(p: &Mutex<Published>) -> std::sync::MutexGuard<'_, Published> {
    // `note` cannot leave the map half-updated, so a poisoned lock still holds sound data.
    p.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A delayed delivery on its timer, with what it needs to go out and to be judged.
struct LatePublish {
    hub: Arc<Hub>,
    faults: Arc<dyn FaultInjector>,
    published: Option<Arc<Mutex<Published>>>,
    /// Where it stood in the order owed.
    owed_at: Position,
    class: Class,
    topic: String,
    user: u32,
    interaction: String,
    json: String,
    record: Option<faults::PendingRecord>,
}

impl LatePublish {
    /// Publishes it and tells the injector whether anything overtook it, or whether nobody
    /// took it: the ledger says what was delivered, so the join counts a delay whose agent had
    /// already gone (the run's end, a crash) as one no checker could see, not as one missed.
    fn publish(self) {
        // Judged, published and ledgered under the lock `App::publish` holds, so the judgement
        // stays true; a reader of the ledger meanwhile sees it as still on its timer.
        let mut published = self.published.as_deref().map(lock_published);
        let overtaken = published.as_mut().map_or(Overtaken::No, |p| {
            let overtaken = p.overtaken(self.user, &self.interaction, self.owed_at, self.class);
            p.note(self.user, &self.interaction, self.owed_at, self.class);
            overtaken
        });
        let taken = self.hub.publish(self.user, &self.topic, &self.json);
        if let Some(record) = self.record {
            let overtaken = if taken == 0 { Overtaken::Undelivered } else { overtaken };
            self.faults.delay_done(record, Some(overtaken));
        }
        drop(published);
    }

    /// The server stopped first: it never goes out.
    fn abandon(self) {
        if let Some(record) = self.record {
            self.faults.delay_done(record, None);
        }
    }
}

/// Shared state of a running server.
#[derive(Debug)]
pub struct App {
    /// One lock over the whole contact center: operations take microseconds, and applying an
    /// operation and queueing its notifications under the same lock is what keeps every
    /// recipient's notifications in state order. A std mutex, since it is never held across
    /// an await.
    center: Mutex<Center>,
    hub: Arc<Hub>,
    auth: Authenticator,
    config: ServerConfig,
    faults: Arc<dyn FaultInjector>,
    /// The injector's optional hooks, read once.
    hooks: Hooks,
    /// What was published last per agent and interaction, when delays are injected.
    published: Option<Arc<Mutex<Published>>>,
    shutdown: CancellationToken,
}

impl App {
    pub fn new(
        config: ServerConfig,
        users: UserTable,
        faults: Arc<dyn FaultInjector>,
        shutdown: CancellationToken,
    ) -> Arc<App> {
        faults.attach(&users.directory);
        let hooks = faults.hooks();
        let center = Center::new(config.state.clone(), users.directory.clone());
        let hub = Hub::new(config.bayeux.clone(), faults.clone(), shutdown.clone());
        let auth = Authenticator::new(users, config.session_idle);
        if let Some(t) = &config.telemetry {
            sample_into(t, &hub, &faults);
        }
        let published = hooks.delays.then(Arc::default);
        Arc::new(App {
            center: Mutex::new(center),
            hub,
            auth,
            config,
            faults,
            hooks,
            published,
            shutdown,
        })
    }

    /// Wall-clock milliseconds for message timestamps (the state machine never reads clocks).
    fn now_ms(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
    }

    /// Runs `f` on the state under the lock, for requests that cause no notifications (reads).
    fn with_center<T>(
        &self,
        f: impl FnOnce(&mut Center, &mut Vec<Delivery>) -> T,
    ) -> Result<T, http::HttpError> {
        self.with_center_for(Cause::Routing, f)
    }

    /// Runs `f` on the state under the lock and publishes the notifications it produced before
    /// releasing it. `cause` tells the fault injector what the batch is for; delayed
    /// deliveries it hands back are published by timer tasks, outside the lock.
    ///
    /// A poisoned lock means an operation panicked halfway through changing the state. Serving
    /// on from that state would hide the very bug a reference server exists to expose, so every
    /// later request fails with statusCode 4 instead (and the operator restarts the server).
    fn with_center_for<T>(
        &self,
        cause: Cause<'_>,
        f: impl FnOnce(&mut Center, &mut Vec<Delivery>) -> T,
    ) -> Result<T, http::HttpError> {
        let mut out = Vec::new();
        let Ok(mut center) = self.center.lock() else {
            tracing::error!("the contact-center state is poisoned by an earlier panic; refusing");
            return Err(http::HttpError::internal(
                self,
                "internal error: the server state is unusable after an earlier failure",
            ));
        };
        let result = f(&mut center, &mut out);
        if !out.is_empty() {
            let mut later = Vec::new();
            let chat_of = |ixn: &str| center.customer_chat_id(ixn).map(str::to_owned);
            let batch = BatchInfo { cause, directory: center.directory(), chat_of: &chat_of };
            self.faults.on_batch(&batch, &mut out, &mut later);
            // Numbered and published under the state lock, so batch numbers follow state order.
            let number = self.published.as_deref().map_or(0, |p| {
                let mut p = lock_published(p);
                p.batches += 1;
                p.batches
            });
            for delayed in later {
                self.publish_later(number, delayed);
            }
            self.publish(number, &out);
        }
        Ok(result)
    }

    fn topic(&self, topic: Topic) -> &str {
        match topic {
            Topic::Interaction(Media::Chat) => topics::CHATS,
            Topic::Interaction(Media::Facebook) => self.config.facebook_topic.as_str(),
            Topic::Channels => topics::CHANNELS,
        }
    }

    /// Publishes batch `number` (0 when delays are not tracked).
    fn publish(&self, number: u64, out: &[Delivery]) {
        if let Some(t) = &self.config.telemetry {
            t.notifications(out.len());
        }
        // Held while publishing, so that a delayed delivery judged "not overtaken" really goes
        // out before anything published after the judgement.
        let mut published = self.published.as_deref().map(lock_published);
        if let Some(p) = published.as_mut() {
            let mut kept: HashMap<(u32, &str), u32> = HashMap::new();
            for d in out {
                if let Some(ixn) = d.notification.interaction_id() {
                    let n = kept.entry((d.user.get(), ixn)).or_default();
                    p.note(d.user.get(), ixn, (number, 2 * *n + 1, 0), Class::of(&d.notification));
                    *n += 1;
                }
            }
        }
        for d in out {
            match serde_json::to_string(&d.notification) {
                Ok(json) => {
                    self.hub.publish(d.user.get(), self.topic(d.topic), &json);
                }
                Err(e) => tracing::error!(error = %e, "cannot serialize a notification"),
            }
        }
    }

    /// A delivery the fault injector delayed: a timer task publishes it to the user's sessions
    /// as they are then, unless the server stops first. It never holds the state lock, so it
    /// crosses whatever batches are published meanwhile.
    fn publish_later(&self, number: u64, delayed: Delayed) {
        let Delayed { after, delivery: d, record, kept_before, nth } = delayed;
        let json = match serde_json::to_string(&d.notification) {
            Ok(json) => json,
            Err(e) => return tracing::error!(error = %e, "cannot serialize a notification"),
        };
        if let Some(t) = &self.config.telemetry {
            t.notifications(1);
        }
        let late = LatePublish {
            hub: self.hub.clone(),
            faults: self.faults.clone(),
            published: self.published.clone(),
            owed_at: (number, 2 * kept_before, nth),
            class: Class::of(&d.notification),
            topic: self.topic(d.topic).to_owned(),
            user: d.user.get(),
            interaction: d.notification.interaction_id().unwrap_or_default().to_owned(),
            json,
            record,
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No timer outside a runtime: deliver now rather than lose it.
            return late.publish();
        };
        let shutdown = self.shutdown.clone();
        runtime.spawn(async move {
            tokio::select! {
                () = shutdown.cancelled() => late.abandon(),
                () = tokio::time::sleep(after) => late.publish(),
            }
        });
    }

    /// Waits out a stall the fault injector has under way (before an answer goes out).
    async fn stall(&self) {
        if !self.hooks.stalls {
            return;
        }
        let asked = tokio::time::Instant::now();
        if let Some(rest) = self.faults.stall() {
            tokio::select! {
                () = faults::hold_until(asked + rest) => {}
                () = self.shutdown.cancelled() => {}
            }
        }
    }

    /// Invitation timeouts, retention and idle HTTP sessions, until shutdown.
    async fn run_timers(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let now = self.now_ms();
            // A poisoned state was logged by `with_center`; requests report it.
            let _ = self.with_center_for(Cause::Routing, |c, out| c.tick(now, out));
            // An agent whose notifications can no longer reach it is offered no more chats.
            let lost = self.hub.take_orphaned();
            if !lost.is_empty() {
                let _ = self.with_center_for(Cause::Routing, |c, out| {
                    lost.into_iter()
                        .for_each(|u| c.notifications_lost(state::UserIdx::new(u), out));
                });
            }
            // One still without a session after the grace period is gone for good: it leaves
            // its chats, which go on or are routed again, and is logged out.
            // The hub's clock (tokio's, so paused-time tests see it move).
            let gone = self.hub.take_vanished(tokio::time::Instant::now().into_std());
            if !gone.is_empty() {
                tracing::debug!(users = ?gone, "agents given up for gone");
                let _ = self.with_center_for(Cause::Routing, |c, out| {
                    gone.into_iter().for_each(|u| c.agent_gone(state::UserIdx::new(u), now, out));
                });
            }
            self.auth.expire_idle(Instant::now());
        }
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Agents with a contact-center session, and interactions held.
    /// Both are 0 once the state is poisoned (see `with_center`).
    pub fn counts(&self) -> (usize, usize) {
        match self.center.lock() {
            Ok(c) => (c.logged_in_count(), c.interaction_count()),
            Err(_) => (0, 0),
        }
    }
}

/// Serves on `listener` until `shutdown` resolves, then stops accepting, releases held
/// long-polls and websockets, and returns.
pub async fn serve(
    listener: TcpListener,
    mut config: ServerConfig,
    users: UserTable,
    faults: Arc<dyn FaultInjector>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if config.state.base_url.is_empty() {
        config.state.base_url = format!("http://{}", listener.local_addr()?);
    }
    let app = App::new(config, users, faults, CancellationToken::new());
    serve_app(listener, app, shutdown).await
}

async fn serve_app(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let token = app.shutdown.clone();
    let timers = tokio::spawn(app.clone().run_timers());
    let expiry = tokio::spawn(app.hub.clone().run_expiry());
    let router = http::router(app.clone());
    let stop = token.clone();
    let signal = tokio::spawn(async move {
        tokio::select! {
            _ = shutdown => stop.cancel(),
            _ = stop.cancelled() => {}
        }
    });
    conn::serve_router(listener, router, app.config.body_limit, token.clone()).await;
    signal.abort();
    token.cancel();
    let _ = timers.await;
    let _ = expiry.await;
    Ok(())
}

/// A server running in the background.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    pub handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The fault ledger so far (empty when the server injects no faults).
    pub fn ledger(&self) -> crate::faults::LedgerSnapshot {
        self.app.faults.ledger_with_pending().unwrap_or_default()
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(self) -> std::io::Result<()> {
        self.app.shutdown.cancel();
        self.handle.await.unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }
}

/// Binds `addr` (use port 0 for any free port) and serves in the background.
pub async fn start(
    addr: SocketAddr,
    mut config: ServerConfig,
    users: UserTable,
) -> std::io::Result<Running> {
    start_with_faults(addr, &mut config, users, Arc::new(NoFaults)).await
}

/// [`start`] with a fault injector; `config.state.base_url` is set to the bound address.
pub async fn start_with_faults(
    addr: SocketAddr,
    config: &mut ServerConfig,
    users: UserTable,
    faults: Arc<dyn FaultInjector>,
) -> std::io::Result<Running> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    config.state.base_url = format!("http://{local}");
    let app = App::new(config.clone(), users, faults, CancellationToken::new());
    let handle = tokio::spawn(serve_app(listener, app.clone(), std::future::pending()));
    Ok(Running { addr: local, app, handle })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gws::StatusBody;
    use crate::server::users::Password;

    #[tokio::test]
    async fn a_poisoned_state_fails_requests_with_status_4() {
        let users = UserTable::demo(1, Password::new("pw")).expect("users");
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        let running = start(addr, ServerConfig::default(), users).await.expect("server starts");
        let app = running.app.clone();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = app.with_center(|_, _| panic!("a bug halfway through an operation"));
        }));
        assert!(panicked.is_err());
        let resp = reqwest::Client::new()
            .get(format!("{}/api/v2/me", running.base_url()))
            .basic_auth("agent-1", Some("pw"))
            .send()
            .await
            .expect("an answer");
        assert_eq!(resp.status().as_u16(), 500);
        let body: StatusBody =
            serde_json::from_slice(&resp.bytes().await.expect("body")).expect("a status body");
        assert_eq!(body.status_code, crate::gws::status::INTERNAL);
        assert_eq!(app.counts(), (0, 0));
        running.stop().await.expect("stops");
    }
}
