//! A width ladder of the `mlp` network on the diabetes data (N = 441, p = 10, λ = 1e-2) without
//! dense Hessians: each width is trained by gradient descent + Newton–CG on exact
//! Hessian-vector products, then λ_max and λ_min of H* come from Lanczos on the same products,
//! with their residuals ‖Hx − θx‖ (the error bound of each eigenvalue). Widths whose dense
//! spectrum is affordable are checked against it. One thread.
//!
//!     cargo run --release --example mlp_lanczos [-- WIDTH ...]    (default 8 32 128 512 3333)
//!
//! (about 10 minutes in all, most of it λ_min at the widest rung, which does not converge.)
use quasipot::matfree::lanczos::{self, Config};
use quasipot::problem::mlp::{fit_matrix_free, Mlp, MlpConfig, MlpDataset, MlpHessian};
use std::time::Instant;

fn main() {
    let widths: Vec<usize> = {
        let a: Vec<usize> = std::env::args()
            .skip(1)
            .map(|s| s.parse().expect("widths are integers"))
            .collect();
        if a.is_empty() {
            vec![8, 32, 128, 512, 3333]
        } else {
            a
        }
    };
    println!("| width | d | fit s | ‖∇L(θ*)‖ | Newton / CG products | copies | λ_max | residual/λ_max | products | s | λ_min | residual/λ_max | products | s | dense λ_max check |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for w in widths {
        let config = MlpConfig {
            dataset: MlpDataset::Diabetes,
            width: w,
            ..MlpConfig::default()
        };
        let t = Instant::now();
        // The widest rung is trained to ‖∇L‖ ≤ 1e-6 (Newton–CG on its nearly singular H* is
        // slow); the table prints the gradient norm reached.
        let tol = if w > 1000 { 1e-6 } else { 1e-8 };
        let m = fit_matrix_free(&config, tol).expect("fit");
        let fit_s = t.elapsed().as_secs_f64();
        let model = Mlp::new(&config).unwrap();
        let d = model.dim();
        let run = |largest: usize, smallest: usize| {
            let mut op = MlpHessian::new(&model, &m.theta).unwrap();
            lanczos::run(
                &mut op,
                &Config {
                    largest,
                    smallest,
                    ..Config::default()
                },
                &mut |_| Ok(()),
            )
            .unwrap()
        };
        let top = run(1, 0);
        let bottom = run(0, 1);
        let (hi, lo) = (&top.largest[0], &bottom.smallest[0]);
        let check = if d <= 1600 {
            let mut h = quasipot::linalg::Matrix::zeros(d);
            model.hessian(&m.theta, &mut h.data);
            let ev = h
                .to_faer()
                .self_adjoint_eigenvalues(faer::Side::Lower)
                .unwrap();
            format!(
                "rel. err. {:.1e} (λ_min {:.1e})",
                (hi.value / ev[d - 1] - 1.0).abs(),
                (lo.value / ev[0] - 1.0).abs()
            )
        } else {
            "— (dense H* not formed)".into()
        };
        println!(
            "| {w} | {d} | {fit_s:.1} | {:.1e} | {} / {} | {} | {:.6e} | {:.1e} | {} | {:.2} | {:.6e} | {:.1e} | {} | {:.2} | {check} |",
            m.gradient_norm,
            m.newton_iterations,
            m.products,
            m.duplicate_pairs,
            hi.value,
            hi.residual / hi.value,
            top.products,
            top.seconds,
            lo.value,
            lo.residual / hi.value,
            bottom.products,
            bottom.seconds,
        );
    }
}
