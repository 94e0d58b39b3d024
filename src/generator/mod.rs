//! The generator engine: mean exit times at any ε from the backward Kolmogorov equation
//!
//!   𝓛T = −1 in D,  T = 0 on ∂D,  𝓛 = b·∇ + (ε²/2) a:∇²,
//!
//! whose solution is T(θ) = E_θ\[τ\], the mean time for dθ = b dt + ε a^{1/2} dW started at θ to
//! leave D (a(θ) is the problem's diffusion, weight included, as in every engine; DESIGN §1).
//! Also the principal eigenvalue λ₁ of −𝓛 with Dirichlet data on ∂D (E\[τ\] ≈ 1/λ₁ from
//! anywhere in the basin when ε is small) and its left eigenvector, the quasi-stationary density.
//!
//! Discretisation (d = 1, 2): a uniform N-point-per-axis grid on a box; the exponentially fitted
//! monotone stencil of [`stencil`] (an M-matrix at any Péclet number, second order for fixed ε),
//! Shortley–Weller arms where ∂D cuts a grid line (crossings found on [`Domain::level`]), and a
//! mirrored (zero-flux) stencil on box faces that truncate an unbounded D. The system is solved by
//! a sparse LU ([`solve`]); λ₁ by inverse iteration with the same factors.
//!
//! **Error estimate.** With `error_estimate` (default) each ε is also solved on the grid of
//! (N − 1)/2 + 1 points (spacing 2h); for a second-order scheme T_h − T = c h² + O(h⁴) (even
//! stencils; boundary-fitted rows make the expansion less regular), so the reported
//! `mean_exit_time` is the Richardson value (4T_h − T_{2h})/3 and `error_estimate` is
//! |T_h − T_{2h}|/3, the estimated error of the fine-grid value T_h (`mean_exit_time_grid`).
//!
//! **Box.** By default D's bounding box, or for unbounded D (half-spaces) a box reaching m = 7
//! ε-scaled standard deviations of the Gaussian approximation at θ* beyond θ* and beyond the foot
//! of θ* on ∂D ([`grid::default_box`]); the faces that cut D reflect. Override with
//! [`Config::bounds`] (`--box`). T(θ*) is interpolated (tensor cubic) when θ* is not a node.
//!
//! ```
//! use quasipot::problem::{BuildOptions, Problem};
//! use quasipot::generator::{self, Config};
//! let p = Problem::load("double-well-1d", &BuildOptions::default()).unwrap();
//! let c = Config { eps: vec![0.7], grid: 1025, ..Config::default() };
//! let r = generator::run(&p, &c).unwrap();
//! let exact = quasipot::exact::exit_time_1d::mean_exit_time_1d(
//!     |x| x.powi(4) / 4.0 - x * x / 2.0, 0.7, -12.0, 0.0,
//!     quasipot::exact::exit_time_1d::LeftBoundary::Reflecting, -1.0).unwrap().mean;
//! assert!((r.levels[0].mean_exit_time / exact - 1.0).abs() < 1e-6);
//! ```
//!
//! References: Il'in, Math. Notes 6 (1969) 596; Allen & Southwell, Q. J. Mech. Appl. Math. 8
//! (1955) 129; Shortley & Weller, J. Appl. Phys. 9 (1938) 334; Gardiner, *Handbook of Stochastic
//! Methods* §5.2 (the backward equation for exit times).

pub mod grid;
pub mod gth;
pub mod output;
pub mod solve;
pub mod stencil;

pub use grid::Grid;

use crate::error::{Error, Result};
use crate::problem::check::fmt_number;
use crate::problem::{Diffusion, ModelVisitor, Problem, VectorField};
use crate::resources::{available_bytes, check_memory_against, largest_fitting, Estimate};
use grid::{classify, default_box, interpolate, Region};
use serde::Serialize;
use std::time::Instant;

/// Settings of a generator solve. Build with struct update syntax from [`Config::default`];
/// [`run`] validates them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Config {
    /// Noise levels ε (`--eps`), each > 0; default \[0.5\].
    pub eps: Vec<f64>,
    /// Grid points per axis N (`--grid`), ≥ 9 and odd when `error_estimate` is on; default 513.
    pub grid: usize,
    /// The box (lo, hi) (`--box`); default: see [`grid::default_box`].
    pub bounds: Option<(Vec<f64>, Vec<f64>)>,
    /// m, the truncation distance of unbounded D in Gaussian standard deviations; default 7.
    pub margin_std: f64,
    /// Also solve on the (N − 1)/2 + 1 grid for the Richardson value and error estimate;
    /// default true.
    pub error_estimate: bool,
    /// Compute λ₁ by inverse iteration; default true.
    pub principal_eigenvalue: bool,
    /// Compute the quasi-stationary density (left principal eigenvector); default false.
    pub quasi_stationary_density: bool,
    /// Compute the committor q(θ) = P_θ(reach ∂D before the ball |θ − θ*| ≤ r) with this r
    /// (`--committor R`): 𝓛q = 0 in D minus the ball, q = 0 on the ball, 1 on ∂D, on the N grid;
    /// default None.
    pub committor_radius: Option<f64>,
    /// Relative tolerance of inverse iteration; default 1e-12.
    pub eigen_tolerance: f64,
    /// Iteration cap of inverse iteration; default 500.
    pub eigen_max_iterations: usize,
    /// Memory cap in bytes for the estimated solve; default: [`crate::resources::available_bytes`]
    /// (80 % of MemAvailable or of the cgroup's headroom, 8 GiB if unknown).
    pub max_bytes: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            eps: vec![0.5],
            grid: 513,
            bounds: None,
            margin_std: 7.0,
            error_estimate: true,
            principal_eigenvalue: true,
            quasi_stationary_density: false,
            committor_radius: None,
            eigen_tolerance: 1e-12,
            eigen_max_iterations: 500,
            max_bytes: None,
        }
    }
}

/// Estimated peak bytes of one solve on N points per axis in d dimensions: triplets, CSC matrix
/// and LU factors (fill measured for faer's COLAMD-ordered LU on 2-D nine-point stencils: about
/// 15·log₂N entries of L + U per unknown; measured peak 3.1 GB at N = 1025).
pub fn estimated_bytes(dim: usize, n: usize) -> u64 {
    let nodes = (n as u64).saturating_pow(dim as u32);
    let per = if dim == 1 {
        400.0
    } else {
        9.0 * 24.0 + 9.0 * 32.0 + 16.0 * 15.0 * (n as f64).log2().max(1.0) + 200.0
    };
    (nodes as f64 * per) as u64
}

impl Config {
    /// Check the settings against a problem of dimension `dim`; errors name the flag.
    pub fn validate(&self, dim: usize) -> Result<()> {
        if !(1..=2).contains(&dim) {
            return Err(Error::invalid(
                "PROBLEM",
                format!("the generator solve needs d = 1 or 2, the problem has d = {dim}"),
            ));
        }
        if self.eps.is_empty() {
            return Err(Error::invalid("--eps", "give at least one noise level"));
        }
        for &e in &self.eps {
            if !(e > 0.0 && e.is_finite()) {
                return Err(Error::invalid(
                    "--eps",
                    format!("ε must be positive and finite, got {e}"),
                ));
            }
        }
        if self.grid < 9 {
            return Err(Error::invalid(
                "--grid",
                format!("need at least 9 points per axis, got {}", self.grid),
            ));
        }
        if self.error_estimate && self.grid.is_multiple_of(2) {
            return Err(Error::invalid(
                "--grid",
                format!(
                    "N = {} must be odd (N − 1 even) for the error estimate on the (N − 1)/2 + 1 grid; try {}",
                    self.grid,
                    self.grid + 1
                ),
            ));
        }
        let need = estimated_bytes(dim, self.grid);
        let cap = self.max_bytes.unwrap_or_else(available_bytes);
        // The largest N that fits, odd when the error estimate needs N − 1 even.
        let fits = largest_fitting(9, self.grid as u64, cap, |n| {
            estimated_bytes(dim, n as usize)
        })
        .map(|n| {
            if self.error_estimate && n % 2 == 0 {
                n - 1
            } else {
                n
            }
        });
        check_memory_against(
            Estimate {
                flag: "--grid",
                value: self.grid.to_string(),
                what: "the generator solve (sparse matrix and LU factors)",
                bytes: need,
                formula: format!(
                    "{}{} nodes × {:.0} bytes",
                    self.grid,
                    if dim == 2 { "²" } else { "" },
                    need as f64 / (self.grid as f64).powi(dim as i32)
                ),
                advice: match fits {
                    Some(n) => format!("use --grid ≤ {n}"),
                    None => "even the smallest grid does not fit; free memory".into(),
                },
            },
            cap,
        )?;
        if let Some((lo, hi)) = &self.bounds {
            if lo.len() != dim || hi.len() != dim {
                return Err(Error::invalid(
                    "--box",
                    format!("expected {} numbers (lo,hi per axis)", 2 * dim),
                ));
            }
            for k in 0..dim {
                if !(lo[k] < hi[k] && lo[k].is_finite() && hi[k].is_finite()) {
                    return Err(Error::invalid(
                        "--box",
                        format!("axis {k}: need finite lo < hi, got [{}, {}]", lo[k], hi[k]),
                    ));
                }
            }
        }
        if let Some(r) = self.committor_radius {
            if !(r > 0.0 && r.is_finite()) {
                return Err(Error::invalid(
                    "--committor",
                    format!("the ball's radius must be positive, got {r}"),
                ));
            }
        }
        if !(self.margin_std > 0.0 && self.margin_std.is_finite()) {
            return Err(Error::invalid("margin_std", "must be positive"));
        }
        if !(self.eigen_tolerance > 0.0) || self.eigen_max_iterations == 0 {
            return Err(Error::invalid(
                "eigen_tolerance",
                "tolerance must be positive and the iteration cap at least 1",
            ));
        }
        Ok(())
    }
}

/// Seconds spent in the phases of one grid solve.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Timing {
    /// Classification of the nodes and assembly of the stencil.
    pub assemble: f64,
    /// Sparse LU (ordering, symbolic and numeric factorisation).
    pub factor: f64,
    /// The solve A T = 1 with iterative refinement.
    pub solve: f64,
    /// Refinement steps of that solve (see [`solve`]).
    pub refinement_steps: usize,
    /// Inverse iteration (λ₁, and the density when asked).
    pub eigen: f64,
}

/// The result of one noise level.
#[derive(Clone, Debug, Serialize)]
pub struct Level {
    /// ε.
    pub eps: f64,
    /// 1/ε².
    pub inv_eps2: f64,
    /// E\[τ\] from θ*: the Richardson value (4T_h − T_{2h})/3 with `error_estimate`, else T_h.
    pub mean_exit_time: f64,
    /// T_h(θ*) on the N-point grid.
    pub mean_exit_time_grid: f64,
    /// |T_h − T_{2h}|/3 at θ* (the estimated error of T_h).
    pub error_estimate: Option<f64>,
    /// λ₁ of −𝓛 with Dirichlet data on ∂D (Richardson value when both grids have it).
    pub principal_eigenvalue: Option<f64>,
    /// |λ_h − λ_{2h}|/3.
    pub principal_eigenvalue_error: Option<f64>,
    /// 1/λ₁.
    pub mean_exit_time_from_eigenvalue: Option<f64>,
    /// The linear solver of the N grid: `sparse-lu` (refined) or `gth-banded` (subtraction-free,
    /// used when E\[τ\] is too large for the LU: `lu_roundoff_bound` > [`ACCURATE_SOLVE_ABOVE`]).
    pub solver: String,
    /// 10⁻¹⁶‖A‖∞·max T of the LU solution on the N grid.
    pub lu_roundoff_bound: f64,
    /// Inverse-iteration steps on the N grid, and whether they converged.
    pub eigen_iterations: Option<(usize, bool)>,
    /// Lower corner of the box.
    pub box_lo: Vec<f64>,
    /// Upper corner of the box.
    pub box_hi: Vec<f64>,
    /// Grid spacing per axis.
    pub h: Vec<f64>,
    /// Unknowns (nodes inside D).
    pub unknowns: usize,
    /// Unknowns on a reflecting face.
    pub reflecting_nodes: usize,
    /// Rows with an arm cut by ∂D.
    pub boundary_rows: usize,
    /// Rows where the cross-term stencil is not monotone (0 for a₁₂ = 0).
    pub non_monotone_rows: usize,
    /// Seconds for this level (both grids).
    pub seconds: f64,
    /// Where the time of the N-grid solve went.
    pub timing: Timing,
    /// T on every node of the N grid (0 outside D), flat index i + N·j.
    #[serde(skip)]
    pub values: Vec<f64>,
    /// The quasi-stationary density on the N grid (integrates to 1), when requested.
    #[serde(skip)]
    pub density: Option<Vec<f64>>,
    /// The committor q on the N grid (1 outside D, 0 in the ball), when requested.
    #[serde(skip)]
    pub committor: Option<Vec<f64>>,
}

/// The result of [`run`].
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// `generator`.
    pub method: String,
    /// Problem name.
    pub problem: String,
    /// d.
    pub dim: usize,
    /// Action weight (which a the operator uses).
    pub weight: String,
    /// Domain kind.
    pub domain: String,
    /// θ*.
    pub minimum: Vec<f64>,
    /// N.
    pub grid: usize,
    /// The settings used.
    pub config: Config,
    /// One entry per ε, in the order given.
    pub levels: Vec<Level>,
    /// Things to know (non-monotone rows, reflecting faces, unconverged iterations).
    pub notes: Vec<String>,
    /// Total seconds.
    pub seconds: f64,
}

impl Level {
    /// The grid of this level.
    pub fn grid(&self, n: usize) -> Grid {
        Grid::new(n, &self.box_lo, &self.box_hi)
    }
}

/// Solve every level of `config` for `problem`.
pub fn run(problem: &Problem, config: &Config) -> Result<Report> {
    run_with(problem, config, &mut |_| {})
}

/// [`run`], calling `on_level` after each noise level (for progress bars).
pub fn run_with(
    problem: &Problem,
    config: &Config,
    on_level: &mut dyn FnMut(&Level),
) -> Result<Report> {
    let d = problem.dim();
    config.validate(d)?;
    let t0 = Instant::now();
    let mut levels = Vec::new();
    let mut notes = Vec::new();
    for &eps in &config.eps {
        let (lo, hi) = match &config.bounds {
            Some(b) => b.clone(),
            None => default_box(problem, eps, config.margin_std)?,
        };
        if (0..d).any(|k| !(problem.minimum[k] >= lo[k] && problem.minimum[k] <= hi[k])) {
            return Err(Error::invalid(
                "--box",
                format!(
                    "θ* = {:?} is outside the box {lo:?}..{hi:?}",
                    problem.minimum
                ),
            ));
        }
        problem.check_grid_extent("generator", &lo, &hi, config.bounds.is_some())?;
        let tl = Instant::now();
        let fine = solve_one(problem, config, eps, Grid::new(config.grid, &lo, &hi), true)?;
        let coarse = if config.error_estimate {
            Some(solve_one(
                problem,
                config,
                eps,
                Grid::new((config.grid - 1) / 2 + 1, &lo, &hi),
                false,
            )?)
        } else {
            None
        };
        let rich = |f: f64, c: Option<f64>| match c {
            Some(c) => ((4.0 * f - c) / 3.0, Some((f - c).abs() / 3.0)),
            None => (f, None),
        };
        let (mean, err) = rich(fine.at_minimum, coarse.as_ref().map(|c| c.at_minimum));
        // A non-finite E[τ] is an error, never a value.
        problem.check_finite_value(
            "generator",
            &format!("E[τ] at ε = {}", fmt_number(eps)),
            mean,
        )?;
        let (lam, lam_err) = match &fine.eigen {
            Some((l, _, _)) => {
                let (v, e) = rich(*l, coarse.as_ref().and_then(|c| c.eigen.map(|e| e.0)));
                (Some(v), e)
            }
            None => (None, None),
        };
        if fine.non_monotone_rows > 0 {
            notes.push(format!(
                "ε = {}: {} rows violate the cross-term monotonicity condition cₖ± ≥ ε²|a₁₂|/(2h₀h₁) (refine the grid, or the scheme may lose the maximum principle)", fmt_number(eps),
                fine.non_monotone_rows
            ));
        }
        if fine.bad_diffusion > 0 {
            notes.push(format!(
                "ε = {}: a(θ) is not positive definite at {} nodes",
                fmt_number(eps),
                fine.bad_diffusion
            ));
        }
        if let Some((_, it, false)) = fine.eigen {
            notes.push(format!(
                "ε = {}: inverse iteration did not converge in {it} steps",
                fmt_number(eps)
            ));
        }
        if fine.accurate {
            notes.push(format!(
                "ε = {}: E[τ] is too large for the sparse LU (rounding bound {:.1e}); solved by subtraction-free banded elimination (GTH), accurate to rounding", fmt_number(eps),
                fine.roundoff
            ));
        }
        let g = Grid::new(config.grid, &lo, &hi);
        let committor = match config.committor_radius {
            Some(r) => Some(solve_committor(problem, eps, &g, r)?),
            None => None,
        };
        let level = Level {
            eps,
            inv_eps2: 1.0 / (eps * eps),
            mean_exit_time: mean,
            mean_exit_time_grid: fine.at_minimum,
            error_estimate: err,
            principal_eigenvalue: lam,
            principal_eigenvalue_error: lam_err,
            mean_exit_time_from_eigenvalue: lam.map(|l| 1.0 / l),
            eigen_iterations: fine.eigen.map(|(_, i, c)| (i, c)),
            solver: if fine.accurate {
                "gth-banded"
            } else {
                "sparse-lu"
            }
            .into(),
            lu_roundoff_bound: fine.roundoff,
            box_lo: lo,
            box_hi: hi,
            h: g.h.clone(),
            unknowns: fine.unknowns,
            reflecting_nodes: fine.reflecting,
            boundary_rows: fine.boundary_rows,
            non_monotone_rows: fine.non_monotone_rows,
            seconds: tl.elapsed().as_secs_f64(),
            timing: fine.timing,
            values: fine.values,
            density: fine.density,
            committor,
        };
        on_level(&level);
        levels.push(level);
    }
    if levels.iter().any(|l| l.reflecting_nodes > 0) {
        notes.push(
            "the box truncates D: its faces inside D reflect (zero normal derivative)".into(),
        );
    }
    Ok(Report {
        method: "generator".into(),
        problem: problem.name.clone(),
        dim: d,
        weight: problem.noise_description.weight.name().into(),
        domain: problem.domain.kind().into(),
        minimum: problem.minimum.clone(),
        grid: config.grid,
        config: config.clone(),
        levels,
        notes,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// Above this [`solve::roundoff_bound`] of the LU solution, or when its refinement does not
/// converge, the rates are refactorised without subtraction ([`gth`]). Refinement contracts
/// by about the bound per step; the refined LU was measured accurate to 7e-8 at a bound of 0.1
/// (tests/generator.rs).
pub const ACCURATE_SOLVE_ABOVE: f64 = 0.25;
/// Most operations (n·bw²) the accurate banded solve may take (~1 min on one core).
pub const MAX_ACCURATE_WORK: f64 = 1e11;

/// One grid's answers.
struct GridSolve {
    /// Solved by the subtraction-free factors.
    accurate: bool,
    /// The LU solution's roundoff bound.
    roundoff: f64,
    timing: Timing,
    at_minimum: f64,
    values: Vec<f64>,
    eigen: Option<(f64, usize, bool)>,
    density: Option<Vec<f64>>,
    unknowns: usize,
    reflecting: usize,
    boundary_rows: usize,
    non_monotone_rows: usize,
    bad_diffusion: usize,
}

struct Assembler<'a> {
    region: Region<'a>,
    grid: &'a Grid,
    cls: &'a grid::Classification,
    eps: f64,
}

impl ModelVisitor for Assembler<'_> {
    type Output = stencil::Assembly;
    fn visit<B: VectorField, N: Diffusion>(self, drift: &B, noise: &N) -> stencil::Assembly {
        stencil::assemble(drift, noise, &self.region, self.grid, self.cls, self.eps)
    }
}

fn solve_one(
    problem: &Problem,
    config: &Config,
    eps: f64,
    grid: Grid,
    fine: bool,
) -> Result<GridSolve> {
    let tt = Instant::now();
    let region = Region {
        domain: &problem.domain,
        hole: None,
    };
    let cls = classify(&grid, &region);
    let n = cls.unknowns.len();
    if n == 0 {
        return Err(Error::invalid(
            "--box",
            "no grid node lies inside D; check the box and the domain",
        ));
    }
    let asm = problem.visit(Assembler {
        region,
        grid: &grid,
        cls: &cls,
        eps,
    });
    if let Some((x, b)) = &asm.singular_drift_at {
        return Err(crate::problem::check::singular_drift(
            x,
            b,
            "inside D (a generator grid node)",
        ));
    }
    if let Some(x) = &asm.bad_diffusion_at {
        return Err(Error::invalid(
            "noise",
            format!(
                "a(θ) is not positive definite at θ = {} inside D (a generator grid node, {} such nodes); every engine needs a(θ) positive definite on all of D: change the noise or shrink the domain",
                crate::problem::check::fmt_theta(x),
                asm.bad_diffusion
            ),
        ));
    }
    if asm.boundary_rows == 0 {
        return Err(Error::invalid(
            "--box",
            "the box does not reach ∂D (every face reflects, so the exit time is infinite); enlarge the box",
        ));
    }
    let t_assemble = tt.elapsed().as_secs_f64();
    let (boundary_rows, non_monotone_rows, bad_diffusion) =
        (asm.boundary_rows, asm.non_monotone_rows, asm.bad_diffusion);
    let mut f = solve::factor(asm.rows)?;
    let mut t_factor = tt.elapsed().as_secs_f64() - t_assemble;
    let (mut t, mut refinement_steps, converged) = f.mean_exit_time();
    let roundoff = solve::roundoff_bound(f.rows(), &t);
    if !converged || !(roundoff <= ACCURATE_SOLVE_ABOVE) {
        // E[τ] too large for the LU: factorise the rates without subtraction.
        let rows = f.into_rows();
        let bytes = gth::band_bytes(&rows);
        let bw = gth::bandwidth(&rows) as f64;
        let work = rows.len() as f64 * bw * bw;
        let cap = config.max_bytes.unwrap_or_else(available_bytes);
        if non_monotone_rows > 0 || bytes > cap || work > MAX_ACCURATE_WORK {
            let why = if non_monotone_rows > 0 {
                format!("{non_monotone_rows} rows are not monotone")
            } else {
                format!(
                    "it would need {:.1} GiB and {work:.1e} operations on this grid",
                    bytes as f64 / (1u64 << 30) as f64
                )
            };
            return Err(Error::numerical(
                "generator",
                format!(
                    "at ε = {} E[τ] ≈ {:.1e} is beyond what the sparse LU resolves on the {}-point grid (rounding alone could move it by {roundoff:.1e} relative), and the accurate banded solve is not available: {why}; use a coarser --grid, a larger ε, or `exit --method ams`",
                    fmt_number(eps),
                    t.iter().cloned().fold(0.0, f64::max),
                    grid.n
                ),
            ));
        }
        let ta = Instant::now();
        f = solve::factor_accurate(rows)?;
        t_factor += ta.elapsed().as_secs_f64();
        (t, refinement_steps, _) = f.mean_exit_time();
    }
    let accurate = f.is_accurate();
    if t.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
        return Err(Error::numerical(
            "generator",
            "the mean exit time is not finite and non-negative (ε too small for this grid?)",
        ));
    }
    let t_solve = tt.elapsed().as_secs_f64() - t_assemble - t_factor;
    let mut values = vec![0.0; grid.len()];
    for (k, &idx) in cls.unknowns.iter().enumerate() {
        values[idx] = t[k];
    }
    let at_minimum = interpolate(&grid, &values, &problem.minimum);
    let te = Instant::now();
    let eigen = if config.principal_eigenvalue {
        let e = solve::principal_eigen(
            &f,
            &t,
            false,
            config.eigen_tolerance,
            config.eigen_max_iterations,
        );
        Some((e.value, e.iterations, e.converged))
    } else {
        None
    };
    let density = if fine && config.quasi_stationary_density {
        let e = solve::principal_eigen(
            &f,
            &vec![1.0; n],
            true,
            config.eigen_tolerance,
            config.eigen_max_iterations,
        );
        let cell: f64 = grid.h.iter().product();
        let mut rho = vec![0.0; grid.len()];
        for (k, &idx) in cls.unknowns.iter().enumerate() {
            rho[idx] = e.vector[k] / cell;
        }
        Some(rho)
    } else {
        None
    };
    Ok(GridSolve {
        accurate,
        roundoff,
        timing: Timing {
            assemble: t_assemble,
            factor: t_factor,
            solve: t_solve,
            refinement_steps,
            eigen: te.elapsed().as_secs_f64(),
        },
        at_minimum,
        values: if fine { values } else { Vec::new() },
        eigen,
        density,
        unknowns: n,
        reflecting: cls.reflecting,
        boundary_rows,
        non_monotone_rows,
        bad_diffusion,
    })
}

/// The committor on `grid`: A q = b with the Dirichlet data 0 on the ball |θ − θ*| ≤ r and 1
/// outside D (refined like the mean exit time).
fn solve_committor(problem: &Problem, eps: f64, grid: &Grid, r: f64) -> Result<Vec<f64>> {
    let region = Region {
        domain: &problem.domain,
        hole: Some((&problem.minimum, r)),
    };
    if !problem.domain.contains(&problem.minimum) {
        return Err(Error::invalid("--committor", "θ* is not inside D"));
    }
    let cls = classify(grid, &region);
    let n = cls.unknowns.len();
    if n == 0 {
        return Err(Error::invalid(
            "--committor",
            format!("no grid node lies in D outside the ball of radius {r}; use a smaller radius"),
        ));
    }
    let min_h = grid.h.iter().cloned().fold(f64::INFINITY, f64::min);
    if r < 2.0 * min_h {
        return Err(Error::invalid(
            "--committor",
            format!("the ball's radius {r} is below two grid spacings ({min_h:.3e}); use a larger radius or a finer --grid"),
        ));
    }
    let asm = problem.visit(Assembler {
        region,
        grid,
        cls: &cls,
        eps,
    });
    let b = asm.dirichlet_rhs;
    let f = solve::factor(asm.rows)?;
    let mut x = faer::Mat::<f64>::zeros(n, 1);
    let mut res = vec![0.0; n];
    f.solve(&b, &mut x, &mut res);
    let mut q = vec![0.0; grid.len()];
    let mut p = [0.0; 2];
    let d = grid.dim;
    for (idx, qi) in q.iter_mut().enumerate() {
        if let grid::NodeKind::Unknown(k) = cls.kinds[idx] {
            *qi = x[(k, 0)].clamp(0.0, 1.0);
        } else {
            grid.point(idx, &mut p[..d]);
            *qi = region.boundary_value(&p[..d]);
        }
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::BuildOptions;

    /// Where both are accurate (Maier–Stein at ε = 0.35: a half-space with reflecting faces;
    /// quadratic-2d at ε = 0.4: a curved level-set boundary), the refined sparse LU and the
    /// subtraction-free banded elimination give the same T at every node.
    #[test]
    fn lu_and_subtraction_free_solves_agree_in_2d() {
        for (name, eps) in [("maier-stein", 0.35), ("quadratic-2d", 0.4)] {
            let p = Problem::load(name, &BuildOptions::default()).unwrap();
            let (lo, hi) = default_box(&p, eps, Config::default().margin_std).unwrap();
            let grid = Grid::new(65, &lo, &hi);
            let region = Region {
                domain: &p.domain,
                hole: None,
            };
            let cls = classify(&grid, &region);
            let asm = p.visit(Assembler {
                region,
                grid: &grid,
                cls: &cls,
                eps,
            });
            assert_eq!(asm.non_monotone_rows, 0);
            let lu = solve::factor(asm.rows.clone()).unwrap();
            let (a, _, converged) = lu.mean_exit_time();
            assert!(converged && solve::roundoff_bound(lu.rows(), &a) < 1e-6);
            let g = solve::factor_accurate(asm.rows).unwrap();
            let (b, steps, _) = g.mean_exit_time();
            assert_eq!(steps, 0);
            let worst = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x / y - 1.0).abs())
                .fold(0.0, f64::max);
            assert!(worst < 1e-10, "{name}: {worst:.2e}");
        }
    }
}
