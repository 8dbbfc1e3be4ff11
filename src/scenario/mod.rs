//! Scenario files: TOML in, a validated [`Scenario`] (with its canonical [`LoadPlan`]) out, or
//! every problem in the file as [`Diagnostics`] with file:line:col.
//!
//! Two stages (style.md §5): `raw` mirrors the file with serde, `compile` resolves references
//! and checks every rule, collecting all errors. Only the validated types in [`model`] travel
//! further. [`plan`] lowers every arrival shape into one list of segments and paces them with a
//! pure function; [`units`] reads the small value languages (`1m30s`, `5/s`, `exp(1s)`, `1..4`).
//! Pure and synchronous apart from [`load`] reading the file: no clock, no runtime.

mod compile;
pub mod diagnostic;
pub mod model;
pub mod plan;
mod raw;
pub mod units;

use std::path::Path;
use std::time::Duration;

use crate::vocab::Transport;

pub use diagnostic::{Diagnostic, Diagnostics};
pub use model::*;
pub use plan::{Arrival, Load, LoadPlan, Segment, Spacing, Stage, lower, next_start};
pub use units::{Distribution, IntRange, Rate};

/// Reads and validates a scenario file. A relative password `file` is taken relative to the
/// scenario file's directory, so a scenario and its secrets can move together.
pub fn load(path: impl AsRef<Path>) -> Result<Scenario, Diagnostics> {
    let path = path.as_ref();
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let mut scenario = parse(&file, &text)?;
            let dir = path.parent().unwrap_or(Path::new(""));
            for pop in &mut scenario.agents {
                if let PasswordSource::File(p) = &mut pop.password {
                    if p.is_relative() {
                        *p = dir.join(&*p);
                    }
                }
            }
            Ok(scenario)
        }
        Err(e) => Err(Diagnostics(vec![Diagnostic {
            file,
            line: 0,
            col: 0,
            message: format!("cannot read the scenario file: {e}"),
            help: None,
        }])),
    }
}

/// Validates scenario text; `file_name` is only used in diagnostics.
pub fn parse(file_name: &str, text: &str) -> Result<Scenario, Diagnostics> {
    compile::compile(file_name, text)
}

/// Whether a URL host is this machine, which may be loaded without `allow_remote`.
fn is_loopback_host(host: &str) -> bool {
    // IPv6 hosts come bracketed (`[::1]`).
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Why a command-line override cannot be applied to a validated scenario.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("the duration must be more than zero")]
    ZeroDuration,
    #[error("a duration of {duration} is not longer than the scenario's warmup of {warmup}")]
    DurationWithinWarmup { duration: String, warmup: String },
    #[error("{url} is not a usable base URL: {reason}")]
    BaseUrl { url: String, reason: String },
    #[error("{0} is not on this machine; load-testing another machine needs allow_remote")]
    RemoteNotAllowed(String),
    #[error("population {0} has no password source, and a remote server will ask for one")]
    MissingPassword(String),
    #[error("simulated chat customers need the target's contact center id")]
    MissingContactCenterId,
}

impl Scenario {
    /// `--duration`: the arrival plan is lowered again for the new length (and cut if the shape
    /// is now longer than the run, which the user asked for).
    pub fn set_duration(&mut self, duration: Duration) -> Result<(), ScenarioError> {
        if duration.is_zero() {
            return Err(ScenarioError::ZeroDuration);
        }
        if self.run.warmup >= duration {
            return Err(ScenarioError::DurationWithinWarmup {
                duration: units::format_duration(duration),
                warmup: units::format_duration(self.run.warmup),
            });
        }
        self.run.duration = duration;
        self.plan = match &self.customers {
            Some(c) => plan::lower(&c.arrival, duration, c.max_active),
            None => LoadPlan::empty(duration),
        };
        Ok(())
    }

    /// `--seed`.
    pub fn set_seed(&mut self, seed: u64) {
        self.run.seed = seed;
    }

    /// `--transport`.
    pub fn set_transport(&mut self, transport: Transport) {
        self.target.transport = transport;
    }

    /// `--target URL`: run against a remote server instead of the scenario's own target, with the
    /// same rules a `[target]` section obeys.
    pub fn set_remote_target(&mut self, remote: RemoteTarget) -> Result<(), ScenarioError> {
        let url = reqwest::Url::parse(&remote.base_url).map_err(|e| ScenarioError::BaseUrl {
            url: remote.base_url.clone(),
            reason: e.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ScenarioError::BaseUrl {
                url: remote.base_url.clone(),
                reason: "the scheme must be http or https".to_owned(),
            });
        }
        let Some(host) = url.host_str() else {
            return Err(ScenarioError::BaseUrl {
                url: remote.base_url.clone(),
                reason: "it has no host".to_owned(),
            });
        };
        if !is_loopback_host(host) && !remote.allow_remote {
            return Err(ScenarioError::RemoteNotAllowed(remote.base_url.clone()));
        }
        if let Some(p) = self.agents.iter().find(|p| p.password == PasswordSource::Generated) {
            return Err(ScenarioError::MissingPassword(p.name.clone()));
        }
        if self.customers.is_some()
            && remote.customer_api
            && self.target.media == crate::gws::model::Media::Chat
            && remote.contact_center_id.is_none()
        {
            return Err(ScenarioError::MissingContactCenterId);
        }
        let base_url = remote.base_url.trim_end_matches('/').to_owned();
        self.target.kind = TargetKind::Remote(RemoteTarget { base_url, ..remote });
        Ok(())
    }
}

#[cfg(test)]
mod tests;
