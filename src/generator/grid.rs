//! The tensor grid of the generator solve, the default box, and the classification of its nodes
//! (unknown inside D, Dirichlet on or outside ∂D, reflecting on a truncation wall).

use crate::error::{Error, Result};
use crate::problem::{Domain, Problem};
use serde::Serialize;

/// A uniform tensor grid of `n` nodes per axis on the box `lo`..`hi` (d = 1 or 2):
/// node (i, j) is at (lo₀ + i·h₀, lo₁ + j·h₁), hₖ = (hiₖ − loₖ)/(n − 1), with flat index i + n·j.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Grid {
    /// Dimension d.
    pub dim: usize,
    /// Nodes per axis N.
    pub n: usize,
    /// Lower corner of the box.
    pub lo: Vec<f64>,
    /// Upper corner of the box.
    pub hi: Vec<f64>,
    /// Spacing per axis.
    pub h: Vec<f64>,
}

impl Grid {
    /// The grid of `n` nodes per axis on `lo`..`hi`.
    pub fn new(n: usize, lo: &[f64], hi: &[f64]) -> Self {
        let h = lo
            .iter()
            .zip(hi)
            .map(|(a, b)| (b - a) / (n - 1) as f64)
            .collect();
        Grid {
            dim: lo.len(),
            n,
            lo: lo.to_vec(),
            hi: hi.to_vec(),
            h,
        }
    }

    /// Number of nodes Nᵈ.
    pub fn len(&self) -> usize {
        self.n.pow(self.dim as u32)
    }

    /// Whether the grid has no nodes (never, for a validated grid).
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Coordinates of axis k.
    pub fn axis(&self, k: usize) -> Vec<f64> {
        (0..self.n)
            .map(|i| self.lo[k] + i as f64 * self.h[k])
            .collect()
    }

    /// Multi-index (i, j) of flat index `idx` (j = 0 in 1-D).
    #[inline]
    pub fn split(&self, idx: usize) -> [usize; 2] {
        if self.dim == 1 {
            [idx, 0]
        } else {
            [idx % self.n, idx / self.n]
        }
    }

    /// Position of node `idx` written into `x` (length d).
    #[inline]
    pub fn point(&self, idx: usize, x: &mut [f64]) {
        let ij = self.split(idx);
        for k in 0..self.dim {
            x[k] = self.lo[k] + ij[k] as f64 * self.h[k];
        }
    }

    /// Flat index stride of axis k.
    #[inline]
    pub fn stride(&self, k: usize) -> usize {
        if k == 0 {
            1
        } else {
            self.n
        }
    }
}

/// What a grid node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// Outside D or on ∂D: T = 0 there.
    Dirichlet,
    /// Inside D: an unknown (its row in the linear system).
    Unknown(usize),
}

/// The region the equation is solved in: D, or D minus the closed ball B̄(c, r) (the committor's
/// region), with level function max(g_D(x), r − |x − c|) (negative inside).
#[derive(Clone, Copy, Debug)]
pub struct Region<'a> {
    /// D.
    pub domain: &'a Domain,
    /// The ball (centre, radius) removed from D.
    pub hole: Option<(&'a [f64], f64)>,
}

impl Region<'_> {
    /// Level function: negative inside the region.
    #[inline]
    pub fn level(&self, x: &[f64]) -> f64 {
        let g = self.domain.level(x);
        match self.hole {
            None => g,
            Some((c, r)) => g.max(r - dist(x, c)),
        }
    }

    /// Whether x is inside the region.
    #[inline]
    pub fn contains(&self, x: &[f64]) -> bool {
        self.level(x) < 0.0
    }

    /// The Dirichlet value at a point on or outside the region's boundary: 1 on the ∂D side and
    /// 0 on the ball's side when there is a hole (the committor's data), else 0.
    #[inline]
    pub fn boundary_value(&self, x: &[f64]) -> f64 {
        match self.hole {
            Some((c, r)) if self.domain.level(x) >= r - dist(x, c) => 1.0,
            _ => 0.0,
        }
    }
}

#[inline]
fn dist(x: &[f64], c: &[f64]) -> f64 {
    x.iter()
        .zip(c)
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f64>()
        .sqrt()
}

/// Node kinds and the unknowns' numbering.
pub struct Classification {
    /// Kind of every node.
    pub kinds: Vec<NodeKind>,
    /// Flat node index of every unknown.
    pub unknowns: Vec<usize>,
    /// Unknowns on a reflecting box face (the box truncates D there).
    pub reflecting: usize,
}

/// Classify the nodes: inside the region (D, or D minus the committor's ball) is an unknown, except on a box face where a
/// point 10⁻⁶h beyond the face is outside D (the face then lies on ∂D, up to 10⁻⁶h); other
/// unknowns on a face are reflecting (zero normal derivative).
pub fn classify(grid: &Grid, domain: &Region) -> Classification {
    let n = grid.n;
    let mut kinds = vec![NodeKind::Dirichlet; grid.len()];
    let mut unknowns = Vec::new();
    let mut reflecting = 0;
    let mut x = [0.0; 2];
    let mut y = [0.0; 2];
    let d = grid.dim;
    for idx in 0..grid.len() {
        grid.point(idx, &mut x[..d]);
        if !domain.contains(&x[..d]) {
            continue;
        }
        let ij = grid.split(idx);
        let mut on_dboundary = false;
        let mut on_wall = false;
        for k in 0..d {
            for (at, s) in [(0usize, -1.0), (n - 1, 1.0)] {
                if ij[k] == at {
                    y[..d].copy_from_slice(&x[..d]);
                    y[k] += s * 1e-6 * grid.h[k];
                    if domain.contains(&y[..d]) {
                        on_wall = true;
                    } else {
                        on_dboundary = true;
                    }
                }
            }
        }
        if on_dboundary {
            continue;
        }
        if on_wall {
            reflecting += 1;
        }
        kinds[idx] = NodeKind::Unknown(unknowns.len());
        unknowns.push(idx);
    }
    Classification {
        kinds,
        unknowns,
        reflecting,
    }
}

/// Distance t ∈ (0, h] from `x` (inside D) along `s·e_k` to ∂D, where the node at distance h is
/// outside D: the root of the level function g(x + t s e_k) by safeguarded regula falsi
/// (Illinois) to 10⁻¹⁴h, at least 10⁻⁸h (so rows stay well scaled).
pub fn boundary_distance(domain: &Region, x: &[f64], k: usize, s: f64, h: f64) -> f64 {
    let mut y = [0.0; 2];
    let d = x.len();
    let mut g = |t: f64| {
        y[..d].copy_from_slice(x);
        y[k] += s * t;
        domain.level(&y[..d])
    };
    let (mut a, mut b) = (0.0, h);
    let (mut ga, mut gb) = (g(a), g(b));
    if !(ga < 0.0) || !(gb >= 0.0) {
        return h;
    }
    let mut side = 0i32;
    for _ in 0..100 {
        if b - a <= 1e-14 * h {
            break;
        }
        let mut t = (a * gb - b * ga) / (gb - ga);
        if !(t > a && t < b) {
            t = 0.5 * (a + b);
        }
        let gt = g(t);
        if gt < 0.0 {
            a = t;
            ga = gt;
            if side == -1 {
                gb *= 0.5;
            }
            side = -1;
        } else {
            b = t;
            gb = gt;
            if side == 1 {
                ga *= 0.5;
            }
            side = 1;
        }
    }
    (0.5 * (a + b)).max(1e-8 * h)
}

/// The default box, or an error naming `--box` when D is unbounded in a way it cannot handle.
///
/// * D with a known bounding box (ball, box, ellipsoid, quadratic level set): that box.
/// * Half-space {n·θ < c}: θ* ± m·sₖ on each axis, extended to the foot of θ* on ∂D ± m·sₖ,
///   where sₖ = ε·√Σₖₖ is the standard deviation of the Gaussian approximation of the invariant
///   density (Σ from the Lyapunov equation at θ*, [`crate::exact::local_covariance`]); an axis
///   normal puts the face exactly on ∂D. The far faces are reflecting: beyond them the density is
///   below e^{−m²/2} of its peak.
/// * Any other D: the box of ∂D's points along 64 rays from θ* (bisection on the level function),
///   with a 5 % margin; rays that do not leave D within 10⁴ are replaced by the half-space rule.
pub fn default_box(problem: &Problem, eps: f64, margin_std: f64) -> Result<(Vec<f64>, Vec<f64>)> {
    let d = problem.dim();
    let theta = &problem.minimum;
    let std: Vec<f64> = match crate::exact::local_covariance(problem) {
        Ok(sol) => (0..d)
            .map(|k| eps * sol.sigma[(k, k)].max(0.0).sqrt())
            .collect(),
        Err(_) => vec![eps; d],
    };
    if let Some((lo, hi)) = problem.domain.bounding_box() {
        if lo.iter().chain(&hi).all(|v| v.is_finite()) {
            return Ok((lo, hi));
        }
    }
    let m = margin_std;
    let gaussian = |lo: &mut Vec<f64>, hi: &mut Vec<f64>, p: &[f64]| {
        for k in 0..d {
            lo[k] = lo[k].min(p[k] - m * std[k]);
            hi[k] = hi[k].max(p[k] + m * std[k]);
        }
    };
    if let Domain::HalfSpace { normal, offset } = &problem.domain {
        let mut lo = theta.clone();
        let mut hi = theta.clone();
        gaussian(&mut lo, &mut hi, theta);
        let mut foot = theta.clone();
        problem.domain.project(&mut foot);
        gaussian(&mut lo, &mut hi, &foot);
        for k in 0..d {
            if normal[k].abs() > 1.0 - 1e-12 {
                let c = offset / normal[k];
                if normal[k] > 0.0 {
                    hi[k] = c;
                } else {
                    lo[k] = c;
                }
            }
        }
        return Ok((lo, hi));
    }
    // Rays from θ*.
    let rays = if d == 1 { 2 } else { 64 };
    let mut lo = theta.clone();
    let mut hi = theta.clone();
    let mut open = false;
    let mut y = vec![0.0; d];
    for r in 0..rays {
        let dir: Vec<f64> = if d == 1 {
            vec![if r == 0 { -1.0 } else { 1.0 }]
        } else {
            let a = std::f64::consts::TAU * r as f64 / rays as f64;
            vec![a.cos(), a.sin()]
        };
        let at = |t: f64, y: &mut Vec<f64>| {
            for k in 0..d {
                y[k] = theta[k] + t * dir[k];
            }
        };
        let mut t = 1e-3;
        let mut found = None;
        while t < 1e4 {
            at(t, &mut y);
            if !problem.domain.contains(&y) {
                found = Some(t);
                break;
            }
            t *= 2.0;
        }
        let Some(t1) = found else {
            open = true;
            continue;
        };
        let (mut a, mut b) = (0.0, t1);
        for _ in 0..60 {
            let c = 0.5 * (a + b);
            at(c, &mut y);
            if problem.domain.contains(&y) {
                a = c;
            } else {
                b = c;
            }
        }
        at(b, &mut y);
        for k in 0..d {
            lo[k] = lo[k].min(y[k]);
            hi[k] = hi[k].max(y[k]);
        }
    }
    for k in 0..d {
        let w = 0.05 * (hi[k] - lo[k]);
        lo[k] -= w;
        hi[k] += w;
    }
    if open {
        gaussian(&mut lo, &mut hi, theta);
    }
    if (0..d).any(|k| !(hi[k] > lo[k])) {
        return Err(Error::invalid(
            "--box",
            "could not find a box around θ* in D; give one with --box",
        ));
    }
    Ok((lo, hi))
}

/// Tensor cubic Lagrange interpolation of nodal `values` at `x` (4 nodes per axis, shifted
/// inwards at the box edges): fourth order for smooth data, so Richardson extrapolation of
/// T(θ*) is not spoiled by the interpolation when θ* is not a node.
pub fn interpolate(grid: &Grid, values: &[f64], x: &[f64]) -> f64 {
    let d = grid.dim;
    let mut base = [0usize; 2];
    let mut w = [[0.0; 4]; 2];
    let mut len = [1usize; 2];
    for k in 0..d {
        let s = ((x[k] - grid.lo[k]) / grid.h[k]).clamp(0.0, (grid.n - 1) as f64);
        let m = grid.n.min(4);
        let i0 = (s.floor() as isize - 1).clamp(0, (grid.n - m) as isize) as usize;
        base[k] = i0;
        len[k] = m;
        for a in 0..m {
            let mut l = 1.0;
            for b in 0..m {
                if a != b {
                    l *= (s - (i0 + b) as f64) / (a as f64 - b as f64);
                }
            }
            w[k][a] = l;
        }
    }
    if d == 1 {
        (0..len[0]).map(|a| w[0][a] * values[base[0] + a]).sum()
    } else {
        let mut sum = 0.0;
        for bj in 0..len[1] {
            for ai in 0..len[0] {
                sum += w[0][ai] * w[1][bj] * values[(base[0] + ai) + grid.n * (base[1] + bj)];
            }
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cubic_interpolation_is_exact_for_cubics() {
        let g = Grid::new(9, &[-1.0, 0.0], &[1.0, 2.0]);
        let f = |x: f64, y: f64| 1.0 + x - 2.0 * x * x * x + y * y * x + 0.5 * y * y * y;
        let mut v = vec![0.0; g.len()];
        let mut p = [0.0; 2];
        for (i, vi) in v.iter_mut().enumerate() {
            g.point(i, &mut p);
            *vi = f(p[0], p[1]);
        }
        for q in [[0.13, 0.71], [-0.99, 1.97], [0.5, 0.0]] {
            assert!((interpolate(&g, &v, &q) - f(q[0], q[1])).abs() < 1e-12);
        }
    }

    #[test]
    fn boundary_distance_of_a_ball() {
        let dom = Domain::Ball {
            center: vec![0.0, 0.0],
            radius: 1.0,
        };
        // From (0.9, 0.3) along +x: hits x = √(1 − 0.09).
        let region = Region {
            domain: &dom,
            hole: None,
        };
        let t = boundary_distance(&region, &[0.9, 0.3], 0, 1.0, 0.1);
        assert!((t - (0.91f64.sqrt() - 0.9)).abs() < 1e-14);
    }
}
