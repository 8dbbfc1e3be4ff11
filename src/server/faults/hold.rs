//! Holding a request or an answer until an exact instant: how a latency fault adds its value
//! (and a stall ends on time) to within a fraction of a millisecond rather than tokio's timer's
//! one to two milliseconds.
//!
//! tokio rounds a deadline up to its next millisecond tick, and the poll timeout that waits for
//! that tick is rounded up to a millisecond again, so a plain `sleep(20ms)` holds 20 to 22 ms
//! (measured: 1.2 ms late on average, 6% more than asked): a latency fault that is ground truth
//! for the simulator's metrics cannot be that coarse. The hold sleeps on tokio until [`COARSE`]
//! before the deadline, then finishes the remainder (at most 2 ms) on a blocking thread: a
//! `std::thread::sleep` with 1 ns timer slack (a high-resolution timer) to [`SPIN`] before the
//! deadline, then a spin to it, so what is left is one task wake-up. Sleeping to the deadline
//! instead overshot by one thread wake-up more (140 µs median on a loaded 2-core machine, 100 µs
//! at best; end to end, 20 ms rules raised p50s by 20.09–20.21 ms, with the spin by
//! 20.03–20.15 ms). A held request costs one hand-off to the blocking pool (whose threads are
//! kept and reused) and at most [`SPIN`] of a core.

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
    let until = deadline.into_std();
    if tokio::task::spawn_blocking(move || precise_sleep(until)).await.is_err() {
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
fn precise_sleep(until: std::time::Instant) {
    // Refused (not Linux, or a seccomp filter): the default slack, 50 µs later at worst.
    let _ = rustix::thread::set_current_timer_slack(NonZeroU64::new(1));
    let rest = until.saturating_duration_since(std::time::Instant::now());
    std::thread::sleep(rest.saturating_sub(SPIN));
    // The last stretch spins: a thread's wake-up from a timer is itself some tens of
    // microseconds late on a virtual machine, and that lateness is what the hold is for
    // removing. Bounded by SPIN (and by the deadline); costs at most that much CPU per hold.
    while std::time::Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// How long before the deadline the blocking thread stops sleeping and spins.
const SPIN: Duration = Duration::from_micros(80);
