//! Initial paths: candidate exit directions for the free endpoint, and a curved first guess from
//! the linearisation at θ*.
//!
//! With b ≈ −A(θ−θ*) and a ≈ a(θ*), the Lyapunov solution AΣ + ΣAᵀ = a gives the local
//! quasi-potential V ≈ ½uᵀΣ⁻¹u, and the optimal path of the linear problem is the reversed
//! ("uphill") flow u̇ = Bu with B = aΣ⁻¹ − A = ΣAᵀΣ⁻¹. Run backwards from an endpoint, u̇ = −Bu
//! decays to θ*; that curve (a spiral when the drift rotates) is the first guess. Exact for
//! linear drift with constant noise, and far better than a straight line for rotating drifts.

#![allow(clippy::needless_range_loop)] // index loops mirror the formulas in the kernels

use super::endpoint::{BoundaryChart, ChartScratch};
use super::path::Path;
use crate::error::{Error, Result};
use crate::linalg::{symmetric_eigen, Matrix};
use crate::problem::Problem;
use faer::linalg::solvers::DenseSolveCore;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

/// The linearisation at θ*.
pub(crate) struct Linearization {
    theta: Vec<f64>,
    /// Σ (row-major).
    pub sigma: Matrix,
    sigma_inv: Matrix,
    /// B = aΣ⁻¹ − A (row-major).
    b: Matrix,
    /// For symmetric A = QΛQᵀ: (Λ, Q), so that exp(−Bs) = Σ Q e^{−Λs} Qᵀ Σ⁻¹.
    symmetric: Option<(Vec<f64>, Matrix)>,
}

impl Linearization {
    pub fn new(problem: &Problem) -> Result<Self> {
        let sol = crate::exact::local_covariance(problem)?;
        let d = problem.dim();
        let sigma = Matrix::from_faer(sol.sigma.as_ref());
        let sigma_inv = Matrix::from_faer(sol.sigma.partial_piv_lu().inverse().as_ref());
        let (a, diff) = problem.linearization()?;
        let mut b = Matrix::zeros(d);
        for i in 0..d {
            for j in 0..d {
                let s: f64 = (0..d).map(|k| diff.get(i, k) * sigma_inv.get(k, j)).sum();
                b.data[i * d + j] = s - a.get(i, j);
            }
        }
        let symmetric = if a.check_symmetric("A").is_ok() {
            let (lam, q) = symmetric_eigen(&a, "drift matrix A")?;
            let qm = Matrix::from_faer(q.as_ref());
            Some((lam, qm))
        } else {
            None
        };
        Ok(Linearization {
            theta: problem.minimum.clone(),
            sigma,
            sigma_inv,
            b,
            symmetric,
        })
    }

    /// ½ uᵀΣ⁻¹u, u = x − θ*.
    pub fn quadratic_v(&self, x: &[f64]) -> f64 {
        let u: Vec<f64> = x.iter().zip(&self.theta).map(|(a, b)| a - b).collect();
        0.5 * crate::linalg::quad_form(&self.sigma_inv.data, u.len(), &u, &u)
    }

    /// The reversed linear flow from θ* to `end`, resampled to `n` nodes at equal Euclidean
    /// spacing.
    pub fn guess(&self, end: &[f64], n: usize) -> Path {
        let d = end.len();
        let u0: Vec<f64> = end.iter().zip(&self.theta).map(|(a, b)| a - b).collect();
        let r0 = crate::linalg::norm(&u0);
        let mut pts: Vec<Vec<f64>> = Vec::new();
        if let Some((lam, q)) = &self.symmetric {
            // w = Qᵀ Σ⁻¹ u0; u(s) = Σ Q (e^{−Λs} ∘ w).
            let mut t = vec![0.0; d];
            self.sigma_inv.mul_vec(&u0, &mut t);
            let w: Vec<f64> = (0..d)
                .map(|j| (0..d).map(|i| q.get(i, j) * t[i]).sum())
                .collect();
            let lmin = lam
                .iter()
                .cloned()
                .fold(f64::INFINITY, f64::min)
                .max(1e-300);
            let smax = (1e3f64).ln() / lmin;
            let m = 200;
            let mut z = vec![0.0; d];
            let mut y = vec![0.0; d];
            for j in 0..=m {
                let s = smax * (j as f64 / m as f64).powi(2);
                for k in 0..d {
                    z[k] = (-lam[k] * s).exp() * w[k];
                }
                q.mul_vec(&z, &mut t);
                self.sigma.mul_vec(&t, &mut y);
                pts.push(y.clone());
            }
        } else {
            // RK4 on u̇ = −Bu with a stable step, until |u| < 1e-3 |u0|.
            let nb = self
                .b
                .data
                .iter()
                .map(|v| v * v)
                .sum::<f64>()
                .sqrt()
                .max(1e-300);
            let dt = 0.2 / nb;
            let mut u = u0.clone();
            let (mut k1, mut k2, mut k3, mut k4, mut tmp) = (
                vec![0.0; d],
                vec![0.0; d],
                vec![0.0; d],
                vec![0.0; d],
                vec![0.0; d],
            );
            let f = |x: &[f64], out: &mut [f64]| {
                self.b.mul_vec(x, out);
                out.iter_mut().for_each(|v| *v = -*v);
            };
            pts.push(u.clone());
            for _ in 0..20000 {
                f(&u, &mut k1);
                (0..d).for_each(|i| tmp[i] = u[i] + 0.5 * dt * k1[i]);
                f(&tmp, &mut k2);
                (0..d).for_each(|i| tmp[i] = u[i] + 0.5 * dt * k2[i]);
                f(&tmp, &mut k3);
                (0..d).for_each(|i| tmp[i] = u[i] + dt * k3[i]);
                f(&tmp, &mut k4);
                (0..d).for_each(|i| u[i] += dt / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]));
                pts.push(u.clone());
                if crate::linalg::norm(&u) < 1e-3 * r0 {
                    break;
                }
            }
        }
        // pts runs from the end towards θ*: reverse, start exactly at θ*, end exactly at `end`.
        pts.reverse();
        let mut nodes = Vec::with_capacity((pts.len() + 1) * d);
        nodes.extend_from_slice(&self.theta);
        for p in &pts {
            nodes.extend(p.iter().zip(&self.theta).map(|(u, t)| u + t));
        }
        let last = nodes.len() - d;
        nodes[last..].copy_from_slice(end);
        let raw = Path::new(d, nodes);
        let l = raw.euclidean_lengths();
        raw.resampled(&l, n)
    }
}

/// A starting path for the free-endpoint search.
#[derive(Clone, Debug)]
pub(crate) struct Start {
    pub label: String,
    pub path: Path,
}

/// Candidate exit directions: ±eigenvectors of Σ, ranked by the local quadratic V at the point
/// where their ray from θ* meets ∂D (the best `eigen` kept), plus `random` seeded directions.
#[allow(clippy::too_many_arguments)]
pub(crate) fn boundary_starts(
    problem: &Problem,
    lin: &Linearization,
    chart: &BoundaryChart,
    eigen: usize,
    random: usize,
    bent: usize,
    seed: u64,
    straight: bool,
    n: usize,
) -> Result<Vec<Start>> {
    let d = problem.dim();
    let theta = &problem.minimum;
    let mut scratch = ChartScratch::new(d);
    let hit = |u: &[f64], scratch: &mut ChartScratch| -> Option<Vec<f64>> {
        match chart {
            BoundaryChart::Plane { normal, offset } => {
                let nu = crate::linalg::dot(normal, u);
                if nu <= 1e-12 * crate::linalg::norm(u) {
                    return None;
                }
                let s = (offset - crate::linalg::dot(normal, theta)) / nu;
                Some(theta.iter().zip(u).map(|(t, v)| t + s * v).collect())
            }
            BoundaryChart::Radial { .. } => {
                let mut x = vec![0.0; d];
                chart.point(u, &mut x, scratch).ok().map(|_| x)
            }
        }
    };
    let (vals, vecs) = symmetric_eigen(&lin.sigma, "local covariance Σ")?;
    let mut cands: Vec<(f64, String, Vec<f64>)> = Vec::new();
    for k in (0..d).rev() {
        for sign in [1.0, -1.0] {
            let u: Vec<f64> = (0..d).map(|i| sign * vecs[(i, k)]).collect();
            if let Some(x) = hit(&u, &mut scratch) {
                let label = format!(
                    "{}Σ eigenvector {} (λ = {:.3e})",
                    if sign > 0.0 { "+" } else { "−" },
                    d - k,
                    vals[k]
                );
                cands.push((lin.quadratic_v(&x), label, x));
            }
        }
    }
    cands.sort_by(|a, b| a.0.total_cmp(&b.0));
    cands.truncate(eigen);
    // Slide each eigen candidate along ∂D to the nearest minimum of the local quadratic V
    // (exact exit point for linear problems; a much better start otherwise).
    for c in cands.iter_mut() {
        if let Some(x) = descend_quadratic(lin, chart, &c.2) {
            c.0 = lin.quadratic_v(&x);
            c.2 = x;
        }
    }
    // Candidates that slid to the same point are one start.
    let mut kept: Vec<(f64, String, Vec<f64>)> = Vec::new();
    for c in cands {
        let r = 1.0 + crate::linalg::norm(&c.2);
        let dup = kept.iter().any(|k| {
            k.2.iter()
                .zip(&c.2)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>()
                .sqrt()
                <= 1e-6 * r
        });
        if !dup {
            kept.push(c);
        }
    }
    let mut cands = kept;
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut made = 0;
    let mut tries = 0;
    while made < random && tries < 100 * (random + 1) {
        tries += 1;
        let u: Vec<f64> = (0..d).map(|_| StandardNormal.sample(&mut rng)).collect();
        if let Some(x) = hit(&u, &mut scratch) {
            made += 1;
            cands.push((
                lin.quadratic_v(&x),
                format!("random direction {made} (seed {seed})"),
                x,
            ));
        }
    }
    if cands.is_empty() {
        return Err(Error::numerical(
            "free endpoint",
            "no candidate exit direction from θ* reaches ∂D",
        ));
    }
    let mut starts = Vec::new();
    for (k, (_, label, x)) in cands.into_iter().enumerate() {
        let path = if straight {
            Path::straight(theta, &x, n)
        } else {
            lin.guess(&x, n)
        };
        if k == 0 {
            // The best-ranked direction also gets bent variants: a symmetric problem can make
            // the unbent path a critical point that is not the minimum (Maier–Stein, β > 4).
            starts.extend(bent_variants(lin, &path, &label, bent));
        }
        starts.push(Start { label, path });
    }
    Ok(starts)
}

/// Starts towards a fixed target: the first guess, and bent variants (±bumps along the leading
/// Σ-eigenvectors normal to the chord) to break symmetries.
pub(crate) fn target_starts(
    lin: &Linearization,
    theta: &[f64],
    x: &[f64],
    n: usize,
    straight: bool,
    bent: usize,
) -> Vec<Start> {
    let path = if straight {
        Path::straight(theta, x, n)
    } else {
        lin.guess(x, n)
    };
    let mut starts = vec![Start {
        label: "first guess".into(),
        path: path.clone(),
    }];
    starts.extend(bent_variants(lin, &path, "first guess", bent));
    starts
}

/// `path` plus ±A sin(πs) vᵢ for the `count` leading eigenvectors vᵢ of Σ made normal to the
/// chord, A = ¼ |chord| (s ∈ [0, 1] the node fraction).
fn bent_variants(lin: &Linearization, path: &Path, label: &str, count: usize) -> Vec<Start> {
    let d = path.dim;
    let n = path.len();
    let (a, b) = (path.node(0), path.end());
    let chord: Vec<f64> = (0..d).map(|k| b[k] - a[k]).collect();
    let len = crate::linalg::norm(&chord);
    if count == 0 || d < 2 || len == 0.0 {
        return Vec::new();
    }
    let Ok((_, vecs)) = symmetric_eigen(&lin.sigma, "local covariance Σ") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut used = 0;
    for k in (0..d).rev() {
        if used == count {
            break;
        }
        let mut v: Vec<f64> = (0..d).map(|i| vecs[(i, k)]).collect();
        let c = crate::linalg::dot(&v, &chord) / (len * len);
        v.iter_mut().zip(&chord).for_each(|(vi, ci)| *vi -= c * ci);
        let nv = crate::linalg::norm(&v);
        if nv < 0.3 {
            continue; // nearly parallel to the chord
        }
        used += 1;
        for sign in [1.0, -1.0] {
            let amp = sign * 0.25 * len / nv;
            let mut nodes = path.nodes.clone();
            for i in 1..n - 1 {
                let w = amp * (std::f64::consts::PI * i as f64 / (n - 1) as f64).sin();
                for j in 0..d {
                    nodes[i * d + j] += w * v[j];
                }
            }
            out.push(Start {
                label: format!(
                    "{label}, bent {}{}",
                    if sign > 0.0 { "+" } else { "−" },
                    used
                ),
                path: Path::new(d, nodes),
            });
        }
    }
    out
}

struct QuadraticOnBoundary<'a> {
    lin: &'a Linearization,
    chart: &'a BoundaryChart,
    scratch: std::cell::RefCell<(ChartScratch, Vec<f64>)>,
}

impl QuadraticOnBoundary<'_> {
    /// V_q(x(y)) and its gradient with respect to y.
    fn eval(&self, y: &[f64]) -> std::result::Result<(f64, Vec<f64>), argmin::core::Error> {
        let d = y.len();
        let s = &mut *self.scratch.borrow_mut();
        let mut x = vec![0.0; d];
        self.chart
            .point(y, &mut x, &mut s.0)
            .map_err(|e| argmin::core::Error::msg(e.to_string()))?;
        let u: Vec<f64> = x.iter().zip(&self.lin.theta).map(|(a, b)| a - b).collect();
        self.lin.sigma_inv.mul_vec(&u, &mut s.1);
        let v = 0.5 * crate::linalg::dot(&u, &s.1);
        let mut g = vec![0.0; d];
        self.chart.pull_back(y, &x, &s.1, &mut g, &mut s.0);
        Ok((v, g))
    }
}

impl argmin::core::CostFunction for QuadraticOnBoundary<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, y: &Vec<f64>) -> std::result::Result<f64, argmin::core::Error> {
        Ok(self.eval(y)?.0)
    }
}

impl argmin::core::Gradient for QuadraticOnBoundary<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, y: &Vec<f64>) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        Ok(self.eval(y)?.1)
    }
}

/// Local minimum of V_q = ½uᵀΣ⁻¹u on ∂D from `x0` (L-BFGS through the boundary chart).
fn descend_quadratic(lin: &Linearization, chart: &BoundaryChart, x0: &[f64]) -> Option<Vec<f64>> {
    use argmin::core::{Executor, State};
    let d = x0.len();
    let problem = QuadraticOnBoundary {
        lin,
        chart,
        scratch: std::cell::RefCell::new((ChartScratch::new(d), vec![0.0; d])),
    };
    let v0 = lin.quadratic_v(x0);
    let solver = argmin::solver::quasinewton::LBFGS::new(
        argmin::solver::linesearch::MoreThuenteLineSearch::new(),
        10,
    )
    .with_tolerance_grad(1e-12 * v0.max(1e-300))
    .ok()?
    .with_tolerance_cost(1e-15 * v0)
    .ok()?;
    let y0 = chart.parameter_of(x0);
    let res = Executor::new(problem, solver)
        .configure(|st| st.param(y0).max_iters(500))
        .run()
        .ok()?;
    let y = res.state.get_best_param()?.clone();
    let mut x = vec![0.0; d];
    chart.point(&y, &mut x, &mut ChartScratch::new(d)).ok()?;
    (lin.quadratic_v(&x) <= v0).then_some(x)
}
