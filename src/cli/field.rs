//! `quasipot field`: V on a whole 2-D or 3-D grid by the ordered line integral method
//! ([`quasipot::olim`], [`quasipot::olim3d`]), V0 on ∂D, and errors against the exact V where
//! the problem file gives one.

use super::output::{fmt_point, table, Output};
use super::{load_problem, Global};
use anyhow::{anyhow, Result};
use quasipot::olim::{self, Config, Report};
use quasipot::problem::check::fmt_number;
use quasipot::problem::Problem;
use serde_json::json;

/// Arguments of `quasipot field`.
#[derive(Debug, clap::Args)]
pub struct FieldArgs {
    /// Built-in problem name or TOML file (d = 2 or 3).
    pub problem: String,
    /// Grid points per axis N (default 513 for d = 2, 65 for d = 3).
    #[arg(long)]
    pub grid: Option<usize>,
    /// Update radius K in grid steps (default: from N and the rotation ratio Υ at θ*, 4 for a
    /// gradient flow up to 16 (linear drift, constant noise) or 10 (otherwise) at N = 1025 for
    /// Dahiya & Cameron's strongly rotating fields; the report prints K and Υ).
    #[arg(long)]
    pub k: Option<usize>,
    /// Grid box XLO,XHI,YLO,YHI (default: D's bounding box with a 10 % margin; for half-spaces a
    /// square about θ* twice the distance to ∂D).
    #[arg(
        long = "box",
        value_delimiter = ',',
        value_name = "XLO,XHI,YLO,YHI",
        allow_hyphen_values = true
    )]
    pub bounds: Option<Vec<f64>>,
    /// Skip the coarse-grid solve behind the V0 error estimate (about 25 % faster).
    #[arg(long)]
    pub no_error_estimate: bool,
    /// How triangle updates interpolate V between two front points: `quadratic` (default) or
    /// `linear` (Dahiya & Cameron's original OLIM-MID, for comparison).
    #[arg(long, value_enum, default_value_t = InterpolationArg::Quadratic)]
    pub interpolation: InterpolationArg,
    /// Thorough triangle updates: also try them around every newly accepted point whose
    /// one-point update nearly improves a value (the hierarchical strategy skips these). On
    /// strongly rotating linear fields the error falls up to 70× (field `l`, N = 1025: ErrMax
    /// 1.2e-4 → 1.7e-6) for about 2.8× the time; no gain on nonlinear fields.
    #[arg(long)]
    pub thorough: bool,
}

/// `--interpolation` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InterpolationArg {
    /// Quadratic along the segment (second difference from the collinear Accepted point).
    Quadratic,
    /// Linear along the segment (OLIM-MID as published).
    Linear,
}

/// The grid configuration from the flags.
pub fn config(args: &FieldArgs) -> Result<Config> {
    let mut c = Config::new(args.grid.unwrap_or(513))?;
    if let Some(k) = args.k {
        c = c.with_k(k)?;
    }
    if let Some(b) = &args.bounds {
        if b.len() != 4 {
            return Err(anyhow!(quasipot::Error::invalid(
                "--box",
                format!("expected XLO,XHI,YLO,YHI (4 numbers), got {}", b.len())
            )));
        }
        c = c.with_box([b[0], b[2]], [b[1], b[3]])?;
    }
    c.estimate_error = !args.no_error_estimate;
    c.thorough = args.thorough;
    c.interpolation = match args.interpolation {
        InterpolationArg::Quadratic => olim::Interpolation::Quadratic,
        InterpolationArg::Linear => olim::Interpolation::Linear,
    };
    Ok(c)
}

/// Human summary of a grid solve.
pub fn human_report(r: &Report) -> String {
    let mut rows = vec![
        vec![
            "grid".into(),
            format!(
                "{0}×{0} on [{1}, {2}]×[{3}, {4}], K = {5}{6}",
                r.grid.n,
                fmt_number(r.grid.lo[0]),
                fmt_number(r.grid.hi[0]),
                fmt_number(r.grid.lo[1]),
                fmt_number(r.grid.hi[1]),
                r.k,
                r.rotation_ratio
                    .map(|u| format!(" (rotation ratio Υ = {u:.2})"))
                    .unwrap_or_default()
                    + if r.thorough { ", thorough" } else { "" }
            ),
        ],
        vec!["termination".into(), format!("{:?}", r.termination)],
        vec![
            "V0".into(),
            r.v0.map(|v| format!("{v:.9}"))
                .unwrap_or_else(|| "— (∂D not fully reached)".into()),
        ],
        vec![
            "± error (N vs N/2)".into(),
            r.v0_error_estimate
                .map(|v| format!("{v:.2e}"))
                .unwrap_or_else(|| "—".into()),
        ],
        vec![
            "exit point".into(),
            r.exit_point
                .as_deref()
                .map(fmt_point)
                .unwrap_or_else(|| "—".into()),
        ],
    ];
    if let Some(v) = r.v0_reference {
        rows.push(vec!["reference V0".into(), format!("{v}")]);
    }
    if let Some(e) = &r.errors {
        rows.push(vec![
            "ErrMax / ERMS".into(),
            format!(
                "{:.3e} / {:.3e} over {} accepted points",
                e.error_max, e.error_rms, e.points
            ),
        ]);
        rows.push(vec![
            "normalised by max V".into(),
            format!(
                "{:.3e} / {:.3e}",
                e.error_max_normalised, e.error_rms_normalised
            ),
        ]);
    }
    rows.push(vec![
        "time".into(),
        format!("{:.3} s ({:.1} bytes/point)", r.seconds, r.bytes_per_point),
    ]);
    let mut h = format!("problem  {} (weight {})\n\n", r.problem, r.weight);
    h.push_str(&table(&["grid solve (OLIM)", "value"], &rows));
    for n in &r.notes {
        h.push_str(&format!("note     {n}\n"));
    }
    h
}

/// Solve, and write files (with `path` overlaid on the figure when given).
pub fn solve_and_write(
    problem: &Problem,
    c: &Config,
    path: Option<&[Vec<f64>]>,
    out: &Output,
) -> Result<(Report, Vec<std::path::PathBuf>)> {
    let r = olim::run(problem, c)?;
    let mut files = Vec::new();
    if let Some(dir) = out.dir()? {
        files = olim::write_files(&r, problem, path, dir)?;
    }
    Ok((r, files))
}

/// The 3-D grid configuration from the flags (`--box` XLO,XHI,YLO,YHI,ZLO,ZHI).
fn config_3d(args: &FieldArgs) -> Result<quasipot::olim3d::Config> {
    let mut c = quasipot::olim3d::Config::new(args.grid.unwrap_or(65))?;
    if let Some(k) = args.k {
        c = c.with_k(k)?;
    }
    if let Some(b) = &args.bounds {
        if b.len() != 6 {
            return Err(anyhow!(quasipot::Error::invalid(
                "--box",
                format!(
                    "for d = 3 expected XLO,XHI,YLO,YHI,ZLO,ZHI (6 numbers), got {}",
                    b.len()
                )
            )));
        }
        c = c.with_box([b[0], b[2], b[4]], [b[1], b[3], b[5]])?;
    }
    if args.thorough {
        return Err(anyhow!(quasipot::Error::invalid(
            "--thorough",
            "thorough triangle updates exist only in the 2-D solver"
        )));
    }
    c.estimate_error = !args.no_error_estimate;
    c.interpolation = match args.interpolation {
        InterpolationArg::Quadratic => olim::Interpolation::Quadratic,
        InterpolationArg::Linear => olim::Interpolation::Linear,
    };
    Ok(c)
}

/// Human summary of a 3-D grid solve.
fn human_report_3d(r: &quasipot::olim3d::Report) -> String {
    let g = &r.grid;
    let mut rows = vec![
        vec![
            "grid".into(),
            format!(
                "{0}³ on [{1}, {2}]×[{3}, {4}]×[{5}, {6}], K = {7}",
                g.n,
                fmt_number(g.lo[0]),
                fmt_number(g.hi[0]),
                fmt_number(g.lo[1]),
                fmt_number(g.hi[1]),
                fmt_number(g.lo[2]),
                fmt_number(g.hi[2]),
                r.k
            ),
        ],
        vec!["termination".into(), format!("{:?}", r.termination)],
        vec![
            "V0".into(),
            r.v0.map(|v| format!("{v:.9}"))
                .unwrap_or_else(|| "— (∂D not fully reached)".into()),
        ],
        vec![
            "± error (N vs N/2)".into(),
            r.v0_error_estimate
                .map(|v| format!("{v:.2e}"))
                .unwrap_or_else(|| "—".into()),
        ],
        vec![
            "exit point".into(),
            r.exit_point
                .as_deref()
                .map(fmt_point)
                .unwrap_or_else(|| "—".into()),
        ],
    ];
    if let Some(v) = r.v0_reference {
        rows.push(vec!["reference V0".into(), format!("{v}")]);
    }
    if let Some(e) = &r.errors {
        rows.push(vec![
            "ErrMax / ERMS".into(),
            format!(
                "{:.3e} / {:.3e} over {} accepted points (normalised {:.3e} / {:.3e})",
                e.error_max, e.error_rms, e.points, e.error_max_normalised, e.error_rms_normalised
            ),
        ]);
    }
    rows.push(vec![
        "time".into(),
        format!("{:.3} s ({:.1} bytes/point)", r.seconds, r.bytes_per_point),
    ]);
    let mut h = format!("problem  {} (weight {})\n\n", r.problem, r.weight);
    h.push_str(&table(&["grid solve (OLIM 3-D)", "value"], &rows));
    for n in &r.notes {
        h.push_str(&format!("note     {n}\n"));
    }
    h
}

/// `quasipot field` for d = 3: V.npy (N×N×N, indexed [z, y, x]; unreached = +∞) and its axes.
fn run_3d(args: &FieldArgs, problem: &Problem, out: &Output) -> Result<i32> {
    let c = config_3d(args)?;
    let r = quasipot::olim3d::run(problem, &c)?;
    let mut files = Vec::new();
    if let Some(dir) = out.dir()? {
        use quasipot::problem::matrix_io::{write_array3_npy, write_vector_npy};
        let n = r.grid.n;
        let v = dir.join("V.npy");
        write_array3_npy(&v, [n, n, n], &r.values)?;
        files.push(v);
        for (axis, name) in ["x.npy", "y.npy", "z.npy"].into_iter().enumerate() {
            let p = dir.join(name);
            let xs: Vec<f64> = (0..n)
                .map(|i| r.grid.lo[axis] + i as f64 * r.grid.h[axis])
                .collect();
            write_vector_npy(&p, &xs)?;
            files.push(p);
        }
    }
    let mut js = serde_json::to_value(&r)?;
    js["files"] = json!(files);
    out.finish(&human_report_3d(&r), &js)?;
    Ok(0)
}

/// `quasipot field`.
pub fn run(args: &FieldArgs, g: &Global, out: &Output) -> Result<i32> {
    let problem = load_problem(&args.problem, g)?;
    if problem.dim() == 3 {
        return run_3d(args, &problem, out);
    }
    let c = config(args)?;
    let (r, files) = solve_and_write(&problem, &c, None, out)?;
    let mut js = serde_json::to_value(&r)?;
    js["files"] = json!(files);
    out.finish(&human_report(&r), &js)?;
    Ok(0)
}
