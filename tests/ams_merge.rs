//! AMS repetitions sharded with `--shard k/n` and merged: bit-identical to the unsharded run
//! (library and CLI, shards at different thread counts), and every refusal of an incomplete,
//! overlapping, mixed or interrupted set of shards naming the shard and the command that
//! produces it (exit code 2 from the CLI).

mod common;

use common::run_bin;
use quasipot::problem::{BuildOptions, Problem};
use quasipot::sde::ams::merge::merge_reports;
use quasipot::sde::ams::{run, Config, Report};
use quasipot::sde::{RerunCommand, Shard};
use std::path::PathBuf;

fn problem() -> Problem {
    Problem::load("double-well-1d", &BuildOptions::default()).unwrap()
}

/// Two noise levels, M = 7 repetitions: shards of 3 hold 2, 2 and 3 of them.
fn config() -> Config {
    Config {
        eps: vec![0.3, 0.25],
        dt: 1e-2,
        replicas: 20,
        repetitions: 7,
        loops: 100,
        seed: 5,
        ..Config::default()
    }
}

fn on_threads<T: Send>(n: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .unwrap()
        .install(f)
}

/// A shard's report as it comes back from its result.json.
fn shard(p: &Problem, c: &Config, k: u64, n: u64, threads: usize) -> Report {
    let c = Config {
        shard: Some(Shard { index: k, count: n }),
        ..c.clone()
    };
    let r = on_threads(threads, || run(p, &c).unwrap());
    serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap()
}

fn without_timing(r: &Report) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap();
    v.as_object_mut().unwrap().remove("timing");
    v
}

fn merge(p: &Problem, reports: &[Report]) -> quasipot::Result<Report> {
    let names: Vec<String> = reports
        .iter()
        .map(|r| {
            let s = r.config.shard.unwrap();
            format!("shard {}/{}", s.index, s.count)
        })
        .collect();
    merge_reports(p, reports, &names, &[], &RerunCommand::default())
}

#[test]
fn merged_shards_equal_the_unsharded_run_bit_for_bit() {
    let p = problem();
    let c = config();
    let whole = on_threads(2, || run(&p, &c).unwrap());
    assert!(whole.shard_repetitions.is_empty());
    let parts = [
        shard(&p, &c, 0, 3, 1),
        shard(&p, &c, 1, 3, 2),
        shard(&p, &c, 2, 3, 1),
    ];
    let sizes: Vec<usize> = parts
        .iter()
        .map(|r| r.levels[0].repetitions.len())
        .collect();
    assert_eq!(sizes, [2, 2, 3]);
    // A shard alone is not the run (otherwise the comparison below could not fail).
    assert_ne!(parts[2].levels[0].probability, whole.levels[0].probability);
    // Any order of the directories on the command line.
    let merged = merge(&p, &[parts[2].clone(), parts[0].clone(), parts[1].clone()]).unwrap();
    assert_eq!(without_timing(&merged), without_timing(&whole));
    assert_eq!(
        merged.timing.steps,
        parts.iter().map(|r| r.timing.steps).sum::<u64>()
    );
}

#[test]
fn incomplete_overlapping_mixed_and_interrupted_sets_are_refused() {
    let p = problem();
    let c = config();
    let s: Vec<Report> = (0..3).map(|k| shard(&p, &c, k, 3, 1)).collect();
    let err = |r: &[Report]| merge(&p, r).unwrap_err().to_string();

    let e = err(&[s[0].clone(), s[2].clone()]);
    assert!(e.contains("1/3 missing"), "{e}");
    assert!(
        e.contains("--method ams") && e.contains("--repetitions 7") && e.contains("--shard 1/3"),
        "{e}"
    );

    let e = err(&[s[0].clone(), s[1].clone(), s[1].clone(), s[2].clone()]);
    assert!(e.contains("given twice"), "{e}");

    let other = Config {
        replicas: 30,
        ..c.clone()
    };
    let e = err(&[s[0].clone(), shard(&p, &other, 1, 3, 1), s[2].clone()]);
    assert!(e.contains("replicas = 30"), "{e}");

    let mut cut = s[1].clone();
    cut.interrupted = true;
    let e = err(&[s[0].clone(), cut, s[2].clone()]);
    assert!(
        e.contains("interrupted") && e.contains("--shard 1/3"),
        "{e}"
    );

    // Shards of another problem (its fingerprint differs).
    let q = Problem::load("quadratic-2d", &BuildOptions::default()).unwrap();
    let e = merge(&q, &s).unwrap_err().to_string();
    assert!(e.contains("fingerprint"), "{e}");
}

#[test]
fn more_shards_than_repetitions_is_refused_naming_the_flag() {
    let c = Config {
        repetitions: 3,
        shard: Some(Shard { index: 0, count: 4 }),
        ..config()
    };
    let e = run(&problem(), &c).unwrap_err().to_string();
    assert!(e.contains("--shard") && e.contains("M = 3"), "{e}");
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("quasipot-amsmerge-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn cli_shards_merge_to_the_unsharded_json_and_refusals_exit_2() {
    let base = [
        "exit",
        "double-well-1d",
        "--method",
        "ams",
        "--eps",
        "0.3",
        "--dt",
        "0.01",
        "--replicas",
        "20",
        "--repetitions",
        "5",
        "--loops",
        "100",
        "--seed",
        "3",
        "-q",
    ];
    let (code, whole, e) = run_bin(&[&base[..], &["--json"]].concat());
    assert_eq!(code, 0, "{e}");
    let dirs: Vec<PathBuf> = (0..2).map(|k| dir(&format!("s{k}"))).collect();
    for (k, d) in dirs.iter().enumerate() {
        let shard = format!("{k}/2");
        let out = d.display().to_string();
        let (code, _, e) = run_bin(&[&base[..], &["--shard", &shard, "--out", &out]].concat());
        assert_eq!(code, 0, "{e}");
    }
    let d: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    let (code, merged, e) = run_bin(&["merge", "double-well-1d", &d[0], &d[1], "--json"]);
    assert_eq!(code, 0, "{e}");
    let strip = |s: &str| {
        let mut v: serde_json::Value = serde_json::from_str(s).unwrap();
        v.as_object_mut().unwrap().remove("timing");
        v
    };
    assert_eq!(strip(&merged), strip(&whole));

    let (code, _, e) = run_bin(&["merge", "double-well-1d", &d[1]]);
    assert_eq!(code, 2, "{e}");
    assert!(
        e.contains("0/2 missing") && e.contains("--shard 0/2"),
        "{e}"
    );

    let (code, _, e) = run_bin(&[&base[..], &["--shard", "0/6"]].concat());
    assert_eq!(code, 2, "{e}");
    assert!(e.contains("--shard"), "{e}");
    for d in dirs {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// `quasipot slurm -- exit --method ams ..` writes an array whose tasks (run here by bash with
/// the variables Slurm sets) and merge job give the unsharded run's result.json.
#[test]
fn slurm_array_of_ams_shards_merges_to_the_unsharded_run() {
    use quasipot::slurm::{TASK_COUNT, TASK_ID, TASK_MAX, TASK_MIN, TASK_STEP};
    let base = dir("slurm");
    std::fs::create_dir_all(&base).unwrap();
    let run: Vec<&str> = vec![
        "exit",
        "double-well-1d",
        "--method",
        "ams",
        "--eps",
        "0.3",
        "--dt",
        "0.01",
        "--replicas",
        "20",
        "--repetitions",
        "6",
        "--loops",
        "100",
        "--seed",
        "4",
    ];
    let whole = base.join("whole");
    let (code, _, e) =
        run_bin(&[&run[..], &["-q", "--out", &whole.display().to_string()]].concat());
    assert_eq!(code, 0, "{e}");
    let array = base.join("array");
    let a = array.display().to_string();
    let (code, _, e) =
        run_bin(&[&["slurm", "--shards", "3", "--out", &a, "--"][..], &run].concat());
    assert_eq!(code, 0, "{e}");
    let bash =
        |script: &str, env: &[(&str, String)]| common::run_array_script(&array, &base, script, env);
    for k in 0..3u64 {
        bash(
            "array.sbatch",
            &[
                (TASK_ID, k.to_string()),
                (TASK_MIN, "0".into()),
                (TASK_MAX, "2".into()),
                (TASK_COUNT, "3".into()),
                (TASK_STEP, "1".into()),
            ],
        );
    }
    bash("merge.sbatch", &[]);
    let read = |p: PathBuf| {
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p.join("result.json")).unwrap()).unwrap();
        v.as_object_mut().unwrap().remove("timing");
        v
    };
    let merged = read(array.join("merged"));
    assert_eq!(merged["config"]["repetitions"], 6);
    assert_eq!(merged, read(whole));
    let _ = std::fs::remove_dir_all(&base);
}
