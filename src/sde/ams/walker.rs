//! The AMS walker: the Monte Carlo engine's Euler–Maruyama step ([`crate::sde::kernel`]):
//! θ ← θ + h b(θ) + ε√h σ(θ) ξ, the same ziggurat normals and the same exit test (discrete or
//! Gobet–Menozzi corrected), built from the same [`Kernel`], with the reaction coordinate
//! evaluated after each step. The exit test comes first (a step that leaves D ends the path as
//! reactive), then the return test ξ(θ) < z_A.
//!
//! **Speed.** One step is a chain of dependent operations, so the walker advances several paths
//! in lockstep (the splitting's repetitions in [`super::splitter`], the loop sampler's chains
//! here), as the Monte Carlo engine interleaves trajectories. Its constants are copied out of
//! the kernel into a [`Hot`] value (registers, not reloads through `&Kernel` after every record
//! push), and the coordinate is a type parameter ([`XiEval`]), chosen once per run.

use super::coordinate::{quadratic_form, Xi};
use super::replica::{LoopSample, Replica};
use super::splitter::{Extension, LANES};
use crate::problem::{Diffusion, NoiseWorkspace, VectorField};
use crate::sde::kernel::{Dim, Kernel};
use crate::sde::region::Region;
use crate::sde::rng::{Stream, ZigguratNormal};

/// Why a path could not be simulated (the point and the step).
#[derive(Clone, Debug)]
pub(crate) enum Failure {
    /// a(θ) not positive definite.
    NotPositiveDefinite(Vec<f64>),
    /// θ became non-finite.
    Diverged(Vec<f64>),
}

/// Per-worker state of the noise (allocated once per repetition group).
pub(crate) struct Work<X: Dim> {
    zig: &'static ZigguratNormal,
    ws: NoiseWorkspace,
    sig: X::M,
}

/// The step's vectors, a local of each hot loop (so that they live in registers).
pub(crate) struct Scratch<X: Dim> {
    b: X::V,
    g: X::V,
    nrm: X::V,
    tmp: X::V,
}

impl<X: Dim> Scratch<X> {
    pub fn new(dim: X) -> Self {
        Scratch {
            b: dim.vec(),
            g: dim.vec(),
            nrm: dim.vec(),
            tmp: dim.vec(),
        }
    }
}

/// The kernel plus the reaction coordinate and A.
pub(crate) struct Walker<'k, 'a, B: VectorField, N: Diffusion, X: Dim> {
    /// Step, exit test and set-up shared with the Monte Carlo engine.
    pub kernel: &'k Kernel<'a, B, N, X>,
    /// ξ, as given (for the splitting's start points).
    pub xi: &'k Xi<'a>,
    /// ξ compiled for this dimension and fused with the exit test.
    fast: FastXi<'k, 'a, X>,
    /// A = {ξ < z_A}.
    pub z_a: f64,
}

/// ξ(θ) given the exit test's level g(θ) at the same point.
pub(crate) trait XiEval {
    fn at(&self, x: &[f64], g: f64) -> f64;
}

/// ξ = a·g + b: `--coordinate level` on every domain whose exit test computes the domain's own
/// level (all but a ball), so no second evaluation per step.
pub(crate) struct FromLevel {
    a: f64,
    b: f64,
}

impl XiEval for FromLevel {
    #[inline(always)]
    fn at(&self, _x: &[f64], g: f64) -> f64 {
        self.a * g + self.b
    }
}

/// ξ = (θ−c)ᵀQ(θ−c) − o on fixed-size arrays (the exact V of a linear problem).
pub(crate) struct QuadraticForm<X: Dim> {
    dim: X,
    c: X::V,
    q: X::M,
    o: f64,
}

impl<X: Dim> XiEval for QuadraticForm<X> {
    #[inline(always)]
    fn at(&self, x: &[f64], _g: f64) -> f64 {
        quadratic_form(X::m(&self.q), self.c.as_ref(), x, self.dim.d()) - self.o
    }
}

/// Any other ξ, as given.
pub(crate) struct General<'k, 'a>(&'k Xi<'a>);

impl XiEval for General<'_, '_> {
    #[inline(always)]
    fn at(&self, x: &[f64], _g: f64) -> f64 {
        self.0.value(x)
    }
}

enum FastXi<'k, 'a, X: Dim> {
    FromLevel(FromLevel),
    Quadratic(QuadraticForm<X>),
    General(General<'k, 'a>),
}

/// What the hot loop reads on every step, copied out of the kernel.
pub(crate) struct Hot<'f, F> {
    pub h: f64,
    pub eps_sqrt_h: f64,
    pub correction: f64,
    pub skip_level: f64,
    pub z_a: f64,
    pub max_steps: u64,
    pub xi: &'f F,
}

impl<F> Clone for Hot<'_, F> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<F> Copy for Hot<'_, F> {}

/// What the step reads of the kernel's model: b, a, the exit test and σ. Each hot loop's
/// function takes these as separate reference arguments ([`Walker::model`] splits them out),
/// because rustc marks a `&T` argument `noalias readonly`: LLVM may then keep b's coefficients
/// and σ in registers across the loop, whose record pushes could otherwise (through the
/// kernel's nested references) have changed them. Measured: 13 → 5 instructions per 2-D
/// linear drift evaluation.
pub(crate) struct Model<'p, 'a, B, N, X: Dim> {
    pub drift: &'p B,
    pub noise: &'p N,
    pub region: &'p Region<'a, X>,
    pub sigma: &'p X::M,
}

impl<B, N, X: Dim> Clone for Model<'_, '_, B, N, X> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<B, N, X: Dim> Copy for Model<'_, '_, B, N, X> {}

/// Code generic over the coordinate's evaluator, run with the walker's (see
/// [`Walker::with_hot`]).
pub(crate) trait HotJob<B: VectorField, N: Diffusion, X: Dim> {
    type Output;
    fn run<F: XiEval>(self, walker: &Walker<'_, '_, B, N, X>, hot: Hot<'_, F>) -> Self::Output;
}

impl<'k, 'a, B: VectorField, N: Diffusion, X: Dim> Walker<'k, 'a, B, N, X> {
    /// The walker for `kernel`, ξ and z_A.
    pub fn new(kernel: &'k Kernel<'a, B, N, X>, xi: &'k Xi<'a>, z_a: f64) -> Self {
        let d = kernel.dim.d();
        let fast = match xi {
            Xi::Level { g0, s, .. } if kernel.region.level_is_domain_level() => {
                FastXi::FromLevel(FromLevel { a: *s, b: -g0 * s })
            }
            Xi::Quadratic { c, q, o } if c.len() == d => {
                let mut cv = kernel.dim.vec();
                cv.as_mut().copy_from_slice(c);
                let mut qm = kernel.dim.mat();
                X::m_mut(&mut qm).copy_from_slice(q);
                FastXi::Quadratic(QuadraticForm {
                    dim: kernel.dim,
                    c: cv,
                    q: qm,
                    o: *o,
                })
            }
            other => FastXi::General(General(other)),
        };
        Walker {
            kernel,
            xi,
            fast,
            z_a,
        }
    }

    /// Run `job` with the hot constants and the coordinate's evaluator as a type (one
    /// monomorphised loop per kind of ξ instead of a match on every step).
    pub fn with_hot<J: HotJob<B, N, X>>(&self, job: J) -> J::Output {
        let k = self.kernel;
        macro_rules! hot {
            ($f:expr) => {
                Hot {
                    h: k.h,
                    eps_sqrt_h: k.eps_sqrt_h,
                    correction: k.correction,
                    skip_level: k.skip_level,
                    z_a: self.z_a,
                    max_steps: k.max_steps,
                    xi: $f,
                }
            };
        }
        match &self.fast {
            FastXi::FromLevel(f) => job.run(self, hot!(f)),
            FastXi::Quadratic(f) => job.run(self, hot!(f)),
            FastXi::General(f) => job.run(self, hot!(f)),
        }
    }

    /// ξ(x), given the exit test's level g at x (through the same evaluator as the hot loop).
    #[cfg(test)]
    fn xi_at(&self, x: &[f64], g: f64) -> f64 {
        match &self.fast {
            FastXi::FromLevel(f) => f.at(x, g),
            FastXi::Quadratic(f) => f.at(x, g),
            FastXi::General(f) => f.at(x, g),
        }
    }

    /// The kernel's model, split into the reference arguments of a hot loop's function.
    pub fn model(&self) -> Model<'k, 'a, B, N, X> {
        let k = self.kernel;
        Model {
            drift: k.drift,
            noise: k.noise,
            region: &k.region,
            sigma: &k.sigma,
        }
    }

    /// Scratch for one worker.
    pub fn work(&self) -> Work<X> {
        let dim = self.kernel.dim;
        Work {
            zig: ZigguratNormal::get(),
            ws: self.kernel.noise.workspace(),
            sig: dim.mat(),
        }
    }

    /// One Euler–Maruyama step of x in place, the Monte Carlo kernel's operations in its order;
    /// returns whether x left (the corrected) D, and ξ at the new point (meaningless when it
    /// left).
    #[inline(always)]
    pub fn step<F: XiEval>(
        &self,
        c: &Hot<'_, F>,
        k: Model<'_, '_, B, N, X>,
        x: &mut [f64],
        rng: &mut Stream,
        t: &mut Scratch<X>,
        w: &mut Work<X>,
    ) -> Result<(bool, f64), Failure> {
        let d = self.kernel.dim.d();
        // A literal of the noise type, so each kind of noise gets its own loop.
        let constant = k.noise.is_constant();
        // The normals first: the ziggurat's rare tail is an opaque call, and b stored before it
        // would have to be reloaded from memory after it (a 16-byte load of two 8-byte stores
        // in 2-D, which cannot be forwarded: measured 3× slower steps than the MC engine's).
        w.zig.fill(rng, t.g.as_mut());
        k.drift.drift(x, t.b.as_mut());
        if !constant && !k.noise.sqrt(x, &mut w.ws, X::m_mut(&mut w.sig)) {
            return Err(Failure::NotPositiveDefinite(x.to_vec()));
        }
        let sig = if constant {
            X::m(k.sigma)
        } else {
            X::m(&w.sig)
        };
        let (bs, gs) = (t.b.as_ref(), t.g.as_ref());
        for i in 0..d {
            let s = crate::linalg::dot(&sig[i * d..(i + 1) * d], gs);
            x[i] += c.h * bs[i] + c.eps_sqrt_h * s;
        }
        let g = k.region.level_fast(x, d, t.tmp.as_mut());
        let exited = if c.correction > 0.0 {
            if g < c.skip_level {
                false
            } else {
                let dist = k
                    .region
                    .distance_and_normal(x, d, t.nrm.as_mut(), t.tmp.as_mut());
                let sig_now = if constant {
                    X::m(k.sigma)
                } else if k.noise.sqrt(x, &mut w.ws, X::m_mut(&mut w.sig)) {
                    X::m(&w.sig)
                } else {
                    return Err(Failure::NotPositiveDefinite(x.to_vec()));
                };
                let ns = t.nrm.as_ref();
                let mut sn2 = 0.0;
                for j in 0..d {
                    let s = crate::linalg::dot(&sig_now[j * d..(j + 1) * d], ns);
                    sn2 += s * s;
                }
                !(dist + c.correction * sn2.sqrt() < 0.0)
            }
        } else {
            !(g < 0.0)
        };
        if exited {
            if x.iter().any(|v| !v.is_finite()) {
                return Err(Failure::Diverged(x.to_vec()));
            }
            return Ok((true, f64::INFINITY));
        }
        Ok((false, c.xi.at(x, g)))
    }

    /// Continue `rep` from its last record with fresh noise from `rng` until it returns to A,
    /// leaves D or reaches `max_steps` new steps; returns the steps taken. (The splitting runs
    /// the same [`Self::begin`]/[`Self::advance`] pair interleaved over repetitions.)
    #[cfg(test)]
    pub fn extend(&self, rep: &mut Replica, rng: Stream, w: &mut Work<X>) -> Result<u64, Failure> {
        struct Extend<'r, 'w, X: Dim>(&'r mut Replica, Stream, &'w mut Work<X>);
        impl<B: VectorField, N: Diffusion, X: Dim> HotJob<B, N, X> for Extend<'_, '_, X> {
            type Output = Result<u64, Failure>;
            fn run<F: XiEval>(self, wk: &Walker<'_, '_, B, N, X>, hot: Hot<'_, F>) -> Self::Output {
                let Extend(rep, rng, w) = self;
                let mut e = Extension::new(wk.kernel.dim);
                let mut t = Scratch::new(wk.kernel.dim);
                wk.begin(&mut e, std::slice::from_mut(rep), 0, rng);
                loop {
                    if let Some(r) = wk.advance(&hot, wk.model(), &mut e, &mut t, w) {
                        std::mem::swap(rep, &mut e.rep);
                        return r;
                    }
                }
            }
        }
        self.with_hot(Extend(rep, rng, w))
    }

    /// Set up lane `e` to extend replica `i` of `reps` (moved into the lane until it ends)
    /// from its last record with `rng`.
    #[inline]
    pub fn begin(&self, e: &mut Extension<X>, reps: &mut [Replica], i: usize, rng: Stream) {
        let d = self.kernel.dim.d();
        std::mem::swap(&mut e.rep, &mut reps[i]);
        let rep = &e.rep;
        let last = rep.rec_xi.len() - 1;
        e.x.as_mut()
            .copy_from_slice(&rep.rec_x[last * d..(last + 1) * d]);
        e.best = rep.rec_xi[last];
        e.s0 = rep.rec_step[last];
        e.s = e.s0;
        e.end = e.s0 + self.kernel.max_steps;
        e.rng = rng;
        e.index = i;
        e.active = true;
    }

    /// One step of the extension `e`: `Some(steps taken)` when the path has ended (returned to
    /// A, left D, or reached the step budget), `None` to continue.
    #[inline(always)]
    pub fn advance<F: XiEval>(
        &self,
        c: &Hot<'_, F>,
        m: Model<'_, '_, B, N, X>,
        e: &mut Extension<X>,
        t: &mut Scratch<X>,
        w: &mut Work<X>,
    ) -> Option<Result<u64, Failure>> {
        let rep = &mut e.rep;
        if e.s == e.end {
            rep.censored = true;
            rep.steps = e.s;
            return Some(Ok(e.s - e.s0));
        }
        e.s += 1;
        let xs = e.x.as_mut();
        let v = match self.step(c, m, xs, &mut e.rng, t, w) {
            Err(f) => return Some(Err(f)),
            Ok((true, _)) => {
                // The exit point closes the records (ξ = +∞ there), so that a clone of this
                // path branched above every earlier record copies it whole.
                rep.reactive = true;
                rep.rec_step.push(e.s);
                rep.rec_xi.push(f64::INFINITY);
                rep.rec_x.extend_from_slice(xs);
                rep.steps = e.s;
                return Some(Ok(e.s - e.s0));
            }
            Ok((false, v)) => v,
        };
        if v < c.z_a {
            rep.steps = e.s;
            return Some(Ok(e.s - e.s0));
        }
        if v > e.best {
            e.best = v;
            rep.rec_step.push(e.s);
            rep.rec_xi.push(v);
            rep.rec_x.extend_from_slice(xs);
        }
        None
    }

    /// Run every chain to its end, [`LANES`] at a time in lockstep.
    pub fn run_chains(&self, chains: &mut [Chain<X>], w: &mut Work<X>) -> Result<(), Failure> {
        struct Chains<'c, 'w, X: Dim>(&'c mut [Chain<X>], &'w mut Work<X>);
        impl<B: VectorField, N: Diffusion, X: Dim> HotJob<B, N, X> for Chains<'_, '_, X> {
            type Output = Result<(), Failure>;
            fn run<F: XiEval>(self, wk: &Walker<'_, '_, B, N, X>, hot: Hot<'_, F>) -> Self::Output {
                #[cfg(target_arch = "x86_64")]
                if crate::simd::x86_v3_available() {
                    // SAFETY: the target features of `chains_v3` were detected on this CPU.
                    let m = wk.model();
                    return unsafe {
                        wk.chains_v3(&hot, m.drift, m.noise, m.region, m.sigma, self.0, self.1)
                    };
                }
                wk.chains_body(&hot, wk.model(), self.0, self.1)
            }
        }
        self.with_hot(Chains(chains, w))
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx,avx2,fma,bmi1,bmi2,lzcnt,popcnt")]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn chains_v3<F: XiEval>(
        &self,
        c: &Hot<'_, F>,
        drift: &B,
        noise: &N,
        region: &Region<'_, X>,
        sigma: &X::M,
        chains: &mut [Chain<X>],
        w: &mut Work<X>,
    ) -> Result<(), Failure> {
        let m = Model {
            drift,
            noise,
            region,
            sigma,
        };
        self.chains_body(c, m, chains, w)
    }

    #[inline(always)]
    fn chains_body<F: XiEval>(
        &self,
        c: &Hot<'_, F>,
        m: Model<'_, '_, B, N, X>,
        chains: &mut [Chain<X>],
        w: &mut Work<X>,
    ) -> Result<(), Failure> {
        let mut t = Scratch::new(self.kernel.dim);
        let mut lanes = [usize::MAX; LANES];
        let mut next = 0;
        for l in lanes.iter_mut() {
            if next < chains.len() {
                *l = next;
                next += 1;
            }
        }
        loop {
            let mut any = false;
            for l in lanes.iter_mut() {
                if *l == usize::MAX {
                    continue;
                }
                any = true;
                if self.chain_step(c, m, &mut chains[*l], &mut t, w)? {
                    *l = if next < chains.len() {
                        next += 1;
                        next - 1
                    } else {
                        usize::MAX
                    };
                }
            }
            if !any {
                return Ok(());
            }
        }
    }

    /// One step of an ordinary chain from θ*; true when it has ended (its loops seen, its phase
    /// budget reached, or exits so frequent that they are not rare). Each time the chain
    /// leaves D it restarts at θ* (a new first-entrance sample).
    #[inline(always)]
    fn chain_step<F: XiEval>(
        &self,
        c: &Hot<'_, F>,
        m: Model<'_, '_, B, N, X>,
        ch: &mut Chain<X>,
        t: &mut Scratch<X>,
        w: &mut Work<X>,
    ) -> Result<bool, Failure> {
        let out = &mut ch.out;
        if ch.done >= ch.want {
            return Ok(true);
        }
        if ch.phase == c.max_steps {
            out.censored += 1;
            return Ok(true);
        }
        ch.phase += 1;
        ch.since_start += 1;
        out.steps += 1;
        let xs = ch.x.as_mut();
        let (exited, v) = self.step(c, m, xs, &mut ch.rng, t, w)?;
        if exited {
            if ch.in_a {
                out.jumps += 1;
            } else {
                out.direct_exits += 1;
            }
            if out.direct_exits + out.jumps > 10 * ch.want as u64 + 100 {
                // Not a rare event: every excursion leaves D.
                return Ok(true);
            }
            xs.copy_from_slice(self.kernel.start.as_ref());
            ch.in_a = true;
            ch.first = true;
            ch.since_start = 0;
            ch.phase = 0;
            return Ok(false);
        }
        if ch.in_a {
            if v >= c.z_a {
                if ch.first {
                    out.first_entrance.push(ch.since_start);
                    ch.first = false;
                } else {
                    out.loops.push(ch.since_start - ch.last_entrance);
                    ch.done += 1;
                }
                ch.last_entrance = ch.since_start;
                out.entrances.extend_from_slice(xs);
                out.excursions += 1;
                ch.in_a = false;
                ch.phase = 0;
            }
        } else if v < c.z_a {
            ch.in_a = true;
            ch.phase = 0;
        }
        Ok(false)
    }

    /// A chain from θ* that will sample `loops` complete loops with `rng`.
    pub fn chain(&self, loops: usize, rng: Stream) -> Chain<X> {
        Chain {
            x: self.kernel.start.clone(),
            rng,
            want: loops,
            done: 0,
            in_a: true,
            first: true,
            since_start: 0,
            last_entrance: 0,
            phase: 0,
            out: LoopSample::default(),
        }
    }
}

/// One ordinary chain from θ* in progress: the loop sampler as a resumable state machine, so
/// that the chains of a repetition run interleaved (one chain alone waits on every step for
/// the previous θ).
pub(crate) struct Chain<X: Dim> {
    x: X::V,
    rng: Stream,
    /// Complete loops wanted and seen.
    want: usize,
    done: usize,
    in_a: bool,
    /// No entrance since the last (re)start at θ*.
    first: bool,
    /// Steps since the last (re)start.
    since_start: u64,
    last_entrance: u64,
    /// Steps in the current phase (in A, or on an excursion).
    phase: u64,
    /// What the chain has sampled.
    pub out: LoopSample,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::{BuildOptions, Drift, Noise, Problem};
    use crate::sde::ams::coordinate::compile;
    use crate::sde::ams::Coordinate;
    use crate::sde::kernel::Fixed;
    use crate::sde::rng::stream;
    use crate::sde::ExitDetection;

    /// The walker's ξ, evaluated from the exit test's level (or its own compiled form), equals
    /// ξ as given on every kind of domain.
    #[test]
    fn walker_coordinate_equals_the_given_one() {
        let p = Problem::load("quadratic-2d", &BuildOptions::default()).unwrap();
        let (Drift::Linear(b), Noise::Constant(n)) = (&p.drift, &p.noise) else {
            panic!("quadratic-2d: linear drift, constant noise")
        };
        let exact = compile(&p, Coordinate::Exact, 0).unwrap();
        let zig = crate::sde::rng::ZigguratNormal::get();
        for dom in &crate::sde::region::tests::every_domain_kind_2d() {
            let k = Kernel::new(
                b,
                n,
                Fixed::<2>,
                dom,
                &p.minimum,
                0.3,
                1e-3,
                ExitDetection::Discrete,
                100,
                1,
            )
            .unwrap();
            let g0 = dom.level(&p.minimum);
            let level = Xi::Level {
                domain: dom,
                g0,
                s: 1.0 / -g0,
            };
            for xi in [&level, &exact] {
                let w = Walker::new(&k, xi, 0.1);
                let mut rng = stream(9, 1);
                for _ in 0..300 {
                    let mut x = [0.0; 2];
                    zig.fill(&mut rng, &mut x);
                    let g = k.region.level_fast(&x, 2, &mut [0.0; 2]);
                    let (got, want) = (w.xi_at(&x, g), xi.value(&x));
                    assert!(
                        (got - want).abs() < 1e-12 * (1.0 + want.abs()),
                        "{}: {got} vs {want}",
                        dom.kind()
                    );
                }
            }
        }
    }
}
