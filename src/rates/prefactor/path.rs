//! Nonlinear drift with constant noise: prefactors from the minimum action path.
//!
//! gMAM gives the optimal path φ from θ* to ∂D as nodes at equal arclength. On it the
//! fluctuation dynamics is φ̇ = λφ' with λ = ‖b‖ₐ/‖φ'‖ₐ (geometric parametrisation), so
//! dt = ds/λ and the momentum is p = ∇V = a⁻¹(λφ' − b). Along it Q = ∇²V obeys the Riccati
//! equation of the Hamiltonian H = ½pᵀap + b·p (constant a):
//!
//!   Q̇ = −Σₖ pₖ∇²bₖ − JᵀQ − QJ − QaQ,   J = ∇b,
//!
//! from Q = Σ⁻¹ at θ*. Its perturbations decay where the fluctuation flow J + aQ expands; near
//! a saddle they grow in the path's direction, where Qφ' is taken from the derivative of the
//! path's momentum instead (see [`transport`]). Then div ℓ = tr J + ½ tr(aQ)
//! (ℓ = b + ½a∇V) is integrated in time: the WKB
//! prefactor of the quasi-stationary density changes along the path by exp(−∫ div ℓ dt)
//! (transport equation φ̇·∇C = −C div ℓ; Bouchet & Reygner 2016).

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
    b: Vec<f64>,
    /// φ'/|φ'| (Euclidean).
    unit_tangent: Vec<f64>,
    /// dp/ds = ∇²V φ' by differences of the momenta.
    dp: Vec<f64>,
    /// ∇b, row-major.
    j: Matrix,
    /// Σₖ pₖ ∇²bₖ (symmetric).
    g: Matrix,
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

/// Integrate the Riccati equation and ∫ div ℓ dt along `path` (nodes from θ* on), for a
/// problem with constant noise.
///
/// With `to_saddle` = ∇²V(z*), the path ends at a saddle z*, which the fluctuation path reaches
/// only as t → ∞ and where the Riccati flow is unstable in the path's direction (errors grow
/// like (r₀/r)² at distance r from z*). Past the peak of ‖b‖ₐ, Qφ' is therefore pinned to
/// dp/ds from the path's momenta and the Riccati equation supplies only the transverse block.
///
/// # Errors
/// State-dependent noise, or a path too short (fewer than 5 nodes).
pub fn transport(problem: &Problem, path: &Path, to_saddle: Option<&Matrix>) -> Result<Transport> {
    let Noise::Constant(noise) = &problem.noise else {
        return Err(Error::Unsupported(
            "the Riccati transport needs constant noise".into(),
        ));
    };
    let a = &noise.diffusion;
    let metric = inverse(a);
    let nodes = path_nodes(&problem.drift, path, &metric)?;
    let m = nodes.len() - 1;
    let q0 = Matrix::from_faer(inverse_covariance(problem)?.as_ref());
    let mut hessians = vec![q0.clone(), q0.clone()];
    let mut q = q0;
    // Past the peak of ‖b‖ₐ a path to a saddle enters the contracting region, where the
    // Riccati flow is unstable in the path's own direction; there Qφ' is pinned to dp/ds,
    // the derivative of the path's momentum (p = ∇V, so dp/ds = ∇²V φ'), and only the
    // transverse block — stable forward — comes from the Riccati equation.
    let peak = (1..m)
        .max_by(|&i, &k| norm_in(&metric, &nodes[i].b).total_cmp(&norm_in(&metric, &nodes[k].b)))
        .unwrap_or(1);
    let last = if to_saddle.is_some() { m - 1 } else { m };
    for i in 1..last {
        q = step(&q, &nodes[i], &nodes[i + 1], a);
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
        .map(|i| div_over_speed(&nodes[i], &hessians[i], a))
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

/// div ℓ / λ = (tr J + ½ tr(aQ))/λ at a node.
fn div_over_speed(n: &Node, q: &Matrix, a: &Matrix) -> f64 {
    let d = q.n;
    let mut tr = 0.0;
    for r in 0..d {
        tr += n.j.data[r * d + r];
        for c in 0..d {
            tr += 0.5 * a.data[r * d + c] * q.data[c * d + r];
        }
    }
    tr / n.lambda
}

/// One segment of the Riccati equation dQ/ds = F(Q)/λ, by Heun's method with the node data
/// interpolated linearly and enough substeps for the local stiffness ‖J + aQ‖/λ.
fn step(q: &Matrix, from: &Node, to: &Node, a: &Matrix) -> Matrix {
    let d = q.n;
    let ds = to.s - from.s;
    let lmin = from.lambda.min(to.lambda).max(1e-300);
    let stiff = {
        let mut s = 0.0;
        for r in 0..d {
            for c in 0..d {
                let mut aq = 0.0;
                for k in 0..d {
                    aq += a.data[r * d + k] * q.data[k * d + c];
                }
                s += (from.j.data[r * d + c] + aq).powi(2);
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
        let j = lerp(u, &from.j, &to.j);
        let g = lerp(u, &from.g, &to.g);
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

/// x, b, J, Σpₖ∇²bₖ, p, λ and s at every node. Tangents by second-order differences on the
/// (nearly uniform) arclength grid; ∇²b by central differences of the exact Jacobian.
fn path_nodes(drift: &Drift, path: &Path, metric: &Matrix) -> Result<Vec<Node>> {
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
        let b = drift.eval(&x);
        let j = drift.eval_jacobian(&x);
        let tn = norm_in(metric, &tangent);
        let lambda = if tn > 0.0 {
            norm_in(metric, &b) / tn
        } else {
            0.0
        };
        let v: Vec<f64> = (0..d).map(|k| lambda * tangent[k] - b[k]).collect();
        let mut p = vec![0.0; d];
        metric.mul_vec(&v, &mut p);
        let g = second_derivative_contraction(drift, &x, &p);
        let tn_e = norm(&tangent).max(1e-300);
        out.push(Node {
            b: b.clone(),
            unit_tangent: tangent.iter().map(|v| v / tn_e).collect(),
            dp: Vec::new(),
            j,
            g,
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
    let Noise::Constant(noise) = &problem.noise else {
        return Ok(not_applicable(SADDLE, "state-dependent noise"));
    };
    let a = &noise.diffusion;
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
        let path = &ch.result.path;
        match channel(
            problem,
            path,
            ch.result.action,
            a,
            &q0,
            log_det_q0,
            reversible,
        )? {
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
        "constant noise; ∇²V(θ*) = Σ⁻¹ from the Lyapunov equation of the linearisation".to_string(),
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
    a: &Matrix,
    q0: &Matrix,
    log_det_q0: f64,
    reversible: Option<f64>,
) -> Result<ChannelResult> {
    let d = problem.dim();
    let n = path.len();
    let metric = inverse(a);
    let speeds: Vec<f64> = (0..n)
        .map(|i| norm_in(&metric, &problem.drift.eval(path.node(i))))
        .collect();
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
        let (x, resonant) = lyapunov_kronecker(&j, a)?;
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
