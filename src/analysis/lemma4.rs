//! Lemma 4 of the paper: how far V0 under the paper's weight (M = C^{-1/2}, C = H*) is from the
//! proxy λ_max^{-1/2}·V̂0, where V̂0 is V0 of the proximal system (identity noise; = 2ΔL on level
//! sets, Lemma 3). The lemma bounds the gap by A·λ_min^{1/2}(κ^{1/2} − 1); this module measures
//! the gap, the factor and the constant A they imply, for a problem or a family of Hessians with
//! H*'s eigenvectors and spectra spread geometrically over [λ_min, κ·λ_min].

use super::v0::best_v0;
use crate::error::{Error, Result};
use crate::linalg::symmetric_eigen;
use crate::problem::{BuildOptions, Problem, ProblemSpec, Weight};
use serde::Serialize;
use std::path::Path;

/// One member of the family (or the problem itself).
#[derive(Clone, Debug, Serialize)]
pub struct Lemma4Row {
    /// κ = λ_max/λ_min of H*.
    pub kappa: f64,
    /// λ_max(H*).
    pub lambda_max: f64,
    /// λ_min(H*).
    pub lambda_min: f64,
    /// V0 with weight inverse-sqrt and the chosen noise.
    pub v0: f64,
    /// V̂0, V0 under identity noise.
    pub proximal_v0: f64,
    /// λ_max^{-1/2}·V̂0.
    pub proxy: f64,
    /// |V0 − proxy|.
    pub gap: f64,
    /// λ_min^{1/2}(κ^{1/2} − 1).
    pub bound_factor: f64,
    /// gap / bound_factor (None when the factor is 0, i.e. κ = 1).
    pub implied_a: Option<f64>,
    /// Engine used for V0 and V̂0.
    pub method: String,
}

/// The Lemma 4 table.
#[derive(Clone, Debug, Serialize)]
pub struct Lemma4Report {
    /// Noise source used for V0 (hessian-at-minimum or hessian).
    pub noise: String,
    /// Always inverse-sqrt (the paper's Definition 4).
    pub weight: Weight,
    /// Rows, one per κ.
    pub rows: Vec<Lemma4Row>,
    /// Largest implied A over the rows.
    pub max_implied_a: Option<f64>,
}

/// Compute the table. `kappas` = None uses the problem's own H*; otherwise a family (quadratic
/// problems only). `opts.parameters` and `opts.refine_minimum` are honoured; weight and noise are
/// set here.
pub fn lemma4(
    spec: &ProblemSpec,
    base: &Path,
    noise: &str,
    kappas: Option<&[f64]>,
    opts: &BuildOptions,
) -> Result<Lemma4Report> {
    if noise != "hessian-at-minimum" && noise != "hessian" {
        return Err(Error::invalid(
            "--noise",
            format!(
                "Lemma 4 is about C = H*: expected hessian-at-minimum or hessian, got \"{noise}\""
            ),
        ));
    }
    let build = |s: &ProblemSpec, source: &str| -> Result<Problem> {
        s.build(
            base,
            &BuildOptions {
                weight: Some(Weight::InverseSqrt),
                noise_source: Some(source.into()),
                ..opts.clone()
            },
        )
    };
    let base_problem = build(spec, noise)?;
    let h = base_problem.hessian_at_minimum().ok_or_else(|| {
        Error::invalid(
            "drift",
            "Lemma 4 needs a gradient drift (a `loss` or a `hessian`)",
        )
    })?;
    let mut specs: Vec<ProblemSpec> = Vec::new();
    match kappas {
        None => specs.push(spec.clone()),
        Some(ks) => {
            if spec.drift.hessian.is_none() && spec.drift.hessian_file.is_none() {
                return Err(Error::invalid(
                    "--kappa",
                    "a κ family needs a quadratic problem (`hessian` or `hessian_file` in [drift])",
                ));
            }
            let (vals, vecs) = symmetric_eigen(&h, "H*")?;
            let d = vals.len();
            for &k in ks {
                if !(k >= 1.0 && k.is_finite()) {
                    return Err(Error::invalid("--kappa", format!("κ must be ≥ 1, got {k}")));
                }
                if d == 1 && k != 1.0 {
                    return Err(Error::invalid("--kappa", "in one dimension κ = 1"));
                }
                let lmin = vals[0];
                let new_vals: Vec<f64> = (0..d)
                    .map(|i| {
                        lmin * k.powf(if d > 1 {
                            i as f64 / (d - 1) as f64
                        } else {
                            0.0
                        })
                    })
                    .collect();
                // H_κ = Q diag(new λ) Qᵀ: H*'s eigenvectors, λ ranked as in H*.
                let m = crate::linalg::spectral_apply(&new_vals, &vecs, |l| l);
                let mut s = spec.clone();
                s.drift.hessian = Some(m.to_rows());
                s.drift.hessian_file = None;
                specs.push(s);
            }
        }
    }
    let mut rows = Vec::new();
    for s in &specs {
        let p = build(s, noise)?;
        let hs = p.hessian_at_minimum().expect("gradient drift");
        let vals = crate::linalg::check_spd(&hs, "H*")?;
        let (lmin, lmax) = (vals[0], *vals.last().expect("d ≥ 1"));
        let kappa = lmax / lmin;
        let v = best_v0(&p)?;
        let proximal = best_v0(&build(s, "identity")?)?;
        let proxy = proximal.v0 / lmax.sqrt();
        let gap = (v.v0 - proxy).abs();
        let bound_factor = lmin.sqrt() * (kappa.sqrt() - 1.0);
        rows.push(Lemma4Row {
            kappa,
            lambda_max: lmax,
            lambda_min: lmin,
            v0: v.v0,
            proximal_v0: proximal.v0,
            proxy,
            gap,
            bound_factor,
            implied_a: (bound_factor > 1e-12 * lmin.sqrt()).then(|| gap / bound_factor),
            method: v.method,
        });
    }
    let max_implied_a = rows
        .iter()
        .filter_map(|r| r.implied_a)
        .fold(None, |m: Option<f64>, a| Some(m.map_or(a, |m| m.max(a))));
    Ok(Lemma4Report {
        noise: noise.into(),
        weight: Weight::InverseSqrt,
        rows,
        max_implied_a,
    })
}
