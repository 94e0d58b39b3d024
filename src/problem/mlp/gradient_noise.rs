//! Exact samples of N(0, C(θ)) for the gradient covariance C = (1/N)Σᵢ(∇ℓᵢ − ∇L)(∇ℓᵢ − ∇L)ᵀ
//! without forming C or the per-example gradients: with z ~ N(0, I_N),
//!
//!   ξ = N^{−½} Σᵢ zᵢ(∇ℓᵢ − ∇L) = β√α N^{−½} Σᵢ (zᵢ − z̄) rᵢ ∇_φ fᵢ
//!
//! (the L2 term cancels in ∇ℓᵢ − ∇L) has covariance exactly C, and costs one backward pass with
//! per-example weights cᵢ = (zᵢ − z̄)rᵢ — the gradient's own pass, O(N·p·w), against
//! O(d²) per draw from a stored factor of C and O(N·d²) to form it.

use super::Mlp;

impl Mlp {
    /// ξ = N^{−½} Σᵢ zᵢ(∇ℓᵢ(θ) − ∇L(θ)) for the given z (length N): with z ~ N(0, I) an exact
    /// draw from N(0, C(θ)) ([`Mlp::gradient_covariance`]); a Gaussian-SGD step with minibatch
    /// size B adds −η ξ/√B.
    ///
    /// # Panics
    /// If θ or out do not have d entries or z does not have N (a programming error).
    pub fn gradient_noise(&self, theta: &[f64], z: &[f64], out: &mut [f64]) {
        let (d, n) = (self.dim(), self.n);
        assert!(
            theta.len() == d && out.len() == d && z.len() == n,
            "gradient_noise: θ and out need d = {d} entries, z needs N = {n}"
        );
        let zbar = z.iter().sum::<f64>() / n as f64;
        // The gradient's own backward pass with weights (zᵢ − z̄)rᵢ in place of rᵢ.
        self.weighted_accumulate(theta, 0..n, &|i, r| (z[i] - zbar) * r, out);
        let scale = self.beta * self.sqrt_alpha / (n as f64).sqrt();
        for o in out.iter_mut() {
            *o *= scale;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::problem::mlp::{Mlp, MlpConfig, MlpDataset};
    use rand::{Rng, SeedableRng};

    /// ξ is linear in z, so z = eᵢ gives its i-th column: Σᵢ ξ(eᵢ)ξ(eᵢ)ᵀ must equal C(θ)
    /// exactly (to rounding), with the scaling maps on.
    #[test]
    fn the_columns_of_the_noise_map_reproduce_the_gradient_covariance() {
        let m = Mlp::new(&MlpConfig {
            dataset: MlpDataset::Iris,
            width: 5,
            ..MlpConfig::default()
        })
        .unwrap()
        .with_scaling(1.7, 0.4);
        let (d, n) = (m.dim(), m.num_examples());
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
        let theta: Vec<f64> = (0..d).map(|_| rng.random::<f64>() - 0.5).collect();
        let c = m.gradient_covariance(&theta);
        let mut sum = vec![0.0; d * d];
        let mut z = vec![0.0; n];
        let mut xi = vec![0.0; d];
        for i in 0..n {
            z.fill(0.0);
            z[i] = 1.0;
            m.gradient_noise(&theta, &z, &mut xi);
            for a in 0..d {
                for b in 0..d {
                    sum[a * d + b] += xi[a] * xi[b];
                }
            }
        }
        let scale = c.data.iter().fold(0.0f64, |s, v| s.max(v.abs()));
        for k in 0..d * d {
            assert!(
                (sum[k] - c.data[k]).abs() <= 1e-12 * scale,
                "entry {k}: {} vs {}",
                sum[k],
                c.data[k]
            );
        }
    }
}
