//! Domains D about the minimum: membership, a level function g (D = {g < 0}), its outward
//! normal, and projection onto ∂D = {g = 0}.

use super::drift::Loss;
use super::model::ScalarField;
use crate::linalg::{dot, norm, quad_form, Matrix};
use faer::linalg::solvers::DenseSolveCore;

/// A neighbourhood D of θ*.
#[derive(Clone, Debug)]
pub enum Domain {
    /// {L(θ) − L(θ*) < ΔL}.
    LevelSet {
        /// L.
        loss: Loss,
        /// L(θ*).
        base: f64,
        /// ΔL, the depth.
        depth: f64,
    },
    /// {|θ − c| < r}.
    Ball {
        /// c.
        center: Vec<f64>,
        /// r.
        radius: f64,
    },
    /// {(θ−c)ᵀ Q (θ−c) < 1}, Q SPD.
    Ellipsoid {
        /// c.
        center: Vec<f64>,
        /// Q.
        q: Matrix,
    },
    /// {lo < θ < hi} component-wise.
    Box {
        /// Lower corner.
        lo: Vec<f64>,
        /// Upper corner.
        hi: Vec<f64>,
    },
    /// {n·θ < c}, |n| = 1.
    HalfSpace {
        /// Unit normal n.
        normal: Vec<f64>,
        /// c.
        offset: f64,
    },
}

impl Domain {
    /// The same domain with its formulas interpreted instead of compiled.
    pub fn interpreted(&self) -> Self {
        match self {
            Domain::LevelSet { loss, base, depth } => Domain::LevelSet {
                loss: loss.interpreted(),
                base: *base,
                depth: *depth,
            },
            other => other.clone(),
        }
    }
    /// The name used in files.
    pub fn kind(&self) -> &'static str {
        match self {
            Domain::LevelSet { .. } => "level-set",
            Domain::Ball { .. } => "ball",
            Domain::Ellipsoid { .. } => "ellipsoid",
            Domain::Box { .. } => "box",
            Domain::HalfSpace { .. } => "half-space",
        }
    }

    /// Level function g: negative inside, zero on ∂D, positive outside.
    #[inline]
    pub fn level(&self, x: &[f64]) -> f64 {
        match self {
            Domain::LevelSet { loss, base, depth } => loss.value(x) - base - depth,
            Domain::Ball { center, radius } => {
                let s: f64 = x.iter().zip(center).map(|(a, c)| (a - c) * (a - c)).sum();
                s.sqrt() - radius
            }
            Domain::Ellipsoid { center, q } => {
                let d = center.len();
                let mut buf = [0.0f64; 64];
                if d <= 64 {
                    for i in 0..d {
                        buf[i] = x[i] - center[i];
                    }
                    quad_form(&q.data, d, &buf[..d], &buf[..d]) - 1.0
                } else {
                    let u: Vec<f64> = x.iter().zip(center).map(|(a, c)| a - c).collect();
                    quad_form(&q.data, d, &u, &u) - 1.0
                }
            }
            Domain::Box { lo, hi } => {
                let mut g = f64::NEG_INFINITY;
                for i in 0..x.len() {
                    g = g.max(lo[i] - x[i]).max(x[i] - hi[i]);
                }
                g
            }
            Domain::HalfSpace { normal, offset } => dot(normal, x) - offset,
        }
    }

    /// θ ∈ D.
    #[inline]
    pub fn contains(&self, x: &[f64]) -> bool {
        self.level(x) < 0.0
    }

    /// ∇g(x) (not normalised; for the box, the normal of the nearest face).
    pub fn level_gradient(&self, x: &[f64], out: &mut [f64]) {
        match self {
            Domain::LevelSet { loss, .. } => loss.gradient(x, out),
            Domain::Ball { center, .. } => {
                let r = x
                    .iter()
                    .zip(center)
                    .map(|(a, c)| (a - c) * (a - c))
                    .sum::<f64>()
                    .sqrt()
                    .max(1e-300);
                for i in 0..x.len() {
                    out[i] = (x[i] - center[i]) / r;
                }
            }
            Domain::Ellipsoid { center, q } => {
                let d = center.len();
                for i in 0..d {
                    let mut s = 0.0;
                    for j in 0..d {
                        s += q.data[i * d + j] * (x[j] - center[j]);
                    }
                    out[i] = 2.0 * s;
                }
            }
            Domain::Box { lo, hi } => {
                out.fill(0.0);
                let (mut best, mut k, mut sign) = (f64::NEG_INFINITY, 0, 1.0);
                for i in 0..x.len() {
                    if lo[i] - x[i] > best {
                        best = lo[i] - x[i];
                        k = i;
                        sign = -1.0;
                    }
                    if x[i] - hi[i] > best {
                        best = x[i] - hi[i];
                        k = i;
                        sign = 1.0;
                    }
                }
                out[k] = sign;
            }
            Domain::HalfSpace { normal, .. } => out.copy_from_slice(normal),
        }
    }

    /// Outward unit normal at x.
    pub fn normal(&self, x: &[f64], out: &mut [f64]) {
        self.level_gradient(x, out);
        let n = norm(out).max(1e-300);
        for o in out.iter_mut() {
            *o /= n;
        }
    }

    /// Approximate signed distance to ∂D: g / |∇g| (exact for ball, box faces and half-space).
    pub fn signed_distance(&self, x: &[f64], grad: &mut [f64]) -> f64 {
        let g = self.level(x);
        match self {
            Domain::Ball { .. } | Domain::Box { .. } | Domain::HalfSpace { .. } => g,
            _ => {
                self.level_gradient(x, grad);
                g / norm(grad).max(1e-300)
            }
        }
    }

    /// Project x onto ∂D in place (Newton steps along ∇g for curved boundaries).
    pub fn project(&self, x: &mut [f64]) {
        match self {
            Domain::Ball { center, radius } => {
                let r = x
                    .iter()
                    .zip(center)
                    .map(|(a, c)| (a - c) * (a - c))
                    .sum::<f64>()
                    .sqrt();
                if r == 0.0 {
                    x[0] = center[0] + radius;
                    return;
                }
                for i in 0..x.len() {
                    x[i] = center[i] + (x[i] - center[i]) * radius / r;
                }
            }
            Domain::HalfSpace { normal, offset } => {
                let g = dot(normal, x) - offset;
                for i in 0..x.len() {
                    x[i] -= g * normal[i];
                }
            }
            Domain::Box { lo, hi } => {
                // Move the coordinate of the face nearest to (or furthest past) onto it.
                for i in 0..x.len() {
                    x[i] = x[i].clamp(lo[i], hi[i]);
                }
                let (mut best, mut k, mut to) = (f64::INFINITY, 0, lo[0]);
                for i in 0..x.len() {
                    if x[i] - lo[i] < best {
                        best = x[i] - lo[i];
                        k = i;
                        to = lo[i];
                    }
                    if hi[i] - x[i] < best {
                        best = hi[i] - x[i];
                        k = i;
                        to = hi[i];
                    }
                }
                x[k] = to;
            }
            Domain::Ellipsoid { .. } | Domain::LevelSet { .. } => {
                let mut grad = vec![0.0; x.len()];
                for _ in 0..50 {
                    let g = self.level(x);
                    self.level_gradient(x, &mut grad);
                    let gg = dot(&grad, &grad);
                    if gg == 0.0 {
                        break;
                    }
                    let step = g / gg;
                    for i in 0..x.len() {
                        x[i] -= step * grad[i];
                    }
                    if g.abs() < 1e-14 {
                        break;
                    }
                }
            }
        }
    }

    /// Whether D is bounded (half-spaces are not; level sets are assumed bounded and checked by
    /// the engines that need it).
    pub fn is_bounded(&self) -> bool {
        !matches!(self, Domain::HalfSpace { .. })
    }

    /// An axis-aligned box containing D, if one is known cheaply: (lo, hi).
    pub fn bounding_box(&self) -> Option<(Vec<f64>, Vec<f64>)> {
        match self {
            Domain::Ball { center, radius } => Some((
                center.iter().map(|c| c - radius).collect(),
                center.iter().map(|c| c + radius).collect(),
            )),
            Domain::Box { lo, hi } => Some((lo.clone(), hi.clone())),
            Domain::Ellipsoid { center, q } => {
                // Half-widths sqrt((Q⁻¹)ᵢᵢ).
                let qi = q.to_faer().partial_piv_lu().inverse();
                let w: Vec<f64> = (0..center.len())
                    .map(|i| qi[(i, i)].max(0.0).sqrt())
                    .collect();
                Some((
                    center.iter().zip(&w).map(|(c, w)| c - w).collect(),
                    center.iter().zip(&w).map(|(c, w)| c + w).collect(),
                ))
            }
            Domain::LevelSet {
                loss: Loss::Quadratic { hessian, center },
                depth,
                ..
            } => {
                let q = Matrix {
                    n: hessian.n,
                    data: hessian.data.iter().map(|h| h / (2.0 * depth)).collect(),
                };
                Domain::Ellipsoid {
                    center: center.clone(),
                    q,
                }
                .bounding_box()
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projections_land_on_the_boundary() {
        let h = Matrix::from_rows(&[vec![2.0, 0.3], vec![0.3, 1.0]], "h").unwrap();
        let domains = [
            Domain::Ball {
                center: vec![0.1, 0.2],
                radius: 0.7,
            },
            Domain::Ellipsoid {
                center: vec![0.0, 0.0],
                q: h.clone(),
            },
            Domain::Box {
                lo: vec![-1.0, -2.0],
                hi: vec![1.0, 0.5],
            },
            Domain::HalfSpace {
                normal: vec![0.6, 0.8],
                offset: 0.3,
            },
            Domain::LevelSet {
                loss: Loss::Quadratic {
                    hessian: h,
                    center: vec![0.0, 0.0],
                },
                base: 0.0,
                depth: 0.5,
            },
        ];
        for d in &domains {
            let mut x = vec![0.25, -0.15];
            d.project(&mut x);
            assert!(
                d.level(&x).abs() < 1e-12,
                "{}: g = {}",
                d.kind(),
                d.level(&x)
            );
            assert!(d.contains(&[0.0, 0.0]), "{}", d.kind());
        }
    }
}
