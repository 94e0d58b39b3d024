//! Extreme eigenpairs of a symmetric operator by thick-restart Lanczos (Wu & Simon, SIAM J.
//! Matrix Anal. Appl. 22, 2000; the symmetric Krylov–Schur method of Stewart 2001).
//!
//! The basis is kept orthonormal by classical Gram–Schmidt against every basis vector, repeated
//! once when the first pass cancels more than 1 − 1/√2 of the vector ("twice is enough",
//! Giraud et al. 2005), so the projected matrix T = VᵀAV is the Rayleigh–Ritz matrix to working
//! precision and no ghost eigenvalues appear. Convergence is checked after every product — the
//! Ritz residual of pair i is β_j |y_{j,i}| — so an expensive operator (a network's
//! Hessian-vector product) is applied no more often than the wanted pairs need. When the basis
//! is full it is compressed to the Ritz vectors nearest the wanted ends (thick restart).
//!
//! faer's `partial_self_adjoint_eigen` was not used: it returns eigenvalues of largest
//! magnitude only (λ_min of an SPD Hessian needs a shift guess), keeps a subspace of at least
//! 64 vectors and checks convergence only at restarts, and it has no path for d ≤ 64.
//!
//! Every reported residual is recomputed as ‖A x − θ x‖ with one more product per pair, so it
//! is an error bound that does not rely on the recurrence: some eigenvalue of A lies within it
//! of θ (Weyl), and within residual²/gap when the gap to the rest of the spectrum is known.

use super::LinearOperator;
use crate::error::{Error, Result};
use crate::linalg::{dot, norm, symmetric_eigen, Matrix};
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;
use std::time::Instant;

/// What to compute and when to stop.
#[derive(Clone, Debug)]
pub struct Config {
    /// Number of largest eigenpairs wanted.
    pub largest: usize,
    /// Number of smallest eigenpairs wanted.
    pub smallest: usize,
    /// Stop when every wanted pair has ‖Ax − θx‖ ≤ `tol`·‖A‖ (‖A‖ estimated by the largest
    /// |Ritz value|).
    pub tol: f64,
    /// Largest basis kept (memory (basis + 1)·d numbers); at least wanted + 2.
    pub basis: usize,
    /// Give up after this many operator products (the result is then reported unconverged).
    pub max_products: usize,
    /// Seed of the Gaussian start vector.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            largest: 1,
            smallest: 0,
            tol: 1e-10,
            basis: 40,
            max_products: 20_000,
            seed: 1,
        }
    }
}

/// One Ritz pair.
#[derive(Clone, Debug, Serialize)]
pub struct EigenPair {
    /// The Ritz value θ.
    pub value: f64,
    /// The unit Ritz vector x.
    #[serde(skip)]
    pub vector: Vec<f64>,
    /// ‖A x − θ x‖, recomputed with an extra product.
    pub residual: f64,
}

/// The answer.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The largest pairs, descending.
    pub largest: Vec<EigenPair>,
    /// The smallest pairs, ascending.
    pub smallest: Vec<EigenPair>,
    /// Operator products used (including the residual checks).
    pub products: usize,
    /// Thick restarts performed.
    pub restarts: usize,
    /// Whether every wanted pair met the tolerance.
    pub converged: bool,
    /// ‖A‖ estimated as the largest |Ritz value|.
    pub norm_estimate: f64,
    /// Whether the Krylov space became invariant (exact answer up to rounding).
    pub invariant: bool,
    /// Wall time.
    pub seconds: f64,
}

/// What the observer sees after each product.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Products so far.
    pub products: usize,
    /// The largest relative Ritz residual among the wanted pairs.
    pub worst_relative_residual: f64,
}

/// Bytes the solve allocates for dimension `d` and basis `m`.
pub fn memory_bytes(d: usize, m: usize) -> u64 {
    crate::resources::product(&[d as u64, (2 * m + 3) as u64, 8])
}

/// Run Lanczos on `op`. `observe` is called after every product; an error it returns (e.g. an
/// interrupt) stops the solve and is returned.
pub fn run<O: LinearOperator + ?Sized>(
    op: &mut O,
    cfg: &Config,
    observe: &mut dyn FnMut(&Progress) -> Result<()>,
) -> Result<Report> {
    let start = Instant::now();
    let d = op.dim();
    let wanted = cfg.largest + cfg.smallest;
    if d == 0 {
        return Err(Error::invalid("dimension", "the operator has d = 0"));
    }
    if wanted == 0 {
        return Err(Error::invalid(
            "largest",
            "ask for at least one eigenpair (largest or smallest)",
        ));
    }
    if wanted > d {
        return Err(Error::invalid(
            "largest",
            format!("{wanted} eigenpairs asked for but d = {d}"),
        ));
    }
    if !(cfg.tol > 0.0 && cfg.tol < 1.0) {
        return Err(Error::invalid(
            "tol",
            format!("the relative tolerance must be in (0, 1), got {}", cfg.tol),
        ));
    }
    let m = cfg.basis.max(wanted + 2).min(d);
    crate::resources::check_memory(crate::resources::Estimate {
        flag: "basis",
        value: m.to_string(),
        what: "the Lanczos basis",
        bytes: memory_bytes(d, m),
        formula: format!("d = {d} × (2·{m} + 3) numbers"),
        advice: "use a smaller basis (at least the number of eigenpairs + 2)".into(),
    })?;

    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(cfg.seed);
    // Columns 0..=m of length d; column j + 1 receives A v_j.
    let mut v = vec![0.0; d * (m + 1)];
    fill_random(&mut v[..d], &mut rng);
    if !normalise(&mut v[..d]) {
        return Err(Error::numerical("lanczos", "the start vector is zero"));
    }
    // T = VᵀAV on columns 0..j, row-major (m + 1)², symmetric.
    let mut t = vec![0.0; (m + 1) * (m + 1)];
    let mut h = vec![0.0; m + 1];
    let mut h2 = vec![0.0; m + 1];
    let mut products = 0usize;
    let mut restarts = 0usize;
    let mut first = 0usize;
    let mut invariant = false;
    let tiny = f64::EPSILON;
    loop {
        let mut finished: Option<(usize, Ritz)> = None;
        for j in first..m {
            let (basis, rest) = v.split_at_mut((j + 1) * d);
            let w = &mut rest[..d];
            op.apply(&basis[j * d..], w)?;
            products += 1;
            if let Some(i) = w.iter().position(|x| !x.is_finite()) {
                return Err(Error::numerical(
                    "lanczos",
                    format!(
                        "the operator returned {} at entry {i} (product {products})",
                        w[i]
                    ),
                ));
            }
            let vj = MatRef::from_column_major_slice(&basis[..(j + 1) * d], d, j + 1);
            let before = norm(w);
            orthogonalise(vj, w, &mut h[..=j]);
            let mut beta = norm(w);
            if beta < std::f64::consts::FRAC_1_SQRT_2 * before {
                orthogonalise(vj, w, &mut h2[..=j]);
                for (a, b) in h[..=j].iter_mut().zip(&h2[..=j]) {
                    *a += b;
                }
                beta = norm(w);
            }
            for i in 0..=j {
                t[i * (m + 1) + j] = h[i];
                t[j * (m + 1) + i] = h[i];
            }
            let ritz = Ritz::of(&t, m + 1, j + 1)?;
            let scale = ritz.norm_estimate().max(f64::MIN_POSITIVE);
            let exhausted = j + 1 == d;
            // A Krylov space that stopped growing (β ≈ 0) is invariant. From a Gaussian start
            // it contains, with probability one, a component of every eigenspace, so its Ritz
            // values are the distinct eigenvalues of A and the solve is complete.
            let breakdown = exhausted || beta <= 1e3 * tiny * scale;
            let worst = ritz.worst_residual(cfg, if breakdown { 0.0 } else { beta }) / scale;
            observe(&Progress {
                products,
                worst_relative_residual: worst,
            })?;
            if breakdown || worst <= cfg.tol || products >= cfg.max_products {
                invariant |= breakdown;
                finished = Some((j + 1, ritz));
                break;
            }
            for x in w.iter_mut() {
                *x /= beta;
            }
            t[(j + 1) * (m + 1) + j] = beta;
        }
        if let Some((k, ritz)) = finished {
            return finish(
                op, cfg, &v, d, k, &ritz, products, restarts, invariant, start,
            );
        }
        // Thick restart: keep p Ritz vectors at the wanted ends, then the residual vector.
        let ritz = Ritz::of(&t, m + 1, m)?;
        let keep = ritz.keep(cfg, m);
        let p = keep.len();
        let y = faer::Mat::from_fn(m, p, |r, c| ritz.vectors[(r, keep[c])]);
        let mut compressed = faer::Mat::<f64>::zeros(d, p);
        matmul(
            compressed.as_mut(),
            Accum::Replace,
            MatRef::from_column_major_slice(&v[..m * d], d, m),
            y.as_ref(),
            1.0,
            Par::Seq,
        );
        for c in 0..p {
            v[c * d..(c + 1) * d]
                .copy_from_slice(compressed.col(c).try_as_col_major().unwrap().as_slice());
        }
        v.copy_within(m * d..(m + 1) * d, p * d);
        // T becomes diag(θ_kept); the couplings β·y_{m−1,i} to the residual vector are the
        // Gram–Schmidt coefficients h_c = v_cᵀ A v_p computed when column p is processed.
        t.iter_mut().for_each(|x| *x = 0.0);
        for (c, &i) in keep.iter().enumerate() {
            t[c * (m + 1) + c] = ritz.values[i];
        }
        first = p;
        restarts += 1;
    }
}

/// h ← Vᵀw, w ← w − V h.
fn orthogonalise(v: MatRef<'_, f64>, w: &mut [f64], h: &mut [f64]) {
    let k = v.ncols();
    let d = v.nrows();
    {
        let hm = MatMut::from_column_major_slice_mut(h, k, 1);
        matmul(
            hm,
            Accum::Replace,
            v.transpose(),
            MatRef::from_column_major_slice(w, d, 1),
            1.0,
            Par::Seq,
        );
    }
    matmul(
        MatMut::from_column_major_slice_mut(w, d, 1),
        Accum::Add,
        v,
        MatRef::from_column_major_slice(h, k, 1),
        -1.0,
        Par::Seq,
    );
}

fn fill_random(x: &mut [f64], rng: &mut rand_xoshiro::Xoshiro256PlusPlus) {
    for xi in x.iter_mut() {
        *xi = StandardNormal.sample(rng);
    }
}

/// Scale to unit length; false if the vector is zero.
fn normalise(x: &mut [f64]) -> bool {
    let n = norm(x);
    if !(n > 0.0 && n.is_finite()) {
        return false;
    }
    x.iter_mut().for_each(|v| *v /= n);
    true
}

/// The Rayleigh–Ritz pairs of the leading k×k block of T.
struct Ritz {
    /// Ascending.
    values: Vec<f64>,
    vectors: faer::Mat<f64>,
}

impl Ritz {
    fn of(t: &[f64], stride: usize, k: usize) -> Result<Self> {
        let mut block = Matrix::zeros(k);
        for i in 0..k {
            block.data[i * k..(i + 1) * k].copy_from_slice(&t[i * stride..i * stride + k]);
        }
        let (values, vectors) = symmetric_eigen(&block, "lanczos: projected matrix")?;
        Ok(Ritz { values, vectors })
    }

    fn norm_estimate(&self) -> f64 {
        self.values.iter().fold(0.0f64, |a, v| a.max(v.abs()))
    }

    /// Indices (ascending order positions) of the wanted pairs: smallest first, then largest.
    fn wanted(&self, cfg: &Config) -> Vec<usize> {
        let k = self.values.len();
        let lo = cfg.smallest.min(k);
        let hi = cfg.largest.min(k - lo);
        (0..lo).chain((k - hi..k).rev()).collect()
    }

    fn worst_residual(&self, cfg: &Config, beta: f64) -> f64 {
        let k = self.values.len();
        let wanted = self.wanted(cfg);
        if wanted.len() < cfg.largest + cfg.smallest {
            return f64::INFINITY;
        }
        wanted
            .iter()
            .map(|&i| (beta * self.vectors[(k - 1, i)]).abs())
            .fold(0.0, f64::max)
    }

    /// The pairs kept at a restart: about half the basis, split between the wanted ends in
    /// proportion to the pairs wanted there, each end keeping at least its wanted pairs plus
    /// one.
    fn keep(&self, cfg: &Config, m: usize) -> Vec<usize> {
        let wanted = cfg.largest + cfg.smallest;
        let p = (m / 2).max(wanted + 1).min(m - 1);
        let mut lo = if cfg.smallest == 0 {
            0
        } else {
            ((p * cfg.smallest) / wanted).max(cfg.smallest + 1)
        };
        if cfg.largest == 0 {
            lo = p;
        }
        let lo = lo.min(p);
        let hi = p - lo;
        (0..lo).chain(m - hi..m).collect()
    }
}

#[allow(clippy::too_many_arguments)]
fn finish<O: LinearOperator + ?Sized>(
    op: &mut O,
    cfg: &Config,
    v: &[f64],
    d: usize,
    k: usize,
    ritz: &Ritz,
    mut products: usize,
    restarts: usize,
    invariant: bool,
    start: Instant,
) -> Result<Report> {
    let basis = MatRef::from_column_major_slice(&v[..k * d], d, k);
    let mut ax = vec![0.0; d];
    let mut pair = |i: usize, products: &mut usize| -> Result<EigenPair> {
        let y = faer::Mat::from_fn(k, 1, |r, _| ritz.vectors[(r, i)]);
        let mut x = faer::Mat::<f64>::zeros(d, 1);
        matmul(x.as_mut(), Accum::Replace, basis, y.as_ref(), 1.0, Par::Seq);
        let mut x: Vec<f64> = (0..d).map(|r| x[(r, 0)]).collect();
        normalise(&mut x);
        op.apply(&x, &mut ax)?;
        *products += 1;
        let theta = dot(&x, &ax);
        let residual = ax
            .iter()
            .zip(&x)
            .map(|(a, xi)| (a - theta * xi).powi(2))
            .sum::<f64>()
            .sqrt();
        Ok(EigenPair {
            value: theta,
            vector: x,
            residual,
        })
    };
    let n = ritz.values.len();
    let lo = cfg.smallest.min(n);
    let hi = cfg.largest.min(n - lo);
    let mut smallest = Vec::with_capacity(lo);
    for i in 0..lo {
        smallest.push(pair(i, &mut products)?);
    }
    let mut largest = Vec::with_capacity(hi);
    for i in (n - hi..n).rev() {
        largest.push(pair(i, &mut products)?);
    }
    let norm_estimate = ritz.norm_estimate();
    let converged = smallest
        .iter()
        .chain(&largest)
        .all(|p| p.residual <= cfg.tol * norm_estimate.max(f64::MIN_POSITIVE) * 10.0)
        && lo == cfg.smallest
        && hi == cfg.largest;
    Ok(Report {
        largest,
        smallest,
        products,
        restarts,
        converged,
        norm_estimate,
        invariant,
        seconds: start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matfree::DiagonalPlusLowRank;

    fn quiet(_: &Progress) -> Result<()> {
        Ok(())
    }

    /// A dense SPD matrix Q diag(λ) Qᵀ with a known spectrum (Q from Householder reflections).
    fn known_spectrum(lambda: &[f64]) -> Matrix {
        let d = lambda.len();
        let mut a = Matrix::diagonal(lambda);
        for r in 0..3 {
            let u: Vec<f64> = (0..d)
                .map(|i| ((i * (r + 3) + r) as f64 * 0.7).sin() + 0.3)
                .collect();
            let uu = dot(&u, &u);
            // A ← (I − 2uuᵀ/uᵀu) A (I − 2uuᵀ/uᵀu)
            let mut p = Matrix::identity(d);
            for i in 0..d {
                for j in 0..d {
                    p.data[i * d + j] -= 2.0 * u[i] * u[j] / uu;
                }
            }
            let pa = (p.to_faer() * a.to_faer()) * p.to_faer();
            a = Matrix::from_faer(pa.as_ref());
        }
        a
    }

    #[test]
    fn extreme_eigenvalues_of_a_dense_matrix_with_known_spectrum() {
        for &d in &[1usize, 2, 5, 40, 200] {
            let lambda: Vec<f64> = (0..d).map(|i| 0.5 + (i * i) as f64 / d as f64).collect();
            let mut a = known_spectrum(&lambda);
            let cfg = Config {
                largest: 2.min(d),
                smallest: if d > 2 { 1 } else { 0 },
                basis: 20,
                ..Config::default()
            };
            let r = run(&mut a, &cfg, &mut quiet).unwrap();
            assert!(r.converged, "d = {d}: {r:?}");
            let lmax = lambda[d - 1];
            assert!(
                (r.largest[0].value - lmax).abs() <= 1e-9 * lmax,
                "d = {d}: {} vs {lmax}",
                r.largest[0].value
            );
            if d > 2 {
                assert!((r.smallest[0].value - lambda[0]).abs() <= 1e-9 * lmax);
                assert!((r.largest[1].value - lambda[d - 2]).abs() <= 1e-9 * lmax);
            }
            for p in r.largest.iter().chain(&r.smallest) {
                assert!(
                    p.residual <= 1e-9 * lmax,
                    "d = {d}: residual {}",
                    p.residual
                );
            }
        }
    }

    #[test]
    fn same_seed_same_bits_and_restarts_converge() {
        // A spread spectrum with a small relative gap at the top needs restarts of a
        // 12-vector basis.
        let d = 300;
        let diag: Vec<f64> = (0..d).map(|i| 1.0 + i as f64 * 0.01).collect();
        let mut op = DiagonalPlusLowRank::new(diag, vec![], vec![]).unwrap();
        let cfg = Config {
            largest: 1,
            smallest: 1,
            basis: 12,
            ..Config::default()
        };
        let a = run(&mut op, &cfg, &mut quiet).unwrap();
        let b = run(&mut op, &cfg, &mut quiet).unwrap();
        assert!(a.restarts > 0);
        assert!(a.converged);
        assert_eq!(a.largest[0].value.to_bits(), b.largest[0].value.to_bits());
        assert!((a.largest[0].value - 3.99).abs() < 1e-9);
        assert!((a.smallest[0].value - 1.0).abs() < 1e-9);
    }

    #[test]
    fn bad_requests_and_failing_operators_are_errors() {
        let mut a = Matrix::identity(3);
        let cfg = Config {
            largest: 4,
            ..Config::default()
        };
        assert!(run(&mut a, &cfg, &mut quiet).is_err());
        let mut nan = crate::matfree::FnOperator::new(4, |_x: &[f64], y: &mut [f64]| {
            y.fill(f64::NAN);
            Ok(())
        });
        let e = run(&mut nan, &Config::default(), &mut quiet).unwrap_err();
        assert!(e.to_string().contains("NaN"), "{e}");
        let mut stop = |p: &Progress| {
            if p.products >= 3 {
                Err(Error::Interrupted)
            } else {
                Ok(())
            }
        };
        let d = 100;
        let mut op =
            DiagonalPlusLowRank::new((0..d).map(|i| i as f64).collect(), vec![], vec![]).unwrap();
        assert!(run(&mut op, &Config::default(), &mut stop).is_err());
    }
}
