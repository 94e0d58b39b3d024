//! The driver: validation, coordinate and z_A per level, the parallel loop over (level,
//! repetition), and the assembly of the report.

use super::coordinate::{check_increasing, compile, default_z_a, Xi};
use super::estimator::{combine_probability, mean_var};
use super::replica::{LoopSample, Repetition, CHAINS};
use super::splitter::{Splitter, LANES};
use super::walker::{Failure, Walker};
use super::{Config, Level, RepetitionSummary, Report, Timing};
use crate::error::{Error, Result};
use crate::problem::check::{fmt_number, fmt_theta};
use crate::problem::{Diffusion, Problem, VectorField};
use crate::sde::kernel::{dispatch, Dim, Kernel, KernelVisitor};
use crate::sde::rng::{level_seed, splitmix64, stream};
use crate::sde::{Hooks, Progress};
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Run AMS with no hooks.
pub fn run(problem: &Problem, config: &Config) -> Result<Report> {
    run_with(problem, config, &Hooks::default())
}

/// The seed of repetition `rep` of noise level `level`.
pub fn repetition_seed(seed: u64, level: usize, rep: usize) -> u64 {
    splitmix64(level_seed(seed, level) ^ splitmix64(rep as u64))
}

/// Run AMS with hooks: `progress` is called after each finished repetition (`done` counts
/// repetitions of that level), `cancel` ends running repetitions at their next iteration
/// (reported as censored).
///
/// Errors: invalid settings (naming the flag), a coordinate that is not increasing toward ∂D
/// or does not apply (`--coordinate`), h beyond the stability bound (`--dt`), a start point
/// outside D or inside A (`start`), a(θ) not positive definite or a diverging path.
pub fn run_with(problem: &Problem, config: &Config, hooks: &Hooks) -> Result<Report> {
    let (xi, z_as, mut warnings) = prepare(problem, config)?;
    let job = Job {
        problem,
        config,
        xi: &xi,
        z_as: &z_as,
        hooks,
        done: (0..config.eps.len()).map(|_| AtomicU64::new(0)).collect(),
        cancel: hooks
            .cancel
            .clone()
            .unwrap_or_else(|| Arc::new(AtomicBool::new(false))),
    };
    let t0 = Instant::now();
    let results = job.dispatch()?;
    let wall = t0.elapsed().as_secs_f64();
    let mut levels = Vec::with_capacity(results.len());
    for (l, reps) in results.iter().enumerate() {
        levels.push(assemble(config, l, z_as[l], reps, &mut warnings));
    }
    let steps = levels.iter().map(|l| l.steps).sum();
    Ok(Report {
        method: "ams".into(),
        problem: problem.name.clone(),
        dim: problem.dim(),
        weight: problem.noise_description.weight.name().into(),
        domain: problem.domain.kind().into(),
        coordinate: config.coordinate,
        config: config.clone(),
        levels,
        warnings,
        timing: Timing {
            wall_s: wall,
            steps,
            steps_per_s: steps as f64 / wall.max(1e-12),
        },
        fingerprint: crate::sde::stream::fingerprint(problem),
        interrupted: job.cancel.load(Ordering::Relaxed),
        shard_repetitions: if config.shard.is_some() {
            results
        } else {
            Vec::new()
        },
    })
}

/// Everything before the simulation, shared by [`run_with`] and the merge of shards: the
/// settings checked, ξ compiled, z_A per level (checked against ξ) and the warnings they give.
pub(crate) fn prepare<'p>(
    problem: &'p Problem,
    config: &Config,
) -> Result<(Xi<'p>, Vec<f64>, Vec<String>)> {
    config.validate()?;
    check_replica_memory(
        config,
        problem.dim(),
        rayon::current_num_threads(),
        crate::resources::available_bytes(),
    )?;
    let st = crate::sde::ensemble::stiffness(problem)?;
    if config.dt >= st.h_max {
        return Err(Error::invalid(
            "--dt",
            format!(
                "h = {} is at or beyond the Euler–Maruyama stability bound 2/ρ(J(θ*)) = {:.4e}",
                config.dt, st.h_max
            ),
        ));
    }
    let xi = compile(problem, config.coordinate, config.olim_grid)?;
    let name = config.coordinate.name();
    let mut warnings = Vec::new();
    let mut z_as = Vec::with_capacity(config.eps.len());
    for &eps in &config.eps {
        let z = match config.z_a {
            Some(z) => z,
            None => {
                let (z, capped) = default_z_a(problem, &xi, eps)?;
                if capped {
                    warnings.push(format!(
                        "ε = {}: the default z_A (0.9-quantile of ξ near θ*) exceeds 0.5 and is capped there: the exit is not rare at this noise level", fmt_number(eps)
                    ));
                }
                z
            }
        };
        check_increasing(problem, &xi, z, name)?;
        z_as.push(z);
    }
    if let Some(s) = &config.start {
        if s.len() != problem.dim() || !problem.domain.contains(s) {
            return Err(Error::invalid(
                "start",
                format!(
                    "the start point {s:?} must be a point of D (d = {})",
                    problem.dim()
                ),
            ));
        }
        let v = xi.value(s);
        if let Some(z) = z_as.iter().find(|z| !(v >= **z)) {
            return Err(Error::invalid(
                "start",
                format!("ξ(start) = {v} is below z_A = {z}: the start must lie outside A"),
            ));
        }
    }
    Ok((xi, z_as, warnings))
}

/// Refuse a replica count whose live replicas cannot fit, before any is allocated: every
/// repetition running at once (`per` interleaved on each of `threads` threads, as in
/// `dispatch`) holds N replicas, each with at least two records of θ (more as its path climbs),
/// so the estimate is a lower bound.
fn check_replica_memory(config: &Config, dim: usize, threads: usize, cap: u64) -> Result<()> {
    use crate::resources::{check_memory_against, largest_fitting, product, Estimate};
    let mine = match config.shard {
        Some(s) => {
            let r = s.range(config.repetitions as u64);
            (r.end - r.start) as usize
        }
        None => config.repetitions,
    };
    let per = mine.div_ceil(threads.max(1)).clamp(1, 4 * LANES);
    let live = (threads.max(1) * per).min(mine * config.eps.len()).max(1) as u64;
    let per_replica = (std::mem::size_of::<super::replica::Replica>() + 2 * (16 + 8 * dim)) as u64;
    let need = |n: u64| product(&[live, n, per_replica]);
    let fits = largest_fitting(2, config.replicas as u64, cap, need);
    check_memory_against(
        Estimate {
            flag: "--replicas",
            value: config.replicas.to_string(),
            what: "the AMS replicas",
            bytes: need(config.replicas as u64),
            formula: format!(
                "at least {live} repetitions at once × {} replicas × {per_replica} bytes in d = {dim}",
                config.replicas
            ),
            advice: match fits {
                Some(n) => format!("use --replicas ≤ {n} (or fewer threads)"),
                None => "even 2 replicas do not fit; free memory".into(),
            },
        },
        cap,
    )
}

struct Job<'a> {
    problem: &'a Problem,
    config: &'a Config,
    xi: &'a Xi<'a>,
    z_as: &'a [f64],
    hooks: &'a Hooks,
    done: Vec<AtomicU64>,
    cancel: Arc<AtomicBool>,
}

impl KernelVisitor for Job<'_> {
    type Output = Result<Vec<Vec<Repetition>>>;
    fn run_kernel<B: VectorField, N: Diffusion, X: Dim>(
        &self,
        b: &B,
        n: &N,
        dim: X,
    ) -> Self::Output {
        self.go(b, n, dim)
    }
}

impl Job<'_> {
    /// Monomorphised on the problem's drift, noise and dimension ([`dispatch`]).
    fn dispatch(&self) -> Result<Vec<Vec<Repetition>>> {
        dispatch(self.problem, self)
    }

    fn go<B: VectorField, N: Diffusion, X: Dim>(
        &self,
        b: &B,
        n: &N,
        dim: X,
    ) -> Result<Vec<Vec<Repetition>>> {
        let p = self.problem;
        let c = self.config;
        let mut kernels = Vec::with_capacity(c.eps.len());
        for (l, &eps) in c.eps.iter().enumerate() {
            let k = Kernel::new(
                b,
                n,
                dim,
                &p.domain,
                &p.minimum,
                eps,
                c.dt,
                c.detection,
                c.max_steps,
                level_seed(c.seed, l),
            )
            .ok_or_else(|| Error::NotPositiveDefinite {
                field: "noise".into(),
                detail: format!(
                    "a(θ*) is not positive definite at θ* = {}",
                    fmt_theta(&p.minimum)
                ),
            })?;
            kernels.push(k);
        }
        // Groups of up to 4·LANES repetitions of one level run interleaved on one thread, a
        // lane taking the next repetition when its own ends (results do not depend on the
        // grouping, so it may follow the thread count).
        let mine = match c.shard {
            Some(s) => {
                let r = s.range(c.repetitions as u64);
                r.start as usize..r.end as usize
            }
            None => 0..c.repetitions,
        };
        let per = mine
            .len()
            .div_ceil(rayon::current_num_threads())
            .clamp(1, 4 * LANES);
        let tasks: Vec<(usize, std::ops::Range<usize>)> = (0..c.eps.len())
            .flat_map(|l| {
                let mine = mine.clone();
                mine.clone()
                    .step_by(per)
                    .map(move |m| (l, m..(m + per).min(mine.end)))
            })
            .collect();
        let out: Vec<std::result::Result<Vec<Repetition>, (usize, Failure)>> = tasks
            .par_iter()
            .with_max_len(1)
            .map(|(l, reps)| {
                let l = *l;
                let walker = Walker::new(&kernels[l], self.xi, self.z_as[l]);
                let r = self.group(&walker, l, reps.clone()).map_err(|f| (l, f));
                let done = self.done[l].fetch_add(reps.len() as u64, Ordering::Relaxed)
                    + reps.len() as u64;
                if let Some(f) = &self.hooks.progress {
                    f(&Progress {
                        level: l,
                        levels: c.eps.len(),
                        eps: c.eps[l],
                        done,
                        censored: 0,
                        total: mine.len() as u64,
                    });
                }
                r
            })
            .collect();
        let mut levels: Vec<Vec<Repetition>> = (0..c.eps.len()).map(|_| Vec::new()).collect();
        for (r, (l, _)) in out.into_iter().zip(&tasks) {
            match r {
                Ok(reps) => levels[*l].extend(reps),
                Err((l, Failure::NotPositiveDefinite(x))) => {
                    return Err(Error::NotPositiveDefinite {
                        field: "noise".into(),
                        detail: format!("a(θ) is not positive definite at θ = {} (ε = {})", fmt_theta(&x), fmt_number(c.eps[l])),
                    })
                }
                Err((l, Failure::Diverged(x))) => {
                    return Err(Error::numerical(
                        "Euler–Maruyama",
                        format!(
                            "a path became non-finite (θ = {}, ε = {}): either h = {} is too large for the drift where the path went (reduce --dt), or b is singular there (the set-up check samples D, not every point)",
                            fmt_theta(&x),
                            fmt_number(c.eps[l]),
                            c.dt
                        ),
                    ))
                }
            }
        }
        Ok(levels)
    }

    /// Repetitions `reps` of level `level`: ordinary runs for each, then their splitting
    /// interleaved.
    fn group<B: VectorField, N: Diffusion, X: Dim>(
        &self,
        walker: &Walker<'_, '_, B, N, X>,
        level: usize,
        reps: std::ops::Range<usize>,
    ) -> std::result::Result<Vec<Repetition>, Failure> {
        let c = self.config;
        let d = self.problem.dim();
        let mut w = walker.work();
        let seeds: Vec<u64> = reps
            .clone()
            .map(|rep| repetition_seed(c.seed, level, rep))
            .collect();
        // The ordinary runs of every repetition of the group, interleaved; each chain samples
        // into its own record, concatenated in chain order (as if run one after another).
        let per = if c.start.is_none() {
            c.chains.min(c.loops)
        } else {
            0
        };
        let mut chains = Vec::with_capacity(seeds.len() * per);
        for &seed in &seeds {
            for ch in 0..per {
                // Loops split as evenly as possible over the chains.
                let want = (ch + 1) * c.loops / per - ch * c.loops / per;
                chains.push(walker.chain(want, stream(seed, CHAINS - ch as u64)));
            }
        }
        walker.run_chains(&mut chains, &mut w)?;
        let mut chains = chains.into_iter();
        let samples: Vec<(u64, LoopSample)> = seeds
            .iter()
            .map(|&seed| {
                let mut loops = LoopSample::default();
                for ch in chains.by_ref().take(per) {
                    loops.append(ch.out);
                }
                (seed, loops)
            })
            .collect();
        let runnable = |l: &LoopSample| c.start.is_some() || l.excursions > 0;
        let mut splitters: Vec<Splitter> = samples
            .iter()
            .filter(|(_, l)| runnable(l))
            .map(|(seed, l)| {
                Splitter::new(
                    c.replicas,
                    c.kill,
                    d,
                    c.max_iterations,
                    *seed,
                    c.start.as_deref(),
                    &l.entrances,
                )
            })
            .collect();
        walker.run_splitters(&mut splitters, &self.cancel, &mut w)?;
        let finished: Vec<Repetition> = splitters.into_iter().map(Splitter::finish).collect();
        let mut done = finished.into_iter();
        let mut out = Vec::with_capacity(samples.len());
        for ((_, loops), index) in samples.into_iter().zip(reps) {
            let mut r = if runnable(&loops) {
                done.next().unwrap_or_default()
            } else {
                Repetition {
                    censored: true,
                    ..Repetition::default()
                }
            };
            r.loops = loops;
            r.index = index;
            out.push(r);
        }
        Ok(out)
    }
}

/// Level `l`'s statistics from its repetitions `reps` (in order).
pub(crate) fn assemble(
    config: &Config,
    l: usize,
    z_a: f64,
    reps: &[Repetition],
    warnings: &mut Vec<String>,
) -> Level {
    let h = config.dt;
    let eps = config.eps[l];
    let ps: Vec<f64> = reps.iter().map(|r| r.probability).collect();
    let comb = combine_probability(&ps, config.replicas, config.kill);
    let loops = || {
        reps.iter()
            .flat_map(|r| r.loops.loops.iter().map(|&s| s as f64 * h))
    };
    let firsts = || {
        reps.iter()
            .flat_map(|r| r.loops.first_entrance.iter().map(|&s| s as f64 * h))
    };
    let reac = || {
        reps.iter()
            .flat_map(|r| r.reactive_steps.iter().map(|&s| s as f64 * h))
    };
    let (lm, lv, ln) = mean_var(loops());
    let (fm, fv, fnn) = mean_var(firsts());
    let (rm, rv, rn) = mean_var(reac());
    let p = comb.p;
    let (mut mean, mut ci) = (None, None);
    if config.start.is_none() && p > 0.0 && ln > 0 && fnn > 0 && rn > 0 {
        let e = fm + (1.0 / p - 1.0) * lm + rm;
        let var = (lm / p * comb.rel).powi(2)
            + (1.0 / p - 1.0).powi(2) * lv / ln as f64
            + rv / rn as f64
            + fv / fnn as f64;
        let rel = var.sqrt() / e;
        mean = Some(e);
        ci = Some((e * (-comb.q * rel).exp(), e * (comb.q * rel).exp()));
    }
    let extinct = reps.iter().filter(|r| r.extinct).count() as u64;
    let censored = reps.iter().filter(|r| r.censored).count() as u64;
    let censored_paths = reps
        .iter()
        .map(|r| r.censored_paths + r.loops.censored)
        .sum::<u64>();
    let direct_exits = reps.iter().map(|r| r.loops.direct_exits).sum::<u64>();
    let excursions = reps.iter().map(|r| r.loops.excursions).sum::<u64>();
    if extinct > 0 {
        warnings.push(format!(
            "ε = {}: {extinct} of {} repetitions went extinct (all replicas tied at a level; p̂ = 0 there): the coordinate is too coarse or N too small", fmt_number(eps),
            reps.len()
        ));
    }
    if censored > 0 {
        warnings.push(format!(
            "ε = {}: {censored} of {} repetitions were censored (iteration cap {} or cancellation) before all replicas were reactive: p̂ and E[τ] are not reliable", fmt_number(eps),
            reps.len(),
            config.max_iterations
        ));
    }
    if censored_paths > 0 {
        warnings.push(format!(
            "ε = {}: {censored_paths} path segments reached the step budget --max-steps = {} and were ended there", fmt_number(eps),
            config.max_steps
        ));
    }
    if config.start.is_none() && excursions > 0 && direct_exits as f64 > 0.05 * excursions as f64 {
        warnings.push(format!(
            "ε = {}: {direct_exits} of {excursions} ordinary excursions left D: the exit is not rare here; --method direct is the better tool", fmt_number(eps)
        ));
    }
    Level {
        eps,
        inv_eps2: 1.0 / (eps * eps),
        z_a,
        probability: p,
        probability_ci95: comb.p_ci,
        probability_rel_std_asymptotic: comb.rel_asymptotic,
        probability_rel_std_repetitions: comb.rel_repetitions,
        mean_exit_time: mean,
        ci95: ci,
        mean_loop_time: (ln > 0).then_some(lm),
        mean_first_entrance: (fnn > 0).then_some(fm),
        mean_reactive_time: (rn > 0).then_some(rm),
        loops: ln as u64,
        direct_exits,
        excursions,
        iterations: reps.iter().map(|r| r.iterations).sum(),
        steps: reps.iter().map(|r| r.steps + r.loops.steps).sum(),
        steps_loops: reps.iter().map(|r| r.loops.steps).sum(),
        extinct,
        censored,
        censored_paths,
        repetitions: reps
            .iter()
            .map(|r| RepetitionSummary {
                probability: r.probability,
                iterations: r.iterations,
                steps: r.steps + r.loops.steps,
                extinct: r.extinct,
                censored: r.censored,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2²⁴ − 1 replicas of 100 repetitions on 2 threads in d = 2 need ≥ 16·LANES·2²⁴·(size of a
    /// replica) ≫ 1 GiB: refused naming --replicas, with a count that fits; 1000 replicas fit.
    #[test]
    fn replica_memory_is_checked_before_allocation() {
        let c = Config {
            replicas: (1 << 24) - 1,
            repetitions: 100,
            ..Config::default()
        };
        let cap = 1u64 << 30;
        let e = check_replica_memory(&c, 2, 2, cap).unwrap_err().to_string();
        assert!(
            e.contains("--replicas") && e.contains("use --replicas ≤"),
            "{e}"
        );
        let fits: u64 = e
            .rsplit("≤ ")
            .next()
            .and_then(|t| t.split_whitespace().next())
            .and_then(|t| t.parse().ok())
            .unwrap();
        let ok = Config {
            replicas: fits as usize,
            ..c.clone()
        };
        assert!(check_replica_memory(&ok, 2, 2, cap).is_ok());
        let small = Config {
            replicas: 1000,
            ..c
        };
        assert!(check_replica_memory(&small, 2, 2, cap).is_ok());
    }
}
