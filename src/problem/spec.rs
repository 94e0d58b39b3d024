//! The problem file (TOML, DESIGN §4) and its translation into a validated [`Problem`].

use super::domain::Domain;
use super::drift::{
    Drift, FormulaField, FormulaLoss, GradientDrift, LinearDrift, Loss, NativeDrift,
};
use super::formula::Formula;
use super::matrix_io::read_matrix;
use super::model::VectorField;
use super::noise::{
    covariance_formulas, ConstantNoise, CovarianceField, Noise, NoiseDescription, VariableNoise,
    Weight,
};
use super::{Problem, Reference};
use crate::error::{Error, Result};
use crate::linalg::{check_spd, norm, symmetric_eigen, Matrix};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The parsed problem file, before validation.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProblemSpec {
    /// A short name.
    pub name: Option<String>,
    /// One line on what the problem is.
    pub description: Option<String>,
    /// Variable names used in formulas (default x0, x1, ... for Hessian problems).
    pub variables: Option<Vec<String>>,
    /// θ* (default: the origin for Hessian problems).
    pub minimum: Option<Vec<f64>>,
    /// Named constants usable in formulas; `--param NAME=VALUE` overrides them.
    #[serde(default)]
    pub parameters: BTreeMap<String, f64>,
    /// The drift.
    pub drift: DriftSpec,
    /// The noise (default: identity, weight inverse-sqrt).
    pub noise: Option<NoiseSpec>,
    /// The domain D.
    pub domain: DomainSpec,
    /// Known answers, used to report errors.
    pub reference: Option<ReferenceSpec>,
}

/// `[reference]`: known exact answers for this problem (used to report errors, never to compute).
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ReferenceSpec {
    /// The exact quasi-potential V(θ) as a formula.
    pub quasi_potential: Option<String>,
    /// The exact (or converged published) V0 at the file's parameter values.
    pub v0: Option<f64>,
    /// Where the value comes from.
    pub source: Option<String>,
}

/// `[drift]`: exactly one of `field`, `loss`, `hessian`, `hessian_file`.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DriftSpec {
    /// bᵢ as formulas.
    pub field: Option<Vec<String>>,
    /// L as a formula (b = −∇L).
    pub loss: Option<String>,
    /// H inline (L = ½(θ−θ*)ᵀH(θ−θ*)).
    pub hessian: Option<Vec<Vec<f64>>>,
    /// H from a .npy, .json or .csv file (relative to the problem file).
    pub hessian_file: Option<String>,
    /// A compiled-in twin of `field`/`loss` to use for speed (checked against the formulas).
    pub native: Option<String>,
}

/// `[noise]`.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NoiseSpec {
    /// identity | hessian-at-minimum | hessian | matrix | field.
    pub source: Option<String>,
    /// Constant C inline.
    pub matrix: Option<Vec<Vec<f64>>>,
    /// Constant C from a file.
    pub matrix_file: Option<String>,
    /// C(θ) entries as formulas.
    pub field: Option<Vec<Vec<String>>>,
    /// inverse-sqrt | inverse.
    pub weight: Option<String>,
    /// Eigenvalue floor for the `hessian` source (default 1e-6·λ_max(H*)).
    pub floor: Option<f64>,
}

/// `[domain]`.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DomainSpec {
    /// level-set | ball | ellipsoid | box | half-space.
    pub kind: String,
    /// ΔL for level sets.
    pub depth: Option<f64>,
    /// Level function for level sets of non-gradient drifts (default: the loss).
    pub function: Option<String>,
    /// Ball radius.
    pub radius: Option<f64>,
    /// Ball or ellipsoid centre (default θ*).
    pub center: Option<Vec<f64>>,
    /// Ellipsoid matrix Q.
    pub matrix: Option<Vec<Vec<f64>>>,
    /// Box lower corner.
    pub lo: Option<Vec<f64>>,
    /// Box upper corner.
    pub hi: Option<Vec<f64>>,
    /// Half-space normal.
    pub normal: Option<Vec<f64>>,
    /// Half-space offset c in n·θ < c.
    pub offset: Option<f64>,
}

/// Choices made when building a problem that are not part of the file.
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    /// Overrides `noise.weight`.
    pub weight: Option<Weight>,
    /// Overrides `noise.source` (e.g. for Lemma 4's identity-noise proxy).
    pub noise_source: Option<String>,
    /// Parameter overrides.
    pub parameters: Vec<(String, f64)>,
    /// Move θ* to the nearby stationary point by Newton steps instead of refusing.
    pub refine_minimum: bool,
}

impl ProblemSpec {
    /// Parse TOML text; `origin` names the file for errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| {
            Error::invalid(
                origin,
                format!("not a valid problem file: {}", e.to_string().trim_end()),
            )
        })
    }

    /// Read a built-in problem by name, or a TOML file by path; returns the spec and the
    /// directory that relative file names in it are resolved against.
    pub fn load(name_or_path: &str) -> Result<(Self, PathBuf)> {
        Self::load_with_parameters(name_or_path, &[])
    }

    /// [`ProblemSpec::load`], where built-ins that are computed rather than read (`mlp`) take
    /// their parameters from `parameters`.
    pub fn load_with_parameters(
        name_or_path: &str,
        parameters: &[(String, f64)],
    ) -> Result<(Self, PathBuf)> {
        if name_or_path == "mlp" {
            return Ok((super::builtin::mlp_spec(parameters)?, PathBuf::from(".")));
        }
        if let Some(text) = super::builtin::toml_text(name_or_path) {
            return Ok((Self::from_toml(text, name_or_path)?, PathBuf::from(".")));
        }
        let path = Path::new(name_or_path);
        if !path.is_file() {
            return Err(Error::invalid(
                "PROBLEM",
                format!(
                    "\"{name_or_path}\" is neither a built-in problem ({}) nor a readable file",
                    super::builtin::names().join(", ")
                ),
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: name_or_path.into(),
            source: e,
        })?;
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        Ok((Self::from_toml(&text, name_or_path)?, base))
    }

    /// The spec of a quadratic minimum L = ½ uᵀH*u on the level set {L < ΔL}, with noise
    /// C = H* (the paper's Assumption 2) or a given matrix: what `quasipot v0 --hessian` (files)
    /// and the Python package's `v0(hessian, ...)` (arrays) build. Matrices are checked when the
    /// spec is built.
    pub fn quadratic_minimum(
        name: &str,
        hessian: MatrixSource<'_>,
        noise: Option<MatrixSource<'_>>,
        depth: f64,
    ) -> Self {
        let (hessian, hessian_file) = hessian.split();
        ProblemSpec {
            name: Some(name.into()),
            description: None,
            variables: None,
            minimum: None,
            parameters: Default::default(),
            drift: DriftSpec {
                hessian,
                hessian_file,
                ..Default::default()
            },
            noise: Some(match noise {
                None => NoiseSpec {
                    source: Some("hessian-at-minimum".into()),
                    ..Default::default()
                },
                Some(c) => {
                    let (matrix, matrix_file) = c.split();
                    NoiseSpec {
                        source: Some("matrix".into()),
                        matrix,
                        matrix_file,
                        ..Default::default()
                    }
                }
            }),
            domain: DomainSpec {
                kind: "level-set".into(),
                depth: Some(depth),
                ..Default::default()
            },
            reference: None,
        }
    }

    /// Validate and compile into a [`Problem`]; `base_dir` resolves relative file names.
    pub fn build(&self, base_dir: &Path, opts: &BuildOptions) -> Result<Problem> {
        // Parameters (file values, then overrides).
        let mut parameters = self.parameters.clone();
        for (k, v) in &opts.parameters {
            if !parameters.contains_key(k) {
                let known: Vec<&str> = parameters.keys().map(|s| s.as_str()).collect();
                return Err(Error::invalid(
                    "--param",
                    format!(
                        "unknown parameter '{k}'; this problem has: {}",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
            }
            parameters.insert(k.clone(), *v);
        }
        for (k, v) in &parameters {
            if !v.is_finite() {
                return Err(Error::invalid(
                    format!("parameters.{k}"),
                    format!("must be finite, got {v}"),
                ));
            }
        }

        // Hessian matrix, if the drift is quadratic.
        let hessian = match (&self.drift.hessian, &self.drift.hessian_file) {
            (Some(rows), None) => Some(Matrix::from_rows(rows, "drift.hessian")?),
            (None, Some(f)) => Some(read_matrix(&resolve(base_dir, f), "drift.hessian_file")?),
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "drift",
                    "give either `hessian` or `hessian_file`, not both",
                ))
            }
            (None, None) => None,
        };
        let kinds = [
            self.drift.field.is_some(),
            self.drift.loss.is_some(),
            hessian.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if kinds != 1 {
            return Err(Error::invalid(
                "drift",
                "give exactly one of `field` (formulas for b), `loss` (a formula for L, b = -∇L), `hessian` or `hessian_file` (L = ½(θ-θ*)ᵀH(θ-θ*))",
            ));
        }

        // Dimension and names.
        let d = match (&self.variables, &self.drift.field, &hessian) {
            (Some(v), _, _) => v.len(),
            (None, Some(f), _) => f.len(),
            (None, None, Some(h)) => h.n,
            _ => return Err(Error::invalid("variables", "missing: list the variable names used in the formulas, e.g. variables = [\"x\", \"y\"]")),
        };
        if d == 0 {
            return Err(Error::invalid(
                "variables",
                "at least one variable is needed",
            ));
        }
        let variables: Vec<String> = match &self.variables {
            Some(v) => v.clone(),
            None => (0..d).map(|i| format!("x{i}")).collect(),
        };
        for (i, v) in variables.iter().enumerate() {
            if variables[..i].contains(v) {
                return Err(Error::invalid(
                    "variables",
                    format!("'{v}' is declared twice"),
                ));
            }
            if parameters.contains_key(v) {
                return Err(Error::invalid(
                    "variables",
                    format!("'{v}' is both a variable and a parameter"),
                ));
            }
        }
        let mut symbols = variables.clone();
        symbols.extend(parameters.keys().cloned());
        let param_values: Vec<f64> = parameters.values().cloned().collect();

        let minimum = match &self.minimum {
            Some(m) => m.clone(),
            None if hessian.is_some() => vec![0.0; d],
            None => {
                return Err(Error::invalid(
                    "minimum",
                    "missing: give θ*, e.g. minimum = [-1.0, 0.0]",
                ))
            }
        };
        check_vector(&minimum, d, "minimum", "the number of variables")?;

        // Drift and loss.
        let (drift, loss) = if let Some(h) = hessian {
            if h.n != d {
                return Err(Error::invalid(
                    "drift.hessian",
                    format!("is {0}×{0} but there are {d} variables", h.n),
                ));
            }
            h.check_finite("drift.hessian")?;
            h.check_symmetric("drift.hessian")?;
            let loss = Loss::Quadratic {
                hessian: h.clone(),
                center: minimum.clone(),
            };
            (
                Drift::Linear(LinearDrift {
                    a: h,
                    center: minimum.clone(),
                }),
                Some(loss),
            )
        } else if let Some(text) = &self.drift.loss {
            let f = Formula::parse(text, &symbols, "drift.loss")?;
            let loss = Loss::Formula(Box::new(FormulaLoss::new(
                f,
                d,
                param_values.clone(),
                "drift.loss",
            )?));
            (Drift::Gradient(GradientDrift(loss.clone())), Some(loss))
        } else {
            let comps = self.drift.field.as_ref().expect("checked above");
            if comps.len() != d {
                return Err(Error::invalid(
                    "drift.field",
                    format!("has {} components but there are {d} variables", comps.len()),
                ));
            }
            let formulas = comps
                .iter()
                .enumerate()
                .map(|(i, t)| Formula::parse(t, &symbols, &format!("drift.field[{i}]")))
                .collect::<Result<Vec<_>>>()?;
            (
                Drift::Field(FormulaField::new(
                    formulas,
                    param_values.clone(),
                    "drift.field",
                )?),
                None,
            )
        };
        let drift = match &self.drift.native {
            None => drift,
            Some(name) => {
                let native = NativeDrift::from_name(name, |p| parameters.get(p).copied())
                    .ok_or_else(|| {
                        Error::invalid(
                            "drift.native",
                            format!("unknown native model \"{name}\" (or a parameter it needs is missing); known: maier-stein (beta), rotational-double-well (rho), double-well-1d"),
                        )
                    })?;
                check_native_matches(&native, &drift, &minimum)?;
                Drift::Native(native)
            }
        };

        // Noise.
        let ns = self.noise.clone().unwrap_or_default();
        let weight = match (opts.weight, &ns.weight) {
            (Some(w), _) => w,
            (None, Some(w)) => Weight::parse(w, "noise.weight")?,
            (None, None) => Weight::default(),
        };
        let source = opts
            .noise_source
            .clone()
            .or(ns.source.clone())
            .unwrap_or_else(|| "identity".to_string());
        let mut floor_used = None;
        let noise = match source.as_str() {
            "identity" => Noise::Constant(ConstantNoise::new(Matrix::identity(d), weight, "noise")?),
            "hessian-at-minimum" => {
                let h = hessian_at(&drift, &loss, &minimum, "noise.source = \"hessian-at-minimum\"")?;
                Noise::Constant(ConstantNoise::new(h, weight, "noise (C = H* = ∇²L(θ*))")?)
            }
            "hessian" => {
                let Some(l) = &loss else {
                    return Err(Error::invalid(
                        "noise.source",
                        "\"hessian\" needs a gradient drift (`loss` or `hessian` in [drift]); this drift is a general field",
                    ));
                };
                if l.has_constant_hessian() {
                    let h = hessian_at(&drift, &loss, &minimum, "noise.source")?;
                    Noise::Constant(ConstantNoise::new(h, weight, "noise (C = ∇²L, constant)")?)
                } else {
                    let mut hm = Matrix::zeros(d);
                    l.hessian(&minimum, &mut hm.data);
                    let (vals, _) = symmetric_eigen(&hm, "noise")?;
                    let floor = match ns.floor {
                        Some(f) if f > 0.0 && f.is_finite() => f,
                        Some(f) => return Err(Error::invalid("noise.floor", format!("must be a positive number, got {f}"))),
                        None => 1e-6 * vals[d - 1].abs().max(1e-300),
                    };
                    floor_used = Some(floor);
                    let loss3 = match l {
                        Loss::Formula(f) => Loss::Formula(Box::new((**f).clone().with_third_derivatives("drift.loss")?)),
                        q => q.clone(),
                    };
                    Noise::Variable(VariableNoise::new(CovarianceField::Hessian { loss: loss3, floor }, weight, d))
                }
            }
            "matrix" => {
                let c = match (&ns.matrix, &ns.matrix_file) {
                    (Some(rows), None) => Matrix::from_rows(rows, "noise.matrix")?,
                    (None, Some(f)) => read_matrix(&resolve(base_dir, f), "noise.matrix_file")?,
                    _ => return Err(Error::invalid("noise", "source \"matrix\" needs exactly one of `matrix` or `matrix_file`")),
                };
                if c.n != d {
                    return Err(Error::invalid("noise.matrix", format!("is {0}×{0} but there are {d} variables", c.n)));
                }
                Noise::Constant(ConstantNoise::new(c, weight, "noise.matrix")?)
            }
            "field" => {
                let Some(rows) = &ns.field else {
                    return Err(Error::invalid("noise.field", "source \"field\" needs `field` = [[\"C00\", \"C01\"], ...] (formulas)"));
                };
                if rows.len() != d || rows.iter().any(|r| r.len() != d) {
                    return Err(Error::invalid("noise.field", format!("must be {d}×{d} formulas")));
                }
                let mut entries = Vec::with_capacity(d * d);
                for (i, r) in rows.iter().enumerate() {
                    for (j, t) in r.iter().enumerate() {
                        entries.push(Formula::parse(t, &symbols, &format!("noise.field[{i}][{j}]"))?);
                    }
                }
                let mut args = minimum.clone();
                args.extend(&param_values);
                if entries.iter().all(|f| f.is_constant_in(d)) {
                    let m = Matrix { n: d, data: entries.iter().map(|f| f.eval(&args)).collect() };
                    Noise::Constant(ConstantNoise::new(m, weight, "noise.field")?)
                } else {
                    let c = Matrix { n: d, data: entries.iter().map(|f| f.eval(&args)).collect() };
                    c.check_symmetric("noise.field (at θ*)")?;
                    check_spd(&c, "noise.field (at θ*)")?;
                    let field = covariance_formulas(entries, d, param_values.clone(), "noise.field")?;
                    Noise::Variable(VariableNoise::new(field, weight, d))
                }
            }
            other => {
                return Err(Error::invalid(
                    "noise.source",
                    format!("unknown source \"{other}\"; expected identity, hessian-at-minimum, hessian, matrix or field"),
                ))
            }
        };
        let noise_description = NoiseDescription {
            source,
            weight,
            floor: floor_used,
        };

        // Domain.
        let domain = build_domain(&self.domain, d, &minimum, &loss, &symbols, &param_values)?;

        let reference = match &self.reference {
            None => Reference::default(),
            Some(r) => Reference {
                quasi_potential: match &r.quasi_potential {
                    Some(t) => Some(Box::new(FormulaLoss::new(
                        Formula::parse(t, &symbols, "reference.quasi_potential")?,
                        d,
                        param_values.clone(),
                        "reference.quasi_potential",
                    )?)),
                    None => None,
                },
                // A published V0 holds only at the file's own parameter values.
                v0: if opts.parameters.is_empty()
                    && opts.noise_source.is_none()
                    && opts.weight.is_none_or(|w| {
                        Some(w.name()) == ns.weight.as_deref().or(Some("inverse-sqrt"))
                    }) {
                    r.v0
                } else {
                    None
                },
                source: r.source.clone(),
            },
        };
        let mut problem = Problem {
            name: self.name.clone().unwrap_or_else(|| "problem".into()),
            description: self.description.clone().unwrap_or_default(),
            variables,
            parameters,
            minimum,
            drift,
            loss,
            noise,
            noise_description,
            domain,
            notes: Vec::new(),
            reference,
        };
        problem.validate_minimum(opts.refine_minimum)?;
        // Level sets of a quadratic with SPD H (checked above) are ellipsoids: bounded.
        if let Domain::LevelSet {
            loss: Loss::Formula(_),
            ..
        } = &problem.domain
        {
            check_level_set_bounded(&problem.domain, &problem.minimum)?;
        }
        // A formula field with a constant Jacobian is linear: use the exact linear model.
        if let Drift::Field(f) = &problem.drift {
            if f.jacobian.formulas().iter().all(|j| j.is_constant_in(d)) {
                let j = problem.jacobian_at_minimum();
                problem.drift = Drift::Linear(LinearDrift {
                    a: Matrix {
                        n: d,
                        data: j.data.iter().map(|v| -v).collect(),
                    },
                    center: problem.minimum.clone(),
                });
            }
        }
        // One check of b, L and a(θ) on the same points of D for every subcommand, so that
        // no engine accepts a problem another refuses.
        problem.validate_on_samples()?;
        Ok(problem)
    }
}

fn resolve(base: &Path, f: &str) -> PathBuf {
    let p = Path::new(f);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn check_vector(v: &[f64], d: usize, field: &str, what: &str) -> Result<()> {
    if v.len() != d {
        return Err(Error::invalid(
            field,
            format!("has {} entries; expected {d} ({what})", v.len()),
        ));
    }
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(Error::invalid(
            field,
            format!("entry {i} is {}; must be finite", v[i]),
        ));
    }
    Ok(())
}

/// ∇²L(θ*) (or A for a linear symmetric drift), SPD-checked.
fn hessian_at(drift: &Drift, loss: &Option<Loss>, x: &[f64], field: &str) -> Result<Matrix> {
    let d = x.len();
    let h = match loss {
        Some(l) => {
            let mut h = Matrix::zeros(d);
            l.hessian(x, &mut h.data);
            h
        }
        None => {
            return Err(Error::invalid(
                field,
                format!(
                    "needs a gradient drift (`loss` or `hessian`); this drift is a {} field",
                    drift.kind()
                ),
            ))
        }
    };
    check_spd(&h, "∇²L(θ*)")?;
    Ok(h)
}

/// The native model must compute the same field as the file's formulas.
fn check_native_matches(native: &NativeDrift, formula: &Drift, x0: &[f64]) -> Result<()> {
    let d = x0.len();
    if native.dim() != d {
        return Err(Error::invalid(
            "drift.native",
            format!("model is {}-D but the problem is {d}-D", native.dim()),
        ));
    }
    let mut b = vec![0.0; d];
    for k in 0..5 {
        // Deterministic probe points around θ*.
        let x: Vec<f64> = (0..d)
            .map(|i| x0[i] + 0.37 * ((k * 7 + i * 3) as f64).sin())
            .collect();
        native.drift(&x, &mut b);
        let f = formula.eval(&x);
        let err = b
            .iter()
            .zip(&f)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f64::max);
        if err > 1e-9 * (1.0 + norm(&f)) {
            return Err(Error::invalid(
                "drift.native",
                format!("the native model differs from the formulas at {x:?} (by {err:.3e}); fix the formulas or remove `native`"),
            ));
        }
    }
    Ok(())
}

fn build_domain(
    s: &DomainSpec,
    d: usize,
    minimum: &[f64],
    loss: &Option<Loss>,
    symbols: &[String],
    params: &[f64],
) -> Result<Domain> {
    let pos = |v: Option<f64>, f: &str| -> Result<f64> {
        match v {
            Some(x) if x > 0.0 && x.is_finite() => Ok(x),
            Some(x) => Err(Error::invalid(
                f,
                format!("must be a positive number, got {x} (an empty domain)"),
            )),
            None => Err(Error::invalid(f, "missing")),
        }
    };
    let center = match &s.center {
        Some(c) => {
            check_vector(c, d, "domain.center", "the number of variables")?;
            c.clone()
        }
        None => minimum.to_vec(),
    };
    Ok(match s.kind.as_str() {
        "level-set" => {
            let depth = pos(s.depth, "domain.depth")?;
            let l = match (&s.function, loss) {
                (Some(t), _) => {
                    let f = Formula::parse(t, symbols, "domain.function")?;
                    Loss::Formula(Box::new(FormulaLoss::new(f, d, params.to_vec(), "domain.function")?))
                }
                (None, Some(l)) => l.clone(),
                (None, None) => {
                    return Err(Error::invalid(
                        "domain.function",
                        "a level set of a non-gradient drift needs `function` (the formula whose sublevel set is D)",
                    ))
                }
            };
            use super::model::ScalarField;
            let base = l.value(minimum);
            Domain::LevelSet {
                loss: l,
                base,
                depth,
            }
        }
        "ball" => Domain::Ball {
            center,
            radius: pos(s.radius, "domain.radius")?,
        },
        "ellipsoid" => {
            let q = Matrix::from_rows(
                s.matrix.as_ref().ok_or_else(|| {
                    Error::invalid(
                        "domain.matrix",
                        "missing: the ellipsoid's SPD matrix Q in (θ-c)ᵀQ(θ-c) < 1",
                    )
                })?,
                "domain.matrix",
            )?;
            if q.n != d {
                return Err(Error::invalid(
                    "domain.matrix",
                    format!("is {0}×{0} but there are {d} variables", q.n),
                ));
            }
            check_spd(&q, "domain.matrix")?;
            Domain::Ellipsoid { center, q }
        }
        "box" => {
            let lo =
                s.lo.clone()
                    .ok_or_else(|| Error::invalid("domain.lo", "missing"))?;
            let hi =
                s.hi.clone()
                    .ok_or_else(|| Error::invalid("domain.hi", "missing"))?;
            check_vector(&lo, d, "domain.lo", "the number of variables")?;
            check_vector(&hi, d, "domain.hi", "the number of variables")?;
            if let Some(i) = (0..d).find(|&i| lo[i] >= hi[i]) {
                return Err(Error::invalid(
                    "domain",
                    format!("box is empty: lo[{i}] = {} ≥ hi[{i}] = {}", lo[i], hi[i]),
                ));
            }
            Domain::Box { lo, hi }
        }
        "half-space" => {
            let n = s
                .normal
                .clone()
                .ok_or_else(|| Error::invalid("domain.normal", "missing"))?;
            check_vector(&n, d, "domain.normal", "the number of variables")?;
            let len = norm(&n);
            if len == 0.0 {
                return Err(Error::invalid("domain.normal", "must be non-zero"));
            }
            let offset = s
                .offset
                .ok_or_else(|| Error::invalid("domain.offset", "missing"))?;
            if !offset.is_finite() {
                return Err(Error::invalid("domain.offset", "must be finite"));
            }
            Domain::HalfSpace {
                normal: n.iter().map(|v| v / len).collect(),
                offset: offset / len,
            }
        }
        other => {
            return Err(Error::invalid(
                "domain.kind",
                format!(
                "unknown kind \"{other}\"; expected level-set, ball, ellipsoid, box or half-space"
            ),
            ))
        }
    })
}

/// A level set must be bounded for exit times to be finite. Probe along ± each axis and the
/// diagonals: along each, g = L − L(θ*) − ΔL must turn non-negative within distance 1e6.
fn check_level_set_bounded(dom: &Domain, minimum: &[f64]) -> Result<()> {
    let d = minimum.len();
    let mut dirs: Vec<Vec<f64>> = Vec::new();
    for i in 0..d.min(64) {
        for s in [1.0, -1.0] {
            let mut v = vec![0.0; d];
            v[i] = s;
            dirs.push(v);
        }
    }
    for s in [1.0, -1.0] {
        dirs.push(vec![s / (d as f64).sqrt(); d]);
    }
    for v in dirs {
        let mut r = 1e-3;
        let mut left = false;
        while r <= 1e6 {
            let x: Vec<f64> = (0..d).map(|i| minimum[i] + r * v[i]).collect();
            let g = dom.level(&x);
            if !(g < 0.0) {
                left = true;
                break;
            }
            r *= 1.5;
        }
        if !left {
            return Err(Error::invalid(
                "domain",
                format!("the level set {{L − L(θ*) < ΔL}} is unbounded: L stays below L(θ*) + ΔL along direction {v:?} out to distance 1e6; lower `depth` or use a ball/box domain"),
            ));
        }
    }
    Ok(())
}

/// A matrix for [`ProblemSpec::quadratic_minimum`]: in memory, or a file (`.npy`, `.json`,
/// `.csv`) read and checked when the spec is built.
#[derive(Clone, Copy, Debug)]
pub enum MatrixSource<'a> {
    /// Entries in memory.
    Inline(&'a crate::linalg::Matrix),
    /// A path, relative to the build's base directory.
    File(&'a str),
}

impl MatrixSource<'_> {
    fn split(self) -> (Option<Vec<Vec<f64>>>, Option<String>) {
        match self {
            MatrixSource::Inline(m) => (Some(m.to_rows()), None),
            MatrixSource::File(f) => (None, Some(f.to_string())),
        }
    }
}
