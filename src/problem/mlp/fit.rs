//! Training the network to a strict local minimum: gradient descent, then Levenberg–Marquardt.

use super::degeneracy::{Degeneracy, DegeneracyTolerances};
use super::minimum::{RejectedSeed, SeedSelection};
use super::{FiniteSum, Mlp, MlpConfig, MlpMinimum, Spectrum};
use crate::error::{Error, Result};
use crate::linalg::{norm, Matrix};
use faer::linalg::solvers::Solve;

/// Gradient tolerance the fit must reach: ‖∇L(θ*)‖ ≤ 1e-8.
pub const GRADIENT_TOLERANCE: f64 = 1e-8;

/// Number of seeds [`fit`] tries when `refit_degenerate` is on: the configured seed s, then
/// s + 1, …, s + 15.
pub const REFIT_SEEDS: usize = 16;

/// Train the network to a strict, non-degenerate local minimum and compute H*, C* exactly.
///
/// Each candidate seed is fitted on the unscaled loss (α = β = 1): 3000 steps at most of
/// full-batch gradient descent with Armijo backtracking (until ‖∇L‖ < 1e-3; if it has not got
/// there, L-BFGS to ‖∇L‖ ≤ 1e-6), then Levenberg–Marquardt steps −(H + μI)⁻¹∇L with the exact Hessian (μ → 0 near the minimum:
/// Newton), until ‖∇L‖ ≤ 1e-12, and checked by [`Degeneracy::check`] with the default
/// [`DegeneracyTolerances`]. With `refit_degenerate` (the default) a degenerate candidate, or one
/// whose fit fails, is rejected and the next seed s + k is tried, up to [`REFIT_SEEDS`] seeds; the
/// first non-degenerate one is used. If none is, the least degenerate ([`Degeneracy::severity`],
/// earliest seed on ties) is returned with `degeneracy.degenerate = true` and
/// `selection.all_degenerate = true`: the width is then intrinsically degenerate for this data
/// set and λ (not an error). The choice is made on the unscaled loss, so every (α, β) picks the
/// same seed. The sharpness/depth maps then give θ* = θ*₁/√α exactly, followed by a Newton polish,
/// and the checks are repeated at the final θ* (they are invariant under the maps).
///
/// Errors: invalid configuration; with `refit_degenerate` off, a fit that does not reach
/// ‖∇L‖ ≤ 1e-8 or ends at a point whose Hessian is not positive definite (increase `l2`); with it
/// on, the first such failure when every candidate failed.
pub fn fit(config: &MlpConfig) -> Result<MlpMinimum> {
    let base = Mlp::new(config)?;
    check_dense_memory(&base, crate::resources::available_bytes())?;
    let unit = base.with_scaling(1.0, 1.0);
    let tol = DegeneracyTolerances::default();
    let tries = if config.refit_degenerate {
        REFIT_SEEDS
    } else {
        1
    };
    let mut rejected = Vec::new();
    let mut best: Option<(Candidate, Degeneracy)> = None;
    let mut first_error = None;
    for k in 0..tries {
        let seed = config.seed.wrapping_add(k as u64);
        let checked = train(&unit, seed).and_then(|c| {
            let (h, cov) = spectra(&unit, &c.theta)?;
            let dg = Degeneracy::check(&unit, &c.theta, &h.eigenvalues, &cov.eigenvalues, &tol)?;
            Ok((c, dg))
        });
        let (c, dg) = match checked {
            Ok(v) => v,
            Err(e) if config.refit_degenerate => {
                rejected.push(RejectedSeed {
                    seed,
                    reasons: vec![format!("fit failed: {e}")],
                });
                first_error.get_or_insert(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        if !dg.degenerate {
            best = Some((c, dg));
            break;
        }
        rejected.push(RejectedSeed {
            seed,
            reasons: dg.reasons.clone(),
        });
        // Keep the least degenerate; on ties the earlier seed.
        if best
            .as_ref()
            .is_none_or(|(_, b)| dg.severity() < b.severity())
        {
            best = Some((c, dg));
        }
    }
    let Some((chosen, unit_check)) = best else {
        return Err(first_error
            .unwrap_or_else(|| Error::numerical("mlp fit", "no candidate seed was fitted")));
    };
    let all_degenerate = unit_check.degenerate;
    let selection = SeedSelection {
        configured_seed: config.seed,
        seed: chosen.seed,
        refit_degenerate: config.refit_degenerate,
        tried: if all_degenerate {
            rejected.len()
        } else {
            rejected.len() + 1
        },
        rejected: if all_degenerate {
            rejected
                .into_iter()
                .filter(|r| r.seed != chosen.seed)
                .collect()
        } else {
            rejected
        },
        all_degenerate,
    };
    finish(base, chosen, selection, &tol)
}

/// Peak bytes of the dense fit at width w with p inputs and N examples: H*, C*, the
/// Levenberg–Marquardt copy and its Cholesky factor, the two eigendecompositions' vectors
/// and workspace (6 d² values), plus the N per-example gradients of C* (or the Hessian's N×d Jacobian).
fn dense_fit_bytes(width: u64, inputs: u64, examples: u64) -> u64 {
    let d = width * (inputs + 2) + 1;
    crate::resources::product(&[6, d, d, 8])
        .saturating_add(crate::resources::product(&[examples, d, 8]))
}

/// Refuse a width whose dense fit needs more than `cap` bytes, with the estimate.
fn check_dense_memory(model: &Mlp, cap: u64) -> Result<()> {
    let (w, p, n) = (
        model.width() as u64,
        model.inputs() as u64,
        model.num_examples() as u64,
    );
    let fits = crate::resources::largest_fitting(1, w, cap, |w| dense_fit_bytes(w, p, n));
    crate::resources::check_memory_against(
        crate::resources::Estimate {
            flag: "width",
            value: w.to_string(),
            what: "the dense fit (H*, C* and their factorisations)",
            bytes: dense_fit_bytes(w, p, n),
            formula: format!("6·d² + N·d values of 8 bytes, d = {}", model.dim()),
            advice: format!(
                "use width ≤ {}, or the matrix-free Hessian (MlpHessian with matfree::lanczos; `cargo run --release --example mlp_lanczos`)",
                fits.unwrap_or(0)
            ),
        },
        cap,
    )
}

/// One candidate fit on the unscaled loss.
struct Candidate {
    seed: u64,
    theta: Vec<f64>,
    descent_iterations: usize,
    newton_iterations: usize,
}

/// Gradient descent with Armijo backtracking (then L-BFGS if it stalls), then
/// Levenberg–Marquardt → Newton, from the
/// initial parameters of `seed`; checks the gradient tolerance.
fn train(unit: &Mlp, seed: u64) -> Result<Candidate> {
    let mut theta = unit.initial_parameters(seed);
    let mut descent_iterations = descend(unit, &mut theta);
    if descent_iterations >= DESCENT_STEPS {
        // Gradient descent stalled in a flat valley (wide networks, small λ): L-BFGS crosses it
        // in far fewer gradients, and Levenberg–Marquardt then starts where Newton converges.
        descent_iterations += quasi_newton(unit, &mut theta);
    }
    let newton_iterations = newton(unit, &mut theta, 1e-12, 500)?;
    check_gradient(unit, &theta, newton_iterations)?;
    Ok(Candidate {
        seed,
        theta,
        descent_iterations,
        newton_iterations,
    })
}

/// Most steps of [`descend`].
const DESCENT_STEPS: usize = 3000;

/// The full-batch loss for argmin.
struct Loss<'a>(&'a Mlp);

impl argmin::core::CostFunction for Loss<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, theta: &Vec<f64>) -> std::result::Result<f64, argmin::core::Error> {
        Ok(self.0.loss(theta, &mut ()))
    }
}

impl argmin::core::Gradient for Loss<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, theta: &Vec<f64>) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        let mut g = vec![0.0; theta.len()];
        self.0.gradient(theta, &mut (), &mut g);
        Ok(g)
    }
}

/// L-BFGS (memory 20, Moré–Thuente line search) from θ until ‖∇L‖ ≤ 1e-6, at most 20 000
/// iterations; θ is replaced only by a point of lower loss. Returns the iterations taken.
fn quasi_newton(model: &Mlp, theta: &mut [f64]) -> usize {
    use argmin::core::{Executor, State};
    let Ok(solver) = argmin::solver::quasinewton::LBFGS::new(
        argmin::solver::linesearch::MoreThuenteLineSearch::new(),
        20,
    )
    .with_tolerance_grad(1e-6)
    .and_then(|s| s.with_tolerance_cost(0.0)) else {
        return 0;
    };
    let start = model.loss(theta, &mut ());
    let Ok(res) = Executor::new(Loss(model), solver)
        .configure(|st| st.param(theta.to_vec()).max_iters(20_000))
        .run()
    else {
        return 0;
    };
    let iterations = res.state.get_iter() as usize;
    if let Some(best) = res.state.get_best_param() {
        if best.iter().all(|v| v.is_finite()) && model.loss(best, &mut ()) < start {
            theta.copy_from_slice(best);
        }
    }
    iterations
}

/// Full-batch gradient descent with Armijo backtracking from θ until ‖∇L‖ < 1e-3 (at most
/// [`DESCENT_STEPS`] steps): the first phase of both fits. Returns the steps taken.
pub(super) fn descend(model: &Mlp, theta: &mut [f64]) -> usize {
    let d = FiniteSum::dim(model);
    let mut g = vec![0.0; d];
    let mut trial = vec![0.0; d];
    let mut loss = model.gradient(theta, &mut (), &mut g);
    let mut step = 1.0;
    let mut iterations = 0;
    for _ in 0..DESCENT_STEPS {
        let gn2: f64 = g.iter().map(|v| v * v).sum();
        if gn2.sqrt() < 1e-3 {
            break;
        }
        iterations += 1;
        step *= 2.0;
        loop {
            for k in 0..d {
                trial[k] = theta[k] - step * g[k];
            }
            let lt = model.loss(&trial, &mut ());
            if lt <= loss - 0.5 * step * gn2 || step < 1e-12 {
                break;
            }
            step *= 0.5;
        }
        theta.copy_from_slice(&trial);
        loss = model.gradient(theta, &mut (), &mut g);
    }
    iterations
}

/// Error unless ‖∇L(θ)‖ ≤ [`GRADIENT_TOLERANCE`] (NaN fails too); returns (L, ‖∇L‖).
fn check_gradient(model: &Mlp, theta: &[f64], newton_iterations: usize) -> Result<(f64, f64)> {
    let mut g = vec![0.0; theta.len()];
    let loss = model.gradient(theta, &mut (), &mut g);
    let gradient_norm = norm(&g);
    if gradient_norm.is_nan() || gradient_norm > GRADIENT_TOLERANCE {
        return Err(Error::numerical(
            "mlp fit",
            format!("‖∇L(θ*)‖ = {gradient_norm:.3e} > {GRADIENT_TOLERANCE:.0e} after {newton_iterations} Newton iterations"),
        ));
    }
    Ok((loss, gradient_norm))
}

/// Spectra of H(θ) (error unless positive definite) and C(θ).
fn spectra(model: &Mlp, theta: &[f64]) -> Result<(Spectrum, Spectrum)> {
    let mut hessian = Matrix::zeros(theta.len());
    model.hessian(theta, &mut hessian.data);
    let h = positive_definite(Spectrum::of(&hessian, "mlp Hessian H*")?, model.l2)?;
    let c = Spectrum::of(
        &model.gradient_covariance(theta),
        "mlp gradient covariance C*",
    )?;
    Ok((h, c))
}

fn positive_definite(s: Spectrum, l2: f64) -> Result<Spectrum> {
    if s.lambda_min <= 0.0 {
        return Err(Error::NotPositiveDefinite {
            field: "mlp Hessian H*".into(),
            detail: format!(
                "λ_min = {:.3e}: the fit ended at a saddle; increase l2 (now {l2})",
                s.lambda_min
            ),
        });
    }
    Ok(s)
}

/// Apply the scaling maps θ*_α = θ*₁/√α, polish, and compute H*, C* and the checks at θ*_α.
fn finish(
    model: Mlp,
    chosen: Candidate,
    selection: SeedSelection,
    tol: &DegeneracyTolerances,
) -> Result<MlpMinimum> {
    let mut theta = chosen.theta;
    let sa = model.sqrt_alpha;
    for t in theta.iter_mut() {
        *t /= sa;
    }
    let newton_iterations = chosen.newton_iterations + newton(&model, &mut theta, 1e-12, 50)?;
    let (loss, gradient_norm) = check_gradient(&model, &theta, newton_iterations)?;
    let mut hessian = Matrix::zeros(theta.len());
    model.hessian(&theta, &mut hessian.data);
    let hessian_spectrum = positive_definite(Spectrum::of(&hessian, "mlp Hessian H*")?, model.l2)?;
    let gradient_covariance = model.gradient_covariance(&theta);
    let covariance_spectrum = Spectrum::of(&gradient_covariance, "mlp gradient covariance C*")?;
    let degeneracy = Degeneracy::check(
        &model,
        &theta,
        &hessian_spectrum.eigenvalues,
        &covariance_spectrum.eigenvalues,
        tol,
    )?;
    Ok(MlpMinimum {
        model,
        theta_star: theta,
        loss,
        gradient_norm,
        hessian,
        hessian_spectrum,
        gradient_covariance,
        covariance_spectrum,
        descent_iterations: chosen.descent_iterations,
        newton_iterations,
        degeneracy,
        selection,
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
    // H(θ) changes only when a step is accepted; a rejected step retries with a larger μ.
    let mut stale = true;
    while it < max_iter && norm(&g) > tol {
        it += 1;
        if stale {
            model.hessian(theta, &mut h.data);
            stale = false;
        }
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
            stale = true;
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
        assert_eq!(m.theta_star.len(), 19);
        assert!(m.gradient_norm <= GRADIENT_TOLERANCE, "{}", m.gradient_norm);
        let s = &m.hessian_spectrum;
        assert!(s.lambda_min > 0.0 && s.kappa.is_finite());
        // The L2 term alone bounds λ_min below by... nothing: λ_min ≥ λ only if the data part is
        // PSD, which it need not be. So check SPD and symmetry.
        let d = 19;
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
    fn quasi_newton_crosses_the_valley_where_gradient_descent_stalls() {
        // Wine, w = 16, λ = 3e-4: 3000 descent steps leave ‖∇L‖ above 1e-3; L-BFGS must
        // get to its own tolerance (or at least lower the loss and the gradient by 10×).
        let model = Mlp::new(&MlpConfig {
            dataset: MlpDataset::Wine,
            width: 16,
            l2: 3e-4,
            ..MlpConfig::default()
        })
        .unwrap()
        .with_scaling(1.0, 1.0);
        let mut theta = model.initial_parameters(0);
        assert_eq!(descend(&model, &mut theta), DESCENT_STEPS);
        let mut g = vec![0.0; theta.len()];
        let before = model.gradient(&theta, &mut (), &mut g);
        let g_before = norm(&g);
        assert!(g_before > 1e-3, "{g_before}");
        let iterations = quasi_newton(&model, &mut theta);
        let after = model.gradient(&theta, &mut (), &mut g);
        assert!(iterations > 0 && after < before, "{after} vs {before}");
        assert!(
            norm(&g) <= 1e-6 || norm(&g) < 0.1 * g_before,
            "{}",
            norm(&g)
        );
        // And Levenberg–Marquardt then converges in a few Newton steps.
        let steps = newton(&model, &mut theta, 1e-10, 100).unwrap();
        assert!(steps < 50, "{steps} Levenberg–Marquardt steps");
        model.gradient(&theta, &mut (), &mut g);
        assert!(norm(&g) <= 1e-10, "{}", norm(&g));
    }

    #[test]
    fn a_dense_fit_beyond_memory_is_refused_with_the_estimate() {
        let m = Mlp::new(&MlpConfig {
            dataset: MlpDataset::Diabetes,
            width: 4096,
            ..MlpConfig::default()
        })
        .unwrap();
        // d = 49153: 6·d²·8 bytes ≈ 108 GiB.
        let msg = check_dense_memory(&m, 24 << 30).unwrap_err().to_string();
        assert!(
            msg.contains("width") && msg.contains("4096") && msg.contains("GiB"),
            "{msg}"
        );
        assert!(msg.contains("MlpHessian"), "{msg}");
        let small = Mlp::new(&MlpConfig::default()).unwrap();
        assert!(check_dense_memory(&small, 24 << 30).is_ok());
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
