//! Monte Carlo engine: exit times of dθ = b(θ) dt + ε a(θ)^{1/2} dW from D, started at θ*.
//!
//! Each noise level ε runs R independent Euler–Maruyama trajectories ([`kernel`]) in parallel
//! (rayon), each with its own random stream derived from (seed, level, index) ([`rng`]), so the
//! result is bit-identical for any thread count, shard split or resume. Exit is monitored
//! discretely or with the Gobet–Menozzi boundary correction. A step budget ends a trajectory as
//! *censored*; censored trajectories enter the statistics as survival data
//! ([`crate::analysis::stats`]), never silently dropped. Over several ε, the Arrhenius fit of
//! ln E\[τ\] against 1/ε² estimates V₀ (slope) and the prefactor ([`crate::analysis::arrhenius`]).
//!
//! **SGD.** Discrete Gaussian SGD θ_{k+1} = θ_k − η∇L + √(η/B)·√η C^{1/2} ξ is exactly this
//! scheme with h = η and ε² = η/B ([`Config::set_sgd`]); exit times are reported in iterations
//! (steps) and in time units (ν = η·steps).
//!
//! **Long runs.** With [`Config::out`] set, each finished trajectory is appended to
//! `OUT/trajectories.csv` (flushed at least every half second) next to a manifest `OUT/run.json`;
//! [`Config::resume`] re-reads them and runs only what is missing, with the same streams, and
//! refuses a directory written for another problem, seed, ε, h, budget or detection mode.
//! [`Hooks::cancel`] (set by a Ctrl-C handler) stops the run: finished trajectories are kept,
//! trajectories in flight are recorded as censored at the time reached (`interrupted`, re-run on
//! resume), and the report's termination says so. [`Config::shard`] `k/n` runs the k-th of n
//! disjoint index ranges; [`merge_dirs`] / [`merge_reports`] combine shards into exactly the
//! report a single run gives.
//!
//! ```
//! use quasipot::problem::{BuildOptions, Problem};
//! use quasipot::sde::{run, Config};
//! let p = Problem::load("double-well-1d", &BuildOptions::default()).unwrap();
//! let c = Config { eps: vec![0.8], runs: 200, dt: 1e-2, ..Config::default() };
//! let r = run(&p, &c).unwrap();
//! let s = &r.levels[0].stats;
//! assert_eq!(s.n, 200);
//! assert!(s.mean.unwrap() > 1.0); // E\[τ\] ≈ 5.6 at ε = 0.8
//! ```

pub mod ams;
mod divergence;
pub mod ensemble;
pub mod kernel;
pub mod merge;
pub mod output;
pub mod region;
pub mod rng;
pub mod stream;

pub use ensemble::{run, run_with};
pub use kernel::{ExitDetection, Status, Trajectory, GOBET_MENOZZI};
pub use merge::{merge_dirs, merge_dirs_with, merge_reports, RerunCommand};
pub use output::write_files;

use crate::analysis::{ArrheniusFit, ExitStatistics};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// The SGD parametrisation: h = η, ε² = η/B for each batch size B.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SgdParams {
    /// Learning rate η.
    pub lr: f64,
    /// Batch sizes B, one per noise level.
    pub batch: Vec<f64>,
}

/// The k-th (0-based) of n disjoint trajectory-index ranges: indices ⌊kR/n⌋ .. ⌊(k+1)R/n⌋.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// k, 0 ≤ k < n.
    pub index: u64,
    /// n ≥ 1.
    pub count: u64,
}

impl Shard {
    /// Parse `k/n` (0 ≤ k < n), as given to `--shard`.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(
                "--shard",
                format!("expected k/n with 0 ≤ k < n (e.g. 0/4), got \"{s}\""),
            )
        };
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u64 = k.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
    /// The trajectory indices of this shard among `runs`.
    pub fn range(&self, runs: u64) -> std::ops::Range<u64> {
        let at = |k: u64| ((k as u128 * runs as u128) / self.count as u128) as u64;
        at(self.index)..at(self.index + 1)
    }
}

/// Validated settings of a Monte Carlo run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Noise levels ε (`--eps E1,E2,..`); default [0.5].
    pub eps: Vec<f64>,
    /// Time step h (`--dt`); default 1e-3.
    pub dt: f64,
    /// Trajectories per noise level R (`--runs`); default 1000.
    pub runs: u64,
    /// Step budget per trajectory (`--max-steps`); default 10⁸.
    pub max_steps: u64,
    /// Seed (`--seed`); default 0.
    pub seed: u64,
    /// Exit detection (`--boundary-correction`); default discrete.
    pub detection: ExitDetection,
    /// The SGD parametrisation, when given as `--lr` / `--batch` (then `dt` = η and
    /// `eps[i]` = √(η/Bᵢ)).
    pub sgd: Option<SgdParams>,
    /// Run only shard k of n (`--shard k/n`).
    pub shard: Option<Shard>,
    /// Bootstrap resamples for the percentile CI (0 disables); default 1000.
    pub bootstrap: usize,
    /// Histogram bins; default 40.
    pub bins: usize,
    /// κ in E\[τ\] ≈ A εᵏ e^{V₀/ε²} for the Arrhenius fit; default 0 (pure Arrhenius, right for
    /// exit over a saddle). Use 1 for non-characteristic boundaries (level sets, balls) with a
    /// single non-degenerate exit point; see [`crate::analysis::arrhenius`].
    #[serde(default)]
    pub prefactor_exponent: f64,
    /// V₀ to compare the Arrhenius slope with; default: the exact engine's V₀ when it applies,
    /// else the problem file's `[reference] v0`.
    pub predicted_v0: Option<f64>,
    /// Stream finished trajectories to this directory (`--out`).
    #[serde(skip)]
    pub out: Option<PathBuf>,
    /// Continue the run streamed in `out` (`--resume`).
    #[serde(skip)]
    pub resume: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            eps: vec![0.5],
            dt: 1e-3,
            runs: 1000,
            max_steps: 100_000_000,
            seed: 0,
            detection: ExitDetection::Discrete,
            sgd: None,
            shard: None,
            bootstrap: 1000,
            bins: 40,
            prefactor_exponent: 0.0,
            predicted_v0: None,
            out: None,
            resume: false,
        }
    }
}

impl Config {
    /// Set the noise levels (each finite and > 0).
    pub fn set_eps(&mut self, eps: Vec<f64>) -> Result<&mut Self> {
        check_eps(&eps, "--eps")?;
        self.eps = eps;
        self.sgd = None;
        Ok(self)
    }
    /// Set the time step (finite and > 0).
    pub fn set_dt(&mut self, dt: f64) -> Result<&mut Self> {
        check_dt(dt, "--dt")?;
        self.dt = dt;
        Ok(self)
    }
    /// Set the number of trajectories per level (≥ 1).
    pub fn set_runs(&mut self, runs: u64) -> Result<&mut Self> {
        if runs == 0 {
            return Err(Error::invalid(
                "--runs",
                "need at least one trajectory (R ≥ 1)",
            ));
        }
        self.runs = runs;
        Ok(self)
    }
    /// The SGD parametrisation: h = η (`--lr`), εᵢ = √(η/Bᵢ) (`--batch`).
    pub fn set_sgd(&mut self, lr: f64, batch: Vec<f64>) -> Result<&mut Self> {
        check_dt(lr, "--lr")?;
        if batch.is_empty() || batch.iter().any(|b| !(b.is_finite() && *b > 0.0)) {
            return Err(Error::invalid(
                "--batch",
                format!("batch sizes must be finite and > 0, got {batch:?}"),
            ));
        }
        self.dt = lr;
        self.eps = batch.iter().map(|b| (lr / b).sqrt()).collect();
        self.sgd = Some(SgdParams { lr, batch });
        Ok(self)
    }
    /// Check everything (called by [`run`]).
    pub fn validate(&self) -> Result<()> {
        let (ef, hf) = if self.sgd.is_some() {
            ("--batch", "--lr")
        } else {
            ("--eps", "--dt")
        };
        check_eps(&self.eps, ef)?;
        check_dt(self.dt, hf)?;
        if self.runs == 0 {
            return Err(Error::invalid(
                "--runs",
                "need at least one trajectory (R ≥ 1)",
            ));
        }
        if self.max_steps == 0 {
            return Err(Error::invalid("--max-steps", "the step budget must be ≥ 1"));
        }
        if let Some(s) = &self.shard {
            if s.count == 0 || s.index >= s.count {
                return Err(Error::invalid("--shard", "need 0 ≤ k < n"));
            }
        }
        if let Some(sgd) = &self.sgd {
            if sgd.batch.len() != self.eps.len() {
                return Err(Error::invalid("--batch", "one batch size per noise level"));
            }
        }
        if self.resume && self.out.is_none() {
            return Err(Error::invalid(
                "--resume",
                "needs --out DIR (the run to continue)",
            ));
        }
        if !self.prefactor_exponent.is_finite() {
            return Err(Error::invalid(
                "--prefactor-exponent",
                "must be finite (0 over a saddle, 1 for a non-characteristic boundary)",
            ));
        }
        if let Some(v) = self.predicted_v0 {
            if !v.is_finite() {
                return Err(Error::invalid("predicted_v0", "must be finite"));
            }
        }
        Ok(())
    }
}

fn check_eps(eps: &[f64], field: &str) -> Result<()> {
    if eps.is_empty() {
        return Err(Error::invalid(field, "give at least one noise level"));
    }
    if let Some(e) = eps.iter().find(|e| !(e.is_finite() && **e > 0.0)) {
        return Err(Error::invalid(
            field,
            format!("noise levels must be finite and > 0 (ε > 0), got {e}"),
        ));
    }
    Ok(())
}

fn check_dt(dt: f64, field: &str) -> Result<()> {
    if !(dt.is_finite() && dt > 0.0) {
        return Err(Error::invalid(
            field,
            format!("the time step must be finite and > 0 (h > 0), got {dt}"),
        ));
    }
    Ok(())
}

/// Progress of a run, passed to [`Hooks::progress`] after each finished trajectory.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Noise level index.
    pub level: usize,
    /// Number of levels.
    pub levels: usize,
    /// ε of this level.
    pub eps: f64,
    /// Trajectories of this level finished (including resumed ones).
    pub done: u64,
    /// Of which censored by the step budget.
    pub censored: u64,
    /// Trajectories of this level in this run (shard).
    pub total: u64,
}

/// Callback type for progress reports (called from worker threads).
pub type ProgressFn = dyn Fn(&Progress) + Send + Sync;

/// Run-time hooks the CLI supplies: a cancellation flag (its Ctrl-C handler sets it) and a
/// progress callback (e.g. an indicatif bar; leave `None` to stay quiet).
#[derive(Clone, Default)]
pub struct Hooks {
    /// When set to true, running trajectories stop at their next check (every 16384 steps) and
    /// no new ones start.
    pub cancel: Option<Arc<AtomicBool>>,
    /// Called after each finished trajectory.
    pub progress: Option<Arc<ProgressFn>>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("cancel", &self.cancel)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// Why the run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Termination {
    /// Every trajectory exited or reached the step budget.
    Completed,
    /// Cancelled: trajectories in flight are counted as censored at the time reached, those
    /// not started are missing (`not_run`); `--resume` completes the run.
    Interrupted,
}

/// Results of one noise level.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LevelReport {
    /// ε.
    pub eps: f64,
    /// 1/ε² (= B/η for SGD).
    pub inv_eps2: f64,
    /// Batch size B (SGD parametrisation).
    pub batch: Option<f64>,
    /// Trajectories simulated (exited + censored + interrupted).
    pub runs: u64,
    /// Trajectories that left D.
    pub exited: u64,
    /// Trajectories that reached the step budget (τ > max_steps·h).
    pub censored: u64,
    /// Trajectories stopped by cancellation (censored at the time reached).
    pub interrupted: u64,
    /// Trajectories of the requested range not started (cancellation).
    pub not_run: u64,
    /// Exit-time statistics in time units (τ = steps·h).
    pub stats: ExitStatistics,
    /// The mean estimate in iterations (E\[τ\]/h; SGD steps).
    pub mean_iterations: Option<f64>,
    /// Its 95 % interval in iterations.
    pub ci95_iterations: Option<[f64; 2]>,
    /// Mean exit point of the exited trajectories.
    pub mean_exit_point: Option<Vec<f64>>,
}

/// A reference V₀ and where it comes from.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ReferenceV0 {
    /// V₀.
    pub v0: f64,
    /// `exact`, `problem file`, or `given`.
    pub source: String,
}

/// The stability of the drift step: Euler's method on b ≈ J(θ*)(θ−θ*) is stable for
/// |1 + hλ| < 1 for every eigenvalue λ of J(θ*), i.e. h < min_λ (−2 Re λ/|λ|²), which is
/// 2/ρ(J(θ*)) for a real spectrum.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Stiffness {
    /// ρ(J(θ*)).
    pub spectral_radius: f64,
    /// The bound on h.
    pub h_max: f64,
}

/// Wall-clock figures (excluded from determinism comparisons).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Timing {
    /// Seconds.
    pub wall_s: f64,
    /// Euler–Maruyama steps taken in this process.
    pub steps: u64,
    /// steps / wall_s.
    pub steps_per_s: f64,
}

/// The result of [`run`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// `euler-maruyama`.
    pub method: String,
    /// Problem name.
    pub problem: String,
    /// Fingerprint of the model (drift, noise, domain) at probe points.
    pub fingerprint: String,
    /// d.
    pub dim: usize,
    /// Action weight (decides a = C^{1/2} or a = C).
    pub weight: String,
    /// Noise source.
    pub noise_source: String,
    /// How σ = a^{1/2} is obtained.
    pub sigma: String,
    /// Domain kind.
    pub domain: String,
    /// The settings used.
    pub config: Config,
    /// h.
    pub dt: f64,
    /// Exit detection.
    pub detection: ExitDetection,
    /// One entry per noise level.
    pub levels: Vec<LevelReport>,
    /// ln E\[τ\] against 1/ε² (when ≥ 2 levels have a finite estimate).
    pub arrhenius: Option<ArrheniusFit>,
    /// The V₀ the slope is compared with.
    pub v0_reference: Option<ReferenceV0>,
    /// Whether `v0_reference` lies inside the slope's 95 % interval.
    pub v0_in_ci95: Option<bool>,
    /// Stability of the step.
    pub stiffness: Stiffness,
    /// Why the run ended.
    pub termination: Termination,
    /// Things the user should know.
    pub warnings: Vec<String>,
    /// Wall-clock figures.
    pub timing: Timing,
    /// Per level, the trajectories sorted by index (written as CSV/.npy by [`write_files`]).
    #[serde(skip)]
    pub trajectories: Vec<Vec<Trajectory>>,
    /// With [`Config::out`]: how many rows of `OUT/trajectories.csv` this report summarises. A
    /// `result.json` whose count differs from the rows now in the stream is stale; `--resume`
    /// and `merge` say so ([`stream::stale_results`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<stream::StreamInfo>,
}
