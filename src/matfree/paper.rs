//! The paper's quantities and V₀ from the extreme eigenpairs of H* alone.
//!
//! For the quadratic minimum L = ½ uᵀH*u (u = θ − θ*) with C = H* (Assumption 2) the drift is
//! b = −H*u and the Lyapunov equation H*Σ + ΣH* = a has the closed-form solution Σ = ½H*^{-1/2}
//! for a = C^{1/2} (weight `inverse-sqrt`) and Σ = ½I for a = C (weight `inverse`), so
//! V(u) = uᵀH*^{1/2}u or |u|² (DESIGN §2). Their minima over ∂D need only λ_max or λ_min:
//!
//! | domain | inverse-sqrt | inverse |
//! |---|---|---|
//! | level set {L < ΔL} | 2ΔL λ_max^{-1/2} (Theorem 2's term) | 2ΔL / λ_max |
//! | ball {‖u‖ < R} | R² λ_min^{1/2} | R² (every point of ∂D) |
//!
//! Errors: a Ritz value θ of H* with residual r = ‖H*x − θx‖ is a Rayleigh quotient, so
//! λ_min ≤ θ ≤ λ_max, and some eigenvalue lies in [θ − r, θ + r]; taking it to be the extreme
//! one (Lanczos from a random start finds the extremes first) gives λ_max ∈ [θ, θ + r] and
//! λ_min ∈ [θ − r, θ], and each V₀ is reported with the width of its image of that interval.

use super::lanczos::{self, EigenPair, Progress};
use super::LinearOperator;
use crate::error::{Error, Result};
use crate::exact::PaperQuantities;
use crate::problem::Weight;
use serde::Serialize;

/// The extreme eigenpairs of H*, computed or given.
#[derive(Clone, Debug, Serialize)]
pub struct Spectrum {
    /// The dimension d.
    pub dim: usize,
    /// The largest eigenpair (value, unit vector, residual bound).
    pub lambda_max: EigenPair,
    /// The smallest eigenpair, when known (not from top-k eigenpairs of a larger spectrum).
    pub lambda_min: Option<EigenPair>,
    /// The Lanczos run that produced them, if any (its vectors are in the pairs above).
    pub lanczos: Option<lanczos::Report>,
}

impl Spectrum {
    /// λ_max and (when `smallest`) λ_min of an operator by Lanczos; `cfg.largest`/`smallest`
    /// are overridden to 1 and `smallest as usize`.
    pub fn by_lanczos<O: LinearOperator + ?Sized>(
        op: &mut O,
        cfg: &lanczos::Config,
        smallest: bool,
        observe: &mut dyn FnMut(&Progress) -> Result<()>,
    ) -> Result<Self> {
        let cfg = lanczos::Config {
            largest: 1,
            smallest: usize::from(smallest && op.dim() > 1),
            ..cfg.clone()
        };
        let mut r = lanczos::run(op, &cfg, observe)?;
        let lambda_max = r.largest.remove(0);
        let lambda_min = if smallest {
            Some(if r.smallest.is_empty() {
                lambda_max.clone() // d = 1
            } else {
                r.smallest.remove(0)
            })
        } else {
            None
        };
        Ok(Spectrum {
            dim: op.dim(),
            lambda_max,
            lambda_min,
            lanczos: Some(r),
        })
    }

    /// From eigenvalues a user computed (e.g. the top-k of a network's Hessian), with unit
    /// eigenvectors (row i of the k×d `vectors` belongs to `values[i]`) when exit points are
    /// wanted. `complete` says the values include the smallest eigenvalue (the whole spectrum or
    /// its bottom end); otherwise λ_min, κ and the ball's V₀ are not available.
    pub fn from_eigenpairs(
        dim: usize,
        values: &[f64],
        vectors: Option<&[f64]>,
        complete: bool,
    ) -> Result<Self> {
        if values.is_empty() {
            return Err(Error::invalid("eigenvalues", "no eigenvalues given"));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "eigenvalues",
                format!("entry {i} is {}", values[i]),
            ));
        }
        if let Some(v) = vectors {
            if v.len() != values.len() * dim {
                return Err(Error::invalid(
                    "eigenvectors",
                    format!(
                        "expected {} × {dim} entries (one row per eigenvalue), got {}",
                        values.len(),
                        v.len()
                    ),
                ));
            }
        }
        let pair = |i: usize| EigenPair {
            value: values[i],
            vector: vectors.map_or_else(Vec::new, |v| v[i * dim..(i + 1) * dim].to_vec()),
            residual: 0.0,
        };
        let imax = (0..values.len())
            .max_by(|&a, &b| values[a].total_cmp(&values[b]))
            .expect("non-empty");
        let imin = (0..values.len())
            .min_by(|&a, &b| values[a].total_cmp(&values[b]))
            .expect("non-empty");
        Ok(Spectrum {
            dim,
            lambda_max: pair(imax),
            lambda_min: complete.then(|| pair(imin)),
            lanczos: None,
        })
    }

    /// Error unless H* is positive definite as far as the known eigenvalues show.
    pub fn check_positive(&self) -> Result<()> {
        let (lo, what) = match &self.lambda_min {
            Some(p) => (p.value, "λ_min"),
            None => (self.lambda_max.value, "λ_max"),
        };
        if !(lo > 0.0) {
            return Err(Error::NotPositiveDefinite {
                field: "H*".into(),
                detail: format!(
                    "{what} = {lo:.6e}: θ* is not a strict minimum, so no barrier exists"
                ),
            });
        }
        Ok(())
    }

    /// λ_max's interval [θ, θ + r].
    fn max_interval(&self) -> (f64, f64) {
        let p = &self.lambda_max;
        (p.value, p.value + p.residual)
    }

    /// λ_min's interval [max(θ − r, 0), θ].
    fn min_interval(&self) -> Option<(f64, f64)> {
        self.lambda_min
            .as_ref()
            .map(|p| ((p.value - p.residual).max(0.0), p.value))
    }

    /// The paper's quantities for depth ΔL, with the half-widths of their intervals (needs λ_min).
    pub fn paper_quantities(&self, depth: f64) -> Result<(PaperQuantities, PaperErrors)> {
        self.check_positive()?;
        if !(depth > 0.0 && depth.is_finite()) {
            return Err(Error::invalid(
                "depth",
                format!("ΔL must be a positive number, got {depth}"),
            ));
        }
        let Some((min_lo, min_hi)) = self.min_interval() else {
            return Err(Error::Unsupported(
                "κ, λ_min and Lemma 4's factor need the smallest eigenvalue: compute it (Lanczos with smallest) or give the complete spectrum".into(),
            ));
        };
        let (max_lo, max_hi) = self.max_interval();
        let q = PaperQuantities::from_extremes(min_hi, max_lo, depth);
        let spread = |f: &dyn Fn(f64, f64) -> f64| {
            let v = [
                f(min_lo.max(f64::MIN_POSITIVE), max_lo),
                f(min_lo.max(f64::MIN_POSITIVE), max_hi),
                f(min_hi, max_lo),
                f(min_hi, max_hi),
            ];
            let c = f(min_hi, max_lo);
            v.iter().fold(0.0f64, |a, x| a.max((x - c).abs()))
        };
        let errors = PaperErrors {
            lambda_max: self.lambda_max.residual,
            lambda_min: min_hi - min_lo,
            kappa: spread(&|lo, hi| hi / lo),
            theorem2_term: spread(&|_, hi| 2.0 * depth / hi.sqrt()),
            lemma4_bound_factor: spread(&|lo, hi| lo.sqrt() * ((hi / lo).sqrt() - 1.0)),
        };
        Ok((q, errors))
    }

    /// V₀ for C = H* on a level set or ball, in the given weight.
    pub fn barrier(&self, domain: Neighbourhood, weight: Weight) -> Result<Barrier> {
        self.check_positive()?;
        match domain {
            Neighbourhood::LevelSet { depth } => {
                positive("depth", depth)?;
                let (lo, hi) = self.max_interval();
                let f = |l: f64| match weight {
                    Weight::InverseSqrt => 2.0 * depth / l.sqrt(),
                    Weight::Inverse => 2.0 * depth / l,
                };
                let v0 = f(lo);
                let exit = exit_point(&self.lambda_max.vector, (2.0 * depth / lo).sqrt());
                Ok(Barrier {
                    weight,
                    v0,
                    error_bound: v0 - f(hi),
                    exit_point: exit,
                    formula: match weight {
                        Weight::InverseSqrt => {
                            "2ΔL λ_max^{-1/2} (Theorem 2's term; exact for C = H*)"
                        }
                        Weight::Inverse => "2ΔL / λ_max",
                    }
                    .into(),
                })
            }
            Neighbourhood::Ball { radius } => {
                positive("radius", radius)?;
                let r2 = radius * radius;
                match weight {
                    Weight::Inverse => Ok(Barrier {
                        weight,
                        v0: r2,
                        error_bound: 0.0,
                        exit_point: None,
                        formula: "R² (V = |u|²: every point of the sphere is an exit point)".into(),
                    }),
                    Weight::InverseSqrt => {
                        let Some((lo, hi)) = self.min_interval() else {
                            return Err(Error::Unsupported(
                                "V0 on a ball with weight inverse-sqrt is R² λ_min^{1/2}: it needs the smallest eigenvalue".into(),
                            ));
                        };
                        let pmin = self.lambda_min.as_ref().expect("interval implies pair");
                        let v0 = r2 * hi.sqrt();
                        Ok(Barrier {
                            weight,
                            v0,
                            error_bound: v0 - r2 * lo.sqrt(),
                            exit_point: exit_point(&pmin.vector, radius),
                            formula: "R² λ_min^{1/2}".into(),
                        })
                    }
                }
            }
        }
    }
}

fn positive(field: &str, x: f64) -> Result<()> {
    if x > 0.0 && x.is_finite() {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("must be a positive number, got {x}"),
        ))
    }
}

fn exit_point(vector: &[f64], scale: f64) -> Option<Vec<f64>> {
    (!vector.is_empty()).then(|| vector.iter().map(|v| v * scale).collect())
}

/// Which neighbourhood of θ* the exit is from.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Neighbourhood {
    /// {L < ΔL}.
    LevelSet {
        /// ΔL.
        depth: f64,
    },
    /// {‖θ − θ*‖ < R}.
    Ball {
        /// R.
        radius: f64,
    },
}

/// Half-widths of the paper's quantities' intervals implied by the eigenvalue residuals.
#[derive(Clone, Debug, Serialize)]
pub struct PaperErrors {
    /// ± on λ_max.
    pub lambda_max: f64,
    /// ± on λ_min.
    pub lambda_min: f64,
    /// ± on κ.
    pub kappa: f64,
    /// ± on 2ΔL λ_max^{-1/2}.
    pub theorem2_term: f64,
    /// ± on λ_min^{1/2}(κ^{1/2} − 1).
    pub lemma4_bound_factor: f64,
}

/// V₀ with its bound.
#[derive(Clone, Debug, Serialize)]
pub struct Barrier {
    /// The action's weight.
    pub weight: Weight,
    /// V₀.
    pub v0: f64,
    /// |V₀ − V₀(true)| bound from the eigenvalue residual.
    pub error_bound: f64,
    /// θ − θ* at one of the (± symmetric) exit points; None when every point of ∂D is one or
    /// no eigenvector is known.
    pub exit_point: Option<Vec<f64>>,
    /// The closed form used.
    pub formula: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matfree::DiagonalPlusLowRank;

    /// diag(δ) + s·uuᵀ with u a unit coordinate-free vector: its top eigenvalue is the root of
    /// the secular equation 1 = s Σ u_i² / (λ − δ_i) above max δ.
    #[test]
    fn v0_of_a_diagonal_plus_rank_one_hessian_matches_the_secular_equation() {
        let d = 2000;
        let diag: Vec<f64> = (0..d).map(|i| 0.1 + i as f64 / d as f64).collect();
        let mut u: Vec<f64> = (0..d).map(|i| ((i % 7) as f64 - 3.0) + 0.5).collect();
        let n = crate::linalg::norm(&u);
        u.iter_mut().for_each(|x| *x /= n);
        let s = 5.0;
        let secular = |l: f64| 1.0 - s * (0..d).map(|i| u[i] * u[i] / (l - diag[i])).sum::<f64>();
        // Bisection on (max δ, max δ + s] where the secular function rises through 0.
        let (mut a, mut b) = (diag[d - 1] + 1e-12, diag[d - 1] + s + 1.0);
        for _ in 0..200 {
            let c = 0.5 * (a + b);
            if secular(c) < 0.0 {
                a = c
            } else {
                b = c
            }
        }
        let lmax = 0.5 * (a + b);
        let mut op = DiagonalPlusLowRank::new(diag, u, vec![s]).unwrap();
        let spec = Spectrum::by_lanczos(
            &mut op,
            &lanczos::Config::default(),
            true,
            &mut |_: &Progress| Ok(()),
        )
        .unwrap();
        assert!((spec.lambda_max.value - lmax).abs() <= 1e-9 * lmax);
        let b = spec
            .barrier(Neighbourhood::LevelSet { depth: 0.3 }, Weight::InverseSqrt)
            .unwrap();
        let exact = 0.6 / lmax.sqrt();
        assert!((b.v0 - exact).abs() <= 1e-9 * exact, "{} vs {exact}", b.v0);
        assert!(b.error_bound >= 0.0 && b.error_bound <= 1e-8 * exact);
        // The exit point lies on the level set ½uᵀHu = ΔL.
        let x = b.exit_point.unwrap();
        let mut hx = vec![0.0; d];
        op.apply(&x, &mut hx).unwrap();
        assert!((0.5 * crate::linalg::dot(&x, &hx) - 0.3).abs() < 1e-9);
        let (q, e) = spec.paper_quantities(0.3).unwrap();
        // λ_min of diag + a positive rank-one term lies in [min δ, second-smallest δ].
        assert!(q.lambda_min >= 0.1 - 1e-9 && q.lambda_min <= 0.1 + 1.0 / d as f64 + 1e-9);
        assert!(e.theorem2_term <= 1e-8 * q.theorem2_term);
    }

    #[test]
    fn given_eigenpairs_and_bad_inputs() {
        let s =
            Spectrum::from_eigenpairs(2, &[4.0, 1.0], Some(&[1.0, 0.0, 0.0, 1.0]), true).unwrap();
        let b = s
            .barrier(Neighbourhood::Ball { radius: 2.0 }, Weight::InverseSqrt)
            .unwrap();
        assert_eq!(b.v0, 4.0);
        assert_eq!(b.exit_point.unwrap(), vec![0.0, 2.0]);
        let top = Spectrum::from_eigenpairs(10, &[4.0], None, false).unwrap();
        assert!(top
            .barrier(Neighbourhood::Ball { radius: 1.0 }, Weight::InverseSqrt)
            .is_err());
        assert!(
            (top.barrier(Neighbourhood::LevelSet { depth: 1.0 }, Weight::InverseSqrt)
                .unwrap()
                .v0
                - 1.0)
                .abs()
                < 1e-15
        );
        assert!(top.paper_quantities(1.0).is_err());
        let neg = Spectrum::from_eigenpairs(2, &[4.0, -1.0], None, true).unwrap();
        assert!(matches!(
            neg.barrier(Neighbourhood::LevelSet { depth: 1.0 }, Weight::Inverse),
            Err(Error::NotPositiveDefinite { .. })
        ));
        assert!(Spectrum::from_eigenpairs(2, &[f64::NAN], None, true).is_err());
        assert!(s
            .barrier(Neighbourhood::LevelSet { depth: -1.0 }, Weight::Inverse)
            .is_err());
    }
}
