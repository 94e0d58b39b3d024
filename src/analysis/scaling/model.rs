//! The quadratic model of a setting and its exact predictions: V0 under both weights and V0 of
//! the discrete chain eq. (2).

use super::flux::{chain_flux, FLUX_SAMPLES};
use super::report::WeightPrediction;
use crate::error::{Error, Result};
use crate::linalg::{spectral_apply, symmetric_eigen, Matrix};
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
///
/// With `flux` = (H, ΔL, seed) for a level set {½xᵀHx < ΔL}, each weight also gets the chain's
/// one-step flux estimate ([`super::flux::chain_flux`]) with its noise a (C for inverse,
/// C^{1/2} for inverse-sqrt).
pub(super) fn weight_predictions(
    spec: &ProblemSpec,
    base: &Path,
    c: &Matrix,
    eta: f64,
    batch: usize,
    flux: Option<(&Matrix, f64, u64)>,
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
        let flux_estimate = match flux {
            Some((h, depth, seed)) => {
                let a = match w {
                    Weight::Inverse => c.clone(),
                    Weight::InverseSqrt => {
                        let (vals, vecs) = symmetric_eigen(c, "C")?;
                        spectral_apply(&vals, &vecs, |l| l.max(0.0).sqrt())
                    }
                };
                let stream = seed ^ if w == Weight::Inverse { 0x1 } else { 0x2 };
                chain_flux(h, &a, eta, eps * eps, depth, FLUX_SAMPLES, stream)?
            }
            None => None,
        };
        out.push(WeightPrediction {
            weight: w,
            v0,
            ln_steps_continuous: continuous,
            ln_steps_chain: chain,
            full_prefactor: full_c && full_d,
            // E[ν] ≈ 1/(θr): only the first crossing of each cluster ends a run.
            ln_steps_flux: flux_estimate.map(|f| f.ln_steps - f.cluster_index.ln()),
            ln_steps_flux_se: flux_estimate.map(|f| f.ln_se),
            cluster_index: flux_estimate.map(|f| f.cluster_index),
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

/// The shape of D that the finite-time barrier of [`relaxation_steps`] understands.
#[derive(Clone, Copy, Debug)]
pub(super) enum ExitShape {
    /// {½xᵀHx < ΔL}, the level set of the quadratic model.
    LevelSet { depth: f64 },
    /// {|x − θ*| < R}.
    Ball { radius: f64 },
    /// Anything else: the mode-relaxation rule.
    Other,
}

/// After the relaxation time the chain's exit rate is within e^{±RATE_TOLERANCE} of its
/// stationary rate.
const RATE_TOLERANCE: f64 = 0.05;

/// A point is in the metastable regime when E\[ν\] ≥ REGIME_FACTOR × the relaxation time.
/// Rationale: the rate is suppressed (never raised) before it, so E\[ν\] ≤ t_r + 1/r∞ and the
/// bias of ln E\[ν\] is at most t_r/E\[ν\] + RATE_TOLERANCE ≤ 0.15, and it varies by less than
/// 0.1 across a sweep: about 3 % of a slope fitted over a ln E\[ν\] range of 3.
pub(super) const REGIME_FACTOR: f64 = 10.0;

/// Relaxation time (steps) of the quadratic-model chain θ_{k+1} = (I − ηH)θ_k + ε√η C^{1/2}ξ_k
/// (ε² = η/B) started at θ*, **as the exit rate sees it**. At step t its law is exactly
/// N(0, ε²Σ_t), Σ_t = Σ_η − AᵗΣ_ηAᵗ (A = I − ηH; Σ_η the stationary Stein solution of
/// [`discrete_level_set_v0`]), so its finite-time barrier V0(t) = min over ∂D of ½xᵀΣ_t⁻¹x
/// decreases to the stationary V0: on a level set of H, V0(t) = ΔL/λ_max(H^{1/2}Σ_tH^{1/2}); on
/// a ball, R²/(2λ_max(Σ_t)). The relaxation time is the first t with (V0(t) − V0)/ε² ≤
/// [`RATE_TOLERANCE`]: from then on the chance of being outside D, and with it the exit rate, is
/// stationary to 5 %. Slow modes that carry no weight in the exit channel relax late without
/// delaying this, unlike in a rule over single modes. In H's eigenbasis Σ'_t,ij = Σ'_ij(1 −
/// aᵢᵗaⱼᵗ), aᵢ = 1 − ηλᵢ; t is found by doubling and bisection (about 2·log₂t eigen-solves).
///
/// Other shapes (and unstable or degenerate chains) fall back to the slowest-mode rule:
/// ⌈ln 20/(ηλ)⌉ for the slowest eigen-mode λ of H that carries at least 1e-3 of the largest
/// share of the stationary energy (mode i holds ∝ C'ᵢᵢ = (QᵀCQ)ᵢᵢ). ∞ when nothing qualifies.
pub(super) fn relaxation_steps(
    h: &Matrix,
    c: &Matrix,
    eta: f64,
    eps2: f64,
    shape: ExitShape,
) -> Result<f64> {
    let (lam, q) = symmetric_eigen(h, "H*")?;
    let n = lam.len();
    let cp = q.transpose() * c.to_faer() * &q;
    let stable = n > 0 && lam[0] > 0.0 && eta * lam[n - 1] < 2.0;
    let (weights, scale): (Vec<f64>, f64) = match shape {
        ExitShape::LevelSet { depth } => (lam.iter().map(|l| l.sqrt()).collect(), depth),
        ExitShape::Ball { radius } => (vec![1.0; n], 0.5 * radius * radius),
        ExitShape::Other => (Vec::new(), 0.0),
    };
    if !stable || weights.is_empty() || !(scale > 0.0 && eps2 > 0.0) {
        return slowest_mode_steps(&lam, &cp, eta);
    }
    let sigma: Vec<f64> = (0..n * n)
        .map(|k| {
            let (i, j) = (k / n, k % n);
            let s = 0.5 * (cp[(i, j)] + cp[(j, i)]);
            s / (lam[i] + lam[j] - eta * lam[i] * lam[j])
        })
        .collect();
    let log_a: Vec<f64> = lam.iter().map(|l| (1.0 - eta * l).abs().ln()).collect();
    // λ_max of G^{1/2}Σ_tG^{1/2}; t = ∞ is the stationary one.
    let top = |t: f64| -> Result<f64> {
        let m = Matrix {
            n,
            data: (0..n * n)
                .map(|k| {
                    let (i, j) = (k / n, k % n);
                    let decay = if t.is_finite() {
                        1.0 - (t * (log_a[i] + log_a[j])).exp()
                    } else {
                        1.0
                    };
                    weights[i] * sigma[k] * decay * weights[j]
                })
                .collect(),
        };
        lambda_max(&m, "H^1/2 Σ_t H^1/2")
    };
    let top_inf = top(f64::INFINITY)?;
    if !(top_inf > 0.0) {
        return slowest_mode_steps(&lam, &cp, eta);
    }
    let relaxed = |t: f64| -> Result<bool> {
        let tt = top(t)?;
        Ok(tt > 0.0 && scale * (1.0 / tt - 1.0 / top_inf) <= RATE_TOLERANCE * eps2)
    };
    let mut hi = 1.0f64;
    while !relaxed(hi)? {
        hi *= 2.0;
        if hi > 1e15 {
            return Ok(f64::INFINITY);
        }
    }
    let mut lo = (hi / 2.0).floor();
    if hi <= 1.0 {
        return Ok(1.0);
    }
    // Invariant: not relaxed at lo, relaxed at hi.
    while hi - lo > 1.0 && hi > 1.02 * lo {
        let mid = (0.5 * (lo + hi)).floor();
        if relaxed(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}

/// ⌈ln 20/(ηλ)⌉ for the slowest mode that carries ≥ 1e-3 of the largest stationary energy share.
fn slowest_mode_steps(lam: &[f64], cp: &faer::Mat<f64>, eta: f64) -> Result<f64> {
    let share: Vec<f64> = (0..lam.len()).map(|i| cp[(i, i)].max(0.0)).collect();
    let top = share.iter().cloned().fold(0.0, f64::max);
    let slowest = (0..lam.len())
        .filter(|&i| lam[i] > 0.0 && share[i] >= 1e-3 * top && top > 0.0)
        .map(|i| lam[i])
        .fold(f64::INFINITY, f64::min);
    Ok((20f64.ln() / (eta * slowest)).ceil())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1-D: Σ_t = Σ(1 − a^{2t}), Σ = c/(2λ − ηλ²), so V0(t) − V0 = (ΔL/λΣ)·a^{2t}/(1 − a^{2t})
    /// and the first t with that ≤ 0.05ε² is closed form.
    #[test]
    fn one_mode_relaxation_matches_the_closed_form() {
        let (lam, c, eta, dl) = (0.7, 1.3, 0.3, 0.4);
        for eps2 in [1e-3, 1e-2, 0.05] {
            let v0 = dl * (2.0 - eta * lam) / c;
            let a2 = (1.0 - eta * lam) * (1.0 - eta * lam);
            // v0·x/(1 − x) ≤ tol·ε² with x = a^{2t}: x ≤ r/(1 + r), r = tol·ε²/v0.
            let r = RATE_TOLERANCE * eps2 / v0;
            let exact = ((r / (1.0 + r)).ln() / a2.ln()).ceil();
            let got = relaxation_steps(
                &Matrix::diagonal(&[lam]),
                &Matrix::diagonal(&[c]),
                eta,
                eps2,
                ExitShape::LevelSet { depth: dl },
            )
            .unwrap();
            assert!(
                got >= exact && got <= (1.02 * exact).ceil() + 1.0,
                "ε² = {eps2}: {got} vs {exact}"
            );
        }
    }

    /// A slow mode with 1 % of the noise (so the old slowest-mode rule waits for it) whose
    /// barrier is 100× higher: the exit rate relaxes with the fast mode alone.
    #[test]
    fn a_slow_mode_outside_the_exit_channel_does_not_delay_relaxation() {
        let h = Matrix::diagonal(&[1.0, 1e-4]);
        let c = Matrix::diagonal(&[1.0, 1e-2]);
        let (eta, eps2) = (0.25, 0.01);
        let shape = ExitShape::LevelSet { depth: 0.1 };
        let both = relaxation_steps(&h, &c, eta, eps2, shape).unwrap();
        let fast = relaxation_steps(
            &Matrix::diagonal(&[1.0]),
            &Matrix::diagonal(&[1.0]),
            eta,
            eps2,
            shape,
        )
        .unwrap();
        let (lam, q) = symmetric_eigen(&h, "H").unwrap();
        let cp = q.transpose() * c.to_faer() * &q;
        let old = slowest_mode_steps(&lam, &cp, eta).unwrap();
        assert_eq!(both, fast);
        assert!(old > 1000.0 * both, "old rule {old}, new {both}");
    }

    /// Against the covariance recursion S_{k+1} = A S_k A + ηC from S_0 = 0 (the chain's own
    /// law, no eigenbasis), for a rotated H and a non-commuting C, on a level set and a ball.
    #[test]
    fn relaxation_agrees_with_the_covariance_recursion() {
        let theta: f64 = 0.6;
        let (co, si) = (theta.cos(), theta.sin());
        let q = [
            [co, -si, 0.0],
            [si * 0.8, co * 0.8, 0.6],
            [-si * 0.6, -co * 0.6, 0.8],
        ];
        let lam = [2.0, 0.3, 0.02];
        let h = Matrix {
            n: 3,
            data: (0..9)
                .map(|k| (0..3).map(|m| q[k / 3][m] * lam[m] * q[k % 3][m]).sum())
                .collect(),
        };
        let c = Matrix::from_rows(
            &[
                vec![1.0, 0.3, -0.2],
                vec![0.3, 0.5, 0.1],
                vec![-0.2, 0.1, 0.2],
            ],
            "C",
        )
        .unwrap();
        let (eta, eps2) = (0.2, 0.02);
        let (hv, hq) = symmetric_eigen(&h, "H").unwrap();
        let h_half = spectral_apply(&hv, &hq, f64::sqrt);
        let a = spectral_apply(&hv, &hq, |l| 1.0 - eta * l);
        let mul = |x: &Matrix, y: &Matrix| Matrix::from_faer((x.to_faer() * y.to_faer()).as_ref());
        for (shape, g_half, k) in [
            (ExitShape::LevelSet { depth: 0.3 }, h_half.clone(), 0.3),
            (ExitShape::Ball { radius: 0.8 }, Matrix::identity(3), 0.32),
        ] {
            let top = |s: &Matrix| lambda_max(&mul(&mul(&g_half, s), &g_half), "M").unwrap();
            // Stationary: iterate to convergence (ρ(A) = 0.996, so 2e4 steps are plenty).
            let mut s = Matrix::zeros(3);
            let mut v0_t = Vec::new();
            for _ in 0..20_000 {
                let next = mul(&mul(&a, &s), &a);
                s = Matrix {
                    n: 3,
                    data: next
                        .data
                        .iter()
                        .zip(&c.data)
                        .map(|(x, y)| x + eta * y)
                        .collect(),
                };
                v0_t.push(k / top(&s));
            }
            let v0 = *v0_t.last().unwrap();
            let first = v0_t
                .iter()
                .position(|v| v - v0 <= RATE_TOLERANCE * eps2)
                .unwrap() as f64
                + 1.0;
            let got = relaxation_steps(&h, &c, eta, eps2, shape).unwrap();
            assert!(
                got >= first && got <= (1.02 * first).ceil() + 1.0,
                "{shape:?}: {got} vs recursion {first}"
            );
        }
    }
}
