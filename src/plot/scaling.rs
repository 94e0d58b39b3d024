//! Figures and tables of exit-rate sweeps ([`crate::analysis::scaling`]).

use crate::analysis::scaling::{
    compare_slopes, Method, PredictedSlope, ScalingPoint, ScalingReport,
};
use crate::error::{Error, Result};
use crate::plot::legend::{clear_position, fraction};
use crate::plot::{plot_err, Figure, FONT};
use crate::problem::Weight;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

// Files and figures.

fn method_color(m: Method) -> RGBColor {
    match m {
        Method::GaussianSgd => RGBColor(31, 119, 180),
        Method::Proximal => RGBColor(44, 160, 44),
        Method::MinibatchSgd => RGBColor(214, 39, 40),
    }
}

const INVERSE_COLOR: RGBColor = RGBColor(255, 127, 14);
const INVERSE_SQRT_COLOR: RGBColor = RGBColor(148, 103, 189);
const DISCRETE_COLOR: RGBColor = RGBColor(90, 90, 90);

/// Draw one panel: ln E\[ν\] of `methods` against the varied quantity, CI bars, and (for a single
/// method) both predicted curves anchored at the points' weighted mean.
fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    report: &ScalingReport,
    methods: &[Method],
    title: &str,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let pts: Vec<&ScalingPoint> = report
        .points
        .iter()
        .filter(|p| methods.contains(&p.method))
        .collect();
    let ys = |p: &ScalingPoint| -> (f64, f64, f64) {
        match (p.ln_mean, p.ln_se) {
            (Some(m), Some(se)) => (m - 1.96 * se, m, m + 1.96 * se),
            _ => {
                let lb = (report.base.max_steps as f64).ln();
                (lb, lb, lb)
            }
        }
    };
    // (label, colour, curve) of each prediction.
    let mut preds: Vec<(&str, RGBColor, Vec<(f64, f64)>)> = Vec::new();
    if methods.len() == 1 {
        let used: Vec<&&ScalingPoint> = pts.iter().filter(|p| p.ln_mean.is_some()).collect();
        type Get = fn(&ScalingPoint) -> Option<f64>;
        let models: [(&str, RGBColor, Get); 3] = [
            ("predicted, weight inverse-sqrt", INVERSE_SQRT_COLOR, |p| {
                p.v0_inverse_sqrt
            }),
            ("predicted, weight inverse", INVERSE_COLOR, |p| p.v0_inverse),
            ("predicted, discrete chain eq. (2)", DISCRETE_COLOR, |p| {
                p.v0_discrete
            }),
        ];
        for (label, color, v) in models {
            if used.is_empty() || used.iter().any(|p| v(p).is_none()) {
                continue;
            }
            let (mut sw, mut sr) = (0.0, 0.0);
            for p in &used {
                let wt = 1.0 / p.ln_se.expect("used").powi(2);
                sw += wt;
                sr += wt * (p.ln_mean.expect("used") - v(p).expect("checked") * p.b_over_eta);
            }
            let c = sr / sw;
            let mut line: Vec<(f64, f64)> = pts
                .iter()
                .filter_map(|p| v(p).map(|v0| (p.x, v0 * p.b_over_eta + c)))
                .collect();
            line.sort_by(|a, b| a.0.total_cmp(&b.0));
            preds.push((label, color, line));
        }
    }
    let mut xlo = f64::INFINITY;
    let mut xhi = f64::NEG_INFINITY;
    let mut ylo = f64::INFINITY;
    let mut yhi = f64::NEG_INFINITY;
    for p in &pts {
        let (a, _, b) = ys(p);
        xlo = xlo.min(p.x);
        xhi = xhi.max(p.x);
        ylo = ylo.min(a);
        yhi = yhi.max(b);
    }
    for (_, _, l) in &preds {
        for &(_, y) in l {
            ylo = ylo.min(y);
            yhi = yhi.max(y);
        }
    }
    if !xlo.is_finite() {
        (xlo, xhi, ylo, yhi) = (0.0, 1.0, 0.0, 1.0);
    }
    let dx = (xhi - xlo).max(1e-9 * xhi.abs().max(1.0)) * 0.08;
    let dy = (yhi - ylo).max(0.5) * 0.08;
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 16))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d((xlo - dx)..(xhi + dx), (ylo - dy)..(yhi + dy))
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc(report.vary.label())
        .y_desc("ln E[ν] (iterations)")
        .label_style((FONT, 12))
        .draw()
        .map_err(plot_err)?;
    for (label, color, line) in &preds {
        let color = *color;
        let width = if color == DISCRETE_COLOR { 1 } else { 2 };
        chart
            .draw_series(LineSeries::new(line.clone(), color.stroke_width(width)))
            .map_err(plot_err)?
            .label(*label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(width))
            });
    }
    for &m in methods {
        let color = method_color(m);
        let mine: Vec<&&ScalingPoint> = pts.iter().filter(|p| p.method == m).collect();
        if mine.is_empty() {
            continue;
        }
        chart
            .draw_series(mine.iter().map(|p| {
                let (a, _, b) = ys(p);
                PathElement::new(vec![(p.x, a), (p.x, b)], color.stroke_width(2))
            }))
            .map_err(plot_err)?;
        chart
            .draw_series(mine.iter().map(|p| {
                let (_, y, _) = ys(p);
                if p.ln_mean.is_some() && !p.in_regime {
                    // Outside the metastable regime: hollow, and not in the fit.
                    Circle::new((p.x, y), 5, color.stroke_width(2)).into_dyn()
                } else if p.ln_mean.is_some() {
                    Circle::new((p.x, y), 4, color.filled()).into_dyn()
                } else {
                    TriangleMarker::new((p.x, y), 6, color.filled()).into_dyn()
                }
            }))
            .map_err(plot_err)?
            .label(m.name())
            .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
        if mine.iter().any(|p| !p.in_regime) {
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                .map_err(plot_err)?
                .label(format!(
                    "{} outside the regime (hollow, not fitted)",
                    m.name()
                ))
                .legend(move |(x, y)| Circle::new((x + 10, y), 5, color.stroke_width(2)));
        }
    }
    // Where the legend covers the least: markers, error-bar ends and samples along the lines.
    let (x_lo, x_hi, y_lo, y_hi) = (xlo - dx, xhi + dx, ylo - dy, yhi + dy);
    let mut drawn: Vec<(f64, f64)> = Vec::new();
    for p in &pts {
        let (a, y, b) = ys(p);
        drawn.extend([(p.x, a), (p.x, y), (p.x, b)]);
    }
    for (_, _, line) in &preds {
        for w in line.windows(2) {
            for k in 0..=10 {
                let f = k as f64 / 10.0;
                drawn.push((
                    w[0].0 + f * (w[1].0 - w[0].0),
                    w[0].1 + f * (w[1].1 - w[0].1),
                ));
            }
        }
    }
    let entries = preds.len()
        + methods
            .iter()
            .map(|&m| {
                let mine: Vec<_> = pts.iter().filter(|p| p.method == m).collect();
                usize::from(!mine.is_empty()) + usize::from(mine.iter().any(|p| !p.in_regime))
            })
            .sum::<usize>();
    let position = clear_position(
        drawn
            .iter()
            .map(|&(x, y)| (fraction(x, x_lo, x_hi), fraction(y, y_lo, y_hi))),
        entries,
        0.5,
    );
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font((FONT, 11))
        .draw()
        .map_err(plot_err)?;
    Ok(())
}

/// One sweep, four panels: each method with both predicted curves, then all methods together.
pub struct SweepFigure<'a>(pub &'a ScalingReport);

impl Figure for SweepFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let r = self.0;
        let root = root
            .titled(
                &format!(
                    "{}: ln E[ν] vs {} (η = {}, B = {})",
                    r.problem,
                    r.vary.name(),
                    r.base.eta,
                    r.base.batch
                ),
                (FONT, 20),
            )
            .map_err(plot_err)?;
        let panels = root.split_evenly((2, 2));
        let present: Vec<Method> = Method::ALL
            .into_iter()
            .filter(|m| r.points.iter().any(|p| p.method == *m))
            .collect();
        for (k, area) in panels.iter().enumerate() {
            if let Some(&m) = present.get(k) {
                draw_panel(area, r, &[m], m.title())?;
            } else if k == present.len() {
                draw_panel(area, r, &present, "all methods")?;
            }
        }
        Ok(())
    }
}

/// The paper's layout: one method, four panels (one per sweep, in the order given).
pub struct MethodFigure<'a> {
    /// The sweeps (normally sharpness, lr, batch, depth).
    pub reports: &'a [ScalingReport],
    /// The method drawn.
    pub method: Method,
    /// Figure title.
    pub title: String,
}

impl Figure for MethodFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let root = root.titled(&self.title, (FONT, 20)).map_err(plot_err)?;
        let panels = root.split_evenly((2, 2));
        for (area, r) in panels.iter().zip(self.reports) {
            draw_panel(area, r, &[self.method], &format!("vary {}", r.vary.name()))?;
        }
        Ok(())
    }
}

/// Write `scaling_<vary>.csv` (one row per point), `scaling_<vary>.json` and the four-panel
/// figure `scaling_<vary>.png`/`.svg` into `dir`.
pub fn write_files(report: &ScalingReport, dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |p: &Path, e: std::io::Error| Error::Io {
        path: p.display().to_string(),
        source: e,
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let stem = format!("scaling_{}", report.vary.name());
    let csv = dir.join(format!("{stem}.csv"));
    std::fs::write(&csv, points_csv(report)).map_err(|e| io(&csv, e))?;
    let json = dir.join(format!("{stem}.json"));
    let body = serde_json::to_string_pretty(report)
        .map_err(|e| Error::numerical("scaling report", e.to_string()))?;
    std::fs::write(&json, body).map_err(|e| io(&json, e))?;
    let mut files = vec![csv, json];
    files.extend(crate::plot::save_figure(
        &SweepFigure(report),
        &dir.join(&stem),
        (1200, 900),
    )?);
    Ok(files)
}

/// The points as CSV.
pub fn points_csv(report: &ScalingReport) -> String {
    let opt = |v: Option<f64>| v.map(|v| format!("{v:.6e}")).unwrap_or_default();
    let mut text = String::from("method,x,eta,batch,sharpness,depth,b_over_eta,lambda_max,delta_l,mean_exit_steps,ci95_lo,ci95_hi,ln_mean,ln_se,estimator,exited,censored,v0_inverse_sqrt,v0_inverse,v0_discrete\n");
    for p in &report.points {
        text.push_str(&format!(
            "{},{},{},{},{},{},{},{:.6e},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            p.method.name(),
            p.x,
            p.eta,
            p.batch,
            p.sharpness,
            p.depth,
            p.b_over_eta,
            p.lambda_max,
            p.delta_l,
            opt(p.mean_exit_steps),
            opt(p.ci95.map(|c| c[0])),
            opt(p.ci95.map(|c| c[1])),
            opt(p.ln_mean),
            opt(p.ln_se),
            p.estimator,
            p.exited,
            p.censored,
            opt(p.v0_inverse_sqrt),
            opt(p.v0_inverse),
            opt(p.v0_discrete),
        ));
    }
    text
}

/// A predicted slope as a table cell: the leading-order slope, the prefactor band, and the
/// chain's one-step-flux slope with its 95% Monte Carlo interval where there is one.
pub fn predicted_cell(p: Option<&PredictedSlope>) -> String {
    let Some(p) = p else {
        return "—".into();
    };
    let mut cell = match p.band {
        Some([a, b]) => format!("{:.4} [{a:.4} … {b:.4}]", p.slope),
        None => format!("{:.4}", p.slope),
    };
    if let Some([f, se]) = p.flux {
        cell.push_str(&format!(" flux {f:.4} ± {:.4}", 1.96 * se));
    }
    cell
}

/// Markdown table of the fits (method, against, slope ± CI, predicted slopes, verdict).
pub fn fits_markdown(reports: &[ScalingReport]) -> String {
    let mut s = String::from(
        "| sweep | method | ln E[ν] against | fitted slope (95% CI) | predicted, inverse-sqrt [prefactor band] flux | predicted, inverse [prefactor band] flux | predicted, discrete eq. (2) | verdict |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in reports {
        for f in &r.fits {
            let pred = |w: Weight| predicted_cell(f.predicted.iter().find(|p| p.weight == w));
            let fit = f
                .fit
                .as_ref()
                .map(|l| {
                    format!(
                        "{:.4} ({:.4} … {:.4})",
                        l.slope, l.slope_ci95[0], l.slope_ci95[1]
                    )
                })
                .unwrap_or_else(|| "—".into());
            let disc = f
                .discrete
                .as_ref()
                .map(|p| {
                    format!(
                        "{:.4}{}",
                        p.slope,
                        if p.inside_ci { " (in CI)" } else { "" }
                    )
                })
                .unwrap_or_else(|| "—".into());
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
                r.vary.name(),
                f.method.name(),
                f.against,
                fit,
                pred(Weight::InverseSqrt),
                pred(Weight::Inverse),
                disc,
                f.verdict
            ));
        }
    }
    s
}

/// Markdown table of the significance of the difference between Gaussian SGD's and minibatch
/// SGD's fitted slopes in each sweep (independent streams: z = Δ/√(se₁² + se₂²), normal p).
pub fn comparisons_markdown(reports: &[ScalingReport]) -> String {
    let mut s = String::from(
        "| sweep | ln E[ν] against | gaussian-sgd slope | minibatch-sgd slope | difference ± se | z | p (two-sided) |\n|---|---|---|---|---|---|---|\n",
    );
    for r in reports {
        for g in r.fits.iter().filter(|f| f.method == Method::GaussianSgd) {
            let Some(m) = r
                .fits
                .iter()
                .find(|f| f.method == Method::MinibatchSgd && f.against == g.against)
            else {
                continue;
            };
            let (Some(a), Some(b)) = (&g.fit, &m.fit) else {
                continue;
            };
            let c = compare_slopes(b, a);
            s.push_str(&format!(
                "| {} | {} | {:.4} ± {:.4} | {:.4} ± {:.4} | {:+.4} ± {:.4} | {:.2} | {:.3} |\n",
                r.vary.name(),
                g.against,
                a.slope,
                a.slope_se,
                b.slope,
                b.slope_se,
                c.difference,
                c.se,
                c.z,
                c.p_value
            ));
        }
    }
    s
}

/// Markdown table of the points (E\[ν\] with CI per method and setting).
pub fn points_markdown(reports: &[ScalingReport]) -> String {
    let mut s = String::from(
        "| sweep | method | x | η | B | E[ν] (95% CI) | censored | relaxation (steps) | V0 inverse-sqrt | V0 inverse | V0 discrete | (L−L*)/ΔL at exit (median) | fluctuation ratio | E[ν]/E[ν] quadratic model (95% CI) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in reports {
        for p in &r.points {
            let e = match (p.mean_exit_steps, p.ci95) {
                (Some(m), Some(c)) => format!("{m:.3e} ({:.2e} … {:.2e})", c[0], c[1]),
                _ => format!("≥ {:.1e}", r.base.max_steps as f64),
            };
            let v = |v: Option<f64>| v.map(|v| format!("{v:.4e}")).unwrap_or_else(|| "—".into());
            let f3 = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "—".into());
            let dg = p.diagnostics.as_ref();
            let control = match p.quadratic_control.as_ref() {
                Some(c) => match (c.ratio, c.ratio_upper_bound) {
                    (Some(r), _) => format!("{:.3} ({:.3} … {:.3})", r[0], r[1], r[2]),
                    (None, Some(u)) => format!("≤ {u:.2e} (control: no exit)"),
                    _ => "—".into(),
                },
                None => "—".into(),
            };
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} |\n",
                r.vary.name(),
                p.method.name(),
                p.x,
                p.eta,
                p.batch,
                e,
                p.censored,
                p.relaxation_steps,
                v(p.v0_inverse_sqrt),
                v(p.v0_inverse),
                v(p.v0_discrete),
                f3(dg.and_then(|d| d.loss_ratio)),
                f3(dg.and_then(|d| d.fluctuation_ratio)),
                control
            ));
        }
    }
    s
}
