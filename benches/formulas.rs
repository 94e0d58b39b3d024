//! Problems written as formulas against the built-in native models (issue 14): every engine on
//! the same problem three ways — `native` (hand-written Rust model), `compiled` (the problem
//! file's formulas, native model removed, compiled to machine code by the JIT) and `interpreted`
//! (the same formulas through the exmex interpreter) — plus one drift + Jacobian evaluation.
//!
//! `cargo bench --bench formulas`; one thread throughout (1-thread rayon pools).

use criterion::{criterion_group, criterion_main, Criterion};
use quasipot::problem::VectorField;
use quasipot::problem::{BuildOptions, Diffusion, ModelVisitor, Problem, ProblemSpec};
use std::hint::black_box;
use std::time::Duration;

/// The problem `name` as (label, problem) for each way of evaluating it.
fn variants(name: &str, parameters: &[(&str, f64)]) -> Vec<(&'static str, Problem)> {
    let opts = BuildOptions {
        parameters: parameters
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
        ..Default::default()
    };
    let native = Problem::load(name, &opts).unwrap();
    let (mut spec, base) = ProblemSpec::load_with_parameters(name, &opts.parameters).unwrap();
    let has_native = spec.drift.native.take().is_some();
    let compiled = spec.build(&base, &opts).unwrap();
    assert!(
        compiled.has_compiled_formulas(),
        "{name}: formulas were not compiled"
    );
    let interpreted = compiled.with_interpreted_formulas();
    let mut v = Vec::new();
    if has_native {
        v.push(("native", native));
    }
    v.push(("compiled", compiled));
    v.push(("interpreted", interpreted));
    v
}

/// b(x) and ∂b/∂x at a moving point, buffers allocated outside the timed loop.
struct DriftAndJacobian<'a, 'b> {
    bencher: &'a mut criterion::Bencher<'b>,
    x: Vec<f64>,
}
impl ModelVisitor for DriftAndJacobian<'_, '_> {
    type Output = ();
    fn visit<B: VectorField, N: Diffusion>(self, b: &B, n: &N) {
        let d = b.dim();
        let (mut out, mut jac, mut m) = (vec![0.0; d], vec![0.0; d * d], vec![0.0; d * d]);
        let mut ws = n.workspace();
        let mut x = self.x;
        self.bencher.iter(|| {
            x[0] += 1e-9;
            b.drift(black_box(&x), &mut out);
            b.jacobian(black_box(&x), &mut jac);
            if !n.is_constant() {
                n.metric(black_box(&x), &mut ws, &mut m);
            }
            out[0] + jac[1] + m[0]
        });
    }
}

fn evaluation(c: &mut Criterion) {
    let mut g = c.benchmark_group("formulas/eval");
    for (name, params, x) in [
        ("maier-stein", vec![("beta", 10.0)], vec![0.3, 0.2]),
        ("rotational-double-well", vec![], vec![-0.7, 0.2]),
        ("manufactured-anisotropic", vec![], vec![0.3, -0.2]),
    ] {
        for (label, p) in variants(name, &params) {
            g.bench_function(format!("{name}/{label}"), |b| {
                p.visit(DriftAndJacobian {
                    bencher: b,
                    x: x.clone(),
                })
            });
        }
    }
    g.finish();
}

fn engines(c: &mut Criterion) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let mut g = c.benchmark_group("formulas/engine");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_secs(1));

    // gMAM: Maier–Stein β = 10 to the saddle (the mam bench's workload) and the free-endpoint
    // V0 of manufactured-anisotropic (state-dependent anisotropic a).
    let ms_cfg = quasipot::mam::Config {
        target: quasipot::mam::Target::Point(vec![0.0, 0.0]),
        tol: 3e-4,
        ..Default::default()
    };
    for (label, p) in variants("maier-stein", &[("beta", 10.0)]) {
        g.bench_function(format!("gmam/maier-stein/{label}"), |b| {
            b.iter(|| {
                pool.install(|| quasipot::mam::run(&p, &ms_cfg))
                    .unwrap()
                    .action
            })
        });
    }
    let manu_cfg = quasipot::mam::Config::default();
    for (label, p) in variants("manufactured-anisotropic", &[]) {
        g.bench_function(format!("gmam/manufactured-anisotropic/{label}"), |b| {
            b.iter(|| {
                pool.install(|| quasipot::mam::run(&p, &manu_cfg))
                    .unwrap()
                    .action
            })
        });
    }

    // The 3-D twin (benches/support/manufactured-anisotropic-3d.toml, also tests/mam.rs).
    let spec = ProblemSpec::from_toml(
        include_str!("support/manufactured-anisotropic-3d.toml"),
        "manufactured-anisotropic-3d",
    )
    .unwrap();
    let m3 = spec
        .build(std::path::Path::new("."), &BuildOptions::default())
        .unwrap();
    for (label, p) in [
        ("compiled", m3.clone()),
        ("interpreted", m3.with_interpreted_formulas()),
    ] {
        g.bench_function(format!("gmam/manufactured-anisotropic-3d/{label}"), |b| {
            b.iter(|| {
                pool.install(|| quasipot::mam::run(&p, &manu_cfg))
                    .unwrap()
                    .action
            })
        });
    }

    // OLIM: field d on [−2, 0]×[−1, 1], N = 513, default K.
    let mut ocfg = quasipot::olim::Config::new(513)
        .unwrap()
        .with_box([-2.0, -1.0], [0.0, 1.0])
        .unwrap();
    ocfg.compare_with_reference = false;
    ocfg.estimate_error = false;
    for (label, p) in variants("rotational-double-well", &[]) {
        g.bench_function(format!("olim/rotational-double-well-513/{label}"), |b| {
            b.iter(|| black_box(quasipot::olim::run(&p, &ocfg).unwrap().accepted))
        });
    }

    // Monte Carlo: Maier–Stein (constant noise), 2000 trajectories; manufactured-anisotropic
    // (state-dependent noise), 100 trajectories.
    let mc = |runs: u64, eps: f64| quasipot::sde::Config {
        eps: vec![eps],
        dt: 1e-3,
        runs,
        bootstrap: 0,
        ..quasipot::sde::Config::default()
    };
    let ms_mc = mc(2000, 0.5);
    for (label, p) in variants("maier-stein", &[("beta", 10.0)]) {
        g.bench_function(format!("sde/maier-stein/{label}"), |b| {
            b.iter(|| pool.install(|| black_box(quasipot::sde::run(&p, &ms_mc).unwrap())))
        });
    }
    let manu_mc = mc(100, 0.6);
    for (label, p) in variants("manufactured-anisotropic", &[]) {
        g.bench_function(format!("sde/manufactured-anisotropic/{label}"), |b| {
            b.iter(|| pool.install(|| black_box(quasipot::sde::run(&p, &manu_mc).unwrap())))
        });
    }
    g.finish();
}

criterion_group!(formulas, evaluation, engines);
criterion_main!(formulas);
