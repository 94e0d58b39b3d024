//! Exact mean exit times of the 1-D Gaussian chain (AR(1)), the discrete Gaussian SGD of a
//! quadratic loss: x_{k+1} = (1 − ηλ)x_k + ε√(ηc)·ξ_k, ξ_k ~ N(0, 1), leaving (lo, hi).
//!
//! The mean number of steps N(x) to leave solves the Fredholm equation of the second kind
//! N(x) = 1 + ∫_lo^hi k(x, y) N(y) dy with the Gaussian transition density
//! k(x, y) = φ((y − mx)/s)/s, m = 1 − ηλ, s = ε√(ηc). It is solved by the Nyström method on
//! composite Gauss–Legendre panels no wider than s/2 (the kernel is smooth on that scale, so
//! the error falls spectrally with the points per panel), and N(x₀) follows from the Nyström
//! interpolant. This is an independent reference for the chain's prefactor
//! ([`crate::rates::prefactor`]) and V₀ = ΔL(2 − ηλ)/c.

use crate::error::{Error, Result};

/// The chain's parameters.
#[derive(Clone, Copy, Debug)]
pub struct Chain1d {
    /// Curvature λ of L = ½λx².
    pub curvature: f64,
    /// Noise variance c (C = c).
    pub variance: f64,
    /// Step η.
    pub step: f64,
    /// ε, with ε² = η/B.
    pub eps: f64,
}

/// E\[steps\] to leave (lo, hi) from x0, with `points` Gauss–Legendre nodes per panel
/// (8 gives about 1e-10 relative accuracy).
///
/// # Errors
/// Non-positive parameters, an empty interval, x0 outside it, or more than 20 000 nodes
/// (ε√η too small for a dense solve).
pub fn mean_exit_steps_chain_1d(
    chain: &Chain1d,
    lo: f64,
    hi: f64,
    x0: f64,
    points: usize,
) -> Result<f64> {
    let Chain1d {
        curvature,
        variance,
        step,
        eps,
    } = *chain;
    for (v, name) in [
        (curvature, "curvature"),
        (variance, "variance"),
        (step, "step"),
        (eps, "eps"),
    ] {
        if !(v > 0.0 && v.is_finite()) {
            return Err(Error::invalid(name, format!("must be positive, got {v}")));
        }
    }
    if !(lo < hi && x0 > lo && x0 < hi) {
        return Err(Error::invalid(
            "interval",
            format!("need lo < x0 < hi, got {lo}, {x0}, {hi}"),
        ));
    }
    let m = 1.0 - step * curvature;
    let s = eps * (step * variance).sqrt();
    let panels = ((hi - lo) / (0.5 * s)).ceil().max(1.0) as usize;
    let (gx, gw) = gauss_legendre(points.max(2));
    let n = panels * gx.len();
    if n > 20_000 {
        return Err(Error::invalid(
            "eps",
            format!("the chain's jump ε√(ηc) = {s:.3e} needs {n} quadrature nodes (at most 20000)"),
        ));
    }
    let width = (hi - lo) / panels as f64;
    let mut y = Vec::with_capacity(n);
    let mut w = Vec::with_capacity(n);
    for p in 0..panels {
        let a = lo + p as f64 * width;
        for (xi, wi) in gx.iter().zip(&gw) {
            y.push(a + 0.5 * width * (xi + 1.0));
            w.push(0.5 * width * wi);
        }
    }
    let norm = 1.0 / (s * (2.0 * std::f64::consts::PI).sqrt());
    let kernel = |x: f64, t: f64| {
        let z = (t - m * x) / s;
        norm * (-0.5 * z * z).exp()
    };
    // Exit probability of one step from x, exactly (tails of the normal law).
    let escape = |x: f64| {
        let r = std::f64::consts::SQRT_2 * s;
        0.5 * libm::erfc((m * x - lo) / r) + 0.5 * libm::erfc((hi - m * x) / r)
    };
    let off: Vec<f64> = (0..n * n)
        .map(|k| kernel(y[k / n], y[k % n]) * w[k % n])
        .collect();
    let excess: Vec<f64> = y.iter().map(|&x| escape(x)).collect();
    let sol = solve_m_matrix(n, off, excess);
    let value = 1.0
        + (0..n)
            .map(|j| kernel(x0, y[j]) * w[j] * sol[j])
            .sum::<f64>();
    if !value.is_finite() {
        return Err(Error::numerical(
            "chain exit time",
            "the Nyström solve broke down",
        ));
    }
    Ok(value)
}

/// Solve (D − K)N = 1 for the M-matrix with off-diagonal part −K (`k[i·n + j]` ≥ 0, the
/// diagonal entries of `k` are the self-transition weights) and row excess eᵢ = Dᵢᵢ − Σⱼ Kᵢⱼ ≥ 0
/// (the exact one-step exit probability). Gaussian elimination in the Grassmann–Taksar–Heyman
/// form: each pivot is recomputed as the excess plus the remaining off-diagonal mass, so no
/// step subtracts and the result is accurate to rounding even when N ~ 1/eᵢ ~ 10³⁰.
fn solve_m_matrix(n: usize, mut k: Vec<f64>, mut excess: Vec<f64>) -> Vec<f64> {
    let mut rhs = vec![1.0; n];
    let mut pivot = vec![0.0; n];
    for p in 0..n {
        // Dₚₚ − Kₚₚ = excess + Σ_{j > p} Kₚⱼ (the columns j < p are eliminated).
        let mass: f64 = k[p * n + p + 1..(p + 1) * n].iter().sum();
        let dp = excess[p] + mass;
        pivot[p] = dp;
        for i in p + 1..n {
            let f = k[i * n + p] / dp;
            if f == 0.0 {
                continue;
            }
            // Row i gains f·(row p): its off-diagonals grow, its excess grows by f·excessₚ.
            for j in p + 1..n {
                k[i * n + j] += f * k[p * n + j];
            }
            excess[i] += f * excess[p];
            rhs[i] += f * rhs[p];
        }
    }
    let mut x = vec![0.0; n];
    for p in (0..n).rev() {
        let mut s = rhs[p];
        for j in p + 1..n {
            s += k[p * n + j] * x[j];
        }
        x[p] = s / pivot[p];
    }
    x
}

/// Gauss–Legendre nodes and weights on [−1, 1] (Newton's method on Pₙ from Chebyshev guesses).
fn gauss_legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut x = vec![0.0; n];
    let mut w = vec![0.0; n];
    for i in 0..n {
        let mut t = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut dp = 1.0;
        for _ in 0..100 {
            // Three-term recurrence for Pₙ(t) and its derivative.
            let (mut p0, mut p1) = (1.0, t);
            for k in 2..=n {
                let p2 = ((2 * k - 1) as f64 * t * p1 - (k - 1) as f64 * p0) / k as f64;
                p0 = p1;
                p1 = p2;
            }
            dp = n as f64 * (t * p1 - p0) / (t * t - 1.0);
            let dt = p1 / dp;
            t -= dt;
            if dt.abs() < 1e-15 {
                break;
            }
        }
        x[i] = t;
        w[i] = 2.0 / ((1.0 - t * t) * dp * dp);
    }
    (x, w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauss_legendre_integrates_polynomials_exactly() {
        let (x, w) = gauss_legendre(6);
        // Exact for degree ≤ 11: ∫ t¹⁰ = 2/11.
        let s: f64 = x.iter().zip(&w).map(|(t, v)| v * t.powi(10)).sum();
        assert!((s - 2.0 / 11.0).abs() < 1e-14);
        assert!((w.iter().sum::<f64>() - 2.0).abs() < 1e-14);
    }

    #[test]
    fn pure_jumps_out_of_a_wide_interval_follow_the_one_step_law() {
        // m = 0 (ηλ = 1): every step is an independent N(0, s²) draw, so the number of steps
        // is geometric with success probability p = P(|Z| > h/s): E = 1/p exactly.
        let c = Chain1d {
            curvature: 1.0,
            variance: 1.0,
            step: 1.0,
            eps: 0.5,
        };
        let e = mean_exit_steps_chain_1d(&c, -1.0, 1.0, 0.0, 8).unwrap();
        // P(|Z| > 2) = erfc(√2) = 0.04550026389635842.
        let p = 0.045_500_263_896_358_42;
        assert!((e - 1.0 / p).abs() / (1.0 / p) < 1e-9, "{e} vs {}", 1.0 / p);
    }
}
