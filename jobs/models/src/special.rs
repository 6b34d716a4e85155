//! Special functions the likelihoods and forecasts need: log-gamma, digamma and the
//! Gauss hypergeometric series.
//!
//! The likelihood optimiser compares values that differ in the twelfth digit, so these
//! are accurate to a few ulps for the positive arguments the models produce; they are
//! defined for `x > 0` only and return NaN elsewhere.

/// Below this the argument is shifted up by the recurrences, where the asymptotic
/// series is accurate to better than 1e-16.
const ASYMPTOTIC_FROM: f64 = 10.0;

const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;

/// `ln Γ(x)` for `x > 0`.
pub fn ln_gamma(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    if x.is_infinite() {
        return f64::INFINITY;
    }
    // Γ(x) = Γ(x + n) / (x (x+1) … (x+n-1)); one logarithm of the product keeps the
    // shift cheap.
    let mut shifted = x;
    let mut product = 1.0;
    while shifted < ASYMPTOTIC_FROM {
        product *= shifted;
        shifted += 1.0;
    }
    stirling_ln_gamma(shifted) - product.ln()
}

fn stirling_ln_gamma(x: f64) -> f64 {
    // Bernoulli-number coefficients B_2k / (2k (2k-1)) for k = 1..7.
    const C: [f64; 7] = [
        1.0 / 12.0,
        -1.0 / 360.0,
        1.0 / 1260.0,
        -1.0 / 1680.0,
        1.0 / 1188.0,
        -691.0 / 360_360.0,
        1.0 / 156.0,
    ];
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    let series = C.iter().rev().fold(0.0, |acc, c| acc * inv2 + c) * inv;
    (x - 0.5) * x.ln() - x + HALF_LN_2PI + series
}

/// The digamma function `ψ(x) = d/dx ln Γ(x)` for `x > 0`.
pub fn digamma(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    if x.is_infinite() {
        return f64::INFINITY;
    }
    let mut shifted = x;
    let mut shift = 0.0;
    while shifted < ASYMPTOTIC_FROM {
        shift += 1.0 / shifted;
        shifted += 1.0;
    }
    // B_2k / (2k) for k = 1..7.
    const C: [f64; 7] = [
        1.0 / 12.0,
        -1.0 / 120.0,
        1.0 / 252.0,
        -1.0 / 240.0,
        1.0 / 132.0,
        -691.0 / 32_760.0,
        1.0 / 12.0,
    ];
    let inv2 = 1.0 / (shifted * shifted);
    let series = C.iter().rev().fold(0.0, |acc, c| acc * inv2 + c) * inv2;
    shifted.ln() - 0.5 / shifted - series - shift
}

/// Relative size of the last term at which a series counts as converged.
const SERIES_EPSILON: f64 = 1e-16;

/// Upper bound on series terms; reached only when `z` is within about 1e-5 of one.
pub const MAX_SERIES_TERMS: usize = 2_000_000;

/// Sums `Σ_{n≥start} term_n` where `term_{n+1} = term_n · ratio(n)`, stopping once the
/// newest term is negligible against the sum and the ratio has settled below one, so the
/// geometric tail it bounds is negligible too. `None` when that does not happen within
/// [`MAX_SERIES_TERMS`].
pub(crate) fn sum_ratio_series(
    first: f64,
    start: usize,
    ratio: impl Fn(f64) -> f64,
) -> Option<f64> {
    let mut term = first;
    let mut sum = first;
    let mut n = start as f64;
    for _ in 0..MAX_SERIES_TERMS {
        let rho = ratio(n);
        term *= rho;
        sum += term;
        n += 1.0;
        if term == 0.0 {
            return Some(sum);
        }
        let tail_factor = if rho.abs() < 1.0 {
            1.0 / (1.0 - rho.abs())
        } else {
            f64::INFINITY
        };
        if (term * tail_factor).abs() <= SERIES_EPSILON * sum.abs() {
            return Some(sum);
        }
        if !sum.is_finite() {
            return None;
        }
    }
    None
}

/// The Gauss hypergeometric function `₂F₁(a, b; c; z)` by its power series, for
/// `|z| < 1` and `c` not a non-positive integer. `None` if the series does not converge.
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> Option<f64> {
    if z.is_nan() || z.abs() >= 1.0 || (c <= 0.0 && c.fract() == 0.0) {
        return None;
    }
    sum_ratio_series(1.0, 0, |n| (a + n) * (b + n) / ((c + n) * (n + 1.0)) * z)
}

/// Nodes and weights of the `n`-point Gauss-Legendre rule on [-1, 1]: exact for
/// polynomials of degree `2n - 1`. The nodes are the roots of the Legendre polynomial
/// `P_n`, found by Newton's method from the usual cosine guesses.
pub fn gauss_legendre(n: usize) -> Vec<(f64, f64)> {
    let mut rule = Vec::with_capacity(n);
    for i in 0..n {
        let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut derivative = 1.0;
        for _ in 0..100 {
            // P_n(x) and P_{n-1}(x) by the three-term recurrence.
            let (mut p0, mut p1) = (1.0, x);
            for k in 2..=n {
                let k = k as f64;
                let p2 = ((2.0 * k - 1.0) * x * p1 - (k - 1.0) * p0) / k;
                p0 = p1;
                p1 = p2;
            }
            let (value, previous) = if n == 0 { (1.0, 0.0) } else { (p1, p0) };
            derivative = n as f64 * (x * value - previous) / (x * x - 1.0);
            let step = value / derivative;
            x -= step;
            if step.abs() < 1e-16 {
                break;
            }
        }
        rule.push((x, 2.0 / ((1.0 - x * x) * derivative * derivative)));
    }
    rule
}

/// `ln(1 + e^x)` without overflow.
pub fn ln_1p_exp(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// The logistic function `1 / (1 + e^-x)` without overflow.
pub fn logistic(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauss_legendre_integrates_polynomials_and_exponentials() {
        let rule = gauss_legendre(16);
        assert!((rule.iter().map(|(_, w)| w).sum::<f64>() - 2.0).abs() < 1e-14);
        // ∫ x^30 over [-1, 1] = 2/31 (degree 30 ≤ 31 is exact).
        let x30: f64 = rule.iter().map(|(x, w)| w * x.powi(30)).sum();
        assert!((x30 - 2.0 / 31.0).abs() < 1e-14, "{x30}");
        // ∫ e^(2x) = sinh(2).
        let exp: f64 = rule.iter().map(|(x, w)| w * (2.0 * x).exp()).sum();
        assert!((exp - 2f64.sinh()).abs() < 1e-13, "{exp}");
    }

    const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

    fn assert_close(actual: f64, expected: f64, tol: f64) {
        let scale = expected.abs().max(1.0);
        assert!(
            (actual - expected).abs() <= tol * scale,
            "{actual} vs {expected} (tolerance {tol})"
        );
    }

    #[test]
    fn ln_gamma_matches_known_values() {
        assert_close(ln_gamma(1.0), 0.0, 1e-14);
        assert_close(ln_gamma(2.0), 0.0, 1e-14);
        assert_close(ln_gamma(0.5), std::f64::consts::PI.sqrt().ln(), 1e-14);
        assert_close(ln_gamma(10.0), (362_880.0f64).ln(), 1e-14);
        assert_close(ln_gamma(0.242_593), 1.319_815_984_069_629, 1e-14);
        assert_close(ln_gamma(1e-8), 18.420_680_738_180_21, 1e-14);
        // ln(170!) from the product, compared where the shift is not used.
        let ln_170_factorial: f64 = (1..=170).map(|k| (k as f64).ln()).sum();
        assert_close(ln_gamma(171.0), ln_170_factorial, 1e-14);
    }

    #[test]
    fn ln_gamma_satisfies_the_recurrence() {
        for &x in &[0.01, 0.3, 0.79, 2.42, 6.25, 9.99, 10.0, 37.5, 1234.5] {
            // The difference of two values of size |ln Γ(x + 1)| carries their rounding.
            let tolerance = 1e-14 * ln_gamma(x + 1.0).abs().max(1.0) / x.ln().abs().max(1.0);
            assert_close(ln_gamma(x + 1.0) - ln_gamma(x), x.ln(), tolerance);
        }
    }

    #[test]
    fn digamma_matches_known_values_and_the_derivative() {
        assert_close(digamma(1.0), -EULER_GAMMA, 1e-15);
        assert_close(digamma(0.5), -EULER_GAMMA - 2.0 * 2.0f64.ln(), 1e-15);
        for &x in &[0.05, 0.4, 1.7, 8.0, 15.0, 250.0] {
            let h = 1e-5 * x;
            let numeric = (ln_gamma(x + h) - ln_gamma(x - h)) / (2.0 * h);
            assert_close(digamma(x), numeric, 1e-8);
            assert_close(digamma(x + 1.0) - digamma(x), 1.0 / x, 1e-13);
        }
    }

    #[test]
    fn gamma_functions_reject_non_positive_arguments() {
        assert!(ln_gamma(0.0).is_nan());
        assert!(ln_gamma(-1.5).is_nan());
        assert!(digamma(-0.5).is_nan());
        assert!(ln_gamma(f64::NAN).is_nan());
    }

    #[test]
    fn hyp2f1_matches_closed_forms() {
        // ₂F₁(1, 1; 2; z) = -ln(1 - z) / z
        for &z in &[0.1, 0.5, 0.9, 0.99] {
            let expected = -(1.0f64 - z).ln() / z;
            assert_close(hyp2f1(1.0, 1.0, 2.0, z).unwrap(), expected, 1e-13);
        }
        // ₂F₁(a, b; b; z) = (1 - z)^-a
        assert_close(
            hyp2f1(0.7, 2.5, 2.5, 0.6).unwrap(),
            0.4f64.powf(-0.7),
            1e-13,
        );
        // ₂F₁(1/2, 1; 3/2; -z²) = atan(z) / z
        let z: f64 = 0.8;
        assert_close(hyp2f1(0.5, 1.0, 1.5, -z * z).unwrap(), z.atan() / z, 1e-13);
        assert!(hyp2f1(1.0, 1.0, 2.0, 1.0).is_none());
        assert!(hyp2f1(1.0, 1.0, -2.0, 0.5).is_none());
    }

    #[test]
    fn logistic_helpers_are_stable_at_the_extremes() {
        assert_eq!(logistic(800.0), 1.0);
        assert_eq!(logistic(-800.0), 0.0);
        assert_close(logistic(0.0), 0.5, 1e-16);
        assert_close(ln_1p_exp(800.0), 800.0, 1e-16);
        assert_close(ln_1p_exp(-800.0), 0.0, 1e-16);
        assert_close(ln_1p_exp(0.0), 2.0f64.ln(), 1e-16);
    }
}
