//! One AMS repetition as a resumable state machine ([`Splitter`]), and the driver that
//! advances up to [`LANES`] repetitions in lockstep on one thread.
//!
//! With k = 1 each iteration regenerates one replica, so one repetition is a single chain of
//! dependent steps (each step waits for the previous θ). The Monte Carlo engine hides that
//! latency by interleaving four trajectories per thread; here the lanes are four repetitions:
//! each lane extends its repetition's current replica by one step per round, and when the
//! extension ends, that repetition's bookkeeping (level, kills, branching) picks its next
//! replica to extend. Every repetition executes exactly the sequence of operations it would
//! alone, with its own streams, so results do not depend on the grouping.

use super::coordinate::Xi;
use super::replica::{Repetition, Replica, SELECT};
use super::walker::{Failure, Hot, HotJob, Model, Scratch, Walker, Work, XiEval};
use crate::problem::{Diffusion, VectorField};
use crate::sde::kernel::Dim;
use crate::sde::region::Region;
use crate::sde::rng::{stream, Stream};
use rand_xoshiro::rand_core::RngCore;
use std::sync::atomic::{AtomicBool, Ordering};

/// Repetitions interleaved per thread.
pub const LANES: usize = 4;

/// Uniform index in 0..n from a 64-bit word (Lemire's multiply-shift; bias < n/2⁶⁴).
#[inline]
fn below(rng: &mut Stream, n: usize) -> usize {
    ((rng.next_u64() as u128 * n as u128) >> 64) as usize
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Start replica i.
    Init(usize),
    /// Choose the next level.
    Level,
    /// Regenerate the p-th killed replica.
    Kill(usize),
    /// Finished.
    Done,
}

/// The splitting state of one repetition.
pub(crate) struct Splitter<'s> {
    n: usize,
    k: usize,
    d: usize,
    max_iterations: u64,
    seed: u64,
    start: Option<&'s [f64]>,
    entrances: &'s [f64],
    pub reps: Vec<Replica>,
    /// Each replica's score as of the last level (refreshed for the killed ones only).
    scores: Vec<f64>,
    /// All scores must be read (the initial replicas).
    fresh: bool,
    /// Scratch for the k-th lowest score when k > 1.
    sorted: Vec<f64>,
    killed: Vec<usize>,
    sel: Stream,
    phase: Phase,
    level: f64,
    log_w: f64,
    out: Repetition,
}

impl<'s> Splitter<'s> {
    /// N = `n` replicas killing at the `k`-th lowest score. Starting points: `start` when
    /// given, else drawn uniformly from `entrances` (d each). Streams: `seed` with index
    /// (j << 24) | i for replica i at iteration j (j = 0: the initial replicas) and [`SELECT`]
    /// for the draws of starting points and survivors.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        n: usize,
        k: usize,
        d: usize,
        max_iterations: u64,
        seed: u64,
        start: Option<&'s [f64]>,
        entrances: &'s [f64],
    ) -> Self {
        Splitter {
            n,
            k,
            d,
            max_iterations,
            seed,
            start,
            entrances,
            reps: vec![Replica::default(); n],
            scores: vec![0.0; n],
            fresh: true,
            sorted: Vec::new(),
            killed: Vec::with_capacity(n),
            sel: stream(seed, SELECT),
            phase: Phase::Init(0),
            level: 0.0,
            log_w: 0.0,
            out: Repetition::default(),
        }
    }

    /// Do the bookkeeping up to the next replica to extend: its index and stream, or `None`
    /// when the repetition has ended (all reactive, extinction, cap or cancellation).
    pub fn next_job(&mut self, xi: &Xi, cancel: &AtomicBool) -> Option<(usize, Stream)> {
        let d = self.d;
        loop {
            match self.phase {
                Phase::Init(i) if i < self.n => {
                    let x0 = match self.start {
                        Some(x) => x,
                        None => {
                            let e = below(&mut self.sel, self.entrances.len() / d.max(1));
                            &self.entrances[e * d..(e + 1) * d]
                        }
                    };
                    self.reps[i].reset(x0, xi.value(x0));
                    self.phase = Phase::Init(i + 1);
                    return Some((i, stream(self.seed, i as u64)));
                }
                Phase::Init(_) => self.phase = Phase::Level,
                Phase::Level => {
                    // Scores change only for the replicas regenerated since the last level.
                    if self.fresh {
                        for (s, r) in self.scores.iter_mut().zip(&self.reps) {
                            *s = r.score();
                        }
                        self.fresh = false;
                    } else {
                        for &i in &self.killed {
                            self.scores[i] = self.reps[i].score();
                        }
                    }
                    let level = if self.k == 1 {
                        self.scores.iter().copied().fold(f64::INFINITY, f64::min)
                    } else {
                        self.sorted.clear();
                        self.sorted.extend_from_slice(&self.scores);
                        *self
                            .sorted
                            .select_nth_unstable_by(self.k - 1, f64::total_cmp)
                            .1
                    };
                    if level == f64::INFINITY {
                        self.phase = Phase::Done;
                        continue;
                    }
                    self.killed.clear();
                    for (i, s) in self.scores.iter().enumerate() {
                        if *s <= level {
                            self.killed.push(i);
                        }
                    }
                    if self.killed.len() == self.n {
                        self.out.extinct = true;
                        self.log_w = f64::NEG_INFINITY;
                        self.phase = Phase::Done;
                        continue;
                    }
                    if self.out.iterations == self.max_iterations || cancel.load(Ordering::Relaxed)
                    {
                        self.out.censored = true;
                        self.phase = Phase::Done;
                        continue;
                    }
                    self.out.iterations += 1;
                    self.log_w += (1.0 - self.killed.len() as f64 / self.n as f64).ln();
                    self.level = level;
                    self.phase = Phase::Kill(0);
                }
                Phase::Kill(p) if p < self.killed.len() => {
                    self.phase = Phase::Kill(p + 1);
                    let i = self.killed[p];
                    // A survivor uniformly: draws until one scored above the level (scores are
                    // those of the level's decision; regenerated replicas are not candidates).
                    let s = loop {
                        let s = below(&mut self.sel, self.n);
                        if self.scores[s] > self.level {
                            break s;
                        }
                    };
                    let (a, b) = if i < s {
                        let (lo, hi) = self.reps.split_at_mut(s);
                        (&mut lo[i], &hi[0])
                    } else {
                        let (lo, hi) = self.reps.split_at_mut(i);
                        (&mut hi[0], &lo[s])
                    };
                    a.branch_from(b, self.level, d);
                    if a.reactive {
                        continue;
                    }
                    let j = self.out.iterations;
                    return Some((i, stream(self.seed, (j << 24) | i as u64)));
                }
                Phase::Kill(_) => self.phase = Phase::Level,
                Phase::Done => return None,
            }
        }
    }

    /// The repetition's result (after `next_job` returned `None`).
    pub fn finish(mut self) -> Repetition {
        let n = self.n as f64;
        let out = &mut self.out;
        out.weight = self.log_w.exp();
        out.reactive = self.reps.iter().filter(|r| r.reactive).count() as u64;
        out.probability = if out.extinct {
            0.0
        } else {
            out.weight * out.reactive as f64 / n
        };
        out.reactive_steps = self
            .reps
            .iter()
            .filter(|r| r.reactive)
            .map(|r| r.steps)
            .collect();
        out.censored_paths = self.reps.iter().filter(|r| r.censored).count() as u64;
        self.out
    }

    /// Add steps taken for this repetition.
    pub fn add_steps(&mut self, s: u64) {
        self.out.steps += s;
    }
}

/// The state of one lane's extension in progress. The lane holds the replica it extends
/// (moved out of its splitter and back), so the step touches no other memory.
pub(crate) struct Extension<X: Dim> {
    pub active: bool,
    pub x: X::V,
    pub best: f64,
    /// Steps of the path so far, and where the per-path budget ends it.
    pub s: u64,
    pub s0: u64,
    pub end: u64,
    pub rng: Stream,
    /// The replica and its index in the splitter.
    pub rep: Replica,
    pub index: usize,
}

impl<X: Dim> Extension<X> {
    /// An idle lane.
    pub fn new(dim: X) -> Self {
        Extension {
            active: false,
            x: dim.vec(),
            best: 0.0,
            s: 0,
            s0: 0,
            end: 0,
            rng: stream(0, 0),
            rep: Replica::default(),
            index: 0,
        }
    }
}

impl<B: VectorField, N: Diffusion, X: Dim> Walker<'_, '_, B, N, X> {
    /// Run the splitting of every splitter to its end, [`LANES`] at a time in lockstep.
    pub fn run_splitters(
        &self,
        sp: &mut [Splitter],
        cancel: &AtomicBool,
        w: &mut Work<X>,
    ) -> Result<(), Failure> {
        struct Splitting<'s, 't, 'c, 'w, X: Dim>(
            &'s mut [Splitter<'t>],
            &'c AtomicBool,
            &'w mut Work<X>,
        );
        impl<B: VectorField, N: Diffusion, X: Dim> HotJob<B, N, X> for Splitting<'_, '_, '_, '_, X> {
            type Output = Result<(), Failure>;
            fn run<F: XiEval>(self, wk: &Walker<'_, '_, B, N, X>, hot: Hot<'_, F>) -> Self::Output {
                let Splitting(sp, cancel, w) = self;
                #[cfg(target_arch = "x86_64")]
                if crate::simd::x86_v3_available() {
                    // SAFETY: the target features of `splitters_v3` were detected on this CPU.
                    let m = wk.model();
                    return unsafe {
                        wk.splitters_v3(&hot, m.drift, m.noise, m.region, m.sigma, sp, cancel, w)
                    };
                }
                wk.splitters_body(&hot, wk.model(), sp, cancel, w)
            }
        }
        self.with_hot(Splitting(sp, cancel, w))
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx,avx2,fma,bmi1,bmi2,lzcnt,popcnt")]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn splitters_v3<F: XiEval>(
        &self,
        c: &Hot<'_, F>,
        drift: &B,
        noise: &N,
        region: &Region<'_, X>,
        sigma: &X::M,
        sp: &mut [Splitter],
        cancel: &AtomicBool,
        w: &mut Work<X>,
    ) -> Result<(), Failure> {
        let m = Model {
            drift,
            noise,
            region,
            sigma,
        };
        self.splitters_body(c, m, sp, cancel, w)
    }

    #[inline(always)]
    fn splitters_body<F: XiEval>(
        &self,
        c: &Hot<'_, F>,
        m: Model<'_, '_, B, N, X>,
        sp: &mut [Splitter],
        cancel: &AtomicBool,
        w: &mut Work<X>,
    ) -> Result<(), Failure> {
        let c = *c;
        let dim = self.kernel.dim;
        let mut lanes: [Extension<X>; LANES] = std::array::from_fn(|_| Extension::new(dim));
        let mut scratch = Scratch::new(dim);
        // Each lane works on one splitter at a time and takes the next unstarted one when its
        // splitter ends, so lanes stay busy until fewer than LANES splitters remain.
        let mut owner = [usize::MAX; LANES];
        let mut next = 0;
        let take = |sp: &mut [Splitter], e: &mut Extension<X>, o: &mut usize, next: &mut usize| {
            e.active = false;
            while *next < sp.len() {
                *o = *next;
                *next += 1;
                if let Some((i, rng)) = sp[*o].next_job(self.xi, cancel) {
                    self.begin(e, &mut sp[*o].reps, i, rng);
                    return;
                }
            }
            *o = usize::MAX;
        };
        for (e, o) in lanes.iter_mut().zip(owner.iter_mut()) {
            take(sp, e, o, &mut next);
        }
        loop {
            let mut any = false;
            for (e, o) in lanes.iter_mut().zip(owner.iter_mut()) {
                if !e.active {
                    continue;
                }
                any = true;
                if let Some(r) = self.advance(&c, m, e, &mut scratch, w) {
                    let s = &mut sp[*o];
                    s.add_steps(r?);
                    e.active = false;
                    std::mem::swap(&mut s.reps[e.index], &mut e.rep);
                    if let Some((i, rng)) = s.next_job(self.xi, cancel) {
                        self.begin(e, &mut s.reps, i, rng);
                    } else {
                        take(sp, e, o, &mut next);
                    }
                }
            }
            if !any {
                break;
            }
        }
        Ok(())
    }
}
