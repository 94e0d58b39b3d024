//! `quasipot lemma4`: the paper's Lemma 4 gap, its bound factor and the implied constant A.

use super::output::{table, Output};
use super::{build_options, Global};
use crate::analysis::lemma4::{lemma4, Lemma4Report};
use crate::plot::{plot_err, save_figure, Figure, FONT};
use crate::problem::ProblemSpec;
use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::json;

/// Arguments of `quasipot lemma4`.
#[derive(Debug, clap::Args)]
pub struct Lemma4Args {
    /// Built-in problem name or TOML file (gradient drift).
    pub problem: String,
    /// A family: keep H*'s eigenvectors, spread its spectrum geometrically over [λ_min, κ·λ_min]
    /// for each κ (quadratic problems only), e.g. --kappa 1,2,4,8,16.
    #[arg(long, value_delimiter = ',', value_name = "K1,K2,..")]
    pub kappa: Option<Vec<f64>>,
    /// Noise covariance: hessian-at-minimum (C ≡ H*) or hessian (C = ∇²L(θ)).
    #[arg(long, default_value = "hessian-at-minimum")]
    pub noise: String,
}

struct GapFigure<'a>(&'a Lemma4Report);

impl Figure for GapFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> crate::Result<()>
    where
        DB::ErrorType: 'static,
    {
        let rows = &self.0.rows;
        let xmax = rows.iter().map(|r| r.bound_factor).fold(1e-12, f64::max) * 1.1;
        let ymax = rows.iter().map(|r| r.gap).fold(1e-12, f64::max) * 1.1;
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Lemma 4: gap |V0 − λmax^-1/2·V̂0| vs bound factor",
                (FONT, 20),
            )
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..xmax, 0.0..ymax)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("λmin^1/2 (κ^1/2 − 1)")
            .y_desc("gap")
            .label_style((FONT, 13))
            .draw()
            .map_err(plot_err)?;
        chart
            .draw_series(
                rows.iter()
                    .map(|r| Circle::new((r.bound_factor, r.gap), 5, BLUE.filled())),
            )
            .map_err(plot_err)?
            .label("measured gap")
            .legend(|(x, y)| Circle::new((x, y), 5, BLUE.filled()));
        if let Some(a) = self.0.max_implied_a {
            chart
                .draw_series(LineSeries::new(
                    vec![(0.0, 0.0), (xmax, a * xmax)],
                    RED.stroke_width(2),
                ))
                .map_err(plot_err)?
                .label(format!("A·factor, A = {a:.3}"))
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font((FONT, 13))
            .draw()
            .map_err(plot_err)?;
        Ok(())
    }
}

/// `quasipot lemma4`.
pub fn run(args: &Lemma4Args, g: &Global, out: &Output) -> Result<i32> {
    let opts = build_options(g)?;
    let (spec, base) = ProblemSpec::load_with_parameters(&args.problem, &opts.parameters)?;
    if g.weight.is_some() {
        return Err(anyhow!(crate::Error::invalid(
            "--weight",
            "lemma4 always uses weight inverse-sqrt (the paper's Definition 4); drop --weight"
        )));
    }
    let report = lemma4(&spec, &base, &args.noise, args.kappa.as_deref(), &opts)?;
    let rows: Vec<Vec<String>> = report
        .rows
        .iter()
        .map(|r| {
            vec![
                format!("{:.4}", r.kappa),
                format!("{:.5e}", r.lambda_max),
                format!("{:.9}", r.v0),
                format!("{:.9}", r.proxy),
                format!("{:.3e}", r.gap),
                format!("{:.5e}", r.bound_factor),
                r.implied_a
                    .map(|a| format!("{a:.4e}"))
                    .unwrap_or_else(|| "—".into()),
                r.method.clone(),
            ]
        })
        .collect();
    let mut human = format!(
        "Lemma 4 on {} (weight inverse-sqrt, noise {}): gap = |V0 − λ_max^-1/2·V̂0| ≤ A·λ_min^1/2(κ^1/2 − 1)\n\n",
        args.problem, report.noise
    );
    human.push_str(&table(
        &[
            "κ",
            "λ_max",
            "V0",
            "proxy λmax^-½V̂0",
            "gap",
            "bound factor",
            "implied A",
            "method",
        ],
        &rows,
    ));
    if let Some(a) = report.max_implied_a {
        human.push_str(&format!("\nlargest implied A = {a:.6e}\n"));
    }
    let mut files = Vec::new();
    if let Some(dir) = out.dir()? {
        files = save_figure(&GapFigure(&report), &dir.join("lemma4"), (800, 600))?;
    }
    let js = json!({"problem": args.problem, "lemma4": report, "files": files});
    out.finish(&human, &js)?;
    Ok(0)
}
