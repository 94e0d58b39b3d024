//! ln E\[τ\] against 1/ε²: every estimate of a [`Sweep`] on one figure, and below it each
//! estimate divided by the prefactor prediction (where there is one), where their agreement
//! can be read off: on the ln scale every method lies on one line.

use super::{plot_err, Figure, FONT};
use crate::error::Result;
use crate::rates::sweep::Sweep;
use plotters::coord::Shift;
use plotters::prelude::*;

/// The finite-noise figure of a sweep.
pub struct RatesFigure<'a> {
    /// The sweep.
    pub sweep: &'a Sweep,
}

fn style(method: &str) -> (RGBColor, &'static str) {
    match method {
        "direct" => (RGBColor(31, 119, 180), "direct Monte Carlo (95% CI)"),
        "ams" => (RGBColor(214, 39, 40), "AMS (95% CI)"),
        "generator" => (
            RGBColor(44, 160, 44),
            "generator (backward Kolmogorov solve)",
        ),
        "prefactor" => (RGBColor(0, 0, 0), "prefactor A·ε^κ·exp(V0/ε²)"),
        _ => (RGBColor(150, 150, 150), "asymptote exp(V0/ε²)"),
    }
}

/// Markers of the simulated methods sit this far (in 1/ε²) either side of their point, so that
/// direct Monte Carlo and AMS at the same ε do not hide each other.
fn offset(method: &str) -> f64 {
    match method {
        "direct" => -0.25,
        "ams" => 0.25,
        _ => 0.0,
    }
}

impl Figure for RatesFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let has_prefactor = self
            .sweep
            .points
            .iter()
            .any(|p| p.estimates.iter().any(|e| e.method == "prefactor"));
        if has_prefactor {
            let h = root.dim_in_pixel().1;
            let (top, bottom) = root.split_vertically(h * 62 / 100);
            self.draw_ln(&top)?;
            self.draw_ratio(&bottom)
        } else {
            self.draw_ln(root)
        }
    }
}

impl RatesFigure<'_> {
    fn draw_ln<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let pts = &self.sweep.points;
        let x = |e: f64| 1.0 / (e * e);
        let xs: Vec<f64> = pts.iter().map(|p| x(p.eps)).collect();
        let ys: Vec<f64> = pts
            .iter()
            .flat_map(|p| p.estimates.iter().map(|e| e.ln_mean))
            .filter(|v| v.is_finite())
            .collect();
        let (xl, xh) = (0.0, xs.iter().cloned().fold(1.0, f64::max) * 1.05);
        let (yl, yh) = (
            ys.iter().cloned().fold(f64::INFINITY, f64::min).min(0.0) - 1.0,
            ys.iter().cloned().fold(f64::NEG_INFINITY, f64::max) + 2.0,
        );
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!(
                    "{}: mean exit time at finite noise (V0 = {:.5})",
                    self.sweep.problem, self.sweep.v0
                ),
                (FONT, 20),
            )
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(xl..xh, yl..yh)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("1/ε²")
            .y_desc("ln E[τ]")
            .label_style((FONT, 14))
            .draw()
            .map_err(plot_err)?;
        for method in ["asymptote", "prefactor", "generator"] {
            let line: Vec<(f64, f64)> = pts
                .iter()
                .filter_map(|p| {
                    p.estimates
                        .iter()
                        .find(|e| e.method == method)
                        .map(|e| (x(p.eps), e.ln_mean))
                })
                .collect();
            if line.is_empty() {
                continue;
            }
            let (c, label) = style(method);
            let width = if method == "generator" { 2 } else { 1 };
            chart
                .draw_series(LineSeries::new(line.clone(), c.stroke_width(width)))
                .map_err(plot_err)?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(width))
                });
            if method == "generator" {
                chart
                    .draw_series(line.iter().map(|&p| Circle::new(p, 3, c.filled())))
                    .map_err(plot_err)?;
            }
        }
        for method in ["direct", "ams"] {
            let bars: Vec<(f64, f64, f64, f64)> = pts
                .iter()
                .filter_map(|p| {
                    p.estimates.iter().find(|e| e.method == method).map(|e| {
                        let (lo, hi) = e
                            .ci95
                            .map(|c| (c[0].max(1e-300).ln(), c[1].ln()))
                            .unwrap_or((e.ln_mean, e.ln_mean));
                        (x(p.eps) + offset(method), e.ln_mean, lo, hi)
                    })
                })
                .collect();
            if bars.is_empty() {
                continue;
            }
            let (c, label) = style(method);
            chart
                .draw_series(bars.iter().map(|&(px, _, lo, hi)| {
                    PathElement::new(vec![(px, lo), (px, hi)], c.stroke_width(2))
                }))
                .map_err(plot_err)?;
            chart
                .draw_series(
                    bars.iter()
                        .map(|&(px, py, _, _)| Cross::new((px, py), 5, c.stroke_width(2))),
                )
                .map_err(plot_err)?
                .label(label)
                .legend(move |(x, y)| Cross::new((x + 10, y), 5, c.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font((FONT, 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(plot_err)?;
        Ok(())
    }

    /// Each estimate over the prefactor prediction, with its 95 % interval.
    fn draw_ratio<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let x = |e: f64| 1.0 / (e * e);
        // (method, 1/ε², ratio, lo, hi) for every estimate at a point with a prediction.
        let mut rows: Vec<(&str, f64, f64, f64, f64)> = Vec::new();
        for p in &self.sweep.points {
            let Some(pref) = p.estimates.iter().find(|e| e.method == "prefactor") else {
                continue;
            };
            for e in &p.estimates {
                if !matches!(e.method.as_str(), "direct" | "ams" | "generator") {
                    continue;
                }
                let r = (e.ln_mean - pref.ln_mean).exp();
                let (lo, hi) = e
                    .ci95
                    .map(|c| (c[0] / pref.mean, c[1] / pref.mean))
                    .unwrap_or((r, r));
                if r.is_finite() && lo.is_finite() && hi.is_finite() {
                    rows.push((e.method.as_str(), x(p.eps) + offset(&e.method), r, lo, hi));
                }
            }
        }
        let xh = self
            .sweep
            .points
            .iter()
            .map(|p| x(p.eps))
            .fold(1.0, f64::max)
            * 1.05;
        let (mut yl, mut yh) = rows
            .iter()
            .fold((1.0f64, 1.0f64), |(l, h), r| (l.min(r.3), h.max(r.4)));
        let pad = 0.08 * (yh - yl).max(0.05);
        (yl, yh) = ((yl - pad).max(0.0), yh + pad);
        let mut chart = ChartBuilder::on(root)
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..xh, yl..yh)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("1/ε²")
            .y_desc("E[τ] / prefactor")
            .label_style((FONT, 14))
            .draw()
            .map_err(plot_err)?;
        chart
            .draw_series(LineSeries::new(
                vec![(0.0, 1.0), (xh, 1.0)],
                BLACK.stroke_width(1),
            ))
            .map_err(plot_err)?;
        for method in ["generator", "direct", "ams"] {
            let (c, _) = style(method);
            let mine: Vec<_> = rows.iter().filter(|r| r.0 == method).collect();
            if method == "generator" {
                chart
                    .draw_series(LineSeries::new(
                        mine.iter().map(|r| (r.1, r.2)),
                        c.stroke_width(2),
                    ))
                    .map_err(plot_err)?;
                chart
                    .draw_series(mine.iter().map(|r| Circle::new((r.1, r.2), 3, c.filled())))
                    .map_err(plot_err)?;
                continue;
            }
            chart
                .draw_series(
                    mine.iter()
                        .map(|r| PathElement::new(vec![(r.1, r.3), (r.1, r.4)], c.stroke_width(2))),
                )
                .map_err(plot_err)?;
            chart
                .draw_series(
                    mine.iter()
                        .map(|r| Cross::new((r.1, r.2), 5, c.stroke_width(2))),
                )
                .map_err(plot_err)?;
        }
        Ok(())
    }
}
