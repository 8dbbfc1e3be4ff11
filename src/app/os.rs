//! What the process asks of the operating system for a run: enough open files for its agents.

/// Raises this process's open-files limit towards `wanted`; returns the limit now in force.
/// Raising the hard limit needs privileges, so this settles for the hard limit if it must.
pub fn raise_open_files(wanted: u64) -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let now = getrlimit(Resource::Nofile);
    let current = now.current.unwrap_or(u64::MAX);
    if current >= wanted {
        return current;
    }
    let hard = now.maximum.unwrap_or(u64::MAX);
    let raised = Rlimit { current: Some(wanted), maximum: Some(wanted.max(hard)) };
    if setrlimit(Resource::Nofile, raised).is_err() {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit { current: Some(hard.min(wanted)), maximum: Some(hard) },
        );
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// File descriptors kept out of the plan: the listener(s), the results files, the runtime's
/// epoll and eventfds, stdio, a Prometheus endpoint, the resolver.
pub const RESERVED_FILES: u64 = 256;

/// The smallest pool and phase concurrency a plan goes down to before it says the run does not
/// fit: below that, logging 15,000 agents in or out takes minutes.
const MIN_CONCURRENCY: u64 = 8;

/// What a run asks for: its agents, whether the embedded server shares the process, and the
/// concurrency it was given (or the defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileDemand {
    pub agents: u64,
    pub embedded: bool,
    pub http_connections: u64,
    pub login_concurrency: u64,
    pub logout_concurrency: u64,
}

/// How a run fits an open-files limit: the pool bound and phase concurrency it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilePlan {
    pub http_connections: u64,
    pub login_concurrency: u64,
    pub logout_concurrency: u64,
    /// The descriptors this plan may hold at its peak.
    pub needed: u64,
}

/// A run that cannot fit the limit whatever the concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "{agents} agents need at least {needed} open files{side} and this process may have {limit}: \
     at most {fits} agents fit in it{hint}; beyond that, split the agents over processes with \
     --shard (README \"More than one machine\")"
)]
pub struct FileShortfall {
    pub agents: u64,
    pub needed: u64,
    pub limit: u64,
    pub fits: u64,
    side: &'static str,
    hint: &'static str,
}

impl FileDemand {
    /// Descriptors per connection: the embedded server holds the other end of each in this
    /// same process.
    fn per_connection(&self) -> u64 {
        if self.embedded { 2 } else { 1 }
    }

    /// The peak with the concurrency asked for (what to raise the limit towards).
    pub fn wanted(&self) -> u64 {
        let phase = self.login_concurrency.max(self.logout_concurrency);
        (self.agents + phase + 2 * self.http_connections) * self.per_connection() + RESERVED_FILES
    }
}

/// Plans a run within `limit` open files.
///
/// At its peak a run holds one CometD connection per agent (a websocket, or the long-poll held
/// open), up to `http_connections` pooled REST connections in use plus as many idle, and one more
/// connection per agent in the middle of logging in or out (a long-poll handshake or disconnect
/// beside the held connect); with the embedded server each of those counts twice. When the asked
/// concurrency does not fit, the room left beside the agents is shared: a third to the phases,
/// the rest to the pool (in use and idle).
pub fn plan_files(limit: u64, demand: FileDemand) -> Result<FilePlan, FileShortfall> {
    let asked = FilePlan {
        http_connections: demand.http_connections.max(1),
        login_concurrency: demand.login_concurrency.max(1),
        logout_concurrency: demand.logout_concurrency.max(1),
        needed: demand.wanted(),
    };
    if asked.needed <= limit {
        return Ok(asked);
    }
    let c = demand.per_connection();
    let connections = limit.saturating_sub(RESERVED_FILES) / c;
    let room = connections.saturating_sub(demand.agents);
    let floor = 3 * MIN_CONCURRENCY;
    if room < floor {
        return Err(FileShortfall {
            agents: demand.agents,
            needed: (demand.agents + floor) * c + RESERVED_FILES,
            limit,
            fits: connections.saturating_sub(floor),
            side: if demand.embedded {
                " (the embedded server holds the other end of every connection in this process)"
            } else {
                ""
            },
            hint: if demand.embedded {
                "; run `gwsim serve` in another process and give it as --target to fit about \
                 twice as many"
            } else {
                ""
            },
        });
    }
    let phase = (room / 3).max(MIN_CONCURRENCY);
    let pool = ((room - phase.min(room)) / 2).max(MIN_CONCURRENCY);
    let plan = FilePlan {
        http_connections: asked.http_connections.min(pool),
        login_concurrency: asked.login_concurrency.min(phase),
        logout_concurrency: asked.logout_concurrency.min(phase),
        needed: 0,
    };
    let needed = FileDemand {
        http_connections: plan.http_connections,
        login_concurrency: plan.login_concurrency,
        logout_concurrency: plan.logout_concurrency,
        ..demand
    }
    .wanted();
    Ok(FilePlan { needed, ..plan })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demand(agents: u64, embedded: bool) -> FileDemand {
        FileDemand {
            agents,
            embedded,
            http_connections: 256,
            login_concurrency: 64,
            logout_concurrency: 64,
        }
    }

    #[test]
    fn a_run_that_fits_keeps_what_it_asked_for() {
        let plan = plan_files(20_000, demand(15_000, false)).expect("fits");
        assert_eq!(
            (plan.http_connections, plan.login_concurrency, plan.logout_concurrency),
            (256, 64, 64)
        );
        assert_eq!(plan.needed, 15_000 + 64 + 512 + RESERVED_FILES);
    }

    #[test]
    fn a_tight_limit_shrinks_the_pool_and_the_phases_instead_of_asking_for_more() {
        let plan = plan_files(15_600, demand(15_000, false)).expect("fits");
        assert!(plan.needed <= 15_600, "{plan:?}");
        assert!(plan.http_connections >= MIN_CONCURRENCY && plan.http_connections < 256);
        assert!(plan.logout_concurrency >= MIN_CONCURRENCY);
        // Embedded, every connection counts twice.
        let plan = plan_files(20_000, demand(9_000, true)).expect("fits");
        assert!(plan.needed <= 20_000, "{plan:?}");
    }

    /// Issue 11: 15,000 agents with the embedded server cannot fit 20,000 files; the error says
    /// how many would, and what to do.
    #[test]
    fn a_run_that_cannot_fit_says_how_many_would() {
        let e = plan_files(20_000, demand(15_000, true)).expect_err("does not fit");
        assert_eq!(e.fits, (20_000 - RESERVED_FILES) / 2 - 3 * MIN_CONCURRENCY);
        let text = e.to_string();
        assert!(text.contains("gwsim serve") && text.contains("--shard"), "{text}");
        let fits = plan_files(20_000, demand(e.fits, true)).expect("the advertised count fits");
        assert!(fits.needed <= 20_000);
    }
}
