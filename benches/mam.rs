//! Minimum action engine benchmarks (issue 3), all on one core (a 1-thread rayon pool):
//! - `maier_stein_beta10`: V from (−1, 0) to the saddle at β = 10 (target: within 2e-4 of
//!   0.3400 in ≤ 20 ms);
//! - `linear_d100_v0`: free-endpoint V₀ on a level set of a linear non-commuting d = 100 problem
//!   (target: 1e-4 relative in ≤ 1 s);
//! - `action_gradient/*`: one geometric action + gradient evaluation.

#[path = "support/linear_level_set.rs"]
mod linear_level_set;

use criterion::{criterion_group, criterion_main, Criterion};
use linear_level_set::linear_level_set;
use quasipot::action::{geometric_action, ActionWorkspace};
use quasipot::mam::{self, Config, Target};
use quasipot::problem::{BuildOptions, Diffusion, ModelVisitor, Problem, VectorField};
use std::hint::black_box;

/// Times one action + gradient evaluation; workspace and gradient buffer are allocated once,
/// outside the timed loop (the kernel itself allocates nothing).
struct Eval<'a, 'b> {
    bencher: &'a mut criterion::Bencher<'b>,
    nodes: &'a [f64],
}
impl ModelVisitor for Eval<'_, '_> {
    type Output = ();
    fn visit<B: VectorField, N: Diffusion>(self, b: &B, n: &N) {
        let mut ws = ActionWorkspace::new(n);
        let mut g = vec![0.0; self.nodes.len()];
        self.bencher.iter(|| {
            geometric_action(b, n, black_box(self.nodes), &mut ws, Some(&mut g)).unwrap() + g[3]
        });
    }
}

fn benches(c: &mut Criterion) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let ms = Problem::load(
        "maier-stein",
        &BuildOptions {
            parameters: vec![("beta".into(), 10.0)],
            ..Default::default()
        },
    )
    .unwrap();
    let cfg = Config {
        target: Target::Point(vec![0.0, 0.0]),
        tol: 3e-4,
        ..Default::default()
    };
    let r = pool.install(|| mam::run(&ms, &cfg)).unwrap();
    eprintln!(
        "Maier–Stein β = 10: V = {:.6} ± {:.1e} (|V − 0.3400| = {:.1e}), {} nodes, {} evaluations",
        r.action,
        r.error_estimate,
        (r.action - 0.34).abs(),
        r.channels[0].result.points,
        r.channels[0].result.diagnostics.evaluations
    );
    c.bench_function("maier_stein_beta10", |b| {
        b.iter(|| {
            pool.install(|| mam::run(black_box(&ms), &cfg))
                .unwrap()
                .action
        })
    });

    let lin = linear_level_set(100);
    let exact = quasipot::exact::quasi_potential_barrier(&lin).unwrap().v0;
    let cfg = Config {
        tol: 5e-5,
        points: 9,
        eigen_starts: 1,
        random_starts: 0,
        bent_starts: 0,
        ..Default::default()
    };
    let r = pool.install(|| mam::run(&lin, &cfg)).unwrap();
    eprintln!(
        "linear d = 100 level set: V0 = {:.8} exact {:.8} rel. error {:.1e} (estimate {:.1e}), {} channels, {:.3} s",
        r.action,
        exact,
        (r.action - exact).abs() / exact,
        r.error_estimate / exact,
        r.channels.len(),
        r.seconds
    );
    let mut g = c.benchmark_group("linear_d100_v0");
    g.sample_size(10);
    g.bench_function("free_endpoint", |b| {
        b.iter(|| {
            pool.install(|| mam::run(black_box(&lin), &cfg))
                .unwrap()
                .action
        })
    });
    g.finish();

    let mut g = c.benchmark_group("action_gradient");
    let path = mam::Path::straight(&[-1.0, 0.0], &[0.0, 0.3], 129);
    g.bench_function("maier_stein_n129", |b| {
        ms.visit(Eval {
            bencher: b,
            nodes: &path.nodes,
        })
    });
    let mut end = vec![0.0; 100];
    end[0] = 0.5;
    let path = mam::Path::straight(&vec![0.0; 100], &end, 33);
    g.bench_function("linear_d100_n33", |b| {
        lin.visit(Eval {
            bencher: b,
            nodes: &path.nodes,
        })
    });
    g.finish();
}

criterion_group!(mam_benches, benches);
criterion_main!(mam_benches);
