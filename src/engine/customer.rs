//! One simulated customer: requests a chat (or sends a Facebook private message), polls for
//! messages as the customer API requires, sends its messages once an agent joins, may abandon
//! while waiting, and is checked too: a customer must never see an agents-only entry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, json};
use tokio_util::sync::CancellationToken;

use super::RunCtx;
use super::roster::{Started, message_key, tag_text};
use super::sink::Sink;
use crate::gws::customer::CustomerClient;
use crate::gws::error::GwsError;
use crate::gws::{CustomerChatState, EntryType, LogEntry, Media, ParticipantType};
use crate::ordering::CustomerChecker;
use crate::scenario::Pace;
use crate::vocab::{Counter, CustomerMetric, Gauge};

/// The customer API calls a customer makes, for either media.
struct Channel<'a> {
    client: &'a CustomerClient,
    media: Media,
    id: String,
}

impl Channel<'_> {
    async fn messages(&self) -> Result<Vec<LogEntry>, GwsError> {
        match self.media {
            Media::Chat => self.client.get_messages(&self.id, None).await,
            Media::Facebook => self.client.facebook_messages(&self.id, None).await,
        }
    }

    async fn send(&self, text: &str) -> Result<(), GwsError> {
        match self.media {
            Media::Chat => self.client.send_message(&self.id, text).await,
            Media::Facebook => self.client.facebook_send(&self.id, text).await,
        }
    }

    async fn complete(&self) -> Result<(), GwsError> {
        match self.media {
            Media::Chat => self.client.complete(&self.id).await,
            Media::Facebook => self.client.facebook_complete(&self.id).await,
        }
    }

    /// Whether the chat is over for the customer (no agent will come back).
    async fn idle(&self) -> bool {
        match self.media {
            Media::Chat => self
                .client
                .get_chat(&self.id)
                .await
                .is_ok_and(|c| c.state == CustomerChatState::Idle),
            // The Facebook side has no state to read: no agent left means the session is over.
            Media::Facebook => true,
        }
    }
}

/// Sleeps until `t`; never wakes without one.
async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

/// Runs customer number `n`, whose arrival was scheduled for `intended`.
pub(crate) async fn run_customer(
    ctx: Arc<RunCtx>,
    n: u64,
    intended: Instant,
    token: CancellationToken,
) {
    let rec: Sink = ctx.shards.sink(n);
    let Some(spec) = ctx.plan.scenario.customers.as_ref() else { return };
    let Some(client) = ctx.customer.as_ref() else { return };
    let measured = ctx.measured(intended);
    let mut rng =
        SmallRng::seed_from_u64(ctx.plan.scenario.run.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let nickname = spec.nickname.render(u32::try_from(n).unwrap_or(u32::MAX));
    let mut user_data = Map::new();
    user_data.insert("gwsimCustomer".into(), json!(n));
    let subject = format!("gwsim {}", ctx.plan.scenario.name);
    // Both lowered when the guards drop: on a failed request, an abandon, the run's end.
    let mut waiting = Some(ctx.gauges.raise(Gauge::CustomersWaiting));
    let active = ctx.gauges.raise(Gauge::ActiveChats);
    // The wait's raw variant runs from here: the arrival may have left later than planned.
    let requested_at = Instant::now();
    let requested = match ctx.plan.target.media {
        Media::Chat => {
            client.request_chat_at(&nickname, &subject, spec.queue.as_deref(), user_data).await
        }
        Media::Facebook => {
            client.facebook_inbound(&nickname, &spec.messages.text, &subject, user_data, None).await
        }
    };
    let id = match requested {
        Ok(id) => id,
        Err(e) => {
            tracing::debug!(customer = n, error = %e, "chat request failed");
            rec.count(Counter::Errors, 1);
            return;
        }
    };
    let chat = Channel { client, media: ctx.plan.target.media, id };
    // Whether it is owed an offer is judged when it stops waiting (`ordering::cross`).
    ctx.correlator.cross(|x| x.customer_started(ctx.now_ms(), n, &nickname, &chat.id));
    let mut checker = CustomerChecker::new(&nickname);
    let abandon_at = spec
        .abandon
        .as_ref()
        .filter(|a| rng.random::<f64>() < a.probability)
        .map(|a| intended + a.after.sample(&mut rng));
    // A `[chaos]` customer-abandon rule that hits this customer: it leaves as soon as its chat
    // is seen in a consult (the cross checker knows; the customer sees nothing of a consult).
    let consult_abandon =
        super::chaos::abandon_rule(ctx.plan.scenario.chaos.as_ref(), ctx.plan.scenario.run.seed, n);
    let to_send = spec.messages.count.sample(&mut rng);
    let mut sent = 0;
    let mut joined = false;
    let mut agents = 0usize;
    let mut next_send: Option<Instant> = None;
    let mut abandoned = false;
    let pace = spec.messages.pace;
    // The first poll at once: a fast server has routed and had the chat accepted by then, and
    // the customer's wait is only as fine as its polls (a first poll one interval later took
    // a request per customer off the client, and moved the embedded server's wait p50 from
    // 3 ms to the 500 ms of the poll interval).
    let mut poll = tokio::time::interval(ctx.plan.options.poll_interval);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Made once, not per poll: each new one registers with the token and deregisters again.
    let cancelled = token.cancelled();
    tokio::pin!(cancelled);
    loop {
        // An open plan wakes at its next message's time; a closed one sends on the poll that
        // finds it due, as it always has.
        let wake =
            next_send.filter(|_| pace == Pace::Open && joined && agents > 0 && sent < to_send);
        let polled = tokio::select! {
            biased;
            () = &mut cancelled => break,
            _ = sleep_until(wake) => false,
            _ = poll.tick() => true,
        };
        let now = Instant::now();
        if polled {
            let entries = match chat.messages().await {
                Ok(e) => e,
                Err(e) => {
                    tracing::debug!(customer = n, error = %e, "poll failed");
                    rec.count(Counter::Errors, 1);
                    continue;
                }
            };
            // What the simulator knows besides the entries (its consultants, its agents-only
            // texts) tells a leak too; and the tagged texts owed to this customer have arrived.
            let found = ctx.correlator.cross(|x| {
                x.customer_received(&entries);
                checker.observe_with(ctx.now_ms(), &chat.id, &entries, |e| {
                    x.hidden_from_customer(n, e)
                })
            });
            rec.violations(found);
            rec.violations(ctx.correlator.cross_poll(ctx.now_ms()));
            let mut someone_left = false;
            for e in &entries {
                match (e.kind, e.from.kind) {
                    (EntryType::ParticipantJoined, ParticipantType::Agent) => {
                        agents += 1;
                        if !joined {
                            joined = true;
                            waiting = None;
                            rec.customer_latency(
                                CustomerMetric::Wait,
                                intended,
                                requested_at,
                                now,
                                measured,
                            );
                            next_send = Some(now + spec.messages.think.sample(&mut rng));
                        }
                    }
                    (EntryType::ParticipantLeft, ParticipantType::Agent) => {
                        agents = agents.saturating_sub(1);
                        someone_left = true;
                    }
                    (EntryType::Text, ParticipantType::Agent) => {
                        if let Some(s) = e
                            .text
                            .as_deref()
                            .and_then(message_key)
                            .and_then(|k| ctx.correlator.finish(&k))
                        {
                            rec.customer_latency(
                                CustomerMetric::ToCustomer,
                                s.intended,
                                s.sent,
                                now,
                                s.measured,
                            );
                        }
                    }
                    _ => {}
                }
            }
            if let Some((rule, from)) = consult_abandon
                && ctx.load_start().is_some_and(|s| now >= s + from)
                && let Some((ixn, joined)) =
                    ctx.correlator.cross(|x| x.consult_of(n).map(|(i, j)| (i.to_owned(), j)))
            {
                let stage = if joined { "joined" } else { "invited" };
                let detail =
                    format!("{nickname} left in the middle of a consult (consultant {stage})");
                ctx.chaos.customer_abandon(rule, ctx.since_epoch(), &chat.id, &ixn, detail);
                abandoned = true;
                break;
            }
            if someone_left && agents == 0 && chat.idle().await {
                rec.count(Counter::ChatsCompleted, 1);
                break;
            }
            if !joined && abandon_at.is_some_and(|t| now >= t) {
                rec.abandoned(measured);
                abandoned = true;
                break;
            }
        }
        if joined && agents > 0 && sent < to_send && next_send.is_some_and(|t| now >= t) {
            // Open: from the plan's time, so a message held back behind a stalled request
            // carries the stall (coordinated omission); closed: from the moment it goes, as
            // before (not from this loop's wake-up: the poll request made since is not the
            // message's latency).
            let sent_at = Instant::now();
            let intended_send = match (pace, next_send) {
                (Pace::Open, Some(t)) => t,
                _ => sent_at,
            };
            let text = tag_text(&spec.messages.text, ctx.next_tag());
            let started = Started { intended: intended_send, sent: sent_at, measured };
            let key = message_key(&text);
            if let Some(key) = &key {
                ctx.correlator.start(key.clone(), started);
            }
            let tag = crate::ordering::cross::tag_of(&text).map(str::to_owned);
            if let Some(tag) = &tag {
                ctx.correlator.cross(|x| x.customer_sending(ctx.now_ms(), n, tag));
            }
            let result = chat.send(&text).await;
            let done = Instant::now();
            if let Some(tag) = &tag {
                ctx.correlator.cross(|x| x.message_sent(ctx.now_ms(), tag, result.is_ok()));
            }
            match result {
                Ok(()) => rec.customer_latency(
                    CustomerMetric::Send,
                    intended_send,
                    sent_at,
                    done,
                    measured,
                ),
                // The agent left between our last poll and this message: the chat is over for
                // the customer (statusCode 2), which is how chats end, not a failure.
                Err(GwsError::Status { status_code: 2, .. }) => {
                    if let Some(key) = &key {
                        ctx.correlator.finish(key);
                    }
                    rec.count(Counter::ChatsCompleted, 1);
                    break;
                }
                Err(_) => rec.count(Counter::Errors, 1),
            }
            sent += 1;
            next_send =
                Some(pace.next_send(intended_send, done, spec.messages.think.sample(&mut rng)));
        }
    }
    drop((waiting, active));
    ctx.correlator.cross(|x| x.customer_stopping(ctx.now_ms(), n));
    // Leave politely, whatever happened; the chat may already be over.
    let left = tokio::time::timeout(Duration::from_secs(5), chat.complete()).await;
    // An abandon answered: an agent invited meanwhile is owed its Revoked.
    if abandoned && matches!(left, Ok(Ok(()))) {
        ctx.correlator.cross(|x| x.customer_left(ctx.now_ms(), n));
    }
    // Every invitation of its chat was made by now (its leave withdrew the rest).
    if let Some(v) = ctx.correlator.cross(|x| x.customer_ended(ctx.now_ms(), n)) {
        rec.violations(vec![v]);
    }
    checker.forget(&chat.id);
}
