//! The width ladder: one-hidden-layer tanh networks on the red-wine data (N = 1599, p = 11,
//! λ = 3e-4) at widths 8, 16, 32, 64, each minimum checked non-degenerate, then
//!
//! 1. V₀ for C = C* on the level set of the quadratic model, both weights: exact (dense
//!    Lyapunov) beside the matrix-free subspace bracket from the top-k eigenpairs of H*
//!    (Lanczos on Hessian-vector products) and the factored per-example gradients;
//! 2. an exit-time sweep over the batch size B (Gaussian SGD with C = C*, and real minibatch
//!    SGD; `analysis::scaling`, independent streams per point), with the fitted slope of
//!    ln E[ν] against B/η beside the predicted (B/η)·V₀ of both weights, and the quadratic-model
//!    chain θ ← θ − ηH*(θ − θ*) + noise with the same C run beside Gaussian SGD: the flux
//!    prediction is exact for that chain, so it separates a finite-ε error of the prediction
//!    from the network's loss beyond its quadratic model.
//!
//! Every width runs at the same ηλ_max = 0.25 and a ΔL that puts (B/η)·V₀ = 6 (weight
//! inverse) at B = 32, so the rungs differ only in the network.
//!
//!     cargo run --release --example mlp_width_ladder [-- --runs R] [--out DIR] [WIDTH ...]
//!     cargo run --release --example mlp_width_ladder -- --replot [MORE_POINTS.json ...]   # figure only
//!
//! Writes `width_ladder/ladder.md`, `ladder.json`, `ladder_points.json` and `ladder.png`/`.svg` (about 30 minutes on
//! 2 cores with the defaults, 100 runs per point; most of it the dense fit and sweep at w = 64).
use quasipot::analysis::scaling::{scaling, Method, ScalingConfig, Target, Vary};
use quasipot::exact::lyapunov::solve_lyapunov_eigenbasis;
use quasipot::linalg::{spectral_apply, symmetric_eigen, Matrix};
use quasipot::matfree::lanczos::{self, Config};
use quasipot::matfree::subspace::level_set_barrier;
use quasipot::plot::ladder::{write_ladder_figure, LadderPoint};
use quasipot::problem::mlp::{fit, MlpConfig, MlpDataset, MlpHessian, PerExampleGradients};
use quasipot::problem::Weight;
use std::fmt::Write;
use std::time::Instant;

/// V₀/ΔL on {½uᵀHu < ΔL} for noise a, densely: 1/λ_max(Λ^{1/2} Σ̃ Λ^{1/2}).
fn dense_v0_per_depth(h: &Matrix, a: &Matrix) -> f64 {
    let (lam, _, st) = solve_lyapunov_eigenbasis(h, a).expect("Lyapunov");
    let n = lam.len();
    let mut m = Matrix::zeros(n);
    for i in 0..n {
        for j in 0..n {
            m.data[i * n + j] = (lam[i] * lam[j]).sqrt() * st[(i, j)];
        }
    }
    1.0 / symmetric_eigen(&m, "M").expect("eigen").0[n - 1]
}

fn main() {
    let mut runs = 100usize;
    let mut widths = Vec::new();
    let mut out = std::path::PathBuf::from("width_ladder");
    let mut replot = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--replot" => replot = Some(args.by_ref().collect::<Vec<_>>()),
            "--runs" => runs = args.next().and_then(|s| s.parse().ok()).expect("--runs N"),
            "--out" => out = args.next().expect("--out DIR").into(),
            _ => widths.push(a.parse::<usize>().expect("widths are integers")),
        }
    }
    if let Some(extra) = replot {
        // Redraw the figure from the points of the last run, and of any further runs' points
        // files given after --replot (e.g. a wider rung run with fewer runs per point).
        let mut points = Vec::new();
        let files =
            std::iter::once(out.join("ladder_points.json")).chain(extra.iter().map(Into::into));
        for file in files {
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("{}: {e} (run the ladder first)", file.display()));
            let more: Vec<LadderPoint> = serde_json::from_str(&text).expect("ladder points");
            points.extend(more);
        }
        write_ladder_figure(&points, &out.join("ladder")).unwrap();
        return;
    }
    if widths.is_empty() {
        widths = vec![8, 16, 32, 64];
    }
    let out = out.as_path();
    std::fs::create_dir_all(out).expect("output directory");
    let mut v0_table = String::from(
        "| width | d | seed | L* | λ_min(H*) | λ_max(H*) | non-degenerate | weight | V₀/ΔL exact | k | subspace V₀/ΔL [lower, upper] | tr captured | Lanczos products, s |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut sweep_table = String::from(
        "| width | η | ΔL | method | E[ν] range | points in regime | E[ν] / flux prediction | fitted slope vs B/η (95% CI) | pred. inverse | ratio (CI) | Laplace band / pred. | flux / pred. (95%) | chain V₀ / pred. | pred. inverse-sqrt | ratio (CI) | Laplace band / pred. | flux / pred. (95%) | quadratic chain: slope / pred. inverse (CI) | quadratic chain E[ν] / flux | E[ν] / quadratic chain E[ν] | verdict |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut points = Vec::new();
    let mut json = Vec::new();
    for &w in &widths {
        let base = MlpConfig {
            dataset: MlpDataset::Wine,
            width: w,
            l2: 3e-4,
            ..MlpConfig::default()
        };
        let t = Instant::now();
        let m = match fit(&base) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("w = {w}: no minimum ({e}); skipped");
                writeln!(
                    v0_table,
                    "| {w} | — | — | fit failed: {e} | | | | | | | | | |"
                )
                .unwrap();
                write_outputs(out, runs, &v0_table, &sweep_table, &json, &points);
                continue;
            }
        };
        let fit_s = t.elapsed().as_secs_f64();
        let d = m.theta_star.len();
        let n = m.model.num_examples();
        let (lmin, lmax) = (m.hessian_spectrum.lambda_min, m.hessian_spectrum.lambda_max);
        eprintln!(
            "w = {w}: d = {d}, fit {fit_s:.1} s, {}",
            m.degeneracy.describe()
        );
        // C*^{1/2} for the inverse-sqrt weight (C* is PSD; rounding negatives clipped).
        let (cv, cq) = symmetric_eigen(&m.gradient_covariance, "C*").unwrap();
        let sqrt_c = spectral_apply(&cv, &cq, |l| l.max(0.0).sqrt());
        let exact = [
            (
                Weight::Inverse,
                dense_v0_per_depth(&m.hessian, &m.gradient_covariance),
            ),
            (Weight::InverseSqrt, dense_v0_per_depth(&m.hessian, &sqrt_c)),
        ];
        let per_ex = PerExampleGradients::new(&m.model, &m.theta_star).unwrap();
        for k in [8usize, 32, 128].into_iter().filter(|&k| k < d) {
            let t = Instant::now();
            let mut op = MlpHessian::new(&m.model, &m.theta_star).unwrap();
            let report = lanczos::run(
                &mut op,
                &Config {
                    largest: k,
                    basis: (2 * k + 20).min(d),
                    ..Config::default()
                },
                &mut |_| Ok(()),
            )
            .unwrap();
            let vectors: Vec<Vec<f64>> = report.largest.iter().map(|p| p.vector.clone()).collect();
            let secs = t.elapsed().as_secs_f64();
            for &(weight, v_exact) in &exact {
                let nc = per_ex.compress(&vectors, weight).unwrap();
                let b = level_set_barrier(&report.largest, &nc, 1.0, weight).unwrap();
                writeln!(
                    v0_table,
                    "| {w} | {d} | {} | {:.5} | {lmin:.3e} | {lmax:.3e} | {} | {} | {v_exact:.5e} | {k} | [{:.5e}, {:.5e}] | {:.4} | {} ({secs:.2} s) |",
                    m.selection.seed,
                    m.loss,
                    !m.degeneracy.degenerate,
                    weight.name(),
                    b.v0_lower,
                    b.v0,
                    b.captured_fraction,
                    report.products,
                )
                .unwrap();
            }
        }
        // The sweep: ηλ_max = 0.25; ΔL with (B/η)·V₀ = 6 at B = 32 for C = C*·(N−B)/(N−1).
        let eta = 0.25 / lmax;
        let factor = (n - 32) as f64 / (n - 1) as f64;
        let delta_l = 6.0 * eta * factor / (32.0 * exact[0].1);
        let config = ScalingConfig {
            vary: Vary::Batch,
            eta: Some(eta),
            batch: Some(32),
            delta_l: Some(delta_l),
            runs,
            methods: Some(vec![Method::GaussianSgd, Method::MinibatchSgd]),
            quadratic_control: true,
            ..ScalingConfig::default()
        };
        let target = Target::Mlp(MlpConfig {
            seed: m.selection.seed,
            refit_degenerate: false,
            ..base
        });
        let t = Instant::now();
        let report = scaling(&target, &config, &|_, _| {}).expect("sweep");
        eprintln!("  sweep {:.1} s", t.elapsed().as_secs_f64());
        for f in report.fits.iter().filter(|f| f.against == "B/eta") {
            let Some(fit) = &f.fit else { continue };
            let means: Vec<f64> = report
                .points
                .iter()
                .filter(|p| p.method == f.method)
                .filter_map(|p| p.mean_exit_steps)
                .collect();
            let (lo, hi) = means
                .iter()
                .fold((f64::INFINITY, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
            let mut cells = Vec::new();
            for weight in [Weight::Inverse, Weight::InverseSqrt] {
                let p = f.predicted.iter().find(|p| p.weight == weight);
                let slope = p.map_or("—".to_string(), |p| format!("{:.4e}", p.slope));
                let ratio = p.and_then(|p| p.ratio).map_or("—".to_string(), |r| {
                    format!("{:.3} ({:.3}…{:.3})", r[0], r[1], r[2])
                });
                // The band and the chain's own V₀, as fractions of the leading-order slope.
                let band = p.and_then(|p| p.band.map(|[a, b]| [a / p.slope, b / p.slope]));
                let flux = p.and_then(|p| {
                    p.flux.map(|[f, se]| {
                        [
                            f / p.slope,
                            (f - 1.96 * se) / p.slope,
                            (f + 1.96 * se) / p.slope,
                        ]
                    })
                });
                let band_cell = format!(
                    "{} | {}",
                    band.map_or("—".to_string(), |[a, b]| format!("{a:.3}…{b:.3}")),
                    flux.map_or("—".to_string(), |[f, a, b]| format!(
                        "{f:.3} ({a:.3}…{b:.3})"
                    ))
                );
                if let Some(r) = p.and_then(|p| p.ratio) {
                    points.push(LadderPoint {
                        width: w,
                        series: format!("{} / {}", f.method.name(), weight.name()),
                        ratio: r,
                        band: flux.map(|[_, a, b]| [a, b]).or(band),
                    });
                }
                if weight == Weight::Inverse {
                    let chain = f
                        .discrete
                        .as_ref()
                        .zip(p)
                        .map_or("—".to_string(), |(c, p)| {
                            format!("{:.3}", c.slope / p.slope)
                        });
                    cells.push(format!("{slope} | {ratio} | {band_cell} | {chain}"));
                } else {
                    cells.push(format!("{slope} | {ratio} | {band_cell}"));
                }
            }
            let of_method: Vec<_> = report
                .points
                .iter()
                .filter(|p| p.method == f.method)
                .collect();
            // Observed over flux-predicted E[ν] (weight inverse: a = C, the simulated chain's).
            let (r_lo, r_hi) = of_method
                .iter()
                .filter_map(|p| {
                    let q = p.predictions.iter().find(|q| q.weight == Weight::Inverse)?;
                    Some((p.ln_mean? - q.ln_steps_flux?).exp())
                })
                .fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
            let observed_over_flux = if r_hi > 0.0 {
                format!("{r_lo:.2} … {r_hi:.2}")
            } else {
                "—".to_string()
            };
            let in_regime = format!(
                "{} of {}",
                of_method.iter().filter(|p| p.in_regime).count(),
                of_method.len()
            );
            // The quadratic-model chain run beside Gaussian SGD (same C, independent stream).
            let range = |v: Vec<f64>| {
                let (a, b) = v
                    .iter()
                    .fold((f64::INFINITY, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
                if b > 0.0 {
                    format!("{a:.2} … {b:.2}")
                } else {
                    "—".to_string()
                }
            };
            let control = f.quadratic_control.as_ref().map_or("—".to_string(), |c| {
                let p = c.inverse.slope;
                points.push(LadderPoint {
                    width: w,
                    series: "quadratic chain / inverse".into(),
                    ratio: [
                        c.fit.slope / p,
                        c.fit.slope_ci95[0] / p,
                        c.fit.slope_ci95[1] / p,
                    ],
                    band: c
                        .inverse
                        .flux
                        .map(|[f, se]| [(f - 1.96 * se) / p, (f + 1.96 * se) / p]),
                });
                format!(
                    "{:.3} ({:.3}…{:.3})",
                    c.fit.slope / p,
                    c.fit.slope_ci95[0] / p,
                    c.fit.slope_ci95[1] / p
                )
            });
            let control_over_flux = range(
                of_method
                    .iter()
                    .filter_map(|p| {
                        let q = p.predictions.iter().find(|q| q.weight == Weight::Inverse)?;
                        let c = p.quadratic_control.as_ref()?.mean_exit_steps?;
                        Some((c.ln() - q.ln_steps_flux?).exp())
                    })
                    .collect(),
            );
            let over_control = range(
                of_method
                    .iter()
                    .filter_map(|p| p.quadratic_control.as_ref()?.ratio.map(|r| r[0]))
                    .collect(),
            );
            let verdict: String = f.verdict.chars().take(400).collect();
            writeln!(
                sweep_table,
                "| {w} | {eta:.4e} | {delta_l:.4e} | {} | {lo:.3e} … {hi:.3e} | {in_regime} | {observed_over_flux} | {:.4e} ({:.4e}…{:.4e}) | {} | {} | {control} | {control_over_flux} | {over_control} | {verdict} |",
                f.method.name(),
                fit.slope,
                fit.slope_ci95[0],
                fit.slope_ci95[1],
                cells[0],
                cells[1],
            )
            .unwrap();
        }
        json.push(serde_json::json!({
            "width": w, "dim": d, "fit_seconds": fit_s, "eta": eta, "delta_l": delta_l,
            "v0_per_delta_l_exact": {"inverse": exact[0].1, "inverse-sqrt": exact[1].1},
            "degeneracy": m.degeneracy.describe(), "sweep": report,
        }));
        write_outputs(out, runs, &v0_table, &sweep_table, &json, &points);
    }
}

/// Write `ladder.md`, `ladder.json`, `ladder_points.json` and the figure from the widths done so
/// far (called after every width, so that a later failure loses nothing).
fn write_outputs(
    out: &std::path::Path,
    runs: usize,
    v0_table: &str,
    sweep_table: &str,
    json: &[serde_json::Value],
    points: &[LadderPoint],
) {
    let mut md = String::new();
    writeln!(
        md,
        "# Width ladder (wine, λ = 3e-4, {runs} runs per point)\n"
    )
    .unwrap();
    writeln!(
        md,
        "## V₀ for C = C* on the level set (per unit ΔL)\n\n{v0_table}"
    )
    .unwrap();
    writeln!(md, "## Exit-time sweeps over B\n\n{sweep_table}").unwrap();
    std::fs::write(out.join("ladder.md"), &md).unwrap();
    std::fs::write(
        out.join("ladder.json"),
        serde_json::to_string_pretty(&json).unwrap(),
    )
    .unwrap();
    std::fs::write(
        out.join("ladder_points.json"),
        serde_json::to_string_pretty(&points).unwrap(),
    )
    .unwrap();
    if !points.is_empty() {
        write_ladder_figure(points, &out.join("ladder")).unwrap();
    }
}
