//! `quasipot v0`: the barrier V0 by one method or all, and the `--hessian` shortcut.

use super::output::{fmt_point, table, Output, Phases};
use super::{build_options, load_problem, Global};
use crate::exact::{self, PaperQuantities};
use crate::problem::spec::{DomainSpec, DriftSpec, NoiseSpec};
use crate::problem::{BuildOptions, Domain, Problem, ProblemSpec, Weight};
use anyhow::{anyhow, Result};
use clap::ValueEnum;
use serde::Serialize;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `quasipot v0`.
#[derive(Debug, clap::Args)]
pub struct V0Args {
    /// Built-in problem name or TOML file (omit with --hessian).
    pub problem: Option<String>,
    /// Which engine: auto (exact when the problem is linear-Gaussian, otherwise gMAM), or one.
    #[arg(long, value_enum, default_value_t = Method::Auto)]
    pub method: Method,
    /// Shortcut: the Hessian H* of a quadratic minimum (.npy, .json or .csv); L = ½θᵀH*θ.
    #[arg(long, value_name = "FILE", conflicts_with = "problem")]
    pub hessian: Option<PathBuf>,
    /// With --hessian: the noise covariance C (default C = H*, the paper's Assumption 2).
    #[arg(long, value_name = "FILE", requires = "hessian")]
    pub noise: Option<PathBuf>,
    /// With --hessian: the depth ΔL of the level-set domain {L < ΔL}.
    #[arg(long, value_name = "ΔL", requires = "hessian")]
    pub depth: Option<f64>,
}

/// Engines for `v0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Method {
    /// Exact if the problem is linear-Gaussian, otherwise gMAM.
    Auto,
    /// Closed form (linear drift, constant noise): Lyapunov equation.
    Exact,
    /// Geometric minimum action method with free endpoint on ∂D.
    Gmam,
    /// Ordered line integral method on a 2-D grid.
    Olim,
    /// Every engine that applies.
    All,
}

/// One engine's answer, as every engine reports it.
#[derive(Clone, Debug, Serialize)]
pub struct MethodResult {
    /// exact | gmam | olim | monte-carlo.
    pub method: String,
    /// V0.
    pub v0: f64,
    /// Error estimate or CI half-width (0 for exact).
    pub error_estimate: f64,
    /// Where the least action path meets ∂D.
    pub exit_point: Vec<f64>,
    /// Wall time in seconds.
    pub wall_time_s: f64,
    /// How it was computed.
    pub detail: String,
}

/// The exact engine as a [`MethodResult`].
pub fn run_exact(problem: &Problem) -> crate::Result<MethodResult> {
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
pub fn run_gmam(
    problem: &Problem,
    effort: Effort,
) -> crate::Result<(MethodResult, crate::mam::Report)> {
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
            detail: format!(
                "geometric MAM, {} exit channel(s), termination {:?}",
                r.channels.len(),
                r.termination
            ),
        },
        r,
    ))
}

/// The grid engine as a [`MethodResult`] (d = 2 only).
pub fn run_olim(
    problem: &Problem,
    effort: Effort,
) -> crate::Result<(MethodResult, crate::olim::Report)> {
    let n = if effort == Effort::Quick { 257 } else { 513 };
    let c = crate::olim::Config::new(n)?;
    let r = crate::olim::run(problem, &c)?;
    let v0 = r.v0.ok_or_else(|| {
        crate::Error::Unsupported(format!(
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
            detail: format!("OLIM-midpoint, {n}×{n} grid, K = {}", r.k),
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
) -> crate::Result<(MethodResult, crate::sde::Report)> {
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
    c.prefactor_exponent = super::exit::default_prefactor_exponent(problem);
    c.predicted_v0 = Some(v0_guess);
    let r = sde::run(problem, &c)?;
    let fit = r.arrhenius.clone().ok_or_else(|| {
        crate::Error::numerical(
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
    /// The grid solve.
    pub olim: Option<crate::olim::Report>,
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
            Err(anyhow!(e))
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
        if problem.dim() != 2 {
            fail(
                &mut o,
                "olim",
                crate::Error::Unsupported(format!(
                    "olim: the grid engine is 2-D (3-D is planned); this problem has d = {}",
                    problem.dim()
                )),
            )?;
        } else {
            match run_olim(problem, effort) {
                Ok((r, rep)) => {
                    o.results.push(r);
                    o.olim = Some(rep);
                }
                Err(e) => fail(&mut o, "olim", e)?,
            }
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

/// The table of engine results shared by `v0` and `validate`.
pub fn results_table(results: &[MethodResult]) -> String {
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| {
            vec![
                r.method.clone(),
                format!("{:.9}", r.v0),
                fmt_error(r.error_estimate),
                fmt_point(&r.exit_point),
                format!("{:.3}", r.wall_time_s),
            ]
        })
        .collect();
    table(
        &["method", "V0", "± error", "exit point", "time (s)"],
        &rows,
    )
}

/// An error estimate for tables ("exact" when zero).
pub fn fmt_error(e: f64) -> String {
    if e == 0.0 {
        "exact".into()
    } else {
        format!("{e:.1e}")
    }
}

/// Header lines describing a problem.
pub fn describe_problem(p: &Problem) -> String {
    let mut s = format!(
        "problem  {} (d = {}, drift {}, noise {}, weight {}, domain {})\n",
        p.name,
        p.dim(),
        p.drift.kind(),
        p.noise_description.source,
        p.noise_description.weight.name(),
        p.domain.kind()
    );
    if let Some(f) = p.noise_description.floor {
        s.push_str(&format!(
            "note     Hessian eigenvalues clipped below at {f:.3e}\n"
        ));
    }
    for n in &p.notes {
        s.push_str(&format!("note     {n}\n"));
    }
    s
}

/// JSON description of a problem.
pub fn problem_json(p: &Problem) -> Value {
    json!({
        "name": p.name,
        "dimension": p.dim(),
        "minimum": p.minimum,
        "drift": p.drift.kind(),
        "noise": p.noise_description,
        "weight": p.noise_description.weight.name(),
        "domain": p.domain.kind(),
        "parameters": p.parameters,
        "notes": p.notes,
    })
}

fn paper_rows(q: &PaperQuantities) -> String {
    let rows = vec![
        vec![
            "λ_max(H*) (sharpness)".into(),
            format!("{:.6e}", q.lambda_max),
        ],
        vec!["λ_min(H*)".into(), format!("{:.6e}", q.lambda_min)],
        vec!["κ".into(), format!("{:.6}", q.kappa)],
        vec![
            "Theorem 2 term 2ΔLλ_max^-1/2".into(),
            format!("{:.9}", q.theorem2_term),
        ],
        vec!["V̂0 = 2ΔL (Lemma 3)".into(), format!("{:.9}", q.proximal_v0)],
        vec![
            "Lemma 4 factor λ_min^½(κ^½−1)".into(),
            format!("{:.6e}", q.lemma4_bound_factor),
        ],
    ];
    table(&["paper quantity", "value"], &rows)
}

/// `quasipot v0`.
pub fn run(args: &V0Args, g: &Global, out: &Output) -> Result<i32> {
    if let Some(h) = &args.hessian {
        return run_hessian_shortcut(args, h, g, out);
    }
    let name = args.problem.as_deref().ok_or_else(|| {
        anyhow!(crate::Error::invalid(
            "PROBLEM",
            "missing: give a built-in name (see `quasipot problems`), a TOML file, or --hessian FILE --depth ΔL"
        ))
    })?;
    let problem = load_problem(name, g)?;
    let (results, skipped) = run_methods(&problem, args.method)?;
    let mut human = describe_problem(&problem);
    human.push('\n');
    human.push_str(&results_table(&results));
    for s in &skipped {
        human.push_str(&format!("skipped  {s}\n"));
    }
    let paper = paper_quantities(&problem);
    if let Some(q) = &paper {
        human.push('\n');
        human.push_str(&paper_rows(q));
    }
    if let Some(v) = problem.reference.v0 {
        human.push_str(&format!(
            "\nreference V0 = {v} ({})\n",
            problem.reference.source.clone().unwrap_or_default()
        ));
    }
    let files = write_arrays(&problem, &results, out)?;
    let js = json!({
        "problem": problem_json(&problem),
        "weight": problem.noise_description.weight.name(),
        "files": files,
        "results": results,
        "skipped": skipped,
        "paper": paper,
        "reference_v0": problem.reference.v0,
    });
    out.finish(&human, &js)?;
    Ok(0)
}

/// Build the quadratic problem of the `--hessian` shortcut under one weight.
pub fn hessian_problem(
    hessian: &std::path::Path,
    noise: Option<&std::path::Path>,
    depth: f64,
    weight: Weight,
) -> crate::Result<Problem> {
    let spec = ProblemSpec {
        name: Some(hessian.display().to_string()),
        description: None,
        variables: None,
        minimum: None,
        parameters: Default::default(),
        drift: DriftSpec {
            hessian_file: Some(hessian.display().to_string()),
            ..Default::default()
        },
        noise: Some(match noise {
            None => NoiseSpec {
                source: Some("hessian-at-minimum".into()),
                ..Default::default()
            },
            Some(c) => NoiseSpec {
                source: Some("matrix".into()),
                matrix_file: Some(c.display().to_string()),
                ..Default::default()
            },
        }),
        domain: DomainSpec {
            kind: "level-set".into(),
            depth: Some(depth),
            ..Default::default()
        },
        reference: None,
    };
    spec.build(
        std::path::Path::new("."),
        &BuildOptions {
            weight: Some(weight),
            ..Default::default()
        },
    )
}

/// d×d matrices alive at once in the `--hessian` shortcut, for its memory estimate: the peak
/// resident set at d = 1500 was 358 MB, 20 copies of 8d² bytes; 24 leaves a margin.
const SHORTCUT_COPIES: u64 = 24;

fn run_hessian_shortcut(
    args: &V0Args,
    h: &std::path::Path,
    g: &Global,
    out: &Output,
) -> Result<i32> {
    let depth = args.depth.ok_or_else(|| {
        anyhow!(crate::Error::invalid(
            "--depth",
            "missing: --hessian needs the depth ΔL of the level set {L < ΔL}"
        ))
    })?;
    let _ = build_options(g)?;
    let shape = crate::problem::matrix_io::npy_shape(h);
    if let Some((r, c)) = shape {
        crate::problem::matrix_io::check_matrix_memory(
            "--hessian",
            &h.display().to_string(),
            r,
            c,
            SHORTCUT_COPIES,
            "the exact solve (H, a, a^½, eigenvectors and solver workspaces)",
        )?;
    }
    let dim = shape.map(|(r, _)| format!(", d = {r}")).unwrap_or_default();
    // Each phase is a few dense d×d eigensolves: minutes at d in the thousands.
    let mut phases = Phases::new(out, 5);
    let mut rows = Vec::new();
    let mut per_weight = serde_json::Map::new();
    let mut paper = None;
    for w in [Weight::InverseSqrt, Weight::Inverse] {
        phases.next(&format!(
            "weight {}: reading {} and building the problem (noise a, its square root, checks{dim})",
            w.name(),
            h.display()
        ));
        let p = hessian_problem(h, args.noise.as_deref(), depth, w)?;
        phases.next(&format!(
            "weight {}: exact V0 (Lyapunov solve and eigenproblem in H's eigenbasis{dim})",
            w.name()
        ));
        let r = run_exact(&p)?;
        if paper.is_none() {
            phases.next(&format!("the paper's quantities (eigenvalues of H{dim})"));
            paper = paper_quantities(&p);
        }
        rows.push(vec![
            w.name().to_string(),
            format!("{:.9}", r.v0),
            fmt_point(&r.exit_point),
            format!("{:.3}", r.wall_time_s),
        ]);
        per_weight.insert(w.name().into(), serde_json::to_value(&r)?);
    }
    phases.finish();
    let q = paper.expect("level set of a quadratic");
    let mut human = format!(
        "quadratic minimum from {} (d = {}), noise {}, level set ΔL = {depth}\n\n",
        h.display(),
        hessian_dim(&per_weight),
        args.noise
            .as_ref()
            .map(|c| format!("C from {}", c.display()))
            .unwrap_or_else(|| "C = H*".into()),
    );
    human.push_str(&table(
        &["weight", "V0 (exact)", "exit point", "time (s)"],
        &rows,
    ));
    human.push('\n');
    human.push_str(&paper_rows(&q));
    let js = json!({
        "hessian": h.display().to_string(),
        "noise": args.noise.as_ref().map(|c| c.display().to_string()).unwrap_or_else(|| "hessian-at-minimum".into()),
        "depth": depth,
        "v0": per_weight,
        "paper": q,
    });
    out.finish(&human, &js)?;
    Ok(0)
}

fn hessian_dim(per_weight: &serde_json::Map<String, Value>) -> usize {
    per_weight
        .values()
        .next()
        .and_then(|v| v.get("exit_point"))
        .and_then(|p| p.as_array())
        .map(|a| a.len())
        .unwrap_or(0)
}

/// Write `exit_point_<method>.npy` for each result and, for linear-Gaussian problems, `sigma.npy`
/// (Σ with V = ½(θ−θ*)ᵀΣ⁻¹(θ−θ*)) into `--out`.
pub fn write_arrays(
    problem: &Problem,
    results: &[MethodResult],
    out: &Output,
) -> Result<Vec<PathBuf>> {
    let Some(dir) = out.dir()? else {
        return Ok(Vec::new());
    };
    let mut files = Vec::new();
    for r in results {
        let p = dir.join(format!("exit_point_{}.npy", r.method));
        crate::problem::matrix_io::write_vector_npy(&p, &r.exit_point)?;
        files.push(p);
    }
    if problem.is_linear_gaussian() {
        let (a, diff) = exact::linear_model(problem)?;
        let sol = exact::solve_lyapunov(&a, &diff)?;
        let p = dir.join("sigma.npy");
        crate::problem::matrix_io::write_matrix_npy(
            &p,
            &crate::linalg::Matrix::from_faer(sol.sigma.as_ref()),
        )?;
        files.push(p);
    }
    Ok(files)
}
