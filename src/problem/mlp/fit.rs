//! Training the network to a strict local minimum: gradient descent, then Levenberg–Marquardt.

use super::{FiniteSum, Mlp, MlpConfig, MlpMinimum, Spectrum};
use crate::error::{Error, Result};
use crate::linalg::{norm, Matrix};
use faer::linalg::solvers::Solve;

/// Gradient tolerance the fit must reach: ‖∇L(θ*)‖ ≤ 1e-8.
pub const GRADIENT_TOLERANCE: f64 = 1e-8;

/// Train the network to a strict local minimum and compute H*, C* exactly.
///
/// Fit on the unscaled loss (α = β = 1): 3000 steps at most of full-batch gradient descent with
/// Armijo backtracking (until ‖∇L‖ < 1e-3), then Levenberg–Marquardt steps −(H + μI)⁻¹∇L with
/// the exact Hessian (μ → 0 near the minimum: Newton), until ‖∇L‖ ≤ 1e-12·max(1, scale). The
/// sharpness/depth maps then give θ* = θ*₁/√α exactly, followed by a Newton polish.
///
/// Errors: invalid configuration; a fit that does not reach ‖∇L‖ ≤ 1e-8 or ends at a point whose
/// Hessian is not positive definite (increase `l2`).
pub fn fit(config: &MlpConfig) -> Result<MlpMinimum> {
    let base = Mlp::new(config)?;
    let unit = base.with_scaling(1.0, 1.0);
    let d = FiniteSum::dim(&unit);
    let mut theta = unit.initial_parameters(config.seed);
    let mut g = vec![0.0; d];
    let mut trial = vec![0.0; d];
    // 1. Gradient descent with Armijo backtracking.
    let mut loss = unit.gradient(&theta, &mut (), &mut g);
    let mut step = 1.0;
    let mut descent_iterations = 0;
    for _ in 0..3000 {
        let gn2: f64 = g.iter().map(|v| v * v).sum();
        if gn2.sqrt() < 1e-3 {
            break;
        }
        descent_iterations += 1;
        step *= 2.0;
        loop {
            for k in 0..d {
                trial[k] = theta[k] - step * g[k];
            }
            let lt = unit.loss(&trial, &mut ());
            if lt <= loss - 0.5 * step * gn2 || step < 1e-12 {
                break;
            }
            step *= 0.5;
        }
        theta.copy_from_slice(&trial);
        loss = unit.gradient(&theta, &mut (), &mut g);
    }
    // 2. Levenberg–Marquardt → Newton.
    let mut newton_iterations = newton(&unit, &mut theta, 1e-12, 500)?;
    // 3. Scaling maps: θ*_α = θ*/√α, then polish.
    let model = base;
    let sa = model.sqrt_alpha;
    for t in theta.iter_mut() {
        *t /= sa;
    }
    newton_iterations += newton(&model, &mut theta, 1e-12, 50)?;
    let loss = model.gradient(&theta, &mut (), &mut g);
    let gradient_norm = norm(&g);
    // (NaN fails too.)
    if gradient_norm.is_nan() || gradient_norm > GRADIENT_TOLERANCE {
        return Err(Error::numerical(
            "mlp fit",
            format!("‖∇L(θ*)‖ = {gradient_norm:.3e} > {GRADIENT_TOLERANCE:.0e} after {newton_iterations} Newton iterations"),
        ));
    }
    let mut hessian = Matrix::zeros(d);
    model.hessian(&theta, &mut hessian.data);
    let hessian_spectrum = Spectrum::of(&hessian, "mlp Hessian H*")?;
    if hessian_spectrum.lambda_min <= 0.0 {
        return Err(Error::NotPositiveDefinite {
            field: "mlp Hessian H*".into(),
            detail: format!(
                "λ_min = {:.3e}: the fit ended at a saddle; increase l2 (now {})",
                hessian_spectrum.lambda_min, config.l2
            ),
        });
    }
    let gradient_covariance = model.gradient_covariance(&theta);
    let covariance_spectrum = Spectrum::of(&gradient_covariance, "mlp gradient covariance C*")?;
    Ok(MlpMinimum {
        model,
        theta_star: theta,
        loss,
        gradient_norm,
        hessian,
        hessian_spectrum,
        gradient_covariance,
        covariance_spectrum,
        descent_iterations,
        newton_iterations,
    })
}

/// Levenberg–Marquardt steps with the exact Hessian until ‖∇L‖ ≤ tol (or no more progress);
/// returns the number of iterations.
fn newton(model: &Mlp, theta: &mut [f64], tol: f64, max_iter: usize) -> Result<usize> {
    let d = theta.len();
    let mut g = vec![0.0; d];
    let mut trial = vec![0.0; d];
    let mut gt = vec![0.0; d];
    let mut h = Matrix::zeros(d);
    let mut loss = model.gradient(theta, &mut (), &mut g);
    let mut mu = 1e-3 * model.beta * model.alpha;
    let mut it = 0;
    while it < max_iter && norm(&g) > tol {
        it += 1;
        model.hessian(theta, &mut h.data);
        let mut hm = h.to_faer();
        for i in 0..d {
            hm[(i, i)] += mu;
        }
        let Ok(llt) = hm.llt(faer::Side::Lower) else {
            mu = (mu * 10.0).max(1e-10);
            continue;
        };
        let rhs = faer::Mat::from_fn(d, 1, |i, _| g[i]);
        let s = llt.solve(&rhs);
        for k in 0..d {
            trial[k] = theta[k] - s[(k, 0)];
        }
        let lt = model.gradient(&trial, &mut (), &mut gt);
        // Near the minimum the loss stalls at rounding level: accept on a smaller gradient.
        let better = lt < loss || (lt <= loss + 1e-14 * loss.abs() && norm(&gt) < norm(&g));
        if better {
            theta.copy_from_slice(&trial);
            g.copy_from_slice(&gt);
            loss = lt;
            mu = if mu < 1e-12 { 0.0 } else { mu / 4.0 };
        } else {
            mu = (mu * 4.0).max(1e-10);
            if mu > 1e12 {
                break;
            }
        }
    }
    Ok(it)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::mlp::{MlpDataset, MAX_WIDTH};

    #[test]
    fn fit_reaches_a_strict_minimum() {
        let m = fit(&MlpConfig::default()).unwrap();
        assert_eq!(m.theta_star.len(), 49);
        assert!(m.gradient_norm <= GRADIENT_TOLERANCE, "{}", m.gradient_norm);
        let s = &m.hessian_spectrum;
        assert!(s.lambda_min > 0.0 && s.kappa.is_finite());
        // The L2 term alone bounds λ_min below by... nothing: λ_min ≥ λ only if the data part is
        // PSD, which it need not be. So check SPD and symmetry.
        let d = 49;
        for a in 0..d {
            for b in 0..d {
                assert_eq!(m.hessian.data[a * d + b], m.hessian.data[b * d + a]);
            }
        }
        // C* is PSD up to rounding; the regularised one is SPD with the requested floor.
        assert!(m.covariance_spectrum.lambda_min > -1e-12 * m.covariance_spectrum.lambda_max);
        let r = m.regularised_gradient_covariance(1e-6).unwrap();
        let s = Spectrum::of(&r, "C").unwrap();
        let want = 1e-6 * m.covariance_spectrum.lambda_max;
        assert!(
            (s.lambda_min - want).abs() < 1e-9 * want + 1e-15,
            "{} vs {want}",
            s.lambda_min
        );
        assert!(m.regularised_gradient_covariance(0.0).is_err());
    }

    #[test]
    fn sharpness_and_depth_maps_scale_the_hessian_exactly() {
        let base = fit(&MlpConfig::default()).unwrap();
        let (alpha, beta) = (4.0, 0.5);
        let sc = fit(&MlpConfig {
            sharpness: alpha,
            depth: beta,
            ..MlpConfig::default()
        })
        .unwrap();
        for (a, b) in base.theta_star.iter().zip(&sc.theta_star) {
            assert!((a / alpha.sqrt() - b).abs() < 1e-9);
        }
        let r = sc.hessian_spectrum.lambda_max / base.hessian_spectrum.lambda_max;
        assert!((r - alpha * beta).abs() < 1e-8 * alpha * beta, "{r}");
        assert!((sc.loss - beta * base.loss).abs() < 1e-12);
    }

    #[test]
    fn rejects_bad_configuration() {
        let bad = [
            MlpConfig {
                width: 0,
                ..MlpConfig::default()
            },
            MlpConfig {
                width: MAX_WIDTH + 1,
                ..MlpConfig::default()
            },
            MlpConfig {
                l2: -1.0,
                ..MlpConfig::default()
            },
            MlpConfig {
                sharpness: f64::NAN,
                ..MlpConfig::default()
            },
        ];
        for c in bad {
            assert!(matches!(fit(&c), Err(Error::Invalid { .. })));
        }
        assert!(MlpDataset::parse("mnist", "dataset").is_err());
    }
}
