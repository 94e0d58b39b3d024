//! The gradient covariance C(θ) = GᵀG as an operator, from the per-example gradients in
//! factored form, never as a d×d matrix.
//!
//! Row i of G is (gᵢ − ḡ)/√N, gᵢ the data part of ∇ℓᵢ (the L2 term cancels in ∇ℓᵢ − ∇L). For
//! one hidden layer, gᵢ = β√α rᵢ (xᵢ ⊗ eᵢ, eᵢ, hᵢ, 1) with hᵢ = tanh(aᵢ) and eᵢ = φ_v ∘ (1 − hᵢ²)
//! (the blocks W, c, v, b₀ of θ), so storing rᵢ, hᵢ and eᵢ — N(2w + 1) numbers against d = w(p+2)+1
//! per row of G — is enough for:
//!
//! - G v (one pass over the examples, O(N·p·w)), hence Vᵀ C V = (GV)ᵀ(GV) for a few vectors V;
//! - the Gram matrix K = GGᵀ (N×N), from gᵢ·gⱼ = β²α rᵢrⱼ[(xᵢ·xⱼ + 1)(eᵢ·eⱼ) + hᵢ·hⱼ + 1], whose
//!   eigenpairs K = U S² Uᵀ give C^{1/2} = Gᵀ U S⁻¹ Uᵀ G (G = U S Vᵀ), so
//!   Vᵀ C^{1/2} V = (GV)ᵀ K^{+1/2} (GV) and tr C^{1/2} = Σ S;
//! - tr C = Σᵢ |gᵢ − ḡ|²/N exactly.
//!
//! These are what [`crate::matfree::subspace`] needs for V₀ with C = C* on the top-k eigenspace
//! of H* under either weight.

use super::network::with_scratch;
use super::Mlp;
use crate::error::{Error, Result};
use crate::linalg::{symmetric_eigen, Matrix};
use crate::matfree::subspace::NoiseCompression;
use crate::problem::Weight;

/// Per-example gradients of an [`Mlp`] at one θ, in factored form.
#[derive(Clone, Debug)]
pub struct PerExampleGradients<'m> {
    model: &'m Mlp,
    /// β√α rᵢ.
    residual: Vec<f64>,
    /// hᵢⱼ = tanh(aᵢⱼ), N×w row-major.
    hidden: Vec<f64>,
    /// eᵢⱼ = φ_vⱼ(1 − hᵢⱼ²), N×w row-major.
    slope: Vec<f64>,
    /// ḡ = (1/N) Σᵢ gᵢ.
    mean: Vec<f64>,
}

impl<'m> PerExampleGradients<'m> {
    /// Forward passes over every example at θ (memory N(2w + 1) + d numbers).
    ///
    /// # Errors
    /// θ without d entries, or not finite.
    pub fn new(model: &'m Mlp, theta: &[f64]) -> Result<Self> {
        let (d, n, w) = (model.dim(), model.n, model.width);
        if theta.len() != d {
            return Err(Error::invalid(
                "theta",
                format!("has {} entries, the network has d = {d}", theta.len()),
            ));
        }
        if theta.iter().any(|t| !t.is_finite()) {
            return Err(Error::invalid("theta", "has a non-finite entry"));
        }
        let (_, ov, _) = model.offsets();
        let scale = model.beta * model.sqrt_alpha;
        let mut residual = vec![0.0; n];
        let mut hidden = vec![0.0; n * w];
        let mut slope = vec![0.0; n * w];
        for i in 0..n {
            let h = &mut hidden[i * w..(i + 1) * w];
            let f = model.forward_dispatch(theta, i, h);
            residual[i] = scale * (f - model.y[i]);
            for ((e, &hj), &vj) in slope[i * w..(i + 1) * w]
                .iter_mut()
                .zip(h.iter())
                .zip(&theta[ov..ov + w])
            {
                *e = model.sqrt_alpha * vj * (1.0 - hj * hj);
            }
        }
        let mut g = PerExampleGradients {
            model,
            residual,
            hidden,
            slope,
            mean: vec![0.0; d],
        };
        let mut mean = vec![0.0; d];
        let mut gi = vec![0.0; d];
        for i in 0..n {
            g.example(i, &mut gi);
            for (m, v) in mean.iter_mut().zip(&gi) {
                *m += v / n as f64;
            }
        }
        g.mean = mean;
        Ok(g)
    }

    /// d.
    pub fn dim(&self) -> usize {
        self.model.dim()
    }

    /// N.
    pub fn examples(&self) -> usize {
        self.model.n
    }

    /// out = gᵢ (the data part of ∇ℓᵢ).
    fn example(&self, i: usize, out: &mut [f64]) {
        let (p, w) = (self.model.inputs, self.model.width);
        let (oc, ov, ob) = self.model.offsets();
        let r = self.residual[i];
        let e = &self.slope[i * w..(i + 1) * w];
        let h = &self.hidden[i * w..(i + 1) * w];
        let x = &self.model.x[i * p..(i + 1) * p];
        for (k, &xk) in x.iter().enumerate() {
            for (o, &ej) in out[k * w..(k + 1) * w].iter_mut().zip(e) {
                *o = r * ej * xk;
            }
        }
        for j in 0..w {
            out[oc + j] = r * e[j];
            out[ov + j] = r * h[j];
        }
        out[ob] = r;
    }

    /// out = G v: outᵢ = (gᵢ − ḡ)·v/√N (one pass over the examples).
    ///
    /// # Panics
    /// If v has not d entries or out not N (a programming error).
    pub fn project(&self, v: &[f64], out: &mut [f64]) {
        let (p, w, n) = (self.model.inputs, self.model.width, self.model.n);
        assert!(v.len() == self.dim() && out.len() == n, "project: shapes");
        let (oc, ov, ob) = self.model.offsets();
        let mean_dot: f64 = self.mean.iter().zip(v).map(|(a, b)| a * b).sum();
        let inv_sqrt_n = 1.0 / (n as f64).sqrt();
        with_scratch(w, |t| {
            for (i, o) in out.iter_mut().enumerate() {
                // tⱼ = v_cⱼ + Σₖ xᵢₖ v_Wₖⱼ: the directional change of the pre-activation.
                t.copy_from_slice(&v[oc..oc + w]);
                for (k, &xk) in self.model.x[i * p..(i + 1) * p].iter().enumerate() {
                    for (tj, &vw) in t.iter_mut().zip(&v[k * w..(k + 1) * w]) {
                        *tj += xk * vw;
                    }
                }
                let e = &self.slope[i * w..(i + 1) * w];
                let h = &self.hidden[i * w..(i + 1) * w];
                let mut s = v[ob];
                for j in 0..w {
                    s += e[j] * t[j] + h[j] * v[ov + j];
                }
                *o = (self.residual[i] * s - mean_dot) * inv_sqrt_n;
            }
        });
    }

    /// The Gram matrix K = GGᵀ (N×N): the same non-zero spectrum as C.
    ///
    /// # Errors
    /// N² numbers beyond the available memory.
    pub fn gram(&self) -> Result<Matrix> {
        let (p, w, n) = (self.model.inputs, self.model.width, self.model.n);
        crate::resources::check_memory(crate::resources::Estimate {
            flag: "examples",
            value: n.to_string(),
            what: "the per-example Gram matrix (for C^{1/2})",
            bytes: crate::resources::product(&[n as u64, n as u64, 24]),
            formula: format!("{n}² × 3 numbers"),
            advice: "use the inverse weight (it needs only G V), or fewer examples".into(),
        })?;
        let rows = |data: &[f64], m: usize| faer::Mat::from_fn(n, m, |i, j| data[i * m + j]);
        let (e, h, x) = (
            rows(&self.slope, w),
            rows(&self.hidden, w),
            rows(&self.model.x, p),
        );
        let (ee, hh, xx) = (&e * e.transpose(), &h * h.transpose(), &x * x.transpose());
        // Raw gᵢ·gⱼ, then centring: (gᵢ − ḡ)·(gⱼ − ḡ) = Rᵢⱼ − mᵢ − mⱼ + m̄ with mᵢ = gᵢ·ḡ.
        let mut raw = Matrix::zeros(n);
        for i in 0..n {
            for j in 0..n {
                raw.data[i * n + j] = self.residual[i]
                    * self.residual[j]
                    * ((xx[(i, j)] + 1.0) * ee[(i, j)] + hh[(i, j)] + 1.0);
            }
        }
        let m: Vec<f64> = (0..n)
            .map(|i| raw.data[i * n..(i + 1) * n].iter().sum::<f64>() / n as f64)
            .collect();
        let mbar = m.iter().sum::<f64>() / n as f64;
        for i in 0..n {
            for j in 0..n {
                raw.data[i * n + j] = (raw.data[i * n + j] - m[i] - m[j] + mbar) / n as f64;
            }
        }
        Ok(raw)
    }

    /// tr C = (1/N) Σᵢ |gᵢ − ḡ|², exact, O(N·(p + w)).
    pub fn trace(&self) -> f64 {
        let (p, w, n) = (self.model.inputs, self.model.width, self.model.n);
        let mut sum = 0.0;
        for i in 0..n {
            let x2: f64 = self.model.x[i * p..(i + 1) * p].iter().map(|v| v * v).sum();
            let e2: f64 = self.slope[i * w..(i + 1) * w].iter().map(|v| v * v).sum();
            let h2: f64 = self.hidden[i * w..(i + 1) * w].iter().map(|v| v * v).sum();
            sum += self.residual[i].powi(2) * ((x2 + 1.0) * e2 + h2 + 1.0);
        }
        let m2: f64 = self.mean.iter().map(|v| v * v).sum();
        sum / n as f64 - m2
    }

    /// Vᵀ a V for a = C (`inverse` weight) or a = C^{1/2} (`inverse-sqrt`), with tr a and the
    /// bound on ‖a − a_used‖ (C^{1/2} drops the Gram eigenvalues below N·ε·λ_max(K), each
    /// contributing at most their square root).
    ///
    /// # Errors
    /// A vector without d entries; the Gram matrix beyond memory or its eigensolver failing.
    pub fn compress(&self, vectors: &[Vec<f64>], weight: Weight) -> Result<NoiseCompression> {
        let (d, n, k) = (self.dim(), self.examples(), vectors.len());
        if let Some(v) = vectors.iter().find(|v| v.len() != d) {
            return Err(Error::invalid(
                "vectors",
                format!("a vector has {} entries, the network has d = {d}", v.len()),
            ));
        }
        // P = G V, N×k column by column.
        let mut p = vec![vec![0.0; n]; k];
        for (col, v) in p.iter_mut().zip(vectors) {
            self.project(v, col);
        }
        match weight {
            Weight::Inverse => {
                let block = inner_products(&p);
                Ok(NoiseCompression {
                    block,
                    trace: self.trace(),
                    norm_error: 0.0,
                })
            }
            Weight::InverseSqrt => {
                let (mu, u) = symmetric_eigen(&self.gram()?, "gradient Gram matrix")?;
                let top = mu.last().copied().unwrap_or(0.0).max(0.0);
                let floor = n as f64 * f64::EPSILON * top;
                let mut trace = 0.0;
                let mut dropped = 0.0f64;
                // Qₐ = Uᵀ Pₐ scaled by S^{-1/2}: block = Σ_kept (UᵀPₐ)(UᵀP_b)/s.
                let mut q = vec![vec![0.0; n]; k];
                for (l, &m) in mu.iter().enumerate() {
                    if m <= floor {
                        dropped = dropped.max(m.max(0.0).sqrt());
                        continue;
                    }
                    let s = m.sqrt();
                    trace += s;
                    for (qa, pa) in q.iter_mut().zip(&p) {
                        let c: f64 = (0..n).map(|i| u[(i, l)] * pa[i]).sum();
                        qa[l] = c / s.sqrt();
                    }
                }
                let block = inner_products(&q);
                Ok(NoiseCompression {
                    block,
                    trace,
                    norm_error: dropped.max(floor.sqrt()),
                })
            }
        }
    }
}

/// The k×k matrix of inner products of k columns.
fn inner_products(cols: &[Vec<f64>]) -> Matrix {
    let k = cols.len();
    let mut m = Matrix::zeros(k);
    for a in 0..k {
        for b in a..k {
            let s = crate::linalg::dot(&cols[a], &cols[b]);
            m.data[a * k + b] = s;
            m.data[b * k + a] = s;
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::PerExampleGradients;
    use crate::linalg::{spectral_apply, symmetric_eigen};
    use crate::problem::mlp::{Mlp, MlpConfig, MlpDataset};
    use crate::problem::Weight;
    use rand::{Rng, SeedableRng};

    fn model_and_point() -> (Mlp, Vec<f64>) {
        let m = Mlp::new(&MlpConfig {
            dataset: MlpDataset::Iris,
            width: 4,
            ..MlpConfig::default()
        })
        .unwrap()
        .with_scaling(1.7, 0.4);
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(5);
        let theta = (0..m.dim()).map(|_| rng.random::<f64>() - 0.5).collect();
        (m, theta)
    }

    /// Against the dense C(θ) of `gradient_covariance` (an independent formula: explicit
    /// per-example gradients by back-propagation): Vᵀ C V, tr C, and Vᵀ C^{1/2} V with C^{1/2}
    /// from C's own eigendecomposition.
    #[test]
    fn compressions_match_the_dense_covariance() {
        let (m, theta) = model_and_point();
        let d = m.dim();
        let g = PerExampleGradients::new(&m, &theta).unwrap();
        let c = m.gradient_covariance(&theta);
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(9);
        let vs: Vec<Vec<f64>> = (0..3)
            .map(|_| (0..d).map(|_| rng.random::<f64>() - 0.5).collect())
            .collect();
        let (vals, vecs) = symmetric_eigen(&c, "C").unwrap();
        let sqrt_c = spectral_apply(&vals, &vecs, |l| l.max(0.0).sqrt());
        let quad = |a: &crate::linalg::Matrix, x: &[f64], y: &[f64]| -> f64 {
            let mut ay = vec![0.0; d];
            a.mul_vec(y, &mut ay);
            x.iter().zip(&ay).map(|(p, q)| p * q).sum()
        };
        let scale = vals.last().unwrap().abs();
        let tr: f64 = (0..d).map(|i| c.data[i * d + i]).sum();
        assert!(
            (g.trace() - tr).abs() <= 1e-12 * tr,
            "{} vs {tr}",
            g.trace()
        );
        for (weight, dense) in [(Weight::Inverse, &c), (Weight::InverseSqrt, &sqrt_c)] {
            let nc = g.compress(&vs, weight).unwrap();
            for a in 0..3 {
                for b in 0..3 {
                    let want = quad(dense, &vs[a], &vs[b]);
                    let got = nc.block.data[a * 3 + b];
                    // C is full rank here (d = 25 < N − 1 = 149): both routes agree to
                    // rounding, relative to λ_max(C) resp. λ_max(C)^{1/2}, times d.
                    let tol = match weight {
                        Weight::Inverse => 1e-12 * scale * d as f64,
                        Weight::InverseSqrt => 1e-10 * scale.sqrt() * d as f64,
                    };
                    assert!(
                        (got - want).abs() <= tol,
                        "{weight:?} ({a},{b}): {got} vs {want}"
                    );
                }
            }
        }
        let nc = g.compress(&vs, Weight::InverseSqrt).unwrap();
        let tr_sqrt: f64 = vals.iter().map(|l| l.max(0.0).sqrt()).sum();
        assert!(
            (nc.trace - tr_sqrt).abs() <= 1e-12 * tr_sqrt,
            "tr C^1/2 {} vs {tr_sqrt}",
            nc.trace
        );
    }

    /// The matrix-free pipeline on a fitted network: every eigenpair of the dense H*, C*
    /// compressed from the factored gradients, gives the dense Lyapunov barrier of both weights
    /// (and a bracket with a few pairs).
    #[test]
    fn all_eigenpairs_reproduce_the_dense_barrier_at_a_fitted_minimum() {
        use crate::matfree::lanczos::EigenPair;
        use crate::matfree::subspace::level_set_barrier;
        let m = crate::problem::mlp::fit(&MlpConfig::default()).unwrap();
        let d = m.theta_star.len();
        let (hv, hq) = symmetric_eigen(&m.hessian, "H").unwrap();
        let pairs: Vec<EigenPair> = (0..d)
            .rev()
            .map(|c| EigenPair {
                value: hv[c],
                vector: (0..d).map(|i| hq[(i, c)]).collect(),
                residual: 0.0,
            })
            .collect();
        let (cv, cq) = symmetric_eigen(&m.gradient_covariance, "C").unwrap();
        let g = PerExampleGradients::new(&m.model, &m.theta_star).unwrap();
        for weight in [Weight::Inverse, Weight::InverseSqrt] {
            let a = spectral_apply(&cv, &cq, |l| l.max(0.0).powf(weight.exponent()));
            let (lam, _, st) =
                crate::exact::lyapunov::solve_lyapunov_eigenbasis(&m.hessian, &a).unwrap();
            let mut mm = crate::linalg::Matrix::zeros(d);
            for i in 0..d {
                for j in 0..d {
                    mm.data[i * d + j] = (lam[i] * lam[j]).sqrt() * st[(i, j)];
                }
            }
            let exact = 0.005 / symmetric_eigen(&mm, "M").unwrap().0[d - 1];
            let nc = g
                .compress(
                    &pairs.iter().map(|p| p.vector.clone()).collect::<Vec<_>>(),
                    weight,
                )
                .unwrap();
            let b = level_set_barrier(&pairs, &nc, 0.005, weight).unwrap();
            assert!(
                (b.v0 / exact - 1.0).abs() < 1e-8,
                "{weight:?}: {} vs {exact}",
                b.v0
            );
            let few = g
                .compress(
                    &pairs[..4]
                        .iter()
                        .map(|p| p.vector.clone())
                        .collect::<Vec<_>>(),
                    weight,
                )
                .unwrap();
            let b = level_set_barrier(&pairs[..4], &few, 0.005, weight).unwrap();
            assert!(
                b.v0_lower <= exact && exact <= b.v0 * (1.0 + 1e-12),
                "{weight:?}"
            );
        }
    }

    #[test]
    fn bad_shapes_are_errors() {
        let (m, theta) = model_and_point();
        assert!(PerExampleGradients::new(&m, &theta[1..]).is_err());
        let mut bad = theta.clone();
        bad[0] = f64::NAN;
        assert!(PerExampleGradients::new(&m, &bad).is_err());
        let g = PerExampleGradients::new(&m, &theta).unwrap();
        let err = g.compress(&[vec![0.0; 3]], Weight::Inverse).unwrap_err();
        assert!(err.to_string().contains("vectors"), "{err}");
    }
}
