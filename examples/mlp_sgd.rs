//! Fit the `mlp` problem, print H*'s and C*'s spectra, and time exit-time ensembles of real
//! minibatch SGD (eq. 1) and Gaussian SGD (eq. 2, C = C* and C = H*) at one setting.
//!
//! cargo run --release --example mlp_sgd -- [dataset width eta batch depth runs max_steps domain l2 which sharpness]
//! e.g. `cargo run --release --example mlp_sgd -- iris 3 0.1 8 0.01 50 1000000 quadratic`
//! (domain: `quadratic` = {½ΔθᵀH*Δθ < ΔL}, `loss` = {L − L* < ΔL}).

use quasipot::problem::mlp::{fit, MlpConfig, MlpDataset};
use quasipot::sgd::{
    finite_population_factor, run_gaussian, run_minibatch, Config, ExitTest, LossLevelSet,
    QuadraticLevelSet, Report,
};

fn show(name: &str, r: &Report) {
    println!(
        "{name:>28}: exited {}/{} mean ν = {:.4e} ci95 = {:?} mle = {:.4e} steps = {:.3e} wall = {:.2} s ({:.2} µs/step)",
        r.exited,
        r.exited + r.censored,
        r.mean_exit_steps.unwrap_or(f64::NAN),
        r.ci95.map(|c| [format!("{:.3e}", c[0]), format!("{:.3e}", c[1])]),
        r.mean_exit_steps_mle.unwrap_or(f64::NAN),
        r.total_steps as f64,
        r.wall_seconds,
        r.wall_seconds * 1e6 / r.total_steps as f64 * rayon::current_num_threads() as f64
    );
}

fn ensembles<E: ExitTest>(
    m: &quasipot::problem::mlp::MlpMinimum,
    exit: &E,
    config: &Config,
    which: &str,
) {
    if which.contains('m') {
        let r = run_minibatch(&m.model, &m.theta_star, exit, config).unwrap();
        show("minibatch SGD (eq. 1)", &r);
    }
    if which.contains('c') {
        let r = run_gaussian(
            &m.model,
            &m.gradient_covariance,
            &m.theta_star,
            exit,
            config,
        )
        .unwrap();
        show("Gaussian SGD, C = C* (eq. 2)", &r);
    }
    if which.contains('f') {
        // Gaussian SGD with exactly the minibatch noise covariance C*(N−B)/((N−1)B).
        let f = finite_population_factor(m.model.num_examples(), config.batch);
        let mut c = m.gradient_covariance.clone();
        c.data.iter_mut().for_each(|v| *v *= f);
        let r = run_gaussian(&m.model, &c, &m.theta_star, exit, config).unwrap();
        show("Gaussian SGD, C = C*·fpc (eq. 2)", &r);
    }
    if which.contains('h') {
        let r = run_gaussian(&m.model, &m.hessian, &m.theta_star, exit, config).unwrap();
        show("Gaussian SGD, C = H* (eq. 2)", &r);
    }
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: &str| a.get(i).cloned().unwrap_or_else(|| d.to_string());
    let dataset = MlpDataset::parse(&arg(0, "iris"), "dataset").unwrap();
    let width: usize = arg(1, "3").parse().unwrap();
    let t = std::time::Instant::now();
    let m = fit(&MlpConfig {
        dataset,
        width,
        l2: arg(8, "1e-2").parse().unwrap(),
        sharpness: arg(10, "1").parse().unwrap(),
        ..MlpConfig::default()
    })
    .unwrap();
    let s = m.summary();
    println!(
        "{} w={} d={} N={} fit {:.2} s ({} GD + {} Newton iterations): L* = {:.6} |∇L*| = {:.2e}",
        dataset.name(),
        width,
        s.dim,
        s.examples,
        t.elapsed().as_secs_f64(),
        m.descent_iterations,
        m.newton_iterations,
        s.loss,
        s.gradient_norm
    );
    println!(
        "H*: λ_min = {:.4e} λ_max = {:.4e} κ = {:.3e};  C*: λ_min = {:.3e} λ_max = {:.4e} tr = {:.4e}",
        s.hessian_lambda_min,
        s.hessian_lambda_max,
        s.hessian_kappa,
        s.covariance_lambda_min,
        s.covariance_lambda_max,
        s.covariance_trace
    );
    println!(
        "seed {} ({} tried): {}",
        s.selection.seed,
        s.selection.tried,
        s.degeneracy.describe()
    );
    let config = Config {
        eta: arg(2, "0.1").parse().unwrap(),
        batch: arg(3, "8").parse().unwrap(),
        runs: arg(5, "50").parse().unwrap(),
        max_steps: arg(6, "1000000").parse::<f64>().unwrap() as u64,
        seed: 1,
    };
    let depth: f64 = arg(4, "0.01").parse().unwrap();
    println!(
        "η = {} B = {} ΔL = {depth} runs = {} budget = {:.0e} threads = {}",
        config.eta,
        config.batch,
        config.runs,
        config.max_steps as f64,
        rayon::current_num_threads()
    );
    let which = arg(9, "mch");
    match arg(7, "quadratic").as_str() {
        "loss" => ensembles(
            &m,
            &LossLevelSet::new(&m.model, &m.theta_star, depth),
            &config,
            &which,
        ),
        _ => ensembles(
            &m,
            &QuadraticLevelSet::new(&m.theta_star, &m.hessian, depth).unwrap(),
            &config,
            &which,
        ),
    }
}
