//! Local geometry of an exit channel on ∂D, and the small dense solves the formulas need.

use crate::error::{Error, Result};
use crate::linalg::{dot, norm, symmetric_eigen, Matrix};
use crate::problem::Domain;
use faer::linalg::solvers::Solve;
use faer::Mat;

/// ∇²g(x) for the domain's level function g (D = {g < 0}), row-major.
pub(super) fn level_hessian(domain: &Domain, x: &[f64]) -> Matrix {
    let d = x.len();
    match domain {
        Domain::LevelSet { loss, .. } => {
            let mut h = Matrix::zeros(d);
            loss.hessian(x, &mut h.data);
            h
        }
        // g = |x − c| − r: ∇²g = (I − nnᵀ)/|x − c|.
        Domain::Ball { center, .. } => {
            let u: Vec<f64> = x.iter().zip(center).map(|(a, c)| a - c).collect();
            let r = norm(&u).max(1e-300);
            let mut h = Matrix::zeros(d);
            for i in 0..d {
                for j in 0..d {
                    let delta = if i == j { 1.0 } else { 0.0 };
                    h.data[i * d + j] = (delta - u[i] * u[j] / (r * r)) / r;
                }
            }
            h
        }
        // g = uᵀQu − 1.
        Domain::Ellipsoid { q, .. } => Matrix {
            n: d,
            data: q.data.iter().map(|v| 2.0 * v).collect(),
        },
        Domain::Box { .. } | Domain::HalfSpace { .. } => Matrix::zeros(d),
    }
}

/// What the boundary-flux and chain formulas need at a local minimum x* of V on ∂D.
pub(super) struct BoundaryPoint {
    /// Outward unit normal n.
    pub normal: Vec<f64>,
    /// |∇V(x*)|.
    pub grad_norm: f64,
    /// ln det K, K the Hessian of V restricted to ∂D (0 in 1-D).
    pub log_det_k: f64,
    /// Eigenvalues of K, ascending.
    pub k_eigenvalues: Vec<f64>,
}

/// Tangential curvatures of V on ∂D below this fraction of ‖Pᵀ∇²VP‖ or ‖m Pᵀ∇²gP‖ count as
/// degenerate: ∇²V along a gMAM path comes from a Riccati equation on a discretised path (on
/// `manufactured-anisotropic`, where K = 0 exactly, the computed K was −5.6e-7 and 1.0e-6 in two
/// builds, at curvatures of order 1), and a minimum this flat would need ε² ≪ 1e-4 for the
/// Laplace approximation to hold anyway.
const DEGENERATE_RELATIVE: f64 = 1e-4;

/// K = Pᵀ(∇²V − m∇²g)P on the tangent space of ∂D at x (P an orthonormal basis of n⊥, m the
/// Lagrange multiplier with ∇V = m∇g). `Err(reason)` when x is not a non-degenerate local
/// minimum of V on ∂D.
pub(super) fn boundary_point(
    domain: &Domain,
    x: &[f64],
    grad_v: &[f64],
    hess_v: &Matrix,
    align_tol: f64,
) -> Result<std::result::Result<BoundaryPoint, String>> {
    let d = x.len();
    let mut grad_g = vec![0.0; d];
    domain.level_gradient(x, &mut grad_g);
    let gn = norm(&grad_g);
    let vn = norm(grad_v);
    if !(gn > 0.0 && vn > 0.0 && gn.is_finite() && vn.is_finite()) {
        return Ok(Err(format!(
            "∇V or the boundary normal vanishes at the exit point {x:?} (|∇V| = {vn:.3e})"
        )));
    }
    let normal: Vec<f64> = grad_g.iter().map(|v| v / gn).collect();
    let along = dot(grad_v, &normal);
    let tangential = (vn * vn - along * along).max(0.0).sqrt();
    if !(along > 0.0) || tangential > align_tol * vn {
        return Ok(Err(format!(
            "the exit point {x:?} is not a minimum of V on ∂D: ∇V has a tangential part {:.2e} of |∇V| = {vn:.3e}",
            tangential / vn
        )));
    }
    let m = along / gn;
    let hg = level_hessian(domain, x);
    let lag = Matrix {
        n: d,
        data: hess_v
            .data
            .iter()
            .zip(&hg.data)
            .map(|(v, g)| v - m * g)
            .collect(),
    };
    if d == 1 {
        return Ok(Ok(BoundaryPoint {
            normal,
            grad_norm: vn,
            log_det_k: 0.0,
            k_eigenvalues: Vec::new(),
        }));
    }
    let k = tangential_block(&lag, &normal);
    let (vals, _) = symmetric_eigen(&k, "tangential Hessian of V on ∂D")?;
    // K is a difference, Pᵀ∇²VP − m Pᵀ∇²gP, which cancels exactly where ∂D is a level set of V
    // (V constant on ∂D). So its eigenvalues are measured against the two terms, not against
    // each other (in 2-D there is only one): below DEGENERATE_RELATIVE of the larger term, the
    // minimum is degenerate to the accuracy of ∇²V.
    let frobenius = |m: &Matrix| m.data.iter().map(|v| v * v).sum::<f64>().sqrt();
    let scale = frobenius(&tangential_block(hess_v, &normal))
        .max(m.abs() * frobenius(&tangential_block(&hg, &normal)));
    if !(vals[0] > DEGENERATE_RELATIVE * scale.max(1e-300)) {
        return Ok(Err(format!(
            "the minimum of V on ∂D at {x:?} is degenerate: the Hessian of V along ∂D has eigenvalue {:.3e}, {:.1e} of the curvatures it is the difference of ({scale:.3e}; ∂D is close to a level set of V there); the Laplace formula needs a non-degenerate minimum",
            vals[0],
            vals[0] / scale.max(1e-300)
        )));
    }
    Ok(Ok(BoundaryPoint {
        normal,
        grad_norm: vn,
        log_det_k: vals.iter().map(|v| v.ln()).sum(),
        k_eigenvalues: vals,
    }))
}

/// PᵀLP for an orthonormal basis P of n⊥: the Householder reflection R mapping n to ±e_k
/// (k the largest |nₖ|) has n⊥ spanned by its other columns, so PᵀLP is RLR without row and
/// column k.
fn tangential_block(l: &Matrix, n: &[f64]) -> Matrix {
    let d = n.len();
    let k = (0..d)
        .max_by(|&a, &b| n[a].abs().total_cmp(&n[b].abs()))
        .unwrap_or(0);
    // v = n + sign(nₖ)eₖ keeps cancellation away.
    let mut v = n.to_vec();
    let s = if n[k] >= 0.0 { 1.0 } else { -1.0 };
    v[k] += s;
    let vv = dot(&v, &v);
    let r = Mat::from_fn(d, d, |i, j| {
        (if i == j { 1.0 } else { 0.0 }) - 2.0 * v[i] * v[j] / vv
    });
    let full = &r * l.to_faer() * &r;
    let idx: Vec<usize> = (0..d).filter(|&i| i != k).collect();
    let mut out = Matrix::zeros(d - 1);
    for (a, &i) in idx.iter().enumerate() {
        for (b, &j) in idx.iter().enumerate() {
            out.data[a * (d - 1) + b] = 0.5 * (full[(i, j)] + full[(j, i)]);
        }
    }
    out
}

/// ln |det M| and the number of negative eigenvalues of a symmetric M.
pub(super) fn log_abs_det_symmetric(m: &Matrix, what: &str) -> Result<(f64, usize)> {
    let (vals, _) = symmetric_eigen(m, what)?;
    if vals.iter().any(|v| *v == 0.0 || !v.is_finite()) {
        return Err(Error::numerical(what, "singular matrix"));
    }
    Ok((
        vals.iter().map(|v| v.abs().ln()).sum(),
        vals.iter().filter(|v| **v < 0.0).count(),
    ))
}

/// X with J X + X Jᵀ + a = 0 at a saddle (where the stable-matrix solver does not apply): the
/// d²×d² Kronecker system (I ⊗ J + J ⊗ I) vec X = −vec a. When J has a resonant pair of
/// eigenvalues (λᵢ + λⱼ = 0, e.g. μ and −μ) the system is singular and the linearisation does
/// not fix the coupling entries; the minimum-norm solution is returned (by Tikhonov-regularised
/// normal equations) with `resonant = true`. Meant for small d.
pub(super) fn lyapunov_kronecker(j: &Matrix, a: &Matrix) -> Result<(Matrix, bool)> {
    let d = j.n;
    if d > 40 {
        return Err(Error::Unsupported(format!(
            "the saddle's Lyapunov equation is solved densely for d ≤ 40 (d = {d})"
        )));
    }
    let eig = j
        .to_faer()
        .eigenvalues()
        .map_err(|e| Error::numerical("eigenvalues at the saddle", format!("{e:?}")))?;
    let scale = eig.iter().map(|z| z.norm()).fold(0.0, f64::max).max(1e-300);
    let resonant = eig
        .iter()
        .enumerate()
        .any(|(i, x)| eig[i..].iter().any(|y| (x + y).norm() < 1e-8 * scale));
    let n = d * d;
    // vec index (r, c) → r·d + c; (JX)_{rc} = Σ_k J_{rk} X_{kc}, (XJᵀ)_{rc} = Σ_k X_{rk} J_{ck}.
    let m = Mat::from_fn(n, n, |p, q| {
        let (r, c) = (p / d, p % d);
        let (k, l) = (q / d, q % d);
        let mut v = 0.0;
        if l == c {
            v += j.data[r * d + k];
        }
        if k == r {
            v += j.data[c * d + l];
        }
        v
    });
    let rhs = Mat::from_fn(n, 1, |p, _| -a.data[p]);
    let x = if resonant {
        let mtm = m.transpose() * &m;
        let delta = 1e-12 * mtm.norm_max();
        let reg = Mat::from_fn(n, n, |p, q| mtm[(p, q)] + if p == q { delta } else { 0.0 });
        reg.partial_piv_lu().solve(m.transpose() * &rhs)
    } else {
        m.partial_piv_lu().solve(&rhs)
    };
    let mut out = Matrix::zeros(d);
    for r in 0..d {
        for c in 0..d {
            out.data[r * d + c] = 0.5 * (x[(r * d + c, 0)] + x[(c * d + r, 0)]);
        }
    }
    if out.data.iter().any(|v| !v.is_finite()) {
        return Err(Error::numerical(
            "saddle Lyapunov equation",
            "the Kronecker system could not be solved",
        ));
    }
    Ok((out, resonant))
}

/// M⁻¹ for a small dense matrix.
pub(super) fn inverse(m: &Matrix) -> Matrix {
    use faer::linalg::solvers::DenseSolveCore;
    let inv = m.to_faer().partial_piv_lu().inverse();
    Matrix::from_faer(inv.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tangential_block_has_the_restricted_determinant() {
        // det(PᵀLP) = det L · nᵀL⁻¹n for SPD L (Schur complement identity).
        let l = Matrix::from_rows(
            &[
                vec![3.0, 0.5, 0.2],
                vec![0.5, 2.0, -0.3],
                vec![0.2, -0.3, 1.5],
            ],
            "L",
        )
        .unwrap();
        for n in [[0.6, 0.0, -0.8], [0.0, 1.0, 0.0], [-0.48, 0.6, 0.64]] {
            let k = tangential_block(&l, &n);
            let (ld, _) = log_abs_det_symmetric(&k, "K").unwrap();
            let (ll, _) = log_abs_det_symmetric(&l, "L").unwrap();
            let li = inverse(&l);
            let mut w = [0.0; 3];
            li.mul_vec(&n, &mut w);
            let expected = ll + dot(&n, &w).ln();
            assert!((ld - expected).abs() < 1e-12, "{ld} vs {expected}");
        }
    }

    #[test]
    fn the_kronecker_lyapunov_solves_a_saddle() {
        // Maier–Stein's saddle: J = diag(1, −1), a = I → X = diag(−½, ½).
        let j = Matrix::diagonal(&[1.0, -1.0]);
        let (x, resonant) = lyapunov_kronecker(&j, &Matrix::identity(2)).unwrap();
        assert!(resonant);
        // The resonant pair is solved by regularised normal equations (relative δ = 1e-12).
        assert!((x.data[0] + 0.5).abs() < 1e-10 && (x.data[3] - 0.5).abs() < 1e-10);
        assert!(x.data[1].abs() < 1e-10);
        // A non-normal J: check the residual.
        let j = Matrix::from_rows(&[vec![0.7, 2.0], vec![0.1, -1.3]], "J").unwrap();
        let a = Matrix::from_rows(&[vec![1.0, 0.3], vec![0.3, 0.5]], "a").unwrap();
        let (x, resonant) = lyapunov_kronecker(&j, &a).unwrap();
        assert!(!resonant);
        for r in 0..2 {
            for c in 0..2 {
                let mut s = a.data[r * 2 + c];
                for k in 0..2 {
                    s += j.data[r * 2 + k] * x.data[k * 2 + c]
                        + x.data[r * 2 + k] * j.data[c * 2 + k];
                }
                assert!(s.abs() < 1e-13);
            }
        }
    }
}
