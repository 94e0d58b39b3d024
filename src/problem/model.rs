//! The small model traits every engine is generic over (so hot loops monomorphise).

use super::noise::NoiseWorkspace;

/// A drift b: ℝᵈ → ℝᵈ with its Jacobian.
pub trait VectorField: Send + Sync {
    /// Dimension d.
    fn dim(&self) -> usize;
    /// out = b(x).
    fn drift(&self, x: &[f64], out: &mut [f64]);
    /// out = ∂b/∂x, row-major: out[i·d + j] = ∂bᵢ/∂xⱼ.
    fn jacobian(&self, x: &[f64], out: &mut [f64]);
    /// The drift at many points at once: `xs` holds rows of d coordinates, and row i of `out`
    /// becomes b(row i of `xs`). The default calls [`VectorField::drift`] row by row; a linear
    /// drift overrides it with one matrix product (cache- and SIMD-friendly).
    fn drift_rows(&self, xs: &[f64], out: &mut [f64]) {
        let d = self.dim();
        for (x, o) in xs.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
            self.drift(x, o);
        }
    }
    /// Row i of `out` becomes J(xᵢ)ᵀ gᵢ (J = ∂b/∂x) for the rows xᵢ of `xs` and gᵢ of `gs`;
    /// `jac` is d² scratch. The default evaluates [`VectorField::jacobian`] row by row; a
    /// linear drift overrides it with one matrix product.
    fn jacobian_transpose_rows(&self, xs: &[f64], gs: &[f64], jac: &mut [f64], out: &mut [f64]) {
        let d = self.dim();
        for ((x, g), o) in xs
            .chunks_exact(d)
            .zip(gs.chunks_exact(d))
            .zip(out.chunks_exact_mut(d))
        {
            self.jacobian(x, jac);
            o.fill(0.0);
            for (row, w) in jac.chunks_exact(d).zip(g) {
                for (oc, r) in o.iter_mut().zip(row) {
                    *oc += r * w;
                }
            }
        }
    }
}

/// The diffusion matrix a(θ) of dθ = b dt + ε a^{1/2} dW, and the action's metric M = a⁻¹.
///
/// Methods returning `bool` return `false` when a(θ) is not positive definite at `x` (possible
/// only for state-dependent noise given by formulas); the output is then unspecified.
pub trait Diffusion: Send + Sync {
    /// Dimension d.
    fn dim(&self) -> usize;
    /// True when a does not depend on θ.
    fn is_constant(&self) -> bool;
    /// Per-thread scratch space for the evaluations below.
    fn workspace(&self) -> NoiseWorkspace {
        NoiseWorkspace::new(self.dim())
    }
    /// out = a(x).
    fn diffusion(&self, x: &[f64], ws: &mut NoiseWorkspace, out: &mut [f64]) -> bool;
    /// out = a(x)⁻¹, the metric M of the Freidlin–Wentzell action.
    fn metric(&self, x: &[f64], ws: &mut NoiseWorkspace, out: &mut [f64]) -> bool;
    /// m = a(x)⁻¹ and dm\[k·d² ..\]\[..d²\] = ∂(a⁻¹)/∂xₖ for k = 0..d (zeros for constant noise).
    fn metric_with_derivatives(
        &self,
        x: &[f64],
        ws: &mut NoiseWorkspace,
        m: &mut [f64],
        dm: &mut [f64],
    ) -> bool;
    /// out = a(x)^{1/2}, the symmetric square root (the SDE's σ).
    fn sqrt(&self, x: &[f64], ws: &mut NoiseWorkspace, out: &mut [f64]) -> bool;
}

/// A scalar function with gradient (a loss L, or a level function of a domain).
pub trait ScalarField: Send + Sync {
    /// f(x).
    fn value(&self, x: &[f64]) -> f64;
    /// out = ∇f(x).
    fn gradient(&self, x: &[f64], out: &mut [f64]);
}

/// Something that runs with the concrete drift and noise types of a problem; see
/// [`crate::problem::Problem::visit`]. This is how engines get monomorphised kernels while the
/// problem itself is chosen at run time.
pub trait ModelVisitor {
    /// What the visit returns.
    type Output;
    /// Called once with the problem's concrete model.
    fn visit<B: VectorField, N: Diffusion>(self, drift: &B, noise: &N) -> Self::Output;
}
