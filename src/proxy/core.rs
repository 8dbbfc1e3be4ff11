//! The fault proxy's decisions, pure: for one direction of one connection, what to do with each
//! chunk of bytes read (forward it later, hold it, limit the pace, reset the connection), and the
//! ledger records that say so. No IO, no clock: time comes in as the proxy's elapsed time.
//!
//! Every decision is [`crate::faults::roll`] of (seed, rule, connection id, direction, and the
//! chunk's number or the schedule window), as the server's are: the same plan and seed fault the
//! same connections and chunks. Chunk boundaries are whatever the socket read returned, so a
//! per-chunk rate is per read, not per byte or per HTTP message.

use std::time::Duration;

use crate::faults::{
    Action, Direction, FaultKind, FaultPlan, FaultRule, Identity, NewRecord, roll,
};

/// A fault decided for a chunk, to be written to the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct Injected {
    pub kind: FaultKind,
    pub rule: usize,
    pub record: NewRecord,
}

/// What to do with one chunk.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChunkPlan {
    /// Forward it this much after it was read (latencies add up); the order of chunks is kept.
    pub delay: Duration,
    /// Forward it no earlier than this elapsed time (a stall).
    pub hold_until: Option<Duration>,
    /// Forward nothing more: close both sides abruptly, this chunk included.
    pub reset: bool,
    /// Pace this direction at no more than this many bytes per second from now on.
    pub bandwidth: Option<u64>,
    /// The faults decided, one ledger record each.
    pub injected: Vec<Injected>,
}

/// The decisions of one direction of one connection.
#[derive(Debug, Clone)]
pub struct Flow {
    seed: u64,
    connection: u64,
    direction: Direction,
    /// The plan's rules for this direction, with their index in the plan.
    rules: Vec<(usize, FaultRule)>,
    /// Chunks seen so far (the next one's number).
    chunks: u64,
    /// Bytes forwarded so far (for the ledger's words).
    bytes: u64,
    /// Per rule (same order as `rules`): the last schedule window already decided, and whether
    /// it stalls this flow; a stall is decided and ledgered once per window.
    windows: Vec<Option<(u64, Option<Duration>)>>,
    /// Per rule: whether a bandwidth rule was decided for this flow (it is rolled once per
    /// connection and direction) and its answer.
    limited: Vec<Option<bool>>,
}

impl Flow {
    pub fn new(plan: &FaultPlan, connection: u64, direction: Direction) -> Flow {
        let rules: Vec<(usize, FaultRule)> = plan
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.kind().is_proxy() && r.select.direction(direction))
            .map(|(i, r)| (i, r.clone()))
            .collect();
        let n = rules.len();
        Flow {
            seed: plan.seed,
            connection,
            direction,
            rules,
            chunks: 0,
            bytes: 0,
            windows: vec![None; n],
            limited: vec![None; n],
        }
    }

    /// Whether any rule applies to this direction (without one, bytes go straight through).
    pub fn is_idle(&self) -> bool {
        self.rules.is_empty()
    }

    fn id(&self, rule: usize, what: &str) -> Identity {
        Identity::new(self.seed, rule).str(what).num(self.connection).str(self.direction.as_str())
    }

    fn record(&self, detail: String) -> NewRecord {
        NewRecord {
            connection: Some(self.connection),
            direction: Some(self.direction.as_str().to_owned()),
            detail,
            ..NewRecord::default()
        }
    }

    /// The decisions for the next chunk, `len` bytes read `elapsed` after the proxy started.
    pub fn on_chunk(&mut self, elapsed: Duration, len: usize) -> ChunkPlan {
        let n = self.chunks;
        self.chunks += 1;
        let mut out = ChunkPlan::default();
        for i in 0..self.rules.len() {
            let (index, rule) = (self.rules[i].0, &self.rules[i].1);
            let window = match rule.schedule {
                Some(s) => match s.window(elapsed) {
                    Some(w) => Some(w),
                    None => continue,
                },
                None => None,
            };
            let mut add = |kind, detail: String, flow: &Flow| {
                out.injected.push(Injected { kind, rule: index, record: flow.record(detail) });
            };
            match &rule.action {
                Action::ProxyLatency(dist) => {
                    let id = self.id(index, "latency").num(n);
                    if roll(id, rule.rate) {
                        let d = dist.sample(&mut id.rng());
                        out.delay += d;
                        add(
                            FaultKind::ProxyLatency,
                            format!("{len} bytes delayed by {}ms", d.as_millis()),
                            self,
                        );
                    }
                }
                Action::ProxyReset if roll(self.id(index, "reset").num(n), rule.rate) => {
                    out.reset = true;
                    add(
                        FaultKind::ProxyReset,
                        format!("reset after {} bytes, dropping {len}", self.bytes),
                        self,
                    );
                }
                Action::ProxyStall { hold } => match window {
                    // Scheduled: the flow is stalled or not for the whole window, decided (and
                    // ledgered) at its first chunk in it.
                    Some((k, _start, end)) => {
                        let until = match self.windows[i] {
                            Some((seen, until)) if seen == k => until,
                            _ => {
                                let stalled = roll(self.id(index, "stall").num(k), rule.rate);
                                let until = stalled
                                    .then(|| match (hold, end) {
                                        (Some(h), Some(e)) => (elapsed + *h).min(e),
                                        (Some(h), None) => elapsed + *h,
                                        (None, e) => e.unwrap_or(elapsed),
                                    })
                                    .filter(|u| *u > elapsed);
                                if let Some(u) = until {
                                    add(
                                        FaultKind::ProxyStall,
                                        format!(
                                            "held from {}ms to {}ms (window {k})",
                                            elapsed.as_millis(),
                                            u.as_millis()
                                        ),
                                        self,
                                    );
                                }
                                self.windows[i] = Some((k, until));
                                until
                            }
                        };
                        if let Some(u) = until.filter(|u| *u > elapsed) {
                            out.hold_until = Some(out.hold_until.map_or(u, |h| h.max(u)));
                        }
                    }
                    // Unscheduled: each chunk rolls, and a stalled one holds the flow `hold`.
                    None => {
                        let h = hold.unwrap_or_default();
                        if !h.is_zero() && roll(self.id(index, "stall").num(n), rule.rate) {
                            let u = elapsed + h;
                            out.hold_until = Some(out.hold_until.map_or(u, |x| x.max(u)));
                            add(
                                FaultKind::ProxyStall,
                                format!("{len} bytes held for {}ms", h.as_millis()),
                                self,
                            );
                        }
                    }
                },
                Action::ProxyBandwidth { bytes_per_sec } => {
                    let on = match self.limited[i] {
                        Some(on) => on,
                        None => {
                            let on = roll(self.id(index, "bandwidth"), rule.rate);
                            if on {
                                add(
                                    FaultKind::ProxyBandwidth,
                                    format!("limited to {bytes_per_sec} bytes/s"),
                                    self,
                                );
                            }
                            self.limited[i] = Some(on);
                            on
                        }
                    };
                    if on {
                        let b = *bytes_per_sec;
                        out.bandwidth = Some(out.bandwidth.map_or(b, |x| x.min(b)));
                    }
                }
                // Not the proxy's: `Flow::new` keeps only proxy rules.
                _ => {}
            }
        }
        self.bytes += len as u64;
        out
    }
}

/// When the next chunk may be written under a bandwidth limit: `len` bytes at `bytes_per_sec`
/// take this long on the wire.
pub fn pace(len: usize, bytes_per_sec: u64) -> Duration {
    if bytes_per_sec == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(((len as u128 * 1_000_000_000) / u128::from(bytes_per_sec)) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::parse_proxy_plan;

    fn plan(text: &str) -> FaultPlan {
        match parse_proxy_plan("t.toml", text) {
            Ok(p) => p,
            Err(d) => panic!("{d}"),
        }
    }

    #[test]
    fn fixed_latency_on_downstream_only() {
        let p = plan(
            "[[rule]]\nkind = \"proxy-latency\"\nlatency = \"20ms\"\nrate = 1.0\ndirection = \"downstream\"\n",
        );
        let mut up = Flow::new(&p, 1, Direction::Upstream);
        assert!(up.is_idle());
        assert_eq!(up.on_chunk(Duration::ZERO, 10), ChunkPlan::default());
        let mut down = Flow::new(&p, 1, Direction::Downstream);
        let c = down.on_chunk(Duration::from_millis(5), 100);
        assert_eq!(c.delay, Duration::from_millis(20));
        assert_eq!(c.injected.len(), 1);
        let r = &c.injected[0];
        assert_eq!((r.kind, r.rule), (FaultKind::ProxyLatency, 0));
        assert_eq!(r.record.connection, Some(1));
        assert_eq!(r.record.direction.as_deref(), Some("downstream"));
        assert_eq!(r.record.detail, "100 bytes delayed by 20ms");
    }

    #[test]
    fn decisions_repeat_with_the_seed() {
        let p = plan("seed = 3\n[[rule]]\nkind = \"proxy-reset\"\nrate = 0.3\n");
        let resets = |conn| {
            let mut f = Flow::new(&p, conn, Direction::Upstream);
            (0..50).map(|_| f.on_chunk(Duration::ZERO, 1).reset).collect::<Vec<_>>()
        };
        assert_eq!(resets(4), resets(4));
        let fired = (1..40).flat_map(resets).filter(|r| *r).count();
        assert!((300..900).contains(&fired), "{fired} of 1950 at rate 0.3");
    }

    #[test]
    fn scheduled_stall_holds_to_the_window_end_and_is_ledgered_once_per_window() {
        let p = plan(
            "[[rule]]\nkind = \"proxy-stall\"\nfrom = \"1s\"\nfor = \"2s\"\nevery = \"10s\"\n",
        );
        let mut f = Flow::new(&p, 2, Direction::Downstream);
        let ms = Duration::from_millis;
        assert_eq!(f.on_chunk(ms(500), 1).hold_until, None);
        let a = f.on_chunk(ms(1_500), 1);
        assert_eq!(a.hold_until, Some(ms(3_000)));
        assert_eq!(a.injected.len(), 1);
        let b = f.on_chunk(ms(2_000), 1);
        assert_eq!(b.hold_until, Some(ms(3_000)));
        assert!(b.injected.is_empty(), "one record per window");
        assert_eq!(f.on_chunk(ms(3_500), 1).hold_until, None);
        let c = f.on_chunk(ms(11_000), 1);
        assert_eq!((c.hold_until, c.injected.len()), (Some(ms(13_000)), 1));
    }

    #[test]
    fn stall_with_hold_ends_early() {
        let p =
            plan("[[rule]]\nkind = \"proxy-stall\"\nhold = \"1s\"\nfrom = \"0s\"\nfor = \"5s\"\n");
        let mut f = Flow::new(&p, 1, Direction::Upstream);
        let ms = Duration::from_millis;
        assert_eq!(f.on_chunk(ms(100), 1).hold_until, Some(ms(1_100)));
        assert_eq!(f.on_chunk(ms(1_200), 1).hold_until, None, "held once per window");
    }

    #[test]
    fn bandwidth_is_decided_once_per_connection() {
        let p = plan("[[rule]]\nkind = \"proxy-bandwidth\"\nbytes_per_sec = 1000\nrate = 1\n");
        let mut f = Flow::new(&p, 1, Direction::Upstream);
        let a = f.on_chunk(Duration::ZERO, 10);
        assert_eq!((a.bandwidth, a.injected.len()), (Some(1000), 1));
        let b = f.on_chunk(Duration::ZERO, 10);
        assert_eq!((b.bandwidth, b.injected.len()), (Some(1000), 0));
        assert_eq!(pace(500, 1000), Duration::from_millis(500));
        assert_eq!(pace(500, 0), Duration::ZERO);
    }

    #[test]
    fn plans_keep_each_kind_in_its_home() {
        let server =
            crate::faults::parse_plan("f.toml", "[[rule]]\nkind = \"proxy-reset\"\nrate = 1\n");
        let msg = server.err().map(|d| d.to_string()).unwrap_or_default();
        assert!(msg.contains("fault of the proxy"), "{msg}");
        let proxy = parse_proxy_plan("p.toml", "[[rule]]\nkind = \"drop\"\nrate = 1\n");
        let msg = proxy.err().map(|d| d.to_string()).unwrap_or_default();
        assert!(msg.contains("not of the proxy"), "{msg}");
        let bad = parse_proxy_plan(
            "p.toml",
            "[[rule]]\nkind = \"proxy-latency\"\nrate = 1\ndirection = \"sideways\"\n",
        );
        let msg = bad.err().map(|d| d.to_string()).unwrap_or_default();
        assert!(msg.contains("not a direction") && msg.contains("needs `latency`"), "{msg}");
        let stall = parse_proxy_plan("p.toml", "[[rule]]\nkind = \"proxy-stall\"\nrate = 1\n");
        let msg = stall.err().map(|d| d.to_string()).unwrap_or_default();
        assert!(msg.contains("needs `hold`"), "{msg}");
    }
}
