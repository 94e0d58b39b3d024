//! Drifts b(θ): linear, gradients of losses, formula fields and native built-in models.

use super::formula::{Formula, Program};
use super::model::{ScalarField, VectorField};
use crate::error::Result;
use crate::linalg::Matrix;

/// A loss L(θ), exactly differentiable.
#[derive(Clone, Debug)]
pub enum Loss {
    /// L = ½ (θ−θ*)ᵀ H (θ−θ*).
    Quadratic {
        /// The Hessian H (symmetric).
        hessian: Matrix,
        /// The minimum θ*.
        center: Vec<f64>,
    },
    /// A formula with its exact gradient and Hessian (and third derivatives when needed).
    Formula(Box<FormulaLoss>),
}

/// A loss given by a formula, with symbolic derivatives (each group compiled to native code).
#[derive(Clone, Debug)]
pub struct FormulaLoss {
    /// L.
    pub value: Program,
    /// ∂L/∂θᵢ.
    pub gradient: Program,
    /// ∂²L/∂θᵢ∂θⱼ, row-major.
    pub hessian: Program,
    /// ∂³L/∂θᵢ∂θⱼ∂θₖ at index (k·d + i)·d + j; present when the noise is the state-dependent
    /// Hessian.
    pub third: Option<Program>,
    /// Parameter values appended after θ when evaluating.
    pub parameters: Vec<f64>,
}

/// Evaluate a formula at θ followed by parameters (stack buffer, no allocation).
#[inline]
pub(crate) fn eval_at(f: &Formula, x: &[f64], params: &[f64]) -> f64 {
    let mut buf = [0.0f64; super::formula::MAX_SYMBOLS];
    let d = x.len();
    buf[..d].copy_from_slice(x);
    buf[d..d + params.len()].copy_from_slice(params);
    f.eval(&buf[..d + params.len()])
}

impl FormulaLoss {
    /// Compile L and its first two derivatives; `symbols` = variables then parameters.
    pub fn new(value: Formula, d: usize, parameters: Vec<f64>, field: &str) -> Result<Self> {
        let gradient: Vec<Formula> = (0..d)
            .map(|i| value.partial(i, field))
            .collect::<Result<_>>()?;
        let mut hessian = Vec::with_capacity(d * d);
        for i in 0..d {
            for j in 0..d {
                hessian.push(gradient[i].partial(j, field)?);
            }
        }
        Ok(FormulaLoss {
            value: Program::new(vec![value], d, parameters.clone()),
            gradient: Program::new(gradient, d, parameters.clone()),
            hessian: Program::new(hessian, d, parameters.clone()),
            third: None,
            parameters,
        })
    }
    /// Compile the third derivatives (needed for ∂a/∂θ when a is the Hessian).
    pub fn with_third_derivatives(mut self, field: &str) -> Result<Self> {
        let d = self.gradient.len();
        let hessian = self.hessian.formulas();
        let mut third = Vec::with_capacity(d * d * d);
        for k in 0..d {
            for i in 0..d {
                for j in 0..d {
                    third.push(hessian[i * d + j].partial(k, field)?);
                }
            }
        }
        self.third = Some(Program::new(third, d, self.parameters.clone()));
        Ok(self)
    }
    /// The same loss with every formula interpreted (the reference for compiled code).
    pub fn interpreted(&self) -> Self {
        FormulaLoss {
            value: self.value.interpreted(),
            gradient: self.gradient.interpreted(),
            hessian: self.hessian.interpreted(),
            third: self.third.as_ref().map(Program::interpreted),
            parameters: self.parameters.clone(),
        }
    }
    /// The loss formula's text.
    pub fn text(&self) -> &str {
        self.value.formulas()[0].text()
    }
}

impl Loss {
    /// The same loss with its formulas interpreted instead of compiled.
    pub fn interpreted(&self) -> Self {
        match self {
            Loss::Formula(f) => Loss::Formula(Box::new(f.interpreted())),
            other => other.clone(),
        }
    }
    /// Dimension d.
    pub fn dim(&self) -> usize {
        match self {
            Loss::Quadratic { center, .. } => center.len(),
            Loss::Formula(f) => f.gradient.len(),
        }
    }
    /// out = ∇²L(x), row-major.
    pub fn hessian(&self, x: &[f64], out: &mut [f64]) {
        match self {
            Loss::Quadratic { hessian, .. } => out.copy_from_slice(&hessian.data),
            Loss::Formula(f) => f.hessian.eval(x, out),
        }
    }
    /// out[k·d² + i·d + j] = ∂³L/∂xᵢ∂xⱼ∂xₖ (zero for quadratic losses).
    pub fn third_derivatives(&self, x: &[f64], out: &mut [f64]) {
        match self {
            Loss::Quadratic { .. } => out.fill(0.0),
            Loss::Formula(f) => match &f.third {
                Some(t) => t.eval(x, out),
                None => out.fill(0.0),
            },
        }
    }
    /// True when the Hessian is the same everywhere.
    pub fn has_constant_hessian(&self) -> bool {
        match self {
            Loss::Quadratic { .. } => true,
            Loss::Formula(f) => {
                let d = f.gradient.len();
                f.hessian.formulas().iter().all(|h| h.is_constant_in(d))
            }
        }
    }
    /// The loss with θ scaled: L(√α θ) about θ* (sharpness map; scales every Hessian
    /// eigenvalue by α) — provided here only for quadratics, see `analysis` for formulas.
    pub fn describe(&self) -> String {
        match self {
            Loss::Quadratic { .. } => "quadratic".into(),
            Loss::Formula(f) => f.text().to_string(),
        }
    }
}

impl ScalarField for Loss {
    fn value(&self, x: &[f64]) -> f64 {
        match self {
            Loss::Quadratic { hessian, center } => {
                // Iterators instead of indices (no bounds checks); same operations in the same
                // order as the indexed double loop, so the same bits.
                let d = center.len();
                let mut s = 0.0;
                for ((row, xi), ci) in hessian.data.chunks_exact(d).zip(x).zip(center) {
                    let di = xi - ci;
                    for ((h, xj), cj) in row.iter().zip(x).zip(center) {
                        s += di * h * (xj - cj);
                    }
                }
                0.5 * s
            }
            Loss::Formula(f) => f.value.eval_scalar(x),
        }
    }
    fn gradient(&self, x: &[f64], out: &mut [f64]) {
        match self {
            Loss::Quadratic { hessian, center } => {
                // Iterators (no bounds checks); same operations and order as the indexed loop.
                let d = center.len();
                for (row, o) in hessian.data.chunks_exact(d).zip(out.iter_mut()) {
                    let mut s = 0.0;
                    for ((h, xj), cj) in row.iter().zip(x).zip(center) {
                        s += h * (xj - cj);
                    }
                    *o = s;
                }
            }
            Loss::Formula(f) => f.gradient.eval(x, out),
        }
    }
}

/// b = −A(θ − θ*): linear drift (A = H for a quadratic loss).
#[derive(Clone, Debug)]
pub struct LinearDrift {
    /// A, whose eigenvalues must have positive real parts.
    pub a: Matrix,
    /// θ*.
    pub center: Vec<f64>,
}

impl VectorField for LinearDrift {
    #[inline]
    fn dim(&self) -> usize {
        self.center.len()
    }
    #[inline(always)]
    fn drift(&self, x: &[f64], out: &mut [f64]) {
        let d = self.center.len();
        if d == 2 {
            // Unrolled: the Monte Carlo engine's hottest path.
            let (u, v) = (x[0] - self.center[0], x[1] - self.center[1]);
            let a = &self.a.data;
            out[0] = -(a[0] * u + a[1] * v);
            out[1] = -(a[2] * u + a[3] * v);
            return;
        }
        // From d = 16 on, u = x − c once and fast row dots (crate::linalg::dot).
        const STACK: usize = 256;
        if (16..=STACK).contains(&d) {
            let mut u = [0.0f64; STACK];
            for j in 0..d {
                u[j] = x[j] - self.center[j];
            }
            for i in 0..d {
                out[i] = -crate::linalg::dot(&self.a.data[i * d..(i + 1) * d], &u[..d]);
            }
            return;
        }
        for i in 0..d {
            let row = &self.a.data[i * d..(i + 1) * d];
            let mut s = 0.0;
            for j in 0..d {
                s += row[j] * (x[j] - self.center[j]);
            }
            out[i] = -s;
        }
    }
    fn jacobian(&self, _x: &[f64], out: &mut [f64]) {
        for (o, a) in out.iter_mut().zip(&self.a.data) {
            *o = -a;
        }
    }
    /// Rows bᵢ = −A(xᵢ − θ*): out = −X Aᵀ (one sequential faer product), then + Aθ* per row.
    fn drift_rows(&self, xs: &[f64], out: &mut [f64]) {
        let d = self.center.len();
        let rows = xs.len() / d;
        let x = faer::MatRef::from_row_major_slice(xs, rows, d);
        let at = faer::MatRef::from_row_major_slice(&self.a.data, d, d).transpose();
        let dst = faer::MatMut::from_row_major_slice_mut(out, rows, d);
        faer::linalg::matmul::matmul(dst, faer::Accum::Replace, x, at, -1.0, faer::Par::Seq);
        for i in 0..d {
            let row = &self.a.data[i * d..(i + 1) * d];
            let k: f64 = row.iter().zip(&self.center).map(|(a, c)| a * c).sum();
            if k != 0.0 {
                for o in out.iter_mut().skip(i).step_by(d) {
                    *o += k;
                }
            }
        }
    }
    /// J = −A everywhere: rows (Jᵀgᵢ)ᵀ = −gᵢᵀA, i.e. out = −G A (one faer product).
    fn jacobian_transpose_rows(&self, _xs: &[f64], gs: &[f64], _jac: &mut [f64], out: &mut [f64]) {
        let d = self.center.len();
        let rows = gs.len() / d;
        let g = faer::MatRef::from_row_major_slice(gs, rows, d);
        let a = faer::MatRef::from_row_major_slice(&self.a.data, d, d);
        let dst = faer::MatMut::from_row_major_slice_mut(out, rows, d);
        faer::linalg::matmul::matmul(dst, faer::Accum::Replace, g, a, -1.0, faer::Par::Seq);
    }
}

/// b = −∇L for a loss given by a formula.
#[derive(Clone, Debug)]
pub struct GradientDrift(pub Loss);

impl VectorField for GradientDrift {
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn drift(&self, x: &[f64], out: &mut [f64]) {
        self.0.gradient(x, out);
        for o in out.iter_mut() {
            *o = -*o;
        }
    }
    fn jacobian(&self, x: &[f64], out: &mut [f64]) {
        self.0.hessian(x, out);
        for o in out.iter_mut() {
            *o = -*o;
        }
    }
}

/// A general drift given component-wise by formulas (compiled to native code).
#[derive(Clone, Debug)]
pub struct FormulaField {
    /// bᵢ.
    pub components: Program,
    /// ∂bᵢ/∂θⱼ, row-major.
    pub jacobian: Program,
    /// Parameter values appended after θ.
    pub parameters: Vec<f64>,
}

impl FormulaField {
    /// Compile the components and their exact Jacobian.
    pub fn new(components: Vec<Formula>, parameters: Vec<f64>, field: &str) -> Result<Self> {
        let d = components.len();
        let mut jacobian = Vec::with_capacity(d * d);
        for c in &components {
            for j in 0..d {
                jacobian.push(c.partial(j, field)?);
            }
        }
        Ok(FormulaField {
            components: Program::new(components, d, parameters.clone()),
            jacobian: Program::new(jacobian, d, parameters.clone()),
            parameters,
        })
    }
    /// The same field with every formula interpreted (the reference for compiled code).
    pub fn interpreted(&self) -> Self {
        FormulaField {
            components: self.components.interpreted(),
            jacobian: self.jacobian.interpreted(),
            parameters: self.parameters.clone(),
        }
    }
}

impl VectorField for FormulaField {
    fn dim(&self) -> usize {
        self.components.len()
    }
    #[inline]
    fn drift(&self, x: &[f64], out: &mut [f64]) {
        self.components.eval(x, out);
    }
    #[inline]
    fn jacobian(&self, x: &[f64], out: &mut [f64]) {
        self.jacobian.eval(x, out);
    }
}

/// Native (compiled-in) drift models, for speed; each has a formula twin in
/// `examples/problems/` that is checked against it when the problem is loaded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NativeDrift {
    /// Maier–Stein: b = (x − x³ − βxy², −(1 + x²)y).
    MaierStein {
        /// β.
        beta: f64,
    },
    /// Dahiya–Cameron field `d`: b = (−2(x³−x) − ρy, −y + 2ρ(x³−x)), V = (x²−1)² + y².
    RotationalDoubleWell {
        /// ρ.
        rho: f64,
    },
    /// 1-D double well b = x − x³ (U = x⁴/4 − x²/2).
    DoubleWell1d,
}

impl NativeDrift {
    /// Look up a native model by its file name (`[drift] native = "..."`).
    pub fn from_name(name: &str, param: impl Fn(&str) -> Option<f64>) -> Option<Self> {
        match name {
            "maier-stein" => Some(NativeDrift::MaierStein {
                beta: param("beta")?,
            }),
            "rotational-double-well" => {
                Some(NativeDrift::RotationalDoubleWell { rho: param("rho")? })
            }
            "double-well-1d" => Some(NativeDrift::DoubleWell1d),
            _ => None,
        }
    }
}

impl VectorField for NativeDrift {
    fn dim(&self) -> usize {
        match self {
            NativeDrift::DoubleWell1d => 1,
            _ => 2,
        }
    }
    #[inline]
    fn drift(&self, x: &[f64], out: &mut [f64]) {
        match *self {
            NativeDrift::MaierStein { beta } => {
                let (u, v) = (x[0], x[1]);
                out[0] = u - u * u * u - beta * u * v * v;
                out[1] = -(1.0 + u * u) * v;
            }
            NativeDrift::RotationalDoubleWell { rho } => {
                let (u, v) = (x[0], x[1]);
                let c = u * u * u - u;
                out[0] = -2.0 * c - rho * v;
                out[1] = -v + 2.0 * rho * c;
            }
            NativeDrift::DoubleWell1d => out[0] = x[0] - x[0] * x[0] * x[0],
        }
    }
    #[inline]
    fn jacobian(&self, x: &[f64], out: &mut [f64]) {
        match *self {
            NativeDrift::MaierStein { beta } => {
                let (u, v) = (x[0], x[1]);
                out[0] = 1.0 - 3.0 * u * u - beta * v * v;
                out[1] = -2.0 * beta * u * v;
                out[2] = -2.0 * u * v;
                out[3] = -(1.0 + u * u);
            }
            NativeDrift::RotationalDoubleWell { rho } => {
                let u = x[0];
                let dc = 3.0 * u * u - 1.0;
                out[0] = -2.0 * dc;
                out[1] = -rho;
                out[2] = 2.0 * rho * dc;
                out[3] = -1.0;
            }
            NativeDrift::DoubleWell1d => out[0] = 1.0 - 3.0 * x[0] * x[0],
        }
    }
}

/// The drift of a problem: one of the concrete kinds above.
#[derive(Clone, Debug)]
pub enum Drift {
    /// b = −A(θ−θ*).
    Linear(LinearDrift),
    /// b = −∇L.
    Gradient(GradientDrift),
    /// Formula components.
    Field(FormulaField),
    /// Compiled-in model.
    Native(NativeDrift),
}

impl Drift {
    /// The same drift with its formulas interpreted instead of compiled.
    pub fn interpreted(&self) -> Self {
        match self {
            Drift::Gradient(GradientDrift(l)) => Drift::Gradient(GradientDrift(l.interpreted())),
            Drift::Field(f) => Drift::Field(f.interpreted()),
            other => other.clone(),
        }
    }
    /// Dimension d.
    pub fn dim(&self) -> usize {
        match self {
            Drift::Linear(b) => b.dim(),
            Drift::Gradient(b) => b.dim(),
            Drift::Field(b) => b.dim(),
            Drift::Native(b) => b.dim(),
        }
    }
    /// b(x), allocating (for set-up code, not hot loops).
    pub fn eval(&self, x: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; self.dim()];
        match self {
            Drift::Linear(b) => b.drift(x, &mut out),
            Drift::Gradient(b) => b.drift(x, &mut out),
            Drift::Field(b) => b.drift(x, &mut out),
            Drift::Native(b) => b.drift(x, &mut out),
        }
        out
    }
    /// ∂b/∂x (row-major), allocating.
    pub fn eval_jacobian(&self, x: &[f64]) -> Matrix {
        let d = self.dim();
        let mut out = Matrix::zeros(d);
        match self {
            Drift::Linear(b) => b.jacobian(x, &mut out.data),
            Drift::Gradient(b) => b.jacobian(x, &mut out.data),
            Drift::Field(b) => b.jacobian(x, &mut out.data),
            Drift::Native(b) => b.jacobian(x, &mut out.data),
        }
        out
    }
    /// A short description for reports.
    pub fn kind(&self) -> &'static str {
        match self {
            Drift::Linear(_) => "linear",
            Drift::Gradient(_) => "gradient",
            Drift::Field(_) => "field",
            Drift::Native(_) => "native",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fd_jacobian_check<B: VectorField>(b: &B, x: &[f64]) {
        let d = b.dim();
        let mut j = vec![0.0; d * d];
        b.jacobian(x, &mut j);
        let h = 1e-6;
        for k in 0..d {
            let mut p = x.to_vec();
            let mut m = x.to_vec();
            p[k] += h;
            m[k] -= h;
            let (mut bp, mut bm) = (vec![0.0; d], vec![0.0; d]);
            b.drift(&p, &mut bp);
            b.drift(&m, &mut bm);
            for i in 0..d {
                let fd = (bp[i] - bm[i]) / (2.0 * h);
                assert!(
                    (fd - j[i * d + k]).abs() < 1e-6,
                    "J[{i},{k}] {fd} vs {}",
                    j[i * d + k]
                );
            }
        }
    }

    #[test]
    fn native_jacobians_match_finite_differences() {
        for b in [
            NativeDrift::MaierStein { beta: 10.0 },
            NativeDrift::RotationalDoubleWell { rho: 10.0 },
            NativeDrift::DoubleWell1d,
        ] {
            let x = [0.37, -0.41][..b.dim()].to_vec();
            fd_jacobian_check(&b, &x);
        }
    }
}
