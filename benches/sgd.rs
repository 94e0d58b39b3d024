//! Criterion benches of the sgd engine on the default `mlp` problem (iris, width 8, d = 49):
//! one minibatch SGD step (sample B without replacement + batched gradient + update) at several
//! B, the exit tests, and the full gradient (the drift of Gaussian SGD); and the step on the
//! diabetes variant (d = 97).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use quasipot::problem::mlp::{fit, FiniteSum, MlpConfig, MlpDataset};
use quasipot::sgd::{ExitTest, LossLevelSet, MinibatchStepper, QuadraticLevelSet};
use std::hint::black_box;

fn benches(c: &mut Criterion) {
    let m = fit(&MlpConfig::default()).unwrap();
    let d = m.model.dim();
    let mut g = c.benchmark_group(format!("sgd_mlp_iris_d{d}"));
    for b in [8usize, 32, 128] {
        g.bench_with_input(BenchmarkId::new("minibatch_step", b), &b, |bench, &b| {
            let mut stepper = MinibatchStepper::new(&m.model, 1e-4, b, 1, 0);
            let mut theta = m.theta_star.clone();
            bench.iter(|| black_box(stepper.step(black_box(&mut theta))));
        });
    }
    let ell = QuadraticLevelSet::new(&m.theta_star, &m.hessian, 0.01).unwrap();
    let mut ws = ell.workspace();
    g.bench_function("exit_test_quadratic_level_set", |bench| {
        bench.iter(|| black_box(ell.inside(black_box(&m.theta_star), &mut ws)))
    });
    let dom = ell.to_domain();
    g.bench_function("exit_test_domain_ellipsoid", |bench| {
        bench.iter(|| black_box(dom.inside(black_box(&m.theta_star), &mut ())))
    });
    let lvl = LossLevelSet::new(&m.model, &m.theta_star, 0.01);
    g.bench_function("exit_test_loss_level_set", |bench| {
        bench.iter(|| black_box(lvl.inside(black_box(&m.theta_star), &mut ())))
    });
    let mut grad = vec![0.0; d];
    g.bench_function("full_gradient", |bench| {
        bench.iter(|| {
            black_box(
                m.model
                    .gradient(black_box(&m.theta_star), &mut (), &mut grad),
            )
        })
    });
    g.finish();
    // The larger data set: diabetes, N = 441, p = 10, width 8 (d = 97).
    let m = fit(&MlpConfig {
        dataset: MlpDataset::Diabetes,
        ..MlpConfig::default()
    })
    .unwrap();
    let mut g = c.benchmark_group(format!("sgd_mlp_diabetes_d{}", m.model.dim()));
    g.bench_function("minibatch_step/32", |bench| {
        let mut stepper = MinibatchStepper::new(&m.model, 1e-4, 32, 1, 0);
        let mut theta = m.theta_star.clone();
        bench.iter(|| black_box(stepper.step(black_box(&mut theta))));
    });
    g.finish();
}

criterion_group!(name = sgd; config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3)); targets = benches);
criterion_main!(sgd);
