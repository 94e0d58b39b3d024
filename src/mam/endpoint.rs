//! The last node of a path: a fixed target, or a point of ∂D moved along the boundary through a
//! chart y ↦ x(y) ∈ ∂D, so that L-BFGS works on an unconstrained parameter y ∈ ℝᵈ.
//!
//! - Half-space {n·x < c}: x = y − (n·y − c) n (orthogonal projection; its Jacobian P = I − nnᵀ is
//!   symmetric, so ∂S/∂y = P ∂S/∂x).
//! - Every other domain (star-shaped about θ*): the radial chart x = θ* + ρ(u) u with u = y/|y|
//!   and g(θ* + ρu) = 0 solved by safeguarded Newton. By the implicit function theorem
//!   ∂x/∂y = (ρ/|y|)(I − u∇gᵀ/(∇g·u))(I − uuᵀ), which gives the pulled-back gradient.

#![allow(clippy::needless_range_loop)] // index loops mirror the formulas in the kernels

use crate::error::{Error, Result};
use crate::linalg::dot;
use crate::problem::Domain;

/// Where the path ends.
#[derive(Clone, Debug)]
pub enum Endpoint {
    /// A fixed target point.
    Fixed(Vec<f64>),
    /// Free on ∂D.
    Boundary(BoundaryChart),
}

/// A chart of ∂D.
#[derive(Clone, Debug)]
pub enum BoundaryChart {
    /// Orthogonal projection onto the plane n·x = c.
    Plane {
        /// Unit normal n.
        normal: Vec<f64>,
        /// c.
        offset: f64,
    },
    /// Radial chart about θ* for a bounded, star-shaped D.
    Radial {
        /// θ*.
        center: Vec<f64>,
        /// D.
        domain: Domain,
    },
}

/// Scratch space for the radial chart's root finding.
#[derive(Clone, Debug)]
pub struct ChartScratch {
    x: Vec<f64>,
    grad: Vec<f64>,
    rho_guess: f64,
}

impl ChartScratch {
    /// For dimension d.
    pub fn new(d: usize) -> Self {
        ChartScratch {
            x: vec![0.0; d],
            grad: vec![0.0; d],
            rho_guess: 0.0,
        }
    }
}

impl BoundaryChart {
    /// The chart for the problem's domain, centred at θ*.
    pub fn for_domain(domain: &Domain, center: &[f64]) -> Self {
        match domain {
            Domain::HalfSpace { normal, offset } => BoundaryChart::Plane {
                normal: normal.clone(),
                offset: *offset,
            },
            _ => BoundaryChart::Radial {
                center: center.to_vec(),
                domain: domain.clone(),
            },
        }
    }

    /// The parameter y of a point x ∈ ∂D (x itself for the plane, x − θ* for the radial chart).
    pub fn parameter_of(&self, x: &[f64]) -> Vec<f64> {
        match self {
            BoundaryChart::Plane { .. } => x.to_vec(),
            BoundaryChart::Radial { center, .. } => {
                x.iter().zip(center).map(|(a, c)| a - c).collect()
            }
        }
    }

    /// x(y) ∈ ∂D into `x`.
    ///
    /// # Errors
    /// When the ray from θ* in direction y never leaves D, or y = 0.
    pub fn point(&self, y: &[f64], x: &mut [f64], s: &mut ChartScratch) -> Result<()> {
        match self {
            BoundaryChart::Plane { normal, offset } => {
                let g = dot(normal, y) - offset;
                for k in 0..y.len() {
                    x[k] = y[k] - g * normal[k];
                }
                Ok(())
            }
            BoundaryChart::Radial { center, domain } => {
                let ny = dot(y, y).sqrt();
                if ny.is_nan() || ny <= 0.0 || !ny.is_finite() {
                    return Err(Error::numerical(
                        "boundary chart",
                        "the endpoint direction is zero or not finite",
                    ));
                }
                let rho = self.radius(center, domain, y, ny, s)?;
                for k in 0..y.len() {
                    x[k] = center[k] + rho * y[k] / ny;
                }
                Ok(())
            }
        }
    }

    /// ρ(u) with g(θ* + ρu) = 0, u = y/|y|.
    fn radius(
        &self,
        center: &[f64],
        domain: &Domain,
        y: &[f64],
        ny: f64,
        s: &mut ChartScratch,
    ) -> Result<f64> {
        let d = y.len();
        let h = |rho: f64, s: &mut ChartScratch, deriv: bool| -> (f64, f64) {
            for k in 0..d {
                s.x[k] = center[k] + rho * y[k] / ny;
            }
            let g = domain.level(&s.x);
            if !deriv {
                return (g, 0.0);
            }
            domain.level_gradient(&s.x, &mut s.grad);
            (g, dot(&s.grad, y) / ny)
        };
        // Safeguarded Newton from the last root (the previous call's ray is close): the bracket
        // [lo, hi] with h(lo) < 0 ≤ h(hi) is tightened as points are seen (hi = ∞ until a point
        // outside D is found, doubling ρ where Newton does not move outwards). A Newton step of
        // relative size δ leaves an error O(δ²): below δ = 1e-9 it is taken and the search ends.
        let mut lo = 0.0;
        let mut hi = f64::INFINITY;
        let mut rho = if s.rho_guess > 0.0 { s.rho_guess } else { 1.0 };
        let mut converged = false;
        for _ in 0..300 {
            let (g, dg) = h(rho, s, true);
            if g == 0.0 {
                converged = true;
                break;
            }
            if g < 0.0 {
                lo = rho;
            } else {
                hi = rho;
            }
            let mut next = if dg > 0.0 { rho - g / dg } else { f64::NAN };
            let newton = next > lo && next < hi;
            if !newton {
                next = if hi.is_finite() {
                    0.5 * (lo + hi)
                } else {
                    2.0 * rho
                };
            }
            let step = (next - rho).abs();
            rho = next;
            let bracketed = hi.is_finite() && hi - lo <= 1e-15 * hi;
            if (newton && step <= 1e-9 * rho) || bracketed {
                converged = true;
                break;
            }
        }
        if !converged {
            return Err(Error::numerical(
                "boundary chart",
                format!(
                    "the ray from θ* in direction {} does not leave D",
                    crate::problem::check::fmt_theta(y)
                ),
            ));
        }
        s.rho_guess = rho;
        Ok(rho)
    }

    /// gy = (∂x/∂y)ᵀ gx at the point x = x(y).
    pub fn pull_back(
        &self,
        y: &[f64],
        x: &[f64],
        gx: &[f64],
        gy: &mut [f64],
        s: &mut ChartScratch,
    ) {
        let d = y.len();
        match self {
            BoundaryChart::Plane { normal, .. } => {
                let c = dot(normal, gx);
                for k in 0..d {
                    gy[k] = gx[k] - c * normal[k];
                }
            }
            BoundaryChart::Radial { center, domain } => {
                let ny = dot(y, y).sqrt();
                let rho = x
                    .iter()
                    .zip(center)
                    .map(|(a, c)| (a - c) * (a - c))
                    .sum::<f64>()
                    .sqrt();
                domain.level_gradient(x, &mut s.grad);
                let gu: f64 = (0..d).map(|k| s.grad[k] * y[k]).sum::<f64>() / ny;
                let ugx: f64 = (0..d).map(|k| y[k] * gx[k]).sum::<f64>() / ny;
                // v = gx − ∇g (u·gx)/(∇g·u); gy = (ρ/|y|)(v − u(u·v)).
                let c = if gu.abs() > f64::MIN_POSITIVE {
                    ugx / gu
                } else {
                    0.0
                };
                let mut uv = 0.0;
                for k in 0..d {
                    gy[k] = gx[k] - s.grad[k] * c;
                    uv += y[k] / ny * gy[k];
                }
                let f = rho / ny;
                for k in 0..d {
                    gy[k] = f * (gy[k] - y[k] / ny * uv);
                }
            }
        }
    }
}

impl Endpoint {
    /// Number of parameters the endpoint contributes (0 or d).
    pub fn parameters(&self, d: usize) -> usize {
        match self {
            Endpoint::Fixed(_) => 0,
            Endpoint::Boundary(_) => d,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::Matrix;
    use crate::problem::Loss;

    #[test]
    fn radial_chart_lands_on_the_boundary_and_pulls_back_exactly() {
        let h = Matrix::from_rows(
            &[
                vec![2.0, 0.3, 0.0],
                vec![0.3, 1.0, 0.2],
                vec![0.0, 0.2, 0.5],
            ],
            "h",
        )
        .unwrap();
        let center = vec![0.1, -0.2, 0.3];
        let dom = Domain::LevelSet {
            loss: Loss::Quadratic {
                hessian: h.clone(),
                center: center.clone(),
            },
            base: 0.0,
            depth: 0.7,
        };
        for chart in [
            BoundaryChart::for_domain(&dom, &center),
            BoundaryChart::for_domain(
                &Domain::Ball {
                    center: center.clone(),
                    radius: 0.8,
                },
                &center,
            ),
            // Deeper: ρ > 1 (the first guess) in every direction, the root search starts inside.
            BoundaryChart::for_domain(
                &Domain::LevelSet {
                    loss: Loss::Quadratic {
                        hessian: h.clone(),
                        center: center.clone(),
                    },
                    base: 0.0,
                    depth: 6.0,
                },
                &center,
            ),
            BoundaryChart::Plane {
                normal: vec![0.6, 0.0, 0.8],
                offset: 0.5,
            },
        ] {
            let mut s = ChartScratch::new(3);
            let mut x = vec![0.0; 3];
            let level = |x: &[f64]| match &chart {
                BoundaryChart::Plane { normal, offset } => dot(normal, x) - offset,
                BoundaryChart::Radial { domain, .. } => domain.level(x),
            };
            // A sequence of directions through one scratch (each search starts from the last
            // root, from inside or outside D).
            for y in [[0.9, 0.1, -0.2], [-0.2, 0.05, 0.1], [0.3, -0.5, 0.4]] {
                chart.point(&y, &mut x, &mut s).unwrap();
                let g = level(&x);
                assert!(g.abs() < 1e-12, "{chart:?} {y:?}: g = {g}");
            }
            let y = vec![0.3, -0.5, 0.4];
            // Directional derivative of f(x(y)) = w·x(y) against the pulled-back gradient.
            let w = [0.7, -0.1, 0.4];
            let mut gy = vec![0.0; 3];
            chart.pull_back(&y, &x, &w, &mut gy, &mut s);
            for k in 0..3 {
                let mut yp = y.clone();
                let mut ym = y.clone();
                yp[k] += 1e-6;
                ym[k] -= 1e-6;
                let (mut xp, mut xm) = (vec![0.0; 3], vec![0.0; 3]);
                chart.point(&yp, &mut xp, &mut s).unwrap();
                chart.point(&ym, &mut xm, &mut s).unwrap();
                let fd = (dot(&w, &xp) - dot(&w, &xm)) / 2e-6;
                assert!(
                    (fd - gy[k]).abs() < 1e-7,
                    "{chart:?} k={k}: {fd} vs {}",
                    gy[k]
                );
            }
        }
    }
}
