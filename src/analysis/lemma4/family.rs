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
        return Err(Error::invalid(
            "--kappa",
            format!("κ = λ_max/λ_min must be a finite number ≥ 1, got {kappa}"),
        ));
    }
    if d == 1 && kappa != 1.0 {
        return Err(Error::invalid(
            "--kappa",
            format!("in one dimension κ = 1 (got {kappa})"),
        ));
    }
    let (vals, vecs) = symmetric_eigen(h_star, "H*")?;
    let lmin = lambda_min.unwrap_or(vals[0]);
    if !(lmin.is_finite() && lmin > 0.0) {
        return Err(Error::invalid(
            "--lambda-min",
            format!("λ_min must be a positive number, got {lmin}"),
        ));
    }
    let spread: Vec<f64> = (0..d)
        .map(|i| {
            if d > 1 {
                lmin * kappa.powf(i as f64 / (d - 1) as f64)
            } else {
                lmin
            }
        })
        .collect();
    // Q diag(spread) Qᵀ: both spectra ascending, so each eigenvector keeps its rank.
    Ok(spectral_apply(&spread, &vecs, |l| l))
}

/// The family member with Hessian `h_kappa` at `minimum` (the built problem's θ*).
pub fn family_spec(
    spec: &ProblemSpec,
    minimum: &[f64],
    h_star: &Matrix,
    h_kappa: &Matrix,
) -> Result<ProblemSpec> {
    let mut s = spec.clone();
    s.minimum = Some(minimum.to_vec());
    if spec.drift.hessian.is_some() || spec.drift.hessian_file.is_some() {
        s.drift.hessian = Some(h_kappa.to_rows());
        s.drift.hessian_file = None;
        return Ok(s);
    }
    let Some(loss) = &spec.drift.loss else {
        return Err(Error::invalid(
            "--kappa",
            "a κ family needs a gradient drift (`loss`, `hessian` or `hessian_file` in [drift])",
        ));
    };
    let d = h_star.n;
    let vars: Vec<String> = match &spec.variables {
        Some(v) => v.clone(),
        None => {
            return Err(Error::invalid(
                "variables",
                "a formula loss needs its variable names",
            ))
        }
    };
    // ½ Σᵢⱼ Δᵢⱼ(θᵢ − θ*ᵢ)(θⱼ − θ*ⱼ), numbers in Rust's shortest round-trip decimal form.
    let num = |v: f64| {
        if v < 0.0 {
            format!("({v})")
        } else {
            format!("{v}")
        }
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_hessian_keeps_eigenvectors_and_spreads_the_spectrum() {
        let h = Matrix::from_rows(
            &[
                vec![3.0, 1.0, 0.0],
                vec![1.0, 2.0, 0.5],
                vec![0.0, 0.5, 1.0],
            ],
            "h",
        )
        .unwrap();
        let (v0, q0) = symmetric_eigen(&h, "h").unwrap();
        let hk = family_hessian(&h, 16.0, None).unwrap();
        let (v, _) = symmetric_eigen(&hk, "hk").unwrap();
        let expect = [v0[0], 4.0 * v0[0], 16.0 * v0[0]];
        for i in 0..3 {
            assert!(
                (v[i] / expect[i] - 1.0).abs() < 1e-12,
                "{v:?} vs {expect:?}"
            );
            // H_κ qᵢ = λᵢ' qᵢ for H*'s eigenvector qᵢ of the same rank.
            let q: Vec<f64> = (0..3).map(|k| q0[(k, i)]).collect();
            let mut hq = vec![0.0; 3];
            hk.mul_vec(&q, &mut hq);
            for k in 0..3 {
                assert!((hq[k] - expect[i] * q[k]).abs() < 1e-12);
            }
        }
        // Repeated eigenvalues (H* = 0.25·I) still get the whole spread.
        let hk = family_hessian(&Matrix::diagonal(&[0.25, 0.25]), 9.0, Some(0.5)).unwrap();
        let (v, _) = symmetric_eigen(&hk, "hk").unwrap();
        assert!(
            (v[0] - 0.5).abs() < 1e-14 && (v[1] - 4.5).abs() < 1e-13,
            "{v:?}"
        );
        assert!(family_hessian(&Matrix::diagonal(&[1.0]), 2.0, None).is_err());
        assert!(family_hessian(&h, 0.9, None).is_err());
    }

    #[test]
    fn formula_family_adds_the_quadratic_correction() {
        let spec = ProblemSpec::from_toml(
            "variables = [\"x\", \"y\"]\nminimum = [1.0, -2.0]\n[drift]\nloss = \"(x-1)^2/2 + (y+2)^2 + (x-1)^4\"\n\
             [domain]\nkind = \"ball\"\nradius = 0.5\n",
            "test",
        )
        .unwrap();
        let h = Matrix::diagonal(&[1.0, 2.0]);
        let hk = Matrix::from_rows(&[vec![2.0, -0.5], vec![-0.5, 3.0]], "hk").unwrap();
        let s = family_spec(&spec, &[1.0, -2.0], &h, &hk).unwrap();
        let p = s
            .build(std::path::Path::new("."), &Default::default())
            .unwrap();
        let got = p.hessian_at_minimum().unwrap();
        for (a, b) in got.data.iter().zip(&hk.data) {
            assert!((a - b).abs() < 1e-12, "{:?} vs {:?}", got.data, hk.data);
        }
        assert!(s.drift.loss.unwrap().contains("(y - (-2))"));
    }
}
