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
//! `diabetes` (Efron et al. 2004; N = 441, p = 10, target disease progression after one year).
//! The default, iris with width 8, has d = 49.
//!
//! **Derivatives are exact and analytic**: per-example gradients by back-propagation, the
//! Hessian H = βα[(1/N)Σᵢ (JᵢJᵢᵀ + rᵢ ∇²fᵢ) + λI] with Jᵢ = ∇f, rᵢ = fᵢ − yᵢ, and the gradient
//! covariance C(θ) = (1/N)Σᵢ ∇ℓᵢ∇ℓᵢᵀ − ∇L∇Lᵀ (DESIGN §1, source `gradient-covariance`).
//!
//! [`fit`] finds θ* (full-batch gradient descent with Armijo backtracking, then Levenberg–Marquardt
//! / Newton steps with the exact Hessian to ‖∇L‖ ≤ 1e-8) and returns θ*, H*, C* and their spectra.
//!
//! ```
//! use quasipot::problem::mlp::{fit, FiniteSum, MlpConfig};
//! let m = fit(&MlpConfig::default()).unwrap();
//! assert_eq!(m.model.dim(), 49);
//! assert!(m.gradient_norm <= 1e-8);
//! assert!(m.hessian_spectrum.lambda_min > 0.0);
//! ```

use super::model::VectorField;
use crate::error::{Error, Result};
use crate::linalg::{norm, symmetric_eigen, Matrix};
use faer::linalg::solvers::Solve;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// Largest hidden width (hidden activations live in stack buffers of this size).
pub const MAX_WIDTH: usize = 64;

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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MlpDataset {
    /// Fisher's iris: N = 150, p = 4, target = species index (0, 1, 2).
    #[default]
    Iris,
    /// Efron et al.'s diabetes: N = 441, p = 10, target = disease progression.
    Diabetes,
}

impl MlpDataset {
    /// The name used in files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            MlpDataset::Iris => "iris",
            MlpDataset::Diabetes => "diabetes",
        }
    }
    /// Parse `iris` or `diabetes`.
    pub fn parse(s: &str, field: &str) -> Result<Self> {
        match s {
            "iris" => Ok(MlpDataset::Iris),
            "diabetes" => Ok(MlpDataset::Diabetes),
            _ => Err(Error::invalid(
                field,
                format!("unknown data set \"{s}\"; expected \"iris\" or \"diabetes\""),
            )),
        }
    }
    /// (inputs row-major N×p, targets), raw (not standardised), from `linfa-datasets`.
    fn load(self) -> (usize, Vec<f64>, Vec<f64>) {
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
        }
    }
}

/// Options of the `mlp` problem.
#[derive(Clone, Debug, Serialize)]
pub struct MlpConfig {
    /// The data set (default iris).
    pub dataset: MlpDataset,
    /// Hidden width w, 1..=[`MAX_WIDTH`] (default 8: d = 49 on iris).
    pub width: usize,
    /// L2 coefficient λ > 0 (default 1e-2: on iris with w = 8, κ(H*) ≈ 5e3; 1e-3 gives ≈ 3e4).
    pub l2: f64,
    /// Sharpness map α > 0: L(θ) → L(√α θ) (default 1).
    pub sharpness: f64,
    /// Depth map β > 0: L → βL (default 1).
    pub depth: f64,
    /// Seed of the initial weights for the fit (default 0).
    pub seed: u64,
}

impl Default for MlpConfig {
    fn default() -> Self {
        MlpConfig {
            dataset: MlpDataset::Iris,
            width: 8,
            l2: 1e-2,
            sharpness: 1.0,
            depth: 1.0,
            seed: 0,
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

/// The network and its standardised data: implements [`FiniteSum`] (minibatch gradients) and
/// [`VectorField`] (b = −∇L, Jacobian −∇²L).
#[derive(Clone, Debug)]
pub struct Mlp {
    dataset: MlpDataset,
    inputs: usize,
    width: usize,
    n: usize,
    x: Vec<f64>,
    y: Vec<f64>,
    l2: f64,
    alpha: f64,
    sqrt_alpha: f64,
    beta: f64,
    /// AVX2 + FMA available (x86-64): use the wide kernels.
    simd: bool,
}

/// tanh(x) to within a few ulp, branch-free so that loops over the hidden units vectorise
/// (libm's `tanh` is a scalar call, ~20 ns, and dominated the minibatch step).
///
/// For a = |x|: tanh a = (1 − e)/(1 + e) with e = exp(−2a) (a clamped to 20, where tanh = 1 in
/// double precision), exp by range reduction 2⁻ⁿ·exp(r), |r| ≤ ln2/2, and a degree-12 Taylor
/// polynomial (truncation < 2e-16); for a < 1/16, where 1 − e would cancel, the odd Taylor series
/// of tanh to a¹⁵ instead. The sign is copied from x. Maximum relative error ≈ 2e-15 (tested).
#[inline(always)]
pub fn tanh(x: f64) -> f64 {
    tanh_kernel::<false>(x)
}

/// a·b + c, fused when `FMA` (only inside functions compiled with the `fma` target feature,
/// where `mul_add` is one instruction; elsewhere it would be a slow library call).
#[inline(always)]
fn madd<const FMA: bool>(a: f64, b: f64, c: f64) -> f64 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// [`tanh`], with fused multiply-adds when `FMA`.
#[inline(always)]
fn tanh_kernel<const FMA: bool>(x: f64) -> f64 {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    const LN2_HI: f64 = 6.931_471_803_691_238e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    // 1.5·2⁵²: adding and subtracting it rounds to the nearest integer.
    const MAGIC: f64 = 6_755_399_441_055_744.0;
    // Clamp without f64::min, which would turn NaN into 20: NaN must propagate.
    let a = x.abs();
    let a = if a > 20.0 { 20.0 } else { a };
    let z = -2.0 * a;
    let t = madd::<FMA>(z, LOG2E, MAGIC);
    let n = t - MAGIC;
    let r = madd::<FMA>(-n, LN2_LO, madd::<FMA>(-n, LN2_HI, z));
    // exp(r), |r| ≤ 0.35: Horner on 1/k!.
    let mut p = 1.0 / 479_001_600.0;
    p = madd::<FMA>(p, r, 1.0 / 39_916_800.0);
    p = madd::<FMA>(p, r, 1.0 / 3_628_800.0);
    p = madd::<FMA>(p, r, 1.0 / 362_880.0);
    p = madd::<FMA>(p, r, 1.0 / 40_320.0);
    p = madd::<FMA>(p, r, 1.0 / 5_040.0);
    p = madd::<FMA>(p, r, 1.0 / 720.0);
    p = madd::<FMA>(p, r, 1.0 / 120.0);
    p = madd::<FMA>(p, r, 1.0 / 24.0);
    p = madd::<FMA>(p, r, 1.0 / 6.0);
    p = madd::<FMA>(p, r, 0.5);
    p = madd::<FMA>(p, r, 1.0);
    p = madd::<FMA>(p, r, 1.0);
    // 2ⁿ from the low mantissa bits of t (n ∈ [−58, 0]).
    let scale = f64::from_bits((t.to_bits().wrapping_add(1023)) << 52);
    let e = p * scale;
    let big = (1.0 - e) / (1.0 + e);
    // Small a: tanh a = a − a³/3 + 2a⁵/15 − 17a⁷/315 + 62a⁹/2835 − 1382a¹¹/155925
    //                  + 21844a¹³/6081075 − 929569a¹⁵/638512875.
    let a2 = a * a;
    let mut q = -929_569.0 / 638_512_875.0;
    q = madd::<FMA>(q, a2, 21_844.0 / 6_081_075.0);
    q = madd::<FMA>(q, a2, -(1_382.0 / 155_925.0));
    q = madd::<FMA>(q, a2, 62.0 / 2_835.0);
    q = madd::<FMA>(q, a2, -(17.0 / 315.0));
    q = madd::<FMA>(q, a2, 2.0 / 15.0);
    q = madd::<FMA>(q, a2, -(1.0 / 3.0));
    let small = madd::<FMA>(a * a2, q, a);
    let v = if a < 0.0625 { small } else { big };
    v.copysign(x)
}

/// True when the CPU runs the AVX2 + FMA kernels.
fn simd_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Standardise columns of a row-major n×p array in place (population variance; constant
/// columns are only centred).
fn standardise(data: &mut [f64], n: usize, p: usize) {
    for k in 0..p {
        let mean = (0..n).map(|i| data[i * p + k]).sum::<f64>() / n as f64;
        let var = (0..n)
            .map(|i| (data[i * p + k] - mean).powi(2))
            .sum::<f64>()
            / n as f64;
        let sd = if var > 0.0 { var.sqrt() } else { 1.0 };
        for i in 0..n {
            data[i * p + k] = (data[i * p + k] - mean) / sd;
        }
    }
}

impl Mlp {
    /// Load the data set, standardise it and build the network (no training; see [`fit`]).
    pub fn new(config: &MlpConfig) -> Result<Self> {
        config.validate()?;
        let (p, mut x, mut y) = config.dataset.load();
        let n = y.len();
        standardise(&mut x, n, p);
        standardise(&mut y, n, 1);
        Ok(Mlp {
            dataset: config.dataset,
            inputs: p,
            width: config.width,
            n,
            x,
            y,
            l2: config.l2,
            alpha: config.sharpness,
            sqrt_alpha: config.sharpness.sqrt(),
            beta: config.depth,
            simd: simd_available(),
        })
    }

    /// The same network and data with the maps L(θ) → β L(√α θ) set to (α, β).
    pub fn with_scaling(&self, sharpness: f64, depth: f64) -> Self {
        Mlp {
            alpha: sharpness,
            sqrt_alpha: sharpness.sqrt(),
            beta: depth,
            ..self.clone()
        }
    }

    /// Number of parameters d = w(p + 2) + 1.
    pub fn dim(&self) -> usize {
        self.width * (self.inputs + 2) + 1
    }
    /// Number of examples N.
    pub fn num_examples(&self) -> usize {
        self.n
    }
    /// The data set.
    pub fn dataset(&self) -> MlpDataset {
        self.dataset
    }
    /// Number of inputs p.
    pub fn inputs(&self) -> usize {
        self.inputs
    }
    /// Hidden width w.
    pub fn width(&self) -> usize {
        self.width
    }
    /// (α, β) of the sharpness and depth maps.
    pub fn scaling(&self) -> (f64, f64) {
        (self.alpha, self.beta)
    }
    /// λ.
    pub fn l2(&self) -> f64 {
        self.l2
    }
    /// Standardised inputs (row-major N×p) and targets.
    pub fn data(&self) -> (&[f64], &[f64]) {
        (&self.x, &self.y)
    }

    /// Offsets of (c, v, b₀) in θ.
    #[inline(always)]
    fn offsets(&self) -> (usize, usize, usize) {
        let pw = self.inputs * self.width;
        (pw, pw + self.width, pw + 2 * self.width)
    }

    /// Forward pass of example i at φ = √α θ: fills h[..w] with tanh(aⱼ), returns f.
    #[inline(always)]
    fn forward<const FMA: bool>(&self, theta: &[f64], i: usize, h: &mut [f64]) -> f64 {
        let (p, w, sa) = (self.inputs, self.width, self.sqrt_alpha);
        let (oc, ov, ob) = self.offsets();
        let xi = &self.x[i * p..i * p + p];
        let h = &mut h[..w];
        h.copy_from_slice(&theta[oc..oc + w]);
        for (k, &xk) in xi.iter().enumerate() {
            let row = &theta[k * w..k * w + w];
            for (hj, &wkj) in h.iter_mut().zip(row) {
                *hj = madd::<FMA>(wkj, xk, *hj);
            }
        }
        for hj in h.iter_mut() {
            *hj = tanh_kernel::<FMA>(sa * *hj);
        }
        let mut f = 0.0;
        for (hj, &vj) in h.iter().zip(&theta[ov..ov + w]) {
            f = madd::<FMA>(vj, *hj, f);
        }
        sa * (f + theta[ob])
    }

    /// Accumulate Σ_{i∈batch} ∇_φ ½rᵢ² into `out` (scaled by √α for θ); returns Σ ½rᵢ².
    #[inline(always)]
    fn accumulate<const FMA: bool, I: Iterator<Item = usize>>(
        &self,
        theta: &[f64],
        batch: I,
        out: &mut [f64],
    ) -> f64 {
        let (w, sa) = (self.width, self.sqrt_alpha);
        let p = self.inputs;
        let (oc, ov, ob) = self.offsets();
        let mut h = [0.0f64; MAX_WIDTH];
        let mut delta = [0.0f64; MAX_WIDTH];
        out.fill(0.0);
        let mut sq = 0.0;
        let mut rsum = 0.0;
        for i in batch {
            let f = self.forward::<FMA>(theta, i, &mut h);
            let r = f - self.y[i];
            sq = madd::<FMA>(0.5 * r, r, sq);
            rsum += r;
            // ∂f/∂φ_v = h, ∂f/∂φ_c = φ_v (1 − h²), ∂f/∂φ_W = φ_v (1 − h²) x.
            let (gv, rest) = out[ov..].split_at_mut(w);
            let _ = rest;
            for ((g, &hj), (dj, &vj)) in gv
                .iter_mut()
                .zip(&h[..w])
                .zip(delta[..w].iter_mut().zip(&theta[ov..ov + w]))
            {
                *g = madd::<FMA>(r, hj, *g);
                *dj = r * sa * vj * madd::<FMA>(-hj, hj, 1.0);
            }
            for (g, &dj) in out[oc..oc + w].iter_mut().zip(&delta[..w]) {
                *g += dj;
            }
            let xi = &self.x[i * p..i * p + p];
            for (k, &xk) in xi.iter().enumerate() {
                for (g, &dj) in out[k * w..k * w + w].iter_mut().zip(&delta[..w]) {
                    *g = madd::<FMA>(dj, xk, *g);
                }
            }
        }
        out[ob] += rsum;
        sq
    }

    /// [`Self::accumulate`] compiled for AVX2 + FMA.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA (checked once in [`Mlp::new`]).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn accumulate_avx2<I: Iterator<Item = usize>>(
        &self,
        theta: &[f64],
        batch: I,
        out: &mut [f64],
    ) -> f64 {
        self.accumulate::<true, I>(theta, batch, out)
    }

    /// [`Self::forward`] compiled for AVX2 + FMA.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn forward_avx2(&self, theta: &[f64], i: usize, h: &mut [f64]) -> f64 {
        self.forward::<true>(theta, i, h)
    }

    /// Σ_{i∈batch} ∇_φ ½rᵢ², with the fastest kernel this CPU runs (AVX2 + FMA when present:
    /// results then differ from the portable kernel in the last bits, never between runs or
    /// thread counts on one machine).
    #[inline]
    fn accumulate_dispatch<I: Iterator<Item = usize>>(
        &self,
        theta: &[f64],
        batch: I,
        out: &mut [f64],
    ) -> f64 {
        #[cfg(target_arch = "x86_64")]
        if self.simd {
            // SAFETY: `simd` is set only when AVX2 and FMA were detected.
            return unsafe { self.accumulate_avx2(theta, batch, out) };
        }
        self.accumulate::<false, I>(theta, batch, out)
    }

    /// One forward pass with the kernel of [`Self::accumulate_dispatch`].
    #[inline]
    fn forward_dispatch(&self, theta: &[f64], i: usize, h: &mut [f64]) -> f64 {
        #[cfg(target_arch = "x86_64")]
        if self.simd {
            // SAFETY: as above.
            return unsafe { self.forward_avx2(theta, i, h) };
        }
        self.forward::<false>(theta, i, h)
    }

    /// Finish a gradient: out ← β(√α·out/m + λαθ); returns β(sq/m + ½λα|θ|²).
    #[inline(always)]
    fn finish(&self, theta: &[f64], m: usize, sq: f64, out: &mut [f64]) -> f64 {
        let s = self.beta * self.sqrt_alpha / m as f64;
        let reg = self.beta * self.l2 * self.alpha;
        let mut t2 = 0.0;
        for (o, &t) in out.iter_mut().zip(theta) {
            *o = s * *o + reg * t;
            t2 += t * t;
        }
        self.beta * (sq / m as f64 + 0.5 * self.l2 * self.alpha * t2)
    }

    /// out = ∇ℓᵢ(θ) (one example); returns ℓᵢ(θ).
    pub fn example_gradient(&self, theta: &[f64], i: usize, out: &mut [f64]) -> f64 {
        let sq = self.accumulate_dispatch(theta, std::iter::once(i), out);
        self.finish(theta, 1, sq, out)
    }

    /// out = ∇²L(θ), row-major, exactly (analytic second derivatives of the network):
    /// H = βα[(1/N)Σᵢ (JᵢJᵢᵀ + rᵢ∇²fᵢ) + λI] with J = ∇_φ f, φ = √α θ. O(N d²).
    pub fn hessian(&self, theta: &[f64], out: &mut [f64]) {
        let d = self.dim();
        let (p, w, sa) = (self.inputs, self.width, self.sqrt_alpha);
        let (oc, ov, ob) = self.offsets();
        assert_eq!(out.len(), d * d, "hessian: out must have d² entries");
        out.fill(0.0);
        let mut h = [0.0f64; MAX_WIDTH];
        let mut jac = vec![0.0; d];
        for i in 0..self.n {
            let f = self.forward_dispatch(theta, i, &mut h);
            let r = f - self.y[i];
            let xi = &self.x[i * p..i * p + p];
            // J = ∇_φ f.
            for j in 0..w {
                let vj = sa * theta[ov + j];
                let d1 = 1.0 - h[j] * h[j];
                jac[ov + j] = h[j];
                jac[oc + j] = vj * d1;
                for k in 0..p {
                    jac[k * w + j] = vj * d1 * xi[k];
                }
            }
            jac[ob] = 1.0;
            // Gauss–Newton part (upper triangle).
            for a in 0..d {
                let ja = jac[a];
                if ja == 0.0 {
                    continue;
                }
                let row = &mut out[a * d..a * d + d];
                for b in a..d {
                    row[b] += ja * jac[b];
                }
            }
            // r ∇²f: non-zero only within one hidden unit j.
            for j in 0..w {
                let vj = sa * theta[ov + j];
                let d1 = 1.0 - h[j] * h[j];
                let d2 = -2.0 * h[j] * d1;
                let mut add = |a: usize, b: usize, v: f64| {
                    let (a, b) = if a <= b { (a, b) } else { (b, a) };
                    out[a * d + b] += r * v;
                };
                add(ov + j, oc + j, d1);
                add(oc + j, oc + j, vj * d2);
                for k in 0..p {
                    add(ov + j, k * w + j, d1 * xi[k]);
                    add(k * w + j, oc + j, vj * d2 * xi[k]);
                    for l in k..p {
                        add(k * w + j, l * w + j, vj * d2 * xi[k] * xi[l]);
                    }
                }
            }
        }
        let s = self.beta * self.alpha / self.n as f64;
        let reg = self.beta * self.alpha * self.l2;
        for a in 0..d {
            for b in a..d {
                let v = s * out[a * d + b] + if a == b { reg } else { 0.0 };
                out[a * d + b] = v;
                out[b * d + a] = v;
            }
        }
    }

    /// C(θ) = (1/N)Σᵢ (∇ℓᵢ − ∇L)(∇ℓᵢ − ∇L)ᵀ = (1/N)Σᵢ ∇ℓᵢ∇ℓᵢᵀ − ∇L∇Lᵀ, the gradient
    /// covariance of one example (a minibatch of B drawn with replacement has C/B; without
    /// replacement C/B·(N−B)/(N−1)). Computed in the centred form for accuracy. O(N d²).
    pub fn gradient_covariance(&self, theta: &[f64]) -> Matrix {
        let d = self.dim();
        let n = self.n;
        let mut g = vec![0.0; n * d];
        for i in 0..n {
            self.example_gradient(theta, i, &mut g[i * d..i * d + d]);
        }
        let mut mean = vec![0.0; d];
        for i in 0..n {
            for (m, &v) in mean.iter_mut().zip(&g[i * d..i * d + d]) {
                *m += v / n as f64;
            }
        }
        let mut c = Matrix::zeros(d);
        for i in 0..n {
            let gi = &mut g[i * d..i * d + d];
            for (v, m) in gi.iter_mut().zip(&mean) {
                *v -= m;
            }
            for (a, &ga) in gi.iter().enumerate() {
                let row = &mut c.data[a * d..a * d + d];
                for (cab, &gb) in row[a..].iter_mut().zip(&gi[a..]) {
                    *cab += ga * gb;
                }
            }
        }
        for a in 0..d {
            for b in a..d {
                let v = c.data[a * d + b] / n as f64;
                c.data[a * d + b] = v;
                c.data[b * d + a] = v;
            }
        }
        c
    }

    /// A deterministic initial θ (W ~ U(−1,1)/√p, v ~ U(−1,1)/√w, c = b₀ = 0).
    pub fn initial_parameters(&self, seed: u64) -> Vec<f64> {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
        let d = self.dim();
        let (oc, ov, _) = self.offsets();
        let mut t = vec![0.0; d];
        let sw = 1.0 / (self.inputs as f64).sqrt();
        let sv = 1.0 / (self.width as f64).sqrt();
        for v in t[..oc].iter_mut() {
            *v = sw * rng.random_range(-1.0..1.0);
        }
        for v in t[ov..ov + self.width].iter_mut() {
            *v = sv * rng.random_range(-1.0..1.0);
        }
        t
    }
}

impl FiniteSum for Mlp {
    /// The network needs no heap scratch (hidden activations live on the stack).
    type Workspace = ();
    fn dim(&self) -> usize {
        Mlp::dim(self)
    }
    fn num_examples(&self) -> usize {
        self.n
    }
    fn workspace(&self) {}
    #[inline]
    fn batch_gradient(&self, theta: &[f64], batch: &[usize], _ws: &mut (), out: &mut [f64]) -> f64 {
        debug_assert!(!batch.is_empty());
        let sq = self.accumulate_dispatch(theta, batch.iter().copied(), out);
        self.finish(theta, batch.len(), sq, out)
    }
    fn gradient(&self, theta: &[f64], _ws: &mut (), out: &mut [f64]) -> f64 {
        let sq = self.accumulate_dispatch(theta, 0..self.n, out);
        self.finish(theta, self.n, sq, out)
    }
    fn loss(&self, theta: &[f64], _ws: &mut ()) -> f64 {
        let mut h = [0.0f64; MAX_WIDTH];
        let mut sq = 0.0;
        for i in 0..self.n {
            let r = self.forward_dispatch(theta, i, &mut h) - self.y[i];
            sq += 0.5 * r * r;
        }
        let t2: f64 = theta.iter().map(|t| t * t).sum();
        self.beta * (sq / self.n as f64 + 0.5 * self.l2 * self.alpha * t2)
    }
}

impl VectorField for Mlp {
    fn dim(&self) -> usize {
        Mlp::dim(self)
    }
    /// out = −∇L(x) (full batch).
    #[inline]
    fn drift(&self, x: &[f64], out: &mut [f64]) {
        self.gradient(x, &mut (), out);
        for o in out.iter_mut() {
            *o = -*o;
        }
    }
    /// out = −∇²L(x) (allocates one d-vector; not for hot loops).
    fn jacobian(&self, x: &[f64], out: &mut [f64]) {
        self.hessian(x, out);
        for o in out.iter_mut() {
            *o = -*o;
        }
    }
}

/// Eigenvalues of a symmetric matrix and the paper's summaries λ_min, λ_max, κ.
#[derive(Clone, Debug, Serialize)]
pub struct Spectrum {
    /// Smallest eigenvalue.
    pub lambda_min: f64,
    /// Largest eigenvalue λ_max (the sharpness, Definition 3, for H*).
    pub lambda_max: f64,
    /// κ = λ_max/λ_min (∞ when λ_min ≤ 0).
    pub kappa: f64,
    /// All eigenvalues, ascending.
    pub eigenvalues: Vec<f64>,
}

impl Spectrum {
    /// The spectrum of symmetric `m`.
    pub fn of(m: &Matrix, field: &str) -> Result<Self> {
        let (vals, _) = symmetric_eigen(m, field)?;
        let lambda_min = vals[0];
        let lambda_max = *vals.last().unwrap();
        Ok(Spectrum {
            lambda_min,
            lambda_max,
            kappa: if lambda_min > 0.0 {
                lambda_max / lambda_min
            } else {
                f64::INFINITY
            },
            eigenvalues: vals,
        })
    }
}

/// The trained network at its minimum with the exact local quantities.
#[derive(Clone, Debug)]
pub struct MlpMinimum {
    /// The model (with the requested sharpness/depth maps).
    pub model: Mlp,
    /// θ*.
    pub theta_star: Vec<f64>,
    /// L(θ*).
    pub loss: f64,
    /// ‖∇L(θ*)‖ (≤ 1e-8).
    pub gradient_norm: f64,
    /// H* = ∇²L(θ*) (exact, SPD).
    pub hessian: Matrix,
    /// Spectrum of H*: λ_min, λ_max, κ.
    pub hessian_spectrum: Spectrum,
    /// C* = C(θ*), the per-example gradient covariance (positive semi-definite, rank ≤ N − 1).
    pub gradient_covariance: Matrix,
    /// Spectrum of C*.
    pub covariance_spectrum: Spectrum,
    /// Gradient-descent iterations of the fit.
    pub descent_iterations: usize,
    /// Levenberg–Marquardt / Newton iterations of the fit.
    pub newton_iterations: usize,
}

/// Summary of an [`MlpMinimum`] for JSON reports (no matrices).
#[derive(Clone, Debug, Serialize)]
pub struct MlpSummary {
    /// Data set.
    pub dataset: MlpDataset,
    /// N.
    pub examples: usize,
    /// p.
    pub inputs: usize,
    /// w.
    pub width: usize,
    /// d.
    pub dim: usize,
    /// λ.
    pub l2: f64,
    /// α.
    pub sharpness: f64,
    /// β.
    pub depth: f64,
    /// L(θ*).
    pub loss: f64,
    /// ‖∇L(θ*)‖.
    pub gradient_norm: f64,
    /// λ_min(H*).
    pub hessian_lambda_min: f64,
    /// λ_max(H*).
    pub hessian_lambda_max: f64,
    /// κ(H*).
    pub hessian_kappa: f64,
    /// λ_min(C*).
    pub covariance_lambda_min: f64,
    /// λ_max(C*).
    pub covariance_lambda_max: f64,
    /// tr C*.
    pub covariance_trace: f64,
}

impl MlpMinimum {
    /// The JSON summary.
    pub fn summary(&self) -> MlpSummary {
        let d = self.theta_star.len();
        MlpSummary {
            dataset: self.model.dataset,
            examples: self.model.n,
            inputs: self.model.inputs,
            width: self.model.width,
            dim: d,
            l2: self.model.l2,
            sharpness: self.model.alpha,
            depth: self.model.beta,
            loss: self.loss,
            gradient_norm: self.gradient_norm,
            hessian_lambda_min: self.hessian_spectrum.lambda_min,
            hessian_lambda_max: self.hessian_spectrum.lambda_max,
            hessian_kappa: self.hessian_spectrum.kappa,
            covariance_lambda_min: self.covariance_spectrum.lambda_min,
            covariance_lambda_max: self.covariance_spectrum.lambda_max,
            covariance_trace: (0..d)
                .map(|i| self.gradient_covariance.data[i * d + i])
                .sum(),
        }
    }

    /// C* with its eigenvalues clipped below at `relative_floor`·λ_max(C*) (C* is only positive
    /// semi-definite — rank ≤ N − 1, and the network's symmetries leave null directions — so
    /// the action's metric C^{-p} needs a floor; DESIGN §1 `gradient-covariance`, regularised).
    pub fn regularised_gradient_covariance(&self, relative_floor: f64) -> Result<Matrix> {
        if !(relative_floor.is_finite() && relative_floor > 0.0) {
            return Err(Error::invalid(
                "floor",
                format!("must be > 0, got {relative_floor}"),
            ));
        }
        let (vals, vecs) = symmetric_eigen(&self.gradient_covariance, "gradient covariance")?;
        let floor = relative_floor * vals.last().copied().unwrap_or(0.0).max(0.0);
        Ok(crate::linalg::spectral_apply(&vals, &vecs, |l| {
            l.max(floor)
        }))
    }

    /// Write θ*, H*, C* as `.npy` and the summary as JSON into `dir`.
    pub fn write_files(&self, dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>> {
        use super::matrix_io::{write_matrix_npy, write_vector_npy};
        std::fs::create_dir_all(dir).map_err(|e| Error::Io {
            path: dir.display().to_string(),
            source: e,
        })?;
        let files = [
            dir.join("mlp_theta_star.npy"),
            dir.join("mlp_hessian.npy"),
            dir.join("mlp_gradient_covariance.npy"),
            dir.join("mlp_summary.json"),
        ];
        write_vector_npy(&files[0], &self.theta_star)?;
        write_matrix_npy(&files[1], &self.hessian)?;
        write_matrix_npy(&files[2], &self.gradient_covariance)?;
        let json = serde_json::to_string_pretty(&self.summary())
            .map_err(|e| Error::numerical("mlp summary", e.to_string()))?;
        std::fs::write(&files[3], json).map_err(|e| Error::Io {
            path: files[3].display().to_string(),
            source: e,
        })?;
        Ok(files.to_vec())
    }
}

/// Gradient tolerance the fit must reach: ‖∇L(θ*)‖ ≤ 1e-8.
pub const GRADIENT_TOLERANCE: f64 = 1e-8;

/// Train the network to a strict local minimum and compute H*, C* exactly.
///
/// Fit on the unscaled loss (α = β = 1): 3000 steps at most of full-batch gradient descent with
/// Armijo backtracking (until ‖∇L‖ < 1e-3), then Levenberg–Marquardt steps −(H + μI)⁻¹∇L with
/// the exact Hessian (μ → 0 near the minimum: Newton), until ‖∇L‖ ≤ 1e-12·max(1, scale). The
/// sharpness/depth maps then give θ* = θ*₁/√α exactly, followed by a Newton polish.
///
/// Errors: invalid configuration; a fit that does not reach ‖∇L‖ ≤ 1e-8 or ends at a point whose
/// Hessian is not positive definite (increase `l2`).
pub fn fit(config: &MlpConfig) -> Result<MlpMinimum> {
    let base = Mlp::new(config)?;
    let unit = base.with_scaling(1.0, 1.0);
    let d = FiniteSum::dim(&unit);
    let mut theta = unit.initial_parameters(config.seed);
    let mut g = vec![0.0; d];
    let mut trial = vec![0.0; d];
    // 1. Gradient descent with Armijo backtracking.
    let mut loss = unit.gradient(&theta, &mut (), &mut g);
    let mut step = 1.0;
    let mut descent_iterations = 0;
    for _ in 0..3000 {
        let gn2: f64 = g.iter().map(|v| v * v).sum();
        if gn2.sqrt() < 1e-3 {
            break;
        }
        descent_iterations += 1;
        step *= 2.0;
        loop {
            for k in 0..d {
                trial[k] = theta[k] - step * g[k];
            }
            let lt = unit.loss(&trial, &mut ());
            if lt <= loss - 0.5 * step * gn2 || step < 1e-12 {
                break;
            }
            step *= 0.5;
        }
        theta.copy_from_slice(&trial);
        loss = unit.gradient(&theta, &mut (), &mut g);
    }
    // 2. Levenberg–Marquardt → Newton.
    let mut newton_iterations = newton(&unit, &mut theta, 1e-12, 500)?;
    // 3. Scaling maps: θ*_α = θ*/√α, then polish.
    let model = base;
    let sa = model.sqrt_alpha;
    for t in theta.iter_mut() {
        *t /= sa;
    }
    newton_iterations += newton(&model, &mut theta, 1e-12, 50)?;
    let loss = model.gradient(&theta, &mut (), &mut g);
    let gradient_norm = norm(&g);
    // (NaN fails too.)
    if gradient_norm.is_nan() || gradient_norm > GRADIENT_TOLERANCE {
        return Err(Error::numerical(
            "mlp fit",
            format!("‖∇L(θ*)‖ = {gradient_norm:.3e} > {GRADIENT_TOLERANCE:.0e} after {newton_iterations} Newton iterations"),
        ));
    }
    let mut hessian = Matrix::zeros(d);
    model.hessian(&theta, &mut hessian.data);
    let hessian_spectrum = Spectrum::of(&hessian, "mlp Hessian H*")?;
    if hessian_spectrum.lambda_min <= 0.0 {
        return Err(Error::NotPositiveDefinite {
            field: "mlp Hessian H*".into(),
            detail: format!(
                "λ_min = {:.3e}: the fit ended at a saddle; increase l2 (now {})",
                hessian_spectrum.lambda_min, config.l2
            ),
        });
    }
    let gradient_covariance = model.gradient_covariance(&theta);
    let covariance_spectrum = Spectrum::of(&gradient_covariance, "mlp gradient covariance C*")?;
    Ok(MlpMinimum {
        model,
        theta_star: theta,
        loss,
        gradient_norm,
        hessian,
        hessian_spectrum,
        gradient_covariance,
        covariance_spectrum,
        descent_iterations,
        newton_iterations,
    })
}

/// Levenberg–Marquardt steps with the exact Hessian until ‖∇L‖ ≤ tol (or no more progress);
/// returns the number of iterations.
fn newton(model: &Mlp, theta: &mut [f64], tol: f64, max_iter: usize) -> Result<usize> {
    let d = theta.len();
    let mut g = vec![0.0; d];
    let mut trial = vec![0.0; d];
    let mut gt = vec![0.0; d];
    let mut h = Matrix::zeros(d);
    let mut loss = model.gradient(theta, &mut (), &mut g);
    let mut mu = 1e-3 * model.beta * model.alpha;
    let mut it = 0;
    while it < max_iter && norm(&g) > tol {
        it += 1;
        model.hessian(theta, &mut h.data);
        let mut hm = h.to_faer();
        for i in 0..d {
            hm[(i, i)] += mu;
        }
        let Ok(llt) = hm.llt(faer::Side::Lower) else {
            mu = (mu * 10.0).max(1e-10);
            continue;
        };
        let rhs = faer::Mat::from_fn(d, 1, |i, _| g[i]);
        let s = llt.solve(&rhs);
        for k in 0..d {
            trial[k] = theta[k] - s[(k, 0)];
        }
        let lt = model.gradient(&trial, &mut (), &mut gt);
        // Near the minimum the loss stalls at rounding level: accept on a smaller gradient.
        let better = lt < loss || (lt <= loss + 1e-14 * loss.abs() && norm(&gt) < norm(&g));
        if better {
            theta.copy_from_slice(&trial);
            g.copy_from_slice(&gt);
            loss = lt;
            mu = if mu < 1e-12 { 0.0 } else { mu / 4.0 };
        } else {
            mu = (mu * 4.0).max(1e-10);
            if mu > 1e12 {
                break;
            }
        }
    }
    Ok(it)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(dataset: MlpDataset, width: usize, alpha: f64, beta: f64) -> Mlp {
        Mlp::new(&MlpConfig {
            dataset,
            width,
            sharpness: alpha,
            depth: beta,
            ..MlpConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn fast_tanh_matches_libm() {
        let mut worst: f64 = 0.0;
        for i in -200_000..=200_000 {
            let x = i as f64 * 1e-4 + 1e-9;
            let (f, e) = (tanh(x), x.tanh());
            worst = worst.max((f - e).abs() / e.abs());
        }
        for x in [
            0.0f64,
            1e-300,
            -1e-20,
            0.0625,
            0.0625 - 1e-17,
            19.0,
            20.0,
            25.0,
            -700.0,
            1e300,
        ] {
            let e: f64 = x.tanh();
            assert!((tanh(x) - e).abs() <= 4e-15 * e.abs(), "x = {x}");
        }
        assert!(worst < 4e-15, "worst relative error {worst:e}");
        assert!(tanh(f64::NAN).is_nan());
        // The fused variant (mul_add is exact-rounded everywhere, fast only with FMA).
        let mut worst: f64 = 0.0;
        for i in -20_000..=20_000 {
            let x = i as f64 * 1e-3 + 1e-9;
            let (f, e) = (tanh_kernel::<true>(x), x.tanh());
            worst = worst.max((f - e).abs() / e.abs());
        }
        assert!(worst < 4e-15, "fused: worst relative error {worst:e}");
    }

    #[test]
    fn data_sets_load_standardised() {
        for (ds, n, p) in [(MlpDataset::Iris, 150, 4), (MlpDataset::Diabetes, 441, 10)] {
            let m = model(ds, 3, 1.0, 1.0);
            assert_eq!((m.num_examples(), m.inputs()), (n, p));
            let (x, y) = m.data();
            let my = y.iter().sum::<f64>() / n as f64;
            let vy = y.iter().map(|v| (v - my).powi(2)).sum::<f64>() / n as f64;
            assert!(my.abs() < 1e-12 && (vy - 1.0).abs() < 1e-12);
            for k in 0..p {
                let mx = (0..n).map(|i| x[i * p + k]).sum::<f64>() / n as f64;
                assert!(mx.abs() < 1e-12);
            }
        }
    }

    #[test]
    fn gradient_and_hessian_match_finite_differences() {
        // Central differences: error O(h²·|∇³L|) + O(ε/h); h = 1e-5 gives ~1e-9 relative.
        for (ds, w, alpha, beta) in [
            (MlpDataset::Iris, 5, 1.0, 1.0),
            (MlpDataset::Diabetes, 3, 2.5, 0.7),
        ] {
            let m = model(ds, w, alpha, beta);
            let d = FiniteSum::dim(&m);
            let theta = m.initial_parameters(7);
            let mut g = vec![0.0; d];
            m.gradient(&theta, &mut (), &mut g);
            let mut hs = vec![0.0; d * d];
            m.hessian(&theta, &mut hs);
            let hstep = 1e-5;
            let mut gp = vec![0.0; d];
            let mut gm = vec![0.0; d];
            for k in 0..d {
                let mut p = theta.clone();
                let mut q = theta.clone();
                p[k] += hstep;
                q[k] -= hstep;
                let fd = (m.loss(&p, &mut ()) - m.loss(&q, &mut ())) / (2.0 * hstep);
                assert!((fd - g[k]).abs() < 1e-8, "∂L/∂θ{k}: fd {fd} vs {}", g[k]);
                m.gradient(&p, &mut (), &mut gp);
                m.gradient(&q, &mut (), &mut gm);
                for i in 0..d {
                    let fd = (gp[i] - gm[i]) / (2.0 * hstep);
                    assert!(
                        (fd - hs[i * d + k]).abs() < 1e-7,
                        "H[{i},{k}]: fd {fd} vs {}",
                        hs[i * d + k]
                    );
                }
            }
        }
    }

    #[test]
    fn simd_and_portable_kernels_agree() {
        let m = model(MlpDataset::Diabetes, 8, 1.7, 1.0);
        let mut portable = m.clone();
        portable.simd = false;
        let d = FiniteSum::dim(&m);
        let theta = m.initial_parameters(5);
        let (mut a, mut b) = (vec![0.0; d], vec![0.0; d]);
        let la = m.gradient(&theta, &mut (), &mut a);
        let lb = portable.gradient(&theta, &mut (), &mut b);
        assert!((la - lb).abs() < 1e-14 * la.abs());
        let scale = b.iter().fold(0.0f64, |s, v| s.max(v.abs()));
        for k in 0..d {
            assert!(
                (a[k] - b[k]).abs() < 1e-13 * scale,
                "{k}: {} vs {}",
                a[k],
                b[k]
            );
        }
    }

    #[test]
    fn batch_gradient_is_mean_of_example_gradients() {
        let m = model(MlpDataset::Iris, 8, 1.3, 2.0);
        let d = FiniteSum::dim(&m);
        let theta = m.initial_parameters(3);
        let batch = [3usize, 77, 149, 0, 42];
        let mut gb = vec![0.0; d];
        let lb = m.batch_gradient(&theta, &batch, &mut (), &mut gb);
        let mut mean = vec![0.0; d];
        let mut lmean = 0.0;
        let mut gi = vec![0.0; d];
        for &i in &batch {
            lmean += m.example_gradient(&theta, i, &mut gi) / 5.0;
            for k in 0..d {
                mean[k] += gi[k] / 5.0;
            }
        }
        assert!((lb - lmean).abs() < 1e-14 * lmean.abs().max(1.0));
        for k in 0..d {
            assert!((gb[k] - mean[k]).abs() < 1e-13, "{k}");
        }
    }

    #[test]
    fn gradient_covariance_matches_direct_formula() {
        let m = model(MlpDataset::Iris, 4, 1.0, 1.0);
        let d = FiniteSum::dim(&m);
        let theta = m.initial_parameters(11);
        let c = m.gradient_covariance(&theta);
        // Direct: (1/N)Σ gᵢgᵢᵀ − ḡḡᵀ.
        let n = m.num_examples();
        let mut s = vec![0.0; d * d];
        let mut gbar = vec![0.0; d];
        let mut gi = vec![0.0; d];
        for i in 0..n {
            m.example_gradient(&theta, i, &mut gi);
            for a in 0..d {
                gbar[a] += gi[a] / n as f64;
                for b in 0..d {
                    s[a * d + b] += gi[a] * gi[b] / n as f64;
                }
            }
        }
        let mut full = vec![0.0; d];
        m.gradient(&theta, &mut (), &mut full);
        let scale = s.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        for a in 0..d {
            assert!((gbar[a] - full[a]).abs() < 1e-13);
            for b in 0..d {
                let direct = s[a * d + b] - gbar[a] * gbar[b];
                assert!(
                    (direct - c.data[a * d + b]).abs() < 1e-12 * scale,
                    "C[{a},{b}]"
                );
            }
        }
    }

    #[test]
    fn fit_reaches_a_strict_minimum() {
        let m = fit(&MlpConfig::default()).unwrap();
        assert_eq!(m.theta_star.len(), 49);
        assert!(m.gradient_norm <= GRADIENT_TOLERANCE, "{}", m.gradient_norm);
        let s = &m.hessian_spectrum;
        assert!(s.lambda_min > 0.0 && s.kappa.is_finite());
        // The L2 term alone bounds λ_min below by... nothing: λ_min ≥ λ only if the data part is
        // PSD, which it need not be. So check SPD and symmetry.
        let d = 49;
        for a in 0..d {
            for b in 0..d {
                assert_eq!(m.hessian.data[a * d + b], m.hessian.data[b * d + a]);
            }
        }
        // C* is PSD up to rounding; the regularised one is SPD with the requested floor.
        assert!(m.covariance_spectrum.lambda_min > -1e-12 * m.covariance_spectrum.lambda_max);
        let r = m.regularised_gradient_covariance(1e-6).unwrap();
        let s = Spectrum::of(&r, "C").unwrap();
        let want = 1e-6 * m.covariance_spectrum.lambda_max;
        assert!(
            (s.lambda_min - want).abs() < 1e-9 * want + 1e-15,
            "{} vs {want}",
            s.lambda_min
        );
        assert!(m.regularised_gradient_covariance(0.0).is_err());
    }

    #[test]
    fn sharpness_and_depth_maps_scale_the_hessian_exactly() {
        let base = fit(&MlpConfig::default()).unwrap();
        let (alpha, beta) = (4.0, 0.5);
        let sc = fit(&MlpConfig {
            sharpness: alpha,
            depth: beta,
            ..MlpConfig::default()
        })
        .unwrap();
        for (a, b) in base.theta_star.iter().zip(&sc.theta_star) {
            assert!((a / alpha.sqrt() - b).abs() < 1e-9);
        }
        let r = sc.hessian_spectrum.lambda_max / base.hessian_spectrum.lambda_max;
        assert!((r - alpha * beta).abs() < 1e-8 * alpha * beta, "{r}");
        assert!((sc.loss - beta * base.loss).abs() < 1e-12);
    }

    #[test]
    fn drift_is_minus_gradient() {
        let m = model(MlpDataset::Iris, 6, 1.0, 1.0);
        let d = FiniteSum::dim(&m);
        let theta = m.initial_parameters(1);
        let (mut b, mut g) = (vec![0.0; d], vec![0.0; d]);
        m.drift(&theta, &mut b);
        m.gradient(&theta, &mut (), &mut g);
        for k in 0..d {
            assert_eq!(b[k], -g[k]);
        }
    }

    #[test]
    fn rejects_bad_configuration() {
        let bad = [
            MlpConfig {
                width: 0,
                ..MlpConfig::default()
            },
            MlpConfig {
                width: MAX_WIDTH + 1,
                ..MlpConfig::default()
            },
            MlpConfig {
                l2: -1.0,
                ..MlpConfig::default()
            },
            MlpConfig {
                sharpness: f64::NAN,
                ..MlpConfig::default()
            },
        ];
        for c in bad {
            assert!(matches!(fit(&c), Err(Error::Invalid { .. })));
        }
        assert!(MlpDataset::parse("mnist", "dataset").is_err());
    }
}
