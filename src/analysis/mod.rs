//! Analysis of simulated exit times: estimators with confidence intervals (including censored
//! trajectories), and the Arrhenius fit ln E[τ] = ln A + V₀/ε² that reads V₀ off the growth of
//! the mean exit time (Freidlin & Wentzell 2012, Ch. 4 Thm 4.1; the paper's Theorem 1).

pub mod arrhenius;
pub mod stats;

pub use arrhenius::{fit_arrhenius, ArrheniusFit, ArrheniusPoint};
pub use stats::{ExitStatistics, Histogram, MeanEstimator};
