//! Throughput of the Monte Carlo engine in trajectory-steps per CPU second (load-insensitive,
//! unlike wall time on a shared machine): `cargo run --release --example sde_throughput [R] [threads] [problem] [eps,eps,..] [out-dir]`
//! (default: quadratic-2d with weight inverse, ε = 0.5, h = 1e-3 — issue 5's workload).
use quasipot::problem::{BuildOptions, Problem, Weight};
use quasipot::sde::{run, Config};

fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = s
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: u64 = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(20000);
    let threads: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let name = args.get(3).map_or("quadratic-2d", |s| s.as_str());
    let eps: Vec<f64> = args.get(4).map_or(vec![0.5], |v| {
        v.split(',').filter_map(|e| e.parse().ok()).collect()
    });
    let p = Problem::load(
        name,
        &BuildOptions {
            weight: (name == "quadratic-2d").then_some(Weight::Inverse),
            ..Default::default()
        },
    )
    .unwrap();
    let c = Config {
        eps,
        prefactor_exponent: 1.0,
        dt: 1e-3,
        runs,
        bootstrap: 0,
        ..Config::default()
    };
    let t0 = cpu_seconds();
    let r = pool.install(|| run(&p, &c).unwrap());
    let t1 = cpu_seconds();
    if let Some(dir) = args.get(5) {
        let files = quasipot::sde::write_files(&r, &p, std::path::Path::new(dir)).unwrap();
        println!("wrote {} files to {dir}", files.len());
    }
    println!(
        "steps {} wall {:.3}s ({:.3e} steps/s wall) cpu {:.2}s ({:.3e} steps per CPU-s) mean τ {:?}",
        r.timing.steps,
        r.timing.wall_s,
        r.timing.steps_per_s,
        t1 - t0,
        r.timing.steps as f64 / (t1 - t0),
        r.levels[0].stats.mean
    );
}
