//! A Gaussian-SGD step with the exact gradient-covariance noise of the network, θ ← θ − η∇L(θ) −
//! η ξ/√B with ξ ~ N(0, C(θ)) drawn by one weighted backward pass ([`Mlp::gradient_noise`]),
//! against one full-batch gradient, side by side on one thread (median of 31 each), at the
//! widths given (default 512; diabetes, N = 441). Issue 17's target: the step within 3× of the
//! gradient.
//!
//!     cargo run --release --example mlp_noise_step [-- WIDTH ...]
use quasipot::problem::mlp::{FiniteSum, Mlp, MlpConfig, MlpDataset};
use quasipot::sde::rng::{stream, ZigguratNormal};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let widths: Vec<usize> = {
        let a: Vec<usize> = std::env::args()
            .skip(1)
            .map(|s| s.parse().unwrap())
            .collect();
        if a.is_empty() {
            vec![512]
        } else {
            a
        }
    };
    let zig = ZigguratNormal::get();
    for w in widths {
        let m = Mlp::new(&MlpConfig {
            dataset: MlpDataset::Diabetes,
            width: w,
            ..MlpConfig::default()
        })
        .unwrap();
        let (d, n) = (m.dim(), m.num_examples());
        let mut theta = m.initial_parameters(0);
        let (mut g, mut xi, mut z) = (vec![0.0; d], vec![0.0; d], vec![0.0; n]);
        let mut rng = stream(1, 0);
        let (eta, batch) = (0.01, 8.0f64);
        let (mut tg, mut ts) = (Vec::new(), Vec::new());
        for _ in 0..31 {
            let t = Instant::now();
            m.gradient(&theta, &mut (), &mut g);
            tg.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            m.gradient(&theta, &mut (), &mut g);
            zig.fill(&mut rng, &mut z);
            m.gradient_noise(&theta, &z, &mut xi);
            let s = eta / batch.sqrt();
            for k in 0..d {
                theta[k] -= eta * g[k] + s * xi[k];
            }
            ts.push(t.elapsed().as_secs_f64());
        }
        let (a, b) = (median(tg), median(ts));
        println!(
            "width {w} (d = {d}): full-batch gradient {:.3} ms, Gaussian-SGD step with exact C(θ) noise {:.3} ms, ratio {:.2}",
            1e3 * a,
            1e3 * b,
            b / a
        );
    }
}
