//! λ_max, λ_min and V₀ of a d = 10⁶ Hessian given only as a Hessian-vector product, against the
//! closed form (issue 13's target: λ_max and V₀ in ≤ 5 s, relative error ≤ 1e-8).
//!
//! H = diag(δ) + s·uuᵀ with δ_i = 0.01 + i/d and a unit u: its eigenvalues outside the bulk are
//! the roots of the secular equation 1 = s Σ u_i²/(λ − δ_i), found here by bisection.
//!
//! `cargo run --release --example matfree_large -- [d]`

use quasipot::matfree::lanczos::{Config, Progress};
use quasipot::matfree::paper::{Neighbourhood, Spectrum};
use quasipot::matfree::DiagonalPlusLowRank;
use quasipot::problem::Weight;
use std::time::Instant;

fn main() -> quasipot::Result<()> {
    let d: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("d must be an integer"))
        .unwrap_or(1_000_000);
    let diag: Vec<f64> = (0..d).map(|i| 0.01 + i as f64 / d as f64).collect();
    let mut u: Vec<f64> = (0..d).map(|i| ((i as f64) * 0.37).sin() + 0.1).collect();
    let n = quasipot::linalg::norm(&u);
    u.iter_mut().for_each(|x| *x /= n);
    let s = 10.0;
    let secular = |l: f64| {
        1.0 - s * diag
            .iter()
            .zip(&u)
            .map(|(di, ui)| ui * ui / (l - di))
            .sum::<f64>()
    };
    let bisect = |mut a: f64, mut b: f64, rising: bool| {
        for _ in 0..200 {
            let c = 0.5 * (a + b);
            if (secular(c) < 0.0) == rising {
                a = c
            } else {
                b = c
            }
        }
        0.5 * (a + b)
    };
    // Above the bulk the secular function rises from −∞ to 1; between δ_1 and δ_2 it also rises.
    let lmax = bisect(diag[d - 1] + 1e-15, diag[d - 1] + s + 1.0, true);
    let lmin = bisect(diag[0] + 1e-15, diag[1] - 1e-15, true);
    let depth = 0.5;
    let exact_v0 = 2.0 * depth / lmax.sqrt();
    let mut op = DiagonalPlusLowRank::new(diag.clone(), u.clone(), vec![s])?;
    let quiet = &mut |_: &Progress| Ok(());

    let t = Instant::now();
    let spec = Spectrum::by_lanczos(&mut op, &Config::default(), false, quiet)?;
    let b = spec.barrier(Neighbourhood::LevelSet { depth }, Weight::InverseSqrt)?;
    let secs = t.elapsed().as_secs_f64();
    let lz = spec.lanczos.as_ref().unwrap();
    println!(
        "d = {d}: λ_max = {:.15e} (exact {lmax:.15e}, rel. error {:.1e}, residual {:.1e}), V0 = {:.12e} (rel. error {:.1e}, bound {:.1e}); {} products, {} restarts, {secs:.2} s",
        spec.lambda_max.value,
        (spec.lambda_max.value - lmax).abs() / lmax,
        spec.lambda_max.residual / lmax,
        b.v0,
        (b.v0 - exact_v0).abs() / exact_v0,
        b.error_bound / exact_v0,
        lz.products,
        lz.restarts
    );

    // λ_min sits at the bottom of a bulk whose relative gap is ~1/d: Lanczos needs thousands of
    // products there, so this phase is capped and reports whether it converged.
    let capped = Config {
        max_products: 500,
        ..Config::default()
    };
    let t = Instant::now();
    let spec = Spectrum::by_lanczos(&mut op, &capped, true, quiet)?;
    let secs = t.elapsed().as_secs_f64();
    let lz = spec.lanczos.as_ref().unwrap();
    let pmin = spec.lambda_min.as_ref().unwrap();
    println!(
        "with λ_min: λ_min = {:.15e} (exact {lmin:.15e}, rel. error {:.1e}, residual/λ_max {:.1e}), converged {}; {} products, {} restarts, {secs:.2} s",
        pmin.value,
        (pmin.value - lmin).abs() / lmin,
        pmin.residual / lmax,
        lz.converged,
        lz.products,
        lz.restarts
    );
    Ok(())
}
