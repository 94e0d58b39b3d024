//! Training a wide network to a strict local minimum without its Hessian matrix: gradient
//! descent, then Newton–CG (Levenberg–Marquardt-damped Newton steps solved by conjugate
//! gradients on exact Hessian-vector products, [`Mlp::hessian_vector_product`]). Memory O(d),
//! time O(N·p·w) per gradient or product: the path to widths whose H* (d² values) does not fit.
//!
//! The dense [`super::fit`] also checks the minimum for degeneracy from the full spectra of H*
//! and C*; here strictness is what Lanczos on [`super::MlpHessian`] shows (λ_min > 0 with its
//! residual), and copies of hidden units are checked from the weights ([`duplicate_units`]).

use super::{FiniteSum, Mlp, MlpConfig};
use crate::error::{Error, Result};
use crate::linalg::{dot, norm};
use serde::Serialize;

/// A minimum found by [`fit_matrix_free`].
#[derive(Clone, Debug, Serialize)]
pub struct MatrixFreeMinimum {
    /// θ*.
    #[serde(skip)]
    pub theta: Vec<f64>,
    /// L(θ*).
    pub loss: f64,
    /// ‖∇L(θ*)‖.
    pub gradient_norm: f64,
    /// Gradient-descent steps before Newton–CG.
    pub descent_iterations: usize,
    /// Newton–CG steps.
    pub newton_iterations: usize,
    /// Hessian-vector products spent in CG.
    pub products: usize,
    /// Pairs of hidden units that are copies (uⱼ = ±u_l to 1e-6 relative; see
    /// [`super::DegeneracyTolerances`]).
    pub duplicate_pairs: usize,
}

/// Train `config`'s network from its seed to ‖∇L‖ ≤ `tol` by gradient descent (Armijo, until
/// ‖∇L‖ < 1e-3 or 3000 steps) and Newton–CG.
///
/// # Errors
/// An invalid configuration or tolerance, or no convergence in 200 Newton steps (the error
/// gives the gradient norm reached).
pub fn fit_matrix_free(config: &MlpConfig, tol: f64) -> Result<MatrixFreeMinimum> {
    if !(tol > 0.0 && tol.is_finite()) {
        return Err(Error::invalid(
            "tol",
            format!("must be finite and > 0, got {tol}"),
        ));
    }
    let model = Mlp::new(config)?;
    let d = model.dim();
    let mut theta = model.initial_parameters(config.seed);
    let descent_iterations = super::fit::descend(&model, &mut theta);
    let mut g = vec![0.0; d];
    let mut trial = vec![0.0; d];
    let mut loss = model.gradient(&theta, &mut (), &mut g);
    let mut cg = Cg::new(d);
    let mut mu = 1e-3 * model.scaling().0 * model.scaling().1;
    let mut newton_iterations = 0;
    let mut gt = vec![0.0; d];
    while norm(&g) > tol {
        if newton_iterations == 200 {
            return Err(Error::numerical(
                "mlp matrix-free fit",
                format!(
                    "‖∇L‖ = {:.3e} > {tol:.0e} after 200 Newton–CG steps",
                    norm(&g)
                ),
            ));
        }
        newton_iterations += 1;
        // Forcing term η = min(½, √‖g‖): superlinear convergence near the minimum.
        let forcing = 0.5f64.min(norm(&g).sqrt());
        let s = cg.solve(&model, &theta, &g, mu, forcing);
        for k in 0..d {
            trial[k] = theta[k] + s[k];
        }
        let lt = model.gradient(&trial, &mut (), &mut gt);
        if lt <= loss + 1e-4 * dot(&g, s) {
            theta.copy_from_slice(&trial);
            std::mem::swap(&mut g, &mut gt);
            loss = lt;
            mu = (mu / 3.0).max(1e-14);
        } else {
            mu *= 4.0;
        }
    }
    let duplicate_pairs = duplicate_units(&model, &theta, 1e-6);
    Ok(MatrixFreeMinimum {
        gradient_norm: norm(&g),
        theta,
        loss,
        descent_iterations,
        newton_iterations,
        products: cg.products,
        duplicate_pairs,
    })
}

/// What Lanczos on H* says about a point found by [`fit_matrix_free`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Curvature {
    /// λ_min − residual > 0: every eigenvalue is positive, a strict minimum.
    Strict,
    /// A Rayleigh quotient xᵀHx < 0 was found: H* has a negative eigenvalue, a saddle.
    Saddle,
    /// λ_min's interval [θ − r, θ] contains 0: flat to the accuracy reached.
    Undecided,
}

/// The bottom (and top) of H*'s spectrum at θ by Lanczos on Hessian-vector products.
#[derive(Clone, Debug, Serialize)]
pub struct MinimumCheck {
    /// The verdict.
    pub curvature: Curvature,
    /// The smallest Ritz value θ_min (λ_min ≤ θ_min: it is a Rayleigh quotient).
    pub lambda_min: f64,
    /// ‖Hx − θ_min x‖: λ_min ≥ θ_min − residual (Lanczos finds the extreme eigenvalue first).
    pub lambda_min_residual: f64,
    /// The largest Ritz value.
    pub lambda_max: f64,
    /// Its residual.
    pub lambda_max_residual: f64,
    /// Both Lanczos runs converged to tol 1e-10 within the budget.
    pub converged: bool,
    /// Hessian-vector products spent.
    pub products: usize,
    /// Pairs of copied hidden units ([`duplicate_units`], tolerance 1e-6).
    pub duplicate_pairs: usize,
}

impl MinimumCheck {
    /// A strict minimum without copied units.
    pub fn non_degenerate(&self) -> bool {
        self.curvature == Curvature::Strict && self.duplicate_pairs == 0
    }
}

/// Check that θ is a strict, non-degenerate minimum of `model`'s loss without forming H*:
/// λ_max and λ_min by Lanczos (at most `max_products` products each) and the copies of
/// hidden units.
///
/// # Errors
/// θ of the wrong length or not finite; a Lanczos failure.
pub fn check_minimum(model: &Mlp, theta: &[f64], max_products: usize) -> Result<MinimumCheck> {
    use crate::matfree::lanczos::{self, Config};
    let run = |largest: usize, smallest: usize| -> Result<lanczos::Report> {
        let mut op = super::MlpHessian::new(model, theta)?;
        lanczos::run(
            &mut op,
            &Config {
                largest,
                smallest,
                max_products,
                ..Config::default()
            },
            &mut |_| Ok(()),
        )
    };
    let top = run(1, 0)?;
    let bottom = run(0, 1)?;
    let (hi, lo) = (&top.largest[0], &bottom.smallest[0]);
    let curvature = if lo.value < 0.0 {
        Curvature::Saddle
    } else if lo.value - lo.residual > 0.0 {
        Curvature::Strict
    } else {
        Curvature::Undecided
    };
    Ok(MinimumCheck {
        curvature,
        lambda_min: lo.value,
        lambda_min_residual: lo.residual,
        lambda_max: hi.value,
        lambda_max_residual: hi.residual,
        converged: top.converged && bottom.converged,
        products: top.products + bottom.products,
        duplicate_pairs: duplicate_units(model, theta, 1e-6),
    })
}

/// Conjugate gradients for (H + μI)s = −g, with its vectors kept between solves.
struct Cg {
    s: Vec<f64>,
    r: Vec<f64>,
    p: Vec<f64>,
    hp: Vec<f64>,
    products: usize,
}

impl Cg {
    fn new(d: usize) -> Self {
        Cg {
            s: vec![0.0; d],
            r: vec![0.0; d],
            p: vec![0.0; d],
            hp: vec![0.0; d],
            products: 0,
        }
    }

    /// Solve to ‖r‖ ≤ forcing·‖g‖ (at most 500 iterations); stop at a direction of
    /// non-positive curvature (then the iterate so far, or −g at the first one, is returned: a
    /// descent direction either way).
    fn solve(&mut self, model: &Mlp, theta: &[f64], g: &[f64], mu: f64, forcing: f64) -> &[f64] {
        self.s.fill(0.0);
        for (r, gv) in self.r.iter_mut().zip(g) {
            *r = -gv;
        }
        self.p.copy_from_slice(&self.r);
        let target = forcing * norm(g);
        let mut rr = dot(&self.r, &self.r);
        for it in 0..500 {
            if rr.sqrt() <= target {
                break;
            }
            model.hessian_vector_product(theta, &self.p, &mut self.hp);
            self.products += 1;
            for (h, p) in self.hp.iter_mut().zip(&self.p) {
                *h += mu * p;
            }
            let curv = dot(&self.p, &self.hp);
            if curv <= 0.0 {
                if it == 0 {
                    for (s, gv) in self.s.iter_mut().zip(g) {
                        *s = -gv;
                    }
                }
                break;
            }
            let a = rr / curv;
            for k in 0..self.s.len() {
                self.s[k] += a * self.p[k];
                self.r[k] -= a * self.hp[k];
            }
            let rr_new = dot(&self.r, &self.r);
            let b = rr_new / rr;
            rr = rr_new;
            for (p, r) in self.p.iter_mut().zip(&self.r) {
                *p = r + b * *p;
            }
        }
        &self.s
    }
}

/// Pairs of live hidden units whose incoming weights and bias agree up to sign to `tol`
/// relative (the copies that make a minimum degenerate; [`super::degeneracy`]). O(w²·p).
pub fn duplicate_units(model: &Mlp, theta: &[f64], tol: f64) -> usize {
    let (p, w) = (model.inputs(), model.width());
    let pw = p * w;
    let unit = |j: usize| -> Vec<f64> {
        let mut u: Vec<f64> = (0..p).map(|k| theta[k * w + j]).collect();
        u.push(theta[pw + j]);
        u
    };
    let units: Vec<Vec<f64>> = (0..w).map(unit).collect();
    let norms: Vec<f64> = units.iter().map(|u| norm(u)).collect();
    let mut pairs = 0;
    for j in 0..w {
        for l in j + 1..w {
            let scale = norms[j].max(norms[l]);
            if scale == 0.0 {
                continue;
            }
            let (mut plus, mut minus) = (0.0, 0.0);
            for (a, b) in units[j].iter().zip(&units[l]) {
                plus += (a - b) * (a - b);
                minus += (a + b) * (a + b);
            }
            if plus.min(minus).sqrt() <= tol * scale {
                pairs += 1;
            }
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::mlp::{fit, MlpDataset, MlpHessian};

    /// The matrix-free fit reaches the dense fit's minimum (same seed, same data), and Lanczos
    /// on its Hessian gives the dense λ_max and λ_min.
    #[test]
    fn matrix_free_fit_finds_the_dense_minimum() {
        let config = MlpConfig {
            dataset: MlpDataset::Diabetes,
            width: 4,
            refit_degenerate: false,
            ..MlpConfig::default()
        };
        let dense = fit(&config).unwrap();
        let free = fit_matrix_free(&config, 1e-10).unwrap();
        assert!(free.gradient_norm <= 1e-10);
        let dist: f64 = dense
            .theta_star
            .iter()
            .zip(&free.theta)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(dist < 1e-6 * norm(&dense.theta_star), "‖Δθ*‖ = {dist}");
        let mut op = MlpHessian::new(&dense.model, &free.theta).unwrap();
        let r = crate::matfree::lanczos::run(
            &mut op,
            &crate::matfree::lanczos::Config {
                largest: 1,
                smallest: 1,
                ..Default::default()
            },
            &mut |_| Ok(()),
        )
        .unwrap();
        let s = &dense.hessian_spectrum;
        assert!((r.largest[0].value / s.lambda_max - 1.0).abs() < 1e-8);
        assert!((r.smallest[0].value / s.lambda_min - 1.0).abs() < 1e-6);
        assert_eq!(free.duplicate_pairs, 0);
        let check = check_minimum(&dense.model, &free.theta, 2000).unwrap();
        assert_eq!(check.curvature, Curvature::Strict);
        assert!(check.non_degenerate() && check.converged);
        assert!((check.lambda_min / s.lambda_min - 1.0).abs() < 1e-6);
    }

    /// Away from a minimum (random points at 3× the initial scale) the residual term makes H
    /// indefinite: the verdict must be the dense spectrum's, which decides independently.
    #[test]
    fn the_check_tells_a_saddle_from_a_minimum_as_the_dense_spectrum_does() {
        let m = Mlp::new(&MlpConfig {
            dataset: MlpDataset::Diabetes,
            width: 4,
            ..MlpConfig::default()
        })
        .unwrap();
        let d = m.dim();
        let mut saddles = 0;
        for seed in 0..4 {
            let theta: Vec<f64> = m.initial_parameters(seed).iter().map(|t| 3.0 * t).collect();
            let mut h = crate::linalg::Matrix::zeros(d);
            m.hessian(&theta, &mut h.data);
            let lmin = crate::linalg::symmetric_eigen(&h, "H").unwrap().0[0];
            let check = check_minimum(&m, &theta, 2000).unwrap();
            let want = if lmin < 0.0 {
                Curvature::Saddle
            } else {
                Curvature::Strict
            };
            assert_eq!(
                check.curvature, want,
                "seed {seed}: dense λ_min = {lmin:.3e}"
            );
            saddles += usize::from(want == Curvature::Saddle);
        }
        assert!(
            saddles > 0,
            "no saddle among the test points: the test would not discriminate"
        );
    }

    #[test]
    fn copies_of_a_unit_are_counted_and_bad_tolerances_refused() {
        let m = Mlp::new(&MlpConfig {
            width: 3,
            ..MlpConfig::default()
        })
        .unwrap();
        let mut theta = m.initial_parameters(1);
        let (p, w) = (m.inputs(), m.width());
        // Unit 2 = −unit 0 (incoming weights and bias).
        for k in 0..p {
            theta[k * w + 2] = -theta[k * w];
        }
        theta[p * w + 2] = -theta[p * w];
        assert_eq!(duplicate_units(&m, &theta, 1e-6), 1);
        assert!(fit_matrix_free(&MlpConfig::default(), 0.0).is_err());
        assert!(fit_matrix_free(&MlpConfig::default(), f64::NAN).is_err());
    }
}
