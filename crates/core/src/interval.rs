//! 95 % confidence intervals for the rates casebook reports, so that a
//! figure measured on a small sample says how little it shows: Wilson's
//! score interval for a proportion (error rates, recalls), and the exact
//! (Garwood) interval for a Poisson rate (false accepts per hour).

/// The normal quantile of a two-sided 95 % interval.
const Z: f64 = 1.959_963_984_540_054;
/// The probability left outside a 95 % interval on each side.
const TAIL: f64 = 0.025;

/// Wilson's 95 % score interval for `hits` out of `trials`; `None` without
/// trials. Unlike `p ± z·√(p(1−p)/n)` it stays within 0..1 and is not
/// empty at 0 or `n` hits.
pub fn wilson(hits: usize, trials: usize) -> Option<(f64, f64)> {
    if trials == 0 {
        return None;
    }
    let n = trials as f64;
    let p = hits as f64 / n;
    let z2 = Z * Z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// The exact 95 % interval of a Poisson rate per unit of `exposure` (per
/// hour, given hours) from `events` counted in it: the means whose
/// probability of `events` or fewer (for the upper end), or of `events` or
/// more (lower end), is 2.5 %. `exposure` must be positive.
pub fn poisson_rate(events: usize, exposure: f64) -> (f64, f64) {
    assert!(exposure > 0.0, "a rate needs a positive exposure");
    let lower = if events == 0 {
        0.0
    } else {
        // P(X ≥ events) = 2.5 %, i.e. P(X ≤ events − 1) = 97.5 %.
        solve_mean(|mean| poisson_cdf(events - 1, mean) - (1.0 - TAIL))
    };
    let upper = solve_mean(|mean| poisson_cdf(events, mean) - TAIL);
    (lower / exposure, upper / exposure)
}

/// P(X ≤ k) for X ~ Poisson(mean), summed in log space.
fn poisson_cdf(k: usize, mean: f64) -> f64 {
    if mean <= 0.0 {
        return 1.0;
    }
    let (ln_mean, mut ln_factorial, mut sum) = (mean.ln(), 0.0, 0.0);
    for i in 0..=k {
        if i > 0 {
            ln_factorial += (i as f64).ln();
        }
        sum += (i as f64 * ln_mean - mean - ln_factorial).exp();
    }
    sum.min(1.0)
}

/// The mean where `f`, decreasing in the mean (as a Poisson CDF is), crosses
/// zero, by bisection.
fn solve_mean(f: impl Fn(f64) -> f64) -> f64 {
    let (mut low, mut high) = (0.0, 1.0);
    while f(high) > 0.0 {
        high *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (low + high);
        if f(mid) > 0.0 {
            low = mid;
        } else {
            high = mid;
        }
        if high - low <= 1e-12 * high {
            break;
        }
    }
    0.5 * (low + high)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(ours: (f64, f64), want: (f64, f64)) {
        assert!(
            (ours.0 - want.0).abs() < 1e-4 && (ours.1 - want.1).abs() < 1e-4,
            "{ours:?} vs {want:?}"
        );
    }

    /// Reference values, to 5 decimals: Wilson's as statsmodels'
    /// `proportion_confint(method="wilson")` gives them; Poisson's from the
    /// chi-square quantiles `χ²(0.025, 2k)/2` and `χ²(0.975, 2k+2)/2`.
    #[test]
    fn intervals_match_reference_values() {
        close(wilson(0, 20).unwrap(), (0.0, 0.16113));
        close(wilson(10, 20).unwrap(), (0.29930, 0.70070));
        close(wilson(20, 20).unwrap(), (0.83887, 1.0));
        close(wilson(1, 100).unwrap(), (0.00177, 0.05449));
        assert_eq!(wilson(0, 0), None);
        close(poisson_rate(0, 1.0), (0.0, 3.68888));
        close(poisson_rate(1, 1.0), (0.02532, 5.57164));
        close(poisson_rate(10, 1.0), (4.79539, 18.39036));
        // Per hour: 10 events in half an hour.
        close(poisson_rate(10, 0.5), (9.59078, 36.78072));
        // Large counts: the Wilson–Hilferty approximation of the chi-square
        // quantiles (good to ~0.01 here).
        let (low, high) = poisson_rate(1000, 1.0);
        assert!((low - 938.97).abs() < 0.05, "{low}");
        assert!((high - 1063.96).abs() < 0.05, "{high}");
    }
}
