//! Adaptive multilevel splitting (AMS) for rare exits: p = P(reach ∂D before returning to A)
//! and the mean exit time E\[τ\] from θ*, for dθ = b dt + ε a^{1/2} dW with the Monte Carlo
//! engine's Euler–Maruyama step, normals and exit test (discrete or Gobet–Menozzi corrected).
//!
//! **Set-up.** A reaction coordinate ξ ([`Coordinate`]; ξ(θ*) = 0, ξ ≥ 1 on ∂D once
//! normalised) defines A = {ξ < z_A}, a small neighbourhood of θ*. The default z_A is the
//! 0.9-quantile of ξ under the local Gaussian N(θ*, ε²Σ) (Σ from the Lyapunov equation of the
//! linearisation), capped at 0.5: 1.28 local standard deviations for a linear ξ. Ordinary runs
//! from θ* ([`Config::chains`] chains, [`Config::loops`] loops in all per repetition) sample
//! the entrance points into ∂A (first steps with ξ ≥ z_A), the loop durations T_loop and the
//! first-entrance times T₀.
//!
//! **Algorithm** (generalised AMS of Bréhier, Gazeau, Goudenège, Lelièvre & Rousset, Ann. Appl.
//! Probab. 26 (2016); Cérou & Guyader, Stoch. Anal. Appl. 25 (2007)). N replicas start at
//! entrance points drawn uniformly from the sample and run until they return to A (ξ < z_A) or
//! leave D; a replica's score is the maximum of ξ along its path, +∞ if it left D (reactive).
//! Iteration j: the level Zⱼ is the k-th lowest score; if Zⱼ = +∞, stop. Every replica with
//! score ≤ Zⱼ is killed (ties included, so Kⱼ ≥ k); if all N would be, stop with p̂ = 0
//! (extinction). Each killed replica becomes a copy of a survivor chosen uniformly (with
//! replacement) up to that survivor's first step above Zⱼ, continued with fresh noise. Then
//!   p̂ = ∏ⱼ (1 − Kⱼ/N) · N_reactive/N,
//! the last factor being 1 for k = 1 and the fraction of reactive replicas when fewer than k
//! remain non-reactive; unbiased in discrete time for any k (Bréhier et al., Thm 4.1).
//! An iteration cap ([`Config::max_iterations`]) ends a repetition as *censored* (reported).
//!
//! **Exit time.** E\[τ\] = E\[T₀\] + (1/p − 1)·E\[T_loop\] + E\[T_reactive\] (Cérou, Guyader,
//! Lelièvre & Pommier, J. Chem. Phys. 134, 054108 (2011)); see [`estimator`] for the exact
//! definitions, the variance (asymptotic formula and independent repetitions) and the 95 %
//! intervals.
//!
//! **Randomness.** Level ℓ, repetition m use the seed s_{ℓ,m} = splitmix64(level_seed(s, ℓ) ⊕
//! splitmix64(m)); within it, chain c uses stream index 2⁶⁴ − 2 − c, the selection draws index
//! 2⁶⁴ − 1, and replica i at iteration j index (j·2²⁴) | i. Groups of up to four repetitions
//! run on one thread, their current paths advanced in lockstep ([`splitter`]; this hides the
//! latency of one step as the Monte Carlo engine's four lanes do), groups and levels in
//! parallel (rayon), combined in order: a seed gives the same bits at any thread count and
//! any grouping (tested).
//!
//! ```
//! use quasipot::problem::{BuildOptions, Problem};
//! use quasipot::sde::ams::{run, Config};
//! let p = Problem::load("double-well-1d", &BuildOptions::default()).unwrap();
//! let c = Config { eps: vec![0.3], dt: 1e-2, replicas: 20, repetitions: 2, loops: 100, ..Config::default() };
//! let r = run(&p, &c).unwrap();
//! let l = &r.levels[0];
//! assert!(l.probability > 0.0 && l.probability < 1.0);
//! assert!(l.mean_exit_time.unwrap() > 100.0); // exactly 6.2e2 at ε = 0.3
//! ```

pub mod coordinate;
pub mod estimator;
pub mod merge;
pub(crate) mod replica;
mod run;
pub mod splitter;
pub(crate) mod walker;

pub use replica::{LoopSample, Repetition};
pub use run::{run, run_with};

use crate::error::{Error, Result};
use crate::sde::{ExitDetection, Shard};
use serde::{Deserialize, Serialize};

/// The reaction coordinate ξ (`--coordinate`); see [`coordinate`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Coordinate {
    /// The domain's normalised level function (g(θ) − g(θ*))/(−g(θ*)); any problem.
    #[default]
    Level,
    /// V/V₀ with the exact quasi-potential (linear-Gaussian, or the problem file's reference).
    Exact,
    /// V/V₀ from the 2-D grid solver, bilinear.
    Olim,
}

impl Coordinate {
    /// Parse `level`, `exact` or `olim`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "level" => Ok(Coordinate::Level),
            "exact" => Ok(Coordinate::Exact),
            "olim" => Ok(Coordinate::Olim),
            _ => Err(Error::invalid(
                "--coordinate",
                format!("expected level, exact or olim, got \"{s}\""),
            )),
        }
    }
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Coordinate::Level => "level",
            Coordinate::Exact => "exact",
            Coordinate::Olim => "olim",
        }
    }
}

/// Validated AMS settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Noise levels ε (`--eps`); default [0.2].
    pub eps: Vec<f64>,
    /// Time step h (`--dt`); default 1e-3.
    pub dt: f64,
    /// Replicas N ≥ 2 (`--replicas`); default 100.
    pub replicas: usize,
    /// Killed per level k, 1 ≤ k < N (`--kill`); default 1.
    pub kill: usize,
    /// Independent repetitions M ≥ 1 (`--repetitions`); default 10.
    pub repetitions: usize,
    /// Reaction coordinate (`--coordinate`); default level.
    pub coordinate: Coordinate,
    /// z_A (`--z-a`); default: the 0.9-quantile of ξ under N(θ*, ε²Σ), capped at 0.5.
    pub z_a: Option<f64>,
    /// Loops sampled by ordinary runs per repetition (`--loops`); default 1000.
    pub loops: usize,
    /// Ordinary chains from θ* per repetition (each gives a first-entrance time); default 8.
    pub chains: usize,
    /// Start every replica here instead of at sampled entrance points: estimates p from this
    /// point only (no E\[τ\]); ξ(start) must be ≥ z_A.
    pub start: Option<Vec<f64>>,
    /// Seed (`--seed`); default 0.
    pub seed: u64,
    /// Exit detection (`--boundary-correction`); default discrete.
    pub detection: ExitDetection,
    /// Iteration cap per repetition (`--max-iterations`); default 10⁷.
    pub max_iterations: u64,
    /// Step budget of one path segment (`--max-steps`); default 10⁸.
    pub max_steps: u64,
    /// Points per axis of the grid for `--coordinate olim`; default 257.
    pub olim_grid: usize,
    /// Run only the repetitions [`Shard::range`]`(M)` of every level (`--shard k/n`), keeping
    /// their raw outcomes for [`merge`]; default the whole run.
    #[serde(default)]
    pub shard: Option<Shard>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            eps: vec![0.2],
            dt: 1e-3,
            replicas: 100,
            kill: 1,
            repetitions: 10,
            coordinate: Coordinate::Level,
            z_a: None,
            loops: 1000,
            chains: 8,
            start: None,
            seed: 0,
            detection: ExitDetection::Discrete,
            max_iterations: 10_000_000,
            max_steps: 100_000_000,
            olim_grid: 257,
            shard: None,
        }
    }
}

impl Config {
    /// Check everything (called by [`run`]); errors name the flag.
    pub fn validate(&self) -> Result<()> {
        if self.eps.is_empty() || self.eps.iter().any(|e| !(e.is_finite() && *e > 0.0)) {
            return Err(Error::invalid(
                "--eps",
                format!(
                    "give noise levels that are finite and > 0, got {:?}",
                    self.eps
                ),
            ));
        }
        if !(self.dt.is_finite() && self.dt > 0.0) {
            return Err(Error::invalid(
                "--dt",
                format!("the time step must be finite and > 0, got {}", self.dt),
            ));
        }
        if self.replicas < 2 {
            return Err(Error::invalid(
                "--replicas",
                format!("AMS needs N ≥ 2 replicas, got {}", self.replicas),
            ));
        }
        if self.replicas >= 1 << 24 {
            return Err(Error::invalid("--replicas", "N must be below 2²⁴"));
        }
        if self.kill == 0 || self.kill >= self.replicas {
            return Err(Error::invalid(
                "--kill",
                format!(
                    "need 1 ≤ k < N (k = {}, N = {}): k replicas are killed per level and at least one must survive",
                    self.kill, self.replicas
                ),
            ));
        }
        if self.repetitions == 0 {
            return Err(Error::invalid("--repetitions", "need M ≥ 1"));
        }
        if let Some(s) = self.shard {
            if s.count > self.repetitions as u64 {
                return Err(Error::invalid(
                    "--shard",
                    format!(
                        "{} shards for M = {} repetitions would leave shards without a repetition: use at most M shards (or more --repetitions)",
                        s.count, self.repetitions
                    ),
                ));
            }
        }
        if let Some(z) = self.z_a {
            if !z.is_finite() {
                return Err(Error::invalid("--z-a", "must be finite"));
            }
        }
        if self.start.is_none() && (self.loops == 0 || self.chains == 0) {
            return Err(Error::invalid(
                "--loops",
                "need at least one loop and one chain to sample entrance points",
            ));
        }
        if self.max_iterations == 0 {
            return Err(Error::invalid("--max-iterations", "must be ≥ 1"));
        }
        if self.max_steps == 0 {
            return Err(Error::invalid("--max-steps", "must be ≥ 1"));
        }
        Ok(())
    }
}

/// One repetition's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RepetitionSummary {
    /// p̂ₘ.
    pub probability: f64,
    /// Iterations Jₘ.
    pub iterations: u64,
    /// Steps (splitting + ordinary runs).
    pub steps: u64,
    /// p̂ₘ = 0: all replicas tied at or below a level.
    pub extinct: bool,
    /// Ended by the iteration cap or cancellation.
    pub censored: bool,
}

/// Results of one noise level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Level {
    /// ε.
    pub eps: f64,
    /// 1/ε².
    pub inv_eps2: f64,
    /// z_A.
    pub z_a: f64,
    /// p̄ = mean of the repetitions' p̂ₘ.
    pub probability: f64,
    /// 95 % interval of p.
    pub probability_ci95: (f64, f64),
    /// Relative sd of p̄ by the asymptotic formula.
    pub probability_rel_std_asymptotic: f64,
    /// Relative sd of p̄ from the repetitions (M ≥ 2).
    pub probability_rel_std_repetitions: Option<f64>,
    /// E\[τ\] from θ* (time units); `None` with a fixed start, when p̂ = 0 or no loop was seen.
    pub mean_exit_time: Option<f64>,
    /// Its 95 % interval.
    pub ci95: Option<(f64, f64)>,
    /// E\[T_loop\] (time units).
    pub mean_loop_time: Option<f64>,
    /// E\[T₀\] (time units).
    pub mean_first_entrance: Option<f64>,
    /// E\[T_reactive\] (time units).
    pub mean_reactive_time: Option<f64>,
    /// Loops sampled (all repetitions).
    pub loops: u64,
    /// Excursions of the ordinary runs that left D (a direct estimate of p is their fraction).
    pub direct_exits: u64,
    /// Excursions started by the ordinary runs.
    pub excursions: u64,
    /// Iterations, all repetitions.
    pub iterations: u64,
    /// Euler–Maruyama steps, all repetitions (splitting + ordinary runs).
    pub steps: u64,
    /// Of which in the ordinary runs.
    pub steps_loops: u64,
    /// Repetitions ended by extinction.
    pub extinct: u64,
    /// Repetitions censored by the iteration cap or cancellation.
    pub censored: u64,
    /// Paths that reached the per-path step budget.
    pub censored_paths: u64,
    /// Per repetition.
    pub repetitions: Vec<RepetitionSummary>,
}

/// Wall-clock figures (excluded from determinism comparisons).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Seconds.
    pub wall_s: f64,
    /// Steps.
    pub steps: u64,
    /// steps / wall_s.
    pub steps_per_s: f64,
}

/// The result of [`run`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// `ams`.
    pub method: String,
    /// Problem name.
    pub problem: String,
    /// d.
    pub dim: usize,
    /// Action weight.
    pub weight: String,
    /// Domain kind.
    pub domain: String,
    /// The reaction coordinate.
    pub coordinate: Coordinate,
    /// Settings.
    pub config: Config,
    /// Per noise level.
    pub levels: Vec<Level>,
    /// Things the user should know (censoring, extinction, capped z_A, non-rare events).
    pub warnings: Vec<String>,
    /// Wall-clock figures.
    pub timing: Timing,
    /// Fingerprint of the problem as simulated (formulas, parameters, weight): shards of one
    /// run share it.
    #[serde(default)]
    pub fingerprint: String,
    /// Stopped by cancellation (Ctrl-C): the repetitions it cut short are censored.
    #[serde(default)]
    pub interrupted: bool,
    /// A shard's raw repetitions per level, in order (empty for an unsharded run): what
    /// [`merge`] assembles the whole run from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shard_repetitions: Vec<Vec<Repetition>>,
}
