//! Native code for a [`Tape`], through the Cranelift JIT.
//!
//! The compiled function is `f(θ, out)`: it loads θᵢ, computes the tape's nodes in order and
//! stores the outputs. Arithmetic, `sqrt`, `abs`, `floor`, `ceil` and `trunc` are single
//! instructions (all exact or correctly rounded, as in Rust); every other function calls the Rust
//! function the interpreter calls, and integer powers repeat the squarings of `f64::powi`, so
//! the compiled code returns the interpreter's values bit for bit.

use super::tape::{Binary, Node, Tape, Unary};
use cranelift_codegen::ir::{
    types::{F64, F64X2},
    AbiParam, FuncRef, InstBuilder, MemFlags, Signature, Value,
};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, FuncId, Linkage, Module};
use std::collections::HashMap;

use super::program::Entry;

/// Compiled code and the module that owns its memory.
pub struct Compiled {
    module: Option<JITModule>,
    entry: Entry,
}

// SAFETY: the code is immutable once finalised and reads only its arguments; the module is
// touched again only by `Drop`, which has exclusive access.
unsafe impl Send for Compiled {}
unsafe impl Sync for Compiled {}

impl Drop for Compiled {
    fn drop(&mut self) {
        if let Some(m) = self.module.take() {
            // SAFETY: `self` owns the only copy of `entry`, and it is being dropped.
            unsafe { m.free_memory() };
        }
    }
}

impl Compiled {
    /// The entry point, valid while `self` lives.
    pub fn entry(&self) -> Entry {
        self.entry
    }
}

macro_rules! unary_symbols {
    ($($name:ident => $op:expr),* $(,)?) => {
        $(extern "C" fn $name(a: f64) -> f64 { $op.apply(a) })*
        /// The host function for a unary operation that is not one instruction.
        fn unary_symbol(op: Unary) -> Option<(&'static str, *const u8)> {
            $(if op == $op { return Some((stringify!($name), $name as *const u8)); })*
            None
        }
    };
}
unary_symbols!(
    qp_signum => Unary::Signum, qp_sin => Unary::Sin, qp_cos => Unary::Cos,
    qp_tan => Unary::Tan, qp_asin => Unary::Asin, qp_acos => Unary::Acos,
    qp_atan => Unary::Atan, qp_sinh => Unary::Sinh, qp_cosh => Unary::Cosh,
    qp_tanh => Unary::Tanh, qp_asinh => Unary::Asinh, qp_acosh => Unary::Acosh,
    qp_atanh => Unary::Atanh, qp_round => Unary::Round, qp_fract => Unary::Fract,
    qp_exp => Unary::Exp, qp_cbrt => Unary::Cbrt, qp_ln => Unary::Ln,
    qp_log2 => Unary::Log2, qp_log10 => Unary::Log10,
);

macro_rules! binary_symbols {
    ($($name:ident => $op:expr),* $(,)?) => {
        $(extern "C" fn $name(a: f64, b: f64) -> f64 { $op.apply(a, b) })*
        /// The host function for a binary operation that is not one instruction.
        fn binary_symbol(op: Binary) -> Option<(&'static str, *const u8)> {
            $(if op == $op { return Some((stringify!($name), $name as *const u8)); })*
            None
        }
    };
}
binary_symbols!(
    qp_pow => Binary::Pow, qp_atan2 => Binary::Atan2, qp_min => Binary::Min,
    qp_max => Binary::Max,
);

/// Imported host functions, declared once per module and once per function.
struct Imports {
    ids: HashMap<&'static str, FuncId>,
    refs: HashMap<&'static str, FuncRef>,
}

/// Compile `tape`; `Err` says why (the caller keeps the interpreter).
pub fn compile(tape: &Tape) -> Result<Compiled, String> {
    let mut flags = settings::builder();
    let set = |f: &mut settings::Builder, k: &str, v: &str| {
        f.set(k, v).map_err(|e| format!("cranelift flag {k}: {e}"))
    };
    set(&mut flags, "use_colocated_libcalls", "false")?;
    set(&mut flags, "is_pic", "false")?;
    set(&mut flags, "opt_level", "speed")?;
    let isa = cranelift_native::builder()
        .map_err(|e| format!("this host is not supported by the compiler: {e}"))?
        .finish(settings::Flags::new(flags))
        .map_err(|e| format!("cranelift: {e}"))?;
    let mut jb = JITBuilder::with_isa(isa, default_libcall_names());
    let mut used = Vec::new();
    for node in &tape.nodes {
        let sym = match *node {
            Node::Unary(op, _) => unary_symbol(op).map(|s| (s, 1)),
            Node::Binary(op, _, _) => binary_symbol(op).map(|s| (s, 2)),
            _ => None,
        };
        if let Some(((name, ptr), arity)) = sym {
            if !used.iter().any(|&(n, _)| n == name) {
                jb.symbol(name, ptr);
                used.push((name, arity));
            }
        }
    }
    let mut module = JITModule::new(jb);
    let ptr = module.target_config().pointer_type();
    let call_conv = module.target_config().default_call_conv;
    let mut imports = Imports {
        ids: HashMap::new(),
        refs: HashMap::new(),
    };
    for &(name, arity) in &used {
        let mut sig = Signature::new(call_conv);
        sig.params.extend((0..arity).map(|_| AbiParam::new(F64)));
        sig.returns.push(AbiParam::new(F64));
        let id = module
            .declare_function(name, Linkage::Import, &sig)
            .map_err(|e| format!("cranelift: {e}"))?;
        imports.ids.insert(name, id);
    }

    let mut ctx = module.make_context();
    ctx.func.signature.params.push(AbiParam::new(ptr));
    ctx.func.signature.params.push(AbiParam::new(ptr));
    let id = module
        .declare_function("formulas", Linkage::Local, &ctx.func.signature)
        .map_err(|e| format!("cranelift: {e}"))?;
    let mut fctx = FunctionBuilderContext::new();
    {
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        for (&name, &fid) in &imports.ids {
            let r = module.declare_func_in_func(fid, b.func);
            imports.refs.insert(name, r);
        }
        let block = b.create_block();
        b.append_block_params_for_function_params(block);
        b.switch_to_block(block);
        b.seal_block(block);
        let (x, out) = (b.block_params(block)[0], b.block_params(block)[1]);
        let mem = MemFlags::trusted();
        let mut v: Vec<Value> = Vec::with_capacity(tape.nodes.len());
        let call = |b: &mut FunctionBuilder, name: &'static str, args: &[Value]| {
            let call = b.ins().call(imports.refs[name], args);
            b.inst_results(call)[0]
        };
        for node in &tape.nodes {
            let value = match *node {
                Node::Input(i) => b.ins().load(F64, mem, x, 8 * i as i32),
                Node::Const(bits) => b.ins().f64const(f64::from_bits(bits)),
                Node::Unary(op, a) => {
                    let a = v[a as usize];
                    match op {
                        Unary::Neg => b.ins().fneg(a),
                        Unary::Abs => b.ins().fabs(a),
                        Unary::Sqrt => b.ins().sqrt(a),
                        Unary::Floor => b.ins().floor(a),
                        Unary::Ceil => b.ins().ceil(a),
                        Unary::Trunc => b.ins().trunc(a),
                        _ => {
                            let (name, _) = unary_symbol(op).expect("declared above");
                            call(&mut b, name, &[a])
                        }
                    }
                }
                Node::Binary(op, a, c) => {
                    let (a, c) = (v[a as usize], v[c as usize]);
                    match op {
                        Binary::Add => b.ins().fadd(a, c),
                        Binary::Sub => b.ins().fsub(a, c),
                        Binary::Mul => b.ins().fmul(a, c),
                        Binary::Div => b.ins().fdiv(a, c),
                        _ => {
                            let (name, _) = binary_symbol(op).expect("declared above");
                            call(&mut b, name, &[a, c])
                        }
                    }
                }
                Node::PowI(a, n) => powi(&mut b, v[a as usize], n),
            };
            v.push(value);
        }
        // Outputs in pairs, one 16-byte store each: callers read b(θ) with 16-byte vector loads,
        // and a load that spans two 8-byte stores cannot be forwarded from the store buffer
        // (a stall of ~12 cycles per step in the Monte Carlo kernel).
        for (k, pair) in tape.outputs.chunks(2).enumerate() {
            let offset = 16 * k as i32;
            match *pair {
                [lo, hi] => {
                    let packed = b.ins().scalar_to_vector(F64X2, v[lo as usize]);
                    let packed = b.ins().insertlane(packed, v[hi as usize], 1);
                    b.ins().store(mem, packed, out, offset);
                }
                [last] => {
                    b.ins().store(mem, v[last as usize], out, offset);
                }
                _ => unreachable!("chunks of two"),
            }
        }
        b.ins().return_(&[]);
        b.finalize();
    }
    module
        .define_function(id, &mut ctx)
        .map_err(|e| format!("cranelift: {e:?}"))?;
    module.clear_context(&mut ctx);
    module
        .finalize_definitions()
        .map_err(|e| format!("cranelift: {e}"))?;
    let code = module.get_finalized_function(id);
    // SAFETY: `code` was compiled from a function with the signature of `Entry`.
    let entry = unsafe { std::mem::transmute::<*const u8, Entry>(code) };
    Ok(Compiled {
        module: Some(module),
        entry,
    })
}

/// aⁿ with the operations of `f64::powi` (compiler-rt's `__powidf2`): square-and-multiply
/// from the lowest bit, then one division for n < 0. Multiplications by the initial 1 are
/// exact and left out.
fn powi(b: &mut FunctionBuilder, a: Value, n: i32) -> Value {
    let mut e = n.unsigned_abs();
    let mut base = a;
    let mut r: Option<Value> = None;
    loop {
        if e & 1 == 1 {
            r = Some(match r {
                None => base,
                Some(r) => b.ins().fmul(r, base),
            });
        }
        e >>= 1;
        if e == 0 {
            break;
        }
        base = b.ins().fmul(base, base);
    }
    let r = r.unwrap_or_else(|| b.ins().f64const(1.0));
    if n < 0 {
        let one = b.ins().f64const(1.0);
        b.ins().fdiv(one, r)
    } else {
        r
    }
}
