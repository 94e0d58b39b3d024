//! The data a sweep returns: points, fits, predictions, verdicts.

use super::config::{Method, ScalingConfig, Vary};
use crate::analysis::exit_diagnostics::ExitDiagnostics;
use crate::problem::mlp::MlpConfig;
use crate::problem::mlp::MlpSummary;
use crate::problem::Weight;
use crate::sde::Shard;
use serde::{Deserialize, Deserializer, Serialize};

/// JSON writes a NaN as `null`: read it back as NaN (shards of a sweep are read back this way).
pub(crate) fn f64_or_nan<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// One simulated point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScalingPoint {
    /// Position among the sweep's points (settings in order, methods within each): what shards
    /// split and `merge` puts back in order.
    #[serde(default)]
    pub index: usize,
    /// The method.
    pub method: Method,
    /// Value of the varied quantity.
    #[serde(deserialize_with = "f64_or_nan")]
    pub x: f64,
    /// η.
    #[serde(deserialize_with = "f64_or_nan")]
    pub eta: f64,
    /// B.
    pub batch: usize,
    /// α.
    #[serde(deserialize_with = "f64_or_nan")]
    pub sharpness: f64,
    /// β.
    #[serde(deserialize_with = "f64_or_nan")]
    pub depth: f64,
    /// B/η = 1/ε².
    #[serde(deserialize_with = "f64_or_nan")]
    pub b_over_eta: f64,
    /// λ_max(H*) at this setting.
    #[serde(deserialize_with = "f64_or_nan")]
    pub lambda_max: f64,
    /// ΔL of D at this setting.
    #[serde(deserialize_with = "f64_or_nan")]
    pub delta_l: f64,
    /// Estimated E\[ν\] (None when no run exited).
    pub mean_exit_steps: Option<f64>,
    /// 95% CI of E\[ν\] (from that of ln E\[ν\]).
    pub ci95: Option<[f64; 2]>,
    /// ln E\[ν\].
    pub ln_mean: Option<f64>,
    /// Standard error of ln E\[ν\].
    pub ln_se: Option<f64>,
    /// `sample-mean`, `km-restricted-mean+shifted-exponential-tail` (some runs censored; see
    /// [`crate::analysis::censored`]), or `lower-bound` (no run exited, or none after the
    /// relaxation time: E\[ν\] ≥ `restricted_mean`).
    pub estimator: String,
    /// Kaplan–Meier restricted mean (1/n)Σ min(νᵣ, max_steps): a lower bound on E\[ν\].
    #[serde(deserialize_with = "f64_or_nan")]
    pub restricted_mean: f64,
    /// Relaxation time of the slowest mode of the quadratic-model chain, ⌈ln 20/(ηλ_min)⌉ steps
    /// (its memory of θ* has decayed to 5 %): the shift of the exponential tail. E\[ν\] much
    /// above it is the metastable regime the predictions assume.
    #[serde(deserialize_with = "f64_or_nan")]
    pub relaxation_steps: f64,
    /// Seed of this point's random stream (independent across points unless the sweep asked
    /// for common random numbers).
    pub seed: u64,
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
    /// Both weights' predictions of ln E\[ν\] with their prefactors (empty if the exact engine
    /// does not apply).
    pub predictions: Vec<WeightPrediction>,
    /// V0 (weight inverse) with the covariance floor ÷10 and ×10: the predictions' sensitivity
    /// to it (only where C is the floored semi-definite C*).
    pub v0_inverse_floor_range: Option<[f64; 2]>,
    /// In the metastable regime the predictions assume: E\[ν\] above the relaxation time and
    /// exit diagnostics showing large-deviation exits. Points outside are left out of the fits
    /// when enough remain.
    pub in_regime: bool,
    /// The exit diagnostics of the ensemble (None without exits).
    pub diagnostics: Option<ExitDiagnostics>,
    /// The quadratic-model control (with `quadratic_control`).
    pub quadratic_control: Option<QuadraticControl>,
    /// Wall time of the ensemble.
    #[serde(deserialize_with = "f64_or_nan")]
    pub wall_seconds: f64,
}

/// The same ensemble on the quadratic model L = ½(θ−θ*)ᵀH*(θ−θ*), with its own stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuadraticControl {
    /// Seed of its stream.
    pub seed: u64,
    /// Estimated E\[ν\].
    pub mean_exit_steps: Option<f64>,
    /// 95% CI of E\[ν\].
    pub ci95: Option<[f64; 2]>,
    /// ln E\[ν\] and its standard error (what the sweep's fit of the control uses).
    #[serde(default)]
    pub ln_mean: Option<f64>,
    /// See `ln_mean`.
    #[serde(default)]
    pub ln_se: Option<f64>,
    /// Runs that exited.
    pub exited: usize,
    /// Censored runs.
    pub censored: usize,
    /// Kaplan–Meier restricted mean of the control: a lower bound on its E\[ν\].
    #[serde(deserialize_with = "f64_or_nan")]
    pub restricted_mean: f64,
    /// E\[ν\] of the full loss / E\[ν\] of the quadratic model, with its 95% CI (the two
    /// ensembles are independent, so the log-SEs add in quadrature).
    pub ratio: Option<[f64; 3]>,
    /// When the control has no estimate (no exits): E\[ν\] / its restricted mean, an upper
    /// bound on the ratio.
    pub ratio_upper_bound: Option<f64>,
}

/// One weight's prediction of ln E\[ν\] at one point (see [`super::model`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeightPrediction {
    /// The action weight.
    pub weight: Weight,
    /// V0 (exact engine, quadratic model).
    #[serde(deserialize_with = "f64_or_nan")]
    pub v0: f64,
    /// ln E\[ν\] of the continuous SDE with its prefactor (κ = +1): ln E\[τ\](ε) − ln η.
    #[serde(deserialize_with = "f64_or_nan")]
    pub ln_steps_continuous: f64,
    /// ln E\[ν\] of the chain eq. (2) at step η (κ = −1, the chain's own V0).
    #[serde(deserialize_with = "f64_or_nan")]
    pub ln_steps_chain: f64,
    /// Both prefactor formulas applied (false: only their powers of ε are included).
    pub full_prefactor: bool,
    /// ln E\[ν\] ≈ −ln(θr) from the chain's exact one-step flux r out of its stationary law at
    /// this ε and its cluster index θ ([`super::flux`]; level sets only).
    #[serde(default)]
    pub ln_steps_flux: Option<f64>,
    /// The Monte Carlo standard error of `ln_steps_flux`.
    #[serde(default)]
    pub ln_steps_flux_se: Option<f64>,
    /// The cluster index θ of the flux estimate (share of crossings that start a cluster).
    #[serde(default)]
    pub cluster_index: Option<f64>,
}

/// A predicted slope.
#[derive(Clone, Debug, Serialize)]
pub struct PredictedSlope {
    /// The action weight.
    pub weight: Weight,
    /// Leading order: WLS slope of (B/η)·V0 against the same x with the same weights.
    pub slope: f64,
    /// |fitted − leading-order slope| ≤ 1.96 se.
    pub inside_ci: bool,
    /// With the prefactor: the slopes of the continuous SDE (κ = +1) and of the chain eq. (2)
    /// (κ = −1, its own V0), low then high. The truth for a step-η chain lies between them
    /// (the chain's for Gaussian SGD itself). None without predictions per point.
    pub band: Option<[f64; 2]>,
    /// The fit's 95% CI overlaps `band`.
    pub band_overlaps_ci: Option<bool>,
    /// Beyond leading order, exactly at each point's ε: the slope of the chain's flux
    /// predictions ln(1/(θr)) ([`super::flux`]), its Monte Carlo standard error, and whether the fit
    /// agrees with it (|fit − flux| ≤ 1.96·√(se_fit² + se_flux²)). Level sets only. Where it is
    /// present it decides the verdict in place of `band`.
    pub flux: Option<[f64; 2]>,
    /// See `flux`.
    pub flux_agrees: Option<bool>,
    /// fitted / leading-order slope, with the 95% CI of the fit divided likewise.
    pub ratio: Option<[f64; 3]>,
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
    /// With `quadratic_control`: the quadratic-model chain fitted over the same points. Its
    /// finite-ε prediction is the inverse weight's flux slope, so agreement there checks
    /// the prediction itself; where the method departs from its control, the cause is the loss
    /// beyond its quadratic model, which no weight's V0 describes.
    pub quadratic_control: Option<ControlFit>,
    /// The weight the simulation follows: closest predicted slope, if inside the CI.
    pub follows: Option<Weight>,
    /// One line in words.
    pub verdict: String,
    /// Values x of the points left out of the fit because they are outside the metastable
    /// regime (see `dropped_reason`); empty when every point was used or too few were left.
    pub dropped: Vec<f64>,
    /// Why they were left out.
    pub dropped_reason: Option<String>,
}

/// The quadratic-model control's fit (see [`SweepFit::quadratic_control`]).
#[derive(Clone, Debug, Serialize)]
pub struct ControlFit {
    /// ln E\[ν\] of the control against the same quantity.
    pub fit: LinearFit,
    /// The inverse weight (a = C, the control's own noise) against this fit.
    pub inverse: PredictedSlope,
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

/// What a shard of a sweep records so that `quasipot merge` can rebuild the whole sweep: the
/// shard, the sweep's number of points P, its settings and (for `mlp`) the network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepShard {
    /// k/n: this shard holds the points [`Shard::range`]`(P)`.
    pub shard: Shard,
    /// P = settings × methods.
    pub points: usize,
    /// The sweep's settings.
    pub config: ScalingConfig,
    /// The network and data of an `mlp` sweep.
    pub mlp: Option<MlpConfig>,
}

/// Result of a sweep.
#[derive(Clone, Debug, Serialize)]
pub struct ScalingReport {
    /// Set for a shard (`--shard k/n`): its points are only those of the shard, and its fits
    /// use only them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<SweepShard>,
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
