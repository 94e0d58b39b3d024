//! Minibatches drawn without replacement, and the per-trajectory random streams.

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// Draws B distinct example indices out of N per call by a partial Fisher–Yates shuffle of a
/// reusable permutation buffer (Knuth, TAOCP vol. 2, Algorithm 3.4.2P stopped after B swaps).
///
/// Each call costs B random numbers and B swaps and allocates nothing. The buffer is not reset
/// between calls: a partial shuffle of any fixed permutation gives a uniformly random ordered
/// B-subset, so successive minibatches are independent and each is a uniform B-subset of the N
/// examples (every example has inclusion probability B/N, hence the minibatch gradient is an
/// unbiased estimate of the full gradient).
#[derive(Clone, Debug)]
pub struct MinibatchSampler {
    perm: Vec<usize>,
    batch: usize,
}

impl MinibatchSampler {
    /// Sampler of B = `batch` out of N = `examples`.
    ///
    /// # Panics
    /// If `batch` is 0 or exceeds `examples` (a programming error: configurations are validated
    /// before a run).
    pub fn new(examples: usize, batch: usize) -> Self {
        assert!(
            batch >= 1 && batch <= examples,
            "batch size {batch} must be in 1..={examples}"
        );
        MinibatchSampler {
            perm: (0..examples).collect(),
            batch,
        }
    }

    /// B.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Draw the next minibatch: B distinct indices in 0..N.
    #[inline]
    pub fn sample<R: Rng>(&mut self, rng: &mut R) -> &[usize] {
        let n = self.perm.len();
        for j in 0..self.batch {
            let k = rng.random_range(j..n);
            self.perm.swap(j, k);
        }
        &self.perm[..self.batch]
    }
}

/// The random stream of trajectory `index` under `seed`: a Xoshiro256++ generator whose 256-bit
/// state is filled by SplitMix64 from a hash of (seed, index). Streams of different indices are
/// statistically independent, and trajectory r draws the same numbers whatever the thread count.
pub fn trajectory_rng(seed: u64, index: u64) -> Xoshiro256PlusPlus {
    // SplitMix64 finaliser on the seed, then mix the index in with a distinct odd constant, so
    // that (seed, index) and (seed + 1, index − 1) do not collide.
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let s = mix(mix(seed) ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03));
    Xoshiro256PlusPlus::seed_from_u64(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_without_replacement_and_uniform() {
        let (n, b) = (10usize, 4usize);
        let mut s = MinibatchSampler::new(n, b);
        let mut rng = trajectory_rng(5, 0);
        let draws = 200_000;
        let mut counts = vec![0u64; n];
        for _ in 0..draws {
            let batch = s.sample(&mut rng);
            assert_eq!(batch.len(), b);
            let mut seen = [false; 10];
            for &i in batch {
                assert!(i < n);
                assert!(!seen[i], "index {i} repeated in one minibatch");
                seen[i] = true;
                counts[i] += 1;
            }
        }
        // Inclusion probability B/N: each count is Binomial(draws, 0.4); allow 5 standard
        // deviations (the test fails by chance with probability < 1e-5).
        let p = b as f64 / n as f64;
        let mean = draws as f64 * p;
        let sd = (draws as f64 * p * (1.0 - p)).sqrt();
        for (i, &c) in counts.iter().enumerate() {
            assert!(
                (c as f64 - mean).abs() < 5.0 * sd,
                "example {i}: {c} vs {mean}"
            );
        }
    }

    #[test]
    fn pairs_are_uniform() {
        // Without replacement every unordered pair appears with probability
        // B(B−1)/(N(N−1)); with replacement the diagonal would be non-zero.
        let (n, b) = (5usize, 3usize);
        let mut s = MinibatchSampler::new(n, b);
        let mut rng = trajectory_rng(9, 1);
        let draws = 100_000;
        let mut pair = vec![0u64; n * n];
        for _ in 0..draws {
            let batch = s.sample(&mut rng).to_vec();
            for &i in &batch {
                for &j in &batch {
                    pair[i * n + j] += 1;
                }
            }
        }
        let p = (b * (b - 1)) as f64 / (n * (n - 1)) as f64;
        let sd = (draws as f64 * p * (1.0 - p)).sqrt();
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    let c = pair[i * n + j] as f64;
                    assert!((c - draws as f64 * p).abs() < 5.0 * sd, "pair {i},{j}");
                }
            }
        }
    }

    #[test]
    fn streams_differ_and_repeat() {
        let a: Vec<u64> = (0..4).map(|_| trajectory_rng(1, 2).random()).collect();
        let mut r = trajectory_rng(1, 2);
        let x: u64 = r.random();
        assert_eq!(a[0], x);
        let mut r2 = trajectory_rng(1, 3);
        let y: u64 = r2.random();
        assert_ne!(x, y);
    }
}
