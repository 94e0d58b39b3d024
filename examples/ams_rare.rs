//! AMS on double-well-1d at a given mean exit time: finds ε with exact E[τ] = TARGET by
//! bisection on the quadrature (DESIGN §2), runs AMS there and prints estimate, 95 % CI,
//! relative error and total steps.
//!
//!     cargo run --release --example ams_rare -- TARGET H N M [K [SEED]]
//!     cargo run --release --example ams_rare -- 1e15 1e-3 100 200
use quasipot::exact::exit_time_1d::{mean_exit_time_1d, LeftBoundary};
use quasipot::problem::{BuildOptions, Problem};
use quasipot::sde::ams::{run, Config};
use quasipot::sde::ExitDetection;

fn exact(eps: f64) -> f64 {
    mean_exit_time_1d(
        |x| x.powi(4) / 4.0 - x * x / 2.0,
        eps,
        -3.0,
        0.0,
        LeftBoundary::Reflecting,
        -1.0,
    )
    .unwrap()
    .mean
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let target: f64 = a[1].parse().unwrap();
    let h: f64 = a[2].parse().unwrap();
    let n: usize = a[3].parse().unwrap();
    let m: usize = a[4].parse().unwrap();
    let k: usize = a.get(5).map_or(1, |s| s.parse().unwrap());
    let seed: u64 = a.get(6).map_or(0, |s| s.parse().unwrap());
    let (mut lo, mut hi) = (0.05f64, 1.0f64);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if exact(mid) > target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let eps = (0.5 * (lo + hi) * 1e4).round() / 1e4;
    let ex = exact(eps);
    let p = Problem::load("double-well-1d", &BuildOptions::default()).unwrap();
    let c = Config {
        eps: vec![eps],
        dt: h,
        replicas: n,
        kill: k,
        repetitions: m,
        detection: ExitDetection::BoundaryCorrected,
        seed,
        ..Config::default()
    };
    let r = run(&p, &c).unwrap();
    let l = &r.levels[0];
    let e = l.mean_exit_time.unwrap();
    let (clo, chi) = l.ci95.unwrap();
    println!(
        "seed {seed}: double-well-1d ε = {eps}: exact E[τ] = {ex:.4e}; AMS (N = {n}, k = {k}, M = {m}, h = {h}, corrected) E[τ] = {e:.4e}, 95% CI [{clo:.4e}, {chi:.4e}] ({}), relative error {:+.2} %; p = {:.4e} (rel sd {:.3} repetitions, {:.3} asymptotic); {:.3e} steps ({:.3e} in ordinary runs), {} iterations, {:.1} s, {:.3e} steps/s",
        if clo <= ex && ex <= chi { "covers the exact value" } else { "MISSES the exact value" },
        100.0 * (e / ex - 1.0),
        l.probability,
        l.probability_rel_std_repetitions.unwrap_or(f64::NAN),
        l.probability_rel_std_asymptotic,
        l.steps as f64,
        l.steps_loops as f64,
        l.iterations,
        r.timing.wall_s,
        r.timing.steps_per_s
    );
}
