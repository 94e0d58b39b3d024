//! The network f(θ; x) and its loss: forward pass, per-example and batch gradients by
//! back-propagation, the exact Hessian and the gradient covariance (formulas in [`super`]).

use super::tanh::{madd, simd_available, tanh_kernel};
use super::{FiniteSum, MlpConfig, MlpDataset};
use crate::error::Result;
use crate::linalg::Matrix;
use crate::problem::model::VectorField;
use rand::{Rng, SeedableRng};
use std::cell::RefCell;

/// The network and its standardised data: implements [`FiniteSum`] (minibatch gradients) and
/// [`VectorField`] (b = −∇L, Jacobian −∇²L).
#[derive(Clone, Debug)]
pub struct Mlp {
    pub(super) dataset: MlpDataset,
    pub(super) inputs: usize,
    pub(super) width: usize,
    pub(super) n: usize,
    pub(super) x: Vec<f64>,
    pub(super) y: Vec<f64>,
    pub(super) l2: f64,
    pub(super) alpha: f64,
    pub(super) sqrt_alpha: f64,
    pub(super) beta: f64,
    /// AVX2 + FMA available (x86-64): use the wide kernels.
    pub(super) simd: bool,
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

thread_local! {
    /// Per-thread scratch of the passes below: hidden activations, back-propagated errors and
    /// the HVP's directional terms (a few w-vectors), grown once per thread and reused, so that
    /// no pass allocates and any width fits.
    static SCRATCH: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
}

/// Scratch up to this many values lives on the stack (widths ≤ 64 in the gradient: the SGD hot
/// loop's small networks pay no thread-local lookup).
const STACK_SCRATCH: usize = 128;

/// Run `f` on `len` values of scratch (contents unspecified): on the stack when small, else this
/// thread's buffer (not re-entrant: the passes that take it call only kernels that are handed
/// slices of it).
#[inline(always)]
pub(super) fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f64]) -> R) -> R {
    if len <= STACK_SCRATCH {
        let mut buf = [0.0f64; STACK_SCRATCH];
        return f(&mut buf[..len]);
    }
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < len {
            s.resize(len, 0.0);
        }
        f(&mut s[..len])
    })
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
    pub(super) fn offsets(&self) -> (usize, usize, usize) {
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

    /// Accumulate Σ_{i∈batch} cᵢ∇_φ fᵢ into `out` with cᵢ = weight(i, rᵢ) (cᵢ = rᵢ: the gradient
    /// of Σ½rᵢ², scaled by √α for θ); returns Σ ½rᵢ². h and δ are scratch of w values each.
    #[inline(always)]
    fn accumulate<const FMA: bool, I: Iterator<Item = usize>, C: Fn(usize, f64) -> f64>(
        &self,
        theta: &[f64],
        batch: I,
        weight: &C,
        out: &mut [f64],
        h: &mut [f64],
        delta: &mut [f64],
    ) -> f64 {
        let (w, sa) = (self.width, self.sqrt_alpha);
        let p = self.inputs;
        let (oc, ov, ob) = self.offsets();
        out.fill(0.0);
        let mut sq = 0.0;
        let mut rsum = 0.0;
        for i in batch {
            let f = self.forward::<FMA>(theta, i, h);
            let r = f - self.y[i];
            sq = madd::<FMA>(0.5 * r, r, sq);
            let r = weight(i, r);
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
    unsafe fn accumulate_avx2<I: Iterator<Item = usize>, C: Fn(usize, f64) -> f64>(
        &self,
        theta: &[f64],
        batch: I,
        weight: &C,
        out: &mut [f64],
        h: &mut [f64],
        delta: &mut [f64],
    ) -> f64 {
        self.accumulate::<true, I, C>(theta, batch, weight, out, h, delta)
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
        self.weighted_accumulate(theta, batch, &|_, r| r, out)
    }

    /// [`Self::accumulate_dispatch`] with per-example weights cᵢ = weight(i, rᵢ) in place of rᵢ
    /// (the gradient-noise pass, [`super::gradient_noise`]).
    #[inline]
    pub(super) fn weighted_accumulate<I: Iterator<Item = usize>, C: Fn(usize, f64) -> f64>(
        &self,
        theta: &[f64],
        batch: I,
        weight: &C,
        out: &mut [f64],
    ) -> f64 {
        let w = self.width;
        // The scratch is taken here, outside the AVX2 function: a closure run through the
        // thread-local's `with` is compiled without its target features (FMA became a libm
        // call: measured 20× slower gradients at w = 65).
        with_scratch(2 * w, |buf| {
            let (h, delta) = buf.split_at_mut(w);
            #[cfg(target_arch = "x86_64")]
            if self.simd {
                // SAFETY: `simd` is set only when AVX2 and FMA were detected.
                return unsafe { self.accumulate_avx2(theta, batch, weight, out, h, delta) };
            }
            self.accumulate::<false, I, C>(theta, batch, weight, out, h, delta)
        })
    }

    /// One forward pass with the kernel of [`Self::accumulate_dispatch`].
    #[inline]
    pub(super) fn forward_dispatch(&self, theta: &[f64], i: usize, h: &mut [f64]) -> f64 {
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
    ///
    /// The Gauss–Newton part is one GEMM JᵀJ over the N×d Jacobian (N·d scratch values): a
    /// rank-1 update per example runs at memory speed and took 94 % of a w = 128 fit.
    pub fn hessian(&self, theta: &[f64], out: &mut [f64]) {
        let d = self.dim();
        let (p, w, sa) = (self.inputs, self.width, self.sqrt_alpha);
        let (oc, ov, ob) = self.offsets();
        assert_eq!(out.len(), d * d, "hessian: out must have d² entries");
        out.fill(0.0);
        let mut h = vec![0.0; w];
        // Column i of Jᵀ (d × N, column-major) is ∇_φ fᵢ.
        let mut jt = faer::Mat::<f64>::zeros(d, self.n);
        for i in 0..self.n {
            let f = self.forward_dispatch(theta, i, &mut h);
            let r = f - self.y[i];
            let xi = &self.x[i * p..i * p + p];
            let jac = jt
                .col_mut(i)
                .try_as_col_major_mut()
                .expect("contiguous column");
            let jac = jac.as_slice_mut();
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
            // r ∇²f: non-zero only within one hidden unit j (upper triangle).
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
        // Gauss–Newton part: out += JᵀJ (symmetric, so the row-major view is immaterial).
        faer::linalg::matmul::matmul(
            faer::MatMut::from_row_major_slice_mut(out, d, d),
            faer::Accum::Add,
            jt.as_ref(),
            jt.transpose(),
            1.0,
            faer::Par::Seq,
        );
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
        for i in 0..n {
            for (v, m) in g[i * d..i * d + d].iter_mut().zip(&mean) {
                *v -= m;
            }
        }
        // C = GᵀG/N as one GEMM: g is G (N × d) row-major, i.e. Gᵀ column-major.
        let mut c = Matrix::zeros(d);
        let gt = faer::MatRef::from_column_major_slice(&g, d, n);
        faer::linalg::matmul::matmul(
            faer::MatMut::from_row_major_slice_mut(&mut c.data, d, d),
            faer::Accum::Replace,
            gt,
            gt.transpose(),
            1.0 / n as f64,
            faer::Par::Seq,
        );
        // Exactly symmetric (the GEMM's two triangles may differ by rounding).
        for a in 0..d {
            for b in a + 1..d {
                let v = c.data[a * d + b];
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
    /// The network keeps its scratch on the stack or per thread (`with_scratch`), so no
    /// workspace is passed.
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
        let sq = with_scratch(self.width, |h| {
            let mut sq = 0.0;
            for i in 0..self.n {
                let r = self.forward_dispatch(theta, i, h) - self.y[i];
                sq += 0.5 * r * r;
            }
            sq
        });
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
    fn data_sets_load_standardised() {
        for (ds, n, p) in [
            (MlpDataset::Iris, 150, 4),
            (MlpDataset::Diabetes, 441, 10),
            (MlpDataset::Wine, 1599, 11),
        ] {
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
}
