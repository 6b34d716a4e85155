//! BG/NBD's conditional expectations of purchases: given alive, given a churn
//! classifier's probability of no purchase in a window, and shared per distinct
//! `(x, T)`; by the transformed hypergeometric series or, where it cannot converge, by
//! quadrature over the dropout probability.

use super::{BgNbdCoefficients, FittedBgNbd};
use crate::distinct::Pairs;
use crate::error::ModelError;
use crate::history::RfmSummary;
use crate::special::{logistic, sum_ratio_series};

impl FittedBgNbd {
    /// E[purchases in the next `horizon` weeks] when the probability of no purchase in
    /// the next `window` weeks is known from elsewhere (a churn classifier) and BG/NBD
    /// supplies the rest. By total expectation
    /// `E[Y_h] = (1 − P0) · E[Y_h | Y_w > 0] + P0 · E[Y_h | Y_w = 0]`; both conditional
    /// expectations come from the model, where a quiet window is simply a longer
    /// observation, `E[Y_h | Y_w = 0] = E[Y_{h−w} | x, t_x, T + w]`, and only P0 is
    /// replaced. With the model's own P0 this is [`Self::expected_purchases`].
    pub fn expected_purchases_given_no_purchase(
        &self,
        s: &RfmSummary,
        horizon: f64,
        window: f64,
        prob_no_purchase: f64,
    ) -> Result<f64, ModelError> {
        let if_alive = self.expected_purchases_if_alive(s.frequency, s.age, horizon)?;
        let later_if_alive = if horizon > window {
            self.expected_purchases_if_alive(s.frequency, s.age + window, horizon - window)?
        } else {
            0.0
        };
        Ok(self.given_no_purchase(
            s,
            horizon,
            window,
            prob_no_purchase,
            if_alive,
            later_if_alive,
        ))
    }

    /// [`Self::expected_purchases_given_no_purchase`] from the two expectations that
    /// depend on `(x, T)` alone, for a scorer that shares them between customers:
    /// `if_alive` = E[Y_h | alive, x, T] and `later_if_alive` = E[Y_{h−w} | alive, x,
    /// T + w] (0 when `h ≤ w`).
    pub(crate) fn given_no_purchase(
        &self,
        s: &RfmSummary,
        horizon: f64,
        window: f64,
        prob_no_purchase: f64,
        if_alive: f64,
        later_if_alive: f64,
    ) -> f64 {
        let expected = self.p_alive(s) * if_alive;
        let model_p0 = self.prob_no_purchase(s, window);
        let if_quiet = if horizon > window {
            let later = RfmSummary {
                age: s.age + window,
                ..*s
            };
            self.p_alive(&later) * later_if_alive
        } else {
            0.0
        };
        // When the horizon covers the window, a purchase in the window is one in the
        // horizon too; the floor also guards the division when P0 is all but one.
        let floor = if horizon >= window { 1.0 } else { 0.0 };
        let if_active = if 1.0 - model_p0 > 1e-12 {
            ((expected - model_p0 * if_quiet) / (1.0 - model_p0)).max(floor)
        } else {
            floor + if_quiet
        };
        (1.0 - prob_no_purchase) * if_active + prob_no_purchase * if_quiet
    }

    /// `((α + T) / (α + T + t))^(r + x)`: the alive part of [`Self::prob_no_purchase`],
    /// which depends on `x` and `T` only.
    pub fn prob_no_purchase_if_alive(&self, frequency: f64, age: f64, horizon: f64) -> f64 {
        let BgNbdCoefficients { r, alpha, .. } = self.parameters;
        (-(r + frequency) * (horizon / (alpha + age)).ln_1p()).exp()
    }

    /// [`Self::expected_purchases_if_alive`] of every summary, computed once per distinct
    /// `(x, T)`.
    pub(crate) fn expected_purchases_if_alive_each(
        &self,
        summaries: &[RfmSummary],
        horizon: f64,
    ) -> Result<Vec<f64>, ModelError> {
        Pairs::new(summaries, |s| (s.frequency, s.age))
            .map(|x, age| self.expected_purchases_if_alive(x, age, horizon))
    }

    /// E[purchases in the next `horizon` weeks | alive at T, x, T]; times P(alive) this is
    /// the conditional expectation of FHL (2005) eq. 10. It depends on `x` and `T` only,
    /// so a scorer can share it between customers.
    ///
    /// Eq. 10 needs `(1-z)^(r+x) ₂F₁(r+x, b+x; a+b+x-1; z)` with `z = t / (α+T+t)`.
    /// Euler's transformation turns it into `(1-z)^(a-1) ₂F₁(a+b-1-r, a-1; a+b+x-1; z)`:
    /// the upper parameters no longer grow with `x`, nothing overflows, and the terms fall
    /// at least as fast as `z^n`. Writing that ₂F₁ as `1 + (a-1) G` leaves
    /// `(a+b+x-1) [(1 - (1-z)^(a-1)) / (a-1) - (1-z)^(a-1) G]`, which is smooth through
    /// `a = 1` where eq. 10 is 0/0.
    ///
    /// The series' terms first grow like `(1-z)^-(a-1)` before they fall, so for a
    /// large `a` (small shops, whose fit sits near the boundary `a, b → ∞`) they would
    /// overflow. There, and wherever the series does not converge in time, the
    /// expectation is computed from its definition instead: the expected count given
    /// the dropout probability `p`, `(1 − (1 + p·t/(α+T))^-(r+x)) / p`, averaged over
    /// `p ~ Beta(a, b+x)` by quadrature in `logit p`, which holds for any `a, b > 0`.
    pub fn expected_purchases_if_alive(
        &self,
        frequency: f64,
        age: f64,
        horizon: f64,
    ) -> Result<f64, ModelError> {
        if horizon <= 0.0 {
            return Ok(0.0);
        }
        let BgNbdCoefficients { r, alpha, a, b } = self.parameters;
        let x = frequency;
        let ln_one_minus_z = -(horizon / (alpha + age)).ln_1p();
        let z = horizon / (alpha + age + horizon);
        let c = a + b + x - 1.0;
        let upper = a + b - 1.0 - r;
        let a_minus_1 = a - 1.0;
        let by_quadrature = || {
            expected_purchases_by_quadrature(a, b + x, r + x, horizon / (alpha + age))
                .ok_or(ModelError::SeriesDiverged { horizon })
        };
        if a_minus_1 * -ln_one_minus_z > SERIES_GROWTH_LIMIT {
            return by_quadrature();
        }
        let first = if a_minus_1.abs() < 1e-12 {
            -ln_one_minus_z
        } else {
            -(a_minus_1 * ln_one_minus_z).exp_m1() / a_minus_1
        };
        // G = Σ_{n≥1} (upper)_n (a)_{n-1} z^n / ((c)_n n!); a horizon so long that z is
        // within a few millionths of one needs more terms than the series allows, and
        // the quadrature takes over there too.
        let Some(g) = sum_ratio_series(upper * z / c, 1, |n| {
            (upper + n) * (a_minus_1 + n) / ((c + n) * (n + 1.0)) * z
        }) else {
            return by_quadrature();
        };
        let expected = c * (first - (a_minus_1 * ln_one_minus_z).exp() * g);
        if expected.is_finite() {
            Ok(expected.max(0.0))
        } else {
            by_quadrature()
        }
    }
}

/// Above this `(a − 1) · ln(1/(1−z))` the terms of the series in
/// [`FittedBgNbd::expected_purchases_if_alive`] would grow by more than e^40 before
/// falling: the sum is then taken by quadrature instead.
const SERIES_GROWTH_LIMIT: f64 = 40.0;

/// Nodes beyond which the quadrature gives up (a dropout distribution wider than any
/// fit produces).
const MAX_QUADRATURE_NODES: usize = 1_000_000;

/// `E[purchases in t | alive at T]` from its definition. Given alive, the purchase rate
/// is Gamma(`shape` = r+x, α+T) and the dropout probability `p` Beta(a, `b_post` = b+x),
/// independently. With both fixed, purchases come at rate λ until a dropout that each
/// one causes with probability `p`, so the expected count in `t` is
/// `(1 − e^(−pλt)) / p`; over λ that is `(1 − (1 + p·u)^−shape) / p` with
/// `u = t / (α+T)`. The remaining average over `p` is an integral over `η = logit p`,
/// where the Beta density becomes smooth, unimodal and exponentially small in both
/// tails for every `a, b > 0`: the trapezoidal rule at a quarter of its width
/// converges geometrically, and normalising by the same sum spares the Beta function.
/// In the limit `a, b → ∞` with `a/(a+b) = π` this tends to the closed form
/// `(1 − (1 + π·u)^−shape) / π`, and as `π → 0` to the NBD's `shape · u`.
pub(super) fn expected_purchases_by_quadrature(
    a: f64,
    b_post: f64,
    shape: f64,
    u: f64,
) -> Option<f64> {
    let log_weight = |eta: f64| -a * (-eta).exp().ln_1p() - b_post * eta.exp().ln_1p();
    let count_given_dropout = |eta: f64| {
        let p = logistic(eta);
        if p > 0.0 {
            -(-shape * (p * u).ln_1p()).exp_m1() / p
        } else {
            shape * u
        }
    };
    let mode = a.ln() - b_post.ln();
    let step = ((a + b_post) / (a * b_post)).sqrt() / 4.0;
    let peak = log_weight(mode);
    if !(step.is_finite() && step > 0.0 && peak.is_finite()) {
        return None;
    }
    let (mut weighted, mut total) = (0.0, 0.0);
    for direction in [1.0, -1.0] {
        let first = if direction > 0.0 { 0 } else { 1 };
        for k in first..MAX_QUADRATURE_NODES {
            let eta = mode + direction * k as f64 * step;
            let relative = log_weight(eta) - peak;
            // e^-46 is 1e-20 of the peak: nothing beyond counts.
            if relative < -46.0 {
                break;
            }
            if k + 1 == MAX_QUADRATURE_NODES {
                return None;
            }
            let w = relative.exp();
            weighted += w * count_given_dropout(eta);
            total += w;
        }
    }
    let expected = weighted / total;
    expected.is_finite().then_some(expected)
}
