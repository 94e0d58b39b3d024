//! The command line: clap argument structs and one handler per subcommand.
//!
//! Doc comments here are `--help` text, so E[τ] is written plainly (not escaped for rustdoc).
#![allow(rustdoc::broken_intra_doc_links)]

pub mod exit;
pub mod exit_ams;
pub mod field;
pub mod lemma4;
pub mod mfpt;
pub mod output;
pub mod path;
pub mod prefactor;
pub mod problems;
pub mod scaling;
pub mod slurm;
pub mod v0;
pub mod validate;

use anyhow::{anyhow, Result};
use clap::{Parser, Subcommand, ValueEnum};
use output::Output;
use quasipot::problem::{BuildOptions, Problem, Weight};
use std::path::PathBuf;

/// quasipot — how hard is it for noisy gradient descent to leave a minimum?
///
/// Computes the Freidlin–Wentzell quasi-potential barrier V0 of dθ = b dt + ε a^{1/2} dW four
/// independent ways (exact formulas, minimum action, grid Hamilton–Jacobi solver, Monte Carlo
/// exit times) and checks that they agree. PROBLEM is a built-in name (see `quasipot problems`)
/// or a TOML problem file (see examples/problems/).
#[derive(Debug, Parser)]
#[command(name = "quasipot", version, about, long_about = None, after_help = "Examples:\n  quasipot problems\n  quasipot validate quadratic-2d\n  quasipot v0 quadratic-anisotropic-3d --method exact --json\n  quasipot v0 --hessian H.npy --depth 0.5")]
pub struct Cli {
    /// Flags shared by every subcommand.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand accepts.
#[derive(Debug, clap::Args, Clone)]
pub struct Global {
    /// Print one JSON object instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// Write result.json and the command's arrays (.npy, .csv) and figures (.png, .svg) here.
    #[arg(long, global = true, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Worker threads for parallel engines (default: all cores). Results do not depend on it.
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<usize>,
    /// Random seed (Monte Carlo, random starts).
    #[arg(long, global = true, default_value_t = 1)]
    pub seed: u64,
    /// Action weight: inverse-sqrt (M = C^-1/2, the paper's Definition 4) or inverse (M = C^-1,
    /// Gaussian SGD); overrides the problem file.
    #[arg(long, global = true, value_enum)]
    pub weight: Option<WeightArg>,
    /// Override a problem parameter, e.g. --param beta=5 (repeatable).
    #[arg(long = "param", global = true, value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Move θ* to the nearby stationary point by Newton steps if it is only approximately one.
    #[arg(long, global = true)]
    pub refine_minimum: bool,
    /// No progress bars.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

/// `--weight` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum WeightArg {
    /// M = C^{-1/2}, a = C^{1/2} (the paper's Definition 4).
    InverseSqrt,
    /// M = C^{-1}, a = C (eq. 3, Gaussian SGD).
    Inverse,
}

impl From<WeightArg> for Weight {
    fn from(w: WeightArg) -> Self {
        match w {
            WeightArg::InverseSqrt => Weight::InverseSqrt,
            WeightArg::Inverse => Weight::Inverse,
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the built-in problems.
    #[command(
        allow_negative_numbers = true,
        after_help = "Example:\n  quasipot problems --json"
    )]
    Problems,
    /// V0, the quasi-potential barrier, by one method or all.
    #[command(
        allow_negative_numbers = true,
        after_help = "Examples:\n  quasipot v0 quadratic-2d\n  quasipot v0 quadratic-anisotropic-3d --method exact --weight inverse --json\n  quasipot v0 --hessian H.npy --depth 0.5          # V0 of a quadratic minimum with C = H*\n  quasipot v0 --hessian H.npy --noise C.npy --depth 0.5"
    )]
    V0(v0::V0Args),
    /// The optimal escape path by the geometric minimum action method: to ∂D (every exit channel)
    /// or to a point, and the finite-time action min S_T.
    #[command(
        allow_negative_numbers = true,
        after_help = "Examples:\n  quasipot path maier-stein --out path/\n  quasipot path maier-stein --to 0,0 --param beta=5\n  quasipot path quadratic-anisotropic-3d --time 0.5,1,2,4,8"
    )]
    Path(path::PathArgs),
    /// V on a 2-D grid by the ordered line integral method (OLIM), V0 on ∂D, and errors against
    /// the exact V where known.
    #[command(
        allow_negative_numbers = true,
        after_help = "Examples:\n  quasipot field rotational-double-well --grid 1025 --out field/\n  quasipot field maier-stein --grid 257 --json\n  quasipot field rotational-linear --grid 513 --k 16 --box -1,1,-1,1\n  quasipot field manufactured-anisotropic --interpolation linear   # the published OLIM-MID\n  quasipot field rotational-linear --grid 1025 --box -1,1,-1,1 --thorough"
    )]
    Field(field::FieldArgs),
    /// Monte Carlo exit times of the SDE at one or more noise levels, or of Gaussian SGD itself
    /// with --lr/--batch (eq. 2: a = C whatever the weight, both weights' predictions beside it),
    /// V0 from the Arrhenius fit of ln E[τ] against 1/ε², and exit diagnostics (loss at exit,
    /// energy shares, exit channels, whether the exits are large-deviation events).
    #[command(
        allow_negative_numbers = true,
        after_help = "Examples:\n  quasipot exit double-well-1d --eps 0.5,0.4,0.35 --runs 2000\n  quasipot exit quadratic-2d --weight inverse --eps 0.5,0.45,0.4 --boundary-correction --out runs/q2d\n  quasipot exit quadratic-2d --lr 0.2 --batch 3,4,5 --runs 400       # Gaussian SGD itself (eq. 2, a = C), ε² = η/B, both weights' predictions\n  quasipot exit quadratic-2d --eps 0.5 --runs 100000 --shard 0/4 --out shard0   # then: quasipot merge quadratic-2d shard0 shard1 ..\n  quasipot exit double-well-1d --eps 0.15,0.125 --method ams --boundary-correction   # rare exits by splitting\n  quasipot exit double-well-1d --eps 0.15 --method ams --repetitions 12 --shard 0/3 --out ams0   # AMS repetitions 0..4, merged likewise\n\nCtrl-C (or SIGTERM, as Slurm sends at a time limit) stops cleanly, writes the partial results and exits with code 3 (interrupted; 0 = completed, 2 = bad input); --resume continues a run in --out, appending to its trajectories.csv after cutting off a row torn by a kill."
    )]
    Exit(exit::ExitArgs),
    /// Combine `exit --shard k/n` output directories (Monte Carlo trajectories, or AMS
    /// repetitions with --method ams) or `scaling --shard k/n` ones (sweep points) into the
    /// result a single run gives.
    #[command(
        allow_negative_numbers = true,
        after_help = "Examples:\n  quasipot merge quadratic-2d shard0 shard1 shard2 shard3 --out merged\n  quasipot merge double-well-1d ams0 ams1 ams2 --json   # shards of exit --method ams --shard k/3 --out amsK"
    )]
    Merge(exit::MergeArgs),
    /// Lemma 4 checked for both weights (p = ½ inverse-sqrt, p = 1 inverse; --weight picks one):
    /// the gap |V0 − λ_max^{-p}V̂0|, the statement's and the proof's factors and the A each
    /// implies, the rigorous sandwich λ_max^{-p}V̂0 ≤ V0 ≤ λ_min^{-p}V̂0, the proof's A(δ) =
    /// T(δ)(K+M)²/2 on the gMAM paths (it diverges as δ → 0), and a verdict per row.
    #[command(
        allow_negative_numbers = true,
        after_help = "Examples:\n  quasipot lemma4 quadratic-2d\n  quasipot lemma4 quadratic-anisotropic-3d --kappa 1,2,4,8,16 --out lemma4/\n  quasipot lemma4 quadratic-anisotropic-3d --kappa 1 --lambda-min 0.25   # H = C = 0.25·I: the printed lemma fails for --weight inverse\n  quasipot lemma4 examples/problems/quadratic-ball-3d.toml --weight inverse --delta 1e-1,1e-2,1e-3 --json\n  quasipot lemma4 my-loss.toml --noise hessian --kappa 1,4,16        # formula loss, state-dependent C through gMAM"
    )]
    Lemma4(lemma4::Lemma4Args),
    /// Predicted mean exit time E[τ] ≈ A·ε^κ·e^{V0/ε²} with the prefactor A and power κ
    /// computed (Eyring–Kramers / Bouchet–Reygner over a saddle, the boundary flux through a
    /// non-characteristic ∂D, or the discrete chain of Gaussian SGD with --lr).
    #[command(
        allow_negative_numbers = true,
        after_help = "Examples:\n  quasipot prefactor double-well-1d --eps 0.3,0.2,0.1\n  quasipot prefactor maier-stein --param beta=3\n  quasipot prefactor quadratic-2d --lr 0.05 --json"
    )]
    Prefactor(prefactor::PrefactorArgs),
    /// Every applicable engine side by side, with a verdict on their agreement.
    #[command(
        allow_negative_numbers = true,
        after_help = "Example:\n  quasipot validate quadratic-2d --out results/"
    )]
    Validate(validate::ValidateArgs),
    /// Exit-rate scaling (the paper's Figures 5–7): E[ν] of Gaussian SGD, the proximal system and
    /// minibatch SGD over sharpness, learning rate, batch size or depth, with fitted slopes of
    /// ln E[ν] beside both weights' predictions.
    #[command(
        allow_negative_numbers = true,
        after_help = "Examples:\n  quasipot scaling mlp --vary lr --out scaling/\n  quasipot scaling mlp --vary sharpness --values 0.8,0.9,1,1.15,1.3 --runs 50\n  quasipot scaling quadratic-2d --vary batch --json\n  quasipot scaling quadratic-2d --vary lr --shard 0/2 --out s0   # points 0..5 of 10; then: quasipot merge quadratic-2d s0 s1\n  quasipot slurm --shards 10 --out runs/sweep -- scaling mlp --vary batch --runs 400   # one array task per point"
    )]
    Scaling(scaling::ScalingArgs),
    /// Mean exit times E[τ] at any ε from the backward Kolmogorov equation 𝓛T = −1 on a grid
    /// (d = 1, 2): a monotone exponentially fitted scheme, a two-grid error estimate, and the
    /// principal eigenvalue λ₁ (E[τ] ≈ 1/λ₁).
    #[command(
        allow_negative_numbers = true,
        after_help = "Examples:\n  quasipot mfpt double-well-1d --eps 0.5,0.4,0.3 --grid 4097\n  quasipot mfpt maier-stein --param beta=3 --eps 0.5,0.4 --out mfpt/\n  quasipot mfpt quadratic-2d --weight inverse --eps 0.3 --grid 1025 --json\n  quasipot mfpt rotational-double-well --eps 0.5 --box -2.5,0,-1.5,1.5"
    )]
    Mfpt(mfpt::MfptArgs),
    /// A sharded run as a Slurm job array: writes DIR/array.sbatch (task K runs `--shard K/n`
    /// into DIR/shard-K, resuming when resubmitted), DIR/merge.sbatch (`quasipot merge` into
    /// DIR/merged) and DIR/submit.sh, which queues the merge with --dependency=afterok on the
    /// array. The merged result is bit-identical to the unsharded run.
    #[command(
        allow_negative_numbers = true,
        after_help = "Examples:\n  quasipot slurm --shards 16 --time 2:00:00 --out runs/dw -- exit double-well-1d --eps 0.3,0.25 --runs 100000 --seed 7\n  runs/dw/submit.sh                                   # array job + merge job; result in runs/dw/merged/\n  sbatch --array=5 runs/dw/array.sbatch               # re-run (or resume) shard 5 alone\n  quasipot slurm --shards 4 --submit --wait --json --out runs/q -- exit quadratic-2d --eps 0.5 --runs 4000\n\nIn a hand-written array script, `quasipot exit .. --shard auto` takes k/n from SLURM_ARRAY_TASK_ID, _MIN, _MAX, _STEP and _COUNT (--array=0-3 and --array=1-4 both give 0/4..3/4)."
    )]
    Slurm(slurm::SlurmArgs),
}

/// Global flags a subcommand does not read: hidden from its `--help` and refused when given,
/// so that `problems --seed 3` or `field --seed 3` cannot look as if it changed something.
const IGNORED_GLOBALS: &[(&str, &[&str])] = &[
    (
        "problems",
        &["seed", "weight", "params", "refine_minimum", "threads"],
    ),
    ("v0", &["seed"]),
    ("field", &["seed"]),
    ("prefactor", &["seed"]),
    ("mfpt", &["seed"]),
];

/// The long flag of a global argument id.
fn long_flag(id: &str) -> &'static str {
    match id {
        "seed" => "seed",
        "weight" => "weight",
        "params" => "param",
        "refine_minimum" => "refine-minimum",
        "threads" => "threads",
        _ => unreachable!("IGNORED_GLOBALS names only these"),
    }
}

/// The clap command with each subcommand's ignored global flags hidden from its help.
pub fn command() -> clap::Command {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    for (sub, ids) in IGNORED_GLOBALS {
        cmd = cmd.mut_subcommand(sub, |mut c| {
            // A subcommand's own argument of the same id stops the global's propagation; this
            // one only parses (and is refused by `refuse_ignored_globals`).
            for id in *ids {
                let arg = clap::Arg::new(*id).long(long_flag(id)).hide(true);
                c = c.arg(if *id == "refine_minimum" {
                    arg.action(clap::ArgAction::SetTrue)
                } else {
                    arg.action(clap::ArgAction::Append)
                        .allow_negative_numbers(true)
                });
            }
            c
        });
    }
    cmd
}

/// Error (bad input) when the command line gives a global flag its subcommand does not read.
pub fn refuse_ignored_globals(matches: &clap::ArgMatches) -> Result<()> {
    let Some((sub, sub_matches)) = matches.subcommand() else {
        return Ok(());
    };
    let Some((_, ids)) = IGNORED_GLOBALS.iter().find(|(name, _)| *name == sub) else {
        return Ok(());
    };
    let given = |m: &clap::ArgMatches, id: &str| {
        matches!(
            m.value_source(id),
            Some(clap::parser::ValueSource::CommandLine)
        )
    };
    if let Some(id) = ids
        .iter()
        .find(|id| given(matches, id) || given(sub_matches, id))
    {
        let flag = format!("--{}", long_flag(id));
        return Err(anyhow!(quasipot::Error::invalid(
            &flag,
            format!("`quasipot {sub}` does not use {flag}; leave it out")
        )));
    }
    Ok(())
}

/// Build options from the global flags.
pub fn build_options(g: &Global) -> Result<BuildOptions> {
    let mut parameters = Vec::new();
    for p in &g.params {
        let (k, v) = p.split_once('=').ok_or_else(|| {
            anyhow!(quasipot::Error::invalid(
                "--param",
                format!("expected NAME=VALUE, got \"{p}\"")
            ))
        })?;
        let v: f64 = v.trim().parse().map_err(|_| {
            anyhow!(quasipot::Error::invalid(
                "--param",
                format!("\"{v}\" is not a number (in \"{p}\")")
            ))
        })?;
        parameters.push((k.trim().to_string(), v));
    }
    Ok(BuildOptions {
        weight: g.weight.map(Into::into),
        noise_source: None,
        parameters,
        refine_minimum: g.refine_minimum,
    })
}

/// The global flags that choose the model besides PROBLEM (`--weight`, `--param`,
/// `--refine-minimum`), as a command line would repeat them.
pub fn model_flags(g: &Global) -> Vec<String> {
    let mut f = Vec::new();
    if let Some(w) = g.weight {
        f.push("--weight".into());
        f.push(
            w.to_possible_value()
                .map_or_else(String::new, |v| v.get_name().to_string()),
        );
    }
    for p in &g.params {
        f.push("--param".into());
        f.push(p.clone());
    }
    if g.refine_minimum {
        f.push("--refine-minimum".into());
    }
    f
}

/// Load PROBLEM with the global options.
pub fn load_problem(name: &str, g: &Global) -> Result<Problem> {
    Ok(Problem::load(name, &build_options(g)?)?)
}

/// Run a parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> Result<i32> {
    if let Some(n) = cli.global.threads {
        if n == 0 {
            return Err(anyhow!(quasipot::Error::invalid(
                "--threads",
                "must be at least 1"
            )));
        }
        // More workers than cores only adds contention (results do not depend on the count).
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
        let n = if n > cores {
            if !cli.global.quiet && !cli.global.json {
                eprintln!("note  --threads {n} is more than the {cores} cores: using {cores} (results do not depend on the thread count)");
            }
            cores
        } else {
            n
        };
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .ok();
    }
    let out = Output {
        json: cli.global.json,
        out: cli.global.out.clone(),
        quiet: cli.global.quiet,
    };
    match &cli.command {
        Command::Problems => problems::run(&out),
        Command::V0(a) => v0::run(a, &cli.global, &out),
        Command::Validate(a) => validate::run(a, &cli.global, &out),
        Command::Lemma4(a) => lemma4::run(a, &cli.global, &out),
        Command::Exit(a) => exit::run(a, &cli.global, &out),
        Command::Field(a) => field::run(a, &cli.global, &out),
        Command::Path(a) => path::run(a, &cli.global, &out),
        Command::Merge(a) => exit::run_merge(a, &cli.global, &out),
        Command::Scaling(a) => scaling::run(a, &cli.global, &out),
        Command::Prefactor(a) => prefactor::run(a, &cli.global, &out),
        Command::Mfpt(a) => mfpt::run(a, &cli.global, &out),
        Command::Slurm(a) => slurm::run(a, &cli.global, &out),
    }
}

/// A computed "no" (exit code 1), e.g. engines that disagree under `--strict`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ComputedNo(pub String);

/// Exit code of a run stopped early by Ctrl-C (SIGINT, or SIGTERM/SIGHUP; termination `interrupted`): its partial
/// results are written, and `--resume` completes it. Distinct from 0 so that scripts can tell.
pub const EXIT_INTERRUPTED: i32 = 3;

/// The error and its causes joined by ": ", leaving out a cause whose text the message before
/// it already contains (errors that print their source would otherwise say it twice).
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.is_empty() {
            text = part;
        } else if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
    }
    text
}

/// Exit code for an error: 1 for a computed "no", 2 for bad input or anything else.
pub fn exit_code(e: &anyhow::Error) -> i32 {
    if e.downcast_ref::<ComputedNo>().is_some() {
        1
    } else {
        2
    }
}
