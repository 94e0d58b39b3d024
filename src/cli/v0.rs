//! `quasipot v0`: the barrier V0 by one method or all, and the `--hessian` shortcut.

use super::output::{fmt_point, table, Output, Phases};
use super::{build_options, load_problem, Global};
use anyhow::{anyhow, Result};
use clap::ValueEnum;
use quasipot::estimate::{paper_quantities, run_engines, run_exact, Effort, Method, MethodResult};
use quasipot::exact::{self, PaperQuantities};
use quasipot::problem::spec::MatrixSource;
use quasipot::problem::{BuildOptions, Problem, ProblemSpec, Weight};
use serde_json::{json, Value};
use std::path::PathBuf;

/// Arguments of `quasipot v0`.
#[derive(Debug, clap::Args)]
pub struct V0Args {
    /// Built-in problem name or TOML file (omit with --hessian).
    pub problem: Option<String>,
    /// Which engine: auto (exact when the problem is linear-Gaussian, otherwise gMAM), or one.
    #[arg(long, value_enum, default_value_t = MethodArg::Auto)]
    pub method: MethodArg,
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

/// `--method` of `v0` (the library's [`Method`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
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

impl From<MethodArg> for Method {
    fn from(m: MethodArg) -> Self {
        match m {
            MethodArg::Auto => Method::Auto,
            MethodArg::Exact => Method::Exact,
            MethodArg::Gmam => Method::Gmam,
            MethodArg::Olim => Method::Olim,
            MethodArg::All => Method::All,
        }
    }
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
    quasipot::estimate::describe(p)
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
        anyhow!(quasipot::Error::invalid(
            "PROBLEM",
            "missing: give a built-in name (see `quasipot problems`), a TOML file, or --hessian FILE --depth ΔL"
        ))
    })?;
    let problem = load_problem(name, g)?;
    let o = run_engines(&problem, args.method.into(), Effort::Full, false, 1)?;
    let (results, skipped) = (o.results, o.skipped);
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
) -> quasipot::Result<Problem> {
    let (h, c) = (
        hessian.display().to_string(),
        noise.map(|c| c.display().to_string()),
    );
    let spec = ProblemSpec::quadratic_minimum(
        &h,
        MatrixSource::File(&h),
        c.as_deref().map(MatrixSource::File),
        depth,
    );
    spec.build(
        std::path::Path::new("."),
        &BuildOptions {
            weight: Some(weight),
            ..Default::default()
        },
    )
}

/// d×d matrices alive at once in the `--hessian` shortcut, for its memory estimate: the peak
/// resident set at d = 1500 was 358 MB, 20 copies of 8d² bytes; 24 leaves a margin, and 2 more
/// are the eigensolve memo's copy of H and its eigenvectors (`quasipot::linalg::memo`).
const SHORTCUT_COPIES: u64 = 26;

fn run_hessian_shortcut(
    args: &V0Args,
    h: &std::path::Path,
    g: &Global,
    out: &Output,
) -> Result<i32> {
    let depth = args.depth.ok_or_else(|| {
        anyhow!(quasipot::Error::invalid(
            "--depth",
            "missing: --hessian needs the depth ΔL of the level set {L < ΔL}"
        ))
    })?;
    let _ = build_options(g)?;
    let shape = quasipot::problem::matrix_io::npy_shape(h);
    if let Some((r, c)) = shape {
        quasipot::problem::matrix_io::check_matrix_memory(
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
        quasipot::problem::matrix_io::write_vector_npy(&p, &r.exit_point)?;
        files.push(p);
    }
    if problem.is_linear_gaussian() {
        let (a, diff) = exact::linear_model(problem)?;
        let sol = exact::solve_lyapunov(&a, &diff)?;
        let p = dir.join("sigma.npy");
        quasipot::problem::matrix_io::write_matrix_npy(
            &p,
            &quasipot::linalg::Matrix::from_faer(sol.sigma.as_ref()),
        )?;
        files.push(p);
    }
    Ok(files)
}
