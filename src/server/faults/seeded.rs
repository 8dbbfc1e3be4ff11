//! [`SeededFaults`]: carries out a fault plan at the server's hooks and writes every injection
//! to the ledger (in memory, and optionally as JSON lines to a file).
//!
//! Every decision is `decide::roll` of a stable identity of the event (see `crate::faults::decide`):
//! - a notification: (interaction id, recipient's username, the notification's ordinal among
//!   those the recipient is owed about that interaction since its last terminal state);
//! - a request: (agent username or customer chat id, operation, the per-agent or per-customer
//!   request counter);
//! - a connect: (username, the user's connect counter);
//! - a leaked entry: (interaction id, entry index).
//!
//! The per-recipient ordinals, log indices sent and counters are this injector's only state
//! besides the delays on their timers (whose records wait for them). Notification ordinals are
//! counted for every batch, faulted or not, under the server's state lock, so they follow the
//! state machine's order for each interaction.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, SystemTime};

use crate::faults::{
    Action, FaultKind, FaultPlan, FaultRule, Identity, Ledger, LedgerSnapshot, NewRecord,
    OpSelector, roll,
};
use crate::gws::{Media, Notification};
use crate::server::state::{Delivery, Directory, Topic};

use super::overtake::{Overtaken, is_terminal};
use super::{
    BatchInfo, Cause, ConnectFault, ConnectInfo, ConnectTransport, Delayed, FaultInjector, Hooks,
    LeakInfo, PendingRecord, RequestFault, RequestInfo, RequestOutcome,
};

/// Request counters kept for this many agents and customers at most; past it they start over
/// (a customer population far beyond one run's), which only changes which of their requests a
/// rule picks.
const MAX_COUNTERS: usize = 100_000;

/// The ledger file could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the fault ledger file {path}: {source}")]
pub struct LedgerFileError {
    path: String,
    source: std::io::Error,
}

/// What the injector remembers of one (interaction, recipient).
#[derive(Debug, Default)]
struct Track {
    /// Notifications owed so far (the next one's ordinal).
    count: u32,
    /// The highest message-log index the recipient was actually sent so far: counted after the
    /// rules, so a regressed index counts as what it carried and a dropped or delayed
    /// notification not at all. The next regression repeats it, and an index the recipient
    /// never saw would not break the order it knows (a regression must stay observable).
    last_index: Option<u64>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here is a map update that leaves the data sound.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The seeded injector.
#[derive(Debug)]
pub struct SeededFaults {
    plan: FaultPlan,
    ledger: Ledger,
    /// JSON lines of every record, written as they happen. A `LineWriter` flushes each line, so
    /// a crash loses nothing already injected; faults are rare enough events for this to be cheap.
    file: Option<Mutex<std::io::LineWriter<std::fs::File>>>,
    /// The server's start; read through tokio so paused-time tests move it.
    start: tokio::time::Instant,
    usernames: OnceLock<Vec<String>>,
    tracks: Mutex<HashMap<(Arc<str>, u32), Track>>,
    /// Delays on their timers, by token, until [`FaultInjector::delay_done`] records them.
    pending: Mutex<HashMap<u64, PendingRecord>>,
    next_token: AtomicU64,
    requests: Mutex<HashMap<String, u64>>,
    connects: Mutex<HashMap<u32, u64>>,
    /// Per rule: 1 + the last stall window recorded in the ledger (0: none yet).
    stall_windows: Vec<AtomicU64>,
    has_notification_rules: bool,
    has_request_rules: bool,
    has_connect_rules: bool,
    hooks: Hooks,
}

impl SeededFaults {
    /// An injector for `plan`; its clock starts now. With `ledger_file`, every record is also
    /// appended to that file as one JSON line.
    pub fn new(
        plan: FaultPlan,
        ledger_file: Option<&Path>,
    ) -> Result<SeededFaults, LedgerFileError> {
        let file = match ledger_file {
            None => None,
            Some(path) => {
                let f = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(
                    |source| LedgerFileError { path: path.display().to_string(), source },
                )?;
                Some(Mutex::new(std::io::LineWriter::new(f)))
            }
        };
        let kinds = |f: fn(FaultKind) -> bool| plan.rules.iter().any(|r| f(r.kind()));
        let hooks = Hooks {
            leaks: kinds(|k| k == FaultKind::Leak),
            stalls: kinds(|k| k == FaultKind::Stall),
            delays: kinds(|k| k == FaultKind::Delay),
        };
        Ok(SeededFaults {
            ledger: Ledger::new(plan.ledger_cap, SystemTime::now()),
            file,
            start: tokio::time::Instant::now(),
            usernames: OnceLock::new(),
            tracks: Mutex::default(),
            pending: Mutex::default(),
            next_token: AtomicU64::new(0),
            requests: Mutex::default(),
            connects: Mutex::default(),
            stall_windows: plan.rules.iter().map(|_| AtomicU64::new(0)).collect(),
            has_notification_rules: kinds(FaultKind::is_notification),
            has_request_rules: kinds(|k| k.is_request() || k == FaultKind::Stall),
            has_connect_rules: kinds(FaultKind::is_connect),
            hooks,
            plan,
        })
    }

    /// The ledger as it is now.
    pub fn ledger(&self) -> LedgerSnapshot {
        self.ledger.snapshot()
    }

    fn elapsed(&self) -> Duration {
        tokio::time::Instant::now().saturating_duration_since(self.start)
    }

    fn username(&self, user: u32) -> Option<&str> {
        self.usernames.get()?.get(user as usize).map(String::as_str)
    }

    fn id(&self, rule: usize) -> Identity {
        Identity::new(self.plan.seed, rule)
    }

    /// The active rules of the kinds `which` selects, with their index.
    fn active(
        &self,
        elapsed: Duration,
        which: fn(FaultKind) -> bool,
    ) -> impl Iterator<Item = (usize, &FaultRule)> {
        self.plan
            .rules
            .iter()
            .enumerate()
            .filter(move |(_, r)| which(r.kind()) && r.active(elapsed))
    }

    fn record(&self, rule: usize, kind: FaultKind, at: Duration, new: NewRecord) {
        let record = self.ledger.push(kind, rule, at, new);
        tracing::debug!(seq = record.seq, kind = %kind, rule, agent = ?record.agent, interaction = ?record.interaction, detail = %record.detail, "fault injected");
        if let Some(file) = &self.file {
            match serde_json::to_string(&record) {
                Ok(line) => {
                    if let Err(e) = writeln!(lock(file), "{line}") {
                        tracing::warn!(error = %e, "cannot write the fault ledger file");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot serialize a ledger record"),
            }
        }
    }

    /// A delay's record held back until it is carried out, kept meanwhile for
    /// [`FaultInjector::ledger_with_pending`].
    fn pend(&self, rule: usize, at: Duration, record: NewRecord) -> PendingRecord {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let pending = PendingRecord { token, rule, at, record };
        lock(&self.pending).insert(token, pending.clone());
        pending
    }

    /// The next request counter of `who`.
    fn request_counter(&self, who: &str) -> u64 {
        let mut counts = lock(&self.requests);
        if counts.len() >= MAX_COUNTERS && !counts.contains_key(who) {
            counts.clear();
        }
        let n = counts.entry(who.to_owned()).or_default();
        *n += 1;
        *n
    }
}

/// How the ledger names a cause: the operation when it is an interaction operation, otherwise
/// a `cause` string.
fn cause_fields(cause: &Cause<'_>) -> (Option<String>, Option<String>) {
    match cause {
        Cause::Operation { name, .. } => (Some(name.as_str().to_owned()), None),
        Cause::Customer(op) => (None, Some(format!("customer:{op}"))),
        Cause::Session(op) => (None, Some(format!("session:{op}"))),
        Cause::Routing => (None, Some("routing".to_owned())),
    }
}

fn cause_selector(cause: &Cause<'_>) -> OpSelector {
    match cause {
        Cause::Operation { name, .. } => OpSelector::Operation(*name),
        Cause::Customer(_) => OpSelector::Customer,
        Cause::Session(_) => OpSelector::Session,
        Cause::Routing => OpSelector::Routing,
    }
}

/// A short name of a notification for the ledger: `StatusChange(Completed)`,
/// `MessageLogUpdated[Text#4]`.
pub(super) fn summary(n: &Notification) -> String {
    match n {
        Notification::ChatStateChangeMessage(sc)
        | Notification::FacebooksessionStateChangeMessage(sc) => format!(
            "{:?}({})",
            sc.notification_type,
            sc.resource().map_or("", |r| r.state.as_str())
        ),
        Notification::MessageLogUpdated(ml) => {
            let entries: Vec<String> =
                ml.messages.iter().map(|e| format!("{:?}#{}", e.kind, e.index)).collect();
            format!("MessageLogUpdated[{}]", entries.join(","))
        }
        Notification::ChannelStateChangeMessageV2(_) => "ChannelStateChangeMessageV2".to_owned(),
        Notification::Unknown => "Unknown".to_owned(),
    }
}

/// Which of a batch's notifications a rule may touch: all of them when its `operations` select
/// the batch's cause, only the routed invitations when they select `routing` alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    All,
    Routed,
}

/// The highest log index a notification carries.
fn max_index(n: &Notification) -> Option<u64> {
    match n {
        Notification::MessageLogUpdated(ml) => ml.messages.iter().map(|e| e.index).max(),
        _ => None,
    }
}

fn first_index(n: &Notification) -> Option<u64> {
    match n {
        Notification::MessageLogUpdated(ml) => ml.messages.first().map(|e| e.index),
        _ => None,
    }
}

/// One delivery of a batch with what the rules need to know about it.
struct Item {
    delivery: Delivery,
    /// The interaction, for interaction notifications (channel state is never faulted).
    ixn: Option<Arc<str>>,
    media: Option<Media>,
    ordinal: u32,
    /// The highest log index the recipient was sent before this batch.
    prev_index: Option<u64>,
    terminal: bool,
    /// A copy the injector added (a duplicate, a late copy): no rule touches it again.
    injected: bool,
    /// A `StatusChange(Invited)` that routing made (not the target's invitation of the
    /// operation that caused the batch): a `routing` rule selects it whatever the batch's cause.
    routed: bool,
}

impl Item {
    fn user(&self) -> u32 {
        self.delivery.user.get()
    }
    fn same_group(&self, other: &Item) -> bool {
        self.user() == other.user() && self.ixn == other.ixn
    }
}

impl SeededFaults {
    /// Numbers the batch's interaction notifications per recipient (always, so ordinals do not
    /// depend on which rules are active) and notes indices and terminal states.
    fn items(&self, cause: &Cause<'_>, out: &mut Vec<Delivery>) -> Vec<Item> {
        let mut tracks = lock(&self.tracks);
        let mut items = Vec::with_capacity(out.len());
        for delivery in out.drain(..) {
            let media = match delivery.topic {
                Topic::Interaction(m) => Some(m),
                Topic::Channels => None,
            };
            let ixn: Option<Arc<str>> =
                media.and(delivery.notification.interaction_id()).map(Arc::from);
            // An operation's own target (a consult, a conference, a transfer to an agent) is
            // invited on the operation's interaction; any other invitation is routing's offer
            // (a RequestChat answered at once, a Complete freeing an agent, a timeout).
            let own = matches!(cause, Cause::Operation { interaction, .. }
                if ixn.as_deref() == Some(*interaction));
            let routed = !own && delivery.notification.is_invitation();
            let mut item = Item {
                routed,
                ixn: ixn.clone(),
                media,
                ordinal: 0,
                prev_index: None,
                terminal: is_terminal(&delivery.notification),
                injected: false,
                delivery,
            };
            if let Some(ixn) = ixn {
                let key = (ixn, item.user());
                let track = tracks.entry(key.clone()).or_default();
                item.ordinal = track.count;
                track.count += 1;
                item.prev_index = track.last_index;
                if item.terminal {
                    // The part is over: a later invitation to the same interaction starts over.
                    tracks.remove(&key);
                }
            }
            items.push(item);
        }
        items
    }

    fn eligible(&self, rule: &FaultRule, item: &Item, scope: Scope) -> bool {
        !item.injected
            && (scope == Scope::All || item.routed)
            && item.ixn.is_some()
            && rule.select.agent(self.username(item.user()))
            && rule.select.media(item.media)
    }

    fn item_id(&self, r: usize, item: &Item) -> Identity {
        self.id(r)
            .str(item.ixn.as_deref().unwrap_or(""))
            .str(self.username(item.user()).unwrap_or(""))
            .num(u64::from(item.ordinal))
    }

    fn notification_record(&self, batch: &BatchInfo<'_>, item: &Item, detail: String) -> NewRecord {
        let (operation, cause) = cause_fields(&batch.cause);
        NewRecord {
            agent: self.username(item.user()).map(str::to_owned),
            interaction: item.ixn.as_deref().map(str::to_owned),
            chat: item.ixn.as_deref().and_then(batch.chat_of),
            operation,
            cause,
            notification: Some(summary(&item.delivery.notification)),
            ordinal: Some(item.ordinal),
            index: first_index(&item.delivery.notification),
            detail,
            ..NewRecord::default()
        }
    }

    /// Applies one rule to the batch.
    fn apply(
        &self,
        (r, rule): (usize, &FaultRule),
        batch: &BatchInfo<'_>,
        scope: Scope,
        at: Duration,
        items: &mut Vec<Item>,
        later: &mut Vec<Delayed>,
    ) {
        let kind = rule.kind();
        match &rule.action {
            Action::Drop | Action::Delay(_) => {
                let mut i = 0;
                while i < items.len() {
                    let id = self.item_id(r, &items[i]);
                    if !self.eligible(rule, &items[i], scope) || !roll(id, rule.rate) {
                        i += 1;
                        continue;
                    }
                    let item = items.remove(i);
                    match &rule.action {
                        Action::Delay(dist) => {
                            let after = dist.sample(&mut id.rng());
                            let detail = format!("delayed by {}ms", after.as_millis());
                            let record = self.notification_record(batch, &item, detail);
                            let kept_before =
                                items[..i].iter().filter(|o| o.same_group(&item)).count() as u32;
                            let nth = later
                                .iter()
                                .filter(|d| {
                                    d.kept_before == kept_before
                                        && d.delivery.user == item.delivery.user
                                        && d.delivery.notification.interaction_id()
                                            == item.ixn.as_deref()
                                })
                                .count() as u32;
                            later.push(Delayed {
                                after,
                                delivery: item.delivery,
                                record: Some(self.pend(r, at, record)),
                                kept_before,
                                nth,
                            });
                        }
                        _ => {
                            let record = self.notification_record(batch, &item, "dropped".into());
                            self.record(r, kind, at, record);
                        }
                    }
                }
            }
            Action::Duplicate => {
                let mut i = 0;
                while i < items.len() {
                    if self.eligible(rule, &items[i], scope)
                        && roll(self.item_id(r, &items[i]), rule.rate)
                    {
                        let item = &items[i];
                        self.record(
                            r,
                            kind,
                            at,
                            self.notification_record(batch, item, "sent twice".into()),
                        );
                        let copy = Item {
                            delivery: item.delivery.clone(),
                            ixn: item.ixn.clone(),
                            injected: true,
                            ..*item
                        };
                        items.insert(i + 1, copy);
                        i += 1;
                    }
                    i += 1;
                }
            }
            Action::IndexRegression => {
                // What each (interaction, recipient) has been sent up to the item at hand:
                // before this batch, then each earlier item of the batch as it will go out (a
                // regressed one with the index it carries, not its true one).
                let mut sent: HashMap<(Arc<str>, u32), Option<u64>> = HashMap::new();
                for item in items.iter_mut() {
                    let Some(ixn) = item.ixn.clone() else { continue };
                    let key = (ixn, item.user());
                    let before = *sent.entry(key.clone()).or_insert(item.prev_index);
                    let regress = before.is_some()
                        && self.eligible(rule, item, scope)
                        && roll(self.item_id(r, item), rule.rate);
                    let Notification::MessageLogUpdated(ml) = &mut item.delivery.notification
                    else {
                        continue;
                    };
                    let true_index = ml.messages.first().map(|e| e.index);
                    if let (true, Some(prev), Some(true_index)) = (regress, before, true_index) {
                        if let Some(entry) = ml.messages.first_mut() {
                            entry.index = prev;
                        }
                        let mut rec = self.notification_record(
                            batch,
                            item,
                            format!("index {true_index} sent as {prev}, the index sent before it"),
                        );
                        rec.index = Some(true_index);
                        self.record(r, kind, at, rec);
                    }
                    let max = max_index(&item.delivery.notification);
                    sent.insert(key, before.max(max));
                }
            }
            Action::Swap => {
                let mut a = 0;
                while a < items.len() {
                    if !self.eligible(rule, &items[a], scope) {
                        a += 1;
                        continue;
                    }
                    // The next notification of the same recipient and interaction.
                    let b = (a + 1..items.len())
                        .find(|&b| items[b].same_group(&items[a]) && !items[b].injected);
                    let Some(b) = b else {
                        a += 1;
                        continue;
                    };
                    if !roll(self.item_id(r, &items[a]), rule.rate) {
                        a += 1;
                        continue;
                    }
                    let detail = format!(
                        "swapped with the next one, {} (ordinal {})",
                        summary(&items[b].delivery.notification),
                        items[b].ordinal
                    );
                    self.record(r, kind, at, self.notification_record(batch, &items[a], detail));
                    items.swap(a, b);
                    // Both are settled: neither is swapped again by this rule.
                    items[a].injected = true;
                    items[b].injected = true;
                    a += 1;
                }
            }
            Action::Late => {
                let terminals: Vec<usize> =
                    (0..items.len()).filter(|&t| items[t].terminal).collect();
                for t in terminals.into_iter().rev() {
                    if !self.eligible(rule, &items[t], scope)
                        || !roll(self.item_id(r, &items[t]), rule.rate)
                    {
                        continue;
                    }
                    // Re-send the notification owed just before the terminal one, or (when the
                    // terminal one came alone) the terminal one itself.
                    let source = (0..t)
                        .rev()
                        .find(|&p| items[p].same_group(&items[t]) && !items[p].injected)
                        .unwrap_or(t);
                    let last = (t..items.len())
                        .rev()
                        .find(|&p| items[p].same_group(&items[t]))
                        .unwrap_or(t);
                    let src = &items[source];
                    let detail = format!(
                        "re-sent after the terminal {}",
                        summary(&items[t].delivery.notification)
                    );
                    self.record(r, kind, at, self.notification_record(batch, src, detail));
                    let copy = Item {
                        delivery: src.delivery.clone(),
                        ixn: src.ixn.clone(),
                        injected: true,
                        terminal: false,
                        ..*src
                    };
                    items.insert(last + 1, copy);
                }
            }
            _ => {}
        }
    }

    /// Folds the log indices the batch sends, as the rules left them, into each recipient's
    /// track (an interaction whose part ended in this batch has no track left to fold into).
    fn note_sent(&self, items: &[Item]) {
        let mut tracks = lock(&self.tracks);
        for item in items {
            let (Some(ixn), Some(max)) = (&item.ixn, max_index(&item.delivery.notification)) else {
                continue;
            };
            if let Some(track) = tracks.get_mut(&(ixn.clone(), item.user())) {
                track.last_index = Some(track.last_index.map_or(max, |l| l.max(max)));
            }
        }
    }

    fn stall_remaining(&self) -> Option<Duration> {
        let elapsed = self.elapsed();
        let mut longest: Option<Duration> = None;
        for (r, rule) in self.active(elapsed, |k| k == FaultKind::Stall) {
            let Some((k, start, Some(end))) = rule.schedule.and_then(|s| s.window(elapsed)) else {
                continue;
            };
            if self.stall_windows[r].fetch_max(k + 1, Ordering::Relaxed) < k + 1 {
                let length = end.saturating_sub(start);
                self.record(
                    r,
                    FaultKind::Stall,
                    start,
                    NewRecord {
                        detail: format!(
                            "requests, long-poll answers and websocket frames held for {}ms (window {k})",
                            length.as_millis()
                        ),
                        ..NewRecord::default()
                    },
                );
            }
            let remaining = end.saturating_sub(elapsed);
            longest = Some(longest.map_or(remaining, |l| l.max(remaining)));
        }
        longest
    }
}

impl FaultInjector for SeededFaults {
    fn hooks(&self) -> Hooks {
        self.hooks
    }

    fn attach(&self, directory: &Directory) {
        let names = directory.users().iter().map(|u| u.username.clone()).collect();
        // A second attach (one injector shared by two servers) keeps the first directory.
        let _ = self.usernames.set(names);
    }

    fn on_batch(&self, batch: &BatchInfo<'_>, out: &mut Vec<Delivery>, later: &mut Vec<Delayed>) {
        if !self.has_notification_rules {
            return;
        }
        let mut items = self.items(&batch.cause, out);
        let at = self.elapsed();
        let op = Some(cause_selector(&batch.cause));
        let routed = items.iter().any(|i| i.routed);
        for (r, rule) in self.active(at, FaultKind::is_notification) {
            if rule.select.operation(op) {
                self.apply((r, rule), batch, Scope::All, at, &mut items, later);
            } else if routed && rule.select.operation(Some(OpSelector::Routing)) {
                self.apply((r, rule), batch, Scope::Routed, at, &mut items, later);
            }
        }
        self.note_sent(&items);
        out.extend(items.into_iter().map(|i| i.delivery));
    }

    fn on_request(&self, req: &RequestInfo<'_>) -> RequestFault {
        if !self.has_request_rules {
            return RequestFault::PROCEED;
        }
        let mut fault = RequestFault::PROCEED;
        if self.hooks.stalls
            && let Some(rest) = self.stall_remaining()
        {
            fault.delay = rest;
        }
        let username = req.user.and_then(|u| self.username(u.get()));
        // A request without an agent is a customer's; one that names no chat yet (RequestChat,
        // a new Facebook session) counts among all such requests.
        let customer = req.user.is_none();
        let who = match (username, req.customer) {
            (Some(u), _) => u.to_owned(),
            (None, Some(c)) if customer => format!("customer:{c}"),
            (None, _) if customer => "customer:new".to_owned(),
            (None, _) => return fault,
        };
        let count = self.request_counter(&who);
        let op_name = req.operation.unwrap_or("");
        let selector = if customer {
            Some(OpSelector::Customer)
        } else if req.path.starts_with("/api/v2/me/chats")
            || req.path.starts_with("/api/v2/me/facebooksession")
        {
            crate::gws::states::Capability::parse(op_name).map(OpSelector::Operation)
        } else {
            Some(OpSelector::Session)
        };
        let at = self.elapsed();
        for (r, rule) in self.active(at, FaultKind::is_request) {
            if rule.kind() == FaultKind::SlowCustomer && !customer {
                continue;
            }
            if !rule.select.operation(selector)
                || !rule.select.agent(username)
                || !rule.select.media(req.media)
            {
                continue;
            }
            let id = self.id(r).str(&who).str(op_name).num(count);
            if !roll(id, rule.rate) {
                continue;
            }
            let (operation, cause) = match selector {
                Some(OpSelector::Operation(c)) => (Some(c.as_str().to_owned()), None),
                Some(OpSelector::Customer) => (None, Some(format!("customer:{op_name}"))),
                _ => (None, Some(format!("session:{op_name}"))),
            };
            let mut rec = NewRecord {
                agent: username.map(str::to_owned),
                interaction: req.interaction.map(str::to_owned),
                operation,
                cause,
                ..NewRecord::default()
            };
            let stop = match &rule.action {
                Action::Latency(dist) | Action::SlowCustomer(dist) => {
                    let extra = dist.sample(&mut id.rng());
                    fault.delay += extra;
                    rec.detail = format!(
                        "{} {} answered {}us late",
                        req.method,
                        req.path,
                        extra.as_micros()
                    );
                    false
                }
                Action::Error { status_code, http_status } => {
                    fault.then = RequestOutcome::Fail {
                        status_code: *status_code,
                        http_status: *http_status,
                    };
                    rec.detail = match http_status {
                        Some(h) => format!(
                            "{} {} failed with statusCode {status_code}, HTTP {h}",
                            req.method, req.path
                        ),
                        None => format!(
                            "{} {} failed with statusCode {status_code}",
                            req.method, req.path
                        ),
                    };
                    true
                }
                Action::RequestStall { hold } => {
                    match hold {
                        Some(d) => {
                            fault.delay += *d;
                            rec.detail =
                                format!("{} {} held {}ms", req.method, req.path, d.as_millis());
                        }
                        None => {
                            fault.then = RequestOutcome::Stall;
                            rec.detail = format!(
                                "{} {} held until the client gave up",
                                req.method, req.path
                            );
                        }
                    }
                    hold.is_none()
                }
                _ => false,
            };
            self.record(r, rule.kind(), at, rec);
            if stop {
                break;
            }
        }
        fault
    }

    fn on_connect(&self, connect: &ConnectInfo<'_>) -> ConnectFault {
        if !self.has_connect_rules {
            return ConnectFault::Proceed;
        }
        let count = {
            let mut counts = lock(&self.connects);
            let n = counts.entry(connect.user).or_default();
            *n += 1;
            *n
        };
        let username = self.username(connect.user);
        let at = self.elapsed();
        for (r, rule) in self.active(at, FaultKind::is_connect) {
            let (fault, detail) = match (rule.kind(), connect.transport) {
                (FaultKind::Expire, _) => (
                    ConnectFault::ExpireSession,
                    "session forgotten; the connect was answered 402::Unknown client",
                ),
                (FaultKind::WsClose, ConnectTransport::Websocket) => {
                    (ConnectFault::Disconnect, "websocket closed by the server")
                }
                (FaultKind::ConnectStarvation, ConnectTransport::LongPolling) => {
                    (ConnectFault::Starve, "long-poll connect held unanswered")
                }
                _ => continue,
            };
            if !rule.select.agent(username) {
                continue;
            }
            if !roll(self.id(r).str(username.unwrap_or("")).num(count), rule.rate) {
                continue;
            }
            let rec = NewRecord {
                agent: username.map(str::to_owned),
                detail: format!("{detail} (clientId {}, connect {count})", connect.client_id),
                ..NewRecord::default()
            };
            self.record(r, rule.kind(), at, rec);
            return fault;
        }
        ConnectFault::Proceed
    }

    fn delay_done(&self, pending: PendingRecord, overtaken: Option<Overtaken>) {
        lock(&self.pending).remove(&pending.token);
        let PendingRecord { rule, at, mut record, .. } = pending;
        record.overtaken = overtaken.map(|o| o == Overtaken::Promised);
        match overtaken {
            Some(Overtaken::No) => record.detail.push_str(", nothing overtook it (not observable)"),
            Some(Overtaken::Unpromised) => record.detail.push_str(
                ", overtaken only by notifications the protocol does not order against it \
                 (not observable)",
            ),
            Some(Overtaken::Undelivered) => record.detail.push_str(
                ", taken by no session: its agent had none subscribed any more (not observable)",
            ),
            None => record.detail.push_str(", never published (the server stopped)"),
            Some(Overtaken::Promised) => {}
        }
        self.record(rule, FaultKind::Delay, at, record);
    }

    fn leak(&self, leak: &LeakInfo<'_>) -> bool {
        let at = self.elapsed();
        for (r, rule) in self.active(at, |k| k == FaultKind::Leak) {
            if !rule.select.agent(leak.author) || !rule.select.media(Some(leak.media)) {
                continue;
            }
            let id = self.id(r).str(leak.interaction).num(leak.entry.index);
            if !roll(id, rule.rate) {
                continue;
            }
            let rec = NewRecord {
                agent: leak.author.map(str::to_owned),
                interaction: Some(leak.interaction.to_owned()),
                chat: Some(leak.chat.to_owned()),
                notification: Some(format!("{:?}#{}", leak.entry.kind, leak.entry.index)),
                index: Some(leak.entry.index),
                detail: format!(
                    "Agents-only {:?} entry {} shown to the customer",
                    leak.entry.kind, leak.entry.index
                ),
                ..NewRecord::default()
            };
            self.record(r, FaultKind::Leak, at, rec);
            return true;
        }
        false
    }

    fn stall(&self) -> Option<Duration> {
        if self.hooks.stalls { self.stall_remaining() } else { None }
    }

    fn ledger_after(&self, after: u64) -> Option<LedgerSnapshot> {
        Some(self.ledger.snapshot_after(after))
    }

    fn ledger_with_pending(&self) -> Option<LedgerSnapshot> {
        let mut snapshot = self.ledger.snapshot();
        let mut pending: Vec<PendingRecord> = lock(&self.pending).values().cloned().collect();
        pending.sort_by_key(|p| p.token);
        for p in pending {
            let mut record = p.record;
            record.detail.push_str(", still on its timer when the ledger was read");
            snapshot.total += 1;
            snapshot.records.push(self.ledger.unstored(0, FaultKind::Delay, p.rule, p.at, record));
        }
        Some(snapshot)
    }
}
