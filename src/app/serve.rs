//! `gwsim serve`: the reference server on its own, with users from a directory file, generated
//! demo users, or exactly the agents of a scenario.

use std::sync::Arc;

use anyhow::{Context, Result};

use super::Outcome;
use crate::cli::ServeArgs;
use crate::scenario::{Overrides, PasswordSource};
use crate::server::faults::{FaultInjector, NoFaults, SeededFaults};
use crate::server::users::UserTable;
use crate::server::{self, ServerConfig};

pub(super) async fn serve(
    args: ServeArgs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Outcome> {
    let users = match (&args.users, args.demo_users, &args.users_from) {
        (Some(path), _, _) => UserTable::load(path)?,
        (None, Some(n), _) => UserTable::demo_from_env(n)?,
        (None, None, Some(path)) => {
            let overrides = Overrides {
                password: args.password_env.clone().map(PasswordSource::Env),
                ..Overrides::default()
            };
            let scenario = match crate::scenario::load(path, &overrides) {
                Ok(s) => s,
                Err(diagnostics) => {
                    eprint!("{diagnostics}");
                    return Ok(Outcome::Invalid);
                }
            };
            let passwords = super::users::passwords(&scenario, None)?;
            super::users::user_table(&scenario, &passwords)?
        }
        (None, None, None) => {
            anyhow::bail!("give --users FILE, --demo-users N or --users-from SCENARIO")
        }
    };
    // A bad plan is refused before the server listens.
    let faults: Arc<dyn FaultInjector> = match fault_injector(&args.faults, &args.ledger)? {
        Some(f) => f,
        None => Arc::new(NoFaults),
    };
    let defaults = ServerConfig::default();
    let mut config = ServerConfig {
        csrf: !args.no_csrf,
        always_200: args.always_200,
        contact_center_id: args.contact_center_id.unwrap_or(defaults.contact_center_id.clone()),
        facebook_topic: args.facebook_topic,
        ..defaults
    };
    config.state.invite_timeout_ms = args.invite_timeout.as_millis() as u64;
    config.state.agent_capacity = args.agent_capacity.max(1);
    config.state.emit_remove_notice = !args.no_remove_notice;
    config.state.include_message_type = args.include_message_type;
    config.state.seed = args.seed;
    config.state.predictable_ids = args.predictable_ids;
    if args.predictable_ids {
        tracing::warn!("--predictable-ids: customer ids can be guessed from one another");
    }
    config.state.base_url = String::new();
    config.bayeux.timeout = args.cometd_timeout;
    config.bayeux.max_interval = args.max_interval;
    // Live metrics: bound before the server (a bad address fails now), served until it stops.
    let (metrics, registry) = crate::telemetry::serve::ServeMetrics::new();
    let exporter = super::prometheus::start(&args.prometheus, registry).await?;
    if exporter.is_some() {
        config.telemetry = Some(Arc::new(metrics));
    }
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "listening on a non-loopback address: the server is reachable from the network");
    }
    tracing::info!(
        %addr,
        users = users.directory.users().len(),
        queues = users.directory.queues().len(),
        csrf = config.csrf,
        contact_center_id = %config.contact_center_id,
        "gwsim reference server listening"
    );
    server::serve(listener, config, users, faults, shutdown).await?;
    if let Some(exporter) = exporter {
        exporter.stop().await;
    }
    tracing::info!("server stopped");
    Ok(Outcome::Ok)
}

/// The seeded injector of `gwsim serve --faults FILE [--ledger PATH]`, if a plan is given.
fn fault_injector(
    plan: &Option<std::path::PathBuf>,
    ledger: &Option<std::path::PathBuf>,
) -> Result<Option<Arc<dyn FaultInjector>>> {
    let Some(path) = plan else { return Ok(None) };
    let plan = crate::faults::load_plan(path).map_err(|d| anyhow::anyhow!("{d}"))?;
    if let Some(pop) = plan.populations().first() {
        anyhow::bail!(
            "{}: `agents:{pop}` names a scenario population, which a standalone server does not know; select agents by username pattern instead",
            path.display()
        );
    }
    tracing::info!(rules = plan.rules.len(), seed = plan.seed, "fault injection on");
    let faults = SeededFaults::new(plan, ledger.as_deref())?;
    Ok(Some(Arc::new(faults)))
}
