//! The linear non-commuting level-set problem of the `linear_d100_v0` bench (random SPD H and C
//! from a fixed seed), shared by `benches/mam.rs` and `examples/mam_linear_d100.rs`.

use quasipot::problem::{BuildOptions, Problem, ProblemSpec};
use rand::{Rng, SeedableRng};

fn random_spd(d: usize, shift: f64, rng: &mut impl Rng) -> Vec<Vec<f64>> {
    let b: Vec<Vec<f64>> = (0..d)
        .map(|_| (0..d).map(|_| rng.random::<f64>() - 0.5).collect())
        .collect();
    (0..d)
        .map(|i| {
            (0..d)
                .map(|j| {
                    (0..d).map(|k| b[i][k] * b[j][k]).sum::<f64>() * 4.0 / d as f64
                        + if i == j { shift } else { 0.0 }
                })
                .collect()
        })
        .collect()
}

fn rows(m: &[Vec<f64>]) -> String {
    let r: Vec<String> = m
        .iter()
        .map(|r| {
            format!(
                "[{}]",
                r.iter()
                    .map(|v| format!("{v:.17e}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect();
    format!("[{}]", r.join(", "))
}

/// V₀ on the level set ΔL = 0.5 of ½θᵀHθ with noise C (weight inverse-sqrt) in dimension d.
pub fn linear_level_set(d: usize) -> Problem {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(100);
    let (h, c) = (random_spd(d, 0.5, &mut rng), random_spd(d, 0.3, &mut rng));
    let text = format!(
        "minimum = {:?}\n[drift]\nhessian = {}\n[noise]\nsource = \"matrix\"\nmatrix = {}\nweight = \"inverse-sqrt\"\n[domain]\nkind = \"level-set\"\ndepth = 0.5\n",
        vec![0.0; d],
        rows(&h),
        rows(&c)
    );
    ProblemSpec::from_toml(&text, "bench")
        .unwrap()
        .build(std::path::Path::new("."), &BuildOptions::default())
        .unwrap()
}
