//! A group of formulas recorded as one straight-line program (a tape), for the compiler.
//!
//! exmex keeps its expression tree private, so the tape is recorded by evaluating each formula
//! once on [`Traced`] values: numbers that are either known constants or handles of tape nodes.
//! The operators below are exmex's float operators (and our `^`) lifted to `Traced`: on two
//! constants they compute the f64 result with the very same function the interpreter calls,
//! otherwise they append a node. So the tape performs exactly the interpreter's floating-point
//! operations, in the same order — compiled and interpreted values agree bit for bit — with
//! constants folded and parameters (fixed numbers) folded in. Nodes are hash-consed: a
//! subexpression shared between formulas (b and its Jacobian, a(θ) and ∂a/∂θ) is computed once.

use super::{power, Formula};
use exmex::prelude::*;
use exmex::{BinOp, MakeOperators, Operator};
use std::cell::RefCell;
use std::collections::HashMap;
use std::str::FromStr;

/// A value while recording: a known number, or the tape node that computes it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Traced {
    /// Known at recording time.
    Const(f64),
    /// Computed by tape node `n`.
    Node(u32),
}

impl Default for Traced {
    fn default() -> Self {
        Traced::Const(0.0)
    }
}

impl FromStr for Traced {
    type Err = std::num::ParseFloatError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<f64>().map(Traced::Const)
    }
}

/// Functions of one argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unary {
    Neg,
    Abs,
    Signum,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Asinh,
    Acosh,
    Atanh,
    Floor,
    Round,
    Ceil,
    Trunc,
    Fract,
    Exp,
    Sqrt,
    Cbrt,
    Ln,
    Log2,
    Log10,
}

impl Unary {
    /// The interpreter's f64 function (exmex's float operators).
    pub fn apply(self, a: f64) -> f64 {
        match self {
            Unary::Neg => -a,
            Unary::Abs => a.abs(),
            Unary::Signum => a.signum(),
            Unary::Sin => a.sin(),
            Unary::Cos => a.cos(),
            Unary::Tan => a.tan(),
            Unary::Asin => a.asin(),
            Unary::Acos => a.acos(),
            Unary::Atan => a.atan(),
            Unary::Sinh => a.sinh(),
            Unary::Cosh => a.cosh(),
            Unary::Tanh => a.tanh(),
            Unary::Asinh => a.asinh(),
            Unary::Acosh => a.acosh(),
            Unary::Atanh => a.atanh(),
            Unary::Floor => a.floor(),
            Unary::Round => a.round(),
            Unary::Ceil => a.ceil(),
            Unary::Trunc => a.trunc(),
            Unary::Fract => a.fract(),
            Unary::Exp => a.exp(),
            Unary::Sqrt => a.sqrt(),
            Unary::Cbrt => a.cbrt(),
            Unary::Ln => a.ln(),
            Unary::Log2 => a.log2(),
            Unary::Log10 => a.log10(),
        }
    }
}

/// Functions of two arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Binary {
    Add,
    Sub,
    Mul,
    Div,
    /// `^` with an exponent that is not a small integer constant: [`power`] at run time.
    Pow,
    Atan2,
    Min,
    Max,
}

impl Binary {
    /// The interpreter's f64 function.
    pub fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            Binary::Add => a + b,
            Binary::Sub => a - b,
            Binary::Mul => a * b,
            Binary::Div => a / b,
            Binary::Pow => power(a, b),
            Binary::Atan2 => a.atan2(b),
            Binary::Min => a.min(b),
            Binary::Max => a.max(b),
        }
    }
}

/// One tape node; operands are earlier nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Node {
    /// θᵢ.
    Input(u32),
    /// A number (its bits, so that nodes hash).
    Const(u64),
    Unary(Unary, u32),
    Binary(Binary, u32, u32),
    /// aⁿ for a constant integer |n| ≤ 64, as `f64::powi` computes it.
    PowI(u32, i32),
}

/// A straight-line program: nodes in evaluation order and the nodes that are the outputs.
#[derive(Clone, Debug)]
pub struct Tape {
    /// The nodes.
    pub nodes: Vec<Node>,
    /// For each formula, its node.
    pub outputs: Vec<u32>,
}

#[derive(Default)]
struct Recorder {
    nodes: Vec<Node>,
    index: HashMap<Node, u32>,
}

thread_local! {
    static RECORDER: RefCell<Recorder> = RefCell::new(Recorder::default());
}

fn push(node: Node) -> Traced {
    RECORDER.with(|r| {
        let mut r = r.borrow_mut();
        if let Some(&n) = r.index.get(&node) {
            return Traced::Node(n);
        }
        let n = r.nodes.len() as u32;
        r.nodes.push(node);
        r.index.insert(node, n);
        Traced::Node(n)
    })
}

fn node_of(t: Traced) -> u32 {
    match t {
        Traced::Node(n) => n,
        Traced::Const(v) => match push(Node::Const(v.to_bits())) {
            Traced::Node(n) => n,
            Traced::Const(_) => unreachable!("push returns a node"),
        },
    }
}

fn unary(op: Unary, a: Traced) -> Traced {
    match a {
        Traced::Const(v) => Traced::Const(op.apply(v)),
        Traced::Node(n) => push(Node::Unary(op, n)),
    }
}

fn binary(op: Binary, a: Traced, b: Traced) -> Traced {
    match (a, b) {
        (Traced::Const(x), Traced::Const(y)) => Traced::Const(op.apply(x, y)),
        _ => push(Node::Binary(op, node_of(a), node_of(b))),
    }
}

/// `^` exactly as [`power`] decides: `powi` for a small integer exponent, `powf` otherwise.
fn traced_power(a: Traced, b: Traced) -> Traced {
    match (a, b) {
        (Traced::Const(x), Traced::Const(y)) => Traced::Const(power(x, y)),
        (Traced::Node(n), Traced::Const(y)) if y == y.trunc() && y.abs() <= 64.0 => {
            push(Node::PowI(n, y as i32))
        }
        _ => binary(Binary::Pow, a, b),
    }
}

macro_rules! lifted_unary {
    ($($name:ident => $op:expr),* $(,)?) => {
        $(fn $name(a: Traced) -> Traced { unary($op, a) })*
    };
}
lifted_unary!(
    t_neg => Unary::Neg, t_abs => Unary::Abs, t_signum => Unary::Signum, t_sin => Unary::Sin,
    t_cos => Unary::Cos, t_tan => Unary::Tan, t_asin => Unary::Asin, t_acos => Unary::Acos,
    t_atan => Unary::Atan, t_sinh => Unary::Sinh, t_cosh => Unary::Cosh, t_tanh => Unary::Tanh,
    t_asinh => Unary::Asinh, t_acosh => Unary::Acosh, t_atanh => Unary::Atanh,
    t_floor => Unary::Floor, t_round => Unary::Round, t_ceil => Unary::Ceil,
    t_trunc => Unary::Trunc, t_fract => Unary::Fract, t_exp => Unary::Exp, t_sqrt => Unary::Sqrt,
    t_cbrt => Unary::Cbrt, t_ln => Unary::Ln, t_log2 => Unary::Log2, t_log10 => Unary::Log10,
);

fn bin(apply: fn(Traced, Traced) -> Traced, prio: i64, is_commutative: bool) -> BinOp<Traced> {
    BinOp {
        apply,
        prio,
        is_commutative,
    }
}

/// exmex's float operators (same names, priorities and constants) over [`Traced`], with `^` as
/// in [`super::Operators`].
#[derive(Clone, Debug)]
pub struct TracedOperators;

impl MakeOperators<Traced> for TracedOperators {
    fn make<'a>() -> Vec<Operator<'a, Traced>> {
        use std::f64::consts::{E, PI, TAU};
        let c = Traced::Const;
        vec![
            Operator::make_bin("^", bin(traced_power, 4, false)),
            Operator::make_bin("*", bin(|a, b| binary(Binary::Mul, a, b), 2, true)),
            Operator::make_bin("/", bin(|a, b| binary(Binary::Div, a, b), 3, false)),
            Operator::make_bin_unary("+", bin(|a, b| binary(Binary::Add, a, b), 0, true), |a| a),
            Operator::make_bin_unary("-", bin(|a, b| binary(Binary::Sub, a, b), 1, false), t_neg),
            Operator::make_bin("atan2", bin(|a, b| binary(Binary::Atan2, a, b), 0, false)),
            Operator::make_bin("min", bin(|a, b| binary(Binary::Min, a, b), 0, false)),
            Operator::make_bin("max", bin(|a, b| binary(Binary::Max, a, b), 0, false)),
            Operator::make_unary("abs", t_abs),
            Operator::make_unary("signum", t_signum),
            Operator::make_unary("sin", t_sin),
            Operator::make_unary("cos", t_cos),
            Operator::make_unary("tan", t_tan),
            Operator::make_unary("asin", t_asin),
            Operator::make_unary("acos", t_acos),
            Operator::make_unary("atan", t_atan),
            Operator::make_unary("sinh", t_sinh),
            Operator::make_unary("cosh", t_cosh),
            Operator::make_unary("tanh", t_tanh),
            Operator::make_unary("asinh", t_asinh),
            Operator::make_unary("acosh", t_acosh),
            Operator::make_unary("atanh", t_atanh),
            Operator::make_unary("floor", t_floor),
            Operator::make_unary("round", t_round),
            Operator::make_unary("ceil", t_ceil),
            Operator::make_unary("trunc", t_trunc),
            Operator::make_unary("fract", t_fract),
            Operator::make_unary("exp", t_exp),
            Operator::make_unary("sqrt", t_sqrt),
            Operator::make_unary("cbrt", t_cbrt),
            Operator::make_unary("ln", t_ln),
            Operator::make_unary("log2", t_log2),
            Operator::make_unary("log10", t_log10),
            Operator::make_unary("log", t_ln),
            Operator::make_constant("PI", c(PI)),
            Operator::make_constant("π", c(PI)),
            Operator::make_constant("E", c(E)),
            Operator::make_constant("e", c(E)),
            Operator::make_constant("TAU", c(TAU)),
            Operator::make_constant("τ", c(TAU)),
        ]
    }
}

type TracedExpr = FlatEx<Traced, TracedOperators>;

/// Clears the thread's recorder when recording ends, however it ends.
struct Session;

impl Session {
    fn start() -> Self {
        RECORDER.with(|r| *r.borrow_mut() = Recorder::default());
        Session
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        RECORDER.with(|r| *r.borrow_mut() = Recorder::default());
    }
}

/// Record `formulas` over θ ∈ ℝᵈ, with the symbols after θ fixed to `parameters`; `Err` names
/// what could not be recorded (the caller then keeps the interpreter).
pub fn record(formulas: &[&Formula], d: usize, parameters: &[f64]) -> Result<Tape, String> {
    let _session = Session::start();
    for i in 0..d {
        push(Node::Input(i as u32));
    }
    let mut outputs = Vec::with_capacity(formulas.len());
    for f in formulas {
        let value = match f.source() {
            None => Traced::Const(f.eval(&[])),
            Some(text) => {
                let expr = TracedExpr::parse(text)
                    .map_err(|e| format!("formula \"{}\" cannot be recorded: {e}", f.text()))?;
                let mut args = Vec::with_capacity(expr.var_names().len());
                for name in expr.var_names() {
                    let k = f
                        .symbol_index(name)
                        .ok_or_else(|| format!("'{name}' is not a symbol of \"{}\"", f.text()))?;
                    args.push(if k < d {
                        Traced::Node(k as u32)
                    } else {
                        let p = parameters.get(k - d).ok_or_else(|| {
                            format!("no value for parameter '{name}' of \"{}\"", f.text())
                        })?;
                        Traced::Const(*p)
                    });
                }
                expr.eval(&args)
                    .map_err(|e| format!("formula \"{}\" cannot be recorded: {e}", f.text()))?
            }
        };
        outputs.push(node_of(value));
    }
    let nodes = RECORDER.with(|r| std::mem::take(&mut r.borrow_mut().nodes));
    Ok(Tape { nodes, outputs })
}

#[cfg(test)]
impl Tape {
    /// Evaluate node by node (the reference the compiled code is tested against).
    pub fn eval(&self, x: &[f64], out: &mut [f64]) {
        let mut v = Vec::with_capacity(self.nodes.len());
        for node in &self.nodes {
            v.push(match *node {
                Node::Input(i) => x[i as usize],
                Node::Const(bits) => f64::from_bits(bits),
                Node::Unary(op, a) => op.apply(v[a as usize]),
                Node::Binary(op, a, b) => op.apply(v[a as usize], v[b as usize]),
                Node::PowI(a, n) => v[a as usize].powi(n),
            });
        }
        for (o, &k) in out.iter_mut().zip(&self.outputs) {
            *o = v[k as usize];
        }
    }
}
