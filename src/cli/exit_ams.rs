//! `quasipot exit --method ams`: rare exits by adaptive multilevel splitting
//! ([`quasipot::sde::ams`]).

use super::exit::ExitArgs;
use super::output::{table, Output};
use super::{load_problem, Global};
use anyhow::{anyhow, Result};
use indicatif::{ProgressBar, ProgressStyle};
use quasipot::sde::ams::{self, Coordinate, Report};
use quasipot::sde::{ExitDetection, Hooks};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The AMS flags of `quasipot exit` (used with `--method ams`).
#[derive(Debug, clap::Args)]
pub struct AmsArgs {
    /// AMS: replicas N (≥ 2).
    #[arg(long, default_value_t = 100)]
    pub replicas: usize,
    /// AMS: replicas killed per level k (1 ≤ k < N; ties at the level are killed too).
    #[arg(long, default_value_t = 1)]
    pub kill: usize,
    /// AMS: independent repetitions M (the 95 % CI comes from their spread when M ≥ 2).
    #[arg(long, default_value_t = 10)]
    pub repetitions: usize,
    /// AMS: reaction coordinate ξ: `level` (the domain's level function, any problem),
    /// `exact` (V/V₀, linear-Gaussian or a problem file's reference V), `olim` (grid V, d = 2).
    #[arg(long, default_value = "level")]
    pub coordinate: String,
    /// AMS: A = {ξ < z_A} (ξ normalised to 0 at θ*, 1 on ∂D); default the 0.9-quantile of ξ
    /// under the local Gaussian at θ*.
    #[arg(long, value_name = "Z")]
    pub z_a: Option<f64>,
    /// AMS: loops sampled by ordinary runs per repetition (for E[T_loop]).
    #[arg(long, default_value_t = 1000)]
    pub loops: usize,
    /// AMS: iteration cap per repetition (a repetition reaching it is reported as censored).
    #[arg(long, default_value_t = 10_000_000)]
    pub max_iterations: u64,
}

fn human(r: &Report) -> String {
    let rows: Vec<Vec<String>> = r
        .levels
        .iter()
        .map(|l| {
            vec![
                format!("{:.5}", l.eps),
                format!("{:.4}", l.z_a),
                format!("{:.4e}", l.probability),
                format!(
                    "[{:.3e}, {:.3e}]",
                    l.probability_ci95.0, l.probability_ci95.1
                ),
                l.mean_exit_time
                    .map(|m| format!("{m:.5e}"))
                    .unwrap_or_else(|| "—".into()),
                l.ci95
                    .map(|c| format!("[{:.4e}, {:.4e}]", c.0, c.1))
                    .unwrap_or_else(|| "—".into()),
                format!("{:.3e}", l.steps as f64),
                format!("{}", l.iterations),
                format!("{}", l.censored),
            ]
        })
        .collect();
    let c = &r.config;
    let mut h = format!(
        "problem  {} (d = {}, weight {}, domain {}), AMS N = {}, k = {}, M = {}, ξ = {}, h = {}, exit detection {:?}\n\n",
        r.problem,
        r.dim,
        r.weight,
        r.domain,
        c.replicas,
        c.kill,
        c.repetitions,
        r.coordinate.name(),
        c.dt,
        c.detection
    );
    if let Some(s) = c.shard {
        let r = s.range(c.repetitions as u64);
        h.push_str(&format!(
            "shard    {}/{}: repetitions {}..{} of M = {} (the figures below are this shard's alone; `quasipot merge` combines the shards into the whole run)\n\n",
            s.index,
            s.count,
            r.start,
            r.end,
            c.repetitions
        ));
    }
    h.push_str(&table(
        &[
            "ε",
            "z_A",
            "p",
            "95% CI",
            "E[τ]",
            "95% CI",
            "steps",
            "iterations",
            "censored",
        ],
        &rows,
    ));
    for w in &r.warnings {
        h.push_str(&format!("warning  {w}\n"));
    }
    h.push_str(&format!(
        "{} steps in {:.2} s ({:.3e} steps/s)\n",
        r.timing.steps, r.timing.wall_s, r.timing.steps_per_s
    ));
    h
}

/// Print and write an AMS report (a run, a shard or a merge of shards).
pub fn finish(report: &Report, out: &Output) -> Result<()> {
    out.finish(&human(report), &serde_json::to_value(report)?)
}

/// `quasipot exit --method ams`.
pub fn run(args: &ExitArgs, g: &Global, out: &Output) -> Result<i32> {
    for (given, flag) in [(args.lr.is_some(), "--lr"), (args.resume, "--resume")] {
        if given {
            return Err(anyhow!(quasipot::Error::invalid(
                flag,
                "applies to --method direct only"
            )));
        }
    }
    let problem = load_problem(&args.problem, g)?;
    let a = &args.ams;
    let c = ams::Config {
        eps: args.eps.clone(),
        dt: args.dt,
        replicas: a.replicas,
        kill: a.kill,
        repetitions: a.repetitions,
        coordinate: Coordinate::parse(&a.coordinate)?,
        z_a: a.z_a,
        loops: a.loops,
        seed: g.seed,
        detection: if args.boundary_correction {
            ExitDetection::BoundaryCorrected
        } else {
            ExitDetection::Discrete
        },
        max_iterations: a.max_iterations,
        max_steps: args.max_steps,
        shard: super::exit::shard_of(args.shard.as_deref(), out)?,
        ..ams::Config::default()
    };
    c.validate()?;
    let cancel = Arc::new(AtomicBool::new(false));
    let cc = cancel.clone();
    let _ = ctrlc::set_handler(move || cc.store(true, Ordering::SeqCst));
    let mut hooks = Hooks {
        cancel: Some(cancel.clone()),
        progress: None,
    };
    let bar = (!out.quiet && !out.json).then(|| {
        let mine = c.shard.map_or(c.repetitions as u64, |s| {
            s.range(c.repetitions as u64).count() as u64
        });
        let bar = ProgressBar::new(mine * c.eps.len() as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} AMS [{bar:30}] {pos}/{len} repetitions (all ε), ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });
    if let Some(b) = &bar {
        let b = b.clone();
        hooks.progress = Some(Arc::new(move |_p: &quasipot::sde::Progress| b.inc(1)));
    }
    let report = ams::run_with(&problem, &c, &hooks)?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    finish(&report, out)?;
    // Ctrl-C: the repetitions that ran are reported (censored ones flagged); exit code 3 as for
    // direct runs, so that scripts can tell.
    Ok(if cancel.load(Ordering::SeqCst) {
        super::EXIT_INTERRUPTED
    } else {
        0
    })
}
