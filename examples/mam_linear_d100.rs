//! Profiling driver for the minimum action engine's free-endpoint benchmark case: V₀ on a level
//! set of a linear non-commuting d = 100 problem (the `linear_d100_v0` bench), on one thread.
//!
//! `cargo run --release --example mam_linear_d100 [-- d repeats [default]]` (`default`: the
//! engine's default configuration, 4 eigen + 2 random + 1 bent starts, tol 1e-5); use with
//! `perf stat -e instructions:u` or `valgrind --tool=callgrind` for load-independent counts.

use quasipot::mam::{self, Config};
use quasipot::problem::{BuildOptions, Problem, ProblemSpec};
use rand::{Rng, SeedableRng};

fn random_spd(d: usize, shift: f64, rng: &mut impl Rng) -> Vec<Vec<f64>> {
    let b: Vec<Vec<f64>> = (0..d)
        .map(|_| (0..d).map(|_| rng.random::<f64>() - 0.5).collect())
        .collect();
    (0..d)
        .map(|i| {
            (0..d)
                .map(|j| {
                    (0..d).map(|k| b[i][k] * b[j][k]).sum::<f64>() * 4.0 / d as f64
                        + if i == j { shift } else { 0.0 }
                })
                .collect()
        })
        .collect()
}

fn rows(m: &[Vec<f64>]) -> String {
    let r: Vec<String> = m
        .iter()
        .map(|r| {
            let v: Vec<String> = r.iter().map(|v| format!("{v:.17e}")).collect();
            format!("[{}]", v.join(", "))
        })
        .collect();
    format!("[{}]", r.join(", "))
}

/// The bench's problem (same seed, same matrices).
fn linear_level_set(d: usize) -> Problem {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(100);
    let (h, c) = (random_spd(d, 0.5, &mut rng), random_spd(d, 0.3, &mut rng));
    let text = format!(
        "minimum = {:?}\n[drift]\nhessian = {}\n[noise]\nsource = \"matrix\"\nmatrix = {}\nweight = \"inverse-sqrt\"\n[domain]\nkind = \"level-set\"\ndepth = 0.5\n",
        vec![0.0; d],
        rows(&h),
        rows(&c)
    );
    ProblemSpec::from_toml(&text, "bench")
        .unwrap()
        .build(std::path::Path::new("."), &BuildOptions::default())
        .unwrap()
}

fn main() {
    let all: Vec<String> = std::env::args().skip(1).collect();
    let defaults = all.iter().any(|a| a == "default");
    let args: Vec<usize> = all
        .iter()
        .filter(|a| *a != "default")
        .map(|a| {
            a.parse()
                .expect("usage: mam_linear_d100 [d] [repeats] [default]")
        })
        .collect();
    let d = args.first().copied().unwrap_or(100);
    let repeats = args.get(1).copied().unwrap_or(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let lin = linear_level_set(d);
    let exact = quasipot::exact::quasi_potential_barrier(&lin).unwrap().v0;
    // The bench's configuration, or the engine's defaults.
    let cfg = if defaults {
        Config::default()
    } else {
        Config {
            tol: 5e-5,
            points: 9,
            eigen_starts: 1,
            random_starts: 0,
            bent_starts: 0,
            ..Default::default()
        }
    };
    for _ in 0..repeats {
        let r = pool.install(|| mam::run(&lin, &cfg)).unwrap();
        println!(
            "d = {d}: V0 = {:.10} exact {:.10} rel. error {:.2e} (estimate {:.2e}), {} channels, {:.3} s",
            r.action,
            exact,
            (r.action - exact).abs() / exact,
            r.error_estimate / exact,
            r.channels.len(),
            r.seconds
        );
        for c in &r.channels {
            let g = &c.result;
            println!(
                "  channel: levels {:?} points {} iterations {} evaluations {} rounds {} termination {:?}\n    starts {:?}",
                g.levels, g.points, g.diagnostics.iterations, g.diagnostics.evaluations,
                g.diagnostics.rounds, g.termination, c.starts
            );
        }
    }
}
