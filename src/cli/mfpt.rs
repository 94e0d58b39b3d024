//! `quasipot mfpt`: mean exit times E\[τ\] at any ε from the backward Kolmogorov equation
//! 𝓛T = −1 on a grid (d = 1, 2), with a two-grid error estimate and the principal eigenvalue λ₁.

use super::output::{table, Output};
use super::{load_problem, Global};
use anyhow::{anyhow, Result};
use indicatif::{ProgressBar, ProgressStyle};
use quasipot::generator::{self, Config, Report};
use quasipot::problem::Problem;
use serde_json::json;

/// Arguments of `quasipot mfpt`.
#[derive(Debug, clap::Args)]
pub struct MfptArgs {
    /// Built-in problem name or TOML file (d = 1 or 2).
    pub problem: String,
    /// Noise levels ε, comma-separated.
    #[arg(long, value_delimiter = ',', required = true, value_name = "E1,E2,..")]
    pub eps: Vec<f64>,
    /// Grid points per axis N (odd, ≥ 9; the error estimate also solves on (N − 1)/2 + 1).
    #[arg(long, default_value_t = 513)]
    pub grid: usize,
    /// Box XLO,XHI[,YLO,YHI] (default: D's bounding box; for unbounded D a box 7 ε-scaled
    /// Gaussian standard deviations beyond θ* and ∂D, whose faces inside D reflect).
    #[arg(
        long = "box",
        value_delimiter = ',',
        value_name = "XLO,XHI,YLO,YHI",
        allow_hyphen_values = true
    )]
    pub bounds: Option<Vec<f64>>,
    /// Skip the coarse-grid solve behind the Richardson value and the error estimate.
    #[arg(long)]
    pub no_error_estimate: bool,
    /// Skip the principal eigenvalue λ₁ (inverse iteration).
    #[arg(long)]
    pub no_eigenvalue: bool,
    /// Also compute the quasi-stationary density (written as density_eps{ε}.npy in --out).
    #[arg(long)]
    pub density: bool,
    /// Also compute the committor q = P(reach ∂D before the ball |θ − θ*| ≤ R) on the N grid
    /// (written as committor_eps{ε}.npy in --out).
    #[arg(long, value_name = "R")]
    pub committor: Option<f64>,
}

/// The configuration from the flags.
pub fn config(args: &MfptArgs) -> Result<Config> {
    let bounds = match &args.bounds {
        None => None,
        Some(b) if b.len() == 2 || b.len() == 4 => Some((
            b.iter().step_by(2).copied().collect(),
            b.iter().skip(1).step_by(2).copied().collect(),
        )),
        Some(b) => {
            return Err(anyhow!(quasipot::Error::invalid(
                "--box",
                format!(
                    "expected XLO,XHI (d = 1) or XLO,XHI,YLO,YHI (d = 2), got {} numbers",
                    b.len()
                )
            )))
        }
    };
    Ok(Config {
        eps: args.eps.clone(),
        grid: args.grid,
        bounds,
        error_estimate: !args.no_error_estimate,
        principal_eigenvalue: !args.no_eigenvalue,
        quasi_stationary_density: args.density,
        committor_radius: args.committor,
        ..Config::default()
    })
}

/// V₀ when cheaply known: exact (linear drift and constant noise, or d = 1), else the problem
/// file's reference.
fn cheap_v0(p: &Problem) -> Option<f64> {
    if p.dim() == 1 {
        if let Ok(r) = quasipot::exact::barrier::quasi_potential_barrier_1d(p) {
            return Some(r.v0);
        }
    }
    if p.is_linear_gaussian() {
        if let Ok(r) = quasipot::exact::quasi_potential_barrier(p) {
            return Some(r.v0);
        }
    }
    p.reference.v0
}

fn sci(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.6e}")).unwrap_or_else(|| "—".into())
}

/// Human summary.
pub fn human_report(r: &Report, v0: Option<f64>) -> String {
    let mut h = format!(
        "problem  {} (weight {}, domain {}, d = {})\nmethod   backward Kolmogorov 𝓛T = −1, exponentially fitted monotone stencil, N = {} per axis{}\n\n",
        r.problem,
        r.weight,
        r.domain,
        r.dim,
        r.grid,
        if r.config.error_estimate {
            "; E[τ] is the Richardson value of N and (N−1)/2+1"
        } else {
            ""
        }
    );
    let rows: Vec<Vec<String>> = r
        .levels
        .iter()
        .map(|l| {
            vec![
                format!("{}", l.eps),
                v0.map(|v| format!("{:.4}", v * l.inv_eps2))
                    .unwrap_or_else(|| "—".into()),
                format!("{:.9e}", l.mean_exit_time),
                sci(l.error_estimate),
                sci(l.mean_exit_time_from_eigenvalue),
                format!(
                    "[{}]",
                    l.box_lo
                        .iter()
                        .zip(&l.box_hi)
                        .map(|(a, b)| format!("{a:.3}, {b:.3}"))
                        .collect::<Vec<_>>()
                        .join("]×[")
                ),
                format!("{}", l.unknowns),
                format!("{:.2}", l.seconds),
            ]
        })
        .collect();
    h.push_str(&table(
        &[
            "ε",
            "V0/ε²",
            "E[τ](θ*)",
            "± error",
            "1/λ₁",
            "box",
            "unknowns",
            "time s",
        ],
        &rows,
    ));
    for n in &r.notes {
        h.push_str(&format!("note     {n}\n"));
    }
    h
}

/// `quasipot mfpt`.
pub fn run(args: &MfptArgs, g: &Global, out: &Output) -> Result<i32> {
    let problem = load_problem(&args.problem, g)?;
    let c = config(args)?;
    c.validate(problem.dim())?;
    let bar = if out.quiet || out.json {
        None
    } else {
        let b = ProgressBar::new(c.eps.len() as u64);
        b.set_style(
            ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} noise levels {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b.set_message(format!("(ε = {})", c.eps[0]));
        b.enable_steady_tick(std::time::Duration::from_millis(200));
        Some(b)
    };
    let eps = c.eps.clone();
    let mut k = 0usize;
    let r = generator::run_with(&problem, &c, &mut |_| {
        k += 1;
        if let Some(b) = &bar {
            b.inc(1);
            if let Some(e) = eps.get(k) {
                b.set_message(format!("(ε = {e})"));
            }
        }
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let v0 = cheap_v0(&problem);
    let mut files = Vec::new();
    if let Some(dir) = out.dir()? {
        files = generator::output::write_files(&r, &problem, dir)?;
    }
    let mut js = serde_json::to_value(&r)?;
    js["v0"] = json!(v0);
    js["files"] = json!(files);
    out.finish(&human_report(&r, v0), &js)?;
    Ok(0)
}
