//! Exact V(θ) and V₀ for linear drift and constant noise (DESIGN §2).
//!
//! V(θ) = ½ uᵀΣ⁻¹u with u = θ − θ*. On an ellipsoid {uᵀQu < 1} centred at θ* the least V on the
//! boundary is V₀ = 1 / (2 λ_max(Q^{1/2} Σ Q^{1/2})) — the generalised symmetric eigenproblem
//! Σ⁻¹x = μQx — which covers balls (Q = I/r²) and level sets of L = ½uᵀHu (Q = H/(2ΔL), so
//! V₀ = ΔL·μ_min(Σ⁻¹, H)). On a half-space {n·θ < c}: V₀ = (c − n·θ*)² / (2 nᵀΣn).

use super::lyapunov::{solve_lyapunov, LyapunovSolution};
use crate::error::{Error, Result};
use crate::linalg::{symmetric_eigen, Matrix};
use crate::problem::{Domain, Drift, Loss, Noise, Problem};
use faer::linalg::solvers::DenseSolveCore;
use faer::Mat;
use serde::Serialize;

/// The exact engine's answer.
#[derive(Clone, Debug, Serialize)]
pub struct ExactBarrier {
    /// V₀ = min over ∂D of V.
    pub v0: f64,
    /// The point of ∂D where V = V₀ (one of ± for symmetric domains).
    pub exit_point: Vec<f64>,
    /// How V₀ was obtained.
    pub method: String,
}

/// The exact linear-Gaussian model of a problem: A with b = −A(θ−θ*), and a.
pub fn linear_model(problem: &Problem) -> Result<(Matrix, Matrix)> {
    let Drift::Linear(lin) = &problem.drift else {
        return Err(Error::Unsupported(format!(
            "the exact engine needs a linear drift (a `hessian` or a field with constant Jacobian); \"{}\" has a {} drift — use --method gmam or olim",
            problem.name,
            problem.drift.kind()
        )));
    };
    let Noise::Constant(noise) = &problem.noise else {
        return Err(Error::Unsupported(format!(
            "the exact engine needs constant noise; \"{}\" has state-dependent noise — use --method gmam or olim",
            problem.name
        )));
    };
    Ok((lin.a.clone(), noise.diffusion.clone()))
}

/// Σ for the problem's linearisation at θ* (exact for linear problems; the local quadratic
/// approximation of V otherwise).
pub fn local_covariance(problem: &Problem) -> Result<LyapunovSolution> {
    let (a, diff) = problem.linearization()?;
    solve_lyapunov(&a, &diff)
}

/// V(θ) = ½ (θ−θ*)ᵀ Σ⁻¹ (θ−θ*) for a linear-Gaussian problem, at several points.
pub fn quasi_potential(problem: &Problem, points: &[Vec<f64>]) -> Result<Vec<f64>> {
    let (a, diff) = linear_model(problem)?;
    let sol = solve_lyapunov(&a, &diff)?;
    let inv = sol.sigma.partial_piv_lu().inverse();
    let d = problem.dim();
    Ok(points
        .iter()
        .map(|x| {
            let u: Vec<f64> = (0..d).map(|i| x[i] - problem.minimum[i]).collect();
            let mut s = 0.0;
            for i in 0..d {
                for j in 0..d {
                    s += u[i] * inv[(i, j)] * u[j];
                }
            }
            0.5 * s
        })
        .collect())
}

/// V₀ and the exit point for a linear-Gaussian problem.
pub fn quasi_potential_barrier(problem: &Problem) -> Result<ExactBarrier> {
    // Σ⁻¹ and V = ½uᵀΣ⁻¹u overflow on a D this large: say so instead of a failed solve.
    problem.check_domain_extent("exact")?;
    let r = linear_barrier(problem)?;
    problem.check_finite_value("exact", "V0", r.v0)?;
    problem.check_finite_point("exact", "the exit point", &r.exit_point)?;
    Ok(r)
}

fn linear_barrier(problem: &Problem) -> Result<ExactBarrier> {
    let (a, diff) = linear_model(problem)?;
    // Level set of the drift's own quadratic loss: stay in H's eigenbasis throughout.
    if let Domain::LevelSet {
        loss: Loss::Quadratic { hessian, center },
        depth,
        ..
    } = &problem.domain
    {
        if *hessian == a && *center == problem.minimum {
            let (lam, u, st) = super::lyapunov::solve_lyapunov_eigenbasis(&a, &diff)?;
            let sol = LyapunovSolution {
                sigma: Mat::zeros(0, 0),
                eigenbasis: Some((lam, u, st)),
            };
            let q = Matrix {
                n: a.n,
                data: hessian.data.iter().map(|h| h / (2.0 * depth)).collect(),
            };
            return ellipsoid_barrier(
                &problem.minimum,
                &sol,
                &q,
                Some(2.0 * depth),
                "level set: ΔL·μ_min(Σ⁻¹, H) (generalised eigenproblem in H's eigenbasis)",
            );
        }
    }
    let sol = solve_lyapunov(&a, &diff)?;
    barrier_from_covariance(problem, &sol)
}

/// V₀ for the quadratic V = ½uᵀΣ⁻¹u on the problem's domain.
pub fn barrier_from_covariance(problem: &Problem, sol: &LyapunovSolution) -> Result<ExactBarrier> {
    let theta = &problem.minimum;
    let d = theta.len();
    let centred = |c: &[f64], what: &str| -> Result<()> {
        let off = c
            .iter()
            .zip(theta)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        if off > 1e-12 * (1.0 + crate::linalg::norm(theta)) {
            return Err(Error::Unsupported(format!(
                "the exact engine handles a {what} centred at θ* only; use --method gmam"
            )));
        }
        Ok(())
    };
    match &problem.domain {
        Domain::Ball { center, radius } => {
            centred(center, "ball")?;
            let q = Matrix {
                n: d,
                data: Matrix::identity(d)
                    .data
                    .iter()
                    .map(|v| v / (radius * radius))
                    .collect(),
            };
            ellipsoid_barrier(theta, sol, &q, None, "ball: r²/(2λ_max(Σ))")
        }
        Domain::Ellipsoid { center, q } => {
            centred(center, "ellipsoid")?;
            ellipsoid_barrier(theta, sol, q, None, "ellipsoid: 1/(2λ_max(Q^½ΣQ^½))")
        }
        Domain::LevelSet { loss, depth, .. } => {
            let Loss::Quadratic { hessian, center } = loss else {
                return Err(Error::Unsupported(
                    "the exact engine needs a quadratic level function; use --method gmam".into(),
                ));
            };
            centred(center, "level set")?;
            let q = Matrix {
                n: d,
                data: hessian.data.iter().map(|h| h / (2.0 * depth)).collect(),
            };
            // When A = H (gradient drift of this very loss) Σ̃ is already in H's eigenbasis.
            let same_basis = match &problem.drift {
                Drift::Linear(lin) => lin.a == *hessian,
                _ => false,
            };
            ellipsoid_barrier(
                theta,
                sol,
                &q,
                same_basis.then_some(2.0 * depth),
                "level set: ΔL·μ_min(Σ⁻¹, H) (generalised eigenproblem)",
            )
        }
        Domain::HalfSpace { normal, offset } => {
            let (v0, x) = half_space_barrier(theta, &sol.sigma, normal, *offset);
            Ok(ExactBarrier {
                v0,
                exit_point: x,
                method: "half-space: (c − n·θ*)²/(2nᵀΣn)".into(),
            })
        }
        Domain::Box { lo, hi } => {
            let mut best: Option<(f64, Vec<f64>)> = None;
            for k in 0..d {
                for (sign, c) in [(-1.0, -lo[k]), (1.0, hi[k])] {
                    let mut n = vec![0.0; d];
                    n[k] = sign;
                    let (v, x) = half_space_barrier(theta, &sol.sigma, &n, c);
                    let inside = (0..d).all(|i| x[i] >= lo[i] - 1e-12 && x[i] <= hi[i] + 1e-12);
                    if !inside {
                        continue;
                    }
                    if best.as_ref().is_none_or(|(b, _)| v < *b) {
                        best = Some((v, x));
                    }
                }
            }
            // A face minimiser outside its face means the minimum sits on an edge or corner.
            let (v0, x) = best.ok_or_else(|| {
                Error::Unsupported(
                    "box: the minimum lies on an edge or corner; use --method gmam".into(),
                )
            })?;
            // Every face's unconstrained minimum bounds V on that face from below, so the least
            // admissible one is V₀ only if no excluded face had a smaller value.
            for k in 0..d {
                for (sign, c) in [(-1.0, -lo[k]), (1.0, hi[k])] {
                    let mut n = vec![0.0; d];
                    n[k] = sign;
                    let (v, _) = half_space_barrier(theta, &sol.sigma, &n, c);
                    if v < v0 - 1e-12 * v0 {
                        return Err(Error::Unsupported(
                            "box: the minimum lies on an edge or corner; use --method gmam".into(),
                        ));
                    }
                }
            }
            Ok(ExactBarrier {
                v0,
                exit_point: x,
                method: "box: least face value (c − n·θ*)²/(2nᵀΣn)".into(),
            })
        }
    }
}

fn half_space_barrier(theta: &[f64], sigma: &Mat<f64>, n: &[f64], c: f64) -> (f64, Vec<f64>) {
    let d = theta.len();
    let sn: Vec<f64> = (0..d)
        .map(|i| (0..d).map(|j| sigma[(i, j)] * n[j]).sum())
        .collect();
    let nsn: f64 = (0..d).map(|i| n[i] * sn[i]).sum();
    let gap = c - (0..d).map(|i| n[i] * theta[i]).sum::<f64>();
    let x = (0..d).map(|i| theta[i] + gap * sn[i] / nsn).collect();
    (gap * gap / (2.0 * nsn), x)
}

/// min of ½uᵀΣ⁻¹u on uᵀQu = 1. `scaled_same_basis = Some(s)` means Q = H/s where H is the
/// symmetric A whose eigenbasis `sol` carries (then no further rotation is needed).
fn ellipsoid_barrier(
    theta: &[f64],
    sol: &LyapunovSolution,
    q: &Matrix,
    scaled_same_basis: Option<f64>,
    method: &str,
) -> Result<ExactBarrier> {
    let d = theta.len();
    let (k, to_x): (Mat<f64>, Box<dyn Fn(&[f64]) -> Vec<f64>>) =
        match (scaled_same_basis, &sol.eigenbasis) {
            (Some(s), Some((lam, u, st))) => {
                // K = Λ^{1/2} Σ̃ Λ^{1/2} / s; x = U Λ^{-1/2} w · √s.
                let r: Vec<f64> = lam.iter().map(|l| (l / s).sqrt()).collect();
                let k = Mat::from_fn(d, d, |i, j| r[i] * st[(i, j)] * r[j]);
                let u = u.clone();
                (
                    k,
                    Box::new(move |w: &[f64]| {
                        (0..d)
                            .map(|i| (0..d).map(|j| u[(i, j)] * w[j] / r[j]).sum())
                            .collect()
                    }),
                )
            }
            _ => {
                let (qv, qu) = symmetric_eigen(q, "domain matrix")?;
                let half = Mat::from_fn(d, d, |i, j| qu[(i, j)] * qv[j].sqrt());
                let qs = &half * qu.transpose(); // Q^{1/2}
                let k = &qs * &sol.sigma * &qs;
                let inv_half =
                    Mat::from_fn(d, d, |i, j| qu[(i, j)] / qv[j].sqrt()) * qu.transpose();
                (
                    k,
                    Box::new(move |w: &[f64]| {
                        (0..d)
                            .map(|i| (0..d).map(|j| inv_half[(i, j)] * w[j]).sum())
                            .collect()
                    }),
                )
            }
        };
    let km = Matrix::from_faer(k.as_ref());
    let (vals, vecs) = symmetric_eigen(&km, "Q^½ΣQ^½")?;
    let kmax = vals[d - 1];
    if kmax <= 0.0 {
        return Err(Error::numerical("exact V0", "Σ is not positive definite"));
    }
    let w: Vec<f64> = (0..d).map(|i| vecs[(i, d - 1)]).collect();
    let u = to_x(&w);
    // Normalise so that uᵀQu = 1 (w is a unit vector, so this is a safeguard against round-off).
    let quq = crate::linalg::quad_form(&q.data, d, &u, &u);
    let scale = 1.0 / quq.sqrt();
    Ok(ExactBarrier {
        v0: 1.0 / (2.0 * kmax),
        exit_point: (0..d).map(|i| theta[i] + scale * u[i]).collect(),
        method: method.into(),
    })
}

/// V0 in one dimension, exactly for any drift b and noise a(θ): V(x) = −∫_{θ*}^{x} 2b/a, the
/// quasi-potential of a 1-D diffusion (every 1-D drift is a gradient), at the nearest boundary
/// point(s) of D; computed by adaptive Gauss–Kronrod quadrature.
pub fn quasi_potential_barrier_1d(problem: &Problem) -> Result<ExactBarrier> {
    if problem.dim() != 1 {
        return Err(Error::Unsupported("the 1-D formula needs d = 1".into()));
    }
    problem.check_domain_extent("exact")?;
    let x0 = problem.minimum[0];
    // Boundary points of D on either side of θ*.
    let mut ends = Vec::new();
    for dir in [-1.0, 1.0] {
        let mut r = 1e-3;
        while r < 1e6 {
            if !problem.domain.contains(&[x0 + dir * r]) {
                // Bisect the crossing.
                let (mut lo, mut hi) = (x0 + dir * r / 1.5, x0 + dir * r);
                for _ in 0..200 {
                    let m = 0.5 * (lo + hi);
                    if problem.domain.contains(&[m]) {
                        lo = m;
                    } else {
                        hi = m;
                    }
                }
                ends.push(0.5 * (lo + hi));
                break;
            }
            r *= 1.5;
        }
    }
    if ends.is_empty() {
        return Err(Error::invalid(
            "domain",
            "D has no boundary point within distance 1e6 of θ*",
        ));
    }
    let mut best: Option<(f64, f64)> = None;
    for &e in &ends {
        let mut bad = None;
        let integrand = |x: f64| {
            let b = problem.drift.eval(&[x])[0];
            match problem.noise.diffusion_at(&[x]) {
                Some(a) => -2.0 * b / a.data[0],
                None => {
                    bad = Some(x);
                    f64::NAN
                }
            }
        };
        let (lo, hi, sign) = if e > x0 { (x0, e, 1.0) } else { (e, x0, -1.0) };
        let v = sign * super::exit_time_1d::integrate(integrand, lo, hi, 1e-13);
        if !v.is_finite() {
            return Err(Error::numerical(
                "1-D quasi-potential",
                format!("the integrand is not finite on [{lo}, {hi}]"),
            ));
        }
        if best.is_none_or(|(bv, _)| v < bv) {
            best = Some((v, e));
        }
    }
    let (v0, e) = best.expect("non-empty");
    problem.check_finite_value("exact", "V0", v0)?;
    Ok(ExactBarrier {
        v0,
        exit_point: vec![e],
        method: "1-D: V = −∫ 2b/a from θ* to ∂D (adaptive Gauss–Kronrod)".into(),
    })
}
