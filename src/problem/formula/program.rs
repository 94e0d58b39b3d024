//! A group of formulas evaluated together at θ (a drift's components, a Jacobian, the entries of
//! a(θ), …): compiled to native code once per problem, interpreted where compiling is off or
//! fails.

use super::Formula;
use std::sync::Arc;

/// Compiled code: θ in, the outputs out.
pub(super) type Entry = unsafe extern "C" fn(*const f64, *mut f64);

/// Formulas over θ ∈ ℝᵈ with the parameters fixed, evaluated all at once.
#[derive(Clone)]
pub struct Program {
    formulas: Vec<Formula>,
    d: usize,
    parameters: Vec<f64>,
    /// The compiled code's entry point (kept beside `code` so that a call is one load).
    entry: Option<Entry>,
    /// Owns the memory `entry` points into.
    #[cfg(feature = "jit")]
    code: Option<Arc<super::jit::Compiled>>,
    /// Why the interpreter is used, when it is.
    interpreted_because: Option<Arc<str>>,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("formulas", &self.formulas.len())
            .field("backend", &self.backend_name())
            .finish()
    }
}

/// Environment variable that turns compilation off (`QUASIPOT_FORMULAS=interpret`): for checking
/// a result against the interpreter, or on a host the compiler does not support.
pub const BACKEND_VARIABLE: &str = "QUASIPOT_FORMULAS";

fn interpreter_requested() -> bool {
    std::env::var(BACKEND_VARIABLE).is_ok_and(|v| v.eq_ignore_ascii_case("interpret"))
}

impl Program {
    /// Compile `formulas` over θ ∈ ℝᵈ, the symbols after θ fixed to `parameters`.
    pub fn new(formulas: Vec<Formula>, d: usize, parameters: Vec<f64>) -> Self {
        let mut p = Program {
            formulas,
            d,
            parameters,
            entry: None,
            #[cfg(feature = "jit")]
            code: None,
            interpreted_because: None,
        };
        if p.formulas.iter().all(|f| f.is_constant()) {
            p.interpreted_because = Some("constant".into());
        } else if interpreter_requested() {
            p.interpreted_because = Some(format!("{BACKEND_VARIABLE}=interpret").into());
        } else {
            p.compile();
        }
        p
    }

    #[cfg(feature = "jit")]
    fn compile(&mut self) {
        let refs: Vec<&Formula> = self.formulas.iter().collect();
        let compiled = super::tape::record(&refs, self.d, &self.parameters)
            .and_then(|t| super::jit::compile(&t));
        match compiled {
            Ok(c) => {
                self.entry = Some(c.entry());
                self.code = Some(Arc::new(c));
            }
            Err(why) => self.interpreted_because = Some(why.into()),
        }
    }

    #[cfg(not(feature = "jit"))]
    fn compile(&mut self) {
        self.interpreted_because = Some("built without the `jit` feature".into());
    }

    /// The same formulas, interpreted (the reference compiled code is checked against).
    pub fn interpreted(&self) -> Self {
        Program {
            entry: None,
            #[cfg(feature = "jit")]
            code: None,
            interpreted_because: Some("requested".into()),
            ..self.clone()
        }
    }

    /// The formulas.
    pub fn formulas(&self) -> &[Formula] {
        &self.formulas
    }

    /// Number of formulas (outputs).
    pub fn len(&self) -> usize {
        self.formulas.len()
    }

    /// True when there are no formulas.
    pub fn is_empty(&self) -> bool {
        self.formulas.is_empty()
    }

    /// "compiled", or "interpreted (why)".
    pub fn backend_name(&self) -> String {
        match (self.entry, &self.interpreted_because) {
            (Some(_), _) => "compiled".into(),
            (None, Some(why)) => format!("interpreted ({why})"),
            (None, None) => "interpreted".into(),
        }
    }

    /// True when native code evaluates the formulas.
    pub fn is_compiled(&self) -> bool {
        self.entry.is_some()
    }

    /// out[k] = formula k at θ = x (x has d entries, out at least `len()`).
    #[inline(always)]
    pub fn eval(&self, x: &[f64], out: &mut [f64]) {
        match self.entry {
            Some(entry) => {
                assert!(x.len() >= self.d && out.len() >= self.formulas.len());
                // SAFETY: the code reads x[..d] and writes out[..len()], checked above; `code`
                // keeps it alive as long as `self`.
                unsafe { entry(x.as_ptr(), out.as_mut_ptr()) }
            }
            None => self.interpret(x, out),
        }
    }

    /// The interpreter, out of line so that the compiled path stays a bare call.
    #[inline(never)]
    fn interpret(&self, x: &[f64], out: &mut [f64]) {
        for (o, f) in out.iter_mut().zip(&self.formulas) {
            *o = super::super::drift::eval_at(f, x, &self.parameters);
        }
    }

    /// The single formula's value (for one-formula programs such as a loss).
    #[inline]
    pub fn eval_scalar(&self, x: &[f64]) -> f64 {
        let mut v = [0.0];
        self.eval(x, &mut v);
        v[0]
    }
}

#[cfg(all(test, feature = "jit"))]
mod tests {
    use super::super::tape::{Node, Unary};
    use super::*;
    use rand::{Rng, SeedableRng};

    fn symbols() -> Vec<String> {
        ["x", "y", "z", "k"].iter().map(|s| s.to_string()).collect()
    }

    /// Bit-identical, or both NaN (NaN payloads are not specified).
    fn same(a: f64, b: f64) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    /// Every operator, function and constant the parser knows, integer and real powers of
    /// either sign, parameters, and shared subexpressions.
    const FORMULAS: &[&str] = &[
        "x + y - z*k / (1 + x^2)",
        "(x - 1)^4 - y^3 + z^-2 + x^0 + y^1 + x^64 - z^-7",
        "x^0.5 + y^2.5 + 2^x + x^y + x^(-1.5)",
        "abs(x) + signum(y) + floor(z) + round(x*k) + ceil(y) + trunc(z) + fract(x)",
        "sin(x) + cos(y) + tan(z) + asin(x/3) + acos(y/3) + atan(z)",
        "sinh(x) + cosh(y) + tanh(z) + asinh(x) + acosh(y) + atanh(z/3)",
        "exp(x) + sqrt(y) + cbrt(z) + ln(x) + log2(y) + log10(z) + log(k*x)",
        "atan2(y, x) + min(x, y) + max(z, k) + PI*x + E*y + TAU*z + π + τ + e",
        "-(x^2) + -sin(y) - -z + (-x)^2 + (-y)^3",
        "exp(-(x^2 + y^2)/2) * (1 + 0.3*sin(x*y)) + tanh(x*y) * exp(-(x^2 + y^2)/2)",
        "k*x*y - k^2*z + 1e-3*x + 2.5e2",
    ];

    fn points(seed: u64) -> Vec<[f64; 3]> {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut pts: Vec<[f64; 3]> = (0..300)
            .map(|_| std::array::from_fn(|_| rng.random_range(-3.0..3.0)))
            .collect();
        // Zeros, signs, integers, halves (rounding ties), huge and tiny values, infinities.
        for v in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            2.5,
            -2.5,
            1e300,
            -1e-300,
            f64::INFINITY,
        ] {
            pts.push([v, -v, v * 0.5]);
        }
        pts
    }

    #[test]
    fn compiled_formulas_equal_the_interpreter_bit_for_bit() {
        let s = symbols();
        let parsed: Vec<Formula> = FORMULAS
            .iter()
            .map(|t| Formula::parse(t, &s, "test").unwrap())
            .collect();
        // Their exact derivatives too (longer formulas, with the interpreter's own powers).
        let mut all = parsed.clone();
        for f in &parsed[..3] {
            for k in 0..3 {
                all.push(f.partial(k, "test").unwrap());
            }
        }
        let together = Program::new(all.clone(), 3, vec![0.7]);
        assert!(together.is_compiled(), "{}", together.backend_name());
        let reference = together.interpreted();
        let (mut a, mut b) = (vec![0.0; all.len()], vec![0.0; all.len()]);
        for x in points(7) {
            together.eval(&x, &mut a);
            reference.eval(&x, &mut b);
            for (k, (u, v)) in a.iter().zip(&b).enumerate() {
                assert!(
                    same(*u, *v),
                    "{} at {x:?}: compiled {u:e}, interpreted {v:e}",
                    all[k].text()
                );
            }
        }
        // Each formula alone (no sharing with the others) gives the same numbers.
        for (k, f) in all.iter().enumerate() {
            let alone = Program::new(vec![f.clone()], 3, vec![0.7]);
            for x in points(8).iter().take(50) {
                let mut out = [0.0; 2];
                together.eval(x, &mut a);
                alone.eval(x, &mut out);
                assert!(same(out[0], a[k]), "{} at {x:?}", f.text());
            }
        }
    }

    #[test]
    fn shared_subexpressions_are_recorded_once_and_parameters_folded() {
        let s = symbols();
        let f = |t: &str| Formula::parse(t, &s, "test").unwrap();
        // The same subexpression in three formulas, and a parameter-only part (k² + 1).
        let group = [
            f("exp(-(x^2 + y^2)) * (k^2 + 1)"),
            f("exp(-(x^2 + y^2)) * x"),
            f("exp(-(x^2 + y^2)) * y"),
        ];
        let refs: Vec<&Formula> = group.iter().collect();
        let tape = super::super::tape::record(&refs, 3, &[2.0]).unwrap();
        let exps = tape
            .nodes
            .iter()
            .filter(|n| matches!(n, Node::Unary(Unary::Exp, _)))
            .count();
        assert_eq!(exps, 1, "{:?}", tape.nodes);
        let mut out = [0.0; 3];
        tape.eval(&[0.5, -0.25, 9.0], &mut out);
        let e = (-(0.25f64 + 0.0625)).exp();
        assert_eq!(out[0], e * 5.0);
        assert_eq!(out[1], e * 0.5);
    }

    #[test]
    fn constant_groups_stay_interpreted_and_evaluate_right() {
        let s = symbols();
        let c = Program::new(
            vec![
                Formula::constant(2.5, &s),
                Formula::parse("k*2", &s, "t").unwrap(),
            ],
            3,
            vec![4.0],
        );
        // `k*2` depends on a symbol, so the group is compiled, with k folded in.
        assert!(c.is_compiled());
        let mut out = [0.0; 2];
        c.eval(&[0.0; 3], &mut out);
        assert_eq!(out, [2.5, 8.0]);
        let only = Program::new(vec![Formula::constant(1.5, &s)], 3, vec![4.0]);
        assert!(!only.is_compiled() && only.backend_name().contains("constant"));
        assert_eq!(only.eval_scalar(&[0.0; 3]), 1.5);
    }
}
