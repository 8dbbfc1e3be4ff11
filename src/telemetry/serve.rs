//! The reference server's Prometheus families (`gwsim serve --prometheus`): requests by route and
//! status, CometD sessions open, notifications published, faults injected by kind.
//!
//! Counters the server bumps itself (requests, notifications) are atomics, one increment per
//! request or per batch. What the server already keeps (its session registry, its fault ledger)
//! is read when Prometheus scrapes, through a closure the server installs ([`Sampled`]), so those
//! cost nothing between scrapes and are never a second copy of the server's own bookkeeping.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::names;

/// Labels of a request: route and status.
type RouteStatus = [(&'static str, Cow<'static, str>); 2];

/// Values read at scrape time: `(label value, value)` pairs under one label name (or one value
/// with no label when the name is `None`).
type Sampler = Box<dyn Fn() -> Vec<(String, u64)> + Send + Sync>;

/// A metric whose values come from a closure called at scrape time; empty until the closure is
/// installed (by [`Sampled::install`]).
#[derive(Clone)]
pub struct Sampled {
    label: Option<&'static str>,
    kind: MetricType,
    source: Arc<OnceLock<Sampler>>,
}

impl std::fmt::Debug for Sampled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampled").field("label", &self.label).finish_non_exhaustive()
    }
}

impl Sampled {
    fn new(label: Option<&'static str>, kind: MetricType) -> Self {
        Sampled { label, kind, source: Arc::new(OnceLock::new()) }
    }

    /// Where the values come from; only the first call counts (a server installs it once).
    pub fn install(&self, f: impl Fn() -> Vec<(String, u64)> + Send + Sync + 'static) {
        let _ = self.source.set(Box::new(f));
    }
}

impl EncodeMetric for Sampled {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let Some(source) = self.source.get() else { return Ok(()) };
        for (value_label, v) in source() {
            let write = |e: &mut MetricEncoder| match self.kind {
                MetricType::Counter => e.encode_counter::<NoLabelSet, _, u64>(&v, None),
                _ => e.encode_gauge(&v),
            };
            match self.label {
                Some(name) => {
                    let labels = [(name, value_label.as_str())];
                    write(&mut encoder.encode_family(&labels)?)?;
                }
                None => write(&mut encoder)?,
            }
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        self.kind
    }
}

/// The server's families.
#[derive(Debug, Clone)]
pub struct ServeMetrics {
    requests: Family<RouteStatus, Counter>,
    notifications: Counter,
    /// CometD sessions open, read from the server's session registry.
    pub sessions: Sampled,
    /// Faults injected by kind, read from the fault injector's ledger.
    pub faults: Sampled,
}

impl ServeMetrics {
    /// The families and the registry that exposes them.
    pub fn new() -> (Self, Registry) {
        let mut registry = Registry::with_prefix(names::PREFIX);
        let m = ServeMetrics {
            requests: Family::default(),
            notifications: Counter::default(),
            sessions: Sampled::new(None, MetricType::Gauge),
            faults: Sampled::new(Some(names::KIND), MetricType::Counter),
        };
        registry.register(
            names::SERVER_REQUESTS,
            "HTTP requests by route (as the router declares it) and status",
            m.requests.clone(),
        );
        registry.register(
            names::SERVER_NOTIFICATIONS,
            "Notifications published to CometD subscribers (one per recipient user)",
            m.notifications.clone(),
        );
        registry.register(
            names::SERVER_COMETD_SESSIONS,
            "CometD sessions open",
            m.sessions.clone(),
        );
        registry.register(
            names::SERVER_FAULTS,
            "Faults injected, by kind (records the ledger kept; see docs/faults.md)",
            m.faults.clone(),
        );
        (m, registry)
    }

    /// One request answered. `route` is the router's pattern, or `unmatched`.
    pub fn request(&self, route: &str, status: u16) {
        let labels = [
            (names::ROUTE, Cow::Owned(route.to_owned())),
            (names::STATUS, Cow::Owned(status.to_string())),
        ];
        self.requests.get_or_create(&labels).inc();
    }

    /// `n` notifications published.
    pub fn notifications(&self, n: usize) {
        self.notifications.inc_by(n as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_families_are_exposed_with_sampled_values() {
        let (m, registry) = ServeMetrics::new();
        m.request("/api/v2/me", 200);
        m.request("/api/v2/me", 200);
        m.request("/api/v2/me/chats/{id}", 400);
        m.notifications(3);
        m.sessions.install(|| vec![(String::new(), 5)]);
        m.faults.install(|| vec![("drop".to_owned(), 2), ("delay".to_owned(), 1)]);
        let text = super::super::encode(&registry);
        for line in [
            r#"gwsim_server_requests_total{route="/api/v2/me",status="200"} 2"#,
            r#"gwsim_server_requests_total{route="/api/v2/me/chats/{id}",status="400"} 1"#,
            "gwsim_server_notifications_total 3",
            "gwsim_server_cometd_sessions 5",
            r#"gwsim_server_faults_total{kind="drop"} 2"#,
            r#"gwsim_server_faults_total{kind="delay"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
        }
    }

    #[test]
    fn a_sampled_family_without_a_source_is_empty() {
        let (_, registry) = ServeMetrics::new();
        let text = super::super::encode(&registry);
        assert!(!text.contains("gwsim_server_faults_total{"), "{text}");
        assert!(text.contains("# TYPE gwsim_server_faults counter"), "{text}");
    }
}
