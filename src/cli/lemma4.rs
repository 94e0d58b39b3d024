//! `quasipot lemma4`: Lemma 4 checked for both weights — the gap |V0 − λ_max^{-p}V̂0|, the
//! statement's and the proof's factors with the A each implies, the rigorous sandwich
//! λ_max^{-p}V̂0 ≤ V0 ≤ λ_min^{-p}V̂0, the proof's constant A(δ) = T(δ)(K+M)²/2 on the gMAM paths,
//! and a verdict per row.

use super::output::{table, Output};
use super::{build_options, ComputedNo, Global};
use anyhow::{Context, Result};
use quasipot::analysis::lemma4::{self, BoundVerdict, CovarianceSource, FactorBound, Lemma4Report};
use quasipot::plot::lemma4::{ProofTimeFigure, SandwichFigure};
use quasipot::plot::save_figure;
use quasipot::problem::{ProblemSpec, Weight};
use serde_json::json;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Arguments of `quasipot lemma4`.
#[derive(Debug, clap::Args)]
pub struct Lemma4Args {
    /// Built-in problem name or TOML file (gradient drift: `loss`, `hessian` or `hessian_file`).
    pub problem: String,
    /// A family: keep H*'s eigenvectors, spread its spectrum geometrically over [λ_min, κ·λ_min]
    /// for each κ ≥ 1 (quadratic problems: H* → H_κ; formula losses: L + ½(θ−θ*)ᵀ(H_κ−H*)(θ−θ*)),
    /// e.g. --kappa 1,2,4,8,16.
    #[arg(long, value_delimiter = ',', value_name = "K1,K2,..")]
    pub kappa: Option<Vec<f64>>,
    /// With --kappa: the family's λ_min (default: λ_min of the problem's H*).
    #[arg(long, value_name = "λ")]
    pub lambda_min: Option<f64>,
    /// Noise covariance: hessian-at-minimum (C ≡ H*) or hessian (C = ∇²L(θ), state-dependent).
    #[arg(long, default_value = "hessian-at-minimum")]
    pub noise: String,
    /// Cut distances δ for the proof's constant A(δ), as fractions of the exit distance, each in
    /// (0, 1).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "D1,D2,..",
        default_value = "1e-1,1e-2,1e-3,1e-4"
    )]
    pub delta: Vec<f64>,
    /// Skip the proof's constant (no gMAM paths for exactly solvable rows).
    #[arg(long)]
    pub no_proof_constant: bool,
    /// Exit with code 1 if the sandwich bound is violated anywhere.
    #[arg(long)]
    pub strict: bool,
}

fn opt(a: Option<f64>) -> String {
    a.map(|a| format!("{a:.4e}")).unwrap_or_else(|| "—".into())
}

fn a_cell(b: &FactorBound) -> String {
    match b.verdict {
        BoundVerdict::FailsFactorZero => "none (fails)".into(),
        BoundVerdict::Holds => opt(b.implied_a),
    }
}

fn human(problem: &str, r: &Lemma4Report) -> String {
    let mut h = format!(
        "Lemma 4 on {problem} (C = H*, noise {}; rows: {})\n\
         V̂0 = V0 with identity noise; weight p: M = C^-p\n\
         \x20 statement:  gap = |V0 − λmax^-p·V̂0| ≤ A·λmin^p(κ^p − 1)        (p = ½: Lemma 4 as printed)\n\
         \x20 proof:      gap ≤ A·(λmin^-p − λmax^-p), A = T(K+M)²/2       (Appendix D eq. 30, 47)\n\
         \x20 sandwich:   λmax^-p·V̂0 ≤ V0 ≤ λmin^-p·V̂0                     (rigorous)\n",
        r.noise.name(),
        r.family
    );
    if r.noise == CovarianceSource::Hessian {
        h.push_str("  (state-dependent C: the sandwich uses sup λ_max(C) on V0's path and inf λ_min(C) on the proximal path; λ_min, λ_max, κ are H*'s)\n");
    }
    let nw = r.rows.first().map_or(0, |row| row.weights.len());
    for k in 0..nw {
        let w = r.rows[0].weights[k].weight;
        let printed = w != Weight::InverseSqrt;
        let _ = writeln!(h, "\nweight {} (p = {}):", w.name(), r.rows[0].weights[k].p);
        let mut header = vec![
            "κ",
            "λ_min",
            "λ_max",
            "V̂0",
            "V0",
            "λmax^-p·V̂0",
            "λmin^-p·V̂0",
            "gap",
            "stmt factor",
            "A (stmt)",
            "proof factor",
            "A (proof)",
        ];
        if printed {
            header.extend(["gap as printed", "A as printed"]);
        }
        header.push("method");
        let rows: Vec<Vec<String>> = r
            .rows
            .iter()
            .map(|row| {
                let x = &row.weights[k];
                let mut c = vec![
                    format!("{:.4}", row.kappa),
                    format!("{:.5e}", row.lambda_min),
                    format!("{:.5e}", row.lambda_max),
                    format!("{:.9}", row.proximal_v0.v0),
                    format!("{:.9}", x.v0.v0),
                    format!("{:.9}", x.sandwich.lower),
                    format!("{:.9}", x.sandwich.upper),
                    format!("{:.3e}", x.gap),
                    format!("{:.5e}", x.statement.factor),
                    a_cell(&x.statement),
                    format!("{:.5e}", x.proof.factor),
                    a_cell(&x.proof),
                ];
                if let Some(p) = &x.as_printed {
                    c.push(format!("{:.3e}", p.gap));
                    c.push(a_cell(&p.bound));
                }
                c.push(x.v0.method.clone());
                c
            })
            .collect();
        h.push_str(&table(&header, &rows));
        for row in &r.rows {
            let _ = writeln!(h, "  κ = {:.4}: {}", row.kappa, row.weights[k].verdict);
        }
        let pc_rows: Vec<Vec<String>> = r
            .rows
            .iter()
            .filter_map(|row| row.weights[k].proof_constant.as_ref().map(|pc| (row, pc)))
            .flat_map(|(row, pc)| {
                pc.rows.iter().map(move |d| {
                    vec![
                        format!("{:.4}", row.kappa),
                        format!("{:.0e}", d.delta_rel),
                        format!("{:.3e}", d.delta),
                        format!("{:.6}", d.time_v0_path),
                        format!("{:.6}", d.time_proximal_path),
                        format!("{:.4e}", d.speed_max),
                        format!("{:.4e}", d.gradient_max),
                        format!("{:.4e}", d.a),
                        format!("{:.4e}", d.proof_bound),
                    ]
                })
            })
            .collect();
        if !pc_rows.is_empty() {
            h.push_str("\n  proof's constant on the gMAM paths cut at distance δ from θ* (T: dt = ‖dφ‖_a/‖b‖_a):\n");
            h.push_str(&table(
                &[
                    "κ",
                    "δ/r",
                    "δ",
                    "T† (V0 path)",
                    "T* (proximal)",
                    "K",
                    "M",
                    "A(δ)",
                    "A(δ)·proof factor",
                ],
                &pc_rows,
            ));
            for row in &r.rows {
                if let Some(pc) = &row.weights[k].proof_constant {
                    if let (Some(l), Some(e)) = (pc.rate_v0_path, pc.nearest_eigenvalue) {
                        let _ = writeln!(
                            h,
                            "  κ = {:.4}: T†(δ) ≈ ln(1/δ)/λ with λ = {l:.6} (nearest eigenvalue of H*: {e:.6}); T*: λ = {}",
                            row.kappa,
                            pc.rate_proximal_path.map(|l| format!("{l:.6}")).unwrap_or_else(|| "—".into())
                        );
                    }
                }
            }
        }
    }
    h.push('\n');
    for s in &r.summary {
        let _ = writeln!(
            h,
            "summary {}: largest implied A: statement {}, proof {}; sandwich violations {}; factor-0 failures {}",
            s.weight.name(),
            opt(s.max_statement_a),
            opt(s.max_proof_a),
            s.sandwich_violations,
            s.factor_zero_failures
        );
    }
    h
}

fn write_csv(dir: &Path, r: &Lemma4Report) -> Result<Vec<PathBuf>> {
    let mut main = String::from(
        "kappa,lambda_min,lambda_max,proximal_v0,weight,p,v0,v0_error,method,proxy,gap,tolerance,\
         sandwich_lower,sandwich_upper,sandwich_holds,lower_tight,upper_tight,statement_factor,\
         statement_a,statement_verdict,proof_factor,proof_a,proof_verdict,printed_gap,printed_a,printed_verdict\n",
    );
    let mut pc = String::from(
        "kappa,weight,delta_rel,delta,time_v0_path,time_proximal_path,speed_max,gradient_max,a,proof_bound\n",
    );
    let o = |a: Option<f64>| a.map(|a| a.to_string()).unwrap_or_default();
    let v = |b: BoundVerdict| match b {
        BoundVerdict::Holds => "holds",
        BoundVerdict::FailsFactorZero => "fails-factor-zero",
    };
    for row in &r.rows {
        for w in &row.weights {
            let (pg, pa, pv) = match &w.as_printed {
                Some(p) => (
                    p.gap.to_string(),
                    o(p.bound.implied_a),
                    v(p.bound.verdict).to_string(),
                ),
                None => Default::default(),
            };
            let _ = writeln!(
                main,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                row.kappa,
                row.lambda_min,
                row.lambda_max,
                row.proximal_v0.v0,
                w.weight.name(),
                w.p,
                w.v0.v0,
                w.v0.error_estimate,
                w.v0.method,
                w.proxy,
                w.gap,
                w.tolerance,
                w.sandwich.lower,
                w.sandwich.upper,
                w.sandwich.holds,
                w.sandwich.lower_tight,
                w.sandwich.upper_tight,
                w.statement.factor,
                o(w.statement.implied_a),
                v(w.statement.verdict),
                w.proof.factor,
                o(w.proof.implied_a),
                v(w.proof.verdict),
                pg,
                pa,
                pv
            );
            if let Some(c) = &w.proof_constant {
                for d in &c.rows {
                    let _ = writeln!(
                        pc,
                        "{},{},{},{},{},{},{},{},{},{}",
                        row.kappa,
                        w.weight.name(),
                        d.delta_rel,
                        d.delta,
                        d.time_v0_path,
                        d.time_proximal_path,
                        d.speed_max,
                        d.gradient_max,
                        d.a,
                        d.proof_bound
                    );
                }
            }
        }
    }
    let mut files = Vec::new();
    for (name, text) in [("lemma4.csv", main), ("proof_constant.csv", pc)] {
        let p = dir.join(name);
        std::fs::write(&p, text).with_context(|| format!("--out: cannot write {}", p.display()))?;
        files.push(p);
    }
    Ok(files)
}

/// `quasipot lemma4`.
pub fn run(args: &Lemma4Args, g: &Global, out: &Output) -> Result<i32> {
    let opts = build_options(g)?;
    let (spec, base) = ProblemSpec::load_with_parameters(&args.problem, &opts.parameters)?;
    let config = lemma4::Config {
        noise: CovarianceSource::parse(&args.noise, "--noise")?,
        weights: match g.weight {
            Some(w) => vec![w.into()],
            None => vec![Weight::InverseSqrt, Weight::Inverse],
        },
        kappas: args.kappa.clone(),
        lambda_min: args.lambda_min,
        deltas: if args.no_proof_constant {
            Vec::new()
        } else {
            args.delta.clone()
        },
        mam: quasipot::mam::Config {
            seed: g.seed,
            ..Default::default()
        },
    };
    let opts = quasipot::problem::BuildOptions {
        weight: None,
        ..opts
    };
    let report = lemma4::run(&spec, &base, &config, &opts)?;
    let mut files = Vec::new();
    if let Some(dir) = out.dir()? {
        files = write_csv(dir, &report)?;
        files.extend(save_figure(
            &SandwichFigure(&report),
            &dir.join("lemma4"),
            (1100, 520),
        )?);
        if report
            .rows
            .iter()
            .any(|r| r.weights.iter().any(|w| w.proof_constant.is_some()))
        {
            files.extend(save_figure(
                &ProofTimeFigure(&report),
                &dir.join("proof_constant"),
                (900, 600),
            )?);
        }
    }
    let js = json!({"problem": args.problem, "lemma4": report, "files": files});
    out.finish(&human(&args.problem, &report), &js)?;
    let violations: usize = report.summary.iter().map(|s| s.sandwich_violations).sum();
    if args.strict && violations > 0 {
        return Err(ComputedNo(format!(
            "the sandwich bound λmax^-p·V̂0 ≤ V0 ≤ λmin^-p·V̂0 is violated in {violations} row(s)"
        ))
        .into());
    }
    Ok(0)
}
