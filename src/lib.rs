//! # quasipot
//!
//! How hard is it for noisy gradient descent to leave a minimum? SGD near a minimum θ* behaves
//! like the diffusion dθ = −∇L dt + ε a(θ)^{1/2} dW with ε² = η/B, whose mean exit time from a
//! neighbourhood D grows like exp(V₀/ε²). V₀, the quasi-potential barrier, is the least
//! Freidlin–Wentzell action of a path from θ* to ∂D:
//!
//! S_T(φ) = ½ ∫ (φ̇ − b(φ))ᵀ a(φ)⁻¹ (φ̇ − b(φ)) dt,  with a = C^{1/2} (weight `inverse-sqrt`, the
//! paper's Definition 4) or a = C (weight `inverse`, Gaussian SGD).
//!
//! quasipot computes V₀ several independent ways — exact formulas ([`exact`]), minimum action,
//! an ordered line integral grid solver and Monte Carlo exit times — and makes them agree.
//!
//! ```
//! use quasipot::problem::{BuildOptions, Problem};
//! let p = Problem::load("quadratic-2d", &BuildOptions::default()).unwrap();
//! let r = quasipot::exact::quasi_potential_barrier(&p).unwrap();
//! // C = H*, weight inverse-sqrt: V0 = 2ΔL λ_max^{-1/2} = 2·1/√4 = 1 (Theorem 2's term).
//! assert!((r.v0 - 1.0).abs() < 1e-12);
//! ```
#![warn(missing_docs)]

pub mod action;
pub mod analysis;
pub mod error;
pub mod estimate;
pub mod exact;
pub mod generator;
pub mod io_atomic;
pub mod linalg;
pub mod mam;
pub mod matfree;
pub mod olim;
pub mod olim3d;
pub mod plot;
pub mod problem;
pub mod rates;
pub mod resources;
pub mod sde;
pub mod sgd;
mod simd;
pub mod slurm;

pub use error::{Error, Result};
