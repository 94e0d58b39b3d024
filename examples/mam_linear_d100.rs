//! Profiling driver for the minimum action engine's free-endpoint benchmark case: V₀ on a level
//! set of a linear non-commuting d = 100 problem (the `linear_d100_v0` bench), on one thread.
//!
//! `cargo run --release --example mam_linear_d100 [-- d repeats [default]]` (`default`: the
//! engine's default configuration, 4 eigen + 2 random + 1 bent starts, tol 1e-5); use with
//! `perf stat -e instructions:u` or `valgrind --tool=callgrind` for load-independent counts.

#[path = "../benches/support/linear_level_set.rs"]
mod linear_level_set;

use linear_level_set::linear_level_set;
use quasipot::mam::{self, Config};

fn main() {
    let all: Vec<String> = std::env::args().skip(1).collect();
    let defaults = all.iter().any(|a| a == "default");
    let args: Vec<usize> = all
        .iter()
        .filter(|a| *a != "default")
        .map(|a| {
            a.parse()
                .expect("usage: mam_linear_d100 [d] [repeats] [default]")
        })
        .collect();
    let d = args.first().copied().unwrap_or(100);
    let repeats = args.get(1).copied().unwrap_or(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let lin = linear_level_set(d);
    let exact = quasipot::exact::quasi_potential_barrier(&lin).unwrap().v0;
    // The bench's configuration, or the engine's defaults.
    let cfg = if defaults {
        Config::default()
    } else {
        Config {
            tol: 5e-5,
            points: 9,
            eigen_starts: 1,
            random_starts: 0,
            bent_starts: 0,
            ..Default::default()
        }
    };
    for _ in 0..repeats {
        let r = pool.install(|| mam::run(&lin, &cfg)).unwrap();
        println!(
            "d = {d}: V0 = {:.10} exact {:.10} rel. error {:.2e} (estimate {:.2e}), {} channels, {:.3} s",
            r.action,
            exact,
            (r.action - exact).abs() / exact,
            r.error_estimate / exact,
            r.channels.len(),
            r.seconds
        );
        for c in &r.channels {
            let g = &c.result;
            println!(
                "  channel: levels {:?} points {} iterations {} evaluations {} rounds {} termination {:?}\n    starts {:?}",
                g.levels, g.points, g.diagnostics.iterations, g.diagnostics.evaluations,
                g.diagnostics.rounds, g.termination, c.starts
            );
        }
    }
}
