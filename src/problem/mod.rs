//! The problem model: drift b(θ), noise a(θ) with its action weight, domain D and minimum θ*.
//!
//! A problem is read once (TOML file, built-in name, or the `--hessian` shortcut), validated, and
//! handed to the engines. Engines get monomorphised kernels through [`Problem::visit`].

pub mod builtin;
pub mod check;
pub mod domain;
pub mod drift;
pub mod formula;
pub mod matrix_io;
pub mod mlp;
pub mod model;
pub mod noise;
pub mod spec;

pub use domain::Domain;
pub use drift::{Drift, Loss, NativeDrift};
pub use model::{Diffusion, ModelVisitor, ScalarField, VectorField};
pub use noise::{Noise, NoiseDescription, NoiseWorkspace, Weight};
pub use spec::{BuildOptions, ProblemSpec};

use crate::error::{Error, Result};
use crate::linalg::{norm, Matrix};
use faer::linalg::solvers::Solve;
use std::collections::BTreeMap;

/// A validated problem: dθ = b(θ) dt + ε a(θ)^{1/2} dW about a stable point θ* in D.
#[derive(Clone, Debug)]
pub struct Problem {
    /// Short name.
    pub name: String,
    /// One line.
    pub description: String,
    /// Variable names.
    pub variables: Vec<String>,
    /// Parameter values in effect.
    pub parameters: BTreeMap<String, f64>,
    /// θ*.
    pub minimum: Vec<f64>,
    /// b.
    pub drift: Drift,
    /// L, when b = −∇L.
    pub loss: Option<Loss>,
    /// a(θ).
    pub noise: Noise,
    /// Source and weight of the noise.
    pub noise_description: NoiseDescription,
    /// D.
    pub domain: Domain,
    /// Things the user should know (e.g. θ* was refined).
    pub notes: Vec<String>,
    /// Known exact answers from the problem file.
    pub reference: Reference,
}

/// Known answers for a problem (from its `[reference]` section).
#[derive(Clone, Debug, Default)]
pub struct Reference {
    /// The exact V(θ), with derivatives.
    pub quasi_potential: Option<Box<drift::FormulaLoss>>,
    /// The exact or converged V0.
    pub v0: Option<f64>,
    /// Where it comes from.
    pub source: Option<String>,
}

impl Reference {
    /// V(x), when known.
    pub fn quasi_potential_at(&self, x: &[f64]) -> Option<f64> {
        self.quasi_potential
            .as_ref()
            .map(|f| f.value.eval_scalar(x))
    }
}

impl Problem {
    /// The same problem with every formula interpreted instead of compiled to native code (the
    /// reference the compiled code is checked against; see [`formula::Program`]).
    pub fn with_interpreted_formulas(&self) -> Problem {
        let mut p = self.clone();
        p.drift = self.drift.interpreted();
        p.loss = self.loss.as_ref().map(Loss::interpreted);
        p.noise = self.noise.interpreted();
        p.domain = self.domain.interpreted();
        p.reference.quasi_potential = self
            .reference
            .quasi_potential
            .as_ref()
            .map(|q| Box::new(q.interpreted()));
        p
    }

    /// True when some formula of the problem runs as native code compiled from it.
    pub fn has_compiled_formulas(&self) -> bool {
        let loss = |l: &Loss| matches!(l, Loss::Formula(f) if f.gradient.is_compiled());
        let drift = match &self.drift {
            Drift::Field(f) => f.components.is_compiled(),
            Drift::Gradient(drift::GradientDrift(l)) => loss(l),
            _ => false,
        };
        let noise = match &self.noise {
            Noise::Variable(v) => match &v.field {
                noise::CovarianceField::Formulas { entries, .. } => entries.is_compiled(),
                noise::CovarianceField::Hessian { loss: l, .. } => loss(l),
            },
            Noise::Constant(_) => false,
        };
        drift || noise
    }

    /// Load a built-in problem by name, or a TOML file by path.
    pub fn load(name_or_path: &str, opts: &BuildOptions) -> Result<Self> {
        let (spec, base) = ProblemSpec::load_with_parameters(name_or_path, &opts.parameters)?;
        spec.build(&base, opts)
    }

    /// Dimension d.
    pub fn dim(&self) -> usize {
        self.minimum.len()
    }

    /// Run `visitor` with the concrete drift and noise types (monomorphised engines).
    pub fn visit<V: ModelVisitor>(&self, visitor: V) -> V::Output {
        macro_rules! with_noise {
            ($b:expr) => {
                match &self.noise {
                    Noise::Constant(n) => visitor.visit($b, n),
                    Noise::Variable(n) => visitor.visit($b, n),
                }
            };
        }
        match &self.drift {
            Drift::Linear(b) => with_noise!(b),
            Drift::Gradient(b) => with_noise!(b),
            Drift::Field(b) => with_noise!(b),
            Drift::Native(b) => with_noise!(b),
        }
    }

    /// J = ∂b/∂θ at θ*.
    pub fn jacobian_at_minimum(&self) -> Matrix {
        self.drift.eval_jacobian(&self.minimum)
    }

    /// The linearisation at θ*: A = −J(θ*) and a(θ*), so that b ≈ −A(θ−θ*).
    pub fn linearization(&self) -> Result<(Matrix, Matrix)> {
        let j = self.jacobian_at_minimum();
        let a = Matrix {
            n: j.n,
            data: j.data.iter().map(|v| -v).collect(),
        };
        let diff =
            self.noise
                .diffusion_at(&self.minimum)
                .ok_or_else(|| Error::NotPositiveDefinite {
                    field: "noise at θ*".into(),
                    detail: "a(θ*) is not positive definite".into(),
                })?;
        Ok((a, diff))
    }

    /// True when b is linear and a constant: the exact engine applies.
    pub fn is_linear_gaussian(&self) -> bool {
        matches!(self.drift, Drift::Linear(_)) && self.noise.is_constant()
    }

    /// ∇²L(θ*) when the drift is a gradient.
    pub fn hessian_at_minimum(&self) -> Option<Matrix> {
        let l = self.loss.as_ref()?;
        let mut h = Matrix::zeros(self.dim());
        l.hessian(&self.minimum, &mut h.data);
        Some(h)
    }

    /// Check that θ* is a stable stationary point inside D (refining it by Newton steps when
    /// `refine` is set).
    pub fn validate_minimum(&mut self, refine: bool) -> Result<()> {
        let d = self.dim();
        let scale = |j: &Matrix| {
            1.0 + j.data.iter().map(|v| v * v).sum::<f64>().sqrt() * (1.0 + norm(&self.minimum))
        };
        let b = self.drift.eval(&self.minimum);
        let j = self.jacobian_at_minimum();
        let tol = 1e-8 * scale(&j);
        if b.iter().any(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "minimum",
                format!("the drift at θ* = {:?} is not finite", self.minimum),
            ));
        }
        if norm(&b) > tol {
            if !refine {
                return Err(Error::invalid(
                    "minimum",
                    format!(
                        "θ* = {:?} is not a stationary point: |b(θ*)| = {:.3e} (tolerance {:.1e}); correct `minimum`, or pass --refine-minimum to take Newton steps to the nearby one",
                        self.minimum,
                        norm(&b),
                        tol
                    ),
                ));
            }
            let start = self.minimum.clone();
            let mut x = self.minimum.clone();
            for _ in 0..100 {
                let b = self.drift.eval(&x);
                if norm(&b) <= 1e-13 * scale(&j) {
                    break;
                }
                let jm = self.drift.eval_jacobian(&x).to_faer();
                let rhs = faer::Mat::from_fn(d, 1, |i, _| b[i]);
                let step = jm.partial_piv_lu().solve(&rhs);
                let mut s = 1.0;
                // Damped Newton: halve the step until |b| decreases.
                loop {
                    let y: Vec<f64> = (0..d).map(|i| x[i] - s * step[(i, 0)]).collect();
                    if norm(&self.drift.eval(&y)) < norm(&b) || s < 1e-8 {
                        x = y;
                        break;
                    }
                    s *= 0.5;
                }
            }
            let res = norm(&self.drift.eval(&x));
            if !(res <= tol) {
                return Err(Error::invalid(
                    "minimum",
                    format!("--refine-minimum: Newton steps from {start:?} did not reach a stationary point (|b| = {res:.3e} at {x:?})"),
                ));
            }
            self.notes.push(format!(
                "θ* refined by Newton steps from {start:?} to {x:?} (|b| = {res:.2e})"
            ));
            self.minimum = x;
            // Quadratic losses and linear drifts are centred on θ*: nothing else moves.
        }
        // Stability: eigenvalues of J(θ*) must have negative real parts.
        let j = self.jacobian_at_minimum();
        // Real parts of the eigenvalues (a symmetric Jacobian needs only the cheaper solver).
        let re: Vec<f64> = if j.check_symmetric("J").is_ok() {
            // Through −J: for a gradient drift that is ∇²L(θ*) to the bit, whose spectrum the
            // build has usually computed already (crate::linalg::memo).
            let neg = crate::linalg::Matrix {
                n: j.n,
                data: j.data.iter().map(|x| -x).collect(),
            };
            crate::linalg::symmetric_eigenvalues(&neg, "Jacobian at θ*")?
                .iter()
                .map(|v| -v)
                .collect()
        } else {
            j.to_faer()
                .eigenvalues()
                .map_err(|e| Error::numerical("Jacobian at θ*", format!("{e:?}")))?
                .iter()
                .map(|z| z.re)
                .collect()
        };
        let worst = re.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let biggest = re.iter().map(|v| v.abs()).fold(0.0, f64::max);
        if !(worst < -1e-12 * biggest.max(1e-300)) {
            let what = if self.loss.is_some() {
                format!(
                    "∇²L(θ*) is not positive definite (smallest eigenvalue {:.3e}): θ* is not a strict minimum",
                    -worst
                )
            } else {
                format!(
                    "the drift's Jacobian at θ* has an eigenvalue with real part {worst:.3e} ≥ 0: θ* is not a stable equilibrium"
                )
            };
            return Err(Error::invalid("minimum", what));
        }
        if !self.domain.contains(&self.minimum) {
            return Err(Error::invalid(
                "domain",
                format!(
                    "θ* = {:?} is not inside D ({}; level {:.3e} ≥ 0)",
                    self.minimum,
                    self.domain.kind(),
                    self.domain.level(&self.minimum)
                ),
            ));
        }
        Ok(())
    }
}
