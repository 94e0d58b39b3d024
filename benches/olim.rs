//! Criterion benchmarks of the OLIM grid solver on the workloads of its issue: Dahiya &
//! Cameron's fields `d` (grid [−2,0]×[−1,1]) and `l` (grid [−1,1]²) at N = 257, 513, 1025 with
//! the default K and with K = 16 (the reference C code's setting), plus the same linear field
//! with constant anisotropic noise, which must cost the same as the isotropic one.
//!
//! `cargo bench --bench olim`; one thread. Reference (C olim2D, gcc -O3, N = 1025, K = 16):
//! `d` 1.84 s, `l` 2.06 s. Measured on the idle 2-core machine, `-- N=1025,K=default` with
//! quadratic interpolation and the x86-64-v3 copy of the loop: `d` (K = 10) 0.76–0.81 s, `l`
//! (K = 16) 0.95 s (linear interpolation, the earlier K rules and the baseline build:
//! 0.90–0.93 s at K = 14, 1.08–1.15 s at K = 17).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use quasipot::olim::{run, Config, StopRule};
use quasipot::problem::{BuildOptions, Problem, ProblemSpec};
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

fn cfg(n: usize, k: Option<usize>, lo: [f64; 2], hi: [f64; 2]) -> Config {
    let mut c = Config::new(n).unwrap().with_box(lo, hi).unwrap();
    if let Some(k) = k {
        c = c.with_k(k).unwrap();
    }
    c.compare_with_reference = false;
    c.estimate_error = false;
    c
}

fn fields(c: &mut Criterion) {
    let d = Problem::load("rotational-double-well", &BuildOptions::default()).unwrap();
    let l = Problem::load("rotational-linear", &BuildOptions::default()).unwrap();
    let mut g = c.benchmark_group("olim");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_secs(2));
    for n in [257usize, 513, 1025] {
        for k in [None, Some(16)] {
            let label = format!(
                "N={n},K={}",
                k.map_or("default".to_string(), |k| k.to_string())
            );
            let cd = cfg(n, k, [-2.0, -1.0], [0.0, 1.0]);
            g.bench_with_input(BenchmarkId::new("d", &label), &cd, |b, cd| {
                b.iter(|| black_box(run(&d, cd).unwrap().accepted))
            });
            let cl = cfg(n, k, [-1.0, -1.0], [1.0, 1.0]);
            g.bench_with_input(BenchmarkId::new("l", &label), &cl, |b, cl| {
                b.iter(|| black_box(run(&l, cl).unwrap().accepted))
            });
        }
    }
    g.finish();
}

/// Field `l`'s drift with constant anisotropic noise a = [[1, 0.4], [0.4, 0.6]] against the
/// isotropic original, same grid and K: the metric is evaluated once, so the cost is the same.
fn constant_anisotropic_noise(c: &mut Criterion) {
    let iso = Problem::load("rotational-linear", &BuildOptions::default()).unwrap();
    let aniso = ProblemSpec::from_toml(
        r#"
name = "rotational-linear-anisotropic"
variables = ["x", "y"]
minimum = [0.0, 0.0]
[drift]
field = ["-2*x - 10*y", "20*x - y"]
[noise]
source = "matrix"
matrix = [[1.0, 0.4], [0.4, 0.6]]
weight = "inverse"
[domain]
kind = "box"
lo = [-1.0, -1.0]
hi = [1.0, 1.0]
"#,
        "bench",
    )
    .unwrap()
    .build(Path::new("."), &BuildOptions::default())
    .unwrap();
    let mut g = c.benchmark_group("olim-noise");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    // Whole grid (stop rule `exhaust`), so both accept the same N² points.
    let c513 = cfg(513, Some(16), [-1.0, -1.0], [1.0, 1.0]).with_stop(StopRule::Exhaust);
    g.bench_function("isotropic N=513", |b| {
        b.iter(|| black_box(run(&iso, &c513).unwrap().accepted))
    });
    g.bench_function("constant-anisotropic N=513", |b| {
        b.iter(|| black_box(run(&aniso, &c513).unwrap().accepted))
    });
    g.finish();
}

criterion_group!(benches, fields, constant_anisotropic_noise);
criterion_main!(benches);
