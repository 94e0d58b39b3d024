use super::*;
use crate::linalg::Matrix;
use crate::problem::mlp::{fit, MlpConfig, MlpDataset, Spectrum};

/// A width-4 iris network at generic weights (biases drawn too, so no unit is special).
fn network() -> (Mlp, Vec<f64>) {
    let m = Mlp::new(&MlpConfig {
        width: 4,
        ..MlpConfig::default()
    })
    .unwrap();
    let mut theta = m.initial_parameters(3);
    let (p, w) = (m.inputs(), m.width());
    for (j, c) in theta[p * w..p * w + w].iter_mut().enumerate() {
        *c = 0.3 * j as f64 - 0.4;
    }
    (m, theta)
}

/// Set unit `to` to sign × unit `from` (incoming weights, bias and output weight).
fn copy_unit(m: &Mlp, theta: &mut [f64], from: usize, to: usize, sign: f64) {
    let (p, w) = (m.inputs(), m.width());
    for k in 0..p {
        theta[k * w + to] = sign * theta[k * w + from];
    }
    theta[p * w + to] = sign * theta[p * w + from];
    theta[p * w + w + to] = sign * theta[p * w + w + from];
}

/// The checks at θ from freshly computed spectra of H(θ) and C(θ).
fn check(m: &Mlp, theta: &[f64]) -> Degeneracy {
    let d = m.dim();
    let mut h = Matrix::zeros(d);
    m.hessian(theta, &mut h.data);
    let h = Spectrum::of(&h, "H").unwrap();
    let c = Spectrum::of(&m.gradient_covariance(theta), "C").unwrap();
    Degeneracy::check(
        m,
        theta,
        &h.eigenvalues,
        &c.eigenvalues,
        &DegeneracyTolerances::default(),
    )
    .unwrap()
}

#[test]
fn generic_weights_are_not_degenerate() {
    let (m, theta) = network();
    let r = check(&m, &theta);
    assert!(!r.degenerate, "{:?}", r.reasons);
    assert!(r.min_unit_distance.unwrap() > 0.1);
}

#[test]
fn copied_and_sign_flipped_units_are_flagged() {
    let (m, mut theta) = network();
    copy_unit(&m, &mut theta, 0, 1, 1.0);
    copy_unit(&m, &mut theta, 0, 2, -1.0);
    let r = check(&m, &theta);
    assert!(r.degenerate);
    let pairs: Vec<([usize; 2], i8)> = r
        .duplicated_pairs
        .iter()
        .map(|p| (p.units, p.sign))
        .collect();
    assert_eq!(pairs, vec![([0, 1], 1), ([0, 2], -1), ([1, 2], -1)]);
    // Exact copies: u₀ − u₁ and u₀ + u₂ vanish in floating point.
    assert_eq!(r.min_unit_distance, Some(0.0));
    // θ is fixed by the signed permutations of units {0, 1, 2}, so every ∇ℓᵢ lies in their
    // invariant subspace: C vanishes on the separating (3 − 1)(p + 2) = 12 dimensions, and H
    // carries the 2-dimensional irreducible representation there: six eigenvalues of
    // multiplicity 2 (the rest of θ is generic, so nothing else is null or repeated).
    assert_eq!(r.covariance_null_dim, 12);
    assert_eq!(r.covariance_forced_null_dim, 0);
    assert_eq!(r.hessian_max_multiplicity, 2);
    assert_eq!(r.hessian_repeated.len(), 6);
    assert!(r.dead_units.is_empty());
}

#[test]
fn dead_units_are_flagged() {
    let (m, mut theta) = network();
    let (p, w) = (m.inputs(), m.width());
    // Unit 3: no output weight. Unit 2: no incoming weights or bias, so tanh(a) ≡ 0.
    theta[p * w + w + 3] = 0.0;
    for k in 0..p {
        theta[k * w + 2] = 0.0;
    }
    theta[p * w + 2] = 0.0;
    let r = check(&m, &theta);
    assert!(r.degenerate);
    let dead: Vec<usize> = r.dead_units.iter().map(|u| u.unit).collect();
    assert_eq!(dead, vec![2, 3]);
    assert_eq!(r.dead_units[0].activation_sd, 0.0);
    assert_eq!(r.dead_units[1].relative_output_weight, 0.0);
    assert!(r.duplicated_pairs.is_empty());
    // v₃ = 0 removes the data part of ∂ℓ/∂u₃ (p + 1 directions); h₂ ≡ 0 removes that of
    // ∂ℓ/∂v₂ (one direction) and makes ∂f/∂c₂ = v₂(1 − h₂²) = v₂ a constant, like ∂f/∂b₀ = 1, so
    // e_c₂ − v₂ e_b₀ is null too. The L2 part is the same for every example and drops out of C.
    assert_eq!(r.covariance_null_dim, (p + 1) + 1 + 1);
}

#[test]
fn eigenvalue_clusters_follow_the_relative_gap() {
    let v = [
        1.0,
        1.0 + 5e-7,
        2.0,
        3.0,
        3.0 * (1.0 + 5e-7),
        3.0 * (1.0 + 1e-6),
        4.0,
    ];
    let c = eigenvalue_clusters(&v, 1e-6, 0.0);
    let mult: Vec<usize> = c.iter().map(|c| c.multiplicity).collect();
    assert_eq!(mult, vec![2, 1, 3, 1]);
    assert!((c[0].value - (1.0 + 2.5e-7)).abs() < 1e-15);
    // A gap of 2e-6 relative splits.
    let c = eigenvalue_clusters(&[1.0, 1.0 + 2e-6], 1e-6, 0.0);
    assert_eq!(c.len(), 2);
    assert!(eigenvalue_clusters(&[], 1e-6, 0.0).is_empty());
}

#[test]
fn check_rejects_bad_input() {
    let (m, theta) = network();
    let d = m.dim();
    let ok = vec![1.0; d];
    let tol = DegeneracyTolerances::default();
    let short = vec![1.0; d - 1];
    assert!(Degeneracy::check(&m, &short, &ok, &ok, &tol).is_err());
    assert!(Degeneracy::check(&m, &theta, &short, &ok, &tol).is_err());
    let mut nan = ok.clone();
    nan[3] = f64::NAN;
    assert!(matches!(
        Degeneracy::check(&m, &theta, &ok, &nan, &tol),
        Err(Error::Invalid { .. })
    ));
    for bad in [0.0, 1.0, -1e-6, f64::NAN] {
        let t = DegeneracyTolerances {
            eigenvalue_gap: bad,
            ..tol
        };
        assert!(
            Degeneracy::check(&m, &theta, &ok, &ok, &t).is_err(),
            "{bad}"
        );
    }
}

/// The default of issue 11's report (iris, width 8, λ = 1e-2, seed 0), without refitting.
#[test]
fn former_default_is_flagged_without_refit() {
    let m = fit(&MlpConfig {
        width: 8,
        refit_degenerate: false,
        ..MlpConfig::default()
    })
    .unwrap();
    let r = &m.degeneracy;
    assert!(r.degenerate);
    assert_eq!((m.selection.seed, m.selection.tried), (0, 1));
    // Six copies of one unit: C(6, 2) = 15 pairs, H* eigenvalues of multiplicity 6 − 1 = 5
    // (one cluster per coordinate of a unit: p + 2 = 6), and C* null on (6 − 1)(p + 2) = 30
    // dimensions.
    assert_eq!(r.duplicated_pairs.len(), 15);
    assert!(r.min_unit_distance.unwrap() < 1e-9);
    assert_eq!(r.hessian_max_multiplicity, 5);
    assert_eq!(
        r.hessian_repeated
            .iter()
            .filter(|c| c.multiplicity == 5)
            .count(),
        6
    );
    assert_eq!(r.covariance_null_dim, 30);
    assert!(r.covariance_smallest_relative[4] < 1e-15);
}

#[test]
fn width_8_is_intrinsically_degenerate_on_iris() {
    let m = fit(&MlpConfig {
        width: 8,
        ..MlpConfig::default()
    })
    .unwrap();
    let s = &m.selection;
    assert!(s.all_degenerate && m.degeneracy.degenerate);
    assert_eq!(s.tried, crate::problem::mlp::REFIT_SEEDS);
    // Every seed lands on the same symmetric minimum, so the earliest (seed 0) is kept and the
    // other 15 are listed as rejected, each with its reasons.
    assert_eq!(s.seed, 0);
    assert_eq!(s.rejected.len(), crate::problem::mlp::REFIT_SEEDS - 1);
    assert!(s.rejected.iter().all(|r| !r.reasons.is_empty()));
}

#[test]
fn refit_skips_degenerate_seeds() {
    // Iris, width 5, λ = 1e-3: seeds 0–12 end with copied units, seed 13 does not.
    let config = MlpConfig {
        width: 5,
        l2: 1e-3,
        ..MlpConfig::default()
    };
    let m = fit(&config).unwrap();
    assert!(!m.degeneracy.degenerate, "{:?}", m.degeneracy.reasons);
    let s = &m.selection;
    assert!(!s.all_degenerate);
    assert_eq!(s.tried, s.rejected.len() + 1);
    assert_eq!(s.seed, s.configured_seed + s.rejected.len() as u64);
    assert!(s.seed > 0);
    // Deterministic: the rejected seeds are exactly the earlier ones, and each is degenerate
    // when fitted alone.
    for (k, r) in s.rejected.iter().enumerate() {
        assert_eq!(r.seed, k as u64);
    }
    let first = fit(&MlpConfig {
        refit_degenerate: false,
        ..config.clone()
    })
    .unwrap();
    assert!(first.degeneracy.degenerate);
    let chosen = fit(&MlpConfig {
        seed: s.seed,
        refit_degenerate: false,
        ..config
    })
    .unwrap();
    assert_eq!(chosen.theta_star, m.theta_star);
}

#[test]
fn default_minimum_is_non_degenerate() {
    let m = fit(&MlpConfig::default()).unwrap();
    assert!(!m.degeneracy.degenerate, "{:?}", m.degeneracy.reasons);
    assert_eq!((m.selection.seed, m.selection.tried), (0, 1));
    assert_eq!(m.model.dataset(), MlpDataset::Iris);
    // Independently of the detector: H*'s eigenvalues are pairwise separated by far more than
    // the 1e-6 relative gap, and C*'s smallest eigenvalue is far above the 1e-12 floor.
    let h = &m.hessian_spectrum.eigenvalues;
    let gap = h
        .windows(2)
        .map(|p| (p[1] - p[0]) / p[1].abs())
        .fold(f64::INFINITY, f64::min);
    assert!(gap > 1e-3, "smallest relative gap {gap:e}");
    let c = &m.covariance_spectrum;
    assert!(c.lambda_min / c.lambda_max > 1e-9, "{}", c.lambda_min);
    let json = serde_json::to_value(m.summary()).unwrap();
    assert_eq!(json["degeneracy"]["degenerate"], false);
    assert_eq!(json["selection"]["seed"], 0);
}
