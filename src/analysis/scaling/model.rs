//! The quadratic model of a setting and its exact predictions: V0 under both weights and V0 of
//! the discrete chain eq. (2).

use super::report::WeightPrediction;
use crate::error::{Error, Result};
use crate::linalg::{symmetric_eigen, Matrix};
use crate::problem::spec::{DomainSpec, NoiseSpec};
use crate::problem::{BuildOptions, Problem, ProblemSpec, Weight};
use crate::rates::prefactor::{predict, Dynamics, Options, Outcome};
use std::path::Path;

pub(super) fn rows(m: &Matrix) -> Vec<Vec<f64>> {
    (0..m.n)
        .map(|i| m.data[i * m.n..(i + 1) * m.n].to_vec())
        .collect()
}

pub(super) fn scaled(m: &Matrix, s: f64) -> Matrix {
    Matrix {
        n: m.n,
        data: m.data.iter().map(|v| v * s).collect(),
    }
}

pub(super) fn trace(m: &Matrix) -> f64 {
    (0..m.n).map(|i| m.data[i * m.n + i]).sum()
}

pub(super) fn lambda_max(m: &Matrix, field: &str) -> Result<f64> {
    let (vals, _) = symmetric_eigen(m, field)?;
    Ok(vals.last().copied().unwrap_or(0.0))
}

/// The quadratic model problem: L = ½(θ−θ*)ᵀH(θ−θ*), constant noise C, domain `domain`.
pub(super) fn model_spec(theta_star: &[f64], h: &Matrix, domain: DomainSpec) -> ProblemSpec {
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

/// The quadratic model with constant noise C under weight `w`.
fn model_problem(spec: &ProblemSpec, base: &Path, c: &Matrix, w: Weight) -> Result<Problem> {
    let mut s = spec.clone();
    s.noise = Some(NoiseSpec {
        source: Some("matrix".into()),
        matrix: Some(rows(c)),
        ..Default::default()
    });
    s.build(
        base,
        &BuildOptions {
            weight: Some(w),
            ..Default::default()
        },
    )
}

/// The predicted exit channels of the quadratic model with noise C under weight inverse (the
/// exact engine's exit point and its mirror).
pub(super) fn model_channels(spec: &ProblemSpec, base: &Path, c: &Matrix) -> Result<Vec<Vec<f64>>> {
    Ok(crate::analysis::exit_diagnostics::predicted_channels(
        &model_problem(spec, base, c, Weight::Inverse)?,
    ))
}

/// V0 under (inverse-sqrt, inverse) for `spec` with constant noise C (exact engine). None when
/// the exact engine does not apply.
pub(super) fn v0_pair(spec: &ProblemSpec, base: &Path, c: &Matrix) -> Result<Option<(f64, f64)>> {
    let mut out = [0.0; 2];
    for (k, w) in [Weight::InverseSqrt, Weight::Inverse]
        .into_iter()
        .enumerate()
    {
        match crate::exact::quasi_potential_barrier(&model_problem(spec, base, c, w)?) {
            Ok(b) => out[k] = b.v0,
            Err(Error::Unsupported(_)) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    Ok(Some((out[0], out[1])))
}

/// Both weights' predictions of ln E\[ν\] at one setting (η, B; ε² = η/B), beyond the leading
/// order (B/η)·V0: the continuous SDE's full prefactor (κ = +1, in iterations ν = τ/η) and the
/// chain eq. (2) at step η (κ = −1, with the chain's own V0), by [`crate::rates::prefactor`].
/// Where a formula does not apply (e.g. a corner of a box domain), only its power of ε is kept:
/// ln E\[ν\] ≈ V0/ε² ± ln ε − ln η. None when the exact engine does not apply.
pub(super) fn weight_predictions(
    spec: &ProblemSpec,
    base: &Path,
    c: &Matrix,
    eta: f64,
    batch: usize,
) -> Result<Option<Vec<WeightPrediction>>> {
    let eps = (eta / batch as f64).sqrt();
    let mut out = Vec::new();
    for w in [Weight::InverseSqrt, Weight::Inverse] {
        let p = model_problem(spec, base, c, w)?;
        let v0 = match crate::exact::quasi_potential_barrier(&p) {
            Ok(b) => b.v0,
            Err(Error::Unsupported(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let ln_steps = |dynamics: Dynamics, kappa: f64| -> Result<(f64, bool)> {
            let opts = Options {
                dynamics,
                ..Options::default()
            };
            Ok(match predict(&p, &opts)? {
                Outcome::Applicable(pred) => (pred.ln_mean_exit_time(eps) - eta.ln(), true),
                Outcome::NotApplicable { .. } => {
                    (v0 / (eps * eps) + kappa * eps.ln() - eta.ln(), false)
                }
            })
        };
        let (continuous, full_c) = ln_steps(Dynamics::Continuous, 1.0)?;
        let (chain, full_d) = ln_steps(Dynamics::Chain { step: eta }, -1.0)?;
        out.push(WeightPrediction {
            weight: w,
            v0,
            ln_steps_continuous: continuous,
            ln_steps_chain: chain,
            full_prefactor: full_c && full_d,
        });
    }
    Ok(Some(out))
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

pub(super) fn identity(d: usize, c: f64) -> Matrix {
    let mut m = Matrix::zeros(d);
    for i in 0..d {
        m.data[i * d + i] = c;
    }
    m
}

/// Relaxation time (steps) of the quadratic-model chain θ_{k+1} = (I − ηH)θ_k + noise: ⌈ln 20 /
/// (ηλ)⌉ for the slowest eigen-mode λ of H that carries a share of the stationary energy
/// ½E\[xᵀHx\] (mode i holds ∝ C'ᵢᵢ = (QᵀCQ)ᵢᵢ, whatever λᵢ) of at least 1e-3 of the largest:
/// after it the chain has forgotten θ* to 5 % in every direction that matters for an exit from a
/// level set, and exits are memoryless. Modes where C vanishes (the null space of C*) never move
/// and do not count. ∞ when no mode qualifies.
pub(super) fn relaxation_steps(h: &Matrix, c: &Matrix, eta: f64) -> Result<f64> {
    let (lam, q) = symmetric_eigen(h, "H*")?;
    let cp = q.transpose() * c.to_faer() * &q;
    let share: Vec<f64> = (0..lam.len()).map(|i| cp[(i, i)].max(0.0)).collect();
    let top = share.iter().cloned().fold(0.0, f64::max);
    let slowest = (0..lam.len())
        .filter(|&i| lam[i] > 0.0 && share[i] >= 1e-3 * top && top > 0.0)
        .map(|i| lam[i])
        .fold(f64::INFINITY, f64::min);
    Ok((20f64.ln() / (eta * slowest)).ceil())
}
