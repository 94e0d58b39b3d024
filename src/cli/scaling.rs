//! `quasipot scaling`: exit-rate sweeps over sharpness, learning rate, batch size or depth
//! (the paper's Figures 5–7), with fitted slopes of ln E\[ν\] beside both weights' predictions.

use super::output::{table, Output};
use super::{build_options, Global};
use anyhow::{anyhow, Result};
use quasipot::analysis::scaling::{scaling, Method, ScalingConfig, ScalingReport, Target, Vary};
use quasipot::plot::scaling::{predicted_cell, write_files};
use quasipot::problem::mlp::{MlpConfig, MlpDataset};
use serde_json::json;

/// Arguments of `quasipot scaling`.
#[derive(Debug, clap::Args)]
pub struct ScalingArgs {
    /// `mlp` (the finite-sum network on a real data set), or a built-in / TOML problem with a
    /// gradient drift (sharpness and depth sweeps need a quadratic one).
    pub problem: String,
    /// What to vary: sharpness (α in L(√α θ)), lr (η), batch (B) or depth (β in βL).
    #[arg(long, value_parser = ["sharpness", "lr", "batch", "depth"])]
    pub vary: String,
    /// Values of the varied quantity (default: five around the base value).
    #[arg(long, value_delimiter = ',', value_name = "V1,V2,..")]
    pub values: Option<Vec<f64>>,
    /// Base learning rate η (default 0.3 for mlp, 0.1/λ_max(H*) otherwise).
    #[arg(long)]
    pub eta: Option<f64>,
    /// Base batch size B (default 32 for mlp, 8 otherwise).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Depth ΔL of the level set D (mlp: {½(θ−θ*)ᵀH*(θ−θ*) < ΔL}, default 0.005; level-set
    /// problems: default the ΔL giving (B/η)·V0 = 6 at the base, so E[ν] ~ 1e3).
    #[arg(long)]
    pub delta_l: Option<f64>,
    /// Runs per point.
    #[arg(long, default_value_t = 100)]
    pub runs: usize,
    /// Step budget per run (longer runs are censored, and counted).
    #[arg(long, default_value_t = 200_000)]
    pub max_steps: u64,
    /// Methods, among gaussian-sgd, proximal, minibatch-sgd (default: all that apply).
    #[arg(long, value_delimiter = ',', value_name = "M1,M2,..")]
    pub methods: Option<Vec<String>>,
    /// Gaussian-SGD covariance: gradient-covariance (mlp default) or hessian-at-minimum.
    #[arg(long)]
    pub noise: Option<String>,
    /// Noise level c of the proximal system C = c·I (default: tr C/d of the Gaussian-SGD C at the base).
    #[arg(long)]
    pub proximal_scale: Option<f64>,
    /// Relative eigenvalue floor on the semi-definite gradient covariance C* for the predictions
    /// (eigenvalues below floor·λ_max(C*) are raised to it); the report gives V0 at ÷10 and ×10.
    #[arg(long, default_value_t = 1e-6)]
    pub covariance_floor: f64,
    /// Reuse one random stream at every point (common random numbers): smoother curves, but the
    /// points are correlated and the slopes' CIs are then not valid. Default: independent streams.
    #[arg(long)]
    pub common_random_numbers: bool,
    /// Also run every Gaussian-SGD and proximal point on the quadratic model of L at θ* (same
    /// noise, same D, its own stream) and report E[ν]/E[ν]_quadratic: far from 1 means the loss is
    /// not quadratic where the exits happen. Doubles those ensembles' cost.
    #[arg(long)]
    pub quadratic_control: bool,
    /// mlp only: data set, iris, diabetes or wine.
    #[arg(long, default_value = "iris")]
    pub dataset: String,
    /// mlp only: hidden width.
    #[arg(long, default_value_t = quasipot::problem::mlp::DEFAULT_WIDTH)]
    pub width: usize,
    /// mlp only: L2 coefficient λ.
    #[arg(long, default_value_t = 1e-2)]
    pub l2: f64,
    /// Run only shard k of n (0-based) of the sweep's points (settings × methods, in order),
    /// e.g. --shard 0/4, or `auto` inside a Slurm array; combine with `quasipot merge`.
    #[arg(long, value_name = "k/n|auto")]
    pub shard: Option<String>,
}

fn target(args: &ScalingArgs, g: &Global) -> Result<Target> {
    if args.problem == "mlp" {
        if !g.params.is_empty() {
            return Err(anyhow!(quasipot::Error::invalid(
                "--param",
                "mlp takes --dataset, --width and --l2, not --param"
            )));
        }
        Ok(Target::Mlp(MlpConfig {
            dataset: MlpDataset::parse(&args.dataset, "--dataset")?,
            width: args.width,
            l2: args.l2,
            ..MlpConfig::default()
        }))
    } else {
        Ok(Target::load(&args.problem, build_options(g)?)?)
    }
}

/// The human-readable tables of a report.
pub fn human(r: &ScalingReport) -> String {
    let mut s = String::new();
    if let Some(sh) = &r.shard {
        let k = sh.shard.range(sh.points as u64);
        s.push_str(&format!(
            "shard {}/{}: points {}..{} of {} (this shard's alone, and so are the fits below; `quasipot merge` combines the shards into the whole sweep)\n",
            sh.shard.index, sh.shard.count, k.start, k.end, sh.points
        ));
    }
    s.push_str(&format!(
        "scaling of E[ν] on {} (d = {}), vary {}: η = {}, B = {}, ΔL = {}, {} runs/point, budget {} steps\nGaussian SGD noise: {}\nproximal system: C = {:.4e}·I;  exit domain: {}\n\n",
        r.problem,
        r.dim,
        r.vary.name(),
        r.base.eta,
        r.base.batch,
        r.base.delta_l,
        r.base.runs,
        r.base.max_steps,
        r.gaussian_noise,
        r.proximal_scale,
        r.exit_domain
    ));
    if let Some(m) = &r.mlp {
        // Issue 11: a degenerate minimum (copied or dead units) breaks the large-deviation picture.
        s.push_str(&format!(
            "mlp minimum (seed {}, {} tried): {}\n\n",
            m.selection.seed,
            m.selection.tried,
            m.degeneracy.describe()
        ));
    }
    let opt =
        |v: Option<f64>, p: usize| v.map(|v| format!("{v:.p$e}")).unwrap_or_else(|| "—".into());
    let rows: Vec<Vec<String>> = r
        .points
        .iter()
        .map(|p| {
            vec![
                p.method.name().into(),
                format!("{}", p.x),
                format!("{:.1}", p.b_over_eta),
                format!("{:.4e}", p.lambda_max),
                match (p.mean_exit_steps, p.ci95) {
                    (Some(m), Some(c)) => format!("{m:.3e} ({:.2e}…{:.2e})", c[0], c[1]),
                    _ => format!("≥ {:.1e}", r.base.max_steps as f64),
                },
                format!("{}", p.censored),
                opt(p.v0_inverse_sqrt, 4),
                opt(p.v0_inverse, 4),
                opt(p.v0_discrete, 4),
                p.diagnostics
                    .as_ref()
                    .and_then(|d| d.loss_ratio)
                    .map(|v| format!("{v:.3}"))
                    .unwrap_or_else(|| "—".into()),
                p.diagnostics
                    .as_ref()
                    .and_then(|d| d.fluctuation_ratio)
                    .map(|v| format!("{v:.3}"))
                    .unwrap_or_else(|| "—".into()),
                match p.quadratic_control.as_ref() {
                    Some(c) => match (c.ratio, c.ratio_upper_bound) {
                        (Some(r), _) => format!("{:.3} ({:.3}…{:.3})", r[0], r[1], r[2]),
                        (None, Some(u)) => format!("≤ {u:.3e} (control: no exit)"),
                        _ => "—".into(),
                    },
                    None => "—".into(),
                },
            ]
        })
        .collect();
    s.push_str(&table(
        &[
            "method",
            r.vary.name(),
            "B/η",
            "λ_max",
            "E[ν] (95% CI)",
            "censored",
            "V0 inv-sqrt",
            "V0 inverse",
            "V0 discrete",
            "(L−L*)/ΔL exit",
            "fluct. ratio",
            "E[ν]/E[ν]quad",
        ],
        &rows,
    ));
    s.push_str("(L−L*)/ΔL exit: median true loss at the exit points over the barrier; fluct. ratio: max ε²qᵀΣq/w² over H*'s eigen-directions (≥ 0.25: exits are not rare); E[ν]/E[ν]quad: against the quadratic-model control (--quadratic-control)\n\n");
    let rows: Vec<Vec<String>> = r
        .fits
        .iter()
        .map(|f| {
            let pred = |w: quasipot::problem::Weight| {
                predicted_cell(f.predicted.iter().find(|p| p.weight == w))
            };
            vec![
                f.method.name().into(),
                format!("ln E[ν] vs {}", f.against),
                f.fit
                    .as_ref()
                    .map(|l| {
                        format!(
                            "{:.4} ({:.4}…{:.4})",
                            l.slope, l.slope_ci95[0], l.slope_ci95[1]
                        )
                    })
                    .unwrap_or_else(|| "—".into()),
                pred(quasipot::problem::Weight::InverseSqrt),
                pred(quasipot::problem::Weight::Inverse),
                f.discrete
                    .as_ref()
                    .map(|p| {
                        format!(
                            "{:.4}{}",
                            p.slope,
                            if p.inside_ci { " (in CI)" } else { "" }
                        )
                    })
                    .unwrap_or_else(|| "—".into()),
                control_cell(f.quadratic_control.as_ref()),
                f.verdict.clone(),
            ]
        })
        .collect();
    let mut header = vec![
        "method",
        "fit",
        "slope (95% CI)",
        "pred. inv-sqrt [band] flux",
        "pred. inverse [band] flux",
        "pred. discrete eq.(2)",
        "quadratic control (95% CI) / inverse flux",
        "verdict",
    ];
    let mut rows = rows;
    if r.fits.iter().all(|f| f.quadratic_control.is_none()) {
        header.remove(6);
        for row in &mut rows {
            row.remove(6);
        }
    }
    s.push_str(&table(&header, &rows));
    for n in &r.notes {
        s.push_str(&format!("note: {n}\n"));
    }
    s.push_str(&format!("wall time {:.1} s\n", r.wall_seconds));
    s
}

/// The quadratic-model control's slope beside the inverse weight's flux slope (its exact
/// finite-ε prediction), and whether they agree.
fn control_cell(c: Option<&quasipot::analysis::scaling::ControlFit>) -> String {
    let Some(c) = c else { return "—".into() };
    let fit = format!(
        "{:.4} ({:.4}…{:.4})",
        c.fit.slope, c.fit.slope_ci95[0], c.fit.slope_ci95[1]
    );
    match (c.inverse.flux, c.inverse.flux_agrees) {
        (Some([f, se]), Some(agrees)) => format!(
            "{fit} / {f:.4} ± {:.4}{}",
            1.96 * se,
            if agrees { " (agree)" } else { " (differ)" }
        ),
        _ => fit,
    }
}

/// `quasipot scaling`.
pub fn run(args: &ScalingArgs, g: &Global, out: &Output) -> Result<i32> {
    if g.weight.is_some() {
        return Err(anyhow!(quasipot::Error::invalid(
            "--weight",
            "scaling reports both weights' predictions side by side; drop --weight"
        )));
    }
    let methods = args
        .methods
        .as_ref()
        .map(|v| v.iter().map(|m| Method::parse(m.trim())).collect())
        .transpose()?;
    let config = ScalingConfig {
        vary: Vary::parse(&args.vary)?,
        values: args.values.clone(),
        eta: args.eta,
        batch: args.batch,
        delta_l: args.delta_l,
        runs: args.runs,
        max_steps: args.max_steps,
        seed: g.seed,
        methods,
        noise: args.noise.clone(),
        proximal_scale: args.proximal_scale,
        covariance_floor: args.covariance_floor,
        common_random_numbers: args.common_random_numbers,
        quadratic_control: args.quadratic_control,
        shard: super::exit::shard_of(args.shard.as_deref(), out)?,
    };
    let target = target(args, g)?;
    let bar = if out.quiet || out.json {
        indicatif::ProgressBar::hidden()
    } else {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} scaling [{bar:30}] {pos}/{len} ensembles, {elapsed}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        b
    };
    let report = scaling(&target, &config, &|done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    finish(&report, &args.problem, out)?;
    Ok(0)
}

/// Print a sweep (a run, a shard or a merge of shards) and write its files.
pub fn finish(report: &ScalingReport, problem: &str, out: &Output) -> Result<()> {
    let mut files = Vec::new();
    if let Some(dir) = out.dir()? {
        files = write_files(report, dir)?;
    }
    let js = json!({"problem": problem, "scaling": report, "files": files});
    out.finish(&human(report), &js)
}

/// `quasipot merge PROBLEM DIR..` for the shards of a sweep.
pub fn run_merge(
    problem: &str,
    dirs: &[std::path::PathBuf],
    g: &Global,
    out: &Output,
) -> Result<i32> {
    use quasipot::analysis::scaling::merge::{merge, read_part};
    let parts = dirs
        .iter()
        .map(|d| read_part(d))
        .collect::<quasipot::Result<Vec<_>>>()?;
    let mlp = parts
        .iter()
        .find_map(|p| p.record.as_ref())
        .and_then(|r| r.mlp.clone());
    let target = match (problem == "mlp", mlp) {
        (true, Some(mc)) => Target::Mlp(mc),
        (true, None) => {
            return Err(anyhow!(quasipot::Error::invalid(
                "merge",
                "these shards are not of an mlp sweep"
            )))
        }
        _ => Target::load(problem, build_options(g)?)?,
    };
    let report = merge(&target, &parts, dirs, problem, &super::model_flags(g))?;
    finish(&report, problem, out)?;
    Ok(0)
}
