//! The sweep on the finite-sum `mlp` problem: Gaussian SGD, the proximal system and minibatch SGD.

use super::model::{
    discrete_level_set_v0, identity, model_channels, model_spec, relaxation_steps, scaled, trace,
    v0_pair, weight_predictions, ExitShape,
};
use super::{
    default_values, diagnostics_and_control, finish, point, point_seed, settings, sgd_config,
    BaseSettings, Method, PointModel, PointSource, ScalingConfig, ScalingReport, Source, Vary,
};
use crate::error::{Error, Result};
use crate::linalg::Matrix;
use crate::problem::mlp::FiniteSum;
use crate::problem::mlp::{fit, MlpConfig};
use crate::problem::spec::DomainSpec;
use crate::sgd::{finite_population_factor, run_gaussian, run_minibatch, QuadraticLevelSet};
use std::path::Path;
use std::time::Instant;

pub(super) fn run_mlp(
    mc: &MlpConfig,
    config: &ScalingConfig,
    methods: &[Method],
    grad_cov: bool,
    source: &PointSource,
    progress: &(dyn Fn(usize, usize) + Sync),
    start: Instant,
) -> Result<ScalingReport> {
    let eta = config.eta.unwrap_or(0.3);
    let batch = config.batch.unwrap_or(32);
    let delta_l = config.delta_l.unwrap_or(0.005);
    if !(delta_l.is_finite() && delta_l > 0.0) {
        return Err(Error::invalid(
            "--delta-l",
            format!("must be > 0, got {delta_l}"),
        ));
    }
    let values = config
        .values
        .clone()
        .unwrap_or_else(|| default_values(config.vary, eta, batch));
    let sets = settings(config.vary, &values, eta, batch)?;
    let base_fit = fit(mc)?;
    let n = base_fit.model.num_examples();
    for s in &sets {
        if s.batch > n {
            return Err(Error::invalid(
                "--batch",
                format!("B = {} exceeds the N = {n} examples", s.batch),
            ));
        }
        if s.batch == n && grad_cov {
            return Err(Error::invalid(
                "--batch",
                format!("B = N = {n}: minibatch gradients carry no noise"),
            ));
        }
    }
    let d = base_fit.theta_star.len();
    // Covariance of the method at a fitted minimum and batch size: for simulation, for prediction.
    let cov = |m: &crate::problem::mlp::MlpMinimum, b: usize| -> Result<(Matrix, Matrix)> {
        if grad_cov {
            let f = finite_population_factor(n, b);
            Ok((
                scaled(&m.gradient_covariance, f),
                scaled(
                    &m.regularised_gradient_covariance(config.covariance_floor)?,
                    f,
                ),
            ))
        } else {
            Ok((m.hessian.clone(), m.hessian.clone()))
        }
    };
    let proximal_scale = match config.proximal_scale {
        Some(c) => c,
        None => trace(&cov(&base_fit, batch)?.0) / d as f64,
    };
    let total = source.computed(sets.len() * methods.len());
    let mut done = 0;
    let mut points = Vec::new();
    let nm = methods.len();
    for (si, s) in sets.iter().enumerate() {
        if source.skips(si * nm..(si + 1) * nm) {
            continue;
        }
        // Batch and learning-rate sweeps share the base minimum (the fit is deterministic, so
        // this is the same result without refitting at every point).
        let refit;
        let m = if s.alpha == 1.0 && s.beta == 1.0 {
            &base_fit
        } else {
            refit = fit(&MlpConfig {
                sharpness: mc.sharpness * s.alpha,
                depth: mc.depth * s.beta,
                ..mc.clone()
            })?;
            &refit
        };
        let dl = delta_l * s.beta;
        let exit = QuadraticLevelSet::new(&m.theta_star, &m.hessian, dl)?;
        let spec = model_spec(
            &m.theta_star,
            &m.hessian,
            DomainSpec {
                kind: "level-set".into(),
                depth: Some(dl),
                ..Default::default()
            },
        );
        let here = Path::new(".");
        let lmax = m.hessian_spectrum.lambda_max;
        let l_star = m.model.loss(&m.theta_star, &mut m.model.workspace());
        let loss = |x: &[f64]| m.model.loss(x, &mut m.model.workspace()) - l_star;
        let domain = exit.to_domain();
        let level = |x: &[f64]| domain.level(x);
        let floored = |floor: f64, b: usize| -> Result<Matrix> {
            Ok(scaled(
                &m.regularised_gradient_covariance(floor)?,
                finite_population_factor(n, b),
            ))
        };
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
            // (ensemble, covariance simulated, covariance of the prediction, is it floored C*).
            let (r, c_sim, c_pred, is_floored) = match method {
                Method::GaussianSgd => {
                    let (sim, pred) = cov(m, s.batch)?;
                    let r = run_gaussian(&m.model, &sim, &m.theta_star, &exit, &cfg)?;
                    (r, sim, pred, grad_cov)
                }
                Method::Proximal => {
                    let c = identity(d, proximal_scale);
                    let r = run_gaussian(&m.model, &c, &m.theta_star, &exit, &cfg)?;
                    (r, c.clone(), c, false)
                }
                Method::MinibatchSgd => {
                    let sim = scaled(&m.gradient_covariance, finite_population_factor(n, s.batch));
                    let pred = floored(config.covariance_floor, s.batch)?;
                    let r = run_minibatch(&m.model, &m.theta_star, &exit, &cfg)?;
                    (r, sim, pred, true)
                }
            };
            let floor_range = if is_floored {
                let v = |f: f64| -> Result<Option<f64>> {
                    Ok(v0_pair(&spec, here, &floored(f, s.batch)?)?.map(|v| v.1))
                };
                v(config.covariance_floor / 10.0)?
                    .zip(v(config.covariance_floor * 10.0)?)
                    .map(|(a, b)| [a, b])
            } else {
                None
            };
            let (diagnostics, control) = diagnostics_and_control(
                config,
                &cfg,
                &r,
                &m.theta_star,
                &m.hessian,
                &c_sim,
                method != Method::MinibatchSgd,
                Some(&loss),
                &level,
                Some(dl),
                &model_channels(&spec, here, &c_pred)?,
                &exit,
            )?;
            let model = PointModel {
                diagnostics,
                control,
                lambda_max: lmax,
                delta_l: dl,
                relaxation_steps: relaxation_steps(
                    &m.hessian,
                    &c_sim,
                    s.eta,
                    s.eta / s.batch as f64,
                    ExitShape::LevelSet { depth: dl },
                )?,
                v0_discrete: discrete_level_set_v0(&m.hessian, &c_pred, dl, s.eta)?,
                predictions: weight_predictions(
                    &spec,
                    here,
                    &c_pred,
                    s.eta,
                    s.batch,
                    Some((&m.hessian, dl, seed)),
                )?
                .unwrap_or_default(),
                floor_range,
            };
            points.push(point(j, method, s, seed, model, &r));
            done += 1;
            progress(done, total);
        }
    }
    let gaussian_noise = if grad_cov {
        "gradient-covariance: C = C*·(N−B)/(N−1) (per-example gradient covariance at θ*, finite-population factor; C* floored at 1e-6·λ_max for the predictions)".to_string()
    } else {
        "hessian-at-minimum: C = H*".to_string()
    };
    let mut notes = vec![format!(
        "minibatch-sgd predictions use C = C*·(N−B)/(N−1), the covariance of its minibatch gradient (N = {n})"
    )];
    if config.vary == Vary::Depth {
        notes.push("for minibatch SGD the depth map L → βL is exactly a learning-rate change η → βη: C* scales by β², H* by β".into());
    }
    if config.vary == Vary::Sharpness {
        notes.push("for minibatch SGD the sharpness map L(√α θ) is exactly a learning-rate change η → αη in the coordinates φ = √α θ (D maps onto itself): C* scales by α like H*".into());
    }
    finish(
        format!(
            "mlp ({}, width {}, λ = {})",
            mc.dataset.name(),
            mc.width,
            mc.l2
        ),
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
        gaussian_noise,
        proximal_scale,
        "quadratic level set {½(θ−θ*)ᵀH*(θ−θ*) < βΔL}".into(),
        Some(base_fit.summary()),
        points,
        notes,
        start,
    )
}
