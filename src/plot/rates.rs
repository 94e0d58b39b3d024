//! ln E\[τ\] against 1/ε²: every estimate of a [`Sweep`] on one figure.

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
        "prefactor" => (RGBColor(0, 0, 0), "prefactor A·ε^κ·e^{V0/ε²}"),
        _ => (RGBColor(150, 150, 150), "asymptote e^{V0/ε²}"),
    }
}

impl Figure for RatesFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
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
                        (x(p.eps), e.ln_mean, lo, hi)
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
}
