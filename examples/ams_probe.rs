use quasipot::exact::exit_time_1d::{mean_exit_time_1d, LeftBoundary};
use quasipot::problem::{BuildOptions, Problem};
use quasipot::sde::ams::{run, Config};
use quasipot::sde::ExitDetection;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let eps: f64 = a[1].parse().unwrap();
    let dt: f64 = a[2].parse().unwrap();
    let n: usize = a[3].parse().unwrap();
    let m: usize = a[4].parse().unwrap();
    let p = Problem::load("double-well-1d", &BuildOptions::default()).unwrap();
    let c = Config {
        eps: vec![eps],
        dt,
        replicas: n,
        repetitions: m,
        loops: 2000,
        detection: ExitDetection::BoundaryCorrected,
        ..Config::default()
    };
    let r = run(&p, &c).unwrap();
    let ex = mean_exit_time_1d(
        |x| x.powi(4) / 4.0 - x * x / 2.0,
        eps,
        -3.0,
        0.0,
        LeftBoundary::Reflecting,
        -1.0,
    )
    .unwrap()
    .mean;
    let l = &r.levels[0];
    println!("{}", serde_json::to_string_pretty(&serde_json::json!({"z_a": l.z_a, "p": l.probability, "p_ci": l.probability_ci95, "rel_asym": l.probability_rel_std_asymptotic, "rel_rep": l.probability_rel_std_repetitions, "E": l.mean_exit_time, "ci": l.ci95, "exact": ex, "loop": l.mean_loop_time, "t0": l.mean_first_entrance, "treac": l.mean_reactive_time, "steps": l.steps, "steps_loops": l.steps_loops, "iters": l.iterations, "direct": l.direct_exits, "exc": l.excursions, "sps": r.timing.steps_per_s, "warn": r.warnings})).unwrap());
}
