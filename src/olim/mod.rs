//! Ordered line integral method (OLIM-MID) for the quasi-potential V on a 2-D grid.
//!
//! Solves the Hamilton–Jacobi equation ½∇Vᵀa∇V + b·∇V = 0, V(θ*) = 0, on the uniform grid
//! [lo₀, hi₀] × [lo₁, hi₁] with N points per axis, by the ordered line integral method of
//! Dahiya & Cameron ("Ordered line integral methods for computing the quasi-potential",
//! J. Sci. Comput. 75, 2018; anisotropic state-dependent noise: Physica D 382, 2018): a
//! Dijkstra-like ordering of grid points by tentative value, where each tentative value is the
//! least midpoint-rule geometric action of a straight segment from an Accepted Front point
//! within K·h (one-point update) or from a point of a segment between two neighbouring Accepted
//! Front points (triangle update), with triangle updates only around the best one-point source
//! (the hierarchical strategy). See [`update`] for the formulas and [`solver`] for the loop.
//!
//! - **Start.** Grid points within `init_radius` grid steps of θ* (θ* need not be a node) get
//!   the exact value of the linearisation, V = ½uᵀΣ⁻¹u with u = θ − θ* and AΣ + ΣAᵀ = a(θ*)
//!   ([`crate::exact::local_covariance`]).
//! - **Grid.** Default box: the bounding box of D (from [`crate::problem::Domain::bounding_box`],
//!   or found by marching along 256 rays from θ* for level sets of general losses), made square
//!   about its centre and enlarged by 10 % per side. For a half-space {n·θ < c}, which has no
//!   bounding box, the default is the square centred at θ* with half-width 2·dist, where
//!   dist = c − n·θ* is the distance from θ* to ∂D; pass an explicit box to choose another.
//! - **Triangle updates** interpolate U quadratically along the segment between the two Accepted
//!   Front points ([`Interpolation::Quadratic`], default), with the second difference taken from
//!   the Accepted point collinear with them; [`Interpolation::Linear`] is the published method.
//!   The linear interpolant overestimates a convex U by O(h²) per update, which builds up to an
//!   O(h) bias along winding paths. Measured at N = 1025 (ErrMax / ERMS; `examples/olim_one.rs`
//!   and `examples/olim_convergence.rs`): manufactured case 1.31e-4 / 6.26e-5 linear vs
//!   2.50e-5 / 3.56e-6 quadratic at K = 14, with the RMS order over N = 513 → 1025 going from
//!   0.75 to 1.09 (and to 2.05 with the default K below); `l` 1.53e-4 / 4.55e-5 vs
//!   8.9e-5 / 1.31e-5 at K = 17.
//!   Convergence tables with the default K: `cargo run --release --example olim_convergence`.
//! - **K.** Default K ([`default_k`]) = round(4 + min(Υ/10, 4)·R(N)), clamped to
//!   [4, (N − 1)/2], from the [`rotation_ratio`] Υ of the linearisation at θ* (how fast paths
//!   wind: 0 for a gradient flow with isotropic noise, 10 for Dahiya & Cameron's fields) and
//!   the reach R(N) = 2.5·log₂(N − 1) − 13 when the midpoint rule is exact on straight segments
//!   (linear drift and constant noise), log₂(N − 1) − 4 otherwise (there the midpoint rule's
//!   own error grows with the segment length K·h). For Υ = 10 that is K = 9, 11, 14, 16
//!   (linear) and 7, 8, 9, 10 at N = 129, 257, 513, 1025; for a gradient flow, 4. Why: where
//!   paths wind fast the characteristics meet the front at a shallow angle (5.7° in the wedge of
//!   `l` where the error concentrates), the front segment they cross lies far along the front,
//!   and the error drops once K reaches it — on `l` at K ≈ 11, 14, 16 for N = 129, 257, 513, so
//!   K must grow by about 2.5 per doubling of N; where they do not, long segments only cost time
//!   (and, for a nonlinear field, accuracy).
//! - **Thorough triangle updates** ([`Config::thorough`], `--thorough`). Even within K·h the
//!   hierarchical strategy misses that segment: it runs the triangle updates around a newly
//!   Accepted point only when its one-point update improves the target, and in the wedge the
//!   one-point value from an end of the right segment is slightly worse than the (wrong) current
//!   value. Thorough mode also runs them when the one-point value comes within 30 % of
//!   (U(x) − U(x_new)) of improving. On `l` (N = 1025, K = 16) ErrMax / ERMS fall from
//!   1.2e-4 / 1.4e-5 to 1.7e-6 / 1.9e-7 for 2.8–3× the time (7.5× the triangle updates);
//!   fractions 0.01, 0.03, 0.1 gave 8.6e-5, 8.0e-5, 4.1e-5. It does not help `d` (3.4e-4 /
//!   1.6e-4) or the manufactured case (4.5e-6 / 1.7e-6), whose errors come from the chords'
//!   quadrature, so it is off by default. Measured with quadratic interpolation at N = 1025 (ErrMax /
//!   ERMS; default boxes unless stated): `l` on [−1, 1]² (Υ = 10) K = 13, 14, 15, 16, 17 →
//!   1.25e-4 / 4.3e-5, 1.15e-4 / 2.9e-5, 1.06e-4 / 2.0e-5, 1.17e-4 / 1.4e-5, 8.9e-5 / 1.3e-5
//!   (the reference C code: 2.27e-4 / 5.09e-5 at K = 16); `l` with ρ = 5 (Υ = 5) K = 6, 8,
//!   10, 12, 16 → 2.3e-4 / 1.1e-4, 8.6e-5 / 3.7e-5, 4.5e-5 / 1.3e-5, 8.1e-5 / 1.8e-5,
//!   6.6e-5 / 1.4e-5 (default 10); ρ = 3: K = 4, 8, 16 → 1.2e-4 / 1.2e-5, 4.3e-5 / 1.1e-5,
//!   1.0e-4 / 1.2e-5 (default 8); ρ = 1: exact to 1e-12 at K = 4 (default 5); `d` on
//!   [−2, 0]×[−1, 1] (Υ = 10) K = 8, 9, 10, 11, 12, 14 → 1.7e-3 / 3.0e-4, 7.7e-4 / 1.4e-4,
//!   3.9e-4 / 1.45e-4, 3.7e-4 / 1.5e-4, 3.7e-4 / 1.6e-4, 5.0e-4 / 2.3e-4 (C: 4.54e-4 /
//!   1.75e-4); the manufactured case (Υ = 2.1) K = 4, 6, 8…14 → 3.7e-6 / 1.3e-6,
//!   6.2e-6 / 1.8e-6, 2.5e-5 / 3.6e-6 (default 5: 3.9e-6 / 1.4e-6); Maier–Stein (Υ = 0): V₀
//!   within 2e-5 of 0.340041 for every K from 4 to 12.
//! - **Stop.** Rule [`StopRule::Boundary`] (default): stop when every grid point at an end of a
//!   grid edge crossing ∂D is Accepted, or when the front reaches the edge of the grid at a point
//!   inside D or on ∂D (values beyond need paths that leave the grid; edge points outside D do
//!   not stop the solve, since an optimal path to ∂D never passes there — e.g. the other well of
//!   a double well beyond a half-space boundary). [`StopRule::Exhaust`]: accept every grid point.
//! - **V₀** = min over ∂D of V, where V on ∂D is interpolated linearly along each grid edge whose
//!   ends lie on either side of ∂D (the crossing found by linear interpolation of D's level
//!   function). It is reported when certified: every crossing was accepted, or the least
//!   crossing value is below the last accepted value (the Dijkstra order then guarantees no
//!   unaccepted crossing is lower, up to the O(h) discretisation error).
//! - **Unreached** grid points (not accepted when the solve stopped) hold `f64::INFINITY`.
//!
//! **Cost.** Memory: U (8 bytes), a state byte, the best one-point source (4), the heap slot (4)
//! and two bits per point of the padded (N + 2K + 2)² grid — 17.25 bytes per point, 19 MB at
//! N = 1025 — plus the heap entries of the Considered band and, with constant noise, three
//! numbers per stencil offset ((2K + 1)², 24 kB at K = 17); 160 bytes more per point with the
//! midpoint cache, and 8 per point for the reported values. [`run`] refuses an N whose
//! [`estimated_bytes`] exceed the available memory ([`crate::resources`]), naming the largest
//! N that fits. Time: each accepted point costs
//! one-point updates to the Considered points within K·h and, for each point it makes
//! Considered, from the Accepted Front points within K·h (both bands are one to two points
//! thick, so O(K) each), plus a few triangle updates; O(N² K) overall, O(N² log N) with the
//! default K. Measured with `cargo bench --bench olim -- N=1025,K=default` (one core, default
//! K: 10 for `d`, 16 for `l`): see the bench file for the figures and how they compare with the
//! reference C code.
//!
//! Works for every weight and noise source of the problem model through the
//! [`crate::problem::Diffusion`] trait; with constant noise the metric A = a⁻¹ is evaluated once,
//! so anisotropic constant noise costs the same as isotropic noise.
//!
//! ```
//! use quasipot::olim::{run, Config};
//! use quasipot::problem::{BuildOptions, Problem};
//! let p = Problem::load("rotational-linear", &BuildOptions::default()).unwrap();
//! let cfg = Config::new(65).unwrap().with_box([-1.0, -1.0], [1.0, 1.0]).unwrap();
//! let r = run(&p, &cfg).unwrap();
//! // Exact V = 2x² + y², so V0 on the square [-1, 1]² is 1, at (0, ±1).
//! assert!((r.v0.unwrap() - 1.0).abs() < 0.05);
//! ```

pub mod grid;
pub mod heap;
mod output;
pub mod solver;
pub mod update;

pub use output::write_files;
pub use solver::Termination;

use crate::error::{Error, Result};
use crate::problem::{Diffusion, Domain, ModelVisitor, Problem, VectorField};
use grid::{Grid, State, STATE_MASK};
use serde::Serialize;
use solver::{Setup, Solution};
use std::time::Instant;

/// When to stop the solve.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopRule {
    /// Stop once all of ∂D (on the grid) is Accepted, or when the front reaches the grid edge.
    #[default]
    Boundary,
    /// Accept every reachable grid point (a whole-grid V, e.g. for figures and benchmarks).
    Exhaust,
}

/// How a triangle update interpolates U along the segment between its two Accepted Front points.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Interpolation {
    /// Linear in the segment parameter, as in Dahiya & Cameron's OLIM-MID and their C code: an
    /// O(h²) overestimate per update for convex U, O(h) in total.
    Linear,
    /// Quadratic, with the second difference from the Accepted point collinear with the two
    /// (module docs): removes the linear interpolant's bias.
    #[default]
    Quadratic,
}

/// Settings of the grid solver; build with [`Config::new`] and the checked `with_*` setters.
#[derive(Clone, Debug, Serialize)]
pub struct Config {
    /// Points per axis N (default 513; at least 9).
    pub n: usize,
    /// Update radius K in grid steps (default: [`default_k`], by N and the problem).
    pub k: Option<usize>,
    /// Explicit box (lo, hi); `None` for the default box (module docs).
    pub bounds: Option<([f64; 2], [f64; 2])>,
    /// Stop rule (default [`StopRule::Boundary`]).
    pub stop: StopRule,
    /// Radius, in grid steps, of the disk about θ* initialised with the local quadratic
    /// V = ½uᵀΣ⁻¹u (default 2; at least √2 so the cell containing θ* is covered).
    pub init_radius: f64,
    /// Compare with the problem's exact V when it has one (default true).
    pub compare_with_reference: bool,
    /// Where a midpoint is expensive — a(θ)⁻¹ by an eigendecomposition (state-dependent noise
    /// with weight `inverse-sqrt` in d ≥ 3, or an eigenvalue floor) or an interpreted formula
    /// drift — cache b and a⁻¹ at each half-grid node the first time an update needs them
    /// (default true): each midpoint serves about ten updates, at 160 bytes per grid point
    /// (170 MB at N = 1025). Unused for native, compiled and linear drifts with constant or
    /// closed-form noise, which are cheaper to recompute.
    pub midpoint_cache: bool,
    /// Also solve on the grid with (N + 1)/2 points and report |V₀(N) − V₀((N+1)/2)| as the
    /// error estimate of V₀ (first-order method; default true, costs about 25 % more).
    pub estimate_error: bool,
    /// Interpolation of U in triangle updates (default [`Interpolation::Quadratic`]).
    pub interpolation: Interpolation,
    /// Thorough triangle updates (default false): also run the triangle updates around each
    /// newly Accepted point whose one-point update comes within 30 % of (U(x) − U(x_new)) of
    /// improving U(x), which the hierarchical strategy skips (module docs).
    pub thorough: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            n: 513,
            k: None,
            bounds: None,
            stop: StopRule::Boundary,
            init_radius: 2.0,
            compare_with_reference: true,
            midpoint_cache: true,
            estimate_error: true,
            interpolation: Interpolation::Quadratic,
            thorough: false,
        }
    }
}

impl Config {
    /// Defaults with N points per axis (`--grid`).
    pub fn new(n: usize) -> Result<Self> {
        Config::default().with_grid(n)
    }
    /// Set N (`--grid`); N ≥ 9.
    pub fn with_grid(mut self, n: usize) -> Result<Self> {
        if n < 9 {
            return Err(Error::invalid(
                "--grid",
                format!("N = {n} points per axis is too few; use at least 9 (e.g. 257)"),
            ));
        }
        // A lower bound (no midpoint cache, K = 4) here, where the problem is not known yet, so
        // that an absurd N is refused before anything else; [`run`] checks the exact estimate.
        check_grid_memory(n, 4, false, |m| estimated_bytes(m as usize, 4, false))?;
        if n > MAX_N {
            return Err(Error::invalid(
                "--grid",
                format!(
                    "N = {n} points per axis is beyond the grid solver's limit N ≤ {MAX_N} (its indices are 32-bit, which covers the padded grid up to there with any K)"
                ),
            ));
        }
        self.n = n;
        Ok(self)
    }
    /// Set K (`--k`); K ≥ 1 (checked against N in [`run`]).
    pub fn with_k(mut self, k: usize) -> Result<Self> {
        if k == 0 {
            return Err(Error::invalid("--k", "K must be at least 1 (grid steps)"));
        }
        self.k = Some(k);
        Ok(self)
    }
    /// Set the box [lo₀, hi₀] × [lo₁, hi₁] (`--box`).
    pub fn with_box(mut self, lo: [f64; 2], hi: [f64; 2]) -> Result<Self> {
        for i in 0..2 {
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
    /// Set the initialisation radius in grid steps (≥ √2).
    pub fn with_init_radius(mut self, r: f64) -> Result<Self> {
        if !(r >= std::f64::consts::SQRT_2 && r.is_finite()) {
            return Err(Error::invalid(
                "init_radius",
                format!("{r} grid steps: must be at least √2 so the cell containing θ* is covered"),
            ));
        }
        self.init_radius = r;
        Ok(self)
    }
    /// Re-check every field (they are public, so the setters may have been bypassed).
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

    /// The K in effect for this configuration on `problem`.
    pub fn effective_k(&self, problem: &Problem) -> usize {
        self.k_for(problem, rotation_ratio(problem))
    }

    /// [`Self::effective_k`] with the problem's [`rotation_ratio`] already computed.
    fn k_for(&self, problem: &Problem, rotation: Option<f64>) -> usize {
        self.k.unwrap_or_else(|| {
            default_k(
                self.n,
                problem.is_linear_gaussian(),
                rotation.unwrap_or(DEFAULT_ROTATION),
            )
        })
    }
}

/// Largest N per axis: the padded grid, (N + 2K + 2)² points with K up to (N − 1)/2, must stay
/// indexable by the solver's 32-bit indices ((2·32768 + 1)² ≈ 2³²).
const MAX_N: usize = 32_768;

/// Estimated peak bytes of one solve on N points per axis with update radius K: per point of
/// the padded (N + 2K + 2)² grid, U (8), the state byte, the best one-point source (4), the heap
/// slot (4) and two bits, plus 160 bytes with the midpoint cache (5 numbers × 4 half-grid
/// nodes); the N² values of the report (8 each), built while the solver's arrays are alive;
/// and the heap entries of the Considered band (one to two points thick along the front, whose
/// length is at most the four sides of the padded grid; 12 bytes each, twice for the heap
/// vectors' growth). The coarse solve of the error
/// estimate runs after the fine one on a quarter of the points, so it does not raise the peak.
pub fn estimated_bytes(n: usize, k: usize, midpoint_cache: bool) -> u64 {
    use crate::resources::product;
    let w = (n as u64).saturating_add(2 * k as u64 + 2);
    let per_point_x4: u64 = 69 + if midpoint_cache { 640 } else { 0 }; // 17.25 (+160), ×4
    (product(&[w, w, per_point_x4]) / 4)
        .saturating_add(product(&[n as u64, n as u64, 8]))
        .saturating_add(product(&[4, w, 2, 2, 12]))
}

/// Refuse N when `need` (bytes at N) exceeds the available memory, naming the largest N that
/// fits by `need_at`.
fn check_grid_memory(
    n: usize,
    k: usize,
    midpoint_cache: bool,
    need_at: impl Fn(u64) -> u64,
) -> Result<()> {
    use crate::resources::{available_bytes, check_memory_against, largest_fitting, Estimate};
    let cap = available_bytes();
    let need = estimated_bytes(n, k, midpoint_cache);
    if need <= cap {
        return Ok(());
    }
    let fits = largest_fitting(9, n as u64, cap, need_at);
    let w = n as u64 + 2 * k as u64 + 2;
    check_memory_against(
        Estimate {
            flag: "--grid",
            value: n.to_string(),
            what: "the OLIM grid",
            bytes: need,
            formula: format!(
                "{w}² padded nodes × {} bytes{} + {n}² values × 8 bytes",
                if midpoint_cache { 177.25 } else { 17.25 },
                if midpoint_cache {
                    " with the midpoint cache"
                } else {
                    ""
                }
            ),
            advice: match fits {
                Some(m) => format!("use --grid ≤ {m}"),
                None => "even the smallest grid does not fit; free memory".into(),
            },
        },
        cap,
    )
}

/// The `near_triangles` fraction of [`Config::thorough`] (measured on `l`, N = 1025: 0.01, 0.03,
/// 0.1, 0.3 → ErrMax 8.6e-5, 8.0e-5, 4.1e-5, 1.7e-6 against 1.2e-4 at 0).
const THOROUGH_NEAR: f64 = 0.3;

/// Υ assumed when the linearisation at θ* cannot be split (as strongly rotating as `l`).
const DEFAULT_ROTATION: f64 = 10.0;

/// How strongly the flow winds about θ*: the linearisation b ≈ Ju splits into the part that
/// descends V, g = −½ a Σ⁻¹ u (Σ from AΣ + ΣAᵀ = a, A = −J), and the rest ℓ = Ju − g, which
/// is orthogonal to ∇V = Σ⁻¹u (the Hamilton–Jacobi equation of the linearisation) and only
/// carries paths along the level sets. Υ = max over directions u of ‖ℓ‖/‖g‖ in the metric a⁻¹:
/// 0 for a gradient flow with isotropic noise, ρ for Dahiya & Cameron's `l` and `d`, about 2
/// for the manufactured case. `None` when θ* has no linearisation with a positive definite Σ,
/// or the problem is not 2-D.
pub fn rotation_ratio(problem: &Problem) -> Option<f64> {
    if problem.dim() != 2 {
        return None;
    }
    let (a_mat, diff) = problem.linearization().ok()?;
    let sigma = crate::exact::local_covariance(problem).ok()?.sigma;
    let m = |r: usize, c: usize| a_mat.data[r * 2 + c];
    let q = |r: usize, c: usize| diff.data[r * 2 + c];
    let inv2 = |x: [[f64; 2]; 2]| {
        let det = x[0][0] * x[1][1] - x[0][1] * x[1][0];
        (det.is_finite() && det > 0.0).then(|| {
            [
                [x[1][1] / det, -x[0][1] / det],
                [-x[1][0] / det, x[0][0] / det],
            ]
        })
    };
    let sinv = inv2([
        [sigma[(0, 0)], sigma[(0, 1)]],
        [sigma[(1, 0)], sigma[(1, 1)]],
    ])?;
    let ainv = inv2([[q(0, 0), q(0, 1)], [q(1, 0), q(1, 1)]])?;
    // G = ½ a Σ⁻¹ (g = −Gu) and L = −A + G (ℓ = Lu).
    let mut g = [[0.0; 2]; 2];
    for r in 0..2 {
        for c in 0..2 {
            g[r][c] = 0.5 * (q(r, 0) * sinv[0][c] + q(r, 1) * sinv[1][c]);
        }
    }
    let norm = |v: [f64; 2]| {
        (v[0] * (ainv[0][0] * v[0] + ainv[0][1] * v[1])
            + v[1] * (ainv[1][0] * v[0] + ainv[1][1] * v[1]))
            .max(0.0)
            .sqrt()
    };
    let mut worst = 0.0f64;
    for k in 0..180 {
        let t = k as f64 * std::f64::consts::PI / 180.0;
        let u = [t.cos(), t.sin()];
        let gu = [
            g[0][0] * u[0] + g[0][1] * u[1],
            g[1][0] * u[0] + g[1][1] * u[1],
        ];
        let lu = [
            -(m(0, 0) * u[0] + m(0, 1) * u[1]) + gu[0],
            -(m(1, 0) * u[0] + m(1, 1) * u[1]) + gu[1],
        ];
        worst = worst.max(norm(lu) / norm(gu));
    }
    worst.is_finite().then_some(worst)
}

/// Default update radius K = round(4 + min(Υ/10, 4)·R(N)), clamped to [4, (N − 1)/2], where Υ
/// is the [`rotation_ratio`] and the reach R(N) = 2.5·log₂(N − 1) − 13 when `exact_quadrature`
/// (linear drift and constant noise) and log₂(N − 1) − 4 otherwise (module docs: at N = 1025,
/// 16 and 10 for Υ = 10, 4 for a gradient flow).
pub fn default_k(n: usize, exact_quadrature: bool, rotation: f64) -> usize {
    let lg = ((n.max(2) - 1) as f64).log2();
    let reach = if exact_quadrature {
        2.5 * lg - 13.0
    } else {
        lg - 4.0
    };
    let weight = if rotation.is_nan() {
        1.0
    } else {
        (rotation / DEFAULT_ROTATION).clamp(0.0, 4.0)
    };
    let k = (4.0 + weight * reach.max(0.0)).round() as usize;
    k.clamp(4, ((n.max(3) - 1) / 2).max(1))
}

/// The grid of a report.
#[derive(Clone, Debug, Serialize)]
pub struct GridInfo {
    /// Points per axis N.
    pub n: usize,
    /// Lower corner.
    pub lo: [f64; 2],
    /// Upper corner.
    pub hi: [f64; 2],
    /// Spacings (hₓ, h_y).
    pub h: [f64; 2],
}

/// Errors against the problem's exact V over the Accepted grid points.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorStats {
    /// ErrMax = max |U − V|.
    pub error_max: f64,
    /// ERMS = (mean (U − V)²)^{1/2}.
    pub error_rms: f64,
    /// ErrMax / max V.
    pub error_max_normalised: f64,
    /// ERMS / max V.
    pub error_rms_normalised: f64,
    /// max V over the compared points.
    pub max_v: f64,
    /// Number of compared (Accepted) points.
    pub points: usize,
}

impl ErrorStats {
    /// Errors of grid values U at points x against the problem's exact V, over the points with
    /// a finite U in D̄ ∩ {V ≤ V0}: the reference V is θ*'s quasi-potential only where θ*
    /// attracts, and that is the region the exit problem concerns (all of D̄ when V0 is not
    /// given). `inside(x)` says whether x ∈ D̄. `None` when no point qualifies. Shared by the 2-D
    /// and 3-D solvers.
    pub fn against_reference<X: AsRef<[f64]>>(
        problem: &Problem,
        points: impl Iterator<Item = (X, f64)>,
        inside: impl Fn(&[f64]) -> bool,
    ) -> Option<Self> {
        let (mut emax, mut esq, mut vmax, mut cnt) = (0.0f64, 0.0f64, 0.0f64, 0usize);
        for (x, u) in points {
            let x = x.as_ref();
            if !u.is_finite() || !inside(x) {
                continue;
            }
            let Some(v) = problem.reference.quasi_potential_at(x) else {
                continue;
            };
            if problem
                .reference
                .v0
                .is_some_and(|v0| v > v0 * (1.0 + 1e-12))
            {
                continue;
            }
            let e = (u - v).abs();
            emax = emax.max(e);
            esq += e * e;
            vmax = vmax.max(v);
            cnt += 1;
        }
        (cnt > 0).then(|| {
            let rms = (esq / cnt as f64).sqrt();
            ErrorStats {
                error_max: emax,
                error_rms: rms,
                error_max_normalised: emax / vmax,
                error_rms_normalised: rms / vmax,
                max_v: vmax,
                points: cnt,
            }
        })
    }
}

/// Result of [`run`].
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// "olim-midpoint".
    pub method: String,
    /// Problem name.
    pub problem: String,
    /// Action weight in effect (`inverse-sqrt` or `inverse`).
    pub weight: String,
    /// θ*.
    pub minimum: Vec<f64>,
    /// The grid.
    pub grid: GridInfo,
    /// Update radius K (grid steps).
    pub k: usize,
    /// The rotation ratio Υ at θ* that sets the default K ([`rotation_ratio`]).
    pub rotation_ratio: Option<f64>,
    /// Initialisation radius (grid steps).
    pub init_radius: f64,
    /// Interpolation of U in triangle updates.
    pub interpolation: Interpolation,
    /// Whether the thorough triangle updates ran ([`Config::thorough`]).
    pub thorough: bool,
    /// Why the solve stopped.
    pub termination: Termination,
    /// V₀ = min over ∂D ∩ grid of V, when certified (module docs).
    pub v0: Option<f64>,
    /// Where on ∂D that minimum is.
    pub exit_point: Option<Vec<f64>>,
    /// |V₀(N) − V₀((N+1)/2)| when [`Config::estimate_error`] is set and both are known.
    pub v0_error_estimate: Option<f64>,
    /// The exact V₀ of the problem file, when known.
    pub v0_reference: Option<f64>,
    /// Value of the last accepted point (every point with a smaller V is Accepted).
    pub front_value: f64,
    /// Number of Accepted grid points.
    pub accepted: usize,
    /// Errors against the exact V, when the problem has one.
    pub errors: Option<ErrorStats>,
    /// Number of one-point updates.
    pub one_point_updates: u64,
    /// Number of triangle updates.
    pub triangle_updates: u64,
    /// Wall time of the solve (seconds), excluding the error estimate.
    pub seconds: f64,
    /// Solver memory per grid point (bytes, padded arrays; 17.25, plus 160 with the midpoint
    /// cache).
    pub bytes_per_point: f64,
    /// Things the user should know.
    pub notes: Vec<String>,
    /// V at the grid points, `values[j·N + i]` = V(lo₀ + i·hₓ, lo₁ + j·h_y) (row = y index, as
    /// numpy's `meshgrid(x, y)`); unreached points are `f64::INFINITY`. Not serialised (see
    /// [`write_files`] for V.npy).
    #[serde(skip)]
    pub values: Vec<f64>,
}

impl Report {
    /// Grid coordinates along axis `axis` (0 = x, 1 = y).
    pub fn axis(&self, axis: usize) -> Vec<f64> {
        (0..self.grid.n)
            .map(|i| self.grid.lo[axis] + i as f64 * self.grid.h[axis])
            .collect()
    }
}

fn unsupported_dim(problem: &Problem) -> Error {
    let alt = if problem.is_linear_gaussian() {
        " or `v0 --method exact`"
    } else {
        ""
    };
    let msg = if problem.dim() == 3 {
        format!(
            "the 2-D grid solver (olim) handles d = 2; \"{}\" has d = 3, which the 3-D solver \
             solves: run `quasipot field {}` (library: `quasipot::olim3d::run`), or `v0 --method \
             olim` / `validate`, which pick it by d; minimum action: `v0 --method gmam`{alt}",
            problem.name, problem.name
        )
    } else {
        format!(
            "the grid solvers handle d = 2 (olim) and d = 3 (olim3d) only; \"{}\" has d = {}: \
             use `v0 --method gmam` (minimum action, any d){alt}",
            problem.name,
            problem.dim()
        )
    };
    Error::Unsupported(msg)
}

/// The 256 unit directions of the 2-D solver's [`ray_box`].
fn circle_directions() -> impl Iterator<Item = [f64; 2]> {
    (0..256).map(|k| {
        let t = k as f64 * std::f64::consts::TAU / 256.0;
        [t.cos(), t.sin()]
    })
}

/// Bounding box of a bounded domain by marching along rays from θ* in the directions `dirs`
/// (unit vectors): doubling steps out of D, then bisection to ∂D along each ray. For level sets
/// of general losses, whose [`Domain::bounding_box`] is not known in closed form; shared by the
/// 2-D and 3-D grid solvers.
pub(crate) fn ray_box<const D: usize>(
    domain: &Domain,
    center: &[f64],
    dirs: impl IntoIterator<Item = [f64; D]>,
) -> Result<([f64; D], [f64; D])> {
    let scale = 1e-3 * (1.0 + center.iter().fold(0.0f64, |m, c| m.max(c.abs())));
    let (mut lo, mut hi) = ([f64::INFINITY; D], [f64::NEG_INFINITY; D]);
    for dir in dirs {
        let at = |s: f64| -> [f64; D] { std::array::from_fn(|i| center[i] + s * dir[i]) };
        let (mut a, mut b) = (0.0, scale);
        let mut steps = 0;
        while domain.level(&at(b)) < 0.0 {
            a = b;
            b *= 2.0;
            steps += 1;
            if steps > 60 {
                let shown: Vec<String> = dir.iter().map(|c| format!("{c:.3}")).collect();
                return Err(Error::invalid(
                    "--box",
                    format!(
                        "D ({}) seems unbounded along direction ({}) from θ*; pass an explicit box",
                        domain.kind(),
                        shown.join(", ")
                    ),
                ));
            }
        }
        for _ in 0..60 {
            let m = 0.5 * (a + b);
            if domain.level(&at(m)) < 0.0 {
                a = m;
            } else {
                b = m;
            }
        }
        let x = at(b);
        for i in 0..D {
            lo[i] = lo[i].min(x[i]);
            hi[i] = hi[i].max(x[i]);
        }
    }
    Ok((lo, hi))
}

/// The default box (module docs).
pub fn default_box(problem: &Problem) -> Result<([f64; 2], [f64; 2])> {
    if problem.dim() != 2 {
        return Err(unsupported_dim(problem));
    }
    let theta = &problem.minimum;
    if let Domain::HalfSpace { normal, offset } = &problem.domain {
        let n = crate::linalg::norm(normal);
        let dist = (offset - crate::linalg::dot(normal, theta)) / n;
        let w = 2.0 * dist;
        return Ok(([theta[0] - w, theta[1] - w], [theta[0] + w, theta[1] + w]));
    }
    let (lo, hi) = match problem.domain.bounding_box() {
        Some((lo, hi)) => ([lo[0], lo[1]], [hi[0], hi[1]]),
        None => ray_box(&problem.domain, theta, circle_directions())?,
    };
    let c = [0.5 * (lo[0] + hi[0]), 0.5 * (lo[1] + hi[1])];
    let half = 0.5 * (hi[0] - lo[0]).max(hi[1] - lo[1]) * 1.2;
    Ok(([c[0] - half, c[1] - half], [c[0] + half, c[1] + half]))
}

/// Check that the grid contains D where that matters: all of a bounded D (else a side of D is
/// cut off), and some of ∂D for a half-space.
fn check_domain_on_grid(problem: &Problem, lo: [f64; 2], hi: [f64; 2]) -> Result<()> {
    let dom = &problem.domain;
    if let Domain::HalfSpace { .. } = dom {
        let corners = [
            [lo[0], lo[1]],
            [hi[0], lo[1]],
            [lo[0], hi[1]],
            [hi[0], hi[1]],
        ];
        if corners.iter().all(|c| dom.level(c) < 0.0) {
            return Err(Error::invalid(
                "--box",
                format!(
                    "the grid [{}, {}] × [{}, {}] lies inside D: it does not reach ∂D (the half-space boundary), so V₀ cannot be found; extend the box across ∂D or drop --box",
                    lo[0], hi[0], lo[1], hi[1]
                ),
            ));
        }
        return Ok(());
    }
    let (blo, bhi) = match dom.bounding_box() {
        Some((l, h)) => ([l[0], l[1]], [h[0], h[1]]),
        None => ray_box(dom, &problem.minimum, circle_directions())?,
    };
    let names = ["x", "y"];
    let tol = 1e-9 * (1.0 + (hi[0] - lo[0]).max(hi[1] - lo[1]));
    let mut cut = Vec::new();
    for i in 0..2 {
        if blo[i] < lo[i] - tol {
            cut.push(format!(
                "the lower {} edge {} = {} cuts D, which reaches {} = {:.6}",
                names[i], names[i], lo[i], names[i], blo[i]
            ));
        }
        if bhi[i] > hi[i] + tol {
            cut.push(format!(
                "the upper {} edge {} = {} cuts D, which reaches {} = {:.6}",
                names[i], names[i], hi[i], names[i], bhi[i]
            ));
        }
    }
    if !cut.is_empty() {
        return Err(Error::invalid(
            "--box",
            format!(
                "the grid does not contain ∂D ({}): {}; enlarge the box or drop --box for the default",
                dom.kind(),
                cut.join("; ")
            ),
        ));
    }
    Ok(())
}

struct Visit<'a> {
    setup: Setup,
    _p: std::marker::PhantomData<&'a ()>,
}

impl ModelVisitor for Visit<'_> {
    type Output = Solution;
    fn visit<B: VectorField, N: Diffusion>(self, drift: &B, noise: &N) -> Solution {
        solver::solve(drift, noise, self.setup)
    }
}

/// V₀ from the accepted values: (min over crossing edges, crossing point).
fn boundary_minimum(problem: &Problem, g: &Grid, sol: &Solution) -> Option<(f64, [f64; 2])> {
    let accepted = |p: usize| {
        let s = sol.state[p] & STATE_MASK;
        s == State::Front as u8 || s == State::Accepted as u8
    };
    let mut best: Option<(f64, [f64; 2])> = None;
    let n = g.n;
    let mut level_row: Vec<f64> = (0..n)
        .map(|i| problem.domain.level(&g.point(i, 0)))
        .collect();
    let mut next_row = vec![0.0; n];
    let mut consider = |p: usize, q: usize, gp: f64, gq: f64, xp: [f64; 2], xq: [f64; 2]| {
        if (gp < 0.0) == (gq < 0.0) || !accepted(p) || !accepted(q) {
            return;
        }
        let t = gp / (gp - gq);
        let v = (1.0 - t) * sol.u[p] + t * sol.u[q];
        if best.is_none_or(|(b, _)| v < b) {
            let x = [xp[0] + t * (xq[0] - xp[0]), xp[1] + t * (xq[1] - xp[1])];
            best = Some((v, x));
        }
    };
    for j in 0..n {
        if j + 1 < n {
            for (i, nr) in next_row.iter_mut().enumerate() {
                *nr = problem.domain.level(&g.point(i, j + 1));
            }
        }
        for i in 0..n {
            let p = g.index(i, j);
            if i + 1 < n {
                consider(
                    p,
                    p + 1,
                    level_row[i],
                    level_row[i + 1],
                    g.point(i, j),
                    g.point(i + 1, j),
                );
            }
            if j + 1 < n {
                consider(
                    p,
                    g.index(i, j + 1),
                    level_row[i],
                    next_row[i],
                    g.point(i, j),
                    g.point(i, j + 1),
                );
            }
        }
        std::mem::swap(&mut level_row, &mut next_row);
    }
    best
}

/// Ends of grid edges crossing ∂D (padded indices).
fn boundary_points(problem: &Problem, g: &Grid) -> Vec<usize> {
    let n = g.n;
    let lv: Vec<bool> = (0..n * n)
        .map(|k| problem.domain.level(&g.point(k % n, k / n)) < 0.0)
        .collect();
    let mut out = Vec::new();
    for j in 0..n {
        for i in 0..n {
            let inside = lv[j * n + i];
            if i + 1 < n && lv[j * n + i + 1] != inside {
                out.push(g.index(i, j));
                out.push(g.index(i + 1, j));
            }
            if j + 1 < n && lv[(j + 1) * n + i] != inside {
                out.push(g.index(i, j));
                out.push(g.index(i, j + 1));
            }
        }
    }
    out
}

/// Compute V on the grid and V₀ (module docs).
///
/// Errors: d ≠ 2 ([`Error::Unsupported`], naming `v0 --method gmam`); N too small for K; θ*
/// outside the grid; a grid that cuts off part of a bounded D (naming the side) or misses ∂D of
/// a half-space; a(θ) not positive definite at a point the solver needed (naming it).
pub fn run(problem: &Problem, config: &Config) -> Result<Report> {
    let mut report = solve_once(problem, config)?;
    if config.estimate_error {
        if let Some(v0) = report.v0 {
            let coarse_n = config.n.div_ceil(2);
            if coarse_n >= 9 {
                let mut c = config.clone();
                c.n = coarse_n;
                c.k = config.k.map(|k| k.min((coarse_n - 1) / 2).max(1));
                c.bounds = Some((report.grid.lo, report.grid.hi));
                c.compare_with_reference = false;
                c.estimate_error = false;
                if let Ok(coarse) = solve_once(problem, &c) {
                    // 2·|V0(N) − V0(N/2)|: the plain difference is the error only for exactly
                    // first-order convergence; the factor covers orders down to about ½.
                    report.v0_error_estimate = coarse.v0.map(|v| 2.0 * (v - v0).abs());
                }
            }
        }
    }
    // A non-finite V₀ is an error, never a value.
    if let Some(v) = report.v0 {
        problem.check_finite_value("olim", "V0", v)?;
    }
    if let Some(x) = &report.exit_point {
        problem.check_finite_point("olim", "the exit point", x)?;
    }
    if let Some(e) = report.v0_error_estimate {
        problem.check_finite_value("olim", "the V0 error estimate", e)?;
    }
    Ok(report)
}

fn solve_once(problem: &Problem, config: &Config) -> Result<Report> {
    if problem.dim() != 2 {
        return Err(unsupported_dim(problem));
    }
    config.validate()?;
    let n = config.n;
    let rotation = rotation_ratio(problem);
    let k = config.k_for(problem, rotation);
    if 2 * k + 1 > n {
        return Err(Error::invalid(
            "--grid",
            format!(
                "N = {n} points per axis is too small for K = {k} (the update radius must fit in the grid: N ≥ 2K + 1 = {}); raise --grid or lower --k",
                2 * k + 1
            ),
        ));
    }
    // The cache pays off where a midpoint evaluation is expensive: a(θ)⁻¹ needs an
    // eigendecomposition, or the drift is interpreted (~0.5 µs). Native, compiled and linear
    // drifts, and closed-form metrics, are recomputed instead: on manufactured-anisotropic
    // (compiled, closed-form a⁻¹) the cache saved only 13–17 % of the time at N = 513 and 1025
    // for 10× the memory (177.25 against 17.25 bytes per point).
    let interpreted_drift = matches!(&problem.drift,
        crate::problem::Drift::Field(f) if !f.components.is_compiled());
    let spectral_metric = match &problem.noise {
        crate::problem::Noise::Variable(v) => !v.has_closed_form_metric(),
        crate::problem::Noise::Constant(_) => false,
    };
    let uses_cache = config.midpoint_cache && (spectral_metric || interpreted_drift);
    // Every array below scales with N²: refuse before allocating any of them.
    check_grid_memory(n, k, uses_cache, |m| {
        let mut c = config.clone();
        c.n = m as usize;
        estimated_bytes(m as usize, c.k_for(problem, rotation), uses_cache)
    })?;
    let (lo, hi) = match config.bounds {
        Some(b) => b,
        None => default_box(problem)?,
    };
    problem.check_grid_extent("OLIM", &lo, &hi, config.bounds.is_some())?;
    let theta = [problem.minimum[0], problem.minimum[1]];
    if !(0..2).all(|i| theta[i] > lo[i] && theta[i] < hi[i]) {
        return Err(Error::invalid(
            "--box",
            format!(
                "θ* = ({}, {}) is outside the grid [{}, {}] × [{}, {}]; the box must contain the minimum",
                theta[0], theta[1], lo[0], hi[0], lo[1], hi[1]
            ),
        ));
    }
    check_domain_on_grid(problem, lo, hi)?;
    let grid = Grid::new(n, lo, hi, k + 1);
    let sigma = crate::exact::local_covariance(problem)?.sigma;
    let det = sigma[(0, 0)] * sigma[(1, 1)] - sigma[(0, 1)] * sigma[(1, 0)];
    if det.is_nan() || det <= 0.0 {
        return Err(Error::numerical(
            "olim initialisation",
            format!("the local covariance Σ at θ* is singular (det = {det:e})"),
        ));
    }
    let sinv = [
        sigma[(1, 1)] / det,
        -0.5 * (sigma[(0, 1)] + sigma[(1, 0)]) / det,
        sigma[(0, 0)] / det,
    ];
    let mut initial = Vec::new();
    let r = config.init_radius;
    let (ci, cj) = (
        (theta[0] - lo[0]) / grid.h[0],
        (theta[1] - lo[1]) / grid.h[1],
    );
    let span = r.ceil() as isize + 1;
    for dj in -span..=span {
        for di in -span..=span {
            let (i, j) = (ci.floor() as isize + di, cj.floor() as isize + dj);
            if i < 0 || j < 0 || i >= n as isize || j >= n as isize {
                continue;
            }
            let (fi, fj) = (i as f64 - ci, j as f64 - cj);
            if fi * fi + fj * fj > r * r {
                continue;
            }
            let x = grid.point(i as usize, j as usize);
            let u = [x[0] - theta[0], x[1] - theta[1]];
            let v =
                0.5 * (sinv[0] * u[0] * u[0] + 2.0 * sinv[1] * u[0] * u[1] + sinv[2] * u[1] * u[1]);
            initial.push((grid.index(i as usize, j as usize), v));
        }
    }
    let boundary = boundary_points(problem, &grid);
    let edge: Vec<usize> = (0..n)
        .flat_map(|k| [(k, 0), (k, n - 1), (0, k), (n - 1, k)])
        .filter(|&(i, j)| problem.domain.level(&grid.point(i, j)) <= 0.0)
        .map(|(i, j)| grid.index(i, j))
        .collect();
    let setup = Setup {
        grid: grid.clone(),
        k,
        initial,
        boundary,
        edge,
        midpoint_cache: uses_cache,
        stop_early: config.stop == StopRule::Boundary,
        quadratic: config.interpolation == Interpolation::Quadratic,
        near_triangles: if config.thorough { THOROUGH_NEAR } else { 0.0 },
        domain: problem.domain.clone(),
    };
    let start = Instant::now();
    let sol = problem.visit(Visit {
        setup,
        _p: std::marker::PhantomData,
    });
    let seconds = start.elapsed().as_secs_f64();
    if let Some(x) = sol.bad_point {
        return Err(Error::NotPositiveDefinite {
            field: "noise".into(),
            detail: format!(
                "a(θ) is not positive definite at θ = ({}, {}), a point the grid solver needed",
                x[0], x[1]
            ),
        });
    }
    if let Some((x, b)) = sol.singular_point {
        return Err(crate::problem::check::singular_drift(
            &x,
            &b,
            "inside D, a point the grid solver needed",
        ));
    }
    let mut notes = Vec::new();
    let (v0, exit_point) = match boundary_minimum(problem, &grid, &sol) {
        Some((v, x)) => {
            let all = sol.termination != Termination::GridEdge;
            if all || v <= sol.last_value {
                (Some(v), Some(x.to_vec()))
            } else {
                notes.push(format!(
                    "the front reached the grid edge at V = {:.6} before ∂D was reached below that value; V₀ is unknown: enlarge the box",
                    sol.last_value
                ));
                (None, None)
            }
        }
        None => {
            notes.push(
                "no grid edge crossing ∂D was accepted: V₀ is unknown (enlarge the box)".into(),
            );
            (None, None)
        }
    };
    let mut values = vec![f64::INFINITY; n * n];
    for j in 0..n {
        for i in 0..n {
            let p = grid.index(i, j);
            let s = sol.state[p] & STATE_MASK;
            if s == State::Front as u8 || s == State::Accepted as u8 {
                values[j * n + i] = sol.u[p];
            }
        }
    }
    let errors = if config.compare_with_reference && problem.reference.quasi_potential.is_some() {
        let points = (0..n * n).map(|p| (grid.point(p % n, p / n), values[p]));
        ErrorStats::against_reference(problem, points, |x| problem.domain.level(x) <= 0.0)
    } else {
        None
    };
    Ok(Report {
        method: "olim-midpoint".into(),
        problem: problem.name.clone(),
        weight: problem.noise_description.weight.name().into(),
        minimum: problem.minimum.clone(),
        grid: GridInfo {
            n,
            lo,
            hi,
            h: grid.h,
        },
        k,
        rotation_ratio: rotation,
        init_radius: config.init_radius,
        interpolation: config.interpolation,
        thorough: config.thorough,
        termination: sol.termination,
        v0,
        exit_point,
        v0_error_estimate: None,
        v0_reference: problem.reference.v0,
        front_value: sol.last_value,
        accepted: sol.accepted,
        errors,
        one_point_updates: sol.one_point_updates,
        triangle_updates: sol.triangle_updates,
        seconds,
        bytes_per_point: 17.0 + 2.0 / 8.0 + if uses_cache { 160.0 } else { 0.0 },
        notes,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::BuildOptions;

    /// The estimate matches the module docs' figures: 17.25 bytes per padded point (19 MB at
    /// N = 1025 with K = 17), 160 more with the midpoint cache, plus 8 per value.
    #[test]
    fn memory_estimate_counts_padded_arrays_cache_and_values() {
        let w = 1025.0 + 2.0 * 17.0 + 2.0;
        let plain = estimated_bytes(1025, 17, false) as f64;
        let arrays = w * w * 17.25 + 1025.0 * 1025.0 * 8.0;
        assert!(
            plain >= arrays && plain < arrays * 1.01,
            "{plain} vs {arrays}"
        );
        assert!((w * w * 17.25 / 1e6 - 19.4).abs() < 0.1);
        let cached = estimated_bytes(1025, 17, true) as f64;
        assert!((cached - plain - w * w * 160.0).abs() < 1.0, "{cached}");
        // Saturates instead of overflowing for absurd N.
        assert_eq!(estimated_bytes(usize::MAX / 2, 4, true), u64::MAX);
    }

    /// The midpoint cache (used for interpreted formulas) stores exactly what recomputing gives:
    /// the interpreted problem with the cache and the compiled one without it give the same
    /// grid bit for bit, at 177.25 and 17.25 bytes per point.
    #[test]
    fn cached_and_recomputed_midpoints_give_the_same_grid() {
        let compiled = Problem::load("manufactured-anisotropic", &BuildOptions::default()).unwrap();
        let interpreted = compiled.with_interpreted_formulas();
        let mut c = Config::new(65).unwrap();
        c.estimate_error = false;
        let (a, b) = (run(&compiled, &c).unwrap(), run(&interpreted, &c).unwrap());
        assert_eq!((a.bytes_per_point, b.bytes_per_point), (17.25, 177.25));
        assert!(a
            .values
            .iter()
            .zip(&b.values)
            .all(|(u, v)| u.to_bits() == v.to_bits()));
        assert_eq!(a.accepted, b.accepted);
    }

    /// The solve dispatched on CPU features (the x86-64-v3 copy where available) and the
    /// baseline copy give bit-identical grids, for constant noise (Cholesky-coordinate updates)
    /// and for state-dependent noise with a formula drift.
    #[test]
    fn dispatched_and_portable_solves_agree_bit_for_bit() {
        for name in ["rotational-linear", "manufactured-anisotropic"] {
            let p = Problem::load(name, &BuildOptions::default()).unwrap();
            let mut c = Config::new(65).unwrap();
            c.estimate_error = false;
            let solve = |portable: bool| {
                crate::simd::FORCE_PORTABLE.with(|f| f.set(portable));
                let r = run(&p, &c).unwrap();
                crate::simd::FORCE_PORTABLE.with(|f| f.set(false));
                r
            };
            let (a, b) = (solve(false), solve(true));
            assert!(a.accepted > 1000, "{name}: {} accepted", a.accepted);
            assert_eq!(a.accepted, b.accepted, "{name}");
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert!(bits(&a.values) == bits(&b.values), "{name}: grids differ");
        }
    }
}
