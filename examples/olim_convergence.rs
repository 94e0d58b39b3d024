//! Convergence table of the OLIM grid solver against exact quasi-potentials.
//!
//! Run in release: `cargo run --release --example olim_convergence [N1,N2,..] [K]`.
//! Cases: Dahiya & Cameron's fields `d` (grid [−2,0]×[−1,1]) and `l` (grid [−1,1]²), and the
//! built-in manufactured-anisotropic problem (state-dependent anisotropic noise, default box),
//! solved with the default stop rule (until ∂D is accepted or the front reaches the grid edge,
//! as in Dahiya & Cameron's code), with K from `default_k` unless given. Errors are over the
//! Accepted points.
//! Prints N, K, ErrMax, ERMS (absolute and normalised by max V), the observed order
//! log₂(E(N/2)/E(N)), the solve time (wall clock) and V₀ ("-" when the front reached the grid
//! edge before V₀ was certified: on `d`'s grid the edge points (−1, ±1) tie with the saddle).

use quasipot::olim::{run, Config};
use quasipot::problem::{BuildOptions, Problem};

fn main() -> quasipot::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let sizes: Vec<usize> = args
        .get(1)
        .map(|s| s.split(',').map(|v| v.parse().expect("N")).collect())
        .unwrap_or_else(|| vec![129, 257, 513, 1025]);
    let k: Option<usize> = args.get(2).map(|s| s.parse().expect("K"));
    let cases: [(&str, &str, Option<([f64; 2], [f64; 2])>); 3] = [
        (
            "d",
            "rotational-double-well",
            Some(([-2.0, -1.0], [0.0, 1.0])),
        ),
        ("l", "rotational-linear", Some(([-1.0, -1.0], [1.0, 1.0]))),
        ("manufactured", "manufactured-anisotropic", None),
    ];
    for (label, name, bounds) in cases {
        let p = Problem::load(name, &BuildOptions::default())?;
        println!("\n{label} ({name})");
        println!(
            "{:>6} {:>4} {:>11} {:>11} {:>11} {:>11} {:>7} {:>7} {:>9} {:>9}",
            "N",
            "K",
            "ErrMax",
            "ERMS",
            "ErrMax/maxV",
            "ERMS/maxV",
            "p_max",
            "p_rms",
            "time [s]",
            "V0"
        );
        let mut prev: Option<(f64, f64)> = None;
        for &n in &sizes {
            let mut cfg = Config::new(n)?;
            cfg.estimate_error = false;
            if let Some(k) = k {
                cfg = cfg.with_k(k)?;
            }
            if let Some((lo, hi)) = bounds {
                cfg = cfg.with_box(lo, hi)?;
            }
            let r = run(&p, &cfg)?;
            let e = r.errors.clone().expect("exact V known");
            let (pm, pr) = match prev {
                Some((m, s)) => (
                    format!("{:.2}", (m / e.error_max).log2()),
                    format!("{:.2}", (s / e.error_rms).log2()),
                ),
                None => ("-".into(), "-".into()),
            };
            println!(
                "{:>6} {:>4} {:>11.3e} {:>11.3e} {:>11.3e} {:>11.3e} {:>7} {:>7} {:>9.3} {:>9}",
                n,
                r.k,
                e.error_max,
                e.error_rms,
                e.error_max_normalised,
                e.error_rms_normalised,
                pm,
                pr,
                r.seconds,
                r.v0.map_or("-".to_string(), |v| format!("{v:.5}"))
            );
            prev = Some((e.error_max, e.error_rms));
        }
    }
    Ok(())
}
