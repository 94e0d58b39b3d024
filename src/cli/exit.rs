//! `quasipot exit` and `quasipot merge`: Monte Carlo exit times of the SDE, or of Gaussian SGD
//! itself (eq. 2, a = C) with `--lr`, V0 from their growth, both weights' predictions beside
//! them, and the exit diagnostics of [`quasipot::analysis::exit_diagnostics`].

use super::output::{table, Output};
use super::{load_problem, Global, WeightArg};
use anyhow::{anyhow, Result};
use indicatif::{ProgressBar, ProgressStyle};
use quasipot::analysis::exit_diagnostics::{diagnose_problem, predicted_channels, ExitDiagnostics};
use quasipot::problem::{Problem, Weight};
use quasipot::rates::prefactor::{predict, Dynamics, Options, Outcome};
use quasipot::sde::{self, Config, ExitDetection, Hooks, Report, Shard};
use quasipot::sde::{ReferenceV0, Status};
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
    /// SGD learning rate η: simulate Gaussian SGD itself, θ ← θ − η∇L + (η/√B)·C^{1/2}ξ (eq. 2:
    /// a = C, weight inverse, whatever the problem file says), with h = η and ε² = η/B; both
    /// weights' predictions are shown beside it.
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
    /// Run only shard k of n (0-based), e.g. --shard 0/4, or `auto`: the shard of this Slurm
    /// array task (k = (SLURM_ARRAY_TASK_ID − MIN)/STEP, n = SLURM_ARRAY_TASK_COUNT, so
    /// --array=0-3 and --array=1-4 both give 0/4..3/4); combine with `quasipot merge`. With
    /// --method ams a shard runs repetitions ⌊kM/n⌋..⌊(k+1)M/n⌋ of every ε.
    #[arg(long, value_name = "k/n|auto")]
    pub shard: Option<String>,
    /// Continue the run streamed in --out with the same random streams.
    #[arg(long)]
    pub resume: bool,
    /// κ in E[τ] ≈ A·εᵏ·e^{V0/ε²} for the Arrhenius fit: 0 over a saddle, 1 through a
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

/// The shard to run: `--shard k/n`, `--shard auto` (from the Slurm array variables), or none.
/// Inside an array task without `--shard`, every task would run the whole ensemble with the
/// same seed: allowed (an array may as well sweep other flags), but said on stderr.
pub fn shard_of(flag: Option<&str>, out: &Output) -> Result<Option<Shard>> {
    match flag {
        Some(s) => Ok(Some(quasipot::slurm::parse_shard(s)?)),
        None => {
            if quasipot::slurm::ArrayTask::in_array() && !out.quiet {
                eprintln!("note  this is Slurm array task {}, but without --shard it runs the whole ensemble (as every task of the array does, with the same seed); pass --shard auto to run this task's shard", std::env::var(quasipot::slurm::TASK_ID).unwrap_or_default());
            }
            Ok(None)
        }
    }
}

/// The problem as the SGD parametrisation simulates it: Gaussian SGD has a = C (weight
/// inverse), so the problem file's weight is overridden; an explicit `--weight inverse-sqrt`
/// is refused rather than silently simulating something that is not SGD.
pub fn sgd_problem(name: &str, g: &Global) -> Result<Problem> {
    if matches!(g.weight, Some(WeightArg::InverseSqrt)) {
        return Err(anyhow!(quasipot::Error::invalid(
            "--weight",
            "--lr simulates Gaussian SGD (eq. 2), whose noise is a = C (weight inverse); both weights' predictions are printed beside it. To simulate a = C^{1/2}, use --eps and --dt instead of --lr/--batch"
        )));
    }
    let mut g = g.clone();
    g.weight = Some(WeightArg::Inverse);
    load_problem(name, &g)
}

/// One weight's prediction for a run: V0 by the best engine that applies and the prefactor.
#[derive(Debug, serde::Serialize)]
pub struct WeightColumn {
    /// The action weight.
    pub weight: Weight,
    /// Whether the run simulated this weight's noise.
    pub simulated: bool,
    /// V0 (None when no engine applies; see `v0_error`).
    pub v0: Option<f64>,
    /// The engine that gave V0.
    pub v0_method: Option<String>,
    /// Why there is no V0.
    pub v0_error: Option<String>,
    /// Whether V0 lies inside the Arrhenius slope's 95 % CI.
    pub v0_in_slope_ci95: Option<bool>,
    /// V0 of the discrete chain at step η (its own quasi-potential; → `v0` as η → 0), from the
    /// prefactor's channels: what the slope of a run of the chain estimates.
    pub v0_chain: Option<f64>,
    /// Whether `v0_chain` lies inside the slope's 95 % CI.
    pub v0_chain_in_slope_ci95: Option<bool>,
    /// The prefactor prediction E[τ] ≈ A·ε^κ·e^{V0/ε²}.
    pub prefactor: Outcome,
}

fn prefactor_outcome(problem: &Problem, dynamics: Dynamics) -> Outcome {
    predict(
        problem,
        &Options {
            dynamics,
            ..Options::default()
        },
    )
    .unwrap_or_else(|e| Outcome::NotApplicable {
        formula: "prefactor".into(),
        reason: format!("{e}"),
    })
}

/// Both weights' predictions (inverse-sqrt, then inverse) for a run of the SGD parametrisation.
fn weight_columns(name: &str, g: &Global, step: f64) -> Result<Vec<WeightColumn>> {
    let mut out = Vec::new();
    for w in [WeightArg::InverseSqrt, WeightArg::Inverse] {
        let mut gw = g.clone();
        gw.weight = Some(w);
        let p = load_problem(name, &gw)?;
        let (v0, v0_method, v0_error) = match quasipot::analysis::v0::best_v0(&p) {
            Ok(b) => (Some(b.v0), Some(b.method), None),
            Err(e) => (None, None, Some(format!("{e}"))),
        };
        let prefactor = prefactor_outcome(&p, Dynamics::Chain { step });
        let v0_chain = prefactor
            .prediction()
            .and_then(|q| q.channels.iter().map(|c| c.v).min_by(|a, b| a.total_cmp(b)));
        out.push(WeightColumn {
            weight: w.into(),
            v0_chain,
            v0_chain_in_slope_ci95: None,
            simulated: matches!(w, WeightArg::Inverse),
            v0,
            v0_method,
            v0_error,
            v0_in_slope_ci95: None,
            prefactor,
        });
    }
    Ok(out)
}

/// The exit diagnostics of every level with exits.
fn level_diagnostics(report: &Report, problem: &Problem) -> Vec<Option<ExitDiagnostics>> {
    let channels = predicted_channels(problem);
    let step = report.config.sgd.is_some().then_some(report.dt);
    report
        .levels
        .iter()
        .zip(&report.trajectories)
        .map(|(l, t)| {
            let pts: Vec<Vec<f64>> = t
                .iter()
                .filter(|x| x.status == Status::Exited)
                .map(|x| x.point.clone())
                .collect();
            (!pts.is_empty())
                .then(|| diagnose_problem(problem, l.eps, step, &channels, &pts).ok())
                .flatten()
        })
        .collect()
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
    prefactor_outcome(problem, dynamics)
}

/// The predicted-mean cells of a level: E[τ] from the run's prefactor, or with the SGD
/// parametrisation E[ν] = E[τ]/η under each weight.
fn predicted_cells(
    eps: f64,
    dt: f64,
    prediction: &Outcome,
    columns: &[WeightColumn],
) -> Vec<String> {
    let cell = |o: &Outcome, scale: f64| {
        o.prediction()
            .map(|p| format!("{:.4e}", p.mean_exit_time(eps) / scale))
            .unwrap_or_else(|| "—".into())
    };
    if columns.is_empty() {
        vec![cell(prediction, 1.0)]
    } else {
        columns.iter().map(|c| cell(&c.prefactor, dt)).collect()
    }
}

fn human_report(
    r: &Report,
    prediction: &Outcome,
    columns: &[WeightColumn],
    diagnostics: &[Option<ExitDiagnostics>],
) -> String {
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
            ]
            .into_iter()
            .chain(predicted_cells(l.eps, r.dt, prediction, columns))
            .collect()
        })
        .collect();
    let mut h = if let Some(sgd) = &r.config.sgd {
        format!(
            "problem  {} (d = {}, noise {}, domain {}), exit detection {:?}\nsimulated  Gaussian SGD, eq. (2): θ ← θ − η∇L + (η/√B)·C^{{1/2}}ξ with η = {} (a = C, weight inverse; ε² = η/B)\n\n",
            r.problem, r.dim, r.noise_source, r.domain, r.detection, sgd.lr
        )
    } else {
        format!(
            "problem  {} (d = {}, weight {}, noise {}, domain {}), h = {}, exit detection {:?}\n\n",
            r.problem, r.dim, r.weight, r.noise_source, r.domain, r.dt, r.detection
        )
    };
    let mut head = vec![
        "ε",
        "B",
        "runs",
        "exited",
        "censored",
        "E[τ]",
        "95% CI",
        "median τ",
        "E[ν] (steps)",
    ];
    let names: Vec<String> = columns
        .iter()
        .map(|c| {
            format!(
                "predicted E[ν] {}",
                if c.simulated {
                    "inverse (simulated)"
                } else {
                    "inverse-sqrt (Def. 4)"
                }
            )
        })
        .collect();
    if columns.is_empty() {
        head.push("predicted E[τ]");
    }
    head.extend(names.iter().map(String::as_str));
    h.push_str(&table(&head, &rows));
    if columns.is_empty() {
        h.push_str(&format!("\nprefactor  {}\n", prediction.summary()));
    } else {
        h.push('\n');
        for c in columns {
            let inside = |b: Option<bool>| match b {
                Some(true) => ": inside the slope's 95% CI",
                Some(false) => ": OUTSIDE the slope's 95% CI",
                None => "",
            };
            h.push_str(&format!(
                "{:<13} {}  V0 = {}{}\n              chain at η: V0 = {}{}\n              prefactor {}\n",
                c.weight.name(),
                if c.simulated {
                    "(a = C, simulated)      "
                } else {
                    "(a = C^1/2, Definition 4)"
                },
                c.v0.map(|v| format!("{v:.6}")).unwrap_or_else(|| "—".into()),
                match (&c.v0_method, &c.v0_error, c.v0_in_slope_ci95) {
                    (Some(m), _, Some(i)) => format!(" ({m}, SDE){}", inside(Some(i))),
                    (Some(m), _, None) => format!(" ({m}, SDE)"),
                    (None, Some(e), _) => format!(" ({e})"),
                    _ => String::new(),
                },
                c.v0_chain
                    .map(|v| format!("{v:.6}"))
                    .unwrap_or_else(|| "—".into()),
                inside(c.v0_chain_in_slope_ci95),
                match c.prefactor.prediction() {
                    Some(p) => format!(
                        "A = {:.4e}, κ = {} ({} channel{}; `quasipot prefactor --lr` for the formula)",
                        p.prefactor,
                        p.kappa,
                        p.channels.len(),
                        if p.channels.len() == 1 { "" } else { "s" }
                    ),
                    None => c.prefactor.summary(),
                }
            ));
        }
    }
    if let Some(f) = &r.arrhenius {
        h.push_str(&format!(
            "\nArrhenius fit  ln E[τ] = ln A + κ ln ε + V0/ε² (κ = {}): V0 = {:.5} ± {:.5} (95% CI [{:.5}, {:.5}]), A = {:.4e}\n",
            f.prefactor_exponent, f.slope, f.slope_se, f.slope_ci95[0], f.slope_ci95[1], f.prefactor
        ));
    }
    if let (Some(v), Some(inside), true) = (&r.v0_reference, r.v0_in_ci95, columns.is_empty()) {
        h.push_str(&format!(
            "predicted V0 = {:.6} ({}): {} the 95% CI\n",
            v.v0,
            v.source,
            if inside { "inside" } else { "OUTSIDE" }
        ));
    }
    if diagnostics.iter().any(Option::is_some) {
        h.push_str("\nexit diagnostics (see quasipot::analysis::exit_diagnostics)\n");
    }
    for (l, dg) in r.levels.iter().zip(diagnostics) {
        if let Some(dg) = dg {
            h.push_str(&format!("  ε = {:.5}: {}\n", l.eps, dg.summary()));
            for w in &dg.warnings {
                h.push_str(&format!("warning  ε = {:.5}: {w}\n", l.eps));
            }
        }
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
    let problem = match args.lr {
        Some(_) => sgd_problem(&args.problem, g)?,
        None => load_problem(&args.problem, g)?,
    };
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
    c.shard = shard_of(args.shard.as_deref(), out)?;
    // κ of the Arrhenius fit: the user's, else the computed prefactor's (−1 for the discrete
    // chain of the SGD parametrisation, +1 through a non-characteristic ∂D, 0 over a saddle).
    let dynamics = match args.lr {
        Some(step) => Dynamics::Chain { step },
        None => Dynamics::Continuous,
    };
    let prediction = prefactor_outcome(&problem, dynamics);
    let predicted_kappa = prediction.prediction().map(|p| p.kappa);
    c.prefactor_exponent = args
        .prefactor_exponent
        .or(predicted_kappa)
        .unwrap_or_else(|| quasipot::estimate::default_prefactor_exponent(&problem));
    // Refuse a run beyond memory before --out is created (the engine checks again).
    quasipot::sde::ensemble::check_memory(&c, problem.dim(), false)?;
    c.out = out.dir()?.map(|d| d.to_path_buf());
    if args.resume && c.out.is_none() {
        return Err(anyhow!(quasipot::Error::invalid(
            "--resume",
            "needs --out DIR (the run to continue)"
        )));
    }
    c.resume = args.resume;
    let mut budget_warnings = Vec::new();
    if let Some(p) = prediction.prediction() {
        for &eps in &c.eps {
            let steps = p.mean_exit_time(eps) / c.dt;
            if steps > 10.0 * c.max_steps as f64 {
                budget_warnings.push(format!(
                    "at ε = {eps:.5} the predicted E[ν] is {steps:.3e} steps, beyond 10× the budget --max-steps {}: nearly every trajectory will be censored (each costs the full budget); use larger ε or --method ams",
                    c.max_steps
                ));
            }
        }
    }
    if !out.json {
        for w in &budget_warnings {
            eprintln!("warning  {w}");
        }
    }
    let (hooks, bar) = progress_hooks(out, c.runs, c.eps.len());
    let mut report = sde::run_with(&problem, &c, &hooks)?;
    report.warnings.extend(budget_warnings);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let columns = match args.lr {
        Some(step) => weight_columns(&args.problem, g, step)?,
        None => Vec::new(),
    };
    finish(report, &problem, out, prediction, columns)
}

fn finish(
    mut report: Report,
    problem: &Problem,
    out: &Output,
    prediction: Outcome,
    mut columns: Vec<WeightColumn>,
) -> Result<i32> {
    // Both weights' V0 against the slope; the simulated weight's becomes the report's reference.
    for c in &mut columns {
        let inside = |v: Option<f64>| {
            report
                .arrhenius
                .as_ref()
                .zip(v)
                .map(|(f, v)| f.slope_ci95[0] <= v && v <= f.slope_ci95[1])
        };
        c.v0_in_slope_ci95 = inside(c.v0);
        c.v0_chain_in_slope_ci95 = inside(c.v0_chain);
        if c.simulated {
            // The slope of a run of the chain estimates the chain's own V0.
            let reference = match (c.v0_chain, c.v0, &c.v0_method) {
                (Some(v0), _, _) => Some((v0, "discrete chain at η (prefactor)".to_string())),
                (None, Some(v0), Some(m)) => Some((v0, m.clone())),
                _ => None,
            };
            if let Some((v0, source)) = reference {
                report.v0_reference = Some(ReferenceV0 { v0, source });
                report.v0_in_ci95 = inside(Some(v0));
            }
        }
    }
    let diagnostics = level_diagnostics(&report, problem);
    let report = &report;
    let mut files = Vec::new();
    if let Some(dir) = out.dir()? {
        files = sde::write_files(report, problem, dir)?;
    }
    let mut js = serde_json::to_value(report)?;
    js["files"] = json!(files);
    if let Some(levels) = js["levels"].as_array_mut() {
        for (l, dg) in levels.iter_mut().zip(&diagnostics) {
            l["diagnostics"] = serde_json::to_value(dg)?;
        }
    }
    if !columns.is_empty() {
        js["weights"] = serde_json::to_value(&columns)?;
    }
    if let (Some(p), Some(levels)) = (prediction.prediction(), js["levels"].as_array_mut()) {
        for (l, r) in levels.iter_mut().zip(&report.levels) {
            l["predicted_mean_exit_time"] = json!(p.mean_exit_time(r.eps));
        }
    }
    js["prediction"] = serde_json::to_value(&prediction)?;
    out.finish(
        &human_report(report, &prediction, &columns, &diagnostics),
        &js,
    )?;
    Ok(match report.termination {
        sde::Termination::Interrupted => super::EXIT_INTERRUPTED,
        sde::Termination::Completed => 0,
    })
}

/// `quasipot merge`.
pub fn run_merge(args: &MergeArgs, g: &Global, out: &Output) -> Result<i32> {
    if args
        .dirs
        .first()
        .is_some_and(|d| quasipot::analysis::scaling::merge::is_scaling_dir(d))
    {
        return super::scaling::run_merge(&args.problem, &args.dirs, g, out);
    }
    if args
        .dirs
        .first()
        .is_some_and(|d| sde::ams::merge::is_ams_dir(d))
    {
        let problem = load_problem(&args.problem, g)?;
        let rerun = sde::RerunCommand {
            problem: Some(args.problem.clone()),
            flags: Some(super::model_flags(g)),
        };
        let report = sde::ams::merge::merge_dirs(&problem, &args.dirs, &rerun)?;
        super::exit_ams::finish(&report, out)?;
        return Ok(0);
    }
    // Shards of the SGD parametrisation simulated a = C: load the problem the same way.
    let sgd = match args.dirs.first() {
        Some(d) => sde::stream::Manifest::read(d)?.config.sgd,
        None => None,
    };
    let problem = match &sgd {
        Some(_) => sgd_problem(&args.problem, g)?,
        None => load_problem(&args.problem, g)?,
    };
    let rerun = sde::RerunCommand {
        problem: Some(args.problem.clone()),
        flags: Some(super::model_flags(g)),
    };
    let report = sde::merge_dirs_with(&problem, &args.dirs, &rerun)?;
    let prediction = prediction_for(&report, &problem);
    let columns = match &sgd {
        Some(s) => weight_columns(&args.problem, g, s.lr)?,
        None => Vec::new(),
    };
    finish(report, &problem, out, prediction, columns)
}
