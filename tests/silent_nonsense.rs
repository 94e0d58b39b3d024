//! Issue 12, "silent nonsense": non-finite results, singular drifts and noise that is not
//! positive definite in part of D are refused by every subcommand with one clear message
//! (exit code 2), never reported as values; a fixed-time action that cannot be resolved is
//! refused and one that did not converge is flagged.

mod common;
use std::path::PathBuf;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("quasipot-nonsense-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn problem_file(tag: &str, text: &str) -> String {
    let f = tmp(tag).join("p.toml");
    std::fs::write(&f, text).unwrap();
    f.to_str().unwrap().to_string()
}

use common::run_bin as run;

fn expect_refused(args: &[&str], needles: &[&str]) {
    let (code, out, err) = run(args);
    assert_eq!(
        code, 2,
        "{args:?}: exit code {code}\nstdout: {out}\nstderr: {err}"
    );
    assert!(err.starts_with("Error: "), "{args:?}: {err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: expected '{n}' in: {err}");
    }
    assert!(!out.contains("NaN"), "{args:?}: {out}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
}

const HUGE: &str = r#"
variables = ["x", "y"]
minimum = [0.0, 0.0]
[drift]
hessian = [[1.0, 0.0], [0.0, 2.0]]
[domain]
kind = "ball"
radius = 1e200
"#;

#[test]
fn a_huge_domain_is_an_overflow_error_in_every_engine() {
    let f = problem_file("huge", HUGE);
    for m in ["olim", "exact", "gmam"] {
        expect_refused(
            &["v0", &f, "--method", m],
            &["domain.radius", "overflow", "e200"],
        );
    }
    expect_refused(
        &["field", &f],
        &["overflow of the grid box", "domain.radius"],
    );
    expect_refused(
        &["mfpt", &f, "--eps", "0.5", "--grid", "65"],
        &["overflow of the grid box", "domain.radius"],
    );
    let g = problem_file("huge-box", &HUGE.replace("1e200", "1.0"));
    expect_refused(
        &["field", &g, "--box", "-1e150,1e150,-1,1"],
        &["--box", "overflow of the grid box"],
    );
}

const POLE: &str = r#"
variables = ["x", "y"]
minimum = [0.0, 0.0]
[drift]
field = ["-x", "-y + 0.1*y/(x-0.5)"]
[domain]
kind = "ball"
radius = 1.0
"#;

#[test]
fn a_singular_drift_inside_d_is_refused_by_every_subcommand() {
    let f = problem_file("pole", POLE);
    for args in [
        vec!["v0", &f, "--method", "gmam"],
        vec!["v0", &f, "--method", "olim"],
        vec!["path", &f],
        vec!["field", &f, "--grid", "129"],
        vec!["exit", &f, "--eps", "0.5", "--runs", "20"],
        vec!["mfpt", &f, "--eps", "0.5", "--grid", "65"],
    ] {
        expect_refused(&args, &["drift b(θ)", "inside D", "singular", "(0.5, "]);
    }
    // An undefined loss (ln of a negative number beyond x = 0.5).
    let g = problem_file(
        "ln",
        &POLE.replace(
            "field = [\"-x\", \"-y + 0.1*y/(x-0.5)\"]",
            "loss = \"x^2/2 + y^2/2 - 0.1*ln(1-2*x) - 0.2*x\"",
        ),
    );
    expect_refused(
        &["v0", &g, "--method", "olim"],
        &["drift.loss", "not finite", "inside D"],
    );
    // A double pole: no sign change, found by the peak search.
    let h = problem_file(
        "pole2",
        "variables = [\"x\"]\nminimum = [0.0]\n[drift]\nfield = [\"-x + 0.01/(x-0.5)^2 - 0.04\"]\n[domain]\nkind = \"ball\"\nradius = 1.0\n",
    );
    expect_refused(
        &["exit", &h, "--eps", "0.5", "--runs", "20"],
        &["singular near θ = (0.5)"],
    );
    // The same drift on a domain that stays clear of the pole is fine.
    let ok = problem_file("pole-clear", &POLE.replace("radius = 1.0", "radius = 0.4"));
    let (code, _, err) = run(&["v0", &ok, "--method", "gmam"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn noise_not_positive_definite_in_part_of_d_gets_one_message_from_every_subcommand() {
    let f = problem_file(
        "notpd",
        r#"
variables = ["x", "y"]
minimum = [0.0, 0.0]
[drift]
hessian = [[1.0, 0.0], [0.0, 1.0]]
[noise]
source = "field"
field = [["1 - x", "0"], ["0", "1"]]
[domain]
kind = "ball"
radius = 2.0
"#,
    );
    let mut messages = Vec::new();
    for args in [
        vec!["v0", &f],
        vec!["path", &f],
        vec!["field", &f, "--grid", "129"],
        vec!["exit", &f, "--eps", "0.5", "--runs", "20"],
        vec!["mfpt", &f, "--eps", "0.5", "--grid", "65"],
        vec!["prefactor", &f],
    ] {
        let (code, _, err) = run(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.contains("noise.field") && err.contains("not positive definite at θ = ("),
            "{args:?}: {err}"
        );
        messages.push(err);
    }
    assert!(messages.windows(2).all(|w| w[0] == w[1]), "{messages:?}");
}

#[test]
fn fixed_time_action_that_cannot_be_resolved_is_refused_and_unconverged_is_flagged() {
    let t0 = std::time::Instant::now();
    expect_refused(
        &["path", "quadratic-2d", "--time", "1e9"],
        &["--time", "cannot be resolved", "without --time"],
    );
    expect_refused(&["path", "quadratic-2d", "--time", "1e4"], &["T ≤ 4096"]);
    assert!(t0.elapsed().as_secs() < 10, "refusal must be immediate");
    // T = 2000 is resolved but MaxRounds: flagged, and --strict exits 1.
    let (code, out, err) = run(&["path", "quadratic-2d", "--time", "2000", "--strict"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("not converged  min S_T at T = 2000"), "{out}");
}
