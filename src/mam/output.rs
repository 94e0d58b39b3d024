//! Output files of the minimum action engine: the optimal path(s) as `.npy` and `.csv`, the
//! report as JSON, and a figure of the path over contours.

#![allow(clippy::needless_range_loop)] // index loops mirror the formulas in the kernels

use super::Report;
use crate::error::{Error, Result};
use crate::linalg::{symmetric_eigen, Matrix};
use crate::plot::{plot_err, save_figure, Figure, FONT};
use crate::problem::matrix_io::write_array2_npy;
use crate::problem::{Problem, ScalarField};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::fmt::Write as _;
use std::path::{Path as FsPath, PathBuf};

fn io_err(path: &FsPath, e: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source: e,
    }
}

fn write_text(path: &FsPath, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| io_err(path, e))
}

/// Write into `dir` (created if missing):
/// - `path.npy` (n×d) and `path.csv` (header: the variable names): the least-action path;
/// - `channels.csv`: every distinct exit channel (action, error estimate, nodes, the number of
///   other coarse exit points on a continuum of equal action with it, exit point);
/// - for each fixed T, `path_T<k>.npy` (n×(1+d), time first) and `path_T<k>.csv`, and
///   `action_vs_time.csv` (T, min S_T, error estimate);
/// - `gmam.json`: the whole report;
/// - `path.png` / `path.svg`: the path(s) over contours of L − L(θ*) (gradient drift) or of
///   |b| (otherwise) with ∂D in black; for d > 2 everything is drawn in the plane through θ*
///   spanned by the two principal directions of the optimal path.
///
/// Returns the paths written.
pub fn write_files(report: &Report, problem: &Problem, dir: &FsPath) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let mut out = Vec::new();
    let d = report.dim;
    let header = problem.variables.join(",");
    let path = report.path();
    let f = dir.join("path.npy");
    write_array2_npy(&f, path.len(), d, &path.nodes)?;
    out.push(f);
    let mut csv = format!("{header}\n");
    for i in 0..path.len() {
        csv.push_str(&join(path.node(i)));
        csv.push('\n');
    }
    let f = dir.join("path.csv");
    write_text(&f, &csv)?;
    out.push(f);

    let mut csv = format!(
        "channel,action,error_estimate,points,continuum_points,{}\n",
        problem
            .variables
            .iter()
            .map(|v| format!("exit_{v}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    for (k, c) in report.channels.iter().enumerate() {
        let _ = writeln!(
            csv,
            "{k},{},{},{},{},{}",
            c.result.action,
            c.result.error_estimate,
            c.result.points,
            c.continuum.len(),
            join(&c.result.exit_point)
        );
    }
    let f = dir.join("channels.csv");
    write_text(&f, &csv)?;
    out.push(f);

    if !report.fixed_time.is_empty() {
        let mut curve = String::from("time,action,error_estimate\n");
        for (k, ft) in report.fixed_time.iter().enumerate() {
            let _ = writeln!(
                curve,
                "{},{},{}",
                ft.time, ft.result.action, ft.result.error_estimate
            );
            let p = &ft.result.path;
            let mut data = Vec::with_capacity(p.len() * (d + 1));
            let mut csv = format!("t,{header}\n");
            for i in 0..p.len() {
                data.push(ft.times[i]);
                data.extend_from_slice(p.node(i));
                let _ = writeln!(csv, "{},{}", ft.times[i], join(p.node(i)));
            }
            let f = dir.join(format!("path_T{k}.npy"));
            write_array2_npy(&f, p.len(), d + 1, &data)?;
            out.push(f);
            let f = dir.join(format!("path_T{k}.csv"));
            write_text(&f, &csv)?;
            out.push(f);
        }
        let f = dir.join("action_vs_time.csv");
        write_text(&f, &curve)?;
        out.push(f);
    }

    let f = dir.join("gmam.json");
    let json = serde_json::to_string_pretty(report)
        .map_err(|e| Error::numerical("json", e.to_string()))?;
    write_text(&f, &json)?;
    out.push(f);

    // A figure needs a plane: for d = 1 the CSV/.npy files are the output.
    if report.dim >= 2 {
        let fig = PathFigure::new(report, problem)?;
        out.extend(save_figure(&fig, &dir.join("path"), (900, 760))?);
    }
    Ok(out)
}

fn join(x: &[f64]) -> String {
    x.iter()
        .map(|v| format!("{v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The path figure, precomputed in plane coordinates.
struct PathFigure {
    title: String,
    labels: (String, String),
    x_range: (f64, f64),
    y_range: (f64, f64),
    field_label: String,
    contours: Vec<[(f64, f64); 2]>,
    boundary: Vec<[(f64, f64); 2]>,
    paths: Vec<(String, Vec<(f64, f64)>)>,
    minimum: (f64, f64),
}

impl PathFigure {
    fn new(report: &Report, problem: &Problem) -> Result<Self> {
        let d = report.dim;
        let theta = &problem.minimum;
        let best = report.path();
        // Plane: origin o, directions e1, e2 (axes for d = 2, principal directions otherwise).
        let (origin, e1, e2, labels) = if d == 2 {
            (
                vec![0.0, 0.0],
                vec![1.0, 0.0],
                vec![0.0, 1.0],
                (problem.variables[0].clone(), problem.variables[1].clone()),
            )
        } else {
            let mut c = Matrix::zeros(d);
            for i in 0..best.len() {
                let x = best.node(i);
                for a in 0..d {
                    for b in 0..d {
                        c.data[a * d + b] += (x[a] - theta[a]) * (x[b] - theta[b]);
                    }
                }
            }
            let (_, v) = symmetric_eigen(&c, "path covariance")?;
            let e1: Vec<f64> = (0..d).map(|i| v[(i, d - 1)]).collect();
            let e2: Vec<f64> = (0..d).map(|i| v[(i, d - 2)]).collect();
            (
                theta.clone(),
                e1,
                e2,
                (
                    "principal direction 1".into(),
                    "principal direction 2".into(),
                ),
            )
        };
        let proj = |x: &[f64]| -> (f64, f64) {
            let mut s = (0.0, 0.0);
            for k in 0..d {
                s.0 += e1[k] * (x[k] - origin[k]);
                s.1 += e2[k] * (x[k] - origin[k]);
            }
            s
        };
        let lift = |s: f64, t: f64, x: &mut [f64]| {
            for k in 0..d {
                x[k] = origin[k] + s * e1[k] + t * e2[k];
            }
        };
        let mut paths = Vec::new();
        for (k, c) in report.channels.iter().enumerate() {
            let p = &c.result.path;
            let pts: Vec<(f64, f64)> = (0..p.len()).map(|i| proj(p.node(i))).collect();
            paths.push((format!("channel {k}: S = {:.6}", c.result.action), pts));
        }
        for ft in &report.fixed_time {
            let p = &ft.result.path;
            let pts: Vec<(f64, f64)> = (0..p.len()).map(|i| proj(p.node(i))).collect();
            paths.push((
                format!("T = {}: S_T = {:.6}", ft.time, ft.result.action),
                pts,
            ));
        }
        let minimum = proj(theta);
        // Extent: the paths, and D's box when it is known (d = 2), padded.
        let (mut lo, mut hi) = ((minimum.0, minimum.1), (minimum.0, minimum.1));
        for (_, pts) in &paths {
            for &(a, b) in pts {
                lo = (lo.0.min(a), lo.1.min(b));
                hi = (hi.0.max(a), hi.1.max(b));
            }
        }
        if d == 2 {
            if let Some((blo, bhi)) = problem.domain.bounding_box() {
                lo = (lo.0.min(blo[0]), lo.1.min(blo[1]));
                hi = (hi.0.max(bhi[0]), hi.1.max(bhi[1]));
            }
        }
        let span = (hi.0 - lo.0).max(hi.1 - lo.1).max(1e-6);
        let pad = 0.15 * span;
        let x_range = (lo.0 - pad, hi.0 + pad);
        let y_range = (lo.1 - pad, hi.1 + pad);
        // Grids of the field and of the domain's level function.
        let m = 120;
        let mut x = vec![0.0; d];
        let mut b = vec![0.0; d];
        let base = problem.loss.as_ref().map(|l| l.value(theta));
        let mut field = vec![0.0; (m + 1) * (m + 1)];
        let mut level = vec![0.0; (m + 1) * (m + 1)];
        for j in 0..=m {
            for i in 0..=m {
                let s = x_range.0 + (x_range.1 - x_range.0) * i as f64 / m as f64;
                let t = y_range.0 + (y_range.1 - y_range.0) * j as f64 / m as f64;
                lift(s, t, &mut x);
                field[j * (m + 1) + i] = match (&problem.loss, base) {
                    (Some(l), Some(b0)) => l.value(&x) - b0,
                    _ => {
                        b.copy_from_slice(&problem.drift.eval(&x));
                        crate::linalg::norm(&b)
                    }
                };
                level[j * (m + 1) + i] = problem.domain.level(&x);
            }
        }
        let fmax = field
            .iter()
            .cloned()
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max);
        let fmin = field
            .iter()
            .cloned()
            .filter(|v| v.is_finite())
            .fold(f64::INFINITY, f64::min);
        let mut contours = Vec::new();
        for k in 1..=12 {
            // Levels denser near the minimum (quadratic spacing).
            let c = fmin + (fmax - fmin) * (k as f64 / 13.0).powi(2);
            marching_squares(&field, m, x_range, y_range, c, &mut contours);
        }
        let mut boundary = Vec::new();
        marching_squares(&level, m, x_range, y_range, 0.0, &mut boundary);
        let field_label = if problem.loss.is_some() {
            "contours: L − L(θ*)"
        } else {
            "contours: |b|"
        };
        Ok(PathFigure {
            title: format!(
                "{}: {} = {:.6} ± {:.1e} ({} weight)",
                report.problem,
                if report.v0.is_some() { "V0" } else { "V" },
                report.action,
                report.error_estimate,
                report.weight
            ),
            labels,
            x_range,
            y_range,
            field_label: field_label.into(),
            contours,
            boundary,
            paths,
            minimum,
        })
    }
}

/// Line segments of the level set {f = c} of a (m+1)² grid over the given ranges.
fn marching_squares(
    f: &[f64],
    m: usize,
    xr: (f64, f64),
    yr: (f64, f64),
    c: f64,
    out: &mut Vec<[(f64, f64); 2]>,
) {
    let px = |i: f64| xr.0 + (xr.1 - xr.0) * i / m as f64;
    let py = |j: f64| yr.0 + (yr.1 - yr.0) * j / m as f64;
    let at = |i: usize, j: usize| f[j * (m + 1) + i] - c;
    for j in 0..m {
        for i in 0..m {
            let v = [at(i, j), at(i + 1, j), at(i + 1, j + 1), at(i, j + 1)];
            if v.iter().any(|x| !x.is_finite()) {
                continue;
            }
            let corners = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)];
            let mut pts = Vec::with_capacity(4);
            for e in 0..4 {
                let (a, b) = (v[e], v[(e + 1) % 4]);
                if (a < 0.0) != (b < 0.0) {
                    let t = a / (a - b);
                    let (p, q) = (corners[e], corners[(e + 1) % 4]);
                    pts.push((
                        px(i as f64 + p.0 + t * (q.0 - p.0)),
                        py(j as f64 + p.1 + t * (q.1 - p.1)),
                    ));
                }
            }
            if pts.len() >= 2 {
                out.push([pts[0], pts[1]]);
            }
            if pts.len() == 4 {
                out.push([pts[2], pts[3]]);
            }
        }
    }
}

impl Figure for PathFigure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FONT, 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(
                self.x_range.0..self.x_range.1,
                self.y_range.0..self.y_range.1,
            )
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(&self.labels.0)
            .y_desc(&self.labels.1)
            .label_style((FONT, 14))
            .draw()
            .map_err(plot_err)?;
        let grey = RGBColor(170, 185, 205);
        chart
            .draw_series(
                self.contours
                    .iter()
                    .map(|s| PathElement::new(vec![s[0], s[1]], grey.stroke_width(1))),
            )
            .map_err(plot_err)?
            .label(self.field_label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], grey.stroke_width(2))
            });
        chart
            .draw_series(
                self.boundary
                    .iter()
                    .map(|s| PathElement::new(vec![s[0], s[1]], BLACK.stroke_width(2))),
            )
            .map_err(plot_err)?
            .label("boundary of D")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(2)));
        for (k, (label, pts)) in self.paths.iter().enumerate() {
            let color = Palette99::pick(k).to_rgba();
            chart
                .draw_series(LineSeries::new(pts.iter().cloned(), color.stroke_width(2)))
                .map_err(plot_err)?
                .label(label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            if let Some(&end) = pts.last() {
                chart
                    .draw_series(std::iter::once(Circle::new(end, 4, color.filled())))
                    .map_err(plot_err)?;
            }
        }
        chart
            .draw_series(std::iter::once(Cross::new(
                self.minimum,
                6,
                BLACK.stroke_width(2),
            )))
            .map_err(plot_err)?
            .label("θ*")
            .legend(|(x, y)| Cross::new((x + 9, y), 5, BLACK.stroke_width(2)));
        chart
            .configure_series_labels()
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(plot_err)?;
        Ok(())
    }
}
