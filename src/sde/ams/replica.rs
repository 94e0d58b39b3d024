//! What AMS samples: replicas (excursions from ∂A until they return to A or leave D), the
//! ordinary runs from θ* that sample loops and entrance points, and one repetition's outcome.
//! The paths themselves are simulated by [`super::walker`].
//!
//! **Replicas store only their running-maximum records.** Branching a killed replica at level
//! z copies a survivor "up to the first time its ξ exceeds z": that time is a record time (ξ
//! there exceeds every earlier value), so a path is represented by the (step, ξ, θ) of its
//! records — the exact prefix state at every possible branching point — instead of the whole
//! path. Records are strictly increasing in ξ, so the branch point is found by binary search.
//! A clone keeps only its branch record: the levels of later iterations are never below z, so
//! no later branching can start from a record ≤ z (copying the prefix made the splitting's
//! bookkeeping a quarter of its time on short excursions, through cache misses).

use serde::{Deserialize, Serialize};

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

    /// Become a copy of `src` up to its first record above `level`, keeping that record only
    /// (the state where the copy continues; every later level is ≥ `level`).
    pub(crate) fn branch_from(&mut self, src: &Replica, level: f64, d: usize) {
        let r = src.rec_xi.partition_point(|v| *v <= level);
        debug_assert!(r < src.rec_xi.len());
        self.rec_step.clear();
        self.rec_xi.clear();
        self.rec_x.clear();
        self.rec_step.push(src.rec_step[r]);
        self.rec_xi.push(src.rec_xi[r]);
        self.rec_x.extend_from_slice(&src.rec_x[r * d..(r + 1) * d]);
        // Branched at the exit point itself: the copy is the whole reactive path.
        self.reactive = src.rec_xi[r] == f64::INFINITY;
        self.steps = src.rec_step[r];
        self.censored = false;
    }
}

/// Loops and entrance points sampled by ordinary runs from θ* (one repetition).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoopSample {
    /// Steps from θ* to the first entrance into ∂A (one per chain start).
    pub first_entrance: Vec<u64>,
    /// Steps of each complete loop: entrance into ∂A → return to A → next entrance.
    pub loops: Vec<u64>,
    /// The entrance points (d each); only the splitting uses them, so a shard's report leaves
    /// them out.
    #[serde(skip)]
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

impl LoopSample {
    /// Add what another chain sampled after this one's.
    pub fn append(&mut self, other: LoopSample) {
        self.first_entrance.extend(other.first_entrance);
        self.loops.extend(other.loops);
        self.entrances.extend(other.entrances);
        self.excursions += other.excursions;
        self.direct_exits += other.direct_exits;
        self.jumps += other.jumps;
        self.censored += other.censored;
        self.steps += other.steps;
    }
}

/// The outcome of one AMS repetition (all a level's statistics are assembled from these).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Repetition {
    /// m, 0 ≤ m < M.
    pub index: usize,
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

/// Stream index of the selection draws (starting points and survivors) of a repetition.
pub(crate) const SELECT: u64 = u64::MAX;
/// Stream index base of the ordinary chains of a repetition (chain c uses CHAINS − c).
pub(crate) const CHAINS: u64 = u64::MAX - 1;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::{BuildOptions, Drift, Noise, Problem};
    use crate::sde::ams::coordinate::compile;
    use crate::sde::ams::walker::Walker;
    use crate::sde::ams::Coordinate;
    use crate::sde::kernel::Fixed;
    use crate::sde::kernel::Kernel;
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
                assert_eq!(c.rec_xi, [r.rec_xi[1]]);
                assert_eq!(c.rec_x, r.rec_x[1..2]);
                assert_eq!(c.steps, r.rec_step[1]);
                assert_eq!(c.score(), r.rec_xi[1]);
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
}
