//! Analysis on top of the engines: the paper's questions (Lemma 4, scaling of exit rates), V0 by
//! the best applicable engine, and the statistics of simulated exit times — estimators with
//! confidence intervals (including censored trajectories) and the Arrhenius fit
//! ln E\[τ\] = ln A + V₀/ε² that reads V₀ off the growth of the mean exit time (Freidlin & Wentzell
//! 2012, Ch. 4 Thm 4.1; the paper's Theorem 1).

pub mod arrhenius;
pub mod censored;
pub mod exit_diagnostics;
pub mod lemma4;
pub mod scaling;
pub mod stats;
pub mod v0;

pub use arrhenius::{fit_arrhenius, ArrheniusFit, ArrheniusPoint};
pub use stats::{ExitStatistics, Histogram, MeanEstimator};
