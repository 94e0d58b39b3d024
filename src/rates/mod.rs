//! Absolute exit times at finite noise: E\[τ\] itself, not only its exponent V₀.
//!
//! Three independent ways, which must agree with each other and with direct Monte Carlo
//! ([`crate::sde`]) where it runs:
//! - [`prefactor`]: asymptotic formulas E\[τ\] ≈ A·ε^κ·e^{V₀/ε²} with A and κ computed from the
//!   problem (Eyring–Kramers, Bouchet–Reygner, the boundary flux of the quasi-stationary
//!   density, and the discrete chain of Gaussian SGD);
//! - the generator engine: the backward Kolmogorov equation 𝓛T = −1 on a grid (d ≤ 2);
//! - adaptive multilevel splitting for exits that direct Monte Carlo cannot reach.

pub mod prefactor;
pub mod sweep;
