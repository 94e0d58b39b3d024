//! Degenerate minima of the network: copies of a hidden unit, dead units, repeated Hessian
//! eigenvalues and a null space of the gradient covariance.
//!
//! **Why it matters.** The network is invariant under permuting hidden units and under the tanh
//! sign flip (wⱼ, cⱼ, vⱼ) → (−wⱼ, −cⱼ, −vⱼ). A minimum where k units are copies (uⱼ = ±u_l for
//! the incoming weights and bias uⱼ = (W·ⱼ, cⱼ)) is a fixed point of that group: H* commutes with
//! it, so its eigenvalues repeat k − 1 times (the separating subspace carries the (k−1)-dimensional
//! irreducible representation of the permutation group), and every per-example gradient is
//! symmetric, so C* vanishes on the (k − 1)(p + 2)-dimensional subspace that separates the copies.
//! A dead unit (vⱼ = 0, or tanh(aⱼ) constant over the data) leaves C* null on its p + 1 incoming
//! (or its one outgoing) directions. Along those directions minibatch noise is absent while
//! isotropic noise random-walks along directions curved only by the L2 term, so exits there are
//! not the large-deviation events the paper's theory describes.
//!
//! **Tolerances** ([`DegeneracyTolerances`], all relative, so the checks are invariant under the
//! sharpness and depth maps):
//!
//! | check | flagged when | default | why |
//! |---|---|---|---|
//! | copies | min_± ‖uⱼ ∓ u_l‖ / max(‖uⱼ‖, ‖u_l‖) ≤ τ_u | 1e-6 | exact copies differ only by the fit's convergence error ‖H*⁻¹‖‖∇L‖ (measured ≤ 7e-9 on iris, w = 4–8, λ = 1e-4…1e-2); distinct units differ by O(0.1–1) (measured ≥ 0.28) |
//! | dead units | \|vⱼ\| / maxₗ\|vₗ\| ≤ τ_dead or sdᵢ tanh(aᵢⱼ) ≤ τ_dead | 1e-6 | a unit of size δ gives gradients O(δ), C* eigenvalues O(δ²): the same scale as τ_C below |
//! | repeated H* eigenvalues | λᵢ₊₁ − λᵢ ≤ τ_λ·\|λᵢ₊₁\| + d·ε·λ_max | 1e-6 | symmetry-forced multiplicities split only by the convergence error (≈ 1e-9) and the eigensolver's backward error d·ε·‖H‖ |
//! | null space of C* | λ(C*) ≤ τ_C·λ_max(C*), beyond the d − (N − 1) forced by rank C* ≤ N − 1 | 1e-12 = τ_u² | a pair at relative distance δ gives eigenvalues O(δ²); rounding of C* is ≈ N·ε ≈ 3e-14 (exact nulls measured ≤ 2e-16); non-degenerate iris minima measured ≥ 1e-11 |
//!
//! Copies are sought among live units only (two dead units are trivially equal and are reported
//! as dead).

use super::{tanh, Mlp};
use crate::error::{Error, Result};
use serde::Serialize;

/// How close counts as degenerate (see the module table for the reasoning behind the defaults).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct DegeneracyTolerances {
    /// τ_u: relative distance below which two units are copies (default 1e-6).
    pub unit_distance: f64,
    /// τ_dead: relative output weight or absolute activation spread below which a unit is dead
    /// (default 1e-6).
    pub dead_unit: f64,
    /// τ_λ: relative gap below which consecutive H* eigenvalues are one cluster (default 1e-6).
    pub eigenvalue_gap: f64,
    /// τ_C: eigenvalues of C* below τ_C·λ_max(C*) span its null space (default 1e-12).
    pub covariance_floor: f64,
}

impl Default for DegeneracyTolerances {
    fn default() -> Self {
        DegeneracyTolerances {
            unit_distance: 1e-6,
            dead_unit: 1e-6,
            eigenvalue_gap: 1e-6,
            covariance_floor: 1e-12,
        }
    }
}

impl DegeneracyTolerances {
    /// Every tolerance must lie in (0, 1); errors name the field.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("unit_distance", self.unit_distance),
            ("dead_unit", self.dead_unit),
            ("eigenvalue_gap", self.eigenvalue_gap),
            ("covariance_floor", self.covariance_floor),
        ] {
            if !(v > 0.0 && v < 1.0) {
                return Err(Error::invalid(name, format!("must be in (0, 1), got {v}")));
            }
        }
        Ok(())
    }
}

/// Two hidden units that compute the same feature: uⱼ = sign·u_l.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DuplicatePair {
    /// The two units (j < l).
    pub units: [usize; 2],
    /// +1: uⱼ ≈ u_l; −1: uⱼ ≈ −u_l (the tanh sign flip).
    pub sign: i8,
    /// min_± ‖uⱼ ∓ u_l‖ / max(‖uⱼ‖, ‖u_l‖).
    pub relative_distance: f64,
}

/// A hidden unit that contributes nothing the bias b₀ could not.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeadUnit {
    /// The unit j.
    pub unit: usize,
    /// |vⱼ| / maxₗ |vₗ|.
    pub relative_output_weight: f64,
    /// Population standard deviation of tanh(aᵢⱼ) over the N examples.
    pub activation_sd: f64,
}

/// A cluster of H* eigenvalues equal within the tolerance.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EigenCluster {
    /// Mean of the cluster.
    pub value: f64,
    /// Number of eigenvalues in it.
    pub multiplicity: usize,
}

/// The degeneracy checks of a minimum and their numbers.
#[derive(Clone, Debug, Serialize)]
pub struct Degeneracy {
    /// True when any check fails.
    pub degenerate: bool,
    /// One sentence per failed check (empty when non-degenerate).
    pub reasons: Vec<String>,
    /// The tolerances used.
    pub tolerances: DegeneracyTolerances,
    /// Smallest relative distance min_± ‖uⱼ ∓ u_l‖ / max(‖uⱼ‖, ‖u_l‖) over pairs of live units
    /// (`None` with fewer than two live units).
    pub min_unit_distance: Option<f64>,
    /// The pair attaining it.
    pub closest_units: Option<[usize; 2]>,
    /// Pairs of copies.
    pub duplicated_pairs: Vec<DuplicatePair>,
    /// Dead or saturated units.
    pub dead_units: Vec<DeadUnit>,
    /// Largest multiplicity of an H* eigenvalue cluster (1: all distinct).
    pub hessian_max_multiplicity: usize,
    /// The clusters of multiplicity > 1.
    pub hessian_repeated: Vec<EigenCluster>,
    /// The smallest (up to five) eigenvalues of H*, ascending.
    pub hessian_smallest: Vec<f64>,
    /// Number of C* eigenvalues ≤ τ_C·λ_max(C*).
    pub covariance_null_dim: usize,
    /// max(0, d − (N − 1)): the part of that null space forced by rank C* ≤ N − 1 (not flagged).
    pub covariance_forced_null_dim: usize,
    /// The smallest (up to five) eigenvalues of C* divided by λ_max(C*), ascending.
    pub covariance_smallest_relative: Vec<f64>,
}

impl Degeneracy {
    /// Run every check at θ of `model`, given the ascending eigenvalues of H(θ) and C(θ).
    ///
    /// Errors (never panics): θ or an eigenvalue list of the wrong length, a non-finite entry,
    /// or an invalid tolerance.
    pub fn check(
        model: &Mlp,
        theta: &[f64],
        hessian_eigenvalues: &[f64],
        covariance_eigenvalues: &[f64],
        tol: &DegeneracyTolerances,
    ) -> Result<Self> {
        tol.validate()?;
        let d = model.dim();
        for (name, v) in [
            ("theta", theta),
            ("hessian_eigenvalues", hessian_eigenvalues),
            ("covariance_eigenvalues", covariance_eigenvalues),
        ] {
            if v.len() != d {
                return Err(Error::invalid(
                    name,
                    format!("expected {d} entries, got {}", v.len()),
                ));
            }
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                return Err(Error::invalid(name, format!("entry {i} is {}", v[i])));
            }
        }
        let units = unit_statistics(model, theta);
        let vmax = units.iter().fold(0.0f64, |m, u| m.max(u.output.abs()));
        let mut dead_units = Vec::new();
        for (j, u) in units.iter().enumerate() {
            let rel = if vmax > 0.0 {
                u.output.abs() / vmax
            } else {
                0.0
            };
            if rel <= tol.dead_unit || u.activation_sd <= tol.dead_unit {
                dead_units.push(DeadUnit {
                    unit: j,
                    relative_output_weight: rel,
                    activation_sd: u.activation_sd,
                });
            }
        }
        let live: Vec<usize> = (0..units.len())
            .filter(|j| !dead_units.iter().any(|u| u.unit == *j))
            .collect();
        let mut min_unit_distance: Option<f64> = None;
        let mut closest_units = None;
        let mut duplicated_pairs = Vec::new();
        for (a, &j) in live.iter().enumerate() {
            for &l in &live[a + 1..] {
                let (dist, sign) = relative_distance(&units[j].incoming, &units[l].incoming);
                if min_unit_distance.is_none_or(|m| dist < m) {
                    min_unit_distance = Some(dist);
                    closest_units = Some([j, l]);
                }
                if dist <= tol.unit_distance {
                    duplicated_pairs.push(DuplicatePair {
                        units: [j, l],
                        sign,
                        relative_distance: dist,
                    });
                }
            }
        }
        let hmax = hessian_eigenvalues
            .iter()
            .fold(0.0f64, |m, v| m.max(v.abs()));
        let absolute = d as f64 * f64::EPSILON * hmax;
        let clusters = eigenvalue_clusters(hessian_eigenvalues, tol.eigenvalue_gap, absolute);
        let hessian_max_multiplicity = clusters.iter().map(|c| c.multiplicity).max().unwrap_or(1);
        let hessian_repeated: Vec<EigenCluster> = clusters
            .into_iter()
            .filter(|c| c.multiplicity > 1)
            .collect();
        let cmax = covariance_eigenvalues.iter().fold(0.0f64, |m, v| m.max(*v));
        let covariance_null_dim = covariance_eigenvalues
            .iter()
            .filter(|&&l| l <= tol.covariance_floor * cmax)
            .count();
        let n = model.num_examples();
        let covariance_forced_null_dim = d.saturating_sub(n.saturating_sub(1));
        let smallest = |v: &[f64], scale: f64| -> Vec<f64> {
            let mut s = v.to_vec();
            s.sort_by(f64::total_cmp);
            s.truncate(5);
            s.iter().map(|x| x / scale).collect()
        };
        let mut reasons = Vec::new();
        if !duplicated_pairs.is_empty() {
            let list: Vec<String> = duplicated_pairs
                .iter()
                .map(|p| {
                    let s = if p.sign > 0 { "" } else { "−" };
                    format!("{}≈{s}{}", p.units[0], p.units[1])
                })
                .collect();
            reasons.push(format!(
                "{} pair(s) of copied hidden units ({}; relative distance ≤ {:.0e})",
                duplicated_pairs.len(),
                list.join(", "),
                tol.unit_distance
            ));
        }
        if !dead_units.is_empty() {
            let list: Vec<String> = dead_units.iter().map(|u| u.unit.to_string()).collect();
            reasons.push(format!(
                "dead or saturated unit(s) {} (|v|/max|v| or sd tanh(a) ≤ {:.0e})",
                list.join(", "),
                tol.dead_unit
            ));
        }
        if hessian_max_multiplicity > 1 {
            reasons.push(format!(
                "H* has an eigenvalue of multiplicity {hessian_max_multiplicity} (relative gap ≤ {:.0e})",
                tol.eigenvalue_gap
            ));
        }
        if covariance_null_dim > covariance_forced_null_dim {
            reasons.push(format!(
                "C* has a {covariance_null_dim}-dimensional null space (eigenvalues ≤ {:.0e}·λ_max(C*); {covariance_forced_null_dim} forced by N = {n})",
                tol.covariance_floor
            ));
        }
        Ok(Degeneracy {
            degenerate: !reasons.is_empty(),
            reasons,
            tolerances: *tol,
            min_unit_distance,
            closest_units,
            duplicated_pairs,
            dead_units,
            hessian_max_multiplicity,
            hessian_repeated,
            hessian_smallest: smallest(hessian_eigenvalues, 1.0),
            covariance_null_dim,
            covariance_forced_null_dim,
            covariance_smallest_relative: smallest(
                covariance_eigenvalues,
                if cmax > 0.0 { cmax } else { 1.0 },
            ),
        })
    }

    /// Lexicographic badness used to pick the least degenerate of several fits: unforced C*
    /// null dimensions first (what breaks the large-deviation picture), then copied pairs and
    /// dead units, then the H* multiplicity. Smaller is better.
    pub fn severity(&self) -> (usize, usize, usize) {
        (
            self.covariance_null_dim
                .saturating_sub(self.covariance_forced_null_dim),
            self.duplicated_pairs.len() + self.dead_units.len(),
            self.hessian_max_multiplicity,
        )
    }

    /// One line for terminal output.
    pub fn describe(&self) -> String {
        let dist = self
            .min_unit_distance
            .map(|v| format!("{v:.3e}"))
            .unwrap_or_else(|| "—".into());
        let head = format!(
            "min unit distance {dist}, {} copied pair(s), {} dead unit(s), H* multiplicity ≤ {}, dim null C* = {}",
            self.duplicated_pairs.len(),
            self.dead_units.len(),
            self.hessian_max_multiplicity,
            self.covariance_null_dim
        );
        if self.degenerate {
            format!("DEGENERATE: {head}: {}", self.reasons.join("; "))
        } else {
            format!("non-degenerate: {head}")
        }
    }
}

/// One hidden unit's incoming weights and bias u = (W·ⱼ, cⱼ), output weight v and the spread of
/// its activation over the data.
struct UnitStatistics {
    incoming: Vec<f64>,
    output: f64,
    activation_sd: f64,
}

fn unit_statistics(model: &Mlp, theta: &[f64]) -> Vec<UnitStatistics> {
    let (p, w, n) = (model.inputs, model.width, model.n);
    let sa = model.sqrt_alpha;
    (0..w)
        .map(|j| {
            let mut incoming: Vec<f64> = (0..p).map(|k| theta[k * w + j]).collect();
            incoming.push(theta[p * w + j]);
            let h: Vec<f64> = (0..n)
                .map(|i| {
                    let x = &model.x[i * p..i * p + p];
                    let a = incoming[p] + x.iter().zip(&incoming).map(|(a, b)| a * b).sum::<f64>();
                    tanh(sa * a)
                })
                .collect();
            let mean = h.iter().sum::<f64>() / n as f64;
            let var = h.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
            UnitStatistics {
                incoming,
                output: theta[p * w + w + j],
                activation_sd: var.sqrt(),
            }
        })
        .collect()
}

/// min_± ‖a ∓ b‖ / max(‖a‖, ‖b‖) and the sign attaining it (0 when both vectors vanish).
fn relative_distance(a: &[f64], b: &[f64]) -> (f64, i8) {
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let minus: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let plus: Vec<f64> = a.iter().zip(b).map(|(x, y)| x + y).collect();
    let (dm, dp) = (norm(&minus), norm(&plus));
    let scale = norm(a).max(norm(b));
    let (dist, sign) = if dm <= dp { (dm, 1) } else { (dp, -1) };
    if scale > 0.0 {
        (dist / scale, sign)
    } else {
        (0.0, 1)
    }
}

/// Group ascending eigenvalues: consecutive ones join a cluster when
/// λᵢ₊₁ − λᵢ ≤ relative·max(|λᵢ|, |λᵢ₊₁|) + absolute.
pub(super) fn eigenvalue_clusters(
    values: &[f64],
    relative: f64,
    absolute: f64,
) -> Vec<EigenCluster> {
    let mut out: Vec<(f64, usize)> = Vec::new();
    let mut prev: Option<f64> = None;
    for &v in values {
        let joins = prev.is_some_and(|p| v - p <= relative * p.abs().max(v.abs()) + absolute);
        match out.last_mut() {
            Some((sum, m)) if joins => {
                *sum += v;
                *m += 1;
            }
            _ => out.push((v, 1)),
        }
        prev = Some(v);
    }
    out.into_iter()
        .map(|(sum, m)| EigenCluster {
            value: sum / m as f64,
            multiplicity: m,
        })
        .collect()
}

#[cfg(test)]
#[path = "degeneracy_tests.rs"]
mod tests;
