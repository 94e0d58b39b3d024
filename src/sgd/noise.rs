//! Noise sources of Gaussian SGD (eq. 2): draws of N(0, C) for the step θ ← θ + ηb +
//! (η/√B)·ξ.
//!
//! - [`DenseRoot`]: a stored symmetric root C^{1/2} (d² numbers, d² multiply-adds per draw).
//! - [`PerExampleNoise`]: the network's own gradient covariance C(θ) = (1/N)Σᵢ(∇ℓᵢ − ∇L)(∇ℓᵢ −
//!   ∇L)ᵀ, drawn exactly by one backward pass with per-example weights
//!   ([`Mlp::gradient_noise`]): N normals and O(N·p·w) work per draw, no d×d matrix at all, so
//!   Gaussian SGD with C = C* runs at any width whose gradient fits.

use crate::error::{Error, Result};
use crate::linalg::Matrix;
use crate::problem::mlp::Mlp;
use rand::Rng;
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;

/// A source of Gaussian noise vectors ξ ~ N(0, C) (C possibly depending on θ).
pub trait GaussianNoise: Sync {
    /// Per-trajectory scratch.
    type Workspace: Send;
    /// Dimension d of ξ.
    fn dim(&self) -> usize;
    /// A fresh workspace.
    fn workspace(&self) -> Self::Workspace;
    /// out ← one draw of ξ at the current θ.
    fn sample(
        &self,
        theta: &[f64],
        rng: &mut Xoshiro256PlusPlus,
        ws: &mut Self::Workspace,
        out: &mut [f64],
    );
}

/// ξ = C^{1/2}z with a stored root (row-major d×d), z ~ N(0, I_d).
pub struct DenseRoot {
    root: Matrix,
}

impl DenseRoot {
    /// From a symmetric root of C (see `sgd::run_gaussian`, which computes it).
    pub fn new(root: Matrix) -> Self {
        DenseRoot { root }
    }
}

impl GaussianNoise for DenseRoot {
    type Workspace = Vec<f64>;
    fn dim(&self) -> usize {
        self.root.n
    }
    fn workspace(&self) -> Vec<f64> {
        vec![0.0; self.root.n]
    }
    #[inline]
    fn sample(
        &self,
        _theta: &[f64],
        rng: &mut Xoshiro256PlusPlus,
        z: &mut Vec<f64>,
        out: &mut [f64],
    ) {
        let d = self.root.n;
        for v in z.iter_mut() {
            *v = rng.sample(StandardNormal);
        }
        for (i, o) in out.iter_mut().enumerate() {
            let row = &self.root.data[i * d..i * d + d];
            *o = row.iter().zip(z.iter()).map(|(a, x)| a * x).sum();
        }
    }
}

/// Where [`PerExampleNoise`] evaluates the gradient covariance.
#[derive(Clone, Debug, PartialEq)]
pub enum NoiseAt {
    /// C = C(θ*), constant: the paper's Gaussian SGD with C = C*.
    Fixed(Vec<f64>),
    /// C = C(θ_k) at the current iterate: the state-dependent covariance of minibatch SGD.
    Current,
}

/// ξ ~ N(0, f·C(θ)) for the network's gradient covariance, drawn by one weighted backward pass;
/// f is a scale such as the finite-population factor (N − B)/(N − 1) (`sgd::finite_population_factor`).
pub struct PerExampleNoise<'a> {
    model: &'a Mlp,
    at: NoiseAt,
    sqrt_factor: f64,
}

impl<'a> PerExampleNoise<'a> {
    /// The sampler.
    ///
    /// # Errors
    /// A fixed point with the wrong length or non-finite entries, or a factor that is not a
    /// positive finite number.
    pub fn new(model: &'a Mlp, at: NoiseAt, factor: f64) -> Result<Self> {
        if let NoiseAt::Fixed(theta) = &at {
            if theta.len() != model.dim() {
                return Err(Error::invalid(
                    "theta",
                    format!(
                        "has {} entries, the network has d = {}",
                        theta.len(),
                        model.dim()
                    ),
                ));
            }
            if theta.iter().any(|v| !v.is_finite()) {
                return Err(Error::invalid("theta", "has non-finite entries"));
            }
        }
        if !(factor > 0.0 && factor.is_finite()) {
            return Err(Error::invalid(
                "factor",
                format!("must be a positive number, got {factor}"),
            ));
        }
        Ok(PerExampleNoise {
            model,
            at,
            sqrt_factor: factor.sqrt(),
        })
    }
}

impl GaussianNoise for PerExampleNoise<'_> {
    type Workspace = Vec<f64>;
    fn dim(&self) -> usize {
        self.model.dim()
    }
    fn workspace(&self) -> Vec<f64> {
        vec![0.0; self.model.num_examples()]
    }
    #[inline]
    fn sample(
        &self,
        theta: &[f64],
        rng: &mut Xoshiro256PlusPlus,
        z: &mut Vec<f64>,
        out: &mut [f64],
    ) {
        for v in z.iter_mut() {
            *v = rng.sample(StandardNormal);
        }
        let at = match &self.at {
            NoiseAt::Fixed(t) => t.as_slice(),
            NoiseAt::Current => theta,
        };
        self.model.gradient_noise(at, z, out);
        if self.sqrt_factor != 1.0 {
            for o in out.iter_mut() {
                *o *= self.sqrt_factor;
            }
        }
    }
}
