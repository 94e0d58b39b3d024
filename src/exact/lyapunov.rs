//! The Lyapunov equation A Σ + Σ Aᵀ = a for linear drift b = −A(θ−θ*) and constant noise a.
//!
//! Σ is the stationary covariance of dθ = −Aθ dt + a^{1/2} dW, and the quasi-potential is
//! V(θ) = ½ (θ−θ*)ᵀ Σ⁻¹ (θ−θ*) (Freidlin & Wentzell, Ch. 4).
//!
//! Two solvers, neither forming the d²×d² Kronecker system:
//! - A symmetric: in the eigenbasis A = QΛQᵀ, Σ̃ᵢⱼ = (Qᵀ a Q)ᵢⱼ / (λᵢ + λⱼ). One dense eigensolve.
//! - General A: the scaled matrix-sign-function iteration (Roberts 1971; Benner & Quintana-Ortí
//!   1999): A₀ = A, Q₀ = a, A_{k+1} = ½(cA_k + (cA_k)⁻¹), Q_{k+1} = ½(cQ_k + c⁻¹A_k⁻¹Q_kA_k⁻ᵀ),
//!   c = |det A_k|^{−1/d}. The invariant A_kΣ + ΣA_kᵀ = Q_k holds at every step and A_k → I, so
//!   Σ = Q_∞/2. Converges quadratically for any A whose eigenvalues have positive real parts,
//!   including non-normal and defective A.

use crate::error::{Error, Result};
use crate::linalg::{symmetric_eigen, Matrix};
use faer::linalg::solvers::DenseSolveCore;
use faer::Mat;

/// Σ with AΣ + ΣAᵀ = a, expressed in the eigenbasis of a symmetric A when that is available
/// (so that large quadratic problems never rotate back).
#[derive(Clone, Debug)]
pub struct LyapunovSolution {
    /// Σ in the original coordinates (symmetric).
    pub sigma: Mat<f64>,
    /// For symmetric A: (eigenvalues of A, eigenvectors Q, Σ̃ = QᵀΣQ).
    pub eigenbasis: Option<(Vec<f64>, Mat<f64>, Mat<f64>)>,
}

/// Solve AΣ + ΣAᵀ = q. Errors if A has an eigenvalue with non-positive real part (the linear
/// drift is not stable) or q is not symmetric.
pub fn solve_lyapunov(a: &Matrix, q: &Matrix) -> Result<LyapunovSolution> {
    if a.n != q.n {
        return Err(Error::invalid(
            "lyapunov",
            format!("A is {0}×{0} but a is {1}×{1}", a.n, q.n),
        ));
    }
    a.check_finite("drift matrix A")?;
    q.check_finite("noise matrix a")?;
    if a.check_symmetric("A").is_ok() {
        solve_symmetric(a, q)
    } else {
        Ok(LyapunovSolution {
            sigma: solve_sign_iteration(a, q)?,
            eigenbasis: None,
        })
    }
}

/// For symmetric A = UΛUᵀ: (Λ, U, Σ̃ = UᵀΣU) with Σ̃ᵢⱼ = (Uᵀ q U)ᵢⱼ/(λᵢ + λⱼ), without
/// rotating Σ back (what large quadratic problems need).
pub fn solve_lyapunov_eigenbasis(a: &Matrix, q: &Matrix) -> Result<(Vec<f64>, Mat<f64>, Mat<f64>)> {
    let (lam, u) = symmetric_eigen(a, "drift matrix A")?;
    if lam[0] <= 0.0 {
        return Err(Error::invalid(
            "drift",
            format!(
                "linear drift b = -A(θ-θ*) is not stable: A has eigenvalue {:.3e} ≤ 0",
                lam[0]
            ),
        ));
    }
    let rotated = u.transpose() * q.to_faer() * &u;
    let n = a.n;
    let st = Mat::from_fn(n, n, |i, j| rotated[(i, j)] / (lam[i] + lam[j]));
    Ok((lam, u, st))
}

fn solve_symmetric(a: &Matrix, q: &Matrix) -> Result<LyapunovSolution> {
    let (lam, u, st) = solve_lyapunov_eigenbasis(a, q)?;
    let sigma = symmetrize(&u * &st * u.transpose());
    Ok(LyapunovSolution {
        sigma,
        eigenbasis: Some((lam, u, st)),
    })
}

fn symmetrize(m: Mat<f64>) -> Mat<f64> {
    let n = m.nrows();
    Mat::from_fn(n, n, |i, j| 0.5 * (m[(i, j)] + m[(j, i)]))
}

fn solve_sign_iteration(a: &Matrix, q: &Matrix) -> Result<Mat<f64>> {
    let n = a.n;
    let eig = a
        .to_faer()
        .eigenvalues()
        .map_err(|e| Error::numerical("eigenvalues of A", format!("{e:?}")))?;
    let worst = eig.iter().map(|z| z.re).fold(f64::INFINITY, f64::min);
    if worst <= 0.0 {
        return Err(Error::invalid(
            "drift",
            format!("linear drift b = -A(θ-θ*) is not stable: A has an eigenvalue with real part {worst:.3e} ≤ 0"),
        ));
    }
    let mut ak = a.to_faer();
    let mut qk = q.to_faer();
    let id = Mat::<f64>::identity(n, n);
    for _ in 0..100 {
        let lu = ak.partial_piv_lu();
        let inv = lu.inverse();
        // Determinantal scaling from the LU factors: |det A| = ∏|Uᵢᵢ|.
        let ufac = lu.U();
        let logdet: f64 = (0..n).map(|i| ufac[(i, i)].abs().ln()).sum();
        let c = (-logdet / n as f64).exp();
        let next_a = (&ak * c + &inv * (1.0 / c)) * 0.5;
        let next_q = (&qk * c + (&inv * &qk * inv.transpose()) * (1.0 / c)) * 0.5;
        let delta = (&next_a - &ak).norm_max();
        ak = next_a;
        qk = symmetrize(next_q);
        if delta <= 1e-13 && (&ak - &id).norm_max() <= 1e-12 {
            return Ok(qk * 0.5);
        }
    }
    Err(Error::numerical(
        "Lyapunov sign iteration",
        "did not converge in 100 iterations (A is nearly unstable?)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn residual(a: &Matrix, q: &Matrix, s: &Mat<f64>) -> f64 {
        let af = a.to_faer();
        let r = &af * s + s * af.transpose() - q.to_faer();
        r.norm_max() / q.to_faer().norm_max()
    }

    #[test]
    fn scalar_and_rotational_cases() {
        let a = Matrix::from_rows(&[vec![2.0, 10.0], vec![-20.0, 1.0]], "a").unwrap();
        let q = Matrix::identity(2);
        let s = solve_lyapunov(&a, &q).unwrap();
        assert!(residual(&a, &q, &s.sigma) < 1e-12);
        // Field `l` of Dahiya–Cameron: V = 2x² + y² means Σ⁻¹ = diag(4, 2).
        let inv = s.sigma.partial_piv_lu().inverse();
        assert!((inv[(0, 0)] - 4.0).abs() < 1e-10 && (inv[(1, 1)] - 2.0).abs() < 1e-10);
        assert!(inv[(0, 1)].abs() < 1e-10);
    }

    #[test]
    fn rejects_unstable_drift() {
        let a = Matrix::from_rows(&[vec![-1.0, 0.0], vec![0.0, 1.0]], "a").unwrap();
        assert!(solve_lyapunov(&a, &Matrix::identity(2)).is_err());
        let a = Matrix::from_rows(&[vec![0.0, 1.0], vec![-1.0, 0.0]], "a").unwrap();
        assert!(solve_lyapunov(&a, &Matrix::identity(2)).is_err());
    }
}
