//! The result types of [`super::run`]: one row per κ, one [`WeightResult`] per weight.

use super::bounds::{FactorBound, Sandwich};
use super::proof_constant::ProofConstant;
use super::CovarianceSource;
use crate::problem::Weight;
use serde::Serialize;

/// A barrier with its provenance.
#[derive(Clone, Debug, Serialize)]
pub struct Barrier {
    /// V0.
    pub v0: f64,
    /// Error estimate (0 for closed forms, Richardson for gMAM).
    pub error_estimate: f64,
    /// exact | gmam.
    pub method: String,
    /// The exit point on ∂D.
    pub exit_point: Vec<f64>,
    /// False when gMAM stopped before meeting its tolerance.
    pub converged: bool,
}

/// Lemma 4 exactly as printed (λ_max^{-1/2}V̂0 and λ_min^{1/2}(κ^{1/2} − 1)) applied to this
/// weight's V0; reported for p ≠ ½, where it differs from the p-form.
#[derive(Clone, Debug, Serialize)]
pub struct PrintedLemma {
    /// λ_max^{-1/2}V̂0 (Theorem 2's term on level sets).
    pub proxy: f64,
    /// |V0 − proxy|.
    pub gap: f64,
    /// gap ≤ A·λ_min^{1/2}(κ^{1/2} − 1).
    pub bound: FactorBound,
}

/// Everything about one weight in one row.
#[derive(Clone, Debug, Serialize)]
pub struct WeightResult {
    /// inverse-sqrt | inverse.
    pub weight: Weight,
    /// p in M = C^{-p}.
    pub p: f64,
    /// V0 of this weight with C = H*.
    pub v0: Barrier,
    /// λ_max^{-p}·V̂0.
    pub proxy: f64,
    /// |V0 − λ_max^{-p}V̂0|.
    pub gap: f64,
    /// Accuracy of V0 and of the comparisons below.
    pub tolerance: f64,
    /// gap ≤ A·λ_min^p(κ^p − 1).
    pub statement: FactorBound,
    /// gap ≤ A·(λ_min^{-p} − λ_max^{-p}).
    pub proof: FactorBound,
    /// The lemma as printed, for p ≠ ½.
    pub as_printed: Option<PrintedLemma>,
    /// λ_max^{-p}V̂0 ≤ V0 ≤ λ_min^{-p}V̂0.
    pub sandwich: Sandwich,
    /// A(δ) on the gMAM paths (absent with no δ).
    pub proof_constant: Option<ProofConstant>,
    /// One line: what holds and what fails.
    pub verdict: String,
}

/// One member of the family (or the problem itself).
#[derive(Clone, Debug, Serialize)]
pub struct Lemma4Row {
    /// κ = λ_max/λ_min of H*.
    pub kappa: f64,
    /// λ_min(H*).
    pub lambda_min: f64,
    /// λ_max(H*).
    pub lambda_max: f64,
    /// V̂0, V0 under identity noise.
    pub proximal_v0: Barrier,
    /// One entry per weight.
    pub weights: Vec<WeightResult>,
}

/// Largest implied A over the rows, per weight.
#[derive(Clone, Debug, Serialize)]
pub struct WeightSummary {
    /// The weight.
    pub weight: Weight,
    /// max gap/statement factor.
    pub max_statement_a: Option<f64>,
    /// max gap/proof factor.
    pub max_proof_a: Option<f64>,
    /// Rows where the sandwich failed (should be none).
    pub sandwich_violations: usize,
    /// Rows where a bound failed with factor 0 (p-form or as printed).
    pub factor_zero_failures: usize,
}

/// The Lemma 4 report.
#[derive(Clone, Debug, Serialize)]
pub struct Lemma4Report {
    /// C = H* reading.
    pub noise: CovarianceSource,
    /// How the rows were made.
    pub family: String,
    /// Rows, one per κ.
    pub rows: Vec<Lemma4Row>,
    /// Per-weight summary over the rows.
    pub summary: Vec<WeightSummary>,
}
