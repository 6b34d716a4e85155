use super::*;

/// A quadratic with a known minimum and Hessian.
struct Quadratic;

impl Objective for Quadratic {
    fn value_and_gradient(&self, theta: &[f64], gradient: &mut [f64]) -> f64 {
        let (x, y) = (theta[0] - 1.0, theta[1] + 2.0);
        gradient[0] = 4.0 * x + y;
        gradient[1] = x + 2.0 * y;
        2.0 * x * x + x * y + y * y
    }
}

#[test]
fn both_stages_find_the_minimum_of_a_quadratic() {
    let estimate =
        maximise_likelihood("quadratic", &Quadratic, 1.0, None, &[5.0, 5.0], 100, 1e-9).unwrap();
    assert!((estimate.theta[0] - 1.0).abs() < 1e-8, "{estimate:?}");
    assert!((estimate.theta[1] + 2.0).abs() < 1e-8, "{estimate:?}");
    let mut gradient = [0.0; 2];
    assert!(
        Quadratic
            .value_and_gradient(&estimate.theta, &mut gradient)
            .abs()
            < 1e-15
    );
    assert!(estimate.standard_errors.is_some());
}

/// A likelihood that keeps rising as its one shape parameter grows: `e^-u` in
/// `u = ln θ`, over one observation, the shape of a maximum at the boundary.
struct Boundary;

impl Objective for Boundary {
    fn value_and_gradient(&self, theta: &[f64], gradient: &mut [f64]) -> f64 {
        gradient[0] = -(-theta[0]).exp();
        (-theta[0]).exp()
    }
}

impl Likelihood for Boundary {
    fn total_weight(&self) -> f64 {
        1.0
    }
}

#[test]
fn the_shape_prior_makes_a_boundary_maximum_interior() {
    let penalised = ShapePrior::new(&Boundary, &[0]);
    let estimate =
        maximise_likelihood("boundary", &penalised, 1.0, None, &[0.0], 500, 1e-4).unwrap();
    // −e^-u + λ(e^u − e^-u) = 0 at e^2u = (1 + λ) / λ.
    let optimum = 0.5 * ((1.0 + SHAPE_PRIOR) / SHAPE_PRIOR).ln();
    assert!(
        (estimate.theta[0] - optimum).abs() < 1e-3,
        "{estimate:?} against {optimum}"
    );
    assert!(gradient_check(&penalised, &[optimum - 1.0]) < 1e-6);
}

#[test]
fn a_stop_whose_newton_step_is_below_rounding_is_accepted() {
    // At the minimum of the quadratic, a gradient of 1e-7 promises a gain of 1e-15:
    // no line search could verify it.
    let theta = [1.0, -2.0];
    let gradient = [1e-7, 0.0];
    assert!(newton_step_is_unresolvable(
        &Quadratic, &theta, &gradient, 1.0, 1e-12
    ));
    // A gradient of 1e-3 promises 1e-7: that is still to be had.
    let gradient = [1e-3, 0.0];
    assert!(!newton_step_is_unresolvable(
        &Quadratic, &theta, &gradient, 1.0, 1e-12
    ));
}

#[test]
fn preconditioning_maps_gradients_and_parameters_consistently() {
    let lower = cholesky(&hessian(&Quadratic, &[0.3, 0.7])).unwrap();
    let preconditioned = Preconditioned {
        inner: &Quadratic,
        origin: vec![0.3, 0.7],
        lower,
    };
    assert!(gradient_check(&preconditioned, &[0.2, -0.4]) < 1e-6);
    // Curvature one in every direction: the Hessian in u is the identity.
    let h = hessian(&preconditioned, &[0.0, 0.0]);
    assert!(
        (h[0][0] - 1.0).abs() < 1e-6 && h[0][1].abs() < 1e-6 && (h[1][1] - 1.0).abs() < 1e-6,
        "{h:?}"
    );
}

#[test]
fn cholesky_refuses_indefinite_matrices() {
    assert!(cholesky(&[vec![1.0, 2.0], vec![2.0, 1.0]]).is_none());
    let lower = cholesky(&[vec![4.0, 2.0], vec![2.0, 3.0]]).unwrap();
    assert_eq!(lower, vec![vec![2.0, 0.0], vec![1.0, 2.0f64.sqrt()]]);
}

#[test]
fn standard_errors_invert_the_hessian() {
    // Hessian [[4, 1], [1, 2]] has inverse [[2, -1], [-1, 4]] / 7.
    let theta = [1.0, -2.0];
    let errors = standard_errors(&Quadratic, &theta, 1.0).unwrap();
    assert!((errors[0] - 1f64.exp() * (2.0f64 / 7.0).sqrt()).abs() < 1e-6);
    assert!((errors[1] - (-2f64).exp() * (4.0f64 / 7.0).sqrt()).abs() < 1e-6);
}

#[test]
fn singular_information_gives_no_standard_errors() {
    assert!(invert(vec![vec![1.0, 2.0], vec![2.0, 4.0]]).is_none());
}
