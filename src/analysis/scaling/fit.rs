//! Fit one method's ln E[ν] against a quantity, set it beside the predicted slopes, and say which
//! weight the simulation follows.

use super::config::Method;
use super::estimate::weighted_fit;
use super::report::{LinearFit, PredictedSlope, ScalingPoint, SweepFit};
use crate::problem::Weight;

/// Fit one method's points against `xf(point)`.
pub(super) fn sweep_fit(
    method: Method,
    against: &str,
    pts: &[&ScalingPoint],
    xf: fn(&ScalingPoint) -> f64,
) -> SweepFit {
    let used: Vec<&&ScalingPoint> = pts.iter().filter(|p| p.ln_mean.is_some()).collect();
    let x: Vec<f64> = used.iter().map(|p| xf(p)).collect();
    let y: Vec<f64> = used.iter().map(|p| p.ln_mean.expect("filtered")).collect();
    let se: Vec<f64> = used.iter().map(|p| p.ln_se.expect("filtered")).collect();
    let fit = weighted_fit(&x, &y, &se);
    let mut predicted = Vec::new();
    if let Some(f) = &fit {
        for (w, get) in [
            (
                Weight::InverseSqrt,
                (|p: &ScalingPoint| p.v0_inverse_sqrt) as fn(&ScalingPoint) -> Option<f64>,
            ),
            (Weight::Inverse, |p: &ScalingPoint| p.v0_inverse),
        ] {
            let py: Option<Vec<f64>> = used
                .iter()
                .map(|p| get(p).map(|v| v * p.b_over_eta))
                .collect();
            if let Some(py) = py {
                if let Some(pf) = weighted_fit(&x, &py, &se) {
                    predicted.push(PredictedSlope {
                        weight: w,
                        slope: pf.slope,
                        inside_ci: (f.slope - pf.slope).abs() <= 1.96 * f.slope_se,
                    });
                }
            }
        }
    }
    let discrete = fit.as_ref().and_then(|f| {
        let py: Option<Vec<f64>> = used
            .iter()
            .map(|p| p.v0_discrete.map(|v| v * p.b_over_eta))
            .collect();
        weighted_fit(&x, &py?, &se).map(|pf| PredictedSlope {
            weight: Weight::Inverse,
            slope: pf.slope,
            inside_ci: (f.slope - pf.slope).abs() <= 1.96 * f.slope_se,
        })
    });
    let (follows, verdict) = verdict(fit.as_ref(), &predicted);
    SweepFit {
        method,
        against: against.into(),
        fit,
        predicted,
        discrete,
        follows,
        verdict,
    }
}

pub(crate) fn weight_name(w: Weight) -> &'static str {
    match w {
        Weight::InverseSqrt => "inverse-sqrt",
        Weight::Inverse => "inverse",
    }
}

fn verdict(fit: Option<&LinearFit>, pred: &[PredictedSlope]) -> (Option<Weight>, String) {
    let Some(f) = fit else {
        return (None, "fewer than 2 usable points: no fit".into());
    };
    if pred.len() < 2 {
        return (None, "no exact prediction".into());
    }
    let tol = 1e-6 * (pred[0].slope.abs() + pred[1].slope.abs() + f.slope_se);
    if (pred[0].slope - pred[1].slope).abs() <= tol {
        return (
            None,
            if pred[0].inside_ci {
                "the two weights predict the same slope; the fit agrees with it".into()
            } else {
                "the two weights predict the same slope; it is outside the fit's CI".into()
            },
        );
    }
    let closest = if (f.slope - pred[0].slope).abs() <= (f.slope - pred[1].slope).abs() {
        &pred[0]
    } else {
        &pred[1]
    };
    let other = if std::ptr::eq(closest, &pred[0]) {
        &pred[1]
    } else {
        &pred[0]
    };
    match (closest.inside_ci, other.inside_ci) {
        (true, false) => (
            Some(closest.weight),
            format!(
                "follows {} (inside the CI; {} outside)",
                weight_name(closest.weight),
                weight_name(other.weight)
            ),
        ),
        (true, true) => (
            None,
            format!(
                "both inside the CI (closest: {}): cannot tell the weights apart",
                weight_name(closest.weight)
            ),
        ),
        _ => (
            None,
            format!(
                "closest to {}, but neither prediction is inside the CI",
                weight_name(closest.weight)
            ),
        ),
    }
}
