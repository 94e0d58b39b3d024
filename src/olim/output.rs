//! Output files of the grid solver: V.npy with its axes x.npy and y.npy, and a heatmap of V with
//! contour lines, ∂D, θ*, the exit point and an optional overlaid path (e.g. the gMAM path).

use super::Report;
use crate::error::Result;
use crate::plot::grid::{contour, viridis};
use crate::plot::{plot_err, save_figure, Figure, FONT};
use crate::problem::matrix_io::{write_array2_npy, write_vector_npy};
use crate::problem::Problem;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Write `V.npy` (N×N, row = y index, unreached points = +∞), `x.npy`, `y.npy` and the figure
/// `field.png` / `field.svg` (heatmap of V, coloured up to 2.5·V₀ when V₀ is known, with
/// contour lines, ∂D in red, θ* as a cross, the
/// exit point as a circle, and `path` — a list of points, e.g. the gMAM path — as a black line)
/// into `dir` (created if missing). Returns the paths written.
pub fn write_files(
    report: &Report,
    problem: &Problem,
    path: Option<&[Vec<f64>]>,
    dir: &Path,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| crate::Error::Io {
        path: dir.display().to_string(),
        source: e,
    })?;
    let n = report.grid.n;
    let mut out = Vec::new();
    let v = dir.join("V.npy");
    write_array2_npy(&v, n, n, &report.values)?;
    out.push(v);
    for (axis, name) in [(0, "x.npy"), (1, "y.npy")] {
        let p = dir.join(name);
        write_vector_npy(&p, &report.axis(axis))?;
        out.push(p);
    }
    let fig = FieldFigure::new(report, problem, path);
    out.extend(save_figure(&fig, &dir.join("field"), (900, 800))?);
    Ok(out)
}

/// The sampled picture: at most 200×200 cells of the solver grid.
struct FieldFigure {
    xs: Vec<f64>,
    ys: Vec<f64>,
    /// V at (xs[i], ys[j]) as v[j·m + i].
    v: Vec<f64>,
    /// Level function of D at the same nodes.
    g: Vec<f64>,
    vmax: f64,
    lo: [f64; 2],
    hi: [f64; 2],
    minimum: [f64; 2],
    exit: Option<[f64; 2]>,
    v0: Option<f64>,
    path: Vec<(f64, f64)>,
    title: String,
}

impl FieldFigure {
    fn new(report: &Report, problem: &Problem, path: Option<&[Vec<f64>]>) -> Self {
        let n = report.grid.n;
        let stride = (n - 1).div_ceil(200).max(1);
        let idx: Vec<usize> = (0..n).step_by(stride).collect();
        let m = idx.len();
        let x_all = report.axis(0);
        let y_all = report.axis(1);
        let xs: Vec<f64> = idx.iter().map(|&i| x_all[i]).collect();
        let ys: Vec<f64> = idx.iter().map(|&j| y_all[j]).collect();
        let mut v = Vec::with_capacity(m * m);
        let mut g = Vec::with_capacity(m * m);
        for &j in &idx {
            for &i in &idx {
                v.push(report.values[j * n + i]);
                g.push(problem.domain.level(&[x_all[i], y_all[j]]));
            }
        }
        // Colour scale: up to 2.5·V₀ when V₀ is known (the interesting range), else max V.
        let vmax = v
            .iter()
            .copied()
            .filter(|x| x.is_finite())
            .fold(0.0f64, f64::max)
            .min(report.v0.map_or(f64::INFINITY, |v0| 2.5 * v0))
            .max(1e-300);
        FieldFigure {
            xs,
            ys,
            v,
            g,
            vmax,
            lo: report.grid.lo,
            hi: report.grid.hi,
            minimum: [report.minimum[0], report.minimum[1]],
            exit: report.exit_point.as_ref().map(|e| [e[0], e[1]]),
            v0: report.v0,
            path: path
                .unwrap_or(&[])
                .iter()
                .filter(|p| p.len() >= 2)
                .map(|p| (p[0], p[1]))
                .collect(),
            title: format!(
                "{}: quasi-potential V (OLIM, N = {}, K = {}){}",
                report.problem,
                report.grid.n,
                report.k,
                report
                    .v0
                    .map(|v| format!(", V0 = {v:.5}"))
                    .unwrap_or_default()
            ),
        }
    }
}

impl Figure for FieldFigure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let (plot, bar) = root.split_horizontally(root.dim_in_pixel().0.saturating_sub(110));
        let mut chart = ChartBuilder::on(&plot)
            .caption(&self.title, (FONT, 18))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(self.lo[0]..self.hi[0], self.lo[1]..self.hi[1])
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("x")
            .y_desc("y")
            .label_style((FONT, 14))
            .draw()
            .map_err(plot_err)?;
        let m = self.xs.len();
        let (dx, dy) = (
            0.5 * (self.xs[1] - self.xs[0]),
            0.5 * (self.ys[1] - self.ys[0]),
        );
        let grey = RGBColor(220, 220, 220);
        chart
            .draw_series((0..m * m).map(|k| {
                let (i, j) = (k % m, k / m);
                let v = self.v[k];
                let color = if v.is_finite() && v <= self.vmax {
                    viridis(v / self.vmax)
                } else if v.is_finite() {
                    viridis(1.0)
                } else {
                    grey
                };
                Rectangle::new(
                    [
                        (
                            (self.xs[i] - dx).max(self.lo[0]),
                            (self.ys[j] - dy).max(self.lo[1]),
                        ),
                        (
                            (self.xs[i] + dx).min(self.hi[0]),
                            (self.ys[j] + dy).min(self.hi[1]),
                        ),
                    ],
                    color.filled(),
                )
            }))
            .map_err(plot_err)?;
        let white = RGBColor(255, 255, 255).mix(0.7);
        for l in 1..12 {
            let c = self.vmax * l as f64 / 12.0;
            chart
                .draw_series(
                    contour(&self.xs, &self.ys, &self.v, c)
                        .into_iter()
                        .map(|s| PathElement::new(s.to_vec(), white.stroke_width(1))),
                )
                .map_err(plot_err)?;
        }
        if let Some(v0) = self.v0 {
            chart
                .draw_series(
                    contour(&self.xs, &self.ys, &self.v, v0)
                        .into_iter()
                        .map(|s| PathElement::new(s.to_vec(), WHITE.stroke_width(2))),
                )
                .map_err(plot_err)?
                .label(format!("V = V0 = {v0:.4}"))
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2))
                });
        }
        chart
            .draw_series(
                contour(&self.xs, &self.ys, &self.g, 0.0)
                    .into_iter()
                    .map(|s| PathElement::new(s.to_vec(), RED.stroke_width(3))),
            )
            .map_err(plot_err)?
            .label("∂D")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(3)));
        if self.path.len() >= 2 {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    self.path.clone(),
                    BLACK.stroke_width(2),
                )))
                .map_err(plot_err)?
                .label("minimum action path")
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2))
                });
        }
        chart
            .draw_series(std::iter::once(Cross::new(
                (self.minimum[0], self.minimum[1]),
                8,
                RED.stroke_width(3),
            )))
            .map_err(plot_err)?
            .label("θ*")
            .legend(|(x, y)| Cross::new((x + 10, y), 5, RED.stroke_width(2)));
        if let Some(e) = self.exit {
            chart
                .draw_series(std::iter::once(Circle::new(
                    (e[0], e[1]),
                    6,
                    WHITE.stroke_width(3),
                )))
                .map_err(plot_err)?
                .label("exit point")
                .legend(|(x, y)| Circle::new((x + 10, y), 5, BLACK.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font((FONT, 13))
            .draw()
            .map_err(plot_err)?;
        // Colour bar.
        let (bw, bh) = bar.dim_in_pixel();
        let top = 50i32;
        let bottom = bh as i32 - 50;
        let steps = 100;
        for s in 0..steps {
            let t0 = s as f64 / steps as f64;
            let y0 = bottom - ((bottom - top) as f64 * (s + 1) as f64 / steps as f64) as i32;
            let y1 = bottom - ((bottom - top) as f64 * t0) as i32;
            bar.draw(&Rectangle::new([(15, y0), (40, y1)], viridis(t0).filled()))
                .map_err(plot_err)?;
        }
        for l in 0..=4 {
            let t = l as f64 / 4.0;
            let y = bottom - ((bottom - top) as f64 * t) as i32;
            bar.draw(&Text::new(
                format!("{:.3}", t * self.vmax),
                (45, y - 7),
                (FONT, 13).into_font(),
            ))
            .map_err(plot_err)?;
        }
        bar.draw(&Text::new("V", (20, top - 25), (FONT, 15).into_font()))
            .map_err(plot_err)?;
        let _ = bw;
        Ok(())
    }
}
