//! Fault plans and the fault ledger: the one format `gwsim serve --faults FILE` reads (and a
//! scenario's `[faults]` section), the seeded decision function every injection point uses,
//! and the record of each injected fault.
//!
//! Neither half owns this module: the reference server (`server::faults`) injects what a plan
//! asks for and writes [`ledger`] records; the simulator joins those records with the checker's
//! violations ([`join`]). Pure and synchronous: no clock, no runtime, no IO but [`load_plan`]
//! reading the file; time comes in as milliseconds since the server started.
//!
//! # Layout
//! - [`spec`]: the plan's types and their validation from TOML (every problem with file:line:col);
//! - [`decide`]: the seeded decision, a hash of (seed, rule, event identity);
//! - [`ledger`]: one record per injected fault, and a bounded in-memory store of them;
//! - [`join`]: a run's violations joined with the ledger: recall and precision per fault kind.

pub mod decide;
pub mod join;
pub mod ledger;
pub mod spec;

pub use decide::{Identity, roll};
pub use ledger::{Ledger, LedgerRecord, LedgerSnapshot, NewRecord};
pub use spec::{
    Action, AgentPattern, Direction, FaultKind, FaultPlan, FaultRule, OpSelector, PlanFor,
    Schedule, Selector, load_plan, load_proxy_plan, parse_plan, parse_proxy_plan,
};
