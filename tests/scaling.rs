//! Exit-rate scaling sweeps: the sharpness map, the weighted fit, the discrete-chain V0, and a
//! quadratic sweep against the exact prediction.

use quasipot::analysis::scaling::{
    discrete_level_set_v0, scaling, weighted_fit, Method, ScalingConfig, Target, Vary,
};
use quasipot::linalg::Matrix;
use quasipot::problem::mlp::{fit, MlpConfig};
use quasipot::problem::{BuildOptions, ProblemSpec, Weight};
use rand::{Rng, SeedableRng};

fn quadratic_target(name: &str) -> Target {
    let (spec, base) = ProblemSpec::load(name).unwrap();
    Target::Problem {
        spec: Box::new(spec),
        base,
        options: BuildOptions::default(),
    }
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
