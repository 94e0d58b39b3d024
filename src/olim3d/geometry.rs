//! Where the 3-D grid goes and how fast the drift rotates there: the default box about D
//! (bounded domains by their bounding box or by marching rays from θ*, half-spaces by twice the
//! distance of θ* to ∂D), the refusal of a box that cuts D, and the rotation ratio Υ that sets
//! the default update radius K.

use crate::error::{Error, Result};
use crate::problem::{Domain, Problem};

pub(super) fn inv3(m: [[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    let c = |r: usize, s: usize| {
        let (r1, r2, s1, s2) = ((r + 1) % 3, (r + 2) % 3, (s + 1) % 3, (s + 2) % 3);
        m[r1][s1] * m[r2][s2] - m[r1][s2] * m[r2][s1]
    };
    let det = m[0][0] * c(0, 0) + m[0][1] * c(0, 1) + m[0][2] * c(0, 2);
    if !(det.is_finite() && det.abs() > 0.0) {
        return None;
    }
    Some(std::array::from_fn(|i| {
        std::array::from_fn(|j| c(j, i) / det)
    }))
}

/// Directions on the unit sphere (a Fibonacci lattice of `n` points).
fn sphere(n: usize) -> impl Iterator<Item = [f64; 3]> {
    let golden = std::f64::consts::PI * (3.0 - 5f64.sqrt());
    (0..n).map(move |k| {
        let z = 1.0 - (2 * k + 1) as f64 / n as f64;
        let r = (1.0 - z * z).max(0.0).sqrt();
        let t = golden * k as f64;
        [r * t.cos(), r * t.sin(), z]
    })
}

/// The 3-D rotation ratio Υ = max over directions u of ‖ℓ‖/‖g‖ in the metric a⁻¹, where the
/// linearisation b ≈ Ju splits into g = −½aΣ⁻¹u (descending V) and ℓ = Ju − g (along the level
/// sets); as [`crate::olim::rotation_ratio`] in 2-D. `None` when d ≠ 3 or Σ is singular.
pub fn rotation_ratio(problem: &Problem) -> Option<f64> {
    if problem.dim() != 3 {
        return None;
    }
    let (am, diff) = problem.linearization().ok()?;
    let sigma = crate::exact::local_covariance(problem).ok()?.sigma;
    let s = inv3(std::array::from_fn(|i| {
        std::array::from_fn(|j| sigma[(i, j)])
    }))?;
    let q: [[f64; 3]; 3] = std::array::from_fn(|i| std::array::from_fn(|j| diff.data[i * 3 + j]));
    let qi = inv3(q)?;
    let g: [[f64; 3]; 3] = std::array::from_fn(|i| {
        std::array::from_fn(|j| 0.5 * (0..3).map(|k| q[i][k] * s[k][j]).sum::<f64>())
    });
    let mv = |m: &[[f64; 3]; 3], v: [f64; 3]| -> [f64; 3] {
        std::array::from_fn(|i| (0..3).map(|j| m[i][j] * v[j]).sum())
    };
    let norm = |v: [f64; 3]| {
        let w = mv(&qi, v);
        (0..3).map(|i| v[i] * w[i]).sum::<f64>().max(0.0).sqrt()
    };
    let mut worst = 0.0f64;
    for u in sphere(400) {
        let gu = mv(&g, u);
        let l: [f64; 3] = std::array::from_fn(|i| {
            -(0..3).map(|j| am.data[i * 3 + j] * u[j]).sum::<f64>() + gu[i]
        });
        worst = worst.max(norm(l) / norm(gu));
    }
    worst.is_finite().then_some(worst)
}

pub(super) fn unsupported_dim(problem: &Problem) -> Error {
    Error::Unsupported(format!(
        "the 3-D grid solver (olim3d) handles d = 3 only; \"{}\" has d = {}",
        problem.name,
        problem.dim()
    ))
}

fn domain_box(problem: &Problem) -> Result<([f64; 3], [f64; 3])> {
    match problem.domain.bounding_box() {
        Some((lo, hi)) => Ok(([lo[0], lo[1], lo[2]], [hi[0], hi[1], hi[2]])),
        None => crate::olim::ray_box(&problem.domain, &problem.minimum, sphere(1024)),
    }
}

/// The default box (module docs).
pub fn default_box(problem: &Problem) -> Result<([f64; 3], [f64; 3])> {
    if problem.dim() != 3 {
        return Err(unsupported_dim(problem));
    }
    let t = &problem.minimum;
    if let Domain::HalfSpace { normal, offset } = &problem.domain {
        let dist = (offset - crate::linalg::dot(normal, t)) / crate::linalg::norm(normal);
        let w = 2.0 * dist;
        return Ok((
            [t[0] - w, t[1] - w, t[2] - w],
            [t[0] + w, t[1] + w, t[2] + w],
        ));
    }
    let (lo, hi) = domain_box(problem)?;
    let c: [f64; 3] = std::array::from_fn(|i| 0.5 * (lo[i] + hi[i]));
    let half = 0.5 * (0..3).map(|i| hi[i] - lo[i]).fold(0.0, f64::max) * 1.2;
    Ok((c.map(|c| c - half), c.map(|c| c + half)))
}

/// Refuse a grid that cuts off part of a bounded D (naming the face) or misses ∂D of a
/// half-space.
pub(super) fn check_domain_on_grid(problem: &Problem, lo: [f64; 3], hi: [f64; 3]) -> Result<()> {
    let dom = &problem.domain;
    if let Domain::HalfSpace { .. } = dom {
        let inside = (0..8).all(|c: usize| {
            let x: [f64; 3] = std::array::from_fn(|i| if c >> i & 1 == 0 { lo[i] } else { hi[i] });
            dom.level(&x) < 0.0
        });
        if inside {
            return Err(Error::invalid(
                "--box",
                "the grid lies inside D: it does not reach ∂D (the half-space boundary), so V₀ cannot be found; extend the box across ∂D or drop --box",
            ));
        }
        return Ok(());
    }
    let (blo, bhi) = domain_box(problem)?;
    let names = ["x", "y", "z"];
    let tol = 1e-9 * (1.0 + (0..3).map(|i| hi[i] - lo[i]).fold(0.0, f64::max));
    let mut cut = Vec::new();
    for i in 0..3 {
        if blo[i] < lo[i] - tol {
            cut.push(format!(
                "the lower {0} face {0} = {1} cuts D, which reaches {0} = {2:.6}",
                names[i], lo[i], blo[i]
            ));
        }
        if bhi[i] > hi[i] + tol {
            cut.push(format!(
                "the upper {0} face {0} = {1} cuts D, which reaches {0} = {2:.6}",
                names[i], hi[i], bhi[i]
            ));
        }
    }
    if !cut.is_empty() {
        return Err(Error::invalid(
            "--box",
            format!(
                "the grid does not contain ∂D ({}): {}; enlarge the box or drop --box for the default",
                dom.kind(),
                cut.join("; ")
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_of_a_3x3_matrix() {
        let m = [[2.0, 0.3, 0.1], [0.2, 1.5, -0.4], [0.0, 0.7, 1.1]];
        let i = inv3(m).unwrap();
        for r in 0..3 {
            for c in 0..3 {
                let s: f64 = (0..3).map(|k| m[r][k] * i[k][c]).sum();
                assert!((s - if r == c { 1.0 } else { 0.0 }).abs() < 1e-14);
            }
        }
        assert!(inv3([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 0.0, 1.0]]).is_none());
    }
}
