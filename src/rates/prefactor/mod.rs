//! Prefactor predictions: E\[τ\] ≈ A·ε^κ·exp(V₀/ε²) with A and κ computed, not fitted.
//!
//! The exit rate is a sum over exit channels i (local minima xᵢ of V on ∂D, or saddles zᵢ):
//! rateᵢ(ε) = rᵢ·ε^{−κ}·exp(−Vᵢ/ε²), and E\[τ\] ≈ 1/Σᵢ rateᵢ (symmetric channels add). Which
//! formula gives rᵢ depends on how the exit happens:
//!
//! | case | formula | κ |
//! |---|---|---|
//! | the cheapest path ends at a saddle z* of b | Eyring–Kramers (reversible) / Bouchet–Reygner (non-gradient): (2π/μ)·√(\|det ∇²V(z*)\| / det ∇²V(θ*))·exp(∫ div ℓ dt), halved when ∂D passes through z* | 0 |
//! | non-characteristic ∂D (b·n < 0 at the exit point) | flux of the quasi-stationary density: rateᵢ = (−b·n)(2πε²)^{−½}·√(det ∇²V(θ*) / det Kᵢ)·exp(−∫ div ℓ dt)·e^{−Vᵢ/ε²} | +1 |
//! | the discrete chain θ_{k+1} = θ_k + ηb + ε√η σξ (Gaussian SGD at fixed η) | stationary Gaussian mass beyond ∂D per step: ε(2π)^{−½}·√(det Σ_η⁻¹ / det Kᵢ)/\|∇V(xᵢ)\| | −1 |
//!
//! Here μ is the positive eigenvalue of ∇b(z*), ∇²V(θ*) = Σ⁻¹ from the Lyapunov equation
//! J Σ + Σ Jᵀ + a = 0 at θ*, ∇²V(z*) = X⁻¹ with J X + X Jᵀ + a = 0 at z*, Kᵢ the Hessian of V
//! restricted to ∂D at xᵢ (the Hessian of the Lagrangian V − m·g on the tangent space, so the
//! boundary's curvature enters), ℓ = b + ½a∇V the transverse part of the drift, and the
//! integral runs along the fluctuation path φ̇ = b + a∇V from θ* (∇²V along it from the Riccati
//! equation, [`path`]). For linear drift and constant noise the quasi-stationary density is
//! exactly Gaussian and div ℓ ≡ 0. References: Bouchet & Reygner, Ann. Henri Poincaré 17 (2016)
//! 3499; Helffer & Nier (2006); Di Gesù, Lelièvre, Le Peutrec & Nectoux, Ann. PDE (2019);
//! Le Peutrec & Nectoux (2019); Maier & Stein, SIAM J. Appl. Math. 57 (1997); the chain's
//! formula is derived in `shared/reference/rates.md`'s convention and checked against an exact
//! Nyström solve of the AR(1) exit problem (tests).
//!
//! State-dependent noise a(θ) enters through a(θ*), a at the saddle, and the ∂a terms of the
//! Riccati and transport equations along the path ([`path`]). Where an assumption fails — a
//! degenerate minimum of V on ∂D, a characteristic boundary, a saddle crossed obliquely by ∂D,
//! a nonlinear or state-dependent chain — the answer is
//! [`Outcome::NotApplicable`] with the reason, never a number.
//!
//! ```
//! use quasipot::problem::{BuildOptions, Problem};
//! use quasipot::rates::prefactor::{predict, Options, Outcome};
//! let p = Problem::load("double-well-1d", &BuildOptions::default()).unwrap();
//! let Outcome::Applicable(pred) = predict(&p, &Options::default()).unwrap() else { panic!() };
//! // Eyring–Kramers with absorption at the saddle x = 0: E[τ] ≈ (π/√2)·e^{0.5/ε²}.
//! assert_eq!(pred.kappa, 0.0);
//! assert!((pred.prefactor - std::f64::consts::PI / 2f64.sqrt()).abs() < 1e-3);
//! ```

mod geometry;
mod linear;
pub mod path;

use crate::error::{Error, Result};
use crate::mam;
use crate::problem::Problem;
use serde::Serialize;

/// Which process the prediction is for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Dynamics {
    /// The SDE dθ = b dt + ε a^{1/2} dW (continuous time; Monte Carlo with a small step or the
    /// boundary correction approximates it).
    #[default]
    Continuous,
    /// The Euler–Maruyama chain at a fixed step η, monitored at every step (Gaussian SGD,
    /// the paper's eq. 2): it jumps over ∂D.
    Chain {
        /// The step η (learning rate).
        step: f64,
    },
}

/// Options of [`predict`].
#[derive(Clone, Debug)]
pub struct Options {
    /// Continuous SDE or discrete chain; default continuous.
    pub dynamics: Dynamics,
    /// The minimum action engine's settings for nonlinear problems (target: ∂D); default
    /// relative tolerance 1e-8 (the momentum along the path enters ∇²V, and the transverse
    /// integral on Maier–Stein β = 3 is −0.9740, −0.9912, −0.9930 at 1e-5, 1e-7, 1e-9 against
    /// −0.9936).
    pub mam: mam::Config,
    /// Exit channels with Vᵢ ≤ `channel_window`·V₀ are summed; default 1.5 (the others are
    /// smaller than the leading channel by e^{−V₀/(2ε²)} or more).
    pub channel_window: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dynamics: Dynamics::Continuous,
            mam: mam::Config {
                tol: 1e-8,
                max_points: 16385,
                ..mam::Config::default()
            },
            channel_window: 1.5,
        }
    }
}

/// One exit channel: rate(ε) = `rate_coefficient`·ε^{−κ}·exp(−`v`/ε²).
#[derive(Clone, Debug, Serialize)]
pub struct ExitChannel {
    /// Where the exit happens: the minimiser of V on ∂D, or the saddle.
    pub exit_point: Vec<f64>,
    /// Vᵢ, the quasi-potential there.
    pub v: f64,
    /// rᵢ.
    pub rate_coefficient: f64,
    /// The saddle z* the path crosses, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saddle: Option<Vec<f64>>,
    /// ∫ div ℓ dt along the fluctuation path (0 for linear drift with constant noise and for
    /// reversible drifts).
    pub transverse_integral: f64,
    /// −b·n at the exit point (non-characteristic boundaries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inward_drift: Option<f64>,
    /// Eigenvalues of Kᵢ, the Hessian of V along ∂D (non-characteristic boundaries and chains).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tangential_hessian: Vec<f64>,
}

/// A prediction that applies.
#[derive(Clone, Debug, Serialize)]
pub struct Prediction {
    /// The formula used.
    pub formula: String,
    /// Where it comes from.
    pub reference: String,
    /// What it assumes (checked) and what it neglects.
    pub assumptions: Vec<String>,
    /// κ in E\[τ\] ≈ A·ε^κ·e^{V₀/ε²}.
    pub kappa: f64,
    /// V₀ = min Vᵢ.
    pub v0: f64,
    /// A, from the channels at V₀: 1/Σ_{Vᵢ = V₀} rᵢ.
    pub prefactor: f64,
    /// Every channel summed.
    pub channels: Vec<ExitChannel>,
    /// Continuous or chain.
    pub dynamics: Dynamics,
}

impl Prediction {
    /// ln E\[τ\] at noise level ε (time units; for a chain, η × steps): −ln Σᵢ rᵢ ε^{−κ}
    /// e^{−Vᵢ/ε²}, summed stably (log-sum-exp), so it stays finite where E\[τ\] overflows.
    pub fn ln_mean_exit_time(&self, eps: f64) -> f64 {
        let terms: Vec<f64> = self
            .channels
            .iter()
            .map(|c| c.rate_coefficient.ln() - self.kappa * eps.ln() - c.v / (eps * eps))
            .collect();
        let top = terms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = terms.iter().map(|t| (t - top).exp()).sum();
        -(top + sum.ln())
    }

    /// E\[τ\] at noise level ε (may be +∞ in floating point; see [`Self::ln_mean_exit_time`]).
    pub fn mean_exit_time(&self, eps: f64) -> f64 {
        self.ln_mean_exit_time(eps).exp()
    }
}

/// The answer of [`predict`].
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum Outcome {
    /// The formula applies.
    Applicable(Prediction),
    /// It does not, and why.
    NotApplicable {
        /// The formula that was considered.
        formula: String,
        /// The assumption that fails.
        reason: String,
    },
}

impl Outcome {
    /// The prediction, when it applies.
    pub fn prediction(&self) -> Option<&Prediction> {
        match self {
            Outcome::Applicable(p) => Some(p),
            Outcome::NotApplicable { .. } => None,
        }
    }

    /// A one-line summary for reports.
    pub fn summary(&self) -> String {
        match self {
            Outcome::Applicable(p) => format!(
                "{} (κ = {}, A = {:.4e}, {} channel{}; {})",
                p.formula,
                p.kappa,
                p.prefactor,
                p.channels.len(),
                if p.channels.len() == 1 { "" } else { "s" },
                p.reference
            ),
            Outcome::NotApplicable { formula, reason } => {
                format!("not applicable ({formula}): {reason}")
            }
        }
    }
}

pub(crate) fn not_applicable(formula: &str, reason: impl Into<String>) -> Outcome {
    Outcome::NotApplicable {
        formula: formula.into(),
        reason: reason.into(),
    }
}

/// Predict E\[τ\] from θ* for the problem's SDE (or its discrete chain).
///
/// # Errors
/// Invalid options (a non-positive step or window) or a failure of the engines it calls (the
/// Lyapunov solve, gMAM). An assumption that does not hold is not an error but
/// [`Outcome::NotApplicable`].
pub fn predict(problem: &Problem, options: &Options) -> Result<Outcome> {
    if !(options.channel_window >= 1.0) {
        return Err(Error::invalid(
            "channel_window",
            format!("must be ≥ 1, got {}", options.channel_window),
        ));
    }
    match options.dynamics {
        Dynamics::Chain { step } => {
            if !(step > 0.0 && step.is_finite()) {
                return Err(Error::invalid(
                    "--lr",
                    format!("the chain's step η must be positive, got {step}"),
                ));
            }
            if !problem.is_linear_gaussian() {
                return Ok(not_applicable(
                    "discrete chain",
                    "the chain's own quasi-potential is known exactly only for linear drift with constant noise",
                ));
            }
            linear::chain(problem, step)
        }
        Dynamics::Continuous => {
            if problem.is_linear_gaussian() {
                linear::continuous(problem)
            } else {
                path::nonlinear(problem, options)
            }
        }
    }
}

/// Assemble a prediction from channels, keeping those within the window of V₀.
pub(crate) fn assemble(
    formula: &str,
    reference: &str,
    assumptions: Vec<String>,
    kappa: f64,
    mut channels: Vec<ExitChannel>,
    window: f64,
    dynamics: Dynamics,
) -> Outcome {
    channels.sort_by(|a, b| a.v.total_cmp(&b.v));
    let Some(v0) = channels.first().map(|c| c.v) else {
        return not_applicable(formula, "no exit channel was found");
    };
    if let Some(bad) = channels
        .iter()
        .find(|c| !(c.rate_coefficient > 0.0 && c.rate_coefficient.is_finite()))
    {
        return not_applicable(
            formula,
            format!(
                "the rate coefficient at {:?} is not a positive finite number ({})",
                bad.exit_point, bad.rate_coefficient
            ),
        );
    }
    channels.retain(|c| c.v <= window * v0 + 1e-12 * v0.abs());
    // Channels whose V agrees with V₀ to the accuracy of a gMAM action (symmetric channels
    // found by separate runs differ by ~10⁻⁷ relative) are the same exponential: they share A.
    // At 10⁻⁵ relative, e^{−ΔV/ε²} > 0.99 for every V₀/ε² < 1000.
    let tie = 1e-5 * v0.abs().max(1e-300);
    let leading: f64 = channels
        .iter()
        .filter(|c| c.v - v0 <= tie)
        .map(|c| c.rate_coefficient)
        .sum();
    Outcome::Applicable(Prediction {
        formula: formula.into(),
        reference: reference.into(),
        assumptions,
        kappa,
        v0,
        prefactor: 1.0 / leading,
        channels,
        dynamics,
    })
}
