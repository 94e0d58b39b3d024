//! Why a Monte Carlo trajectory diverged: a drift that is singular where the trajectory went,
//! or a step h too large for the drift there. Outside the hot kernel: the diverged trajectory
//! is re-simulated (its numbers depend only on its index) up to the step before it failed.

use super::kernel::{Dim, Kernel, KernelFailure, Status};
use super::ExitDetection;
use crate::error::Error;
use crate::problem::check::{fmt_number, fmt_theta, singular_drift};
use crate::problem::{Diffusion, Problem, VectorField};
use std::sync::atomic::AtomicBool;

/// Everything needed to rebuild the level's kernel.
pub(crate) struct Level<'a> {
    pub problem: &'a Problem,
    pub eps: f64,
    pub dt: f64,
    pub detection: ExitDetection,
    pub seed: u64,
}

/// The error for a trajectory among `candidates` (indices that produced no trajectory) that
/// became non-finite at step `step` (state `x`): evaluates b at the last finite state and names
/// a singular drift there before blaming the step size.
pub(crate) fn diverged_error<B: VectorField, N: Diffusion, X: Dim>(
    b: &B,
    n: &N,
    dim: X,
    level: &Level,
    candidates: &[u64],
    x: &[f64],
    step: u64,
) -> Error {
    let last = last_finite_state(b, n, dim, level, candidates, step);
    let p = level.problem;
    if let Some(prev) = &last {
        let bx = p.drift.eval(prev);
        if bx.iter().any(|v| !v.is_finite()) {
            return singular_drift(
                prev,
                &bx,
                &format!(
                    "inside D, where a trajectory arrived at step {} (ε = {})",
                    step - 1,
                    level.eps
                ),
            );
        }
    }
    let at = match &last {
        Some(prev) => {
            let bx = p.drift.eval(prev);
            let nb = crate::linalg::norm(&bx);
            format!(
                "from θ = {} with finite b (|b| = {}, h·|b| = {})",
                fmt_theta(prev),
                fmt_number(nb),
                fmt_number(level.dt * nb)
            )
        }
        None => format!("at θ = {}", fmt_theta(x)),
    };
    Error::numerical(
        "Euler–Maruyama",
        format!(
            "a trajectory diverged at step {step} {at} (ε = {}): h = {} is too large for this drift away from θ*; reduce --dt",
            level.eps, level.dt
        ),
    )
}

/// Re-simulate the candidates with the step budget `step − 1`: the one that diverged at `step`
/// is censored there, at its last finite state.
fn last_finite_state<B: VectorField, N: Diffusion, X: Dim>(
    b: &B,
    n: &N,
    dim: X,
    level: &Level,
    candidates: &[u64],
    step: u64,
) -> Option<Vec<f64>> {
    if step < 2 {
        return Some(level.problem.minimum.clone());
    }
    let p = level.problem;
    let rebuild = |max_steps: u64| {
        Kernel::new(
            b,
            n,
            dim,
            &p.domain,
            &p.minimum,
            level.eps,
            level.dt,
            level.detection,
            max_steps,
            level.seed,
        )
    };
    let (full, short) = (rebuild(step)?, rebuild(step - 1)?);
    let cancel = AtomicBool::new(false);
    // A few candidates at most: each re-run costs one trajectory.
    for &i in candidates.iter().take(8) {
        let mut failed_here = false;
        full.run_chunk(&[i], &mut full.scratch(), &cancel, &mut |r| {
            failed_here = matches!(r, Err(KernelFailure::Diverged(_, s)) if s == step);
        });
        if !failed_here {
            continue;
        }
        let mut last = None;
        short.run_chunk(&[i], &mut short.scratch(), &cancel, &mut |r| {
            if let Ok(t) = r {
                if t.status == Status::Censored {
                    last = Some(t.point);
                }
            }
        });
        if last.is_some() {
            return last;
        }
    }
    None
}
