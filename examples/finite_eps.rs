//! Why the Monte Carlo Arrhenius slope on `mlp` sits below V0: a finite-ε experiment.
//!
//! On the `mlp` problem (weight inverse-sqrt, C = H*, level set ΔL = 0.005) the exact barrier is
//! V0 = 2ΔL/√λ_max, but the direction of the second eigenvalue costs only √(λ_max/λ₂) ≈ 1/0.83
//! of that, so at attainable noise levels the exit is spread over several directions and the
//! slope of ln E[τ] against 1/ε² is lower than V0. This example measures the slope over
//! V0/ε² = 4, 6, 8 on three problems with the same V0:
//! 1. `mlp` itself;
//! 2. its Hessian rotated to diagonal form (must agree with 1: the engine is rotation-invariant);
//! 3. the diagonal Hessian with every eigenvalue but λ_max set to 1e-3 (one cheap direction only:
//!    the slope should come close to V0).
//!
//! `cargo run --release --example finite_eps [-- RUNS]` (default 200 runs per level; about
//! three minutes on 2 cores).

use quasipot::linalg::symmetric_eigen;
use quasipot::problem::{BuildOptions, Drift, Problem, ProblemSpec};
use quasipot::sde::{self, ExitDetection};

fn diagonal_problem(eigenvalues: &[f64]) -> anyhow::Result<Problem> {
    let d = eigenvalues.len();
    let rows: Vec<String> = (0..d)
        .map(|i| {
            let row: Vec<String> = (0..d)
                .map(|j| format!("{:e}", if i == j { eigenvalues[i] } else { 0.0 }))
                .collect();
            format!("[{}]", row.join(", "))
        })
        .collect();
    let text = format!(
        "minimum = {:?}\n[drift]\nhessian = [{}]\n[noise]\nsource = \"hessian-at-minimum\"\nweight = \"inverse-sqrt\"\n[domain]\nkind = \"level-set\"\ndepth = 0.005\n",
        vec![0.0; d],
        rows.join(", ")
    );
    Ok(ProblemSpec::from_toml(&text, "diagonal")?
        .build(std::path::Path::new("."), &BuildOptions::default())?)
}

fn main() -> anyhow::Result<()> {
    let runs: u64 = std::env::args().nth(1).map_or(Ok(200), |s| s.parse())?;
    let mlp = Problem::load("mlp", &BuildOptions::default())?;
    let Drift::Linear(lin) = &mlp.drift else {
        anyhow::bail!("mlp has a linear drift")
    };
    let (mut lambda, _) = symmetric_eigen(&lin.a, "H")?;
    lambda.sort_by(|a, b| b.total_cmp(a));
    let v0 = quasipot::exact::quasi_potential_barrier(&mlp)?.v0;
    println!(
        "mlp: V0 = {v0:.6}, λ_max = {:.4}, λ₂ = {:.4}, √(λ₂/λ_max) = {:.3}",
        lambda[0],
        lambda[1],
        (lambda[1] / lambda[0]).sqrt()
    );
    let mut top_only = vec![1e-3; lambda.len()];
    top_only[0] = lambda[0];
    let cases = [
        ("mlp", mlp.clone()),
        ("diagonal", diagonal_problem(&lambda)?),
        ("top eigenvalue only", diagonal_problem(&top_only)?),
    ];
    for (name, p) in &cases {
        let mut c = sde::Config::default();
        c.set_eps([4.0, 6.0, 8.0].iter().map(|k| (v0 / k).sqrt()).collect())?;
        c.set_dt(0.01)?;
        c.set_runs(runs)?;
        c.detection = ExitDetection::BoundaryCorrected;
        c.prefactor_exponent = 1.0;
        let r = sde::run(p, &c)?;
        let fit = r
            .arrhenius
            .ok_or_else(|| anyhow::anyhow!("no Arrhenius fit"))?;
        println!(
            "{name:<20} slope {:.5} ± {:.5} (standard error)  vs V0 {v0:.5}  ({:.0} % of V0)",
            fit.slope,
            fit.slope_se,
            100.0 * fit.slope / v0
        );
    }
    Ok(())
}
