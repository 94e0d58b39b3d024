//! The AMS kernels: excursions of the Euler–Maruyama chain from ∂A until they return to A or
//! leave D (one replica), ordinary runs from θ* that sample loops and entrance points, and one
//! repetition of the splitting algorithm.
//!
//! The step is the Monte Carlo engine's ([`crate::sde::kernel`]): θ ← θ + h b(θ) + ε√h σ(θ) ξ,
//! the same ziggurat normals, the same exit test (discrete or Gobet–Menozzi corrected), built
//! from the same [`Kernel`] set-up. After each step the exit test comes first (a step that
//! leaves D ends the path as reactive), then the return test ξ(θ) < z_A.
//!
//! **Replicas store only their running-maximum records.** Branching a killed replica at level
//! z copies a survivor "up to the first time its ξ exceeds z": that time is a record time (ξ
//! there exceeds every earlier value), so a path is represented by the (step, ξ, θ) of its
//! records — the exact prefix state at every possible branching point — instead of the whole
//! path. Records are strictly increasing in ξ, so the branch point is found by binary search.

use super::coordinate::Xi;
use super::splitter::Extension;
use crate::problem::{Diffusion, NoiseWorkspace, VectorField};
use crate::sde::kernel::{Dim, Kernel};
use crate::sde::rng::{Stream, ZigguratNormal};

/// Why a path could not be simulated (the point and the step).
#[derive(Clone, Debug)]
pub(crate) enum Failure {
    /// a(θ) not positive definite.
    NotPositiveDefinite(Vec<f64>),
    /// θ became non-finite.
    Diverged(Vec<f64>),
}

/// Per-worker scratch (allocated once per repetition).
pub(crate) struct Work<X: Dim> {
    zig: &'static ZigguratNormal,
    constant: bool,
    ws: NoiseWorkspace,
    sig: X::M,
    b: X::V,
    g: X::V,
    nrm: X::V,
    tmp: X::V,
}

/// One replica: its running-maximum records and how it ended.
#[derive(Clone, Debug, Default)]
pub(crate) struct Replica {
    /// Step index (from the start on ∂A) of each record.
    pub rec_step: Vec<u64>,
    /// ξ at each record (strictly increasing; +∞ at the exit point of a reactive path).
    pub rec_xi: Vec<f64>,
    /// θ at each record, d per record.
    pub rec_x: Vec<f64>,
    /// Path length in steps (start on ∂A to its end).
    pub steps: u64,
    /// Left D (score +∞).
    pub reactive: bool,
    /// Reached the per-path step budget before ending.
    pub censored: bool,
}

impl Replica {
    /// The score: max ξ along the path, +∞ when reactive.
    #[inline]
    pub fn score(&self) -> f64 {
        if self.reactive {
            f64::INFINITY
        } else {
            *self.rec_xi.last().unwrap_or(&f64::NEG_INFINITY)
        }
    }

    /// Start at x (ξ(x) = v) on ∂A.
    pub(crate) fn reset(&mut self, x: &[f64], v: f64) {
        self.rec_step.clear();
        self.rec_xi.clear();
        self.rec_x.clear();
        self.rec_step.push(0);
        self.rec_xi.push(v);
        self.rec_x.extend_from_slice(x);
        self.steps = 0;
        self.reactive = false;
        self.censored = false;
    }

    /// Become a copy of `src` up to its first record above `level` (inclusive).
    pub(crate) fn branch_from(&mut self, src: &Replica, level: f64, d: usize) {
        let r = src.rec_xi.partition_point(|v| *v <= level);
        debug_assert!(r < src.rec_xi.len());
        self.rec_step.clear();
        self.rec_xi.clear();
        self.rec_x.clear();
        self.rec_step.extend_from_slice(&src.rec_step[..=r]);
        self.rec_xi.extend_from_slice(&src.rec_xi[..=r]);
        self.rec_x.extend_from_slice(&src.rec_x[..(r + 1) * d]);
        // Branched at the exit point itself: the copy is the whole reactive path.
        self.reactive = self.rec_xi[r] == f64::INFINITY;
        self.steps = self.rec_step[r];
        self.censored = false;
    }
}

/// Loops and entrance points sampled by ordinary runs from θ* (one repetition).
#[derive(Clone, Debug, Default)]
pub(crate) struct LoopSample {
    /// Steps from θ* to the first entrance into ∂A (one per chain start).
    pub first_entrance: Vec<u64>,
    /// Steps of each complete loop: entrance into ∂A → return to A → next entrance.
    pub loops: Vec<u64>,
    /// The entrance points (d each).
    pub entrances: Vec<f64>,
    /// Excursions from ∂A started.
    pub excursions: u64,
    /// Excursions that left D (the chain then restarts at θ*).
    pub direct_exits: u64,
    /// Steps from inside A straight out of D (not an excursion; the chain restarts).
    pub jumps: u64,
    /// A phase reached the per-path step budget (the chain stopped there).
    pub censored: u64,
    /// Steps taken.
    pub steps: u64,
}

/// The outcome of one AMS repetition.
#[derive(Clone, Debug, Default)]
pub(crate) struct Repetition {
    /// p̂ = ∏(1 − Kⱼ/N) · (reactive at the end)/N.
    pub probability: f64,
    /// ∏(1 − Kⱼ/N).
    pub weight: f64,
    /// Iterations (levels) J.
    pub iterations: u64,
    /// All replicas were at or below the level (p̂ = 0).
    pub extinct: bool,
    /// Stopped by the iteration cap (or cancellation) before the end.
    pub censored: bool,
    /// Replicas reactive at the end.
    pub reactive: u64,
    /// Their durations in steps.
    pub reactive_steps: Vec<u64>,
    /// Paths that reached the per-path step budget.
    pub censored_paths: u64,
    /// Steps of the splitting part.
    pub steps: u64,
    /// The ordinary runs (absent with a fixed start).
    pub loops: LoopSample,
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

/// ξ specialised for the walker: evaluated from the exit test's own level g when ξ is an
/// affine function of it (`--coordinate level` on every domain but a ball: no second
/// evaluation per step), on fixed-size arrays for a quadratic form, else as given.
enum FastXi<'k, 'a, X: Dim> {
    /// ξ = a·g + b.
    FromLevel { a: f64, b: f64 },
    /// ξ = (θ−c)ᵀQ(θ−c) − o.
    Quadratic { c: X::V, q: X::M, o: f64 },
    /// Anything else.
    General(&'k Xi<'a>),
}

impl<'k, 'a, B: VectorField, N: Diffusion, X: Dim> Walker<'k, 'a, B, N, X> {
    /// The walker for `kernel`, ξ and z_A.
    pub fn new(kernel: &'k Kernel<'a, B, N, X>, xi: &'k Xi<'a>, z_a: f64) -> Self {
        let d = kernel.dim.d();
        let fast = match xi {
            Xi::Level { g0, s, .. } if kernel.region.level_is_domain_level() => {
                FastXi::FromLevel { a: *s, b: -g0 * s }
            }
            Xi::Quadratic { c, q, o } if c.len() == d => {
                let mut cv = kernel.dim.vec();
                cv.as_mut().copy_from_slice(c);
                let mut qm = kernel.dim.mat();
                X::m_mut(&mut qm).copy_from_slice(q);
                FastXi::Quadratic {
                    c: cv,
                    q: qm,
                    o: *o,
                }
            }
            other => FastXi::General(other),
        };
        Walker {
            kernel,
            xi,
            fast,
            z_a,
        }
    }

    /// ξ(x), given the exit test's level g at x.
    #[inline(always)]
    fn xi_at(&self, x: &[f64], g: f64) -> f64 {
        match &self.fast {
            FastXi::FromLevel { a, b } => a * g + b,
            FastXi::Quadratic { c, q, o } => {
                let d = self.kernel.dim.d();
                let (c, q) = (c.as_ref(), X::m(q));
                let mut s = 0.0;
                for i in 0..d {
                    let mut r = 0.0;
                    for j in 0..d {
                        r += q[i * d + j] * (x[j] - c[j]);
                    }
                    s += (x[i] - c[i]) * r;
                }
                s - o
            }
            FastXi::General(xi) => xi.value(x),
        }
    }

    /// Scratch for one worker.
    pub fn work(&self) -> Work<X> {
        let dim = self.kernel.dim;
        Work {
            zig: ZigguratNormal::get(),
            constant: self.kernel.noise.is_constant(),
            ws: self.kernel.noise.workspace(),
            sig: dim.mat(),
            b: dim.vec(),
            g: dim.vec(),
            nrm: dim.vec(),
            tmp: dim.vec(),
        }
    }

    /// One Euler–Maruyama step of x in place, the Monte Carlo kernel's operations in its order;
    /// returns whether x left (the corrected) D, and ξ at the new point (meaningless when it
    /// left).
    #[inline(always)]
    fn step(
        &self,
        x: &mut [f64],
        rng: &mut Stream,
        w: &mut Work<X>,
    ) -> Result<(bool, f64), Failure> {
        let k = self.kernel;
        let d = k.dim.d();
        let constant = w.constant;
        k.drift.drift(x, w.b.as_mut());
        if !constant && !k.noise.sqrt(x, &mut w.ws, X::m_mut(&mut w.sig)) {
            return Err(Failure::NotPositiveDefinite(x.to_vec()));
        }
        let sig = if constant {
            X::m(&k.sigma)
        } else {
            X::m(&w.sig)
        };
        w.zig.fill(rng, w.g.as_mut());
        let (bs, gs) = (w.b.as_ref(), w.g.as_ref());
        for i in 0..d {
            let s = crate::linalg::dot(&sig[i * d..(i + 1) * d], gs);
            x[i] += k.h * bs[i] + k.eps_sqrt_h * s;
        }
        let g = k.region.level_fast(x, d, w.tmp.as_mut());
        let exited = if k.correction > 0.0 {
            if g < k.skip_level {
                false
            } else {
                let dist = k
                    .region
                    .distance_and_normal(x, d, w.nrm.as_mut(), w.tmp.as_mut());
                let sig_now = if constant {
                    X::m(&k.sigma)
                } else if k.noise.sqrt(x, &mut w.ws, X::m_mut(&mut w.sig)) {
                    X::m(&w.sig)
                } else {
                    return Err(Failure::NotPositiveDefinite(x.to_vec()));
                };
                let ns = w.nrm.as_ref();
                let mut sn2 = 0.0;
                for j in 0..d {
                    let s = crate::linalg::dot(&sig_now[j * d..(j + 1) * d], ns);
                    sn2 += s * s;
                }
                !(dist + k.correction * sn2.sqrt() < 0.0)
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
        Ok((false, self.xi_at(x, g)))
    }

    /// Continue `rep` from its last record with fresh noise from `rng` until it returns to A,
    /// leaves D or reaches `max_steps` new steps; returns the steps taken. (The splitting runs
    /// the same [`Self::begin`]/[`Self::advance`] pair interleaved over repetitions.)
    #[cfg(test)]
    pub fn extend(&self, rep: &mut Replica, rng: Stream, w: &mut Work<X>) -> Result<u64, Failure> {
        let mut e = Extension {
            active: false,
            x: self.kernel.dim.vec(),
            best: 0.0,
            s: 0,
            s0: 0,
            rng: crate::sde::rng::stream(0, 0),
            rep: 0,
        };
        self.begin(&mut e, rep, 0, rng);
        loop {
            if let Some(r) = self.advance(&mut e, rep, w) {
                return r;
            }
        }
    }

    /// Set up lane `e` to extend replica `i` (= `rep`) from its last record with `rng`.
    #[inline]
    pub fn begin(&self, e: &mut Extension<X>, rep: &Replica, i: usize, rng: Stream) {
        let d = self.kernel.dim.d();
        let last = rep.rec_xi.len() - 1;
        e.x.as_mut()
            .copy_from_slice(&rep.rec_x[last * d..(last + 1) * d]);
        e.best = rep.rec_xi[last];
        e.s0 = rep.rec_step[last];
        e.s = e.s0;
        e.rng = rng;
        e.rep = i;
        e.active = true;
    }

    /// One step of the extension `e` of `rep`: `Some(steps taken)` when the path has ended
    /// (returned to A, left D, or reached the step budget), `None` to continue.
    #[inline(always)]
    pub fn advance(
        &self,
        e: &mut Extension<X>,
        rep: &mut Replica,
        w: &mut Work<X>,
    ) -> Option<Result<u64, Failure>> {
        if e.s - e.s0 == self.kernel.max_steps {
            rep.censored = true;
            rep.steps = e.s;
            return Some(Ok(e.s - e.s0));
        }
        e.s += 1;
        let xs = e.x.as_mut();
        let v = match self.step(xs, &mut e.rng, w) {
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
        if v < self.z_a {
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

    /// One ordinary chain from θ*: run until `loops` complete loops have been seen, appending
    /// to `out`. Each time the chain leaves D it restarts at θ* (a new first-entrance sample).
    pub fn chain(
        &self,
        loops: usize,
        rng: &mut Stream,
        w: &mut Work<X>,
        out: &mut LoopSample,
    ) -> Result<(), Failure> {
        let d = self.kernel.dim.d();
        let start = self.kernel.start.clone();
        let mut x = self.kernel.start.clone();
        let xs = x.as_mut();
        let budget = self.kernel.max_steps;
        let mut done = 0usize;
        let mut in_a = true;
        let mut first = true; // no entrance since the last start at θ*
        let mut since_start = 0u64; // steps since the last (re)start
        let mut last_entrance = 0u64;
        let mut phase = 0u64; // steps in the current phase
        while done < loops {
            if phase == budget {
                out.censored += 1;
                break;
            }
            phase += 1;
            since_start += 1;
            out.steps += 1;
            let (exited, v) = self.step(xs, rng, w)?;
            if exited {
                if in_a {
                    out.jumps += 1;
                } else {
                    out.direct_exits += 1;
                }
                if out.direct_exits + out.jumps > 10 * loops as u64 + 100 {
                    // Not a rare event: every excursion leaves D.
                    break;
                }
                xs.copy_from_slice(start.as_ref());
                in_a = true;
                first = true;
                since_start = 0;
                phase = 0;
                continue;
            }
            if in_a {
                if v >= self.z_a {
                    if first {
                        out.first_entrance.push(since_start);
                        first = false;
                    } else {
                        out.loops.push(since_start - last_entrance);
                        done += 1;
                    }
                    last_entrance = since_start;
                    out.entrances.extend_from_slice(&xs[..d]);
                    out.excursions += 1;
                    in_a = false;
                    phase = 0;
                }
            } else if v < self.z_a {
                in_a = true;
                phase = 0;
            }
        }
        Ok(())
    }
}

/// Stream index of the selection draws (starting points and survivors) of a repetition.
pub(crate) const SELECT: u64 = u64::MAX;
/// Stream index base of the ordinary chains of a repetition (chain c uses CHAINS − c).
pub(crate) const CHAINS: u64 = u64::MAX - 1;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::{BuildOptions, Drift, Noise, Problem};
    use crate::sde::ams::coordinate::compile;
    use crate::sde::ams::Coordinate;
    use crate::sde::kernel::Fixed;
    use crate::sde::rng::stream;
    use crate::sde::ExitDetection;

    /// Records are the strict running maxima of ξ, the score is the last one, and a branch at
    /// level z copies exactly the records up to the first one above z.
    #[test]
    fn records_are_running_maxima_and_branching_copies_the_prefix() {
        let p = Problem::load("double-well-1d", &BuildOptions::default()).unwrap();
        let (Drift::Native(b), Noise::Constant(n)) = (&p.drift, &p.noise) else {
            panic!("double-well-1d: native drift, constant noise")
        };
        let k = Kernel::new(
            b,
            n,
            Fixed::<1>,
            &p.domain,
            &p.minimum,
            0.4,
            1e-3,
            ExitDetection::Discrete,
            1 << 30,
            1,
        )
        .unwrap();
        let xi = compile(&p, Coordinate::Level, 0).unwrap();
        let w = Walker::new(&k, &xi, 0.1);
        let mut work = w.work();
        let mut some_reactive = false;
        for i in 0..200u64 {
            let mut r = Replica::default();
            let x0 = [-0.85];
            r.reset(&x0, xi.value(&x0));
            let steps = w.extend(&mut r, stream(3, i), &mut work).unwrap();
            assert_eq!(steps, r.steps);
            assert!(r.rec_xi.windows(2).all(|v| v[0] < v[1]));
            assert!(r.rec_step.windows(2).all(|v| v[0] < v[1]));
            assert_eq!(r.rec_x.len(), r.rec_xi.len());
            some_reactive |= r.reactive;
            if r.rec_xi.len() > 2 {
                let level = 0.5 * (r.rec_xi[0] + r.rec_xi[1]);
                let mut c = Replica::default();
                c.branch_from(&r, level, 1);
                assert_eq!(c.rec_xi.len(), 2);
                assert_eq!(c.rec_x[1], r.rec_x[1]);
                assert_eq!(c.steps, r.rec_step[1]);
            }
            if !r.reactive {
                // Non-reactive: ended in A at its last step, score = last record.
                assert_eq!(r.score(), *r.rec_xi.last().unwrap());
            } else {
                assert_eq!(r.score(), f64::INFINITY);
                assert!(p.domain.level(&r.rec_x[r.rec_x.len() - 1..]) >= 0.0);
            }
        }
        assert!(some_reactive, "ε = 0.4 from −0.85: some excursions reach 0");
    }

    /// The walker's ξ, evaluated from the exit test's level (or its own compiled form), equals
    /// ξ as given on every kind of domain.
    #[test]
    fn walker_coordinate_equals_the_given_one() {
        use crate::linalg::Matrix;
        use crate::problem::{Domain, Loss};
        let p = Problem::load("quadratic-2d", &BuildOptions::default()).unwrap();
        let (Drift::Linear(b), Noise::Constant(n)) = (&p.drift, &p.noise) else {
            panic!("quadratic-2d: linear drift, constant noise")
        };
        let m = |data: Vec<f64>| Matrix { n: 2, data };
        let domains = [
            Domain::LevelSet {
                loss: Loss::Quadratic {
                    hessian: m(vec![2.0, 0.3, 0.3, 1.0]),
                    center: vec![0.1, -0.2],
                },
                base: 0.0,
                depth: 0.7,
            },
            Domain::Ellipsoid {
                center: vec![0.2, 0.0],
                q: m(vec![1.0, 0.2, 0.2, 0.5]),
            },
            Domain::Ball {
                center: vec![0.0, 0.3],
                radius: 1.2,
            },
            Domain::HalfSpace {
                normal: vec![0.6, 0.8],
                offset: 0.4,
            },
            Domain::Box {
                lo: vec![-1.0, -0.5],
                hi: vec![0.8, 1.5],
            },
        ];
        let exact = compile(&p, Coordinate::Exact, 0).unwrap();
        let zig = crate::sde::rng::ZigguratNormal::get();
        for dom in &domains {
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
