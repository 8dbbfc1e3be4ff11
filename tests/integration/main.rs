//! The single integration-test binary (one build, one link). Every test talks to a real
//! reference server on 127.0.0.1:0 over real HTTP and real CometD transports.

/// Server and client helpers shared by the tests below.
mod support;

/// Helpers for the tests that drive the `gwsim` binary (commands, scratch directories, a
/// `gwsim serve` child).
mod binary;

/// The seed pages' flows, notification by notification, for chat and Facebook, on both CometD
/// transports: consult, remove participant, leave.
mod seed_flows;

/// Error bodies, authentication, CSRF, authorization and malformed input.
mod server_errors;

/// CometD endpoint behaviour seen by clients: 402 and re-handshake, expiry, standard-client
/// requirements.
mod cometd;

/// Seeded fault injection on the wire, one kind at a time, and the ledger of what was injected.
mod faults;

/// Latency and stall faults as ground truth: a latency rule's lower bound on every response, a
/// stall carried by corrected latency for every operation meant during it.
mod ground_truth;

/// Chaos runs: a scenario's `[faults]`, `violations.jsonl`, the ledger joined with violations.
mod chaos;

/// The fault proxy in front of the embedded server: no faults changes no count; latency,
/// resets and stalls are ledgered and joined.
mod proxy;

/// gwsim's CometD client against Faye, an independent Bayeux server (skipped unless
/// tests/faye/run gives it the server script).
mod faye;

/// Every notification fault kind at rate 1.0, both transports and media: recall and precision.
mod chaos_kinds;

// Client-side chaos: crashes and recoveries, vanished agents, reconnect storms, slow consumers.
mod agent_chaos;

/// `gwsim run` end to end: every scenario, both transports, a misordering server.
mod end_to_end;

/// Issue 10: sessions gwsim closes itself (end of run, Ctrl-C) are not errors.
mod clean_stop;

/// Issue 9: CometD connects that all fail are counted by kind and the run fails, saying the
/// agents served nothing.
mod dead_streams;

/// What the engine records from the checker: one settle per operation, await timeouts as flow
/// failures.
mod settles;

/// The CI commands through the binary: junit.xml, `gwsim compare` exit codes, `gwsim report`.
mod ci;

/// Issue 10: `gwsim compare` as a build gate: identical runs never regress, a slowdown does.
mod compare;

/// Shards as a Kubernetes Indexed Job runs them, merged with `gwsim merge`, checked exactly.
mod shards;

/// Live metrics: `--prometheus` on `run` and `serve`, scraped, against summary.json.
mod prometheus;

/// Shards in their own network namespaces (separate hosts on a veth network), merged.
mod netns;

/// The Kubernetes deployment's scenarios validate and cut into their kustomization's shards.
mod deploy;

/// `gwsim capacity`: a knee known by construction found within the step resolution; exit codes.
mod capacity;

/// Every source file starts with a `//!` line; the layering invariants hold.
mod tidy;

/// The outputs written during a run: `latency.hlog`, `timeline.jsonl`, `<metric>.hgrm`.
mod time_series;

/// `gwsim report DIR` draws the same `report.html` the run drew.
mod report_page;
/// Issue 10, throughput and concurrency: `summary.json`'s rates and gauges agree with the run's
/// counts and its `timeline.jsonl`.
mod throughput;
