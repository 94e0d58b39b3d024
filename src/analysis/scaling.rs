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
//! The sharpness and depth sweeps of the same seed therefore give identical exit times.
//!
//! The discrete-time corrections (ln η from ν = τ/η, the prefactor's power of ε, and the O(ηλ)
//! bias of the Euler scheme) are not in the two weights' predictions; they are why a slope can
//! miss both. The O(ηλ) bias is computed exactly by a third, reported prediction (not part of the
//! verdict): V0 of the discrete chain eq. (2) itself on the quadratic model,
//! [`discrete_level_set_v0`] (level-set domains), which tends to the inverse-weight V0 as η → 0.
//! To first order in η it lowers V0 by a term ∝ η, i.e. it shifts ln E\[ν\] by a constant when η
//! is varied, so it changes slopes against α, β and B but not against B/η in an η sweep.
//!
//! **Fit.** ln E\[ν\] against x and (when it varies) against B/η by weighted least squares, weights
//! 1/se(ln E\[ν\])², slope standard error inflated by √(χ²/(n−2)) when that exceeds 1 (Birge ratio),
//! 95% CI = ±1.96 se. E\[ν\] per point: the sample mean with the delta-method se(ln) = se/mean when
//! no run is censored; with censored runs the maximum-likelihood mean of an exponential law,
//! Σ min(νᵣ, max_steps)/exited, with se(ln) = 1/√exited (censored runs count, they are not
//! dropped); a point where no run exited gives only a lower bound, is reported and plotted as
//! such, and is left out of the fit.
//!
//! Reference: Ibayashi & Imaizumi, "Exponential escape efficiency of SGD from sharp minima in
//! non-stationary regime", §5, Figures 5–7 (`../shared/reference/`).

use crate::error::{Error, Result};
use crate::linalg::{symmetric_eigen, Matrix};
use crate::plot::{plot_err, FONT};
use crate::problem::mlp::{fit, MlpConfig, MlpSummary};
use crate::problem::spec::{DomainSpec, NoiseSpec};
use crate::problem::{
    BuildOptions, Diffusion, ModelVisitor, Problem, ProblemSpec, VectorField, Weight,
};
use crate::sgd::{
    finite_population_factor, run_gaussian, run_minibatch, Config, ExitTest, QuadraticLevelSet,
    Report,
};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The quantity a sweep varies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Vary {
    /// α in L(θ) → L(√α θ) (λ_max → αλ_max).
    Sharpness,
    /// The learning rate η.
    Lr,
    /// The batch size B.
    Batch,
    /// β in L → βL (ΔL → βΔL, D fixed).
    Depth,
}

impl Vary {
    /// All four, in the paper's panel order.
    pub const ALL: [Vary; 4] = [Vary::Sharpness, Vary::Lr, Vary::Batch, Vary::Depth];
    /// Command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Vary::Sharpness => "sharpness",
            Vary::Lr => "lr",
            Vary::Batch => "batch",
            Vary::Depth => "depth",
        }
    }
    /// Axis label.
    pub fn label(self) -> &'static str {
        match self {
            Vary::Sharpness => "α (sharpness: L(√α θ), λmax → αλmax)",
            Vary::Lr => "η (learning rate)",
            Vary::Batch => "B (batch size)",
            Vary::Depth => "β (depth: L → βL, ΔL → βΔL)",
        }
    }
    /// Parse a command-line name.
    pub fn parse(s: &str) -> Result<Self> {
        Vary::ALL
            .into_iter()
            .find(|v| v.name() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "--vary",
                    format!("expected sharpness, lr, batch or depth, got \"{s}\""),
                )
            })
    }
    /// Default sweep as multiples of the base value (α, β: the values themselves).
    fn multipliers(self) -> [f64; 5] {
        match self {
            Vary::Sharpness | Vary::Depth => [0.8, 0.9, 1.0, 1.15, 1.3],
            Vary::Lr => [0.8, 0.9, 1.0, 1.133, 1.333],
            Vary::Batch => [0.75, 0.875, 1.0, 1.125, 1.25],
        }
    }
}

/// A simulated system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Gaussian SGD, eq. (2).
    GaussianSgd,
    /// The proximal isotropic system, eq. (4): C = c·I.
    Proximal,
    /// Real minibatch SGD, eq. (1) (finite sums only).
    MinibatchSgd,
}

impl Method {
    /// All three, in figure order (the paper's Figures 5, 6, 7).
    pub const ALL: [Method; 3] = [Method::GaussianSgd, Method::Proximal, Method::MinibatchSgd];
    /// Command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Method::GaussianSgd => "gaussian-sgd",
            Method::Proximal => "proximal",
            Method::MinibatchSgd => "minibatch-sgd",
        }
    }
    /// Parse a command-line name.
    pub fn parse(s: &str) -> Result<Self> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "--methods",
                    format!("expected gaussian-sgd, proximal or minibatch-sgd, got \"{s}\""),
                )
            })
    }
    fn title(self) -> &'static str {
        match self {
            Method::GaussianSgd => "Gaussian SGD, eq. (2)",
            Method::Proximal => "proximal system C = cI, eq. (4)",
            Method::MinibatchSgd => "minibatch SGD, eq. (1)",
        }
    }
}

/// What to sweep: the finite-sum `mlp` problem or a gradient problem (built-in or TOML).
#[derive(Clone, Debug)]
pub enum Target {
    /// The one-hidden-layer network of [`crate::problem::mlp`] (its `sharpness`/`depth` fields are
    /// the base α, β; normally 1).
    Mlp(MlpConfig),
    /// A problem spec with a gradient drift. Sharpness and depth sweeps need a quadratic one
    /// (`hessian` or `hessian_file`); η and B sweeps accept any loss.
    Problem {
        /// The spec.
        spec: Box<ProblemSpec>,
        /// Directory its relative paths are resolved against.
        base: PathBuf,
        /// Parameter overrides and `refine_minimum` (weight and noise are set here).
        options: BuildOptions,
    },
}

/// Settings of a sweep. `None` fields take problem-dependent defaults (stated in the report).
#[derive(Clone, Debug, Serialize)]
pub struct ScalingConfig {
    /// What is varied.
    pub vary: Vary,
    /// The values of the varied quantity (default: 5 values around the base, see the report).
    pub values: Option<Vec<f64>>,
    /// Base η (default: 0.3 for `mlp`; 0.1/λ_max(H*) for problems).
    pub eta: Option<f64>,
    /// Base B (default: 32 for `mlp`, 8 for problems).
    pub batch: Option<usize>,
    /// Depth ΔL of the level set D: for `mlp` D = {½(θ−θ*)ᵀH*(θ−θ*) < ΔL} (default 0.005); for a
    /// problem with a level-set domain it replaces the file's depth (default: the depth that puts
    /// (B/η)·V0 = 6 for Gaussian SGD, weight inverse, at the base setting, so that E\[ν\] ~ 1e3);
    /// an error for other domains.
    pub delta_l: Option<f64>,
    /// Runs per point (default 100).
    pub runs: usize,
    /// Step budget per run; longer runs are censored (default 200 000).
    pub max_steps: u64,
    /// Seed (default 1); every point uses the same seed (common random numbers).
    pub seed: u64,
    /// Methods (default: all that apply — minibatch SGD only for finite sums).
    pub methods: Option<Vec<Method>>,
    /// Gaussian-SGD covariance: `gradient-covariance` (default for `mlp`) or `hessian-at-minimum`
    /// (the only choice, and default, for problems).
    pub noise: Option<String>,
    /// Noise level c of the proximal system C = c·I (default: tr C/d of the Gaussian-SGD
    /// covariance at the base setting, the same total noise power).
    pub proximal_scale: Option<f64>,
    /// Relative eigenvalue floor applied to C* for the predictions (default 1e-6).
    pub covariance_floor: f64,
}

impl Default for ScalingConfig {
    fn default() -> Self {
        ScalingConfig {
            vary: Vary::Lr,
            values: None,
            eta: None,
            batch: None,
            delta_l: None,
            runs: 100,
            max_steps: 200_000,
            seed: 1,
            methods: None,
            noise: None,
            proximal_scale: None,
            covariance_floor: 1e-6,
        }
    }
}

/// One simulated point.
#[derive(Clone, Debug, Serialize)]
pub struct ScalingPoint {
    /// The method.
    pub method: Method,
    /// Value of the varied quantity.
    pub x: f64,
    /// η.
    pub eta: f64,
    /// B.
    pub batch: usize,
    /// α.
    pub sharpness: f64,
    /// β.
    pub depth: f64,
    /// B/η = 1/ε².
    pub b_over_eta: f64,
    /// λ_max(H*) at this setting.
    pub lambda_max: f64,
    /// ΔL of D at this setting.
    pub delta_l: f64,
    /// Estimated E\[ν\] (None when no run exited).
    pub mean_exit_steps: Option<f64>,
    /// 95% CI of E\[ν\] (from that of ln E\[ν\]).
    pub ci95: Option<[f64; 2]>,
    /// ln E\[ν\].
    pub ln_mean: Option<f64>,
    /// Standard error of ln E\[ν\].
    pub ln_se: Option<f64>,
    /// `sample-mean`, `censored-exponential-mle`, or `lower-bound` (no run exited: E\[ν\] ≥
    /// max_steps).
    pub estimator: String,
    /// Runs that exited.
    pub exited: usize,
    /// Censored runs.
    pub censored: usize,
    /// V0 under weight inverse-sqrt for this method's covariance (None if the exact engine does
    /// not apply).
    pub v0_inverse_sqrt: Option<f64>,
    /// V0 under weight inverse.
    pub v0_inverse: Option<f64>,
    /// V0 of the discrete chain eq. (2) at this η ([`discrete_level_set_v0`]; level-set domains
    /// only). → `v0_inverse` as η → 0.
    pub v0_discrete: Option<f64>,
    /// Wall time of the ensemble.
    pub wall_seconds: f64,
}

/// A predicted slope.
#[derive(Clone, Debug, Serialize)]
pub struct PredictedSlope {
    /// The action weight.
    pub weight: Weight,
    /// WLS slope of (B/η)·V0 against the same x with the same weights.
    pub slope: f64,
    /// |fitted − predicted| ≤ 1.96 se.
    pub inside_ci: bool,
}

/// A weighted least-squares line y = intercept + slope·x.
#[derive(Clone, Debug, Serialize)]
pub struct LinearFit {
    /// Slope.
    pub slope: f64,
    /// Its standard error (Birge-inflated).
    pub slope_se: f64,
    /// slope ± 1.96 se.
    pub slope_ci95: [f64; 2],
    /// Intercept.
    pub intercept: f64,
    /// χ²/(n − 2) (None for n = 2).
    pub reduced_chi2: Option<f64>,
    /// Points used.
    pub points: usize,
}

/// The fit of one method's ln E\[ν\] against one quantity, beside the predictions.
#[derive(Clone, Debug, Serialize)]
pub struct SweepFit {
    /// The method.
    pub method: Method,
    /// `x` (the varied quantity) or `B/eta`.
    pub against: String,
    /// The fit (None with fewer than 2 usable points).
    pub fit: Option<LinearFit>,
    /// Predicted slopes: inverse-sqrt then inverse (empty if the exact engine does not apply).
    pub predicted: Vec<PredictedSlope>,
    /// Predicted slope of the discrete chain eq. (2) (weight inverse with the O(η) correction;
    /// not part of the verdict, which is about the two weights).
    pub discrete: Option<PredictedSlope>,
    /// The weight the simulation follows: closest predicted slope, if inside the CI.
    pub follows: Option<Weight>,
    /// One line in words.
    pub verdict: String,
}

/// Base settings actually used.
#[derive(Clone, Debug, Serialize)]
pub struct BaseSettings {
    /// η.
    pub eta: f64,
    /// B.
    pub batch: usize,
    /// ΔL of D at β = 1.
    pub delta_l: f64,
    /// Runs per point.
    pub runs: usize,
    /// Step budget.
    pub max_steps: u64,
    /// Seed.
    pub seed: u64,
}

/// Result of a sweep.
#[derive(Clone, Debug, Serialize)]
pub struct ScalingReport {
    /// Problem name.
    pub problem: String,
    /// What was varied.
    pub vary: Vary,
    /// Its values.
    pub values: Vec<f64>,
    /// d.
    pub dim: usize,
    /// Base settings.
    pub base: BaseSettings,
    /// Covariance of Gaussian SGD, in words.
    pub gaussian_noise: String,
    /// c of the proximal system C = c·I.
    pub proximal_scale: f64,
    /// The exit domain, in words.
    pub exit_domain: String,
    /// The network at the base setting (`mlp` only).
    pub mlp: Option<MlpSummary>,
    /// Points, method-major.
    pub points: Vec<ScalingPoint>,
    /// Fits: per method, against x and (when B/η varies) against B/η.
    pub fits: Vec<SweepFit>,
    /// Caveats.
    pub notes: Vec<String>,
    /// Wall time.
    pub wall_seconds: f64,
}

/// Weighted least squares of y on x with standard errors `se` (weights 1/se²). None with fewer
/// than two points or no spread in x.
pub fn weighted_fit(x: &[f64], y: &[f64], se: &[f64]) -> Option<LinearFit> {
    let n = x.len();
    if n < 2 || y.len() != n || se.len() != n {
        return None;
    }
    let (mut s, mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for i in 0..n {
        let w = 1.0 / (se[i] * se[i]);
        if !w.is_finite() || w <= 0.0 {
            return None;
        }
        s += w;
        sx += w * x[i];
        sy += w * y[i];
        sxx += w * x[i] * x[i];
        sxy += w * x[i] * y[i];
    }
    let det = s * sxx - sx * sx;
    if det.abs() <= 1e-14 * s * sxx.abs().max(1e-300) {
        return None;
    }
    let slope = (s * sxy - sx * sy) / det;
    let intercept = (sxx * sy - sx * sxy) / det;
    let chi2: f64 = (0..n)
        .map(|i| ((y[i] - intercept - slope * x[i]) / se[i]).powi(2))
        .sum();
    let reduced = (n > 2).then(|| chi2 / (n - 2) as f64);
    let se_slope = (s / det).sqrt() * reduced.map_or(1.0, |r| r.max(1.0).sqrt());
    Some(LinearFit {
        slope,
        slope_se: se_slope,
        slope_ci95: [slope - 1.96 * se_slope, slope + 1.96 * se_slope],
        intercept,
        reduced_chi2: reduced,
        points: n,
    })
}

/// ln E\[ν\], its standard error and the estimator name from an ensemble (see the module docs).
pub fn log_mean_estimate(r: &Report) -> (Option<f64>, Option<f64>, &'static str) {
    if r.exited == 0 {
        return (None, None, "lower-bound");
    }
    if r.censored == 0 {
        let m = r.mean_exit_steps.expect("exited > 0");
        let se = match r.ci95 {
            Some([_, hi]) if hi > m => (hi - m) / 1.96 / m,
            _ => 1.0 / (r.exited as f64).sqrt(),
        };
        (Some(m.ln()), Some(se), "sample-mean")
    } else {
        let m = r.mean_exit_steps_mle.expect("exited > 0");
        (
            Some(m.ln()),
            Some(1.0 / (r.exited as f64).sqrt()),
            "censored-exponential-mle",
        )
    }
}

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

fn rows(m: &Matrix) -> Vec<Vec<f64>> {
    (0..m.n)
        .map(|i| m.data[i * m.n..(i + 1) * m.n].to_vec())
        .collect()
}

fn scaled(m: &Matrix, s: f64) -> Matrix {
    Matrix {
        n: m.n,
        data: m.data.iter().map(|v| v * s).collect(),
    }
}

fn trace(m: &Matrix) -> f64 {
    (0..m.n).map(|i| m.data[i * m.n + i]).sum()
}

fn lambda_max(m: &Matrix, field: &str) -> Result<f64> {
    let (vals, _) = symmetric_eigen(m, field)?;
    Ok(vals.last().copied().unwrap_or(0.0))
}

/// The quadratic model problem: L = ½(θ−θ*)ᵀH(θ−θ*), constant noise C, domain `domain`.
fn model_spec(theta_star: &[f64], h: &Matrix, domain: DomainSpec) -> ProblemSpec {
    ProblemSpec {
        name: Some("quadratic model".into()),
        description: None,
        variables: None,
        minimum: Some(theta_star.to_vec()),
        parameters: Default::default(),
        drift: crate::problem::spec::DriftSpec {
            hessian: Some(rows(h)),
            ..Default::default()
        },
        noise: None,
        domain,
        reference: None,
    }
}

/// V0 under (inverse-sqrt, inverse) for `spec` with constant noise C (exact engine). None when
/// the exact engine does not apply.
fn v0_pair(spec: &ProblemSpec, base: &Path, c: &Matrix) -> Result<Option<(f64, f64)>> {
    let mut s = spec.clone();
    s.noise = Some(NoiseSpec {
        source: Some("matrix".into()),
        matrix: Some(rows(c)),
        ..Default::default()
    });
    let mut out = [0.0; 2];
    for (k, w) in [Weight::InverseSqrt, Weight::Inverse]
        .into_iter()
        .enumerate()
    {
        let p = s.build(
            base,
            &BuildOptions {
                weight: Some(w),
                ..Default::default()
            },
        )?;
        match crate::exact::quasi_potential_barrier(&p) {
            Ok(b) => out[k] = b.v0,
            Err(Error::Unsupported(_)) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    Ok(Some((out[0], out[1])))
}

/// V0 of the discrete chain eq. (2) itself on the quadratic model: θ_{k+1} = (I − ηH)θ_k +
/// (η/√B)C^{1/2}ξ_k. Its quasi-potential (least energy ½Σ|ξ_k|² to reach x, times η/B) is
/// ½xᵀΣ_η⁻¹x with HΣ_η + Σ_ηH − ηHΣ_ηH = C (the stationary covariance over ε² = η/B; η → 0 gives the
/// Lyapunov equation of eq. (3), weight inverse). On D = {½xᵀHx < ΔL}: V0 = ΔL/λ_max(H^{1/2}Σ_ηH^{1/2}).
/// Solved in H's eigenbasis: Σ'ᵢⱼ = C'ᵢⱼ/(λᵢ + λⱼ − ηλᵢλⱼ). None when ηλ_max ≥ 2 (unstable chain).
pub fn discrete_level_set_v0(
    h: &Matrix,
    c: &Matrix,
    delta_l: f64,
    eta: f64,
) -> Result<Option<f64>> {
    let (lam, q) = symmetric_eigen(h, "H*")?;
    let n = lam.len();
    if lam[0] <= 0.0 || eta * lam[n - 1] >= 2.0 {
        return Ok(None);
    }
    let cf = c.to_faer();
    let cp = q.transpose() * &cf * &q;
    let m = Matrix {
        n,
        data: (0..n * n)
            .map(|k| {
                let (i, j) = (k / n, k % n);
                let den = lam[i] + lam[j] - eta * lam[i] * lam[j];
                lam[i].sqrt() * cp[(i, j)] / den * lam[j].sqrt()
            })
            .collect(),
    };
    let m = Matrix {
        n,
        data: (0..n * n)
            .map(|k| 0.5 * (m.data[k] + m.data[(k % n) * n + k / n]))
            .collect(),
    };
    let top = lambda_max(&m, "H^1/2 Σ H^1/2")?;
    Ok((top > 0.0).then(|| delta_l / top))
}

struct GaussianVisit<'a, E: ExitTest> {
    c: &'a Matrix,
    theta0: &'a [f64],
    exit: &'a E,
    config: &'a Config,
}

impl<E: ExitTest> ModelVisitor for GaussianVisit<'_, E> {
    type Output = Result<Report>;
    fn visit<B: VectorField, N: Diffusion>(self, b: &B, _n: &N) -> Result<Report> {
        run_gaussian(b, self.c, self.theta0, self.exit, self.config)
    }
}

/// Everything one setting needs, whatever the target.
struct Prepared {
    lambda_max: f64,
    delta_l: f64,
    /// The quadratic model of this setting (for the predictions).
    spec: ProblemSpec,
}

/// Run a sweep. `progress(done, total)` is called after each ensemble.
pub fn scaling(
    target: &Target,
    config: &ScalingConfig,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<ScalingReport> {
    let start = Instant::now();
    if config.runs == 0 {
        return Err(Error::invalid("--runs", "must be ≥ 1"));
    }
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
    match target {
        Target::Mlp(mc) => run_mlp(mc, config, &methods, grad_cov, progress, start),
        Target::Problem {
            spec,
            base,
            options,
        } => run_problem(spec, base, options, config, &methods, progress, start),
    }
}

#[allow(clippy::too_many_arguments)]
fn point(
    method: Method,
    s: &Setting,
    lambda_max: f64,
    delta_l: f64,
    r: &Report,
    v0: Option<(f64, f64)>,
    v0_discrete: Option<f64>,
) -> ScalingPoint {
    let (ln_mean, ln_se, estimator) = log_mean_estimate(r);
    ScalingPoint {
        method,
        x: s.x,
        eta: s.eta,
        batch: s.batch,
        sharpness: s.alpha,
        depth: s.beta,
        b_over_eta: s.batch as f64 / s.eta,
        lambda_max,
        delta_l,
        mean_exit_steps: ln_mean.map(f64::exp),
        ci95: ln_mean
            .zip(ln_se)
            .map(|(m, se)| [(m - 1.96 * se).exp(), (m + 1.96 * se).exp()]),
        ln_mean,
        ln_se,
        estimator: estimator.into(),
        exited: r.exited,
        censored: r.censored,
        v0_inverse_sqrt: v0.map(|v| v.0),
        v0_inverse: v0.map(|v| v.1),
        v0_discrete,
        wall_seconds: r.wall_seconds,
    }
}

fn sgd_config(config: &ScalingConfig, s: &Setting) -> Config {
    Config {
        eta: s.eta,
        batch: s.batch,
        runs: config.runs,
        max_steps: config.max_steps,
        seed: config.seed,
    }
}

fn identity(d: usize, c: f64) -> Matrix {
    let mut m = Matrix::zeros(d);
    for i in 0..d {
        m.data[i * d + i] = c;
    }
    m
}

fn run_mlp(
    mc: &MlpConfig,
    config: &ScalingConfig,
    methods: &[Method],
    grad_cov: bool,
    progress: &(dyn Fn(usize, usize) + Sync),
    start: Instant,
) -> Result<ScalingReport> {
    let eta = config.eta.unwrap_or(0.3);
    let batch = config.batch.unwrap_or(32);
    let delta_l = config.delta_l.unwrap_or(0.005);
    if !(delta_l.is_finite() && delta_l > 0.0) {
        return Err(Error::invalid(
            "--delta-l",
            format!("must be > 0, got {delta_l}"),
        ));
    }
    let values = config
        .values
        .clone()
        .unwrap_or_else(|| default_values(config.vary, eta, batch));
    let sets = settings(config.vary, &values, eta, batch)?;
    let base_fit = fit(mc)?;
    let n = base_fit.model.num_examples();
    for s in &sets {
        if s.batch > n {
            return Err(Error::invalid(
                "--batch",
                format!("B = {} exceeds the N = {n} examples", s.batch),
            ));
        }
        if s.batch == n && grad_cov {
            return Err(Error::invalid(
                "--batch",
                format!("B = N = {n}: minibatch gradients carry no noise"),
            ));
        }
    }
    let d = base_fit.theta_star.len();
    // Covariance of the method at a fitted minimum and batch size: for simulation, for prediction.
    let cov = |m: &crate::problem::mlp::MlpMinimum, b: usize| -> Result<(Matrix, Matrix)> {
        if grad_cov {
            let f = finite_population_factor(n, b);
            Ok((
                scaled(&m.gradient_covariance, f),
                scaled(
                    &m.regularised_gradient_covariance(config.covariance_floor)?,
                    f,
                ),
            ))
        } else {
            Ok((m.hessian.clone(), m.hessian.clone()))
        }
    };
    let proximal_scale = match config.proximal_scale {
        Some(c) => c,
        None => trace(&cov(&base_fit, batch)?.0) / d as f64,
    };
    let total = sets.len() * methods.len();
    let mut done = 0;
    let mut points = Vec::new();
    for s in &sets {
        let m = fit(&MlpConfig {
            sharpness: mc.sharpness * s.alpha,
            depth: mc.depth * s.beta,
            ..mc.clone()
        })?;
        let dl = delta_l * s.beta;
        let exit = QuadraticLevelSet::new(&m.theta_star, &m.hessian, dl)?;
        let spec = model_spec(
            &m.theta_star,
            &m.hessian,
            DomainSpec {
                kind: "level-set".into(),
                depth: Some(dl),
                ..Default::default()
            },
        );
        let here = Path::new(".");
        let lmax = m.hessian_spectrum.lambda_max;
        let cfg = sgd_config(config, s);
        for &method in methods {
            let (r, c_pred) = match method {
                Method::GaussianSgd => {
                    let (sim, pred) = cov(&m, s.batch)?;
                    let r = run_gaussian(&m.model, &sim, &m.theta_star, &exit, &cfg)?;
                    (r, pred)
                }
                Method::Proximal => {
                    let c = identity(d, proximal_scale);
                    let r = run_gaussian(&m.model, &c, &m.theta_star, &exit, &cfg)?;
                    (r, c)
                }
                Method::MinibatchSgd => {
                    let f = finite_population_factor(n, s.batch);
                    let pred = scaled(
                        &m.regularised_gradient_covariance(config.covariance_floor)?,
                        f,
                    );
                    let r = run_minibatch(&m.model, &m.theta_star, &exit, &cfg)?;
                    (r, pred)
                }
            };
            let v0 = v0_pair(&spec, here, &c_pred)?;
            let vd = discrete_level_set_v0(&m.hessian, &c_pred, dl, s.eta)?;
            points.push(point(method, s, lmax, dl, &r, v0, vd));
            done += 1;
            progress(done, total);
        }
    }
    let gaussian_noise = if grad_cov {
        "gradient-covariance: C = C*·(N−B)/(N−1) (per-example gradient covariance at θ*, finite-population factor; C* floored at 1e-6·λ_max for the predictions)".to_string()
    } else {
        "hessian-at-minimum: C = H*".to_string()
    };
    let mut notes = vec![format!(
        "minibatch-sgd predictions use C = C*·(N−B)/(N−1), the covariance of its minibatch gradient (N = {n})"
    )];
    if config.vary == Vary::Depth {
        notes.push("for minibatch SGD the depth map L → βL is exactly a learning-rate change η → βη: C* scales by β², H* by β".into());
    }
    if config.vary == Vary::Sharpness {
        notes.push("for minibatch SGD the sharpness map L(√α θ) is exactly a learning-rate change η → αη in the coordinates φ = √α θ (D maps onto itself): C* scales by α like H*".into());
    }
    finish(
        format!(
            "mlp ({}, width {}, λ = {})",
            mc.dataset.name(),
            mc.width,
            mc.l2
        ),
        config,
        values,
        d,
        BaseSettings {
            eta,
            batch,
            delta_l,
            runs: config.runs,
            max_steps: config.max_steps,
            seed: config.seed,
        },
        gaussian_noise,
        proximal_scale,
        "quadratic level set {½(θ−θ*)ᵀH*(θ−θ*) < βΔL}".into(),
        Some(base_fit.summary()),
        points,
        notes,
        start,
    )
}

fn run_problem(
    spec_in: &ProblemSpec,
    base: &Path,
    options: &BuildOptions,
    config: &ScalingConfig,
    methods: &[Method],
    progress: &(dyn Fn(usize, usize) + Sync),
    start: Instant,
) -> Result<ScalingReport> {
    let build = |s: &ProblemSpec| -> Result<Problem> {
        s.build(
            base,
            &BuildOptions {
                weight: Some(Weight::Inverse),
                noise_source: Some("hessian-at-minimum".into()),
                ..options.clone()
            },
        )
    };
    let mut spec = spec_in.clone();
    let level_set = spec.domain.kind == "level-set";
    if let Some(dl) = config.delta_l {
        if !level_set {
            return Err(Error::invalid(
                "--delta-l",
                format!(
                    "sets the depth of a level-set domain; this problem's domain is a {}",
                    spec.domain.kind
                ),
            ));
        }
        if !(dl.is_finite() && dl > 0.0) {
            return Err(Error::invalid(
                "--delta-l",
                format!("must be > 0, got {dl}"),
            ));
        }
        spec.domain.depth = Some(dl);
    }
    let spec = &mut spec;
    let p0 = build(spec)?;
    let h0 = p0.hessian_at_minimum().ok_or_else(|| {
        Error::invalid(
            "drift",
            "scaling needs a gradient drift (a `loss` or a `hessian`)",
        )
    })?;
    let quadratic = spec.drift.hessian.is_some() || spec.drift.hessian_file.is_some();
    if !quadratic && matches!(config.vary, Vary::Sharpness | Vary::Depth) {
        return Err(Error::Unsupported(format!(
            "--vary {} maps the loss (L(√α θ), βL), which is implemented for quadratic problems (`hessian`) and `mlp`; \"{}\" has a formula loss — vary lr or batch",
            config.vary.name(),
            p0.name
        )));
    }
    let d = p0.dim();
    let lmax0 = lambda_max(&h0, "H*")?;
    let domain_spec = |sp: &ProblemSpec, beta: f64| -> DomainSpec {
        let mut dspec = sp.domain.clone();
        if dspec.kind == "level-set" {
            dspec.depth = dspec.depth.map(|v| v * beta);
        }
        dspec
    };
    // The problem at setting (α, β) and its quadratic model (for the predictions).
    let at = |sp: &ProblemSpec, alpha: f64, beta: f64| -> Result<(Problem, ProblemSpec)> {
        if quadratic {
            let mut s = sp.clone();
            let h = scaled(&h0, alpha * beta);
            s.drift.hessian = Some(rows(&h));
            s.drift.hessian_file = None;
            s.minimum = Some(p0.minimum.iter().map(|v| v / alpha.sqrt()).collect());
            s.domain = domain_spec(sp, beta);
            let p = build(&s)?;
            Ok((p, s))
        } else {
            let p = build(sp)?;
            let h = p.hessian_at_minimum().expect("gradient drift");
            let ms = model_spec(&p.minimum, &h, domain_spec(sp, 1.0));
            Ok((p, ms))
        }
    };
    let eta = match config.eta {
        Some(e) => e,
        None => 0.1 / lmax0,
    };
    let proximal_scale = config
        .proximal_scale
        .unwrap_or_else(|| trace(&h0) / d as f64);
    let batch = config.batch.unwrap_or(8);
    if batch == 0 {
        return Err(Error::invalid("--batch", "must be ≥ 1"));
    }
    let mut notes = Vec::new();
    if level_set && config.delta_l.is_none() {
        // Choose ΔL so that the base setting has (B/η)·V0 = 6 for Gaussian SGD (weight inverse;
        // V0 ∝ ΔL on a level set): exit times of ~1e3 iterations.
        let (_, ms) = at(spec, 1.0, 1.0)?;
        if let Some((_, v_inv)) = v0_pair(&ms, base, &h0)? {
            let old = spec.domain.depth.unwrap_or(f64::NAN);
            let new = old * 6.0 / (batch as f64 / eta * v_inv);
            if new.is_finite() && new > 0.0 {
                spec.domain.depth = Some(new);
                notes.push(format!(
                    "ΔL set to {new:.4e} (file: {old}) so that (B/η)·V0 = 6 at the base setting; override with --delta-l"
                ));
            }
        }
    }
    let delta_l = if level_set {
        spec.domain.depth.unwrap_or(f64::NAN)
    } else {
        f64::NAN
    };
    let values = config
        .values
        .clone()
        .unwrap_or_else(|| default_values(config.vary, eta, batch));
    let sets = settings(config.vary, &values, eta, batch)?;
    let total = sets.len() * methods.len();
    let mut done = 0;
    let mut points = Vec::new();
    if !quadratic {
        notes.push("predictions use the quadratic model of L at θ* (same domain spec); the simulation uses the full loss".into());
    }
    for s in &sets {
        let (p, ms) = at(spec, s.alpha, s.beta)?;
        let h = p.hessian_at_minimum().expect("gradient drift");
        let prep = Prepared {
            lambda_max: lambda_max(&h, "H*")?,
            delta_l: delta_l * s.beta,
            spec: ms,
        };
        let cfg = sgd_config(config, s);
        for &method in methods {
            let c = match method {
                Method::GaussianSgd => h.clone(),
                Method::Proximal => identity(d, proximal_scale),
                Method::MinibatchSgd => unreachable!("rejected above"),
            };
            let r = p.visit(GaussianVisit {
                c: &c,
                theta0: &p.minimum,
                exit: &p.domain,
                config: &cfg,
            })?;
            let v0 = v0_pair(&prep.spec, base, &c)?;
            let vd = match (prep.spec.domain.kind.as_str(), prep.spec.domain.depth) {
                ("level-set", Some(dl)) => discrete_level_set_v0(&h, &c, dl, s.eta)?,
                _ => None,
            };
            points.push(point(method, s, prep.lambda_max, prep.delta_l, &r, v0, vd));
            done += 1;
            progress(done, total);
        }
    }
    if points.iter().any(|p| p.v0_inverse.is_none()) {
        notes.push("the exact engine does not apply to this domain: no predicted slopes".into());
    }
    finish(
        p0.name.clone(),
        config,
        values,
        d,
        BaseSettings {
            eta,
            batch,
            delta_l,
            runs: config.runs,
            max_steps: config.max_steps,
            seed: config.seed,
        },
        "hessian-at-minimum: C = H*".into(),
        proximal_scale,
        format!("the problem's domain ({})", spec.domain.kind),
        None,
        points,
        notes,
        start,
    )
}

/// Fit one method's points against `xf(point)`.
fn sweep_fit(
    method: Method,
    against: &str,
    pts: &[&ScalingPoint],
    xf: fn(&ScalingPoint) -> f64,
) -> SweepFit {
    let used: Vec<&&ScalingPoint> = pts.iter().filter(|p| p.ln_mean.is_some()).collect();
    let x: Vec<f64> = used.iter().map(|p| xf(p)).collect();
    let y: Vec<f64> = used.iter().map(|p| p.ln_mean.expect("filtered")).collect();
    let se: Vec<f64> = used.iter().map(|p| p.ln_se.expect("filtered")).collect();
    let fit = weighted_fit(&x, &y, &se);
    let mut predicted = Vec::new();
    if let Some(f) = &fit {
        for (w, get) in [
            (
                Weight::InverseSqrt,
                (|p: &ScalingPoint| p.v0_inverse_sqrt) as fn(&ScalingPoint) -> Option<f64>,
            ),
            (Weight::Inverse, |p: &ScalingPoint| p.v0_inverse),
        ] {
            let py: Option<Vec<f64>> = used
                .iter()
                .map(|p| get(p).map(|v| v * p.b_over_eta))
                .collect();
            if let Some(py) = py {
                if let Some(pf) = weighted_fit(&x, &py, &se) {
                    predicted.push(PredictedSlope {
                        weight: w,
                        slope: pf.slope,
                        inside_ci: (f.slope - pf.slope).abs() <= 1.96 * f.slope_se,
                    });
                }
            }
        }
    }
    let discrete = fit.as_ref().and_then(|f| {
        let py: Option<Vec<f64>> = used
            .iter()
            .map(|p| p.v0_discrete.map(|v| v * p.b_over_eta))
            .collect();
        weighted_fit(&x, &py?, &se).map(|pf| PredictedSlope {
            weight: Weight::Inverse,
            slope: pf.slope,
            inside_ci: (f.slope - pf.slope).abs() <= 1.96 * f.slope_se,
        })
    });
    let (follows, verdict) = verdict(fit.as_ref(), &predicted);
    SweepFit {
        method,
        against: against.into(),
        fit,
        predicted,
        discrete,
        follows,
        verdict,
    }
}

fn weight_name(w: Weight) -> &'static str {
    match w {
        Weight::InverseSqrt => "inverse-sqrt",
        Weight::Inverse => "inverse",
    }
}

fn verdict(fit: Option<&LinearFit>, pred: &[PredictedSlope]) -> (Option<Weight>, String) {
    let Some(f) = fit else {
        return (None, "fewer than 2 usable points: no fit".into());
    };
    if pred.len() < 2 {
        return (None, "no exact prediction".into());
    }
    let tol = 1e-6 * (pred[0].slope.abs() + pred[1].slope.abs() + f.slope_se);
    if (pred[0].slope - pred[1].slope).abs() <= tol {
        return (
            None,
            if pred[0].inside_ci {
                "the two weights predict the same slope; the fit agrees with it".into()
            } else {
                "the two weights predict the same slope; it is outside the fit's CI".into()
            },
        );
    }
    let closest = if (f.slope - pred[0].slope).abs() <= (f.slope - pred[1].slope).abs() {
        &pred[0]
    } else {
        &pred[1]
    };
    let other = if std::ptr::eq(closest, &pred[0]) {
        &pred[1]
    } else {
        &pred[0]
    };
    match (closest.inside_ci, other.inside_ci) {
        (true, false) => (
            Some(closest.weight),
            format!(
                "follows {} (inside the CI; {} outside)",
                weight_name(closest.weight),
                weight_name(other.weight)
            ),
        ),
        (true, true) => (
            None,
            format!(
                "both inside the CI (closest: {}): cannot tell the weights apart",
                weight_name(closest.weight)
            ),
        ),
        _ => (
            None,
            format!(
                "closest to {}, but neither prediction is inside the CI",
                weight_name(closest.weight)
            ),
        ),
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
        let pts: Vec<&ScalingPoint> = points.iter().filter(|p| p.method == m).collect();
        fits.push(sweep_fit(m, config.vary.name(), &pts, |p| p.x));
        if b_varies {
            fits.push(sweep_fit(m, "B/eta", &pts, |p| p.b_over_eta));
        }
    }
    let lower = points.iter().filter(|p| p.ln_mean.is_none()).count();
    if lower > 0 {
        notes.push(format!(
            "{lower} point(s) where no run exited within {} steps: lower bounds, left out of the fits (raise --max-steps)",
            config.max_steps
        ));
    }
    notes.push("predicted ln E[ν] = (B/η)·V0 + const (leading order; ln η, the prefactor and the O(ηλ) Euler bias are not included)".into());
    Ok(ScalingReport {
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

// ---------------------------------------------------------------------------------------------
// Files and figures.

fn method_color(m: Method) -> RGBColor {
    match m {
        Method::GaussianSgd => RGBColor(31, 119, 180),
        Method::Proximal => RGBColor(44, 160, 44),
        Method::MinibatchSgd => RGBColor(214, 39, 40),
    }
}

const INVERSE_COLOR: RGBColor = RGBColor(255, 127, 14);
const INVERSE_SQRT_COLOR: RGBColor = RGBColor(148, 103, 189);
const DISCRETE_COLOR: RGBColor = RGBColor(90, 90, 90);

/// Draw one panel: ln E\[ν\] of `methods` against the varied quantity, CI bars, and (for a single
/// method) both predicted curves anchored at the points' weighted mean.
fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    report: &ScalingReport,
    methods: &[Method],
    title: &str,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let pts: Vec<&ScalingPoint> = report
        .points
        .iter()
        .filter(|p| methods.contains(&p.method))
        .collect();
    let ys = |p: &ScalingPoint| -> (f64, f64, f64) {
        match (p.ln_mean, p.ln_se) {
            (Some(m), Some(se)) => (m - 1.96 * se, m, m + 1.96 * se),
            _ => {
                let lb = (report.base.max_steps as f64).ln();
                (lb, lb, lb)
            }
        }
    };
    // (label, colour, curve) of each prediction.
    let mut preds: Vec<(&str, RGBColor, Vec<(f64, f64)>)> = Vec::new();
    if methods.len() == 1 {
        let used: Vec<&&ScalingPoint> = pts.iter().filter(|p| p.ln_mean.is_some()).collect();
        type Get = fn(&ScalingPoint) -> Option<f64>;
        let models: [(&str, RGBColor, Get); 3] = [
            ("predicted, weight inverse-sqrt", INVERSE_SQRT_COLOR, |p| {
                p.v0_inverse_sqrt
            }),
            ("predicted, weight inverse", INVERSE_COLOR, |p| p.v0_inverse),
            ("predicted, discrete chain eq. (2)", DISCRETE_COLOR, |p| {
                p.v0_discrete
            }),
        ];
        for (label, color, v) in models {
            if used.is_empty() || used.iter().any(|p| v(p).is_none()) {
                continue;
            }
            let (mut sw, mut sr) = (0.0, 0.0);
            for p in &used {
                let wt = 1.0 / p.ln_se.expect("used").powi(2);
                sw += wt;
                sr += wt * (p.ln_mean.expect("used") - v(p).expect("checked") * p.b_over_eta);
            }
            let c = sr / sw;
            let mut line: Vec<(f64, f64)> = pts
                .iter()
                .filter_map(|p| v(p).map(|v0| (p.x, v0 * p.b_over_eta + c)))
                .collect();
            line.sort_by(|a, b| a.0.total_cmp(&b.0));
            preds.push((label, color, line));
        }
    }
    let mut xlo = f64::INFINITY;
    let mut xhi = f64::NEG_INFINITY;
    let mut ylo = f64::INFINITY;
    let mut yhi = f64::NEG_INFINITY;
    for p in &pts {
        let (a, _, b) = ys(p);
        xlo = xlo.min(p.x);
        xhi = xhi.max(p.x);
        ylo = ylo.min(a);
        yhi = yhi.max(b);
    }
    for (_, _, l) in &preds {
        for &(_, y) in l {
            ylo = ylo.min(y);
            yhi = yhi.max(y);
        }
    }
    if !xlo.is_finite() {
        (xlo, xhi, ylo, yhi) = (0.0, 1.0, 0.0, 1.0);
    }
    let dx = (xhi - xlo).max(1e-9 * xhi.abs().max(1.0)) * 0.08;
    let dy = (yhi - ylo).max(0.5) * 0.08;
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 16))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d((xlo - dx)..(xhi + dx), (ylo - dy)..(yhi + dy))
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc(report.vary.label())
        .y_desc("ln E[ν] (iterations)")
        .label_style((FONT, 12))
        .draw()
        .map_err(plot_err)?;
    for (label, color, line) in &preds {
        let color = *color;
        let width = if color == DISCRETE_COLOR { 1 } else { 2 };
        chart
            .draw_series(LineSeries::new(line.clone(), color.stroke_width(width)))
            .map_err(plot_err)?
            .label(*label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(width))
            });
    }
    for &m in methods {
        let color = method_color(m);
        let mine: Vec<&&ScalingPoint> = pts.iter().filter(|p| p.method == m).collect();
        if mine.is_empty() {
            continue;
        }
        chart
            .draw_series(mine.iter().map(|p| {
                let (a, _, b) = ys(p);
                PathElement::new(vec![(p.x, a), (p.x, b)], color.stroke_width(2))
            }))
            .map_err(plot_err)?;
        chart
            .draw_series(mine.iter().map(|p| {
                let (_, y, _) = ys(p);
                if p.ln_mean.is_some() {
                    Circle::new((p.x, y), 4, color.filled()).into_dyn()
                } else {
                    TriangleMarker::new((p.x, y), 6, color.filled()).into_dyn()
                }
            }))
            .map_err(plot_err)?
            .label(m.name())
            .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font((FONT, 11))
        .draw()
        .map_err(plot_err)?;
    Ok(())
}

/// One sweep, four panels: each method with both predicted curves, then all methods together.
pub struct SweepFigure<'a>(pub &'a ScalingReport);

impl Figure for SweepFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let r = self.0;
        let root = root
            .titled(
                &format!(
                    "{}: ln E[ν] vs {} (η = {}, B = {})",
                    r.problem,
                    r.vary.name(),
                    r.base.eta,
                    r.base.batch
                ),
                (FONT, 20),
            )
            .map_err(plot_err)?;
        let panels = root.split_evenly((2, 2));
        let present: Vec<Method> = Method::ALL
            .into_iter()
            .filter(|m| r.points.iter().any(|p| p.method == *m))
            .collect();
        for (k, area) in panels.iter().enumerate() {
            if let Some(&m) = present.get(k) {
                draw_panel(area, r, &[m], m.title())?;
            } else if k == present.len() {
                draw_panel(area, r, &present, "all methods")?;
            }
        }
        Ok(())
    }
}

/// The paper's layout: one method, four panels (one per sweep, in the order given).
pub struct MethodFigure<'a> {
    /// The sweeps (normally sharpness, lr, batch, depth).
    pub reports: &'a [ScalingReport],
    /// The method drawn.
    pub method: Method,
    /// Figure title.
    pub title: String,
}

impl Figure for MethodFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let root = root.titled(&self.title, (FONT, 20)).map_err(plot_err)?;
        let panels = root.split_evenly((2, 2));
        for (area, r) in panels.iter().zip(self.reports) {
            draw_panel(area, r, &[self.method], &format!("vary {}", r.vary.name()))?;
        }
        Ok(())
    }
}

use crate::plot::Figure;

/// Write `scaling_<vary>.csv` (one row per point), `scaling_<vary>.json` and the four-panel
/// figure `scaling_<vary>.png`/`.svg` into `dir`.
pub fn write_files(report: &ScalingReport, dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |p: &Path, e: std::io::Error| Error::Io {
        path: p.display().to_string(),
        source: e,
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let stem = format!("scaling_{}", report.vary.name());
    let csv = dir.join(format!("{stem}.csv"));
    std::fs::write(&csv, points_csv(report)).map_err(|e| io(&csv, e))?;
    let json = dir.join(format!("{stem}.json"));
    let body = serde_json::to_string_pretty(report)
        .map_err(|e| Error::numerical("scaling report", e.to_string()))?;
    std::fs::write(&json, body).map_err(|e| io(&json, e))?;
    let mut files = vec![csv, json];
    files.extend(crate::plot::save_figure(
        &SweepFigure(report),
        &dir.join(&stem),
        (1200, 900),
    )?);
    Ok(files)
}

/// The points as CSV.
pub fn points_csv(report: &ScalingReport) -> String {
    let opt = |v: Option<f64>| v.map(|v| format!("{v:.6e}")).unwrap_or_default();
    let mut text = String::from("method,x,eta,batch,sharpness,depth,b_over_eta,lambda_max,delta_l,mean_exit_steps,ci95_lo,ci95_hi,ln_mean,ln_se,estimator,exited,censored,v0_inverse_sqrt,v0_inverse,v0_discrete\n");
    for p in &report.points {
        text.push_str(&format!(
            "{},{},{},{},{},{},{},{:.6e},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            p.method.name(),
            p.x,
            p.eta,
            p.batch,
            p.sharpness,
            p.depth,
            p.b_over_eta,
            p.lambda_max,
            p.delta_l,
            opt(p.mean_exit_steps),
            opt(p.ci95.map(|c| c[0])),
            opt(p.ci95.map(|c| c[1])),
            opt(p.ln_mean),
            opt(p.ln_se),
            p.estimator,
            p.exited,
            p.censored,
            opt(p.v0_inverse_sqrt),
            opt(p.v0_inverse),
            opt(p.v0_discrete),
        ));
    }
    text
}

/// Markdown table of the fits (method, against, slope ± CI, predicted slopes, verdict).
pub fn fits_markdown(reports: &[ScalingReport]) -> String {
    let mut s = String::from(
        "| sweep | method | ln E[ν] against | fitted slope (95% CI) | predicted, inverse-sqrt | predicted, inverse | predicted, discrete eq. (2) | verdict |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in reports {
        for f in &r.fits {
            let pred = |w: Weight| {
                f.predicted
                    .iter()
                    .find(|p| p.weight == w)
                    .map(|p| format!("{:.4}", p.slope))
                    .unwrap_or_else(|| "—".into())
            };
            let fit = f
                .fit
                .as_ref()
                .map(|l| {
                    format!(
                        "{:.4} ({:.4} … {:.4})",
                        l.slope, l.slope_ci95[0], l.slope_ci95[1]
                    )
                })
                .unwrap_or_else(|| "—".into());
            let disc = f
                .discrete
                .as_ref()
                .map(|p| {
                    format!(
                        "{:.4}{}",
                        p.slope,
                        if p.inside_ci { " (in CI)" } else { "" }
                    )
                })
                .unwrap_or_else(|| "—".into());
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
                r.vary.name(),
                f.method.name(),
                f.against,
                fit,
                pred(Weight::InverseSqrt),
                pred(Weight::Inverse),
                disc,
                f.verdict
            ));
        }
    }
    s
}

/// Markdown table of the points (E\[ν\] with CI per method and setting).
pub fn points_markdown(reports: &[ScalingReport]) -> String {
    let mut s = String::from(
        "| sweep | method | x | η | B | E[ν] (95% CI) | censored | V0 inverse-sqrt | V0 inverse | V0 discrete |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in reports {
        for p in &r.points {
            let e = match (p.mean_exit_steps, p.ci95) {
                (Some(m), Some(c)) => format!("{m:.3e} ({:.2e} … {:.2e})", c[0], c[1]),
                _ => format!("≥ {:.1e}", r.base.max_steps as f64),
            };
            let v = |v: Option<f64>| v.map(|v| format!("{v:.4e}")).unwrap_or_else(|| "—".into());
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                r.vary.name(),
                p.method.name(),
                p.x,
                p.eta,
                p.batch,
                e,
                p.censored,
                v(p.v0_inverse_sqrt),
                v(p.v0_inverse),
                v(p.v0_discrete)
            ));
        }
    }
    s
}
