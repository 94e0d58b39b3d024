//! Exact V0 on a level set for a dense quadratic minimum with non-commuting noise:
//! problem validation (SPD checks, noise powers) + Lyapunov solve + generalised eigenproblem.
//! Target (issue 2): d = 1000 in ≤ 1 s on one core.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use quasipot::problem::spec::{DomainSpec, DriftSpec, NoiseSpec};
use quasipot::problem::{BuildOptions, ProblemSpec, Weight};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

fn random_spd(r: &mut Xoshiro256PlusPlus, d: usize) -> Vec<Vec<f64>> {
    let g = faer::Mat::from_fn(d, d, |_, _| r.random::<f64>() - 0.5);
    let m = &g * g.transpose() + faer::Mat::<f64>::identity(d, d) * (0.1 * d as f64);
    (0..d)
        .map(|i| (0..d).map(|j| 0.5 * (m[(i, j)] + m[(j, i)])).collect())
        .collect()
}

fn spec(h: Vec<Vec<f64>>, c: Vec<Vec<f64>>) -> ProblemSpec {
    ProblemSpec {
        name: None,
        description: None,
        variables: None,
        minimum: None,
        parameters: Default::default(),
        drift: DriftSpec {
            hessian: Some(h),
            ..Default::default()
        },
        noise: Some(NoiseSpec {
            source: Some("matrix".into()),
            matrix: Some(c),
            ..Default::default()
        }),
        domain: DomainSpec {
            kind: "level-set".into(),
            depth: Some(0.5),
            ..Default::default()
        },
        reference: None,
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("exact_level_set_v0");
    g.sample_size(10);
    for &d in &[100usize, 300, 1000] {
        let mut r = Xoshiro256PlusPlus::seed_from_u64(d as u64);
        let s = spec(random_spd(&mut r, d), random_spd(&mut r, d));
        let opts = BuildOptions {
            weight: Some(Weight::InverseSqrt),
            ..Default::default()
        };
        g.bench_with_input(BenchmarkId::from_parameter(d), &d, |b, _| {
            b.iter(|| {
                // Time cold solves: the eigensolve memo would answer repeats of one matrix.
                quasipot::linalg::memo::clear();
                let p = s.build(std::path::Path::new("."), &opts).unwrap();
                quasipot::exact::quasi_potential_barrier(&p).unwrap().v0
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
