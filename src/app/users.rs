//! The reference server's users for a scenario: exactly the agents the scenario logs in, each
//! with its population's password, for the embedded server of `gwsim run` and for
//! `gwsim serve --users-from SCENARIO` alike.

use anyhow::{Context, Result};

use crate::scenario::{PasswordSource, Scenario, Secret};
use crate::server::state::NewUser;
use crate::server::users::{Password, UserTable};

/// Each population's password, in scenario order: read from its source, or `generated` for a
/// population without one (only the embedded server, which is made for this run, can take it).
pub(super) fn passwords(scenario: &Scenario, generated: Option<&Secret>) -> Result<Vec<Secret>> {
    scenario
        .agents
        .iter()
        .map(|p| match (&p.password, generated) {
            (PasswordSource::Generated, Some(g)) => Ok(g.clone()),
            (PasswordSource::Generated, None) => anyhow::bail!(
                "agent population `{}` has no password source; give it one in the scenario \
                 (password = {{ env = \"VAR\" }}) or pass --password-env VAR",
                p.name
            ),
            (source, _) => source
                .resolve()
                .with_context(|| format!("password of agent population `{}`", p.name)),
        })
        .collect()
}

/// The user table: every agent is in queue `default` and in a queue named after its population
/// (so `queue:<population>` targets reach that population); a customer queue that is not a
/// population's takes every agent. `passwords` are one per population, in order.
pub(super) fn user_table(scenario: &Scenario, passwords: &[Secret]) -> Result<UserTable> {
    let mut queues = vec!["default".to_string()];
    for p in &scenario.agents {
        if !queues.contains(&p.name) {
            queues.push(p.name.clone());
        }
    }
    let extra =
        scenario.customers.as_ref().and_then(|c| c.queue.clone()).filter(|q| !queues.contains(q));
    if let Some(q) = &extra {
        queues.push(q.clone());
    }
    let mut users = Vec::new();
    for (p, password) in scenario.agents.iter().zip(passwords) {
        for username in p.usernames() {
            let mut member = vec!["default".to_string(), p.name.clone()];
            member.extend(extra.clone());
            member.dedup();
            let user = NewUser {
                username,
                first_name: p.name.clone(),
                last_name: String::new(),
                queues: member,
            };
            users.push((user, Password::new(password.expose())));
        }
    }
    UserTable::new(&queues, users).context("cannot build the reference server's users")
}
