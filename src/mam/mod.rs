//! Minimum action: optimal escape paths and the quasi-potential V(θ), V₀ by gMAM and fixed-time
//! MAM (DESIGN §1).
//!
//! - **gMAM** (Heymann & Vanden-Eijnden 2008): minimise the discrete geometric action
//!   ([`crate::action::geometric_action`]) over the free nodes with argmin's L-BFGS and
//!   More–Thuente line search, re-parametrising to equal arclength in the a⁻¹ metric between
//!   rounds, until the action changes by less than `action_tol` (relative) over a round. The
//!   nodes are preconditioned by the Cholesky factor of the chain Laplacian along the path, which
//!   removes the n² growth of the condition number (see `optimize::Context::start_round`).
//! - **Accuracy**: the segment count doubles (h, h/2, h/4, …; at least three levels) and the
//!   Richardson value at the observed order (≤ 2, the midpoint rule's) is reported with the
//!   estimated error of the finest level ([`extrapolate`]), until that estimate is ≤ `tol`·|S*|.
//! - **Free endpoint on ∂D**: the last node moves on ∂D through a chart ([`endpoint`]); starts
//!   from the ±eigenvectors of the linearisation's Σ (ranked by the local quadratic V at their
//!   boundary point) plus seeded random directions run in parallel (rayon; same seed → same
//!   numbers for any thread count), duplicates are merged, every distinct exit channel is
//!   reported, and V₀ is the least action.
//! - **Fixed-time MAM**: min S_T over paths of duration T on a uniform time grid
//!   ([`crate::action::time_action`]), for each T in `times`; min S_T decreases to V as T → ∞.
//!
//! Not converging is an outcome ([`Termination`]), not an error.
//!
//! ```
//! use quasipot::problem::{BuildOptions, Problem};
//! let opts = BuildOptions { parameters: vec![("beta".into(), 3.0)], ..Default::default() };
//! let p = Problem::load("maier-stein", &opts).unwrap();
//! let cfg = quasipot::mam::Config { target: quasipot::mam::Target::Point(vec![0.0, 0.0]),
//!                                   ..Default::default() };
//! let r = quasipot::mam::run(&p, &cfg).unwrap();
//! assert!((r.action - 0.5).abs() < 1e-4); // V = 0.5 exactly for β ≤ 4
//! ```

#![allow(clippy::needless_range_loop)] // index loops mirror the formulas in the kernels

mod continuum;
pub mod endpoint;
mod optimize;
pub mod output;
pub mod path;
mod starts;

pub use continuum::FLAT_RELATIVE;
pub use optimize::{hamiltonian_residual, Diagnostics, Functional};
pub use output::write_files;
pub use path::Path;

use crate::error::{Error, Result};
use crate::problem::{Diffusion, ModelVisitor, Problem, VectorField};
use endpoint::{BoundaryChart, Endpoint};
use optimize::{Context, Outcome};
use rayon::prelude::*;
use serde::Serialize;
use starts::Linearization;

/// Where the optimal path ends.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Target {
    /// Anywhere on ∂D (V₀; the CLI's default).
    #[default]
    Boundary,
    /// A given point (V at that point; `--to`).
    Point(Vec<f64>),
}

/// The first guess of each start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InitialGuess {
    /// The reversed linearised flow from the endpoint to θ* (curved; exact for linear problems).
    #[default]
    Linearized,
    /// A straight line from θ*.
    Straight,
}

/// Options of the minimum action engine.
#[derive(Clone, Debug)]
pub struct Config {
    /// Path end (default: ∂D).
    pub target: Target,
    /// Durations T for fixed-time MAM (default: none, geometric only).
    pub times: Vec<f64>,
    /// Nodes of the first (coarse) path, ≥ 3 (default 17).
    pub points: usize,
    /// Refinement stops before exceeding this many nodes (default 2049).
    pub max_points: usize,
    /// Relative target for the Richardson error estimate (default 1e-5).
    pub tol: f64,
    /// Relative action change over a round below which a minimisation has converged
    /// (default 1e-9). Within a round, L-BFGS stops once an iteration improves the action by
    /// less than 1e-3·`action_tol` (relative).
    pub action_tol: f64,
    /// L-BFGS gradient-norm tolerance within a round (default 1e-11).
    pub gradient_tol: f64,
    /// Optimise → re-parametrise rounds per minimisation (default 30).
    pub max_rounds: usize,
    /// L-BFGS iterations per round (default 300).
    pub max_iterations: u64,
    /// L-BFGS memory (default 10).
    pub memory: usize,
    /// Free endpoint: ±Σ-eigenvector starts kept after ranking (default 4).
    pub eigen_starts: usize,
    /// Free endpoint: additional random directions (default 2).
    pub random_starts: usize,
    /// Bent variants (±sin bumps along leading Σ-eigenvectors normal to the chord) of the best
    /// start, to break symmetries that make a straight path critical (default 1 direction;
    /// 0 disables).
    pub bent_starts: usize,
    /// Seed of the random directions (default 0).
    pub seed: u64,
    /// First guess (default: linearised flow).
    pub initial: InitialGuess,
    /// Exit points closer than `merge_tol`·(1 + |x − θ*|) are one channel (default 1e-3).
    pub merge_tol: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            target: Target::Boundary,
            times: Vec::new(),
            points: 17,
            max_points: 2049,
            tol: 1e-5,
            action_tol: 1e-9,
            gradient_tol: 1e-11,
            max_rounds: 30,
            max_iterations: 300,
            memory: 10,
            eigen_starts: 4,
            random_starts: 2,
            bent_starts: 1,
            seed: 0,
            initial: InitialGuess::Linearized,
            merge_tol: 1e-3,
        }
    }
}

impl Config {
    /// Check the options against a problem of dimension `d`; errors name the CLI flag.
    pub fn validate(&self, problem: &Problem) -> Result<()> {
        let d = problem.dim();
        if self.points < 3 {
            return Err(Error::invalid(
                "--points",
                format!("need at least 3 nodes, got {}", self.points),
            ));
        }
        if self.max_points < self.points {
            return Err(Error::invalid("max_points", "must be ≥ --points"));
        }
        if !(self.tol > 0.0 && self.tol.is_finite()) {
            return Err(Error::invalid(
                "--tol",
                format!("must be a positive number, got {}", self.tol),
            ));
        }
        if !(self.action_tol >= 0.0 && self.gradient_tol >= 0.0) {
            return Err(Error::invalid("action_tol", "tolerances must be ≥ 0"));
        }
        if self.max_rounds == 0 || self.max_iterations == 0 || self.memory == 0 {
            return Err(Error::invalid(
                "max_rounds",
                "max_rounds, max_iterations and memory must be ≥ 1",
            ));
        }
        if let Some(t) = self.times.iter().find(|t| !(**t > 0.0 && t.is_finite())) {
            return Err(Error::invalid(
                "--time",
                format!("durations must be positive and finite, got {t}"),
            ));
        }
        if let Some(&t) = self.times.iter().max_by(|a, b| a.total_cmp(b)) {
            self.check_time_resolved(problem, t)?;
        }
        if self.target == Target::Boundary && self.eigen_starts + self.random_starts == 0 {
            return Err(Error::invalid("--starts", "need at least one start"));
        }
        if let Target::Point(x) = &self.target {
            if x.len() != d {
                return Err(Error::invalid(
                    "--to",
                    format!(
                        "the target has {} coordinates but the problem has d = {d} ({})",
                        x.len(),
                        problem.variables.join(", ")
                    ),
                ));
            }
            if x.iter().any(|v| !v.is_finite()) {
                return Err(Error::invalid(
                    "--to",
                    format!("target {x:?} is not finite"),
                ));
            }
            let g = problem.domain.level(x);
            let scale = 1e-9 * (1.0 + crate::linalg::norm(x));
            if g > scale {
                return Err(Error::invalid(
                    "--to",
                    format!("target {x:?} is outside D ({}; level {g:.3e} > 0): V is computed inside D and on ∂D", problem.domain.kind()),
                ));
            }
            let dist: f64 = x
                .iter()
                .zip(&problem.minimum)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>()
                .sqrt();
            if dist == 0.0 {
                return Err(Error::invalid(
                    "--to",
                    "the target is θ* itself, where V = 0",
                ));
            }
        }
        Ok(())
    }
}

/// Most ρ(J(θ*))·Δt on the finest time grid for which fixed-time MAM is attempted: at 2
/// (`quadratic-2d`, T = 1000) min S_T is right to 1e-8, at 8 (T = 4000) it is 1 % off with an
/// error estimate that still covers it, at 20 (T = 1e4) 32 % off with an estimate that does not.
pub const MAX_STIFF_TIME_STEP: f64 = 8.0;

impl Config {
    /// Refuse a duration T that the uniform time grid cannot resolve even at `max_points` nodes:
    /// the path sits near θ* for most of T and escapes in a time of order 1/ρ(J(θ*)).
    fn check_time_resolved(&self, problem: &Problem, t: f64) -> Result<()> {
        let j = problem.jacobian_at_minimum();
        let rho = j
            .to_faer()
            .eigenvalues()
            .map(|ev| ev.iter().map(|z| z.norm()).fold(0.0, f64::max))
            .unwrap_or(0.0);
        let dt = t / (self.max_points - 1) as f64;
        if rho * dt > MAX_STIFF_TIME_STEP {
            let t_max = MAX_STIFF_TIME_STEP * (self.max_points - 1) as f64 / rho;
            return Err(Error::invalid(
                "--time",
                format!(
                    "T = {} cannot be resolved: the finest time grid ({} nodes) has step T/{} = {}, {} times the drift's time scale 1/ρ(J(θ*)) = {} (at most {MAX_STIFF_TIME_STEP} is resolved, i.e. T ≤ {}); for T → ∞ min S_T tends to the geometric action: use `quasipot path` without --time",
                    crate::problem::check::fmt_number(t),
                    self.max_points,
                    self.max_points - 1,
                    crate::problem::check::fmt_number(dt),
                    crate::problem::check::fmt_number(rho * dt),
                    crate::problem::check::fmt_number(1.0 / rho),
                    crate::problem::check::fmt_number(t_max)
                ),
            ));
        }
        Ok(())
    }
}

/// Why the engine stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Termination {
    /// Every minimisation converged and the error estimate met `tol`.
    Converged,
    /// A minimisation used all its rounds without the action settling.
    MaxRounds,
    /// The error estimate did not meet `tol` within `max_points` nodes.
    MaxPoints,
}

/// A minimisation refined by halving h until the Richardson error estimate meets `tol`
/// ([`extrapolate`]).
#[derive(Clone, Debug, Serialize)]
pub struct Refined {
    /// Richardson value S* at the observed order ([`extrapolate`]).
    pub action: f64,
    /// The estimated error of the finest level (+ its last round's action change).
    pub error_estimate: f64,
    /// S_h.
    pub action_coarse: f64,
    /// S_{h/2}.
    pub action_fine: f64,
    /// The actions at every level h, h/2, h/4, …
    pub levels: Vec<f64>,
    /// Nodes of the coarse path.
    pub points_coarse: usize,
    /// Nodes of the fine path.
    pub points: usize,
    /// Last node of the fine path.
    pub exit_point: Vec<f64>,
    /// The fine path.
    #[serde(skip)]
    pub path: Path,
    /// Diagnostics of the fine minimisation (evaluations and iterations summed over levels).
    pub diagnostics: Diagnostics,
    /// Outcome.
    pub termination: Termination,
}

/// One distinct exit channel (local minimum of the action over ∂D).
#[derive(Clone, Debug, Serialize)]
pub struct Channel {
    /// Its action, refined.
    #[serde(flatten)]
    pub result: Refined,
    /// Coarse actions of the starts that converged here, with their labels.
    pub starts: Vec<(String, f64)>,
    /// Other coarse exit points (with their coarse actions) found to lie on one continuum of
    /// equal action with this channel's, e.g. where ∂D is a level set of V (see
    /// the module docs of `mam::continuum`); empty for an isolated exit.
    pub continuum: Vec<(Vec<f64>, f64)>,
}

/// min S_T for one duration T.
#[derive(Clone, Debug, Serialize)]
pub struct FixedTime {
    /// T.
    pub time: f64,
    /// The minimisation, refined.
    #[serde(flatten)]
    pub result: Refined,
    /// Node times tᵢ = iT/(n − 1) of the fine path.
    #[serde(skip)]
    pub times: Vec<f64>,
}

/// Everything the engine found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// "gmam".
    pub method: String,
    /// Problem name.
    pub problem: String,
    /// Action weight (inverse-sqrt | inverse).
    pub weight: String,
    /// d.
    pub dim: usize,
    /// The target point (absent for the free endpoint on ∂D).
    pub target: Option<Vec<f64>>,
    /// V(target), or V₀ = least action over the channels.
    pub action: f64,
    /// V₀ for the free endpoint.
    pub v0: Option<f64>,
    /// Its error estimate.
    pub error_estimate: f64,
    /// End of the optimal path.
    pub exit_point: Vec<f64>,
    /// True when everything converged to `tol`.
    pub converged: bool,
    /// Worst outcome over all minimisations.
    pub termination: Termination,
    /// Distinct channels, least action first (one for a fixed target).
    pub channels: Vec<Channel>,
    /// min S_T for each requested T.
    pub fixed_time: Vec<FixedTime>,
    /// Wall time in seconds.
    pub seconds: f64,
}

impl Report {
    /// The optimal path (of the least-action channel).
    pub fn path(&self) -> &Path {
        &self.channels[0].result.path
    }
}

/// Run the minimum action engine on a problem.
///
/// # Errors
/// Invalid options (naming the flag), a target outside D, a(θ) losing positive definiteness on
/// a path (naming the point), or a domain the free endpoint cannot chart. Non-convergence is not
/// an error: see [`Report::termination`].
pub fn run(problem: &Problem, config: &Config) -> Result<Report> {
    config.validate(problem)?;
    // Path nodes this far out overflow the action's squared norms.
    problem.check_domain_extent("gmam")?;
    let t0 = std::time::Instant::now();
    let lin = Linearization::new(problem)?;
    let mut report = problem.visit(Runner {
        problem,
        config,
        lin: &lin,
    })?;
    report.seconds = t0.elapsed().as_secs_f64();
    check_report(problem, &report)?;
    Ok(report)
}

/// The final check of a report: b finite and without a pole along every path the engine
/// returns (nodes and segment midpoints, where the discrete action evaluates b), and every
/// action and exit point finite.
fn check_report(problem: &Problem, r: &Report) -> Result<()> {
    let polyline = |p: &Path| -> Vec<Vec<f64>> {
        let mut pts = Vec::with_capacity(2 * p.len());
        for i in 0..p.len() {
            if i > 0 {
                let (a, b) = (p.node(i - 1), p.node(i));
                pts.push(a.iter().zip(b).map(|(x, y)| 0.5 * (x + y)).collect());
            }
            pts.push(p.node(i).to_vec());
        }
        pts
    };
    for c in &r.channels {
        problem.validate_drift_along(&polyline(&c.result.path), "on the gMAM path")?;
        problem.check_finite_value("gmam", "the action", c.result.action)?;
        problem.check_finite_point("gmam", "the exit point", &c.result.exit_point)?;
    }
    for f in &r.fixed_time {
        problem.validate_drift_along(&polyline(&f.result.path), "on the fixed-time MAM path")?;
        problem.check_finite_value(
            "gmam",
            &format!("min S_T at T = {}", f.time),
            f.result.action,
        )?;
    }
    problem.check_finite_value("gmam", "V0", r.action)?;
    Ok(())
}

struct Runner<'a> {
    problem: &'a Problem,
    config: &'a Config,
    lin: &'a Linearization,
}

fn worst(a: Termination, b: Termination) -> Termination {
    use Termination::*;
    match (a, b) {
        (MaxRounds, _) | (_, MaxRounds) => MaxRounds,
        (MaxPoints, _) | (_, MaxPoints) => MaxPoints,
        _ => Converged,
    }
}

/// Free endpoint: how often the refinement may restart from a moved exit point.
const MAX_ENDPOINT_MOVES: usize = 2;
/// Free endpoint: re-parametrisation rounds of the check that frees the exit point again at the
/// finest level (it measures how much moving it gains; it need not converge further).
const ENDPOINT_CHECK_ROUNDS: usize = 8;
/// Relative round-to-round change at which the coarse multistart minimisations stop: they rank
/// the starts and find the exit channels, whose actions are then recomputed at every level.
const COARSE_ACTION_TOL: f64 = 1e-6;

impl<B: VectorField, N: Diffusion> Context<'_, B, N> {
    /// Refinement with Richardson extrapolation (see [`Refined`]). With a free endpoint the exit
    /// point is held where the coarse minimisation put it while the segment count doubles, so
    /// that every level discretises the same continuous problem V(x_e) and the extrapolation is
    /// sound; then the exit point is freed once more at the finest level. What that gains is
    /// added to the error estimate, and if it is more than half the tolerance the refinement
    /// restarts from the moved exit point (at most [`MAX_ENDPOINT_MOVES`] times).
    ///
    /// Why: where the action is nearly constant along ∂D (a domain bounded by a level set of V,
    /// the usual way to manufacture an exact V0), a free exit point drifts along ∂D with the
    /// discretisation error, each level ends somewhere else, the differences between levels no
    /// longer shrink like h², and the extrapolation refines to `max_points` without meeting its
    /// tolerance (`manufactured-anisotropic`: 2049 nodes and 18 s for 6.7e-6).
    fn refine(&self, coarse: Outcome, cfg: &Config) -> Result<Refined> {
        if !matches!(self.endpoint, Endpoint::Boundary(_)) {
            return self.refine_levels(coarse, cfg);
        }
        let check_cfg = Config {
            max_rounds: ENDPOINT_CHECK_ROUNDS,
            ..cfg.clone()
        };
        // The exit point of the second level (its discretisation shift is 4× smaller than the
        // first's, and what it costs in V is quadratic in that shift).
        let multistart = &coarse.diagnostics;
        let (mut iters, mut evals) = (multistart.iterations, multistart.evaluations);
        let mut coarse = self.minimise(coarse.path.refined(), cfg)?;
        iters += coarse.diagnostics.iterations;
        evals += coarse.diagnostics.evaluations;
        for moves in 0..=MAX_ENDPOINT_MOVES {
            let fixed = Endpoint::Fixed(coarse.path.end().to_vec());
            let held = Context {
                drift: self.drift,
                noise: self.noise,
                start: self.start,
                endpoint: &fixed,
                functional: self.functional,
                graded: self.graded,
            };
            // Level 0 again at the held exit point, to the full tolerance.
            let level0 = held.minimise(coarse.path.clone(), cfg)?;
            let mut r = held.refine_levels(level0, cfg)?;
            let freed = self.minimise(r.path.clone(), &check_cfg)?;
            iters += r.diagnostics.iterations + freed.diagnostics.iterations;
            evals += r.diagnostics.evaluations + freed.diagnostics.evaluations;
            let gain = (r.action_fine - freed.action).max(0.0);
            let room = 2 * r.path.len() - 1 <= cfg.max_points;
            if gain <= 0.5 * cfg.tol * r.action.abs() || moves == MAX_ENDPOINT_MOVES || !room {
                r.error_estimate += gain;
                if r.error_estimate > cfg.tol * r.action.abs() {
                    r.termination = worst(r.termination, Termination::MaxPoints);
                }
                r.diagnostics.iterations = iters;
                r.diagnostics.evaluations = evals;
                return Ok(r);
            }
            coarse = freed;
        }
        unreachable!("the last endpoint move returns")
    }

    /// Refinement by doubling the segment count, with Richardson extrapolation at the observed
    /// order (see [`Refined`]).
    fn refine_levels(&self, coarse: Outcome, cfg: &Config) -> Result<Refined> {
        let mut coarse = coarse;
        let mut iters = coarse.diagnostics.iterations;
        let mut evals = coarse.diagnostics.evaluations;
        let mut levels = vec![coarse.action];
        loop {
            let fine = self.minimise(coarse.path.refined(), cfg)?;
            iters += fine.diagnostics.iterations;
            evals += fine.diagnostics.evaluations;
            levels.push(fine.action);
            let (action, estimate) = extrapolate(&levels);
            let estimate = estimate + fine.diagnostics.action_change;
            let met = estimate <= cfg.tol * action.abs();
            let room = 2 * fine.path.len() - 1 <= cfg.max_points;
            let mut term = worst(coarse.diagnostics.termination, fine.diagnostics.termination);
            if met || !room {
                if !met {
                    term = worst(term, Termination::MaxPoints);
                }
                let mut diagnostics = fine.diagnostics.clone();
                diagnostics.iterations = iters;
                diagnostics.evaluations = evals;
                return Ok(Refined {
                    action,
                    error_estimate: estimate,
                    action_coarse: coarse.action,
                    action_fine: fine.action,
                    levels,
                    points_coarse: coarse.path.len(),
                    points: fine.path.len(),
                    exit_point: fine.path.end().to_vec(),
                    path: fine.path,
                    diagnostics,
                    termination: term,
                });
            }
            coarse = fine;
        }
    }
}

/// Whether θ* is a focus of the drift: an eigenvalue λ of J = ∂b(θ*) with |Im λ| > 0.1 |Re λ|
/// (the optimal path then winds out of θ* at ≥ 1/63 turn per e-fold of distance, and gMAM grades
/// its nodes towards θ*; for a node equal arclength already converges like h², and the grading
/// would only cost resolution elsewhere: Maier–Stein to the saddle 1.46 ms graded 3.38 ms).
fn is_focus(j: &crate::linalg::Matrix) -> bool {
    // A symmetric J (gradient drift, constant isotropic noise) has real eigenvalues.
    if j.check_symmetric("J").is_ok() {
        return false;
    }
    j.to_faer()
        .eigenvalues()
        .map(|ev| ev.iter().any(|z| z.im.abs() > 0.1 * z.re.abs()))
        .unwrap_or(false)
}

/// Extrapolated value and error estimate from the actions Sₖ at h, h/2, h/4, …
///
/// With the last three levels, the observed ratio r = (S₋₂ − S₋₃)/(S₋₁ − S₋₂) (4 for the
/// midpoint rule's O(h²)) gives S* = S₋₁ + (S₋₁ − S₋₂)/(r − 1) and the estimate
/// |S₋₁ − S₋₂|/(r − 1) (the size of the correction, i.e. the estimated error of the finest
/// level), or |S₋₂ − S₋₃|/12 if larger (|S₋₂ − S₋₃|/3 when r > 6: an accidental small last
/// difference), times a safety factor 2; r is capped at 4 (no faster than the scheme's order
/// is trusted). When r ≤ 1.5 the
/// sequence is not yet in its asymptotic regime and the estimate is 3·max(|S₋₁ − S₋₂|,
/// |S₋₂ − S₋₃|), which keeps the refinement going. With two levels only, the h² Richardson
/// value is returned with an infinite estimate (a third level is always computed).
pub fn extrapolate(levels: &[f64]) -> (f64, f64) {
    let k = levels.len();
    let last = levels[k - 1];
    if k < 2 {
        return (last, f64::INFINITY);
    }
    let d2 = last - levels[k - 2];
    if k < 3 {
        return (last + d2 / 3.0, f64::INFINITY);
    }
    let d1 = levels[k - 2] - levels[k - 3];
    let floor = 1e-13 * last.abs();
    if d1.abs() <= floor && d2.abs() <= floor {
        return (last, d1.abs().max(d2.abs()).max(f64::EPSILON * last.abs()));
    }
    let r = d1 / d2;
    if r.is_finite() && r > 1.5 {
        // A ratio far above the scheme's 4 means the last difference is small by accident
        // (an optimisation error cancelling a discretisation error): fall back to |S₋₂ − S₋₃|.
        let erratic = r > 6.0;
        let r = r.min(4.0);
        let base = if erratic {
            d1.abs() / 3.0
        } else {
            (d2.abs() / (r - 1.0)).max(d1.abs() / 12.0)
        };
        // Safety factor 2: the estimate must cover the error, not just predict it.
        (last + d2 / (r - 1.0), 2.0 * base)
    } else {
        (last, 3.0 * d1.abs().max(d2.abs()))
    }
}

impl ModelVisitor for Runner<'_> {
    type Output = Result<Report>;
    fn visit<B: VectorField, N: Diffusion>(self, drift: &B, noise: &N) -> Result<Report> {
        let (problem, cfg, lin) = (self.problem, self.config, self.lin);
        let theta = &problem.minimum[..];
        let straight = cfg.initial == InitialGuess::Straight;
        let (endpoint, starts) = match &cfg.target {
            Target::Point(x) => (
                Endpoint::Fixed(x.clone()),
                starts::target_starts(lin, theta, x, cfg.points, straight, 2 * cfg.bent_starts),
            ),
            Target::Boundary => {
                let chart = BoundaryChart::for_domain(&problem.domain, theta);
                let starts = starts::boundary_starts(
                    problem,
                    lin,
                    &chart,
                    cfg.eigen_starts,
                    cfg.random_starts,
                    cfg.bent_starts,
                    cfg.seed,
                    straight,
                    cfg.points,
                )?;
                (Endpoint::Boundary(chart), starts)
            }
        };
        let ctx = Context {
            drift,
            noise,
            start: theta,
            endpoint: &endpoint,
            functional: Functional::Geometric,
            graded: is_focus(&problem.jacobian_at_minimum()),
        };
        let coarse_cfg = Config {
            action_tol: cfg.action_tol.max(COARSE_ACTION_TOL),
            ..cfg.clone()
        };
        // Coarse minimisation of every start, in parallel (order kept: deterministic).
        let coarse: Vec<Result<Outcome>> = starts
            .par_iter()
            .map(|s| ctx.minimise(s.path.clone(), &coarse_cfg))
            .collect();
        let mut done: Vec<(String, Outcome)> = Vec::new();
        let mut first_err = None;
        let mut singular = None;
        for (s, r) in starts.iter().zip(coarse) {
            match r {
                Ok(o) if o.action.is_finite() => done.push((s.label.clone(), o)),
                Ok(o) => {
                    // A non-finite action is a singular drift on the path more often than not.
                    let nodes: Vec<Vec<f64>> =
                        (0..o.path.len()).map(|i| o.path.node(i).to_vec()).collect();
                    if let Err(e) = problem.validate_drift_along(&nodes, "on a gMAM path") {
                        singular.get_or_insert(e);
                    }
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        if let Some(e) = singular {
            return Err(e);
        }
        if done.is_empty() {
            return Err(first_err.unwrap_or_else(|| {
                Error::numerical("minimum action", "no start produced a finite action")
            }));
        }
        // Merge duplicates: least action first, one channel per exit point.
        done.sort_by(|a, b| a.1.action.total_cmp(&b.1.action));
        let mut groups: Vec<(Outcome, Vec<(String, f64)>)> = Vec::new();
        for (label, o) in done {
            let x = o.path.end();
            let r = 1.0
                + x.iter()
                    .zip(theta)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
                    .sqrt();
            let same = groups.iter_mut().find(|(g, _)| {
                let y = g.path.end();
                x.iter()
                    .zip(y)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
                    .sqrt()
                    <= cfg.merge_tol * r
            });
            match same {
                Some((_, labels)) => labels.push((label, o.action)),
                None => {
                    let a = o.action;
                    groups.push((o, vec![(label, a)]));
                }
            }
        }
        let exits: Vec<continuum::CoarseExit> = groups
            .into_iter()
            .map(|(outcome, starts)| continuum::CoarseExit { outcome, starts })
            .collect();
        let groups = match &endpoint {
            Endpoint::Boundary(chart) if exits.len() > 1 => {
                ctx.group_continua(exits, chart, lin, &coarse_cfg)?
            }
            _ => exits
                .into_iter()
                .map(|representative| continuum::ExitGroup {
                    representative,
                    continuum: Vec::new(),
                })
                .collect(),
        };
        let refined: Vec<Result<Refined>> = groups
            .par_iter()
            .map(|g| ctx.refine(g.representative.outcome.clone(), cfg))
            .collect();
        let mut channels = Vec::new();
        for (g, r) in groups.into_iter().zip(refined) {
            channels.push(Channel {
                result: r?,
                starts: g.representative.starts,
                continuum: g.continuum,
            });
        }
        channels.sort_by(|a, b| a.result.action.total_cmp(&b.result.action));
        let best = &channels[0].result;
        let mut termination = channels
            .iter()
            .map(|c| c.result.termination)
            .fold(Termination::Converged, worst);

        // Fixed-time MAM from the best geometric path.
        let fixed_time: Vec<Result<FixedTime>> = cfg
            .times
            .par_iter()
            .map(|&t| {
                let ctx_t = Context {
                    functional: Functional::Time(t),
                    ..Context {
                        drift,
                        noise,
                        start: theta,
                        endpoint: &endpoint,
                        functional: Functional::Geometric,
                        graded: false,
                    }
                };
                let geo = &best.path;
                let init = geo.resampled(&geo.euclidean_lengths(), cfg.points);
                let coarse = ctx_t.minimise(init, cfg)?;
                let result = ctx_t.refine(coarse, cfg)?;
                let n = result.path.len();
                let times = (0..n).map(|i| t * i as f64 / (n - 1) as f64).collect();
                Ok(FixedTime {
                    time: t,
                    result,
                    times,
                })
            })
            .collect();
        let fixed_time: Vec<FixedTime> = fixed_time.into_iter().collect::<Result<_>>()?;
        for f in &fixed_time {
            termination = worst(termination, f.result.termination);
        }
        let boundary = cfg.target == Target::Boundary;
        Ok(Report {
            method: "gmam".into(),
            problem: problem.name.clone(),
            weight: problem.noise_description.weight.name().into(),
            dim: problem.dim(),
            target: match &cfg.target {
                Target::Point(x) => Some(x.clone()),
                Target::Boundary => None,
            },
            action: best.action,
            v0: boundary.then_some(best.action),
            error_estimate: best.error_estimate,
            exit_point: best.exit_point.clone(),
            converged: termination == Termination::Converged,
            termination,
            channels,
            fixed_time,
            seconds: 0.0,
        })
    }
}
