//! Measuring the generator: the CPU this process (or some of its threads) used, read from
//! `/proc/self/stat` and `/proc/self/task/*/stat`; the scheduling lag of a probe task; and the
//! embedded server's own runtime, whose named threads let its CPU be told apart from the
//! simulator's. `gwsim capacity` judges each step with these, `gwsim run` reports them.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::report::generator::GeneratorReport;

/// How often the lag probe wakes: often enough for a p99 over a short step, rare enough to cost
/// nothing.
const PROBE_EVERY: Duration = Duration::from_millis(10);

/// The name of the embedded server's runtime threads (at most 15 bytes: Linux cuts `comm`
/// there), which is how their CPU is found in `/proc/self/task/*/stat`.
pub const SERVER_THREAD: &str = "gwsim-server";

/// The CPU time (user + system) this process has used so far; `None` where `/proc/self/stat`
/// cannot be read (not Linux).
pub fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    cpu_of_stat(&stat)
}

/// utime + stime of a `/proc/<pid>/stat` line. The command name (field 2) may hold spaces and
/// parentheses, so the fields are counted from the last `)`; utime and stime are fields 14 and
/// 15, in clock ticks of USER_HZ, which Linux fixes at 100 for user space.
fn cpu_of_stat(stat: &str) -> Option<Duration> {
    const USER_HZ: u64 = 100;
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 1000 / USER_HZ))
}

/// A task on the generator's runtime that asks to wake every `PROBE_EVERY` and records how
/// late it woke: when the runtime's threads are busy (the generator behind its own schedule),
/// every timer fires late, the customers' arrivals included.
pub struct LagProbe {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Option<hdrhistogram::Histogram<u64>>>,
}

impl LagProbe {
    pub fn start() -> LagProbe {
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            // 1 µs to 1 min at 2 significant digits: a few KiB, whatever the step's length.
            let mut lag = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 2).ok()?;
            loop {
                let due = tokio::time::Instant::now() + PROBE_EVERY;
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = tokio::time::sleep_until(due) => {}
                }
                let late = tokio::time::Instant::now().saturating_duration_since(due);
                lag.saturating_record((late.as_micros() as u64).max(1));
            }
            Some(lag)
        });
        LagProbe { stop, task }
    }

    /// The lag's p99 and max in microseconds (`None` when the probe recorded nothing).
    pub async fn stop(self) -> (Option<u64>, Option<u64>) {
        self.stop.cancel();
        match self.task.await {
            Ok(Some(h)) if !h.is_empty() => (Some(h.value_at_quantile(0.99)), Some(h.max())),
            _ => (None, None),
        }
    }
}

/// The CPU time of this process's threads named `name` (their `comm`); `None` where
/// `/proc/self/task` cannot be read. A thread that exited took its time with it, which is why
/// the server runtime keeps its threads alive for the run.
pub fn threads_cpu(name: &str) -> Option<Duration> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    let mut total = Duration::ZERO;
    // Bounded by the process's threads: a few dozen.
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        if comm_of_stat(&stat) == Some(name) {
            total += cpu_of_stat(&stat).unwrap_or_default();
        }
    }
    Some(total)
}

/// The command name of a `/proc/<pid>/task/<tid>/stat` line: between the first `(` and the
/// last `)`.
fn comm_of_stat(stat: &str) -> Option<&str> {
    stat.get(stat.find('(')? + 1..stat.rfind(')')?)
}

/// A tokio runtime of its own for the embedded server, with named threads, so its CPU is
/// measured apart from the simulator's and a saturated server shows as such. Dropping it shuts
/// it down without blocking (it may be dropped inside the simulator's runtime).
pub struct ServerRuntime {
    runtime: Option<tokio::runtime::Runtime>,
}

impl ServerRuntime {
    pub fn start() -> std::io::Result<ServerRuntime> {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cores)
            .thread_name(SERVER_THREAD)
            // Idle blocking threads would exit after 10 s and take their CPU time with them.
            .thread_keep_alive(Duration::from_secs(24 * 3600))
            .enable_all()
            .build()?;
        Ok(ServerRuntime { runtime: Some(runtime) })
    }

    /// Runs `fut` (and every task it spawns) on the server's runtime.
    pub async fn run<F>(&self, fut: F) -> Result<F::Output, tokio::task::JoinError>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.runtime {
            Some(rt) => rt.spawn(fut).await,
            // Only `drop` takes the runtime out.
            None => tokio::spawn(fut).await,
        }
    }
}

impl Drop for ServerRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// The generator measured over a run: process CPU (and the server threads') and the lag probe.
pub struct Measure {
    wall: Instant,
    cpu: Option<Duration>,
    server: Option<Duration>,
    probe: LagProbe,
}

impl Measure {
    /// Starts measuring now; `embedded` also reads the server runtime's threads.
    pub fn start(embedded: bool) -> Measure {
        Measure {
            wall: Instant::now(),
            cpu: process_cpu(),
            server: if embedded { threads_cpu(SERVER_THREAD) } else { None },
            probe: LagProbe::start(),
        }
    }

    /// The report since [`Measure::start`]; `None` where the process's CPU cannot be read.
    pub async fn finish(self) -> Option<GeneratorReport> {
        let wall = self.wall.elapsed();
        let (p99, max) = self.probe.stop().await;
        let cpu = process_cpu()?.saturating_sub(self.cpu?);
        let server = match self.server {
            Some(before) => Some(threads_cpu(SERVER_THREAD)?.saturating_sub(before)),
            None => None,
        };
        let simulator = cpu.saturating_sub(server.unwrap_or_default());
        let machine = std::thread::available_parallelism().map_or(0, std::num::NonZeroUsize::get);
        // Alone, the simulator can keep no more cores busy than its runtime has threads (`run`
        // has one unless `--threads`); beside an embedded server the whole machine counts.
        let cores = match server {
            None => tokio::runtime::Handle::try_current()
                .map_or(machine, |h| machine.min(h.metrics().num_workers())),
            Some(_) => machine,
        };
        let cores = u32::try_from(cores).unwrap_or(u32::MAX);
        let ms = |us: u64| us as f64 / 1000.0;
        Some(GeneratorReport::judge(
            simulator.as_secs_f64(),
            wall.as_secs_f64(),
            cores,
            p99.zip(max).map(|(p, m)| (ms(p), ms(m))),
            server.map(|s| s.as_secs_f64()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_read_from_the_fields_after_the_command_name() {
        // A command name with spaces and a parenthesis, then fields 3..: utime 250, stime 50.
        let stat = "1234 (gw sim) x) R 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 8 0 1 2 3";
        assert_eq!(cpu_of_stat(stat), Some(Duration::from_secs(3)));
        assert_eq!(comm_of_stat(stat), Some("gw sim) x"));
        assert_eq!(cpu_of_stat("garbage"), None);
        assert_eq!(comm_of_stat("garbage"), None);
    }

    #[tokio::test]
    async fn the_server_runtime_runs_on_threads_of_its_name() {
        let rt = ServerRuntime::start().expect("runtime");
        let name = rt.run(async { std::thread::current().name().map(str::to_owned) }).await;
        assert_eq!(name.expect("ran").as_deref(), Some(SERVER_THREAD));
        assert!(threads_cpu(SERVER_THREAD).is_some());
        drop(rt);
    }
}
