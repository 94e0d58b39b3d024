//! Lemma 4 quantities against closed forms.

use quasipot::analysis::lemma4::lemma4;
use quasipot::problem::{BuildOptions, ProblemSpec};

/// C = H* on a level set of a quadratic L: V0 = 2ΔLλ_max^{-1/2} exactly, so the gap is 0.
#[test]
fn gap_vanishes_on_level_sets_of_quadratics() {
    let (spec, base) = ProblemSpec::load("quadratic-anisotropic-3d").unwrap();
    let r = lemma4(
        &spec,
        &base,
        "hessian-at-minimum",
        Some(&[1.0, 3.0, 10.0]),
        &BuildOptions::default(),
    )
    .unwrap();
    for row in &r.rows {
        assert!(
            row.gap < 1e-12 * row.v0,
            "κ = {}: gap {}",
            row.kappa,
            row.gap
        );
        assert!((row.proximal_v0 - 1.0).abs() < 1e-12, "V̂0 = 2ΔL = 1");
    }
    assert!((r.rows[1].kappa - 3.0).abs() < 1e-9 && (r.rows[2].kappa - 10.0).abs() < 1e-9);
}

/// On a ball of radius r: V0 = r²λ_min^{1/2}, V̂0 = r²λ_min, so A = gap/factor = r²/√κ.
#[test]
fn gap_on_a_ball_matches_the_closed_form() {
    let (spec, base) = ProblemSpec::load("examples/problems/quadratic-ball-3d.toml").unwrap();
    let r = lemma4(
        &spec,
        &base,
        "hessian-at-minimum",
        Some(&[2.0, 4.0, 9.0]),
        &BuildOptions::default(),
    )
    .unwrap();
    let r2 = 0.25;
    for row in &r.rows {
        let v0 = r2 * row.lambda_min.sqrt();
        assert!((row.v0 / v0 - 1.0).abs() < 1e-10);
        let a = row.implied_a.unwrap();
        assert!(
            (a / (r2 / row.kappa.sqrt()) - 1.0).abs() < 1e-9,
            "κ = {}: A = {a}",
            row.kappa
        );
    }
}

#[test]
fn rejects_non_hessian_noise_and_families_of_non_quadratics() {
    let (spec, base) = ProblemSpec::load("quadratic-2d").unwrap();
    assert!(lemma4(&spec, &base, "identity", None, &BuildOptions::default()).is_err());
    assert!(lemma4(
        &spec,
        &base,
        "hessian-at-minimum",
        Some(&[0.5]),
        &BuildOptions::default()
    )
    .is_err());
    let (spec, base) = ProblemSpec::load("double-well-1d").unwrap();
    assert!(lemma4(
        &spec,
        &base,
        "hessian-at-minimum",
        Some(&[2.0]),
        &BuildOptions::default()
    )
    .is_err());
}
