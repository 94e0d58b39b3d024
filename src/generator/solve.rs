//! Sparse direct solves with one LU factorisation (faer's supernodal sparse LU with partial
//! pivoting and a COLAMD fill-reducing ordering): the mean exit time A T = 1, the principal
//! eigenvalue λ₁ of A = −𝓛ₕ by inverse iteration, and the principal left eigenvector (the
//! quasi-stationary density) by inverse iteration with Aᵀ.

use crate::error::{Error, Result};
use faer::linalg::solvers::Solve;
use faer::sparse::linalg::solvers::Lu;
use faer::sparse::{SparseColMat, Triplet};
use faer::Mat;

/// A factorised A.
pub struct Factored {
    lu: Lu<usize, f64>,
    n: usize,
}

/// Factorise the n×n matrix A given by `triplets` (duplicates are summed).
///
/// Aᵀ is what is factorised: A is row diagonally dominant (an M-matrix from the monotone
/// stencil), so Aᵀ is column diagonally dominant and partial pivoting keeps its diagonal, which
/// keeps the fill of the COLAMD ordering; A x = b is then solved as Aᵀ-transposed.
pub fn factor(n: usize, triplets: &[Triplet<usize, usize, f64>]) -> Result<Factored> {
    let t: Vec<Triplet<usize, usize, f64>> = triplets
        .iter()
        .map(|e| Triplet::new(e.col, e.row, e.val))
        .collect();
    let a = SparseColMat::<usize, f64>::try_new_from_triplets(n, n, &t)
        .map_err(|e| Error::numerical("generator: sparse matrix", format!("{e:?}")))?;
    let lu = a
        .sp_lu()
        .map_err(|e| Error::numerical("generator: sparse LU", format!("{e:?}")))?;
    Ok(Factored { lu, n })
}

impl Factored {
    /// x ← A⁻¹x.
    pub fn solve(&self, x: &mut Mat<f64>) {
        self.lu.solve_transpose_in_place(x.as_mut());
    }

    /// x ← A⁻ᵀx.
    pub fn solve_transpose(&self, x: &mut Mat<f64>) {
        self.lu.solve_in_place(x.as_mut());
    }

    /// T = A⁻¹1.
    pub fn mean_exit_time(&self) -> Vec<f64> {
        let mut x = Mat::<f64>::from_fn(self.n, 1, |_, _| 1.0);
        self.solve(&mut x);
        (0..self.n).map(|i| x[(i, 0)]).collect()
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

/// The principal eigenpair of A (or Aᵀ when `transpose`) by inverse iteration from `start`
/// (positive): x ← A⁻¹x/‖A⁻¹x‖₁, λ = ‖x‖₁/‖A⁻¹x‖₁ (exact at convergence since the Perron vector of
/// the M-matrix's inverse is positive). Stops when |Δλ| ≤ `tol`·λ or after `max_iter`.
pub fn principal_eigen(
    f: &Factored,
    start: &[f64],
    transpose: bool,
    tol: f64,
    max_iter: usize,
) -> Eigen {
    let n = f.n;
    let s0: f64 = start.iter().map(|v| v.abs()).sum();
    let mut x = Mat::<f64>::from_fn(n, 1, |i, _| start[i].abs() / s0.max(1e-300));
    let mut value = f64::NAN;
    let mut iterations = 0;
    let mut converged = false;
    while iterations < max_iter {
        iterations += 1;
        if transpose {
            f.solve_transpose(&mut x);
        } else {
            f.solve(&mut x);
        }
        let s: f64 = (0..n).map(|i| x[(i, 0)]).sum();
        let lam = 1.0 / s;
        for i in 0..n {
            x[(i, 0)] /= s;
        }
        let done = (lam - value).abs() <= tol * lam.abs();
        value = lam;
        if done {
            converged = true;
            break;
        }
    }
    Eigen {
        value,
        vector: (0..n).map(|i| x[(i, 0)]).collect(),
        iterations,
        converged,
    }
}
