//! The default update radius K on a family of manufactured fields nobody tuned it on (issue 14).
//!
//! `cargo run --release --example olim_k_family [N] [K1,K2,..]` (default N = 257,
//! K = 4,6,8,10,12,16,20,24,30). Each field is b = −½ a(θ)∇V + ρ R∇V, R = [[0, 1], [−1, 0]],
//! so V is its quasi-potential exactly; the family varies the rotation ρ ∈ {0, 1, 4, 10, 30},
//! the potential (V₁ = x²/2 + x⁴/4 + y², V₂ = 2x² + y²/2 + xy/2), and the noise
//! (a = I, a = [[1, 0.6], [0.6, 0.5]] constant, a(θ) = [[1 + ½x², 0.3], [0.3, 1 + ½y²]]).
//! Domain: the box [−1, 1]² (the grid box). Prints ErrMax for each K, the default K and its
//! ErrMax relative to the best K's.

use quasipot::olim::{run, Config};
use quasipot::problem::{BuildOptions, ProblemSpec};
use std::path::Path;

fn main() -> quasipot::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).map_or(257, |s| s.parse().expect("N"));
    let ks: Vec<usize> = args.get(2).map_or_else(
        || vec![4, 6, 8, 10, 12, 16, 20, 24, 30],
        |s| s.split(',').map(|v| v.parse().expect("K")).collect(),
    );
    // (name, V, ∇V components)
    let potentials = [
        ("V1", "x^2/2 + x^4/4 + y^2", ["x + x^3", "2*y"]),
        ("V2", "2*x^2 + y^2/2 + x*y/2", ["4*x + y/2", "y + x/2"]),
    ];
    // (name, a entries)
    let noises = [
        ("iso", ["1", "0", "0", "1"]),
        ("aniso", ["1", "0.6", "0.6", "0.5"]),
        ("state", ["1 + 0.5*x^2", "0.3", "0.3", "1 + 0.5*y^2"]),
    ];
    println!("N = {n}; ErrMax for K = {ks:?}; default K; ErrMax(default)/min ErrMax");
    let mut worst: f64 = 0.0;
    for (vn, v, g) in potentials {
        for (an, a) in noises {
            for rho in [0.0, 1.0, 4.0, 10.0, 30.0] {
                let b0 = format!(
                    "-0.5*(({})*({}) + ({})*({})) + rho*({})",
                    a[0], g[0], a[1], g[1], g[1]
                );
                let b1 = format!(
                    "-0.5*(({})*({}) + ({})*({})) - rho*({})",
                    a[2], g[0], a[3], g[1], g[0]
                );
                let constant = an != "state";
                let noise = if constant {
                    format!(
                        "source = \"matrix\"\nmatrix = [[{}, {}], [{}, {}]]",
                        a[0], a[1], a[2], a[3]
                    )
                } else {
                    format!(
                        "source = \"field\"\nfield = [[\"{}\", \"{}\"], [\"{}\", \"{}\"]]",
                        a[0], a[1], a[2], a[3]
                    )
                };
                let text = format!(
                    "name = \"family\"\nvariables = [\"x\", \"y\"]\nminimum = [0.0, 0.0]\n\
                     [parameters]\nrho = {rho}\n[drift]\nfield = [\"{b0}\", \"{b1}\"]\n\
                     [noise]\n{noise}\nweight = \"inverse\"\n\
                     [domain]\nkind = \"box\"\nlo = [-1.0, -1.0]\nhi = [1.0, 1.0]\n\
                     [reference]\nquasi_potential = \"{v}\"\n"
                );
                let p = ProblemSpec::from_toml(&text, "family")?
                    .build(Path::new("."), &BuildOptions::default())?;
                let solve = |k: Option<usize>| -> quasipot::Result<(usize, f64)> {
                    let mut c = Config::new(n)?.with_box([-1.0, -1.0], [1.0, 1.0])?;
                    if let Some(k) = k {
                        c = c.with_k(k)?;
                    }
                    c.estimate_error = false;
                    let r = run(&p, &c)?;
                    Ok((r.k, r.errors.map_or(f64::NAN, |e| e.error_max)))
                };
                let errs: Vec<f64> = ks
                    .iter()
                    .map(|&k| solve(Some(k)).map(|r| r.1))
                    .collect::<quasipot::Result<_>>()?;
                let (kd, ed) = solve(None)?;
                let best = errs.iter().cloned().fold(f64::INFINITY, f64::min);
                worst = worst.max(ed / best);
                let row: Vec<String> = errs.iter().map(|e| format!("{e:.2e}")).collect();
                println!(
                    "{vn} {an:<5} rho={rho:<4} {}  default K={kd:<2} {ed:.2e}  ×{:.2}",
                    row.join(" "),
                    ed / best
                );
            }
        }
    }
    println!("worst ErrMax(default)/best over the family: {worst:.2}");
    Ok(())
}
