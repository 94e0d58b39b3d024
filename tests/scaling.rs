//! Exit-rate scaling sweeps: the sharpness map, the weighted fit, the discrete-chain V0, and a
//! quadratic sweep against the exact prediction.

use quasipot::analysis::scaling::{
    discrete_level_set_v0, scaling, weighted_fit, Method, ScalingConfig, Target, Vary,
};
use quasipot::exact::chain_1d::{mean_exit_steps_chain_1d, Chain1d};
use quasipot::linalg::Matrix;
use quasipot::problem::mlp::{fit, MlpConfig};
use quasipot::problem::{BuildOptions, ProblemSpec, Weight};
use quasipot::sgd::{run_gaussian, Config as SgdConfig, QuadraticLevelSet};
use rand::{Rng, SeedableRng};

fn quadratic_target(name: &str) -> Target {
    Target::load(name, BuildOptions::default()).unwrap()
}

/// L(θ) → L(√α θ) multiplies every Hessian eigenvalue by α: checked on a quadratic problem
/// (through the sweep's own per-point λ_max and exact V0s) and on the mlp (the fitted H*).
#[test]
fn sharpness_map_scales_lambda_max_exactly() {
    let alphas = [0.5, 1.0, 2.0, 3.0];
    let config = ScalingConfig {
        vary: Vary::Sharpness,
        values: Some(alphas.to_vec()),
        eta: Some(0.01),
        batch: Some(4),
        runs: 4,
        max_steps: 50,
        methods: Some(vec![Method::GaussianSgd]),
        ..ScalingConfig::default()
    };
    let r = scaling(
        &quadratic_target("quadratic-anisotropic-3d"),
        &config,
        &|_, _| {},
    )
    .unwrap();
    let base = r.points.iter().find(|p| p.x == 1.0).unwrap();
    for p in &r.points {
        let ratio = p.lambda_max / base.lambda_max;
        assert!(
            (ratio - p.x).abs() < 1e-12 * p.x,
            "α = {}: ratio {ratio}",
            p.x
        );
        // C = H*, level set: V0 = 2ΔL/(αλ_max) (inverse) and 2ΔL/√(αλ_max) (inverse-sqrt).
        let v_inv = 2.0 * p.delta_l / p.lambda_max;
        let v_isq = 2.0 * p.delta_l / p.lambda_max.sqrt();
        assert!((p.v0_inverse.unwrap() - v_inv).abs() < 1e-9 * v_inv);
        assert!((p.v0_inverse_sqrt.unwrap() - v_isq).abs() < 1e-9 * v_isq);
    }
    let m1 = fit(&MlpConfig::default()).unwrap();
    for alpha in [0.7, 1.6] {
        let m = fit(&MlpConfig {
            sharpness: alpha,
            ..MlpConfig::default()
        })
        .unwrap();
        let ratio = m.hessian_spectrum.lambda_max / m1.hessian_spectrum.lambda_max;
        assert!(
            (ratio - alpha).abs() < 1e-7 * alpha,
            "mlp α = {alpha}: λ_max ratio {ratio}"
        );
        let rmin = m.hessian_spectrum.lambda_min / m1.hessian_spectrum.lambda_min;
        assert!((rmin - alpha).abs() < 1e-6 * alpha, "λ_min ratio {rmin}");
    }
}

/// The weighted fit: exact on a noiseless line, and on noisy data with known standard errors
/// its 95% CI covers the true slope (checked over 200 synthetic data sets: coverage 0.95 ± 0.05).
#[test]
fn weighted_fit_recovers_known_slope() {
    let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let y: Vec<f64> = x.iter().map(|v| 0.5 - 2.25 * v).collect();
    let se = [0.1, 0.2, 0.1, 0.3, 0.1, 0.2];
    let f = weighted_fit(&x, &y, &se).unwrap();
    assert!((f.slope + 2.25).abs() < 1e-12 && (f.intercept - 0.5).abs() < 1e-12);
    assert!(f.reduced_chi2.unwrap() < 1e-20);
    // Known-variance slope error for equal weights: se/√Σ(x − x̄)².
    let g = weighted_fit(&x, &y, &[0.2; 6]).unwrap();
    let sxx: f64 = x.iter().map(|v| (v - 3.5) * (v - 3.5)).sum();
    assert!((g.slope_se - 0.2 / sxx.sqrt()).abs() < 1e-12);

    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
    let mut covered = 0;
    let trials = 200;
    for _ in 0..trials {
        let yn: Vec<f64> = x
            .iter()
            .zip(&se)
            .map(|(v, s)| {
                let z: f64 = rng.sample(rand_distr::StandardNormal);
                3.0 + 0.8 * v + s * z
            })
            .collect();
        let f = weighted_fit(&x, &yn, &se).unwrap();
        if f.slope_ci95[0] <= 0.8 && 0.8 <= f.slope_ci95[1] {
            covered += 1;
        }
    }
    let c = covered as f64 / trials as f64;
    // Birge inflation makes the CI conservative: coverage at least nominal within sampling error.
    assert!(c >= 0.90, "coverage {c}");
    assert!(weighted_fit(&[1.0], &[1.0], &[1.0]).is_none());
    assert!(weighted_fit(&[1.0, 1.0], &[1.0, 2.0], &[1.0, 1.0]).is_none());
}

/// The discrete chain's V0 for C = H on {½xᵀHx < ΔL}: Σ_η = diag(1/(2 − ηλᵢ)) in H's eigenbasis,
/// so V0 = 2ΔL(1 − ηλ_max/2)/λ_max exactly, and → 2ΔL/λ_max (weight inverse) as η → 0.
#[test]
fn discrete_v0_closed_form() {
    let h = Matrix {
        n: 2,
        data: vec![2.0, 0.5, 0.5, 1.0],
    };
    let lmax = 1.5 + (0.25f64 + 0.25).sqrt();
    for eta in [0.0, 0.1, 0.5] {
        let v = discrete_level_set_v0(&h, &h, 0.3, eta).unwrap().unwrap();
        let exact = 2.0 * 0.3 * (1.0 - eta * lmax / 2.0) / lmax;
        assert!((v - exact).abs() < 1e-12, "η = {eta}: {v} vs {exact}");
    }
    assert!(discrete_level_set_v0(&h, &h, 0.3, 2.0 / lmax)
        .unwrap()
        .is_none());
}

/// Gaussian SGD (eq. 2) with C = H* on quadratic-2d (H = diag(1, 4)), batch sweep at small ηλ:
/// the slope of ln E[ν] against B/η agrees with the exact weight-inverse V0 = 2ΔL/λ_max within its
/// CI, and excludes the inverse-sqrt prediction 2ΔL/√λ_max (twice as large).
#[test]
fn quadratic_sweep_follows_inverse_weight() {
    let config = ScalingConfig {
        vary: Vary::Batch,
        values: Some(vec![8.0, 9.0, 10.0, 11.0, 12.0]),
        eta: Some(0.005),
        delta_l: Some(0.01),
        runs: 300,
        max_steps: 60_000,
        seed: 3,
        methods: Some(vec![Method::GaussianSgd]),
        ..ScalingConfig::default()
    };
    let r = scaling(&quadratic_target("quadratic-2d"), &config, &|_, _| {}).unwrap();
    let f = r
        .fits
        .iter()
        .find(|f| f.against == "B/eta" && f.method == Method::GaussianSgd)
        .unwrap();
    let fit = f.fit.as_ref().unwrap();
    let v_inv = 2.0 * 0.01 / 4.0;
    let pred = |w: Weight| f.predicted.iter().find(|p| p.weight == w).unwrap();
    assert!((pred(Weight::Inverse).slope - v_inv).abs() < 1e-12);
    assert!((pred(Weight::InverseSqrt).slope - 2.0 * v_inv).abs() < 1e-12);
    eprintln!(
        "slope {} ± {} (pred {v_inv}); points {:?}",
        fit.slope,
        1.96 * fit.slope_se,
        r.points
            .iter()
            .map(|p| (p.mean_exit_steps, p.censored))
            .collect::<Vec<_>>()
    );
    assert!(pred(Weight::Inverse).inside_ci, "slope {fit:?}");
    assert!(!pred(Weight::InverseSqrt).inside_ci);
    assert_eq!(f.follows, Some(Weight::Inverse), "{}", f.verdict);
}

/// The command line: `quasipot scaling` on a quadratic problem writes the CSV, JSON and figure
/// and prints one JSON object with the fits.
#[test]
fn cli_scaling_json_and_files() {
    let dir = std::env::temp_dir().join(format!("quasipot_scaling_cli_{}", std::process::id()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_quasipot"))
        .args([
            "scaling",
            "quadratic-2d",
            "--vary",
            "lr",
            "--runs",
            "20",
            "--max-steps",
            "20000",
            "--json",
            "--quiet",
            "--out",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let js: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let fits = js["scaling"]["fits"].as_array().unwrap();
    // Two methods (Gaussian SGD, proximal) × (against η, against B/η).
    assert_eq!(fits.len(), 4);
    assert_eq!(js["scaling"]["points"].as_array().unwrap().len(), 10);
    for f in [
        "scaling_lr.csv",
        "scaling_lr.json",
        "scaling_lr.png",
        "scaling_lr.svg",
    ] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_quasipot"))
        .args(["scaling", "maier-stein", "--vary", "sharpness", "--quiet"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).ok();
}

fn one_d_target(curvature: f64) -> Target {
    let text = format!(
        r#"
name = "quadratic-1d"
minimum = [0.0]
[drift]
hessian = [[{curvature}]]
[noise]
source = "hessian-at-minimum"
[domain]
kind = "level-set"
depth = 1.0
"#
    );
    Target::Problem {
        spec: Box::new(ProblemSpec::from_toml(&text, "test").unwrap()),
        base: std::path::PathBuf::from("."),
        options: BuildOptions::default(),
    }
}

/// Each point draws from its own stream: two points at the same setting give different exit
/// times (they would be identical with one seed for the whole sweep, which made the weighted
/// least squares' independence assumption false); `common_random_numbers` restores one stream.
#[test]
fn sweep_points_have_independent_streams() {
    let config = |crn: bool| ScalingConfig {
        vary: Vary::Lr,
        values: Some(vec![0.1, 0.1]),
        delta_l: Some(0.02),
        runs: 40,
        max_steps: 50_000,
        methods: Some(vec![Method::GaussianSgd]),
        common_random_numbers: crn,
        ..ScalingConfig::default()
    };
    let r = scaling(
        &quadratic_target("quadratic-2d"),
        &config(false),
        &|_, _| {},
    )
    .unwrap();
    let (a, b) = (&r.points[0], &r.points[1]);
    assert_ne!(a.seed, b.seed);
    assert_ne!(a.mean_exit_steps, b.mean_exit_steps);
    assert!(r.notes.iter().any(|n| n.contains("own random stream")));
    let r = scaling(&quadratic_target("quadratic-2d"), &config(true), &|_, _| {}).unwrap();
    assert_eq!(r.points[0].seed, r.points[1].seed);
    assert_eq!(r.points[0].mean_exit_steps, r.points[1].mean_exit_steps);
    assert!(r.notes.iter().any(|n| n.contains("not valid")));
}

/// The discrete chain eq. (2) in 1-D is the AR(1) x' = (1 − ηλ)x + ε√(ηc)ξ, whose mean exit
/// steps are computed exactly by `exact::chain_1d` (Nyström). At ηλ = 0.5 (c = λ = 2, ΔL = 1):
/// the slope of the exact ln E[ν] against B/η tends to the chain's V0 = ΔL(2 − ηλ)/c = 0.75, which
/// the sweep reports as `v0_discrete`, not to the continuous inverse-weight V0 = 2ΔL/c = 1; and
/// the sweep's per-point chain prediction (prefactor, κ = −1) matches the exact ln E[ν].
#[test]
fn discrete_chain_v0_and_prediction_match_exact_ar1() {
    let (lambda, eta, dl) = (2.0, 0.25, 1.0);
    let batches = [24.0, 28.0, 32.0];
    let config = ScalingConfig {
        vary: Vary::Batch,
        values: Some(batches.to_vec()),
        eta: Some(eta),
        delta_l: Some(dl),
        runs: 4,
        max_steps: 100,
        methods: Some(vec![Method::GaussianSgd]),
        ..ScalingConfig::default()
    };
    let r = scaling(&one_d_target(lambda), &config, &|_, _| {}).unwrap();
    let half_width = (2.0 * dl / lambda).sqrt();
    let exact_ln = |b: f64| {
        let chain = Chain1d {
            curvature: lambda,
            variance: lambda,
            step: eta,
            eps: (eta / b).sqrt(),
        };
        mean_exit_steps_chain_1d(&chain, -half_width, half_width, 0.0, 8)
            .unwrap()
            .ln()
    };
    let v0_chain = dl * (2.0 - eta * lambda) / lambda;
    for (p, &b) in r.points.iter().zip(&batches) {
        assert!((p.v0_discrete.unwrap() - v0_chain).abs() < 1e-12);
        assert!((p.v0_inverse.unwrap() - 2.0 * dl / lambda).abs() < 1e-12);
        let q = p
            .predictions
            .iter()
            .find(|q| q.weight == Weight::Inverse)
            .unwrap();
        assert!(q.full_prefactor);
        // Corrections to the Laplace prefactor are O(ε²/V0) = O(η/(B·V0)) ≈ 1.5 %.
        let err = q.ln_steps_chain - exact_ln(b);
        assert!(err.abs() < 0.05, "B = {b}: chain prediction off by {err}");
    }
    // Exact slope between the two largest B: V0_chain plus the ε-power's ½/(B/η), 2 % here.
    let (x1, x2) = (batches[1] / eta, batches[2] / eta);
    let slope = (exact_ln(batches[2]) - exact_ln(batches[1])) / (x2 - x1);
    assert!(
        (slope / v0_chain - 1.0).abs() < 0.04,
        "exact slope {slope} vs chain V0 {v0_chain}"
    );
}

/// The time change t → st maps dθ = −Hθ dt + ε C^{1/2} dW to the same process with (sH, sC), and
/// the level set {½θᵀ(sH)θ < sΔL} is the same set: Gaussian SGD (a = C) at step η/s and batch
/// B/s (same ε² = η/B) on (sH, sC, sΔL) runs the identical recursion as (η, B) on (H, C, ΔL), so every run exits at the same
/// step and exit *times* η·ν scale exactly by 1/s (s = 4 keeps every product exact in floating
/// point). The inverse weight's V0 = 2ΔL/λ_max is invariant; the inverse-sqrt weight's
/// 2ΔL/√λ_max grows like √s, so it cannot be the exponent of these exit times.
#[test]
fn time_change_scales_exit_times_exactly() {
    let s = 4.0;
    let h = Matrix::from_rows(&[vec![1.0, 0.0], vec![0.0, 4.0]], "H").unwrap();
    let hs = Matrix::from_rows(&[vec![s, 0.0], vec![0.0, 4.0 * s]], "sH").unwrap();
    let run = |h: &Matrix, dl: f64, eta: f64, batch: usize| {
        let drift = quasipot::problem::drift::LinearDrift {
            a: h.clone(),
            center: vec![0.0, 0.0],
        };
        let exit = QuadraticLevelSet::new(&[0.0, 0.0], h, dl).unwrap();
        let config = SgdConfig {
            eta,
            batch,
            runs: 200,
            max_steps: 100_000,
            seed: 9,
        };
        run_gaussian(&drift, h, &[0.0, 0.0], &exit, &config).unwrap()
    };
    // ε² = η/B is the same noise level in both: the step and the batch both shrink by s.
    let a = run(&h, 0.01, 0.02, 16);
    let b = run(&hs, 0.01 * s, 0.02 / s, 4);
    assert!(a.exited > 150);
    assert_eq!(a.exit_steps, b.exit_steps);
    let (ta, tb) = (a.mean_exit_time.unwrap(), b.mean_exit_time.unwrap());
    assert!((ta / tb - s).abs() < 1e-12, "{ta} vs {tb}");
    // Exact V0 of the two problems under each weight.
    let v0 = |hm: &Matrix, dl: f64, w: Weight| {
        let text = format!(
            "name = \"q\"\nminimum = [0.0, 0.0]\n[drift]\nhessian = {:?}\n[noise]\nsource = \"hessian-at-minimum\"\n[domain]\nkind = \"level-set\"\ndepth = {dl}\n",
            hm.to_rows()
        );
        let p = ProblemSpec::from_toml(&text, "test")
            .unwrap()
            .build(
                std::path::Path::new("."),
                &BuildOptions {
                    weight: Some(w),
                    ..Default::default()
                },
            )
            .unwrap();
        quasipot::exact::quasi_potential_barrier(&p).unwrap().v0
    };
    let inv = (
        v0(&h, 0.1, Weight::Inverse),
        v0(&hs, 0.1 * s, Weight::Inverse),
    );
    assert!((inv.0 - inv.1).abs() < 1e-12 * inv.0, "{inv:?}");
    let sq = (
        v0(&h, 0.1, Weight::InverseSqrt),
        v0(&hs, 0.1 * s, Weight::InverseSqrt),
    );
    assert!((sq.1 / sq.0 - s.sqrt()).abs() < 1e-9, "{sq:?}");
}

/// The covariance floor on the semi-definite C* is a flag, and the report gives the predictions'
/// sensitivity to it: V0 (weight inverse) at floor ÷10 and ×10. Raising the floor raises C, so
/// V0 can only fall: V0(×10) ≤ V0 ≤ V0(÷10).
#[test]
fn covariance_floor_sensitivity_is_reported_and_monotone() {
    let config = ScalingConfig {
        vary: Vary::Lr,
        values: Some(vec![0.3, 0.35]),
        runs: 4,
        max_steps: 2_000,
        methods: Some(vec![Method::GaussianSgd]),
        covariance_floor: 1e-4,
        ..ScalingConfig::default()
    };
    let r = scaling(&Target::Mlp(MlpConfig::default()), &config, &|_, _| {}).unwrap();
    for p in &r.points {
        let [lo_floor, hi_floor] = p.v0_inverse_floor_range.unwrap();
        let v = p.v0_inverse.unwrap();
        assert!(
            hi_floor <= v * (1.0 + 1e-9) && v <= lo_floor * (1.0 + 1e-9),
            "{lo_floor} {v} {hi_floor}"
        );
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_quasipot"))
        .args([
            "scaling",
            "quadratic-2d",
            "--vary",
            "lr",
            "--covariance-floor",
            "0",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("covariance-floor") && !err.contains("panicked"),
        "{err}"
    );
}
