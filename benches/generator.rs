//! Criterion benchmarks of the generator solve 𝓛T = −1 (assembly, sparse LU, one solve; no
//! coarse grid, no eigenvalue) at N = 257, 513, 1025 per axis on Maier–Stein (β = 3, ε = 0.5,
//! half-space with reflecting truncation walls) and `quadratic-2d` (ellipse, Shortley–Weller
//! arms). The target: a 1025² solve in ≤ 10 s on one core.
//!
//! `cargo bench --bench generator` (faer runs sequentially: it is built without rayon).
//! Measured (`-- N=1025`, 2-core machine shared with two other builds, load ≈ 2.4): Maier–Stein
//! median 6.49 s [6.09, 6.86], quadratic-2d 7.00 s [6.83, 7.19]; of which COLAMD + symbolic
//! ≈ 1.5 s, numeric LU ≈ 5 s, assembly 0.2 s, solve + one refinement step 0.3–0.6 s; peak
//! memory 3.1 GB.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use quasipot::generator::{run, Config};
use quasipot::problem::{BuildOptions, Problem};
use std::hint::black_box;
use std::time::Duration;

fn solves(c: &mut Criterion) {
    let ms = Problem::load(
        "maier-stein",
        &BuildOptions {
            parameters: vec![("beta".into(), 3.0)],
            ..BuildOptions::default()
        },
    )
    .unwrap();
    let q2 = Problem::load("quadratic-2d", &BuildOptions::default()).unwrap();
    let mut g = c.benchmark_group("generator");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(30))
        .warm_up_time(Duration::from_secs(1));
    for n in [257usize, 513, 1025] {
        for (name, p) in [("maier-stein", &ms), ("quadratic-2d", &q2)] {
            let cfg = Config {
                eps: vec![0.5],
                grid: n,
                error_estimate: false,
                principal_eigenvalue: false,
                ..Config::default()
            };
            g.bench_with_input(BenchmarkId::new(name, format!("N={n}")), &cfg, |b, cfg| {
                b.iter(|| black_box(run(p, cfg).unwrap().levels[0].mean_exit_time))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, solves);
criterion_main!(benches);
