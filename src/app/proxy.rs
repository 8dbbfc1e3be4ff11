//! `gwsim proxy`: the fault-injecting TCP proxy on its own, in front of any server, until Ctrl-C
//! or SIGTERM; its ledger goes to `--ledger` as it happens and its totals to the log at the end.

use anyhow::{Context, Result};

use super::Outcome;
use crate::cli::ProxyArgs;
use crate::faults::FaultPlan;
use crate::proxy::{self, ProxyConfig};

pub(super) async fn proxy(
    args: ProxyArgs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Outcome> {
    if !args.listen.ip().is_loopback() {
        anyhow::bail!(
            "--listen {}: the proxy listens on loopback only (127.0.0.1 or ::1)",
            args.listen
        );
    }
    // A bad plan is refused before the proxy listens.
    let plan = match &args.faults {
        Some(path) => match crate::faults::load_proxy_plan(path) {
            Ok(plan) => plan,
            Err(diagnostics) => {
                eprint!("{diagnostics}");
                return Ok(Outcome::Invalid);
            }
        },
        None => FaultPlan::empty(1),
    };
    let rules = plan.rules.len();
    let running = proxy::start(ProxyConfig {
        listen: args.listen,
        upstream: args.upstream.clone(),
        plan,
        ledger_file: args.ledger.clone(),
    })
    .await
    .context("cannot start the fault proxy")?;
    tracing::info!(listen = %running.local_addr(), upstream = %args.upstream, rules, "gwsim fault proxy listening");
    shutdown.await;
    let ledger = running.ledger();
    let (connections, unreachable) = running.connections();
    running.stop().await;
    tracing::info!(connections, unreachable, faults = ledger.total, "proxy stopped");
    Ok(Outcome::Ok)
}
