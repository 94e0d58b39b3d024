//! The Arrhenius fit ln E\[τ\] = ln A + κ ln ε + V₀ · (1/ε²) by weighted least squares.
//!
//! By Freidlin–Wentzell theory lim ε² ln E\[τ\] = V₀ (the paper's Theorem 1), so the slope of
//! yᵢ = ln τ̂ᵢ − κ ln εᵢ against xᵢ = 1/εᵢ² estimates V₀ and the intercept the prefactor A.
//! κ is the known power of ε in the prefactor, E\[τ\] ≈ A εᵏ e^{V₀/ε²}: κ = 0 for exit over a
//! saddle on ∂D (characteristic boundary; Eyring–Kramers), κ = 1 for a non-characteristic
//! boundary (the drift points into D, e.g. level sets and balls about θ*) with a single
//! non-degenerate minimum of V on ∂D (Day 1987; for the 1-D Ornstein–Uhlenbeck process
//! E\[τ\] ≈ (√π ε / 2r) e^{r²/ε²}). Ignoring κ biases the slope by about −κ/(2x̄) at moderate ε. Weights
//! wᵢ = 1/SE(ln τ̂ᵢ)² (delta method). With S = Σw, Sₓ = Σwx, S_y = Σwy, Sₓₓ = Σwx², Sₓᵧ = Σwxy
//! and Δ = S Sₓₓ − Sₓ²: slope = (S Sₓᵧ − Sₓ S_y)/Δ, intercept = (Sₓₓ S_y − Sₓ Sₓᵧ)/Δ,
//! Var(slope) = S/Δ, Var(intercept) = Sₓₓ/Δ. With more than two points the variances are
//! multiplied by the Birge ratio χ²/(n−2) when it exceeds 1 (the finite-ε curvature of the
//! Arrhenius law then shows as excess scatter), and the interval uses Student's t with n − 2
//! degrees of freedom; otherwise z = 1.96.

// `!(a < b)` is deliberate: NaN counts as "outside"/"degenerate". Index loops mirror the
// formulas in the numerical kernels.
#![allow(clippy::neg_cmp_op_on_partial_ord, clippy::needless_range_loop)]

use super::stats::Z95;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// One noise level's estimate.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct ArrheniusPoint {
    /// ε.
    pub eps: f64,
    /// Estimated E\[τ\] (time units).
    pub mean: f64,
    /// SE of ln E\[τ\].
    pub log_se: f64,
}

/// The fitted line.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ArrheniusFit {
    /// Slope: the V₀ estimate.
    pub slope: f64,
    /// Its standard error.
    pub slope_se: f64,
    /// 95 % interval of the slope.
    pub slope_ci95: [f64; 2],
    /// ln A.
    pub intercept: f64,
    /// SE of ln A.
    pub intercept_se: f64,
    /// Prefactor A = e^{intercept}.
    pub prefactor: f64,
    /// 95 % interval of A.
    pub prefactor_ci95: [f64; 2],
    /// χ² of the weighted residuals.
    pub chi2: f64,
    /// Degrees of freedom n − 2.
    pub dof: usize,
    /// Factor applied to the variances (≥ 1).
    pub variance_scale: f64,
    /// κ: the power of ε taken out of the prefactor (y = ln E\[τ\] − κ ln ε).
    pub prefactor_exponent: f64,
    /// Points used.
    pub points: Vec<ArrheniusPoint>,
}

impl ArrheniusPoint {
    /// y = ln E\[τ\] − κ ln ε.
    pub fn y(&self, kappa: f64) -> f64 {
        self.mean.ln() - kappa * self.eps.ln()
    }
}

/// Two-sided 97.5 % Student quantile for `dof` degrees of freedom.
fn t975(dof: usize) -> f64 {
    const T: [f64; 10] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    ];
    match dof {
        0 => Z95,
        1..=10 => T[dof - 1],
        _ => Z95 + 2.4 / dof as f64,
    }
}

impl ArrheniusFit {
    /// Whether V₀ = `v0` lies inside the slope's 95 % interval.
    pub fn covers(&self, v0: f64) -> bool {
        self.slope_ci95[0] <= v0 && v0 <= self.slope_ci95[1]
    }
    /// y = ln E\[τ\] − κ ln ε on the fitted line at 1/ε² = x.
    pub fn line(&self, x: f64) -> f64 {
        self.intercept + self.slope * x
    }
    /// The line of slope `v0` through the weighted centroid of the points (for plots).
    pub fn predicted_line(&self, v0: f64) -> (f64, f64) {
        let (mut s, mut sx, mut sy) = (0.0, 0.0, 0.0);
        for p in &self.points {
            let w = 1.0 / (p.log_se * p.log_se);
            s += w;
            sx += w / (p.eps * p.eps);
            sy += w * p.y(self.prefactor_exponent);
        }
        (sy / s - v0 * sx / s, v0)
    }
}

/// Fit y = ln E\[τ\] − κ ln ε against 1/ε² (needs ≥ 2 distinct ε with finite, positive standard
/// errors); κ = `prefactor_exponent`.
pub fn fit_arrhenius(points: &[ArrheniusPoint], prefactor_exponent: f64) -> Result<ArrheniusFit> {
    let kappa = prefactor_exponent;
    let good: Vec<ArrheniusPoint> = points
        .iter()
        .copied()
        .filter(|p| p.mean > 0.0 && p.mean.is_finite() && p.log_se > 0.0 && p.log_se.is_finite())
        .collect();
    if good.len() < 2 {
        return Err(Error::invalid(
            "--eps",
            format!(
                "the Arrhenius fit needs at least two noise levels with a finite mean exit time and standard error; got {}",
                good.len()
            ),
        ));
    }
    let (mut s, mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for p in &good {
        let (x, y, w) = (
            1.0 / (p.eps * p.eps),
            p.y(kappa),
            1.0 / (p.log_se * p.log_se),
        );
        s += w;
        sx += w * x;
        sy += w * y;
        sxx += w * x * x;
        sxy += w * x * y;
    }
    let delta = s * sxx - sx * sx;
    if !(delta > 1e-12 * s * sxx) {
        return Err(Error::invalid(
            "--eps",
            "the Arrhenius fit needs at least two distinct noise levels",
        ));
    }
    let slope = (s * sxy - sx * sy) / delta;
    let intercept = (sxx * sy - sx * sxy) / delta;
    let chi2: f64 = good
        .iter()
        .map(|p| {
            let r = p.y(kappa) - intercept - slope / (p.eps * p.eps);
            r * r / (p.log_se * p.log_se)
        })
        .sum();
    let dof = good.len() - 2;
    let scale = if dof > 0 {
        (chi2 / dof as f64).max(1.0)
    } else {
        1.0
    };
    let t = if dof > 0 { t975(dof) } else { Z95 };
    let slope_se = (scale * s / delta).sqrt();
    let intercept_se = (scale * sxx / delta).sqrt();
    Ok(ArrheniusFit {
        slope,
        slope_se,
        slope_ci95: [slope - t * slope_se, slope + t * slope_se],
        intercept,
        intercept_se,
        prefactor: intercept.exp(),
        prefactor_ci95: [
            (intercept - t * intercept_se).exp(),
            (intercept + t * intercept_se).exp(),
        ],
        chi2,
        dof,
        variance_scale: scale,
        prefactor_exponent: kappa,
        points: good,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_an_exact_line_and_its_interval_shrinks_with_the_errors() {
        let pts: Vec<ArrheniusPoint> = [0.5, 0.4, 0.3]
            .iter()
            .map(|&e: &f64| ArrheniusPoint {
                eps: e,
                mean: (0.3f64 + 0.7 / (e * e)).exp(),
                log_se: 0.01,
            })
            .collect();
        let f = fit_arrhenius(&pts, 0.0).unwrap();
        assert!((f.slope - 0.7).abs() < 1e-10 && (f.intercept - 0.3).abs() < 1e-9);
        assert!(f.covers(0.7) && !f.covers(0.8));
        // Two points: slope SE = √(σ₁² + σ₂²)/(x₁ − x₂).
        let f2 = fit_arrhenius(&pts[..2], 0.0).unwrap();
        let se = (2.0f64).sqrt() * 0.01 / (1.0 / 0.16 - 1.0 / 0.25);
        assert!((f2.slope_se - se).abs() < 1e-12);
        assert!(fit_arrhenius(&pts[..1], 0.0).is_err());
        // With a prefactor ε¹: κ = 1 recovers it exactly, κ = 0 biases the slope down.
        let pk: Vec<ArrheniusPoint> = pts
            .iter()
            .map(|p| ArrheniusPoint {
                mean: p.mean * p.eps,
                ..*p
            })
            .collect();
        let f1 = fit_arrhenius(&pk, 1.0).unwrap();
        assert!((f1.slope - 0.7).abs() < 1e-10);
        assert!(fit_arrhenius(&pk, 0.0).unwrap().slope < 0.65);
    }
}
