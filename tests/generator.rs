//! The generator engine against exact references: 1-D quadrature (DESIGN §2), 2-D problems that
//! reduce to 1-D, the radial ODE of OU in a ball, observed orders under refinement, and Monte
//! Carlo.

mod common;

use common::problem_from_toml;
use quasipot::exact::exit_time_1d::{mean_exit_time_1d, LeftBoundary};
use quasipot::generator::{self, Config};
use quasipot::problem::{BuildOptions, Problem};

fn load(name: &str) -> Problem {
    Problem::load(name, &BuildOptions::default()).unwrap()
}

fn dw(x: f64) -> f64 {
    x.powi(4) / 4.0 - x * x / 2.0
}

fn cfg(eps: f64, grid: usize) -> Config {
    Config {
        eps: vec![eps],
        grid,
        ..Config::default()
    }
}

fn rel(a: f64, b: f64) -> f64 {
    (a / b - 1.0).abs()
}

/// Double well from −1 over x = 0 (built-in `double-well-1d`, a half-line truncated by the
/// default reflecting wall 7 standard deviations out): within 1e-6 of the quadrature of the
/// half-line (taken as reflecting at −12, where e^{−2U/ε²} is below 1e-300). The Richardson value
/// has an O(h⁴) error: at N = 2049 (h ≈ 2e-3) it is ~1e-9 here; the tolerance leaves room for
/// the truncation (e^{−24.5}) and quadrature (1e-10).
#[test]
fn double_well_1d_matches_quadrature_to_1e6() {
    let p = load("double-well-1d");
    for eps in [1.0, 0.7, 0.5, 0.35] {
        let r = generator::run(&p, &cfg(eps, 2049)).unwrap();
        let exact = mean_exit_time_1d(dw, eps, -12.0, 0.0, LeftBoundary::Reflecting, -1.0)
            .unwrap()
            .mean;
        let l = &r.levels[0];
        assert!(
            rel(l.mean_exit_time, exact) < 1e-6,
            "ε = {eps}: {} vs {exact} (rel {:.2e}, estimate {:?})",
            l.mean_exit_time,
            rel(l.mean_exit_time, exact),
            l.error_estimate
        );
        // The estimate bounds the fine-grid error (within a factor 2 of its asymptotic value).
        let e = l.error_estimate.unwrap();
        let actual = (l.mean_exit_time_grid - exact).abs();
        assert!(actual < 2.0 * e && actual > 0.5 * e, "{actual} vs {e}");
        // 1/λ₁ is close to E[τ] and below it... (E[τ] from θ* ≤ 1/λ₁ up to O(ε) corrections).
        let t1 = l.mean_exit_time_from_eigenvalue.unwrap();
        assert!(rel(t1, exact) < 0.5, "1/λ₁ = {t1} vs {exact}");
    }
}

fn ou_interval(a: f64, b: f64) -> Problem {
    problem_from_toml(
        &format!(
            "name = \"ou-interval\"\nvariables = [\"x\"]\nminimum = [0.0]\n[drift]\nloss = \"x^2/2\"\n[noise]\nsource = \"identity\"\n[domain]\nkind = \"box\"\nlo = [{a}]\nhi = [{b}]\n"
        ),
        &BuildOptions::default(),
    )
}

/// OU dX = −X dt + ε dW on (−1, 1.5), both ends absorbing: the Green's-function quadrature.
#[test]
fn ou_interval_matches_quadrature_to_1e6() {
    let p = ou_interval(-1.0, 1.5);
    for eps in [1.0, 0.5, 0.3] {
        let r = generator::run(&p, &cfg(eps, 2049)).unwrap();
        let exact =
            mean_exit_time_1d(|x| x * x / 2.0, eps, -1.0, 1.5, LeftBoundary::Absorbing, 0.0)
                .unwrap()
                .mean;
        let l = &r.levels[0];
        assert!(
            rel(l.mean_exit_time, exact) < 1e-6,
            "ε = {eps}: {} vs {exact} (rel {:.2e})",
            l.mean_exit_time,
            rel(l.mean_exit_time, exact)
        );
        assert_eq!(l.reflecting_nodes, 0);
    }
}
