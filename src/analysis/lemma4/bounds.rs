//! The inequalities around Lemma 4 as functions of the spectrum [λ_min, λ_max] of C and of the
//! proximal barrier V̂0, for the weight M = C^{-p} (p = ½: inverse-sqrt, Definition 4; p = 1:
//! inverse, eq. (3)).
//!
//! **Sandwich (rigorous).** For every v, λ_max^{-p}|v|² ≤ vᵀC^{-p}v ≤ λ_min^{-p}|v|². With
//! v = φ̇ + ∇L(φ) this bounds every action S_T(φ) by the proximal one Ŝ_T(φ) (eq. 5), and taking
//! infima over T, φ and ∂D: λ_max^{-p}V̂0 ≤ V0 ≤ λ_min^{-p}V̂0 (DESIGN §2, "Lemma 4, sharply").
//! Subtracting λ_max^{-p}V̂0 gives the gap bound 0 ≤ V0 − λ_max^{-p}V̂0 ≤ V̂0·(λ_min^{-p} − λ_max^{-p}):
//! the proof's factor with the finite constant A = V̂0, and the statement's factor with
//! A = V̂0/(λ_min λ_max)^p.
//!
//! **Equality cases** (quadratic L = ½xᵀH*x, C = H*, any domain; x = θ − θ*). Then
//! V(x) = xᵀH*^{1−p}x and V̂(x) = xᵀH*x, and with y = H*^{1/2}x the pointwise inequality
//! yᵀH*^{-p}y ≥ λ_max^{-p}|y|² is an equality iff x lies in the top eigenspace of H*. Hence the
//! lower side is an equality iff some minimiser of L on ∂D lies in the top eigenspace (every
//! level set {L = ΔL}: V0 = 2ΔL·λ_max^{-p}, Theorem 2's term for p = ½); symmetrically the upper
//! side is an equality iff some minimiser of L on ∂D lies in the bottom eigenspace (every ball
//! about θ*: V0 = r²λ_min^{1−p}).

use serde::Serialize;

/// The statement's factor λ_min^p(κ^p − 1) = λ_max^p − λ_min^p (p = ½: Lemma 4 as printed,
/// λ_min^{1/2}(κ^{1/2} − 1)). Scales like s^p under H* → sH*.
pub fn statement_factor(lambda_min: f64, lambda_max: f64, p: f64) -> f64 {
    lambda_max.powf(p) - lambda_min.powf(p)
}

/// The proof's factor λ_min^{-p} − λ_max^{-p} (p = ½: Appendix D eq. (30); p = 1: the same
/// steps (27)–(30) with C^{-1}). Scales like s^{-p} under H* → sH*; the statement's factor is
/// (λ_min λ_max)^p times this one.
pub fn proof_factor(lambda_min: f64, lambda_max: f64, p: f64) -> f64 {
    lambda_min.powf(-p) - lambda_max.powf(-p)
}

/// What a bound `gap ≤ A·factor` says for one measured gap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BoundVerdict {
    /// Some finite A works (the factor is positive, or the gap is 0 within tolerance).
    Holds,
    /// The factor is 0 (κ = 1) but the gap is not: no A works.
    FailsFactorZero,
}

/// One bound of the form gap ≤ A·factor.
#[derive(Clone, Debug, Serialize)]
pub struct FactorBound {
    /// The factor.
    pub factor: f64,
    /// gap/factor, the least A that works (`None` when the factor is 0).
    pub implied_a: Option<f64>,
    /// A constant that provably works, from the sandwich (V̂0 for the proof's factor,
    /// V̂0/(λ_min λ_max)^p for the statement's).
    pub sandwich_a: f64,
    /// Holds, or fails because the factor is 0 while the gap is not.
    pub verdict: BoundVerdict,
}

impl FactorBound {
    /// Judge `gap ≤ A·factor`; `gap_tol` is the accuracy of the gap, `scale` the size of the
    /// factor's terms (a factor below 1e-12·scale is 0: κ = 1 up to eigenvalue round-off).
    pub fn judge(gap: f64, gap_tol: f64, factor: f64, scale: f64, sandwich_a: f64) -> Self {
        let zero = factor.abs() <= 1e-12 * scale;
        let implied_a = (!zero).then(|| gap / factor);
        let verdict = if zero && gap > gap_tol {
            BoundVerdict::FailsFactorZero
        } else {
            BoundVerdict::Holds
        };
        FactorBound {
            factor,
            implied_a,
            sandwich_a,
            verdict,
        }
    }

    /// "holds with A = …" or "fails: factor 0 but gap > 0".
    pub fn describe(&self) -> String {
        match (self.verdict, self.implied_a) {
            (BoundVerdict::FailsFactorZero, _) => "fails: factor 0 but gap > 0".into(),
            (BoundVerdict::Holds, Some(a)) => format!("holds with A = {a:.4e}"),
            (BoundVerdict::Holds, None) => "holds (factor 0, gap 0)".into(),
        }
    }
}

/// λ_max^{-p}V̂0 ≤ V0 ≤ λ_min^{-p}V̂0, checked.
#[derive(Clone, Debug, Serialize)]
pub struct Sandwich {
    /// λ_min(C) for the upper side (inf over the proximal optimal path for state-dependent C).
    pub lambda_min: f64,
    /// λ_max(C) for the lower side (sup over the optimal path of V0 for state-dependent C).
    pub lambda_max: f64,
    /// λ_max^{-p}V̂0.
    pub lower: f64,
    /// λ_min^{-p}V̂0.
    pub upper: f64,
    /// Absolute tolerance of the comparisons (see [`Sandwich::check`]).
    pub tolerance: f64,
    /// lower − tol ≤ V0 ≤ upper + tol.
    pub holds: bool,
    /// |V0 − lower| ≤ tol.
    pub lower_tight: bool,
    /// |V0 − upper| ≤ tol.
    pub upper_tight: bool,
}

impl Sandwich {
    /// Check V0 against the sandwich. `tolerance` should be the engines' accuracy:
    /// err(V0) + λ_min^{-p}·err(V̂0) plus a relative 1e-9 for closed forms (their round-off is
    /// ~κ·1e-16 from the eigen- and Lyapunov solves, far below 1e-9 for κ ≤ 1e6).
    pub fn check(
        v0: f64,
        proximal_v0: f64,
        lambda_min: f64,
        lambda_max: f64,
        p: f64,
        tolerance: f64,
    ) -> Self {
        let lower = lambda_max.powf(-p) * proximal_v0;
        let upper = lambda_min.powf(-p) * proximal_v0;
        Sandwich {
            lambda_min,
            lambda_max,
            lower,
            upper,
            tolerance,
            holds: v0 >= lower - tolerance && v0 <= upper + tolerance,
            lower_tight: (v0 - lower).abs() <= tolerance,
            upper_tight: (v0 - upper).abs() <= tolerance,
        }
    }

    /// "holds (lower side tight)", "VIOLATED: …", …
    pub fn describe(&self, v0: f64) -> String {
        if !self.holds {
            let by = (self.lower - v0).max(v0 - self.upper);
            return format!(
                "sandwich VIOLATED by {by:.3e} (tolerance {:.1e})",
                self.tolerance
            );
        }
        let tight = match (self.lower_tight, self.upper_tight) {
            (true, true) => " (both sides tight)",
            (true, false) => " (lower side tight)",
            (false, true) => " (upper side tight)",
            (false, false) => "",
        };
        format!("sandwich holds{tight}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_over_proof_is_the_geometric_mean_to_the_p() {
        for &(lmin, lmax) in &[(0.3, 2.0), (1.0, 16.0), (0.01, 5.0)] {
            for &p in &[0.5, 1.0] {
                let r = statement_factor(lmin, lmax, p) / proof_factor(lmin, lmax, p);
                assert!((r / (lmin * lmax).powf(p) - 1.0).abs() < 1e-13);
            }
        }
    }

    #[test]
    fn factors_scale_oppositely_under_h_to_sh() {
        let (lmin, lmax) = (0.5, 3.0);
        for &s in &[0.01, 4.0, 100.0] {
            let st = statement_factor(s * lmin, s * lmax, 0.5) / statement_factor(lmin, lmax, 0.5);
            let pr = proof_factor(s * lmin, s * lmax, 0.5) / proof_factor(lmin, lmax, 0.5);
            assert!((st / s.sqrt() - 1.0).abs() < 1e-13, "statement ∝ s^½");
            assert!((pr * s.sqrt() - 1.0).abs() < 1e-13, "proof ∝ s^-½");
        }
    }

    #[test]
    fn zero_factor_with_a_gap_fails() {
        let b = FactorBound::judge(2.0, 1e-9, 0.0, 1.0, 1.0);
        assert_eq!(b.verdict, BoundVerdict::FailsFactorZero);
        assert!(b.implied_a.is_none());
        let b = FactorBound::judge(1e-12, 1e-9, 0.0, 1.0, 1.0);
        assert_eq!(b.verdict, BoundVerdict::Holds);
        let b = FactorBound::judge(0.5, 1e-9, 2.0, 1.0, 1.0);
        assert_eq!(b.implied_a, Some(0.25));
    }

    #[test]
    fn sandwich_sides() {
        let s = Sandwich::check(2.0, 1.0, 0.25, 0.25, 0.5, 1e-12);
        assert!(s.holds && s.lower_tight && s.upper_tight);
        let s = Sandwich::check(1.0, 1.0, 1.0, 4.0, 0.5, 1e-12);
        assert!(s.holds && !s.lower_tight && s.upper_tight);
        let s = Sandwich::check(0.4, 1.0, 1.0, 4.0, 0.5, 1e-12);
        assert!(!s.holds);
        assert!(s.describe(0.4).contains("VIOLATED"));
    }
}
