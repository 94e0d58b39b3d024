//! The quadratic model of a setting and its exact predictions: V0 under both weights and V0 of
//! the discrete chain eq. (2).

use crate::error::{Error, Result};
use crate::linalg::{symmetric_eigen, Matrix};
use crate::problem::spec::{DomainSpec, NoiseSpec};
use crate::problem::{BuildOptions, ProblemSpec, Weight};
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

/// V0 under (inverse-sqrt, inverse) for `spec` with constant noise C (exact engine). None when
/// the exact engine does not apply.
pub(super) fn v0_pair(spec: &ProblemSpec, base: &Path, c: &Matrix) -> Result<Option<(f64, f64)>> {
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

pub(super) fn identity(d: usize, c: f64) -> Matrix {
    let mut m = Matrix::zeros(d);
    for i in 0..d {
        m.data[i * d + i] = c;
    }
    m
}
