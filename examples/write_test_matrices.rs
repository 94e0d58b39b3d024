//! Write a random dense SPD Hessian H and a non-commuting SPD noise matrix C as .npy, to try
//! `quasipot v0 --hessian H.npy --noise C.npy --depth 0.5` at realistic sizes.
//!
//! cargo run --release --example write_test_matrices -- 1000 /tmp/mats

use quasipot::linalg::Matrix;
use rand::{Rng, SeedableRng};

fn random_spd(seed: u64, d: usize) -> Matrix {
    let mut r = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let g = faer::Mat::from_fn(d, d, |_, _| r.random::<f64>() - 0.5);
    let m = &g * g.transpose() + faer::Mat::<f64>::identity(d, d) * (0.1 * d as f64);
    let sym = faer::Mat::from_fn(d, d, |i, j| 0.5 * (m[(i, j)] + m[(j, i)]));
    Matrix::from_faer(sym.as_ref())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let d: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let dir = std::path::PathBuf::from(args.get(2).cloned().unwrap_or_else(|| "mats".into()));
    std::fs::create_dir_all(&dir).expect("create output directory");
    quasipot::problem::matrix_io::write_matrix_npy(&dir.join("H.npy"), &random_spd(1, d)).unwrap();
    quasipot::problem::matrix_io::write_matrix_npy(&dir.join("C.npy"), &random_spd(2, d)).unwrap();
    println!("wrote {0}×{0} H.npy and C.npy to {1}", d, dir.display());
}
