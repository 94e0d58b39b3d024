//! Analysis on top of the engines: the paper's questions (Lemma 4, scaling of exit rates) and the
//! statistics of simulated exit times.

pub mod lemma4;
pub mod scaling;
pub mod v0;
