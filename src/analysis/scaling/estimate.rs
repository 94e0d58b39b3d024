//! Estimators: ln E[ν] with its standard error from an ensemble, and the weighted line fit.

use super::report::LinearFit;
use crate::analysis::censored::censored_mean;
use crate::sgd::Report;
use serde::Serialize;

/// Weighted least squares of y on x with standard errors `se` (weights 1/se²). None with fewer
/// than two points or no spread in x.
pub fn weighted_fit(x: &[f64], y: &[f64], se: &[f64]) -> Option<LinearFit> {
    let n = x.len();
    if n < 2 || y.len() != n || se.len() != n {
        return None;
    }
    let (mut s, mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for i in 0..n {
        let w = 1.0 / (se[i] * se[i]);
        if !w.is_finite() || w <= 0.0 {
            return None;
        }
        s += w;
        sx += w * x[i];
        sy += w * y[i];
        sxx += w * x[i] * x[i];
        sxy += w * x[i] * y[i];
    }
    let det = s * sxx - sx * sx;
    if det.abs() <= 1e-14 * s * sxx.abs().max(1e-300) {
        return None;
    }
    let slope = (s * sxy - sx * sy) / det;
    let intercept = (sxx * sy - sx * sxy) / det;
    let chi2: f64 = (0..n)
        .map(|i| ((y[i] - intercept - slope * x[i]) / se[i]).powi(2))
        .sum();
    let reduced = (n > 2).then(|| chi2 / (n - 2) as f64);
    let se_slope = (s / det).sqrt() * reduced.map_or(1.0, |r| r.max(1.0).sqrt());
    Some(LinearFit {
        slope,
        slope_se: se_slope,
        slope_ci95: [slope - 1.96 * se_slope, slope + 1.96 * se_slope],
        intercept,
        reduced_chi2: reduced,
        points: n,
    })
}

/// ln E\[ν\] of an ensemble, its standard error and the estimator name (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct LogMean {
    /// ln E\[ν\] (None: only a lower bound).
    pub ln_mean: Option<f64>,
    /// Its standard error.
    pub ln_se: Option<f64>,
    /// The estimator.
    pub estimator: &'static str,
    /// (1/n)Σ min(νᵣ, max_steps), a lower bound on E\[ν\].
    pub restricted_mean: f64,
}

/// ln E\[ν\] from an ensemble: the sample mean without censoring; with censored runs the
/// Kaplan–Meier restricted mean plus an exponential tail shifted by `relaxation_steps`
/// ([`censored_mean`]); a lower bound when nothing exited (after the shift).
pub fn log_mean_estimate(r: &Report, relaxation_steps: f64) -> LogMean {
    let exits: Vec<f64> = r.exit_steps.iter().flatten().map(|&v| v as f64).collect();
    let t_max = r.config.max_steps as f64;
    let est = censored_mean(&exits, r.censored, t_max, relaxation_steps);
    let lower = |restricted_mean| LogMean {
        ln_mean: None,
        ln_se: None,
        estimator: "lower-bound",
        restricted_mean,
    };
    if r.exited == 0 {
        return lower(est.restricted_mean);
    }
    if r.censored == 0 {
        let m = est.restricted_mean;
        let se = match r.ci95 {
            Some([_, hi]) if hi > m => (hi - m) / 1.96 / m,
            _ => 1.0 / (r.exited as f64).sqrt(),
        };
        return LogMean {
            ln_mean: Some(m.ln()),
            ln_se: Some(se),
            estimator: "sample-mean",
            restricted_mean: m,
        };
    }
    match (est.mean, est.ln_se) {
        (Some(m), Some(se)) => LogMean {
            ln_mean: Some(m.ln()),
            ln_se: Some(se),
            estimator: "km-restricted-mean+shifted-exponential-tail",
            restricted_mean: est.restricted_mean,
        },
        _ => lower(est.restricted_mean),
    }
}

/// The difference of two independent fitted slopes: a − b, its standard error, the z-score and
/// the two-sided p-value under the normal approximation.
#[derive(Clone, Debug, Serialize)]
pub struct SlopeComparison {
    /// a − b.
    pub difference: f64,
    /// √(se_a² + se_b²).
    pub se: f64,
    /// difference / se.
    pub z: f64,
    /// P(|Z| ≥ |z|), Z ~ N(0, 1).
    pub p_value: f64,
}

/// Compare two slopes fitted on independent data (separate random streams).
pub fn compare_slopes(a: &LinearFit, b: &LinearFit) -> SlopeComparison {
    let difference = a.slope - b.slope;
    let se = a.slope_se.hypot(b.slope_se);
    let z = difference / se;
    SlopeComparison {
        difference,
        se,
        z,
        p_value: libm::erfc(z.abs() / std::f64::consts::SQRT_2),
    }
}
