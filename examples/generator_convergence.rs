//! Convergence of the generator solve (𝓛T = −1) under grid refinement.
//!
//! Run in release: `cargo run --release --example generator_convergence [N1,N2,..]`
//! (default 129,257,513,1025). For each case, at its ε, prints T_h(θ*) on each grid, the
//! difference to the next coarser grid and the observed order p = log₂(|T_{4h} − T_{2h}| /
//! |T_{2h} − T_h|), and, where an exact reference exists, the error and its order.
//! Cases: the OU process in the unit disc (exact radial quadrature), a non-separable gradient
//! double well and Maier–Stein at β = 3 (half-space x < 0, reflecting truncation walls), and
//! `quadratic-2d` (C = H*, weight inverse-sqrt: a = H^{1/2}, the ellipse L < 1).

use quasipot::generator::{run, Config};
use quasipot::problem::{BuildOptions, Problem, ProblemSpec};

fn from_toml(text: &str) -> Problem {
    ProblemSpec::from_toml(text, "example")
        .and_then(|s| s.build(std::path::Path::new("."), &BuildOptions::default()))
        .expect("problem")
}

/// T(0) for OU in a disc of radius R: ½ Ein(R²/ε²), Ein(z) = Σ_{k≥1} z^k/(k·k!).
fn ou_disc_exact(r: f64, eps: f64) -> f64 {
    let z = r * r / (eps * eps);
    let (mut term, mut sum) = (1.0, 0.0);
    for k in 1..400 {
        term *= z / k as f64;
        sum += term / k as f64;
    }
    0.5 * sum
}

fn main() -> quasipot::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let sizes: Vec<usize> = args
        .get(1)
        .map(|s| s.split(',').map(|v| v.parse().expect("N")).collect())
        .unwrap_or_else(|| vec![129, 257, 513, 1025]);
    // 1-D against the quadrature (DESIGN §2), N = 2049, Richardson with N = 1025.
    let dw1 = Problem::load("double-well-1d", &BuildOptions::default())?;
    let ou1 = from_toml(
        "name = \"ou-interval\"\nvariables = [\"x\"]\nminimum = [0.0]\n[drift]\nloss = \"x^2/2\"\n[noise]\nsource = \"identity\"\n[domain]\nkind = \"box\"\nlo = [-1.0]\nhi = [1.5]\n",
    );
    use quasipot::exact::exit_time_1d::{mean_exit_time_1d, LeftBoundary};
    println!("1-D, N = 2049: relative error of the Richardson value and of T_h, and the estimate");
    println!(
        "{:>22} {:>5} {:>16} {:>10} {:>10} {:>10}",
        "case", "ε", "exact E[τ]", "rel(Rich)", "rel(T_h)", "est/T"
    );
    for (label, p, eps_list) in [
        (
            "double well (−∞, 0)",
            &dw1,
            [1.0, 0.7, 0.5, 0.35, 0.25, 0.2],
        ),
        ("OU on (−1, 1.5)", &ou1, [1.0, 0.7, 0.5, 0.35, 0.25, 0.2]),
    ] {
        for eps in eps_list {
            let exact = if label.starts_with("double") {
                mean_exit_time_1d(
                    |x| x.powi(4) / 4.0 - x * x / 2.0,
                    eps,
                    -12.0,
                    0.0,
                    LeftBoundary::Reflecting,
                    -1.0,
                )?
                .mean
            } else {
                mean_exit_time_1d(
                    |x| x * x / 2.0,
                    eps,
                    -1.0,
                    1.5,
                    LeftBoundary::Absorbing,
                    0.0,
                )?
                .mean
            };
            let c = Config {
                eps: vec![eps],
                grid: 2049,
                ..Config::default()
            };
            let l = &run(p, &c)?.levels[0];
            println!(
                "{label:>22} {eps:>5} {exact:>16.9e} {:>10.2e} {:>10.2e} {:>10.2e}",
                (l.mean_exit_time / exact - 1.0).abs(),
                (l.mean_exit_time_grid / exact - 1.0).abs(),
                l.error_estimate.unwrap_or(f64::NAN) / exact
            );
        }
    }
    let disc = from_toml(
        "name = \"ou-disc\"\nvariables = [\"x\", \"y\"]\nminimum = [0.0, 0.0]\n[drift]\nloss = \"x^2/2 + y^2/2\"\n[noise]\nsource = \"identity\"\n[domain]\nkind = \"ball\"\nradius = 1.0\n",
    );
    let gdw = from_toml(
        "name = \"gradient-double-well-2d\"\nvariables = [\"x\", \"y\"]\nminimum = [-1.0, 0.0]\n[drift]\nloss = \"x^4/4 - x^2/2 + y^2/2 + x^2*y^2/2\"\n[noise]\nsource = \"identity\"\n[domain]\nkind = \"half-space\"\nnormal = [1.0, 0.0]\noffset = 0.0\n",
    );
    let ms = Problem::load(
        "maier-stein",
        &BuildOptions {
            parameters: vec![("beta".into(), 3.0)],
            ..BuildOptions::default()
        },
    )?;
    let q2 = Problem::load("quadratic-2d", &BuildOptions::default())?;
    let cases: Vec<(&str, &Problem, f64, Option<f64>)> = vec![
        (
            "OU in the unit disc",
            &disc,
            0.5,
            Some(ou_disc_exact(1.0, 0.5)),
        ),
        ("gradient double well", &gdw, 0.5, None),
        ("Maier–Stein β = 3", &ms, 0.5, None),
        ("quadratic-2d ellipse", &q2, 0.5, None),
    ];
    for (label, p, eps, exact) in cases {
        println!("\n{label} (ε = {eps})");
        println!(
            "{:>6} {:>20} {:>11} {:>6} {:>11} {:>6} {:>8}",
            "N", "T_h(θ*)", "|ΔT|", "p", "error", "p_err", "time s"
        );
        let mut prev: Option<(f64, f64)> = None; // (T, |ΔT|)
        let mut prev_err: Option<f64> = None;
        for &n in &sizes {
            let c = Config {
                eps: vec![eps],
                grid: n,
                error_estimate: false,
                principal_eigenvalue: false,
                ..Config::default()
            };
            let r = run(p, &c)?;
            let t = r.levels[0].mean_exit_time_grid;
            let (dt, order) = match prev {
                Some((tp, dp)) => {
                    let d = (t - tp).abs();
                    (Some(d), (dp > 0.0).then(|| (dp / d).log2()))
                }
                None => (None, None),
            };
            let err = exact.map(|e| (t - e).abs());
            let p_err = match (prev_err, err) {
                (Some(a), Some(b)) => Some((a / b).log2()),
                _ => None,
            };
            let f = |v: Option<f64>, w: usize, prec: usize| match v {
                Some(v) if prec == 2 => format!("{v:>w$.2}"),
                Some(v) => format!("{v:>w$.3e}"),
                None => format!("{:>w$}", "-"),
            };
            println!(
                "{n:>6} {t:>20.12} {} {} {} {} {:>8.2}",
                f(dt, 11, 3),
                f(order, 6, 2),
                f(err, 11, 3),
                f(p_err, 6, 2),
                r.seconds
            );
            prev = Some((t, dt.unwrap_or(0.0)));
            prev_err = err;
        }
        if let Some(e) = exact {
            println!("exact {e:.12}");
        }
    }
    Ok(())
}
