//! Exit diagnostics against closed forms, `exit --lr` simulating Gaussian SGD itself (a = C), and
//! the sweep's quadratic-model control and regime check.

mod common;

use quasipot::analysis::exit_diagnostics::{
    diagnose, diagnose_problem, modal_exit_point, predicted_channels, Setting, FLUCTUATION_LIMIT,
};
use quasipot::analysis::scaling::{scaling, Method, ScalingConfig, Target, Vary};
use quasipot::linalg::Matrix;
use quasipot::problem::{BuildOptions, Problem, Weight};
use std::process::Command;

fn quad_level(h: &[f64; 2], dl: f64) -> impl Fn(&[f64]) -> f64 + Sync + '_ {
    move |x: &[f64]| 0.5 * (h[0] * x[0] * x[0] + h[1] * x[1] * x[1]) - dl
}

/// On a quadratic level set {½xᵀHx < ΔL} with a = H (C = H*, weight inverse) the stationary
/// covariance of the SDE is Σ = I/2, the half-width along eigen-direction i is √(2ΔL/λᵢ), so the
/// fluctuation ratio is maxᵢ ε²λᵢ/(4ΔL) = ε²/(2V0) with V0 = 2ΔL/λ_max; for the chain at step η,
/// Σᵢᵢ = λᵢ/(2λᵢ − ηλᵢ²) and the ratio is ε²/(2V0_η) with V0_η = ΔL(2 − ηλ_max)/λ_max.
#[test]
fn fluctuation_ratio_is_eps2_over_2v0_on_a_quadratic_level_set() {
    let h = [1.0, 4.0];
    let dl = 0.5;
    let hm = Matrix::diagonal(&h);
    let level = quad_level(&h, dl);
    let pts = vec![vec![0.0, 0.5], vec![0.0, -0.5]];
    for (step, v0) in [(None, 2.0 * dl / 4.0), (Some(0.1), dl * (2.0 - 0.4) / 4.0)] {
        for eps2 in [0.01, 0.2] {
            let s = Setting {
                theta_star: &[0.0, 0.0],
                hessian: &hm,
                diffusion: &hm,
                eps2,
                step,
                loss: None,
                level: &level,
                barrier_loss: Some(dl),
                channels: &[],
            };
            let d = diagnose(&s, &pts).unwrap();
            let r = d.fluctuation_ratio.unwrap();
            let want = eps2 / (2.0 * v0);
            assert!(
                (r - want).abs() < 1e-9 * want,
                "step {step:?}, ε² {eps2}: ratio {r}, want {want}"
            );
            assert_eq!(d.outside_regime, want >= FLUCTUATION_LIMIT);
            // Half-widths by bisection against √(2ΔL/λ).
            for m in &d.modes {
                let w = (2.0 * dl / m.lambda).sqrt();
                assert!((m.half_width.unwrap() - w).abs() < 1e-9 * w);
            }
        }
    }
}

/// Energy shares, channel counts and loss at exit on hand-made exit points.
#[test]
fn shares_channels_and_loss_at_exit_on_known_points() {
    let h = [1.0, 4.0];
    let dl = 0.5;
    let hm = Matrix::diagonal(&h);
    let level = quad_level(&h, dl);
    let loss = |x: &[f64]| 0.5 * (h[0] * x[0] * x[0] + h[1] * x[1] * x[1]);
    let top = vec![0.0, 0.5];
    let bottom = vec![0.0, -0.5];
    let side = vec![1.0, 0.0]; // the other axis: near neither channel
    let pts = vec![top.clone(), top.clone(), bottom.clone(), side.clone()];
    let channels = vec![top.clone(), bottom.clone()];
    let s = Setting {
        theta_star: &[0.0, 0.0],
        hessian: &hm,
        diffusion: &hm,
        eps2: 0.01,
        step: None,
        loss: Some(&loss),
        level: &level,
        barrier_loss: Some(dl),
        channels: &channels,
    };
    let d = diagnose(&s, &pts).unwrap();
    assert_eq!(d.exits, 4);
    // Modes ascending: λ = 1 (x axis), λ = 4 (y axis). Three points all-y, one all-x.
    assert!((d.modes[0].exit_share - 0.25).abs() < 1e-12);
    assert!((d.modes[1].exit_share - 0.75).abs() < 1e-12);
    assert_eq!(d.modes[1].predicted_share, Some(1.0));
    assert!((d.channels[0].fraction - 0.5).abs() < 1e-12);
    assert!((d.channels[1].fraction - 0.25).abs() < 1e-12);
    assert!((d.other_channel_fraction.unwrap() - 0.25).abs() < 1e-12);
    // Every point is on ∂D, where L − L* = ΔL exactly.
    assert!((d.loss_ratio.unwrap() - 1.0).abs() < 1e-12);
    assert!(!d.outside_regime);

    // Exits at a loss far below ΔL (a valley flatter than H*): flagged.
    let flat = |x: &[f64]| 0.05 * loss(x);
    let s = Setting {
        loss: Some(&flat),
        ..s
    };
    let d = diagnose(&s, &pts).unwrap();
    assert!((d.loss_ratio.unwrap() - 0.05).abs() < 1e-12);
    assert!(d.outside_regime);
    assert!(d
        .warnings
        .iter()
        .any(|w| w.contains("far below the barrier")));
}

fn problem(name: &str, w: Weight) -> Problem {
    Problem::load(
        name,
        &BuildOptions {
            weight: Some(w),
            ..Default::default()
        },
    )
    .unwrap()
}

/// The predicted channels of an ellipsoidal level set with C = H*: the ± top eigen-direction
/// of H (V0 = 2ΔL/λ_max under weight inverse), both on ∂D.
#[test]
fn predicted_channels_are_the_mirror_pair() {
    let p = problem("quadratic-2d", Weight::Inverse);
    let c = predicted_channels(&p);
    assert_eq!(c.len(), 2);
    for x in &c {
        assert!(p.domain.level(x).abs() < 1e-9);
        // quadratic-2d: H = diag(1, 4), the exit is along y with |y| = √(2ΔL/4).
        assert!(x[0].abs() < 1e-9 && (x[1].abs() - 0.5f64.sqrt()).abs() < 1e-9);
    }
    assert!((c[0][1] + c[1][1]).abs() < 1e-12);
    let d = diagnose_problem(&p, 0.3, None, &c, &c).unwrap();
    assert!((d.loss_ratio.unwrap() - 1.0).abs() < 1e-9);
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_quasipot"))
}

fn json_of(args: &[&str]) -> serde_json::Value {
    let o = bin().args(args).arg("--json").output().unwrap();
    assert!(
        o.status.success(),
        "{:?}: {}",
        args,
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// `exit --lr --batch` simulates Gaussian SGD itself (a = C) even though quadratic-2d's file
/// says inverse-sqrt: the Arrhenius slope (κ = −1) recovers the inverse chain's V0 = ΔL(2 −
/// ηλ_max)/λ_max = 0.3 and excludes the inverse-sqrt chain's 0.6; the mean exit steps match the
/// inverse chain's prefactor prediction (asymptotic, O(ε²) corrections: within 25 %) and miss
/// the inverse-sqrt one by more than 10×. Before the fix the run simulated a = C^{1/2}.
#[test]
fn exit_lr_simulates_gaussian_sgd_with_both_predictions() {
    let js = json_of(&[
        "exit",
        "quadratic-2d",
        "--lr",
        "0.2",
        "--batch",
        "3,4,5",
        "--runs",
        "400",
        "--seed",
        "3",
    ]);
    assert_eq!(js["weight"], "inverse");
    let w = js["weights"].as_array().unwrap();
    assert_eq!(w.len(), 2);
    let col = |name: &str| w.iter().find(|c| c["weight"] == name).unwrap();
    let inv = col("inverse");
    let isq = col("inverse-sqrt");
    assert_eq!(inv["simulated"], true);
    assert!((inv["v0"].as_f64().unwrap() - 0.5).abs() < 1e-9);
    assert!((inv["v0_chain"].as_f64().unwrap() - 0.3).abs() < 1e-9);
    assert!((isq["v0_chain"].as_f64().unwrap() - 0.6).abs() < 1e-9);
    assert_eq!(inv["v0_chain_in_slope_ci95"], true);
    assert_eq!(isq["v0_chain_in_slope_ci95"], false);
    for l in js["levels"].as_array().unwrap() {
        let sim = l["mean_iterations"].as_f64().unwrap();
        let eps = l["eps"].as_f64().unwrap();
        let pred = |c: &serde_json::Value| {
            let p = &c["prefactor"];
            let kappa = p["kappa"].as_f64().unwrap();
            let rate: f64 = p["channels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|ch| {
                    ch["rate_coefficient"].as_f64().unwrap()
                        * eps.powf(-kappa)
                        * (-ch["v"].as_f64().unwrap() / (eps * eps)).exp()
                })
                .sum();
            1.0 / rate / 0.2
        };
        let (pi, ps) = (pred(inv), pred(isq));
        assert!((sim / pi - 1.0).abs() < 0.25, "ε {eps}: {sim} vs {pi}");
        assert!(ps / sim > 10.0 || eps > 0.25, "ε {eps}: {sim} vs {ps}");
        let dg = &l["diagnostics"];
        assert!(dg["exits"].as_u64().unwrap() > 300);
        assert!(dg["loss_ratio"].as_f64().unwrap() >= 1.0);
    }
}

/// An explicit `--weight inverse-sqrt` with `--lr` is refused (it would not be SGD).
#[test]
fn exit_lr_refuses_inverse_sqrt() {
    let o = bin()
        .args([
            "exit",
            "quadratic-2d",
            "--lr",
            "0.2",
            "--batch",
            "3",
            "--weight",
            "inverse-sqrt",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--weight") && err.contains("a = C"), "{err}");
}

fn target(name: &str) -> Target {
    Target::load(name, BuildOptions::default()).unwrap()
}

/// The quadratic-model control of a problem that is its own quadratic model is an independent
/// ensemble of the same system: its ratio's 95 % CI covers 1 at every point. Shrinking ΔL until
/// the stationary cloud reaches ∂D (V0/ε² < 2) makes the diagnostics withhold the verdict.
#[test]
fn quadratic_control_and_regime_verdict() {
    let config = ScalingConfig {
        vary: Vary::Batch,
        values: Some(vec![6.0, 8.0, 10.0]),
        runs: 200,
        methods: Some(vec![Method::GaussianSgd]),
        quadratic_control: true,
        seed: 5,
        ..ScalingConfig::default()
    };
    let r = scaling(&target("quadratic-2d"), &config, &|_, _| {}).unwrap();
    for p in &r.points {
        let c = p.quadratic_control.as_ref().expect("control");
        assert_ne!(c.seed, p.seed);
        let ratio = c.ratio.expect("ratio");
        assert!(ratio[1] <= 1.0 && 1.0 <= ratio[2], "{ratio:?}");
        let d = p.diagnostics.as_ref().expect("diagnostics");
        assert!(!d.outside_regime, "{:?}", d.warnings);
    }
    // The control's own fit: the same system in an independent stream, so its slope agrees with
    // the method's within their combined error (3σ: a check of which values it fits).
    for f in &r.fits {
        let (fit, c) = (
            f.fit.as_ref().unwrap(),
            f.quadratic_control.as_ref().unwrap(),
        );
        assert_eq!(c.fit.points, fit.points);
        let z = (c.fit.slope - fit.slope) / (c.fit.slope_se.hypot(fit.slope_se));
        assert!(z.abs() < 3.0, "{} vs {}", c.fit.slope, fit.slope);
        assert!(
            f.verdict.contains("quadratic-model control"),
            "{}",
            f.verdict
        );
    }
    let small = ScalingConfig {
        delta_l: Some(0.01),
        quadratic_control: false,
        ..config
    };
    let r = scaling(&target("quadratic-2d"), &small, &|_, _| {}).unwrap();
    assert!(r
        .points
        .iter()
        .all(|p| p.diagnostics.as_ref().is_some_and(|d| d.outside_regime)));
    for f in &r.fits {
        assert!(f.verdict.contains("no verdict"), "{}", f.verdict);
    }
}

/// A sweep with one point outside the regime (B = 1: V0/ε² ≈ 0.75, the stationary cloud
/// covers D) and three inside: the fit drops that point, names it, and still gives a verdict on
/// the other three — here `inverse` (Gaussian SGD with C = H* is the inverse weight's dynamics).
#[test]
fn out_of_regime_points_are_dropped_from_the_fit() {
    let config = ScalingConfig {
        vary: Vary::Batch,
        values: Some(vec![1.0, 6.0, 8.0, 10.0]),
        runs: 300,
        methods: Some(vec![Method::GaussianSgd]),
        seed: 2,
        ..ScalingConfig::default()
    };
    let r = scaling(&target("quadratic-2d"), &config, &|_, _| {}).unwrap();
    let fast = &r.points[0];
    assert!(fast.diagnostics.as_ref().unwrap().outside_regime);
    for f in &r.fits {
        assert_eq!(f.dropped, vec![1.0], "{}", f.verdict);
        assert_eq!(f.fit.as_ref().unwrap().points, 3);
        assert!(f.verdict.contains("in-regime points only"), "{}", f.verdict);
        assert_eq!(f.follows, Some(Weight::Inverse), "{}", f.verdict);
    }
}

/// Exits split 3 : 2 between two opposite channels: the mean exit point is near θ* (inside D),
/// the modal exit point is a point of the larger channel, with its count.
#[test]
fn modal_exit_point_is_in_the_densest_channel() {
    let pts = vec![
        vec![0.05, 1.0],
        vec![-0.05, 1.02],
        vec![0.0, 0.99],
        vec![0.0, -1.0],
        vec![0.02, -1.01],
    ];
    let (p, n) = modal_exit_point(&[0.0, 0.0], &pts).unwrap();
    assert_eq!(n, 3);
    assert!(p[1] > 0.9, "{p:?}");
    assert!(modal_exit_point(&[0.0, 0.0], &[]).is_none());
}
