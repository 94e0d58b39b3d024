//! Nonlinear drift: prefactors from the minimum action path.
//!
//! gMAM gives the optimal path φ from θ* to ∂D as nodes at equal arclength. On it the
//! fluctuation dynamics is φ̇ = λφ' with λ = ‖b‖ₐ/‖φ'‖ₐ (geometric parametrisation, a = a(φ)),
//! so dt = ds/λ and the momentum is p = ∇V = a⁻¹(λφ' − b). Along it Q = ∇²V obeys the Riccati
//! equation of the Hamiltonian H = ½pᵀa(θ)p + b·p, Q̇ = −(H_θθ + H_θp Q + Q H_pθ + Q H_pp Q):
//!
//!   Q̇ = −G − (J + M)ᵀQ − Q(J + M) − QaQ,
//!   J = ∇b,  Mᵢₖ = Σⱼ ∂ₖaᵢⱼ pⱼ,  G = Σₖ pₖ∇²bₖ + ½ Σᵢⱼ pᵢpⱼ ∇²aᵢⱼ,
//!
//! from Q = Σ⁻¹ at θ* (M and the a-part of G vanish for constant noise). Its perturbations decay
//! where the fluctuation flow expands; near a saddle they grow in the path's direction, where
//! Qφ' is taken from the derivative of the path's momentum instead (see [`transport`]).
//!
//! The WKB prefactor C of the quasi-stationary density ρ ≈ C e^{−V/ε²} solves the O(1) part of
//! the forward equation, −∇·((b + ½a∇V)C) − ½ ∇V·∇·(aC) = 0, i.e. the transport equation
//!
//!   φ̇·∇C = −C (tr J + ½ tr(aQ) + ∇V·(∇·a)),   (∇·a)ᵢ = Σⱼ ∂ⱼaᵢⱼ,
//!
//! so C changes along the path by exp(−∫ (div ℓ + ½∇V·(∇·a)) dt), ℓ = b + ½a∇V (Bouchet &
//! Reygner 2016 for constant a; the ∂a term is the same expansion carried out for a(θ), and
//! gives C = 1/a for the 1-D stationary density, whose exact form is (1/a)e^{−V/ε²}). The flux
//! density through a non-characteristic ∂D at a minimum x of V on ∂D is (b + a∇V)·n C e^{−V/ε²}
//! = −b·n C e^{−V/ε²} there (∇V ∥ n and the Hamilton–Jacobi equation), for any a.
//!
//! Derivatives of a(θ) are central differences of the problem's a along the path (steps
//! 10⁻⁵ and 10⁻⁴ relative, errors ~10⁻⁸ against the path's own discretisation error).

use super::geometry::{boundary_point, inverse, log_abs_det_symmetric, lyapunov_kronecker};
use super::{assemble, not_applicable, Dynamics, ExitChannel, Options, Outcome};
use crate::error::{Error, Result};
use crate::exact::local_covariance;
use crate::linalg::{dot, norm, Matrix};
use crate::mam::{self, Path, Target};
use crate::problem::{Drift, Noise, Problem, ScalarField};
use faer::linalg::solvers::Solve;
use std::f64::consts::PI;

const SADDLE: &str = "exit over a saddle";
const SADDLE_REF: &str =
    "Eyring–Kramers; Bouchet & Reygner, Ann. Henri Poincaré 17 (2016) 3499 for non-gradient drift";
const FLUX: &str = "non-characteristic boundary: flux of the WKB quasi-stationary density";
const FLUX_REF: &str = "Helffer & Nier (2006); Di Gesù, Lelièvre, Le Peutrec & Nectoux, Ann. PDE (2019); Bouchet & Reygner (2016) for the transport factor";

/// Per-node quantities of a path.
struct Node {
    /// φ'/|φ'| (Euclidean).
    unit_tangent: Vec<f64>,
    /// dp/ds = ∇²V φ' by differences of the momenta.
    dp: Vec<f64>,
    /// ∇b, row-major.
    j: Matrix,
    /// H_pθ = J + M with Mᵢₖ = Σⱼ ∂ₖaᵢⱼ pⱼ (= J for constant noise), row-major.
    jm: Matrix,
    /// H_θθ = Σₖ pₖ∇²bₖ + ½ Σᵢⱼ pᵢpⱼ∇²aᵢⱼ (symmetric).
    g: Matrix,
    /// a(φ).
    a: Matrix,
    /// p·(∇·a) = Σᵢⱼ pᵢ ∂ⱼaᵢⱼ (0 for constant noise).
    p_div_a: f64,
    /// ‖b‖ₐ = √(bᵀa⁻¹b).
    speed: f64,
    /// ∇V = a⁻¹(λφ' − b).
    p: Vec<f64>,
    /// dt/ds = 1/λ.
    lambda: f64,
    /// Euclidean arclength.
    s: f64,
}

/// What the Riccati integration along a path gives.
#[derive(Clone, Debug)]
pub struct Transport {
    /// ∇²V at the nodes reached (all of them, or up to the stop short of a saddle).
    pub hessians: Vec<Matrix>,
    /// ∇V at every node.
    pub gradients: Vec<Vec<f64>>,
    /// ∫ div ℓ dt over the whole path.
    pub integral: f64,
}

/// Integrate the Riccati equation and the transport exponent ∫ (div ℓ + ½∇V·(∇·a)) dt along
/// `path` (nodes from θ* on).
///
/// With `to_saddle` = ∇²V(z*), the path ends at a saddle z*, which the fluctuation path reaches
/// only as t → ∞ and where the Riccati flow is unstable in the path's direction (errors grow
/// like (r₀/r)² at distance r from z*). Past the peak of ‖b‖ₐ, Qφ' is therefore pinned to
/// dp/ds from the path's momenta and the Riccati equation supplies only the transverse block.
///
/// # Errors
/// A path too short (fewer than 5 nodes), or a(θ) not positive definite at a path node.
pub fn transport(problem: &Problem, path: &Path, to_saddle: Option<&Matrix>) -> Result<Transport> {
    let nodes = path_nodes(problem, path)?;
    let m = nodes.len() - 1;
    let q0 = Matrix::from_faer(inverse_covariance(problem)?.as_ref());
    let mut hessians = vec![q0.clone(), q0.clone()];
    let mut q = q0;
    // Past the peak of ‖b‖ₐ a path to a saddle enters the contracting region, where the
    // Riccati flow is unstable in the path's own direction; there Qφ' is pinned to dp/ds,
    // the derivative of the path's momentum (p = ∇V, so dp/ds = ∇²V φ'), and only the
    // transverse block — stable forward — comes from the Riccati equation.
    let peak = (1..m)
        .max_by(|&i, &k| nodes[i].speed.total_cmp(&nodes[k].speed))
        .unwrap_or(1);
    let last = if to_saddle.is_some() { m - 1 } else { m };
    for i in 1..last {
        q = step(&q, &nodes[i], &nodes[i + 1]);
        if to_saddle.is_some() && i + 1 > peak {
            pin_tangent(&mut q, &nodes[i + 1].unit_tangent, &nodes[i + 1].dp);
        }
        hessians.push(q.clone());
    }
    if let Some(qz) = to_saddle {
        hessians.push(qz.clone());
    }
    // div ℓ / λ at the nodes; its limits at θ* and at a saddle (λ = 0) are extrapolated from
    // the two nearest nodes.
    let mut rate: Vec<f64> = (0..=m)
        .map(|i| div_over_speed(&nodes[i], &hessians[i]))
        .collect();
    let s: Vec<f64> = nodes.iter().map(|n| n.s).collect();
    rate[0] = rate[1] + (rate[2] - rate[1]) * (s[0] - s[1]) / (s[2] - s[1]);
    if to_saddle.is_some() || !rate[m].is_finite() {
        rate[m] =
            rate[m - 1] + (rate[m - 1] - rate[m - 2]) * (s[m] - s[m - 1]) / (s[m - 1] - s[m - 2]);
    }
    let integral: f64 = (0..m)
        .map(|i| 0.5 * (rate[i] + rate[i + 1]) * (s[i + 1] - s[i]))
        .sum();
    Ok(Transport {
        gradients: nodes.iter().map(|n| n.p.clone()).collect(),
        hessians,
        integral,
    })
}

/// Q ← (I − ttᵀ)Q(I − ttᵀ) + wtᵀ + twᵀ − (tᵀw)ttᵀ, so that Qt = w and the block on t⊥ is kept.
fn pin_tangent(q: &mut Matrix, t: &[f64], w: &[f64]) {
    let d = q.n;
    let mut qt = vec![0.0; d];
    q.mul_vec(t, &mut qt);
    let tqt = dot(t, &qt);
    let tw = dot(t, w);
    for r in 0..d {
        for c in 0..d {
            // (I − ttᵀ)Q(I − ttᵀ) = Q − (Qt)tᵀ − t(Qt)ᵀ + (tᵀQt)ttᵀ.
            let kept = q.data[r * d + c] - qt[r] * t[c] - t[r] * qt[c] + tqt * t[r] * t[c];
            q.data[r * d + c] = kept + w[r] * t[c] + t[r] * w[c] - tw * t[r] * t[c];
        }
    }
}

/// The transport rate over the speed, (tr J + ½ tr(aQ) + p·(∇·a))/λ, at a node.
fn div_over_speed(n: &Node, q: &Matrix) -> f64 {
    let d = q.n;
    let mut tr = n.p_div_a;
    for r in 0..d {
        tr += n.j.data[r * d + r];
        for c in 0..d {
            tr += 0.5 * n.a.data[r * d + c] * q.data[c * d + r];
        }
    }
    tr / n.lambda
}

/// One segment of the Riccati equation dQ/ds = F(Q)/λ, by Heun's method with the node data
/// interpolated linearly and enough substeps for the local stiffness ‖J + M + aQ‖/λ.
fn step(q: &Matrix, from: &Node, to: &Node) -> Matrix {
    let d = q.n;
    let ds = to.s - from.s;
    let lmin = from.lambda.min(to.lambda).max(1e-300);
    let stiff = {
        let mut s = 0.0;
        for r in 0..d {
            for c in 0..d {
                let mut aq = 0.0;
                for k in 0..d {
                    aq += from.a.data[r * d + k] * q.data[k * d + c];
                }
                s += (from.jm.data[r * d + c] + aq).powi(2);
            }
        }
        s.sqrt()
    };
    let subs = ((2.0 * ds.abs() * stiff / lmin).ceil() as usize).clamp(1, 20_000);
    let h = ds / subs as f64;
    let lerp = |u: f64, x: &Matrix, y: &Matrix| Matrix {
        n: d,
        data: x
            .data
            .iter()
            .zip(&y.data)
            .map(|(p, r)| p + u * (r - p))
            .collect(),
    };
    let rhs = |u: f64, q: &Matrix| -> Matrix {
        let j = lerp(u, &from.jm, &to.jm);
        let g = lerp(u, &from.g, &to.g);
        let a = lerp(u, &from.a, &to.a);
        let lambda = from.lambda + u * (to.lambda - from.lambda);
        let jf = j.to_faer();
        let qf = q.to_faer();
        let f = -(g.to_faer()) - jf.transpose() * &qf - &qf * &jf - &qf * a.to_faer() * &qf;
        let mut out = Matrix::from_faer(f.as_ref());
        for v in out.data.iter_mut() {
            *v /= lambda.max(1e-300);
        }
        out
    };
    let mut q = q.clone();
    for k in 0..subs {
        let u0 = k as f64 / subs as f64;
        let u1 = (k + 1) as f64 / subs as f64;
        let k1 = rhs(u0, &q);
        let pred = Matrix {
            n: d,
            data: q
                .data
                .iter()
                .zip(&k1.data)
                .map(|(x, y)| x + h * y)
                .collect(),
        };
        let k2 = rhs(u1, &pred);
        for ((x, a1), a2) in q.data.iter_mut().zip(&k1.data).zip(&k2.data) {
            *x += 0.5 * h * (a1 + a2);
        }
        // Q is symmetric; keep it so against round-off.
        for r in 0..d {
            for c in r + 1..d {
                let v = 0.5 * (q.data[r * d + c] + q.data[c * d + r]);
                q.data[r * d + c] = v;
                q.data[c * d + r] = v;
            }
        }
    }
    q
}

fn norm_in(metric: &Matrix, v: &[f64]) -> f64 {
    crate::linalg::quad_form(&metric.data, v.len(), v, v)
        .max(0.0)
        .sqrt()
}

fn inverse_covariance(problem: &Problem) -> Result<faer::Mat<f64>> {
    use faer::linalg::solvers::DenseSolveCore;
    Ok(local_covariance(problem)?.sigma.partial_piv_lu().inverse())
}

/// x, b, J, a and its derivative terms, p, λ and s at every node. Tangents by second-order
/// differences on the (nearly uniform) arclength grid; ∇²b by central differences of the exact
/// Jacobian, ∂a and ∂²a by central differences of a.
fn path_nodes(problem: &Problem, path: &Path) -> Result<Vec<Node>> {
    let drift = &problem.drift;
    let n = path.len();
    let d = path.dim;
    if n < 5 {
        return Err(Error::numerical(
            "prefactor transport",
            format!("the path has {n} nodes; at least 5 are needed"),
        ));
    }
    let mut s = vec![0.0; n];
    for i in 1..n {
        let seg: Vec<f64> = (0..d)
            .map(|k| path.node(i)[k] - path.node(i - 1)[k])
            .collect();
        s[i] = s[i - 1] + norm(&seg);
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let tangent = three_point_derivative(&s, i, |k| path.node(k));
        let x = path.node(i).to_vec();
        let a = diffusion_at(problem, &x)?;
        let metric = inverse(&a);
        let b = drift.eval(&x);
        let j = drift.eval_jacobian(&x);
        let tn = norm_in(&metric, &tangent);
        let speed = norm_in(&metric, &b);
        let lambda = if tn > 0.0 { speed / tn } else { 0.0 };
        let v: Vec<f64> = (0..d).map(|k| lambda * tangent[k] - b[k]).collect();
        let mut p = vec![0.0; d];
        metric.mul_vec(&v, &mut p);
        let mut g = second_derivative_contraction(drift, &x, &p);
        let mut jm = j.clone();
        let mut p_div_a = 0.0;
        if !problem.noise.is_constant() {
            let da = noise_terms(problem, &x, &p)?;
            for (gv, hv) in g.data.iter_mut().zip(&da.half_p_hess_p) {
                *gv += hv;
            }
            for (jv, mv) in jm.data.iter_mut().zip(&da.m) {
                *jv += mv;
            }
            p_div_a = da.p_div_a;
        }
        let tn_e = norm(&tangent).max(1e-300);
        out.push(Node {
            unit_tangent: tangent.iter().map(|v| v / tn_e).collect(),
            dp: Vec::new(),
            j,
            jm,
            g,
            a,
            p_div_a,
            speed,
            p,
            lambda,
            s: s[i],
        });
    }
    for i in 0..n {
        let dp = three_point_derivative(&s, i, |k| out[k].p.as_slice());
        out[i].dp = dp;
    }
    Ok(out)
}

/// a(x), or an error naming the point where it is not positive definite.
fn diffusion_at(problem: &Problem, x: &[f64]) -> Result<Matrix> {
    problem.noise.diffusion_at(x).ok_or_else(|| {
        Error::numerical(
            "prefactor transport",
            format!(
                "a(θ) is not positive definite at the path node {}",
                crate::problem::check::fmt_theta(x)
            ),
        )
    })
}

/// What a state-dependent a adds to the Riccati and transport equations at x, for momentum p.
struct NoiseTerms {
    /// Mᵢₖ = Σⱼ ∂ₖaᵢⱼ pⱼ, row-major.
    m: Vec<f64>,
    /// ½ ∂ₖ∂ₗ(pᵀa p) with p held fixed, row-major.
    half_p_hess_p: Vec<f64>,
    /// Σᵢⱼ pᵢ ∂ⱼaᵢⱼ.
    p_div_a: f64,
}

/// Central differences of a(θ): ∂a with steps 10⁻⁵(1 + |xₖ|) (error O(h²) ≈ 10⁻¹⁰ relative),
/// ∂²(pᵀap) with steps 10⁻⁴(1 + |xₖ|) (truncation ~10⁻⁸, round-off ~10⁻⁸ relative).
fn noise_terms(problem: &Problem, x: &[f64], p: &[f64]) -> Result<NoiseTerms> {
    let d = x.len();
    let mut y = x.to_vec();
    let mut da = Vec::with_capacity(d);
    for k in 0..d {
        let h = 1e-5 * (1.0 + x[k].abs());
        y[k] = x[k] + h;
        let ap = diffusion_at(problem, &y)?;
        y[k] = x[k] - h;
        let am = diffusion_at(problem, &y)?;
        y[k] = x[k];
        let dak: Vec<f64> = ap
            .data
            .iter()
            .zip(&am.data)
            .map(|(u, v)| (u - v) / (2.0 * h))
            .collect();
        da.push(dak);
    }
    let mut m = vec![0.0; d * d];
    let mut p_div_a = 0.0;
    for i in 0..d {
        for k in 0..d {
            m[i * d + k] = (0..d).map(|j| da[k][i * d + j] * p[j]).sum();
        }
        for j in 0..d {
            p_div_a += p[i] * da[j][i * d + j];
        }
    }
    let form = |y: &[f64]| -> Result<f64> {
        let a = diffusion_at(problem, y)?;
        Ok(crate::linalg::quad_form(&a.data, d, p, p))
    };
    let f0 = form(x)?;
    let hs: Vec<f64> = x.iter().map(|v| 1e-4 * (1.0 + v.abs())).collect();
    let mut hess = vec![0.0; d * d];
    for k in 0..d {
        y[k] = x[k] + hs[k];
        let fp = form(&y)?;
        y[k] = x[k] - hs[k];
        let fm = form(&y)?;
        y[k] = x[k];
        hess[k * d + k] = 0.5 * (fp - 2.0 * f0 + fm) / (hs[k] * hs[k]);
        for l in 0..k {
            let mut corner = |sk: f64, sl: f64| -> Result<f64> {
                y[k] = x[k] + sk * hs[k];
                y[l] = x[l] + sl * hs[l];
                let v = form(&y);
                y[k] = x[k];
                y[l] = x[l];
                v
            };
            let v = (corner(1.0, 1.0)? - corner(1.0, -1.0)? - corner(-1.0, 1.0)?
                + corner(-1.0, -1.0)?)
                / (4.0 * hs[k] * hs[l]);
            hess[k * d + l] = 0.5 * v;
            hess[l * d + k] = 0.5 * v;
        }
    }
    Ok(NoiseTerms {
        m,
        half_p_hess_p: hess,
        p_div_a,
    })
}

/// d/ds of the vectors f(0..n) at node i by the three-point formula on the non-uniform grid s
/// (one-sided at the ends; second order).
fn three_point_derivative<'a>(s: &[f64], i: usize, f: impl Fn(usize) -> &'a [f64]) -> Vec<f64> {
    let n = s.len();
    let (i0, i1, i2) = if i == 0 {
        (0, 1, 2)
    } else if i == n - 1 {
        (n - 3, n - 2, n - 1)
    } else {
        (i - 1, i, i + 1)
    };
    let (s0, s1, s2, t) = (s[i0], s[i1], s[i2], s[i]);
    let w0 = (2.0 * t - s1 - s2) / ((s0 - s1) * (s0 - s2));
    let w1 = (2.0 * t - s0 - s2) / ((s1 - s0) * (s1 - s2));
    let w2 = (2.0 * t - s0 - s1) / ((s2 - s0) * (s2 - s1));
    let (a, b, c) = (f(i0), f(i1), f(i2));
    (0..a.len())
        .map(|k| w0 * a[k] + w1 * b[k] + w2 * c[k])
        .collect()
}

/// G = Σₖ pₖ ∇²bₖ, i.e. Gᵢⱼ = ∂ⱼ(Jᵀp)ᵢ, by central differences of the exact Jacobian (zero for
/// a linear drift).
fn second_derivative_contraction(drift: &Drift, x: &[f64], p: &[f64]) -> Matrix {
    let d = x.len();
    let mut g = Matrix::zeros(d);
    if matches!(drift, Drift::Linear(_)) {
        return g;
    }
    let mut y = x.to_vec();
    for c in 0..d {
        let h = 1e-5 * (1.0 + x[c].abs());
        y[c] = x[c] + h;
        let jp = drift.eval_jacobian(&y);
        y[c] = x[c] - h;
        let jm = drift.eval_jacobian(&y);
        y[c] = x[c];
        for r in 0..d {
            let mut v = 0.0;
            for k in 0..d {
                v += (jp.data[k * d + r] - jm.data[k * d + r]) * p[k];
            }
            g.data[r * d + c] = v / (2.0 * h);
        }
    }
    for r in 0..d {
        for c in r + 1..d {
            let v = 0.5 * (g.data[r * d + c] + g.data[c * d + r]);
            g.data[r * d + c] = v;
            g.data[c * d + r] = v;
        }
    }
    g
}

/// A stationary point z of b near x by damped Newton steps, if one is within reach.
fn newton_root(drift: &Drift, x: &[f64], scale: f64) -> Option<Vec<f64>> {
    let d = x.len();
    let mut z = x.to_vec();
    for _ in 0..60 {
        let b = drift.eval(&z);
        let r = norm(&b);
        if r <= 1e-12 * scale {
            return Some(z);
        }
        let j = drift.eval_jacobian(&z).to_faer();
        let rhs = faer::Mat::from_fn(d, 1, |i, _| b[i]);
        let delta = j.partial_piv_lu().solve(&rhs);
        let mut t = 1.0;
        loop {
            let y: Vec<f64> = (0..d).map(|i| z[i] - t * delta[(i, 0)]).collect();
            if norm(&drift.eval(&y)) < r || t < 1e-6 {
                z = y;
                break;
            }
            t *= 0.5;
        }
    }
    (norm(&drift.eval(&z)) <= 1e-10 * scale).then_some(z)
}

/// The saddle's unstable eigenvalue μ and left eigenvector w (wᵀJ = μwᵀ), or why z is not a
/// saddle of index one.
fn unstable_direction(j: &Matrix) -> Result<std::result::Result<(f64, Vec<f64>), String>> {
    let d = j.n;
    let eig = j
        .to_faer()
        .eigenvalues()
        .map_err(|e| Error::numerical("eigenvalues at the saddle", format!("{e:?}")))?;
    let scale = eig.iter().map(|z| z.norm()).fold(0.0, f64::max).max(1e-300);
    let unstable: Vec<_> = eig.iter().filter(|z| z.re > 1e-10 * scale).collect();
    if unstable.len() != 1 || unstable[0].im.abs() > 1e-10 * scale {
        return Ok(Err(format!(
            "the critical point on the path has {} unstable direction(s); Eyring–Kramers needs a saddle of index one",
            unstable.len()
        )));
    }
    let mu = unstable[0].re;
    // Left eigenvector by inverse iteration on Jᵀ − (μ + δ)I.
    let shift = mu * (1.0 + 1e-9) + 1e-14 * scale;
    let m = faer::Mat::from_fn(d, d, |r, c| {
        j.data[c * d + r] - if r == c { shift } else { 0.0 }
    });
    let lu = m.partial_piv_lu();
    let mut w = faer::Mat::from_fn(d, 1, |i, _| 1.0 + 0.1 * i as f64);
    for _ in 0..3 {
        w = lu.solve(&w);
        let nw = (0..d).map(|i| w[(i, 0)] * w[(i, 0)]).sum::<f64>().sqrt();
        w *= 1.0 / nw;
    }
    Ok(Ok((mu, (0..d).map(|i| w[(i, 0)]).collect())))
}

/// True when b = −∇L and a = c·I: then V = 2(L − L*)/c exactly and ℓ ≡ 0.
fn reversible_isotropic(problem: &Problem) -> Option<f64> {
    problem.loss.as_ref()?;
    if !matches!(problem.drift, Drift::Gradient(_) | Drift::Native(_)) {
        return None;
    }
    let Noise::Constant(n) = &problem.noise else {
        return None;
    };
    let d = problem.dim();
    let c = n.diffusion.data[0];
    let iso = (0..d).all(|r| {
        (0..d).all(|k| {
            let want = if r == k { c } else { 0.0 };
            (n.diffusion.data[r * d + k] - want).abs() <= 1e-14 * c.abs()
        })
    });
    // A native drift must still be the loss's gradient.
    let x = &problem.minimum;
    let probe: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, v)| v + 0.1 + 0.01 * i as f64)
        .collect();
    let b = problem.drift.eval(&probe);
    let mut g = vec![0.0; d];
    problem.loss.as_ref()?.gradient(&probe, &mut g);
    let grad = (0..d).all(|i| (b[i] + g[i]).abs() <= 1e-10 * (1.0 + g[i].abs()));
    (iso && grad && c > 0.0).then_some(c)
}

/// The prefactor for a nonlinear drift with constant noise.
pub(super) fn nonlinear(problem: &Problem, options: &Options) -> Result<Outcome> {
    let mut cfg = options.mam.clone();
    cfg.target = Target::Boundary;
    let report = mam::run(problem, &cfg)?;
    let q0 = Matrix::from_faer(inverse_covariance(problem)?.as_ref());
    let (log_det_q0, _) = log_abs_det_symmetric(&q0, "∇²V(θ*)")?;
    let reversible = reversible_isotropic(problem);
    let v0 = report.action;
    let mut channels = Vec::new();
    let mut kinds = Vec::new();
    let mut notes = Vec::new();
    for ch in &report.channels {
        if ch.result.action > options.channel_window * v0 + 1e-12 {
            continue;
        }
        if !ch.continuum.is_empty() {
            return Ok(not_applicable(
                FLUX,
                format!(
                    "the exit channel at {} is a continuum of equal action: gMAM found {} exit points on ∂D between which V rises by less than {} of V0 (∂D is close to a level set of V there); the Laplace formula needs isolated, non-degenerate minima of V on ∂D",
                    crate::problem::check::fmt_theta(&ch.result.exit_point),
                    ch.continuum.len() + 1,
                    crate::mam::FLAT_RELATIVE,
                ),
            ));
        }
        let path = &ch.result.path;
        match channel(problem, path, ch.result.action, &q0, log_det_q0, reversible)? {
            Ok((c, kind, note)) => {
                channels.push(c);
                kinds.push(kind);
                notes.push(note);
            }
            Err((formula, reason)) => return Ok(not_applicable(formula, reason)),
        }
    }
    if kinds.iter().any(|k| *k != kinds[0]) {
        return Ok(not_applicable(
            SADDLE,
            "the exit channels mix saddles and a non-characteristic boundary, whose rates scale with different powers of ε",
        ));
    }
    let saddle = kinds.first().copied().unwrap_or(true);
    let mut assumptions = vec![
        if problem.noise.is_constant() {
            "constant noise; ∇²V(θ*) = Σ⁻¹ from the Lyapunov equation of the linearisation"
                .to_string()
        } else {
            "state-dependent a(θ), smooth (∂a, ∂²a by central differences along the path); ∇²V(θ*) = Σ⁻¹ from the Lyapunov equation with a(θ*)".to_string()
        },
        match reversible {
            Some(_) => "reversible (b = −∇L, a ∝ I): V = 2(L − L*)/c, ∇²V exact, ℓ ≡ 0".to_string(),
            None => "∇²V along the gMAM path from its Riccati equation; ∇V from the path's momentum (discretisation error of the path enters)".to_string(),
        },
    ];
    notes.sort();
    notes.dedup();
    assumptions.extend(notes);
    let (formula, reference, kappa) = if saddle {
        (SADDLE, SADDLE_REF, 0.0)
    } else {
        (FLUX, FLUX_REF, 1.0)
    };
    Ok(assemble(
        formula,
        reference,
        assumptions,
        kappa,
        channels,
        options.channel_window,
        Dynamics::Continuous,
    ))
}

type ChannelResult = std::result::Result<(ExitChannel, bool, String), (&'static str, String)>;

fn channel(
    problem: &Problem,
    path: &Path,
    action: f64,
    q0: &Matrix,
    log_det_q0: f64,
    reversible: Option<f64>,
) -> Result<ChannelResult> {
    let d = problem.dim();
    let n = path.len();
    let speeds = (0..n)
        .map(|i| {
            let x = path.node(i);
            let metric = inverse(&diffusion_at(problem, x)?);
            Ok(norm_in(&metric, &problem.drift.eval(x)))
        })
        .collect::<Result<Vec<f64>>>()?;
    let peak = (0..n)
        .max_by(|&i, &k| speeds[i].total_cmp(&speeds[k]))
        .unwrap_or(0);
    let bmax = speeds[peak].max(1e-300);
    let slowest = (peak..n).min_by(|&i, &k| speeds[i].total_cmp(&speeds[k]));
    let saddle = slowest
        .filter(|&i| i > 0 && speeds[i] < 0.05 * bmax)
        .and_then(|i| {
            let z = newton_root(&problem.drift, path.node(i), bmax)?;
            let dist: f64 = norm(&(0..d).map(|k| z[k] - path.node(i)[k]).collect::<Vec<_>>());
            let length: f64 = (1..n)
                .map(|k| {
                    norm(
                        &(0..d)
                            .map(|c| path.node(k)[c] - path.node(k - 1)[c])
                            .collect::<Vec<_>>(),
                    )
                })
                .sum();
            (dist < 0.1 * length).then_some((i, z))
        });
    if let Some((i_s, z)) = saddle {
        let j = problem.drift.eval_jacobian(&z);
        let (mu, w) = match unstable_direction(&j)? {
            Ok(u) => u,
            Err(reason) => return Ok(Err((SADDLE, reason))),
        };
        // The saddle's own linearisation: b ≈ J(θ − z*), a ≈ a(z*).
        let (x, resonant) = lyapunov_kronecker(&j, &diffusion_at(problem, &z)?)?;
        let qz = inverse(&x);
        let (log_det_qz, negative) = log_abs_det_symmetric(&qz, "∇²V(z*)")?;
        if negative != 1 {
            return Ok(Err((
                SADDLE,
                format!(
                    "∇²V at the saddle {} has {negative} negative eigenvalues, not one",
                    crate::problem::check::fmt_theta(&z)
                ),
            )));
        }
        let mut grad = vec![0.0; d];
        let dist = problem.domain.signed_distance(&z, &mut grad).abs();
        let scale = 1.0
            + norm(
                &(0..d)
                    .map(|k| z[k] - problem.minimum[k])
                    .collect::<Vec<_>>(),
            );
        let absorbed = dist < 1e-4 * scale;
        let mut note = String::new();
        if resonant {
            note.push_str("resonant saddle (∇b(z*) has eigenvalues μ and −μ): ∇²V(z*) is not fixed by the linearisation, and the minimum-norm solution is used (it must match the Riccati solution along the path to 10 %, checked; exact under a reflection symmetry across the path, as for Maier–Stein); ");
        }
        if absorbed {
            let mut normal = vec![0.0; d];
            problem.domain.normal(&z, &mut normal);
            let cos = dot(&normal, &w).abs() / (norm(&normal) * norm(&w));
            if cos < 1.0 - 1e-4 {
                return Ok(Err((
                    SADDLE,
                    format!(
                        "∂D passes through the saddle {z:?} at an angle of {:.3} rad to the stable manifold; the absorption factor ½ holds only when ∂D is tangent to it",
                        cos.min(1.0).acos()
                    ),
                )));
            }
            note.push_str("∂D passes through the saddle along its stable manifold: the mean time to reach it is half the crossing time");
        } else {
            note.push_str("the saddle lies inside D: the crossing time is used, and the O(ln(1/ε)) descent from z* to ∂D is neglected");
        }
        let integral = if reversible.is_some() {
            0.0
        } else {
            let mut nodes: Vec<f64> = path.nodes[..(i_s + 1) * d].to_vec();
            nodes[i_s * d..].copy_from_slice(&z);
            let t = transport(problem, &Path::new(d, nodes), Some(&qz))?;
            // The Riccati solution next to z* must meet ∇²V(z*) of the linearisation; it does
            // not when V is not smooth at z* (several optimal paths meeting there, as for
            // Maier–Stein with β > 4) or a resonant saddle's minimum-norm choice is wrong.
            let near = &t.hessians[t.hessians.len() - 2];
            let diff: f64 = near
                .data
                .iter()
                .zip(&qz.data)
                .map(|(x, y)| (x - y).powi(2))
                .sum();
            let size: f64 = qz.data.iter().map(|y| y * y).sum();
            let mismatch = diff.sqrt() / size.sqrt();
            if mismatch > 0.1 {
                return Ok(Err((
                    SADDLE,
                    format!("the Hessian of V along the path does not reach the saddle's linearised ∇²V(z*) (relative difference {mismatch:.2}): V is not smooth at z* {} (several optimal paths meet there?) and the formula does not apply", crate::problem::check::fmt_theta(&z)),
                )));
            }
            t.integral
        };
        let ln_time = (2.0 * PI / mu).ln()
            + 0.5 * (log_det_qz - log_det_q0)
            + integral
            + if absorbed { -(2.0f64.ln()) } else { 0.0 };
        return Ok(Ok((
            ExitChannel {
                exit_point: path.end().to_vec(),
                v: action,
                rate_coefficient: (-ln_time).exp(),
                saddle: Some(z),
                transverse_integral: integral,
                inward_drift: None,
                tangential_hessian: Vec::new(),
            },
            true,
            note,
        )));
    }
    // No saddle: the path ends on a non-characteristic part of ∂D.
    let x = path.end().to_vec();
    let b = problem.drift.eval(&x);
    let (grad_v, hess_v, integral) = match reversible {
        Some(c) => {
            let loss = problem.loss.as_ref().expect("reversible implies a loss");
            let mut g = vec![0.0; d];
            loss.gradient(&x, &mut g);
            let mut h = Matrix::zeros(d);
            loss.hessian(&x, &mut h.data);
            g.iter_mut().for_each(|v| *v *= 2.0 / c);
            h.data.iter_mut().for_each(|v| *v *= 2.0 / c);
            (g, h, 0.0)
        }
        None => {
            let t = transport(problem, path, None)?;
            let last = n - 1;
            (
                t.gradients[last].clone(),
                t.hessians[last].clone(),
                t.integral,
            )
        }
    };
    let _ = q0;
    let bp = match boundary_point(&problem.domain, &x, &grad_v, &hess_v, 2e-2)? {
        Ok(bp) => bp,
        Err(reason) => return Ok(Err((FLUX, reason))),
    };
    let inward = -dot(&b, &bp.normal);
    if !(inward > 1e-8 * norm(&b).max(1e-300)) {
        return Ok(Err((
            FLUX,
            format!("characteristic boundary at the exit point {}: b·n = {:.3e} ≥ 0 and no saddle on the path", crate::problem::check::fmt_theta(&x), -inward),
        )));
    }
    let ln_r =
        inward.ln() - 0.5 * (2.0 * PI).ln() + 0.5 * log_det_q0 - 0.5 * bp.log_det_k - integral;
    Ok(Ok((
        ExitChannel {
            exit_point: x,
            v: action,
            rate_coefficient: ln_r.exp(),
            saddle: None,
            transverse_integral: integral,
            inward_drift: Some(inward),
            tangential_hessian: bp.k_eigenvalues,
        },
        false,
        "each exit point is a non-degenerate minimum of V on ∂D with b·n < 0 (checked)".into(),
    )))
}
