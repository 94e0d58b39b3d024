//! Lemma 4 figures: V0 inside its sandwich λ_max^{-p}V̂0 ≤ V0 ≤ λ_min^{-p}V̂0 against κ (one panel
//! per weight), and the proof's T(δ) against ln(1/δ).

use super::{plot_err, Figure, FONT};
use crate::analysis::lemma4::Lemma4Report;
use crate::error::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

/// V0, λ_max^{-p}V̂0 and λ_min^{-p}V̂0 against κ, one panel per weight.
pub struct SandwichFigure<'a>(pub &'a Lemma4Report);

/// T†(δ) and T*(δ) against ln(1/δ) for every row and weight.
pub struct ProofTimeFigure<'a>(pub &'a Lemma4Report);

fn range(vals: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if !lo.is_finite() || hi - lo < 1e-12 * (1.0 + hi.abs()) {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
    }
}

impl Figure for SandwichFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let r = self.0;
        let nw = r.rows.first().map_or(0, |row| row.weights.len());
        let panels = root.split_evenly((1, nw.max(1)));
        for (k, area) in panels.iter().enumerate().take(nw) {
            let w = r.rows[0].weights[k].weight;
            let pts = |f: &dyn Fn(usize) -> f64| -> Vec<(f64, f64)> {
                r.rows
                    .iter()
                    .enumerate()
                    .map(|(i, row)| (row.kappa.log10(), f(i)))
                    .collect()
            };
            let v0 = pts(&|i| r.rows[i].weights[k].v0.v0);
            let lo = pts(&|i| r.rows[i].weights[k].sandwich.lower);
            let hi = pts(&|i| r.rows[i].weights[k].sandwich.upper);
            let (x0, x1) = range(v0.iter().map(|p| p.0));
            let (y0, y1) = range(lo.iter().chain(&hi).chain(&v0).map(|p| p.1));
            let mut chart = ChartBuilder::on(area)
                .caption(
                    format!("weight {} (p = {})", w.name(), w.exponent()),
                    (FONT, 18),
                )
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(plot_err)?;
            chart
                .configure_mesh()
                .x_desc("log10 κ")
                .y_desc("barrier")
                .label_style((FONT, 12))
                .draw()
                .map_err(plot_err)?;
            for (data, colour, label) in [
                (&hi, RED, "λmin^-p·V̂0 (upper)"),
                (&lo, GREEN, "λmax^-p·V̂0 (lower)"),
            ] {
                chart
                    .draw_series(LineSeries::new(data.clone(), colour.stroke_width(2)))
                    .map_err(plot_err)?
                    .label(label)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
            }
            chart
                .draw_series(v0.iter().map(|p| Circle::new(*p, 5, BLUE.filled())))
                .map_err(plot_err)?
                .label("V0")
                .legend(|(x, y)| Circle::new((x, y), 5, BLUE.filled()));
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .label_font((FONT, 12))
                .draw()
                .map_err(plot_err)?;
        }
        Ok(())
    }
}

impl Figure for ProofTimeFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let mut series: Vec<(String, Vec<(f64, f64)>, bool)> = Vec::new();
        for row in &self.0.rows {
            for w in &row.weights {
                let Some(pc) = &w.proof_constant else {
                    continue;
                };
                let t: Vec<(f64, f64)> = pc
                    .rows
                    .iter()
                    .map(|d| ((1.0 / d.delta).ln(), d.time_v0_path))
                    .collect();
                series.push((
                    format!("T†, κ = {:.3}, {}", row.kappa, w.weight.name()),
                    t,
                    false,
                ));
            }
            if let Some(pc) = row.weights.first().and_then(|w| w.proof_constant.as_ref()) {
                let t: Vec<(f64, f64)> = pc
                    .rows
                    .iter()
                    .map(|d| ((1.0 / d.delta).ln(), d.time_proximal_path))
                    .collect();
                series.push((format!("T* (proximal), κ = {:.3}", row.kappa), t, true));
            }
        }
        let (x0, x1) = range(series.iter().flat_map(|s| s.1.iter().map(|p| p.0)));
        let (y0, y1) = range(series.iter().flat_map(|s| s.1.iter().map(|p| p.1)));
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Appendix D: T(δ) on the optimal paths grows like ln(1/δ)/λ",
                (FONT, 18),
            )
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("ln(1/δ)")
            .y_desc("physical time T(δ) to ∂D")
            .label_style((FONT, 12))
            .draw()
            .map_err(plot_err)?;
        for (i, (label, data, dashed)) in series.iter().enumerate() {
            let colour = Palette99::pick(i).to_rgba();
            let style = if *dashed {
                colour.stroke_width(1)
            } else {
                colour.stroke_width(2)
            };
            chart
                .draw_series(LineSeries::new(data.clone(), style))
                .map_err(plot_err)?
                .label(label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
            chart
                .draw_series(data.iter().map(|p| Circle::new(*p, 3, colour.filled())))
                .map_err(plot_err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font((FONT, 11))
            .draw()
            .map_err(plot_err)?;
        Ok(())
    }
}
