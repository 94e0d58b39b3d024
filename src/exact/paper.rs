//! The paper's closed-form quantities for a minimum with Hessian H* and depth ΔL
//! (Ibayashi & Imaizumi, Definitions 3–4, Lemmas 3–4, Theorem 2).

use crate::error::{Error, Result};
use crate::linalg::{check_spd, Matrix};
use serde::Serialize;

/// Sharpness and the paper's predicted barriers.
#[derive(Clone, Debug, Serialize)]
pub struct PaperQuantities {
    /// λ_max(H*), the sharpness (Definition 3).
    pub lambda_max: f64,
    /// λ_min(H*).
    pub lambda_min: f64,
    /// κ = λ_max/λ_min.
    pub kappa: f64,
    /// ΔL, the depth of the minimum.
    pub depth: f64,
    /// Theorem 2's main term 2ΔL λ_max^{-1/2}.
    pub theorem2_term: f64,
    /// V̂₀ = 2ΔL, the proximal system's barrier (Lemma 3, a = I on a level set).
    pub proximal_v0: f64,
    /// Lemma 4's bound factor λ_min^{1/2}(κ^{1/2} − 1): |V₀ − λ_max^{-1/2}V̂₀| ≤ A·(this).
    pub lemma4_bound_factor: f64,
}

impl PaperQuantities {
    /// From H* (must be SPD) and ΔL > 0.
    pub fn new(hessian: &Matrix, depth: f64) -> Result<Self> {
        if !(depth > 0.0 && depth.is_finite()) {
            return Err(Error::invalid(
                "--depth",
                format!("ΔL must be a positive number, got {depth}"),
            ));
        }
        let vals = check_spd(hessian, "H*")?;
        Ok(Self::from_extremes(
            vals[0],
            *vals.last().expect("non-empty"),
            depth,
        ))
    }

    /// From λ_min, λ_max of H* (0 < λ_min ≤ λ_max, checked by the caller) and ΔL > 0 (as
    /// checked by [`PaperQuantities::new`]).
    pub fn from_extremes(lambda_min: f64, lambda_max: f64, depth: f64) -> Self {
        let kappa = lambda_max / lambda_min;
        PaperQuantities {
            lambda_max,
            lambda_min,
            kappa,
            depth,
            theorem2_term: 2.0 * depth / lambda_max.sqrt(),
            proximal_v0: 2.0 * depth,
            lemma4_bound_factor: lambda_min.sqrt() * (kappa.sqrt() - 1.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagonal_case() {
        let h = Matrix::diagonal(&[1.0, 4.0]);
        let p = PaperQuantities::new(&h, 1.0).unwrap();
        assert_eq!(p.kappa, 4.0);
        assert!((p.theorem2_term - 1.0).abs() < 1e-15);
        assert!((p.lemma4_bound_factor - 1.0).abs() < 1e-15);
        assert!(PaperQuantities::new(&h, -1.0).is_err());
    }
}
