//! The sweep on a gradient problem (built-in or TOML): Gaussian SGD with C = H* and the proximal
//! system.

use super::model::{
    discrete_level_set_v0, identity, lambda_max, model_channels, model_spec, relaxation_steps,
    rows, scaled, trace, v0_pair, weight_predictions, ExitShape,
};
use super::{
    default_values, diagnostics_and_control, finish, point, point_seed, settings, sgd_config,
    BaseSettings, Method, PointModel, PointSource, ScalingConfig, ScalingReport, Source, Vary,
};
use crate::error::{Error, Result};
use crate::linalg::Matrix;
use crate::problem::spec::DomainSpec;
use crate::problem::ScalarField;
use crate::problem::{
    BuildOptions, Diffusion, ModelVisitor, Problem, ProblemSpec, VectorField, Weight,
};
use crate::sgd::{run_gaussian, Config, ExitTest, Report};
use std::path::Path;
use std::time::Instant;

struct GaussianVisit<'a, E: ExitTest> {
    c: &'a Matrix,
    theta0: &'a [f64],
    exit: &'a E,
    config: &'a Config,
}

impl<E: ExitTest> ModelVisitor for GaussianVisit<'_, E> {
    type Output = Result<Report>;
    fn visit<B: VectorField, N: Diffusion>(self, b: &B, _n: &N) -> Result<Report> {
        run_gaussian(b, self.c, self.theta0, self.exit, self.config)
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn run_problem(
    spec_in: &ProblemSpec,
    base: &Path,
    options: &BuildOptions,
    config: &ScalingConfig,
    methods: &[Method],
    source: &PointSource,
    progress: &(dyn Fn(usize, usize) + Sync),
    start: Instant,
) -> Result<ScalingReport> {
    let build = |s: &ProblemSpec| -> Result<Problem> {
        s.build(
            base,
            &BuildOptions {
                weight: Some(Weight::Inverse),
                noise_source: Some("hessian-at-minimum".into()),
                ..options.clone()
            },
        )
    };
    let mut spec = spec_in.clone();
    let level_set = spec.domain.kind == "level-set";
    if let Some(dl) = config.delta_l {
        if !level_set {
            return Err(Error::invalid(
                "--delta-l",
                format!(
                    "sets the depth of a level-set domain; this problem's domain is a {}",
                    spec.domain.kind
                ),
            ));
        }
        if !(dl.is_finite() && dl > 0.0) {
            return Err(Error::invalid(
                "--delta-l",
                format!("must be > 0, got {dl}"),
            ));
        }
        spec.domain.depth = Some(dl);
    }
    let spec = &mut spec;
    let p0 = build(spec)?;
    let h0 = p0.hessian_at_minimum().ok_or_else(|| {
        Error::invalid(
            "drift",
            "scaling needs a gradient drift (a `loss` or a `hessian`)",
        )
    })?;
    let quadratic = spec.drift.hessian.is_some() || spec.drift.hessian_file.is_some();
    if !quadratic && matches!(config.vary, Vary::Sharpness | Vary::Depth) {
        return Err(Error::Unsupported(format!(
            "--vary {} maps the loss (L(√α θ), βL), which is implemented for quadratic problems (`hessian`) and `mlp`; \"{}\" has a formula loss — vary lr or batch",
            config.vary.name(),
            p0.name
        )));
    }
    let d = p0.dim();
    let lmax0 = lambda_max(&h0, "H*")?;
    let domain_spec = |sp: &ProblemSpec, beta: f64| -> DomainSpec {
        let mut dspec = sp.domain.clone();
        if dspec.kind == "level-set" {
            dspec.depth = dspec.depth.map(|v| v * beta);
        }
        dspec
    };
    // The problem at setting (α, β) and its quadratic model (for the predictions).
    let at = |sp: &ProblemSpec, alpha: f64, beta: f64| -> Result<(Problem, ProblemSpec)> {
        if quadratic {
            let mut s = sp.clone();
            let h = scaled(&h0, alpha * beta);
            s.drift.hessian = Some(rows(&h));
            s.drift.hessian_file = None;
            s.minimum = Some(p0.minimum.iter().map(|v| v / alpha.sqrt()).collect());
            s.domain = domain_spec(sp, beta);
            let p = build(&s)?;
            Ok((p, s))
        } else {
            let p = build(sp)?;
            let h = p.hessian_at_minimum().expect("gradient drift");
            let ms = model_spec(&p.minimum, &h, domain_spec(sp, 1.0));
            Ok((p, ms))
        }
    };
    let eta = match config.eta {
        Some(e) => e,
        None => 0.1 / lmax0,
    };
    let proximal_scale = config
        .proximal_scale
        .unwrap_or_else(|| trace(&h0) / d as f64);
    let batch = config.batch.unwrap_or(8);
    if batch == 0 {
        return Err(Error::invalid("--batch", "must be ≥ 1"));
    }
    let mut notes = Vec::new();
    if level_set && config.delta_l.is_none() {
        // Choose ΔL so that the base setting has (B/η)·V0 = 6 for Gaussian SGD (weight inverse;
        // V0 ∝ ΔL on a level set): exit times of ~1e3 iterations.
        let (_, ms) = at(spec, 1.0, 1.0)?;
        if let Some((_, v_inv)) = v0_pair(&ms, base, &h0)? {
            let old = spec.domain.depth.unwrap_or(f64::NAN);
            let new = old * 6.0 / (batch as f64 / eta * v_inv);
            if new.is_finite() && new > 0.0 {
                spec.domain.depth = Some(new);
                notes.push(format!(
                    "ΔL set to {new:.4e} (file: {old}) so that (B/η)·V0 = 6 at the base setting; override with --delta-l"
                ));
            }
        }
    }
    let delta_l = if level_set {
        spec.domain.depth.unwrap_or(f64::NAN)
    } else {
        f64::NAN
    };
    let values = config
        .values
        .clone()
        .unwrap_or_else(|| default_values(config.vary, eta, batch));
    let sets = settings(config.vary, &values, eta, batch)?;
    let total = source.computed(sets.len() * methods.len());
    let mut done = 0;
    let mut points = Vec::new();
    if !quadratic {
        notes.push("predictions use the quadratic model of L at θ* (same domain spec); the simulation uses the full loss".into());
    }
    let nm = methods.len();
    for (si, s) in sets.iter().enumerate() {
        if source.skips(si * nm..(si + 1) * nm) {
            continue;
        }
        let (p, ms) = at(spec, s.alpha, s.beta)?;
        let h = p.hessian_at_minimum().expect("gradient drift");
        let lmax = lambda_max(&h, "H*")?;
        for (mi, &method) in methods.iter().enumerate() {
            let j = si * nm + mi;
            match source.get(j, lmax)? {
                Source::Skip => continue,
                Source::Given(pt) => {
                    points.push(pt.clone());
                    continue;
                }
                Source::Run => {}
            }
            let seed = point_seed(config, method, si);
            let cfg = sgd_config(config, s, seed);
            let c = match method {
                Method::GaussianSgd => h.clone(),
                Method::Proximal => identity(d, proximal_scale),
                Method::MinibatchSgd => unreachable!("rejected above"),
            };
            let r = p.visit(GaussianVisit {
                c: &c,
                theta0: &p.minimum,
                exit: &p.domain,
                config: &cfg,
            })?;
            let l_star = p.loss.as_ref().map(|l| l.value(&p.minimum));
            let loss = |x: &[f64]| match (&p.loss, l_star) {
                (Some(l), Some(b)) => l.value(x) - b,
                _ => f64::NAN,
            };
            let level = |x: &[f64]| p.domain.level(x);
            let (diagnostics, control) = diagnostics_and_control(
                config,
                &cfg,
                &r,
                &p.minimum,
                &h,
                &c,
                true,
                p.loss
                    .is_some()
                    .then_some(&loss as &(dyn Fn(&[f64]) -> f64 + Sync)),
                &level,
                level_set.then_some(delta_l * s.beta),
                &model_channels(&ms, base, &c).unwrap_or_default(),
                &p.domain,
            )?;
            let model = PointModel {
                diagnostics,
                control,
                lambda_max: lmax,
                delta_l: delta_l * s.beta,
                relaxation_steps: relaxation_steps(
                    &h,
                    &c,
                    s.eta,
                    s.eta / s.batch as f64,
                    exit_shape(&ms.domain, &p.minimum),
                )?,
                v0_discrete: match (ms.domain.kind.as_str(), ms.domain.depth) {
                    ("level-set", Some(dl)) => discrete_level_set_v0(&h, &c, dl, s.eta)?,
                    _ => None,
                },
                predictions: weight_predictions(
                    &ms,
                    base,
                    &c,
                    s.eta,
                    s.batch,
                    match (ms.domain.kind.as_str(), ms.domain.depth) {
                        ("level-set", Some(dl)) => Some((&h, dl, seed)),
                        _ => None,
                    },
                )?
                .unwrap_or_default(),
                floor_range: None,
            };
            points.push(point(j, method, s, seed, model, &r));
            done += 1;
            progress(done, total);
        }
    }
    if points.iter().any(|p| p.v0_inverse.is_none()) {
        notes.push("the exact engine does not apply to this domain: no predicted slopes".into());
    }
    finish(
        p0.name.clone(),
        config,
        values,
        d,
        BaseSettings {
            eta,
            batch,
            delta_l,
            runs: config.runs,
            max_steps: config.max_steps,
            seed: config.seed,
        },
        "hessian-at-minimum: C = H*".into(),
        proximal_scale,
        format!("the problem's domain ({})", spec.domain.kind),
        None,
        points,
        notes,
        start,
    )
}

/// The shape of the quadratic model's domain for the finite-time barrier of the regime rule.
fn exit_shape(domain: &DomainSpec, minimum: &[f64]) -> ExitShape {
    match domain.kind.as_str() {
        "level-set" => domain
            .depth
            .map_or(ExitShape::Other, |depth| ExitShape::LevelSet { depth }),
        "ball" if domain.center.as_deref().is_none_or(|c| c == minimum) => domain
            .radius
            .map_or(ExitShape::Other, |radius| ExitShape::Ball { radius }),
        _ => ExitShape::Other,
    }
}
