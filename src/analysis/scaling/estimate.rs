//! Estimators: ln E[ν] with its standard error from an ensemble, and the weighted line fit.

use super::report::LinearFit;
use crate::sgd::Report;

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

/// ln E\[ν\], its standard error and the estimator name from an ensemble (see the module docs).
pub fn log_mean_estimate(r: &Report) -> (Option<f64>, Option<f64>, &'static str) {
    if r.exited == 0 {
        return (None, None, "lower-bound");
    }
    if r.censored == 0 {
        let m = r.mean_exit_steps.expect("exited > 0");
        let se = match r.ci95 {
            Some([_, hi]) if hi > m => (hi - m) / 1.96 / m,
            _ => 1.0 / (r.exited as f64).sqrt(),
        };
        (Some(m.ln()), Some(se), "sample-mean")
    } else {
        let m = r.mean_exit_steps_mle.expect("exited > 0");
        (
            Some(m.ln()),
            Some(1.0 / (r.exited as f64).sqrt()),
            "censored-exponential-mle",
        )
    }
}
