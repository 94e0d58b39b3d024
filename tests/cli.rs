//! The binary end to end: happy paths, and every bad input of issue 2 giving one clear message
//! that names the field, exit code 2, and no panic.

use std::path::PathBuf;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_quasipot"))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("quasipot-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Run with args; return (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let o = bin().args(args).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

const GOOD: &str = r#"
variables = ["x", "y"]
minimum = [0.0, 0.0]
[drift]
loss = "x^2/2 + 2*y^2"
[noise]
source = "matrix"
matrix = [[1.0, 0.2], [0.2, 0.5]]
[domain]
kind = "level-set"
depth = 0.5
"#;

/// Write GOOD with one replacement and expect failure naming `needle`.
fn expect_bad(tag: &str, from: &str, to: &str, needle: &str) {
    assert!(GOOD.contains(from), "{tag}: test setup");
    let text = GOOD.replacen(from, to, 1);
    let dir = tmp(tag);
    let f = dir.join("p.toml");
    std::fs::write(&f, text).unwrap();
    let (code, _, err) = run(&["v0", f.to_str().unwrap()]);
    assert_eq!(code, 2, "{tag}: exit code {code}, stderr: {err}");
    assert!(err.starts_with("Error: "), "{tag}: {err}");
    assert!(err.contains(needle), "{tag}: expected '{needle}' in: {err}");
    assert!(!err.contains("panicked"), "{tag}: {err}");
}

#[test]
fn good_file_runs_and_writes_json() {
    let dir = tmp("good");
    let f = dir.join("p.toml");
    std::fs::write(
        &f,
        GOOD.replace(
            "loss = \"x^2/2 + 2*y^2\"",
            "hessian = [[1.0, 0.0], [0.0, 4.0]]",
        ),
    )
    .unwrap();
    let out = dir.join("out");
    let (code, stdout, err) = run(&[
        "v0",
        f.to_str().unwrap(),
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["results"][0]["method"], "exact");
    assert!(v["results"][0]["v0"].as_f64().unwrap() > 0.0);
    assert!(out.join("result.json").exists());
}

#[test]
fn problems_lists_builtins() {
    let (code, out, _) = run(&["problems"]);
    assert_eq!(code, 0);
    for n in [
        "quadratic-2d",
        "maier-stein",
        "rotational-linear",
        "double-well-1d",
    ] {
        assert!(out.contains(n));
    }
}

#[test]
fn global_flags_a_subcommand_ignores_are_hidden_and_refused() {
    // Hidden from that subcommand's help, still shown where they are read.
    let (code, help, _) = run(&["problems", "--help"]);
    assert_eq!(code, 0);
    for flag in [
        "--seed",
        "--weight",
        "--param",
        "--threads",
        "--refine-minimum",
    ] {
        assert!(!help.contains(flag), "problems --help lists {flag}");
    }
    assert!(help.contains("--json"));
    let (_, help, _) = run(&["exit", "--help"]);
    assert!(help.contains("--seed") && help.contains("--weight"));
    let (_, help, _) = run(&["field", "--help"]);
    assert!(!help.contains("--seed") && help.contains("--weight"));
    // Given anyway, before or after the subcommand: exit 2 naming the flag, no panic.
    for args in [
        &["problems", "--seed", "3"][..],
        &["--seed", "3", "problems"],
        &["problems", "--weight", "inverse"],
        &["problems", "--param", "a=1"],
        &["problems", "--refine-minimum"],
        &["field", "rotational-linear", "--seed", "2"],
        &["v0", "quadratic-2d", "--seed=2"],
    ] {
        let (code, _, err) = run(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("does not use --"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn a_reader_closing_the_pipe_is_not_a_panic() {
    use std::io::Read;
    let mut child = bin()
        .args(["problems", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end at once, as `| head -c 0` would.
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(status.code(), Some(0), "{err}");
}

#[test]
fn hessian_shortcut_gives_both_weights() {
    let dir = tmp("shortcut");
    let h = dir.join("H.csv");
    std::fs::write(&h, "1,0\n0,4\n").unwrap();
    let (code, out, err) = run(&[
        "v0",
        "--hessian",
        h.to_str().unwrap(),
        "--depth",
        "0.5",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    // C = H*: V0 = 2ΔL λ_max^{-1/2} = 0.5 and 2ΔL/λ_max = 0.25.
    let a = v["v0"]["inverse-sqrt"]["v0"].as_f64().unwrap();
    let b = v["v0"]["inverse"]["v0"].as_f64().unwrap();
    assert!(
        (a - 0.5).abs() < 1e-12 && (b - 0.25).abs() < 1e-12,
        "{a} {b}"
    );
    assert!((v["paper"]["theorem2_term"].as_f64().unwrap() - 0.5).abs() < 1e-12);
    let (code, _, err) = run(&["v0", "--hessian", h.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("--depth"), "{err}");
}

#[test]
fn unknown_problem_name() {
    let (code, _, err) = run(&["v0", "no-such-problem"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("PROBLEM") && err.contains("quadratic-2d"),
        "{err}"
    );
}

#[test]
fn unreadable_and_malformed_files() {
    let dir = tmp("unreadable");
    let (code, _, err) = run(&["v0", dir.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    let f = dir.join("bad.toml");
    std::fs::write(&f, "minimum = [0.0,\n").unwrap();
    let (code, _, err) = run(&["v0", f.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("not a valid problem file"), "{err}");
}

#[test]
fn unknown_key() {
    expect_bad(
        "unknown-key",
        "[domain]",
        "[domain]\nradius_typo = 1.0",
        "radius_typo",
    );
}

#[test]
fn formula_errors() {
    expect_bad("parse", "x^2/2 + 2*y^2", "x^2/2 + * y", "does not parse");
    expect_bad("undeclared", "x^2/2 + 2*y^2", "x^2/2 + 2*z^2", "'z'");
}

#[test]
fn dimension_mismatches() {
    expect_bad(
        "minimum-len",
        "minimum = [0.0, 0.0]",
        "minimum = [0.0, 0.0, 0.0]",
        "minimum",
    );
    expect_bad(
        "matrix-size",
        "matrix = [[1.0, 0.2], [0.2, 0.5]]",
        "matrix = [[1.0]]",
        "noise.matrix",
    );
}

#[test]
fn bad_matrices() {
    expect_bad(
        "non-square",
        "matrix = [[1.0, 0.2], [0.2, 0.5]]",
        "matrix = [[1.0, 0.2], [0.2]]",
        "square",
    );
    expect_bad(
        "non-symmetric",
        "matrix = [[1.0, 0.2], [0.2, 0.5]]",
        "matrix = [[1.0, 0.2], [0.3, 0.5]]",
        "not symmetric",
    );
    expect_bad(
        "not-pd",
        "matrix = [[1.0, 0.2], [0.2, 0.5]]",
        "matrix = [[1.0, 2.0], [2.0, 0.5]]",
        "positive definite",
    );
}

#[test]
fn non_finite_values() {
    expect_bad(
        "nan-matrix",
        "matrix = [[1.0, 0.2], [0.2, 0.5]]",
        "matrix = [[nan, 0.2], [0.2, 0.5]]",
        "finite",
    );
    expect_bad(
        "inf-minimum",
        "minimum = [0.0, 0.0]",
        "minimum = [inf, 0.0]",
        "finite",
    );
    expect_bad("nan-depth", "depth = 0.5", "depth = nan", "domain.depth");
}

#[test]
fn minimum_not_a_minimum_or_outside() {
    expect_bad(
        "not-stationary",
        "minimum = [0.0, 0.0]",
        "minimum = [0.3, 0.0]",
        "--refine-minimum",
    );
    expect_bad(
        "saddle",
        "x^2/2 + 2*y^2",
        "x^2/2 - 2*y^2",
        "not positive definite",
    );
    expect_bad(
        "outside",
        "kind = \"level-set\"\ndepth = 0.5",
        "kind = \"half-space\"\nnormal = [1.0, 0.0]\noffset = -1.0",
        "not inside D",
    );
}

#[test]
fn refine_minimum_moves_theta_star() {
    let dir = tmp("refine");
    let f = dir.join("p.toml");
    std::fs::write(
        &f,
        GOOD.replace(
            "loss = \"x^2/2 + 2*y^2\"",
            "loss = \"(x-0.1)^2/2 + 2*y^2 + x^4\"",
        ),
    )
    .unwrap();
    let (code, _, _) = run(&["v0", f.to_str().unwrap()]);
    assert_eq!(code, 2);
    let (code, out, err) = run(&[
        "v0",
        f.to_str().unwrap(),
        "--refine-minimum",
        "--method",
        "exact",
        "--json",
    ]);
    // Refined, but the drift is non-linear, so the exact engine says it does not apply.
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("exact engine needs a linear drift"), "{err}");
}

#[test]
fn empty_or_unbounded_domains() {
    expect_bad(
        "empty-ball",
        "kind = \"level-set\"\ndepth = 0.5",
        "kind = \"ball\"\nradius = -1.0",
        "domain.radius",
    );
    expect_bad(
        "empty-box",
        "kind = \"level-set\"\ndepth = 0.5",
        "kind = \"box\"\nlo = [-1.0, 1.0]\nhi = [1.0, 0.5]",
        "box is empty",
    );
    expect_bad(
        "unbounded-level-set",
        "x^2/2 + 2*y^2",
        "0.4*x^2/(1 + x^2) + 2*y^2",
        "unbounded",
    );
}

#[test]
fn unstable_linear_drift() {
    let dir = tmp("unstable");
    let f = dir.join("p.toml");
    std::fs::write(
        &f,
        "variables = [\"x\", \"y\"]\nminimum = [0.0, 0.0]\n[drift]\nfield = [\"x + 3*y\", \"-y\"]\n[domain]\nkind = \"ball\"\nradius = 1.0\n",
    )
    .unwrap();
    let (code, _, err) = run(&["v0", f.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("not a stable equilibrium"), "{err}");
}

#[test]
fn bad_flags_name_the_flag() {
    let (code, _, err) = run(&["v0", "maier-stein", "--param", "gamma=3"]);
    assert_eq!(code, 2);
    assert!(err.contains("--param") && err.contains("beta"), "{err}");
    let (code, _, err) = run(&["v0", "quadratic-2d", "--weight", "sqrt"]);
    assert_eq!(code, 2);
    assert!(err.contains("--weight"), "{err}");
}

#[test]
fn validate_quick_reports_agreement() {
    let (code, out, err) = run(&["validate", "quadratic-2d", "--quick", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let methods: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["method"].as_str().unwrap())
        .collect();
    for m in ["exact", "gmam", "olim", "monte-carlo"] {
        assert!(methods.contains(&m), "{m} missing from {methods:?}");
    }
    assert_eq!(v["all_agree"], true, "{out}");
}

#[test]
fn exit_runs_and_rejects_bad_noise_levels() {
    let (code, out, err) = run(&[
        "exit",
        "double-well-1d",
        "--eps",
        "0.9",
        "--runs",
        "40",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["levels"][0]["exited"].as_u64().unwrap() + v["levels"][0]["censored"].as_u64().unwrap(),
        40
    );
    let (code, _, err) = run(&["exit", "double-well-1d", "--eps", "-0.5"]);
    assert_eq!(code, 2);
    assert!(err.contains("--eps"), "{err}");
    let (code, _, err) = run(&["exit", "double-well-1d", "--eps", "0.5", "--runs", "0"]);
    assert_eq!(code, 2);
    assert!(err.contains("--runs"), "{err}");
}

#[test]
fn field_and_path_reject_bad_targets() {
    // d = 3 runs the 3-D solver (tests/olim3d.rs); d = 1 has no grid solver.
    let (code, _, err) = run(&["field", "double-well-1d"]);
    assert_eq!(code, 2);
    assert!(err.contains("gmam"), "{err}");
    let (code, _, err) = run(&["path", "maier-stein", "--to", "0.5,0"]);
    assert_eq!(code, 2);
    assert!(err.contains("--to"), "{err}");
    let (code, _, err) = run(&["path", "maier-stein", "--to", "0.5"]);
    assert_eq!(code, 2);
    assert!(err.contains("--to"), "{err}");
}

/// `field --interpolation` reaches the solver and the JSON says which form ran: on the
/// manufactured case at N = 257 the published linear form's ERMS is several times the default
/// quadratic form's (measured 1.93e-4 vs 2.47e-5).
#[test]
fn field_interpolation_flag_selects_the_form() {
    let erms = |form: &str| {
        let (code, out, err) = run(&[
            "field",
            "manufactured-anisotropic",
            "--grid",
            "257",
            "--no-error-estimate",
            "--interpolation",
            form,
            "--json",
            "--quiet",
        ]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["interpolation"], form, "{out}");
        v["errors"]["error_rms"].as_f64().unwrap()
    };
    let (quad, lin) = (erms("quadratic"), erms("linear"));
    assert!(3.0 * quad < lin, "quadratic {quad} vs linear {lin}");
    let (code, _, err) = run(&[
        "field",
        "manufactured-anisotropic",
        "--interpolation",
        "cubic",
    ]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn prefactor_prints_the_formula_and_exit_reports_the_prediction_per_level() {
    let (code, out, err) = run(&["prefactor", "double-well-1d", "--eps", "0.3,0.2", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["prediction"]["status"], "applicable");
    assert_eq!(v["prediction"]["kappa"], 0.0);
    // (π/√2)·e^{0.5/0.09} at ε = 0.3.
    let want = std::f64::consts::PI / 2f64.sqrt() * (0.5f64 / 0.09).exp();
    let got = v["levels"][0]["predicted_mean_exit_time"].as_f64().unwrap();
    assert!((got / want - 1.0).abs() < 1e-6, "{got} vs {want}");
    // Not applicable: a reason, exit code 0, no number.
    let (code, out, _) = run(&["prefactor", "manufactured-anisotropic", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["prediction"]["status"], "not-applicable");
    assert!(v.get("levels").is_none());
    let (code, _, err) = run(&["prefactor", "double-well-1d", "--eps", "-1"]);
    assert_eq!(code, 2);
    assert!(err.contains("--eps"), "{err}");
    // exit: the SGD parametrisation predicts for the chain (κ = −1) and fits with it.
    let (code, out, err) = run(&[
        "exit",
        "quadratic-2d",
        "--lr",
        "0.05",
        "--batch",
        "0.4,0.5",
        "--runs",
        "50",
        "--json",
        "-q",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["prediction"]["kappa"], -1.0);
    assert_eq!(v["config"]["prefactor_exponent"], -1.0);
    assert!(v["levels"][1]["predicted_mean_exit_time"].as_f64().unwrap() > 0.0);
}

/// `quasipot exit` on a run long enough to be stopped half-way (a few seconds in release mode).
fn long_exit(dir: &std::path::Path, resume: bool) -> Command {
    let mut c = bin();
    c.args([
        "exit",
        "double-well-1d",
        "--eps",
        "0.6",
        "--dt",
        "1e-2",
        "--runs",
        "100000",
        "--threads",
        "2",
        "-q",
        "--json",
        "--out",
    ])
    .arg(dir)
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped());
    if resume {
        c.arg("--resume");
    }
    c
}

fn file_len(p: &std::path::Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

/// Start `cmd`, wait until `stream` is at least `grow` bytes longer than now (or `wait_ms`
/// passed, whichever first), then stop it with `signal` (None: SIGKILL). Returns the exit code
/// (None when killed by a signal) and whether it was still running when stopped.
fn stop_after(
    mut cmd: Command,
    stream: &std::path::Path,
    grow: u64,
    wait_ms: u64,
    signal: Option<&str>,
) -> (Option<i32>, bool) {
    let start = file_len(stream);
    let t0 = std::time::Instant::now();
    let mut child = cmd.spawn().unwrap();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return (st.code(), false);
        }
        if file_len(stream) >= start + grow || t0.elapsed().as_millis() as u64 >= wait_ms {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    match signal {
        // `Child::kill` is SIGKILL on unix: no handler runs, nothing is flushed.
        None => child.kill().unwrap(),
        Some(sig) => {
            let ok = Command::new("kill")
                .args([sig, &child.id().to_string()])
                .status()
                .unwrap();
            assert!(ok.success());
        }
    }
    let st = child.wait().unwrap();
    (st.code(), true)
}

/// The file up to and including its last newline.
fn complete_prefix(p: &std::path::Path) -> Vec<u8> {
    let b = std::fs::read(p).unwrap();
    let end = b.iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
    b[..end].to_vec()
}

/// Tear the last complete row inside its last number, as a kill mid-write would.
fn tear_last_row(p: &std::path::Path) {
    let b = complete_prefix(p);
    let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
    f.set_len(b.len() as u64 - 4).unwrap();
}

fn result(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).unwrap()).unwrap()
}

#[test]
fn killed_and_interrupted_exit_runs_resume_to_the_uninterrupted_result() {
    let whole = tmp("kill-whole");
    let _ = std::fs::remove_dir_all(&whole);
    let o = long_exit(&whole, false).output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let dir = tmp("kill-cut");
    let _ = std::fs::remove_dir_all(&dir);
    let stream = dir.join("trajectories.csv");

    // Ctrl-C: partial results written, exit code 3, termination "interrupted".
    let (code, running) = stop_after(
        long_exit(&dir, false),
        &stream,
        40_000,
        20_000,
        Some("-INT"),
    );
    assert!(running, "the run finished before it could be interrupted");
    assert_eq!(code, Some(3));
    let r = result(&dir);
    assert_eq!(r["termination"], "interrupted");
    assert!(r["levels"][0]["not_run"].as_u64().unwrap() > 0);

    // SIGTERM (what Slurm sends at a job's time limit) during a resume: the same clean stop.
    let (code, running) = stop_after(
        long_exit(&dir, true),
        &stream,
        40_000,
        20_000,
        Some("-TERM"),
    );
    assert!(running, "the resume finished before it could be terminated");
    assert_eq!(code, Some(3));
    let r = result(&dir);
    assert_eq!(r["termination"], "interrupted");
    let summarised = r["stream"]["rows"].as_u64().unwrap();

    // SIGKILL at several moments of resumes: early (while repairing and starting) and late;
    // each time every complete row on disk before the resume must still be there, in place.
    for (grow, wait_ms, tear) in [
        (1 << 40, 30, true),
        (300_000, 20_000, false),
        (1_500_000, 20_000, true),
    ] {
        if tear {
            tear_last_row(&stream);
        }
        let before = complete_prefix(&stream);
        let (code, running) = stop_after(long_exit(&dir, true), &stream, grow, wait_ms, None);
        assert!(running, "the resume finished before it was killed");
        assert_eq!(code, None);
        let after = std::fs::read(&stream).unwrap();
        assert!(
            after.starts_with(&before),
            "a killed resume lost or rewrote rows ({} bytes before, {} after)",
            before.len(),
            after.len()
        );
    }
    assert!(
        complete_prefix(&stream)
            .iter()
            .filter(|&&c| c == b'\n')
            .count() as u64
            > summarised + 1,
        "result.json should now be older than the stream"
    );

    // The last resume repairs the torn row and completes the run: bit-identical to the run
    // that was never stopped.
    tear_last_row(&stream);
    let o = long_exit(&dir, true).output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (a, b) = (result(&whole), result(&dir));
    assert_eq!(b["termination"], "completed");
    assert_eq!(
        a["levels"][0]["stats"]["mean"],
        b["levels"][0]["stats"]["mean"]
    );
    assert_eq!(a["levels"][0]["runs"], b["levels"][0]["runs"]);
    let rows = |d: &std::path::Path| std::fs::read(d.join("exit_trajectories.csv")).unwrap();
    assert!(rows(&whole) == rows(&dir), "per-trajectory rows differ");
    let w = b["warnings"].to_string();
    assert!(w.contains("torn") && w.contains("cut off"), "{w}");
    assert!(w.contains("result.json was stale"), "{w}");
    let _ = std::fs::remove_dir_all(&whole);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn merge_of_an_incomplete_shard_set_is_refused_with_exit_code_2() {
    let dirs: Vec<PathBuf> = (0..3).map(|k| tmp(&format!("merge-set{k}"))).collect();
    for (k, d) in dirs.iter().enumerate() {
        let _ = std::fs::remove_dir_all(d);
        let shard = format!("{k}/3");
        let (code, _, err) = run(&[
            "exit",
            "double-well-1d",
            "--eps",
            "0.9",
            "--runs",
            "30",
            "--shard",
            &shard,
            "-q",
            "--json",
            "--out",
            d.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
    }
    let (code, _, err) = run(&[
        "merge",
        "double-well-1d",
        dirs[0].to_str().unwrap(),
        dirs[2].to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("Error: merge: incomplete shard set"),
        "{err}"
    );
    assert!(
        err.contains("shard 1/3 missing") && err.contains("--shard 1/3 --out DIR"),
        "{err}"
    );
    let all: Vec<&str> = dirs.iter().map(|d| d.to_str().unwrap()).collect();
    let (code, _, err) = run(&[&["merge", "double-well-1d", "--json"], &all[..]].concat());
    assert_eq!(code, 0, "{err}");
    for d in &dirs {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// `--threads` beyond the cores is capped (with a note), not obeyed with 1e5 workers.
#[test]
fn threads_beyond_the_cores_are_capped() {
    let start = std::time::Instant::now();
    let (code, out, err) = run(&[
        "--threads",
        "100000",
        "v0",
        "quadratic-2d",
        "--method",
        "exact",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1.000000"), "{out}");
    assert!(
        err.contains("is more than the") && err.contains("using"),
        "{err}"
    );
    assert!(start.elapsed().as_secs() < 20);
}

/// Ctrl-C during `exit --method ams` exits with code 3 (interrupted), like a direct run, and
/// still prints its report.
#[test]
fn interrupted_ams_run_exits_with_code_3() {
    let child = bin()
        .args([
            "exit",
            "double-well-1d",
            "--eps",
            "0.1",
            "--method",
            "ams",
            "--replicas",
            "2000",
            "--repetitions",
            "1000",
            "-q",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let js: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(js.is_object());
}

/// A negative number after a flag is that flag's value (and refused by name), not an unknown
/// argument; a bad base --eta is named as such, not as the --values derived from it; `--help`
/// shows E[τ], not the rustdoc escape E\[τ\].
#[test]
fn negative_values_and_derived_flags_are_named_and_help_is_unescaped() {
    let (code, _, err) = run(&[
        "exit",
        "quadratic-2d",
        "--eps",
        "0.5",
        "--dt",
        "-0.01",
        "-q",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--dt") && err.contains("-0.01"), "{err}");
    let (code, _, err) = run(&["scaling", "quadratic-2d", "--vary", "lr", "--eta=-1", "-q"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--eta") && !err.contains("--values"), "{err}");
    for args in [
        vec!["--help"],
        vec!["exit", "--help"],
        vec!["mfpt", "--help"],
    ] {
        let (code, out, _) = run(&args);
        assert_eq!(code, 0);
        assert!(!out.contains("\\["), "{args:?}: {out}");
    }
}

/// Flags that scale an allocation beyond any machine's memory are refused before allocating,
/// with the estimate, the memory available and the largest value that fits (they used to abort
/// with "memory allocation failed", exit 134, or pass a fixed size check).
#[test]
fn allocations_beyond_memory_are_refused_with_the_estimate() {
    let expect = |args: &[&str], prefix: &str, needles: &[&str]| {
        let start = std::time::Instant::now();
        let (code, _, err) = run(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.starts_with(prefix), "{args:?}: {err}");
        for n in needles {
            assert!(err.contains(n), "{args:?}: expected '{n}' in: {err}");
        }
        assert!(
            !err.contains("panicked") && !err.contains("allocation"),
            "{err}"
        );
        // Refused up front, not after trying.
        assert!(
            start.elapsed().as_secs() < 30,
            "{args:?} took {:?}",
            start.elapsed()
        );
    };
    // 2e6² nodes: about 90 TiB of grid arrays.
    expect(
        &["field", "rotational-linear", "--grid", "2000000"],
        "Error: --grid: 2000000: the OLIM grid needs about ",
        &[
            "TiB (2000010² padded nodes × 17.25 bytes",
            "is available; use --grid ≤ ",
        ],
    );
    expect(
        &["mfpt", "quadratic-2d", "--eps", "0.5", "--grid", "2000001"],
        "Error: --grid: 2000001: the generator solve",
        &["TiB (2000001² nodes × ", "is available; use --grid ≤ "],
    );
    // 1e12 trajectories: hundreds of TiB of records.
    expect(
        &[
            "exit",
            "double-well-1d",
            "--eps",
            "0.5",
            "--runs",
            "1000000000000",
            "-q",
        ],
        "Error: --runs: 1000000000000: the Monte Carlo run",
        &[
            "TiB (1000000000000 trajectories × 1 noise level in d = 1",
            "use --runs ≤ ",
        ],
    );
    expect(
        &[
            "exit",
            "double-well-1d",
            "--eps",
            "0.5",
            "--runs",
            "1000000000000",
            "--shard",
            "0/2",
            "-q",
        ],
        "Error: --runs: 1000000000000: the Monte Carlo run",
        &["500000000000 trajectories in this shard", "use more shards"],
    );
    expect(
        &[
            "scaling",
            "quadratic-2d",
            "--vary",
            "batch",
            "--runs",
            "1000000000000",
            "-q",
        ],
        "Error: --runs: 1000000000000: one point's ensemble needs about ",
        &["TiB (1000000000000 runs × 120 bytes", "use --runs ≤ "],
    );
    // A .npy header announcing a 2e6×2e6 Hessian (32 TB of data) that is not there: refused from
    // the header alone, by the shortcut and by a problem file that names it.
    let dir = tmp("huge-npy");
    let f = dir.join("H.npy");
    let mut header =
        b"{'descr': '<f8', 'fortran_order': False, 'shape': (2000000, 2000000), }".to_vec();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header);
    std::fs::write(&f, bytes).unwrap();
    let fs = f.to_str().unwrap();
    expect(
        &["v0", "--hessian", fs, "--depth", "0.5"],
        "Error: --hessian: ",
        &[
            "the 2000000×2000000 matrix needs about",
            "TiB (26 copies",
            "use a smaller matrix",
        ],
    );
    let toml = dir.join("p.toml");
    std::fs::write(
        &toml,
        "[drift]\nhessian_file = \"H.npy\"\n[domain]\nkind = \"level-set\"\ndepth = 0.5\n",
    )
    .unwrap();
    expect(
        &["v0", toml.to_str().unwrap()],
        "Error: drift.hessian_file: ",
        &["the 2000000×2000000 matrix needs about", "(3 copies"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A run refused for memory leaves nothing behind: `--out` is created only after the check.
#[test]
fn a_run_refused_for_memory_does_not_create_its_output_directory() {
    let dir = tmp("refused-out").join("run");
    let (code, _, err) = run(&[
        "exit",
        "double-well-1d",
        "--eps",
        "0.5",
        "--runs",
        "1000000000000",
        "--out",
        dir.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("use --runs ≤ "), "{err}");
    assert!(!dir.exists(), "{} was created", dir.display());
}

/// AMS with more live replicas than memory (≥ 64 repetitions at once × 2²⁴ − 1 replicas ×
/// ~136 bytes ≈ 146 GiB on 2 threads) is refused up front, naming --replicas and a count that
/// fits, and creates no output directory.
#[test]
fn ams_replicas_beyond_memory_are_refused_before_allocation() {
    let dir = tmp("refused-ams").join("run");
    let (code, _, err) = run(&[
        "exit",
        "double-well-1d",
        "--method",
        "ams",
        "--eps",
        "0.3",
        "--replicas",
        "16777215",
        "--repetitions",
        "100000",
        "--out",
        dir.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--replicas") && err.contains("use --replicas ≤ "),
        "{err}"
    );
    assert!(!dir.exists(), "{} was created", dir.display());
}
