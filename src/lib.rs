//! gwsim: a load simulator for the Genesys Web Services v2 multimedia API (chats and Facebook
//! sessions) and the embedded reference server it runs against.
//!
//! Reading order: [`gws`] and [`cometd`] (the wire types and clients both halves share), then
//! [`server`] (the reference server: a pure state machine in `server::state` with HTTP and
//! CometD shells around it), [`vocab`] (the names every module shares: metrics, violation kinds,
//! statistics, transports), [`scenario`] (scenario files and command-line overrides in, a
//! validated scenario out), [`run_plan`] (the scenario resolved against its target),
//! [`engine`] (the virtual agents and customers), [`ordering`] (the notification-order checker),
//! [`metrics`] (what a run records), [`report`] (the outputs built from it), [`faults`]
//! (fault plans, seeded decisions and the ledger the server keeps), [`proxy`] (the fault-injecting TCP proxy in front of a target), [`telemetry`] (live
//! metrics for Prometheus), [`capacity`] (the capacity search's steps and verdicts), then [`cli`] and
//! [`app`] (the commands); [`net`] is the client wire below HTTP semantics both clients share.

pub mod app;
pub mod capacity;
pub mod cli;
pub mod cometd;
pub mod engine;
pub mod faults;
pub mod gws;
pub mod metrics;
pub mod net;
pub mod ordering;
pub mod proxy;
pub mod report;
pub mod run_plan;
pub mod scenario;
pub mod server;
pub mod telemetry;
pub mod vocab;
