//! Monte Carlo engine against exact references (DESIGN §2): 1-D mean exit times by quadrature,
//! the exact exit point of a linear non-commuting 2-D model; determinism across threads,
//! shards, cancellation and resume; censoring; rejection of bad input.

use quasipot::exact::exit_time_1d::{mean_exit_time_1d, LeftBoundary};
use quasipot::exact::quasi_potential_barrier;
use quasipot::problem::{BuildOptions, Problem, ProblemSpec, Weight};
use quasipot::sde::{
    merge_dirs, merge_reports, run, run_with, Config, ExitDetection, Hooks, Report, Shard, Status,
    Termination,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// 99 % two-sided normal quantile.
const Z99: f64 = 2.575_829_303_548_901;

fn double_well() -> Problem {
    Problem::load("double-well-1d", &BuildOptions::default()).unwrap()
}

/// E[τ] of dX = (X − X³)dt + ε dW from −1 to 0, reflecting far left at −3 (U(−3) − U(−1) =
/// 16: the reflection is never felt, so the free SDE has the same law up to exit).
fn exact_1d(eps: f64) -> f64 {
    mean_exit_time_1d(
        |x| x.powi(4) / 4.0 - x * x / 2.0,
        eps,
        -3.0,
        0.0,
        LeftBoundary::Reflecting,
        -1.0,
    )
    .unwrap()
    .mean
}

fn config(eps: Vec<f64>, dt: f64, runs: u64) -> Config {
    Config {
        eps,
        dt,
        runs,
        bootstrap: 200,
        ..Config::default()
    }
}

fn pool(n: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .unwrap()
}

/// The report as JSON without the wall-clock figures and the stream bookkeeping (how many rows
/// of `OUT/trajectories.csv` it summarises, absent without `--out`).
fn json(r: &Report) -> String {
    let mut v = serde_json::to_value(r).unwrap();
    v.as_object_mut().unwrap().remove("timing");
    v.as_object_mut().unwrap().remove("stream");
    v.to_string()
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("quasipot-sde-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// (|estimate − exact|, 99 % half-width) at one level.
fn deviation(r: &Report, level: usize, exact: f64) -> (f64, f64) {
    let s = &r.levels[level].stats;
    ((s.mean.unwrap() - exact).abs(), Z99 * s.std_error.unwrap())
}

#[test]
fn double_well_exit_times_match_quadrature_at_two_noise_levels() {
    let p = double_well();
    let eps = vec![0.7, 0.55];
    let mut c = config(eps.clone(), 2e-3, 3000);
    c.detection = ExitDetection::BoundaryCorrected;
    let r = run(&p, &c).unwrap();
    for (l, &e) in eps.iter().enumerate() {
        let exact = exact_1d(e);
        let (dev, half) = deviation(&r, l, exact);
        eprintln!(
            "ε = {e}: corrected {:.4} ± {half:.4} (99%), exact {exact:.4}",
            r.levels[l].stats.mean.unwrap()
        );
        assert!(dev < half, "ε = {e}: |{dev}| ≥ 99 % half-width {half}");
        assert_eq!(r.levels[l].censored, 0);
    }
}

#[test]
fn coarse_step_plain_monitoring_is_biased_and_the_correction_is_not() {
    let p = double_well();
    let e = 0.7;
    let exact = exact_1d(e);
    let mut c = config(vec![e], 0.02, 6000);
    let plain = run(&p, &c).unwrap();
    c.detection = ExitDetection::BoundaryCorrected;
    let corrected = run(&p, &c).unwrap();
    let (dp, hp) = deviation(&plain, 0, exact);
    let (dc, hc) = deviation(&corrected, 0, exact);
    eprintln!(
        "h = 0.02, ε = {e}: exact {exact:.4}; plain {:.4} (|err| {dp:.4}, 99% {hp:.4}); corrected {:.4} (|err| {dc:.4}, 99% {hc:.4})",
        plain.levels[0].stats.mean.unwrap(),
        corrected.levels[0].stats.mean.unwrap()
    );
    // Discrete monitoring misses excursions between steps: exits are detected late.
    assert!(
        plain.levels[0].stats.mean.unwrap() > exact + hp,
        "plain not biased upward"
    );
    assert!(dc < hc, "corrected estimate outside its 99 % interval");
}

#[test]
fn identical_results_for_one_and_two_threads_and_for_merged_shards() {
    let p = Problem::load(
        "quadratic-2d",
        &BuildOptions {
            weight: Some(Weight::Inverse),
            ..Default::default()
        },
    )
    .unwrap();
    let c = config(vec![0.6, 0.5], 1e-3, 203);
    let one = pool(1).install(|| run(&p, &c).unwrap());
    let two = pool(2).install(|| run(&p, &c).unwrap());
    assert_eq!(json(&one), json(&two));
    assert_eq!(one.trajectories, two.trajectories);
    assert_eq!(one.trajectories[0].len(), 203);
    // Shards k/3 cover the indices exactly once; merged = single run.
    let shards: Vec<Report> = (0..3)
        .map(|k| {
            let mut s = c.clone();
            s.shard = Some(Shard::parse(&format!("{k}/3")).unwrap());
            pool(2).install(|| run(&p, &s).unwrap())
        })
        .collect();
    assert_eq!(shards.iter().map(|r| r.levels[0].runs).sum::<u64>(), 203);
    let merged = merge_reports(&shards).unwrap();
    assert_eq!(json(&merged), json(&one));
    assert_eq!(merged.trajectories, one.trajectories);
    // Overlapping shards are refused.
    assert!(merge_reports(&[shards[0].clone(), shards[0].clone()]).is_err());
    // So is an incomplete set, naming the missing shard and the command that produces it
    // (it used to merge 2 of 3 shards and report the rest as not run).
    let err = merge_reports(&[shards[0].clone(), shards[2].clone()])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("merge: incomplete shard set: 2 of 3 shards given, shard 1/3 missing"),
        "{err}"
    );
    assert!(
        err.contains("quasipot exit quadratic-2d --eps 0.6,0.5 --dt 0.001 --runs 203 --seed")
            && err.contains("--shard 1/3 --out DIR"),
        "{err}"
    );
    // And a shard that was interrupted, pointing to the --resume that completes it.
    let stopped = {
        let mut s = c.clone();
        s.shard = Some(Shard { index: 1, count: 3 });
        let hooks = Hooks {
            cancel: Some(Arc::new(AtomicBool::new(true))),
            ..Hooks::default()
        };
        run_with(&p, &s, &hooks).unwrap()
    };
    assert_eq!(stopped.termination, Termination::Interrupted);
    let err = merge_reports(&[shards[0].clone(), stopped, shards[2].clone()])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("merge: shard 1/3 is incomplete (termination Interrupted)")
            && err.contains("--shard 1/3 --out DIR --resume"),
        "{err}"
    );
    // The same through --out directories.
    let dirs: Vec<PathBuf> = (0..3).map(|k| tmpdir(&format!("shard{k}"))).collect();
    for (k, d) in dirs.iter().enumerate() {
        let mut s = c.clone();
        s.shard = Some(Shard {
            index: k as u64,
            count: 3,
        });
        s.out = Some(d.clone());
        run(&p, &s).unwrap();
    }
    let from_dirs = merge_dirs(&p, &dirs).unwrap();
    assert_eq!(json(&from_dirs), json(&one));
    for d in &dirs {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn cancelled_run_keeps_its_trajectories_and_resume_reproduces_the_single_run() {
    let p = double_well();
    let c = config(vec![0.8], 5e-3, 400);
    let full = run(&p, &c).unwrap();
    let dir = tmpdir("resume");
    let mut cut = c.clone();
    cut.out = Some(dir.clone());
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let hooks = Hooks {
        cancel: Some(cancel.clone()),
        progress: Some(Arc::new(move |pr: &quasipot::sde::Progress| {
            if pr.done >= 100 {
                flag.store(true, Ordering::Relaxed);
            }
        })),
    };
    let partial = pool(2).install(|| run_with(&p, &cut, &hooks).unwrap());
    assert_eq!(partial.termination, Termination::Interrupted);
    let l = &partial.levels[0];
    assert!(l.exited >= 100 && l.exited < 400, "exited {}", l.exited);
    assert_eq!(l.runs + l.not_run, 400);
    // Every finished trajectory is exactly the one of the full run.
    for t in partial.trajectories[0]
        .iter()
        .filter(|t| t.status == Status::Exited)
    {
        assert_eq!(
            Some(t),
            full.trajectories[0].iter().find(|u| u.index == t.index)
        );
    }
    // They are on disk.
    let lines = std::fs::read_to_string(dir.join("trajectories.csv")).unwrap();
    assert!(lines.lines().count() > 100);
    // A fresh run into the same directory is refused; a resume with another seed or ε too.
    assert!(run(&p, &cut).is_err());
    let mut other = cut.clone();
    other.resume = true;
    other.seed = 1;
    let e = run(&p, &other).unwrap_err().to_string();
    assert!(e.contains("seed"), "{e}");
    other.seed = c.seed;
    other.eps = vec![0.7];
    let e = run(&p, &other).unwrap_err().to_string();
    assert!(e.contains("ε"), "{e}");
    let q = Problem::load("quadratic-2d", &BuildOptions::default()).unwrap();
    let mut resume = cut.clone();
    resume.resume = true;
    let e = run(&q, &resume).unwrap_err().to_string();
    assert!(e.contains("problem"), "{e}");
    // Resume completes it: identical to the uninterrupted run.
    let resumed = run(&p, &resume).unwrap();
    assert_eq!(resumed.termination, Termination::Completed);
    assert_eq!(json(&resumed), json(&full));
    assert_eq!(resumed.trajectories, full.trajectories);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Hooks that cancel the run once `n` trajectories of a level are finished.
fn cancel_after(n: u64) -> Hooks {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    Hooks {
        cancel: Some(cancel),
        progress: Some(Arc::new(move |pr: &quasipot::sde::Progress| {
            if pr.done >= n {
                flag.store(true, Ordering::Relaxed);
            }
        })),
    }
}

#[test]
fn resume_appends_after_cutting_off_a_torn_row_and_ignores_rows_beyond_the_manifest() {
    let p = double_well();
    let c = config(vec![0.8], 5e-3, 400);
    let full = run(&p, &c).unwrap();
    let dir = tmpdir("torn");
    let stream = dir.join("trajectories.csv");
    let mut cut = c.clone();
    cut.out = Some(dir.clone());
    let partial = pool(2).install(|| run_with(&p, &cut, &cancel_after(100)).unwrap());
    assert_eq!(partial.termination, Termination::Interrupted);
    // Results written now record the rows they summarise…
    quasipot::sde::write_files(&partial, &p, &dir).unwrap();
    let rows = partial.stream.unwrap().rows;
    assert_eq!(
        rows as usize,
        std::fs::read_to_string(&stream).unwrap().lines().count() - 1
    );
    // …and a second interrupted resume (no result files written) makes them stale.
    let mut resume = cut.clone();
    resume.resume = true;
    let second = pool(2).install(|| run_with(&p, &resume, &cancel_after(200)).unwrap());
    assert!(second.stream.unwrap().rows > rows);
    // A kill mid-write: the last row torn inside its last number (it still parses, as a
    // shorter float, so only the missing newline gives it away), after a complete row that
    // run.json does not describe (level 5 of a one-level run).
    let text = std::fs::read_to_string(&stream).unwrap();
    let body = text.trim_end_matches('\n');
    let (head, last) = body.rsplit_once('\n').unwrap();
    let kept = format!("{head}\n5,3,exited,10,-0.5\n");
    std::fs::write(&stream, format!("{kept}{}", &last[..last.len() - 3])).unwrap();
    let resumed = run(&p, &resume).unwrap();
    assert_eq!(resumed.termination, Termination::Completed);
    assert_eq!(resumed.trajectories, full.trajectories);
    assert_eq!(resumed.levels, full.levels);
    let w = resumed.warnings.join("\n");
    assert!(w.contains("torn") && w.contains("cut off"), "{w}");
    assert!(w.contains("beyond what run.json describes"), "{w}");
    assert!(w.contains("exit_report.json was stale"), "{w}");
    // Appended, not rewritten: every complete row that was on disk is still there, in place.
    let after = std::fs::read(&stream).unwrap();
    assert!(after.starts_with(kept.as_bytes()));
    assert!(after.ends_with(b"\n"));
    // The merge of the directory (a whole run) reads the same trajectories.
    let merged = merge_dirs(&p, std::slice::from_ref(&dir)).unwrap();
    assert_eq!(merged.trajectories, full.trajectories);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn merge_refuses_missing_and_unfinished_shards() {
    let p = double_well();
    let c = config(vec![0.8], 5e-3, 120);
    let dirs: Vec<PathBuf> = (0..3).map(|k| tmpdir(&format!("set{k}"))).collect();
    for (k, d) in dirs.iter().enumerate() {
        let mut s = c.clone();
        s.shard = Some(Shard {
            index: k as u64,
            count: 3,
        });
        s.out = Some(d.clone());
        if k == 1 {
            // Shard 1 is stopped half-way.
            let r = pool(2).install(|| run_with(&p, &s, &cancel_after(10)).unwrap());
            assert_eq!(r.termination, Termination::Interrupted);
        } else {
            run(&p, &s).unwrap();
        }
    }
    let two = [dirs[0].clone(), dirs[2].clone()];
    let e = merge_dirs(&p, &two).unwrap_err();
    let m = e.to_string();
    assert!(matches!(e, quasipot::Error::Invalid { .. }), "{m}");
    assert!(m.contains("shard 1/3 missing"), "{m}");
    assert!(
        m.contains("quasipot exit double-well-1d --eps 0.8 --dt 0.005 --runs 120 --seed 0 --shard 1/3 --out DIR"),
        "{m}"
    );
    let e = merge_dirs(&p, &dirs).unwrap_err().to_string();
    assert!(
        e.contains(&format!("{} is incomplete", dirs[1].display())),
        "{e}"
    );
    assert!(e.contains("--shard 1/3") && e.contains("--resume"), "{e}");
    // The same shard twice is refused too.
    let e = merge_dirs(&p, &[dirs[0].clone(), dirs[0].clone(), dirs[2].clone()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("both shard 0/3"), "{e}");
    // Once shard 1 is resumed, the set merges into the single run.
    let mut s = c.clone();
    s.shard = Some(Shard { index: 1, count: 3 });
    s.out = Some(dirs[1].clone());
    s.resume = true;
    run(&p, &s).unwrap();
    let merged = merge_dirs(&p, &dirs).unwrap();
    assert_eq!(merged.trajectories, run(&p, &c).unwrap().trajectories);
    for d in &dirs {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn censoring_is_reported_and_moves_the_estimate_the_right_way() {
    let p = double_well();
    let c = config(vec![0.7], 1e-2, 1500);
    let full = run(&p, &c).unwrap();
    let m = full.levels[0].stats.mean.unwrap();
    // A budget near the median exit step censors about half the trajectories.
    let mut cut = c.clone();
    cut.max_steps = (full.levels[0].stats.median.unwrap() / c.dt) as u64;
    let r = run(&p, &cut).unwrap();
    let l = &r.levels[0];
    assert!(
        l.censored > 400 && l.censored < 1100,
        "censored {}",
        l.censored
    );
    assert_eq!(l.runs, 1500);
    assert!(r.warnings.iter().any(|w| w.contains("censored")));
    // Same streams: a censored trajectory is the full one cut at the budget.
    for (a, b) in r.trajectories[0].iter().zip(&full.trajectories[0]) {
        match a.status {
            Status::Exited => assert_eq!(a, b),
            _ => assert!(b.steps > cut.max_steps),
        }
    }
    // Treating censored times as exits would underestimate: the restricted mean is a strict
    // lower bound; the survival-based (exponential) estimate recovers the full mean.
    let s = &l.stats;
    assert!(s.mean_lower_bound < 0.8 * m);
    let (mle, se) = (s.mean.unwrap(), s.std_error.unwrap());
    eprintln!(
        "full {m:.4}; censored: lower bound {:.4}, exponential MLE {mle:.4} ± {se:.4}",
        s.mean_lower_bound
    );
    assert!((mle - m).abs() < 0.12 * m, "MLE {mle} vs full {m}");
    assert!(s.ci95.unwrap()[0] > s.mean_lower_bound);
}

const LINEAR_2D: &str = r#"
name = "linear-noncommuting"
variables = ["x", "y"]
minimum = [0.0, 0.0]
[drift]
hessian = [[1.0, 0.0], [0.0, 3.0]]   # b = -Hθ; a = C below does not commute with H
[noise]
source = "matrix"
matrix = [[1.0, 0.4], [0.4, 0.5]]
weight = "inverse"
[domain]
kind = "ball"
radius = 1.0
"#;

#[test]
fn exit_points_concentrate_at_the_exact_exit_point_as_eps_decreases() {
    let spec = ProblemSpec::from_toml(LINEAR_2D, "linear-noncommuting").unwrap();
    let p = spec
        .build(Path::new("."), &BuildOptions::default())
        .unwrap();
    let exact = quasi_potential_barrier(&p).unwrap();
    let e = &exact.exit_point;
    let ne = (e[0] * e[0] + e[1] * e[1]).sqrt();
    let e = [e[0] / ne, e[1] / ne];
    // Levels with V0/ε² = 1.5 and 4.
    let eps: Vec<f64> = [1.5f64, 4.0]
        .iter()
        .map(|k| (exact.v0 / k).sqrt())
        .collect();
    let mut c = config(eps, 1e-3, 600);
    c.detection = ExitDetection::BoundaryCorrected;
    let r = run(&p, &c).unwrap();
    let spread: Vec<f64> = r
        .trajectories
        .iter()
        .map(|ts| {
            let mut plus = 0usize;
            let mut sum = 0.0;
            let mut n = 0usize;
            for t in ts.iter().filter(|t| t.status == Status::Exited) {
                let q = t.point[0].hypot(t.point[1]);
                let u = [t.point[0] / q, t.point[1] / q];
                let dp = (u[0] - e[0]).hypot(u[1] - e[1]);
                let dm = (u[0] + e[0]).hypot(u[1] + e[1]);
                plus += (dp < dm) as usize;
                sum += dp.min(dm);
                n += 1;
            }
            // Both signs: the law is symmetric under θ ↦ −θ.
            let f = plus as f64 / n as f64;
            assert!(f > 0.4 && f < 0.6, "fraction near +e: {f}");
            sum / n as f64
        })
        .collect();
    eprintln!(
        "V0 = {}, exit point ±{e:?}; mean distance to it: {spread:?}",
        exact.v0
    );
    assert!(spread[1] < 0.75 * spread[0], "{spread:?}");
    assert!(spread[1] < 0.25, "{spread:?}");
}

#[test]
fn bad_input_is_refused_with_the_flag_named() {
    let p = double_well();
    let err = |c: &Config| run(&p, c).unwrap_err().to_string();
    assert!(err(&config(vec![0.0], 1e-3, 10)).contains("--eps"));
    assert!(err(&config(vec![-0.5], 1e-3, 10)).contains("--eps"));
    assert!(err(&config(vec![0.5], 0.0, 10)).contains("--dt"));
    assert!(err(&config(vec![0.5], f64::NAN, 10)).contains("--dt"));
    assert!(err(&config(vec![0.5], 1e-3, 0)).contains("--runs"));
    // U'' = 2 at θ*: Euler is stable only for h < 2/2 = 1.
    let e = err(&config(vec![0.5], 1.5, 10));
    assert!(e.contains("--dt") && e.contains("2/ρ"), "{e}");
    let ok = run(&p, &config(vec![1.0], 0.2, 20)).unwrap();
    assert!(ok.warnings.iter().any(|w| w.contains("stability bound")));
    assert!((ok.stiffness.h_max - 1.0).abs() < 1e-12);
    let mut sgd = Config::default();
    assert!(sgd.set_sgd(0.1, vec![0.0]).is_err());
    assert!(sgd
        .set_sgd(-0.1, vec![4.0])
        .unwrap_err()
        .to_string()
        .contains("--lr"));
    assert!(Shard::parse("3/3").is_err() && Shard::parse("x").is_err());
    let mut r = config(vec![0.5], 1e-3, 10);
    r.resume = true;
    assert!(err(&r).contains("--resume"));
}

#[test]
fn sgd_parametrisation_reports_iterations_and_time() {
    let p = double_well();
    let mut c = config(vec![], 0.0, 300);
    c.set_sgd(0.01, vec![0.02, 0.03]).unwrap();
    assert_eq!(c.dt, 0.01);
    assert!((c.eps[0] - (0.01f64 / 0.02).sqrt()).abs() < 1e-15);
    let r = run(&p, &c).unwrap();
    for l in &r.levels {
        let (m, it) = (l.stats.mean.unwrap(), l.mean_iterations.unwrap());
        assert!((it * 0.01 - m).abs() < 1e-9 * m);
        assert!(l.batch.is_some());
    }
    // Two levels: an Arrhenius fit, compared with V0 = 0.5 from the problem file.
    let f = r.arrhenius.as_ref().unwrap();
    assert!(f.slope > 0.0);
    assert_eq!(r.v0_reference.as_ref().unwrap().v0, 0.5);
    assert!(r.v0_in_ci95.is_some());
}

#[test]
fn files_are_written() {
    let p = Problem::load(
        "quadratic-2d",
        &BuildOptions {
            weight: Some(Weight::Inverse),
            ..Default::default()
        },
    )
    .unwrap();
    let r = run(&p, &config(vec![0.7, 0.6], 1e-3, 200)).unwrap();
    let dir = tmpdir("files");
    let files = quasipot::sde::write_files(&r, &p, &dir).unwrap();
    for name in [
        "exit_trajectories.csv",
        "exit_summary.csv",
        "exit_report.json",
        "exit_points_eps0.npy",
        "arrhenius.png",
        "arrhenius.svg",
        "exit_time_histogram_eps1.png",
        "exit_points.svg",
    ] {
        assert!(files.iter().any(|f| f.ends_with(name)), "{name} missing");
        assert!(std::fs::metadata(dir.join(name)).unwrap().len() > 0);
    }
    let csv = std::fs::read_to_string(dir.join("exit_trajectories.csv")).unwrap();
    assert_eq!(csv.lines().count(), 401);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The Arrhenius slope of
/// quadratic-2d (weight inverse, a = H; exact V0 = 2ΔL/λ_max = 0.5) over four noise levels.
/// The boundary is non-characteristic with two non-degenerate exit points, so E[τ] ≈ A ε e^{V0/ε²}:
/// the fit with κ = 1 must cover V0, and the pure Arrhenius fit (κ = 0) is biased low by about
/// 1/(2·mean(1/ε²)) ≈ 0.09 at these noise levels.
#[test]
fn arrhenius_slope_of_quadratic_2d_approaches_the_exact_barrier() {
    let p = Problem::load(
        "quadratic-2d",
        &BuildOptions {
            weight: Some(Weight::Inverse),
            ..Default::default()
        },
    )
    .unwrap();
    let v0 = quasi_potential_barrier(&p).unwrap().v0;
    let eps: Vec<f64> = [4.0f64, 5.0, 6.0, 7.0]
        .iter()
        .map(|k| (1.0 / k).sqrt())
        .collect();
    let mut c = config(eps, 1e-3, 2000);
    c.detection = ExitDetection::BoundaryCorrected;
    c.prefactor_exponent = 1.0;
    let r = run(&p, &c).unwrap();
    let f = r.arrhenius.as_ref().unwrap();
    let pure = quasipot::analysis::fit_arrhenius(&f.points, 0.0).unwrap();
    eprintln!("κ = 0: slope {:.4} ± {:.4}", pure.slope, pure.slope_se);
    for l in &r.levels {
        eprintln!(
            "1/ε² = {:.3}: E[τ] = {:.4} ± {:.4}",
            l.inv_eps2,
            l.stats.mean.unwrap(),
            l.stats.std_error.unwrap()
        );
    }
    eprintln!(
        "slope {:.4} ± {:.4} (95% [{:.4}, {:.4}]), prefactor {:.4}, χ² {:.2}/{}; exact V0 = {v0}; in CI: {:?}; {:.3e} steps/s",
        f.slope,
        f.slope_se,
        f.slope_ci95[0],
        f.slope_ci95[1],
        f.prefactor,
        f.chi2,
        f.dof,
        r.v0_in_ci95,
        r.timing.steps_per_s
    );
    assert!(f.covers(v0), "κ = 1 fit misses V0");
    assert!(pure.slope < v0 - 0.04, "κ = 0 bias not seen");
}
