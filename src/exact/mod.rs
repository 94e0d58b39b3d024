//! Exact engine: closed forms that every other engine is tested against (DESIGN §2).
//!
//! - [`lyapunov`]: Σ with AΣ + ΣAᵀ = a, so V = ½uᵀΣ⁻¹u for linear drift and constant noise.
//! - [`barrier`]: V₀ and the exit point on balls, ellipsoids, level sets, half-spaces and boxes.
//! - [`paper`]: λ_max, κ, Theorem 2's term, Lemma 3's V̂₀, Lemma 4's bound factor.
//! - [`exit_time_1d`]: mean exit times of 1-D diffusions by quadrature, for any ε.
//! - [`chain_1d`]: mean exit times of the 1-D Gaussian chain (discrete Gaussian SGD), exactly.

pub mod barrier;
pub mod chain_1d;
pub mod exit_time_1d;
pub mod lyapunov;
pub mod paper;

pub use barrier::{
    barrier_from_covariance, linear_model, local_covariance, quasi_potential,
    quasi_potential_barrier, quasi_potential_barrier_1d, ExactBarrier,
};
pub use lyapunov::{solve_lyapunov, LyapunovSolution};
pub use paper::PaperQuantities;
