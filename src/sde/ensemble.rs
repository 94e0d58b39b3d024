//! Ensembles: validation, the parallel loop over trajectories, streaming/resume, and the
//! assembly of a report (merging shards is in [`super::merge`]).

// `!(a < b)` is deliberate: NaN counts as "outside"/"degenerate". Index loops mirror the
// formulas in the numerical kernels.
#![allow(clippy::neg_cmp_op_on_partial_ord, clippy::needless_range_loop)]

use super::kernel::{dispatch, Dim, Kernel, KernelFailure, KernelVisitor, Status, Trajectory};
use super::rng::level_seed;
use super::stream::{repair, stale_results, Manifest, StreamInfo, StreamWriter, MANIFEST, STREAM};
use super::{
    Config, Hooks, LevelReport, Progress, ReferenceV0, Report, Stiffness, Termination, Timing,
};
use crate::analysis::{fit_arrhenius, ArrheniusPoint, ExitStatistics};
use crate::error::{Error, Result};
use crate::problem::check::fmt_number;
use crate::problem::{Diffusion, Problem, VectorField};
use rayon::prelude::*;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Run the ensemble(s) of `config` on `problem` with no hooks (no cancellation, no progress).
pub fn run(problem: &Problem, config: &Config) -> Result<Report> {
    run_with(problem, config, &Hooks::default())
}

/// The stability bound of the Euler step at θ* (see [`Stiffness`]).
pub fn stiffness(problem: &Problem) -> Result<Stiffness> {
    let j = problem.jacobian_at_minimum();
    let eig = j
        .to_faer()
        .eigenvalues()
        .map_err(|e| Error::numerical("Jacobian at θ*", format!("{e:?}")))?;
    let mut rho: f64 = 0.0;
    let mut h_max = f64::INFINITY;
    for z in eig.iter() {
        let m2 = z.re * z.re + z.im * z.im;
        rho = rho.max(m2.sqrt());
        if m2 > 0.0 {
            h_max = h_max.min(-2.0 * z.re / m2);
        }
    }
    Ok(Stiffness {
        spectral_radius: rho,
        h_max,
    })
}

/// What a report says about the problem (shared by runs and merges).
pub(super) struct Meta {
    pub(super) problem: String,
    pub(super) fingerprint: String,
    pub(super) dim: usize,
    pub(super) weight: String,
    pub(super) noise_source: String,
    pub(super) sigma: String,
    pub(super) domain: String,
    pub(super) stiffness: Stiffness,
    pub(super) v0_reference: Option<ReferenceV0>,
}

pub(super) fn meta(problem: &Problem, config: &Config) -> Result<Meta> {
    let v0_reference = if let Some(v0) = config.predicted_v0 {
        Some(ReferenceV0 {
            v0,
            source: "given".into(),
        })
    } else if let Ok(b) = crate::exact::quasi_potential_barrier(problem) {
        Some(ReferenceV0 {
            v0: b.v0,
            source: format!("exact ({})", b.method),
        })
    } else {
        problem.reference.v0.map(|v0| ReferenceV0 {
            v0,
            source: problem
                .reference
                .source
                .clone()
                .unwrap_or_else(|| "problem file".into()),
        })
    };
    Ok(Meta {
        problem: problem.name.clone(),
        fingerprint: super::stream::fingerprint(problem),
        dim: problem.dim(),
        weight: problem.noise_description.weight.name().into(),
        noise_source: problem.noise_description.source.clone(),
        sigma: if problem.noise.is_constant() {
            "constant: symmetric root a^{1/2}, computed once".into()
        } else {
            "state-dependent: symmetric root a(θ)^{1/2} by eigendecomposition at every step".into()
        },
        domain: problem.domain.kind().into(),
        stiffness: stiffness(problem)?,
        v0_reference,
    })
}

/// Run with hooks: cancellation (set `hooks.cancel` from a Ctrl-C handler) and progress.
///
/// Errors: invalid settings (naming the flag), h beyond the stability bound 2/ρ(J(θ*)), a resume
/// directory from another run (saying what differs), a(θ) not positive definite at a visited
/// point, a diverging trajectory, or an I/O failure on the stream file.
pub fn run_with(problem: &Problem, config: &Config, hooks: &Hooks) -> Result<Report> {
    config.validate()?;
    check_memory(config, problem.dim(), false)?;
    let meta = meta(problem, config)?;
    let hflag = if config.sgd.is_some() { "--lr" } else { "--dt" };
    let st = &meta.stiffness;
    if config.dt >= st.h_max {
        return Err(Error::invalid(
            hflag,
            format!(
                "h = {} is at or beyond the Euler–Maruyama stability bound h < 2/ρ(J(θ*)) = {:.4e} (ρ = {:.4e}): the drift step would diverge; use a step well below the bound",
                config.dt, st.h_max, st.spectral_radius
            ),
        ));
    }
    let mut warnings = Vec::new();
    if config.dt > 0.1 * st.h_max {
        warnings.push(format!(
            "h = {} is more than a tenth of the stability bound 2/ρ(J(θ*)) = {:.4e}: the O(h) discretisation bias of the exit time may be large",
            config.dt, st.h_max
        ));
    }
    let levels = config.eps.len();
    let dim = problem.dim();
    let manifest = Manifest::new(problem, config);
    let range = config
        .shard
        .map_or(0..config.runs, |s| s.range(config.runs));
    let mut done: Vec<Vec<Trajectory>> = vec![Vec::new(); levels];
    let writer = match &config.out {
        None => None,
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| Error::Io {
                path: dir.display().to_string(),
                source: e,
            })?;
            if config.resume {
                let old = Manifest::read(dir).map_err(|e| {
                    Error::invalid(
                        "--resume",
                        format!("{}: nothing to resume ({e})", dir.display()),
                    )
                })?;
                if let Some(why) = manifest.mismatch(&old, true) {
                    return Err(Error::invalid(
                        "--resume",
                        format!("refusing to resume {}: {why}", dir.display()),
                    ));
                }
                // Append to what is on disk (after cutting off a torn last row), never rewrite
                // it: a kill during the resume then cannot lose a finished trajectory.
                let rep = repair(dir, levels, dim, range.clone())?;
                warnings.extend(rep.notes);
                for (path, rows) in stale_results(dir, rep.rows) {
                    warnings.push(format!(
                        "{} was stale: it summarised {rows} rows of {STREAM}, which holds {} (the run was killed before its results were rewritten); it is recomputed",
                        path.display(),
                        rep.rows
                    ));
                }
                done = rep.done;
                Some(StreamWriter::append(dir, rep.rows)?)
            } else {
                let stream = dir.join(STREAM);
                if std::fs::metadata(&stream).is_ok_and(|m| m.len() > 0) {
                    return Err(Error::invalid(
                        "--out",
                        if dir.join(MANIFEST).exists() {
                            format!(
                                "{} already holds an exit run; pass --resume to continue it, or choose another directory",
                                dir.display()
                            )
                        } else {
                            format!(
                                "{} holds {STREAM} but no {MANIFEST}: it cannot be resumed, and a new run would overwrite it; move it away or choose another directory",
                                dir.display()
                            )
                        },
                    ));
                }
                manifest.write(dir)?;
                Some(StreamWriter::create(dir, dim)?)
            }
        }
    };
    let cancel = hooks
        .cancel
        .clone()
        .unwrap_or_else(|| Arc::new(AtomicBool::new(false)));
    let start = Instant::now();
    let mut steps = 0u64;
    let mut all = Vec::with_capacity(levels);
    for (level, &eps) in config.eps.iter().enumerate() {
        let have: HashSet<u64> = done[level].iter().map(|t| t.index).collect();
        let todo: Vec<u64> = range.clone().filter(|i| !have.contains(i)).collect();
        let base_censored = done[level]
            .iter()
            .filter(|t| t.status == Status::Censored)
            .count() as u64;
        let job = LevelJob {
            problem,
            config,
            level,
            eps,
            todo: &todo,
            cancel: &cancel,
            writer: writer.as_ref(),
            hooks,
            total: range.end - range.start,
            done: AtomicU64::new(have.len() as u64),
            censored: AtomicU64::new(base_censored),
            io_error: Mutex::new(None),
        };
        let new = job.dispatch()?;
        if let Some(e) = job.io_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
            return Err(e);
        }
        steps += new.iter().map(|t| t.steps).sum::<u64>();
        let mut ts = std::mem::take(&mut done[level]);
        ts.extend(new);
        ts.sort_by_key(|t| t.index);
        all.push(ts);
    }
    if let Some(w) = &writer {
        w.flush()?;
    }
    let wall = start.elapsed().as_secs_f64();
    let timing = Timing {
        wall_s: wall,
        steps,
        steps_per_s: steps as f64 / wall.max(1e-12),
    };
    let expected = range.end - range.start;
    let mut report = assemble(&meta, config.clone(), all, expected, timing, warnings)?;
    report.stream = writer.as_ref().map(|w| StreamInfo { rows: w.rows() });
    Ok(report)
}

/// Estimated peak bytes of a run of `runs` trajectories per level at `levels` levels in d
/// dimensions: every level's trajectories stay in the report (the struct and its exit point, a
/// heap block of 8d bytes rounded up to malloc's 16-byte chunks, at least 32); while a level
/// runs, its index list, the kernel's results and the sorted copy; and the per-run arrays of the
/// analysis (exit times, flags, sorted exit times, the exit points of the diagnostics).
pub fn estimated_bytes(runs: u64, levels: usize, dim: usize) -> u64 {
    use crate::resources::product;
    use std::mem::size_of;
    let point = (8 * dim as u64 + 8).div_ceil(16).max(2) * 16;
    let kept = size_of::<Trajectory>() as u64 + point;
    let running = 8
        + size_of::<std::result::Result<Trajectory, KernelFailure>>() as u64
        + size_of::<Trajectory>() as u64;
    let analysis = 8 + 1 + 8 + size_of::<Vec<f64>>() as u64 + point;
    product(&[
        runs,
        (levels as u64)
            .saturating_mul(kept)
            .saturating_add(running + analysis),
    ])
}

/// Refuse a run (or a merge, `merging`) whose trajectories would not fit in memory, before any
/// is allocated. Front-ends call it before they create output directories, so that a refused
/// run leaves nothing behind.
pub fn check_memory(config: &Config, dim: usize, merging: bool) -> Result<()> {
    use crate::resources::{available_bytes, check_memory_against, largest_fitting, Estimate};
    let runs = match config.shard {
        Some(s) if !merging => {
            let r = s.range(config.runs);
            r.end - r.start
        }
        _ => config.runs,
    };
    let levels = config.eps.len();
    let need = estimated_bytes(runs, levels, dim);
    let cap = available_bytes();
    if need <= cap {
        return Ok(());
    }
    let per = need / runs.max(1);
    let fits = largest_fitting(1, runs, cap, |r| estimated_bytes(r, levels, dim));
    let shard = config.shard.filter(|_| !merging);
    check_memory_against(
        Estimate {
            flag: if merging { "merge" } else { "--runs" },
            value: config.runs.to_string(),
            what: if merging {
                "merging the shards (every trajectory of the run is held for the statistics)"
            } else {
                "the Monte Carlo run (every trajectory is held for the statistics)"
            },
            bytes: need,
            formula: format!(
                "{runs} trajectories{} × {levels} noise level{} in d = {dim}, {per} bytes each",
                if shard.is_some() { " in this shard" } else { "" },
                if levels == 1 { "" } else { "s" }
            ),
            advice: match (fits, shard) {
                (None, _) => "even one trajectory does not fit; free memory".into(),
                (Some(r), None) if merging => format!(
                    "merge on a machine with more memory, or run with --runs ≤ {r}"
                ),
                (Some(r), None) => format!("use --runs ≤ {r}"),
                (Some(r), Some(_)) => format!(
                    "use more shards, with at most {r} trajectories each (`quasipot merge` then needs the memory of the whole run)"
                ),
            },
        },
        cap,
    )
}

struct LevelJob<'a> {
    problem: &'a Problem,
    config: &'a Config,
    level: usize,
    eps: f64,
    todo: &'a [u64],
    cancel: &'a AtomicBool,
    writer: Option<&'a StreamWriter>,
    hooks: &'a Hooks,
    total: u64,
    done: AtomicU64,
    censored: AtomicU64,
    io_error: Mutex<Option<Error>>,
}

impl KernelVisitor for LevelJob<'_> {
    type Output = Result<Vec<Trajectory>>;
    fn run_kernel<B: VectorField, N: Diffusion, X: Dim>(
        &self,
        b: &B,
        n: &N,
        dim: X,
    ) -> Self::Output {
        self.go(b, n, dim)
    }
}

/// Most trajectories per rayon task (each task interleaves them [`super::kernel::LANES`] at a time).
const CHUNK: usize = 32;

impl LevelJob<'_> {
    /// Monomorphised on the problem's drift, noise and dimension ([`dispatch`]).
    fn dispatch(&self) -> Result<Vec<Trajectory>> {
        dispatch(self.problem, self)
    }

    fn finished(&self, t: &Trajectory, levels: usize) {
        if let Some(w) = self.writer {
            if let Err(e) = w.push(self.level, t) {
                let mut g = self.io_error.lock().unwrap_or_else(|e| e.into_inner());
                g.get_or_insert(e);
            }
        }
        if t.status == Status::Interrupted {
            return;
        }
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        let censored = if t.status == Status::Censored {
            self.censored.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            self.censored.load(Ordering::Relaxed)
        };
        if let Some(f) = &self.hooks.progress {
            f(&Progress {
                level: self.level,
                levels,
                eps: self.eps,
                done,
                censored,
                total: self.total,
            });
        }
    }

    fn go<B: VectorField, N: Diffusion, X: Dim>(
        &self,
        b: &B,
        n: &N,
        dim: X,
    ) -> Result<Vec<Trajectory>> {
        let p = self.problem;
        let c = self.config;
        let kernel = Kernel::new(
            b,
            n,
            dim,
            &p.domain,
            &p.minimum,
            self.eps,
            c.dt,
            c.detection,
            c.max_steps,
            level_seed(c.seed, self.level),
        )
        .ok_or_else(|| Error::NotPositiveDefinite {
            field: "noise".into(),
            detail: format!(
                "a(θ*) is not positive definite at θ* = {}",
                crate::problem::check::fmt_theta(&p.minimum)
            ),
        })?;
        let levels = c.eps.len();
        // Small chunks when trajectories are few, so that threads stay balanced (exit times
        // are roughly exponential: one chunk can hold a long one). Results do not depend on it.
        let chunk = (self.todo.len() / (8 * rayon::current_num_threads())).clamp(1, CHUNK);
        let results: Vec<std::result::Result<Trajectory, KernelFailure>> = self
            .todo
            .par_chunks(chunk)
            .map_init(
                || kernel.scratch(),
                |scratch, chunk| {
                    let mut got = Vec::with_capacity(chunk.len());
                    kernel.run_chunk(chunk, scratch, self.cancel, &mut |r| {
                        if let Ok(t) = &r {
                            self.finished(t, levels);
                        }
                        got.push(r);
                    });
                    got
                },
            )
            .flatten_iter()
            .collect();
        let mut out = Vec::with_capacity(results.len());
        // Indices that produced no trajectory (only needed to explain a divergence).
        let failed: Vec<u64> = if results.iter().any(|r| r.is_err()) {
            let ok: std::collections::HashSet<u64> =
                results.iter().flatten().map(|t| t.index).collect();
            self.todo
                .iter()
                .copied()
                .filter(|i| !ok.contains(i))
                .collect()
        } else {
            Vec::new()
        };
        for r in results {
            match r {
                Ok(t) => out.push(t),
                Err(KernelFailure::NotPositiveDefinite(x, step)) => {
                    return Err(Error::NotPositiveDefinite {
                        field: "noise".into(),
                        detail: format!(
                            "a(θ) is not positive definite at θ = {x:?} (step {step}, ε = {})",
                            self.eps
                        ),
                    })
                }
                Err(KernelFailure::Diverged(x, step)) => {
                    // Name a singular drift at the last finite state before blaming h.
                    let level = super::divergence::Level {
                        problem: p,
                        eps: self.eps,
                        dt: c.dt,
                        detection: c.detection,
                        seed: level_seed(c.seed, self.level),
                    };
                    return Err(super::divergence::diverged_error(
                        b, n, dim, &level, &failed, &x, step,
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// Build the report from the trajectories of each level (sorted by index); `expected` is the
/// number of indices the run was asked for per level.
pub(super) fn assemble(
    meta: &Meta,
    config: Config,
    trajectories: Vec<Vec<Trajectory>>,
    expected: u64,
    timing: Timing,
    mut warnings: Vec<String>,
) -> Result<Report> {
    let h = config.dt;
    let mut levels = Vec::with_capacity(trajectories.len());
    let mut incomplete = false;
    for (l, ts) in trajectories.iter().enumerate() {
        let eps = config.eps[l];
        let times: Vec<f64> = ts.iter().map(|t| t.steps as f64 * h).collect();
        let exited: Vec<bool> = ts.iter().map(|t| t.status == Status::Exited).collect();
        let stats = ExitStatistics::new(
            &times,
            &exited,
            config.bootstrap,
            level_seed(config.seed, l) ^ 0xB007_5784_0000_0001,
            config.bins,
        );
        let count = |s: Status| ts.iter().filter(|t| t.status == s).count() as u64;
        let (n_exit, n_cens, n_int) = (
            count(Status::Exited),
            count(Status::Censored),
            count(Status::Interrupted),
        );
        let not_run = expected.saturating_sub(ts.len() as u64);
        incomplete |= not_run > 0 || n_int > 0;
        if n_cens > 0 {
            warnings.push(format!(
                "ε = {}: {n_cens} of {} trajectories reached the step budget ({} steps = time {}) and are censored: {}, and {:.6e} is a lower bound", fmt_number(eps),
                ts.len(),
                config.max_steps,
                config.max_steps as f64 * h,
                match stats.mean {
                    Some(m) => format!("the mean is the exponential (survival-based) estimate {m:.6e}"),
                    None => "no mean can be estimated".into(),
                },
                stats.mean_lower_bound
            ));
        }
        if n_exit == 0 && !ts.is_empty() {
            warnings.push(format!(
                "ε = {}: no trajectory left D within the budget; E[τ] > {:.6e}",
                fmt_number(eps),
                stats.mean_lower_bound
            ));
        }
        let d = meta.dim;
        let mean_exit_point = (n_exit > 0).then(|| {
            let mut m = vec![0.0; d];
            for t in ts.iter().filter(|t| t.status == Status::Exited) {
                for i in 0..d {
                    m[i] += t.point[i];
                }
            }
            m.iter().map(|v| v / n_exit as f64).collect()
        });
        levels.push(LevelReport {
            eps,
            inv_eps2: 1.0 / (eps * eps),
            batch: config.sgd.as_ref().map(|s| s.batch[l]),
            runs: ts.len() as u64,
            exited: n_exit,
            censored: n_cens,
            interrupted: n_int,
            not_run,
            mean_iterations: stats.mean.map(|m| m / h),
            ci95_iterations: stats.ci95.map(|[a, b]| [a / h, b / h]),
            mean_exit_point,
            stats,
        });
    }
    let points: Vec<ArrheniusPoint> = levels
        .iter()
        .filter_map(|l| {
            Some(ArrheniusPoint {
                eps: l.eps,
                mean: l.stats.mean?,
                log_se: l.stats.log_mean_se?,
            })
        })
        .collect();
    let arrhenius = if levels.len() >= 2 {
        match fit_arrhenius(&points, config.prefactor_exponent) {
            Ok(f) => Some(f),
            Err(e) => {
                warnings.push(format!("no Arrhenius fit: {e}"));
                None
            }
        }
    } else {
        None
    };
    let v0_in_ci95 = arrhenius
        .as_ref()
        .zip(meta.v0_reference.as_ref())
        .map(|(f, r)| f.covers(r.v0));
    if incomplete {
        warnings.push(
            "the run was interrupted: trajectories in flight are counted as censored at the time reached, those not started are missing (see not_run); --resume completes it"
                .into(),
        );
    }
    Ok(Report {
        method: "euler-maruyama".into(),
        problem: meta.problem.clone(),
        fingerprint: meta.fingerprint.clone(),
        dim: meta.dim,
        weight: meta.weight.clone(),
        noise_source: meta.noise_source.clone(),
        sigma: meta.sigma.clone(),
        domain: meta.domain.clone(),
        dt: h,
        detection: config.detection,
        config,
        levels,
        arrhenius,
        v0_reference: meta.v0_reference.clone(),
        v0_in_ci95,
        stiffness: meta.stiffness.clone(),
        termination: if incomplete {
            Termination::Interrupted
        } else {
            Termination::Completed
        },
        warnings,
        timing,
        trajectories,
        stream: None,
    })
}
