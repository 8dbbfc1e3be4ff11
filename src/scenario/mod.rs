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
pub mod schema;
pub mod shard;
pub mod units;

use std::path::Path;
use std::time::Duration;

use crate::vocab::Transport;

pub use diagnostic::{Diagnostic, Diagnostics};
pub use model::*;
pub use plan::{Arrival, Load, LoadPlan, Pace, Segment, Spacing, Stage, lower, next_start};
pub use shard::{Shard, ShardError};
pub use units::{Distribution, IntRange, Rate};

/// Settings from the command line (or a test) that replace what the scenario file says.
///
/// They are folded into the scenario *before* its rules run (ripgrep's LowArgs → HiArgs), so one
/// set of rules judges the file and the flags: a problem with what the file says points at
/// file:line:col, a problem with what a flag says names the flag (`--duration 0s: ...`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// `--target URL` and the flags that only mean something with it.
    pub target: Option<TargetOverride>,
    /// `--transport`; without it, `--target` means long-polling (all GWS 8.5.2 GA offers).
    pub transport: Option<Transport>,
    /// `--duration`: the arrival plan is lowered for this length, and cut if the shape is longer
    /// (which the user asked for).
    pub duration: Option<Duration>,
    /// `--seed`.
    pub seed: Option<u64>,
    /// `--password-env` / `--password-file`: one source for every population, replacing the
    /// file's. A relative file is taken relative to the working directory, not the scenario.
    pub password: Option<PasswordSource>,
    /// `--agents-only`: a remote target's agents run without simulated customers (real traffic
    /// feeds them); `[customers]` is ignored and the target records `customer_api = false`.
    pub agents_only: bool,
    /// `--shard I/N` (or `JOB_COMPLETION_INDEX` with `--shards N`): run only this shard of the
    /// scenario ([`shard`]). The whole scenario is validated first, then cut.
    pub shard: Option<Shard>,
    /// Not on the command line: tests and benches shorten a shipped scenario with these.
    pub warmup: Option<Duration>,
    pub drain: Option<Duration>,
    /// `gwsim capacity`'s flags, replacing keys of `[capacity]`.
    pub capacity: CapacityOverrides,
    /// One step of a capacity search: customers arrive at this steady rate (the file's spacing
    /// kept) instead of the file's arrival shape.
    pub rate: Option<Rate>,
}

/// `gwsim capacity`'s flags: each replaces its key of `[capacity]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CapacityOverrides {
    pub start: Option<Rate>,
    pub step: Option<Rate>,
    pub factor: Option<f64>,
    pub max: Option<Rate>,
    pub hold: Option<Duration>,
    pub warmup: Option<Duration>,
    pub min_samples: Option<u64>,
    pub resolution: Option<Rate>,
    pub min: Option<Rate>,
    pub max_cpu: Option<f64>,
}

impl CapacityOverrides {
    /// Whether any flag is given (then a scenario without `[capacity]` still gets one, checked).
    pub fn any(&self) -> bool {
        *self != CapacityOverrides::default()
    }
}

/// `--target URL` with `--allow-remote`, `--contact-center-id` and `--insecure`.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetOverride {
    pub base_url: String,
    pub allow_remote: bool,
    pub contact_center_id: Option<String>,
    pub accept_invalid_certs: bool,
}

impl TargetOverride {
    /// A target on this machine (no confirmation needed) with no contact center id.
    pub fn local(base_url: impl Into<String>) -> Self {
        TargetOverride {
            base_url: base_url.into(),
            allow_remote: false,
            contact_center_id: None,
            accept_invalid_certs: false,
        }
    }
}

/// Reads and validates a scenario file with `overrides` folded in. A relative password `file` in
/// the scenario is taken relative to the scenario file's directory, so a scenario and its secrets
/// can move together.
pub fn load(path: impl AsRef<Path>, overrides: &Overrides) -> Result<Scenario, Diagnostics> {
    let path = path.as_ref();
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let dir = path.parent().unwrap_or(Path::new(""));
            compile::compile(&file, &text, overrides, Some(dir))
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

/// Validates scenario text with `overrides` folded in; `file_name` is only used in diagnostics.
/// Relative password files stay relative (to the working directory).
pub fn parse(file_name: &str, text: &str, overrides: &Overrides) -> Result<Scenario, Diagnostics> {
    compile::compile(file_name, text, overrides, None)
}

/// Whether a URL host is this machine, which may be loaded without `allow_remote`.
fn is_loopback_host(host: &str) -> bool {
    // IPv6 hosts come bracketed (`[::1]`).
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests;
