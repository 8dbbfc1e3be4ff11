//! The `gwsim` binary: parses arguments, sets up logging and the runtime, runs the command,
//! and maps its outcome to an exit code (0 ok, 1 checks failed, 2 error, 130 interrupted).

use std::process::ExitCode;

use clap::Parser;
use gwsim::app::{self, Outcome};
use gwsim::cli::Cli;

/// mimalloc, not glibc's malloc: a flow makes about 500 small allocations, and mimalloc's
/// thread-local free lists took 10-20 % off the client's CPU per flow (README, "Performance").
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("gwsim=info")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal, and never when NO_COLOR is set (no-color.org): CI
        // logs and files get plain text.
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .init();
    let runtime = match runtime_for(&cli).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = runtime.block_on(async {
        // The first Ctrl-C or SIGTERM asks the command to stop (a run then writes its partial
        // results); a second one exits at once.
        let (first, stop) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = first.send(());
            shutdown_signal().await;
            eprintln!("second interrupt: exiting now");
            std::process::exit(130);
        });
        // A task, not `block_on`'s own future: waking that one writes the runtime's eventfd
        // (tokio cannot tell it is woken from its own thread), and the run's main future is
        // woken for every tick of what it selects over.
        let command = tokio::spawn(app::run(cli, async move {
            let _ = stop.await;
        }));
        match command.await {
            Ok(outcome) => outcome,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(anyhow::anyhow!("the command's task ended early: {e}")),
        }
    });
    match outcome {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::ChecksFailed) => ExitCode::from(1),
        Ok(Outcome::Interrupted) => ExitCode::from(130),
        Ok(Outcome::Invalid) => ExitCode::from(2),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The runtime a command runs on. `run` defaults to one thread (`--threads`): on a worker per
/// core the simulator spent about a quarter of its system calls per flow and three quarters of
/// its voluntary context switches waking idle workers for the tasks each response or
/// notification makes ready (futex, eventfd), and its load rarely needs a second core (shards
/// are the way past one). Everything else keeps a worker per core: the reference server
/// (`serve`) and the capacity search's steps want every core the machine has.
fn runtime_for(cli: &Cli) -> tokio::runtime::Builder {
    match &cli.command {
        gwsim::cli::Command::Run(args) => match args.threads.map_or(1, usize::from) {
            1 => tokio::runtime::Builder::new_current_thread(),
            n => {
                let mut builder = tokio::runtime::Builder::new_multi_thread();
                builder.worker_threads(n);
                builder
            }
        },
        _ => tokio::runtime::Builder::new_multi_thread(),
    }
}

/// Resolves on the next Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
