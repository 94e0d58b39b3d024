//! Dense linear algebra shared by every engine.
//!
//! Small, allocation-free kernels (symmetric eigendecomposition by cyclic Jacobi, spectral
//! functions f(C) and their Daleckii–Krein derivatives) for the per-point work in hot loops, and
//! conversions to `faer` for the large dense problems of the exact engine.

pub mod memo;

use crate::error::{Error, Result};

/// A dense square matrix stored row-major: entry (i, j) is `data[i * n + j]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    /// Number of rows (= columns).
    pub n: usize,
    /// Row-major entries, length n².
    pub data: Vec<f64>,
}

impl Matrix {
    /// The n×n zero matrix.
    pub fn zeros(n: usize) -> Self {
        Matrix {
            n,
            data: vec![0.0; n * n],
        }
    }
    /// The n×n identity.
    pub fn identity(n: usize) -> Self {
        let mut m = Self::zeros(n);
        for i in 0..n {
            m.data[i * n + i] = 1.0;
        }
        m
    }
    /// Diagonal matrix with the given diagonal.
    pub fn diagonal(d: &[f64]) -> Self {
        let mut m = Self::zeros(d.len());
        for (i, v) in d.iter().enumerate() {
            m.data[i * d.len() + i] = *v;
        }
        m
    }
    /// Build from rows; `field` names the input for the error message.
    pub fn from_rows(rows: &[Vec<f64>], field: &str) -> Result<Self> {
        let n = rows.len();
        if n == 0 {
            return Err(Error::invalid(field, "matrix is empty"));
        }
        let mut data = Vec::with_capacity(n * n);
        for (i, r) in rows.iter().enumerate() {
            if r.len() != n {
                return Err(Error::invalid(
                    field,
                    format!(
                        "matrix must be square: row {i} has {} entries, expected {n}",
                        r.len()
                    ),
                ));
            }
            data.extend_from_slice(r);
        }
        let m = Matrix { n, data };
        m.check_finite(field)?;
        Ok(m)
    }
    /// Entry (i, j).
    #[inline]
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.n + j]
    }
    /// Rows as nested vectors (for JSON output).
    pub fn to_rows(&self) -> Vec<Vec<f64>> {
        self.data.chunks(self.n).map(|r| r.to_vec()).collect()
    }
    /// Error if any entry is NaN or infinite.
    pub fn check_finite(&self, field: &str) -> Result<()> {
        if let Some(k) = self.data.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(
                field,
                format!(
                    "entry ({}, {}) is {}; all entries must be finite",
                    k / self.n,
                    k % self.n,
                    self.data[k]
                ),
            ));
        }
        Ok(())
    }
    /// Error unless symmetric to a relative tolerance of 1e-10.
    pub fn check_symmetric(&self, field: &str) -> Result<()> {
        let scale = self
            .data
            .iter()
            .fold(0.0f64, |m, v| m.max(v.abs()))
            .max(1e-300);
        for i in 0..self.n {
            for j in 0..i {
                let (a, b) = (self.get(i, j), self.get(j, i));
                if (a - b).abs() > 1e-10 * scale {
                    return Err(Error::NotPositiveDefinite {
                        field: field.into(),
                        detail: format!("not symmetric: entry ({i},{j}) = {a} but ({j},{i}) = {b}"),
                    });
                }
            }
        }
        Ok(())
    }
    /// Convert to a `faer` matrix.
    pub fn to_faer(&self) -> faer::Mat<f64> {
        faer::Mat::from_fn(self.n, self.n, |i, j| self.get(i, j))
    }
    /// Convert from a square `faer` matrix.
    pub fn from_faer(m: faer::MatRef<'_, f64>) -> Self {
        let n = m.nrows();
        let mut data = Vec::with_capacity(n * n);
        for i in 0..n {
            for j in 0..n {
                data.push(m[(i, j)]);
            }
        }
        Matrix { n, data }
    }
    /// y = M x.
    pub fn mul_vec(&self, x: &[f64], y: &mut [f64]) {
        mat_vec(&self.data, self.n, x, y);
    }
    /// The transpose.
    pub fn transpose(&self) -> Self {
        let n = self.n;
        let mut t = Self::zeros(n);
        for i in 0..n {
            for j in 0..n {
                t.data[j * n + i] = self.data[i * n + j];
            }
        }
        t
    }
}

/// y = M x for a row-major n×n `m`.
#[inline]
pub fn mat_vec(m: &[f64], n: usize, x: &[f64], y: &mut [f64]) {
    for i in 0..n {
        y[i] = dot(&m[i * n..(i + 1) * n], &x[..n]);
    }
}

/// uᵀ M v for a row-major n×n `m`.
#[inline]
pub fn quad_form(m: &[f64], n: usize, u: &[f64], v: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..n {
        s += u[i] * dot(&m[i * n..(i + 1) * n], &v[..n]);
    }
    s
}

/// Euclidean dot product of the common length. Below 16 terms it sums left to right (the
/// small-d kernels rely on that order); from 16 on it keeps four partial sums, which breaks the
/// add-latency chain and lets the compiler use packed SIMD — 3–4× faster at d ≈ 50.
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    if n < 16 {
        let mut s = 0.0;
        for j in 0..n {
            s += a[j] * b[j];
        }
        return s;
    }
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// Euclidean norm.
#[inline]
pub fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// Symmetric eigendecomposition A = Q diag(λ) Qᵀ by cyclic Jacobi rotations, in place.
///
/// `a` (row-major n×n, symmetric) is destroyed; on return `vals` holds the eigenvalues (unsorted)
/// and column k of `vecs` (row-major) the k-th eigenvector. Allocation-free; intended for the
/// small d of per-point noise evaluation (cost O(d³) per sweep, a few sweeps).
pub fn jacobi_eigen(a: &mut [f64], n: usize, vals: &mut [f64], vecs: &mut [f64]) {
    vecs.fill(0.0);
    for i in 0..n {
        vecs[i * n + i] = 1.0;
    }
    if n == 1 {
        vals[0] = a[0];
        return;
    }
    for _sweep in 0..60 {
        let mut off = 0.0;
        let mut diag = 0.0;
        for i in 0..n {
            diag += a[i * n + i] * a[i * n + i];
            for j in (i + 1)..n {
                off += a[i * n + j] * a[i * n + j];
            }
        }
        if off <= 1e-32 * diag || off == 0.0 {
            break;
        }
        for p in 0..n {
            for q in (p + 1)..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let app = a[p * n + p];
                let aqq = a[q * n + q];
                // Rotation angle that zeroes a_pq (Golub & Van Loan, Alg. 8.5.1).
                let tau = (aqq - app) / (2.0 * apq);
                let t = if tau >= 0.0 {
                    1.0 / (tau + (1.0 + tau * tau).sqrt())
                } else {
                    -1.0 / (-tau + (1.0 + tau * tau).sqrt())
                };
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = t * c;
                for k in 0..n {
                    let akp = a[k * n + p];
                    let akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let apk = a[p * n + k];
                    let aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let vkp = vecs[k * n + p];
                    let vkq = vecs[k * n + q];
                    vecs[k * n + p] = c * vkp - s * vkq;
                    vecs[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    for i in 0..n {
        vals[i] = a[i * n + i];
    }
}

/// The eigendecomposition of one small symmetric matrix and functions of it (f(C) = Q f(Λ) Qᵀ and
/// its Daleckii–Krein derivative), allocation-free; allocate once per thread and reuse.
#[derive(Clone, Debug)]
pub struct SpectralWorkspace {
    n: usize,
    scratch: Vec<f64>,
    /// Eigenvalues of the last decomposed matrix.
    pub vals: Vec<f64>,
    /// Eigenvectors (columns, row-major storage) of the last decomposed matrix.
    pub vecs: Vec<f64>,
    tmp: Vec<f64>,
}

impl SpectralWorkspace {
    /// Workspace for n×n matrices.
    pub fn new(n: usize) -> Self {
        SpectralWorkspace {
            n,
            scratch: vec![0.0; n * n],
            vals: vec![0.0; n],
            vecs: vec![0.0; n * n],
            tmp: vec![0.0; n * n],
        }
    }
    /// Decompose the symmetric matrix `c` (row-major); results in `vals`, `vecs`.
    pub fn decompose(&mut self, c: &[f64]) {
        self.scratch.copy_from_slice(c);
        jacobi_eigen(&mut self.scratch, self.n, &mut self.vals, &mut self.vecs);
    }
    /// out = Q diag(f(λ)) Qᵀ for the last decomposition.
    pub fn apply(&self, f: impl Fn(f64) -> f64, out: &mut [f64]) {
        let n = self.n;
        for i in 0..n {
            for j in 0..=i {
                let mut s = 0.0;
                for k in 0..n {
                    s += self.vecs[i * n + k] * f(self.vals[k]) * self.vecs[j * n + k];
                }
                out[i * n + j] = s;
                out[j * n + i] = s;
            }
        }
    }
    /// Daleckii–Krein derivative: out = Q [f^{\[1\]}(λᵢ, λⱼ) (Qᵀ dC Q)ᵢⱼ] Qᵀ, the directional
    /// derivative of f(C) along the symmetric perturbation `dc`, for the last decomposition.
    /// `f1(λᵢ, λⱼ)` is the first divided difference of f (f'(λ) when λᵢ = λⱼ).
    pub fn apply_derivative(&mut self, f1: impl Fn(f64, f64) -> f64, dc: &[f64], out: &mut [f64]) {
        let n = self.n;
        // tmp = Qᵀ dC Q, then scaled entrywise, then out = Q tmp Qᵀ.
        for i in 0..n {
            for j in 0..n {
                let mut s = 0.0;
                for k in 0..n {
                    s += dc[i * n + k] * self.vecs[k * n + j];
                }
                self.scratch[i * n + j] = s;
            }
        }
        for i in 0..n {
            for j in 0..n {
                let mut s = 0.0;
                for k in 0..n {
                    s += self.vecs[k * n + i] * self.scratch[k * n + j];
                }
                self.tmp[i * n + j] = s * f1(self.vals[i], self.vals[j]);
            }
        }
        for i in 0..n {
            for j in 0..n {
                let mut s = 0.0;
                for k in 0..n {
                    s += self.vecs[i * n + k] * self.tmp[k * n + j];
                }
                self.scratch[i * n + j] = s;
            }
        }
        for i in 0..n {
            for j in 0..n {
                let mut s = 0.0;
                for k in 0..n {
                    s += self.scratch[i * n + k] * self.vecs[j * n + k];
                }
                out[i * n + j] = s;
            }
        }
    }
}

/// λ^p for λ ≥ 0, with `sqrt` and divisions for the quarter-integer exponents the weights use
/// (a = C^{1/2} or C, a⁻¹, a^{1/2}: p ∈ {±¼, ±½, ±1, …}), which are both faster and more
/// accurate than `powf`; `powf` otherwise.
#[inline]
pub fn real_power(l: f64, p: f64) -> f64 {
    match p {
        0.0 => 1.0,
        1.0 => l,
        -1.0 => 1.0 / l,
        2.0 => l * l,
        -2.0 => 1.0 / (l * l),
        0.5 => l.sqrt(),
        -0.5 => 1.0 / l.sqrt(),
        1.5 => l * l.sqrt(),
        -1.5 => 1.0 / (l * l.sqrt()),
        0.25 => l.sqrt().sqrt(),
        -0.25 => 1.0 / l.sqrt().sqrt(),
        -0.75 => 1.0 / (l.sqrt() * l.sqrt().sqrt()),
        -1.25 => 1.0 / (l * l.sqrt().sqrt()),
        _ => l.powf(p),
    }
}

/// First divided difference of the power function λ ↦ λ^p, stable when λᵢ ≈ λⱼ.
#[inline]
pub fn power_divided_difference(p: f64, a: f64, b: f64) -> f64 {
    if (a - b).abs() <= 1e-9 * a.abs().max(b.abs()) {
        let m = 0.5 * (a + b);
        p * real_power(m, p - 1.0)
    } else {
        (real_power(a, p) - real_power(b, p)) / (a - b)
    }
}

/// Symmetric eigendecomposition of a dense matrix with `faer` (eigenvalues ascending);
/// remembered for large matrices ([`memo`]).
pub fn symmetric_eigen(m: &Matrix, field: &str) -> Result<(Vec<f64>, faer::Mat<f64>)> {
    if memo::worth_it(m) {
        if let Some(memo::Solved::Vectors(e)) = memo::lookup(m, false) {
            return Ok((e.0.clone(), e.1.clone()));
        }
    }
    let evd = m
        .to_faer()
        .self_adjoint_eigen(faer::Side::Lower)
        .map_err(|e| Error::numerical(field, format!("eigendecomposition failed: {e:?}")))?;
    let vals: Vec<f64> = (0..m.n).map(|i| evd.S()[i]).collect();
    let vecs = evd.U().to_owned();
    if memo::worth_it(m) {
        memo::store(
            m,
            memo::Solved::Vectors(std::sync::Arc::new((vals.clone(), vecs.clone()))),
        );
    }
    Ok((vals, vecs))
}

/// Eigenvalues (ascending) of a dense symmetric matrix with `faer`; remembered for large
/// matrices ([`memo`]), and read from a remembered eigendecomposition when there is one.
pub fn symmetric_eigenvalues(m: &Matrix, field: &str) -> Result<Vec<f64>> {
    if memo::worth_it(m) {
        match memo::lookup(m, true) {
            Some(memo::Solved::Vectors(e)) => return Ok(e.0.clone()),
            Some(memo::Solved::Values(v)) => return Ok(v.as_ref().clone()),
            None => {}
        }
    }
    let vals = m
        .to_faer()
        .self_adjoint_eigenvalues(faer::Side::Lower)
        .map_err(|e| Error::numerical(field, format!("eigenvalues failed: {e:?}")))?;
    if memo::worth_it(m) {
        memo::store(m, memo::Solved::Values(std::sync::Arc::new(vals.clone())));
    }
    Ok(vals)
}

/// Q diag(f(λ)) Qᵀ for an eigendecomposition from [`symmetric_eigen`].
pub fn spectral_apply(vals: &[f64], vecs: &faer::Mat<f64>, f: impl Fn(f64) -> f64) -> Matrix {
    let n = vals.len();
    let fv: Vec<f64> = vals.iter().map(|&l| f(l)).collect();
    let scaled = faer::Mat::from_fn(n, n, |i, j| vecs[(i, j)] * fv[j]);
    let prod = &scaled * vecs.transpose();
    Matrix::from_faer(prod.as_ref())
}

/// Error unless `m` is symmetric positive definite; returns its eigenvalues (ascending).
pub fn check_spd(m: &Matrix, field: &str) -> Result<Vec<f64>> {
    m.check_finite(field)?;
    m.check_symmetric(field)?;
    let vals = symmetric_eigenvalues(m, field)?;
    check_eigenvalues_positive(&vals, field)?;
    Ok(vals)
}

/// Error unless the smallest of the ascending eigenvalues `vals` is clearly positive.
pub fn check_eigenvalues_positive(vals: &[f64], field: &str) -> Result<()> {
    let lmin = vals[0];
    let lmax = *vals.last().unwrap();
    if lmin <= 1e-14 * lmax.abs().max(1e-300) || lmin <= 0.0 {
        return Err(Error::NotPositiveDefinite {
            field: field.into(),
            detail: format!("smallest eigenvalue is {lmin:.3e} (largest {lmax:.3e})"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_power_agrees_with_powf() {
        let ps = [
            0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 1.5, -1.5, 0.25, -0.25, -0.75, -1.25, 0.3,
        ];
        for p in ps {
            for l in [1e-8, 0.37, 1.0, 2.9, 4.1e5] {
                let (v, e) = (real_power(l, p), l.powf(p));
                assert!(
                    (v - e).abs() <= 4.0 * f64::EPSILON * e,
                    "{l}^{p}: {v} vs {e}"
                );
            }
        }
    }

    #[test]
    fn jacobi_reconstructs_matrix() {
        let a = [4.0, 1.0, 0.5, 1.0, 3.0, -0.2, 0.5, -0.2, 2.0];
        let mut ws = SpectralWorkspace::new(3);
        ws.decompose(&a);
        let mut back = [0.0; 9];
        ws.apply(|l| l, &mut back);
        for k in 0..9 {
            assert!(
                (back[k] - a[k]).abs() < 1e-13,
                "{k}: {} vs {}",
                back[k],
                a[k]
            );
        }
    }

    #[test]
    fn daleckii_krein_matches_finite_difference() {
        // d/dt (C + t E)^{-1/2} at t = 0.
        let c = [3.0, 0.7, 0.7, 1.5];
        let e = [0.3, -0.4, -0.4, 1.1];
        let mut ws = SpectralWorkspace::new(2);
        ws.decompose(&c);
        let mut d = [0.0; 4];
        ws.apply_derivative(|a, b| power_divided_difference(-0.5, a, b), &e, &mut d);
        let h = 1e-6;
        let f = |t: f64| {
            let m: Vec<f64> = c.iter().zip(&e).map(|(x, y)| x + t * y).collect();
            let mut w = SpectralWorkspace::new(2);
            w.decompose(&m);
            let mut o = [0.0; 4];
            w.apply(|l| real_power(l, -0.5), &mut o);
            o
        };
        let (p, m) = (f(h), f(-h));
        for k in 0..4 {
            let fd = (p[k] - m[k]) / (2.0 * h);
            assert!((fd - d[k]).abs() < 1e-8, "{k}: fd {fd} vs {}", d[k]);
        }
    }
}
