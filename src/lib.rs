//! gwsim: a load simulator for the Genesys Web Services v2 multimedia API (chats and Facebook
//! sessions) and the embedded reference server it runs against.
//!
//! Reading order: [`gws`] and [`cometd`] (the wire types and clients both halves share), then
//! [`server`] (the reference server: a pure state machine in `server::state` with HTTP and
//! CometD shells around it), [`scenario`] (scenario files in, a validated plan out),
//! [`ordering`] (the notification-order checker), [`metrics`] (what a run records: latency
//! histograms and counts) and [`report`] (the end-of-run summary built from them: terminal table,
//! `summary.json`, threshold verdicts), [`faults`] (fault plans, seeded decisions and the fault
//! ledger the server keeps), then [`cli`] and [`app`] (the command line).

pub mod app;
pub mod cli;
pub mod cometd;
pub mod engine;
pub mod faults;
pub mod gws;
pub mod metrics;
pub mod ordering;
pub mod progress;
pub mod report;
pub mod scenario;
pub mod server;
pub mod vocab;
