//! The exact engine against closed forms and independent computations (DESIGN §2).

mod common;
use common::*;
use quasipot::exact;
use quasipot::linalg::Matrix;
use quasipot::problem::{BuildOptions, Weight};
use rand::Rng;

fn level_set_problem(
    h: &[Vec<f64>],
    source: &str,
    depth: f64,
    w: Weight,
) -> quasipot::problem::Problem {
    let text = format!(
        "[drift]\nhessian = {}\n[noise]\nsource = \"{source}\"\n[domain]\nkind = \"level-set\"\ndepth = {depth}\n",
        toml_matrix(h)
    );
    problem_from_toml(
        &text,
        &BuildOptions {
            weight: Some(w),
            ..Default::default()
        },
    )
}

/// V0 on level sets for a = H, H^{1/2}, I: 2ΔL/λ_max, 2ΔLλ_max^{-1/2}, 2ΔL (Lemma 3, Theorem 2).
#[test]
fn level_set_barriers_match_the_paper_formulas() {
    let mut r = rng(7);
    for &d in &[2usize, 3, 5, 10, 20, 50] {
        let h = random_spd(&mut r, d, 0.5, 6.0);
        let lmax =
            quasipot::linalg::check_spd(&Matrix::from_rows(&h, "h").unwrap(), "h").unwrap()[d - 1];
        let depth = 0.3 + r.random::<f64>();
        let cases = [
            ("hessian-at-minimum", Weight::Inverse, 2.0 * depth / lmax),
            (
                "hessian-at-minimum",
                Weight::InverseSqrt,
                2.0 * depth / lmax.sqrt(),
            ),
            ("identity", Weight::InverseSqrt, 2.0 * depth),
        ];
        for (source, w, expected) in cases {
            let p = level_set_problem(&h, source, depth, w);
            let v0 = exact::quasi_potential_barrier(&p).unwrap().v0;
            let rel = (v0 / expected - 1.0).abs();
            assert!(
                rel < 1e-12,
                "d={d} {source} {w:?}: {v0} vs {expected} (rel {rel:.2e})"
            );
        }
    }
}

fn residual(a: &Matrix, q: &Matrix, s: &faer::Mat<f64>) -> f64 {
    let af = a.to_faer();
    let r = &af * s + s * af.transpose() - q.to_faer();
    r.norm_max() / q.to_faer().norm_max()
}

/// Σ = ∫₀^∞ e^{−At} a e^{−Aᵀt} dt, by RK4 on Σ′ = a − AΣ − ΣAᵀ from Σ(0) = 0 (independent of
/// both Lyapunov solvers).
fn sigma_by_ode(a: &Matrix, q: &Matrix, t_end: f64, dt: f64) -> faer::Mat<f64> {
    let af = a.to_faer();
    let qf = q.to_faer();
    let f = |s: &faer::Mat<f64>| &qf - &af * s - s * af.transpose();
    let mut s = faer::Mat::<f64>::zeros(a.n, a.n);
    let steps = (t_end / dt).round() as usize;
    for _ in 0..steps {
        let k1 = f(&s);
        let k2 = f(&(&s + &k1 * (0.5 * dt)));
        let k3 = f(&(&s + &k2 * (0.5 * dt)));
        let k4 = f(&(&s + &k3 * dt));
        s = &s + (&k1 + &k2 * 2.0 + &k3 * 2.0 + &k4) * (dt / 6.0);
    }
    s
}

#[test]
fn lyapunov_solutions_satisfy_the_equation_and_match_the_integral() {
    let mut r = rng(11);
    for &d in &[2usize, 3, 6] {
        for symmetric in [false, true] {
            let a = if symmetric {
                random_spd(&mut r, d, 0.5, 3.0)
            } else {
                random_stable(&mut r, d)
            };
            let q = random_spd(&mut r, d, 0.2, 2.0);
            let (am, qm) = (
                Matrix::from_rows(&a, "a").unwrap(),
                Matrix::from_rows(&q, "q").unwrap(),
            );
            let sol = exact::solve_lyapunov(&am, &qm).unwrap();
            assert!(sol.eigenbasis.is_some() == symmetric);
            let res = residual(&am, &qm, &sol.sigma);
            assert!(
                res < 1e-10,
                "d={d} symmetric={symmetric}: residual {res:.2e}"
            );
            let ode = sigma_by_ode(&am, &qm, 40.0 / d as f64 * 2.0, 2e-3);
            let diff = (&ode - &sol.sigma).norm_max() / sol.sigma.norm_max();
            assert!(
                diff < 1e-9,
                "d={d} symmetric={symmetric}: ODE integral differs by {diff:.2e}"
            );
        }
    }
}

/// ½∇Vᵀa∇V + b·∇V = 0 for V = ½uᵀΣ⁻¹u, at random points, with non-commuting A and a.
#[test]
fn quasi_potential_solves_hamilton_jacobi() {
    let mut r = rng(5);
    let d = 4;
    let a = random_stable(&mut r, d);
    let c = random_spd(&mut r, d, 0.3, 2.0);
    let text = format!(
        "variables = [\"a\", \"b\", \"c\", \"f\"]\nminimum = [0.1, -0.2, 0.3, 0.0]\n[drift]\nfield = [{}]\n[noise]\nsource = \"matrix\"\nmatrix = {}\n[domain]\nkind = \"ball\"\nradius = 1.0\n",
        (0..d)
            .map(|i| {
                let names = ["a", "b", "c", "f"];
                let mins = [0.1, -0.2, 0.3, 0.0];
                let terms: Vec<String> = (0..d).map(|j| format!("({:e})*({} - ({}))", -a[i][j], names[j], mins[j])).collect();
                format!("\"{}\"", terms.join(" + "))
            })
            .collect::<Vec<_>>()
            .join(", "),
        toml_matrix(&c)
    );
    for w in [Weight::InverseSqrt, Weight::Inverse] {
        let p = problem_from_toml(
            &text,
            &BuildOptions {
                weight: Some(w),
                ..Default::default()
            },
        );
        let (am, diff) = exact::linear_model(&p).unwrap();
        assert_eq!(am.n, d);
        let h = 1e-5;
        for _ in 0..20 {
            let x: Vec<f64> = (0..d)
                .map(|i| p.minimum[i] + r.random::<f64>() - 0.5)
                .collect();
            let mut grad = vec![0.0; d];
            for k in 0..d {
                let (mut xp, mut xm) = (x.clone(), x.clone());
                xp[k] += h;
                xm[k] -= h;
                let v = exact::quasi_potential(&p, &[xp, xm]).unwrap();
                grad[k] = (v[0] - v[1]) / (2.0 * h);
            }
            let b = p.drift.eval(&x);
            let mut ag = vec![0.0; d];
            diff.mul_vec(&grad, &mut ag);
            let ham = 0.5 * quasipot::linalg::dot(&grad, &ag) + quasipot::linalg::dot(&b, &grad);
            let scale = quasipot::linalg::dot(&b, &grad).abs().max(1e-12);
            assert!(
                ham.abs() < 1e-7 * scale.max(1.0),
                "{w:?}: H = {ham:.3e} at {x:?}"
            );
        }
    }
}

/// On every domain kind the exit point lies on ∂D, has V = V0, and no sampled boundary point has
/// a smaller V.
#[test]
fn barriers_are_boundary_minima_on_every_domain() {
    let mut r = rng(3);
    let domains = [
        "kind = \"ball\"\nradius = 0.8",
        "kind = \"ellipsoid\"\nmatrix = [[2.0, 0.5], [0.5, 1.0]]",
        "kind = \"half-space\"\nnormal = [1.0, 2.0]\noffset = 0.7",
        "kind = \"level-set\"\ndepth = 0.4",
        "kind = \"box\"\nlo = [-1.0, -0.6]\nhi = [1.2, 0.9]",
    ];
    for dom in domains {
        let text = format!(
            "[drift]\nhessian = [[3.0, 1.0], [1.0, 2.0]]\n[noise]\nsource = \"matrix\"\nmatrix = [[1.0, -0.6], [-0.6, 2.0]]\n[domain]\n{dom}\n"
        );
        let p = problem_from_toml(&text, &BuildOptions::default());
        let b = exact::quasi_potential_barrier(&p).unwrap();
        assert!(
            p.domain.level(&b.exit_point).abs() < 1e-10,
            "{dom}: exit point off ∂D"
        );
        let v_exit = exact::quasi_potential(&p, std::slice::from_ref(&b.exit_point)).unwrap()[0];
        assert!((v_exit / b.v0 - 1.0).abs() < 1e-10, "{dom}");
        for _ in 0..400 {
            let mut x = vec![r.random::<f64>() * 2.0 - 1.0, r.random::<f64>() * 2.0 - 1.0];
            p.domain.project(&mut x);
            if p.domain.level(&x).abs() > 1e-9 {
                continue;
            }
            let v = exact::quasi_potential(&p, &[x.clone()]).unwrap()[0];
            assert!(
                v >= b.v0 * (1.0 - 1e-10),
                "{dom}: V({x:?}) = {v} < V0 = {}",
                b.v0
            );
        }
    }
}
