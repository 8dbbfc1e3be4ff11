//! The resolved run plan: a validated scenario plus where and how to run it, built once by `app`
//! from the scenario, the command line and (for an embedded target) the server it started.
//!
//! The engine reads nothing else, and `summary.json` records all of it but the secrets
//! ([`ResolvedTarget`] and [`RunOptions`] serialize; passwords and the ContactCenterId do not), so
//! a run can be reproduced from its summary. ripgrep's `HiArgs` is the model: one place where raw
//! input has become resolved values.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::gws::Media;
use crate::ordering::Profile;
use crate::scenario::units::{format_duration, parse_duration};
use crate::scenario::{AgentPopulation, Scenario, Secret};
use crate::vocab::Transport;

/// Everything one run needs.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub scenario: Arc<Scenario>,
    pub target: ResolvedTarget,
    pub options: RunOptions,
    /// One per agent population, in scenario order; aligned by [`RunPlan::new`].
    passwords: Vec<Secret>,
}

/// Why a plan cannot be put together.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{given} passwords for {populations} agent populations")]
    Passwords { given: usize, populations: usize },
}

impl RunPlan {
    /// A plan whose `passwords` are one per population of `scenario`, in order.
    pub fn new(
        scenario: Arc<Scenario>,
        target: ResolvedTarget,
        passwords: Vec<Secret>,
        options: RunOptions,
    ) -> Result<Self, PlanError> {
        if passwords.len() != scenario.agents.len() {
            return Err(PlanError::Passwords {
                given: passwords.len(),
                populations: scenario.agents.len(),
            });
        }
        Ok(RunPlan { scenario, target, options, passwords })
    }

    /// An HTTP client for this target with these options (one pool).
    pub fn client(&self) -> Result<crate::gws::GwsClient, crate::gws::GwsError> {
        self.client_with(None, None)
    }

    /// [`RunPlan::client`] bound to a source address and within a shared request gate.
    pub fn client_with(
        &self,
        local_address: Option<std::net::IpAddr>,
        gate: Option<crate::gws::RequestGate>,
    ) -> Result<crate::gws::GwsClient, crate::gws::GwsError> {
        crate::gws::GwsClient::builder()
            .base_url(self.target.base_url.clone())
            .request_timeout(self.options.request_timeout)
            .accept_invalid_certs(self.target.accept_invalid_certs)
            .local_address(local_address)
            .request_gate(gate)
            .build()
    }

    /// Each agent population with its index and its password.
    pub fn populations(&self) -> impl Iterator<Item = (usize, &AgentPopulation, &Secret)> {
        self.scenario.agents.iter().zip(&self.passwords).enumerate().map(|(i, (p, s))| (i, p, s))
    }
}

/// Whether the run's target was the embedded server or a remote one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetType {
    Embedded,
    Remote,
}

impl TargetType {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetType::Embedded => "embedded",
            TargetType::Remote => "remote",
        }
    }
}

impl std::fmt::Display for TargetType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the run went, and how its clients spoke to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolvedTarget {
    pub kind: TargetType,
    /// The base URL actually used (for an embedded target, the address it bound).
    pub base_url: String,
    pub transport: Transport,
    pub media: Media,
    /// The ordering checker's profile (strict against the embedded server, documented against a
    /// remote one).
    #[serde(default)]
    pub profile: Profile,
    /// Whether simulated customers used the customer chat API; `false` runs agents only.
    #[serde(default)]
    pub customer_api: bool,
    #[serde(default)]
    pub accept_invalid_certs: bool,
    /// The customers' `ContactCenterId` header: it opens the customer API, so results never
    /// carry it.
    #[serde(skip)]
    pub contact_center_id: Option<String>,
}

/// How the simulator behaves, beyond the scenario: settings that shape the results, so they are
/// recorded with them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunOptions {
    /// One HTTP connection pool per agent (closest to real desktops) instead of one shared pool.
    pub per_agent_pool: bool,
    /// How often a customer polls for messages: customer-side latencies have this resolution.
    #[serde(serialize_with = "duration_out", deserialize_with = "duration_in")]
    pub poll_interval: Duration,
    /// How many agents log in at once.
    pub login_concurrency: usize,
    /// How many agents log out at once (summaries from before it existed: the default).
    #[serde(default = "default_phase_concurrency")]
    pub logout_concurrency: usize,
    /// How many REST requests may be in flight at once over the shared pool(s), which bounds
    /// the pooled connections (summaries from before it existed: the default).
    #[serde(default = "default_http_connections")]
    pub http_connections: usize,
    /// How long one HTTP request may take before it counts as failed.
    #[serde(serialize_with = "duration_out", deserialize_with = "duration_in")]
    pub request_timeout: Duration,
    /// Show the live progress line on stderr (display only: not recorded).
    #[serde(skip)]
    pub progress: bool,
    /// `--start-at`: the load phase waits, after login, until this wall-clock time (recorded in
    /// the summary's `start`, with the real start, not here).
    #[serde(skip)]
    pub start_at: Option<std::time::SystemTime>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            per_agent_pool: false,
            poll_interval: Duration::from_millis(500),
            login_concurrency: DEFAULT_PHASE_CONCURRENCY,
            logout_concurrency: DEFAULT_PHASE_CONCURRENCY,
            http_connections: DEFAULT_HTTP_CONNECTIONS,
            request_timeout: Duration::from_secs(10),
            progress: false,
            start_at: None,
        }
    }
}

/// Agents logging in (or out) at once unless told otherwise.
pub const DEFAULT_PHASE_CONCURRENCY: usize = 64;
/// REST requests in flight at once unless told otherwise (or the open-files limit says less).
pub const DEFAULT_HTTP_CONNECTIONS: usize = 256;

fn default_phase_concurrency() -> usize {
    DEFAULT_PHASE_CONCURRENCY
}

fn default_http_connections() -> usize {
    DEFAULT_HTTP_CONNECTIONS
}

fn duration_out<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_duration(*d))
}

fn duration_in<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_round_trip_as_written_and_progress_stays_out() {
        let options = RunOptions {
            per_agent_pool: true,
            poll_interval: Duration::from_millis(200),
            progress: true,
            ..RunOptions::default()
        };
        let json = serde_json::to_value(&options).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"per_agent_pool": true, "poll_interval": "200ms",
                "login_concurrency": 64, "logout_concurrency": 64, "http_connections": 256,
                "request_timeout": "10s"})
        );
        let back: RunOptions = serde_json::from_value(json).unwrap();
        assert_eq!(back, RunOptions { progress: false, ..options });
    }

    #[test]
    fn the_contact_center_id_never_reaches_results() {
        let target = ResolvedTarget {
            kind: TargetType::Remote,
            base_url: "https://gws.example".into(),
            transport: Transport::LongPolling,
            media: Media::Chat,
            profile: Profile::Documented,
            customer_api: true,
            accept_invalid_certs: false,
            contact_center_id: Some("5f3a2e9c-1b7d-4c5e-8f00-9a6b1c2d3e4f".into()),
        };
        let json = serde_json::to_string(&target).unwrap();
        assert!(!json.contains("5f3a2e9c"), "{json}");
        assert!(json.contains(r#""profile":"documented""#), "{json}");
    }
}
