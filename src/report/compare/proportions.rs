//! Exact tests for counts, for `gwsim compare`: Fisher's exact test for two error rates
//! (failures per operation, a proportion in each run), the conditional binomial test for two
//! Poisson rates (violations per operation, which can exceed one per operation), and the
//! Wilson score interval shown beside a rate. Pure arithmetic; nothing here decides a verdict.
//!
//! Why exact tests and not a normal approximation: the interesting cases have few events (0
//! errors against 12), where a z-test's normal approximation is worst and a zero count has no
//! variance at all. The hypergeometric and binomial tails below are summed term by term with the
//! ratio of consecutive terms, starting from a term computed through `ln Γ`, so counts in the
//! millions cost one pass and no factorial overflows.

use super::Estimate;

/// Two-sided 99% normal quantile, for the Wilson interval shown beside a rate.
const Z99: f64 = 2.576;

/// `ln Γ(x)` for `x > 0`: Lanczos' approximation (g = 7, nine coefficients), accurate to about
/// 1e-15 relative, far below what a p-value needs.
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1-x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// `ln C(n, k)`; `-inf` when `k > n`.
fn ln_choose(n: u64, k: u64) -> f64 {
    if k > n {
        return f64::NEG_INFINITY;
    }
    let (n, k) = (n as f64, k as f64);
    ln_gamma(n + 1.0) - ln_gamma(k + 1.0) - ln_gamma(n - k + 1.0)
}

/// `P(X >= from)` of a discrete distribution on `lo..=hi` with mean `mean`, given its log
/// probability `ln_pmf` and the ratio of consecutive probabilities `ratio(x) = P(x+1) / P(x)`.
///
/// The tail is summed from the end nearer the mode, so that the first term never underflows:
/// at or above the mean, upwards from `from` (the terms only fall); below it, `1 - P(X < from)`
/// with the lower tail summed downwards from `from - 1`. Each sum stops once its terms are below
/// 1e-17 of it.
fn upper_tail(
    ln_pmf: impl Fn(u64) -> f64,
    ratio: impl Fn(u64) -> f64,
    from: u64,
    (lo, hi, mean): (u64, u64, f64),
) -> f64 {
    if from <= lo {
        return 1.0;
    }
    if from > hi {
        return 0.0;
    }
    if from as f64 >= mean {
        let mut term = ln_pmf(from).exp();
        let mut sum = term;
        for x in from..hi {
            term *= ratio(x);
            sum += term;
            if term <= sum * 1e-17 {
                break;
            }
        }
        sum.min(1.0)
    } else {
        let mut term = ln_pmf(from - 1).exp();
        let mut sum = term;
        for x in (lo..from - 1).rev() {
            term /= ratio(x);
            sum += term;
            if term <= sum * 1e-17 {
                break;
            }
        }
        (1.0 - sum).clamp(0.0, 1.0)
    }
}

/// Fisher's exact test, one-sided: the probability, if both runs had the same error rate, that
/// the current run would have `cur_err` or more of the `base_err + cur_err` errors among its
/// `cur_n` operations (the hypergeometric upper tail). Small means the current run's rate is
/// higher beyond chance.
pub(super) fn fisher_greater(base_err: u64, base_n: u64, cur_err: u64, cur_n: u64) -> f64 {
    // Errors are counted among operations; a hand-edited summary may say otherwise.
    let (base_n, cur_n) = (base_n.max(base_err), cur_n.max(cur_err));
    let total = base_n + cur_n;
    let errors = base_err + cur_err;
    if cur_err == 0 {
        return 1.0;
    }
    let hi = errors.min(cur_n);
    // Lowest possible count in the current run: the errors the baseline cannot hold.
    let lo = errors.saturating_sub(base_n);
    let mean = errors as f64 * cur_n as f64 / total as f64;
    let ln_pmf = |x: u64| {
        ln_choose(errors, x) + ln_choose(total - errors, cur_n - x) - ln_choose(total, cur_n)
    };
    // P(x+1) / P(x) of the hypergeometric distribution.
    let ratio = |x: u64| {
        let (k, n, big_n, x) = (errors as f64, cur_n as f64, total as f64, x as f64);
        (k - x) * (n - x) / ((x + 1.0) * (big_n - k - n + x + 1.0))
    };
    upper_tail(ln_pmf, ratio, cur_err, (lo, hi, mean))
}

/// The conditional test for two Poisson rates, one-sided: given `base + cur` events over
/// exposures `base_n` and `cur_n`, the probability that the current run would have `cur` or
/// more of them if both had the same rate (a binomial upper tail with `p = cur_n / (base_n +
/// cur_n)`). Small means the current rate is higher beyond chance.
pub(super) fn poisson_greater(base: u64, base_n: u64, cur: u64, cur_n: u64) -> f64 {
    if cur == 0 {
        return 1.0;
    }
    let total = base + cur;
    let p = cur_n.max(1) as f64 / (base_n.max(1) + cur_n.max(1)) as f64;
    if p >= 1.0 {
        return 1.0;
    }
    let ln_pmf =
        |x: u64| ln_choose(total, x) + x as f64 * p.ln() + (total - x) as f64 * (1.0 - p).ln();
    let ratio = |x: u64| (total - x) as f64 / (x as f64 + 1.0) * p / (1.0 - p);
    upper_tail(ln_pmf, ratio, cur, (0, total, total as f64 * p))
}

/// A proportion `x / n` with its 99% Wilson score interval (which, unlike the normal one, stays
/// inside 0..1 and gives zero events an upper bound).
pub(super) fn wilson(x: u64, n: u64) -> Estimate {
    if n == 0 {
        return Estimate { value: 0.0, low: 0.0, high: Some(1.0), n };
    }
    let (xf, nf) = (x.min(n) as f64, n as f64);
    let p = xf / nf;
    let z2 = Z99 * Z99;
    let centre = (p + z2 / (2.0 * nf)) / (1.0 + z2 / nf);
    let half = Z99 / (1.0 + z2 / nf) * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt();
    // Zero events: the low end is exactly zero (rounding would leave 1e-19).
    let low = if x == 0 { 0.0 } else { (centre - half).max(0.0) };
    Estimate { value: p, low, high: Some((centre + half).min(1.0)), n }
}

/// A count per exposure with a 99% Poisson interval (square-root approximation: `(sqrt(x) ±
/// z/2)²`, with `x + 1` above so that zero events still have an upper bound). Shown beside
/// violation counts; the verdict comes from [`poisson_greater`].
pub(super) fn poisson(x: u64, exposure: u64) -> Estimate {
    let e = exposure.max(1) as f64;
    let xf = x as f64;
    let low = (xf.sqrt() - Z99 / 2.0).max(0.0).powi(2);
    let high = ((xf + 1.0).sqrt() + Z99 / 2.0).powi(2);
    Estimate { value: xf / e, low: low / e, high: Some(high / e), n: exposure }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-300)
    }

    #[test]
    fn ln_gamma_matches_factorials() {
        let mut f = 1.0f64;
        for n in 1..30u32 {
            f *= f64::from(n);
            assert!(close(ln_gamma(f64::from(n) + 1.0), f.ln(), 1e-12), "{n}!");
        }
        assert!(close(ln_gamma(0.5), std::f64::consts::PI.sqrt().ln(), 1e-12));
        assert!(close(ln_choose(1_000_000, 3), (1e6f64 * 999_999.0 * 999_998.0 / 6.0).ln(), 1e-9));
    }

    #[test]
    fn fisher_matches_hand_computed_tails() {
        // 0 of 700 against 12 of 700: every error in the current half, P = C(700,12)/C(1400,12).
        let want: f64 = (0..12).map(|i| (700.0 - i as f64) / (1400.0 - i as f64)).product();
        let p = fisher_greater(0, 700, 12, 700);
        assert!(close(p, want, 1e-9), "{p} vs {want}");
        assert!(p < 0.001);
        // 0 against 1 of 700: a coin flip, where the one error landed.
        assert!(close(fisher_greater(0, 700, 1, 700), 0.5, 1e-9));
        // The classic tea-tasting table (3 of 4 right): one-sided P = 17/70.
        assert!(close(fisher_greater(1, 4, 3, 4), 17.0 / 70.0, 1e-9));
        // No errors in the current run, or fewer than the baseline: nothing to see.
        assert_eq!(fisher_greater(5, 700, 0, 700), 1.0);
        assert!(fisher_greater(12, 700, 0, 700) >= 0.999);
        // Large counts stay finite and sensible: 1% against 1.2% of a million is significant.
        let p = fisher_greater(10_000, 1_000_000, 12_000, 1_000_000);
        assert!(p.is_finite() && p < 1e-9, "{p}");
        let p = fisher_greater(10_000, 1_000_000, 10_050, 1_000_000);
        assert!(p > 0.3 && p < 0.5, "{p}");
        // Far below its expectation in huge runs: no underflow into a false "significant".
        let p = fisher_greater(10_000, 1_000_000, 100, 1_000_000);
        assert!(p > 0.999, "{p}");
        let p = poisson_greater(10_000, 1_000_000, 100, 1_000_000);
        assert!(p > 0.999, "{p}");
        // A hand-edited summary with more errors than operations does not panic.
        assert!(fisher_greater(3, 1, 9, 2).is_finite());
    }

    #[test]
    fn poisson_rates_test_conditionally() {
        // 0 against 5 events, equal exposure: P = 0.5⁵.
        assert!(close(poisson_greater(0, 100, 5, 100), 1.0 / 32.0, 1e-9));
        // 10 against 12 events: nothing.
        assert!(poisson_greater(10, 1_000, 12, 1_000) > 0.3);
        // 10 against 40: clearly more.
        assert!(poisson_greater(10, 1_000, 40, 1_000) < 1e-4);
        // Twice the exposure explains twice the events.
        assert!(poisson_greater(10, 1_000, 20, 2_000) > 0.4);
        assert_eq!(poisson_greater(3, 10, 0, 10), 1.0);
    }

    #[test]
    fn wilson_intervals_hold_their_rate() {
        let e = wilson(0, 700);
        assert_eq!((e.value, e.low), (0.0, 0.0));
        assert!(e.high.is_some_and(|h| h > 0.0 && h < 0.02), "{e:?}");
        let e = wilson(12, 700);
        assert!(e.low > 0.0 && e.low < e.value && e.high.is_some_and(|h| h > e.value));
        assert_eq!(wilson(3, 0).high, Some(1.0));
    }
}
