//! Combining AMS repetitions: p̂, its variance (asymptotic and empirical), E\[τ\] and their
//! 95 % intervals.
//!
//! With M repetitions p̄ = (1/M) Σ p̂ₘ (each p̂ₘ unbiased, so p̄ is). Its relative standard
//! deviation is estimated two ways:
//! * **asymptotic** (Cérou & Guyader 2007, §4, with survival fraction p₀ = 1 − k/N):
//!   Var(p̂)/p² ≈ [n₀(1 − p₀)/p₀ + (1 − r)/r]/N, n₀ = ⌊ln p / ln p₀⌋, r = p/p₀^{n₀};
//!   for k ≪ N this is |ln p|/N (Guyader, Hengartner & Matzner-Løber 2011, exact for k = 1 in
//!   the idealised setting); divided by M for p̄;
//! * **from the repetitions** (M ≥ 2): s_p/(p̄√M), s_p the sample standard deviation.
//!
//! The 95 % interval of p is p̄·exp(±q·rel) (log-normal form, never negative), with the
//! empirical rel and q = t_{0.975, M−1} when M ≥ 2, else the asymptotic rel and q = 1.96.
//!
//! **Mean exit time** from θ* (renewal decomposition; Cérou, Guyader, Lelièvre & Pommier 2011,
//! eq. 5 and its discussion):
//!   E\[τ\] = E\[T₀\] + (1/p − 1)·E\[T_loop\] + E\[T_reactive\],
//! where T₀ is the time from θ* to the first entrance into ∂A = {ξ ≥ z_A} (first step with
//! ξ ≥ z_A), T_loop the duration of a failed cycle (entrance into ∂A → return to A → next
//! entrance), both from ordinary runs, and T_reactive the duration of a reactive excursion
//! (entrance → exit), the mean over the final AMS replicas. The number of cycles until the
//! first reactive one is geometric with mean 1/p; the identity is exact when successive
//! entrance points are independent with the sampled entrance law. The delta method gives
//! Var(Ê) ≈ (T̄_loop/p̄)²·rel_p² + (1/p̄ − 1)²·Var(T̄_loop) + Var(T̄_reactive) + Var(T̄₀)
//! (sample variances over the pooled loops, reactive paths and first entrances), and the
//! 95 % interval Ê·exp(±q·sd(Ê)/Ê) with the same q as p.

/// Two-sided 95 % Student t quantiles t_{0.975, ν} for ν = 1..30.
const T975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

/// The normal 97.5 % quantile.
pub const Z975: f64 = 1.959_963_984_540_054;

/// t_{0.975, ν} (table to 30, then the Cornish–Fisher expansion z + (z³ + z)/(4ν)).
pub fn t975(nu: usize) -> f64 {
    match nu {
        0 => f64::INFINITY,
        1..=30 => T975[nu - 1],
        _ => Z975 + (Z975.powi(3) + Z975) / (4.0 * nu as f64),
    }
}

/// Asymptotic Var(p̂)/p² of one run with N replicas killing k per level (Cérou & Guyader 2007).
pub fn asymptotic_relative_variance(p: f64, n: usize, k: usize) -> f64 {
    if !(p > 0.0 && p <= 1.0) {
        return f64::NAN;
    }
    let p0 = 1.0 - k as f64 / n as f64;
    let n0 = (p.ln() / p0.ln()).floor();
    let r = p / p0.powf(n0);
    (n0 * (1.0 - p0) / p0 + (1.0 - r) / r) / n as f64
}

/// Mean and sample variance (n − 1 divisor; 0 for fewer than 2 values).
pub fn mean_var(x: impl Iterator<Item = f64> + Clone) -> (f64, f64, usize) {
    let n = x.clone().count();
    if n == 0 {
        return (f64::NAN, f64::NAN, 0);
    }
    let m = x.clone().sum::<f64>() / n as f64;
    let v = if n > 1 {
        x.map(|v| (v - m) * (v - m)).sum::<f64>() / (n - 1) as f64
    } else {
        0.0
    };
    (m, v, n)
}

/// The combined estimates of one noise level.
#[derive(Clone, Debug, Default)]
pub struct Combined {
    /// p̄.
    pub p: f64,
    /// Relative sd of p̄, asymptotic formula.
    pub rel_asymptotic: f64,
    /// Relative sd of p̄ from the repetitions (M ≥ 2).
    pub rel_repetitions: Option<f64>,
    /// 95 % interval of p.
    pub p_ci: (f64, f64),
    /// Quantile used.
    pub q: f64,
    /// Rel used.
    pub rel: f64,
}

/// Combine the repetitions' p̂ₘ.
pub fn combine_probability(ps: &[f64], n: usize, k: usize) -> Combined {
    let m = ps.len();
    let (p, var, _) = mean_var(ps.iter().cloned());
    let rel_asymptotic = (asymptotic_relative_variance(p, n, k) / m as f64).sqrt();
    let rel_repetitions = (m >= 2 && p > 0.0).then(|| (var / m as f64).sqrt() / p);
    let (rel, q) = match rel_repetitions {
        Some(r) => (r, t975(m - 1)),
        None => (rel_asymptotic, Z975),
    };
    let p_ci = if p > 0.0 && rel.is_finite() {
        (p * (-q * rel).exp(), p * (q * rel).exp())
    } else {
        (f64::NAN, f64::NAN)
    };
    Combined {
        p,
        rel_asymptotic,
        rel_repetitions,
        p_ci,
        q,
        rel,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asymptotic_variance_reduces_to_ln_p_over_n() {
        // k = 1, N large: n₀(1−p₀)/p₀ ≈ |ln p|, and (1 − r)/r ∈ [0, 1/p₀ − 1].
        let (p, n) = (1e-9f64, 1000);
        let v = asymptotic_relative_variance(p, n, 1);
        assert!((v * n as f64 / p.ln().abs() - 1.0).abs() < 2e-3, "{v}");
        // p = p₀^j exactly: r = 1, relvar = j(1 − p₀)/p₀ / N.
        let v = asymptotic_relative_variance(0.5f64.powi(10), 4, 2);
        assert!((v - 10.0 * 0.5 / 0.5 / 4.0).abs() < 1e-9, "{v}");
    }

    #[test]
    fn t_quantiles() {
        assert_eq!(t975(1), 12.706);
        assert!((t975(1000) - 1.9623).abs() < 1e-3);
        assert!(t975(31) > Z975 && t975(31) < t975(30));
    }
}
