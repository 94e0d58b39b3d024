//! Slurm job arrays (issue 16): which shard an array task runs (`--shard auto` from the
//! SLURM_ARRAY_* variables), `merge` refusing incomplete or mixed shard sets (exit code 2, naming
//! the directory at fault and the command that re-runs it), the scripts `quasipot slurm` writes
//! (run here by hand as Slurm would), and — where a scheduler answers (`sinfo`; see
//! `scripts/slurm-local.sh`) — a real array of 4 shards whose merge is bit-identical to the
//! unsharded run. Without a scheduler that test is skipped with a printed reason, unless
//! QUASIPOT_REQUIRE_SLURM=1 makes it a failure.

mod common;

use quasipot::slurm::{shell_quote, ArrayError, ArrayJob, ArrayTask, Resources};
use quasipot::slurm::{TASK_COUNT, TASK_ID, TASK_MAX, TASK_MIN, TASK_STEP};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_quasipot");

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("quasipot-slurm-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The binary with `args` and exactly the Slurm array variables `env` (any inherited SLURM_*
/// variable removed, so that the tests behave the same inside a Slurm job).
fn run_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("SLURM_") {
            c.env_remove(k);
        }
    }
    c.args(args).envs(env.iter().copied());
    let o = c.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn run(args: &[&str]) -> (i32, String, String) {
    run_env(args, &[])
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// One small run: double-well-1d at two noise levels.
const RUN: [&str; 8] = [
    "exit",
    "double-well-1d",
    "--eps",
    "0.9,0.8",
    "--runs",
    "60",
    "--seed",
    "3",
];

fn exit_into(dir: &Path, extra: &[&str], env: &[(&str, &str)]) {
    let args: Vec<&str> = RUN
        .iter()
        .copied()
        .chain(extra.iter().copied())
        .chain(["-q", "--json", "--out", s(dir)])
        .collect();
    let (code, _, err) = run_env(&args, env);
    assert_eq!(code, 0, "{args:?}: {err}");
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// The merged directory holds exactly the unsharded run's numbers: the per-trajectory rows byte
/// for byte, and every level's statistics and the Arrhenius fit.
fn assert_same_run(whole: &Path, merged: &Path) {
    let rows = |d: &Path| std::fs::read(d.join("exit_trajectories.csv")).unwrap();
    assert!(rows(whole) == rows(merged), "per-trajectory rows differ");
    let (a, b) = (
        json(&whole.join("result.json")),
        json(&merged.join("result.json")),
    );
    assert_eq!(b["termination"], "completed");
    assert_eq!(a["levels"], b["levels"]);
    assert_eq!(a["arrhenius"], b["arrhenius"]);
    assert_eq!(a["config"], b["config"]);
}

// ---- which shard an array task runs ----

fn task(vars: &[(&str, &str)]) -> Result<ArrayTask, ArrayError> {
    let v: Vec<(String, String)> = vars
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    ArrayTask::from_lookup(move |k| v.iter().find(|(a, _)| a == k).map(|(_, b)| b.clone()))
}

fn shard(vars: &[(&str, &str)]) -> (u64, u64) {
    let s = task(vars).unwrap().shard();
    (s.index, s.count)
}

#[test]
fn zero_based_one_based_and_strided_arrays_give_the_same_shards() {
    for id in 0..4u64 {
        let i = id.to_string();
        let all = |min: &str, max: &str, idv: &str| {
            shard(&[
                (TASK_ID, idv),
                (TASK_MIN, min),
                (TASK_MAX, max),
                (TASK_COUNT, "4"),
            ])
        };
        assert_eq!(all("0", "3", &i), (id, 4));
        assert_eq!(all("1", "4", &(id + 1).to_string()), (id, 4));
        let strided = shard(&[
            (TASK_ID, &(10 + 2 * id).to_string()),
            (TASK_MIN, "10"),
            (TASK_MAX, "16"),
            (TASK_STEP, "2"),
            (TASK_COUNT, "4"),
        ]);
        assert_eq!(strided, (id, 4));
    }
}

#[test]
fn count_alone_or_one_end_with_count_suffices() {
    assert_eq!(shard(&[(TASK_ID, "2"), (TASK_COUNT, "5")]), (2, 5));
    assert_eq!(
        shard(&[(TASK_ID, "3"), (TASK_MIN, "1"), (TASK_COUNT, "4")]),
        (2, 4)
    );
    assert_eq!(
        shard(&[(TASK_ID, "3"), (TASK_MAX, "4"), (TASK_COUNT, "4")]),
        (2, 4)
    );
    // Old Slurm without COUNT: MIN and MAX.
    assert_eq!(
        shard(&[(TASK_ID, "7"), (TASK_MIN, "5"), (TASK_MAX, "8")]),
        (2, 4)
    );
    // One task.
    assert_eq!(
        shard(&[
            (TASK_ID, "9"),
            (TASK_MIN, "9"),
            (TASK_MAX, "9"),
            (TASK_COUNT, "1")
        ]),
        (0, 1)
    );
}

#[test]
fn missing_variables_are_named() {
    assert_eq!(task(&[]), Err(ArrayError::Missing { variable: TASK_ID }));
    assert_eq!(
        task(&[(TASK_ID, "1")]),
        Err(ArrayError::Missing { variable: TASK_MIN })
    );
    assert_eq!(
        task(&[(TASK_ID, "1"), (TASK_MIN, "0")]),
        Err(ArrayError::Missing { variable: TASK_MAX })
    );
    let e = quasipot::Error::from(ArrayError::Missing { variable: TASK_ID }).to_string();
    assert!(
        e.starts_with("--shard auto: SLURM_ARRAY_TASK_ID is not set") && e.contains("--shard k/n"),
        "{e}"
    );
}

#[test]
fn malformed_and_inconsistent_variables_are_refused() {
    let e = task(&[(TASK_ID, "x"), (TASK_COUNT, "4")]).unwrap_err();
    assert!(
        matches!(
            e,
            ArrayError::NotANumber {
                variable: TASK_ID,
                ..
            }
        ),
        "{e}"
    );
    let e = task(&[(TASK_ID, "1"), (TASK_COUNT, "-4")]).unwrap_err();
    assert!(
        matches!(
            e,
            ArrayError::NotANumber {
                variable: TASK_COUNT,
                ..
            }
        ),
        "{e}"
    );
    // A list --array=1,3,7: COUNT 3, MIN 1, MAX 7.
    let e = task(&[
        (TASK_ID, "3"),
        (TASK_MIN, "1"),
        (TASK_MAX, "7"),
        (TASK_COUNT, "3"),
    ])
    .unwrap_err();
    assert!(
        matches!(
            e,
            ArrayError::Inconsistent {
                variable: TASK_COUNT,
                ..
            }
        ) && e.to_string().contains("not a range"),
        "{e}"
    );
    // An ID outside the array, or off the stride.
    let e = task(&[
        (TASK_ID, "5"),
        (TASK_MIN, "1"),
        (TASK_MAX, "4"),
        (TASK_COUNT, "4"),
    ])
    .unwrap_err();
    assert!(
        matches!(
            e,
            ArrayError::Inconsistent {
                variable: TASK_ID,
                ..
            }
        ),
        "{e}"
    );
    let e = task(&[
        (TASK_ID, "3"),
        (TASK_MIN, "0"),
        (TASK_MAX, "6"),
        (TASK_STEP, "2"),
    ])
    .unwrap_err();
    assert!(
        matches!(
            e,
            ArrayError::Inconsistent {
                variable: TASK_ID,
                ..
            }
        ),
        "{e}"
    );
    // MAX below MIN, a zero stride, a zero count, a span not a multiple of the stride.
    let e = task(&[(TASK_ID, "3"), (TASK_MIN, "4"), (TASK_MAX, "1")]).unwrap_err();
    assert!(
        matches!(
            e,
            ArrayError::Inconsistent {
                variable: TASK_MAX,
                ..
            }
        ),
        "{e}"
    );
    let e = task(&[(TASK_ID, "0"), (TASK_COUNT, "2"), (TASK_STEP, "0")]).unwrap_err();
    assert!(
        matches!(
            e,
            ArrayError::Inconsistent {
                variable: TASK_STEP,
                ..
            }
        ),
        "{e}"
    );
    let e = task(&[(TASK_ID, "0"), (TASK_COUNT, "0")]).unwrap_err();
    assert!(
        matches!(
            e,
            ArrayError::Inconsistent {
                variable: TASK_COUNT,
                ..
            }
        ),
        "{e}"
    );
    let e = task(&[
        (TASK_ID, "0"),
        (TASK_MIN, "0"),
        (TASK_MAX, "5"),
        (TASK_STEP, "2"),
    ])
    .unwrap_err();
    assert!(
        matches!(
            e,
            ArrayError::Inconsistent {
                variable: TASK_MAX,
                ..
            }
        ),
        "{e}"
    );
    let e = task(&[(TASK_ID, "0"), (TASK_MAX, "2"), (TASK_COUNT, "4")]).unwrap_err();
    assert!(
        matches!(
            e,
            ArrayError::Inconsistent {
                variable: TASK_MAX,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn shell_quoting() {
    assert_eq!(shell_quote("double-well-1d"), "double-well-1d");
    assert_eq!(shell_quote("0.5,0.4"), "0.5,0.4");
    assert_eq!(shell_quote("a b"), "'a b'");
    assert_eq!(shell_quote("it's"), r#"'it'\''s'"#);
    assert_eq!(shell_quote(""), "''");
    assert_eq!(shell_quote("$HOME"), "'$HOME'");
}

fn job() -> ArrayJob {
    ArrayJob {
        name: "quasipot-exit".into(),
        shards: 4,
        binary: "/opt/quasipot/bin/quasipot".into(),
        workdir: "/home/u/work".into(),
        dir: "/scratch/u/run 1".into(),
        run: [
            "exit",
            "double-well-1d",
            "--eps",
            "0.5",
            "--runs",
            "1000",
            "--seed",
            "7",
        ]
        .map(String::from)
        .to_vec(),
        merge: ["merge", "double-well-1d", "-q"].map(String::from).to_vec(),
        resources: Resources {
            partition: Some("short".into()),
            time: Some("1:00:00".into()),
            cpus_per_task: 2,
            max_parallel: Some(2),
            extra: vec!["--qos=low".into()],
            ..Resources::default()
        },
    }
}

#[test]
fn array_script_runs_shard_k_of_n_into_its_own_directory() {
    let s = job().array_script();
    assert!(s.starts_with("#!/bin/bash\n"), "{s}");
    for want in [
        "#SBATCH --job-name=quasipot-exit\n",
        "#SBATCH --array=0-3%2\n",
        "#SBATCH --chdir=/home/u/work\n",
        "#SBATCH --output=/scratch/u/run 1/logs/shard-%a.out\n",
        "#SBATCH --cpus-per-task=2\n",
        "#SBATCH --partition=short\n",
        "#SBATCH --time=1:00:00\n",
        "#SBATCH --qos=low\n",
        "DIR='/scratch/u/run 1'\n",
        "if [ -f \"$OUT/run.json\" ]; then RESUME=(--resume); fi\n",
        "exec /opt/quasipot/bin/quasipot exit double-well-1d --eps 0.5 --runs 1000 --seed 7 --shard \"$K/4\" --out \"$OUT\"",
        "sbatch --array=K '/scratch/u/run 1/array.sbatch'",
    ] {
        assert!(s.contains(want), "missing {want:?} in\n{s}");
    }
    assert!(!s.contains("--account") && !s.contains("--mem"), "{s}");
    // Every #SBATCH line comes before the first command (sbatch stops reading there).
    let first_cmd = s.find("set -euo").unwrap();
    assert!(s.rfind("#SBATCH").unwrap() < first_cmd, "{s}");
}

#[test]
fn merge_and_submit_scripts() {
    let j = job();
    let m = j.merge_script();
    assert!(
        m.contains("#SBATCH --job-name=quasipot-exit-merge\n"),
        "{m}"
    );
    assert!(!m.contains("--array"), "{m}");
    assert!(
        m.contains("exec /opt/quasipot/bin/quasipot merge double-well-1d -q \"$DIR/shard-0\" \"$DIR/shard-1\" \"$DIR/shard-2\" \"$DIR/shard-3\" --out \"$DIR/merged\"\n"),
        "{m}"
    );
    let s = j.submit_script();
    assert!(
        s.contains("ARRAY=$(sbatch --parsable '/scratch/u/run 1/array.sbatch')"),
        "{s}"
    );
    assert!(
        s.contains("MERGE=$(sbatch --parsable --dependency=afterok:$ARRAY '/scratch/u/run 1/merge.sbatch')"),
        "{s}"
    );
}

// ---- `--shard auto` on the command line ----

/// The array variables of task `id` of `--array=min-max`.
fn array_env(id: u64, min: u64, max: u64) -> Vec<(&'static str, String)> {
    vec![
        (TASK_ID, id.to_string()),
        (TASK_MIN, min.to_string()),
        (TASK_MAX, max.to_string()),
        (TASK_COUNT, (max - min + 1).to_string()),
        (TASK_STEP, "1".to_string()),
    ]
}

#[test]
fn shard_auto_of_a_one_based_array_merges_into_the_unsharded_run() {
    let base = tmp("auto");
    let whole = base.join("whole");
    exit_into(&whole, &[], &[]);
    // --array=1-4: tasks 1..4 run shards 0/4..3/4.
    let mut dirs = Vec::new();
    for id in 1..=4u64 {
        let d = base.join(format!("task-{id}"));
        let env = array_env(id, 1, 4);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        exit_into(&d, &["--shard", "auto"], &env);
        let m = json(&d.join("run.json"));
        assert_eq!(m["config"]["shard"]["index"], id - 1, "{m}");
        assert_eq!(m["config"]["shard"]["count"], 4, "{m}");
        dirs.push(d);
    }
    let merged = base.join("merged");
    let mut args = vec![
        "merge",
        "double-well-1d",
        "-q",
        "--json",
        "--out",
        s(&merged),
    ];
    args.extend(dirs.iter().map(|d| s(d)));
    let (code, _, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    assert_same_run(&whole, &merged);
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn shard_auto_outside_an_array_or_in_a_list_array_is_refused_naming_the_variable() {
    let base = tmp("auto-bad");
    let out = base.join("o");
    let args: Vec<&str> = RUN
        .iter()
        .copied()
        .chain(["--shard", "auto", "-q", "--out", s(&out)])
        .collect();
    let (code, _, err) = run(&args);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("Error: --shard auto: SLURM_ARRAY_TASK_ID is not set")
            && err.contains("--shard k/n"),
        "{err}"
    );
    // --array=1,3,7 is a list, not a range.
    let list = [
        (TASK_ID, "3"),
        (TASK_MIN, "1"),
        (TASK_MAX, "7"),
        (TASK_COUNT, "3"),
    ];
    let (code, _, err) = run_env(&args, &list);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("SLURM_ARRAY_TASK_COUNT") && err.contains("not a range"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    // Inside an array without --shard the whole run is done, and stderr says so.
    let env = [
        (TASK_ID, "2"),
        (TASK_MIN, "0"),
        (TASK_MAX, "3"),
        (TASK_COUNT, "4"),
    ];
    let full: Vec<&str> = RUN.iter().copied().chain(["--json"]).collect();
    let (code, _, err) = run_env(&full, &env);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("Slurm array task 2") && err.contains("--shard auto"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&base);
}

// ---- merge refuses incomplete and mixed sets ----

/// Shards k/3 of RUN in `base/shard-K` (the layout `quasipot slurm` writes).
fn three_shards(base: &Path) -> Vec<PathBuf> {
    (0..3)
        .map(|k| {
            let d = base.join(format!("shard-{k}"));
            exit_into(&d, &["--shard", &format!("{k}/3")], &[]);
            d
        })
        .collect()
}

fn merge(dirs: &[&Path], extra: &[&str]) -> (i32, String) {
    let mut args = vec!["merge", "double-well-1d"];
    args.extend(extra);
    args.extend(dirs.iter().map(|d| s(d)));
    let (code, _, err) = run(&args);
    assert!(!err.contains("panicked"), "{err}");
    (code, err)
}

#[test]
fn merge_names_a_missing_shard_and_the_exact_command_that_produces_it() {
    let base = tmp("missing");
    let d = three_shards(&base);
    let (code, err) = merge(&[&d[0], &d[2]], &[]);
    assert_eq!(code, 2, "{err}");
    let want = format!(
        "quasipot exit double-well-1d --eps 0.9,0.8 --dt 0.001 --runs 60 --seed 3 --shard 1/3 --out {}",
        base.join("shard-1").display()
    );
    assert!(
        err.starts_with(
            "Error: merge: incomplete shard set: 2 of 3 shards given, shard 1/3 missing"
        ) && err.contains(&want),
        "expected `{want}` in: {err}"
    );
    // The merge's model flags are part of the command.
    let (code, err) = merge(&[&d[0], &d[2]], &["--param", "x=1"]);
    assert_eq!(code, 2, "{err}");
    // (double-well-1d has no parameter x: the refusal is about the flag, still exit code 2.)
    assert!(err.contains("x"), "{err}");
    // Beside the array script `quasipot slurm` writes, the sbatch that re-runs the task.
    std::fs::write(base.join("array.sbatch"), "#!/bin/bash\n").unwrap();
    let (code, err) = merge(&[&d[0], &d[2]], &[]);
    assert_eq!(code, 2, "{err}");
    let sb = format!("sbatch --array=1 {}", base.join("array.sbatch").display());
    assert!(err.contains(&sb), "expected `{sb}` in: {err}");
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn merge_refuses_the_same_shard_twice() {
    let base = tmp("twice");
    let d = three_shards(&base);
    let copy = base.join("copy-of-0");
    let (code, _, err) = run(&[
        "exit",
        "double-well-1d",
        "--eps",
        "0.9,0.8",
        "--runs",
        "60",
        "--seed",
        "3",
        "--shard",
        "0/3",
        "-q",
        "--json",
        "--out",
        s(&copy),
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, err) = merge(&[&d[0], &copy, &d[1], &d[2]], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("are both shard 0/3") && err.contains("given twice"),
        "{err}"
    );
    assert!(err.contains(s(&copy)) && err.contains(s(&d[0])), "{err}");
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn merge_refuses_a_shard_of_another_seed_or_settings_naming_it_and_its_rerun() {
    let base = tmp("mixed");
    let d = three_shards(&base);
    for (tag, flags, what) in [
        (
            "seed",
            vec!["--seed", "4"],
            "the seed (--seed) differs: this run has 3, the directory has 4",
        ),
        ("eps", vec!["--eps", "0.9,0.7"], "ε (--eps) differs"),
        ("runs", vec!["--runs", "61"], "R (--runs) differs"),
        (
            "bc",
            vec!["--boundary-correction"],
            "exit detection (--boundary-correction) differs",
        ),
    ] {
        let odd = base.join(format!("odd-{tag}"));
        // RUN with one flag's value changed (or one flag added).
        let mut args: Vec<&str> = RUN.to_vec();
        for f in flags.chunks(2) {
            match args.iter().position(|a| *a == f[0]) {
                Some(i) if f.len() == 2 => args[i + 1] = f[1],
                _ => args.extend(f.iter().copied()),
            }
        }
        args.extend(["--shard", "1/3", "-q", "--json", "--out", s(&odd)]);
        let (code, _, err) = run(&args);
        assert_eq!(code, 0, "{tag}: {err}");
        let (code, err) = merge(&[&d[0], &odd, &d[2]], &[]);
        assert_eq!(code, 2, "{tag}: {err}");
        let rerun = format!(
            "re-run it as one with `quasipot exit double-well-1d --eps 0.9,0.8 --dt 0.001 --runs 60 --seed 3 --shard 1/3 --out {}`",
            odd.display()
        );
        assert!(
            err.starts_with("Error: merge: mismatched shards (1 of 3 directories")
                && err.contains(&format!(
                    "{} is not a shard of this run: {what}",
                    odd.display()
                ))
                && err.contains(&rerun),
            "{tag}: expected `{what}` and `{rerun}` in: {err}"
        );
    }
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn merge_refuses_a_shard_of_another_problem_model() {
    // quadratic-2d with C = H*: --weight inverse simulates a = H instead of H^{1/2}, a
    // different model under the same name (the fingerprint tells).
    let base = tmp("model");
    let q = |k: u64, extra: &[&str]| {
        let d = base.join(format!("q{k}"));
        let mut args = vec!["exit", "quadratic-2d", "--eps", "0.9", "--runs", "20"];
        args.extend(extra);
        let sh = format!("{k}/2");
        args.extend(["--shard", sh.as_str(), "-q", "--json", "--out", s(&d)]);
        let (code, _, err) = run(&args);
        assert_eq!(code, 0, "{err}");
        d
    };
    let a = q(0, &[]);
    let b = q(1, &["--weight", "inverse"]);
    let (code, _, err) = run(&["merge", "quadratic-2d", s(&a), s(&b)]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "{} is not a shard of this run: the problem \"quadratic-2d\" has a different model",
            b.display()
        )) && err.contains("fingerprint"),
        "{err}"
    );
    // And a shard of another problem altogether.
    let (code, _, err) = run(&["merge", "double-well-1d", s(&a), s(&b)]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            "the problem differs: this run has double-well-1d, the directory has quadratic-2d"
        ),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&base);
}

// ---- `quasipot slurm` ----

#[test]
fn slurm_subcommand_writes_scripts_that_shard_and_merge_bit_identically() {
    let base = tmp("scripts");
    let whole = base.join("whole");
    exit_into(&whole, &[], &[]);
    let dir = base.join("array");
    let mut args = vec![
        "slurm",
        "--shards",
        "4",
        "--time",
        "0:10:00",
        "--json",
        "--out",
        s(&dir),
        "--",
    ];
    args.extend(RUN);
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["shards"], 4);
    let array = std::fs::read_to_string(dir.join("array.sbatch")).unwrap();
    for want in [
        "#SBATCH --array=0-3\n",
        "#SBATCH --time=0:10:00\n",
        "#SBATCH --cpus-per-task=1\n",
        &format!("#SBATCH --output={}/logs/shard-%a.out\n", dir.display()),
        &format!(
            "{BIN} exit double-well-1d --eps 0.9,0.8 --runs 60 --seed 3 -q --threads 1 --shard \"$K/4\" --out \"$OUT\""
        ),
    ] {
        assert!(array.contains(want), "missing {want:?} in\n{array}");
    }
    let m = std::fs::read_to_string(dir.join("merge.sbatch")).unwrap();
    assert!(m.contains("#SBATCH --kill-on-invalid-dep=yes\n"), "{m}");
    assert!(
        m.contains(&format!("{BIN} merge double-well-1d -q \"$DIR/shard-0\" \"$DIR/shard-1\" \"$DIR/shard-2\" \"$DIR/shard-3\" --out \"$DIR/merged\"")),
        "{m}"
    );
    let sub = std::fs::read_to_string(dir.join("submit.sh")).unwrap();
    assert!(sub.contains("--dependency=afterok:$ARRAY"), "{sub}");
    // Run the scripts as Slurm would: each task with its SLURM_ARRAY_TASK_ID, then the merge.
    let bash =
        |script: &str, env: &[(&str, String)]| common::run_array_script(&dir, &base, script, env);
    for k in 0..4u64 {
        bash("array.sbatch", &array_env(k, 0, 3));
    }
    // A resubmitted task resumes its (complete) shard instead of refusing the directory.
    bash("array.sbatch", &array_env(2, 2, 2));
    bash("merge.sbatch", &[]);
    assert_same_run(&whole, &dir.join("merged"));
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn slurm_subcommand_refuses_what_it_cannot_shard() {
    let base = tmp("slurm-bad");
    let dir = base.join("d");
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "slurm",
                "--shards",
                "4",
                "--out",
                s(&dir),
                "--",
                "v0",
                "quadratic-2d",
            ],
            "`v0` cannot be sharded",
        ),
        (
            &[
                "slurm",
                "--shards",
                "4",
                "--out",
                s(&dir),
                "--",
                "exit",
                "double-well-1d",
                "--eps",
                "0.5",
                "--shard",
                "0/4",
            ],
            "without --shard",
        ),
        (
            &[
                "slurm",
                "--shards",
                "4",
                "--",
                "exit",
                "double-well-1d",
                "--eps",
                "0.5",
            ],
            "--out: quasipot slurm needs --out DIR",
        ),
        (
            &[
                "slurm",
                "--shards",
                "0",
                "--out",
                s(&dir),
                "--",
                "exit",
                "double-well-1d",
                "--eps",
                "0.5",
            ],
            "--shards",
        ),
        (
            &[
                "slurm",
                "--seed",
                "3",
                "--shards",
                "4",
                "--out",
                s(&dir),
                "--",
                "exit",
                "double-well-1d",
                "--eps",
                "0.5",
            ],
            "put them after `--`",
        ),
    ];
    for (args, needle) in cases {
        let (code, _, err) = run(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.starts_with("Error: ") && err.contains(needle),
            "{args:?}: expected {needle:?} in {err}"
        );
    }
    let (code, _, err) = run(&[
        "slurm",
        "--shards",
        "4",
        "--out",
        s(&dir),
        "--",
        "exit",
        "double-well-1d",
        "--eps",
        "x",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("COMMAND: `quasipot exit double-well-1d --eps x` is not a valid command"),
        "{err}"
    );
    let (code, out, _) = run(&["slurm", "--help"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("Examples:") && out.contains("--shard auto"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&base);
}

// ---- a real scheduler ----

/// Why no Slurm scheduler can take jobs here, or None when `sinfo` lists a usable node.
fn no_scheduler() -> Option<String> {
    let o = match Command::new("sinfo").args(["-h", "-o", "%T"]).output() {
        Ok(o) => o,
        Err(e) => return Some(format!("sinfo cannot be run ({e})")),
    };
    let states = String::from_utf8_lossy(&o.stdout).into_owned();
    if !o.status.success() {
        return Some(format!(
            "sinfo failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ));
    }
    if !states
        .lines()
        .any(|l| ["idle", "mix", "alloc"].iter().any(|s| l.starts_with(s)))
    {
        return Some(format!(
            "no node is idle, mixed or allocated (sinfo: {:?})",
            states.trim()
        ));
    }
    None
}

/// Run `c`, failing after `limit` (the scheduler may hold jobs pending for ever).
fn wait_for(mut c: Command, limit: Duration, what: &str) -> std::process::Output {
    let child = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let id = child.id();
    let start = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(o) => o.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").arg(id.to_string()).status();
            panic!(
                "{what} did not end within {:?} (started {:?} ago); squeue:\n{}",
                limit,
                start.elapsed(),
                Command::new("squeue")
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default()
            );
        }
    }
}

#[test]
fn real_slurm_array_of_four_shards_merges_to_the_unsharded_run() {
    if let Some(why) = no_scheduler() {
        if std::env::var("QUASIPOT_REQUIRE_SLURM").is_ok_and(|v| v == "1") {
            panic!("QUASIPOT_REQUIRE_SLURM=1 but no Slurm scheduler is reachable: {why} (start one with scripts/slurm-local.sh)");
        }
        eprintln!("skipped: no Slurm scheduler reachable: {why} (scripts/slurm-local.sh starts one; QUASIPOT_REQUIRE_SLURM=1 makes this a failure)");
        return;
    }
    let t0 = Instant::now();
    // Outside /tmp of this process's namespace? Slurm runs the jobs on this host, same files.
    let base = tmp("real");
    let whole = base.join("whole");
    exit_into(&whole, &[], &[]);
    // 1. `quasipot slurm --submit --wait`: the array job 0-3 and the merge job after it.
    let dir = base.join("array");
    let mut c = Command::new(BIN);
    c.args([
        "slurm",
        "--shards",
        "4",
        "--submit",
        "--wait",
        "--json",
        "--out",
        s(&dir),
        "--",
    ])
    .args(RUN)
    .current_dir(&base);
    let o = wait_for(
        c,
        Duration::from_secs(240),
        "quasipot slurm --submit --wait",
    );
    let log = |f: &str| std::fs::read_to_string(dir.join("logs").join(f)).unwrap_or_default();
    assert!(
        o.status.success(),
        "{}\n{}\nmerge log: {}\nshard-0 log: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
        log("merge.out"),
        log("shard-0.out")
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["merge_exit_code"], 0, "{v}");
    assert_same_run(&whole, &dir.join("merged"));
    // 2. A hand-written array --array=1-4 with `--shard auto`, merged here.
    let auto = base.join("auto");
    std::fs::create_dir_all(&auto).unwrap();
    let wrap = format!(
        "{BIN} {} --shard auto -q --threads 1 --out {}/task-$SLURM_ARRAY_TASK_ID",
        RUN.join(" "),
        auto.display()
    );
    let mut c = Command::new("sbatch");
    c.args(["--parsable", "--wait", "--array=1-4", "--cpus-per-task=1"])
        .arg(format!("--output={}/%a.out", auto.display()))
        .arg(format!("--wrap={wrap}"));
    let o = wait_for(c, Duration::from_secs(240), "sbatch --wait --array=1-4");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let merged = base.join("auto-merged");
    let dirs: Vec<PathBuf> = (1..=4).map(|i| auto.join(format!("task-{i}"))).collect();
    let mut args = vec![
        "merge",
        "double-well-1d",
        "-q",
        "--json",
        "--out",
        s(&merged),
    ];
    args.extend(dirs.iter().map(|d| s(d)));
    let (code, _, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    assert_same_run(&whole, &merged);
    eprintln!(
        "real Slurm: two arrays of 4 shards and their merges in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&base);
}
