//! Reaction coordinates ξ for AMS, normalised so that ξ(θ*) = 0 and min over ∂D of ξ = 1
//! wherever that minimum is known, and the default boundary level z_A of A = {ξ < z_A}.
//!
//! * `level`: ξ(θ) = (g(θ) − g(θ*)) / (−g(θ*)) with g the domain's level function
//!   ([`Domain::level`], D = {g < 0}); ξ = 1 on all of ∂D. Any problem, any d.
//! * `exact`: ξ = V(θ)/V₀ with the exact quasi-potential: V = ½(θ−θ*)ᵀΣ⁻¹(θ−θ*) from the
//!   Lyapunov equation for linear-Gaussian problems ([`crate::exact`]), else the problem file's
//!   `[reference] quasi_potential` formula (V₀ from `[reference] v0`).
//! * `olim`: ξ = V/V₀ with V from the 2-D grid solver ([`crate::olim::run`]), interpolated
//!   bilinearly; points outside the grid take the value at the nearest grid point, and
//!   unreached grid points the largest reached value (so ξ stays finite). d = 2 only.
//!
//! For every choice [`check_increasing`] verifies, at points of ∂D obtained by projecting
//! θ* + r·u onto ∂D (u = ±eᵢ and 32 fixed pseudo-random directions, r ∈ {0.1, 1, 10}), that
//! ξ on ∂D exceeds both z_A and ξ(θ*), and otherwise fails naming `--coordinate`.

use super::Coordinate;
use crate::error::{Error, Result};
use crate::problem::{Domain, Problem};
use crate::sde::rng::{stream, ZigguratNormal};
use faer::linalg::solvers::DenseSolveCore;

/// A compiled reaction coordinate (cheap to evaluate, no allocation).
#[derive(Clone, Debug)]
pub(crate) enum Xi<'a> {
    /// ξ = (θ−c)ᵀQ(θ−c) − o (row-major Q): Q = ½Σ⁻¹/V₀ for the exact V.
    Quadratic { c: Vec<f64>, q: Vec<f64>, o: f64 },
    /// ξ = (g(θ) − g*)·s with the domain's level function.
    Level { domain: &'a Domain, g0: f64, s: f64 },
    /// ξ = V(θ)/V₀ from the problem's reference formula.
    Formula { problem: &'a Problem, s: f64 },
    /// ξ bilinear on a grid: values row-major `v[j·n + i]` at (lo₀ + i h₀, lo₁ + j h₁).
    Grid {
        lo: [f64; 2],
        h: [f64; 2],
        n: usize,
        v: Vec<f64>,
    },
}

/// (x − c)ᵀQ(x − c) for a row-major d×d Q.
#[inline(always)]
pub(crate) fn quadratic_form(q: &[f64], c: &[f64], x: &[f64], d: usize) -> f64 {
    let mut s = 0.0;
    for i in 0..d {
        let mut r = 0.0;
        for j in 0..d {
            r += q[i * d + j] * (x[j] - c[j]);
        }
        s += (x[i] - c[i]) * r;
    }
    s
}

impl Xi<'_> {
    /// ξ(x).
    #[inline(always)]
    pub(crate) fn value(&self, x: &[f64]) -> f64 {
        match self {
            Xi::Quadratic { c, q, o } => quadratic_form(q, c, x, c.len()) - o,
            Xi::Level { domain, g0, s } => (domain.level(x) - g0) * s,
            Xi::Formula { problem, s } => problem
                .reference
                .quasi_potential_at(x)
                .map_or(f64::NAN, |v| v * s),
            Xi::Grid { lo, h, n, v } => {
                let n = *n;
                let fx = ((x[0] - lo[0]) / h[0]).clamp(0.0, (n - 1) as f64);
                let fy = ((x[1] - lo[1]) / h[1]).clamp(0.0, (n - 1) as f64);
                let i = (fx as usize).min(n - 2);
                let j = (fy as usize).min(n - 2);
                let (tx, ty) = (fx - i as f64, fy - j as f64);
                let a = v[j * n + i];
                let b = v[j * n + i + 1];
                let c = v[(j + 1) * n + i];
                let e = v[(j + 1) * n + i + 1];
                (1.0 - ty) * ((1.0 - tx) * a + tx * b) + ty * ((1.0 - tx) * c + tx * e)
            }
        }
    }
}

fn coordinate_error(msg: impl Into<String>) -> Error {
    Error::invalid("--coordinate", msg)
}

/// Compile ξ for `problem` (runs the grid solver with `olim_grid` points per axis for `olim`).
pub(crate) fn compile(problem: &Problem, which: Coordinate, olim_grid: usize) -> Result<Xi<'_>> {
    let d = problem.dim();
    let m = &problem.minimum;
    match which {
        Coordinate::Level => {
            let g0 = problem.domain.level(m);
            if !(g0 < 0.0) {
                return Err(coordinate_error(format!(
                    "level: θ* is not inside D (g(θ*) = {g0})"
                )));
            }
            // The AMS walker evaluates this from its exit test's own level (one evaluation).
            Ok(Xi::Level {
                domain: &problem.domain,
                g0,
                s: 1.0 / -g0,
            })
        }
        Coordinate::Exact => {
            if problem.is_linear_gaussian() {
                let sol = crate::exact::local_covariance(problem)?;
                let barrier = crate::exact::quasi_potential_barrier(problem)?;
                let v0 = barrier.v0;
                if !(v0 > 0.0 && v0.is_finite()) {
                    return Err(coordinate_error(format!(
                        "exact: V₀ = {v0} is not positive and finite"
                    )));
                }
                let inv = sol.sigma.partial_piv_lu().inverse();
                let mut q = vec![0.0; d * d];
                for i in 0..d {
                    for j in 0..d {
                        q[i * d + j] = 0.5 * (inv[(i, j)] + inv[(j, i)]) * 0.5 / v0;
                    }
                }
                Ok(Xi::Quadratic {
                    c: m.clone(),
                    q,
                    o: 0.0,
                })
            } else if problem.reference.quasi_potential.is_some() {
                let v0 = problem.reference.v0.ok_or_else(|| {
                    coordinate_error(
                        "exact: the problem file gives [reference] quasi_potential but no v0 to normalise it",
                    )
                })?;
                if !(v0 > 0.0 && v0.is_finite()) {
                    return Err(coordinate_error(format!(
                        "exact: [reference] v0 = {v0} must be positive and finite"
                    )));
                }
                Ok(Xi::Formula {
                    problem,
                    s: 1.0 / v0,
                })
            } else {
                Err(coordinate_error(format!(
                    "exact: \"{}\" is neither linear-Gaussian nor has a [reference] quasi_potential; use --coordinate level (or olim for d = 2)",
                    problem.name
                )))
            }
        }
        Coordinate::Olim => {
            if d != 2 {
                return Err(coordinate_error(format!(
                    "olim: the grid solver needs d = 2, \"{}\" has d = {d}; use --coordinate level or exact",
                    problem.name
                )));
            }
            let mut cfg = crate::olim::Config::new(olim_grid)?;
            cfg.estimate_error = false;
            cfg.compare_with_reference = false;
            let r = crate::olim::run(problem, &cfg)?;
            let v0 = r.v0.filter(|v| *v > 0.0 && v.is_finite()).ok_or_else(|| {
                coordinate_error(
                    "olim: the grid solver did not certify V₀ on ∂D (enlarge the grid box)",
                )
            })?;
            let vmax = r
                .values
                .iter()
                .cloned()
                .filter(|v| v.is_finite())
                .fold(0.0, f64::max);
            let v = r
                .values
                .iter()
                .map(|&x| if x.is_finite() { x / v0 } else { vmax / v0 })
                .collect();
            Ok(Xi::Grid {
                lo: r.grid.lo,
                h: r.grid.h,
                n: r.grid.n,
                v,
            })
        }
    }
}

/// Points on ∂D used by [`check_increasing`]: projections of θ* + r·u for u = ±eᵢ and 32
/// pseudo-random unit directions, r ∈ {0.1, 1, 10}.
fn boundary_points(problem: &Problem) -> Vec<Vec<f64>> {
    let d = problem.dim();
    let mut dirs: Vec<Vec<f64>> = Vec::new();
    for i in 0..d {
        for s in [1.0, -1.0] {
            let mut u = vec![0.0; d];
            u[i] = s;
            dirs.push(u);
        }
    }
    let mut rng = stream(0x5EED_A115, 0);
    let z = ZigguratNormal::get();
    for _ in 0..32 {
        let mut u = vec![0.0; d];
        z.fill(&mut rng, &mut u);
        let n = crate::linalg::norm(&u).max(1e-300);
        u.iter_mut().for_each(|v| *v /= n);
        dirs.push(u);
    }
    let mut out = Vec::new();
    for u in &dirs {
        for r in [0.1, 1.0, 10.0] {
            let mut x: Vec<f64> = problem
                .minimum
                .iter()
                .zip(u)
                .map(|(m, v)| m + r * v)
                .collect();
            problem.domain.project(&mut x);
            if x.iter().all(|v| v.is_finite()) && problem.domain.level(&x).abs() < 1e-6 {
                out.push(x);
            }
        }
    }
    out
}

/// Check that ξ increases toward ∂D: ξ(θ*) < z_A and ξ > z_A at every sampled point of ∂D.
pub(crate) fn check_increasing(problem: &Problem, xi: &Xi, z_a: f64, name: &str) -> Result<()> {
    let x0 = xi.value(&problem.minimum);
    if !(x0 < z_a) {
        return Err(coordinate_error(format!(
            "{name}: ξ(θ*) = {x0:.6e} is not below z_A = {z_a:.6e}: A = {{ξ < z_A}} must contain θ*"
        )));
    }
    for p in boundary_points(problem) {
        let v = xi.value(&p);
        if !(v > z_a && v > x0) {
            return Err(coordinate_error(format!(
                "{name}: ξ is not increasing toward ∂D: ξ = {v:.6e} at the boundary point {p:?}, not above z_A = {z_a:.6e} and ξ(θ*) = {x0:.6e}; choose another --coordinate or a smaller --z-a"
            )));
        }
    }
    Ok(())
}

/// Fraction of the local Gaussian inside A for the default z_A (its quantile).
pub const DEFAULT_Z_A_QUANTILE: f64 = 0.9;
/// Largest default z_A (ξ is 1 on ∂D where normalised).
pub const DEFAULT_Z_A_CAP: f64 = 0.5;

/// The default z_A at noise level ε: the 0.9-quantile of ξ(θ* + ε Σ^{1/2} Z), Z ~ N(0, I),
/// over 4096 fixed draws, Σ the local covariance at θ* (the Lyapunov equation of the
/// linearisation), capped at 0.5. For a linear ξ this is 1.28 local standard deviations; for
/// ξ = V/V₀ near θ* it is V = 1.35 ε² (d = 1). Returns (z_A, capped).
pub(crate) fn default_z_a(problem: &Problem, xi: &Xi, eps: f64) -> Result<(f64, bool)> {
    let d = problem.dim();
    let sol = crate::exact::local_covariance(problem)?;
    let m = crate::linalg::Matrix {
        n: d,
        data: (0..d * d).map(|k| sol.sigma[(k / d, k % d)]).collect(),
    };
    let (vals, vecs) = crate::linalg::symmetric_eigen(&m, "local covariance Σ")?;
    // L = Q diag(√λ) so that L Z ~ N(0, Σ).
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            l[i * d + j] = vecs[(i, j)] * vals[j].max(0.0).sqrt();
        }
    }
    let mut rng = stream(0xA11_0CA1, d as u64);
    let zig = ZigguratNormal::get();
    let n = 4096;
    let mut z = vec![0.0; d];
    let mut x = vec![0.0; d];
    let mut values = Vec::with_capacity(n);
    for _ in 0..n {
        zig.fill(&mut rng, &mut z);
        for i in 0..d {
            x[i] = problem.minimum[i] + eps * crate::linalg::dot(&l[i * d..(i + 1) * d], &z);
        }
        values.push(xi.value(&x));
    }
    values.sort_by(f64::total_cmp);
    let q = values[((n as f64) * DEFAULT_Z_A_QUANTILE) as usize];
    if !q.is_finite() {
        return Err(coordinate_error(
            "the reaction coordinate is not finite near θ*",
        ));
    }
    Ok(if q > DEFAULT_Z_A_CAP {
        (DEFAULT_Z_A_CAP, true)
    } else {
        (q, false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::BuildOptions;

    #[test]
    fn compiled_level_coordinates_equal_the_normalised_level_function() {
        for name in ["quadratic-2d", "quadratic-anisotropic-3d", "double-well-1d"] {
            let p = Problem::load(name, &BuildOptions::default()).unwrap();
            let xi = compile(&p, Coordinate::Level, 0).unwrap();
            let g0 = p.domain.level(&p.minimum);
            let mut rng = stream(1, 2);
            let mut x = vec![0.0; p.dim()];
            for _ in 0..100 {
                ZigguratNormal::get().fill(&mut rng, &mut x);
                let want = (p.domain.level(&x) - g0) / -g0;
                let got = xi.value(&x);
                assert!(
                    (got - want).abs() < 1e-12 * (1.0 + want.abs()),
                    "{name}: {got} vs {want}"
                );
            }
            assert!(xi.value(&p.minimum).abs() < 1e-14);
        }
    }

    #[test]
    fn exact_coordinate_is_v_over_v0_and_the_grid_one_interpolates_it() {
        let p = Problem::load("rotational-linear", &BuildOptions::default()).unwrap();
        let v0 = crate::exact::quasi_potential_barrier(&p).unwrap().v0;
        let exact = compile(&p, Coordinate::Exact, 0).unwrap();
        let grid = compile(&p, Coordinate::Olim, 257).unwrap();
        let pts: Vec<Vec<f64>> = (0..40)
            .map(|i| {
                let t = i as f64 * 0.61;
                vec![0.5 * t.cos() * (i as f64 / 40.0), 0.5 * t.sin()]
            })
            .collect();
        let v = crate::exact::quasi_potential(&p, &pts).unwrap();
        for (x, v) in pts.iter().zip(&v) {
            let e = exact.value(x);
            assert!((e - v / v0).abs() < 1e-12 * (1.0 + e), "{x:?}");
            // First-order grid method on 257² points: |ΔV| well under 2 % of V₀.
            let g = grid.value(x);
            assert!((g - e).abs() < 0.02, "{x:?}: grid {g} vs exact {e}");
        }
        let (z, capped) = default_z_a(&p, &exact, 0.1).unwrap();
        // ξ = V/V₀ with V/ε² ~ ½χ²₂ under the local Gaussian: 0.9-quantile V = ε² ln 10.
        let want = 0.01 * 10f64.ln() / v0;
        assert!(!capped && (z / want - 1.0).abs() < 0.08, "{z} vs {want}");
        check_increasing(&p, &exact, z, "exact").unwrap();
        assert!(check_increasing(&p, &exact, 1.01, "exact").is_err());
    }
}
