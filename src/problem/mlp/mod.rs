//! A real finite-sum problem: a one-hidden-layer tanh network trained by mean squared error on a
//! real data set shipped inside the `linfa-datasets` crate (no download at run time).
//!
//! **Model.** For input x ∈ ℝᵖ and parameters θ = (W, c, v, b₀) with W ∈ ℝ^{p×w}, c, v ∈ ℝʷ,
//!
//! f(θ; x) = b₀ + Σⱼ vⱼ tanh(cⱼ + Σₖ Wₖⱼ xₖ),
//!
//! d = w(p + 2) + 1 parameters, stored in this order: W row-major by input (W[k·w + j]), then c,
//! v, b₀.
//!
//! **Loss** (the paper's L = (1/N)Σᵢ ℓ(θ, xᵢ), §3, with squared error and a small L2 term λ that
//! makes the minimum isolated and ∇²L(θ*) positive definite):
//!
//! ℓᵢ(θ) = β [ ½ (f(√α θ; xᵢ) − yᵢ)² + ½ λ α |θ|² ],    L(θ) = (1/N) Σᵢ ℓᵢ(θ).
//!
//! α (`sharpness`) and β (`depth`) are the paper's §5 maps L(θ) → L(√α θ) (every Hessian
//! eigenvalue times α, θ* → θ*/√α) and L → βL (ΔL times β); both default to 1. Inputs and targets
//! are standardised (zero mean, unit population variance).
//!
//! **Data sets** ([`MlpDataset`]): `iris` (Fisher 1936; N = 150, p = 4 measurements, target the
//! species coded 0, 1, 2 — setosa, versicolor, virginica are ordered by petal size), and
//! `diabetes` (Efron et al. 2004; N = 441, p = 10, target disease progression after one year),
//! and `wine` (Cortez et al. 2009, red wine quality; N = 1599, p = 11 physico-chemical
//! measurements, target the median quality score 3–8 of at least three tasters).
//! The default, iris with width 3, has d = 19.
//!
//! **Degenerate minima** ([`Degeneracy`]). Weight decay makes redundant hidden units merge into
//! copies or die, and a minimum with copies or dead units has repeated H* eigenvalues and a null
//! space of C* (see [`degeneracy`](Degeneracy) for the checks and tolerances). On iris with
//! λ = 1e-2 every width w ≥ 4 is intrinsically degenerate (all 16 seeds tried by [`fit`] give
//! copies: at w = 8, six units are copies of one another, H* has six eigenvalues of multiplicity
//! 5 and C* a 30-dimensional null space); w = 3 is the widest non-degenerate width, and its fit
//! loses only 1e-3 of relative loss against w = 8 (L* = 0.037484 vs 0.037452), hence the default.
//! Merging is weight decay's doing: on wine at λ = 1e-2 units merge from w = 8 on (4 copied
//! pairs) and at λ = 1e-3 from w = 64 (91 pairs), while λ = 3e-4 leaves widths 8, 16, 32 and 64
//! non-degenerate (w = 64 from the second seed), at the price of κ(H*) up to 5e5: the ladder of
//! `examples/mlp_width_ladder.rs`.
//!
//! **Derivatives are exact and analytic**: per-example gradients by back-propagation, the
//! Hessian H = βα[(1/N)Σᵢ (JᵢJᵢᵀ + rᵢ ∇²fᵢ) + λI] with Jᵢ = ∇f, rᵢ = fᵢ − yᵢ, and the gradient
//! covariance C(θ) = (1/N)Σᵢ ∇ℓᵢ∇ℓᵢᵀ − ∇L∇Lᵀ (DESIGN §1, source `gradient-covariance`).
//!
//! [`fit`] finds θ* (full-batch gradient descent with Armijo backtracking, L-BFGS where descent
//! stalls, then Levenberg–Marquardt / Newton steps with the exact Hessian to ‖∇L‖ ≤ 1e-8),
//! refits from other seeds while the
//! minimum is degenerate, and returns θ*, H*, C*, their spectra and the checks.
//!
//! ```
//! use quasipot::problem::mlp::{fit, FiniteSum, MlpConfig};
//! let m = fit(&MlpConfig::default()).unwrap();
//! assert_eq!(m.model.dim(), 19);
//! assert!(m.gradient_norm <= 1e-8);
//! assert!(m.hessian_spectrum.lambda_min > 0.0);
//! assert!(!m.degeneracy.degenerate);
//! ```

mod degeneracy;
mod fit;
mod gradient_noise;
mod hvp;
mod matrix_free_fit;
mod minimum;
mod network;
mod per_example;
mod tanh;

pub use degeneracy::{DeadUnit, Degeneracy, DegeneracyTolerances, DuplicatePair, EigenCluster};
pub use fit::{fit, GRADIENT_TOLERANCE, REFIT_SEEDS};
pub use hvp::MlpHessian;
pub use matrix_free_fit::{
    check_minimum, duplicate_units, fit_matrix_free, Curvature, MatrixFreeMinimum, MinimumCheck,
};
pub use minimum::{MlpMinimum, MlpSummary, RejectedSeed, SeedSelection, Spectrum};
pub use network::Mlp;
pub use per_example::PerExampleGradients;
pub use tanh::tanh;

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Default hidden width: the widest non-degenerate one on iris at λ = 1e-2 (module docs).
pub const DEFAULT_WIDTH: usize = 3;

/// Largest hidden width (d ≈ 1e5 on diabetes). The dense fit ([`fit`]) refuses widths whose
/// H*, C* and their factorisations would not fit in memory; beyond them the gradient and
/// [`MlpHessian`] products (O(d) memory) still work.
pub const MAX_WIDTH: usize = 8192;

/// A finite-sum loss L(θ) = (1/N) Σᵢ ℓᵢ(θ) with fast batched per-example gradients: the model
/// real minibatch SGD (paper eq. 1) needs.
pub trait FiniteSum: Send + Sync {
    /// Scratch space for the kernels below (one per thread / trajectory).
    type Workspace: Send;
    /// Dimension d of θ.
    fn dim(&self) -> usize;
    /// Number of examples N.
    fn num_examples(&self) -> usize;
    /// A fresh workspace.
    fn workspace(&self) -> Self::Workspace;
    /// out = ∇L^S(θ) = (1/|S|) Σ_{i∈S} ∇ℓᵢ(θ); returns L^S(θ). `batch` holds example indices
    /// (repeats allowed); it must not be empty. Allocates nothing.
    fn batch_gradient(
        &self,
        theta: &[f64],
        batch: &[usize],
        ws: &mut Self::Workspace,
        out: &mut [f64],
    ) -> f64;
    /// out = ∇L(θ) over all N examples; returns L(θ). Allocates nothing.
    fn gradient(&self, theta: &[f64], ws: &mut Self::Workspace, out: &mut [f64]) -> f64;
    /// L(θ) (a forward pass over all examples). Allocates nothing.
    fn loss(&self, theta: &[f64], ws: &mut Self::Workspace) -> f64;
}

/// Which real data set the network is trained on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MlpDataset {
    /// Fisher's iris: N = 150, p = 4, target = species index (0, 1, 2).
    #[default]
    Iris,
    /// Efron et al.'s diabetes: N = 441, p = 10, target = disease progression.
    Diabetes,
    /// Cortez et al.'s red wine quality (2009): N = 1599, p = 11 physico-chemical measurements,
    /// target = the tasters' median quality score (3–8).
    Wine,
}

impl MlpDataset {
    /// The name used in files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            MlpDataset::Iris => "iris",
            MlpDataset::Diabetes => "diabetes",
            MlpDataset::Wine => "wine",
        }
    }
    /// Parse `iris`, `diabetes` or `wine`.
    pub fn parse(s: &str, field: &str) -> Result<Self> {
        match s {
            "iris" => Ok(MlpDataset::Iris),
            "diabetes" => Ok(MlpDataset::Diabetes),
            "wine" => Ok(MlpDataset::Wine),
            _ => Err(Error::invalid(
                field,
                format!("unknown data set \"{s}\"; expected \"iris\", \"diabetes\" or \"wine\""),
            )),
        }
    }
    /// (inputs row-major N×p, targets), raw (not standardised), from `linfa-datasets`.
    pub(super) fn load(self) -> (usize, Vec<f64>, Vec<f64>) {
        match self {
            MlpDataset::Iris => {
                let ds = linfa_datasets::iris();
                let p = ds.records.ncols();
                let x: Vec<f64> = ds.records.iter().copied().collect();
                let y: Vec<f64> = ds.targets.iter().map(|&t| t as f64).collect();
                (p, x, y)
            }
            MlpDataset::Diabetes => {
                let ds = linfa_datasets::diabetes();
                let p = ds.records.ncols();
                let x: Vec<f64> = ds.records.iter().copied().collect();
                let y: Vec<f64> = ds.targets.iter().copied().collect();
                (p, x, y)
            }
            MlpDataset::Wine => {
                let ds = linfa_datasets::winequality();
                let p = ds.records.ncols();
                let x: Vec<f64> = ds.records.iter().copied().collect();
                let y: Vec<f64> = ds.targets.iter().map(|&t| t as f64).collect();
                (p, x, y)
            }
        }
    }
}

/// Options of the `mlp` problem.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// The data set (default iris).
    pub dataset: MlpDataset,
    /// Hidden width w, 1..=[`MAX_WIDTH`] (default [`DEFAULT_WIDTH`] = 3: d = 19 on iris).
    pub width: usize,
    /// L2 coefficient λ > 0 (default 1e-2: on iris with w = 3, κ(H*) ≈ 1.6e3).
    pub l2: f64,
    /// Sharpness map α > 0: L(θ) → L(√α θ) (default 1).
    pub sharpness: f64,
    /// Depth map β > 0: L → βL (default 1).
    pub depth: f64,
    /// Seed of the initial weights for the fit (default 0).
    pub seed: u64,
    /// Refit from seeds seed + 1, seed + 2, … (at most [`REFIT_SEEDS`] in all) while the minimum
    /// is degenerate (default true; see [`fit`]).
    pub refit_degenerate: bool,
}

impl Default for MlpConfig {
    fn default() -> Self {
        MlpConfig {
            dataset: MlpDataset::Iris,
            width: DEFAULT_WIDTH,
            l2: 1e-2,
            sharpness: 1.0,
            depth: 1.0,
            seed: 0,
            refit_degenerate: true,
        }
    }
}

impl MlpConfig {
    /// Check every field; errors name it.
    pub fn validate(&self) -> Result<()> {
        if self.width == 0 || self.width > MAX_WIDTH {
            return Err(Error::invalid(
                "width",
                format!("must be 1..={MAX_WIDTH}, got {}", self.width),
            ));
        }
        for (name, v) in [
            ("l2", self.l2),
            ("sharpness", self.sharpness),
            ("depth", self.depth),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::invalid(
                    name,
                    format!("must be finite and > 0, got {v}"),
                ));
            }
        }
        Ok(())
    }
}
