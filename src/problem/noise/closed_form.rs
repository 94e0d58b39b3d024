//! Closed forms for state-dependent noise, without an eigendecomposition per point.
//!
//! - Weight `inverse` (a = C), any d: M = C⁻¹ and ∂ₖM = −M (∂ₖC) M. For d ≤ 3, C is positive
//!   definite iff its leading principal minors are positive (Sylvester) and C⁻¹ = adj C / det C;
//!   from d = 4 on, Cholesky.
//! - d = 2, any weight: the Cayley–Hamilton square root of an SPD 2×2 matrix,
//!   C^{1/2} = (C + sI)/t with s = √det C and t = √(tr C + 2s) (both exact functions of the
//!   entries, so their derivatives are too). Weight `inverse-sqrt` (a = C^{1/2}) uses
//!   S = C^{1/2}, M = S⁻¹ and ∂ₖM = −M (∂ₖS) M; the SDE's σ = a^{1/2} is C^{1/2} or C^{1/4},
//!   the root applied once or twice.
//!
//! They agree with the spectral forms to rounding (tests in the parent module).

/// out = C⁻¹ for a symmetric C (row-major d×d), when C is positive definite; `scratch` holds
/// d² numbers (used from d = 4 on). Returns false when C is not positive definite.
pub fn spd_inverse(c: &[f64], d: usize, out: &mut [f64], scratch: &mut [f64]) -> bool {
    match d {
        1 => {
            out[0] = 1.0 / c[0];
            c[0] > 0.0
        }
        2 => {
            let det = c[0] * c[3] - c[1] * c[2];
            if !(c[0] > 0.0 && det > 0.0) {
                return false;
            }
            let r = 1.0 / det;
            out[0] = c[3] * r;
            out[1] = -c[1] * r;
            out[2] = -c[2] * r;
            out[3] = c[0] * r;
            true
        }
        3 => {
            let m2 = c[0] * c[4] - c[1] * c[3];
            // Cofactors of the first row, then the determinant along it.
            let a00 = c[4] * c[8] - c[5] * c[7];
            let a01 = c[5] * c[6] - c[3] * c[8];
            let a02 = c[3] * c[7] - c[4] * c[6];
            let det = c[0] * a00 + c[1] * a01 + c[2] * a02;
            if !(c[0] > 0.0 && m2 > 0.0 && det > 0.0) {
                return false;
            }
            let r = 1.0 / det;
            out[0] = a00 * r;
            out[3] = a01 * r;
            out[6] = a02 * r;
            out[1] = (c[2] * c[7] - c[1] * c[8]) * r;
            out[4] = (c[0] * c[8] - c[2] * c[6]) * r;
            out[7] = (c[1] * c[6] - c[0] * c[7]) * r;
            out[2] = (c[1] * c[5] - c[2] * c[4]) * r;
            out[5] = (c[2] * c[3] - c[0] * c[5]) * r;
            out[8] = m2 * r;
            true
        }
        _ => cholesky_inverse(c, d, out, scratch),
    }
}

/// C⁻¹ through C = LLᵀ: L⁻¹ by forward substitution, then C⁻¹ = L⁻ᵀL⁻¹.
fn cholesky_inverse(c: &[f64], d: usize, out: &mut [f64], l: &mut [f64]) -> bool {
    l[..d * d].fill(0.0);
    for j in 0..d {
        let mut s = c[j * d + j];
        for k in 0..j {
            s -= l[j * d + k] * l[j * d + k];
        }
        if !(s > 0.0) {
            return false;
        }
        let ljj = s.sqrt();
        l[j * d + j] = ljj;
        for i in j + 1..d {
            let mut s = c[i * d + j];
            for k in 0..j {
                s -= l[i * d + k] * l[j * d + k];
            }
            l[i * d + j] = s / ljj;
        }
    }
    // out ← L⁻¹ (lower triangular), column by column.
    out[..d * d].fill(0.0);
    for j in 0..d {
        out[j * d + j] = 1.0 / l[j * d + j];
        for i in j + 1..d {
            let mut s = 0.0;
            for k in j..i {
                s -= l[i * d + k] * out[k * d + j];
            }
            out[i * d + j] = s / l[i * d + i];
        }
    }
    // C⁻¹ = L⁻ᵀ L⁻¹, computed into l (no longer needed), then copied back.
    for i in 0..d {
        for j in 0..=i {
            let mut s = 0.0;
            for k in i..d {
                s += out[k * d + i] * out[k * d + j];
            }
            l[i * d + j] = s;
            l[j * d + i] = s;
        }
    }
    out[..d * d].copy_from_slice(&l[..d * d]);
    true
}

/// dm = −M dc M for d×d matrices; `tmp` holds d² numbers. Unrolled for d ≤ 4 (the hot case:
/// once per segment, coordinate and evaluation in the minimum action method).
#[inline]
pub fn inverse_derivative(m: &[f64], dc: &[f64], d: usize, tmp: &mut [f64], dm: &mut [f64]) {
    match d {
        2 => inverse_derivative_n::<2, 4>(m, dc, dm),
        3 => inverse_derivative_n::<3, 9>(m, dc, dm),
        4 => inverse_derivative_n::<4, 16>(m, dc, dm),
        _ => inverse_derivative_any(m, dc, d, tmp, dm),
    }
}

/// [`inverse_derivative`] for a fixed N (NN = N²), on arrays the compiler unrolls.
#[inline(always)]
fn inverse_derivative_n<const N: usize, const NN: usize>(m: &[f64], dc: &[f64], dm: &mut [f64]) {
    let m: &[f64; NN] = m[..NN].try_into().expect("N² entries");
    let dc: &[f64; NN] = dc[..NN].try_into().expect("N² entries");
    let mut t = [0.0; NN];
    for i in 0..N {
        for j in 0..N {
            let mut s = 0.0;
            for k in 0..N {
                s += dc[i * N + k] * m[k * N + j];
            }
            t[i * N + j] = s;
        }
    }
    let dm: &mut [f64; NN] = (&mut dm[..NN]).try_into().expect("N² entries");
    for i in 0..N {
        for j in 0..N {
            let mut s = 0.0;
            for k in 0..N {
                s += m[i * N + k] * t[k * N + j];
            }
            dm[i * N + j] = -s;
        }
    }
}

fn inverse_derivative_any(m: &[f64], dc: &[f64], d: usize, tmp: &mut [f64], dm: &mut [f64]) {
    for i in 0..d {
        for j in 0..d {
            let mut s = 0.0;
            for k in 0..d {
                s += dc[i * d + k] * m[k * d + j];
            }
            tmp[i * d + j] = s;
        }
    }
    for i in 0..d {
        for j in 0..d {
            let mut s = 0.0;
            for k in 0..d {
                s += m[i * d + k] * tmp[k * d + j];
            }
            dm[i * d + j] = -s;
        }
    }
}

/// The 2×2 root S = C^{1/2} with what its derivatives need: (S, s, t), or `None` when C is not
/// positive definite.
#[inline]
pub fn sqrt2(c: &[f64]) -> Option<([f64; 4], f64, f64)> {
    let det = c[0] * c[3] - c[1] * c[2];
    if !(c[0] > 0.0 && det > 0.0) {
        return None;
    }
    let s = det.sqrt();
    let t = (c[0] + c[3] + 2.0 * s).sqrt();
    let r = 1.0 / t;
    Some(([(c[0] + s) * r, c[1] * r, c[2] * r, (c[3] + s) * r], s, t))
}

/// ∂S for S = C^{1/2} = (C + sI)/t along dC: ∂s = ∂det/(2s), ∂t = (tr ∂C + 2∂s)/(2t),
/// ∂S = (∂C + ∂s I − S ∂t)/t.
#[inline]
pub fn sqrt2_derivative(c: &[f64], root: &([f64; 4], f64, f64), dc: &[f64]) -> [f64; 4] {
    let (sm, s, t) = root;
    let ddet = dc[0] * c[3] + c[0] * dc[3] - dc[1] * c[2] - c[1] * dc[2];
    let ds = ddet / (2.0 * s);
    let dt = (dc[0] + dc[3] + 2.0 * ds) / (2.0 * t);
    let r = 1.0 / t;
    [
        (dc[0] + ds - sm[0] * dt) * r,
        (dc[1] - sm[1] * dt) * r,
        (dc[2] - sm[2] * dt) * r,
        (dc[3] + ds - sm[3] * dt) * r,
    ]
}

/// The inverse of an SPD 2×2 matrix (no check: callers pass a root they built).
#[inline]
pub fn inverse2(m: &[f64; 4]) -> [f64; 4] {
    let r = 1.0 / (m[0] * m[3] - m[1] * m[2]);
    [m[3] * r, -m[1] * r, -m[2] * r, m[0] * r]
}
