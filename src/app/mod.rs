//! Wires modules together for each subcommand; the only place that uses `anyhow`.
//!
//! One file per command (`run`, `capacity`, `serve`, `proxy`, `validate`, `compare`, `report`, `merge`), plus what two
//! commands share: the reference server's users for a scenario (`users`), the process's own
//! limits (`os`), the live progress line (`progress`) and the `--prometheus` endpoint
//! (`prometheus`). Raw flags become resolved values here and nowhere else: `run` folds its flags
//! into scenario validation and builds the one [`RunPlan`] the engine takes.
//!
//! [`RunPlan`]: crate::run_plan::RunPlan

mod capacity;
mod compare;
pub mod generator;
mod merge;
pub mod os;
pub mod progress;
mod prometheus;
mod proxy;
mod report;
mod run;
mod serve;
mod users;
mod validate;

use anyhow::Result;

use crate::cli::{Cli, Command};

pub use self::report::{RenderInputs, render_inputs};
pub use self::run::{Executed, execute, execute_observed};
pub use crate::run_plan::RunOptions;

/// How a command ended, mapped to the process exit code by `main`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 0: everything held.
    Ok,
    /// 1: a check failed (threshold, regression, ordering violation).
    ChecksFailed,
    /// 130: interrupted; partial results were written.
    Interrupted,
    /// 2: the input was invalid; the problems were printed.
    Invalid,
}

/// Runs one command. `shutdown` resolves on Ctrl-C or SIGTERM.
pub async fn run(
    cli: Cli,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Outcome> {
    match cli.command {
        Command::Run(args) => run::run_scenario(args, shutdown).await,
        Command::Capacity(args) => capacity::capacity(args, shutdown).await,
        Command::Serve(args) => serve::serve(args, shutdown).await,
        Command::Proxy(args) => proxy::proxy(args, shutdown).await,
        Command::Validate(args) => validate::validate(args),
        Command::Compare(args) => compare::compare(args),
        Command::Report(args) => report::rerender(args),
        Command::Merge(args) => merge::merge(args),
        Command::Completions(args) => {
            use clap::CommandFactory as _;
            use std::io::Write as _;
            // Into a buffer first: `generate` panics when its writer fails (e.g. a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut Cli::command(), "gwsim", &mut script);
            std::io::stdout().write_all(&script)?;
            Ok(Outcome::Ok)
        }
    }
}
