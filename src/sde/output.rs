//! Result files of the Monte Carlo engine and its figures.
//!
//! [`write_files`] writes into `dir`:
//! * `exit_trajectories.csv` — one row per trajectory: `level,eps,index,status,steps,time,x0..`
//!   (status `exited`, `censored` or `interrupted`; time = steps·h; x the exit point, or the last
//!   point of a censored trajectory);
//! * `exit_summary.csv` — one row per noise level with the estimates and intervals;
//! * `exit_report.json` — the whole [`Report`];
//! * `exit_points_eps{ℓ}.npy` — the exit points of level ℓ, shape (exits, d);
//! * figures (PNG + SVG): `arrhenius` (ln E\[τ\] against 1/ε² with 95 % bars, the fitted line and
//!   the line of the reference slope V₀), `exit_time_histogram_eps{ℓ}` (exit-time density against
//!   the exponential law of the same mean), and `exit_points` (d = 2: exit points and ∂D).
//!
//! Each file is replaced atomically ([`crate::io_atomic`]): a run killed while writing leaves
//! the previous version of a file or the new one, never a torn file.

use super::kernel::Status;
use super::Report;
use crate::error::{Error, Result};
use crate::io_atomic::write as write_atomic;
use crate::plot::{plot_err, save_figure, Figure, FONT};
use crate::problem::matrix_io::write_array2_npy;
use crate::problem::Problem;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Io {
        path: path.display().to_string(),
        source: e,
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or(String::new(), |x| format!("{x:?}"))
}

/// Write the engine's result files into `dir` (created if needed); returns the paths written.
pub fn write_files(report: &Report, problem: &Problem, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut written = Vec::new();
    let d = report.dim;

    // Per-trajectory CSV.
    let path = dir.join("exit_trajectories.csv");
    let mut s = String::from("level,eps,index,status,steps,time");
    for i in 0..d {
        let _ = write!(s, ",x{i}");
    }
    s.push('\n');
    for (l, ts) in report.trajectories.iter().enumerate() {
        let eps = report.config.eps[l];
        for t in ts {
            let _ = write!(
                s,
                "{l},{eps:?},{},{},{},{:?}",
                t.index,
                t.status.name(),
                t.steps,
                t.steps as f64 * report.dt
            );
            for v in &t.point {
                let _ = write!(s, ",{v:?}");
            }
            s.push('\n');
        }
    }
    write_atomic(&path, s)?;
    written.push(path);

    // Summary CSV.
    let path = dir.join("exit_summary.csv");
    let mut s = String::from(
        "eps,inv_eps2,batch,runs,exited,censored,interrupted,not_run,estimator,mean_exit_time,ci95_lo,ci95_hi,bootstrap_lo,bootstrap_hi,mean_lower_bound,median,mean_iterations\n",
    );
    for l in &report.levels {
        let st = &l.stats;
        let _ = writeln!(
            s,
            "{:?},{:?},{},{},{},{},{},{},{:?},{},{},{},{},{},{:?},{},{}",
            l.eps,
            l.inv_eps2,
            opt(l.batch),
            l.runs,
            l.exited,
            l.censored,
            l.interrupted,
            l.not_run,
            st.estimator,
            opt(st.mean),
            opt(st.ci95.map(|c| c[0])),
            opt(st.ci95.map(|c| c[1])),
            opt(st.ci95_bootstrap.map(|c| c[0])),
            opt(st.ci95_bootstrap.map(|c| c[1])),
            st.mean_lower_bound,
            opt(st.median),
            opt(l.mean_iterations),
        );
    }
    write_atomic(&path, s)?;
    written.push(path);

    let path = dir.join("exit_report.json");
    let json = serde_json::to_string_pretty(report)
        .map_err(|e| Error::numerical("exit report JSON", e.to_string()))?;
    write_atomic(&path, json)?;
    written.push(path);

    // Exit points.
    for (l, ts) in report.trajectories.iter().enumerate() {
        let pts: Vec<f64> = ts
            .iter()
            .filter(|t| t.status == Status::Exited)
            .flat_map(|t| t.point.iter().copied())
            .collect();
        let path = dir.join(format!("exit_points_eps{l}.npy"));
        write_array2_npy(&path, pts.len() / d.max(1), d, &pts)?;
        written.push(path);
    }

    // Figures.
    if let Some(fit) = &report.arrhenius {
        let fig = ArrheniusFigure {
            report,
            fit,
            v0: report
                .v0_reference
                .as_ref()
                .map(|r| (r.v0, r.source.clone())),
        };
        written.extend(save_figure(&fig, &dir.join("arrhenius"), (900, 650))?);
    }
    for (l, level) in report.levels.iter().enumerate() {
        if level.stats.exited > 0 {
            let fig = HistogramFigure { report, level: l };
            written.extend(save_figure(
                &fig,
                &dir.join(format!("exit_time_histogram_eps{l}")),
                (900, 650),
            )?);
        }
    }
    if d == 2 && report.levels.iter().any(|l| l.exited > 0) {
        let fig = ExitPointsFigure { report, problem };
        written.extend(save_figure(&fig, &dir.join("exit_points"), (800, 800))?);
    }
    Ok(written)
}

fn padded(lo: f64, hi: f64) -> (f64, f64) {
    let w = (hi - lo).abs().max(1e-12 * hi.abs().max(1.0));
    (lo - 0.08 * w, hi + 0.08 * w)
}

struct ArrheniusFigure<'a> {
    report: &'a Report,
    fit: &'a crate::analysis::ArrheniusFit,
    v0: Option<(f64, String)>,
}

impl Figure for ArrheniusFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let pts: Vec<(f64, f64, f64, f64)> = self
            .fit
            .points
            .iter()
            .map(|p| {
                let y = p.y(self.fit.prefactor_exponent);
                let e = crate::analysis::stats::Z95 * p.log_se;
                (1.0 / (p.eps * p.eps), y, y - e, y + e)
            })
            .collect();
        let (xl, xh) = padded(
            pts.iter().map(|p| p.0).fold(f64::INFINITY, f64::min),
            pts.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max),
        );
        let (yl, yh) = padded(
            pts.iter().map(|p| p.2).fold(f64::INFINITY, f64::min),
            pts.iter().map(|p| p.3).fold(f64::NEG_INFINITY, f64::max),
        );
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!(
                    "{}: Arrhenius fit, slope V0 = {:.4} ± {:.4} (95%)",
                    self.report.problem,
                    self.fit.slope,
                    0.5 * (self.fit.slope_ci95[1] - self.fit.slope_ci95[0])
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
            .y_desc(if self.fit.prefactor_exponent == 0.0 {
                "ln E[τ]".to_string()
            } else {
                format!("ln E[τ] − {} ln ε", self.fit.prefactor_exponent)
            })
            .label_style((FONT, 14))
            .draw()
            .map_err(plot_err)?;
        let f = self.fit;
        chart
            .draw_series(LineSeries::new(
                [(xl, f.line(xl)), (xh, f.line(xh))],
                BLUE.stroke_width(2),
            ))
            .map_err(plot_err)?
            .label(format!(
                "fit: ln A = {:.3}, slope {:.4}",
                f.intercept, f.slope
            ))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
        if let Some((v0, src)) = &self.v0 {
            let (a, b) = f.predicted_line(*v0);
            chart
                .draw_series(LineSeries::new(
                    [(xl, a + b * xl), (xh, a + b * xh)],
                    RED.stroke_width(2),
                ))
                .map_err(plot_err)?
                .label(format!("reference V0 = {v0:.4} ({src})"))
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
        }
        for &(x, y, lo, hi) in &pts {
            let w = 0.01 * (xh - xl);
            chart
                .draw_series([
                    PathElement::new(vec![(x, lo), (x, hi)], BLACK),
                    PathElement::new(vec![(x - w, lo), (x + w, lo)], BLACK),
                    PathElement::new(vec![(x - w, hi), (x + w, hi)], BLACK),
                ])
                .map_err(plot_err)?;
            chart
                .draw_series([Circle::new((x, y), 4, BLACK.filled())])
                .map_err(plot_err)?;
        }
        chart
            .configure_series_labels()
            .label_font((FONT, 14))
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(plot_err)?;
        Ok(())
    }
}

struct HistogramFigure<'a> {
    report: &'a Report,
    level: usize,
}

impl Figure for HistogramFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let l = &self.report.levels[self.level];
        let h = &l.stats.histogram;
        let n = l.runs.max(1) as f64;
        let width = h.edges[1] - h.edges[0];
        // Density estimate: counts / (n · width) (censored trajectories count in n, so the
        // bars integrate to the fraction that exited below the last edge).
        let dens: Vec<f64> = h.counts.iter().map(|&c| c as f64 / (n * width)).collect();
        let mean = l.stats.mean.unwrap_or(f64::NAN);
        let top = dens
            .iter()
            .cloned()
            .fold(if mean > 0.0 { 1.0 / mean } else { 0.0 }, f64::max)
            * 1.1;
        let xh = *h.edges.last().unwrap_or(&1.0);
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!(
                    "{}: exit times at ε = {} ({} exits, {} censored)",
                    self.report.problem,
                    l.eps,
                    l.exited,
                    l.censored + l.interrupted
                ),
                (FONT, 20),
            )
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..xh, 0.0..top.max(1e-300))
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("τ")
            .y_desc("density")
            .label_style((FONT, 14))
            .draw()
            .map_err(plot_err)?;
        chart
            .draw_series(dens.iter().enumerate().map(|(i, &v)| {
                Rectangle::new(
                    [(h.edges[i], 0.0), (h.edges[i + 1], v)],
                    BLUE.mix(0.4).filled(),
                )
            }))
            .map_err(plot_err)?
            .label("simulated")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], BLUE.mix(0.4).filled()));
        if mean > 0.0 {
            let curve: Vec<(f64, f64)> = (0..=200)
                .map(|k| {
                    let t = xh * k as f64 / 200.0;
                    (t, (-t / mean).exp() / mean)
                })
                .collect();
            chart
                .draw_series(LineSeries::new(curve, RED.stroke_width(2)))
                .map_err(plot_err)?
                .label(format!("exponential, mean {mean:.4}"))
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .label_font((FONT, 14))
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(plot_err)?;
        Ok(())
    }
}

struct ExitPointsFigure<'a> {
    report: &'a Report,
    problem: &'a Problem,
}

/// ∂D along rays from θ* (d = 2): for each angle, the first sign change of the level function,
/// refined by bisection; rays that do not leave D within `reach` are skipped.
fn boundary_curve(problem: &Problem, reach: f64) -> Vec<Vec<(f64, f64)>> {
    let c = &problem.minimum;
    let dom = &problem.domain;
    let mut pieces = vec![Vec::new()];
    for k in 0..=360 {
        let a = std::f64::consts::TAU * k as f64 / 360.0;
        let dir = [a.cos(), a.sin()];
        let at = |t: f64| dom.level(&[c[0] + t * dir[0], c[1] + t * dir[1]]);
        let mut lo = 0.0;
        let mut hi = reach / 256.0;
        while hi <= reach && at(hi) < 0.0 {
            lo = hi;
            hi *= 1.5;
        }
        if hi > reach {
            if !pieces.last().is_some_and(|p: &Vec<_>| p.is_empty()) {
                pieces.push(Vec::new());
            }
            continue;
        }
        for _ in 0..60 {
            let m = 0.5 * (lo + hi);
            if at(m) < 0.0 {
                lo = m;
            } else {
                hi = m;
            }
        }
        let t = 0.5 * (lo + hi);
        if let Some(p) = pieces.last_mut() {
            p.push((c[0] + t * dir[0], c[1] + t * dir[1]));
        }
    }
    pieces.retain(|p| p.len() > 1);
    pieces
}

impl Figure for ExitPointsFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let pts: Vec<Vec<(f64, f64)>> = self
            .report
            .trajectories
            .iter()
            .map(|ts| {
                ts.iter()
                    .filter(|t| t.status == Status::Exited)
                    .map(|t| (t.point[0], t.point[1]))
                    .collect()
            })
            .collect();
        let all = pts.iter().flatten();
        let c = &self.problem.minimum;
        let (mut xl, mut xh, mut yl, mut yh) = (c[0], c[0], c[1], c[1]);
        for &(x, y) in all {
            xl = xl.min(x);
            xh = xh.max(x);
            yl = yl.min(y);
            yh = yh.max(y);
        }
        let reach = 4.0 * ((xh - xl).max(yh - yl)).max(1e-9);
        let curve = boundary_curve(self.problem, reach);
        for p in curve.iter().flatten() {
            xl = xl.min(p.0);
            xh = xh.max(p.0);
            yl = yl.min(p.1);
            yh = yh.max(p.1);
        }
        let (xl, xh) = padded(xl, xh);
        let (yl, yh) = padded(yl, yh);
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("{}: exit points on ∂D", self.report.problem),
                (FONT, 20),
            )
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(xl..xh, yl..yh)
            .map_err(plot_err)?;
        let names = &self.problem.variables;
        chart
            .configure_mesh()
            .x_desc(names.first().cloned().unwrap_or_else(|| "x0".into()))
            .y_desc(names.get(1).cloned().unwrap_or_else(|| "x1".into()))
            .label_style((FONT, 14))
            .draw()
            .map_err(plot_err)?;
        for (k, piece) in curve.into_iter().enumerate() {
            let s = chart
                .draw_series(LineSeries::new(piece, BLACK.stroke_width(2)))
                .map_err(plot_err)?;
            if k == 0 {
                s.label("∂D")
                    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
            }
        }
        for (l, p) in pts.iter().enumerate() {
            let color = Palette99::pick(l).to_rgba();
            chart
                .draw_series(
                    p.iter()
                        .map(|&q| Circle::new(q, 2, color.mix(0.5).filled())),
                )
                .map_err(plot_err)?
                .label(format!("ε = {:.4}", self.report.levels[l].eps))
                .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
        }
        // The predicted exit channels (minimisers of V on ∂D), for the histogram of exits
        // against them (the fractions are in the report's exit diagnostics).
        let channels: Vec<(f64, f64)> =
            crate::analysis::exit_diagnostics::predicted_channels(self.problem)
                .into_iter()
                .filter(|x| x.len() == 2 && x.iter().all(|v| v.is_finite()))
                .map(|x| (x[0], x[1]))
                .filter(|&(x, y)| (xl..=xh).contains(&x) && (yl..=yh).contains(&y))
                .collect();
        if !channels.is_empty() {
            chart
                .draw_series(
                    channels
                        .iter()
                        .map(|&q| TriangleMarker::new(q, 9, BLACK.stroke_width(2))),
                )
                .map_err(plot_err)?
                .label("predicted exit channel")
                .legend(|(x, y)| TriangleMarker::new((x + 10, y), 6, BLACK.stroke_width(2)));
        }
        chart
            .draw_series([Cross::new((c[0], c[1]), 6, RED.stroke_width(2))])
            .map_err(plot_err)?
            .label("θ*")
            .legend(|(x, y)| Cross::new((x + 10, y), 5, RED.stroke_width(2)));
        chart
            .configure_series_labels()
            .label_font((FONT, 14))
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(plot_err)?;
        Ok(())
    }
}
