//! V0 by the most accurate engine that applies to a problem.

use crate::error::Result;
use crate::exact;
use crate::problem::Problem;
use serde::Serialize;

/// A barrier with its provenance.
#[derive(Clone, Debug, Serialize)]
pub struct BarrierEstimate {
    /// V0.
    pub v0: f64,
    /// Error estimate (0 for closed forms).
    pub error_estimate: f64,
    /// The exit point on ∂D.
    pub exit_point: Vec<f64>,
    /// Which engine.
    pub method: String,
}

/// Exact V0 when the problem is linear-Gaussian, otherwise the minimum action method.
pub fn best_v0(problem: &Problem) -> Result<BarrierEstimate> {
    if problem.is_linear_gaussian() {
        let r = exact::quasi_potential_barrier(problem)?;
        return Ok(BarrierEstimate {
            v0: r.v0,
            error_estimate: 0.0,
            exit_point: r.exit_point,
            method: "exact".into(),
        });
    }
    let r = crate::mam::run(problem, &crate::mam::Config::default())?;
    Ok(BarrierEstimate {
        v0: r.v0.unwrap_or(r.action),
        error_estimate: r.error_estimate,
        exit_point: r.exit_point,
        method: "gmam".into(),
    })
}
