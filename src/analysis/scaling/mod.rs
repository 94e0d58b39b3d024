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

mod config;
mod estimate;
mod fit;
mod model;
mod problem;
mod report;
mod sweep_mlp;

pub use config::{Method, ScalingConfig, Target, Vary};
pub use estimate::{log_mean_estimate, weighted_fit};
pub use model::discrete_level_set_v0;
pub use report::{BaseSettings, LinearFit, PredictedSlope, ScalingPoint, ScalingReport, SweepFit};

use crate::error::{Error, Result};
use crate::problem::mlp::MlpSummary;
use crate::sgd::{Config, Report};
use fit::sweep_fit;
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
