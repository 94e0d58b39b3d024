//! `quasipot path`: the optimal escape path by the minimum action method — to ∂D (free endpoint,
//! every exit channel) or to a point, and the finite-time action min S_T for given T.

use super::output::{fmt_point, table, Output};
use super::{load_problem, ComputedNo, Global};
use anyhow::Result;
use quasipot::mam::{self, Config, Report, Target, Termination};
use serde_json::json;

/// Arguments of `quasipot path`.
#[derive(Debug, clap::Args)]
pub struct PathArgs {
    /// Built-in problem name or TOML file.
    pub problem: String,
    /// End the path at this point (V at a point) instead of on ∂D.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "X,Y,..",
        allow_hyphen_values = true
    )]
    pub to: Option<Vec<f64>>,
    /// Nodes of the first (coarsest) path; refinement doubles it until --tol is met.
    #[arg(long, default_value_t = 17)]
    pub points: usize,
    /// Relative accuracy target of the Richardson error estimate.
    #[arg(long, default_value_t = 1e-5)]
    pub tol: f64,
    /// Fixed-time MAM: min S_T over paths of duration T, for each T (the non-stationary regime).
    #[arg(long, value_delimiter = ',', value_name = "T1,T2,..")]
    pub time: Vec<f64>,
    /// Free endpoint: Σ-eigenvector starts (both signs) kept after ranking; random starts are
    /// half as many.
    #[arg(long, default_value_t = 4)]
    pub starts: usize,
    /// Exit with code 1 if the solver did not converge to --tol.
    #[arg(long)]
    pub strict: bool,
}

fn human_report(r: &Report) -> String {
    let mut h = format!(
        "problem  {} (d = {}, weight {})\n\n",
        r.problem, r.dim, r.weight
    );
    let rows = vec![
        vec![
            if r.v0.is_some() {
                "V0 (least action to ∂D)"
            } else {
                "V (action to the point)"
            }
            .to_string(),
            format!("{:.9}", r.v0.unwrap_or(r.action)),
        ],
        vec![
            "± error (Richardson)".into(),
            format!("{:.2e}", r.error_estimate),
        ],
        vec!["exit point".into(), fmt_point(&r.exit_point)],
        vec!["termination".into(), format!("{:?}", r.termination)],
        vec!["time".into(), format!("{:.3} s", r.seconds)],
    ];
    h.push_str(&table(&["minimum action (gMAM)", "value"], &rows));
    if r.channels.len() > 1 || r.v0.is_some() {
        let ch: Vec<Vec<String>> = r
            .channels
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let d = &c.result.diagnostics;
                vec![
                    format!("{}", i + 1),
                    format!("{:.9}", c.result.action),
                    format!("{:.1e}", c.result.error_estimate),
                    fmt_point(&c.result.exit_point),
                    format!("{}", c.result.points),
                    format!("{}", d.iterations),
                    format!("{:.1e}", d.gradient_norm),
                    format!("{:.1e}", d.hamiltonian_residual),
                ]
            })
            .collect();
        h.push('\n');
        h.push_str(&table(
            &[
                "channel",
                "action",
                "± error",
                "exit point",
                "nodes",
                "L-BFGS iters",
                "|∇S|",
                "H residual",
            ],
            &ch,
        ));
        for (i, c) in r.channels.iter().enumerate() {
            if !c.continuum.is_empty() {
                h.push_str(&format!(
                    "continuum  channel {} lies on a continuum of equal action through {} coarse exit points (V rises by less than {} of V between them: ∂D is close to a level set of V there); its exit point is one of many, and only it was refined\n",
                    i + 1,
                    c.continuum.len() + 1,
                    quasipot::mam::FLAT_RELATIVE
                ));
            }
        }
    }
    if !r.fixed_time.is_empty() {
        let ft: Vec<Vec<String>> = r
            .fixed_time
            .iter()
            .map(|f| {
                vec![
                    format!("{}", f.time),
                    format!("{:.9}", f.result.action),
                    format!("{:.1e}", f.result.error_estimate),
                    format!("{:?}", f.result.termination),
                ]
            })
            .collect();
        h.push('\n');
        h.push_str(&table(&["T", "min S_T", "± error", "termination"], &ft));
        for f in r
            .fixed_time
            .iter()
            .filter(|f| f.result.termination != Termination::Converged)
        {
            h.push_str(&format!(
                "not converged  min S_T at T = {} ({:?}): the value and its error estimate are not reliable; a larger T needs a finer time grid, and T → ∞ is the geometric action above\n",
                f.time, f.result.termination
            ));
        }
    }
    if r.channels
        .iter()
        .any(|c| c.result.termination != Termination::Converged)
    {
        h.push_str(&format!(
            "not converged  the geometric action ({:?}); --strict makes this exit code 1\n",
            r.channels
                .iter()
                .map(|c| c.result.termination)
                .find(|t| *t != Termination::Converged)
                .unwrap_or(Termination::Converged)
        ));
    }
    h
}

/// `quasipot path`.
pub fn run(args: &PathArgs, g: &Global, out: &Output) -> Result<i32> {
    let problem = load_problem(&args.problem, g)?;
    let mut c = Config {
        points: args.points,
        tol: args.tol,
        times: args.time.clone(),
        eigen_starts: args.starts,
        random_starts: args.starts / 2,
        seed: g.seed,
        ..Config::default()
    };
    if let Some(x) = &args.to {
        c.target = Target::Point(x.clone());
    }
    let r = mam::run(&problem, &c)?;
    let mut files = Vec::new();
    if let Some(dir) = out.dir()? {
        files = mam::write_files(&r, &problem, dir)?;
    }
    let mut js = serde_json::to_value(&r)?;
    js["files"] = json!(files);
    out.finish(&human_report(&r), &js)?;
    if args.strict && !r.converged {
        return Err(ComputedNo(format!(
            "the minimum action method did not converge to --tol {} ({:?})",
            args.tol, r.termination
        ))
        .into());
    }
    Ok(0)
}
