//! Discrete SGD exit times: real minibatch SGD (the paper's eq. 1) and Gaussian SGD (eq. 2).
//!
//! **Minibatch SGD** (eq. 1): θ_{k+1} = θ_k − η ∇L^{B_k}(θ_k), where B_k is a set of B examples
//! drawn uniformly *without replacement* at every step ([`MinibatchSampler`]).
//!
//! **Gaussian SGD** (eq. 2): θ_{k+1} = θ_k + η b(θ_k) + √(η/B)·√η·C^{1/2} ξ_k, ξ_k ~ N(0, I),
//! b = −∇L, with a constant covariance C (H* for `hessian-at-minimum`, or the per-example
//! gradient covariance C* for `gradient-covariance`). This is exactly the Euler–Maruyama scheme of
//! dθ = b dt + ε C^{1/2} dW with step η and ε² = η/B (DESIGN §1), so its exit rate follows the
//! `inverse` weight (a = C).
//!
//! Both start at θ₀ (normally θ*) and stop at the **discrete exit time** ν = the first k ≥ 1 with
//! θ_k ∉ D, or at the step budget (the run is then *censored* and reported as such, never dropped).
//! D is anything implementing [`ExitTest`]: any [`Domain`], the ellipsoid
//! {½(θ−θ*)ᵀH*(θ−θ*) < ΔL} ([`QuadraticLevelSet`], the level set of the quadratic model of L,
//! d²/2 multiply-adds per step), or the
//! exact level set {L(θ) − L(θ*) < ΔL} of a finite-sum loss ([`LossLevelSet`], the paper's D, one
//! full forward pass O(N·d) per step).
//!
//! Ensembles run in parallel with rayon; trajectory r draws from its own stream
//! [`trajectory_rng`]`(seed, r)`, so the results do not depend on the thread count.
//!
//! **Settings that give exit times of 1e2–1e4 iterations** on the default `mlp` problem (iris,
//! width 3, λ = 1e-2, d = 19; D = [`QuadraticLevelSet`] with ΔL = 0.005; minibatch SGD; 100
//! runs per point, each point its own stream, seed 1; mean ν with its 95% CI), from
//! `cargo run --release --example paper_figures` (`paper_figures/paper_figures.md`):
//!
//! | varied (base η = 0.3, B = 32) | values → E(ν) (95% CI) |
//! |---|---|
//! | η | 0.25 → 1.32e4 (1.09e4–1.61e4), 0.31 → 1.42e3 (1.16e3–1.74e3), 0.4 → 1.60e2 (1.33e2–1.92e2) |
//! | B | 24 → 2.61e2 (2.13e2–3.20e2), 32 → 1.79e3 (1.44e3–2.23e3), 40 → 2.19e4 (1.83e4–2.62e4) |
//! | α, L(√α θ) | 0.85 → 8.15e3 (6.51e3–1.02e4), 1.05 → 1.11e3 (9.10e2–1.36e3), 1.3 → 1.68e2 (1.40e2–2.01e2) |
//!
//! ln E(ν) is close to linear in B/η, with slope 0.089 (0.082–0.097) when η is varied and
//! 0.088 (0.076–0.100) when B is; the fastest points (E(ν) below the relaxation time of the
//! slowest mode) are left out of those fits.
//!
//! ```
//! use quasipot::problem::mlp::{fit, MlpConfig};
//! use quasipot::sgd::{run_minibatch, Config, LossLevelSet};
//! let m = fit(&MlpConfig::default()).unwrap();
//! // The paper's D: {L(θ) − L(θ*) < ΔL}, ΔL = 0.005; E\[ν\] ≈ 1.5e3 at η = 0.3, B = 32.
//! let exit = LossLevelSet::new(&m.model, &m.theta_star, 0.005);
//! let config = Config { eta: 0.3, batch: 32, runs: 4, max_steps: 2_000, seed: 1 };
//! let report = run_minibatch(&m.model, &m.theta_star, &exit, &config).unwrap();
//! assert_eq!(report.exited + report.censored, 4);
//! ```

pub mod noise;
pub mod sampler;

pub use noise::{DenseRoot, GaussianNoise, NoiseAt, PerExampleNoise};
pub use sampler::{trajectory_rng, MinibatchSampler};

use crate::error::{Error, Result};
use crate::linalg::{spectral_apply, symmetric_eigen, Matrix};
use crate::problem::mlp::FiniteSum;
use crate::problem::{Domain, VectorField};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Membership test of the exit domain D, evaluated once per step.
pub trait ExitTest: Sync {
    /// Per-trajectory scratch.
    type Workspace: Send;
    /// A fresh workspace.
    fn workspace(&self) -> Self::Workspace;
    /// θ ∈ D (false for non-finite θ).
    fn inside(&self, theta: &[f64], ws: &mut Self::Workspace) -> bool;
}

impl ExitTest for Domain {
    type Workspace = ();
    fn workspace(&self) {}
    #[inline]
    fn inside(&self, theta: &[f64], _ws: &mut ()) -> bool {
        // level < 0 is false for NaN: a diverged iterate counts as an exit.
        self.contains(theta)
    }
}

/// The paper's D for a finite-sum loss: {L(θ) − L(θ*) < ΔL}, exact (one full forward pass, O(N·d),
/// per test).
#[derive(Clone, Debug)]
pub struct LossLevelSet<'a, F: FiniteSum> {
    model: &'a F,
    base: f64,
    depth: f64,
}

impl<'a, F: FiniteSum> LossLevelSet<'a, F> {
    /// D = {L(θ) − L(θ*) < ΔL} with ΔL = `depth`.
    pub fn new(model: &'a F, theta_star: &[f64], depth: f64) -> Self {
        let base = model.loss(theta_star, &mut model.workspace());
        LossLevelSet { model, base, depth }
    }
    /// L(θ*).
    pub fn base(&self) -> f64 {
        self.base
    }
}

impl<F: FiniteSum> ExitTest for LossLevelSet<'_, F> {
    type Workspace = F::Workspace;
    fn workspace(&self) -> F::Workspace {
        self.model.workspace()
    }
    #[inline]
    fn inside(&self, theta: &[f64], ws: &mut F::Workspace) -> bool {
        self.model.loss(theta, ws) - self.base < self.depth
    }
}

/// The level set of the quadratic model of L: D = {½(θ−θ*)ᵀH*(θ−θ*) < ΔL}, an ellipsoid.
///
/// Tested as ½|R(θ−θ*)|² < ΔL with H* = RᵀR (Cholesky, R upper triangular): d²/2 multiply-adds
/// per test, with AVX2 + FMA where the CPU has them (~10× cheaper than the exact level set of an
/// MLP loss, which needs a forward pass over all N examples). It is the paper's level-set D up to
/// O(|θ−θ*|³): use [`LossLevelSet`] for the exact one.
#[derive(Clone, Debug)]
pub struct QuadraticLevelSet {
    center: Vec<f64>,
    /// R/√(2ΔL), row-major upper triangle (so the test is |R̃u|² < 1).
    factor: Vec<f64>,
    depth: f64,
    hessian: Matrix,
    simd: bool,
}

impl QuadraticLevelSet {
    /// D = {½(θ−θ*)ᵀH(θ−θ*) < ΔL}. Errors when ΔL ≤ 0, shapes differ or H is not SPD.
    pub fn new(theta_star: &[f64], hessian: &Matrix, depth: f64) -> Result<Self> {
        if !(depth.is_finite() && depth > 0.0) {
            return Err(Error::invalid(
                "depth",
                format!("ΔL must be > 0, got {depth}"),
            ));
        }
        let d = theta_star.len();
        if hessian.n != d {
            return Err(Error::invalid(
                "hessian",
                format!("is {}×{}, θ* has {d} entries", hessian.n, hessian.n),
            ));
        }
        hessian.check_finite("hessian")?;
        hessian.check_symmetric("hessian")?;
        let llt =
            hessian
                .to_faer()
                .llt(faer::Side::Lower)
                .map_err(|e| Error::NotPositiveDefinite {
                    field: "hessian".into(),
                    detail: format!("Cholesky failed: {e:?}"),
                })?;
        let l = llt.L();
        let s = 1.0 / (2.0 * depth).sqrt();
        let mut factor = vec![0.0; d * d];
        for i in 0..d {
            for j in i..d {
                factor[i * d + j] = l[(j, i)] * s;
            }
        }
        Ok(QuadraticLevelSet {
            center: theta_star.to_vec(),
            factor,
            depth,
            hessian: hessian.clone(),
            simd: crate::sgd::simd_available(),
        })
    }
    /// ΔL.
    pub fn depth(&self) -> f64 {
        self.depth
    }
    /// The same set as a [`Domain::Ellipsoid`] with Q = H*/(2ΔL) (for a `Problem`).
    pub fn to_domain(&self) -> Domain {
        Domain::Ellipsoid {
            center: self.center.clone(),
            q: Matrix {
                n: self.hessian.n,
                data: self
                    .hessian
                    .data
                    .iter()
                    .map(|h| h / (2.0 * self.depth))
                    .collect(),
            },
        }
    }
    /// ½(θ−θ*)ᵀH(θ−θ*)/ΔL (< 1 inside), using `u` (length d) as scratch.
    #[inline]
    pub fn scaled_level(&self, theta: &[f64], u: &mut [f64]) -> f64 {
        for ((ui, t), c) in u.iter_mut().zip(theta).zip(&self.center) {
            *ui = t - c;
        }
        #[cfg(target_arch = "x86_64")]
        if self.simd {
            // SAFETY: `simd` is set only when AVX2 and FMA were detected.
            return unsafe { upper_norm2_avx2(&self.factor, u) };
        }
        upper_norm2::<false>(&self.factor, u)
    }
}

/// |Ru|² for R upper triangular, row-major d×d.
#[inline(always)]
fn upper_norm2<const FMA: bool>(r: &[f64], u: &[f64]) -> f64 {
    let d = u.len();
    let mut total = 0.0;
    for i in 0..d {
        let row = &r[i * d + i..i * d + d];
        let tail = &u[i..];
        // Four partial sums so that the loop vectorises.
        let mut acc = [0.0f64; 4];
        let chunks = row.len() / 4;
        for c in 0..chunks {
            for l in 0..4 {
                let (a, b) = (row[4 * c + l], tail[4 * c + l]);
                acc[l] = if FMA {
                    a.mul_add(b, acc[l])
                } else {
                    a * b + acc[l]
                };
            }
        }
        let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
        for k in 4 * chunks..row.len() {
            s += row[k] * tail[k];
        }
        total += s * s;
    }
    total
}

/// [`upper_norm2`] compiled for AVX2 + FMA.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn upper_norm2_avx2(r: &[f64], u: &[f64]) -> f64 {
    upper_norm2::<true>(r, u)
}

/// True when the CPU runs AVX2 + FMA kernels.
pub(crate) fn simd_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

impl ExitTest for QuadraticLevelSet {
    type Workspace = Vec<f64>;
    fn workspace(&self) -> Vec<f64> {
        vec![0.0; self.center.len()]
    }
    #[inline]
    fn inside(&self, theta: &[f64], u: &mut Vec<f64>) -> bool {
        self.scaled_level(theta, u) < 1.0
    }
}

/// Settings of an exit-time ensemble.
#[derive(Clone, Debug, Serialize)]
pub struct Config {
    /// Learning rate η > 0 (default 0.1).
    pub eta: f64,
    /// Batch size B ≥ 1 (default 32; ≤ N for minibatch SGD).
    pub batch: usize,
    /// Number of independent runs (default 100).
    pub runs: usize,
    /// Step budget per run; runs still inside D are censored (default 1e6).
    pub max_steps: u64,
    /// Seed; run r uses [`trajectory_rng`]`(seed, r)` (default 0).
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            eta: 0.1,
            batch: 32,
            runs: 100,
            max_steps: 1_000_000,
            seed: 0,
        }
    }
}

impl Config {
    /// Check the fields (`examples` = N for minibatch SGD, `None` for Gaussian SGD).
    pub fn validate(&self, examples: Option<usize>) -> Result<()> {
        if !(self.eta.is_finite() && self.eta > 0.0) {
            return Err(Error::invalid(
                "eta",
                format!("must be > 0, got {}", self.eta),
            ));
        }
        if self.batch == 0 {
            return Err(Error::invalid("batch", "must be ≥ 1"));
        }
        if let Some(n) = examples {
            if self.batch > n {
                return Err(Error::invalid(
                    "batch",
                    format!("B = {} exceeds the N = {n} examples", self.batch),
                ));
            }
        }
        if self.runs == 0 {
            return Err(Error::invalid("runs", "must be ≥ 1"));
        }
        if self.max_steps == 0 {
            return Err(Error::invalid("max-steps", "must be ≥ 1"));
        }
        Ok(())
    }
}

/// Why an ensemble stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Termination {
    /// Every run left D within the budget.
    AllExited,
    /// Some runs were still inside D at `max_steps` (counted in `censored`).
    Censored,
}

/// Exit times of an ensemble, in iterations.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// `minibatch-sgd` (eq. 1) or `gaussian-sgd` (eq. 2).
    pub method: String,
    /// The settings used.
    pub config: Config,
    /// d.
    pub dim: usize,
    /// ν of each run (first k with θ_k ∉ D); `null` for censored runs.
    pub exit_steps: Vec<Option<u64>>,
    /// Number of runs that exited.
    pub exited: usize,
    /// Number of censored runs (inside D after `max_steps`).
    pub censored: usize,
    /// Mean ν over the exited runs (biased low when `censored` > 0).
    pub mean_exit_steps: Option<f64>,
    /// 95% normal confidence interval of `mean_exit_steps`.
    pub ci95: Option<[f64; 2]>,
    /// Censoring-aware estimate Σᵣ min(νᵣ, max_steps) / exited (the maximum-likelihood mean of an
    /// exponential law — exit times from deep minima are asymptotically exponential).
    pub mean_exit_steps_mle: Option<f64>,
    /// η·E(ν), the exit time in the SDE's time units.
    pub mean_exit_time: Option<f64>,
    /// θ at exit for the exited runs (in run order).
    pub exit_points: Vec<Vec<f64>>,
    /// Termination reason.
    pub termination: Termination,
    /// Steps simulated in all.
    pub total_steps: u64,
    /// Wall time.
    pub wall_seconds: f64,
}

impl Report {
    fn from_runs(method: &str, config: &Config, dim: usize, runs: Vec<Run>, wall: f64) -> Self {
        let exited: Vec<u64> = runs.iter().filter_map(|r| r.exit).collect();
        let n = exited.len();
        let censored = runs.len() - n;
        let total_steps: u64 = runs.iter().map(|r| r.steps).sum();
        let (mean, ci) = if n > 0 {
            let m = exited.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
            let var = if n > 1 {
                exited.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / (n - 1) as f64
            } else {
                f64::NAN
            };
            let h = 1.96 * (var / n as f64).sqrt();
            (Some(m), (n > 1).then_some([m - h, m + h]))
        } else {
            (None, None)
        };
        let mle = (n > 0).then(|| total_steps as f64 / n as f64);
        Report {
            method: method.into(),
            config: config.clone(),
            dim,
            exit_steps: runs.iter().map(|r| r.exit).collect(),
            exited: n,
            censored,
            mean_exit_steps: mean,
            ci95: ci,
            mean_exit_steps_mle: mle,
            mean_exit_time: mean.map(|m| m * config.eta),
            exit_points: runs.into_iter().filter_map(|r| r.exit_point).collect(),
            termination: if censored == 0 {
                Termination::AllExited
            } else {
                Termination::Censored
            },
            total_steps,
            wall_seconds: wall,
        }
    }
}

struct Run {
    exit: Option<u64>,
    steps: u64,
    exit_point: Option<Vec<f64>>,
}

/// One minibatch SGD trajectory's state: sampler, gradient buffer and stream. `step` is the
/// allocation-free kernel of eq. (1).
pub struct MinibatchStepper<'a, F: FiniteSum> {
    model: &'a F,
    eta: f64,
    sampler: MinibatchSampler,
    ws: F::Workspace,
    grad: Vec<f64>,
    rng: Xoshiro256PlusPlus,
}

impl<'a, F: FiniteSum> MinibatchStepper<'a, F> {
    /// Stepper for trajectory `index` under `seed`.
    ///
    /// # Panics
    /// If B is 0 or exceeds N (see [`Config::validate`]).
    pub fn new(model: &'a F, eta: f64, batch: usize, seed: u64, index: u64) -> Self {
        MinibatchStepper {
            model,
            eta,
            sampler: MinibatchSampler::new(model.num_examples(), batch),
            ws: model.workspace(),
            grad: vec![0.0; model.dim()],
            rng: trajectory_rng(seed, index),
        }
    }
    /// θ ← θ − η ∇L^B(θ) with a fresh minibatch; returns L^B(θ) before the step.
    #[inline]
    pub fn step(&mut self, theta: &mut [f64]) -> f64 {
        let batch = self.sampler.sample(&mut self.rng);
        let l = self
            .model
            .batch_gradient(theta, batch, &mut self.ws, &mut self.grad);
        for (t, g) in theta.iter_mut().zip(&self.grad) {
            *t -= self.eta * g;
        }
        l
    }
}

/// One trajectory from θ0: apply `step` until θ leaves D (exit at that iteration, with the exit
/// point) or the budget runs out (censored). Generic so that each stepper's loop monomorphises.
fn walk<E: ExitTest>(
    theta0: &[f64],
    exit: &E,
    max_steps: u64,
    mut step: impl FnMut(&mut [f64]),
) -> Run {
    let mut ews = exit.workspace();
    let mut theta = theta0.to_vec();
    for k in 1..=max_steps {
        step(&mut theta);
        if !exit.inside(&theta, &mut ews) {
            return Run {
                exit: Some(k),
                steps: k,
                exit_point: Some(theta),
            };
        }
    }
    Run {
        exit: None,
        steps: max_steps,
        exit_point: None,
    }
}

/// Exit times of real minibatch SGD (eq. 1) from θ₀, in parallel over `config.runs` runs.
pub fn run_minibatch<F: FiniteSum, E: ExitTest>(
    model: &F,
    theta0: &[f64],
    exit: &E,
    config: &Config,
) -> Result<Report> {
    config.validate(Some(model.num_examples()))?;
    check_start(model.dim(), theta0, exit)?;
    let start = Instant::now();
    let runs: Vec<Run> = (0..config.runs as u64)
        .into_par_iter()
        .map(|r| {
            let mut stepper =
                MinibatchStepper::new(model, config.eta, config.batch, config.seed, r);
            walk(theta0, exit, config.max_steps, |theta| {
                stepper.step(theta);
            })
        })
        .collect();
    Ok(Report::from_runs(
        "minibatch-sgd",
        config,
        model.dim(),
        runs,
        start.elapsed().as_secs_f64(),
    ))
}

/// Exit times of Gaussian SGD (eq. 2) with drift b (= −∇L) and constant covariance C
/// (symmetric positive semi-definite; C^{1/2} is its symmetric root, eigenvalues below
/// 1e-12·λ_max clipped to 0), in parallel over `config.runs` runs.
pub fn run_gaussian<B: VectorField, E: ExitTest>(
    drift: &B,
    covariance: &Matrix,
    theta0: &[f64],
    exit: &E,
    config: &Config,
) -> Result<Report> {
    config.validate(None)?;
    let root = DenseRoot::new(psd_sqrt(covariance, drift.dim())?);
    run_gaussian_with_noise(drift, &root, theta0, exit, config)
}

/// Exit times of Gaussian SGD (eq. 2), θ_{k+1} = θ_k + ηb(θ_k) + (η/√B)ξ_k, with the noise ξ_k
/// from any [`GaussianNoise`] — a stored root ([`DenseRoot`], what [`run_gaussian`] uses) or
/// the network's per-example factorisation ([`PerExampleNoise`], no d×d matrix), in parallel
/// over `config.runs` runs, run r on its own stream.
///
/// ```
/// use quasipot::problem::mlp::{fit, MlpConfig};
/// use quasipot::sgd::{finite_population_factor, run_gaussian_with_noise, Config, LossLevelSet};
/// use quasipot::sgd::noise::{NoiseAt, PerExampleNoise};
/// let m = fit(&MlpConfig::default()).unwrap();
/// let n = m.model.num_examples();
/// // C = C*·(N − B)/(N − 1), the minibatch gradient's covariance, drawn matrix-free.
/// let noise = PerExampleNoise::new(
///     &m.model,
///     NoiseAt::Fixed(m.theta_star.clone()),
///     finite_population_factor(n, 32),
/// )
/// .unwrap();
/// let exit = LossLevelSet::new(&m.model, &m.theta_star, 0.005);
/// let config = Config { eta: 0.3, batch: 32, runs: 4, max_steps: 2_000, seed: 1 };
/// let report = run_gaussian_with_noise(&m.model, &noise, &m.theta_star, &exit, &config).unwrap();
/// assert_eq!(report.exited + report.censored, 4);
/// ```
pub fn run_gaussian_with_noise<B: VectorField, N: GaussianNoise, E: ExitTest>(
    drift: &B,
    noise: &N,
    theta0: &[f64],
    exit: &E,
    config: &Config,
) -> Result<Report> {
    config.validate(None)?;
    let d = drift.dim();
    if noise.dim() != d {
        return Err(Error::invalid(
            "noise",
            format!("has dimension {}, the drift has d = {d}", noise.dim()),
        ));
    }
    check_start(d, theta0, exit)?;
    // θ_{k+1} = θ_k + η b + (η/√B) ξ.
    let noise_scale = config.eta / (config.batch as f64).sqrt();
    let start = Instant::now();
    let runs: Vec<Run> = (0..config.runs as u64)
        .into_par_iter()
        .map(|r| {
            let mut rng = trajectory_rng(config.seed, r);
            let mut ws = noise.workspace();
            let mut b = vec![0.0; d];
            let mut xi = vec![0.0; d];
            walk(theta0, exit, config.max_steps, |theta| {
                drift.drift(theta, &mut b);
                noise.sample(theta, &mut rng, &mut ws, &mut xi);
                for i in 0..d {
                    theta[i] += config.eta * b[i] + noise_scale * xi[i];
                }
            })
        })
        .collect();
    Ok(Report::from_runs(
        "gaussian-sgd",
        config,
        d,
        runs,
        start.elapsed().as_secs_f64(),
    ))
}

/// (N − B)/(N − 1): the covariance of a minibatch gradient drawn *without* replacement is
/// C·(N − B)/((N − 1)·B), not C/B. Multiply C by this factor in [`run_gaussian`] to give Gaussian
/// SGD exactly the noise covariance of minibatch SGD (eq. 1) at the same (η, B).
///
/// # Panics
/// If `examples` < 2 or `batch` > `examples`.
pub fn finite_population_factor(examples: usize, batch: usize) -> f64 {
    assert!(examples >= 2 && batch <= examples);
    (examples - batch) as f64 / (examples - 1) as f64
}

fn check_start<E: ExitTest>(d: usize, theta0: &[f64], exit: &E) -> Result<()> {
    if theta0.len() != d {
        return Err(Error::invalid(
            "theta0",
            format!("has {} entries, the model has d = {d}", theta0.len()),
        ));
    }
    if !exit.inside(theta0, &mut exit.workspace()) {
        return Err(Error::invalid(
            "domain",
            "the starting point θ₀ is not inside D",
        ));
    }
    Ok(())
}

/// Symmetric square root of a positive semi-definite matrix.
fn psd_sqrt(c: &Matrix, d: usize) -> Result<Matrix> {
    if c.n != d {
        return Err(Error::invalid(
            "covariance",
            format!("is {}×{}, the model has d = {d}", c.n, c.n),
        ));
    }
    c.check_finite("covariance")?;
    c.check_symmetric("covariance")?;
    let (vals, vecs) = symmetric_eigen(c, "covariance")?;
    let lmax = vals.last().copied().unwrap_or(0.0).max(0.0);
    if vals[0] < -1e-10 * lmax || lmax <= 0.0 {
        return Err(Error::NotPositiveDefinite {
            field: "covariance".into(),
            detail: format!(
                "not positive semi-definite: eigenvalues {:.3e} … {:.3e}",
                vals[0], lmax
            ),
        });
    }
    Ok(spectral_apply(&vals, &vecs, |l| {
        if l > 1e-12 * lmax {
            l.sqrt()
        } else {
            0.0
        }
    }))
}

/// Write `sgd_<method>_exit_steps.csv` (run, exit_steps, censored) and the report as JSON.
pub fn write_files(report: &Report, dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |p: &Path, e: std::io::Error| Error::Io {
        path: p.display().to_string(),
        source: e,
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let csv = dir.join(format!("sgd_{}_exit_steps.csv", report.method));
    let mut text = String::from("run,exit_steps,censored\n");
    for (r, v) in report.exit_steps.iter().enumerate() {
        match v {
            Some(k) => text.push_str(&format!("{r},{k},false\n")),
            None => text.push_str(&format!("{r},{},true\n", report.config.max_steps)),
        }
    }
    std::fs::write(&csv, text).map_err(|e| io(&csv, e))?;
    let json = dir.join(format!("sgd_{}.json", report.method));
    let body = serde_json::to_string_pretty(report)
        .map_err(|e| Error::numerical("sgd report", e.to_string()))?;
    std::fs::write(&json, body).map_err(|e| io(&json, e))?;
    Ok(vec![csv, json])
}

#[cfg(test)]
mod tests;
