//! The Euler–Maruyama kernel: one trajectory from θ* until it leaves D.
//!
//! θ_{k+1} = θ_k + h b(θ_k) + ε √h σ(θ_k) ξ_k,  ξ_k ~ N(0, I),  σ = a^{1/2}
//! (Kloeden & Platen 1992, §9.1). With constant noise σ is the problem's precomputed symmetric
//! root; with state-dependent noise it is recomputed every step by [`Diffusion::sqrt`], the
//! *symmetric* root a(θ)^{1/2} (a Cholesky factor would give the same law, but quasipot uses the
//! symmetric root everywhere so that every engine describes the same σ).
//!
//! Exit is monitored after every step: plainly (θ_{k+1} ∉ D), or with the Gobet–Menozzi
//! boundary correction (Gobet & Menozzi, Stoch. Proc. Appl. 120 (2010)): D is shrunk along the
//! inward normal n by c₀ ε ‖σᵀn‖ √h with c₀ = −ζ(1/2)/√(2π) = 0.5826, evaluated at the current
//! point, i.e. exit is declared when the signed distance to ∂D is > −c₀ ε ‖σᵀn‖ √h. This removes
//! the O(√h) bias of discrete monitoring (the discrete path misses excursions between steps).
//!
//! The kernel is generic over the drift, the noise and the dimension (fixed-size arrays for
//! d ≤ 4, so loops unroll; heap buffers allocated once per worker beyond), and allocates nothing
//! per step.

// `!(a < b)` is deliberate: NaN counts as "outside"/"degenerate". Index loops mirror the
// formulas in the numerical kernels.
#![allow(clippy::neg_cmp_op_on_partial_ord, clippy::needless_range_loop)]

pub use super::region::Region;
use super::rng::{stream, ZigguratNormal};
use crate::linalg::Matrix;
use crate::problem::{
    Diffusion, Domain, Drift, ModelVisitor, Noise, NoiseWorkspace, Problem, VectorField,
};
use std::sync::atomic::{AtomicBool, Ordering};

/// Gobet–Menozzi constant c₀ = −ζ(1/2)/√(2π).
pub const GOBET_MENOZZI: f64 = 0.582_597_157_939_010_6;

/// How often (in lockstep rounds of all lanes) a running chunk looks at the cancellation flag.
const CANCEL_CHECK: u64 = 1 << 12;

/// Vector and matrix storage of dimension d.
pub trait Dim: Copy + Send + Sync {
    /// A d-vector.
    type V: AsRef<[f64]> + AsMut<[f64]> + Clone + Send + Sync;
    /// A d×d matrix, row-major.
    type M: Clone + Send + Sync;
    /// d.
    fn d(self) -> usize;
    /// A zero vector.
    fn vec(self) -> Self::V;
    /// A zero matrix.
    fn mat(self) -> Self::M;
    /// The matrix as a row-major slice.
    fn m(m: &Self::M) -> &[f64];
    /// The matrix as a mutable row-major slice.
    fn m_mut(m: &mut Self::M) -> &mut [f64];
}

/// Compile-time dimension D.
#[derive(Clone, Copy, Debug)]
pub struct Fixed<const D: usize>;

impl<const D: usize> Dim for Fixed<D> {
    type V = [f64; D];
    type M = [[f64; D]; D];
    #[inline(always)]
    fn d(self) -> usize {
        D
    }
    fn vec(self) -> [f64; D] {
        [0.0; D]
    }
    fn mat(self) -> [[f64; D]; D] {
        [[0.0; D]; D]
    }
    #[inline(always)]
    fn m(m: &Self::M) -> &[f64] {
        m.as_flattened()
    }
    #[inline(always)]
    fn m_mut(m: &mut Self::M) -> &mut [f64] {
        m.as_flattened_mut()
    }
}

/// Run-time dimension.
#[derive(Clone, Copy, Debug)]
pub struct Dynamic(pub usize);

impl Dim for Dynamic {
    type V = Vec<f64>;
    type M = Vec<f64>;
    fn d(self) -> usize {
        self.0
    }
    fn vec(self) -> Vec<f64> {
        vec![0.0; self.0]
    }
    fn mat(self) -> Vec<f64> {
        vec![0.0; self.0 * self.0]
    }
    fn m(m: &Self::M) -> &[f64] {
        m
    }
    fn m_mut(m: &mut Self::M) -> &mut [f64] {
        m
    }
}

/// A linear drift b = −A(x − c) compiled to fixed-size arrays, so that the step unrolls with no
/// bounds checks; computes exactly the same floating-point operations, in the same order, as
/// [`crate::problem::drift::LinearDrift`].
#[derive(Clone, Debug)]
pub struct LinearFixed<const D: usize> {
    a: [[f64; D]; D],
    c: [f64; D],
}

impl<const D: usize> LinearFixed<D> {
    /// Compile `lin` (whose dimension must be D).
    ///
    /// # Panics
    /// If the dimension is not D.
    pub fn new(lin: &crate::problem::drift::LinearDrift) -> Self {
        assert_eq!(lin.center.len(), D);
        let mut a = [[0.0; D]; D];
        for (i, row) in a.iter_mut().enumerate() {
            row.copy_from_slice(&lin.a.data[i * D..(i + 1) * D]);
        }
        let mut c = [0.0; D];
        c.copy_from_slice(&lin.center);
        LinearFixed { a, c }
    }
}

impl<const D: usize> VectorField for LinearFixed<D> {
    #[inline(always)]
    fn dim(&self) -> usize {
        D
    }
    #[inline(always)]
    fn drift(&self, x: &[f64], out: &mut [f64]) {
        let (x, out) = (&x[..D], &mut out[..D]);
        for i in 0..D {
            let mut s = self.a[i][0] * (x[0] - self.c[0]);
            for j in 1..D {
                s += self.a[i][j] * (x[j] - self.c[j]);
            }
            out[i] = -s;
        }
    }
    fn jacobian(&self, _x: &[f64], out: &mut [f64]) {
        for i in 0..D {
            for j in 0..D {
                out[i * D + j] = -self.a[i][j];
            }
        }
    }
}

/// How exit from D is detected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExitDetection {
    /// Exit when the discrete path is outside D (O(√h) bias: exits are detected late).
    #[default]
    Discrete,
    /// Gobet–Menozzi: exit when inside the band of width 0.5826 ε ‖σᵀn‖ √h along ∂D.
    BoundaryCorrected,
}

/// How a trajectory ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Left D at `steps`.
    Exited,
    /// Still in D after the step budget: τ > steps·h (right-censored).
    Censored,
    /// Stopped by cancellation after `steps` steps: τ > steps·h (right-censored); a resume
    /// runs it again from the start with the same stream.
    Interrupted,
}

impl Status {
    /// Name used in files.
    pub fn name(self) -> &'static str {
        match self {
            Status::Exited => "exited",
            Status::Censored => "censored",
            Status::Interrupted => "interrupted",
        }
    }
    /// Parse a file name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "exited" => Some(Status::Exited),
            "censored" => Some(Status::Censored),
            "interrupted" => Some(Status::Interrupted),
            _ => None,
        }
    }
}

/// One simulated trajectory.
#[derive(Clone, Debug, PartialEq)]
pub struct Trajectory {
    /// Trajectory index (its stream).
    pub index: u64,
    /// How it ended.
    pub status: Status,
    /// Steps taken: the exit step (iterations of SGD), or the steps survived if censored.
    pub steps: u64,
    /// The first monitored point found outside (the corrected) D; for a censored trajectory,
    /// the last point.
    pub point: Vec<f64>,
}

/// Why a trajectory could not be simulated.
#[derive(Clone, Debug)]
pub enum KernelFailure {
    /// a(θ) not positive definite at the point.
    NotPositiveDefinite(Vec<f64>, u64),
    /// θ became non-finite (unstable step).
    Diverged(Vec<f64>, u64),
}

/// Everything the kernel needs, fixed for one noise level.
pub struct Kernel<'a, B: VectorField, N: Diffusion, X: Dim> {
    /// b.
    pub drift: &'a B,
    /// a.
    pub noise: &'a N,
    /// d.
    pub dim: X,
    /// The exit test.
    pub region: Region<'a, X>,
    /// θ*.
    pub start: X::V,
    /// σ for constant noise.
    pub sigma: X::M,
    /// h.
    pub h: f64,
    /// ε √h.
    pub eps_sqrt_h: f64,
    /// c₀ ε √h when boundary-corrected, else 0.
    pub correction: f64,
    /// Below this value of the region's level, the corrected exit test cannot fire (constant
    /// noise only; −∞ otherwise).
    pub skip_level: f64,
    /// Step budget.
    pub max_steps: u64,
    /// Seed of this noise level.
    pub seed: u64,
}

/// Trajectories interleaved per thread by [`Kernel::run_chunk`].
pub const LANES: usize = 4;

struct Lane<X: Dim> {
    rng: crate::sde::rng::Stream,
    x: X::V,
    step: u64,
    index: u64,
    active: bool,
}

impl<X: Dim> Lane<X> {
    #[inline]
    fn start(&mut self, index: u64, seed: u64, x0: &X::V) {
        self.rng = stream(seed, index);
        self.x.as_mut().copy_from_slice(x0.as_ref());
        self.step = 0;
        self.index = index;
        self.active = true;
    }
}

/// Per-worker scratch.
pub struct Scratch<X: Dim> {
    ws: NoiseWorkspace,
    sig: X::M,
}

impl<'a, B: VectorField, N: Diffusion, X: Dim> Kernel<'a, B, N, X> {
    /// Build a kernel; `sigma_const` is σ for constant noise (ignored otherwise).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        drift: &'a B,
        noise: &'a N,
        dim: X,
        domain: &'a Domain,
        start: &[f64],
        eps: f64,
        h: f64,
        detection: ExitDetection,
        max_steps: u64,
        seed: u64,
    ) -> Option<Self> {
        let mut s = dim.vec();
        s.as_mut().copy_from_slice(start);
        let mut sigma = dim.mat();
        if noise.is_constant() {
            let mut ws = noise.workspace();
            if !noise.sqrt(start, &mut ws, X::m_mut(&mut sigma)) {
                return None;
            }
        }
        let region = Region::new(domain, dim);
        let correction = match detection {
            ExitDetection::Discrete => 0.0,
            ExitDetection::BoundaryCorrected => GOBET_MENOZZI * eps * h.sqrt(),
        };
        let d = dim.d();
        let skip_level = if correction > 0.0 && noise.is_constant() {
            // ‖σᵀn‖ ≤ ‖σ‖₂ = max |eigenvalue| of the symmetric σ.
            let m = Matrix {
                n: d,
                data: X::m(&sigma).to_vec(),
            };
            match crate::linalg::symmetric_eigen(&m, "noise") {
                Ok((vals, _)) => {
                    let smax = vals.iter().fold(0.0f64, |a, v| a.max(v.abs()));
                    region.skip_level(correction * smax * (1.0 + 1e-9), d)
                }
                Err(_) => f64::NEG_INFINITY,
            }
        } else {
            f64::NEG_INFINITY
        };
        Some(Kernel {
            drift,
            noise,
            dim,
            region,
            skip_level,
            start: s,
            sigma,
            h,
            eps_sqrt_h: eps * h.sqrt(),
            correction,
            max_steps,
            seed,
        })
    }

    /// Scratch space for one worker.
    pub fn scratch(&self) -> Scratch<X> {
        Scratch {
            ws: self.noise.workspace(),
            sig: self.dim.mat(),
        }
    }

    /// Simulate the trajectories `indices` from θ*, [`LANES`] at a time in lockstep on this
    /// thread (independent dependency chains let the CPU overlap their steps; each lane has its
    /// own stream, so every trajectory's numbers depend only on its index). Each finished
    /// trajectory is passed to `sink` as soon as it ends. When `cancel` is set, trajectories in
    /// flight end as [`Status::Interrupted`] and the rest are not started. Returns how many
    /// trajectories were started.
    ///
    /// On x86-64 CPUs with AVX2, FMA and BMI2 the same code runs compiled for those features
    /// (module `simd`): about 15 % more steps/s on the benchmark, bit-identical
    /// numbers (tested).
    #[inline(never)]
    pub fn run_chunk(
        &self,
        indices: &[u64],
        scratch: &mut Scratch<X>,
        cancel: &AtomicBool,
        sink: &mut dyn FnMut(Result<Trajectory, KernelFailure>),
    ) -> usize {
        #[cfg(target_arch = "x86_64")]
        if crate::simd::x86_v3_available() {
            // SAFETY: the target features of `run_chunk_x86_v3` were detected on this CPU.
            return unsafe { self.run_chunk_x86_v3(indices, scratch, cancel, sink) };
        }
        self.run_chunk_body(indices, scratch, cancel, sink)
    }

    /// [`Self::run_chunk`] compiled for AVX2 + FMA + BMI1/2 (x86-64-v3).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx,avx2,fma,bmi1,bmi2,lzcnt,popcnt")]
    #[inline(never)]
    unsafe fn run_chunk_x86_v3(
        &self,
        indices: &[u64],
        scratch: &mut Scratch<X>,
        cancel: &AtomicBool,
        sink: &mut dyn FnMut(Result<Trajectory, KernelFailure>),
    ) -> usize {
        self.run_chunk_body(indices, scratch, cancel, sink)
    }

    #[inline(always)]
    fn run_chunk_body(
        &self,
        indices: &[u64],
        scratch: &mut Scratch<X>,
        cancel: &AtomicBool,
        sink: &mut dyn FnMut(Result<Trajectory, KernelFailure>),
    ) -> usize {
        let d = self.dim.d();
        let zig = ZigguratNormal::get();
        let mut b = self.dim.vec();
        let mut xi = self.dim.vec();
        let mut nrm = self.dim.vec();
        let mut tmp = self.dim.vec();
        let constant = self.noise.is_constant();
        let h = self.h;
        let esh = self.eps_sqrt_h;
        let corrected = self.correction > 0.0;
        let mut lanes: [Lane<X>; LANES] = std::array::from_fn(|_| Lane {
            rng: stream(0, 0),
            x: self.start.clone(),
            step: 0,
            index: 0,
            active: false,
        });
        let mut next = 0usize;
        if cancel.load(Ordering::Relaxed) {
            return 0;
        }
        for lane in lanes.iter_mut() {
            if next < indices.len() {
                lane.start(indices[next], self.seed, &self.start);
                next += 1;
            }
        }
        let mut round: u64 = 0;
        loop {
            let mut any = false;
            for lane in lanes.iter_mut() {
                if !lane.active {
                    continue;
                }
                any = true;
                let outcome: Option<Result<Trajectory, KernelFailure>> = 'step: {
                    if lane.step == self.max_steps {
                        break 'step Some(Ok(self.finish(
                            lane.index,
                            Status::Censored,
                            lane.step,
                            lane.x.as_ref(),
                        )));
                    }
                    lane.step += 1;
                    let step = lane.step;
                    let xs = lane.x.as_mut();
                    self.drift.drift(xs, b.as_mut());
                    if !constant
                        && !self
                            .noise
                            .sqrt(xs, &mut scratch.ws, X::m_mut(&mut scratch.sig))
                    {
                        break 'step Some(Err(KernelFailure::NotPositiveDefinite(
                            xs.to_vec(),
                            step,
                        )));
                    }
                    let sig = if constant {
                        X::m(&self.sigma)
                    } else {
                        X::m(&scratch.sig)
                    };
                    zig.fill(&mut lane.rng, xi.as_mut());
                    let (bs, xis) = (b.as_ref(), xi.as_ref());
                    for i in 0..d {
                        let s = crate::linalg::dot(&sig[i * d..(i + 1) * d], xis);
                        xs[i] += h * bs[i] + esh * s;
                    }
                    let exited = if corrected
                        && self.region.level_fast(xs, d, tmp.as_mut()) < self.skip_level
                    {
                        // Provably deeper inside than any correction band.
                        false
                    } else if corrected {
                        // Signed distance against the shrunk boundary, σ at the new point.
                        let ns = nrm.as_mut();
                        let dist = self.region.distance_and_normal(xs, d, ns, tmp.as_mut());
                        let sig_now = if constant {
                            X::m(&self.sigma)
                        } else if self
                            .noise
                            .sqrt(xs, &mut scratch.ws, X::m_mut(&mut scratch.sig))
                        {
                            X::m(&scratch.sig)
                        } else {
                            break 'step Some(Err(KernelFailure::NotPositiveDefinite(
                                xs.to_vec(),
                                step,
                            )));
                        };
                        // ‖σᵀn‖ = ‖σn‖: σ is the symmetric root, so its rows are its columns.
                        let mut sn2 = 0.0;
                        for j in 0..d {
                            let s = crate::linalg::dot(&sig_now[j * d..(j + 1) * d], ns);
                            sn2 += s * s;
                        }
                        !(dist + self.correction * sn2.sqrt() < 0.0)
                    } else {
                        self.region.outside(xs, d, tmp.as_mut())
                    };
                    if exited {
                        if xs.iter().any(|v| !v.is_finite()) {
                            break 'step Some(Err(KernelFailure::Diverged(xs.to_vec(), step)));
                        }
                        break 'step Some(Ok(self.finish(lane.index, Status::Exited, step, xs)));
                    }
                    None
                };
                if let Some(r) = outcome {
                    sink(r);
                    lane.active = false;
                    if next < indices.len() {
                        lane.start(indices[next], self.seed, &self.start);
                        next += 1;
                    }
                }
            }
            if !any {
                return next;
            }
            round += 1;
            if round.is_multiple_of(CANCEL_CHECK) && cancel.load(Ordering::Relaxed) {
                for lane in lanes.iter_mut().filter(|l| l.active) {
                    sink(Ok(self.finish(
                        lane.index,
                        Status::Interrupted,
                        lane.step,
                        lane.x.as_ref(),
                    )));
                }
                return next;
            }
        }
    }

    #[cold]
    fn finish(&self, index: u64, status: Status, steps: u64, x: &[f64]) -> Trajectory {
        Trajectory {
            index,
            status,
            steps,
            point: x.to_vec(),
        }
    }
}

/// Work that runs on a concrete drift, noise and dimension type, so that its stepping loop
/// monomorphises on all three (the Monte Carlo ensemble and AMS).
pub trait KernelVisitor {
    /// What the work returns.
    type Output;
    /// Run with these types.
    fn run_kernel<B: VectorField, N: Diffusion, X: Dim>(
        &self,
        b: &B,
        n: &N,
        dim: X,
    ) -> Self::Output;
}

/// Run `work` with the problem's concrete types: linear drifts in d ≤ 4 on the fixed-size
/// [`LinearFixed`], every other drift through [`Problem::visit`], with [`Fixed`] dimensions up
/// to 4 and [`Dynamic`] beyond.
pub fn dispatch<V: KernelVisitor>(problem: &Problem, work: &V) -> V::Output {
    if let Drift::Linear(l) = &problem.drift {
        macro_rules! lin {
            ($d:literal) => {{
                let f = LinearFixed::<$d>::new(l);
                return match &problem.noise {
                    Noise::Constant(n) => work.run_kernel(&f, n, Fixed::<$d>),
                    Noise::Variable(n) => work.run_kernel(&f, n, Fixed::<$d>),
                };
            }};
        }
        match problem.dim() {
            1 => lin!(1),
            2 => lin!(2),
            3 => lin!(3),
            4 => lin!(4),
            _ => {}
        }
    }
    struct Typed<'a, V>(&'a V, usize);
    impl<V: KernelVisitor> ModelVisitor for Typed<'_, V> {
        type Output = V::Output;
        fn visit<B: VectorField, N: Diffusion>(self, b: &B, n: &N) -> Self::Output {
            match self.1 {
                1 => self.0.run_kernel(b, n, Fixed::<1>),
                2 => self.0.run_kernel(b, n, Fixed::<2>),
                3 => self.0.run_kernel(b, n, Fixed::<3>),
                4 => self.0.run_kernel(b, n, Fixed::<4>),
                d => self.0.run_kernel(b, n, Dynamic(d)),
            }
        }
    }
    problem.visit(Typed(work, problem.dim()))
}

/// σ = a(θ*)^{1/2} as a [`Matrix`] (for reports).
pub fn sigma_at<N: Diffusion>(noise: &N, x: &[f64]) -> Option<Matrix> {
    let d = x.len();
    let mut ws = noise.workspace();
    let mut m = Matrix::zeros(d);
    noise.sqrt(x, &mut ws, &mut m.data).then_some(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::{BuildOptions, Drift, Problem};

    #[test]
    fn compiled_linear_drift_and_region_agree_with_the_problem() {
        for name in ["quadratic-2d", "quadratic-anisotropic-3d"] {
            let p = Problem::load(name, &BuildOptions::default()).unwrap();
            let Drift::Linear(lin) = &p.drift else {
                panic!("{name} is linear")
            };
            let d = p.dim();
            let mut rng = stream(3, 4);
            let zig = ZigguratNormal::get();
            for _ in 0..200 {
                let mut x = vec![0.0; d];
                zig.fill(&mut rng, &mut x);
                let (mut b1, mut b2) = (vec![0.0; d], vec![0.0; d]);
                lin.drift(&x, &mut b1);
                match d {
                    2 => LinearFixed::<2>::new(lin).drift(&x, &mut b2),
                    3 => LinearFixed::<3>::new(lin).drift(&x, &mut b2),
                    _ => unreachable!(),
                }
                assert_eq!(b1, b2, "bitwise");
                let g = p.domain.level(&x);
                let outside = match d {
                    2 => Region::new(&p.domain, Fixed::<2>).outside(&x, 2, &mut [0.0; 2]),
                    _ => Region::new(&p.domain, Fixed::<3>).outside(&x, 3, &mut [0.0; 3]),
                };
                if g.abs() > 1e-12 {
                    assert_eq!(outside, g >= 0.0);
                }
                let mut n = vec![0.0; d];
                let mut n2 = vec![0.0; d];
                let sd = p.domain.signed_distance(&x, &mut n);
                p.domain.normal(&x, &mut n);
                let sd2 = match d {
                    2 => Region::new(&p.domain, Fixed::<2>).distance_and_normal(
                        &x,
                        2,
                        &mut n2,
                        &mut [0.0; 2],
                    ),
                    _ => Region::new(&p.domain, Fixed::<3>).distance_and_normal(
                        &x,
                        3,
                        &mut n2,
                        &mut [0.0; 3],
                    ),
                };
                assert!((sd - sd2).abs() < 1e-12 * (1.0 + sd.abs()));
                for i in 0..d {
                    assert!((n[i] - n2[i]).abs() < 1e-12);
                }
            }
        }
    }

    #[test]
    fn fixed_and_dynamic_dimensions_simulate_the_same_trajectories() {
        use crate::problem::Noise;
        let p = Problem::load("quadratic-anisotropic-3d", &BuildOptions::default()).unwrap();
        let (Drift::Linear(lin), Noise::Constant(n)) = (&p.drift, &p.noise) else {
            panic!()
        };
        fn simulate<B: VectorField, N: Diffusion, X: Dim>(
            b: &B,
            n: &N,
            dim: X,
            p: &Problem,
            detection: ExitDetection,
        ) -> Vec<Trajectory> {
            let k = Kernel::new(
                b,
                n,
                dim,
                &p.domain,
                &p.minimum,
                0.6,
                2e-3,
                detection,
                1 << 40,
                9,
            )
            .unwrap();
            let idx: Vec<u64> = (0..64).collect();
            let mut out = Vec::new();
            k.run_chunk(&idx, &mut k.scratch(), &AtomicBool::new(false), &mut |r| {
                out.push(r.ok().unwrap())
            });
            out
        }
        for detection in [ExitDetection::Discrete, ExitDetection::BoundaryCorrected] {
            let fixed = simulate(&LinearFixed::<3>::new(lin), n, Fixed::<3>, &p, detection);
            let dynamic = simulate(lin, n, Dynamic(3), &p, detection);
            assert_eq!(fixed.len(), dynamic.len());
            for (a, b) in fixed.iter().zip(&dynamic) {
                assert_eq!((a.index, a.steps), (b.index, b.steps), "{detection:?}");
            }
        }
    }

    /// The dispatched kernel (compiled for x86-64-v3 where the CPU has it) and the baseline
    /// build simulate bit-identical trajectories: enabling FMA must not change any rounding.
    #[test]
    fn the_dispatched_and_portable_kernels_agree_bit_for_bit() {
        fn both<B: VectorField, N: Diffusion, X: Dim>(b: &B, n: &N, dim: X, p: &Problem) {
            for detection in [ExitDetection::Discrete, ExitDetection::BoundaryCorrected] {
                let k = Kernel::new(
                    b,
                    n,
                    dim,
                    &p.domain,
                    &p.minimum,
                    0.5,
                    1e-3,
                    detection,
                    1 << 40,
                    3,
                )
                .unwrap();
                let idx: Vec<u64> = (0..24).collect();
                let run = |portable: bool| {
                    let mut out = Vec::new();
                    let mut sink = |r: Result<Trajectory, KernelFailure>| out.push(r.ok().unwrap());
                    let cancel = AtomicBool::new(false);
                    crate::simd::FORCE_PORTABLE.with(|f| f.set(portable));
                    k.run_chunk(&idx, &mut k.scratch(), &cancel, &mut sink);
                    crate::simd::FORCE_PORTABLE.with(|f| f.set(false));
                    out
                };
                let (a, b) = (run(false), run(true));
                assert_eq!(a.len(), idx.len());
                for (s, t) in a.iter().zip(&b) {
                    assert_eq!((s.index, s.steps), (t.index, t.steps), "{detection:?}");
                    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&s.point), bits(&t.point), "{detection:?}");
                }
            }
        }
        use crate::problem::Noise;
        let p = Problem::load("quadratic-2d", &BuildOptions::default()).unwrap();
        let (Drift::Linear(lin), Noise::Constant(n)) = (&p.drift, &p.noise) else {
            panic!()
        };
        both(&LinearFixed::<2>::new(lin), n, Fixed::<2>, &p);
        let m = Problem::load("manufactured-anisotropic", &BuildOptions::default()).unwrap();
        let (Drift::Field(f), Noise::Variable(nf)) = (&m.drift, &m.noise) else {
            panic!("manufactured-anisotropic: formula drift and noise field expected")
        };
        both(f, nf, Dynamic(2), &m);
    }

    #[test]
    fn the_corrected_test_skip_bound_changes_nothing() {
        use crate::problem::{Noise, Weight};
        for (name, w) in [
            ("quadratic-2d", Weight::Inverse),
            ("quadratic-anisotropic-3d", Weight::InverseSqrt),
        ] {
            let p = Problem::load(
                name,
                &BuildOptions {
                    weight: Some(w),
                    ..Default::default()
                },
            )
            .unwrap();
            let (Drift::Linear(lin), Noise::Constant(n)) = (&p.drift, &p.noise) else {
                panic!()
            };
            let go = |skip: bool| {
                macro_rules! k {
                    ($d:literal) => {{
                        let f = LinearFixed::<$d>::new(lin);
                        let mut k = Kernel::new(
                            &f,
                            n,
                            Fixed::<$d>,
                            &p.domain,
                            &p.minimum,
                            0.6,
                            2e-3,
                            ExitDetection::BoundaryCorrected,
                            1 << 40,
                            9,
                        )
                        .unwrap();
                        assert!(k.skip_level.is_finite() && k.skip_level < 0.0);
                        if !skip {
                            k.skip_level = f64::NEG_INFINITY;
                        }
                        let mut out = Vec::new();
                        let idx: Vec<u64> = (0..64).collect();
                        k.run_chunk(&idx, &mut k.scratch(), &AtomicBool::new(false), &mut |r| {
                            out.push(r.ok().unwrap())
                        });
                        out
                    }};
                }
                if p.dim() == 2 {
                    k!(2)
                } else {
                    k!(3)
                }
            };
            assert_eq!(go(true), go(false));
        }
    }
}
