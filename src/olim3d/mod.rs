//! Ordered line integral method (OLIM-MID) for the quasi-potential V on a 3-D grid.
//!
//! Solves ½∇Vᵀa∇V + b·∇V = 0, V(θ*) = 0, on the uniform grid [lo₀, hi₀] × [lo₁, hi₁] × [lo₂, hi₂]
//! with N points per axis, by the 3-D ordered line integral method of Yang, Potter & Cameron
//! ("Computing the quasipotential for nongradient SDEs in 3D", J. Comput. Phys. 379, 2019;
//! "olim3d"): the Dijkstra-like ordering of the 2-D solver ([`crate::olim`]), with tentative
//! values from the midpoint-rule geometric action of straight segments
//! Q = ‖b_m‖_A‖l‖_A − b_mᵀAl, A = a(m)⁻¹ ([`update`]): one-point updates from every Accepted
//! Front point within K·h, triangle updates (a segment between two neighbouring Accepted Front
//! points, minimised over λ ∈ (0, 1)) around the best one-point source, and tetrahedron updates
//! (a triangle of three mutually neighbouring Accepted Front points, minimised over the simplex)
//! around the best triangle — the hierarchical strategy ([`solver`]).
//! - **Interpolation.** [`Interpolation::Quadratic`] (default) interpolates U over a segment or
//!   triangle of Accepted Front points by the quadratic whose second derivatives along the
//!   simplex's edges are the second differences of U along those grid lines (from the next
//!   Accepted point on each line; linear where one is missing); [`Interpolation::Linear`] is
//!   the published method. The linear interpolant overestimates a convex U by O(h²) per update,
//!   an O(h) bias along the characteristics: measured at N = 65 (ErrMax, `tests/olim3d.rs`),
//!   linear non-commuting noise on a ball 8.2e-3 linear vs 4.4e-5 quadratic (observed order 0.4
//!   vs 2.0 over N = 17, 33, 65), on a level set 1.2e-2 vs 1.35e-4, the manufactured
//!   state-dependent case 3.2e-3 vs 1.9e-3.
//!
//! - **Start.** Grid points within `init_radius` grid steps of θ* get the exact value of the
//!   linearisation V = ½uᵀΣ⁻¹u, u = θ − θ*, AΣ + ΣAᵀ = a(θ*) ([`crate::exact::local_covariance`]).
//! - **Grid.** Default box: the bounding box of D (closed form, or by marching along 1024 rays
//!   from θ* for level sets of general losses) made cubic about its centre and enlarged by 10 %
//!   per side; for a half-space, the cube about θ* of half-width twice the distance to ∂D.
//! - **K.** Default [`crate::olim::default_k`] with the 3-D [`rotation_ratio`] Υ (the 2-D rule:
//!   4 for a gradient flow, growing with log₂ N where paths wind). Kept ≤ 24 (the best source
//!   is stored as a 16-bit index into the ball of radius K).
//! - **Stop**, **V₀**, **unreached points** as in 2-D: stop once every end of a grid edge
//!   crossing ∂D is Accepted (or the front reaches a grid face inside D̄); V₀ = min over the
//!   crossing edges of V interpolated linearly at the crossing; unreached points hold
//!   `f64::INFINITY`.
//! - **Error estimate** of V₀: 2·|V₀(N) − V₀((N+1)/2)| from a second solve on the coarse grid
//!   (an eighth of the points).
//!
//! **Cost.** Memory: U (8 bytes), a state byte, the best source (2, a ball index) and the heap
//! slot (4) per point of the padded (N + 2K + 2)³ grid — 15 bytes per padded point; the reported
//! values are compacted in place into U's array, so the peak is 15·(N + 2K + 2)³ bytes plus the
//! heap entries of the Considered band (22.9 bytes per grid point at N = 65, K = 4; 19.6 at
//! N = 129, K = 5). [`run`] refuses an N whose [`estimated_bytes`] exceed the available memory,
//! naming `--grid` and the largest N that fits, before allocating. Time: each accepted point
//! costs one-point updates to the Considered points within K·h and, for each point it makes
//! Considered, from the Accepted Front points within K·h (both bands are surfaces one to two
//! points thick, so O(K²) each), plus a few triangle and tetrahedron updates: O(N³K²).
//! Measured with `cargo run --release --example olim3d_one -- PROBLEM N` (one core, shared
//! machine): see the figures in the commit log and the report of issue 15.
//!
//! ```
//! use quasipot::olim3d::{run, Config};
//! use quasipot::problem::{BuildOptions, Problem, ProblemSpec};
//! let text = r#"
//! name = "iso3"
//! variables = ["x", "y", "z"]
//! minimum = [0.0, 0.0, 0.0]
//! [drift]
//! hessian = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
//! [noise]
//! source = "identity"
//! [domain]
//! kind = "ball"
//! radius = 1.0
//! "#;
//! let spec = ProblemSpec::from_toml(text, "doc").unwrap();
//! let p = spec.build(std::path::Path::new("."), &BuildOptions::default()).unwrap();
//! let r = run(&p, &Config::new(17).unwrap()).unwrap();
//! // b = −θ, a = I: V = |θ|², so V0 on the unit ball is 1.
//! assert!((r.v0.unwrap() - 1.0).abs() < 0.05);
//! ```

pub mod geometry;
pub mod grid;
pub mod solver;
pub mod update;

use crate::error::{Error, Result};
use crate::olim::grid::{State, STATE_MASK};
use crate::olim::{ErrorStats, Interpolation, StopRule, Termination};
use crate::problem::{Diffusion, ModelVisitor, Problem, VectorField};
use geometry::{check_domain_on_grid, inv3, unsupported_dim};
pub use geometry::{default_box, rotation_ratio};
use grid::Grid3;
use serde::Serialize;
use solver::{Setup, Solution};
use std::time::Instant;

/// Settings of the 3-D grid solver; build with [`Config::new`] and the checked setters.
#[derive(Clone, Debug, Serialize)]
pub struct Config {
    /// Points per axis N (default 65; at least 9).
    pub n: usize,
    /// Update radius K in grid steps (default: [`crate::olim::default_k`] with the 3-D Υ).
    pub k: Option<usize>,
    /// Explicit box (lo, hi); `None` for the default box.
    pub bounds: Option<([f64; 3], [f64; 3])>,
    /// Stop rule (default [`StopRule::Boundary`]).
    pub stop: StopRule,
    /// Radius in grid steps of the ball about θ* initialised with ½uᵀΣ⁻¹u (default 2, ≥ √3).
    pub init_radius: f64,
    /// Compare with the problem's exact V when it has one (default true).
    pub compare_with_reference: bool,
    /// Also solve on (N + 1)/2 points for the V₀ error estimate (default true).
    pub estimate_error: bool,
    /// Interpolation of U in triangle and tetrahedron updates (default quadratic, from the
    /// second differences along the simplex's edges; [`Interpolation::Linear`] is the
    /// published method).
    pub interpolation: Interpolation,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            n: 65,
            k: None,
            bounds: None,
            stop: StopRule::Boundary,
            init_radius: 2.0,
            compare_with_reference: true,
            estimate_error: true,
            interpolation: Interpolation::Quadratic,
        }
    }
}

/// Largest N: the padded grid's indices are 32-bit ((N + 2K + 2)³ < 2³² with K ≤ 24).
const MAX_N: usize = 1500;
/// Largest K (the best source is a 16-bit index into the ball: 4/3·π·24³ ≈ 57 900 < 2¹⁶).
const MAX_K: usize = 24;

impl Config {
    /// Defaults with N points per axis (`--grid`).
    pub fn new(n: usize) -> Result<Self> {
        Config::default().with_grid(n)
    }
    /// Set N (`--grid`); 9 ≤ N, and N³ must fit in memory (checked here with K = 4, and in
    /// [`run`] with the K in effect).
    pub fn with_grid(mut self, n: usize) -> Result<Self> {
        if n < 9 {
            return Err(Error::invalid(
                "--grid",
                format!("N = {n} points per axis is too few; use at least 9 (e.g. 65)"),
            ));
        }
        check_grid_memory(n, 4, |m| estimated_bytes(m as usize, 4))?;
        if n > MAX_N {
            return Err(Error::invalid(
                "--grid",
                format!("N = {n} points per axis is beyond the 3-D grid solver's limit N ≤ {MAX_N} (32-bit indices)"),
            ));
        }
        self.n = n;
        Ok(self)
    }
    /// Set K (`--k`); 1 ≤ K ≤ 24.
    pub fn with_k(mut self, k: usize) -> Result<Self> {
        if k == 0 || k > MAX_K {
            return Err(Error::invalid(
                "--k",
                format!("K = {k}: the 3-D update radius must be in 1..={MAX_K} grid steps"),
            ));
        }
        self.k = Some(k);
        Ok(self)
    }
    /// Set the box (`--box`).
    pub fn with_box(mut self, lo: [f64; 3], hi: [f64; 3]) -> Result<Self> {
        for i in 0..3 {
            if !(lo[i].is_finite() && hi[i].is_finite() && lo[i] < hi[i]) {
                return Err(Error::invalid(
                    "--box",
                    format!("axis {i}: need finite lo < hi, got [{}, {}]", lo[i], hi[i]),
                ));
            }
        }
        self.bounds = Some((lo, hi));
        Ok(self)
    }
    /// Set the stop rule.
    pub fn with_stop(mut self, stop: StopRule) -> Self {
        self.stop = stop;
        self
    }
    /// Set the initialisation radius in grid steps (≥ √3, so the cell containing θ* is
    /// covered).
    pub fn with_init_radius(mut self, r: f64) -> Result<Self> {
        if !(r >= 3f64.sqrt() && r.is_finite()) {
            return Err(Error::invalid(
                "init_radius",
                format!("{r} grid steps: must be at least √3 so the cell containing θ* is covered"),
            ));
        }
        self.init_radius = r;
        Ok(self)
    }
    /// Re-check every field.
    pub fn validate(&self) -> Result<()> {
        let mut c = Config::default().with_grid(self.n)?;
        if let Some(k) = self.k {
            c = c.with_k(k)?;
        }
        if let Some((lo, hi)) = self.bounds {
            c = c.with_box(lo, hi)?;
        }
        c.with_init_radius(self.init_radius)?;
        Ok(())
    }
    /// The K in effect on `problem`.
    pub fn effective_k(&self, problem: &Problem) -> usize {
        self.k_for(problem, rotation_ratio(problem))
    }
    fn k_for(&self, problem: &Problem, rotation: Option<f64>) -> usize {
        self.k.unwrap_or_else(|| {
            crate::olim::default_k(
                self.n,
                problem.is_linear_gaussian(),
                rotation.unwrap_or(10.0),
            )
            .min(MAX_K)
        })
    }
}

/// Estimated peak bytes of one solve: 15 bytes per point of the padded (N + 2K + 2)³ grid
/// (module docs) plus the heap entries of the Considered band (a surface of at most the six
/// faces of the padded grid, two points thick; 12 bytes each, twice for the vectors' growth).
pub fn estimated_bytes(n: usize, k: usize) -> u64 {
    use crate::resources::product;
    let w = (n as u64).saturating_add(2 * k as u64 + 2);
    product(&[w, w, w, 15]).saturating_add(product(&[6, w, w, 2, 12, 2]))
}

fn check_grid_memory(n: usize, k: usize, need_at: impl Fn(u64) -> u64) -> Result<()> {
    use crate::resources::{available_bytes, check_memory_against, largest_fitting, Estimate};
    let cap = available_bytes();
    let need = estimated_bytes(n, k);
    if need <= cap {
        return Ok(());
    }
    let fits = largest_fitting(9, n as u64, cap, need_at);
    let w = n as u64 + 2 * k as u64 + 2;
    check_memory_against(
        Estimate {
            flag: "--grid",
            value: n.to_string(),
            what: "the 3-D OLIM grid",
            bytes: need,
            formula: format!("{w}³ padded nodes × 15 bytes"),
            advice: match fits {
                Some(m) => format!("use --grid ≤ {m}"),
                None => "even the smallest grid does not fit; free memory".into(),
            },
        },
        cap,
    )
}

/// The grid of a report.
#[derive(Clone, Debug, Serialize)]
pub struct GridInfo {
    /// Points per axis N.
    pub n: usize,
    /// Lower corner.
    pub lo: [f64; 3],
    /// Upper corner.
    pub hi: [f64; 3],
    /// Spacings.
    pub h: [f64; 3],
}

/// Result of [`run`].
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// "olim3d-midpoint".
    pub method: String,
    /// Problem name.
    pub problem: String,
    /// Action weight in effect.
    pub weight: String,
    /// θ*.
    pub minimum: Vec<f64>,
    /// The grid.
    pub grid: GridInfo,
    /// Update radius K.
    pub k: usize,
    /// The 3-D rotation ratio Υ at θ* ([`rotation_ratio`]).
    pub rotation_ratio: Option<f64>,
    /// Interpolation of U in triangle and tetrahedron updates.
    pub interpolation: Interpolation,
    /// Why the solve stopped.
    pub termination: Termination,
    /// V₀ = min over ∂D of V, when certified (as in 2-D).
    pub v0: Option<f64>,
    /// Where on ∂D that minimum is.
    pub exit_point: Option<Vec<f64>>,
    /// 2·|V₀(N) − V₀((N+1)/2)|, when computed.
    pub v0_error_estimate: Option<f64>,
    /// The exact V₀ of the problem file, when known.
    pub v0_reference: Option<f64>,
    /// Value of the last accepted point.
    pub front_value: f64,
    /// Number of Accepted grid points.
    pub accepted: usize,
    /// Errors against the exact V on D̄ ∩ {V ≤ V₀}, when the problem has one.
    pub errors: Option<ErrorStats>,
    /// Number of one-point updates.
    pub one_point_updates: u64,
    /// Number of triangle updates.
    pub triangle_updates: u64,
    /// Number of tetrahedron updates.
    pub tetrahedron_updates: u64,
    /// Wall time of the solve (seconds), excluding the error estimate.
    pub seconds: f64,
    /// Peak solver memory per grid point (bytes; 15 per padded point).
    pub bytes_per_point: f64,
    /// Things the user should know.
    pub notes: Vec<String>,
    /// V at the grid points, `values[(k·N + j)·N + i]` = V(lo + (i, j, k)·h) (C order of a
    /// numpy array indexed [z, y, x]); unreached points are `f64::INFINITY`.
    #[serde(skip)]
    pub values: Vec<f64>,
}

struct Visit {
    setup: Setup,
}

impl ModelVisitor for Visit {
    type Output = Solution;
    fn visit<B: VectorField, N: Diffusion>(self, drift: &B, noise: &N) -> Solution {
        solver::solve(drift, noise, self.setup)
    }
}

/// Level function of D at every grid point, in the order of [`Report::values`].
fn levels(problem: &Problem, g: &Grid3) -> Vec<f64> {
    let n = g.n;
    (0..n * n * n)
        .map(|p| {
            problem
                .domain
                .level(&g.point(p % n, (p / n) % n, p / (n * n)))
        })
        .collect()
}

/// The grid edges crossing ∂D, as (flat index p, flat index q = p + stride, axis).
fn crossings(lv: &[f64], n: usize) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    let strides = [1, n, n * n];
    (0..n * n * n).flat_map(move |p| {
        let c = [p % n, (p / n) % n, p / (n * n)];
        (0..3).filter_map(move |a| {
            let q = p + strides[a];
            (c[a] + 1 < n && (lv[p] < 0.0) != (lv[q] < 0.0)).then_some((p, q, a))
        })
    })
}

/// Compute V on the 3-D grid and V₀ (module docs).
///
/// Errors: d ≠ 3; N³ beyond the available memory (naming `--grid` and the largest N that
/// fits); N too small for K; θ* outside the grid; a grid that cuts off part of a bounded D
/// (naming the face) or misses ∂D of a half-space — all before any grid array is allocated;
/// a(θ) not positive definite or b not finite at a point the solver needed.
pub fn run(problem: &Problem, config: &Config) -> Result<Report> {
    let mut report = solve_once(problem, config)?;
    if config.estimate_error {
        if let Some(v0) = report.v0 {
            let coarse_n = config.n.div_ceil(2);
            let mut c = config.clone();
            c.n = coarse_n;
            c.k = Some(report.k.min((coarse_n - 1) / 2).max(1));
            c.bounds = Some((report.grid.lo, report.grid.hi));
            c.compare_with_reference = false;
            c.estimate_error = false;
            if coarse_n >= 9 {
                if let Ok(coarse) = solve_once(problem, &c) {
                    report.v0_error_estimate = coarse.v0.map(|v| 2.0 * (v - v0).abs());
                }
            }
        }
    }
    if let Some(v) = report.v0 {
        problem.check_finite_value("olim3d", "V0", v)?;
    }
    if let Some(x) = &report.exit_point {
        problem.check_finite_point("olim3d", "the exit point", x)?;
    }
    Ok(report)
}

fn solve_once(problem: &Problem, config: &Config) -> Result<Report> {
    if problem.dim() != 3 {
        return Err(unsupported_dim(problem));
    }
    config.validate()?;
    let n = config.n;
    let rotation = rotation_ratio(problem);
    let k = config.k_for(problem, rotation);
    if 2 * k + 1 > n {
        return Err(Error::invalid(
            "--grid",
            format!("N = {n} points per axis is too small for K = {k} (N ≥ 2K + 1 = {}); raise --grid or lower --k", 2 * k + 1),
        ));
    }
    check_grid_memory(n, k, |m| {
        let mut c = config.clone();
        c.n = m as usize;
        estimated_bytes(m as usize, c.k_for(problem, rotation))
    })?;
    let (lo, hi) = match config.bounds {
        Some(b) => b,
        None => default_box(problem)?,
    };
    problem.check_grid_extent("OLIM 3-D", &lo, &hi, config.bounds.is_some())?;
    let theta = [problem.minimum[0], problem.minimum[1], problem.minimum[2]];
    if !(0..3).all(|i| theta[i] > lo[i] && theta[i] < hi[i]) {
        return Err(Error::invalid(
            "--box",
            format!(
                "θ* = ({}, {}, {}) is outside the grid {:?} – {:?}; the box must contain the minimum",
                theta[0], theta[1], theta[2], lo, hi
            ),
        ));
    }
    check_domain_on_grid(problem, lo, hi)?;
    let g = Grid3::new(n, lo, hi, k + 1);
    let sigma = crate::exact::local_covariance(problem)?.sigma;
    let sinv = inv3(std::array::from_fn(|i| {
        std::array::from_fn(|j| 0.5 * (sigma[(i, j)] + sigma[(j, i)]))
    }))
    .ok_or_else(|| {
        Error::numerical(
            "olim3d initialisation",
            "the local covariance Σ at θ* is singular",
        )
    })?;
    let r = config.init_radius;
    let ci: [f64; 3] = std::array::from_fn(|a| (theta[a] - lo[a]) / g.h[a]);
    let span = r.ceil() as isize + 1;
    let mut initial = Vec::new();
    for dk in -span..=span {
        for dj in -span..=span {
            for di in -span..=span {
                let idx = [di, dj, dk];
                let ijk: [isize; 3] = std::array::from_fn(|a| ci[a].floor() as isize + idx[a]);
                if ijk.iter().any(|&v| v < 0 || v >= n as isize) {
                    continue;
                }
                let f: [f64; 3] = std::array::from_fn(|a| ijk[a] as f64 - ci[a]);
                if f.iter().map(|v| v * v).sum::<f64>() > r * r {
                    continue;
                }
                let (i, j, kk) = (ijk[0] as usize, ijk[1] as usize, ijk[2] as usize);
                let x = g.point(i, j, kk);
                let u: [f64; 3] = std::array::from_fn(|a| x[a] - theta[a]);
                let mut v = 0.0;
                for a in 0..3 {
                    for b in 0..3 {
                        v += u[a] * sinv[a][b] * u[b];
                    }
                }
                initial.push((g.index(i, j, kk), 0.5 * v));
            }
        }
    }
    let flat_to_padded = |p: usize| g.index(p % n, (p / n) % n, p / (n * n));
    let lv = levels(problem, &g);
    let boundary: Vec<usize> = crossings(&lv, n)
        .flat_map(|(p, q, _)| [flat_to_padded(p), flat_to_padded(q)])
        .collect();
    let edge: Vec<usize> = (0..n * n * n)
        .filter(|&p| {
            let c = [p % n, (p / n) % n, p / (n * n)];
            c.iter().any(|&v| v == 0 || v == n - 1) && lv[p] <= 0.0
        })
        .map(flat_to_padded)
        .collect();
    // The levels are recomputed after the solve rather than kept (8 bytes per point).
    drop(lv);
    let setup = Setup {
        grid: g.clone(),
        k,
        initial,
        boundary,
        edge,
        stop_early: config.stop == StopRule::Boundary,
        domain: problem.domain.clone(),
        quadratic: config.interpolation == Interpolation::Quadratic,
    };
    let start = Instant::now();
    let sol = problem.visit(Visit { setup });
    let seconds = start.elapsed().as_secs_f64();
    if let Some(x) = sol.bad_point {
        return Err(Error::NotPositiveDefinite {
            field: "noise".into(),
            detail: format!(
                "a(θ) is not positive definite at θ = ({}, {}, {}), a point the 3-D grid solver needed",
                x[0], x[1], x[2]
            ),
        });
    }
    if let Some((x, b)) = sol.singular_point {
        return Err(crate::problem::check::singular_drift(
            &x,
            &b,
            "inside D, a point the 3-D grid solver needed",
        ));
    }
    let Solution {
        mut u,
        state,
        termination,
        last_value,
        accepted,
        one_point_updates,
        triangle_updates,
        tetrahedron_updates,
        ..
    } = sol;
    // Compact U in place into the N³ values (each grid point's padded index is ≥ its flat
    // index, so a forward sweep never overwrites an unread value); unaccepted points → +∞.
    for p in 0..n * n * n {
        let q = flat_to_padded(p);
        let s = state[q] & STATE_MASK;
        u[p] = if s == State::Front as u8 || s == State::Accepted as u8 {
            u[q]
        } else {
            f64::INFINITY
        };
    }
    drop(state);
    u.truncate(n * n * n);
    u.shrink_to_fit();
    let values = u;
    let lv = levels(problem, &g);
    let mut notes = Vec::new();
    let mut best: Option<(f64, [f64; 3])> = None;
    for (p, q, _) in crossings(&lv, n) {
        let (up, uq) = (values[p], values[q]);
        if !(up.is_finite() && uq.is_finite()) {
            continue;
        }
        let t = lv[p] / (lv[p] - lv[q]);
        let v = (1.0 - t) * up + t * uq;
        if best.is_none_or(|(b, _)| v < b) {
            let (xp, xq) = (
                g.point(p % n, (p / n) % n, p / (n * n)),
                g.point(q % n, (q / n) % n, q / (n * n)),
            );
            best = Some((v, std::array::from_fn(|a| xp[a] + t * (xq[a] - xp[a]))));
        }
    }
    let (v0, exit_point) = match best {
        Some((v, x)) if termination != Termination::GridEdge || v <= last_value => {
            (Some(v), Some(x.to_vec()))
        }
        Some(_) => {
            notes.push(format!("the front reached the grid edge at V = {last_value:.6} before ∂D was reached below that value; V₀ is unknown: enlarge the box"));
            (None, None)
        }
        None => {
            notes.push(
                "no grid edge crossing ∂D was accepted: V₀ is unknown (enlarge the box)".into(),
            );
            (None, None)
        }
    };
    let errors = if config.compare_with_reference && problem.reference.quasi_potential.is_some() {
        // D̄ from the level values the boundary search already computed.
        let points = (0..values.len())
            .filter(|&p| lv[p] <= 0.0)
            .map(|p| (g.point(p % n, (p / n) % n, p / (n * n)), values[p]));
        ErrorStats::against_reference(problem, points, |_| true)
    } else {
        None
    };
    Ok(Report {
        method: "olim3d-midpoint".into(),
        problem: problem.name.clone(),
        weight: problem.noise_description.weight.name().into(),
        minimum: problem.minimum.clone(),
        grid: GridInfo { n, lo, hi, h: g.h },
        k,
        rotation_ratio: rotation,
        interpolation: config.interpolation,
        termination,
        v0,
        exit_point,
        v0_error_estimate: None,
        v0_reference: problem.reference.v0,
        front_value: last_value,
        accepted,
        errors,
        one_point_updates,
        triangle_updates,
        tetrahedron_updates,
        seconds,
        bytes_per_point: estimated_bytes(n, k) as f64 / (n as f64).powi(3),
        notes,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_estimate_is_15_bytes_per_padded_point() {
        let w = 129.0 + 2.0 * 5.0 + 2.0;
        let b = estimated_bytes(129, 5) as f64;
        assert!(b >= w * w * w * 15.0 && b < w * w * w * 15.0 * 1.15, "{b}");
        assert!(b / 129f64.powi(3) < 40.0);
        assert_eq!(estimated_bytes(usize::MAX / 2, 4), u64::MAX);
    }
}
