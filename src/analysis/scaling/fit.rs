//! Fit one method's ln E[ν] against a quantity, set it beside the predicted slopes, and say which
//! weight the simulation follows.
//!
//! Each weight predicts a slope at leading order, (B/η)·V0, and a **band** once the prefactor is
//! included: from the continuous SDE (κ = +1 boundary layer, ln E\[ν\] = ln E\[τ\] − ln η) to the
//! chain eq. (2) at step η (κ = −1, the chain's own V0, no boundary layer). On level sets each
//! weight also has the chain's exact one-step flux at every point's ε ([`super::flux`]), which
//! needs no Laplace expansion about a single exit point; its slope (with its Monte Carlo error)
//! then replaces the band. A weight is consistent with the data when the fit's 95% CI overlaps
//! its band (or agrees with its flux slope); the verdict names a weight only when
//! exactly one is, and gives none when the points are not in the metastable regime the
//! predictions assume.

use super::config::Method;
use super::estimate::weighted_fit;
use super::report::{
    ControlFit, LinearFit, PredictedSlope, ScalingPoint, SweepFit, WeightPrediction,
};
use crate::problem::Weight;

/// The WLS slope of the per-point predictions `y(point)` on the design (x, se) of the fit.
fn predicted_slope(
    used: &[&&ScalingPoint],
    x: &[f64],
    se: &[f64],
    y: impl Fn(&ScalingPoint) -> Option<f64>,
) -> Option<f64> {
    let py: Option<Vec<f64>> = used.iter().map(|p| y(p)).collect();
    weighted_fit(x, &py?, se).map(|f| f.slope)
}

/// The slope of per-point predictions with standard errors, and the slope's standard error:
/// the WLS slope is linear in y, slope = Σcᵢyᵢ, so se = √(Σcᵢ²seᵢ²).
fn predicted_slope_with_se(
    used: &[&&ScalingPoint],
    x: &[f64],
    se: &[f64],
    y: impl Fn(&ScalingPoint) -> Option<(f64, f64)>,
) -> Option<[f64; 2]> {
    let py: Vec<(f64, f64)> = used.iter().map(|p| y(p)).collect::<Option<_>>()?;
    let values: Vec<f64> = py.iter().map(|v| v.0).collect();
    let slope = weighted_fit(x, &values, se)?.slope;
    let mut var = 0.0;
    for (i, &(_, s)) in py.iter().enumerate() {
        let unit: Vec<f64> = (0..py.len())
            .map(|k| if k == i { 1.0 } else { 0.0 })
            .collect();
        let c = weighted_fit(x, &unit, se)?.slope;
        var += c * c * s * s;
    }
    Some([slope, var.sqrt()])
}

fn weight_prediction(p: &ScalingPoint, w: Weight) -> Option<&WeightPrediction> {
    p.predictions.iter().find(|q| q.weight == w)
}

fn slope_against(
    fit: &LinearFit,
    weight: Weight,
    slope: f64,
    band: Option<[f64; 2]>,
    flux: Option<[f64; 2]>,
) -> PredictedSlope {
    let [lo, hi] = fit.slope_ci95;
    PredictedSlope {
        weight,
        slope,
        inside_ci: (fit.slope - slope).abs() <= 1.96 * fit.slope_se,
        band,
        band_overlaps_ci: band.map(|[a, b]| a <= hi && b >= lo),
        flux,
        flux_agrees: flux
            .map(|[f, se]| (fit.slope - f).abs() <= 1.96 * (fit.slope_se.powi(2) + se * se).sqrt()),
        ratio: (slope != 0.0).then(|| [fit.slope / slope, lo / slope, hi / slope]),
    }
}

/// Fit one method's points against `xf(point)`. `regime` is Some(reason) when the points are not
/// in the regime the predictions assume (then no weight is named).
pub(super) fn sweep_fit(
    method: Method,
    against: &str,
    pts: &[&ScalingPoint],
    xf: fn(&ScalingPoint) -> f64,
    regime: Option<&str>,
) -> SweepFit {
    let used: Vec<&&ScalingPoint> = pts.iter().filter(|p| p.ln_mean.is_some()).collect();
    let x: Vec<f64> = used.iter().map(|p| xf(p)).collect();
    let y: Vec<f64> = used.iter().map(|p| p.ln_mean.expect("filtered")).collect();
    let se: Vec<f64> = used.iter().map(|p| p.ln_se.expect("filtered")).collect();
    let fit = weighted_fit(&x, &y, &se);
    let mut predicted = Vec::new();
    if let Some(f) = &fit {
        for w in [Weight::InverseSqrt, Weight::Inverse] {
            predicted.extend(predicted_for(f, w, &used, &x, &se));
        }
    }
    let discrete = fit.as_ref().and_then(|f| {
        let s = predicted_slope(&used, &x, &se, |p| p.v0_discrete.map(|v| v * p.b_over_eta))?;
        Some(slope_against(f, Weight::Inverse, s, None, None))
    });
    let quadratic_control = control_fit(&used, xf);
    let (follows, mut verdict) = match regime {
        Some(reason) if fit.is_some() => (None, format!("no verdict: {reason}")),
        _ => verdict(fit.as_ref(), &predicted),
    };
    if let Some(c) = quadratic_control.as_ref().filter(|_| regime.is_none()) {
        verdict.push_str(&control_sentence(c));
    }
    SweepFit {
        method,
        against: against.into(),
        fit,
        predicted,
        discrete,
        quadratic_control,
        follows,
        verdict,
        dropped: Vec::new(),
        dropped_reason: None,
    }
}

/// One weight's predicted slopes on the design (x, se) of `fit`: leading order, the prefactor
/// band and the flux slope.
fn predicted_for(
    fit: &LinearFit,
    w: Weight,
    used: &[&&ScalingPoint],
    x: &[f64],
    se: &[f64],
) -> Option<PredictedSlope> {
    let leading = |p: &ScalingPoint| match w {
        Weight::InverseSqrt => p.v0_inverse_sqrt,
        Weight::Inverse => p.v0_inverse,
    };
    let slope = predicted_slope(used, x, se, |p| leading(p).map(|v| v * p.b_over_eta))?;
    let cont = predicted_slope(used, x, se, |p| {
        weight_prediction(p, w).map(|q| q.ln_steps_continuous)
    });
    let chain = predicted_slope(used, x, se, |p| {
        weight_prediction(p, w).map(|q| q.ln_steps_chain)
    });
    let band = cont.zip(chain).map(|(a, b)| [a.min(b), a.max(b)]);
    let flux = predicted_slope_with_se(used, x, se, |p| {
        let q = weight_prediction(p, w)?;
        q.ln_steps_flux.zip(q.ln_steps_flux_se)
    });
    Some(slope_against(fit, w, slope, band, flux))
}

/// The quadratic-model control fitted over the points that have an estimate of it, beside the
/// inverse weight's predictions on its own design.
fn control_fit(used: &[&&ScalingPoint], xf: fn(&ScalingPoint) -> f64) -> Option<ControlFit> {
    let mut with: Vec<&&ScalingPoint> = Vec::new();
    let (mut x, mut y, mut se) = (Vec::new(), Vec::new(), Vec::new());
    for &p in used {
        let Some(c) = p.quadratic_control.as_ref() else {
            continue;
        };
        let Some((m, s)) = c.ln_mean.zip(c.ln_se) else {
            continue;
        };
        with.push(p);
        x.push(xf(p));
        y.push(m);
        se.push(s);
    }
    let fit = weighted_fit(&x, &y, &se)?;
    let inverse = predicted_for(&fit, Weight::Inverse, &with, &x, &se)?;
    Some(ControlFit { fit, inverse })
}

/// What the quadratic-model control says about the finite-ε prediction.
fn control_sentence(c: &ControlFit) -> String {
    let fit = format!(
        "{:.4} ({:.4} … {:.4})",
        c.fit.slope, c.fit.slope_ci95[0], c.fit.slope_ci95[1]
    );
    match (c.inverse.flux, c.inverse.flux_agrees) {
        (Some([f, se]), Some(true)) => format!(
            "; the quadratic-model control's {fit} agrees with its flux slope {f:.4} ± {:.4}",
            1.96 * se
        ),
        (Some([f, se]), Some(false)) => format!(
            "; the quadratic-model control's {fit} differs from its flux slope {f:.4} ± {:.4}: the finite-ε prediction itself is off here",
            1.96 * se
        ),
        _ => format!("; quadratic-model control {fit}"),
    }
}

pub(crate) fn weight_name(w: Weight) -> &'static str {
    match w {
        Weight::InverseSqrt => "inverse-sqrt",
        Weight::Inverse => "inverse",
    }
}

/// Does the fit agree with this weight: with the chain's flux prediction where there is one,
/// else CI overlaps the prefactor band (or, without one, contains the leading-order slope).
fn consistent(p: &PredictedSlope) -> bool {
    p.flux_agrees.or(p.band_overlaps_ci).unwrap_or(p.inside_ci)
}

fn describe(p: &PredictedSlope) -> String {
    match (p.flux, p.band) {
        (Some([f, se]), _) => format!(
            "{} flux slope {f:.4} ± {:.4}",
            weight_name(p.weight),
            1.96 * se
        ),
        (None, Some([a, b])) => format!("{} band [{a:.4}, {b:.4}]", weight_name(p.weight)),
        (None, None) => format!("{} {:.4}", weight_name(p.weight), p.slope),
    }
}

fn verdict(fit: Option<&LinearFit>, pred: &[PredictedSlope]) -> (Option<Weight>, String) {
    let Some(f) = fit else {
        return (None, "fewer than 2 usable points: no fit".into());
    };
    if pred.len() < 2 {
        return (None, "no exact prediction".into());
    }
    let (a, b) = (&pred[0], &pred[1]);
    let range = |p: &PredictedSlope| match (p.flux, p.band) {
        (Some([f, se]), _) => [f - 1.96 * se, f + 1.96 * se],
        (None, Some(b)) => b,
        (None, None) => [p.slope, p.slope],
    };
    let (ra, rb) = (range(a), range(b));
    let tol = 1e-6 * (a.slope.abs() + b.slope.abs() + f.slope_se);
    if ra[0] <= rb[1] + tol && rb[0] <= ra[1] + tol {
        return (
            None,
            format!(
                "the two weights' predictions overlap ({}; {}): this sweep cannot tell them apart",
                describe(a),
                describe(b)
            ),
        );
    }
    let ci = format!(
        "fit {:.4} ({:.4} … {:.4})",
        f.slope, f.slope_ci95[0], f.slope_ci95[1]
    );
    match (consistent(a), consistent(b)) {
        (true, false) | (false, true) => {
            let (yes, no) = if consistent(a) { (a, b) } else { (b, a) };
            (
                Some(yes.weight),
                format!(
                    "follows {}: {ci} overlaps the {}, not the {}",
                    weight_name(yes.weight),
                    describe(yes),
                    describe(no)
                ),
            )
        }
        (true, true) => (
            None,
            format!("{ci} is consistent with both weights: cannot tell them apart"),
        ),
        (false, false) => {
            let ratios: Vec<String> = pred
                .iter()
                .filter_map(|p| {
                    p.ratio.map(|[r, lo, hi]| {
                        format!(
                            "{r:.2}× ({lo:.2}–{hi:.2}) the {} slope",
                            weight_name(p.weight)
                        )
                    })
                })
                .collect();
            (
                None,
                format!(
                    "neither weight: {ci} is outside the {} and the {}; fitted = {}",
                    describe(a),
                    describe(b),
                    ratios.join(", ")
                ),
            )
        }
    }
}
