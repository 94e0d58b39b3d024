//! Exact Hessian-vector products of the network's loss (Pearlmutter's R-operator written out for
//! one hidden layer), so that H* never has to be stored: O(N·p·w) per product and O(d) memory,
//! against O(N·d²) time and d² memory for [`Mlp::hessian`].
//!
//! With φ = √α θ, J = ∇_φ f and rᵢ = fᵢ − yᵢ, H = βα[(1/N)Σᵢ (JᵢJᵢᵀ + rᵢ∇²_φ fᵢ) + λI]. For a
//! direction ψ = (ψ_W, ψ_c, ψ_v, ψ_b), with hⱼ = tanh(aⱼ), h'ⱼ = 1 − hⱼ², h''ⱼ = −2hⱼh'ⱼ and the
//! directional pre-activation sⱼ = Σₖ ψ_W[k, j] xₖ + ψ_c[j]:
//!
//!   Jᵀψ = Σⱼ (hⱼ ψ_v[j] + φ_vⱼ h'ⱼ sⱼ) + ψ_b,
//!   (∇²f ψ)_vⱼ = h'ⱼ sⱼ,  (∇²f ψ)_cⱼ = h'ⱼ ψ_v[j] + φ_vⱼ h''ⱼ sⱼ =: tⱼ,  (∇²f ψ)_Wₖⱼ = xₖ tⱼ,
//!
//! so example i adds (Jᵀψ)J + r∇²fψ: vⱼ ← (Jᵀψ)hⱼ + r h'ⱼsⱼ, cⱼ ← uⱼ := (Jᵀψ)φ_vⱼh'ⱼ + r tⱼ,
//! Wₖⱼ ← xₖuⱼ, b ← Jᵀψ — three passes of p·w each, like a gradient.

use super::network::with_scratch;
use super::Mlp;
use crate::error::{Error, Result};
use crate::matfree::LinearOperator;

impl Mlp {
    /// out = ∇²L(θ) ψ exactly (the product with [`Mlp::hessian`]'s matrix, to rounding), in
    /// O(N·p·w) time without forming the Hessian.
    ///
    /// # Panics
    /// If θ, ψ or out do not have d entries (a programming error; [`MlpHessian`] checks).
    pub fn hessian_vector_product(&self, theta: &[f64], psi: &[f64], out: &mut [f64]) {
        let d = self.dim();
        assert!(
            theta.len() == d && psi.len() == d && out.len() == d,
            "hessian_vector_product: θ, ψ and out must have d = {d} entries"
        );
        let (p, w, sa) = (self.inputs, self.width, self.sqrt_alpha);
        let (oc, ov, ob) = self.offsets();
        out.fill(0.0);
        with_scratch(2 * w, |buf| {
            let (h, s) = buf.split_at_mut(w);
            for i in 0..self.n {
                let f = self.forward_dispatch(theta, i, h);
                let r = f - self.y[i];
                let xi = &self.x[i * p..i * p + p];
                s.copy_from_slice(&psi[oc..oc + w]);
                for (k, &xk) in xi.iter().enumerate() {
                    for (sj, &pj) in s.iter_mut().zip(&psi[k * w..k * w + w]) {
                        *sj += pj * xk;
                    }
                }
                let mut jt = psi[ob];
                for j in 0..w {
                    let d1 = 1.0 - h[j] * h[j];
                    jt += h[j] * psi[ov + j] + sa * theta[ov + j] * d1 * s[j];
                }
                // s becomes u (the c-component), the v-components are added directly.
                for j in 0..w {
                    let (hj, vj) = (h[j], sa * theta[ov + j]);
                    let d1 = 1.0 - hj * hj;
                    let d2 = -2.0 * hj * d1;
                    let t = d1 * psi[ov + j] + vj * d2 * s[j];
                    out[ov + j] += jt * hj + r * d1 * s[j];
                    s[j] = jt * vj * d1 + r * t;
                }
                for (o, &u) in out[oc..oc + w].iter_mut().zip(s.iter()) {
                    *o += u;
                }
                for (k, &xk) in xi.iter().enumerate() {
                    for (o, &u) in out[k * w..k * w + w].iter_mut().zip(s.iter()) {
                        *o += u * xk;
                    }
                }
                out[ob] += jt;
            }
        });
        let scale = self.beta * self.alpha / self.n as f64;
        let reg = self.beta * self.alpha * self.l2;
        for (o, &v) in out.iter_mut().zip(psi) {
            *o = scale * *o + reg * v;
        }
    }
}

/// H(θ) of a network as a [`LinearOperator`] for [`crate::matfree::lanczos`]: λ_max, λ_min and
/// the paper's quantities at widths whose dense Hessian does not fit in memory.
#[derive(Clone, Debug)]
pub struct MlpHessian<'m> {
    model: &'m Mlp,
    theta: Vec<f64>,
    products: usize,
}

impl<'m> MlpHessian<'m> {
    /// The Hessian of `model`'s loss at θ.
    ///
    /// # Errors
    /// θ of the wrong length or not finite.
    pub fn new(model: &'m Mlp, theta: &[f64]) -> Result<Self> {
        let d = model.dim();
        if theta.len() != d {
            return Err(Error::invalid(
                "theta",
                format!("expected d = {d} entries, got {}", theta.len()),
            ));
        }
        if let Some(i) = theta.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "theta",
                format!("entry {i} is {}", theta[i]),
            ));
        }
        Ok(MlpHessian {
            model,
            theta: theta.to_vec(),
            products: 0,
        })
    }

    /// Products applied so far.
    pub fn products(&self) -> usize {
        self.products
    }
}

impl LinearOperator for MlpHessian<'_> {
    fn dim(&self) -> usize {
        self.model.dim()
    }
    fn apply(&mut self, x: &[f64], y: &mut [f64]) -> Result<()> {
        self.products += 1;
        self.model.hessian_vector_product(&self.theta, x, y);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matfree::lanczos::{self, Config};
    use crate::problem::mlp::{MlpConfig, MlpDataset};
    use rand::{Rng, SeedableRng};

    fn random(d: usize, seed: u64, scale: f64) -> Vec<f64> {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
        (0..d)
            .map(|_| scale * (rng.random::<f64>() - 0.5))
            .collect()
    }

    /// The product equals the dense exact Hessian times ψ to rounding, on both data sets, with
    /// the sharpness and depth maps on, at points away from any minimum (r ≠ 0, so the r∇²f part
    /// is exercised).
    #[test]
    fn hessian_vector_product_equals_the_dense_hessian() {
        for (dataset, width, alpha, beta) in [
            (MlpDataset::Iris, 8, 1.0, 1.0),
            (MlpDataset::Diabetes, 5, 2.5, 0.3),
        ] {
            let m = Mlp::new(&MlpConfig {
                dataset,
                width,
                ..MlpConfig::default()
            })
            .unwrap()
            .with_scaling(alpha, beta);
            let d = m.dim();
            let theta = random(d, 1, 2.0);
            let mut h = vec![0.0; d * d];
            m.hessian(&theta, &mut h);
            for seed in 2..5 {
                let psi = random(d, seed, 1.0);
                let mut got = vec![0.0; d];
                m.hessian_vector_product(&theta, &psi, &mut got);
                let scale = h.iter().fold(0.0f64, |a, v| a.max(v.abs()));
                for r in 0..d {
                    let want: f64 = (0..d).map(|c| h[r * d + c] * psi[c]).sum();
                    assert!(
                        (got[r] - want).abs() <= 1e-12 * scale * d as f64,
                        "{dataset:?}: row {r}: {} vs {want}",
                        got[r]
                    );
                }
            }
        }
    }

    /// Lanczos on the operator finds the dense Hessian's extreme eigenvalues.
    #[test]
    fn lanczos_on_the_operator_matches_the_dense_spectrum() {
        let m = Mlp::new(&MlpConfig {
            dataset: MlpDataset::Diabetes,
            width: 6,
            ..MlpConfig::default()
        })
        .unwrap();
        let d = m.dim();
        let theta = random(d, 7, 1.0);
        let mut h = crate::linalg::Matrix::zeros(d);
        m.hessian(&theta, &mut h.data);
        let dense = h
            .to_faer()
            .self_adjoint_eigenvalues(faer::Side::Lower)
            .unwrap();
        let mut op = MlpHessian::new(&m, &theta).unwrap();
        let r = lanczos::run(
            &mut op,
            &Config {
                largest: 1,
                smallest: 1,
                ..Config::default()
            },
            &mut |_| Ok(()),
        )
        .unwrap();
        let top = dense[d - 1];
        assert!((r.largest[0].value - top).abs() < 1e-9 * top.abs());
        assert!((r.smallest[0].value - dense[0]).abs() < 1e-9 * top.abs());
        assert!(op.products() > 0);
        assert!(MlpHessian::new(&m, &theta[1..]).is_err());
    }
}
