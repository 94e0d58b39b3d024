//! Prefactor predictions against finite-ε truth: E[τ]_generator / E[τ]_prefactor over V0/ε²,
//! with the fitted c of ratio ≈ 1 + c·ε² (issue 18's table).
//!
//! `cargo run --release --example prefactor_convergence`

use quasipot::problem::{BuildOptions, Problem, ProblemSpec};
use quasipot::rates::prefactor::{predict, Options};

fn toml(text: &str) -> Problem {
    ProblemSpec::from_toml(text, "example")
        .unwrap()
        .build(std::path::Path::new("."), &BuildOptions::default())
        .unwrap()
}

fn main() {
    let ms3 = Problem::load(
        "maier-stein",
        &BuildOptions {
            parameters: vec![("beta".into(), 3.0)],
            ..Default::default()
        },
    )
    .unwrap();
    let cases: Vec<(&str, Problem)> = vec![
        ("1-D double well (saddle)", Problem::load("double-well-1d", &BuildOptions::default()).unwrap()),
        ("2-D gradient double well (saddle)", toml("name = \"dw2\"\nvariables = [\"x\", \"y\"]\nminimum = [-1.0, 0.0]\n[drift]\nloss = \"x^4/4 - x^2/2 + y^2/2 + 0.25*x*y^2\"\n[noise]\nsource = \"identity\"\n[domain]\nkind = \"half-space\"\nnormal = [1.0, 0.0]\noffset = 0.0\n")),
        ("Maier–Stein β = 3 (non-gradient saddle)", ms3),
        ("OU, C = H, level-set ellipse", toml("name = \"ou-ellipse\"\nminimum = [0.0, 0.0]\n[drift]\nhessian = [[1.0, 0.0], [0.0, 4.0]]\n[noise]\nsource = \"hessian-at-minimum\"\nweight = \"inverse\"\n[domain]\nkind = \"level-set\"\ndepth = 0.5\n")),
        ("1-D double well, a(x) = 1 + x²/2 (state-dependent, saddle)", toml("name = \"dw-a\"\nvariables = [\"x\"]\nminimum = [-1.0]\n[drift]\nloss = \"x^4/4 - x^2/2\"\n[noise]\nsource = \"field\"\nfield = [[\"1 + 0.5*x^2\"]]\nweight = \"inverse\"\n[domain]\nkind = \"half-space\"\nnormal = [1.0]\noffset = 0.0\n")),
        ("manufactured V, constant a, ball r = 0.8 (non-gradient, two channels)", toml("name = \"mc\"\nvariables = [\"x\", \"y\"]\nminimum = [0.0, 0.0]\n[drift]\nfield = [\"-0.5*((x + x^3) + 0.3*(2*y)) + 2*y\", \"-0.5*(0.3*(x + x^3) + 0.5*(2*y)) - (x + x^3)\"]\n[noise]\nsource = \"matrix\"\nmatrix = [[1.0, 0.3], [0.3, 0.5]]\nweight = \"inverse\"\n[domain]\nkind = \"ball\"\ncenter = [0.0, 0.0]\nradius = 0.8\n")),
        ("manufactured V, a(θ) of `manufactured-anisotropic`, ball r = 0.8 (state-dependent, two channels)", toml("name = \"ms-a\"\nvariables = [\"x\", \"y\"]\nminimum = [0.0, 0.0]\n[drift]\nfield = [\"-0.5*((1 + 0.5*x^2)*(x + x^3) + 0.3*(2*y)) + (2*y)\", \"-0.5*(0.3*(x + x^3) + (1 + 0.5*y^2)*(2*y)) - (x + x^3)\"]\n[noise]\nsource = \"field\"\nfield = [[\"1 + 0.5*x^2\", \"0.3\"], [\"0.3\", \"1 + 0.5*y^2\"]]\nweight = \"inverse\"\n[domain]\nkind = \"ball\"\ncenter = [0.0, 0.0]\nradius = 0.8\n")),
        ("OU, C = H, box (two channels)", toml("name = \"ou-box\"\nminimum = [0.0, 0.0]\n[drift]\nhessian = [[1.0, 0.0], [0.0, 4.0]]\n[noise]\nsource = \"hessian-at-minimum\"\nweight = \"inverse\"\n[domain]\nkind = \"box\"\nlo = [-1.0, -0.5]\nhi = [1.0, 0.5]\n")),
    ];
    let ratios = [5.0, 10.0, 15.0, 20.0, 30.0];
    println!(
        "| case | κ | A | {} | fitted c |",
        ratios.map(|r| format!("V0/ε² = {r}")).join(" | ")
    );
    println!("|---|---|---|{}---|", "---|".repeat(ratios.len()));
    for (name, p) in cases {
        let out = predict(&p, &Options::default()).unwrap();
        let Some(pred) = out.prediction() else {
            println!("| {name} | {} |", out.summary());
            continue;
        };
        let eps: Vec<f64> = ratios.iter().map(|r| (pred.v0 / r).sqrt()).collect();
        let grid = if p.dim() == 1 { 4097 } else { 513 };
        let mut cells = Vec::new();
        let (mut num, mut den) = (0.0, 0.0);
        for e in &eps {
            // One solve per ε, so that an ε the grid cannot resolve leaves its cell empty.
            let cfg = quasipot::generator::Config {
                eps: vec![*e],
                grid,
                principal_eigenvalue: false,
                ..Default::default()
            };
            match quasipot::generator::run(&p, &cfg) {
                Ok(rep) => {
                    let l = &rep.levels[0];
                    let ratio = (l.mean_exit_time.ln() - pred.ln_mean_exit_time(*e)).exp();
                    num += e * e * ratio.ln();
                    den += e.powi(4);
                    cells.push(format!("{ratio:.4}"));
                }
                Err(err) => {
                    eprintln!("{name}, ε = {e:.4}: {err}");
                    cells.push("—".into());
                }
            }
        }
        println!(
            "| {name} | {} | {:.5} | {} | {:.2} |",
            pred.kappa,
            pred.prefactor,
            cells.join(" | "),
            num / den
        );
    }
}
