//! Linear drift b = −A(θ−θ*) with constant noise: the quasi-stationary density is Gaussian
//! with covariance ε²Σ (continuous time, AΣ + ΣAᵀ = a) or ε²Σ_η (the chain,
//! Σ_η = MΣ_ηMᵀ + ηa with M = I − ηA), so V = ½uᵀΣ⁻¹u exactly and every ingredient of the
//! boundary formulas is closed-form.

use super::geometry::{boundary_point, log_abs_det_symmetric, BoundaryPoint};
use super::{assemble, not_applicable, Dynamics, ExitChannel, Outcome};
use crate::error::{Error, Result};
use crate::exact::local_covariance;
use crate::linalg::{dot, quad_form, symmetric_eigen, Matrix};
use crate::problem::{Domain, Drift, Loss, Noise, Problem};

const FLUX: &str = "non-characteristic boundary: flux of the Gaussian quasi-stationary density";
const FLUX_REF: &str = "Helffer & Nier (2006); Di Gesù, Lelièvre, Le Peutrec & Nectoux, Ann. PDE (2019); Le Peutrec & Nectoux (2019)";
const CHAIN: &str = "discrete chain: stationary Gaussian mass beyond ∂D per step";
const CHAIN_REF: &str = "Laplace asymptotics of the chain's Gaussian law N(0, ε²Σ_η); checked against an exact Nyström solve of the AR(1) exit problem";

/// E\[τ\] ≈ A·ε·e^{V₀/ε²} for the SDE (κ = +1).
pub(super) fn continuous(problem: &Problem) -> Result<Outcome> {
    let sigma = Matrix::from_faer(local_covariance(problem)?.sigma.as_ref());
    let (channels, log_det_q) = match gaussian_channels(problem, &sigma)? {
        Ok(c) => c,
        Err(reason) => return Ok(not_applicable(FLUX, reason)),
    };
    let mut out = Vec::new();
    for (x, v, bp) in channels {
        let b = problem.drift.eval(&x);
        let inward = -dot(&b, &bp.normal);
        if !(inward > 1e-12 * crate::linalg::norm(&b)) {
            return Ok(not_applicable(
                FLUX,
                format!(
                    "characteristic boundary at {x:?}: b·n = {:.3e} ≥ 0",
                    -inward
                ),
            ));
        }
        let ln_r = inward.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln() + 0.5 * log_det_q
            - 0.5 * bp.log_det_k;
        out.push(ExitChannel {
            exit_point: x,
            v,
            rate_coefficient: ln_r.exp(),
            saddle: None,
            transverse_integral: 0.0,
            inward_drift: Some(inward),
            tangential_hessian: bp.k_eigenvalues,
        });
    }
    Ok(assemble(
        FLUX,
        FLUX_REF,
        vec![
            "linear drift and constant noise: the quasi-stationary density is Gaussian, ∇²V = Σ⁻¹ everywhere".into(),
            "each exit point is a non-degenerate minimum of V on ∂D with b·n < 0 (checked)".into(),
            "the boundary layer's width ε²/|b·n| is small against the scale of D (corrections O(ε²))".into(),
        ],
        1.0,
        out,
        1.5,
        Dynamics::Continuous,
    ))
}

/// E\[ν\] ≈ A·ε⁻¹·e^{V₀/ε²} for the chain θ_{k+1} = θ_k + ηb + ε√η σξ monitored every step
/// (κ = −1), in time units ν = η·steps.
///
/// Per step, the chain leaves D with probability ≈ P(θ_{k+1} ∉ D) under its stationary law
/// N(θ*, ε²Σ_η): the predecessor of an exit sits O(1) inside D, so the boundary layer of the
/// continuous process does not form. Laplace's method on the far side of ∂D gives, per exit
/// point, ε(2π)^{−½}·√(det Σ_η⁻¹/det K)/|∇V|·e^{−V/ε²}.
pub(super) fn chain(problem: &Problem, step: f64) -> Result<Outcome> {
    let (Drift::Linear(lin), Noise::Constant(noise)) = (&problem.drift, &problem.noise) else {
        return Ok(not_applicable(
            CHAIN,
            "needs linear drift and constant noise",
        ));
    };
    let sigma = match chain_covariance(&lin.a, &noise.diffusion, step)? {
        Ok(s) => s,
        Err(reason) => return Ok(not_applicable(CHAIN, reason)),
    };
    let (channels, log_det_q) = match gaussian_channels(problem, &sigma)? {
        Ok(c) => c,
        Err(reason) => return Ok(not_applicable(CHAIN, reason)),
    };
    let mut out = Vec::new();
    for (x, v, bp) in channels {
        let ln_r = -0.5 * (2.0 * std::f64::consts::PI).ln() + 0.5 * log_det_q
            - 0.5 * bp.log_det_k
            - bp.grad_norm.ln()
            - step.ln();
        out.push(ExitChannel {
            exit_point: x,
            v,
            rate_coefficient: ln_r.exp(),
            saddle: None,
            transverse_integral: 0.0,
            inward_drift: None,
            tangential_hessian: bp.k_eigenvalues,
        });
    }
    Ok(assemble(
        CHAIN,
        CHAIN_REF,
        vec![
            format!("linear drift, constant noise, fixed step η = {step}: V = ½uᵀΣ_η⁻¹u with Σ_η = (I−ηA)Σ_η(I−ηA)ᵀ + ηa"),
            "exit is checked after every step (the chain jumps over ∂D: no boundary layer)".into(),
            "each exit point is a non-degenerate minimum of V on ∂D (checked); corrections O(ε²)".into(),
        ],
        -1.0,
        out,
        1.5,
        Dynamics::Chain { step },
    ))
}

/// The exit channels of V = ½uᵀΣ⁻¹u on ∂D, each with its local boundary geometry, and
/// ln det Σ⁻¹; `Err(reason)` when a channel is not a non-degenerate minimum.
#[allow(clippy::type_complexity)]
fn gaussian_channels(
    problem: &Problem,
    sigma: &Matrix,
) -> Result<std::result::Result<(Vec<(Vec<f64>, f64, BoundaryPoint)>, f64), String>> {
    let channels = match quadratic_channels(problem, sigma)? {
        Ok(c) => c,
        Err(reason) => return Ok(Err(reason)),
    };
    let q = super::geometry::inverse(sigma);
    let (log_det_q, _) = log_abs_det_symmetric(&q, "Σ⁻¹")?;
    let d = problem.dim();
    let mut out = Vec::new();
    for (x, v) in channels {
        let u: Vec<f64> = (0..d).map(|i| x[i] - problem.minimum[i]).collect();
        let mut grad = vec![0.0; d];
        q.mul_vec(&u, &mut grad);
        match boundary_point(&problem.domain, &x, &grad, &q, 1e-6)? {
            Ok(bp) => out.push((x, v, bp)),
            Err(reason) => return Ok(Err(reason)),
        }
    }
    Ok(Ok((out, log_det_q)))
}

/// Σ_η = Σₖ Mᵏ(ηa)Mᵏᵀ, M = I − ηA, by Smith's doubling: S ← S + MSMᵀ, M ← M² (the partial sums
/// double in length each time). `Err(reason)` when the chain is unstable (ρ(M) ≥ 1).
pub fn chain_covariance(
    a: &Matrix,
    diffusion: &Matrix,
    step: f64,
) -> Result<std::result::Result<Matrix, String>> {
    let d = a.n;
    let mut m = faer::Mat::from_fn(d, d, |i, j| {
        (if i == j { 1.0 } else { 0.0 }) - step * a.data[i * d + j]
    });
    let eig = m
        .eigenvalues()
        .map_err(|e| Error::numerical("eigenvalues of I − ηA", format!("{e:?}")))?;
    let rho = eig.iter().map(|z| z.norm()).fold(0.0, f64::max);
    if !(rho < 1.0) {
        return Ok(Err(format!(
            "the chain is unstable at η = {step}: the spectral radius of I − ηA is {rho:.6} ≥ 1"
        )));
    }
    let mut s = faer::Mat::from_fn(d, d, |i, j| step * diffusion.data[i * d + j]);
    for _ in 0..200 {
        let next = &s + &m * &s * m.transpose();
        let change = (&next - &s).norm_max();
        s = next;
        m = &m * &m;
        if change <= 1e-16 * s.norm_max() && m.norm_max() < 1e-8 {
            break;
        }
    }
    let out = Matrix::from_faer(s.as_ref());
    Ok(Ok(Matrix {
        n: d,
        data: (0..d * d)
            .map(|k| 0.5 * (out.data[k] + out.data[(k % d) * d + k / d]))
            .collect(),
    }))
}

/// The local minima of V = ½uᵀΣ⁻¹u on ∂D with their V, for domains with closed-form
/// constrained minima; `Err(reason)` otherwise.
fn quadratic_channels(
    problem: &Problem,
    sigma: &Matrix,
) -> Result<std::result::Result<Vec<(Vec<f64>, f64)>, String>> {
    let theta = &problem.minimum;
    let d = theta.len();
    let off_centre = |c: &[f64]| {
        c.iter()
            .zip(theta)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max)
            > 1e-12 * (1.0 + crate::linalg::norm(theta))
    };
    let qd = match &problem.domain {
        Domain::Ball { center, radius } => {
            if off_centre(center) {
                return Ok(Err("a ball not centred at θ*: not implemented".into()));
            }
            Matrix::diagonal(&vec![1.0 / (radius * radius); d])
        }
        Domain::Ellipsoid { center, q } => {
            if off_centre(center) {
                return Ok(Err("an ellipsoid not centred at θ*: not implemented".into()));
            }
            q.clone()
        }
        Domain::LevelSet { loss, depth, .. } => match loss {
            Loss::Quadratic { hessian, center } if !off_centre(center) => Matrix {
                n: d,
                data: hessian.data.iter().map(|h| h / (2.0 * depth)).collect(),
            },
            _ => {
                return Ok(Err(
                    "a level set of a loss that is not quadratic about θ*: not implemented for linear drift".into(),
                ))
            }
        },
        Domain::HalfSpace { normal, offset } => {
            return Ok(Ok(vec![half_space_minimum(theta, sigma, normal, *offset)]));
        }
        Domain::Box { lo, hi } => return Ok(box_minima(theta, sigma, lo, hi)),
    };
    // Stationary points of ½uᵀΣ⁻¹u on uᵀQu = 1: the eigenvectors of Q^½ΣQ^½; the minima are
    // ± the top one (the others are saddles of V on ∂D).
    let (qv, qu) = symmetric_eigen(&qd, "domain matrix")?;
    let half = faer::Mat::from_fn(d, d, |i, j| qu[(i, j)] * qv[j].sqrt()) * qu.transpose();
    let inv_half = faer::Mat::from_fn(d, d, |i, j| qu[(i, j)] / qv[j].sqrt()) * qu.transpose();
    let k = &half * sigma.to_faer() * &half;
    let (vals, vecs) = symmetric_eigen(&Matrix::from_faer(k.as_ref()), "Q^½ΣQ^½")?;
    let top = vals[d - 1];
    let w: Vec<f64> = (0..d).map(|i| vecs[(i, d - 1)]).collect();
    let mut u: Vec<f64> = (0..d)
        .map(|i| (0..d).map(|j| inv_half[(i, j)] * w[j]).sum())
        .collect();
    let scale = 1.0 / quad_form(&qd.data, d, &u, &u).sqrt();
    u.iter_mut().for_each(|v| *v *= scale);
    let v0 = 1.0 / (2.0 * top);
    let plus: Vec<f64> = (0..d).map(|i| theta[i] + u[i]).collect();
    let minus: Vec<f64> = (0..d).map(|i| theta[i] - u[i]).collect();
    Ok(Ok(vec![(plus, v0), (minus, v0)]))
}

fn half_space_minimum(theta: &[f64], sigma: &Matrix, n: &[f64], c: f64) -> (Vec<f64>, f64) {
    let d = theta.len();
    let mut sn = vec![0.0; d];
    sigma.mul_vec(n, &mut sn);
    let nsn = dot(n, &sn);
    let gap = c - dot(n, theta);
    let x = (0..d).map(|i| theta[i] + gap * sn[i] / nsn).collect();
    (x, gap * gap / (2.0 * nsn))
}

/// Every face whose unconstrained minimiser lies in the face is a channel; a face whose
/// minimiser lies outside it has its least V on an edge, which is allowed only above V₀.
fn box_minima(
    theta: &[f64],
    sigma: &Matrix,
    lo: &[f64],
    hi: &[f64],
) -> std::result::Result<Vec<(Vec<f64>, f64)>, String> {
    let d = theta.len();
    let mut inside = Vec::new();
    let mut outside_values = Vec::new();
    for k in 0..d {
        for (sign, c) in [(-1.0, -lo[k]), (1.0, hi[k])] {
            let mut n = vec![0.0; d];
            n[k] = sign;
            let (x, v) = half_space_minimum(theta, sigma, &n, c);
            let width = (hi[k] - lo[k]).abs();
            let ok = (0..d)
                .all(|i| i == k || (x[i] > lo[i] + 1e-9 * width && x[i] < hi[i] - 1e-9 * width));
            if ok {
                inside.push((x, v));
            } else {
                outside_values.push(v);
            }
        }
    }
    let v0 = inside.iter().map(|c| c.1).fold(f64::INFINITY, f64::min);
    if inside.is_empty() || outside_values.iter().any(|v| *v < v0 * (1.0 + 1e-9)) {
        return Err(
            "the least V on the box lies on an edge or corner, where ∂D is not smooth: not implemented".into(),
        );
    }
    Ok(inside)
}
