//! Matrix-free Hessians: the paper's quantities for dimensions where H* cannot be stored.
//!
//! A Hessian is given as an operator v ↦ H v (a Hessian-vector product from automatic
//! differentiation, Pearlmutter's R-operator, or a structured matrix); [`lanczos`] finds its
//! extreme eigenpairs with O(m·d) memory, and [`paper`] turns them into λ_max, λ_min, κ,
//! Theorem 2's term, V̂₀, the Lemma 4 factor and V₀ for C = H* on level sets and balls, each with
//! the error bound that the Lanczos residuals give; [`subspace`] gives V₀ for a noise a ≠ H* (the
//! gradient covariance C*) from the top-k eigenpairs, bracketed by a truncation bound.

pub mod lanczos;
pub mod paper;
pub mod subspace;

use crate::error::{Error, Result};
use crate::linalg::Matrix;

/// A symmetric linear operator y = A x on ℝᵈ, applied one vector at a time.
///
/// `apply` takes `&mut self` so that operators backed by foreign code (a Python callable, a
/// network's backward pass) may keep buffers or counters, and it returns a `Result` so their
/// failures reach the caller instead of aborting.
pub trait LinearOperator {
    /// The dimension d.
    fn dim(&self) -> usize;
    /// y ← A x (x and y have length d).
    fn apply(&mut self, x: &[f64], y: &mut [f64]) -> Result<()>;
}

impl LinearOperator for Matrix {
    fn dim(&self) -> usize {
        self.n
    }
    fn apply(&mut self, x: &[f64], y: &mut [f64]) -> Result<()> {
        self.mul_vec(x, y);
        Ok(())
    }
}

/// A = diag(δ) + U diag(s) Uᵀ with U of size d×r (column-major): the usual model of a network's
/// Hessian (a bulk plus a few outlying directions), and a test operator whose spectrum is
/// known in closed form when U has orthonormal columns.
#[derive(Clone, Debug)]
pub struct DiagonalPlusLowRank {
    diagonal: Vec<f64>,
    /// Column-major d×r.
    factor: Vec<f64>,
    weights: Vec<f64>,
    scratch: Vec<f64>,
}

impl DiagonalPlusLowRank {
    /// From δ (length d), U (column-major, length d·r) and s (length r).
    pub fn new(diagonal: Vec<f64>, factor: Vec<f64>, weights: Vec<f64>) -> Result<Self> {
        let d = diagonal.len();
        let r = weights.len();
        if d == 0 {
            return Err(Error::invalid("diagonal", "the operator needs d ≥ 1"));
        }
        if factor.len() != d * r {
            return Err(Error::invalid(
                "factor",
                format!(
                    "U must have d·r = {d}·{r} = {} entries (column-major), got {}",
                    d * r,
                    factor.len()
                ),
            ));
        }
        for (name, v) in [
            ("diagonal", &diagonal),
            ("factor", &factor),
            ("weights", &weights),
        ] {
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                return Err(Error::invalid(name, format!("entry {i} is {}", v[i])));
            }
        }
        Ok(DiagonalPlusLowRank {
            diagonal,
            factor,
            weights,
            scratch: vec![0.0; r],
        })
    }
}

impl LinearOperator for DiagonalPlusLowRank {
    fn dim(&self) -> usize {
        self.diagonal.len()
    }
    fn apply(&mut self, x: &[f64], y: &mut [f64]) -> Result<()> {
        let d = self.diagonal.len();
        for ((yi, di), xi) in y.iter_mut().zip(&self.diagonal).zip(x) {
            *yi = di * xi;
        }
        for (k, (c, s)) in self.scratch.iter_mut().zip(&self.weights).enumerate() {
            *c = s * crate::linalg::dot(&self.factor[k * d..(k + 1) * d], x);
        }
        for (k, c) in self.scratch.iter().enumerate() {
            for (yi, uk) in y.iter_mut().zip(&self.factor[k * d..(k + 1) * d]) {
                *yi += c * uk;
            }
        }
        Ok(())
    }
}

/// Any closure `(x, y) -> Result<()>` of a given dimension as an operator.
pub struct FnOperator<F> {
    dim: usize,
    f: F,
}

impl<F: FnMut(&[f64], &mut [f64]) -> Result<()>> FnOperator<F> {
    /// Wrap `f`, which must write A x into its second argument.
    pub fn new(dim: usize, f: F) -> Self {
        FnOperator { dim, f }
    }
}

impl<F: FnMut(&[f64], &mut [f64]) -> Result<()>> LinearOperator for FnOperator<F> {
    fn dim(&self) -> usize {
        self.dim
    }
    fn apply(&mut self, x: &[f64], y: &mut [f64]) -> Result<()> {
        (self.f)(x, y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagonal_plus_low_rank_matches_its_dense_matrix() {
        let (d, r) = (5, 2);
        let diag: Vec<f64> = (0..d).map(|i| 1.0 + i as f64).collect();
        let u: Vec<f64> = (0..d * r)
            .map(|i| ((i * 7 % 5) as f64 - 2.0) * 0.3)
            .collect();
        let s = vec![2.0, -0.5];
        let mut op = DiagonalPlusLowRank::new(diag.clone(), u.clone(), s.clone()).unwrap();
        let mut dense = Matrix::diagonal(&diag);
        for i in 0..d {
            for j in 0..d {
                for k in 0..r {
                    dense.data[i * d + j] += s[k] * u[k * d + i] * u[k * d + j];
                }
            }
        }
        let x: Vec<f64> = (0..d).map(|i| (i as f64).sin()).collect();
        let (mut y1, mut y2) = (vec![0.0; d], vec![0.0; d]);
        op.apply(&x, &mut y1).unwrap();
        dense.apply(&x, &mut y2).unwrap();
        for (a, b) in y1.iter().zip(&y2) {
            assert!((a - b).abs() < 1e-13, "{a} vs {b}");
        }
        assert!(DiagonalPlusLowRank::new(diag, u[..3].to_vec(), s).is_err());
    }
}
