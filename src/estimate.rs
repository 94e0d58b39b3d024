//! Engine orchestration shared by every front-end (the CLI's `v0` and `validate`, the Python
//! package): which engines apply to a problem, their answers in one common form
//! ([`MethodResult`]), and whether two answers agree.

use crate::error::{Error, Result};
use crate::exact::{self, PaperQuantities};
use crate::problem::{Domain, Problem};
use serde::Serialize;
use std::time::Instant;

/// Which engines to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Exact if the problem is linear-Gaussian, otherwise gMAM.
    Auto,
    /// Closed form (linear drift, constant noise): Lyapunov equation.
    Exact,
    /// Geometric minimum action method with free endpoint on ∂D.
    Gmam,
    /// Ordered line integral method on a grid: 2-D ([`crate::olim`]) or 3-D
    /// ([`crate::olim3d`]) by the problem's dimension.
    Olim,
    /// Every engine that applies.
    All,
}

/// One engine's answer, as every engine reports it.
#[derive(Clone, Debug, Serialize)]
pub struct MethodResult {
    /// exact | gmam | olim | olim3d | monte-carlo.
    pub method: String,
    /// V0.
    pub v0: f64,
    /// Error estimate or CI half-width (0 for exact).
    pub error_estimate: f64,
    /// Where the least action path meets ∂D.
    pub exit_point: Vec<f64>,
    /// Wall time in seconds.
    pub wall_time_s: f64,
    /// The action's weight the value belongs to (`inverse-sqrt` or `inverse`, DESIGN §1).
    pub weight: String,
    /// How the engine stopped (`Converged`, `MaxPoints`, … ; `closed form` for exact).
    pub termination: String,
    /// How it was computed.
    pub detail: String,
}

impl std::str::FromStr for Method {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "auto" => Method::Auto,
            "exact" => Method::Exact,
            "gmam" => Method::Gmam,
            "olim" => Method::Olim,
            "all" => Method::All,
            _ => {
                return Err(Error::invalid(
                    "method",
                    format!("unknown method \"{s}\"; one of auto, exact, gmam, olim, all"),
                ))
            }
        })
    }
}

/// The exit-time prefactor power κ the Arrhenius fit divides out by default: E[τ] ∝ ε^κ e^{V0/ε²}
/// with κ = 0 over a half-space (a characteristic boundary through a saddle, Eyring–Kramers)
/// and κ = 1 for a non-characteristic boundary (rates.md §1).
pub fn default_prefactor_exponent(problem: &Problem) -> f64 {
    match problem.domain {
        Domain::HalfSpace { .. } => 0.0,
        _ => 1.0,
    }
}

/// The exact engine as a [`MethodResult`].
pub fn run_exact(problem: &Problem) -> Result<MethodResult> {
    let t = Instant::now();
    let r = if problem.dim() == 1 && !problem.is_linear_gaussian() {
        exact::quasi_potential_barrier_1d(problem)?
    } else {
        exact::quasi_potential_barrier(problem)?
    };
    Ok(MethodResult {
        method: "exact".into(),
        v0: r.v0,
        error_estimate: 0.0,
        exit_point: r.exit_point,
        wall_time_s: t.elapsed().as_secs_f64(),
        weight: problem.noise_description.weight.name().into(),
        termination: "closed form".into(),
        detail: r.method,
    })
}

/// The paper's quantities when the problem is a gradient problem on a level set.
pub fn paper_quantities(problem: &Problem) -> Option<PaperQuantities> {
    let h = problem.hessian_at_minimum()?;
    match &problem.domain {
        Domain::LevelSet { depth, .. } => PaperQuantities::new(&h, *depth).ok(),
        _ => None,
    }
}

/// How much effort the engines spend (validate's `--quick` keeps each to seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effort {
    /// Defaults of each engine.
    Full,
    /// Coarser grids, fewer trajectories.
    Quick,
}

/// The geometric minimum action method with free endpoint on ∂D as a [`MethodResult`].
pub fn run_gmam(problem: &Problem, effort: Effort) -> Result<(MethodResult, crate::mam::Report)> {
    let mut c = crate::mam::Config::default();
    if effort == Effort::Quick {
        // Fewer starts and nodes; the bent start stays: it is what finds the curved Maier–Stein
        // path for β > 4, where the straight path is a critical point.
        c.tol = 3e-4;
        c.eigen_starts = 2;
        c.random_starts = 0;
        c.max_points = 129;
        if matches!(problem.drift, crate::problem::Drift::Linear(_)) {
            // Linear drift: the linearised-flow start is already the optimal path's shape.
            c.bent_starts = 0;
        }
    }
    let r = crate::mam::run(problem, &c)?;
    let (v0, exit_point) = (r.v0.unwrap_or(r.action), r.exit_point.clone());
    Ok((
        MethodResult {
            method: "gmam".into(),
            v0,
            error_estimate: r.error_estimate,
            exit_point,
            wall_time_s: r.seconds,
            weight: problem.noise_description.weight.name().into(),
            termination: format!("{:?}", r.termination),
            detail: format!(
                "geometric MAM, {} exit channel(s){}, termination {:?}",
                r.channels.len(),
                match r.channels.iter().map(|c| c.continuum.len()).sum::<usize>() {
                    0 => String::new(),
                    k => format!(" ({k} more coarse exit point(s) on a continuum of equal action)"),
                },
                r.termination
            ),
        },
        r,
    ))
}

/// The grid engine as a [`MethodResult`] (d = 2 only).
pub fn run_olim(problem: &Problem, effort: Effort) -> Result<(MethodResult, crate::olim::Report)> {
    let n = if effort == Effort::Quick { 257 } else { 513 };
    let c = crate::olim::Config::new(n)?;
    let r = crate::olim::run(problem, &c)?;
    let v0 = r.v0.ok_or_else(|| {
        Error::Unsupported(format!(
            "olim: the grid did not reach all of ∂D (termination {:?}); widen it with `quasipot field --box`",
            r.termination
        ))
    })?;
    Ok((
        MethodResult {
            method: "olim".into(),
            v0,
            error_estimate: r.v0_error_estimate.unwrap_or(0.0),
            exit_point: r.exit_point.clone().unwrap_or_default(),
            wall_time_s: r.seconds,
            weight: problem.noise_description.weight.name().into(),
            termination: format!("{:?}", r.termination),
            detail: format!("OLIM-midpoint, {n}×{n} grid, K = {}", r.k),
        },
        r,
    ))
}

/// The 3-D grid engine as a [`MethodResult`] (d = 3 only): OLIM-midpoint on N³ points over
/// [`crate::olim3d::default_box`], N = 65 (quick: 33), with the error estimate
/// 2·|V₀(N) − V₀((N + 1)/2)| of [`crate::olim3d::Report::v0_error_estimate`]. On
/// `manufactured-anisotropic-3d` (V₀ = 0.5): V₀ = 0.4980 ± 1.1e-2 in 4.9 s at N = 65, 0.4940 ±
/// 3.7e-2 in 0.54 s at N = 33 (one shared core).
pub fn run_olim3d(
    problem: &Problem,
    effort: Effort,
) -> Result<(MethodResult, crate::olim3d::Report)> {
    let n = if effort == Effort::Quick { 33 } else { 65 };
    let c = crate::olim3d::Config::new(n)?;
    let r = crate::olim3d::run(problem, &c)?;
    let v0 = r.v0.ok_or_else(|| {
        Error::Unsupported(format!(
            "olim3d: the grid did not reach all of ∂D (termination {:?}); widen it with `quasipot field --box`",
            r.termination
        ))
    })?;
    Ok((
        MethodResult {
            method: "olim3d".into(),
            v0,
            error_estimate: r.v0_error_estimate.unwrap_or(0.0),
            exit_point: r.exit_point.clone().unwrap_or_default(),
            wall_time_s: r.seconds,
            weight: problem.noise_description.weight.name().into(),
            termination: format!("{:?}", r.termination),
            detail: format!("OLIM-midpoint 3-D, {n}×{n}×{n} grid, K = {}", r.k),
        },
        r,
    ))
}

/// Monte Carlo exit times at noise levels chosen from a V0 estimate, boundary-corrected, and V0
/// from the Arrhenius slope with its 95 % CI. The levels V0/ε² = 4 … 6 (quick: 3 … 5, 100 runs
/// each) are where the finite-ε curvature of ln E[τ] is small: on `maier-stein` the slope over
/// V0/ε² = 2 … 4 is 0.28 against 0.34, over 3 … 5 it is 0.30 and over 5 … 7 it is 0.340 ± 0.013.
pub fn run_monte_carlo(
    problem: &Problem,
    v0_guess: f64,
    effort: Effort,
    seed: u64,
) -> Result<(MethodResult, crate::sde::Report)> {
    use crate::sde;
    let t = Instant::now();
    let ratios: &[f64] = if effort == Effort::Quick {
        &[3.0, 3.5, 4.0, 4.5, 5.0]
    } else {
        &[4.0, 4.5, 5.0, 5.5, 6.0]
    };
    let mut c = sde::Config::default();
    c.set_eps(ratios.iter().map(|k| (v0_guess / k).sqrt()).collect())?;
    let stiff = sde::ensemble::stiffness(problem)?;
    // h well inside the stability bound 2/ρ(J(θ*)); the full run also caps it at 1e-3.
    c.set_dt(if effort == Effort::Quick {
        0.01 * stiff.h_max
    } else {
        (0.02 * stiff.h_max).min(1e-3)
    })?;
    c.set_runs(if effort == Effort::Quick { 100 } else { 500 })?;
    c.max_steps = if effort == Effort::Quick {
        2_000_000
    } else {
        20_000_000
    };
    c.seed = seed;
    c.detection = sde::ExitDetection::BoundaryCorrected;
    c.prefactor_exponent = default_prefactor_exponent(problem);
    c.predicted_v0 = Some(v0_guess);
    let r = sde::run(problem, &c)?;
    let fit = r.arrhenius.clone().ok_or_else(|| {
        Error::numerical(
            "Monte Carlo",
            "too few noise levels with a finite mean exit time for an Arrhenius fit",
        )
    })?;
    // The densest exit channel at the smallest ε (the mean of the exit points lies inside D
    // when exits split between channels).
    let exits: Vec<Vec<f64>> = r
        .trajectories
        .last()
        .map(|ts| {
            ts.iter()
                .filter(|t| t.status == sde::Status::Exited)
                .map(|t| t.point.clone())
                .collect()
        })
        .unwrap_or_default();
    let modal = crate::analysis::exit_diagnostics::modal_exit_point(&problem.minimum, &exits);
    let exit_point = modal.as_ref().map(|m| m.0.clone()).unwrap_or_default();
    Ok((
        MethodResult {
            method: "monte-carlo".into(),
            v0: fit.slope,
            error_estimate: 0.5 * (fit.slope_ci95[1] - fit.slope_ci95[0]),
            exit_point,
            wall_time_s: t.elapsed().as_secs_f64(),
            weight: problem.noise_description.weight.name().into(),
            termination: format!("{:?}", r.termination),
            detail: format!(
                "Arrhenius slope over ε = {:?}, {} runs each, h = {:.2e}, boundary-corrected, prefactor ε^{}; exit point: the modal exit channel at the smallest ε ({} of {} exits within direction cosine 0.9)",
                c.eps.iter().map(|e| (e * 1e4).round() / 1e4).collect::<Vec<_>>(),
                c.runs,
                c.dt,
                c.prefactor_exponent,
                modal.as_ref().map_or(0, |m| m.1),
                exits.len()
            ),
        },
        r,
    ))
}

/// Everything the engines produced, for reports and figures.
#[derive(Default)]
pub struct EngineOutputs {
    /// One line per engine that ran.
    pub results: Vec<MethodResult>,
    /// Engines that did not apply, with the reason.
    pub skipped: Vec<String>,
    /// The minimum action solve.
    pub gmam: Option<crate::mam::Report>,
    /// The 2-D grid solve.
    pub olim: Option<crate::olim::Report>,
    /// The 3-D grid solve.
    pub olim3d: Option<crate::olim3d::Report>,
    /// The Monte Carlo run.
    pub monte_carlo: Option<crate::sde::Report>,
}

/// Run the requested engines on a problem.
pub fn run_methods(problem: &Problem, method: Method) -> Result<(Vec<MethodResult>, Vec<String>)> {
    let o = run_engines(problem, method, Effort::Full, false, 1)?;
    Ok((o.results, o.skipped))
}

/// Run the requested engines (and Monte Carlo when `monte_carlo`), collecting their outputs.
pub fn run_engines(
    problem: &Problem,
    method: Method,
    effort: Effort,
    monte_carlo: bool,
    seed: u64,
) -> Result<EngineOutputs> {
    let mut o = EngineOutputs::default();
    let all = method == Method::All;
    let want = |m: Method| method == m || all;
    let exact_applies = problem.is_linear_gaussian() || problem.dim() == 1;
    let fail = |o: &mut EngineOutputs, name: &str, e: crate::Error| -> Result<()> {
        if all {
            let msg = e.to_string();
            // Messages already name their engine when they come from this module.
            if msg.starts_with(&format!("{name}:")) {
                o.skipped.push(msg);
            } else {
                o.skipped.push(format!("{name}: {msg}"));
            }
            Ok(())
        } else {
            Err(e)
        }
    };
    if want(Method::Exact) || (method == Method::Auto && exact_applies) {
        match run_exact(problem) {
            Ok(r) => o.results.push(r),
            Err(e) => fail(&mut o, "exact", e)?,
        }
    }
    if want(Method::Gmam) || (method == Method::Auto && !exact_applies) {
        match run_gmam(problem, effort) {
            Ok((r, rep)) => {
                o.results.push(r);
                o.gmam = Some(rep);
            }
            Err(e) => fail(&mut o, "gmam", e)?,
        }
    }
    if want(Method::Olim) {
        match problem.dim() {
            2 => match run_olim(problem, effort) {
                Ok((r, rep)) => {
                    o.results.push(r);
                    o.olim = Some(rep);
                }
                Err(e) => fail(&mut o, "olim", e)?,
            },
            3 => match run_olim3d(problem, effort) {
                Ok((r, rep)) => {
                    o.results.push(r);
                    o.olim3d = Some(rep);
                }
                Err(e) => fail(&mut o, "olim3d", e)?,
            },
            d => fail(
                &mut o,
                "olim",
                Error::Unsupported(format!(
                    "olim: the grid engines solve d = 2 and d = 3; this problem has d = {d}"
                )),
            )?,
        }
    }
    if monte_carlo {
        let guess = o
            .results
            .iter()
            .min_by(|a, b| a.error_estimate.total_cmp(&b.error_estimate))
            .map(|r| r.v0)
            .or(problem.reference.v0);
        match guess {
            Some(v) if v > 0.0 => match run_monte_carlo(problem, v, effort, seed) {
                Ok((r, rep)) => {
                    o.results.push(r);
                    o.monte_carlo = Some(rep);
                }
                Err(e) => o.skipped.push(format!("monte-carlo: {e}")),
            },
            _ => o
                .skipped
                .push("monte-carlo: no V0 estimate to choose noise levels from".into()),
        }
    }
    Ok(o)
}

/// A problem's description as every front-end reports it (CLI `--json`, Python `Problem.info`).
pub fn describe(p: &Problem) -> serde_json::Value {
    serde_json::json!({
        "name": p.name,
        "dimension": p.dim(),
        "minimum": p.minimum,
        "drift": p.drift.kind(),
        "noise": p.noise_description,
        "weight": p.noise_description.weight.name(),
        "domain": p.domain.kind(),
        "parameters": p.parameters,
        "reference_v0": p.reference.v0,
        "notes": p.notes,
    })
}

/// Whether two results agree within their combined error (and a 1e-9 relative floor).
pub fn agree(a: &MethodResult, b: &MethodResult) -> bool {
    let tol = a.error_estimate + b.error_estimate + 1e-9 * a.v0.abs().max(b.v0.abs());
    (a.v0 - b.v0).abs() <= tol
}

/// One pair of engines compared.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    /// First engine.
    pub a: String,
    /// Second engine.
    pub b: String,
    /// Whether |V0_a − V0_b| is within their combined stated errors.
    pub agree: bool,
    /// |V0_a − V0_b|.
    pub difference: f64,
}

/// Every applicable engine on one problem, and a verdict per pair.
pub struct Validation {
    /// The engines' outputs (results, skipped engines, full reports).
    pub engines: EngineOutputs,
    /// One verdict per pair of results, in result order.
    pub verdicts: Vec<Verdict>,
}

impl Validation {
    /// Whether every pair agrees.
    pub fn all_agree(&self) -> bool {
        self.verdicts.iter().all(|v| v.agree)
    }

    /// Whether a disagreement involves Monte Carlo, whose Arrhenius slope at finite noise tends
    /// to V0 only as ε → 0.
    pub fn monte_carlo_disagrees(&self) -> bool {
        self.verdicts
            .iter()
            .any(|v| !v.agree && (v.a == "monte-carlo" || v.b == "monte-carlo"))
    }
}

/// `validate` as a library call: every engine that applies (Monte Carlo when `monte_carlo`),
/// each pair compared with [`agree`].
pub fn validate(
    problem: &Problem,
    effort: Effort,
    monte_carlo: bool,
    seed: u64,
) -> Result<Validation> {
    let engines = run_engines(problem, Method::All, effort, monte_carlo, seed)?;
    let r = &engines.results;
    let mut verdicts = Vec::new();
    for i in 0..r.len() {
        for j in (i + 1)..r.len() {
            verdicts.push(Verdict {
                a: r[i].method.clone(),
                b: r[j].method.clone(),
                agree: agree(&r[i], &r[j]),
                difference: (r[i].v0 - r[j].v0).abs(),
            });
        }
    }
    Ok(Validation { engines, verdicts })
}
