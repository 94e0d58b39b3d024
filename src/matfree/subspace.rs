//! V₀ on the level set of the quadratic model for a noise a ≠ H*, from the top-k eigenpairs of
//! H* and the compression of a onto them, with a two-sided bound for the truncation.
//!
//! For b = −H u, D = {½uᵀHu < ΔL} and V = ½uᵀΣ⁻¹u with HΣ + ΣH = a (DESIGN §2), substituting
//! u = H^{-1/2}y gives V₀ = ΔL / λ_max(M), M = H^{1/2} Σ H^{1/2}. In the eigenbasis of H the
//! Lyapunov equation decouples entrywise, Σ̃ᵢⱼ = ãᵢⱼ/(λᵢ + λⱼ), so
//!
//!   Mᵢⱼ = Fᵢⱼ ãᵢⱼ,   Fᵢⱼ = √(λᵢλⱼ)/(λᵢ + λⱼ),
//!
//! and the block of M on k eigenvectors is exact from those eigenpairs and ã_k = V_kᵀaV_k alone
//! (no other part of H enters). M is PSD, so with M_k that block and T the rest of M's diagonal
//! block, xᵀMx ≤ (√(λ_max(M_k))|x₁| + √(λ_max(T))|x₂|)² gives
//!
//!   λ_max(M_k) ≤ λ_max(M) ≤ λ_max(M_k) + λ_max(T),
//!
//! and since F is PSD with diagonal ½, Schur's bound λ_max(F∘A) ≤ maxᵢFᵢᵢ·λ_max(A) gives
//! λ_max(T) ≤ ½λ_max(ã_⊥) ≤ ½ tr ã_⊥ = ½(tr a − tr ã_k). Hence
//!
//!   ΔL / (λ_max(M_k) + ½(tr a − tr ã_k) + ½δ) ≤ V₀ ≤ ΔL / λ_max(M_k),
//!
//! δ a bound on ‖a − a_used‖ (for a matrix function computed with a floor). The upper end is
//! the subspace's own V₀ (the minimum over a smaller set of exits); both ends meet as the
//! compressed trace exhausts tr a. The entries are exact only for exact eigenvectors: the Ritz
//! residuals of the pairs are reported beside the bound and must be small against the gaps.

use super::lanczos::EigenPair;
use crate::error::{Error, Result};
use crate::linalg::{symmetric_eigen, Matrix};
use crate::problem::Weight;
use serde::Serialize;

/// The compression of a noise matrix a onto k vectors.
#[derive(Clone, Debug)]
pub struct NoiseCompression {
    /// ã_k = V_kᵀ a V_k (k×k).
    pub block: Matrix,
    /// tr a (over the whole space).
    pub trace: f64,
    /// δ ≥ ‖a − a_used‖ (0 when the block is exact).
    pub norm_error: f64,
}

/// V₀ from a subspace, with its truncation bound.
#[derive(Clone, Debug, Serialize)]
pub struct SubspaceBarrier {
    /// The action's weight (a = C for `inverse`, C^{1/2} for `inverse-sqrt`).
    pub weight: Weight,
    /// k, the number of eigenpairs of H* used.
    pub k: usize,
    /// ΔL / λ_max(M_k): the subspace's V₀, an upper bound on V₀.
    pub v0: f64,
    /// The lower bound ΔL / (λ_max(M_k) + ½(tr a − tr ã_k) + ½δ).
    pub v0_lower: f64,
    /// tr a − tr ã_k: the noise outside the subspace.
    pub tail_trace: f64,
    /// tr ã_k / tr a.
    pub captured_fraction: f64,
    /// The largest Ritz residual ‖Hx − θx‖ of the pairs used.
    pub max_residual: f64,
    /// The exit point u* = θ − θ* on ∂D of the subspace's V₀.
    #[serde(skip)]
    pub exit_point: Vec<f64>,
}

/// V₀ on {½uᵀHu < ΔL} for noise a from the eigenpairs `pairs` of H (any k ≥ 1, values > 0)
/// and a's compression onto their vectors.
///
/// # Errors
/// ΔL not positive, no pairs, a non-positive eigenvalue, shapes that differ, or a non-PSD block.
pub fn level_set_barrier(
    pairs: &[EigenPair],
    noise: &NoiseCompression,
    depth: f64,
    weight: Weight,
) -> Result<SubspaceBarrier> {
    let k = pairs.len();
    if !(depth.is_finite() && depth > 0.0) {
        return Err(Error::invalid(
            "depth",
            format!("ΔL must be > 0, got {depth}"),
        ));
    }
    if k == 0 {
        return Err(Error::invalid("pairs", "need at least one eigenpair of H*"));
    }
    if noise.block.n != k {
        return Err(Error::invalid(
            "noise",
            format!("block is {0}×{0} for {k} eigenpairs", noise.block.n),
        ));
    }
    if let Some(p) = pairs.iter().find(|p| !(p.value > 0.0)) {
        return Err(Error::invalid(
            "pairs",
            format!(
                "eigenvalue {:.3e} of H* is not positive: not a strict minimum",
                p.value
            ),
        ));
    }
    noise.block.check_finite("noise block")?;
    let lam: Vec<f64> = pairs.iter().map(|p| p.value).collect();
    let mut m = Matrix::zeros(k);
    for i in 0..k {
        for j in 0..k {
            m.data[i * k + j] =
                (lam[i] * lam[j]).sqrt() / (lam[i] + lam[j]) * noise.block.data[i * k + j];
        }
    }
    let (mu, y) = symmetric_eigen(&m, "M = H^{1/2}ΣH^{1/2} on the subspace")?;
    let top = mu[k - 1];
    if !(top > 0.0) {
        return Err(Error::invalid(
            "noise",
            format!("the compressed noise has no positive direction (λ_max(M_k) = {top:.3e}): no exit is driven"),
        ));
    }
    let captured: f64 = (0..k).map(|i| noise.block.data[i * k + i]).sum();
    let tail = (noise.trace - captured).max(0.0);
    let v0 = depth / top;
    let v0_lower = depth / (top + 0.5 * tail + 0.5 * noise.norm_error);
    // u* = Σᵢ yᵢ √(2ΔL/λᵢ) vᵢ for the unit top eigenvector y of M_k.
    let d = pairs[0].vector.len();
    let mut exit_point = vec![0.0; d];
    for (i, p) in pairs.iter().enumerate() {
        let c = y[(i, k - 1)] * (2.0 * depth / lam[i]).sqrt();
        for (e, v) in exit_point.iter_mut().zip(&p.vector) {
            *e += c * v;
        }
    }
    Ok(SubspaceBarrier {
        weight,
        k,
        v0,
        v0_lower,
        tail_trace: tail,
        captured_fraction: if noise.trace > 0.0 {
            captured / noise.trace
        } else {
            1.0
        },
        max_residual: pairs.iter().map(|p| p.residual).fold(0.0, f64::max),
        exit_point,
    })
}

#[cfg(test)]
mod tests {
    use super::{level_set_barrier, NoiseCompression};
    use crate::linalg::{symmetric_eigen, Matrix};
    use crate::matfree::lanczos::EigenPair;
    use crate::problem::Weight;
    use faer::linalg::solvers::DenseSolveCore;
    use rand::{Rng, SeedableRng};

    /// A random SPD matrix with a spread spectrum, and a random PSD noise.
    fn random_pair(d: usize, seed: u64) -> (Matrix, Matrix) {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut g = |n: usize| -> Matrix {
            let b: Vec<f64> = (0..n * n).map(|_| rng.random::<f64>() - 0.5).collect();
            let mut m = Matrix::zeros(n);
            for i in 0..n {
                for j in 0..n {
                    m.data[i * n + j] = (0..n).map(|l| b[i * n + l] * b[j * n + l]).sum::<f64>();
                }
            }
            m
        };
        let mut h = g(d);
        for i in 0..d {
            h.data[i * d + i] += 0.05;
        }
        (h, g(d))
    }

    /// Exact V₀ by an independent route: Σ from the project's Lyapunov solver, then the minimum
    /// of ½uᵀΣ⁻¹u on ½uᵀHu = ΔL as ΔL·λ_min of L⁻¹Σ⁻¹L⁻ᵀ with H = LLᵀ (Cholesky).
    fn exact_v0(h: &Matrix, a: &Matrix, depth: f64) -> f64 {
        let sol = crate::exact::lyapunov::solve_lyapunov(h, a).unwrap();
        let sigma_inv = sol.sigma.partial_piv_lu().inverse();
        let l = h.to_faer().llt(faer::Side::Lower).unwrap().L().to_owned();
        let linv = l.partial_piv_lu().inverse();
        let w = &linv * &sigma_inv * linv.transpose();
        let w = Matrix::from_faer(w.as_ref());
        let sym = Matrix {
            n: w.n,
            data: (0..w.n * w.n)
                .map(|q| 0.5 * (w.data[q] + w.data[(q % w.n) * w.n + q / w.n]))
                .collect(),
        };
        depth * symmetric_eigen(&sym, "W").unwrap().0[0]
    }

    fn pairs_and_compression(
        h: &Matrix,
        a: &Matrix,
        k: usize,
    ) -> (Vec<EigenPair>, NoiseCompression) {
        let d = h.n;
        let (vals, vecs) = symmetric_eigen(h, "H").unwrap();
        let pairs: Vec<EigenPair> = (0..k)
            .map(|r| {
                let c = d - 1 - r;
                EigenPair {
                    value: vals[c],
                    vector: (0..d).map(|i| vecs[(i, c)]).collect(),
                    residual: 0.0,
                }
            })
            .collect();
        let mut block = Matrix::zeros(k);
        let mut av = vec![0.0; d];
        for b in 0..k {
            a.mul_vec(&pairs[b].vector, &mut av);
            for r in 0..k {
                block.data[r * k + b] = pairs[r].vector.iter().zip(&av).map(|(x, y)| x * y).sum();
            }
        }
        let trace = (0..d).map(|i| a.data[i * d + i]).sum();
        (
            pairs,
            NoiseCompression {
                block,
                trace,
                norm_error: 0.0,
            },
        )
    }

    #[test]
    fn all_eigenpairs_give_the_exact_barrier_and_fewer_bracket_it() {
        for seed in 0..4 {
            let (h, a) = random_pair(12, seed);
            let depth = 0.3;
            let exact = exact_v0(&h, &a, depth);
            let (pairs, nc) = pairs_and_compression(&h, &a, 12);
            let full = level_set_barrier(&pairs, &nc, depth, Weight::Inverse).unwrap();
            assert!(
                (full.v0 / exact - 1.0).abs() < 1e-10,
                "seed {seed}: {} vs {exact}",
                full.v0
            );
            assert!((full.v0_lower / exact - 1.0).abs() < 1e-10);
            // The exit point lies on ∂D and attains V₀.
            let u = &full.exit_point;
            let mut hu = vec![0.0; 12];
            h.mul_vec(u, &mut hu);
            let level: f64 = 0.5 * u.iter().zip(&hu).map(|(x, y)| x * y).sum::<f64>();
            assert!((level / depth - 1.0).abs() < 1e-10);
            let mut last_width = f64::INFINITY;
            for k in [1, 3, 6, 9] {
                let (pairs, nc) = pairs_and_compression(&h, &a, k);
                let b = level_set_barrier(&pairs, &nc, depth, Weight::Inverse).unwrap();
                assert!(
                    b.v0_lower <= exact * (1.0 + 1e-12) && exact <= b.v0 * (1.0 + 1e-12),
                    "seed {seed}, k {k}: {} ≤ {exact} ≤ {}",
                    b.v0_lower,
                    b.v0
                );
                let width = b.v0 / b.v0_lower;
                assert!(width <= last_width * (1.0 + 1e-12), "bound widened with k");
                last_width = width;
            }
        }
    }

    /// With a = H the barrier is 2ΔL/λ_max from the top pair alone (DESIGN §2).
    #[test]
    fn noise_equal_to_the_hessian_gives_two_depth_over_lambda_max() {
        let (h, _) = random_pair(8, 7);
        let (pairs, nc) = pairs_and_compression(&h, &h, 2);
        let b = level_set_barrier(&pairs, &nc, 0.5, Weight::Inverse).unwrap();
        assert!((b.v0 / (1.0 / pairs[0].value) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn bad_input_is_refused() {
        let (h, a) = random_pair(4, 1);
        let (mut pairs, nc) = pairs_and_compression(&h, &a, 2);
        assert!(level_set_barrier(&pairs, &nc, -1.0, Weight::Inverse).is_err());
        assert!(level_set_barrier(&pairs[..1], &nc, 1.0, Weight::Inverse).is_err());
        assert!(level_set_barrier(&[], &nc, 1.0, Weight::Inverse).is_err());
        pairs[1].value = -1e-3;
        let err = level_set_barrier(&pairs, &nc, 1.0, Weight::Inverse).unwrap_err();
        assert!(err.to_string().contains("strict minimum"), "{err}");
        let (pairs, mut nc) = pairs_and_compression(&h, &a, 2);
        nc.block = Matrix::zeros(2);
        assert!(level_set_barrier(&pairs, &nc, 1.0, Weight::Inverse).is_err());
    }
}
