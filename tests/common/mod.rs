//! Helpers shared by the integration tests.
#![allow(dead_code)]

use quasipot::problem::{BuildOptions, Problem, ProblemSpec};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// A seeded generator.
pub fn rng(seed: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed)
}

/// A random d×d SPD matrix with eigenvalues spread over [lo, hi] (QΛQᵀ with a random Q).
pub fn random_spd(r: &mut Xoshiro256PlusPlus, d: usize, lo: f64, hi: f64) -> Vec<Vec<f64>> {
    let g = faer::Mat::from_fn(d, d, |_, _| r.random::<f64>() - 0.5);
    let q = g.qr().compute_Q();
    let lam: Vec<f64> = (0..d)
        .map(|i| lo + (hi - lo) * (i as f64 + r.random::<f64>()) / d as f64)
        .collect();
    let m = faer::Mat::from_fn(d, d, |i, j| q[(i, j)] * lam[j]) * q.transpose();
    (0..d)
        .map(|i| (0..d).map(|j| 0.5 * (m[(i, j)] + m[(j, i)])).collect())
        .collect()
}

/// A random matrix with eigenvalues of positive real part (shifted random matrix).
pub fn random_stable(r: &mut Xoshiro256PlusPlus, d: usize) -> Vec<Vec<f64>> {
    (0..d)
        .map(|i| {
            (0..d)
                .map(|j| (r.random::<f64>() - 0.5) * 2.0 + if i == j { d as f64 } else { 0.0 })
                .collect()
        })
        .collect()
}

/// TOML for a matrix.
pub fn toml_matrix(m: &[Vec<f64>]) -> String {
    let rows: Vec<String> = m
        .iter()
        .map(|r| {
            format!(
                "[{}]",
                r.iter()
                    .map(|v| format!("{v:e}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect();
    format!("[{}]", rows.join(", "))
}

/// Build a problem from TOML text.
pub fn problem_from_toml(text: &str, opts: &BuildOptions) -> Problem {
    ProblemSpec::from_toml(text, "test")
        .unwrap()
        .build(std::path::Path::new("."), opts)
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Run the quasipot binary with `args`; (exit code, stdout, stderr).
pub fn run_bin(args: &[&str]) -> (i32, String, String) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_quasipot"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Run `dir/script` (written by `quasipot slurm`) with bash in `cwd`, as Slurm would: without
/// the caller's SLURM_* variables and with `env`; panics with its stderr when it fails.
#[allow(dead_code)]
pub fn run_array_script(
    dir: &std::path::Path,
    cwd: &std::path::Path,
    script: &str,
    env: &[(&str, String)],
) {
    let mut c = std::process::Command::new("bash");
    c.arg(dir.join(script)).current_dir(cwd);
    for (k, _) in std::env::vars() {
        if k.starts_with("SLURM_") {
            c.env_remove(k);
        }
    }
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    assert!(
        o.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}
