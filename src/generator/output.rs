//! Output files of the generator solve: per noise level `T_eps{ε}.npy` (ε with `p` for the
//! decimal point, e.g. `T_eps0p5.npy`) (E_θ\[τ\] on the N grid,
//! N×N with row = y index in 2-D, 0 outside D), the axes `x.npy` (`y.npy`), optionally
//! `density_eps{ε}.npy` and `committor_eps{ε}.npy`, and the figure `mfpt_eps{ε}.png/.svg`: log₁₀ T as a heatmap with ∂D
//! and θ* (2-D), or T(x) on a log axis (1-D).

use super::{Level, Report};
use crate::error::{Error, Result};
use crate::plot::grid::{contour, viridis};
use crate::plot::{plot_err, save_figure, Figure, FONT};
use crate::problem::matrix_io::{write_array2_npy, write_vector_npy};
use crate::problem::Problem;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Write the arrays and figures of every level into `dir` (created if missing); returns the
/// paths written.
pub fn write_files(report: &Report, problem: &Problem, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Io {
        path: dir.display().to_string(),
        source: e,
    })?;
    let n = report.grid;
    let mut out = Vec::new();
    for l in &report.levels {
        let tag = eps_tag(l.eps);
        let g = l.grid(n);
        let write = |name: String, data: &[f64]| -> Result<PathBuf> {
            let p = dir.join(name);
            if report.dim == 1 {
                write_vector_npy(&p, data)?;
            } else {
                write_array2_npy(&p, n, n, data)?;
            }
            Ok(p)
        };
        out.push(write(format!("T_{tag}.npy"), &l.values)?);
        if let Some(rho) = &l.density {
            out.push(write(format!("density_{tag}.npy"), rho)?);
        }
        if let Some(q) = &l.committor {
            out.push(write(format!("committor_{tag}.npy"), q)?);
        }
        let axes: &[&str] = if report.dim == 1 { &["x"] } else { &["x", "y"] };
        for (k, name) in axes.iter().enumerate() {
            let p = dir.join(format!("{name}_{tag}.npy"));
            write_vector_npy(&p, &g.axis(k))?;
            out.push(p);
        }
        let fig = MfptFigure::new(report, l, problem);
        out.extend(save_figure(
            &fig,
            &dir.join(format!("mfpt_{tag}")),
            (900, 800),
        )?);
    }
    Ok(out)
}

/// `eps0p5` for ε = 0.5: the file-name tag of a noise level (no dot, so extensions stay intact).
pub fn eps_tag(eps: f64) -> String {
    format!("eps{eps}").replace('.', "p")
}

struct MfptFigure {
    dim: usize,
    xs: Vec<f64>,
    ys: Vec<f64>,
    /// log₁₀ T (NaN outside D) at (xs[i], ys[j]) as v[j·mx + i].
    v: Vec<f64>,
    /// Level function of D at the same nodes.
    g: Vec<f64>,
    lo: Vec<f64>,
    hi: Vec<f64>,
    minimum: Vec<f64>,
    title: String,
}

impl MfptFigure {
    fn new(report: &Report, l: &Level, problem: &Problem) -> Self {
        let n = report.grid;
        let g = l.grid(n);
        let stride = (n - 1).div_ceil(200).max(1);
        let mut idx: Vec<usize> = (0..n).step_by(stride).collect();
        if idx.last() != Some(&(n - 1)) {
            // Keep the last node: ∂D often lies on the box face.
            idx.push(n - 1);
        }
        let xa = g.axis(0);
        let xs: Vec<f64> = idx.iter().map(|&i| xa[i]).collect();
        let (ys, v, gl) = if report.dim == 1 {
            let v = idx
                .iter()
                .map(|&i| {
                    let t = l.values[i];
                    if t > 0.0 {
                        t.log10()
                    } else {
                        f64::NAN
                    }
                })
                .collect();
            (vec![0.0], v, Vec::new())
        } else {
            let ya = g.axis(1);
            let ys: Vec<f64> = idx.iter().map(|&j| ya[j]).collect();
            let mut v = Vec::new();
            let mut gl = Vec::new();
            for &j in &idx {
                for &i in &idx {
                    let t = l.values[j * n + i];
                    v.push(if t > 0.0 { t.log10() } else { f64::NAN });
                    gl.push(problem.domain.level(&[xa[i], ya[j]]));
                }
            }
            (ys, v, gl)
        };
        MfptFigure {
            dim: report.dim,
            xs,
            ys,
            v,
            g: gl,
            lo: l.box_lo.clone(),
            hi: l.box_hi.clone(),
            minimum: report.minimum.clone(),
            title: format!(
                "{}: E[τ] (generator, N = {}, ε = {}), E[τ](θ*) = {:.5e}",
                report.problem, n, l.eps, l.mean_exit_time
            ),
        }
    }
}

impl Figure for MfptFigure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let finite = self.v.iter().copied().filter(|v| v.is_finite());
        let vmax = finite.clone().fold(f64::NEG_INFINITY, f64::max);
        let vmin = finite.fold(f64::INFINITY, f64::min).max(vmax - 8.0);
        if self.dim == 1 {
            let mut chart = ChartBuilder::on(root)
                .caption(&self.title, (FONT, 18))
                .margin(15)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(self.lo[0]..self.hi[0], vmin..vmax + 0.1)
                .map_err(plot_err)?;
            chart
                .configure_mesh()
                .x_desc("x")
                .y_desc("log10 E_x[τ]")
                .label_style((FONT, 14))
                .draw()
                .map_err(plot_err)?;
            chart
                .draw_series(LineSeries::new(
                    self.xs
                        .iter()
                        .zip(&self.v)
                        .filter(|(_, v)| v.is_finite())
                        .map(|(x, v)| (*x, *v)),
                    BLUE.stroke_width(2),
                ))
                .map_err(plot_err)?;
            return Ok(());
        }
        let (plot, bar) = root.split_horizontally(root.dim_in_pixel().0.saturating_sub(110));
        let mut chart = ChartBuilder::on(&plot)
            .caption(&self.title, (FONT, 16))
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
        let (lo, hi) = (&self.lo, &self.hi);
        let span = (vmax - vmin).max(1e-12);
        chart
            .draw_series((0..m * m).map(|k| {
                let (i, j) = (k % m, k / m);
                let v = self.v[k];
                let color = if v.is_finite() {
                    viridis((v - vmin) / span)
                } else {
                    RGBColor(220, 220, 220)
                };
                Rectangle::new(
                    [
                        ((self.xs[i] - dx).max(lo[0]), (self.ys[j] - dy).max(lo[1])),
                        ((self.xs[i] + dx).min(hi[0]), (self.ys[j] + dy).min(hi[1])),
                    ],
                    color.filled(),
                )
            }))
            .map_err(plot_err)?;
        chart
            .draw_series(
                contour(&self.xs, &self.ys, &self.g, 0.0)
                    .into_iter()
                    .map(|s| PathElement::new(s.to_vec(), RED.stroke_width(3))),
            )
            .map_err(plot_err)?
            .label("∂D")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(3)));
        chart
            .draw_series(std::iter::once(Cross::new(
                (self.minimum[0], self.minimum[1]),
                8,
                RED.stroke_width(3),
            )))
            .map_err(plot_err)?
            .label("θ*")
            .legend(|(x, y)| Cross::new((x + 10, y), 5, RED.stroke_width(2)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font((FONT, 13))
            .draw()
            .map_err(plot_err)?;
        let (_, bh) = bar.dim_in_pixel();
        let (top, bottom) = (50i32, bh as i32 - 50);
        for s in 0..100 {
            let t0 = s as f64 / 100.0;
            let y0 = bottom - ((bottom - top) as f64 * (s + 1) as f64 / 100.0) as i32;
            let y1 = bottom - ((bottom - top) as f64 * t0) as i32;
            bar.draw(&Rectangle::new([(15, y0), (40, y1)], viridis(t0).filled()))
                .map_err(plot_err)?;
        }
        for l in 0..=4 {
            let t = l as f64 / 4.0;
            let y = bottom - ((bottom - top) as f64 * t) as i32;
            bar.draw(&Text::new(
                format!("{:.2}", vmin + t * span),
                (45, y - 7),
                (FONT, 13).into_font(),
            ))
            .map_err(plot_err)?;
        }
        bar.draw(&Text::new("log10 T", (5, top - 25), (FONT, 15).into_font()))
            .map_err(plot_err)?;
        Ok(())
    }
}
