use quasipot::mam::{self, Config, Target};
use quasipot::problem::{BuildOptions, Problem};

fn ms(beta: f64) -> Problem {
    let opts = BuildOptions {
        parameters: vec![("beta".into(), beta)],
        ..Default::default()
    };
    Problem::load("maier-stein", &opts).unwrap()
}

#[test]
fn explore_ms() {
    for beta in [3.0, 5.0, 10.0] {
        let p = ms(beta);
        let cfg = Config {
            target: Target::Point(vec![0.0, 0.0]),
            max_rounds: 5,
            max_points: 65,
            ..Default::default()
        };
        let r = mam::run(&p, &cfg).unwrap();
        let c = &r.channels[0].result;
        eprintln!(
            "beta {beta}: V = {:.6} est {:.2e} coarse {:.6} fine {:.6} pts {} term {:?} diag {:?} t {:.3}",
            r.action, r.error_estimate, c.action_coarse, c.action_fine, c.points, r.termination, c.diagnostics, r.seconds
        );
    }
}
