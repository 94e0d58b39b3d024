//! Built-in problems. Each is the TOML file of the same name under `examples/problems/`,
//! compiled into the binary, so users see exactly the format they would write; and `mlp`, a
//! network fitted at load time.

use super::spec::{DomainSpec, DriftSpec, NoiseSpec, ProblemSpec};

/// (name, TOML text) of every built-in problem.
const BUILTINS: &[(&str, &str)] = &[
    (
        "quadratic-2d",
        include_str!("../../examples/problems/quadratic-2d.toml"),
    ),
    (
        "quadratic-anisotropic-3d",
        include_str!("../../examples/problems/quadratic-anisotropic-3d.toml"),
    ),
    (
        "maier-stein",
        include_str!("../../examples/problems/maier-stein.toml"),
    ),
    (
        "rotational-double-well",
        include_str!("../../examples/problems/rotational-double-well.toml"),
    ),
    (
        "rotational-linear",
        include_str!("../../examples/problems/rotational-linear.toml"),
    ),
    (
        "double-well-1d",
        include_str!("../../examples/problems/double-well-1d.toml"),
    ),
    (
        "manufactured-anisotropic",
        include_str!("../../examples/problems/manufactured-anisotropic.toml"),
    ),
];

/// Names of the built-in problems.
pub fn names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = BUILTINS.iter().map(|(n, _)| *n).collect();
    v.push("mlp");
    v
}

/// Defaults of the `mlp` problem's parameters.
const MLP_PARAMETERS: &[(&str, f64)] = &[
    ("width", crate::problem::mlp::DEFAULT_WIDTH as f64),
    ("l2", 1e-2),
    ("depth", 5e-3),
    ("dataset", 0.0),
    ("noise", 0.0),
    ("seed", 0.0),
];

/// The `mlp` problem: the quadratic model ½(θ−θ*)ᵀH*(θ−θ*) of a one-hidden-layer tanh network
/// fitted to a real data set (see [`crate::problem::mlp`]), with θ* found to ‖∇L‖ ≤ 1e-8 and H*
/// exact. Parameters: `width` (3), `l2` (1e-2), `depth` = ΔL of the level set (5e-3), `dataset`
/// (0 iris, 1 diabetes, 2 wine), `noise` (0: C = H*; 1: the exact gradient covariance at θ*, floored at
/// 1e-6·λ_max), `seed` (0).
pub fn mlp_spec(overrides: &[(String, f64)]) -> crate::Result<ProblemSpec> {
    use crate::problem::mlp::{fit, MlpConfig, MlpDataset};
    let mut params: std::collections::BTreeMap<String, f64> = MLP_PARAMETERS
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    for (k, v) in overrides {
        if !params.contains_key(k) {
            return Err(crate::Error::invalid(
                "--param",
                format!("unknown parameter '{k}'; mlp has: width, l2, depth, dataset, noise, seed"),
            ));
        }
        params.insert(k.clone(), *v);
    }
    let p = |k: &str| params[k];
    let params_out = params.clone();
    let int = |k: &str| -> crate::Result<u64> {
        let v = p(k);
        if v >= 0.0 && v.fract() == 0.0 && v < 1e9 {
            Ok(v as u64)
        } else {
            Err(crate::Error::invalid(
                "--param",
                format!("{k} must be a non-negative integer, got {v}"),
            ))
        }
    };
    let config = MlpConfig {
        dataset: match int("dataset")? {
            0 => MlpDataset::Iris,
            1 => MlpDataset::Diabetes,
            2 => MlpDataset::Wine,
            k => {
                return Err(crate::Error::invalid(
                    "--param",
                    format!("dataset must be 0 (iris), 1 (diabetes) or 2 (wine), got {k}"),
                ))
            }
        },
        width: int("width")? as usize,
        l2: p("l2"),
        seed: int("seed")?,
        ..MlpConfig::default()
    };
    let m = fit(&config)?;
    let depth = p("depth");
    let noise = match int("noise")? {
        0 => NoiseSpec {
            source: Some("hessian-at-minimum".into()),
            ..Default::default()
        },
        1 => NoiseSpec {
            source: Some("matrix".into()),
            matrix: Some(m.regularised_gradient_covariance(1e-6)?.to_rows()),
            ..Default::default()
        },
        k => {
            return Err(crate::Error::invalid(
                "--param",
                format!("noise must be 0 (C = H*) or 1 (gradient covariance), got {k}"),
            ))
        }
    };
    Ok(ProblemSpec {
        name: Some("mlp".into()),
        description: Some(format!(
            "quadratic model at θ* of a tanh MLP on {} (width {}, d = {}, seed {}; {}), level set ΔL = {}",
            config.dataset.name(),
            config.width,
            m.theta_star.len(),
            m.selection.seed,
            m.degeneracy.describe(),
            depth
        )),
        variables: None,
        minimum: Some(m.theta_star.clone()),
        parameters: params_out,
        drift: DriftSpec {
            hessian: Some(m.hessian.to_rows()),
            ..Default::default()
        },
        noise: Some(noise),
        domain: DomainSpec {
            kind: "level-set".into(),
            depth: Some(depth),
            ..Default::default()
        },
        reference: None,
    })
}

/// The TOML text of a built-in problem.
pub fn toml_text(name: &str) -> Option<&'static str> {
    BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// The one-line description of a built-in problem (its `description` key).
pub fn describe(name: &str) -> String {
    if name == "mlp" {
        return "quadratic model at θ* of a tanh MLP fitted to iris (H* exact, C = H*), level set ΔL = 0.005".into();
    }
    toml_text(name)
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("description = "))
                .map(|s| s.trim().trim_matches('"').to_string())
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::{BuildOptions, Problem};

    #[test]
    fn every_builtin_loads_and_validates() {
        for name in names() {
            let p = Problem::load(name, &BuildOptions::default())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(p.name, name);
            assert!(!describe(name).is_empty());
        }
    }
}
