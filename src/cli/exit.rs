//! `quasipot exit` and `quasipot merge`: Monte Carlo exit times of the SDE (= Gaussian SGD) and
//! V0 from their growth.

use super::output::{table, Output};
use super::{load_problem, Global};
use crate::problem::{Domain, Problem};
use crate::rates::prefactor::{predict, Dynamics, Options, Outcome};
use crate::sde::{self, Config, ExitDetection, Hooks, Report, Shard};
use anyhow::{anyhow, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Arguments of `quasipot exit`.
#[derive(Debug, clap::Args)]
pub struct ExitArgs {
    /// Built-in problem name or TOML file.
    pub problem: String,
    /// Noise levels ε (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "E1,E2,..",
        required_unless_present = "lr",
        allow_hyphen_values = true
    )]
    pub eps: Vec<f64>,
    /// SGD learning rate η: sets h = η and, with --batch, ε² = η/B.
    #[arg(long, value_name = "η", requires = "batch", conflicts_with = "eps")]
    pub lr: Option<f64>,
    /// SGD batch sizes B (comma-separated), with --lr.
    #[arg(long, value_delimiter = ',', value_name = "B1,B2,..", requires = "lr")]
    pub batch: Vec<f64>,
    /// Trajectories per noise level R.
    #[arg(long, default_value_t = 1000)]
    pub runs: u64,
    /// Time step h (ignored with --lr, where h = η).
    #[arg(long, default_value_t = 1e-3)]
    pub dt: f64,
    /// Step budget per trajectory; trajectories still inside are censored (reported, never
    /// dropped).
    #[arg(long, default_value_t = 100_000_000)]
    pub max_steps: u64,
    /// Gobet–Menozzi boundary correction (removes the O(√h) bias of discrete monitoring).
    #[arg(long)]
    pub boundary_correction: bool,
    /// Run only shard k of n (0-based), e.g. --shard 0/4; combine with `quasipot merge`.
    #[arg(long, value_name = "k/n")]
    pub shard: Option<String>,
    /// Continue the run streamed in --out with the same random streams.
    #[arg(long)]
    pub resume: bool,
    /// κ in E\[τ\] ≈ A·εᵏ·e^{V0/ε²} for the Arrhenius fit: 0 over a saddle, 1 through a
    /// non-characteristic boundary, −1 for the discrete chain (--lr); default: the computed
    /// prefactor's κ (`quasipot prefactor`), else 1 for bounded domains and 0 for half-spaces.
    #[arg(long, value_name = "κ")]
    pub prefactor_exponent: Option<f64>,
    /// `direct`: plain Monte Carlo from θ*; `ams`: adaptive multilevel splitting (rare exits,
    /// E[τ] up to 1e15 and beyond; see `quasipot::sde::ams`).
    #[arg(long, value_enum, default_value_t = ExitMethod::Direct)]
    pub method: ExitMethod,
    /// The AMS flags (with `--method ams`).
    #[command(flatten)]
    pub ams: super::exit_ams::AmsArgs,
}

/// `quasipot exit --method`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExitMethod {
    /// Direct Monte Carlo.
    Direct,
    /// Adaptive multilevel splitting.
    Ams,
}

/// Arguments of `quasipot merge`.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// Built-in problem name or TOML file the shards were run on.
    pub problem: String,
    /// Shard output directories (each written by `quasipot exit --shard k/n --out DIR`).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
}

/// κ for the Arrhenius fit when the user gives none.
pub fn default_prefactor_exponent(problem: &Problem) -> f64 {
    match problem.domain {
        Domain::HalfSpace { .. } => 0.0,
        _ => 1.0,
    }
}

fn progress_hooks(out: &Output, total: u64, levels: usize) -> (Hooks, Option<ProgressBar>) {
    let cancel = Arc::new(AtomicBool::new(false));
    let c = cancel.clone();
    // Ctrl-C stops cleanly: finished trajectories are kept and written.
    let _ = ctrlc::set_handler(move || c.store(true, Ordering::SeqCst));
    if out.quiet || out.json {
        return (
            Hooks {
                cancel: Some(cancel),
                progress: None,
            },
            None,
        );
    }
    let bar = ProgressBar::new(total * levels as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} ε level {msg} [{bar:30}] {pos}/{len} trajectories, ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let b = bar.clone();
    let hooks = Hooks {
        cancel: Some(cancel),
        progress: Some(Arc::new(move |p: &sde::Progress| {
            b.set_position(p.level as u64 * p.total + p.done);
            b.set_message(format!(
                "{}/{} (ε = {:.4}), {} censored",
                p.level + 1,
                p.levels,
                p.eps,
                p.censored
            ));
        })),
    };
    (hooks, Some(bar))
}

/// The prefactor prediction for what this report simulated: the discrete chain at h = η in the
/// SGD parametrisation (exit checked every step), the SDE otherwise.
pub fn prediction_for(report: &Report, problem: &Problem) -> Outcome {
    let dynamics = if report.config.sgd.is_some() {
        Dynamics::Chain { step: report.dt }
    } else {
        Dynamics::Continuous
    };
    let options = Options {
        dynamics,
        ..Options::default()
    };
    predict(problem, &options).unwrap_or_else(|e| Outcome::NotApplicable {
        formula: "prefactor".into(),
        reason: format!("{e}"),
    })
}

fn human_report(r: &Report, prediction: &Outcome) -> String {
    let rows: Vec<Vec<String>> = r
        .levels
        .iter()
        .map(|l| {
            let s = &l.stats;
            vec![
                format!("{:.5}", l.eps),
                l.batch
                    .map(|b| format!("{b}"))
                    .unwrap_or_else(|| "—".into()),
                format!("{}", l.runs),
                format!("{}", l.exited),
                format!("{}", l.censored + l.interrupted),
                s.mean
                    .map(|m| format!("{m:.5e}"))
                    .unwrap_or_else(|| "—".into()),
                s.ci95
                    .map(|c| format!("[{:.4e}, {:.4e}]", c[0], c[1]))
                    .unwrap_or_else(|| "—".into()),
                s.median
                    .map(|m| format!("{m:.4e}"))
                    .unwrap_or_else(|| "—".into()),
                l.mean_iterations
                    .map(|m| format!("{m:.4e}"))
                    .unwrap_or_else(|| "—".into()),
                prediction
                    .prediction()
                    .map(|p| format!("{:.4e}", p.mean_exit_time(l.eps)))
                    .unwrap_or_else(|| "—".into()),
            ]
        })
        .collect();
    let mut h = format!(
        "problem  {} (d = {}, weight {}, noise {}, domain {}), h = {}, exit detection {:?}\n\n",
        r.problem, r.dim, r.weight, r.noise_source, r.domain, r.dt, r.detection
    );
    h.push_str(&table(
        &[
            "ε",
            "B",
            "runs",
            "exited",
            "censored",
            "E[τ]",
            "95% CI",
            "median τ",
            "E[ν] (steps)",
            "predicted E[τ]",
        ],
        &rows,
    ));
    h.push_str(&format!("\nprefactor  {}\n", prediction.summary()));
    if let Some(f) = &r.arrhenius {
        h.push_str(&format!(
            "\nArrhenius fit  ln E[τ] = ln A + κ ln ε + V0/ε² (κ = {}): V0 = {:.5} ± {:.5} (95% CI [{:.5}, {:.5}]), A = {:.4e}\n",
            f.prefactor_exponent, f.slope, f.slope_se, f.slope_ci95[0], f.slope_ci95[1], f.prefactor
        ));
    }
    if let (Some(v), Some(inside)) = (&r.v0_reference, r.v0_in_ci95) {
        h.push_str(&format!(
            "predicted V0 = {:.6} ({}): {} the 95% CI\n",
            v.v0,
            v.source,
            if inside { "inside" } else { "OUTSIDE" }
        ));
    }
    for w in &r.warnings {
        h.push_str(&format!("warning  {w}\n"));
    }
    h.push_str(&format!(
        "{} steps in {:.2} s ({:.3e} steps/s), termination: {:?}\n",
        r.timing.steps, r.timing.wall_s, r.timing.steps_per_s, r.termination
    ));
    h
}

/// `quasipot exit`.
pub fn run(args: &ExitArgs, g: &Global, out: &Output) -> Result<i32> {
    if args.method == ExitMethod::Ams {
        return super::exit_ams::run(args, g, out);
    }
    let problem = load_problem(&args.problem, g)?;
    let mut c = Config::default();
    if let Some(lr) = args.lr {
        c.set_sgd(lr, args.batch.clone())?;
    } else {
        c.set_eps(args.eps.clone())?;
        c.set_dt(args.dt)?;
    }
    c.set_runs(args.runs)?;
    c.max_steps = args.max_steps;
    c.seed = g.seed;
    if args.boundary_correction {
        c.detection = ExitDetection::BoundaryCorrected;
    }
    if let Some(s) = &args.shard {
        c.shard = Some(Shard::parse(s)?);
    }
    // κ of the Arrhenius fit: the user's, else the computed prefactor's (−1 for the discrete
    // chain of the SGD parametrisation, +1 through a non-characteristic ∂D, 0 over a saddle).
    let dynamics = match args.lr {
        Some(step) => Dynamics::Chain { step },
        None => Dynamics::Continuous,
    };
    let prediction = predict(
        &problem,
        &Options {
            dynamics,
            ..Options::default()
        },
    )
    .unwrap_or_else(|e| Outcome::NotApplicable {
        formula: "prefactor".into(),
        reason: format!("{e}"),
    });
    let predicted_kappa = prediction.prediction().map(|p| p.kappa);
    c.prefactor_exponent = args
        .prefactor_exponent
        .or(predicted_kappa)
        .unwrap_or_else(|| default_prefactor_exponent(&problem));
    c.out = out.dir()?.map(|d| d.to_path_buf());
    if args.resume && c.out.is_none() {
        return Err(anyhow!(crate::Error::invalid(
            "--resume",
            "needs --out DIR (the run to continue)"
        )));
    }
    c.resume = args.resume;
    let (hooks, bar) = progress_hooks(out, c.runs, c.eps.len());
    let report = sde::run_with(&problem, &c, &hooks)?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    finish(&report, &problem, out, prediction)
}

fn finish(report: &Report, problem: &Problem, out: &Output, prediction: Outcome) -> Result<i32> {
    let mut files = Vec::new();
    if let Some(dir) = out.dir()? {
        files = sde::write_files(report, problem, dir)?;
    }
    let mut js = serde_json::to_value(report)?;
    js["files"] = json!(files);
    if let (Some(p), Some(levels)) = (prediction.prediction(), js["levels"].as_array_mut()) {
        for (l, r) in levels.iter_mut().zip(&report.levels) {
            l["predicted_mean_exit_time"] = json!(p.mean_exit_time(r.eps));
        }
    }
    js["prediction"] = serde_json::to_value(&prediction)?;
    out.finish(&human_report(report, &prediction), &js)?;
    Ok(0)
}

/// `quasipot merge`.
pub fn run_merge(args: &MergeArgs, g: &Global, out: &Output) -> Result<i32> {
    let problem = load_problem(&args.problem, g)?;
    let report = sde::merge_dirs(&problem, &args.dirs)?;
    let prediction = prediction_for(&report, &problem);
    finish(&report, &problem, out, prediction)
}
