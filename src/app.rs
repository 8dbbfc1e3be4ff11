//! Wires modules together for each subcommand; the only place that uses `anyhow`.

use std::sync::Arc;

use anyhow::{Context, Result};

use crate::cli::{Cli, Command, ServeArgs};
use crate::server::faults::NoFaults;
use crate::server::users::UserTable;
use crate::server::{self, ServerConfig};

/// How a command ended, mapped to the process exit code by `main`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 0: everything held.
    Ok,
    /// 1: a check failed (threshold, regression, ordering violation).
    ChecksFailed,
    /// 130: interrupted; partial results were written.
    Interrupted,
}

/// Runs one command. `shutdown` resolves on Ctrl-C or SIGTERM.
pub async fn run(
    cli: Cli,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Outcome> {
    match cli.command {
        Command::Serve(args) => serve(args, shutdown).await,
    }
}

async fn serve(
    args: ServeArgs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Outcome> {
    let users = match (&args.users, args.demo_users) {
        (Some(path), _) => UserTable::load(path)?,
        (None, Some(n)) => UserTable::demo_from_env(n)?,
        (None, None) => anyhow::bail!("give --users FILE or --demo-users N"),
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
    config.state.base_url = String::new();
    config.bayeux.timeout = args.cometd_timeout;
    config.bayeux.max_interval = args.max_interval;
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
    server::serve(listener, config, users, Arc::new(NoFaults), shutdown).await?;
    tracing::info!("server stopped");
    Ok(Outcome::Ok)
}
