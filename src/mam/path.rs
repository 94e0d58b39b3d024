//! The discrete path type and its re-parametrisation to equal arclength in the a⁻¹ metric.

#![allow(clippy::needless_range_loop)] // index loops mirror the formulas in the kernels

use crate::error::Result;
use crate::problem::Diffusion;
use crate::problem::NoiseWorkspace;
use serde::Serialize;

/// A polygonal path φ₀ … φₙ₋₁ in ℝᵈ, nodes stored row-major (`nodes[i·d..(i+1)·d]` is φᵢ).
#[derive(Clone, Debug, Serialize)]
pub struct Path {
    /// Dimension d.
    pub dim: usize,
    /// Node coordinates, n·d values.
    pub nodes: Vec<f64>,
}

impl Path {
    /// Build from flat node data.
    ///
    /// # Panics
    /// If `nodes.len()` is not a positive multiple of `dim`.
    pub fn new(dim: usize, nodes: Vec<f64>) -> Self {
        assert!(dim > 0 && nodes.len().is_multiple_of(dim) && !nodes.is_empty());
        Path { dim, nodes }
    }

    /// Number of nodes n.
    pub fn len(&self) -> usize {
        self.nodes.len() / self.dim
    }

    /// True when the path has no nodes (never, for a path built by [`Path::new`]).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Node i.
    pub fn node(&self, i: usize) -> &[f64] {
        &self.nodes[i * self.dim..(i + 1) * self.dim]
    }

    /// The last node.
    pub fn end(&self) -> &[f64] {
        self.node(self.len() - 1)
    }

    /// Nodes as rows (for reports).
    pub fn rows(&self) -> Vec<Vec<f64>> {
        (0..self.len()).map(|i| self.node(i).to_vec()).collect()
    }

    /// Straight line from `a` to `b` with `n` nodes.
    pub fn straight(a: &[f64], b: &[f64], n: usize) -> Self {
        let d = a.len();
        let mut nodes = Vec::with_capacity(n * d);
        for i in 0..n {
            let t = i as f64 / (n - 1) as f64;
            nodes.extend((0..d).map(|k| a[k] + t * (b[k] - a[k])));
        }
        Path::new(d, nodes)
    }

    /// Insert the midpoint of every segment: n nodes → 2n − 1 (the segment count doubles).
    pub fn refined(&self) -> Self {
        let (n, d) = (self.len(), self.dim);
        let mut nodes = Vec::with_capacity((2 * n - 1) * d);
        for i in 0..n {
            if i > 0 {
                let (p, q) = (self.node(i - 1), self.node(i));
                nodes.extend((0..d).map(|k| 0.5 * (p[k] + q[k])));
            }
            nodes.extend_from_slice(self.node(i));
        }
        Path::new(d, nodes)
    }

    /// Euclidean segment lengths.
    pub fn euclidean_lengths(&self) -> Vec<f64> {
        (1..self.len())
            .map(|i| {
                let (p, q) = (self.node(i - 1), self.node(i));
                p.iter()
                    .zip(q)
                    .map(|(a, b)| (b - a) * (b - a))
                    .sum::<f64>()
                    .sqrt()
            })
            .collect()
    }

    /// Segment lengths ‖Δᵢ‖_a = √(ΔᵢᵀM(mᵢ)Δᵢ) in the metric M = a⁻¹ at the midpoints.
    ///
    /// # Errors
    /// When a(θ) is not positive definite at a midpoint (named).
    pub fn metric_lengths<N: Diffusion>(&self, noise: &N) -> Result<Vec<f64>> {
        let d = self.dim;
        let mut ws: NoiseWorkspace = noise.workspace();
        let mut m = vec![0.0; d * d];
        let mut mid = vec![0.0; d];
        let mut delta = vec![0.0; d];
        let mut out = Vec::with_capacity(self.len().saturating_sub(1));
        // Constant noise: M read once.
        let constant = noise.is_constant() && noise.metric(self.node(0), &mut ws, &mut m);
        for i in 1..self.len() {
            let (p, q) = (self.node(i - 1), self.node(i));
            for k in 0..d {
                mid[k] = 0.5 * (p[k] + q[k]);
                delta[k] = q[k] - p[k];
            }
            if !constant && !noise.metric(&mid, &mut ws, &mut m) {
                return Err(crate::Error::NotPositiveDefinite {
                    field: "noise a(θ) along the path".into(),
                    detail: format!(
                        "a(θ) is not positive definite at θ = {}",
                        crate::problem::check::fmt_theta(&mid)
                    ),
                });
            }
            out.push(
                crate::linalg::quad_form(&m, d, &delta, &delta)
                    .max(0.0)
                    .sqrt(),
            );
        }
        Ok(out)
    }

    /// Resample to `n` nodes equally spaced in the cumulative length given per segment
    /// (`lengths[i]` for segment i → i+1), by linear interpolation; the end nodes are kept exactly.
    pub fn resampled(&self, lengths: &[f64], n: usize) -> Self {
        let d = self.dim;
        let mut cum = Vec::with_capacity(lengths.len() + 1);
        cum.push(0.0);
        for l in lengths {
            cum.push(cum.last().unwrap() + l);
        }
        let total = *cum.last().unwrap();
        let mut nodes = Vec::with_capacity(n * d);
        nodes.extend_from_slice(self.node(0));
        let mut seg = 0;
        for j in 1..n - 1 {
            let s = total * j as f64 / (n - 1) as f64;
            while seg + 1 < lengths.len() && cum[seg + 1] < s {
                seg += 1;
            }
            let l = lengths[seg];
            let t = if l > 0.0 {
                ((s - cum[seg]) / l).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let (p, q) = (self.node(seg), self.node(seg + 1));
            nodes.extend((0..d).map(|k| p[k] + t * (q[k] - p[k])));
        }
        nodes.extend_from_slice(self.end());
        Path::new(d, nodes)
    }

    /// Multiply each segment length by the monitor 1 + α L/(r + δL), with L the path's total
    /// length and r the distance of the segment's midpoint from the first node (θ*), Euclidean
    /// scaled to the metric's units: equal spacing in the monitored length puts a fixed share of
    /// the nodes on every e-fold of distance from θ* down to δL (a logarithmic grid there) and
    /// the rest at equal arclength.
    ///
    /// Why: where the linearisation at θ* rotates (complex eigenvalues of ∂b), the optimal path
    /// leaves θ* on a spiral whose angle grows like the log of the distance, so equal arclength
    /// leaves its inner turns unresolved and the error of the discrete action falls in steps
    /// rather than like h² (`manufactured-anisotropic`, endpoint fixed, 65 → 129 → 257 → 513
    /// nodes: errors 2.8e-4, 1.5e-5, 1.1e-5, 6.3e-7; with the monitor 9.7e-6, 2.4e-6, 6.0e-7,
    /// 1.5e-7, ratio 4 per doubling, as the midpoint rule predicts). α = 0.1 gives the log region
    /// α ln(1/δ)/(1 + α ln(1/δ)) ≈ 41 % of the nodes; δ = 1e-3 keeps its inner end where the
    /// action left out, ~V(δL), is far below any tolerance a user sets.
    fn weight_towards_start(&self, lengths: &mut [f64]) {
        const ALPHA: f64 = 0.1;
        const DELTA: f64 = 1e-3;
        let total: f64 = lengths.iter().sum();
        let euclidean: f64 = self.euclidean_lengths().iter().sum();
        if !(total > 0.0 && euclidean > 0.0) {
            return;
        }
        let scale = total / euclidean;
        let d = self.dim;
        let start = self.node(0);
        for (i, l) in lengths.iter_mut().enumerate() {
            let (p, q) = (self.node(i), self.node(i + 1));
            let r2: f64 = (0..d)
                .map(|k| {
                    let m = 0.5 * (p[k] + q[k]) - start[k];
                    m * m
                })
                .sum();
            *l *= 1.0 + ALPHA * total / (r2.sqrt() * scale + DELTA * total);
        }
    }

    /// Re-parametrise to equal arclength in the a⁻¹ metric, monitored when `graded` (see
    /// [`Path::weight_towards_start`]: denser towards θ*, for a focus there), keeping the node
    /// count and the end nodes (gMAM's re-parametrisation step; E, Ren & Vanden-Eijnden 2002).
    ///
    /// # Errors
    /// When a(θ) is not positive definite on the path.
    pub fn reparametrised<N: Diffusion>(&self, noise: &N, graded: bool) -> Result<Self> {
        let mut l = self.metric_lengths(noise)?;
        if graded {
            self.weight_towards_start(&mut l);
        }
        Ok(self.resampled(&l, self.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::Matrix;
    use crate::problem::noise::ConstantNoise;
    use crate::problem::Weight;

    #[test]
    fn resampling_equalises_metric_lengths() {
        // Metric M = diag(4, 1): lengths are 2|dx| and |dy|.
        let c = Matrix::diagonal(&[0.25, 1.0]);
        let noise = ConstantNoise::new(c, Weight::Inverse, "c").unwrap();
        let nodes = vec![0.0, 0.0, 0.1, 0.0, 1.0, 0.0, 1.0, 0.3, 1.0, 2.0];
        let path = Path::new(2, nodes);
        let p = path.resampled(&path.metric_lengths(&noise).unwrap(), 5);
        let l = p.metric_lengths(&noise).unwrap();
        // Total length 2 + 2 = 4 over 4 segments of length 1 (piecewise-linear path kept).
        for v in &l {
            assert!((v - 1.0).abs() < 1e-12, "{l:?}");
        }
        assert_eq!(p.end(), &[1.0, 2.0]);
    }

    #[test]
    fn reparametrisation_grades_the_nodes_logarithmically_towards_the_start() {
        // On the segment [0, 1] (metric = Euclidean), equal monitored length puts node j where
        // F(r) = r + α ln((r + δ)/δ) is j/(n − 1) of F(1); a fine polygon (20001 nodes) samples
        // the monitor densely enough for a midpoint-rule error below 1e-5 of F(1).
        let noise = ConstantNoise::new(Matrix::identity(1), Weight::Inverse, "c").unwrap();
        let fine: Vec<f64> = (0..20001).map(|i| (i as f64 / 20000.0).powi(3)).collect();
        let fine = Path::new(1, fine);
        let mut l = fine.metric_lengths(&noise).unwrap();
        fine.weight_towards_start(&mut l);
        let p = fine.resampled(&l, 41);
        let (alpha, delta) = (0.1, 1e-3);
        let f = |r: f64| r + alpha * ((r + delta) / delta).ln();
        for j in 0..41 {
            let want = j as f64 / 40.0 * f(1.0);
            assert!(
                (f(p.node(j)[0]) - want).abs() < 1e-5 * f(1.0),
                "node {j}: {}",
                p.node(j)[0]
            );
        }
        // A log grid: the first interior node is ~40× closer to θ* than equal arclength's 1/40.
        assert!(p.node(1)[0] < 1.0 / 40.0 / 10.0);
    }

    #[test]
    fn refinement_doubles_segments() {
        let p = Path::straight(&[0.0, 0.0], &[1.0, 2.0], 5).refined();
        assert_eq!(p.len(), 9);
        assert!((p.node(1)[1] - 0.25).abs() < 1e-15);
    }
}
