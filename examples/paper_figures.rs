//! Reproduce the paper's Figures 5, 6 and 7 on the `mlp` problem (iris, width 8, λ = 1e-2, d = 49).
//!
//! Four sweeps — sharpness α (L(√α θ)), learning rate η, batch size B, depth β (βL) — around
//! η = 0.3, B = 32, D = {½(θ−θ*)ᵀH*(θ−θ*) < ΔL}, ΔL = 0.005, each with Gaussian SGD (eq. 2,
//! C = C*·(N−B)/(N−1)), the proximal system (eq. 4, C = c·I) and minibatch SGD (eq. 1). Exit
//! times span about 1e2–2e4 iterations.
//!
//! Writes into DIR (default `paper_figures/`):
//! - `figure5_gaussian_sgd.png/svg`, `figure6_proximal.png/svg`, `figure7_minibatch_sgd.png/svg`:
//!   the paper's layout, one method, four panels (α, η, B, β), points with 95% CI bars and the
//!   predicted curves of both weights;
//! - `scaling_<vary>.{csv,json,png,svg}` per sweep (all methods);
//! - `paper_figures.md`: the fitted slopes beside the predictions, and every point.
//!
//! cargo run --release --example paper_figures -- [DIR] [RUNS]   (RUNS per point, default 100)

use quasipot::analysis::scaling::{scaling, Method, ScalingConfig, Target, Vary};
use quasipot::plot::save_figure;
use quasipot::plot::scaling::{fits_markdown, points_markdown, write_files, MethodFigure};
use quasipot::problem::mlp::MlpConfig;
use std::path::PathBuf;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(args.first().map_or("paper_figures", |s| s.as_str()));
    let runs: usize = args.get(1).map_or(Ok(100), |s| s.parse())?;
    std::fs::create_dir_all(&dir)?;
    let start = Instant::now();
    let target = Target::Mlp(MlpConfig::default());
    let mut reports = Vec::new();
    for vary in Vary::ALL {
        let t = Instant::now();
        let config = ScalingConfig {
            vary,
            // Around η = 0.3, B = 32, ΔL = 0.005: E[ν] from ~1e2 to ~2e4 iterations.
            values: Some(match vary {
                Vary::Sharpness => vec![0.85, 0.95, 1.05, 1.15, 1.3],
                Vary::Lr => vec![0.25, 0.28, 0.31, 0.35, 0.4],
                Vary::Batch => vec![24.0, 28.0, 32.0, 36.0, 40.0],
                Vary::Depth => vec![0.85, 0.95, 1.05, 1.15, 1.3],
            }),
            runs,
            max_steps: 200_000,
            seed: 1,
            ..ScalingConfig::default()
        };
        let r = scaling(&target, &config, &|_, _| {})?;
        write_files(&r, &dir)?;
        eprintln!(
            "sweep {:>9}: {:.1} s",
            vary.name(),
            t.elapsed().as_secs_f64()
        );
        reports.push(r);
    }
    for (method, stem, title) in [
        (
            Method::GaussianSgd,
            "figure5_gaussian_sgd",
            "Figure 5: Gaussian SGD (eq. 2, C = C*·(N−B)/(N−1)) on mlp/iris",
        ),
        (
            Method::Proximal,
            "figure6_proximal",
            "Figure 6: proximal system (eq. 4, C = c·I) on mlp/iris",
        ),
        (
            Method::MinibatchSgd,
            "figure7_minibatch_sgd",
            "Figure 7: minibatch SGD (eq. 1) on mlp/iris",
        ),
    ] {
        save_figure(
            &MethodFigure {
                reports: &reports,
                method,
                title: title.into(),
            },
            &dir.join(stem),
            (1200, 900),
        )?;
    }
    let r0 = &reports[0];
    let mut md = format!(
        "# Exit-rate scaling on mlp (iris, width 8, λ = 1e-2, d = {})\n\n\
         Base: η = {}, B = {}, ΔL = {}, {} runs per point, budget {} steps, seed {}. \
         Gaussian SGD noise: {}. Proximal system: C = {:.4e}·I. Exit domain: {}.\n\n\
         Slopes of ln E[ν] (weighted least squares, 95% CI) beside the slopes predicted by \
         ln E[ν] = (B/η)·V0 + const under each weight, and by the exact V0 of the discrete chain eq. (2).\n\n",
        r0.dim,
        r0.base.eta,
        r0.base.batch,
        r0.base.delta_l,
        r0.base.runs,
        r0.base.max_steps,
        r0.base.seed,
        r0.gaussian_noise,
        r0.proximal_scale,
        r0.exit_domain
    );
    md.push_str(&fits_markdown(&reports));
    md.push_str("\n## Points\n\n");
    md.push_str(&points_markdown(&reports));
    md.push_str(&format!(
        "\nTotal wall time {:.0} s on {} threads.\n",
        start.elapsed().as_secs_f64(),
        rayon::current_num_threads()
    ));
    std::fs::write(dir.join("paper_figures.md"), &md)?;
    println!("{md}");
    println!("files in {}", dir.display());
    Ok(())
}
