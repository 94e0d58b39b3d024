//! `quasipot validate`: every applicable engine side by side, with a verdict per pair.

use super::output::Output;
use super::v0::{describe_problem, problem_json};
use super::{load_problem, ComputedNo, Global};
use anyhow::Result;
use quasipot::estimate::{validate, Effort};
use serde_json::json;

/// Arguments of `quasipot validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Built-in problem name or TOML file.
    pub problem: String,
    /// Keep every engine to a few seconds.
    #[arg(long)]
    pub quick: bool,
    /// Exit with code 1 if any two engines disagree beyond their stated errors.
    #[arg(long)]
    pub strict: bool,
    /// Skip the Monte Carlo exit-time ensemble.
    #[arg(long)]
    pub no_monte_carlo: bool,
    /// Also compare the mean exit time E[τ] itself over V0/ε² = 3…40: direct Monte Carlo,
    /// adaptive multilevel splitting, the generator solve (d ≤ 2) and the computed prefactor
    /// (figure validate-rates.png with --out).
    #[arg(long)]
    pub rates: bool,
}

/// The finite-noise section: the sweep, its table and its figure.
fn rates_section(
    problem: &quasipot::problem::Problem,
    v0: f64,
    quick: bool,
    seed: u64,
    dir: Option<&std::path::Path>,
) -> Result<(String, serde_json::Value, Vec<std::path::PathBuf>)> {
    use quasipot::rates::sweep;
    let mut cfg = sweep::Config {
        seed,
        ..sweep::Config::default()
    };
    let mut eng = sweep::EngineSettings {
        seed,
        ..sweep::EngineSettings::default()
    };
    if quick {
        cfg.ratios = vec![3.0, 5.0, 10.0, 20.0, 40.0];
        cfg.direct_max_ratio = 5.0;
        cfg.direct_runs = 200;
        eng.generator_grid = 257;
        eng.generator_rare_grid = 129;
        eng.ams_repetitions = 5;
    }
    let mut sw = sweep::run(problem, v0, &cfg)?;
    sweep::add_generator(&mut sw, problem, &eng)?;
    sweep::add_ams(&mut sw, problem, &eng)?;
    let mut h = format!(
        "\nmean exit time E[τ] at finite noise\nprefactor  {}\n",
        sw.prediction.summary()
    );
    let fmt = |p: &sweep::SweepPoint, m: &str| {
        p.estimates
            .iter()
            .find(|e| e.method == m)
            .map(|e| match e.ci95 {
                Some(c) => format!("{:.4e} [{:.3e}, {:.3e}]", e.mean, c[0], c[1]),
                None => format!("{:.4e}", e.mean),
            })
            .unwrap_or_else(|| "—".into())
    };
    let rows: Vec<Vec<String>> = sw
        .points
        .iter()
        .map(|p| {
            let verdicts = p
                .verdicts
                .iter()
                .map(|v| {
                    format!(
                        "{}/{} {}",
                        v.a,
                        v.b,
                        if v.agree { "agree" } else { "DISAGREE" }
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let ratios = p
                .prefactor_ratios
                .iter()
                .map(|(m, r)| format!("{m} {r:.3}"))
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                format!("{:.0}", p.v0_over_eps2),
                format!("{:.4}", p.eps),
                fmt(p, "direct"),
                fmt(p, "ams"),
                fmt(p, "generator"),
                fmt(p, "prefactor"),
                if ratios.is_empty() {
                    "—".into()
                } else {
                    ratios
                },
                if verdicts.is_empty() {
                    "—".into()
                } else {
                    verdicts
                },
            ]
        })
        .collect();
    h.push_str(&super::output::table(
        &[
            "V0/ε²",
            "ε",
            "direct MC",
            "AMS",
            "generator",
            "prefactor",
            "prefactor / method",
            "agreement",
        ],
        &rows,
    ));
    for n in &sw.notes {
        h.push_str(&format!("note     {n}\n"));
    }
    let mut files = Vec::new();
    if let Some(d) = dir {
        files = quasipot::plot::save_figure(
            &quasipot::plot::rates::RatesFigure { sweep: &sw },
            &d.join("validate-rates"),
            (900, 650),
        )?;
    }
    Ok((h, serde_json::to_value(&sw)?, files))
}

/// `quasipot validate`.
pub fn run(args: &ValidateArgs, g: &Global, out: &Output) -> Result<i32> {
    let problem = load_problem(&args.problem, g)?;
    let effort = if args.quick {
        Effort::Quick
    } else {
        Effort::Full
    };
    let validation = validate(&problem, effort, !args.no_monte_carlo, g.seed)?;
    let engines = &validation.engines;
    let (results, skipped) = (&engines.results, &engines.skipped);
    let mut files = Vec::new();
    if let Some(dir) = out.dir()? {
        let path: Option<Vec<Vec<f64>>> = engines.gmam.as_ref().and_then(|g| {
            g.channels.first().map(|c| {
                let p = &c.result.path;
                p.nodes.chunks(p.dim).map(|x| x.to_vec()).collect()
            })
        });
        if let Some(r) = &engines.gmam {
            files.extend(quasipot::mam::write_files(r, &problem, dir)?);
        }
        if let Some(r) = &engines.olim {
            files.extend(quasipot::olim::write_files(
                r,
                &problem,
                path.as_deref(),
                dir,
            )?);
        }
        if let Some(r) = &engines.monte_carlo {
            files.extend(quasipot::sde::write_files(r, &problem, dir)?);
        }
    }
    let mut human = describe_problem(&problem);
    human.push('\n');
    human.push_str(&super::v0::results_table(results));
    for v in &validation.verdicts {
        human.push_str(&format!(
            "verdict  {} vs {}: {} (|ΔV0| = {:.2e})\n",
            v.a,
            v.b,
            if v.agree { "agree" } else { "DISAGREE" },
            v.difference
        ));
    }
    let note = validation.monte_carlo_disagrees().then_some(
        "Monte Carlo measures the Arrhenius slope at finite noise (V0/ε² = 4…6; quick: 3…5), \
         which tends to V0 only as ε → 0 and slowly when the exit is over a saddle or V has \
         nearly equal minima on ∂D; check the trend with `quasipot exit PROBLEM --eps …` at \
         smaller ε",
    );
    if let Some(n) = note {
        human.push_str(&format!("note     {n}\n"));
    }
    if let Some(v) = problem.reference.v0 {
        for r in results.iter() {
            human.push_str(&format!(
                "check    {} vs reference {v}: |ΔV0| = {:.2e}\n",
                r.method,
                (r.v0 - v).abs()
            ));
        }
    }
    for s in skipped {
        human.push_str(&format!("skipped  {s}\n"));
    }
    let mut rates = serde_json::Value::Null;
    if args.rates {
        // V0 from the most accurate engine that ran (exact, then gMAM, then OLIM).
        let v0 = results
            .iter()
            .find(|r| r.method != "monte-carlo")
            .map(|r| r.v0)
            .or(problem.reference.v0);
        match v0 {
            Some(v0) => {
                let (h, js, f) = rates_section(&problem, v0, args.quick, g.seed, out.dir()?)?;
                human.push_str(&h);
                rates = js;
                files.extend(f);
            }
            None => human.push_str("skipped  rates: no V0 to place the noise levels\n"),
        }
    }
    let all_agree = validation.all_agree();
    let js = json!({
        "problem": problem_json(&problem),
        "weight": problem.noise_description.weight.name(),
        "results": results,
        "files": files,
        "verdicts": validation.verdicts,
        "all_agree": all_agree,
        "skipped": skipped,
        "reference_v0": problem.reference.v0,
        "note": note,
        "rates": rates,
    });
    out.finish(&human, &js)?;
    if args.strict && !all_agree {
        return Err(ComputedNo(
            "engines disagree beyond their stated errors (see the verdict lines)".into(),
        )
        .into());
    }
    Ok(0)
}
