//! Sparse direct solves with one LU factorisation (faer's supernodal sparse LU with partial
//! pivoting and a COLAMD fill-reducing ordering), refined iteratively against the exact
//! difference form of the operator: the mean exit time A T = 1, the principal eigenvalue λ₁ of
//! A = −𝓛ₕ by inverse iteration, and the principal left eigenvector (the quasi-stationary
//! density) by inverse iteration with Aᵀ.
//!
//! **Why refinement.** A's interior rows sum to zero, so A is nearly singular when E\[τ\] is large
//! (‖A⁻¹‖∞ = max T ≈ e^{V₀/ε²}): rounding the diagonal Aᵢᵢ = Σⱼℓᵢⱼ + κᵢ perturbs every row sum
//! by ~10⁻¹⁶Aᵢᵢ, which moves T by a relative ~10⁻¹⁶·‖A‖·max T (1e-3 for 1-D OU at V₀/ε² = 25).
//! Residuals computed in the difference form Σⱼℓᵢⱼ(Tⱼ − Tᵢ) − κᵢTᵢ (see
//! [`super::stencil::Rows`]) see the exact zero row sums, and a few steps of T ← T + A⁻¹r with the
//! same factors converge to the solution of the exact discrete operator while
//! 10⁻¹⁶·‖A‖·max T ≪ 1. Past that ([`roundoff_bound`]), [`factor_accurate`] factorises the rates
//! themselves without subtraction ([`super::gth`]), accurate at any E\[τ\].

use super::gth::Gth;
use super::stencil::Rows;
use crate::error::{Error, Result};
use faer::linalg::solvers::Solve;
use faer::sparse::linalg::solvers::Lu;
use faer::sparse::SparseColMat;
use faer::Mat;

/// A factorised A with its difference-form rows.
pub struct Factored {
    backend: Backend,
    rows: Rows,
    n: usize,
}

enum Backend {
    /// faer's sparse LU of Aᵀ, refined in the difference form.
    Lu(Box<Lu<usize, f64>>),
    /// The subtraction-free banded factors (no refinement needed).
    Gth(Gth),
}

/// Unit roundoff of f64.
const UNIT_ROUNDOFF: f64 = f64::EPSILON / 2.0;

/// 10⁻¹⁶‖A‖∞·max T: the relative change of T that rounding A's diagonal alone can cause, since
/// ‖A⁻¹‖∞ = max T for the M-matrix A (A⁻¹ ≥ 0, T = A⁻¹1). The LU solve with refinement is
/// trusted while this is small.
pub fn roundoff_bound(rows: &Rows, t: &[f64]) -> f64 {
    let norm = (0..rows.len())
        .map(|i| rows.kappa[i] + 2.0 * rows.coef[rows.ptr[i]..rows.ptr[i + 1]].iter().sum::<f64>())
        .fold(0.0, f64::max);
    if t.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
        // A = M-matrix: T ≥ 0 exactly, so a negative or non-finite value is rounding.
        return f64::INFINITY;
    }
    let tmax = t.iter().cloned().fold(0.0, f64::max);
    UNIT_ROUNDOFF * norm * tmax
}

/// Factorise A by subtraction-free elimination of its rates ([`super::gth`]): accurate whatever
/// E\[τ\], n·bw² operations.
pub fn factor_accurate(rows: Rows) -> Result<Factored> {
    let g = Gth::factor(&rows)?;
    let n = rows.len();
    Ok(Factored {
        backend: Backend::Gth(g),
        rows,
        n,
    })
}

/// Factorise A = −𝓛ₕ given by `rows`.
///
/// Aᵀ is what is factorised: A is row diagonally dominant (an M-matrix from the monotone
/// stencil), so Aᵀ is column diagonally dominant and partial pivoting keeps its diagonal, which
/// keeps the fill of the COLAMD ordering; A x = b is then solved as Aᵀ-transposed.
pub fn factor(rows: Rows) -> Result<Factored> {
    let n = rows.len();
    let t = rows.triplets(true);
    let a = SparseColMat::<usize, f64>::try_new_from_triplets(n, n, &t)
        .map_err(|e| Error::numerical("generator: sparse matrix", format!("{e:?}")))?;
    drop(t);
    let lu = a
        .sp_lu()
        .map_err(|e| Error::numerical("generator: sparse LU", format!("{e:?}")))?;
    Ok(Factored {
        backend: Backend::Lu(Box::new(lu)),
        rows,
        n,
    })
}

/// Refinement steps at most.
const MAX_REFINE: usize = 8;

impl Factored {
    /// The rows A was built from.
    pub fn rows(&self) -> &Rows {
        &self.rows
    }

    /// The rows, dropping the factors.
    pub fn into_rows(self) -> Rows {
        self.rows
    }

    /// Whether these are the subtraction-free factors.
    pub fn is_accurate(&self) -> bool {
        matches!(self.backend, Backend::Gth(_))
    }

    /// x ← A⁻¹x with the factors only.
    fn solve_raw(&self, x: &mut Mat<f64>) {
        match &self.backend {
            Backend::Lu(lu) => lu.solve_transpose_in_place(x.as_mut()),
            Backend::Gth(g) => with_column(x, |v| g.solve(v)),
        }
    }

    /// x ← A⁻ᵀx (no refinement).
    pub fn solve_transpose(&self, x: &mut Mat<f64>) {
        match &self.backend {
            Backend::Lu(lu) => lu.solve_in_place(x.as_mut()),
            Backend::Gth(g) => with_column(x, |v| g.solve_transpose(v)),
        }
    }

    /// x = A⁻¹b by the LU solve and iterative refinement (until the correction stops
    /// shrinking or is below 10⁻¹³‖x‖∞: one step when A is well conditioned); returns the
    /// refinement steps taken, and whether the last correction was below 10⁻¹⁰‖x‖∞ (the
    /// refinement converged). `r` is n-long scratch.
    pub fn solve(&self, b: &[f64], x: &mut Mat<f64>, r: &mut [f64]) -> (usize, bool) {
        for i in 0..self.n {
            x[(i, 0)] = b[i];
        }
        self.solve_raw(x);
        if self.is_accurate() {
            // Already accurate; a difference-form residual would be less so.
            return (0, true);
        }
        let mut d = Mat::<f64>::zeros(self.n, 1);
        let mut last = f64::INFINITY;
        let mut steps = 0;
        let mut xs = vec![0.0; self.n];
        let mut converged = false;
        while steps < MAX_REFINE {
            for i in 0..self.n {
                xs[i] = x[(i, 0)];
            }
            self.rows.residual(b, &xs, r);
            for i in 0..self.n {
                d[(i, 0)] = r[i];
            }
            self.solve_raw(&mut d);
            let dn = (0..self.n).map(|i| d[(i, 0)].abs()).fold(0.0, f64::max);
            let xn = xs.iter().map(|v| v.abs()).fold(0.0, f64::max);
            converged = dn <= 1e-10 * xn;
            if !(dn < last) {
                break;
            }
            for i in 0..self.n {
                x[(i, 0)] += d[(i, 0)];
            }
            steps += 1;
            last = dn;
            if dn <= 1e-13 * xn {
                break;
            }
        }
        (steps, converged)
    }

    /// T = A⁻¹1, the refinement steps and whether the refinement converged.
    pub fn mean_exit_time(&self) -> (Vec<f64>, usize, bool) {
        let mut x = Mat::<f64>::zeros(self.n, 1);
        let mut r = vec![0.0; self.n];
        let (steps, converged) = self.solve(&vec![1.0; self.n], &mut x, &mut r);
        ((0..self.n).map(|i| x[(i, 0)]).collect(), steps, converged)
    }
}

/// Apply `f` to the first column of `x` as a slice.
fn with_column(x: &mut Mat<f64>, f: impl FnOnce(&mut [f64])) {
    let mut v: Vec<f64> = (0..x.nrows()).map(|i| x[(i, 0)]).collect();
    f(&mut v);
    for (i, vi) in v.into_iter().enumerate() {
        x[(i, 0)] = vi;
    }
}

/// The outcome of inverse iteration.
#[derive(Clone, Debug)]
pub struct Eigen {
    /// λ₁.
    pub value: f64,
    /// The eigenvector (positive, sum 1).
    pub vector: Vec<f64>,
    /// Iterations done.
    pub iterations: usize,
    /// Whether |Δλ|/λ fell below the tolerance.
    pub converged: bool,
}

/// The principal eigenpair of A or Aᵀ (when `transpose`) by inverse iteration from `start`
/// (positive): x ← A⁻¹x/‖A⁻¹x‖₁, λ = ‖x‖₁/‖A⁻¹x‖₁ (exact at convergence since the Perron vector
/// of the M-matrix's inverse is positive). Solves with A use the LU factors alone until
/// |Δλ| ≤ 10⁻⁶λ, then refined solves; stops when |Δλ| ≤ `tol`·λ or after `max_iter`.
pub fn principal_eigen(
    f: &Factored,
    start: &[f64],
    transpose: bool,
    tol: f64,
    max_iter: usize,
) -> Eigen {
    let n = f.n;
    let s0: f64 = start.iter().map(|v| v.abs()).sum();
    let mut b: Vec<f64> = start.iter().map(|v| v.abs() / s0.max(1e-300)).collect();
    let mut x = Mat::<f64>::zeros(n, 1);
    let mut r = vec![0.0; n];
    let mut value = f64::NAN;
    let mut iterations = 0;
    let mut converged = false;
    let mut refine = false;
    while iterations < max_iter {
        iterations += 1;
        if transpose || !refine {
            for i in 0..n {
                x[(i, 0)] = b[i];
            }
            if transpose {
                f.solve_transpose(&mut x);
            } else {
                f.solve_raw(&mut x);
            }
        } else {
            f.solve(&b, &mut x, &mut r);
        }
        let s: f64 = (0..n).map(|i| x[(i, 0)]).sum();
        let lam = 1.0 / s;
        for i in 0..n {
            b[i] = x[(i, 0)] / s;
        }
        let change = (lam - value).abs();
        let done = change <= tol * lam.abs() && (refine || transpose);
        refine = refine || change <= 1e-6 * lam.abs();
        value = lam;
        if done {
            converged = true;
            break;
        }
    }
    Eigen {
        value,
        vector: b,
        iterations,
        converged,
    }
}
