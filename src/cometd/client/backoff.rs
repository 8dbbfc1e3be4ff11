//! The reconnect schedule: exponential backoff with jitter, and the bound after which a session
//! gives up. Pure functions of the attempt number, the elapsed time and a jitter draw.

use std::time::Duration;

/// Delay before reconnect attempt `attempt` (1 for the first retry): `min · 2^(attempt-1)`,
/// capped at `max`, then "equal jitter": half of it fixed, half scaled by `jitter` in `[0, 1]`.
/// The fixed half keeps thousands of agents that lost the server together from hammering it
/// at once; the random half spreads them.
pub(crate) fn delay(attempt: u32, min: Duration, max: Duration, jitter: f64) -> Duration {
    let max = max.max(min);
    let exponent = attempt.saturating_sub(1).min(30);
    let base = min.saturating_mul(1u32 << exponent).min(max);
    let jitter = if jitter.is_finite() { jitter.clamp(0.0, 1.0) } else { 0.0 };
    base / 2 + (base / 2).mul_f64(jitter)
}

/// Whether to try again after `failures` consecutive failures spanning `elapsed`.
pub(crate) fn should_retry(
    failures: u32,
    elapsed: Duration,
    max_attempts: u32,
    max_time: Duration,
) -> bool {
    failures <= max_attempts && elapsed <= max_time
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn doubles_from_min_up_to_max() {
        let min = 100 * MS;
        let max = 2_000 * MS;
        let full: Vec<u128> = (1..=7).map(|a| delay(a, min, max, 1.0).as_millis()).collect();
        assert_eq!(full, vec![100, 200, 400, 800, 1600, 2000, 2000]);
        let none: Vec<u128> = (1..=7).map(|a| delay(a, min, max, 0.0).as_millis()).collect();
        assert_eq!(none, vec![50, 100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn jitter_stays_in_range_and_extremes_do_not_overflow() {
        for attempt in [0, 1, 2, 31, 32, 1_000, u32::MAX] {
            for jitter in [-1.0, 0.0, 0.3, 1.0, 7.0, f64::NAN, f64::INFINITY] {
                let d = delay(attempt, 100 * MS, 30_000 * MS, jitter);
                assert!(d >= 50 * MS && d <= 30_000 * MS, "{attempt} {jitter} {d:?}");
            }
        }
        // A max below min is read as min.
        assert_eq!(delay(5, 100 * MS, 10 * MS, 1.0), 100 * MS);
        assert_eq!(delay(1, Duration::ZERO, Duration::ZERO, 1.0), Duration::ZERO);
    }

    #[test]
    fn gives_up_after_attempts_or_time() {
        let max_time = Duration::from_secs(60);
        assert!(should_retry(1, Duration::ZERO, 10, max_time));
        assert!(should_retry(10, Duration::from_secs(59), 10, max_time));
        assert!(!should_retry(11, Duration::from_secs(1), 10, max_time));
        assert!(!should_retry(2, Duration::from_secs(61), 10, max_time));
        assert!(!should_retry(1, Duration::ZERO, 0, max_time));
    }
}
