//! The monotone stencil of −𝓛, 𝓛 = b·∇ + (ε²/2) a:∇², on the grid with boundary-fitted
//! (Shortley–Weller) arms and mirrored arms on reflecting walls.
//!
//! **Along each axis** the operator D ∂² + β ∂ (β = bₖ(x), D = ε²aₖₖ(x)/2) is replaced by the
//! three-point scheme c₋(T₋ − T₀) + c₊(T₊ − T₀) with arms h₋, h₊ that is exact, for constant β
//! and D, on 1, x and e^{−βx/D}: the exponentially fitted scheme of Il'in (1969) and Allen &
//! Southwell (1955), here on an uneven stencil. With u = βh₋/D, v = βh₊/D, φ(z) = (eᶻ − 1)/z and
//! F = φ(u) − φ(−v) (β > 0; mirror for β < 0):
//!
//!   c₊ = (β/h₊) φ(u)/F,  c₋ = (β/h₋) φ(−v)/F,
//!
//! both positive for every β, h (so the matrix is an M-matrix whatever the Péclet number), equal
//! to Il'in's D·Pe(coth Pe ± 1)/h² on an even stencil, to the central scheme as β → 0 and to
//! upwinding as |β|h/D → ∞. On an even stencil it is second order for fixed ε (its effective
//! diffusion is D·(1 + Pe²/3 + …)); with an arm cut short by ∂D (Shortley–Weller, T = 0 at the
//! crossing) the local error is first order on that layer only, and the solution stays second
//! order.
//!
//! **Cross term** ε²a₁₂∂₁₂T (2-D): the 7-point stencil that uses the corners (+,+), (−,−) when
//! a₁₂ > 0 and (+,−), (−,+) when a₁₂ < 0, weight w = ε²|a₁₂|/(2h₀h₁) on those corners, −w on the
//! four axis neighbours and +2w on the centre. It is second order, and the whole stencil stays
//! monotone iff every axis coefficient satisfies cₖ± ≥ w — for small Péclet numbers
//! a₁₁/h₀ ≥ |a₁₂|/h₁ and a₂₂/h₁ ≥ |a₁₂|/h₀ (diagonal dominance of a scaled by the grid). Rows
//! where this fails are counted and reported. Unknowns on a reflecting wall take no cross term
//! (∂ₙT = 0 on the wall makes ∂₁₂T = 0 there); corners outside D are taken as T = 0, which is
//! first order next to a curved ∂D when a₁₂ ≠ 0.

use super::grid::{boundary_distance, Classification, Grid, NodeKind, Region};
use crate::problem::{Diffusion, VectorField};
use faer::sparse::Triplet;

/// φ(z) = (eᶻ − 1)/z, with φ(0) = 1.
#[inline]
fn phi(z: f64) -> f64 {
    if z.abs() < 1e-5 {
        1.0 + z * (0.5 + z / 6.0)
    } else {
        z.exp_m1() / z
    }
}

/// ψ(z) = 1/φ(z) = z/(eᶻ − 1) for z ≥ 0 (the Bernoulli function), stable for large z.
#[inline]
fn psi(z: f64) -> f64 {
    if z < 1e-5 {
        1.0 - 0.5 * z
    } else {
        z * (-z).exp() / -(-z).exp_m1()
    }
}

/// The fitted coefficients (c₋, c₊) of D∂² + β∂ on arms h₋, h₊ (D > 0, h± > 0); see the module
/// docs for the formula.
#[inline]
pub fn fitted(beta: f64, diff: f64, hm: f64, hp: f64) -> (f64, f64) {
    if beta < 0.0 {
        let (cp, cm) = fitted(-beta, diff, hp, hm);
        return (cm, cp);
    }
    let p = hm / diff;
    let q = hp / diff;
    let u = beta * p;
    let v = beta * q;
    if u.max(v) < 0.1 {
        // F/β = Σ_{k≥1} β^{k−1}(p^k − (−q)^k)/(k+1)!, no division by β.
        let mut g = 0.0;
        let (mut pk, mut qk, mut bk, mut fact) = (p, -q, 1.0, 2.0);
        for k in 1..=14 {
            g += bk * (pk - qk) / fact;
            pk *= p;
            qk *= -q;
            bk *= beta;
            fact *= (k + 2) as f64;
        }
        (phi(-v) / (hm * g), phi(u) / (hp * g))
    } else {
        // F = φ(u)(1 − ψ(u)φ(−v)); the bracket is ≥ 0.05 here.
        let s = psi(u);
        let den = 1.0 - s * phi(-v);
        (beta * phi(-v) * s / (hm * den), beta / (hp * den))
    }
}

/// −𝓛ₕ in difference form, row by row (rows = unknowns):
/// (𝓛ₕT)ᵢ = Σⱼ ℓᵢⱼ (Tⱼ − Tᵢ) − κᵢ Tᵢ over the unknown neighbours j, with κᵢ the sum of the
/// coefficients towards Dirichlet nodes (T = 0), so an interior row sums to zero *exactly*.
/// The matrix is A = −𝓛ₕ: Aᵢᵢ = Σⱼ ℓᵢⱼ + κᵢ, Aᵢⱼ = −ℓᵢⱼ.
#[derive(Clone, Debug)]
pub struct Rows {
    /// Row i's entries are `col[ptr[i]..ptr[i + 1]]`, `coef[..]`.
    pub ptr: Vec<usize>,
    /// Column (unknown index) of each entry.
    pub col: Vec<usize>,
    /// ℓᵢⱼ.
    pub coef: Vec<f64>,
    /// κᵢ.
    pub kappa: Vec<f64>,
}

impl Rows {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.kappa.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.kappa.is_empty()
    }

    /// The entries of A as triplets, transposed ((j, i, Aᵢⱼ)) when `transpose`.
    pub fn triplets(&self, transpose: bool) -> Vec<Triplet<usize, usize, f64>> {
        let mut t = Vec::with_capacity(self.col.len() + self.len());
        for i in 0..self.len() {
            let mut diag = self.kappa[i];
            for e in self.ptr[i]..self.ptr[i + 1] {
                let (j, l) = (self.col[e], self.coef[e]);
                diag += l;
                t.push(if transpose {
                    Triplet::new(j, i, -l)
                } else {
                    Triplet::new(i, j, -l)
                });
            }
            t.push(Triplet::new(i, i, diag));
        }
        t
    }

    /// out = b + 𝓛ₕx = b − A x, in the difference form (no cancellation between a large
    /// diagonal and its neighbours: what iterative refinement needs when A is nearly singular).
    pub fn residual(&self, b: &[f64], x: &[f64], out: &mut [f64]) {
        for i in 0..self.len() {
            let xi = x[i];
            let mut s = b[i] - self.kappa[i] * xi;
            for e in self.ptr[i]..self.ptr[i + 1] {
                s += self.coef[e] * (x[self.col[e]] - xi);
            }
            out[i] = s;
        }
    }
}

/// The assembled operator with the monotonicity diagnostics.
pub struct Assembly {
    /// −𝓛ₕ row by row.
    pub rows: Rows,
    /// bᵢ = Σ ℓᵢₖ vₖ over the Dirichlet neighbours k with their values vₖ
    /// ([`Region::boundary_value`]; all zero without a hole), so that 𝓛ₕu = 0 with those data
    /// reads A u = b.
    pub dirichlet_rhs: Vec<f64>,
    /// Rows with a negative off-diagonal coefficient of 𝓛ₕ (the cross-term condition failed).
    pub non_monotone_rows: usize,
    /// Unknowns with at least one arm cut by ∂D (Shortley–Weller rows).
    pub boundary_rows: usize,
    /// Nodes where a(θ) was not positive definite.
    pub bad_diffusion: usize,
    /// The first node where a(θ) was not positive definite.
    pub bad_diffusion_at: Option<Vec<f64>>,
    /// The first node where b was not finite, with b there.
    pub singular_drift_at: Option<(Vec<f64>, Vec<f64>)>,
}

/// Assemble A = −𝓛ₕ on the unknowns of `cls` at noise level `eps`.
pub fn assemble<B: VectorField, N: Diffusion>(
    drift: &B,
    noise: &N,
    domain: &Region,
    grid: &Grid,
    cls: &Classification,
    eps: f64,
) -> Assembly {
    let d = grid.dim;
    let n = grid.n;
    let e2 = eps * eps;
    let m = cls.unknowns.len();
    let per = if d == 1 { 2 } else { 8 };
    let mut rows = Rows {
        ptr: Vec::with_capacity(m + 1),
        col: Vec::with_capacity(m * per),
        coef: Vec::with_capacity(m * per),
        kappa: Vec::with_capacity(m),
    };
    rows.ptr.push(0);
    let mut dirichlet_rhs = Vec::with_capacity(if domain.hole.is_some() { m } else { 0 });
    let mut y = [0.0f64; 2];
    let mut ws = noise.workspace();
    let mut x = [0.0f64; 2];
    let mut b = [0.0f64; 2];
    let mut a = [0.0f64; 4];
    let (mut non_monotone_rows, mut boundary_rows, mut bad_diffusion) = (0, 0, 0);
    let (mut bad_diffusion_at, mut singular_drift_at) = (None, None);
    // Per row: (node offset, coefficient of 𝓛ₕ) for up to 8 neighbours.
    let mut nb: [(usize, f64); 8] = [(0, 0.0); 8];
    for &idx in cls.unknowns.iter() {
        grid.point(idx, &mut x[..d]);
        drift.drift(&x[..d], &mut b[..d]);
        if singular_drift_at.is_none() && b[..d].iter().any(|v| !v.is_finite()) {
            singular_drift_at = Some((x[..d].to_vec(), b[..d].to_vec()));
        }
        if !noise.diffusion(&x[..d], &mut ws, &mut a[..d * d]) {
            bad_diffusion += 1;
            bad_diffusion_at.get_or_insert_with(|| x[..d].to_vec());
        }
        let ij = grid.split(idx);
        let mut len = 0;
        // Σ of the coefficients towards Dirichlet nodes.
        let mut kappa = 0.0;
        let mut bval = 0.0;
        let mut cut = false;
        let mut wall = false;
        // Axis coefficients c[k][0] (towards −), c[k][1] (towards +), for the monotonicity test.
        let mut axis_c = [[f64::INFINITY; 2]; 2];
        for k in 0..d {
            let h = grid.h[k];
            let stride = grid.stride(k);
            let diff = 0.5 * e2 * a[k * d + k];
            // Arm lengths and the neighbour on each side: Some(node) or None (T = 0 at ∂D).
            let mut arms = [(h, None::<usize>); 2];
            let mut mirrored = [false; 2];
            let mut arm_value = [0.0f64; 2];
            for (side, s) in [(0usize, -1.0f64), (1, 1.0)] {
                let at_edge = if side == 0 {
                    ij[k] == 0
                } else {
                    ij[k] == n - 1
                };
                if at_edge {
                    mirrored[side] = true;
                    wall = true;
                    continue;
                }
                let nbr = if side == 0 {
                    idx - stride
                } else {
                    idx + stride
                };
                match cls.kinds[nbr] {
                    NodeKind::Unknown(_) => arms[side] = (h, Some(nbr)),
                    NodeKind::Dirichlet => {
                        let t = boundary_distance(domain, &x[..d], k, s, h);
                        arms[side] = (t, None);
                        cut = true;
                        if domain.hole.is_some() {
                            y[..d].copy_from_slice(&x[..d]);
                            y[k] += s * t;
                            arm_value[side] = domain.boundary_value(&y[..d]);
                        }
                    }
                }
            }
            // A wall side mirrors the opposite arm (ghost T₋₁ = T₁).
            for side in 0..2 {
                if mirrored[side] {
                    arms[side] = arms[1 - side];
                    arm_value[side] = arm_value[1 - side];
                }
            }
            let (cm, cp) = fitted(b[k], diff.max(1e-300), arms[0].0, arms[1].0);
            axis_c[k] = [cm, cp];
            for (side, c) in [(0usize, cm), (1, cp)] {
                if let Some(nbr) = arms[side].1 {
                    nb[len] = (nbr, c);
                    len += 1;
                } else {
                    kappa += c;
                    bval += c * arm_value[side];
                }
            }
        }
        if d == 2 && !wall {
            let a12 = 0.5 * e2 * (a[1] + a[2]);
            if a12 != 0.0 {
                let w = a12.abs() / (2.0 * grid.h[0] * grid.h[1]);
                let sy = if a12 > 0.0 { 1isize } else { -1 };
                // Axis neighbours −w, corners +w, centre +2w (in 𝓛ₕ).
                let offs = [
                    (-1isize, 0isize, -w),
                    (1, 0, -w),
                    (0, -1, -w),
                    (0, 1, -w),
                    (1, sy, w),
                    (-1, -sy, w),
                ];
                for (di, dj, c) in offs {
                    let ii = ij[0] as isize + di;
                    let jj = ij[1] as isize + dj;
                    let node = (ii + n as isize * jj) as usize;
                    if let NodeKind::Unknown(_) = cls.kinds[node] {
                        if let Some(e) = nb[..len].iter_mut().find(|e| e.0 == node) {
                            e.1 += c;
                        } else {
                            nb[len] = (node, c);
                            len += 1;
                        }
                    } else {
                        kappa += c;
                        if domain.hole.is_some() {
                            grid.point(node, &mut y[..d]);
                            bval += c * domain.boundary_value(&y[..d]);
                        }
                    }
                }
                if axis_c.iter().flatten().any(|&c| c < w) {
                    non_monotone_rows += 1;
                }
            }
        }
        if cut {
            boundary_rows += 1;
        }
        for &(node, c) in &nb[..len] {
            if let NodeKind::Unknown(col) = cls.kinds[node] {
                rows.col.push(col);
                rows.coef.push(c);
            }
        }
        rows.kappa.push(kappa);
        if domain.hole.is_some() {
            dirichlet_rhs.push(bval);
        }
        rows.ptr.push(rows.col.len());
    }
    Assembly {
        rows,
        dirichlet_rhs,
        non_monotone_rows,
        boundary_rows,
        bad_diffusion,
        bad_diffusion_at,
        singular_drift_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fitted scheme is exact on 1, x and e^{−βx/D} for any arms.
    #[test]
    fn fitted_scheme_is_exact_on_its_basis() {
        for &(beta, diff, hm, hp) in &[
            (0.0, 0.3, 0.1, 0.07),
            (1e-9, 0.3, 0.1, 0.1),
            (0.02, 0.3, 0.1, 0.003),
            (2.0, 0.3, 0.1, 0.1),
            (-5.0, 0.01, 0.1, 0.04),
            (40.0, 0.01, 0.1, 1e-4),
        ] {
            let (cm, cp) = fitted(beta, diff, hm, hp);
            assert!(cm >= 0.0 && cp > 0.0, "{cm} {cp}");
            // x: c₊h₊ − c₋h₋ = β.
            let lin = cp * hp - cm * hm;
            assert!(
                (lin - beta).abs() < 1e-12 * (1.0 + cp * hp),
                "{lin} vs {beta}"
            );
            // e^{−βx/D} (scaled by e^{−|β|h/D} to stay finite): L e = 0.
            let r = -beta / diff;
            let m = (r * -hm).max(r * hp).max(0.0);
            let ex =
                cm * ((-r * hm) - m).exp() + cp * ((r * hp) - m).exp() - (cm + cp) * (-m).exp();
            assert!(ex.abs() < 1e-10 * (cm + cp), "{beta}: {ex}");
        }
    }

    /// On an even stencil it is Il'in–Allen–Southwell: c± = (D/h²)·Pe(coth Pe ± 1), Pe = βh/2D.
    #[test]
    fn even_stencil_is_iljin() {
        let (beta, diff, h) = (3.0, 0.2, 0.05);
        let (cm, cp) = fitted(beta, diff, h, h);
        let pe: f64 = beta * h / (2.0 * diff);
        let coth = 1.0 / pe.tanh();
        assert!((cp - diff / (h * h) * pe * (coth + 1.0)).abs() < 1e-10 * cp);
        assert!((cm - diff / (h * h) * pe * (coth - 1.0)).abs() < 1e-10 * cp);
    }
}
