//! Maximum-likelihood machinery shared by the BG/NBD and Gamma-Gamma fits: argmin's
//! L-BFGS over log-parameters, standard errors from the observed information, and the
//! fit itself from a model's likelihood, start and settings to its coefficients.
//!
//! Models supply the *mean* negative log-likelihood, so gradients compare across data
//! sizes, and the stopping rule is stated in standard errors (see
//! [`maximise_likelihood`]): it means the same for a hundred customers and for a million.
//!
//! # Small data: maxima at the boundary
//! With a few dozen customers the likelihood often has no interior maximum: it keeps
//! rising as shape parameters run off to infinity or to zero along a ridge (BG/NBD's
//! `a, b → ∞` with `a / (a + b)` fixed: every customer has the same dropout probability;
//! `a, b → 0`: a share of customers leaves at once and the rest never do; Gamma-Gamma's
//! `p → ∞`, `γ → 0` with `pγ` fixed: no variation of spend within a customer; `q → ∞`:
//! none between customers). The fit then wanders along an almost flat ridge until the
//! line search cannot tell values apart. Every dimensionless shape parameter `θ` (see
//! [`LogScale::SHAPES`]) therefore carries a weak prior, the penalty
//! [`SHAPE_PRIOR`]` · (θ + 1/θ)` on the summed log-likelihood: negligible where the data
//! say anything (on the CDNOW sample it moves no printed digit), and growing without
//! bound at both ends, so the maximum is always interior and finite. The estimate sits
//! where the likelihood's last gains along the ridge are smaller than the penalty — a
//! point whose forecasts are those of the limit model to many digits.

use std::sync::Mutex;

use argmin::core::{CostFunction, Error as ArgminError, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use ndarray::Array1;

use crate::error::ModelError;

/// A smooth objective over log-parameters.
pub(crate) trait Objective: Sync {
    /// Writes the gradient into `gradient` and returns the value.
    fn value_and_gradient(&self, theta: &[f64], gradient: &mut [f64]) -> f64;
}

/// argmin asks for the cost and the gradient separately, often at the same point (the
/// line search, then L-BFGS again at the accepted step); both come from one pass over
/// the data, so the last pass is kept.
struct CachedProblem<'a, O> {
    objective: &'a O,
    last: Mutex<Option<Evaluation>>,
}

/// Parameters, value and gradient of one pass over the data.
type Evaluation = (Vec<f64>, f64, Vec<f64>);

impl<O: Objective> CachedProblem<'_, O> {
    fn evaluate(&self, theta: &Array1<f64>) -> Result<(f64, Array1<f64>), ArgminError> {
        let theta = theta
            .as_slice()
            .ok_or_else(|| ArgminError::msg("parameters not contiguous"))?;
        let mut last = self
            .last
            .lock()
            .map_err(|_| ArgminError::msg("objective cache poisoned"))?;
        if let Some((cached_theta, value, gradient)) = last.as_ref()
            && cached_theta.as_slice() == theta
        {
            return Ok((*value, Array1::from(gradient.clone())));
        }
        let mut gradient = vec![0.0; theta.len()];
        let value = self.objective.value_and_gradient(theta, &mut gradient);
        if !value.is_finite() || gradient.iter().any(|g| !g.is_finite()) {
            // The line search then backs off to a shorter step.
            return Err(ArgminError::msg("objective is not finite at this point"));
        }
        *last = Some((theta.to_vec(), value, gradient.clone()));
        Ok((value, Array1::from(gradient)))
    }
}

impl<O: Objective> CostFunction for CachedProblem<'_, O> {
    type Param = Array1<f64>;
    type Output = f64;

    fn cost(&self, theta: &Self::Param) -> Result<f64, ArgminError> {
        Ok(self.evaluate(theta)?.0)
    }
}

impl<O: Objective> Gradient for CachedProblem<'_, O> {
    type Param = Array1<f64>;
    type Gradient = Array1<f64>;

    fn gradient(&self, theta: &Self::Param) -> Result<Array1<f64>, ArgminError> {
        Ok(self.evaluate(theta)?.1)
    }
}

/// L-BFGS history length; the problems have three or four parameters.
const LBFGS_MEMORY: usize = 8;

/// Gradient norm (mean negative log-likelihood, log-parameters) at which the first,
/// unpreconditioned stage hands over: close enough for the Hessian there to be positive
/// definite and to describe the optimum's curvature.
const SCOUT_TOLERANCE: f64 = 1e-6;

/// Finest Newton decrement worth asking for: below it the changes in the mean
/// log-likelihood a line search has to compare approach the rounding of a sum over
/// hundreds of thousands of customers, and L-BFGS only spends evaluations on noise. At a
/// million customers it is still a thousandth of a standard error.
const RESOLUTION: f64 = 1e-6;

/// A stop short of the tolerance is accepted within this factor: the line search can
/// run out of representable decrease just before it.
const ACCEPTABLE_GRADIENT_FACTOR: f64 = 10.0;

/// Strength of the weak prior on shape parameters, in units of the summed
/// log-likelihood: the penalty is `SHAPE_PRIOR · (θ + 1/θ)` for each shape `θ`. At
/// 1e-6 its pull on the CDNOW fits is below a millionth of their values; on a ridge
/// it stops the shape near `√(c / SHAPE_PRIOR)` (or `√(SHAPE_PRIOR / c)` towards zero),
/// where `c` is the likelihood's remaining gain, a thousand or so for small shops.
pub(crate) const SHAPE_PRIOR: f64 = 1e-6;

/// A change of the mean negative log-likelihood below this fraction of its value is at
/// the level of the rounding of its sum: a line search cannot see it, so a stop whose
/// Newton step promises no more than this has reached what double precision resolves.
const VALUE_RESOLUTION: f64 = 1e-12;

/// A maximum-likelihood estimate.
#[derive(Debug, Clone)]
pub(crate) struct Estimate {
    pub theta: Vec<f64>,
    pub iterations: u64,
    /// Of `exp(θ)`; see [`standard_errors`].
    pub standard_errors: Option<Vec<f64>>,
}

/// Maximises a likelihood over `total_weight` observations in two L-BFGS stages.
///
/// 1. From `start`, on `scout` (a sample of the data, or the data itself when small),
///    to a moderate gradient.
/// 2. With the Hessian `H = L Lᵀ` there, L-BFGS runs again on all the data in
///    `u = Lᵀ (θ − θ₁)`, where the Hessian is close to the identity: a handful of
///    iterations instead of dozens, which is what matters when one evaluation is a pass
///    over a million customers. In `u` the gradient norm is the Newton decrement
///    `√(gᵀ H⁻¹ g)`, so `tolerance / √total_weight` bounds the distance to the optimum
///    in standard errors by about `tolerance`, whatever the parameters' scales (down to
///    the resolution double precision allows).
///
/// If `H` is not positive definite (a direction the data cannot pin down), the second
/// stage runs unpreconditioned.
pub(crate) fn maximise_likelihood<O: Objective>(
    model: &'static str,
    objective: &O,
    total_weight: f64,
    scout: Option<&O>,
    start: &[f64],
    max_iterations: u64,
    tolerance: f64,
) -> Result<Estimate, ModelError> {
    let scout = scout.unwrap_or(objective);
    let rough = minimize(model, scout, start, max_iterations, SCOUT_TOLERANCE)?;
    let polish_tolerance = (tolerance / total_weight.sqrt()).max(RESOLUTION);
    let (theta, polish_iterations) = match cholesky(&hessian(scout, &rough.theta)) {
        Some(lower) => {
            let preconditioned = Preconditioned {
                inner: objective,
                origin: rough.theta.clone(),
                lower,
            };
            let zero = vec![0.0; start.len()];
            let polished = minimize(
                model,
                &preconditioned,
                &zero,
                max_iterations,
                polish_tolerance,
            )?;
            (
                preconditioned.to_theta(&polished.theta),
                polished.iterations,
            )
        }
        None => {
            let polished = minimize(
                model,
                objective,
                &rough.theta,
                max_iterations,
                polish_tolerance,
            )?;
            (polished.theta, polished.iterations)
        }
    };
    let standard_errors = standard_errors(objective, &theta, total_weight);
    Ok(Estimate {
        theta,
        iterations: rough.iterations + polish_iterations,
        standard_errors,
    })
}

/// A mean negative log-likelihood that knows how many observations it averages over.
pub(crate) trait Likelihood: Objective {
    fn total_weight(&self) -> f64;
}

/// A model's coefficients: all positive, so the fits search their logarithms.
pub(crate) trait LogScale<const N: usize>: Copy {
    /// Positions of the dimensionless shape parameters, which carry the weak prior
    /// [`SHAPE_PRIOR`]; scales (with units of time or money) carry none.
    const SHAPES: &'static [usize];

    fn to_array(self) -> [f64; N];
    fn from_array(values: [f64; N]) -> Self;

    fn to_log(self) -> [f64; N] {
        self.to_array().map(f64::ln)
    }

    fn from_log(theta: &[f64]) -> Self {
        Self::from_array(std::array::from_fn(|i| theta[i].exp()))
    }

    fn all_positive(self) -> bool {
        self.to_array().iter().all(|v| v.is_finite() && *v > 0.0)
    }
}

/// What a fit found.
pub(crate) struct Fit<C> {
    pub coefficients: C,
    /// Of the coefficients themselves; `None` if the information was singular.
    pub standard_errors: Option<C>,
    /// Summed over the observations.
    pub log_likelihood: f64,
    pub iterations: u64,
}

/// The settings every likelihood fit has; see [`maximise_likelihood`] for their meaning.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FitSettings {
    pub max_iterations: u64,
    pub tolerance: f64,
    /// The first stage runs on a systematic sample of this size (see
    /// [`systematic_sample`]); 0 never samples.
    pub warm_start_sample: usize,
}

impl FitSettings {
    pub(crate) fn check(&self) -> Result<(), ModelError> {
        if self.max_iterations == 0 {
            return Err(ModelError::InvalidParameter {
                name: "max_iterations",
                reason: "must be at least 1".into(),
            });
        }
        if !(self.tolerance.is_finite() && self.tolerance > 0.0) {
            return Err(ModelError::InvalidParameter {
                name: "tolerance",
                reason: format!("must be a positive number, got {}", self.tolerance),
            });
        }
        Ok(())
    }
}

/// Fits a model's coefficients on `data` from `start`: `likelihood` is built on all the
/// data and, where it pays, on a sample of it for the first stage.
pub(crate) fn fit<T: Copy, L: Likelihood, C: LogScale<N>, const N: usize>(
    model: &'static str,
    data: &[T],
    likelihood: impl Fn(&[T]) -> L,
    start: C,
    settings: FitSettings,
) -> Result<Fit<C>, ModelError> {
    let likelihood_of_all = likelihood(data);
    let objective = ShapePrior::new(&likelihood_of_all, C::SHAPES);
    let scout_likelihood =
        systematic_sample(data, settings.warm_start_sample).map(|s| likelihood(&s));
    let scout = scout_likelihood
        .as_ref()
        .map(|scout| ShapePrior::new(scout, C::SHAPES));
    let estimate = maximise_likelihood(
        model,
        &objective,
        likelihood_of_all.total_weight(),
        scout.as_ref(),
        &start.to_log(),
        settings.max_iterations,
        settings.tolerance,
    )?;
    // The log-likelihood reported is the data's alone, without the prior.
    let mut gradient = vec![0.0; N];
    let mean_negative = likelihood_of_all.value_and_gradient(&estimate.theta, &mut gradient);
    Ok(Fit {
        coefficients: C::from_log(&estimate.theta),
        standard_errors: estimate
            .standard_errors
            .map(|e| C::from_array(std::array::from_fn(|i| e[i]))),
        log_likelihood: -mean_negative * likelihood_of_all.total_weight(),
        iterations: estimate.iterations,
    })
}

/// A likelihood with the weak prior on its shape parameters (see the module header):
/// `SHAPE_PRIOR · Σ (θ + 1/θ)` added to the summed negative log-likelihood, so
/// `SHAPE_PRIOR / total_weight` times it to the mean.
pub(crate) struct ShapePrior<'a, L> {
    inner: &'a L,
    shapes: &'static [usize],
    per_observation: f64,
}

impl<'a, L: Likelihood> ShapePrior<'a, L> {
    pub(crate) fn new(inner: &'a L, shapes: &'static [usize]) -> Self {
        ShapePrior {
            inner,
            shapes,
            per_observation: SHAPE_PRIOR / inner.total_weight().max(1.0),
        }
    }
}

impl<L: Likelihood> Objective for ShapePrior<'_, L> {
    fn value_and_gradient(&self, theta: &[f64], gradient: &mut [f64]) -> f64 {
        let mut value = self.inner.value_and_gradient(theta, gradient);
        for &i in self.shapes {
            // θ + 1/θ = e^u + e^-u in u = ln θ, derivative e^u − e^-u.
            let (up, down) = (theta[i].exp(), (-theta[i]).exp());
            value += self.per_observation * (up + down);
            gradient[i] += self.per_observation * (up - down);
        }
        value
    }
}

struct Optimum {
    theta: Vec<f64>,
    iterations: u64,
}

/// L-BFGS runs restarted from the best point so far after a stop short of the optimum.
/// Along a nearly flat ridge the curvature L-BFGS remembers can be so small that its
/// next trial step lands where the likelihood is not even finite (a shape of e^-300);
/// More-Thuente then gives up rather than shortening the step. A restart forgets that
/// curvature and begins again with a short gradient step.
const RESTARTS: usize = 4;

/// Minimises `objective` from `start` and insists the gradient has become small (or the
/// remaining Newton step unresolvable, see [`newton_step_is_unresolvable`]): a stop for
/// any other reason, after [`RESTARTS`] fresh starts that still improved the value, is
/// reported as an error rather than returned as a fit.
fn minimize<O: Objective>(
    model: &'static str,
    objective: &O,
    start: &[f64],
    max_iterations: u64,
    gradient_tolerance: f64,
) -> Result<Optimum, ModelError> {
    let acceptable = ACCEPTABLE_GRADIENT_FACTOR * gradient_tolerance;
    let mut from = start.to_vec();
    let mut previous_value = f64::INFINITY;
    let mut iterations = 0;
    for _ in 0..=RESTARTS {
        let run = run_lbfgs(model, objective, &from, max_iterations, gradient_tolerance)?;
        iterations += run.iterations;
        let mut gradient = vec![0.0; run.theta.len()];
        let value = objective.value_and_gradient(&run.theta, &mut gradient);
        let gradient_norm = norm(&gradient);
        let converged = value.is_finite()
            && !gradient_norm.is_nan()
            && (gradient_norm <= acceptable
                || newton_step_is_unresolvable(
                    objective, &run.theta, &gradient, value, acceptable,
                ));
        if converged {
            return Ok(Optimum {
                theta: run.theta,
                iterations,
            });
        }
        if !(value.is_finite() && value < previous_value) {
            return Err(ModelError::NotConverged {
                model,
                iterations,
                gradient_norm,
                reason: run.reason,
            });
        }
        previous_value = value;
        from = run.theta;
    }
    let mut gradient = vec![0.0; from.len()];
    objective.value_and_gradient(&from, &mut gradient);
    Err(ModelError::NotConverged {
        model,
        iterations,
        gradient_norm: norm(&gradient),
        reason: format!("still improving after {RESTARTS} restarts"),
    })
}

/// Where one L-BFGS run stopped, and why.
struct Run {
    theta: Vec<f64>,
    iterations: u64,
    reason: String,
}

fn run_lbfgs<O: Objective>(
    model: &'static str,
    objective: &O,
    start: &[f64],
    max_iterations: u64,
    gradient_tolerance: f64,
) -> Result<Run, ModelError> {
    let problem = CachedProblem {
        objective,
        last: Mutex::new(None),
    };
    let optimisation_error = |source: ArgminError| ModelError::Optimisation {
        model,
        message: source.to_string(),
    };
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), LBFGS_MEMORY)
        .with_tolerance_grad(gradient_tolerance)
        .and_then(|solver| solver.with_tolerance_cost(0.0))
        .map_err(optimisation_error)?;
    let result = Executor::new(problem, solver)
        .configure(|state| {
            state
                .param(Array1::from(start.to_vec()))
                .max_iters(max_iterations)
        })
        .run()
        .map_err(optimisation_error)?;
    let state = result.state();
    let theta = state
        .get_best_param()
        .and_then(|theta| theta.as_slice().map(<[f64]>::to_vec))
        .ok_or_else(|| ModelError::Optimisation {
            model,
            message: "no parameters were evaluated".into(),
        })?;
    Ok(Run {
        theta,
        iterations: state.get_iter(),
        reason: state
            .get_termination_reason()
            .map(|reason| reason.to_string())
            .unwrap_or_default(),
    })
}

/// Whether a stop with a gradient above the tolerance is nevertheless at the optimum as
/// far as the arithmetic can tell: the Hessian there is positive definite and the Newton
/// step it implies is either within the tolerance in the metric of the Hessian (the
/// Newton decrement `√(gᵀH⁻¹g)`, the same measure the preconditioned stage uses) or
/// would improve the value by less than its rounding ([`VALUE_RESOLUTION`]). On a flat
/// ridge the gradient can stay at 1e-5 while the promised gain is 1e-14: L-BFGS then
/// stops because no step is measurably better, and that stop is the answer.
fn newton_step_is_unresolvable<O: Objective>(
    objective: &O,
    theta: &[f64],
    gradient: &[f64],
    value: f64,
    tolerance: f64,
) -> bool {
    let Some(lower) = cholesky(&hessian(objective, theta)) else {
        return false;
    };
    // ‖L⁻¹g‖² = gᵀH⁻¹g.
    let n = gradient.len();
    let mut w = vec![0.0; n];
    for i in 0..n {
        let known: f64 = (0..i).map(|k| lower[i][k] * w[k]).sum();
        w[i] = (gradient[i] - known) / lower[i][i];
    }
    let decrement_squared: f64 = w.iter().map(|v| v * v).sum();
    decrement_squared.is_finite()
        && (decrement_squared.sqrt() <= tolerance
            || 0.5 * decrement_squared <= VALUE_RESOLUTION * value.abs().max(1.0))
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// `objective` seen through `θ = origin + L⁻ᵀ u`; its gradient in `u` is `L⁻¹ ∇θ`.
struct Preconditioned<'a, O> {
    inner: &'a O,
    origin: Vec<f64>,
    /// Lower-triangular Cholesky factor of the Hessian at `origin`.
    lower: Vec<Vec<f64>>,
}

impl<O: Objective> Preconditioned<'_, O> {
    fn to_theta(&self, u: &[f64]) -> Vec<f64> {
        // Back substitution for Lᵀ v = u.
        let n = u.len();
        let mut v = vec![0.0; n];
        for i in (0..n).rev() {
            let known: f64 = (i + 1..n).map(|k| self.lower[k][i] * v[k]).sum();
            v[i] = (u[i] - known) / self.lower[i][i];
        }
        self.origin.iter().zip(v).map(|(o, d)| o + d).collect()
    }
}

impl<O: Objective> Objective for Preconditioned<'_, O> {
    fn value_and_gradient(&self, u: &[f64], gradient: &mut [f64]) -> f64 {
        let theta = self.to_theta(u);
        let mut inner_gradient = vec![0.0; u.len()];
        let value = self.inner.value_and_gradient(&theta, &mut inner_gradient);
        // Forward substitution for L w = ∇θ.
        for i in 0..u.len() {
            let known: f64 = (0..i).map(|k| self.lower[i][k] * gradient[k]).sum();
            gradient[i] = (inner_gradient[i] - known) / self.lower[i][i];
        }
        value
    }
}

/// `H = L Lᵀ`, or `None` unless `H` is symmetric positive definite.
fn cholesky(matrix: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let n = matrix.len();
    let mut lower = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let sum: f64 = (0..j).map(|k| lower[i][k] * lower[j][k]).sum();
            if i == j {
                let pivot = matrix[i][i] - sum;
                if !(pivot > 0.0 && pivot.is_finite()) {
                    return None;
                }
                lower[i][j] = pivot.sqrt();
            } else {
                lower[i][j] = (matrix[i][j] - sum) / lower[j][j];
            }
        }
    }
    Some(lower)
}

/// Every k-th item, about `size` of them, when there are more than four times `size`
/// (below that a warm start saves less than it costs). Systematic rather than random
/// so a fit is reproducible, and stratified by whatever order the input has.
pub(crate) fn systematic_sample<T: Copy>(items: &[T], size: usize) -> Option<Vec<T>> {
    if size == 0 || items.len() <= 4 * size {
        return None;
    }
    Some(items.iter().step_by(items.len() / size).copied().collect())
}

/// Hessian of `objective` at `theta` by central differences of the analytic gradient,
/// symmetrised.
fn hessian<O: Objective>(objective: &O, theta: &[f64]) -> Vec<Vec<f64>> {
    let n = theta.len();
    let step = 1e-5;
    let mut hessian = vec![vec![0.0; n]; n];
    let mut plus = vec![0.0; n];
    let mut minus = vec![0.0; n];
    let mut shifted = theta.to_vec();
    for j in 0..n {
        shifted[j] = theta[j] + step;
        objective.value_and_gradient(&shifted, &mut plus);
        shifted[j] = theta[j] - step;
        objective.value_and_gradient(&shifted, &mut minus);
        shifted[j] = theta[j];
        for i in 0..n {
            hessian[i][j] = (plus[i] - minus[i]) / (2.0 * step);
        }
    }
    (0..n)
        .map(|i| {
            (0..n)
                .map(|j| 0.5 * (hessian[i][j] + hessian[j][i]))
                .collect()
        })
        .collect()
}

/// Standard errors of `exp(θ)` at an optimum of a mean negative log-likelihood over
/// `total_weight` observations: the observed information is `total_weight` times the
/// mean's Hessian, and the delta method carries the log-scale variances to the
/// parameters. `None` when the information is not positive definite (a flat direction:
/// the data cannot pin a parameter down).
pub(crate) fn standard_errors<O: Objective>(
    objective: &O,
    theta: &[f64],
    total_weight: f64,
) -> Option<Vec<f64>> {
    let information: Vec<Vec<f64>> = hessian(objective, theta)
        .into_iter()
        .map(|row| row.into_iter().map(|h| h * total_weight).collect())
        .collect();
    let covariance = invert(information)?;
    (0..theta.len())
        .map(|i| {
            let variance = covariance[i][i];
            (variance > 0.0 && variance.is_finite()).then(|| theta[i].exp() * variance.sqrt())
        })
        .collect()
}

/// Gauss-Jordan inversion with partial pivoting, for the small matrices here.
fn invert(mut matrix: Vec<Vec<f64>>) -> Option<Vec<Vec<f64>>> {
    let n = matrix.len();
    let mut inverse: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| f64::from(u8::from(i == j))).collect())
        .collect();
    for column in 0..n {
        let pivot = (column..n)
            .max_by(|&a, &b| matrix[a][column].abs().total_cmp(&matrix[b][column].abs()))?;
        if matrix[pivot][column].is_nan() || matrix[pivot][column].abs() <= 1e-300 {
            return None;
        }
        matrix.swap(column, pivot);
        inverse.swap(column, pivot);
        let scale = 1.0 / matrix[column][column];
        for j in 0..n {
            matrix[column][j] *= scale;
            inverse[column][j] *= scale;
        }
        for row in 0..n {
            if row != column {
                let factor = matrix[row][column];
                for j in 0..n {
                    matrix[row][j] -= factor * matrix[column][j];
                    inverse[row][j] -= factor * inverse[column][j];
                }
            }
        }
    }
    Some(inverse)
}

/// The largest absolute difference between an analytic gradient and central
/// differences of the value, relative to the gradient's scale.
#[cfg(test)]
pub(crate) fn gradient_check<O: Objective>(objective: &O, theta: &[f64]) -> f64 {
    let n = theta.len();
    let mut analytic = vec![0.0; n];
    objective.value_and_gradient(theta, &mut analytic);
    let mut scratch = vec![0.0; n];
    let mut worst: f64 = 0.0;
    for j in 0..n {
        let step = 1e-6;
        let mut shifted = theta.to_vec();
        shifted[j] += step;
        let up = objective.value_and_gradient(&shifted, &mut scratch);
        shifted[j] = theta[j] - step;
        let down = objective.value_and_gradient(&shifted, &mut scratch);
        let numeric = (up - down) / (2.0 * step);
        worst = worst.max((numeric - analytic[j]).abs() / analytic[j].abs().max(1e-3));
    }
    worst
}

#[cfg(test)]
mod tests;
