//! The κ family: problems whose Hessian at θ* is H_κ = Q diag(λ_min·κ^{i/(d−1)}) Qᵀ, with H*'s
//! eigenvectors Q (eigenvalues keep their rank), so that κ(H_κ) = κ and λ_min(H_κ) = λ_min.
//!
//! - Quadratic problems (`hessian`): H* is replaced by H_κ (the problem stays linear, so V0 is
//!   exact).
//! - Formula losses (`loss`): L_κ(θ) = L(θ) + ½(θ − θ*)ᵀ(H_κ − H*)(θ − θ*). This keeps θ* a
//!   critical point, sets ∇²L_κ(θ*) = H_κ and keeps L's nonlinearity; a level-set domain becomes
//!   the level set of L_κ at the same depth, other domains stay as they are. With the `hessian`
//!   noise source C(θ) = ∇²L_κ(θ) is state-dependent and V0 comes from gMAM.
//!
//! Changing only the noise (C ≠ H*) is not offered: Lemma 4 is a statement about C = H*
//! (Assumption 2), and a noise family would no longer be that setting.

use crate::error::{Error, Result};
use crate::linalg::{spectral_apply, symmetric_eigen, Matrix};
use crate::problem::ProblemSpec;

/// Spectrum spread geometrically over [λ_min, κ·λ_min], keeping H*'s eigenvectors.
pub fn family_hessian(h_star: &Matrix, kappa: f64, lambda_min: Option<f64>) -> Result<Matrix> {
    let d = h_star.n;
    if !(kappa.is_finite() && kappa >= 1.0) {
        return Err(Error::invalid("--kappa", format!("κ = λ_max/λ_min must be a finite number ≥ 1, got {kappa}")));
    }
    if d == 1 && kappa != 1.0 {
        return Err(Error::invalid("--kappa", format!("in one dimension κ = 1 (got {kappa})")));
    }
    let (vals, vecs) = symmetric_eigen(h_star, "H*")?;
    let lmin = lambda_min.unwrap_or(vals[0]);
    if !(lmin.is_finite() && lmin > 0.0) {
        return Err(Error::invalid("--lambda-min", format!("λ_min must be a positive number, got {lmin}")));
    }
    let spread: Vec<f64> = (0..d)
        .map(|i| if d > 1 { lmin * kappa.powf(i as f64 / (d - 1) as f64) } else { lmin })
        .collect();
    // Q diag(spread) Qᵀ: both spectra ascending, so each eigenvector keeps its rank.
    Ok(spectral_apply(&spread, &vecs, |l| l))
}

/// The family member with Hessian `h_kappa` at `minimum` (the built problem's θ*).
pub fn family_spec(spec: &ProblemSpec, minimum: &[f64], h_star: &Matrix, h_kappa: &Matrix) -> Result<ProblemSpec> {
    let mut s = spec.clone();
    s.minimum = Some(minimum.to_vec());
    if spec.drift.hessian.is_some() || spec.drift.hessian_file.is_some() {
        s.drift.hessian = Some(h_kappa.to_rows());
        s.drift.hessian_file = None;
        return Ok(s);
    }
    let Some(loss) = &spec.drift.loss else {
        return Err(Error::invalid("--kappa", "a κ family needs a gradient drift (`loss`, `hessian` or `hessian_file` in [drift])"));
    };
    let d = h_star.n;
    let vars: Vec<String> = match &spec.variables {
        Some(v) => v.clone(),
        None => return Err(Error::invalid("variables", "a formula loss needs its variable names")),
    };
    // ½ Σᵢⱼ Δᵢⱼ(θᵢ − θ*ᵢ)(θⱼ − θ*ⱼ), numbers in Rust's shortest round-trip decimal form.
    let num = |v: f64| if v < 0.0 { format!("({v})") } else { format!("{v}") };
    let centred = |i: usize| format!("({} - {})", vars[i], num(minimum[i]));
    let mut terms = Vec::new();
    for i in 0..d {
        for j in i..d {
            let dij = h_kappa.get(i, j) - h_star.get(i, j);
            if dij != 0.0 {
                let c = if i == j { 0.5 * dij } else { dij };
                terms.push(format!("{}*{}*{}", num(c), centred(i), centred(j)));
            }
        }
    }
    if !terms.is_empty() {
        s.drift.loss = Some(format!("({loss}) + {}", terms.join(" + ")));
    }
    // The compiled twin describes L, not L_κ.
    s.drift.native = None;
    Ok(s)
}
