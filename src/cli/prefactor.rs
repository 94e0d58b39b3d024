//! `quasipot prefactor`: the predicted E[τ] ≈ A·ε^κ·e^{V0/ε²} with A and κ computed.

use super::output::{table, Output};
use super::{load_problem, Global};
use anyhow::Result;
use quasipot::rates::prefactor::{predict, Dynamics, Options, Outcome};
use serde_json::json;

/// Arguments of `quasipot prefactor`.
#[derive(Debug, clap::Args)]
pub struct PrefactorArgs {
    /// Built-in problem name or TOML file.
    pub problem: String,
    /// Noise levels ε at which to evaluate E[τ] (comma-separated); default: V0/ε² = 5, 10, 20, 40.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "E1,E2,..",
        allow_hyphen_values = true
    )]
    pub eps: Vec<f64>,
    /// Predict for the discrete chain at step η (Gaussian SGD, eq. 2) instead of the SDE.
    #[arg(long, value_name = "η")]
    pub lr: Option<f64>,
}

/// `quasipot prefactor`.
pub fn run(args: &PrefactorArgs, g: &Global, out: &Output) -> Result<i32> {
    let problem = load_problem(&args.problem, g)?;
    for e in &args.eps {
        if !(*e > 0.0 && e.is_finite()) {
            return Err(
                quasipot::Error::invalid("--eps", format!("ε must be positive, got {e}")).into(),
            );
        }
    }
    let options = Options {
        dynamics: match args.lr {
            Some(step) => Dynamics::Chain { step },
            None => Dynamics::Continuous,
        },
        ..Options::default()
    };
    let outcome = predict(&problem, &options)?;
    if let Outcome::Applicable(p) = &outcome {
        // A non-finite A, κ or V0 is an error, never a value.
        problem.check_finite_value("prefactor", "the prefactor A", p.prefactor)?;
        problem.check_finite_value("prefactor", "the power κ", p.kappa)?;
        problem.check_finite_value("prefactor", "V0", p.v0)?;
        for c in &p.channels {
            problem.check_finite_point("prefactor", "an exit channel's point", &c.exit_point)?;
        }
    }
    let mut human = format!(
        "problem  {} (d = {}, weight {}, domain {})\n",
        problem.name,
        problem.dim(),
        problem.noise_description.weight.name(),
        problem.domain.kind()
    );
    let mut js = json!({
        "problem": problem.name,
        "weight": problem.noise_description.weight.name(),
        "prediction": outcome,
    });
    match &outcome {
        Outcome::NotApplicable { formula, reason } => {
            human.push_str(&format!(
                "prefactor  not applicable ({formula}): {reason}\n"
            ));
        }
        Outcome::Applicable(p) => {
            human.push_str(&format!(
                "formula    {}\nreference  {}\nresult     E[τ] ≈ A·ε^κ·exp(V0/ε²) with A = {:.6e}, κ = {}, V0 = {:.9}\n",
                p.formula, p.reference, p.prefactor, p.kappa, p.v0
            ));
            for a in &p.assumptions {
                human.push_str(&format!("assumes    {a}\n"));
            }
            let rows: Vec<Vec<String>> = p
                .channels
                .iter()
                .map(|c| {
                    vec![
                        format!(
                            "{:?}",
                            c.exit_point
                                .iter()
                                .map(|v| (v * 1e6).round() / 1e6)
                                .collect::<Vec<_>>()
                        ),
                        format!("{:.9}", c.v),
                        format!("{:.6e}", c.rate_coefficient),
                        format!("{:.4}", c.transverse_integral),
                    ]
                })
                .collect();
            human.push('\n');
            human.push_str(&table(
                &["exit channel", "V", "rate coefficient", "∫div ℓ dt"],
                &rows,
            ));
            let eps: Vec<f64> = if args.eps.is_empty() {
                [5.0, 10.0, 20.0, 40.0]
                    .iter()
                    .map(|r| (p.v0 / r).sqrt())
                    .collect()
            } else {
                args.eps.clone()
            };
            let rows: Vec<Vec<String>> = eps
                .iter()
                .map(|&e| {
                    vec![
                        format!("{e:.5}"),
                        format!("{:.2}", p.v0 / (e * e)),
                        format!("{:.5e}", p.mean_exit_time(e)),
                        format!("{:.4}", p.ln_mean_exit_time(e)),
                    ]
                })
                .collect();
            human.push('\n');
            human.push_str(&table(&["ε", "V0/ε²", "predicted E[τ]", "ln E[τ]"], &rows));
            js["levels"] = eps
                .iter()
                .map(|&e| {
                    json!({
                        "eps": e,
                        "predicted_mean_exit_time": p.mean_exit_time(e),
                        "ln_predicted_mean_exit_time": p.ln_mean_exit_time(e),
                    })
                })
                .collect();
        }
    }
    out.finish(&human, &js)?;
    Ok(0)
}
