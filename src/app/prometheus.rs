//! `--prometheus ADDR` for `run` and `serve`: the endpoint started before the work (a bad
//! address is a setup error, exit 2, before any load), its address logged (port 0 takes a free
//! one), and for a run the linger that keeps the final figures scrapeable.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::cli::PrometheusArgs;
use crate::telemetry::{self, Exporter};

/// How long a run's final figures stay scrapeable by default: Prometheus's customary scrape
/// interval (15 s), so a scraper at that pace gets the last figures at least once.
pub(super) const DEFAULT_LINGER: Duration = Duration::from_secs(15);

/// Binds `--prometheus ADDR` (if given) and serves `registry` there.
pub(super) async fn start(args: &PrometheusArgs, registry: Registry) -> Result<Option<Exporter>> {
    let Some(addr) = args.addr else { return Ok(None) };
    let listener = telemetry::bind(addr, args.allow_remote).await?;
    let exporter = Exporter::start(listener, Arc::new(registry))?;
    // Tests and scripts read the real address (port 0) from this line.
    tracing::info!(
        metrics = %format!("http://{}{}", exporter.addr(), telemetry::METRICS_PATH),
        "prometheus endpoint ready"
    );
    Ok(Some(exporter))
}

/// Keeps `exporter` serving for `linger` (or until `interrupt`), then stops it.
pub(super) async fn linger(exporter: Exporter, linger: Duration, interrupt: CancellationToken) {
    if !linger.is_zero() && !interrupt.is_cancelled() {
        tracing::info!(
            linger_s = linger.as_secs_f64(),
            "the final figures stay scrapeable at the prometheus endpoint; Ctrl-C ends it sooner"
        );
        tokio::select! {
            _ = interrupt.cancelled() => {}
            _ = tokio::time::sleep(linger) => {}
        }
    }
    exporter.stop().await;
}
