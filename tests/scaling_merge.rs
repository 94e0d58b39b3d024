//! `scaling` sweeps sharded over their points with `--shard k/n` and merged: bit-identical to
//! the unsharded sweep (points, fits, verdicts, notes; wall times aside), through files and
//! through the `quasipot slurm` scripts; refusals of incomplete, overlapping or mixed sets.

mod common;

use common::run_bin;
use quasipot::analysis::scaling::merge::{merge, read_part};
use quasipot::analysis::scaling::{scaling, Method, ScalingConfig, Target, Vary};
use quasipot::problem::BuildOptions;
use quasipot::sde::Shard;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn target() -> Target {
    Target::load("quadratic-2d", BuildOptions::default()).unwrap()
}

/// 4 batch sizes × 2 methods = 8 points, short runs.
fn config() -> ScalingConfig {
    ScalingConfig {
        vary: Vary::Batch,
        values: Some(vec![8.0, 9.0, 10.0, 11.0]),
        eta: Some(0.005),
        delta_l: Some(0.01),
        runs: 40,
        max_steps: 20_000,
        seed: 9,
        methods: Some(vec![Method::GaussianSgd, Method::Proximal]),
        ..ScalingConfig::default()
    }
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("quasipot-scalemerge-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Drop every `wall_seconds` (the only thing that may differ).
fn strip(v: &mut Value) {
    match v {
        Value::Object(o) => {
            o.remove("wall_seconds");
            o.values_mut().for_each(strip);
        }
        Value::Array(a) => a.iter_mut().for_each(strip),
        _ => {}
    }
}

/// Run shard k/n and write it as `quasipot scaling --out` does.
fn shard_dir(base: &Path, k: u64, n: u64) -> PathBuf {
    let c = ScalingConfig {
        shard: Some(Shard { index: k, count: n }),
        ..config()
    };
    let r = scaling(&target(), &c, &|_, _| {}).unwrap();
    let d = base.join(format!("shard-{k}"));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("result.json"), json!({ "scaling": r }).to_string()).unwrap();
    d
}

#[test]
fn merged_shards_equal_the_unsharded_sweep_and_bad_sets_are_refused() {
    let mut whole =
        serde_json::to_value(scaling(&target(), &config(), &|_, _| {}).unwrap()).unwrap();
    strip(&mut whole);
    assert_eq!(whole["points"].as_array().unwrap().len(), 8);
    let base = tmp("lib");
    let dirs: Vec<PathBuf> = (0..3).map(|k| shard_dir(&base, k, 3)).collect();
    let parts: Vec<_> = dirs.iter().map(|d| read_part(d).unwrap()).collect();
    let sizes: Vec<usize> = parts.iter().map(|p| p.points.len()).collect();
    assert_eq!(sizes, [2, 3, 3]);
    let order = [2, 0, 1];
    let shuffled: Vec<_> = order.iter().map(|&i| parts[i].clone()).collect();
    let sdirs: Vec<PathBuf> = order.iter().map(|&i| dirs[i].clone()).collect();
    let merged = merge(&target(), &shuffled, &sdirs, "quadratic-2d", &[]).unwrap();
    let mut merged = serde_json::to_value(merged).unwrap();
    strip(&mut merged);
    assert!(whole["fits"].as_array().is_some_and(|f| !f.is_empty()));
    assert_eq!(merged, whole);

    let e = merge(&target(), &parts[..2], &dirs[..2], "quadratic-2d", &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("2/3 missing") && e.contains("--shard 2/3"),
        "{e}"
    );
    assert!(
        e.contains("--vary batch") && e.contains("--values 8,9,10,11"),
        "{e}"
    );
    assert!(
        e.contains(&base.join("shard-2").display().to_string()),
        "{e}"
    );

    let twice = [
        parts[0].clone(),
        parts[1].clone(),
        parts[1].clone(),
        parts[2].clone(),
    ];
    let e = merge(&target(), &twice, &[], "quadratic-2d", &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("given twice"), "{e}");

    let other = ScalingConfig {
        runs: 41,
        shard: Some(Shard { index: 1, count: 3 }),
        ..config()
    };
    let mut odd = parts[1].clone();
    odd.record.as_mut().unwrap().config = other;
    let e = merge(
        &target(),
        &[parts[0].clone(), odd, parts[2].clone()],
        &[],
        "quadratic-2d",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("runs = 41"), "{e}");

    let mut cut = parts[1].clone();
    cut.points.pop();
    let e = merge(
        &target(),
        &[parts[0].clone(), cut, parts[2].clone()],
        &[],
        "quadratic-2d",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("did not complete"), "{e}");

    // Another model: same settings, other Hessian (the built-in quadratic-anisotropic-3d).
    let t3 = Target::load("quadratic-anisotropic-3d", BuildOptions::default()).unwrap();
    let e = merge(&t3, &parts, &dirs, "quadratic-anisotropic-3d", &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("another model"), "{e}");
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn more_shards_than_points_is_refused_naming_the_flag() {
    let c = ScalingConfig {
        shard: Some(Shard { index: 0, count: 9 }),
        ..config()
    };
    let e = scaling(&target(), &c, &|_, _| {}).unwrap_err().to_string();
    assert!(e.contains("--shard") && e.contains("8 points"), "{e}");
}

/// `quasipot slurm -- scaling ..`: the array tasks (run by bash with the variables Slurm sets)
/// and the merge job give the unsharded sweep's result.json.
#[test]
fn slurm_array_of_sweep_shards_merges_to_the_unsharded_sweep() {
    use quasipot::slurm::{TASK_COUNT, TASK_ID, TASK_MAX, TASK_MIN, TASK_STEP};
    let base = tmp("slurm");
    let sweep = [
        "scaling",
        "quadratic-2d",
        "--vary",
        "lr",
        "--values",
        "0.004,0.005,0.006",
        "--delta-l",
        "0.01",
        "--runs",
        "30",
        "--max-steps",
        "20000",
        "--seed",
        "2",
    ];
    let whole = base.join("whole");
    let w = whole.display().to_string();
    let (code, _, e) = run_bin(&[&sweep[..], &["-q", "--out", &w]].concat());
    assert_eq!(code, 0, "{e}");
    let array = base.join("array");
    let a = array.display().to_string();
    let (code, _, e) =
        run_bin(&[&["slurm", "--shards", "4", "--out", &a, "--"][..], &sweep].concat());
    assert_eq!(code, 0, "{e}");
    let bash =
        |script: &str, env: &[(&str, String)]| common::run_array_script(&array, &base, script, env);
    for k in 0..4u64 {
        bash(
            "array.sbatch",
            &[
                (TASK_ID, k.to_string()),
                (TASK_MIN, "0".into()),
                (TASK_MAX, "3".into()),
                (TASK_COUNT, "4".into()),
                (TASK_STEP, "1".into()),
            ],
        );
    }
    bash("merge.sbatch", &[]);
    let read = |p: PathBuf| {
        let mut v: Value =
            serde_json::from_str(&std::fs::read_to_string(p.join("result.json")).unwrap()).unwrap();
        v.as_object_mut().unwrap().remove("files");
        strip(&mut v);
        v
    };
    let merged = read(array.join("merged"));
    assert_eq!(merged["scaling"]["points"].as_array().unwrap().len(), 6);
    assert_eq!(merged, read(whole.clone()));
    // The merge writes the sweep's figures and tables too.
    let names = |p: PathBuf| {
        let mut v: Vec<String> = std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let files = names(whole.clone());
    assert!(files.len() > 1, "{files:?}");
    assert_eq!(names(array.join("merged")), files);
    let _ = std::fs::remove_dir_all(&base);
}
