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
/// the truncation (e^{−24.5}) and quadrature (1e-10). At ε = 0.2 (E[τ] = 6e5) the LU solve alone
/// would lose ~1e-7; iterative refinement against the difference form restores 1e-11.
#[test]
fn double_well_1d_matches_quadrature_to_1e6() {
    let p = load("double-well-1d");
    for eps in [1.0, 0.7, 0.5, 0.35, 0.25, 0.2] {
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
/// At ε = 0.2, E[τ] = 2.6e10 and ‖A⁻¹‖∞·10⁻¹⁶‖A‖ ≈ 0.1: without iterative refinement the error
/// was 3e-3; with it, 7e-8.
#[test]
fn ou_interval_matches_quadrature_to_1e6() {
    let p = ou_interval(-1.0, 1.5);
    for eps in [1.0, 0.5, 0.3, 0.25, 0.2] {
        let r = generator::run(&p, &cfg(eps, 2049)).unwrap();
        let exact = mean_exit_time_1d(
            |x| x * x / 2.0,
            eps,
            -1.0,
            1.5,
            LeftBoundary::Absorbing,
            0.0,
        )
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

fn from_toml(text: &str) -> Problem {
    problem_from_toml(text, &BuildOptions::default())
}

/// b = (−U′(x), −y), a = I, D = {x < 0}: T(x, y) = T₁(x). The y-differences of a function of x
/// vanish and the y-walls reflect, so the 2-D discrete solution *is* the 1-D one on the same
/// x-grid (to round-off), and T(θ*) matches the 1-D quadrature to 1e-6 like the 1-D test.
#[test]
fn separable_2d_double_well_is_the_1d_solution() {
    let p2 = from_toml(
        "name = \"dw-sep\"\nvariables = [\"x\", \"y\"]\nminimum = [-1.0, 0.0]\n[drift]\nloss = \"x^4/4 - x^2/2 + y^2/2\"\n[noise]\nsource = \"identity\"\n[domain]\nkind = \"half-space\"\nnormal = [1.0, 0.0]\noffset = 0.0\n",
    );
    let p1 = load("double-well-1d");
    let eps = 0.6;
    let n = 257;
    let r2 = generator::run(&p2, &cfg(eps, n)).unwrap();
    let l2 = &r2.levels[0];
    // The same x-axis for the 1-D solve.
    let c1 = Config {
        bounds: Some((vec![l2.box_lo[0]], vec![l2.box_hi[0]])),
        ..cfg(eps, n)
    };
    let r1 = generator::run(&p1, &c1).unwrap();
    let l1 = &r1.levels[0];
    let mut worst = 0.0f64;
    for j in 0..n {
        for i in 0..n {
            let d = (l2.values[j * n + i] - l1.values[i]).abs();
            worst = worst.max(d / l1.values[i].max(1e-300).max(1.0));
        }
    }
    assert!(worst < 1e-9, "max relative difference {worst:.2e}");
    assert!(rel(l2.mean_exit_time, l1.mean_exit_time) < 1e-9);
    assert!(l2.reflecting_nodes > 0);
    let exact = mean_exit_time_1d(dw, eps, -12.0, 0.0, LeftBoundary::Reflecting, -1.0)
        .unwrap()
        .mean;
    let r = generator::run(&p2, &cfg(eps, 513)).unwrap();
    assert!(
        rel(r.levels[0].mean_exit_time, exact) < 1e-6,
        "{} vs {exact}",
        r.levels[0].mean_exit_time
    );
}

/// E[τ] from radius r for OU (b = −θ, a = I) in the disc of radius R: the radial equation
/// (ε²/2)(T″ + T′/r) − rT′ = −1, T′(0) = 0, T(R) = 0 integrates to
/// T(r) = (2/ε²)∫ᵣᴿ e^{s²/ε²} s⁻¹ ∫₀ˢ t e^{−t²/ε²} dt ds = ∫ᵣᴿ (e^{s²/ε²} − 1)/s ds
/// = ½[Ein(R²/ε²) − Ein(r²/ε²)], Ein(z) = Σ_{k≥1} zᵏ/(k·k!).
fn ou_disc_exact(r: f64, big_r: f64, eps: f64) -> f64 {
    let ein = |z: f64| {
        let (mut term, mut sum) = (1.0, 0.0);
        for k in 1..400 {
            term *= z / k as f64;
            sum += term / k as f64;
        }
        sum
    };
    0.5 * (ein(big_r * big_r / (eps * eps)) - ein(r * r / (eps * eps)))
}

fn ou_disc() -> Problem {
    from_toml(
        "name = \"ou-disc\"\nvariables = [\"x\", \"y\"]\nminimum = [0.0, 0.0]\n[drift]\nloss = \"x^2/2 + y^2/2\"\n[noise]\nsource = \"identity\"\n[domain]\nkind = \"ball\"\nradius = 1.0\n",
    )
}

/// The curved boundary (Shortley–Weller arms): second order against the exact radial solution,
/// at θ* and over the whole disc.
#[test]
fn ou_disc_matches_the_radial_solution_at_second_order() {
    let p = ou_disc();
    let eps = 0.5;
    let exact0 = ou_disc_exact(0.0, 1.0, eps);
    let mut errs = Vec::new();
    for n in [129, 257, 513] {
        let c = Config {
            error_estimate: false,
            principal_eigenvalue: false,
            ..cfg(eps, n)
        };
        let r = generator::run(&p, &c).unwrap();
        let l = &r.levels[0];
        // Max error over the nodes, relative to T(0).
        let g = l.grid(n);
        let mut worst = 0.0f64;
        let mut x = [0.0; 2];
        for (idx, &t) in l.values.iter().enumerate() {
            g.point(idx, &mut x);
            let rr = (x[0] * x[0] + x[1] * x[1]).sqrt();
            if rr < 1.0 {
                worst = worst.max((t - ou_disc_exact(rr, 1.0, eps)).abs());
            }
        }
        errs.push(((l.mean_exit_time_grid - exact0).abs(), worst));
        eprintln!(
            "OU disc N = {n}: |T_h(0) − T(0)| = {:.3e}, max nodal error {worst:.3e}",
            errs.last().unwrap().0
        );
    }
    for k in 1..errs.len() {
        let p0 = (errs[k - 1].0 / errs[k].0).log2();
        let pmax = (errs[k - 1].1 / errs[k].1).log2();
        assert!(
            p0 > 1.8 && pmax > 1.8,
            "orders {p0:.2} (θ*), {pmax:.2} (max): {errs:?}"
        );
    }
    // Richardson from N = 513 and 257 is far better than either grid.
    let r = generator::run(&p, &cfg(eps, 513)).unwrap();
    eprintln!(
        "OU disc Richardson (513/257) relative error {:.2e}",
        rel(r.levels[0].mean_exit_time, exact0)
    );
    assert!(
        rel(r.levels[0].mean_exit_time, exact0) < 2e-6,
        "{}",
        r.levels[0].mean_exit_time
    );
}

/// Observed order p = log₂(|T₁₂₉ − T₂₅₇| / |T₂₅₇ − T₅₁₃|) ≥ 1.8 on a non-separable gradient
/// double well, Maier–Stein at β = 3 (non-gradient) and the ellipse of `quadratic-2d`
/// (a = H^{1/2}, Shortley–Weller arms).
#[test]
fn observed_order_is_two_on_gradient_nongradient_and_ellipse() {
    let gdw = from_toml(
        "name = \"gdw\"\nvariables = [\"x\", \"y\"]\nminimum = [-1.0, 0.0]\n[drift]\nloss = \"x^4/4 - x^2/2 + y^2/2 + x^2*y^2/2\"\n[noise]\nsource = \"identity\"\n[domain]\nkind = \"half-space\"\nnormal = [1.0, 0.0]\noffset = 0.0\n",
    );
    let ms = Problem::load(
        "maier-stein",
        &BuildOptions {
            parameters: vec![("beta".into(), 3.0)],
            ..BuildOptions::default()
        },
    )
    .unwrap();
    let q2 = load("quadratic-2d");
    for (name, p) in [("gradient", &gdw), ("maier-stein", &ms), ("ellipse", &q2)] {
        let t: Vec<f64> = [129, 257, 513]
            .iter()
            .map(|&n| {
                let c = Config {
                    error_estimate: false,
                    principal_eigenvalue: false,
                    ..cfg(0.5, n)
                };
                generator::run(p, &c).unwrap().levels[0].mean_exit_time_grid
            })
            .collect();
        let order = ((t[0] - t[1]).abs() / (t[1] - t[2]).abs()).log2();
        eprintln!("{name}: observed order {order:.3} from {t:?}");
        assert!(order > 1.8, "{name}: order {order:.2} from {t:?}");
    }
}

/// 𝓛 = (ε²/2)∂² − x∂ is ∂_y² − y∂_y in y = √2x/ε, with 𝓛He₂ = −2He₂ and He₂ = y² − 1 < 0 on
/// |y| < 1: on the interval |x| < ε/√2 the principal Dirichlet eigenvalue is exactly λ₁ = 2, with
/// eigenfunction 1 − y² and quasi-stationary density ∝ (1 − y²)e^{−y²/2}; on the square
/// |x|, |y| < ε/√2 (a = I) it is 4. Richardson makes the eigenvalue error O(h⁴).
#[test]
fn principal_eigenvalue_and_density_of_ou_on_hermite_intervals() {
    let eps = 0.4;
    let c = eps / 2f64.sqrt();
    let p1 = from_toml(&format!(
        "name = \"ou\"\nvariables = [\"x\"]\nminimum = [0.0]\n[drift]\nloss = \"x^2/2\"\n[noise]\nsource = \"identity\"\n[domain]\nkind = \"box\"\nlo = [{}]\nhi = [{c}]\n",
        -c
    ));
    let conf = Config {
        quasi_stationary_density: true,
        ..cfg(eps, 513)
    };
    let r = generator::run(&p1, &conf).unwrap();
    let l = &r.levels[0];
    let lam = l.principal_eigenvalue.unwrap();
    assert!((lam - 2.0).abs() < 1e-8, "λ₁ = {lam}");
    assert!(l.eigen_iterations.unwrap().1);
    // Density against (1 − y²)e^{−y²/2}, normalised to the discrete mass.
    let rho = l.density.as_ref().unwrap();
    let g = l.grid(513);
    let xs = g.axis(0);
    let shape: Vec<f64> = xs
        .iter()
        .map(|x| {
            let y = 2f64.sqrt() * x / eps;
            ((1.0 - y * y) * (-y * y / 2.0).exp()).max(0.0)
        })
        .collect();
    let s_rho: f64 = rho.iter().sum();
    let s_shape: f64 = shape.iter().sum();
    let peak = shape.iter().cloned().fold(0.0, f64::max) / s_shape;
    for (a, b) in rho.iter().zip(&shape) {
        assert!((a / s_rho - b / s_shape).abs() < 1e-4 * peak);
    }
    let p2 = from_toml(&format!(
        "name = \"ou2\"\nvariables = [\"x\", \"y\"]\nminimum = [0.0, 0.0]\n[drift]\nloss = \"x^2/2 + y^2/2\"\n[noise]\nsource = \"identity\"\n[domain]\nkind = \"box\"\nlo = [{}, {}]\nhi = [{c}, {c}]\n",
        -c, -c
    ));
    let r = generator::run(&p2, &cfg(eps, 129)).unwrap();
    let lam = r.levels[0].principal_eigenvalue.unwrap();
    assert!((lam - 4.0).abs() < 1e-6, "λ₁ = {lam}");
}

/// The generator's E[τ] lies inside the 95 % interval of boundary-corrected Euler–Maruyama
/// (dt = 10⁻³, 4000 trajectories, fixed seed) for Maier–Stein at β = 3, ε = 0.5. The generator
/// value's own error (Richardson, N = 513) is ~1e-6 relative, far inside the ±3 % interval; the
/// corrected scheme's O(dt) bias is ~0.1 %.
#[test]
fn generator_agrees_with_monte_carlo_on_maier_stein() {
    use quasipot::sde::{self, ExitDetection};
    let ms = Problem::load(
        "maier-stein",
        &BuildOptions {
            parameters: vec![("beta".into(), 3.0)],
            ..BuildOptions::default()
        },
    )
    .unwrap();
    let eps = 0.5;
    let g = generator::run(&ms, &cfg(eps, 513)).unwrap();
    let t = g.levels[0].mean_exit_time;
    let mc = sde::run(
        &ms,
        &sde::Config {
            eps: vec![eps],
            dt: 1e-3,
            runs: 4000,
            seed: 7,
            bootstrap: 0,
            detection: ExitDetection::BoundaryCorrected,
            ..sde::Config::default()
        },
    )
    .unwrap();
    let ci = mc.levels[0].stats.ci95.unwrap();
    eprintln!(
        "Maier–Stein β = 3, ε = 0.5: generator {t:.6} (± {:.1e}), Monte Carlo {:.4} CI95 {ci:?}",
        g.levels[0].error_estimate.unwrap(),
        mc.levels[0].stats.mean.unwrap()
    );
    assert!(
        ci[0] <= t && t <= ci[1],
        "generator {t} outside the Monte Carlo 95 % interval {ci:?}"
    );
}

/// Bad input is refused with the flag named.
#[test]
fn bad_inputs_are_refused_with_the_flag_named() {
    let p = load("double-well-1d");
    let msg = |c: Config, p: &Problem| generator::run(p, &c).unwrap_err().to_string();
    assert!(msg(cfg(0.0, 129), &p).starts_with("--eps"));
    assert!(msg(cfg(-0.1, 129), &p).starts_with("--eps"));
    assert!(msg(cfg(f64::NAN, 129), &p).starts_with("--eps"));
    assert!(msg(
        Config {
            eps: vec![],
            ..cfg(0.5, 129)
        },
        &p
    )
    .starts_with("--eps"));
    assert!(msg(cfg(0.5, 5), &p).starts_with("--grid"));
    assert!(msg(cfg(0.5, 128), &p).starts_with("--grid"));
    let q2 = load("quadratic-2d");
    let big = msg(cfg(0.5, 200_001), &q2);
    assert!(big.starts_with("--grid") && big.contains("GiB"), "{big}");
    let capped = Config {
        max_bytes: Some(1 << 20),
        ..cfg(0.5, 513)
    };
    assert!(msg(capped, &q2).starts_with("--grid"));
    let q3 = load("quadratic-anisotropic-3d");
    assert!(msg(cfg(0.5, 129), &q3).starts_with("PROBLEM"));
    let bad_box = Config {
        bounds: Some((vec![1.0, 0.0], vec![0.0, 1.0])),
        ..cfg(0.5, 129)
    };
    assert!(msg(bad_box, &q2).starts_with("--box"));
    let wrong_len = Config {
        bounds: Some((vec![-1.0], vec![1.0])),
        ..cfg(0.5, 129)
    };
    assert!(msg(wrong_len, &q2).starts_with("--box"));
    let off_minimum = Config {
        bounds: Some((vec![0.5, 0.5], vec![1.0, 1.0])),
        ..cfg(0.5, 129)
    };
    assert!(msg(off_minimum, &q2).starts_with("--box"));
    // A box entirely inside D: every face reflects, no exit.
    let inside = Config {
        bounds: Some((vec![-0.1, -0.1], vec![0.1, 0.1])),
        ..cfg(0.5, 129)
    };
    assert!(msg(inside, &q2).starts_with("--box"));
}

fn cli(args: &[&str]) -> (i32, String, String) {
    common::run_bin(args)
}

/// `quasipot mfpt`: JSON names its quantities, --out writes arrays, result.json and figures, and
/// bad input exits with code 2 and a message naming the flag.
#[test]
fn cli_mfpt_json_files_and_rejections() {
    let dir = std::env::temp_dir().join(format!("quasipot-mfpt-{}", std::process::id()));
    let d = dir.to_str().unwrap();
    let (code, out, err) = cli(&[
        "mfpt",
        "quadratic-2d",
        "--eps",
        "0.5",
        "--grid",
        "65",
        "--json",
        "--out",
        d,
    ]);
    assert_eq!(code, 0, "{err}");
    let js: serde_json::Value = serde_json::from_str(&out).unwrap();
    let l = &js["levels"][0];
    for key in [
        "mean_exit_time",
        "error_estimate",
        "principal_eigenvalue",
        "box_lo",
        "box_hi",
    ] {
        assert!(!l[key].is_null(), "{key} missing in {l}");
    }
    assert_eq!(js["grid"], 65);
    for f in [
        "result.json",
        "T_eps0p5.npy",
        "x_eps0p5.npy",
        "y_eps0p5.npy",
        "mfpt_eps0p5.png",
        "mfpt_eps0p5.svg",
    ] {
        assert!(dir.join(f).exists(), "{f} not written");
    }
    let (code, out, _) = cli(&["mfpt", "double-well-1d", "--eps", "0.5", "-q"]);
    assert_eq!(code, 0);
    assert!(out.contains("E[τ](θ*)") && out.contains("V0/ε²"), "{out}");
    for (args, flag) in [
        (vec!["mfpt", "double-well-1d", "--eps", "0"], "--eps"),
        (
            vec!["mfpt", "double-well-1d", "--eps", "0.5", "--grid", "4"],
            "--grid",
        ),
        (
            vec!["mfpt", "quadratic-2d", "--eps", "0.5", "--grid", "300001"],
            "--grid",
        ),
        (
            vec!["mfpt", "quadratic-anisotropic-3d", "--eps", "0.5"],
            "PROBLEM",
        ),
        (
            vec!["mfpt", "quadratic-2d", "--eps", "0.5", "--box", "-1,1,2"],
            "--box",
        ),
    ] {
        let (code, _, err) = cli(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?}: {err}");
    }
}

/// ∫ₐᵇ f by composite Simpson with 20000 panels (smooth integrands: error ≪ 1e-10).
fn simpson(f: impl Fn(f64) -> f64, a: f64, b: f64) -> f64 {
    let m = 20000;
    let h = (b - a) / m as f64;
    let mut s = f(a) + f(b);
    for i in 1..m {
        s += f(a + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    s * h / 3.0
}

/// The committor q = P(reach ∂D before the ball |θ − θ*| ≤ r), 𝓛q = 0:
/// 1-D OU on (−1, 1.5) minus [−r, r]: q(x) = ∫ e^{y²/ε²} from the ball to x over the same from the
/// ball to ∂D, on each side; 2-D OU in the unit disc minus the ball: q(ρ) = ∫_r^ρ e^{s²/ε²}/s ds
/// / ∫_r^1 (same). Max nodal errors fall at second order (ratio > 3 per halving of h).
#[test]
fn committor_matches_exact_formulas_in_1d_and_2d() {
    let eps = 0.5;
    let r = 0.1;
    let p1 = ou_interval(-1.0, 1.5);
    let q1 = |x: f64| {
        let w = |y: f64| (y * y / (eps * eps)).exp();
        if x >= r {
            simpson(w, r, x) / simpson(w, r, 1.5)
        } else if x <= -r {
            simpson(w, x, -r) / simpson(w, -1.0, -r)
        } else {
            0.0
        }
    };
    let mut errs = Vec::new();
    for n in [513, 1025] {
        let c = Config {
            committor_radius: Some(r),
            error_estimate: false,
            principal_eigenvalue: false,
            ..cfg(eps, n)
        };
        let l = &generator::run(&p1, &c).unwrap().levels[0];
        let q = l.committor.as_ref().unwrap();
        let xs = l.grid(n).axis(0);
        let worst = xs
            .iter()
            .zip(q)
            .map(|(x, q)| (q - q1(*x)).abs())
            .fold(0.0, f64::max);
        errs.push(worst);
    }
    eprintln!("committor 1-D max errors N = 513, 1025: {errs:?}");
    assert!(errs[1] < 1e-5 && errs[0] / errs[1] > 3.0, "1-D: {errs:?}");
    let p2 = ou_disc();
    let r = 0.2;
    let q2 = |rho: f64| {
        let w = |s: f64| (s * s / (eps * eps)).exp() / s;
        if rho <= r {
            0.0
        } else if rho >= 1.0 {
            1.0
        } else {
            simpson(w, r, rho) / simpson(w, r, 1.0)
        }
    };
    let mut errs = Vec::new();
    for n in [129, 257] {
        let c = Config {
            committor_radius: Some(r),
            error_estimate: false,
            principal_eigenvalue: false,
            ..cfg(eps, n)
        };
        let l = &generator::run(&p2, &c).unwrap().levels[0];
        let q = l.committor.as_ref().unwrap();
        let g = l.grid(n);
        let mut x = [0.0; 2];
        let mut worst = 0.0f64;
        for (idx, qv) in q.iter().enumerate() {
            g.point(idx, &mut x);
            let rho = (x[0] * x[0] + x[1] * x[1]).sqrt();
            worst = worst.max((qv - q2(rho)).abs());
        }
        errs.push(worst);
    }
    eprintln!("committor 2-D max errors N = 129, 257: {errs:?}");
    assert!(errs[1] < 2e-3 && errs[0] / errs[1] > 3.0, "2-D: {errs:?}");
}

/// Past the sparse LU's reach (rounding the diagonal alone would move E[τ] by 10²–10⁴ times
/// itself), the subtraction-free banded solve takes over: the double well at ε = 0.12, 0.1, 0.07
/// (E[τ] ≈ 2e14, 1e22, 5e44) match the quadrature to 1e-6, as in the moderate-ε tests, and the
/// OU interval at ε = 0.1 (E[τ] ≈ 5e43) to its discretisation error; the separable 2-D double well at ε = 0.1 still equals the 1-D solution
/// on the same x-grid. Before this solver these runs printed a negative E[τ] or failed.
#[test]
fn rare_exits_beyond_lu_accuracy_match_quadrature() {
    let p = load("double-well-1d");
    for eps in [0.12, 0.1, 0.07] {
        let r = generator::run(&p, &cfg(eps, 2049)).unwrap();
        let l = &r.levels[0];
        let exact = mean_exit_time_1d(dw, eps, -12.0, 0.0, LeftBoundary::Reflecting, -1.0)
            .unwrap()
            .mean;
        assert_eq!(l.solver, "gth-banded", "ε = {eps}");
        assert!(l.lu_roundoff_bound > generator::ACCURATE_SOLVE_ABOVE);
        assert!(
            rel(l.mean_exit_time, exact) < 1e-6,
            "ε = {eps}: {} vs {exact} (rel {:.2e})",
            l.mean_exit_time,
            rel(l.mean_exit_time, exact)
        );
        let t1 = l.mean_exit_time_from_eigenvalue.unwrap();
        assert!(rel(t1, exact) < 0.05, "1/λ₁ = {t1} vs {exact}");
    }
    let p = ou_interval(-1.0, 1.5);
    let r = generator::run(&p, &cfg(0.1, 2049)).unwrap();
    let exact = mean_exit_time_1d(
        |x| x * x / 2.0,
        0.1,
        -1.0,
        1.5,
        LeftBoundary::Absorbing,
        0.0,
    )
    .unwrap()
    .mean;
    assert!(exact > 1e40);
    let l = &r.levels[0];
    // Here the grid, not the solver, limits: V/ε² = 112 at the far end; the Richardson value is
    // within the fine grid's error estimate (2.5e-4 relative).
    assert!(
        rel(l.mean_exit_time, exact) < 1e-4
            && (l.mean_exit_time - exact).abs() < l.error_estimate.unwrap(),
        "OU: {} vs {exact} (estimate {:?}, {})",
        l.mean_exit_time,
        l.error_estimate,
        l.solver
    );

    let p2 = from_toml(
        "name = \"dw-sep\"\nvariables = [\"x\", \"y\"]\nminimum = [-1.0, 0.0]\n[drift]\nloss = \"x^4/4 - x^2/2 + y^2/2\"\n[noise]\nsource = \"identity\"\n[domain]\nkind = \"half-space\"\nnormal = [1.0, 0.0]\noffset = 0.0\n",
    );
    let n = 129;
    let r2 = generator::run(&p2, &cfg(0.1, n)).unwrap();
    let l2 = &r2.levels[0];
    assert_eq!(l2.solver, "gth-banded");
    let c1 = Config {
        bounds: Some((vec![l2.box_lo[0]], vec![l2.box_hi[0]])),
        ..cfg(0.1, n)
    };
    let l1 = &generator::run(&load("double-well-1d"), &c1).unwrap().levels[0];
    let mut worst = 0.0f64;
    for j in 0..n {
        for i in 0..n {
            let d = (l2.values[j * n + i] - l1.values[i]).abs();
            worst = worst.max(d / l1.values[i].max(1.0));
        }
    }
    assert!(worst < 1e-9, "max relative difference {worst:.2e}");
}
