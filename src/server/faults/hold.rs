//! Holding a request or an answer until an exact instant: how a latency fault adds its value
//! (and a stall ends on time) to within a fraction of a millisecond (0.1–0.2 ms measured) rather
//! than tokio's timer's one to two milliseconds.
//!
//! tokio rounds a deadline up to its next millisecond tick, and the poll timeout that waits for
//! that tick is rounded up to a millisecond again, so a plain `sleep(20ms)` holds 20 to 22 ms
//! (measured: 1.2 ms late on average, 6% more than asked): a latency fault that is ground truth
//! for the simulator's metrics cannot be that coarse. The hold sleeps on tokio until [`COARSE`]
//! before the deadline, then finishes the remainder (at most 2 ms) with `std::thread::sleep` on a
//! blocking thread with 1 ns timer slack: a high-resolution timer, so the overshoot is one thread
//! wake-up and one task wake-up (measured: 140 µs median on a loaded 2-core machine, 100 µs
//! at best). No core spins: a held request costs one hand-off to the blocking pool (whose threads
//! are kept and reused), and a blocking thread sleeps, not runs, through each request's last
//! 2 ms.

use std::num::NonZeroU64;
use std::time::Duration;

use tokio::time::Instant;

/// How long before the deadline the tokio timer hands over to the precise one: its tick and the
/// poll timeout's rounding (1 ms each), so the coarse sleep never passes the deadline.
pub(super) const COARSE: Duration = Duration::from_millis(2);

/// Waits until `deadline`, to within two wake-ups (a thread's and a task's). A deadline already
/// passed returns at once.
pub async fn hold_until(deadline: Instant) {
    if let Some(early) = deadline.checked_sub(COARSE)
        && early > Instant::now()
    {
        tokio::time::sleep_until(early).await;
    }
    let rest = deadline.saturating_duration_since(Instant::now());
    if rest.is_zero() {
        return;
    }
    // A refused hand-off (a runtime shutting down) falls back to the coarse timer: still at
    // least the value asked, only less exactly.
    if tokio::task::spawn_blocking(move || precise_sleep(rest)).await.is_err() {
        tokio::time::sleep_until(deadline).await;
    }
}

/// Sleeps on the calling (blocking-pool) thread with the least timer slack the kernel allows,
/// so the wake-up is not deferred by the default 50 µs the kernel may add to batch timers. The
/// slack stays set on that thread, which only ever runs short blocking work.
#[allow(
    clippy::disallowed_methods,
    reason = "runs on the blocking pool (spawn_blocking), never on a runtime worker"
)]
fn precise_sleep(rest: Duration) {
    // Refused (not Linux, or a seccomp filter): the default slack, 50 µs later at worst.
    let _ = rustix::thread::set_current_timer_slack(NonZeroU64::new(1));
    std::thread::sleep(rest);
}
