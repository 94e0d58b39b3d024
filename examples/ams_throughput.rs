//! AMS inner loop against the direct Monte Carlo engine, side by side in one process, on one
//! rayon thread: trajectory-steps per second on double-well-1d (native drift, a = 1, exit at
//! x = 0) or any built-in named as the argument, h = 1e-3, discrete and Gobet–Menozzi-corrected
//! exit tests; AMS with N = 100, k = 1 and M = 16 repetitions (four lanes on the thread, each
//! taking the next repetition when its own ends, as the MC engine's four lanes take the next
//! trajectory). Each figure is the median of 5 runs; the ratio is the median of the 5 side-by-side
//! pairs (immune to the machine's drift in speed between minutes), with their range.
//!
//!     cargo run --release --example ams_throughput [-- PROBLEM]
use quasipot::problem::{BuildOptions, Problem};
use quasipot::sde::{self, ams, ExitDetection};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "double-well-1d".into());
    let p = Problem::load(&name, &BuildOptions::default()).unwrap();
    for det in [ExitDetection::Discrete, ExitDetection::BoundaryCorrected] {
        let mc = sde::Config {
            eps: vec![0.5],
            dt: 1e-3,
            runs: 4000,
            bootstrap: 0,
            detection: det,
            ..sde::Config::default()
        };
        let am = ams::Config {
            eps: vec![0.15],
            dt: 1e-3,
            replicas: 100,
            repetitions: 16,
            loops: 1000,
            detection: det,
            ..ams::Config::default()
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let mut last = None;
        for _ in 0..5 {
            let r = pool.install(|| sde::run(&p, &mc).unwrap());
            a.push(r.timing.steps_per_s);
            let r = pool.install(|| ams::run(&p, &am).unwrap());
            b.push(r.timing.steps_per_s);
            last = Some(r);
        }
        // Each MC run sits beside its AMS run, so the ratio of a pair is immune to the machine's
        // drift in speed between minutes; report the median pair and the range.
        let mut ratio: Vec<f64> = a.iter().zip(&b).map(|(a, b)| a / b).collect();
        ratio.sort_by(f64::total_cmp);
        let (lo, hi) = (ratio[0], ratio[ratio.len() - 1]);
        let (a, b, r) = (median(a), median(b), median(ratio));
        println!(
            "{name} {det:?}: direct MC {a:.3e} steps/s, AMS {b:.3e} steps/s, ratio MC/AMS {r:.2} (pairs {lo:.2}–{hi:.2})"
        );
        // The splitting's bookkeeping is per iteration, so short extensions cost more per step.
        if let Some(l) = last.as_ref().and_then(|r| r.levels.first()) {
            println!(
                "  AMS: {:.0} splitting steps per iteration, {:.0}% of steps in the loop sampler",
                (l.steps - l.steps_loops) as f64 / l.iterations as f64,
                100.0 * l.steps_loops as f64 / l.steps as f64
            );
        }
    }
}
