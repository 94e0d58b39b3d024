//! The proof's constant A = max{T†(θ†), T*(θ*)}/2·(K + M)² (Appendix D, eq. 47), measured on
//! optimal escape paths.
//!
//! **Reading of Appendix D.** T†, T* are the durations of the minimising trajectories of S_T (the
//! weight's action) and of Ŝ_T (identity noise) to their exit points (eqs. 37–38, 41–42); M bounds
//! ‖∇L‖ (stated on D, used only along those two trajectories in eqs. 43–46); K is Assumption 3's
//! bound on ‖φ̇_t‖, used for the same trajectories. We take M and K as the sup of ‖∇L(φ_t)‖ and
//! ‖φ̇_t‖ along the measured paths (the least values that make eq. (28) valid for them; the
//! proof's M = sup_D ‖∇L‖ is ≥ ours), so every A reported here is a *lower* bound on the
//! proof's A.
//!
//! **Why A is infinite.** An optimal escape path leaves the stable point θ* only as T → ∞: it
//! obeys φ̇ = b + a∇V, which vanishes at θ*. So the infima over T in eqs. (37)–(38) are not
//! attained and T† = T* = ∞. We measure T(δ), the time from the last point at distance δ from θ*
//! to ∂D, in the optimal (physical) parametrisation of the geometric path,
//! ‖φ̇‖_a = ‖b(φ)‖_a (Heymann & Vanden-Eijnden 2008), i.e. dt = ‖dφ‖_a/‖b(φ)‖_a with
//! ‖u‖_a² = uᵀa⁻¹u (dt = ds/|b| when a = I, or along eigenvectors of a). Near θ* with
//! C(θ*) = H* the optimal dynamics linearise to the reversed gradient flow φ̇ = H*(φ − θ*)
//! (for a = H*^p: Σ = ½H*^{p−1} solves the Lyapunov equation and a∇V = 2H*(φ − θ*)), so
//! T(δ) = ln(1/δ)/λ + O(1) with λ the smallest eigenvalue of H* in the path's asymptotic
//! direction: A(δ) grows like ln(1/δ).
//!
//! Numerics: segments of the polygonal gMAM path by 2 × 5-point Gauss–Legendre panels; below the
//! first node φ₁ (where the polygon is a straight chord from θ*) the path is continued exactly by
//! the linearised flow, x(τ) = e^{−H*τ}(φ₁ − θ*) backwards from φ₁.

use crate::error::{Error, Result};
use crate::linalg::{dot, norm, Matrix};
use crate::mam::Path;
use crate::problem::Problem;
use serde::Serialize;

/// 5-point Gauss–Legendre on [−1, 1]: nodes 0, ±⅓√(5 ∓ 2√(10/7)), weights 128/225,
/// (322 ± 13√70)/900 (the closed form of the roots of P₅).
fn gauss_legendre_5() -> ([f64; 5], [f64; 5]) {
    let a = (5.0 - 2.0 * (10.0f64 / 7.0).sqrt()).sqrt() / 3.0;
    let b = (5.0 + 2.0 * (10.0f64 / 7.0).sqrt()).sqrt() / 3.0;
    let wa = (322.0 + 13.0 * 70f64.sqrt()) / 900.0;
    let wb = (322.0 - 13.0 * 70f64.sqrt()) / 900.0;
    ([-b, -a, 0.0, a, b], [wb, wa, 128.0 / 225.0, wa, wb])
}

/// Per-segment data of a path in physical time.
#[derive(Clone, Debug)]
pub struct TimedPath {
    minimum: Vec<f64>,
    nodes: Vec<Vec<f64>>,
    /// |φᵢ − θ*|.
    radii: Vec<f64>,
    /// Time to traverse segment i (φᵢ → φᵢ₊₁).
    seg_time: Vec<f64>,
    /// sup ‖φ̇‖ and sup ‖∇L‖ = sup ‖b‖ over segment i (at its quadrature points and ends).
    seg_speed: Vec<f64>,
    seg_grad: Vec<f64>,
    /// Eigenvalues and eigenvectors (columns, row-major d×d) of H*.
    h_vals: Vec<f64>,
    h_vecs: Vec<f64>,
}

/// T(δ), K and M on one path.
#[derive(Clone, Debug, Serialize)]
pub struct PathTiming {
    /// Physical time from the last point with |φ − θ*| = δ to the end on ∂D.
    pub time: f64,
    /// K: sup ‖φ̇‖ over that part.
    pub speed_max: f64,
    /// M: sup ‖∇L(φ)‖ over that part.
    pub gradient_max: f64,
}

struct Local {
    /// ‖Δ‖_a / ‖b‖_a (dt/dσ for x = p₀ + σΔ).
    dt: f64,
    /// ‖φ̇‖ = |Δ|·‖b‖_a/‖Δ‖_a.
    speed: f64,
    /// ‖b‖.
    grad: f64,
}

fn local(problem: &Problem, x: &[f64], delta: &[f64]) -> Result<Local> {
    let b = problem.drift.eval(x);
    let m: Matrix = problem
        .noise
        .metric_at(x)
        .ok_or_else(|| Error::NotPositiveDefinite {
            field: "noise on the escape path".into(),
            detail: format!("a(θ) is not positive definite at θ = {x:?}"),
        })?;
    let d = x.len();
    let mut mb = vec![0.0; d];
    let mut md = vec![0.0; d];
    m.mul_vec(&b, &mut mb);
    m.mul_vec(delta, &mut md);
    let bn = dot(&b, &mb).max(0.0).sqrt();
    let dn = dot(delta, &md).max(0.0).sqrt();
    if bn == 0.0 {
        return Err(Error::numerical(
            "lemma4 path time",
            format!("the drift vanishes at θ = {x:?} on the escape path (a second stationary point: the physical time to pass it is infinite)"),
        ));
    }
    Ok(Local {
        dt: dn / bn,
        speed: norm(delta) * bn / dn.max(f64::MIN_POSITIVE),
        grad: norm(&b),
    })
}

impl TimedPath {
    /// Prepare `path` (first node θ*) of `problem`, whose Hessian at θ* is `h_star`.
    pub fn new(problem: &Problem, path: &Path, h_star: &Matrix) -> Result<Self> {
        let d = problem.dim();
        let theta = problem.minimum.clone();
        let n = path.len();
        if n < 2 {
            return Err(Error::numerical(
                "lemma4 path time",
                "the path has fewer than 2 nodes",
            ));
        }
        let nodes: Vec<Vec<f64>> = (0..n).map(|i| path.node(i).to_vec()).collect();
        let radii: Vec<f64> = nodes
            .iter()
            .map(|x| norm(&x.iter().zip(&theta).map(|(a, b)| a - b).collect::<Vec<_>>()))
            .collect();
        if radii[0] > 1e-9 * (1.0 + radii[n - 1]) {
            return Err(Error::numerical(
                "lemma4 path time",
                format!(
                    "the path does not start at θ* (first node at distance {:.3e})",
                    radii[0]
                ),
            ));
        }
        let (gx, gw) = gauss_legendre_5();
        let mut seg_time = vec![0.0; n - 1];
        let mut seg_speed = vec![0.0; n - 1];
        let mut seg_grad = vec![0.0; n - 1];
        // Segment 0 touches θ*, where dt/dσ ~ 1/σ: it is replaced by the linearised flow.
        for i in 1..n - 1 {
            let (p0, p1) = (&nodes[i], &nodes[i + 1]);
            let delta: Vec<f64> = (0..d).map(|k| p1[k] - p0[k]).collect();
            let mut t = 0.0;
            let (mut k_sup, mut m_sup) = (0.0f64, 0.0f64);
            let mut x = vec![0.0; d];
            for &s in &[0.0, 1.0] {
                for k in 0..d {
                    x[k] = p0[k] + s * delta[k];
                }
                let l = local(problem, &x, &delta)?;
                k_sup = k_sup.max(l.speed);
                m_sup = m_sup.max(l.grad);
            }
            for panel in 0..2 {
                let (lo, hi) = (0.5 * panel as f64, 0.5 * (panel + 1) as f64);
                for (xi, wi) in gx.iter().zip(&gw) {
                    let s = lo + 0.5 * (hi - lo) * (xi + 1.0);
                    for k in 0..d {
                        x[k] = p0[k] + s * delta[k];
                    }
                    let l = local(problem, &x, &delta)?;
                    t += 0.5 * (hi - lo) * wi * l.dt;
                    k_sup = k_sup.max(l.speed);
                    m_sup = m_sup.max(l.grad);
                }
            }
            seg_time[i] = t;
            seg_speed[i] = k_sup;
            seg_grad[i] = m_sup;
        }
        let (vals, vecs) = crate::linalg::symmetric_eigen(h_star, "H*")?;
        let h_vecs: Vec<f64> = (0..d * d).map(|k| vecs[(k / d, k % d)]).collect();
        Ok(TimedPath {
            minimum: theta,
            nodes,
            radii,
            seg_time,
            seg_speed,
            seg_grad,
            h_vals: vals,
            h_vecs,
        })
    }

    /// |exit point − θ*|.
    pub fn exit_distance(&self) -> f64 {
        *self.radii.last().expect("n ≥ 2")
    }

    /// Time of the linearised flow x(τ) = e^{−H*τ}(φ₁ − θ*) to come back to |x| = δ
    /// (|x(τ)|² = Σ e^{−2λᵢτ}wᵢ², w = Qᵀ(φ₁ − θ*), strictly decreasing: bisection).
    fn inner_time(&self, delta: f64) -> f64 {
        let d = self.minimum.len();
        let y: Vec<f64> = (0..d).map(|k| self.nodes[1][k] - self.minimum[k]).collect();
        let w: Vec<f64> = (0..d)
            .map(|j| (0..d).map(|k| self.h_vecs[k * d + j] * y[k]).sum())
            .collect();
        let r2 = |t: f64| -> f64 {
            w.iter()
                .zip(&self.h_vals)
                .map(|(wi, l)| wi * wi * (-2.0 * l * t).exp())
                .sum()
        };
        let r0 = r2(0.0).sqrt();
        if delta >= r0 {
            return 0.0;
        }
        // |x(τ)| ≤ e^{−λ_min τ}|w|, so the crossing lies in [0, ln(|w|/δ)/λ_min].
        let (mut lo, mut hi) = (0.0, (r0 / delta).ln() / self.h_vals[0]);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if r2(mid) > delta * delta {
                lo = mid;
            } else {
                hi = mid;
            }
            if hi - lo <= 1e-15 * hi {
                break;
            }
        }
        0.5 * (lo + hi)
    }

    /// T(δ), K and M from the last crossing of |φ − θ*| = δ (absolute δ) to the end.
    pub fn timing(&self, problem: &Problem, delta: f64) -> Result<PathTiming> {
        let n = self.nodes.len();
        if !(delta > 0.0 && delta < self.exit_distance()) {
            return Err(Error::invalid(
                "--delta",
                format!(
                    "δ = {delta:.3e} must lie in (0, |exit − θ*| = {:.3e})",
                    self.exit_distance()
                ),
            ));
        }
        let j = (0..n)
            .rev()
            .find(|&i| self.radii[i] < delta)
            .expect("radii[0] = 0 < δ");
        let tail = |from: usize| -> (f64, f64, f64) {
            let t: f64 = self.seg_time[from..].iter().sum();
            let k = self.seg_speed[from..].iter().cloned().fold(0.0, f64::max);
            let m = self.seg_grad[from..].iter().cloned().fold(0.0, f64::max);
            (t, k, m)
        };
        if j == 0 {
            let (t, k, m) = tail(1);
            return Ok(PathTiming {
                time: self.inner_time(delta) + t,
                speed_max: k,
                gradient_max: m,
            });
        }
        // Crossing on segment j: |p₀ + σΔ − θ*| = δ, the root in (0, 1] of aσ² + 2bσ + c.
        let d = self.minimum.len();
        let (p0, p1) = (&self.nodes[j], &self.nodes[j + 1]);
        let delta_v: Vec<f64> = (0..d).map(|k| p1[k] - p0[k]).collect();
        let u: Vec<f64> = (0..d).map(|k| p0[k] - self.minimum[k]).collect();
        let (a, b, c) = (
            dot(&delta_v, &delta_v),
            dot(&u, &delta_v),
            dot(&u, &u) - delta * delta,
        );
        let sigma = ((-b + (b * b - a * c).max(0.0).sqrt()) / a).clamp(0.0, 1.0);
        let (gx, gw) = gauss_legendre_5();
        let mut t = 0.0;
        let mut x = vec![0.0; d];
        for panel in 0..2 {
            let lo = sigma + (1.0 - sigma) * 0.5 * panel as f64;
            let hi = sigma + (1.0 - sigma) * 0.5 * (panel + 1) as f64;
            for (xi, wi) in gx.iter().zip(&gw) {
                let s = lo + 0.5 * (hi - lo) * (xi + 1.0);
                for k in 0..d {
                    x[k] = p0[k] + s * delta_v[k];
                }
                t += 0.5 * (hi - lo) * wi * local(problem, &x, &delta_v)?.dt;
            }
        }
        let (rest, k, m) = tail(j);
        Ok(PathTiming {
            time: t + rest - self.seg_time[j],
            speed_max: k,
            gradient_max: m,
        })
    }
}

/// The proof's constant at one cut distance δ.
#[derive(Clone, Debug, Serialize)]
pub struct DeltaRow {
    /// δ/r, r = the smaller exit distance of the two paths.
    pub delta_rel: f64,
    /// δ.
    pub delta: f64,
    /// T†(δ): physical time on V0's optimal path from distance δ to ∂D.
    pub time_v0_path: f64,
    /// T*(δ): the same on the proximal system's optimal path.
    pub time_proximal_path: f64,
    /// K: sup ‖φ̇‖ over both cut paths.
    pub speed_max: f64,
    /// M: sup ‖∇L‖ over both cut paths.
    pub gradient_max: f64,
    /// A(δ) = max(T†, T*)/2·(K + M)² (eq. 47).
    pub a: f64,
    /// A(δ)·(λ_min^{-p} − λ_max^{-p}), the proof's bound on the gap.
    pub proof_bound: f64,
}

/// A(δ) over δ, and its growth.
#[derive(Clone, Debug, Serialize)]
pub struct ProofConstant {
    /// One row per δ, in the order given.
    pub rows: Vec<DeltaRow>,
    /// λ from T†(δ) ≈ ln(1/δ)/λ + c over the last two δ.
    pub rate_v0_path: Option<f64>,
    /// The same for T*.
    pub rate_proximal_path: Option<f64>,
    /// The eigenvalue of H* nearest to `rate_v0_path`.
    pub nearest_eigenvalue: Option<f64>,
    /// A(δ) grew as δ shrank (it is +∞ at δ = 0).
    pub diverges: bool,
}

/// The proof's constant on V0's path and the proximal path for relative cuts `deltas` (δ/r with
/// r the smaller exit distance); `factor` = λ_min^{-p} − λ_max^{-p}, `h_vals` = H*'s spectrum.
pub fn measure(
    problem: &Problem,
    v0_path: &TimedPath,
    proximal: &Problem,
    proximal_path: &TimedPath,
    deltas: &[f64],
    factor: f64,
    h_vals: &[f64],
) -> Result<ProofConstant> {
    let r = v0_path.exit_distance().min(proximal_path.exit_distance());
    let mut rows = Vec::new();
    for &f in deltas {
        let delta = f * r;
        let a = v0_path.timing(problem, delta)?;
        let b = proximal_path.timing(proximal, delta)?;
        let k = a.speed_max.max(b.speed_max);
        let m = a.gradient_max.max(b.gradient_max);
        let big_a = a.time.max(b.time) / 2.0 * (k + m).powi(2);
        rows.push(DeltaRow {
            delta_rel: f,
            delta,
            time_v0_path: a.time,
            time_proximal_path: b.time,
            speed_max: k,
            gradient_max: m,
            a: big_a,
            proof_bound: big_a * factor,
        });
    }
    let rate = |t: fn(&DeltaRow) -> f64| -> Option<f64> {
        let n = rows.len();
        (n >= 2).then(|| {
            let (a, b) = (&rows[n - 2], &rows[n - 1]);
            (a.delta / b.delta).ln() / (t(b) - t(a))
        })
    };
    let rate_v0_path = rate(|r| r.time_v0_path);
    let rate_proximal_path = rate(|r| r.time_proximal_path);
    let nearest_eigenvalue = rate_v0_path.map(|l| {
        h_vals
            .iter()
            .cloned()
            .min_by(|a, b| (a - l).abs().total_cmp(&(b - l).abs()))
            .expect("d ≥ 1")
    });
    let smallest = rows.iter().min_by(|a, b| a.delta.total_cmp(&b.delta));
    let largest = rows.iter().max_by(|a, b| a.delta.total_cmp(&b.delta));
    let diverges =
        matches!((smallest, largest), (Some(s), Some(l)) if rows.len() >= 2 && s.a > l.a);
    Ok(ProofConstant {
        rows,
        rate_v0_path,
        rate_proximal_path,
        nearest_eigenvalue,
        diverges,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauss_legendre_5_is_exact_to_degree_9() {
        let (x, w) = gauss_legendre_5();
        for k in 0..10 {
            let q: f64 = x.iter().zip(&w).map(|(x, w)| w * x.powi(k)).sum();
            let exact = if k % 2 == 1 {
                0.0
            } else {
                2.0 / (k as f64 + 1.0)
            };
            assert!((q - exact).abs() < 1e-14, "x^{k}: {q} vs {exact}");
        }
    }
}
