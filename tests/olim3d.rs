//! The 3-D OLIM grid solver against exact references (DESIGN §2), and its rejections of bad
//! input.
//!
//! Tolerances: the bounds are the measured errors and observed orders (given in each test, with
//! quadratic interpolation of U in the triangle and tetrahedron updates, the default) with a
//! margin of 2–10×; with the published linear interpolation the linear cases' errors are 15–60×
//! larger at N = 65 (ErrMax order ≈ 0.5: an O(h) bias that builds up along the
//! characteristics), so the bounds fail without the quadratic interpolant. V0 is a minimum over
//! ∂D of values interpolated along crossing grid edges, some of whose ends lie outside D where
//! the errors are not measured: it is checked within ErrMax + h·V0.

use faer::linalg::solvers::DenseSolveCore;
use quasipot::error::Error;
use quasipot::olim3d::{run, Config, Report};
use quasipot::problem::{BuildOptions, Problem, ProblemSpec};
use std::path::Path;

fn problem_from(text: &str) -> Problem {
    ProblemSpec::from_toml(text, "test")
        .unwrap()
        .build(Path::new("."), &BuildOptions::default())
        .unwrap()
}

fn solve(p: &Problem, n: usize) -> Report {
    let mut c = Config::new(n).unwrap();
    c.estimate_error = false;
    run(p, &c).unwrap()
}

/// ErrMax and ERMS of the grid values against V = ½uᵀΣ⁻¹u (Σ from the Lyapunov equation, exact
/// for linear drift and constant noise) over the accepted points in D̄ with V ≤ V0.
fn linear_errors(p: &Problem, r: &Report, v0: f64) -> (f64, f64, f64) {
    let s = quasipot::exact::local_covariance(p).unwrap().sigma;
    let sinv = s.partial_piv_lu().inverse();
    let n = r.grid.n;
    let (mut emax, mut esq, mut cnt, mut vmax) = (0.0f64, 0.0, 0usize, 0.0f64);
    for (idx, &u) in r.values.iter().enumerate() {
        let ijk = [idx % n, (idx / n) % n, idx / (n * n)];
        let x: Vec<f64> = (0..3)
            .map(|a| r.grid.lo[a] + ijk[a] as f64 * r.grid.h[a])
            .collect();
        if !u.is_finite() || p.domain.level(&x) > 0.0 {
            continue;
        }
        let mut v = 0.0;
        for a in 0..3 {
            for b in 0..3 {
                v += 0.5 * x[a] * sinv[(a, b)] * x[b];
            }
        }
        if v > v0 {
            continue;
        }
        emax = emax.max((u - v).abs());
        esq += (u - v) * (u - v);
        vmax = vmax.max(v);
        cnt += 1;
    }
    assert!(cnt > 100, "only {cnt} points compared");
    (emax, (esq / cnt as f64).sqrt(), vmax)
}

/// Observed order of `errs` (pairs (N, error)) between the first and last grid.
fn order(errs: &[(usize, f64)]) -> f64 {
    let (a, b) = (errs[0], errs[errs.len() - 1]);
    (a.1 / b.1).log2() / ((b.0 - 1) as f64 / (a.0 - 1) as f64).log2()
}

const LINEAR_BALL: &str = r#"
name = "linear-noncommuting-3d-ball"
variables = ["x", "y", "z"]
minimum = [0.0, 0.0, 0.0]
[drift]
field = ["-(1.0*x + 0.6*y)", "-(-0.4*x + 1.5*y + 0.3*z)", "-(0.2*y + 0.8*z)"]
[noise]
source = "matrix"
matrix = [[1.0, 0.3, -0.2], [0.3, 0.7, 0.1], [-0.2, 0.1, 1.2]]
weight = "inverse"
[domain]
kind = "ball"
radius = 1.0
"#;

/// Linear non-normal drift b = −Bθ with constant noise that commutes with neither B nor Bᵀ, on
/// the unit ball: V0 = r²/(2λ_max(Σ)) from the exact engine, V = ½θᵀΣ⁻¹θ everywhere.
#[test]
fn linear_noncommuting_noise_on_a_ball_converges_to_the_lyapunov_solution() {
    let p = problem_from(LINEAR_BALL);
    let exact = quasipot::exact::quasi_potential_barrier(&p).unwrap();
    let mut errs = Vec::new();
    for n in [17, 33, 65] {
        let r = solve(&p, n);
        let (emax, erms, vmax) = linear_errors(&p, &r, exact.v0);
        eprintln!(
            "ball N={n}: V0 {:?} exact {} ErrMax {emax:.3e} ERMS {erms:.3e} max V {vmax:.3}",
            r.v0, exact.v0
        );
        let v0 = r.v0.expect("V0 certified");
        // V0 is a minimum over ∂D of a first-order approximation: within ErrMax + O(h).
        assert!(
            (v0 - exact.v0).abs() <= emax + r.grid.h[0] * exact.v0,
            "N={n}: V0 {v0} vs {}",
            exact.v0
        );
        errs.push((n, emax, erms, vmax));
    }
    let emax: Vec<(usize, f64)> = errs.iter().map(|e| (e.0, e.1)).collect();
    let erms: Vec<(usize, f64)> = errs.iter().map(|e| (e.0, e.2)).collect();
    assert!(emax.windows(2).all(|w| w[1].1 < w[0].1), "{errs:?}");
    // Measured: ErrMax 7.0e-4, 1.8e-4, 4.4e-5 and ERMS 6.8e-5, 7.8e-6, 1.2e-6 at N = 17, 33,
    // 65 (orders 2.0 and 2.9); linear interpolation: ErrMax 8.2e-3 at N = 65.
    assert!(order(&emax) >= 1.5 && order(&erms) >= 1.5, "{errs:?}");
    let last = errs[2];
    assert!(last.2 <= 1e-5, "ERMS {}", last.2);
    assert!(
        last.1 <= 1e-3 * last.3,
        "ErrMax {} vs max V {}",
        last.1,
        last.3
    );
}

/// Gradient drift of L = ½θᵀHθ with noise not commuting with H, exit from the level set
/// {L < ΔL}: V0 = ΔL·μ_min (generalised eigenproblem Σ⁻¹x = μHx) from the exact engine.
#[test]
fn linear_noncommuting_noise_on_a_level_set_matches_the_exact_v0() {
    let p = problem_from(
        r#"
name = "quadratic-noncommuting-3d"
variables = ["x", "y", "z"]
minimum = [0.0, 0.0, 0.0]
[drift]
hessian = [[2.0, 0.6, 0.0], [0.6, 1.0, 0.2], [0.0, 0.2, 1.5]]
[noise]
source = "matrix"
matrix = [[1.0, -0.45, 0.1], [-0.45, 0.6, 0.0], [0.1, 0.0, 0.8]]
weight = "inverse-sqrt"
[domain]
kind = "level-set"
depth = 0.5
"#,
    );
    let exact = quasipot::exact::quasi_potential_barrier(&p).unwrap();
    let mut errs = Vec::new();
    for n in [17, 33, 65] {
        let r = solve(&p, n);
        let (emax, erms, vmax) = linear_errors(&p, &r, exact.v0);
        let v0 = r.v0.expect("V0 certified");
        eprintln!(
            "level set N={n}: V0 {v0} exact {} ErrMax {emax:.3e} ERMS {erms:.3e}",
            exact.v0
        );
        assert!(
            (v0 - exact.v0).abs() <= emax + r.grid.h[0] * exact.v0,
            "N={n}: V0 {v0} vs {}",
            exact.v0
        );
        errs.push((n, emax, erms, vmax, (v0 - exact.v0).abs()));
    }
    // Measured: ErrMax 2.2e-3, 5.4e-4, 1.35e-4 (order 2.0) and |V0 − exact| 7.4e-3, 2.7e-3,
    // 4.4e-4 (order 2.0); linear interpolation: ErrMax 1.2e-2, |V0 − exact| 9.4e-3 at N = 65.
    let emax: Vec<(usize, f64)> = errs.iter().map(|e| (e.0, e.1)).collect();
    let ev0: Vec<(usize, f64)> = errs.iter().map(|e| (e.0, e.4)).collect();
    assert!(emax.windows(2).all(|w| w[1].1 < w[0].1), "{errs:?}");
    assert!(order(&emax) >= 1.5 && order(&ev0) >= 1.0, "{errs:?}");
    assert!(errs[2].1 <= 1e-3 * errs[2].3, "{errs:?}");
}

/// The manufactured nonlinear case (state-dependent full a(θ), rotation R∇V; exact
/// V = x²/2 + x⁴/4 + y² + z²/2, V0 = 0.5). Measured ErrMax 2.6e-2, 5.8e-3, 1.9e-3 and
/// ERMS 5.5e-3, 1.4e-3, 5.1e-4 at N = 17, 33, 65 (orders 1.9, 1.7); ErrMax/max V = 3.8e-3 at
/// N = 65 against the target 1e-2 (linear interpolation: 6.4e-3, ERMS 1.4e-3).
#[test]
fn manufactured_anisotropic_3d_converges_to_the_exact_quasi_potential() {
    let p = Problem::load(
        "benches/support/manufactured-anisotropic-3d.toml",
        &BuildOptions::default(),
    )
    .unwrap();
    let mut errs = Vec::new();
    for n in [17, 33, 65] {
        let r = solve(&p, n);
        let e = r.errors.clone().expect("exact V given");
        eprintln!(
            "manufactured N={n}: V0 {:?} ErrMax {:.3e} ERMS {:.3e}",
            r.v0, e.error_max, e.error_rms
        );
        assert!(e.points > n * n * n / 10, "N={n}: {} points", e.points);
        let v0 = r.v0.expect("V0 certified");
        assert!(
            (v0 - 0.5).abs() <= e.error_max + r.grid.h[0] * 0.5,
            "N={n}: V0 {v0}, ErrMax {}",
            e.error_max
        );
        let x = r.exit_point.expect("exit point");
        assert!(
            p.domain.level(&x).abs() < 0.05,
            "exit point {x:?} not on ∂D"
        );
        errs.push((n, e.error_max, e.error_rms, e.error_max_normalised));
    }
    let emax: Vec<(usize, f64)> = errs.iter().map(|e| (e.0, e.1)).collect();
    let erms: Vec<(usize, f64)> = errs.iter().map(|e| (e.0, e.2)).collect();
    assert!(emax.windows(2).all(|w| w[1].1 < w[0].1), "{errs:?}");
    assert!(order(&emax) >= 1.2 && order(&erms) >= 1.2, "{errs:?}");
    assert!(errs[2].3 <= 1e-2, "ErrMax/max V at N = 65: {errs:?}");
    assert!(errs[2].2 <= 1e-3, "ERMS at N = 65: {errs:?}");
}

/// An N³ far beyond memory is refused at configuration time, naming `--grid` and a size that
/// fits; so is a box that cuts D, a box missing θ*, and a 2-D problem.
#[test]
fn bad_input_is_refused_with_errors_naming_the_flag() {
    let e = Config::new(20_000).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::Invalid { .. }), "{msg}");
    assert!(msg.contains("--grid") && msg.contains("≤"), "{msg}");

    let p = problem_from(LINEAR_BALL);
    let c = Config::new(17).unwrap();
    let cut = c
        .clone()
        .with_box([-0.5, -1.2, -1.2], [1.2, 1.2, 1.2])
        .unwrap();
    let msg = run(&p, &cut).unwrap_err().to_string();
    assert!(
        msg.contains("--box") && msg.contains("lower x face"),
        "{msg}"
    );
    let off = c
        .clone()
        .with_box([0.5, 0.5, 0.5], [3.0, 3.0, 3.0])
        .unwrap();
    let msg = run(&p, &off).unwrap_err().to_string();
    assert!(msg.contains("--box") && msg.contains("θ*"), "{msg}");
    assert!(c.clone().with_box([0.0; 3], [0.0, 1.0, 1.0]).is_err());
    assert!(Config::new(5).is_err() && c.clone().with_k(0).is_err());
    let two = Problem::load("rotational-linear", &BuildOptions::default()).unwrap();
    assert!(matches!(run(&two, &c), Err(Error::Unsupported(_))));
}

/// `quasipot field` on a 3-D problem: JSON with V0, the exit point and the errors; V.npy of
/// shape (N, N, N) with its three axes; a 2-D `--box` refused with exit code 2 naming the flag.
#[test]
fn field_subcommand_solves_3d_problems() {
    let bin = env!("CARGO_BIN_EXE_quasipot");
    let dir = std::env::temp_dir().join(format!("quasipot-olim3d-{}", std::process::id()));
    let problem = "benches/support/manufactured-anisotropic-3d.toml";
    let out = std::process::Command::new(bin)
        .args(["field", problem, "--grid", "17", "--json", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["method"], "olim3d-midpoint");
    let v0 = v["v0"].as_f64().unwrap();
    assert!((v0 - 0.5).abs() < 0.05, "{v0}");
    assert_eq!(v["exit_point"].as_array().unwrap().len(), 3);
    assert!(v["errors"]["error_max"].as_f64().unwrap() < 0.05);
    let npy = std::fs::read(dir.join("V.npy")).unwrap();
    let header = String::from_utf8_lossy(&npy[..128.min(npy.len())]).to_string();
    assert!(header.contains("(17, 17, 17)"), "{header}");
    assert!(npy.len() >= 17 * 17 * 17 * 8 && npy.len() < 17 * 17 * 17 * 8 + 256);
    for axis in ["x.npy", "y.npy", "z.npy"] {
        assert!(dir.join(axis).exists(), "{axis}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    let bad = std::process::Command::new(bin)
        .args(["field", problem, "--grid", "17", "--box", "0,1,0,1"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--box"));
}

/// `quasipot validate --quick` on a 3-D problem runs the 3-D grid engine beside gMAM, and its V0
/// agrees with the exact 0.5 within its own error estimate 2·|V₀(33) − V₀(17)|.
#[test]
fn validate_runs_the_3d_grid_engine() {
    let bin = env!("CARGO_BIN_EXE_quasipot");
    let out = std::process::Command::new(bin)
        .args([
            "validate",
            "benches/support/manufactured-anisotropic-3d.toml",
            "--quick",
            "--no-monte-carlo",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = v["results"].as_array().unwrap();
    let grid = results
        .iter()
        .find(|r| r["method"] == "olim3d")
        .unwrap_or_else(|| panic!("no olim3d result: {v}"));
    let (v0, err) = (
        grid["v0"].as_f64().unwrap(),
        grid["error_estimate"].as_f64().unwrap(),
    );
    eprintln!("validate olim3d: V0 {v0} ± {err}, skipped {}", v["skipped"]);
    assert!(err > 0.0 && err < 0.05, "{grid}");
    assert!((v0 - 0.5).abs() <= err, "{grid}");
    assert_eq!(grid["exit_point"].as_array().unwrap().len(), 3);
    assert!(results.iter().any(|r| r["method"] == "gmam"), "{v}");
}

/// b = (−½a + R)∇V with constant non-diagonal SPD a, skew R and
/// V = x²/2 + x⁴/4 + 0.2xy + 0.75y² + 0.3yz + 0.4z² (∇V = (x + 0.2y + x³, 0.2x + 1.5y + 0.3z,
/// 0.3y + 0.8z)): ½∇Vᵀa∇V + b·∇V = ½∇Vᵀa∇V − ½∇Vᵀa∇V + ∇VᵀR∇V = 0 since ∇VᵀR∇V = 0 for skew
/// R, and V is strictly convex with its only critical point at 0, so V is the quasi-potential
/// and V0 = 0.5 on {V < 0.5}. M = −½a + R is written out entry by entry. Measured ErrMax
/// 9.5e-3, 3.1e-3 and ERMS 2.0e-3, 7.5e-4 at N = 33, 65 (ErrMax order 1.6, V0 0.4905, 0.4971);
/// the bounds are 2× those errors and order ≥ 1.2 (as for the state-dependent case above).
const MANUFACTURED_CONSTANT_A: &str = r#"
name = "manufactured-constant-a-3d"
variables = ["x", "y", "z"]
minimum = [0.0, 0.0, 0.0]
[drift]
field = [
  "(-0.6)*(x + 0.2*y + x^3) + (0.85)*(0.2*x + 1.5*y + 0.3*z) + (-0.55)*(0.3*y + 0.8*z)",
  "(-1.15)*(x + 0.2*y + x^3) + (-0.45)*(0.2*x + 1.5*y + 0.3*z) + (0.6)*(0.3*y + 0.8*z)",
  "(0.45)*(x + 0.2*y + x^3) + (-0.8)*(0.2*x + 1.5*y + 0.3*z) + (-0.35)*(0.3*y + 0.8*z)",
]
[noise]
source = "field"
field = [["1.2", "0.3", "0.1"], ["0.3", "0.9", "0.2"], ["0.1", "0.2", "0.7"]]
weight = "inverse"
[domain]
kind = "level-set"
function = "x^2/2 + x^4/4 + 0.2*x*y + 0.75*y^2 + 0.3*y*z + 0.4*z^2"
depth = 0.5
[reference]
quasi_potential = "x^2/2 + x^4/4 + 0.2*x*y + 0.75*y^2 + 0.3*y*z + 0.4*z^2"
v0 = 0.5
"#;

#[test]
fn manufactured_constant_anisotropic_a_with_skew_rotation_converges() {
    let p = problem_from(MANUFACTURED_CONSTANT_A);
    let mut errs = Vec::new();
    for n in [33, 65] {
        let r = solve(&p, n);
        let e = r.errors.clone().expect("exact V given");
        eprintln!(
            "constant-a N={n}: V0 {:?} ErrMax {:.3e} ERMS {:.3e} ErrMax/maxV {:.3e}",
            r.v0, e.error_max, e.error_rms, e.error_max_normalised
        );
        let v0 = r.v0.expect("V0 certified");
        assert!(
            (v0 - 0.5).abs() <= e.error_max + r.grid.h[0] * 0.5,
            "N={n}: V0 {v0}, ErrMax {}",
            e.error_max
        );
        errs.push((n, e.error_max, e.error_rms));
    }
    let emax: Vec<(usize, f64)> = errs.iter().map(|e| (e.0, e.1)).collect();
    eprintln!("constant-a ErrMax order {:.2}", order(&emax));
    assert!(errs[0].1 <= 2e-2 && errs[1].1 <= 6e-3, "{errs:?}");
    assert!(errs[0].2 <= 4e-3 && errs[1].2 <= 1.5e-3, "{errs:?}");
    assert!(order(&emax) >= 1.2, "{errs:?}");
}
