use super::*;
use crate::problem::mlp::{fit, Mlp, MlpConfig};
use crate::problem::VectorField;
use rand::Rng;
use rand_distr::StandardNormal;
use std::sync::OnceLock;

fn minimum() -> &'static crate::problem::mlp::MlpMinimum {
    static M: OnceLock<crate::problem::mlp::MlpMinimum> = OnceLock::new();
    M.get_or_init(|| fit(&MlpConfig::default()).unwrap())
}

/// Mean of many minibatch gradients = full gradient within a CI, and their variance is the
/// without-replacement variance C_kk/B·(N−B)/(N−1) (with replacement it would be C_kk/B).
#[test]
fn minibatch_gradient_is_unbiased_with_the_without_replacement_variance() {
    let model = Mlp::new(&MlpConfig::default()).unwrap();
    let d = model.dim();
    let n = model.num_examples();
    let theta = model.initial_parameters(4);
    let b = 32;
    let mut full = vec![0.0; d];
    model.gradient(&theta, &mut (), &mut full);
    let c = model.gradient_covariance(&theta);
    let mut sampler = MinibatchSampler::new(n, b);
    let mut rng = trajectory_rng(123, 0);
    let m = 40_000usize;
    let mut sum = vec![0.0; d];
    let mut sum2 = vec![0.0; d];
    let mut g = vec![0.0; d];
    for _ in 0..m {
        let batch = sampler.sample(&mut rng);
        model.batch_gradient(&theta, batch, &mut (), &mut g);
        for k in 0..d {
            let e = g[k] - full[k];
            sum[k] += e;
            sum2[k] += e * e;
        }
    }
    let fpc = finite_population_factor(n, b);
    let mut worst_ratio: f64 = 0.0;
    for k in 0..d {
        let var = c.data[k * d + k] / b as f64 * fpc;
        let se = (var / m as f64).sqrt();
        let bias = sum[k] / m as f64;
        // 5 standard errors per coordinate: a false failure has probability < 49·6e-7.
        assert!(
            bias.abs() < 5.0 * se + 1e-15,
            "coordinate {k}: bias {bias:e}, se {se:e}"
        );
        if var > 1e-20 {
            let emp = sum2[k] / m as f64;
            let ratio = emp / var;
            worst_ratio = worst_ratio.max((ratio - 1.0).abs());
            // Relative SE of a variance estimate ≈ √(2/m)·√(kurtosis factor) ≈ 1–3 %; the
            // with-replacement value would be off by 1/fpc − 1 ≈ 27 %.
            assert!(
                (ratio - 1.0).abs() < 0.1,
                "coordinate {k}: variance ratio {ratio}"
            );
        }
    }
    assert!(worst_ratio < 0.1);
}

#[test]
fn fit_quantities_are_consistent() {
    let m = minimum();
    assert!(m.gradient_norm <= 1e-8);
    assert!(m.hessian_spectrum.lambda_min > 0.0);
}

fn ensemble(threads: usize, gaussian: bool) -> Report {
    let m = minimum();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let exit = QuadraticLevelSet::new(&m.theta_star, &m.hessian, 0.02).unwrap();
    let config = Config {
        eta: 0.2,
        batch: 4,
        runs: 12,
        max_steps: 20_000,
        seed: 77,
    };
    pool.install(|| {
        if gaussian {
            run_gaussian(
                &m.model,
                &m.gradient_covariance,
                &m.theta_star,
                &exit,
                &config,
            )
        } else {
            run_minibatch(&m.model, &m.theta_star, &exit, &config)
        }
    })
    .unwrap()
}

#[test]
fn results_do_not_depend_on_thread_count() {
    for gaussian in [false, true] {
        let a = ensemble(1, gaussian);
        let b = ensemble(2, gaussian);
        assert_eq!(a.exit_steps, b.exit_steps);
        assert_eq!(a.exit_points, b.exit_points);
        assert!(a.exited > 0, "the setting should produce exits");
    }
}

#[test]
fn exits_leave_the_domain_and_budget_censors() {
    let m = minimum();
    let exit = QuadraticLevelSet::new(&m.theta_star, &m.hessian, 0.02).unwrap();
    let r = ensemble(2, false);
    let dom = exit.to_domain();
    for p in &r.exit_points {
        assert!(!dom.contains(p));
    }
    let config = Config {
        eta: 0.01,
        batch: 64,
        runs: 3,
        max_steps: 5,
        seed: 1,
    };
    let r = run_minibatch(&m.model, &m.theta_star, &exit, &config).unwrap();
    assert_eq!((r.censored, r.exited), (3, 0));
    assert_eq!(r.termination, Termination::Censored);
    assert_eq!(r.total_steps, 15);
    assert!(r.mean_exit_steps.is_none() && r.mean_exit_steps_mle.is_none());
}

#[test]
fn exact_level_set_matches_loss() {
    let m = minimum();
    let exit = LossLevelSet::new(&m.model, &m.theta_star, 0.05);
    let config = Config {
        eta: 0.3,
        batch: 2,
        runs: 4,
        max_steps: 100_000,
        seed: 3,
    };
    let r = run_minibatch(&m.model, &m.theta_star, &exit, &config).unwrap();
    for p in &r.exit_points {
        assert!(m.model.loss(p, &mut ()) - m.loss >= 0.05);
    }
}

#[test]
fn rejects_bad_input() {
    let m = minimum();
    let exit = QuadraticLevelSet::new(&m.theta_star, &m.hessian, 0.02).unwrap();
    let ok = Config::default();
    let bad = [
        Config {
            eta: 0.0,
            ..ok.clone()
        },
        Config {
            batch: 0,
            ..ok.clone()
        },
        Config {
            batch: 151,
            ..ok.clone()
        },
        Config {
            runs: 0,
            ..ok.clone()
        },
        Config {
            max_steps: 0,
            ..ok.clone()
        },
    ];
    for c in &bad {
        assert!(matches!(
            run_minibatch(&m.model, &m.theta_star, &exit, c),
            Err(Error::Invalid { .. })
        ));
    }
    // θ₀ outside D, wrong length.
    let far: Vec<f64> = m.theta_star.iter().map(|t| t + 10.0).collect();
    assert!(run_minibatch(&m.model, &far, &exit, &ok).is_err());
    assert!(run_minibatch(&m.model, &m.theta_star[..3], &exit, &ok).is_err());
    // Not positive semi-definite covariance.
    let mut c = m.hessian.clone();
    c.data[0] = -1.0;
    assert!(run_gaussian(&m.model, &c, &m.theta_star, &exit, &ok).is_err());
    assert!(QuadraticLevelSet::new(&m.theta_star, &m.hessian, -1.0).is_err());
    assert!(QuadraticLevelSet::new(&m.theta_star, &c, 1.0).is_err());
}

#[test]
fn quadratic_level_set_matches_the_ellipsoid_domain() {
    let m = minimum();
    let q = QuadraticLevelSet::new(&m.theta_star, &m.hessian, 0.02).unwrap();
    let dom = q.to_domain();
    let mut ws = q.workspace();
    let mut rng = trajectory_rng(2, 2);
    let d = m.theta_star.len();
    for _ in 0..200 {
        let x: Vec<f64> = m
            .theta_star
            .iter()
            .map(|t| t + 0.3 * rng.sample::<f64, _>(StandardNormal))
            .collect();
        // Domain level = uᵀQu − 1 with Q = H/(2ΔL); ours = |R̃u|².
        let a = dom.level(&x) + 1.0;
        let b = q.scaled_level(&x, &mut ws);
        assert!((a - b).abs() < 1e-12 * a.max(1.0), "{a} vs {b}");
    }
    assert_eq!(ws.len(), d);
}

/// b = −x in 1-D (U = x²/2).
struct Ou;
impl VectorField for Ou {
    fn dim(&self) -> usize {
        1
    }
    fn drift(&self, x: &[f64], out: &mut [f64]) {
        out[0] = -x[0];
    }
    fn jacobian(&self, _x: &[f64], out: &mut [f64]) {
        out[0] = -1.0;
    }
}

/// Gaussian SGD is Euler–Maruyama of dθ = −U′dt + σ dW with σ² = (η/B)·C: its mean exit time
/// η·E\[ν\] from (−1, 1) matches the exact quadrature (DESIGN §2) on the interval widened by the
/// discrete-monitoring shift 0.5826·σ·√η (Broadie–Glasserman–Kou), which leaves an O(η) bias.
#[test]
fn gaussian_sgd_matches_the_exact_1d_exit_time() {
    use crate::exact::exit_time_1d::{mean_exit_time_1d, LeftBoundary};
    let (eta, batch) = (1e-3, 4usize);
    let sigma: f64 = 0.5;
    // σ² = (η/B)·C.
    let c = Matrix {
        n: 1,
        data: vec![sigma * sigma * batch as f64 / eta],
    };
    let domain = Domain::Ball {
        center: vec![0.0],
        radius: 1.0,
    };
    let config = Config {
        eta,
        batch,
        runs: 400,
        max_steps: 10_000_000,
        seed: 11,
    };
    let r = run_gaussian(&Ou, &c, &[0.0], &domain, &config).unwrap();
    assert_eq!(r.censored, 0);
    let shift = 0.5826 * sigma * eta.sqrt();
    let exact = mean_exit_time_1d(
        |x| 0.5 * x * x,
        sigma,
        -1.0 - shift,
        1.0 + shift,
        LeftBoundary::Absorbing,
        0.0,
    )
    .unwrap()
    .mean;
    let mean = r.mean_exit_time.unwrap();
    let ci = r.ci95.unwrap();
    let half = 0.5 * (ci[1] - ci[0]) * eta;
    eprintln!("Gaussian SGD 1-D: η·E[ν] = {mean:.4} ± {half:.4} (95%), exact {exact:.4}");
    // 1.5 × the 95% half-width (≈ 3 standard errors) plus 2% for the O(η) bias.
    assert!(
        (mean - exact).abs() < 1.5 * half + 0.02 * exact,
        "η·E[ν] = {mean} ± {half}, exact {exact}"
    );
    // A wrong noise scaling (√(η/B) instead of √(η/B)·√η, or B missing) would change σ² by
    // a factor ≥ 4 and the exit time by more than an order of magnitude.
}

#[test]
fn writes_files() {
    let m = minimum();
    let dir = std::env::temp_dir().join(format!("quasipot-sgd-{}", std::process::id()));
    let exit = QuadraticLevelSet::new(&m.theta_star, &m.hessian, 0.02).unwrap();
    let config = Config {
        eta: 0.2,
        batch: 4,
        runs: 3,
        max_steps: 50,
        seed: 5,
    };
    let r = run_minibatch(&m.model, &m.theta_star, &exit, &config).unwrap();
    let files = write_files(&r, &dir).unwrap();
    let csv = std::fs::read_to_string(&files[0]).unwrap();
    assert_eq!(csv.lines().count(), 4);
    assert!(csv.starts_with("run,exit_steps,censored"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files[1]).unwrap()).unwrap();
    assert_eq!(json["method"], "minibatch-sgd");
    let mfiles = m.write_files(&dir).unwrap();
    let h = crate::problem::matrix_io::read_matrix(&mfiles[1], "H").unwrap();
    assert_eq!(h.data, m.hessian.data);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Gaussian SGD with C = C*·f drawn matrix-free (one weighted backward pass per step) against
/// the stored root of the same C: independent streams, so the mean exit times agree within
/// their combined error (4 se: the test is exact in law, only sampling error separates them).
#[test]
fn per_example_noise_gives_the_exit_times_of_the_dense_root() {
    let m = minimum();
    let n = m.model.num_examples();
    let exit = QuadraticLevelSet::new(&m.theta_star, &m.hessian, 0.02).unwrap();
    let f = finite_population_factor(n, 4);
    let config = |seed| Config {
        eta: 0.2,
        batch: 4,
        runs: 400,
        max_steps: 200_000,
        seed,
    };
    let c = Matrix {
        n: m.gradient_covariance.n,
        data: m.gradient_covariance.data.iter().map(|v| v * f).collect(),
    };
    let dense = run_gaussian(&m.model, &c, &m.theta_star, &exit, &config(5)).unwrap();
    let noise = PerExampleNoise::new(&m.model, NoiseAt::Fixed(m.theta_star.clone()), f).unwrap();
    let free = run_gaussian_with_noise(&m.model, &noise, &m.theta_star, &exit, &config(6)).unwrap();
    let stats = |r: &Report| {
        assert_eq!(r.censored, 0);
        let t: Vec<f64> = r.exit_steps.iter().map(|k| k.unwrap() as f64).collect();
        let mean = t.iter().sum::<f64>() / t.len() as f64;
        let var = t.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (t.len() - 1) as f64;
        (mean.ln(), (var / t.len() as f64).sqrt() / mean)
    };
    let ((a, sa), (b, sb)) = (stats(&dense), stats(&free));
    assert!(
        (a - b).abs() <= 4.0 * (sa * sa + sb * sb).sqrt(),
        "ln E[ν]: dense {a:.3} ± {sa:.3}, per-example {b:.3} ± {sb:.3}"
    );
    assert!(
        a.exp() > 10.0,
        "the setting should not exit at once: E[ν] = {}",
        a.exp()
    );
}

#[test]
fn per_example_noise_refuses_bad_input() {
    let m = minimum();
    let d = m.model.dim();
    assert!(PerExampleNoise::new(&m.model, NoiseAt::Fixed(vec![0.0; d + 1]), 1.0).is_err());
    assert!(PerExampleNoise::new(&m.model, NoiseAt::Fixed(vec![f64::NAN; d]), 1.0).is_err());
    assert!(PerExampleNoise::new(&m.model, NoiseAt::Current, 0.0).is_err());
    let noise = PerExampleNoise::new(&m.model, NoiseAt::Current, 1.0).unwrap();
    let exit = QuadraticLevelSet::new(&m.theta_star, &m.hessian, 0.02).unwrap();
    let err = run_gaussian_with_noise(&Ou, &noise, &[0.0], &exit, &Config::default());
    assert!(err.is_err());
}
