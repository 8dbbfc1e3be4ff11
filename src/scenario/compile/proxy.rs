//! `[proxy]`: the fault-injecting TCP proxy `gwsim run` starts in front of the target. Its rules
//! are a fault plan of the `proxy-*` kinds, read by [`crate::faults::spec::plan_from_table`] (the
//! same keys as `gwsim proxy --faults FILE`); `listen` is the proxy's own address, loopback only.

use std::net::SocketAddr;

use toml_edit::Item;

use super::*;
use crate::faults::PlanFor;

/// Where the proxy listens unless `listen` says otherwise: any free loopback port.
const DEFAULT_LISTEN: ([u8; 4], u16) = ([127, 0, 0, 1], 0);

impl Cx<'_> {
    /// The `[proxy]` section; `None` (with diagnostics) when it cannot be used.
    pub(super) fn proxy(&mut self, item: &Item, span: Span, seed: u64) -> Option<ProxySection> {
        let Some(table) = item.as_table_like() else {
            self.s.error_help(
                span,
                "`proxy` must be a table",
                "write it as a [proxy] section with [[proxy.rule]] entries (docs/faults.md, The fault proxy)",
            );
            return None;
        };
        let mut listen = SocketAddr::from(DEFAULT_LISTEN);
        if let Some(item) = table.get("listen") {
            let vspan = item.span().unwrap_or_else(|| span.clone());
            match item.as_str().map(str::parse::<SocketAddr>) {
                Some(Ok(addr)) if addr.ip().is_loopback() => listen = addr,
                Some(Ok(addr)) => self.s.error_help(
                    vspan,
                    format!("`listen` is {addr}, which is not a loopback address"),
                    "the proxy is for this machine's simulator: listen on 127.0.0.1 (or ::1)",
                ),
                _ => self.s.error_help(
                    vspan,
                    "`listen` is not an address",
                    "write `listen = \"127.0.0.1:0\"` (port 0: any free port)",
                ),
            }
        }
        let plan = crate::faults::spec::plan_from_table(
            table,
            span,
            seed,
            PlanFor::Proxy { extra_keys: &["listen"] },
            &mut self.s,
        )?;
        Some(ProxySection { listen, plan })
    }
}
