//! Monte Carlo engine throughput (trajectory-steps per second), issue 5's workload:
//! quadratic-2d with weight inverse (a = H), level set ΔL = 1, ε = 0.5, h = 1e-3; plus the
//! formula-defined manufactured-anisotropic problem (state-dependent noise, eigendecomposition
//! per step) and the boundary-corrected variant. Threads: 1 and 2 (rayon pools).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use quasipot::problem::{BuildOptions, Problem, Weight};
use quasipot::sde::{run, Config, ExitDetection};
use std::hint::black_box;

fn case(c: &mut Criterion, name: &str, problem: &Problem, cfg: &Config, threads: usize) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let steps = pool.install(|| run(problem, cfg).unwrap().timing.steps);
    let mut g = c.benchmark_group("sde");
    g.throughput(Throughput::Elements(steps));
    g.sample_size(10);
    g.bench_function(format!("{name}/threads={threads}"), |b| {
        b.iter(|| pool.install(|| black_box(run(problem, cfg).unwrap())))
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let quad = Problem::load(
        "quadratic-2d",
        &BuildOptions {
            weight: Some(Weight::Inverse),
            ..Default::default()
        },
    )
    .unwrap();
    let cfg = Config {
        eps: vec![0.5],
        dt: 1e-3,
        runs: 2000,
        bootstrap: 0,
        ..Config::default()
    };
    for t in [1, 2] {
        case(c, "quadratic-2d-inverse", &quad, &cfg, t);
    }
    let mut gm = cfg.clone();
    gm.detection = ExitDetection::BoundaryCorrected;
    case(c, "quadratic-2d-inverse-corrected", &quad, &gm, 1);
    let manu = Problem::load("manufactured-anisotropic", &BuildOptions::default()).unwrap();
    let mut mc = cfg.clone();
    mc.runs = 100;
    mc.eps = vec![0.6];
    for t in [1, 2] {
        case(c, "manufactured-anisotropic", &manu, &mc, t);
    }
}

criterion_group!(sde, benches);
criterion_main!(sde);
