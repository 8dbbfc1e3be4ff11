//! Capacity search, the pure core of `gwsim capacity`: which arrival rate to try next
//! ([`Search`]: raise in steps until a step fails, then narrow by bisection), and what a step's
//! figures say about it ([`judge()`]: good, bad, or inconclusive when the generator itself was the
//! bottleneck or there were too few samples).
//!
//! No IO, no clock, no runtime: `app::capacity` runs each step as a normal run of the scenario
//! with the rate overridden, measures the generator (CPU, scheduling lag) around it, hands the
//! figures here and writes what comes out (`report::capacity`).

mod judge;
mod search;

pub use judge::{Check, Inconclusive, KeyLatency, StepFigures, Verdict, judge};
pub use search::{Finding, Search, Stop};

use crate::scenario::Scenario;
use crate::scenario::plan::Arrival;

/// Why a scenario cannot drive a capacity search.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapacityError {
    #[error(
        "a capacity search raises the customers' arrival rate, but the scenario has no [customers]"
    )]
    NoCustomers,
    #[error(
        "a capacity search raises the customers' arrival rate, but [customers] arrival is a closed \
         `concurrency`, which has no rate (write `arrival = {{ rate = \"1/s\" }}`)"
    )]
    Closed,
    #[error(
        "a capacity search measures the server as it is, but the scenario injects faults \
         ([faults]); remove the section for the search"
    )]
    Faults,
    #[error("a capacity search needs at least one [[thresholds]] entry to judge its steps by")]
    NoThresholds,
}

/// Whether `scenario` can drive a capacity search: open customer arrivals to raise, thresholds to
/// judge by, and no injected faults (which would fail steps for reasons other than load).
pub fn check_scenario(scenario: &Scenario) -> Result<(), CapacityError> {
    let customers = scenario.customers.as_ref().ok_or(CapacityError::NoCustomers)?;
    if matches!(customers.arrival, Arrival::Closed { .. }) {
        return Err(CapacityError::Closed);
    }
    if scenario.faults.is_some() {
        return Err(CapacityError::Faults);
    }
    if scenario.thresholds.is_empty() {
        return Err(CapacityError::NoThresholds);
    }
    Ok(())
}

/// A rate as the capacity outputs write it: per second, at most two decimals (`8.4/s`).
pub fn show_rate(r: crate::scenario::units::Rate) -> String {
    let s = format!("{:.2}", r.per_second());
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}/s")
}
