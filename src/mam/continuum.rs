//! Exit channels that are points of one continuum of equal action.
//!
//! Where ∂D is (near) a level set of V — the usual way to manufacture an exact V0 — every point
//! of ∂D minimises V on ∂D. The coarse multistart then stops at several exit points, each a
//! local minimum only of the *discretised* action (at 17 nodes its error varies along ∂D by
//! 0.1–0.2 % in the 3-D manufactured case), and refining each to the full tolerance multiplies
//! the cost by their number (8 there) for numbers that say nothing new.
//!
//! Test: two coarse exits xᵢ, xⱼ whose coarse actions agree to [`CANDIDATE_RELATIVE`] lie on
//! one continuum when their values of V agree, and V at the point x_m of ∂D halfway between them
//! (in the chart) neither rises above nor falls below theirs, all to [`FLAT_RELATIVE`]·V (a fall
//! means they are not minima of one level: two maxima of V on ∂D with a minimum between). Each V
//! there is the Richardson value (4S_{h/2} − S_h)/3 of fixed-endpoint actions on the
//! multistart's grid h and on h/2, all from the same linearised first guess: on the 3-D
//! manufactured level set these are within 3e-4·V of the exact 0.5 and within 1.6e-4·V of each
//! other, where the coarse actions alone differ by up to 1.5e-3·V and so cannot decide it.
//! Between two isolated minima V has to rise over a barrier, so two symmetric isolated exits
//! (whose rates add in the prefactor) are not merged unless that barrier is below
//! [`FLAT_RELATIVE`]·V — a barrier that changes the rate by under 4 % at any ε² ≥ V/40, where
//! the two are one broad channel anyway. Exits more than 90° apart about θ* are tested at the
//! halfway point and then on each half ([`SUBDIVISIONS`]), antipodal ones through a point at
//! right angles to both.

use super::optimize::{Context, Outcome};
use super::starts::Linearization;
use super::Config;
use crate::error::Result;
use crate::mam::endpoint::{BoundaryChart, ChartScratch, Endpoint};
use crate::problem::{Diffusion, VectorField};
use rayon::prelude::*;

/// Largest change of V between two exits, relative to V, that still counts as flat (module
/// docs): above the scatter of the Richardson values at 17 and 33 nodes (≤ 1.6e-4·V on the
/// manufactured level-set domains) and below a barrier that matters for a rate.
pub const FLAT_RELATIVE: f64 = 1e-3;

/// Coarse exits whose actions differ by more than this (relative) are not tested: more than the
/// coarse grid's discretisation error (≤ 0.6 % on the manufactured cases).
const CANDIDATE_RELATIVE: f64 = 2e-2;

/// How often a test between exits more than 90° apart is halved (so that no test point is
/// more than 45° from the exits or points it lies between).
const SUBDIVISIONS: usize = 2;

/// A coarse exit found by the multistart.
pub(crate) struct CoarseExit {
    pub outcome: Outcome,
    pub starts: Vec<(String, f64)>,
}

/// A group of coarse exits: the representative (least action) and the other exit points found
/// to lie on one continuum with it.
pub(crate) struct ExitGroup {
    pub representative: CoarseExit,
    /// Other exit points and their coarse actions on the same continuum.
    pub continuum: Vec<(Vec<f64>, f64)>,
}

impl<B: VectorField, N: Diffusion> Context<'_, B, N> {
    /// Group coarse exits (least action first) into continua of equal action (module docs): a
    /// union of every pair of candidate exits whose midpoint test says flat, so that two exits
    /// on opposite sides of ∂D, never compared directly, are joined through the ones between.
    pub(crate) fn group_continua(
        &self,
        exits: Vec<CoarseExit>,
        chart: &BoundaryChart,
        lin: &Linearization,
        cfg: &Config,
    ) -> Result<Vec<ExitGroup>> {
        let n = exits.len();
        let action: Vec<f64> = exits.iter().map(|e| e.outcome.action).collect();
        let point: Vec<Vec<f64>> = exits
            .iter()
            .map(|e| e.outcome.path.end().to_vec())
            .collect();
        let candidates = |i: usize, j: usize| {
            (action[i] - action[j]).abs()
                <= CANDIDATE_RELATIVE * action[i].abs().min(action[j].abs())
        };
        // Richardson values at the exits that have a candidate partner, in parallel.
        let tested: Vec<bool> = (0..n)
            .map(|i| (0..n).any(|j| j != i && candidates(i, j)))
            .collect();
        let values: Vec<Option<f64>> = (0..n)
            .into_par_iter()
            .map(|i| {
                tested[i]
                    .then(|| self.richardson_at(&point[i], lin, cfg).ok())
                    .flatten()
            })
            .collect();
        // Union–find; each set's root is its least-action exit (the lower index).
        let mut root: Vec<usize> = (0..n).collect();
        fn find(root: &mut [usize], mut i: usize) -> usize {
            while root[i] != i {
                root[i] = root[root[i]];
                i = root[i];
            }
            i
        }
        // Nearest pairs first: most exits of a continuum join through cheap tests between
        // neighbours, and the pairs far apart that remain are skipped once joined.
        let mut pairs: Vec<(f64, usize, usize)> = (0..n)
            .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
            .filter(|&(i, j)| candidates(i, j) && values[i].is_some() && values[j].is_some())
            .map(|(i, j)| {
                let dist = point[i]
                    .iter()
                    .zip(&point[j])
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>();
                (dist, i, j)
            })
            .collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (_, i, j) in pairs {
            let (ri, rj) = (find(&mut root, i), find(&mut root, j));
            if ri == rj {
                continue;
            }
            let (Some(vi), Some(vj)) = (values[i], values[j]) else {
                continue;
            };
            if self.flat_between(
                (&point[i], vi),
                (&point[j], vj),
                chart,
                lin,
                cfg,
                SUBDIVISIONS,
            )? {
                root[ri.max(rj)] = ri.min(rj);
            }
        }
        let roots: Vec<usize> = (0..n).map(|i| find(&mut root, i)).collect();
        let mut groups: Vec<ExitGroup> = Vec::new();
        let mut group_of = vec![usize::MAX; n];
        for (i, e) in exits.into_iter().enumerate() {
            if roots[i] == i {
                group_of[i] = groups.len();
                groups.push(ExitGroup {
                    representative: e,
                    continuum: Vec::new(),
                });
            } else {
                // Exits come least action first, so the root's group already exists.
                let g = &mut groups[group_of[roots[i]]];
                let mut starts = e.starts;
                g.representative.starts.append(&mut starts);
                g.continuum.push((point[i].clone(), action[i]));
            }
        }
        Ok(groups)
    }

    /// The context with the endpoint held at x.
    fn held_at<'e>(&'e self, fixed: &'e Endpoint) -> Context<'e, B, N> {
        Context {
            drift: self.drift,
            noise: self.noise,
            start: self.start,
            endpoint: fixed,
            functional: self.functional,
            graded: self.graded,
        }
    }

    /// (4S_{h/2} − S_h)/3 at a fixed point x of ∂D, from the linearised first guess.
    fn richardson_at(&self, x: &[f64], lin: &Linearization, cfg: &Config) -> Result<f64> {
        let fixed = Endpoint::Fixed(x.to_vec());
        let held = self.held_at(&fixed);
        let coarse = held.minimise(lin.guess(x, cfg.points), cfg)?;
        let fine = held.minimise(coarse.path.refined(), cfg)?;
        Ok((4.0 * fine.action - coarse.action) / 3.0)
    }

    /// Whether v and vy agree, and V at the point of ∂D halfway between exits x (value v) and
    /// y (value vy) stays between them, to [`FLAT_RELATIVE`] of V; for exits more than 90° apart about θ* (radial
    /// chart), also each half, down to [`SUBDIVISIONS`] times. Antipodal exits are joined through
    /// a point at right angles to both.
    #[allow(clippy::too_many_arguments)]
    fn flat_between(
        &self,
        (x, v): (&[f64], f64),
        (y, vy): (&[f64], f64),
        chart: &BoundaryChart,
        lin: &Linearization,
        cfg: &Config,
        subdivisions: usize,
    ) -> Result<bool> {
        if (v - vy).abs() > FLAT_RELATIVE * v.abs().max(vy.abs()) {
            return Ok(false);
        }
        let (px, py) = (chart.parameter_of(x), chart.parameter_of(y));
        let (p, wide) = match chart {
            BoundaryChart::Plane { .. } => {
                let p: Vec<f64> = px.iter().zip(&py).map(|(a, b)| 0.5 * (a + b)).collect();
                (p, false)
            }
            BoundaryChart::Radial { .. } => {
                let (ux, uy) = (unit(&px), unit(&py));
                let cos: f64 = ux.iter().zip(&uy).map(|(a, b)| a * b).sum();
                let sum: Vec<f64> = ux.iter().zip(&uy).map(|(a, b)| a + b).collect();
                let p = if norm(&sum) > 0.2 {
                    sum
                } else {
                    perpendicular(&ux)
                };
                (p, cos < 0.0)
            }
        };
        let mut xm = vec![0.0; x.len()];
        if chart
            .point(&p, &mut xm, &mut ChartScratch::new(x.len()))
            .is_err()
        {
            return Ok(false);
        }
        let Ok(vm) = self.richardson_at(&xm, lin, cfg) else {
            return Ok(false);
        };
        // Flat: V neither rises nor falls between them by more than the tolerance (a fall means
        // x and y are not minima of one level, e.g. two maxima of V on ∂D with a minimum between).
        let tol = FLAT_RELATIVE * v.abs().max(vy.abs());
        if vm - v.max(vy) > tol || v.min(vy) - vm > tol {
            return Ok(false);
        }
        if wide && subdivisions > 0 {
            let m = (&xm[..], vm);
            return Ok(
                self.flat_between((x, v), m, chart, lin, cfg, subdivisions - 1)?
                    && self.flat_between(m, (y, vy), chart, lin, cfg, subdivisions - 1)?,
            );
        }
        Ok(true)
    }
}

/// A unit vector at right angles to the unit vector u: the coordinate axis least aligned with
/// u, with its component along u removed.
fn perpendicular(u: &[f64]) -> Vec<f64> {
    let k = (0..u.len())
        .min_by(|&i, &j| u[i].abs().total_cmp(&u[j].abs()))
        .unwrap_or(0);
    let mut w: Vec<f64> = u.iter().map(|a| -u[k] * a).collect();
    w[k] += 1.0;
    unit(&w)
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum::<f64>().sqrt()
}

fn unit(v: &[f64]) -> Vec<f64> {
    let n = v.iter().map(|a| a * a).sum::<f64>().sqrt();
    v.iter().map(|a| a / n).collect()
}
