//! Compiled formulas against the interpreter on every built-in problem, native models removed so
//! that their formula twins run: drift, Jacobian, loss, noise (with ∂a⁻¹/∂θ and a^{1/2}), domain
//! and reference V agree bit for bit at random points of D's bounding box.
#![cfg(feature = "jit")]

use quasipot::problem::{builtin, Diffusion, ModelVisitor, Problem, ProblemSpec, ScalarField};
use quasipot::problem::{BuildOptions, Domain, VectorField};
use rand::{Rng, SeedableRng};

fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn assert_same(what: &str, x: &[f64], a: &[f64], b: &[f64]) {
    for (k, (u, v)) in a.iter().zip(b).enumerate() {
        assert!(
            same(*u, *v),
            "{what}[{k}] at {x:?}: compiled {u:e}, interpreted {v:e}"
        );
    }
}

/// Everything a visitor sees, at one point.
struct Values {
    x: Vec<f64>,
}

impl ModelVisitor for Values {
    type Output = Vec<f64>;
    fn visit<B: VectorField, N: Diffusion>(self, b: &B, n: &N) -> Vec<f64> {
        let d = b.dim();
        let x = &self.x;
        let mut v = vec![0.0; d + d * d];
        let (bx, jx) = v.split_at_mut(d);
        b.drift(x, bx);
        b.jacobian(x, jx);
        let mut ws = n.workspace();
        let (mut m, mut dm, mut s) = (vec![0.0; d * d], vec![0.0; d * d * d], vec![0.0; d * d]);
        let ok =
            n.metric_with_derivatives(x, &mut ws, &mut m, &mut dm) && n.sqrt(x, &mut ws, &mut s);
        v.push(if ok { 1.0 } else { 0.0 });
        if ok {
            v.extend(m.into_iter().chain(dm).chain(s));
        }
        v
    }
}

#[test]
fn compiled_problems_equal_their_interpreted_twins_bit_for_bit() {
    let mut checked = 0;
    for name in builtin::names().into_iter().filter(|n| *n != "mlp") {
        let (mut spec, base) = ProblemSpec::load(name).unwrap();
        spec.drift.native = None;
        let compiled = spec.build(&base, &BuildOptions::default()).unwrap();
        let interpreted = compiled.with_interpreted_formulas();
        if !compiled.has_compiled_formulas() {
            continue;
        }
        assert!(!interpreted.has_compiled_formulas(), "{name}");
        checked += 1;
        let d = compiled.minimum.len();
        // Level sets have no box of their own: a unit box about θ* then.
        let (lo, hi) = compiled.domain.bounding_box().unwrap_or_else(|| {
            let m = &compiled.minimum;
            (
                m.iter().map(|c| c - 1.0).collect(),
                m.iter().map(|c| c + 1.0).collect(),
            )
        });
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(11);
        for _ in 0..200 {
            let x: Vec<f64> = (0..d).map(|i| rng.random_range(lo[i]..hi[i])).collect();
            let a = compiled.visit(Values { x: x.clone() });
            let b = interpreted.visit(Values { x: x.clone() });
            assert_same(&format!("{name} drift/jacobian/noise"), &x, &a, &b);
            if let (Some(la), Some(lb)) = (&compiled.loss, &interpreted.loss) {
                let (mut ga, mut gb) = (vec![0.0; d], vec![0.0; d]);
                la.gradient(&x, &mut ga);
                lb.gradient(&x, &mut gb);
                ga.push(la.value(&x));
                gb.push(lb.value(&x));
                assert_same(&format!("{name} loss"), &x, &ga, &gb);
            }
            if let (Domain::LevelSet { loss: la, .. }, Domain::LevelSet { loss: lb, .. }) =
                (&compiled.domain, &interpreted.domain)
            {
                assert!(same(la.value(&x), lb.value(&x)), "{name} domain at {x:?}");
            }
            let qa = compiled.reference.quasi_potential_at(&x);
            let qb = interpreted.reference.quasi_potential_at(&x);
            assert_eq!(
                qa.map(f64::to_bits),
                qb.map(f64::to_bits),
                "{name} V at {x:?}"
            );
        }
    }
    // Maier–Stein, field d, the 1-D well, manufactured-anisotropic and the formula problems.
    assert!(
        checked >= 4,
        "only {checked} built-ins have compiled formulas"
    );
}

#[test]
fn the_problem_loader_compiles_formula_problems() {
    let p = Problem::load("manufactured-anisotropic", &BuildOptions::default()).unwrap();
    assert!(p.has_compiled_formulas());
}
