//! The width-ladder figure: fitted exit-rate slope over predicted slope against the network's
//! width, one series per (method, weight), with the fits' 95% CIs.

use super::legend::{clear_position, fraction};
use super::{plot_err, save_figure, Figure, FONT};
use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One point of the figure.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LadderPoint {
    /// Hidden width w.
    pub width: usize,
    /// Series label, e.g. "gaussian-sgd / inverse".
    pub series: String,
    /// fitted / predicted slope, with the fit's 95% CI divided likewise: [ratio, low, high].
    pub ratio: [f64; 3],
    /// The beyond-leading-order prediction over the same predicted slope (the chain's flux slope
    /// with its 95% interval, or the Laplace prefactor band), drawn as a shaded bar.
    pub band: Option<[f64; 2]>,
}

struct LadderFigure<'a>(&'a [LadderPoint]);

impl Figure for LadderFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let pts = self.0;
        let mut labels: Vec<&str> = Vec::new();
        for p in pts {
            if !labels.contains(&p.series.as_str()) {
                labels.push(&p.series);
            }
        }
        let (w0, w1) = pts.iter().fold((f64::INFINITY, 0.0f64), |(a, b), p| {
            (a.min(p.width as f64), b.max(p.width as f64))
        });
        let (y0, y1) = pts.iter().fold((1.0f64, 1.0f64), |(a, b), p| {
            let [l, h] = p.band.unwrap_or([p.ratio[1], p.ratio[2]]);
            (a.min(p.ratio[1]).min(l), b.max(p.ratio[2]).max(h))
        });
        let pad = 0.08 * (y1 - y0).max(0.1);
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Exit-rate slope: fitted / leading-order (B/η)·V0, 95% CI; shaded: finite-ε prediction",
                (FONT, 18),
            )
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(((w0 / 1.5)..(w1 * 1.5)).log_scale(), (y0 - pad)..(y1 + pad))
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("hidden width w")
            .x_label_formatter(&|w| format!("{w:.0}"))
            .y_desc("fitted slope / predicted slope")
            .label_style((FONT, 12))
            .draw()
            .map_err(plot_err)?;
        chart
            .draw_series(LineSeries::new(
                [(w0 / 1.5, 1.0), (w1 * 1.5, 1.0)],
                BLACK.mix(0.5).stroke_width(1),
            ))
            .map_err(plot_err)?;
        let n = labels.len() as f64;
        for (i, label) in labels.iter().enumerate() {
            let colour = Palette99::pick(i).to_rgba();
            // Series side by side around each width so that error bars do not overlap.
            let shift = 1.06f64.powf(i as f64 - (n - 1.0) / 2.0);
            let data: Vec<&LadderPoint> = pts.iter().filter(|p| p.series == *label).collect();
            // The prefactor band: where the fitted slope should fall beyond leading order.
            chart
                .draw_series(data.iter().filter_map(|p| {
                    let [l, h] = p.band?;
                    let x = p.width as f64 * shift;
                    Some(Rectangle::new(
                        [(x / 1.025, l), (x * 1.025, h)],
                        colour.mix(0.25).filled(),
                    ))
                }))
                .map_err(plot_err)?;
            // CI bars drawn as paths (plotters' ErrorBar is behind a feature not built here).
            chart
                .draw_series(data.iter().map(|p| {
                    let x = p.width as f64 * shift;
                    PathElement::new(
                        vec![(x, p.ratio[1]), (x, p.ratio[2])],
                        colour.stroke_width(2),
                    )
                }))
                .map_err(plot_err)?;
            chart
                .draw_series(
                    data.iter().map(|p| {
                        Circle::new((p.width as f64 * shift, p.ratio[0]), 4, colour.filled())
                    }),
                )
                .map_err(plot_err)?
                .label(label.to_string())
                .legend(move |(x, y)| Circle::new((x + 10, y), 4, colour.filled()));
            chart
                .draw_series(LineSeries::new(
                    data.iter().map(|p| (p.width as f64 * shift, p.ratio[0])),
                    colour.stroke_width(1),
                ))
                .map_err(plot_err)?;
        }
        // The legend where it covers the least: markers, CI and band ends, line samples.
        let (xa, xb) = ((w0 / 1.5).ln(), (w1 * 1.5).ln());
        let mut drawn = Vec::new();
        for (i, label) in labels.iter().enumerate() {
            let shift = 1.06f64.powf(i as f64 - (n - 1.0) / 2.0);
            let data: Vec<&LadderPoint> = pts.iter().filter(|p| p.series == *label).collect();
            for p in &data {
                let x = (p.width as f64 * shift).ln();
                let band = p.band.unwrap_or([p.ratio[1], p.ratio[2]]);
                for y in p.ratio.iter().chain(&band) {
                    drawn.push((x, *y));
                }
            }
            for w in data.windows(2) {
                let (xa, xb) = (
                    (w[0].width as f64 * shift).ln(),
                    (w[1].width as f64 * shift).ln(),
                );
                for k in 0..=10 {
                    let f = k as f64 / 10.0;
                    drawn.push((
                        xa + f * (xb - xa),
                        w[0].ratio[0] + f * (w[1].ratio[0] - w[0].ratio[0]),
                    ));
                }
            }
        }
        let position = clear_position(
            drawn
                .iter()
                .map(|&(x, y)| (fraction(x, xa, xb), fraction(y, y0 - pad, y1 + pad))),
            labels.len(),
            0.3,
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
}

/// Write `STEM.png` and `STEM.svg`.
///
/// # Errors
/// No points, a non-finite ratio, or a file that cannot be written.
pub fn write_ladder_figure(points: &[LadderPoint], stem: &Path) -> Result<Vec<PathBuf>> {
    if points.is_empty() {
        return Err(Error::invalid("points", "nothing to plot"));
    }
    if let Some(p) = points
        .iter()
        .find(|p| p.ratio.iter().any(|v| !v.is_finite()))
    {
        return Err(Error::invalid(
            "points",
            format!("width {} ({}) has a non-finite ratio", p.width, p.series),
        ));
    }
    save_figure(&LadderFigure(points), stem, (900, 560))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_figure_is_written_and_bad_points_refused() {
        let dir = std::env::temp_dir().join(format!("quasipot-ladder-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pts = vec![
            LadderPoint {
                width: 8,
                series: "a".into(),
                ratio: [0.9, 0.8, 1.0],
                band: Some([0.85, 0.95]),
            },
            LadderPoint {
                width: 64,
                series: "a".into(),
                ratio: [1.1, 0.9, 1.3],
                band: None,
            },
        ];
        let files = write_ladder_figure(&pts, &dir.join("ladder")).unwrap();
        for f in &files {
            assert!(std::fs::metadata(f).unwrap().len() > 1000, "{f:?}");
        }
        assert!(write_ladder_figure(&[], &dir.join("x")).is_err());
        let mut bad = pts.clone();
        bad[0].ratio[1] = f64::NAN;
        assert!(write_ladder_figure(&bad, &dir.join("x")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
