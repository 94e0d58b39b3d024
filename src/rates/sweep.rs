//! One picture of E\[τ\] at finite noise: every way quasipot has of getting the mean exit time,
//! side by side over a range of ε reaching V₀/ε² ≈ 40, with each pair's agreement per ε.
//!
//! - direct Monte Carlo ([`crate::sde`]) where exits are frequent enough (V₀/ε² ≤ 6 by default;
//!   boundary-corrected, h ≤ 1e-3), each ε with its own random streams;
//! - the computed prefactor ([`super::prefactor`]) and the bare asymptote e^{V₀/ε²};
//! - further estimates (the generator solve, adaptive multilevel splitting) added by the
//!   caller through [`Sweep::add`].
//!
//! Two estimates agree at an ε when |ln a − ln b| ≤ 1.96·√(sₐ² + s_b²) + their stated
//! discretisation errors, s the standard error of ln E\[τ\] (0 for deterministic solves). The
//! prefactor is an asymptotic formula: its ratio to the others is reported (it should tend to 1
//! like 1 + c·ε²), never a verdict.

use super::prefactor::{self, Outcome};
use crate::analysis::stats::Z95;
use crate::error::Result;
use crate::problem::Problem;
use crate::sde;
use serde::Serialize;

/// One estimate of E\[τ\] at one ε.
#[derive(Clone, Debug, Serialize)]
pub struct Estimate {
    /// direct | ams | generator | prefactor | asymptote.
    pub method: String,
    /// E\[τ\] (may be +∞ in floating point; `ln_mean` stays finite).
    pub mean: f64,
    /// ln E\[τ\].
    pub ln_mean: f64,
    /// Standard error of ln E\[τ\] (statistical; 0 for deterministic methods).
    pub ln_se: f64,
    /// Discretisation error of ln E\[τ\] (relative error of E\[τ\]; 0 when not estimated).
    pub ln_discretisation: f64,
    /// 95 % confidence interval of E\[τ\], when the method is statistical.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ci95: Option<[f64; 2]>,
    /// Trajectory or grid effort and the like.
    pub detail: String,
}

/// Whether two estimates agree at one ε.
#[derive(Clone, Debug, Serialize)]
pub struct PairVerdict {
    /// First method.
    pub a: String,
    /// Second method.
    pub b: String,
    /// ln(a/b).
    pub ln_ratio: f64,
    /// The tolerance on |ln(a/b)|.
    pub tolerance: f64,
    /// |ln(a/b)| ≤ tolerance.
    pub agree: bool,
}

/// Everything at one noise level.
#[derive(Clone, Debug, Serialize)]
pub struct SweepPoint {
    /// ε.
    pub eps: f64,
    /// V₀/ε².
    pub v0_over_eps2: f64,
    /// Every estimate available here.
    pub estimates: Vec<Estimate>,
    /// Each pair of non-asymptotic estimates.
    pub verdicts: Vec<PairVerdict>,
    /// E\[τ\]_prefactor / E\[τ\]_m for each non-asymptotic method m.
    pub prefactor_ratios: Vec<(String, f64)>,
}

/// The sweep.
#[derive(Clone, Debug, Serialize)]
pub struct Sweep {
    /// Problem name.
    pub problem: String,
    /// V₀ used to place the noise levels.
    pub v0: f64,
    /// The prefactor prediction (or why it does not apply).
    pub prediction: Outcome,
    /// One entry per ε, in order of increasing V₀/ε².
    pub points: Vec<SweepPoint>,
    /// What the reader should know (censoring, skipped methods).
    pub notes: Vec<String>,
}

/// Settings of [`run`].
#[derive(Clone, Debug)]
pub struct Config {
    /// V₀/ε² values; default 3, 4, 5, 6, 8, 12, 16, 24, 32, 40.
    pub ratios: Vec<f64>,
    /// Direct Monte Carlo up to this V₀/ε²; default 6.
    pub direct_max_ratio: f64,
    /// Trajectories per direct level; default 400.
    pub direct_runs: u64,
    /// Step budget per trajectory; default 2·10⁷ (censored runs are reported).
    pub direct_max_steps: u64,
    /// Seed.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ratios: vec![3.0, 4.0, 5.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 40.0],
            direct_max_ratio: 6.0,
            direct_runs: 400,
            direct_max_steps: 20_000_000,
            seed: 1,
        }
    }
}

impl Sweep {
    /// The noise levels, in order.
    pub fn eps(&self) -> Vec<f64> {
        self.points.iter().map(|p| p.eps).collect()
    }

    /// Add an estimate at the point with this ε (ignored if there is none).
    pub fn add(&mut self, eps: f64, estimate: Estimate) {
        if let Some(p) = self
            .points
            .iter_mut()
            .find(|p| (p.eps - eps).abs() <= 1e-12 * eps)
        {
            p.estimates.push(estimate);
        }
    }

    /// Recompute every point's verdicts and prefactor ratios from its estimates.
    pub fn judge(&mut self) {
        for p in &mut self.points {
            let real: Vec<&Estimate> = p
                .estimates
                .iter()
                .filter(|e| e.method != "prefactor" && e.method != "asymptote")
                .collect();
            p.verdicts.clear();
            for i in 0..real.len() {
                for j in i + 1..real.len() {
                    let (a, b) = (real[i], real[j]);
                    let ln_ratio = a.ln_mean - b.ln_mean;
                    let tolerance = Z95 * (a.ln_se.powi(2) + b.ln_se.powi(2)).sqrt()
                        + a.ln_discretisation
                        + b.ln_discretisation;
                    p.verdicts.push(PairVerdict {
                        a: a.method.clone(),
                        b: b.method.clone(),
                        ln_ratio,
                        tolerance,
                        agree: ln_ratio.abs() <= tolerance,
                    });
                }
            }
            p.prefactor_ratios = match p.estimates.iter().find(|e| e.method == "prefactor") {
                Some(pf) => real
                    .iter()
                    .map(|e| (e.method.clone(), (pf.ln_mean - e.ln_mean).exp()))
                    .collect(),
                None => Vec::new(),
            };
        }
    }
}

/// Build the sweep with direct Monte Carlo, the prefactor and the asymptote; `v0` places the
/// noise levels (ε = √(V₀/r) for each ratio r).
///
/// # Errors
/// Invalid settings, or a failure of the Monte Carlo engine.
pub fn run(problem: &Problem, v0: f64, config: &Config) -> Result<Sweep> {
    if !(v0 > 0.0 && v0.is_finite()) {
        return Err(crate::Error::invalid(
            "v0",
            format!("the sweep needs a positive V0, got {v0}"),
        ));
    }
    let mut ratios = config.ratios.clone();
    ratios.sort_by(f64::total_cmp);
    let prediction = prefactor::predict(problem, &prefactor::Options::default())?;
    let mut sweep = Sweep {
        problem: problem.name.clone(),
        v0,
        prediction,
        points: ratios
            .iter()
            .map(|r| SweepPoint {
                eps: (v0 / r).sqrt(),
                v0_over_eps2: *r,
                estimates: Vec::new(),
                verdicts: Vec::new(),
                prefactor_ratios: Vec::new(),
            })
            .collect(),
        notes: Vec::new(),
    };
    for p in &mut sweep.points {
        p.estimates.push(Estimate {
            method: "asymptote".into(),
            mean: p.v0_over_eps2.exp(),
            ln_mean: p.v0_over_eps2,
            ln_se: 0.0,
            ln_discretisation: 0.0,
            ci95: None,
            detail: "e^{V0/ε²}".into(),
        });
        if let Some(pred) = sweep.prediction.prediction() {
            let ln = pred.ln_mean_exit_time(p.eps);
            p.estimates.push(Estimate {
                method: "prefactor".into(),
                mean: ln.exp(),
                ln_mean: ln,
                ln_se: 0.0,
                ln_discretisation: 0.0,
                ci95: None,
                detail: pred.formula.clone(),
            });
        }
    }
    let direct: Vec<f64> = sweep
        .points
        .iter()
        .filter(|p| p.v0_over_eps2 <= config.direct_max_ratio)
        .map(|p| p.eps)
        .collect();
    if !direct.is_empty() {
        let mut c = sde::Config::default();
        c.set_eps(direct.clone())?;
        let stiff = sde::ensemble::stiffness(problem)?;
        c.set_dt((0.02 * stiff.h_max).min(1e-3))?;
        c.set_runs(config.direct_runs)?;
        c.max_steps = config.direct_max_steps;
        c.seed = config.seed;
        c.detection = sde::ExitDetection::BoundaryCorrected;
        c.bootstrap = 0;
        let r = sde::run(problem, &c)?;
        for l in &r.levels {
            let s = &l.stats;
            if let (Some(mean), Some(lm), Some(se)) = (s.mean, s.log_mean, s.log_mean_se) {
                if l.censored + l.interrupted > 0 {
                    sweep.notes.push(format!(
                        "direct Monte Carlo at ε = {:.4}: {} of {} runs censored (survival estimate)",
                        l.eps,
                        l.censored + l.interrupted,
                        l.runs
                    ));
                }
                sweep.add(
                    l.eps,
                    Estimate {
                        method: "direct".into(),
                        mean,
                        ln_mean: lm,
                        ln_se: se,
                        ln_discretisation: 0.0,
                        ci95: s.ci95,
                        detail: format!("{} runs, h = {:.2e}, boundary-corrected", l.runs, c.dt),
                    },
                );
            }
        }
    }
    sweep.judge();
    Ok(sweep)
}

/// Settings of the engines [`add_generator`] and [`add_ams`] call.
#[derive(Clone, Debug)]
pub struct EngineSettings {
    /// Generator grid points per axis; default 513 (1-D: 4097).
    pub generator_grid: usize,
    /// The generator runs while ln E\[τ\] ≤ this; default 60 (past ln E\[τ\] ≈ 23 it solves by
    /// the slower subtraction-free elimination, [`crate::generator::gth`]).
    pub generator_max_ln: f64,
    /// Grid points per axis (2-D) where ln E\[τ\] > 23; default 257 (the banded solve costs
    /// n·N², ~4 s here against ~45 s at 513).
    pub generator_rare_grid: usize,
    /// AMS from this V₀/ε² on; default 4 (overlapping direct Monte Carlo for a check).
    pub ams_min_ratio: f64,
    /// AMS replicas N; default 100.
    pub ams_replicas: usize,
    /// AMS independent repetitions M; default 40 (the t interval of a skewed p̂ needs more than 10 to cover).
    pub ams_repetitions: usize,
    /// Seed.
    pub seed: u64,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            generator_grid: 513,
            generator_max_ln: 60.0,
            generator_rare_grid: 257,
            ams_min_ratio: 4.0,
            ams_replicas: 100,
            ams_repetitions: 40,
            seed: 1,
        }
    }
}

/// Up to this ln E\[τ\] (prefactor guess) the sparse LU resolves E\[τ\] (its rounding bound
/// 10⁻¹⁶‖A‖∞E\[τ\] stays below [`crate::generator::ACCURATE_SOLVE_ABOVE`] on 513² grids).
const LU_MAX_LN: f64 = 23.0;

/// Add the generator solve (d ≤ 2) at every ε up to ln E\[τ\] = `generator_max_ln`.
pub fn add_generator(sweep: &mut Sweep, problem: &Problem, s: &EngineSettings) -> Result<()> {
    if problem.dim() > 2 {
        sweep
            .notes
            .push(format!("generator: d = {} > 2, not run", problem.dim()));
        return Ok(());
    }
    let ln_guess = |p: &SweepPoint| {
        p.estimates
            .iter()
            .find(|e| e.method == "prefactor")
            .map(|e| e.ln_mean)
            .unwrap_or(p.v0_over_eps2)
    };
    let mut ordinary = Vec::new();
    let mut rare = Vec::new();
    for p in &sweep.points {
        let ln = ln_guess(p);
        if ln <= LU_MAX_LN {
            ordinary.push(p.eps);
        } else if ln <= s.generator_max_ln {
            rare.push(p.eps);
        }
    }
    if ordinary.len() + rare.len() < sweep.points.len() {
        sweep.notes.push(format!(
            "generator: skipped where ln E[τ] > {}",
            s.generator_max_ln
        ));
    }
    let one_d = problem.dim() == 1;
    let grids = [
        (
            ordinary,
            if one_d {
                s.generator_grid.max(4097)
            } else {
                s.generator_grid
            },
        ),
        (
            rare,
            if one_d {
                s.generator_grid.max(4097)
            } else {
                s.generator_rare_grid
            },
        ),
    ];
    for (eps, grid) in grids {
        if eps.is_empty() {
            continue;
        }
        let config = crate::generator::Config {
            eps,
            grid,
            principal_eigenvalue: false,
            ..crate::generator::Config::default()
        };
        let report = crate::generator::run(problem, &config)?;
        for l in &report.levels {
            let rel = l
                .error_estimate
                .map(|e| e / l.mean_exit_time)
                .unwrap_or(0.0);
            sweep.add(
                l.eps,
                Estimate {
                    method: "generator".into(),
                    mean: l.mean_exit_time,
                    ln_mean: l.mean_exit_time.ln(),
                    ln_se: 0.0,
                    ln_discretisation: 2.0 * rel,
                    ci95: None,
                    detail: format!(
                        "grid {grid}, {}, Richardson error {rel:.1e} (relative)",
                        l.solver
                    ),
                },
            );
        }
    }
    sweep.judge();
    Ok(())
}

/// Add adaptive multilevel splitting from V₀/ε² ≥ `ams_min_ratio` on (the quasi-potential
/// coordinate for linear-Gaussian problems, the domain's level function otherwise).
pub fn add_ams(sweep: &mut Sweep, problem: &Problem, s: &EngineSettings) -> Result<()> {
    use crate::sde::ams;
    let eps: Vec<f64> = sweep
        .points
        .iter()
        .filter(|p| p.v0_over_eps2 >= s.ams_min_ratio)
        .map(|p| p.eps)
        .collect();
    if eps.is_empty() {
        return Ok(());
    }
    let stiff = sde::ensemble::stiffness(problem)?;
    let config = ams::Config {
        eps,
        dt: (0.02 * stiff.h_max).min(1e-3),
        replicas: s.ams_replicas,
        repetitions: s.ams_repetitions,
        coordinate: if problem.is_linear_gaussian() {
            ams::Coordinate::Exact
        } else {
            ams::Coordinate::Level
        },
        seed: s.seed,
        detection: sde::ExitDetection::BoundaryCorrected,
        ..ams::Config::default()
    };
    let report = ams::run(problem, &config)?;
    for l in &report.levels {
        let (Some(mean), Some((lo, hi))) = (l.mean_exit_time, l.ci95) else {
            sweep
                .notes
                .push(format!("ams at ε = {:.4}: no estimate", l.eps));
            continue;
        };
        if l.censored > 0 || l.extinct > 0 {
            sweep.notes.push(format!(
                "ams at ε = {:.4}: {} censored and {} extinct repetitions",
                l.eps, l.censored, l.extinct
            ));
        }
        sweep.add(
            l.eps,
            Estimate {
                method: "ams".into(),
                mean,
                ln_mean: mean.ln(),
                // The CI is log-normal: its half-width in ln is z·se.
                ln_se: (hi / lo).ln() / (2.0 * Z95),
                ln_discretisation: 0.0,
                ci95: Some([lo, hi]),
                detail: format!(
                    "N = {}, M = {}, {} steps, h = {:.2e}",
                    s.ams_replicas, s.ams_repetitions, l.steps, config.dt
                ),
            },
        );
    }
    sweep.judge();
    Ok(())
}
