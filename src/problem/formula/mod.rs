//! Formulas from problem files: parsed once with `exmex`, differentiated symbolically, and
//! evaluated on a stack buffer (no heap allocation per evaluation).
//!
//! Formulas see the problem's variables θ₀..θ_{d−1} (in the declared order) followed by the
//! problem's named parameters, which are fixed numbers.

#[cfg(feature = "jit")]
mod jit;
mod program;
#[cfg(feature = "jit")]
mod tape;

pub use program::{Program, BACKEND_VARIABLE};

use crate::error::{Error, Result};
use exmex::prelude::*;
use exmex::{BinOp, Differentiate, FloatOpsFactory, MakeOperators, Operator};

/// exmex's float operators, with `^` raised by repeated multiplication (`powi`) when the
/// exponent is a small integer: `x^2` is then one multiply instead of a `pow` call (about 20×
/// dearer, and the commonest power in losses and noise fields), and agrees with `powf` to within
/// an ulp or two.
#[derive(Clone, Debug)]
pub struct Operators;

impl MakeOperators<f64> for Operators {
    fn make<'a>() -> Vec<Operator<'a, f64>> {
        let mut ops = FloatOpsFactory::<f64>::make();
        for op in ops.iter_mut().filter(|op| op.repr() == "^") {
            *op = Operator::make_bin(
                "^",
                BinOp {
                    apply: power,
                    prio: 4,
                    is_commutative: false,
                },
            );
        }
        ops
    }
}

/// aᵇ: `powi` for integer |b| ≤ 64, `powf` otherwise.
fn power(a: f64, b: f64) -> f64 {
    if b == b.trunc() && b.abs() <= 64.0 {
        a.powi(b as i32)
    } else {
        a.powf(b)
    }
}

/// The functions formulas may call (the parser's named unary operators).
fn function_names() -> Vec<String> {
    let mut names: Vec<String> = Operators::make()
        .iter()
        .filter(|op| op.has_unary() && op.repr().chars().all(|c| c.is_ascii_alphanumeric()))
        .map(|op| op.repr().to_string())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The first `name(` in `text` whose name is neither a function nor a declared symbol.
fn unknown_function(text: &str, symbols: &[String]) -> Option<String> {
    let known = function_names();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_alphabetic() || chars[i] == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let name: String = chars[start..i].iter().collect();
            let mut j = i;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            let called = j < chars.len() && chars[j] == '(';
            if called && !known.contains(&name) && !symbols.contains(&name) {
                return Some(name);
            }
        } else {
            i += 1;
        }
    }
    None
}

/// The parser's message without the operator internals it appends (`Operator { repr: …,
/// apply: 0x… }`), which mean nothing to a user.
fn readable_parse_error(message: &str) -> String {
    let cut = message.find("Operator {").unwrap_or(message.len());
    message[..cut]
        .trim_end_matches(|c: char| c == ',' || c.is_whitespace())
        .to_string()
}

/// A parsed expression over [`Operators`].
type Expr = FlatEx<f64, Operators>;

/// Most symbols (variables + parameters) one formula may use; evaluation keeps them on the stack.
pub const MAX_SYMBOLS: usize = 64;

/// Names that formulas reserve for constants.
const RESERVED: &[&str] = &["e", "E", "pi", "PI", "π"];

/// Rewrite literals such as `1e-3` or `2.5E+2` as plain decimals (the parser reads only those).
fn expand_scientific_literals(text: &str) -> String {
    let b = text.as_bytes();
    let is_ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'.';
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() && (i == 0 || !is_ident(b[i - 1])) {
            let mut j = i;
            while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'.') {
                j += 1;
            }
            if j < b.len() && (b[j] == b'e' || b[j] == b'E') {
                let mut k = j + 1;
                if k < b.len() && (b[k] == b'+' || b[k] == b'-') {
                    k += 1;
                }
                let digits = k;
                while k < b.len() && b[k].is_ascii_digit() {
                    k += 1;
                }
                let clean_end = k == b.len() || !(b[k].is_ascii_alphanumeric() || b[k] == b'_');
                if k > digits && clean_end {
                    if let Ok(v) = text[i..k].parse::<f64>() {
                        out.push_str(&text[copied..i]);
                        // Rust's `Display` for f64 never uses an exponent.
                        out.push_str(&format!("{v}"));
                        copied = k;
                        i = k;
                        continue;
                    }
                }
            }
            i = j;
            continue;
        }
        i += 1;
    }
    out.push_str(&text[copied..]);
    out
}

/// The first place where a unary minus meets a power, like `-x^2` or `2*-sin(y)^2`, if any.
///
/// exmex binds unary operators tighter than every binary one, so it reads `-x^2` as (−x)² = x²,
/// not as −(x²) as mathematics does. Such formulas are refused with the snippet named, rather than
/// silently evaluated the other way.
fn unary_minus_before_power(text: &str) -> Option<String> {
    let c: Vec<char> = text.chars().collect();
    let skip_space = |mut i: usize| {
        while i < c.len() && c[i].is_whitespace() {
            i += 1;
        }
        i
    };
    // Index just past the parenthesised group opening at `i`.
    let close = |mut i: usize| {
        let mut depth = 0usize;
        while i < c.len() {
            match c[i] {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        return i + 1;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        c.len()
    };
    let mut expect_operand = true;
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
            continue;
        }
        if expect_operand && ch == '-' {
            // The operand the minus applies to: a group, a name (maybe a call) or a number.
            let start = skip_space(i + 1);
            let mut j = start;
            if j < c.len() && c[j] == '(' {
                j = close(j);
            } else {
                while j < c.len() && (c[j].is_alphanumeric() || c[j] == '_' || c[j] == '.') {
                    j += 1;
                }
                let k = skip_space(j);
                if j > start && k < c.len() && c[k] == '(' && !c[start].is_ascii_digit() {
                    j = close(k);
                }
            }
            let k = skip_space(j);
            if j > start && k < c.len() && c[k] == '^' {
                let end = (k + 1..c.len())
                    .find(|&m| matches!(c[m], '+' | '-' | '*' | '/' | ')' | ','))
                    .unwrap_or(c.len());
                return Some(c[i..end.max(k + 2).min(c.len())].iter().collect());
            }
            i += 1;
            continue;
        }
        expect_operand = matches!(ch, '(' | ',' | '+' | '-' | '*' | '/' | '^');
        i += 1;
    }
    None
}

/// A compiled scalar formula f(θ, parameters).
#[derive(Clone, Debug)]
pub struct Formula {
    text: String,
    expr: Option<Expr>,
    constant: f64,
    /// For exmex's i-th (alphabetical) variable, its slot in the argument vector.
    slots: Vec<usize>,
    symbols: Vec<String>,
}

impl Formula {
    /// Parse `text` over the given symbol names (variables then parameters); `field` names the
    /// input for error messages (e.g. `drift.field[1]`).
    pub fn parse(text: &str, symbols: &[String], field: &str) -> Result<Self> {
        if symbols.len() > MAX_SYMBOLS {
            return Err(Error::invalid(
                field,
                format!("at most {MAX_SYMBOLS} variables and parameters are supported in formulas"),
            ));
        }
        for s in symbols {
            if RESERVED.contains(&s.as_str()) {
                return Err(Error::invalid(
                    field,
                    format!("'{s}' is a constant in formulas (e = 2.718…, pi = 3.14…); rename the variable or parameter"),
                ));
            }
        }
        let expanded = expand_scientific_literals(text);
        if let Some(snippet) = unary_minus_before_power(&expanded) {
            return Err(Error::invalid(
                field,
                format!(
                    "formula \"{text}\": \"{snippet}\" is ambiguous — the formula parser would read it as (−a)^b; write -(a^b) for the usual meaning, or (-a)^b"
                ),
            ));
        }
        let expr = Expr::parse(&expanded).map_err(|e| {
            let why = match unknown_function(&expanded, symbols) {
                Some(name) => format!(
                    "'{name}(' is not a known function (known: {})",
                    function_names().join(", ")
                ),
                None => readable_parse_error(&e.to_string()),
            };
            Error::invalid(field, format!("formula \"{text}\" does not parse: {why}"))
        })?;
        Self::from_expr(text.to_string(), expr, symbols, field)
    }

    fn from_expr(text: String, expr: Expr, symbols: &[String], field: &str) -> Result<Self> {
        let mut slots = Vec::new();
        for name in expr.var_names() {
            match symbols.iter().position(|s| s == name) {
                Some(k) => slots.push(k),
                None => {
                    return Err(Error::invalid(
                        field,
                        format!(
                            "formula \"{text}\" uses '{name}', which is not a declared variable or parameter (declared: {})",
                            symbols.join(", ")
                        ),
                    ))
                }
            }
        }
        let f = Formula {
            text,
            expr: Some(expr),
            constant: 0.0,
            slots,
            symbols: symbols.to_vec(),
        };
        Ok(f)
    }

    /// The constant formula `value`.
    pub fn constant(value: f64, symbols: &[String]) -> Self {
        Formula {
            text: format!("{value}"),
            expr: None,
            constant: value,
            slots: Vec::new(),
            symbols: symbols.to_vec(),
        }
    }

    /// The source text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text the parsed expression was read from (`None` for a constant), which the
    /// compiler's recorder parses again.
    #[cfg(feature = "jit")]
    pub(crate) fn source(&self) -> Option<&str> {
        self.expr.as_ref().map(|e| e.unparse())
    }

    /// The position of symbol `name` among the variables and parameters.
    #[cfg(feature = "jit")]
    pub(crate) fn symbol_index(&self, name: &str) -> Option<usize> {
        self.symbols.iter().position(|s| s == name)
    }

    /// True when the formula does not depend on any symbol.
    pub fn is_constant(&self) -> bool {
        self.slots.is_empty()
    }

    /// True when the formula depends on none of the first `d` symbols (the variables θ);
    /// parameters are fixed numbers, so such a formula is constant in θ.
    pub fn is_constant_in(&self, d: usize) -> bool {
        self.slots.iter().all(|&s| s >= d)
    }

    /// Evaluate at `args` (variables then parameters).
    #[inline]
    pub fn eval(&self, args: &[f64]) -> f64 {
        let Some(expr) = &self.expr else {
            return self.constant;
        };
        let mut buf = [0.0f64; MAX_SYMBOLS];
        for (i, &s) in self.slots.iter().enumerate() {
            buf[i] = args[s];
        }
        // Cannot fail: the argument count equals the expression's variable count by construction.
        expr.eval(&buf[..self.slots.len()]).unwrap_or(f64::NAN)
    }

    /// ∂f/∂(symbol k), exactly (symbolic differentiation).
    pub fn partial(&self, k: usize, field: &str) -> Result<Formula> {
        let Some(expr) = &self.expr else {
            return Ok(Formula::constant(0.0, &self.symbols));
        };
        let Some(pos) = self.slots.iter().position(|&s| s == k) else {
            return Ok(Formula::constant(0.0, &self.symbols));
        };
        let d = expr.clone().partial(pos).map_err(|e| {
            Error::invalid(
                field,
                format!(
                    "cannot differentiate \"{}\" with respect to {}: {e}",
                    self.text, self.symbols[k]
                ),
            )
        })?;
        let text = format!("d({})/d{}", self.text, self.symbols[k]);
        // exmex keeps every original variable in a derivative's variable list; re-parse its
        // text so that the list holds only the symbols the derivative really uses.
        let d = Expr::parse(d.unparse())
            .map_err(|e| Error::numerical("symbolic differentiation", format!("{}: {e}", text)))?;
        if d.var_names().is_empty() {
            let v = d.eval(&[]).unwrap_or(f64::NAN);
            let mut f = Formula::constant(v, &self.symbols);
            f.text = text;
            return Ok(f);
        }
        Formula::from_expr(text, d, &self.symbols, field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parse_errors_name_the_unknown_function_and_hide_parser_internals() {
        let vars = names(&["x", "y"]);
        let e = Formula::parse("x^2/2 + frob(y)", &vars, "drift.loss")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("'frob(' is not a known function"), "{e}");
        assert!(e.contains("sqrt") && e.contains("tanh"), "{e}");
        let e = Formula::parse("x^2/2 + * y", &vars, "drift.loss")
            .err()
            .unwrap()
            .to_string();
        assert!(e.starts_with("drift.loss: formula"), "{e}");
        assert!(!e.contains("Operator {") && !e.contains("0x"), "{e}");
        // Known functions and spaces before the parenthesis still parse.
        assert!(Formula::parse("tanh (x) + ln(1 + y^2)", &vars, "f").is_ok());
    }

    #[test]
    fn a_unary_minus_before_a_power_is_refused_and_the_parenthesised_forms_are_read_right() {
        let s = names(&["x", "y"]);
        for bad in [
            "-x^2/2 + x^4/4",
            "y*-x^2",
            "1 + -(x+y)^2",
            "-sin(x)^2",
            "(-2^x)",
            "-2.5^x",
        ] {
            let e = Formula::parse(bad, &s, "loss").unwrap_err().to_string();
            assert!(e.contains("ambiguous") && e.contains("loss"), "{bad}: {e}");
        }
        // Binary minus, a minus inside the exponent, and the explicit forms are fine.
        let ok = |t: &str, x: f64, y: f64| Formula::parse(t, &s, "f").unwrap().eval(&[x, y]);
        assert_eq!(ok("x^4/4 - x^2/2", 2.0, 0.0), 2.0);
        assert_eq!(ok("-(x^2)", 3.0, 0.0), -9.0);
        assert_eq!(ok("(-x)^2", 3.0, 0.0), 9.0);
        assert_eq!(ok("-x*y", 3.0, 2.0), -6.0);
        assert!((ok("2^-x", 1.0, 0.0) - 0.5).abs() < 1e-15);
        assert!(Formula::parse("exp(-x^2)", &s, "f").is_err());
        assert!((ok("exp(-(x^2))", 1.5, 0.0) - (-2.25f64).exp()).abs() < 1e-15);
    }

    #[test]
    fn integer_powers_agree_with_powf() {
        let s = names(&["x"]);
        for (text, exact) in [
            ("x^2", (|x: f64| x * x) as fn(f64) -> f64),
            ("x^3 - x^-2", |x: f64| x * x * x - 1.0 / (x * x)),
            ("x^0.5", |x: f64| x.sqrt()),
            ("(x - 1)^4", |x: f64| {
                (x - 1.0) * (x - 1.0) * (x - 1.0) * (x - 1.0)
            }),
        ] {
            let f = Formula::parse(text, &s, "t").unwrap();
            for x in [0.3, 1.7, 2.5, 11.0] {
                let (v, e) = (f.eval(&[x]), exact(x));
                assert!(
                    (v - e).abs() <= 4.0 * f64::EPSILON * e.abs(),
                    "{text} at {x}: {v} vs {e}"
                );
            }
        }
        // A negative base with an integer exponent is real; with a fractional one it is NaN.
        let f = Formula::parse("x^3", &s, "t").unwrap();
        assert_eq!(f.eval(&[-2.0]), -8.0);
        assert!(Formula::parse("x^0.5", &s, "t")
            .unwrap()
            .eval(&[-2.0])
            .is_nan());
        // Derivatives go through the same operators.
        let d = Formula::parse("x^4", &s, "t")
            .unwrap()
            .partial(0, "t")
            .unwrap();
        assert!((d.eval(&[1.5]) - 4.0 * 1.5f64.powi(3)).abs() < 1e-13);
    }

    #[test]
    fn evaluates_in_declared_order() {
        // exmex orders variables alphabetically; declared order is (y, x) here.
        let f = Formula::parse("y - 2*x", &names(&["y", "x"]), "t").unwrap();
        assert_eq!(f.eval(&[5.0, 1.0]), 3.0);
    }

    #[test]
    fn partials_match_finite_differences() {
        let s = names(&["x", "y", "beta"]);
        let f = Formula::parse("x - x^3 - beta*x*y^2 + tanh(x*y) + exp(-y)", &s, "t").unwrap();
        let args = [0.3, -0.7, 10.0];
        for k in 0..2 {
            let d = f.partial(k, "t").unwrap();
            let h = 1e-6;
            let mut p = args;
            let mut m = args;
            p[k] += h;
            m[k] -= h;
            let fd = (f.eval(&p) - f.eval(&m)) / (2.0 * h);
            assert!((fd - d.eval(&args)).abs() < 1e-7, "k={k}");
        }
        // A variable the formula does not use has derivative zero.
        let g = Formula::parse("x^2", &s, "t").unwrap();
        assert_eq!(g.partial(1, "t").unwrap().eval(&args), 0.0);
        assert_eq!(
            g.partial(0, "t")
                .unwrap()
                .partial(0, "t")
                .unwrap()
                .eval(&args),
            2.0
        );
    }

    #[test]
    fn reads_scientific_literals() {
        let s = names(&["x", "y1e2"]);
        let f = Formula::parse("1e-3*x + 2.5E+2 - y1e2 + x*1.5e1", &s, "t").unwrap();
        assert!((f.eval(&[2.0, 1.0]) - (0.002 + 250.0 - 1.0 + 30.0)).abs() < 1e-12);
        assert!(Formula::parse("x", &names(&["x", "e"]), "t").is_err());
    }

    #[test]
    fn rejects_undeclared_and_malformed() {
        let s = names(&["x", "y"]);
        let e = Formula::parse("x + z", &s, "drift.field[0]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("'z'") && e.contains("drift.field[0]"), "{e}");
        assert!(Formula::parse("x + * y", &s, "f").is_err());
    }
}
