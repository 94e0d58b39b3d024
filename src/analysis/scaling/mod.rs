//! Exit-rate scaling sweeps: the paper's Figures 5, 6 and 7.
//!
//! For each setting of one varied quantity — sharpness α (the map L(θ) → L(√α θ), which scales
//! every eigenvalue of H* by α exactly and moves θ* to θ*/√α), learning rate η, batch size B, or
//! depth β (the map L → βL, which scales H* by β and the depth of the level set D by β, D itself
//! unchanged) — measure the mean discrete exit time E\[ν\] (iterations) of
//!
//! 1. **Gaussian SGD** (eq. 2): θ_{k+1} = θ_k − η∇L(θ_k) + (η/√B) C^{1/2} ξ_k, with C = C*·(N−B)/(N−1)
//!    (`gradient-covariance`, the per-example gradient covariance at θ* times the
//!    finite-population factor, i.e. exactly the covariance of a minibatch gradient drawn without
//!    replacement; finite sums) or C = H* (`hessian-at-minimum`, Assumption 2; the only choice
//!    for a problem that is not a finite sum);
//! 2. the **proximal isotropic system** (eq. 4): the same recursion with C = c·I, where the noise
//!    level c is fixed once for the whole sweep (default: tr C/d of the Gaussian-SGD covariance at
//!    the base setting — the same total noise power; c does *not* follow α or β);
//! 3. **minibatch SGD** (eq. 1): B examples drawn without replacement per step (finite sums only).
//!
//! **Predictions.** Gaussian SGD is the Euler–Maruyama scheme of dθ = b dt + ε C^{1/2} dW with step
//! η and ε² = η/B (DESIGN §1), so to leading order ln E\[ν\] = (B/η)·V0 + const. V0 is computed by
//! the exact engine ([`crate::exact::quasi_potential_barrier`]) on the quadratic model of the
//! setting (b = −H*(θ−θ*), constant noise, D the level set of ½(θ−θ*)ᵀH*(θ−θ*) at the setting's
//! depth), under both action weights: `inverse-sqrt` (a = C^{1/2}, the paper's Definition 4; for
//! C = H* this is V0 = 2ΔL·λ_max^{-1/2}) and `inverse` (a = C, the exact rate of eq. (3); for C = H*
//! V0 = 2ΔL/λ_max). The covariance used is the one of the method (C above, c·I for the proximal
//! system; C* regularised by a relative eigenvalue floor, see [`ScalingConfig::covariance_floor`],
//! because it is only semi-definite).
//!
//! **Predicted slopes.** The prediction for point i is yᵢ = (Bᵢ/ηᵢ)·V0ᵢ. Against a quantity x the
//! predicted slope is the weighted least-squares slope of these yᵢ on xᵢ with the same weights as
//! the data fit (so data and prediction are compared on the same design). Where V0 does not
//! depend on x this is the exact derivative: against B/η (η or B varied, C fixed) it is V0;
//! against B it is V0/η, against η it is the chord slope of V0·B/η. Where V0 depends on x it is
//! the best linear approximation of (B/η)V0(x) over the sweep; the derivatives are
//! - sharpness α, C ∝ α (C = H* or C*): inverse V0(α) = V0(1)/α, slope −(B/η)V0(1)/α²;
//!   inverse-sqrt V0(α) = V0(1)/√α, slope −(B/η)V0(1)/(2α^{3/2}); proximal (c fixed): V0(α)
//!   = V0(1) for either weight (D shrinks as 1/√α and V = x ᵀH x/c grows as α: they cancel), slope 0;
//! - depth β (drift ×β, D fixed): C = H* ×β gives inverse V0 constant (slope 0) and inverse-sqrt
//!   V0 ∝ √β (slope (B/η)V0(1)/(2√β)); C = C* ×β² gives inverse V0 ∝ 1/β and inverse-sqrt V0
//!   constant; proximal (c fixed) gives V0 ∝ β for either weight.
//!
//! For minibatch SGD (and Gaussian SGD with C = C*) both maps are exactly learning-rate changes:
//! L → βL is η → βη, and L(√α θ) is η → αη in the coordinates φ = √α θ, in which D is unchanged.
//! With common random numbers (`common_random_numbers`) the two sweeps would give identical exit
//! times; by default each point has its own stream (below).
//!
//! **Beyond leading order.** Three corrections are left out of (B/η)·V0: ln η (from ν = τ/η), the
//! prefactor's power of ε and its dependence on the setting, and the O(ηλ) bias of the Euler
//! scheme. Each weight's per-point prediction therefore also carries its full prefactor from
//! [`crate::rates::prefactor`] on the quadratic model, two ways: the continuous SDE (κ = +1,
//! boundary layer) and the chain eq. (2) itself at step η (κ = −1, the chain's own V0, computed
//! exactly by the Stein equation Σ_η = (I−ηH)Σ_η(I−ηH)ᵀ + ηC). Their slopes bound a **band** per
//! weight (about ±6 % of the slope at the paper-figure settings); the verdict asks whether the
//! fit's CI overlaps it. Both ends expand the rate about a single exit point (Laplace), which
//! overstates the slope when many directions of ∂D have nearly the least V — the rule on the
//! level sets of networks. So on level sets each weight also gets the chain's **one-step flux**
//! at every point's own ε, r = P(x ∈ D, x' ∉ D) under the chain's stationary law, and its
//! **cluster index** θ, the share of crossings that start a burst (the chain steps out, back in
//! and out again within a few steps, and an absorbed chain sees only the first): E\[ν\] ≈ 1/(θr)
//! ([`flux`]: r exact up to Monte Carlo error, checked against the exact 1-D chain and direct
//! sampling; 1/(θr) within 6 % of directly simulated relaxed chains). Where it exists its slope,
//! with its standard error, decides the verdict instead of the band. It leaves out the chain's
//! relaxation from θ*, which the regime rule below bounds. With `quadratic_control` the
//! quadratic-model chain with the same noise is run beside every Gaussian point and fitted over
//! the same points ([`SweepFit::quadratic_control`]): the flux is its prediction, so the control
//! checks the prediction, and the method against its control measures the loss beyond its
//! quadratic model. The chain's V0 alone is also reported as a slope,
//! [`discrete_level_set_v0`]; it tends to the inverse-weight V0 as η → 0 and, to first order in
//! η, shifts ln E\[ν\] by a constant when η is varied (it changes slopes against α, β and B but
//! not against B/η in an η sweep).
//!
//! **Fit.** ln E\[ν\] against x and (when it varies) against B/η by weighted least squares,
//! weights 1/se(ln E\[ν\])², slope standard error inflated by √(χ²/(n−2)) when that exceeds 1
//! (Birge ratio), 95% CI = ±1.96 se. E\[ν\] per point: the sample mean with the delta-method
//! se(ln) = se/mean when no run is censored; with censored runs the Kaplan–Meier restricted mean
//! plus an exponential tail shifted by the relaxation time of the slowest mode that matters
//! ([`crate::analysis::censored`]; the plain exponential MLE is biased when exits start before
//! the chain has relaxed); a point with no exit (after that time) gives only a lower bound, is
//! reported and plotted as such, and is left out of the fit.
//!
//! **Independence.** Every point draws from its own stream (seed, sweep, method, point), so the
//! weighted least squares' assumption of independent errors holds and two sweeps never share
//! trajectories. Sweeps can still be the *same experiment*: for minibatch SGD (and Gaussian SGD with
//! C = C*) the sharpness and depth maps are learning-rate changes (above), so those sweeps test the
//! same law as an η sweep over the corresponding values.
//!
//! **Regime.** A point counts only when its E\[ν\] is at least 10× the quadratic-model chain's
//! relaxation time as the exit rate sees it: the first step t at which the chain's exact
//! finite-time barrier V0(t) (its law at step t is N(0, ε²Σ_t), Σ_t = Σ_η − AᵗΣ_ηAᵗ) is within
//! 0.05·ε² of the stationary V0, so that the exit rate is stationary to 5 %. Before it, exits are
//! not the memoryless large-deviation events the predictions describe; slow modes that carry no
//! weight in the exit channel do not count (`model::relaxation_steps`, which gives the bias
//! bound behind the factor 10). Fits use the points in the regime when at least 3 are.
//!
//! Reference: Ibayashi & Imaizumi, "Exponential escape efficiency of SGD from sharp minima in
//! non-stationary regime", §5, Figures 5–7 (`../shared/reference/`).

mod config;
mod estimate;
mod fit;
pub mod flux;
pub mod merge;
mod model;
mod problem;
mod report;
mod sweep_mlp;

pub use config::{Method, ScalingConfig, Target, Vary};
pub use estimate::{compare_slopes, log_mean_estimate, weighted_fit, LogMean, SlopeComparison};
pub use model::discrete_level_set_v0;
pub(crate) use report::f64_or_nan;
pub use report::{
    BaseSettings, ControlFit, LinearFit, PredictedSlope, QuadraticControl, ScalingPoint,
    ScalingReport, SweepFit, SweepShard, WeightPrediction,
};

use crate::analysis::exit_diagnostics::ExitDiagnostics;
use crate::error::{Error, Result};
use crate::problem::mlp::MlpSummary;
use crate::problem::Weight;
use crate::sde::rng::splitmix64;
use crate::sde::Shard;
use crate::sgd::{Config, Report};
use fit::sweep_fit;
use model::REGIME_FACTOR;
use problem::run_problem;
use std::time::Instant;
use sweep_mlp::run_mlp;

/// One setting of the sweep.
#[derive(Clone, Copy, Debug)]
struct Setting {
    x: f64,
    eta: f64,
    batch: usize,
    alpha: f64,
    beta: f64,
}

fn settings(vary: Vary, values: &[f64], eta: f64, batch: usize) -> Result<Vec<Setting>> {
    // The default values are multiples of the base η and B: check those first, so that a bad
    // --eta is not reported as bad --values.
    if !(eta.is_finite() && eta > 0.0) {
        return Err(Error::invalid(
            "--eta",
            format!("the learning rate must be finite and > 0 (η > 0), got {eta}"),
        ));
    }
    if batch == 0 {
        return Err(Error::invalid(
            "--batch",
            "the batch size must be ≥ 1, got 0",
        ));
    }
    values
        .iter()
        .map(|&v| {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::invalid(
                    "--values",
                    format!("values must be finite and > 0, got {v}"),
                ));
            }
            let mut s = Setting {
                x: v,
                eta,
                batch,
                alpha: 1.0,
                beta: 1.0,
            };
            match vary {
                Vary::Sharpness => s.alpha = v,
                Vary::Depth => s.beta = v,
                Vary::Lr => s.eta = v,
                Vary::Batch => {
                    if v.fract() != 0.0 {
                        return Err(Error::invalid(
                            "--values",
                            format!("batch sizes must be integers, got {v}"),
                        ));
                    }
                    s.batch = v as usize;
                }
            }
            Ok(s)
        })
        .collect()
}

fn default_values(vary: Vary, eta: f64, batch: usize) -> Vec<f64> {
    vary.multipliers()
        .iter()
        .map(|m| match vary {
            Vary::Sharpness | Vary::Depth => *m,
            Vary::Lr => (eta * m * 1e4).round() / 1e4,
            Vary::Batch => (batch as f64 * m).round().max(1.0),
        })
        .collect()
}

/// Bytes per run of one ensemble while it is alive, whatever d: the run record (exit step,
/// steps, exit point: 48), the report's exit step (16) and exit point (24, plus a heap block of
/// at least 32). A lower bound (the exit point's block grows with d), enough to refuse an
/// absurd `--runs` before the ensemble allocates it.
const BYTES_PER_RUN: u64 = 48 + 16 + 24 + 32;

/// Refuse `--runs` beyond memory: the ensembles of one point run one after the other, with the
/// quadratic control's report kept beside the point's.
fn check_runs_memory(config: &ScalingConfig) -> Result<()> {
    use crate::resources::{
        available_bytes, check_memory_against, largest_fitting, product, Estimate,
    };
    let alive = if config.quadratic_control { 2 } else { 1 };
    let need = |runs: u64| product(&[runs, BYTES_PER_RUN, alive]);
    let cap = available_bytes();
    let runs = config.runs as u64;
    check_memory_against(
        Estimate {
            flag: "--runs",
            value: runs.to_string(),
            what: "one point's ensemble",
            bytes: need(runs),
            formula: format!(
                "{runs} runs × {BYTES_PER_RUN} bytes{}",
                if alive == 2 {
                    " × 2 (with the quadratic control)"
                } else {
                    ""
                }
            ),
            advice: match largest_fitting(1, runs, cap, need) {
                Some(r) => format!("use --runs ≤ {r}"),
                None => "even one run does not fit; free memory".into(),
            },
        },
        cap,
    )
}

/// Which points of a sweep are simulated: all, those of `config.shard`, or none when `given`
/// holds them (the shards' points, sorted by index, for the merge).
pub(crate) struct PointSource<'a> {
    shard: Option<Shard>,
    given: Option<&'a [ScalingPoint]>,
    total: usize,
}

/// What to do for one point.
pub(crate) enum Source<'a> {
    /// Another shard's.
    Skip,
    /// Simulate it.
    Run,
    /// Taken from a shard.
    Given(&'a ScalingPoint),
}

impl<'a> PointSource<'a> {
    /// Points simulated out of `total`.
    fn computed(&self, total: usize) -> usize {
        match (self.given, self.shard) {
            (Some(_), _) => 0,
            (None, Some(s)) => s.range(total as u64).count(),
            (None, None) => total,
        }
    }

    fn mine(&self, j: usize) -> bool {
        self.shard
            .is_none_or(|s| s.range(self.total as u64).contains(&(j as u64)))
    }

    /// Whether none of the points `js` is simulated or given here.
    fn skips(&self, js: std::ops::Range<usize>) -> bool {
        self.given.is_none() && !js.into_iter().any(|j| self.mine(j))
    }

    /// Point j, whose setting has λ_max(H*) = `lmax` here (a given point computed with another
    /// λ_max comes from another model, which the merge refuses).
    fn get(&self, j: usize, lmax: f64) -> Result<Source<'a>> {
        if let Some(given) = self.given {
            let p = given.get(j).filter(|p| p.index == j).ok_or_else(|| {
                Error::invalid(
                    "merge",
                    format!(
                        "the shards hold no point {j} of this sweep (they are of another sweep)"
                    ),
                )
            })?;
            if p.lambda_max.to_bits() != lmax.to_bits() {
                return Err(Error::invalid(
                    "merge",
                    format!(
                        "point {j} of the shards was computed on another model (λ_max(H*) = {} there, {lmax} here): give merge the PROBLEM and --param/--refine-minimum flags the shards were run with",
                        p.lambda_max
                    ),
                ));
            }
            return Ok(Source::Given(p));
        }
        Ok(if self.mine(j) {
            Source::Run
        } else {
            Source::Skip
        })
    }
}

/// Run a sweep. `progress(done, total)` is called after each ensemble.
pub fn scaling(
    target: &Target,
    config: &ScalingConfig,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<ScalingReport> {
    scaling_with(target, config, None, progress)
}

/// [`scaling`], taking the points from `given` (sorted by index, one per point of the sweep)
/// instead of simulating them: the merge of shards ([`merge`]).
pub(crate) fn scaling_with(
    target: &Target,
    config: &ScalingConfig,
    given: Option<&[ScalingPoint]>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<ScalingReport> {
    let start = Instant::now();
    if config.runs == 0 {
        return Err(Error::invalid("--runs", "must be ≥ 1"));
    }
    check_runs_memory(config)?;
    if config.max_steps == 0 {
        return Err(Error::invalid("--max-steps", "must be ≥ 1"));
    }
    if !(config.covariance_floor.is_finite() && config.covariance_floor > 0.0) {
        return Err(Error::invalid("covariance-floor", "must be > 0"));
    }
    if let Some(c) = config.proximal_scale {
        if !(c.is_finite() && c > 0.0) {
            return Err(Error::invalid(
                "--proximal-scale",
                format!("must be > 0, got {c}"),
            ));
        }
    }
    let is_mlp = matches!(target, Target::Mlp(_));
    let methods: Vec<Method> = match &config.methods {
        Some(m) if m.is_empty() => return Err(Error::invalid("--methods", "empty list")),
        Some(m) => m.clone(),
        None if is_mlp => Method::ALL.to_vec(),
        None => vec![Method::GaussianSgd, Method::Proximal],
    };
    if !is_mlp && methods.contains(&Method::MinibatchSgd) {
        return Err(Error::invalid(
            "--methods",
            "minibatch-sgd needs a finite-sum loss: use the `mlp` problem",
        ));
    }
    let noise = config.noise.clone().unwrap_or_else(|| {
        if is_mlp {
            "gradient-covariance".into()
        } else {
            "hessian-at-minimum".into()
        }
    });
    match (is_mlp, noise.as_str()) {
        (true, "gradient-covariance" | "hessian-at-minimum") | (false, "hessian-at-minimum") => {}
        _ => {
            return Err(Error::invalid(
                "--noise",
                format!(
                    "expected {}, got \"{noise}\"",
                    if is_mlp {
                        "gradient-covariance or hessian-at-minimum"
                    } else {
                        "hessian-at-minimum (gradient-covariance needs a finite sum: use `mlp`)"
                    }
                ),
            ))
        }
    }
    let grad_cov = noise == "gradient-covariance";
    let total = config
        .values
        .as_ref()
        .map_or(config.vary.multipliers().len(), Vec::len)
        .saturating_mul(methods.len());
    if let Some(s) = config.shard {
        if s.count > total as u64 {
            return Err(Error::invalid(
                "--shard",
                format!(
                    "{} shards for the {total} points of this sweep ({} methods × {} values) would leave shards without a point: use at most {total}",
                    s.count,
                    methods.len(),
                    total / methods.len().max(1)
                ),
            ));
        }
    }
    let source = PointSource {
        shard: config.shard,
        given,
        total,
    };
    let mut report = match target {
        Target::Mlp(mc) => run_mlp(mc, config, &methods, grad_cov, &source, progress, start),
        Target::Problem {
            spec,
            base,
            options,
        } => run_problem(
            spec, base, options, config, &methods, &source, progress, start,
        ),
    }?;
    report.shard = config.shard.map(|shard| SweepShard {
        shard,
        points: total,
        config: config.clone(),
        mlp: match target {
            Target::Mlp(mc) => Some(mc.clone()),
            Target::Problem { .. } => None,
        },
    });
    Ok(report)
}

/// What the sweep knows about one setting besides its ensemble: the quadratic model's spectrum
/// and the predictions.
struct PointModel {
    diagnostics: Option<ExitDiagnostics>,
    control: Option<(u64, Report)>,
    lambda_max: f64,
    delta_l: f64,
    relaxation_steps: f64,
    v0_discrete: Option<f64>,
    predictions: Vec<WeightPrediction>,
    floor_range: Option<[f64; 2]>,
}

/// V0 of weight `w` from the point's predictions (which hold the exact engine's V0).
fn weight_v0(predictions: &[WeightPrediction], w: Weight) -> Option<f64> {
    predictions.iter().find(|q| q.weight == w).map(|q| q.v0)
}

fn point(
    index: usize,
    method: Method,
    s: &Setting,
    seed: u64,
    m: PointModel,
    r: &Report,
) -> ScalingPoint {
    let est = log_mean_estimate(r, m.relaxation_steps);
    let (ln_mean, ln_se) = (est.ln_mean, est.ln_se);
    let ci = |lm: Option<f64>, se: Option<f64>| {
        lm.zip(se)
            .map(|(m, se)| [(m - 1.96 * se).exp(), (m + 1.96 * se).exp()])
    };
    let quadratic_control = m.control.as_ref().map(|(seed, rc)| {
        let e = log_mean_estimate(rc, m.relaxation_steps);
        let ratio = match (ln_mean, ln_se, e.ln_mean, e.ln_se) {
            (Some(a), Some(sa), Some(b), Some(sb)) => {
                let se = (sa * sa + sb * sb).sqrt();
                Some([
                    (a - b).exp(),
                    (a - b - 1.96 * se).exp(),
                    (a - b + 1.96 * se).exp(),
                ])
            }
            _ => None,
        };
        QuadraticControl {
            seed: *seed,
            mean_exit_steps: e.ln_mean.map(f64::exp),
            ci95: ci(e.ln_mean, e.ln_se),
            ln_mean: e.ln_mean,
            ln_se: e.ln_se,
            exited: rc.exited,
            censored: rc.censored,
            restricted_mean: e.restricted_mean,
            ratio_upper_bound: match (ratio, ln_mean) {
                (None, Some(a)) if e.restricted_mean > 0.0 => Some(a.exp() / e.restricted_mean),
                _ => None,
            },
            ratio,
        }
    });
    ScalingPoint {
        index,
        method,
        x: s.x,
        eta: s.eta,
        batch: s.batch,
        sharpness: s.alpha,
        depth: s.beta,
        b_over_eta: s.batch as f64 / s.eta,
        lambda_max: m.lambda_max,
        delta_l: m.delta_l,
        mean_exit_steps: ln_mean.map(f64::exp),
        ci95: ci(ln_mean, ln_se),
        ln_mean,
        ln_se,
        estimator: est.estimator.into(),
        restricted_mean: est.restricted_mean,
        relaxation_steps: m.relaxation_steps,
        seed,
        exited: r.exited,
        censored: r.censored,
        v0_inverse_sqrt: weight_v0(&m.predictions, Weight::InverseSqrt),
        v0_inverse: weight_v0(&m.predictions, Weight::Inverse),
        v0_discrete: m.v0_discrete,
        predictions: m.predictions,
        v0_inverse_floor_range: m.floor_range,
        in_regime: !ln_mean.is_some_and(|l| l.exp() < REGIME_FACTOR * m.relaxation_steps)
            && !m.diagnostics.as_ref().is_some_and(|d| d.outside_regime),
        diagnostics: m.diagnostics,
        quadratic_control,
        wall_seconds: r.wall_seconds,
    }
}

/// Fewest in-regime points a fit may use once the others are dropped.
const MIN_REGIME_POINTS: usize = 3;

/// Whether a point is in the metastable regime the predictions assume: E\[ν\] above the
/// relaxation time and exit diagnostics that show large-deviation exits.
fn in_regime(p: &ScalingPoint) -> bool {
    p.in_regime
}

/// Why the points of one method are not in the metastable regime the predictions assume, if they
/// are not: the mean exit time must exceed the relaxation time of the slowest mode that matters
/// (by then the chain has forgotten θ* and exits are memoryless), and the exit diagnostics must
/// not show exits through the stationary cloud or far below the barrier.
fn regime_problem(pts: &[&ScalingPoint]) -> Option<String> {
    let outside: Vec<&&ScalingPoint> = pts
        .iter()
        .filter(|p| p.diagnostics.as_ref().is_some_and(|d| d.outside_regime))
        .collect();
    if !outside.is_empty() {
        let why = outside
            .iter()
            .filter_map(|p| p.diagnostics.as_ref())
            .flat_map(|d| d.warnings.first())
            .next()
            .cloned()
            .unwrap_or_default();
        return Some(format!(
            "the exit diagnostics of {} of {} points show exits that are not the predicted large-deviation events ({why})",
            outside.len(),
            pts.len()
        ));
    }
    let fast: Vec<&&ScalingPoint> = pts
        .iter()
        .filter(|p| {
            p.mean_exit_steps
                .is_some_and(|m| m < REGIME_FACTOR * p.relaxation_steps)
        })
        .collect();
    let worst = fast
        .iter()
        .map(|p| p.mean_exit_steps.unwrap_or(0.0) / p.relaxation_steps)
        .fold(f64::INFINITY, f64::min);
    (!fast.is_empty()).then(|| {
        format!(
            "at {} of {} points E[ν] is below {REGIME_FACTOR}× the chain's relaxation time (down to {worst:.2}× it): exits happen before the exit rate has become stationary, so they are not the memoryless large-deviation events the predictions describe",
            fast.len(),
            pts.len()
        )
    })
}

/// The seed of point `index` of `method` in this sweep: a SplitMix64 hash of (seed, sweep,
/// method, index), so that no two points (nor the same point of two sweeps) share a stream —
/// unless common random numbers were asked for.
fn point_seed(config: &ScalingConfig, method: Method, index: usize) -> u64 {
    if config.common_random_numbers {
        return config.seed;
    }
    let vary = Vary::ALL
        .iter()
        .position(|v| *v == config.vary)
        .unwrap_or(0) as u64;
    let meth = Method::ALL.iter().position(|m| *m == method).unwrap_or(0) as u64;
    let h = splitmix64(splitmix64(config.seed) ^ (vary + 1));
    splitmix64(h ^ ((meth + 1) << 32 | index as u64))
}

/// The stream of a point's quadratic-model control: independent of every point's own stream.
fn control_seed(point_seed: u64) -> u64 {
    splitmix64(point_seed ^ 0x5155_4144_5241_5449)
}

/// The exit diagnostics of a sweep ensemble and, when asked for, its quadratic-model control:
/// the same Gaussian recursion with drift −H*(θ−θ*), the same noise and exit test.
#[allow(clippy::too_many_arguments)]
fn diagnostics_and_control<E: crate::sgd::ExitTest>(
    config: &ScalingConfig,
    cfg: &Config,
    r: &Report,
    theta_star: &[f64],
    hessian: &crate::linalg::Matrix,
    c_sim: &crate::linalg::Matrix,
    gaussian: bool,
    loss: Option<&(dyn Fn(&[f64]) -> f64 + Sync)>,
    level: &(dyn Fn(&[f64]) -> f64 + Sync),
    barrier_loss: Option<f64>,
    channels: &[Vec<f64>],
    exit: &E,
) -> Result<(Option<ExitDiagnostics>, Option<(u64, Report)>)> {
    let diagnostics = if r.exit_points.is_empty() {
        None
    } else {
        Some(crate::analysis::exit_diagnostics::diagnose(
            &crate::analysis::exit_diagnostics::Setting {
                theta_star,
                hessian,
                diffusion: c_sim,
                eps2: cfg.eta / cfg.batch as f64,
                step: Some(cfg.eta),
                loss,
                level,
                barrier_loss,
                channels,
            },
            &r.exit_points,
        )?)
    };
    let control = if config.quadratic_control && gaussian {
        let seed = control_seed(cfg.seed);
        let drift = crate::problem::drift::LinearDrift {
            a: hessian.clone(),
            center: theta_star.to_vec(),
        };
        let c = Config {
            seed,
            ..cfg.clone()
        };
        Some((
            seed,
            crate::sgd::run_gaussian(&drift, c_sim, theta_star, exit, &c)?,
        ))
    } else {
        None
    };
    Ok((diagnostics, control))
}

fn sgd_config(config: &ScalingConfig, s: &Setting, seed: u64) -> Config {
    Config {
        eta: s.eta,
        batch: s.batch,
        runs: config.runs,
        max_steps: config.max_steps,
        seed,
    }
}

#[allow(clippy::too_many_arguments)]
fn finish(
    problem: String,
    config: &ScalingConfig,
    values: Vec<f64>,
    dim: usize,
    base: BaseSettings,
    gaussian_noise: String,
    proximal_scale: f64,
    exit_domain: String,
    mlp: Option<MlpSummary>,
    points: Vec<ScalingPoint>,
    mut notes: Vec<String>,
    start: Instant,
) -> Result<ScalingReport> {
    let methods: Vec<Method> = Method::ALL
        .into_iter()
        .filter(|m| points.iter().any(|p| p.method == *m))
        .collect();
    let mut fits = Vec::new();
    let b_varies = matches!(config.vary, Vary::Lr | Vary::Batch);
    for m in methods {
        let all: Vec<&ScalingPoint> = points.iter().filter(|p| p.method == m).collect();
        let mut regime = regime_problem(&all);
        // Points outside the regime are dropped when enough remain for a fit with a verdict.
        let kept: Vec<&ScalingPoint> = all.iter().copied().filter(|p| in_regime(p)).collect();
        let (pts, dropped) = if regime.is_some()
            && kept.iter().filter(|p| p.ln_mean.is_some()).count() >= MIN_REGIME_POINTS
        {
            let dropped: Vec<f64> = all.iter().filter(|p| !in_regime(p)).map(|p| p.x).collect();
            let why = regime.take().unwrap_or_default();
            notes.push(format!(
                "{}: {why}; those points ({} = {}) are left out of the fits, which use the {} in-regime points",
                m.name(),
                config.vary.name(),
                dropped
                    .iter()
                    .map(|x| format!("{x}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                kept.len()
            ));
            (kept, Some((dropped, why)))
        } else {
            if let Some(r) = &regime {
                notes.push(format!("{}: {r}", m.name()));
            }
            (all, None)
        };
        let mut fit_of = |against: &str, xf: fn(&ScalingPoint) -> f64| {
            let mut f = sweep_fit(m, against, &pts, xf, regime.as_deref());
            if let Some((d, why)) = &dropped {
                f.verdict = format!("{} [in-regime points only: {} dropped]", f.verdict, d.len());
                f.dropped = d.clone();
                f.dropped_reason = Some(why.clone());
            }
            fits.push(f);
        };
        fit_of(config.vary.name(), |p| p.x);
        if b_varies {
            fit_of("B/eta", |p| p.b_over_eta);
        }
    }
    let lower = points.iter().filter(|p| p.ln_mean.is_none()).count();
    if lower > 0 {
        notes.push(format!(
            "{lower} point(s) with no exit within {} steps (or none after the relaxation time): lower bounds, left out of the fits (raise --max-steps)",
            config.max_steps
        ));
    }
    if points.iter().any(|p| p.censored > 0) {
        notes.push("censored points: E[ν] = Kaplan–Meier restricted mean + exponential tail shifted by the relaxation time (bootstrap SE); see analysis::censored".into());
    }
    notes.push(if config.common_random_numbers {
        format!("common random numbers: every point reuses seed {} — the points are correlated and the slopes' CIs are not valid", config.seed)
    } else {
        format!("every point has its own random stream (derived from seed {}, the sweep, the method and the point): the points are independent", config.seed)
    });
    notes.push("predicted slopes: leading order (B/η)·V0, and a band with the prefactor from the continuous SDE (κ = +1) to the chain eq. (2) at step η (κ = −1, its own V0); and on level sets the flux slope ln(1/(θr)) of the chain at each point's ε (one-step flux r, cluster index θ), which decides the verdict where present (else the band)".into());
    Ok(ScalingReport {
        shard: None,
        problem,
        vary: config.vary,
        values,
        dim,
        base,
        gaussian_noise,
        proximal_scale,
        exit_domain,
        mlp,
        points,
        fits,
        notes,
        wall_seconds: start.elapsed().as_secs_f64(),
    })
}
