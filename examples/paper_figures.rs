//! Reproduce the paper's Figures 5, 6 and 7 on the `mlp` problem (iris, the default width 3,
//! λ = 1e-2, d = 19; the fit is checked for degeneracy and refitted if needed).
//!
//! Four sweeps — sharpness α (L(√α θ)), learning rate η, batch size B, depth β (βL) — around
//! η = 0.3, B = 32, D = {½(θ−θ*)ᵀH*(θ−θ*) < ΔL}, ΔL = 0.005, each with Gaussian SGD (eq. 2,
//! C = C*·(N−B)/(N−1)), the proximal system (eq. 4, C = c·I) and minibatch SGD (eq. 1). Exit
//! times span about 1e2–2e4 iterations. Every point has its own random stream, carries exit
//! diagnostics, and is run a second time on the quadratic model of L at θ* as a control.
//!
//! Writes into DIR (default `target/paper_figures/`, or `$CARGO_TARGET_DIR/paper_figures/`, so
//! that a run never overwrites the figures committed in `paper_figures/`; pass
//! `paper_figures` to regenerate those):
//! - `figure5_gaussian_sgd.png/svg`, `figure6_proximal.png/svg`, `figure7_minibatch_sgd.png/svg`:
//!   the paper's layout, one method, four panels (α, η, B, β), points with 95% CI bars and the
//!   predicted curves of both weights;
//! - `scaling_<vary>.{csv,json,png,svg}` per sweep (all methods);
//! - `paper_figures.md`: the fitted slopes beside the predictions, the significance of Gaussian
//!   vs minibatch SGD, and every point with its diagnostics.
//!
//! cargo run --release --example paper_figures -- [--out DIR | DIR] [--runs RUNS | RUNS]
//! (RUNS per point, default 100)

use quasipot::analysis::scaling::{scaling, Method, ScalingConfig, Target, Vary};
use quasipot::plot::save_figure;
use quasipot::plot::scaling::{
    comparisons_markdown, fits_markdown, points_markdown, write_files, MethodFigure,
};
use quasipot::problem::mlp::MlpConfig;
#[cfg(test)]
use std::path::Path;
use std::path::PathBuf;
use std::time::Instant;

const USAGE: &str = "usage: cargo run --release --example paper_figures -- [--out DIR | DIR] [--runs RUNS | RUNS]\n  DIR   where the figures, CSV/JSON and paper_figures.md go (default target/paper_figures)\n  RUNS  exit-time runs per point (default 100)";

/// Where the files go and how many runs per point.
#[derive(Debug, PartialEq)]
struct Options {
    dir: PathBuf,
    runs: usize,
}

/// The default output directory: under the target directory, never the source tree.
fn default_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("paper_figures")
}

/// `[--out DIR | DIR] [--runs RUNS | RUNS]`; Ok(None) for `--help`; errors name the argument.
fn parse_args(args: &[String], default: PathBuf) -> Result<Option<Options>, String> {
    let (mut dir, mut runs) = (None, None);
    let mut positional = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag}: missing value"))
        };
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "--out" => dir = Some(value("--out")?),
            "--runs" => runs = Some(value("--runs")?),
            s => {
                if let Some(v) = s.strip_prefix("--out=") {
                    dir = Some(v.to_string());
                } else if let Some(v) = s.strip_prefix("--runs=") {
                    runs = Some(v.to_string());
                } else if s.starts_with('-') {
                    return Err(format!("{s}: unknown option"));
                } else {
                    positional.push(s.to_string());
                }
            }
        }
    }
    let mut positional = positional.into_iter();
    let dir = dir.or_else(|| positional.next());
    let runs = runs.or_else(|| positional.next());
    if let Some(extra) = positional.next() {
        return Err(format!("{extra}: unexpected argument"));
    }
    let runs = match runs {
        None => 100,
        Some(r) => match r.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(format!(
                    "RUNS: expected a positive whole number, got \"{r}\""
                ))
            }
        },
    };
    Ok(Some(Options {
        dir: dir.map_or(default, PathBuf::from),
        runs,
    }))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Options { dir, runs } = match parse_args(&args, default_dir()) {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{USAGE}");
            return Ok(());
        }
        Err(e) => {
            eprintln!("Error: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    std::fs::create_dir_all(&dir)?;
    eprintln!("writing into {}", dir.display());
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
            quadratic_control: true,
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
    let width = r0.mlp.as_ref().map_or(0, |m| m.width);
    let degeneracy = r0
        .mlp
        .as_ref()
        .map(|m| m.degeneracy.describe())
        .unwrap_or_default();
    let mut md = format!(
        "# Exit-rate scaling on mlp (iris, width {width}, λ = 1e-2, d = {})\n\n\
         Fitted minimum: {degeneracy}.\n\n\
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
    md.push_str(
        "Verdicts: a weight is named only when the fit agrees with its prediction and not the other's — \
         on level sets the slope of the chain's flux prediction ln(1/(θr)) at each point's ε (fit and \
         prediction within 1.96 combined standard errors), elsewhere the prefactor band (95% CI \
         overlaps it) — and only from points in the metastable regime (E[ν] at least 10× the steps \
         the exit rate takes to become stationary, exit diagnostics showing large-deviation exits); \
         points outside it are left out of the fit when at least 3 remain (see the verdict and the \
         notes), else no verdict. The quadratic-model control (the chain on ½(θ−θ*)ᵀH*(θ−θ*) with \
         the same noise, its own stream) is fitted over the same points.\n\n\
         Independent evidence: every point has its own random stream. For Gaussian SGD (C = C*) and \
         minibatch SGD, the sharpness map L(√α θ) and the depth map βL are exactly learning-rate \
         changes η → αη and η → βη (in φ = √α θ, D maps onto itself; C* scales like H* under \
         sharpness and like β² under depth), so the sharpness, depth and lr sweeps sample one \
         function E[ν](η, B) at different η — independent replications of one experiment, not three — \
         and the batch sweep is the second. For the proximal system (C = c·I, fixed) the four sweeps \
         are different experiments.\n\n",
    );
    md.push_str(&fits_markdown(&reports));
    md.push_str("\n## Gaussian vs minibatch SGD\n\n");
    md.push_str(&comparisons_markdown(&reports));
    md.push_str("\n## Notes per sweep\n\n");
    for r in &reports {
        for n in &r.notes {
            md.push_str(&format!("- {}: {n}\n", r.vary.name()));
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(a: &[&str]) -> Result<Option<Options>, String> {
        let v: Vec<String> = a.iter().map(|s| s.to_string()).collect();
        parse_args(&v, PathBuf::from("target/paper_figures"))
    }

    #[test]
    fn default_is_under_target_not_the_source_tree() {
        let o = parse(&[]).unwrap().unwrap();
        assert_eq!(o.dir, PathBuf::from("target/paper_figures"));
        assert_eq!(o.runs, 100);
        let d = default_dir();
        assert!(d.ends_with("paper_figures"), "{}", d.display());
        assert!(
            d.parent().is_some_and(|p| p.ends_with("target")
                || std::env::var_os("CARGO_TARGET_DIR").is_some_and(|t| p == Path::new(&t))),
            "{}",
            d.display()
        );
    }

    #[test]
    fn out_flag_positional_dir_and_runs() {
        let want = |d: &str, r| {
            Some(Options {
                dir: d.into(),
                runs: r,
            })
        };
        assert_eq!(parse(&["figs"]).unwrap(), want("figs", 100));
        assert_eq!(parse(&["figs", "7"]).unwrap(), want("figs", 7));
        assert_eq!(
            parse(&["--out", "figs", "--runs", "7"]).unwrap(),
            want("figs", 7)
        );
        assert_eq!(parse(&["--out=figs", "5"]).unwrap(), want("figs", 5));
        assert_eq!(parse(&["--help"]).unwrap(), None);
    }

    #[test]
    fn bad_arguments_name_what_is_wrong() {
        assert!(parse(&["figs", "many"]).unwrap_err().starts_with("RUNS:"));
        assert!(parse(&["figs", "0"]).unwrap_err().starts_with("RUNS:"));
        assert!(parse(&["--out"]).unwrap_err().starts_with("--out:"));
        assert!(parse(&["--bogus"]).unwrap_err().starts_with("--bogus:"));
        assert!(parse(&["a", "1", "b"]).unwrap_err().starts_with("b:"));
    }
}
