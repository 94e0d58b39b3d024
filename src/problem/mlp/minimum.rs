//! The fitted minimum θ* with H*, C*, their spectra, the JSON summary and the files.

use super::degeneracy::Degeneracy;
use super::{Mlp, MlpDataset};
use crate::error::{Error, Result};
use crate::linalg::{symmetric_eigen, Matrix};
use serde::Serialize;

/// Eigenvalues of a symmetric matrix and the paper's summaries λ_min, λ_max, κ.
#[derive(Clone, Debug, Serialize)]
pub struct Spectrum {
    /// Smallest eigenvalue.
    pub lambda_min: f64,
    /// Largest eigenvalue λ_max (the sharpness, Definition 3, for H*).
    pub lambda_max: f64,
    /// κ = λ_max/λ_min (∞ when λ_min ≤ 0).
    pub kappa: f64,
    /// All eigenvalues, ascending.
    pub eigenvalues: Vec<f64>,
}

impl Spectrum {
    /// The spectrum of symmetric `m`.
    pub fn of(m: &Matrix, field: &str) -> Result<Self> {
        let (vals, _) = symmetric_eigen(m, field)?;
        let lambda_min = vals[0];
        let lambda_max = *vals.last().unwrap();
        Ok(Spectrum {
            lambda_min,
            lambda_max,
            kappa: if lambda_min > 0.0 {
                lambda_max / lambda_min
            } else {
                f64::INFINITY
            },
            eigenvalues: vals,
        })
    }
}

/// The trained network at its minimum with the exact local quantities.
#[derive(Clone, Debug)]
pub struct MlpMinimum {
    /// The model (with the requested sharpness/depth maps).
    pub model: Mlp,
    /// θ*.
    pub theta_star: Vec<f64>,
    /// L(θ*).
    pub loss: f64,
    /// ‖∇L(θ*)‖ (≤ 1e-8).
    pub gradient_norm: f64,
    /// H* = ∇²L(θ*) (exact, SPD).
    pub hessian: Matrix,
    /// Spectrum of H*: λ_min, λ_max, κ.
    pub hessian_spectrum: Spectrum,
    /// C* = C(θ*), the per-example gradient covariance (positive semi-definite, rank ≤ N − 1).
    pub gradient_covariance: Matrix,
    /// Spectrum of C*.
    pub covariance_spectrum: Spectrum,
    /// Gradient-descent iterations of the fit.
    pub descent_iterations: usize,
    /// Levenberg–Marquardt / Newton iterations of the fit.
    pub newton_iterations: usize,
    /// The degeneracy checks at θ* (copies, dead units, repeated H* eigenvalues, null C*).
    pub degeneracy: Degeneracy,
    /// Which seed the fit used and which it rejected.
    pub selection: SeedSelection,
}

/// A candidate seed [`super::fit`] rejected, with its reasons.
#[derive(Clone, Debug, Serialize)]
pub struct RejectedSeed {
    /// The seed of the initial weights.
    pub seed: u64,
    /// Why: the failed degeneracy checks, or the fit's error.
    pub reasons: Vec<String>,
}

/// How [`super::fit`] chose the seed of θ*.
#[derive(Clone, Debug, Serialize)]
pub struct SeedSelection {
    /// The configured seed s.
    pub configured_seed: u64,
    /// The seed of θ* (s + k for the k-th candidate).
    pub seed: u64,
    /// Whether degenerate candidates were refitted (`MlpConfig::refit_degenerate`).
    pub refit_degenerate: bool,
    /// Candidates fitted.
    pub tried: usize,
    /// The rejected candidates (the chosen one excluded), in order.
    pub rejected: Vec<RejectedSeed>,
    /// True when every candidate was degenerate (θ* is the least degenerate one): the width is
    /// intrinsically degenerate for this data set and λ.
    pub all_degenerate: bool,
}

/// Summary of an [`MlpMinimum`] for JSON reports (no matrices).
#[derive(Clone, Debug, Serialize)]
pub struct MlpSummary {
    /// Data set.
    pub dataset: MlpDataset,
    /// N.
    pub examples: usize,
    /// p.
    pub inputs: usize,
    /// w.
    pub width: usize,
    /// d.
    pub dim: usize,
    /// λ.
    pub l2: f64,
    /// α.
    pub sharpness: f64,
    /// β.
    pub depth: f64,
    /// L(θ*).
    pub loss: f64,
    /// ‖∇L(θ*)‖.
    pub gradient_norm: f64,
    /// λ_min(H*).
    pub hessian_lambda_min: f64,
    /// λ_max(H*).
    pub hessian_lambda_max: f64,
    /// κ(H*).
    pub hessian_kappa: f64,
    /// λ_min(C*).
    pub covariance_lambda_min: f64,
    /// λ_max(C*).
    pub covariance_lambda_max: f64,
    /// tr C*.
    pub covariance_trace: f64,
    /// The degeneracy checks at θ*.
    pub degeneracy: Degeneracy,
    /// The seed of θ* and the rejected ones.
    pub selection: SeedSelection,
}

impl MlpMinimum {
    /// The JSON summary.
    pub fn summary(&self) -> MlpSummary {
        let d = self.theta_star.len();
        MlpSummary {
            dataset: self.model.dataset,
            examples: self.model.n,
            inputs: self.model.inputs,
            width: self.model.width,
            dim: d,
            l2: self.model.l2,
            sharpness: self.model.alpha,
            depth: self.model.beta,
            loss: self.loss,
            gradient_norm: self.gradient_norm,
            hessian_lambda_min: self.hessian_spectrum.lambda_min,
            hessian_lambda_max: self.hessian_spectrum.lambda_max,
            hessian_kappa: self.hessian_spectrum.kappa,
            covariance_lambda_min: self.covariance_spectrum.lambda_min,
            covariance_lambda_max: self.covariance_spectrum.lambda_max,
            covariance_trace: (0..d)
                .map(|i| self.gradient_covariance.data[i * d + i])
                .sum(),
            degeneracy: self.degeneracy.clone(),
            selection: self.selection.clone(),
        }
    }

    /// C* with its eigenvalues clipped below at `relative_floor`·λ_max(C*) (C* is only positive
    /// semi-definite — rank ≤ N − 1, and the network's symmetries leave null directions — so
    /// the action's metric C^{-p} needs a floor; DESIGN §1 `gradient-covariance`, regularised).
    pub fn regularised_gradient_covariance(&self, relative_floor: f64) -> Result<Matrix> {
        if !(relative_floor.is_finite() && relative_floor > 0.0) {
            return Err(Error::invalid(
                "floor",
                format!("must be > 0, got {relative_floor}"),
            ));
        }
        let (vals, vecs) = symmetric_eigen(&self.gradient_covariance, "gradient covariance")?;
        let floor = relative_floor * vals.last().copied().unwrap_or(0.0).max(0.0);
        Ok(crate::linalg::spectral_apply(&vals, &vecs, |l| {
            l.max(floor)
        }))
    }

    /// Write θ*, H*, C* as `.npy` and the summary as JSON into `dir`.
    pub fn write_files(&self, dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>> {
        use crate::problem::matrix_io::{write_matrix_npy, write_vector_npy};
        std::fs::create_dir_all(dir).map_err(|e| Error::Io {
            path: dir.display().to_string(),
            source: e,
        })?;
        let files = [
            dir.join("mlp_theta_star.npy"),
            dir.join("mlp_hessian.npy"),
            dir.join("mlp_gradient_covariance.npy"),
            dir.join("mlp_summary.json"),
        ];
        write_vector_npy(&files[0], &self.theta_star)?;
        write_matrix_npy(&files[1], &self.hessian)?;
        write_matrix_npy(&files[2], &self.gradient_covariance)?;
        let json = serde_json::to_string_pretty(&self.summary())
            .map_err(|e| Error::numerical("mlp summary", e.to_string()))?;
        std::fs::write(&files[3], json).map_err(|e| Error::Io {
            path: files[3].display().to_string(),
            source: e,
        })?;
        Ok(files.to_vec())
    }
}
