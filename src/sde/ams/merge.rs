//! Merging the shards `k/n` of one AMS run into the report of the whole run. Shard k runs the
//! repetitions [`Shard::range`]`(M)` of every noise level and keeps each repetition's raw
//! outcome (p̂ₘ, loop and reactive durations, counts) in its report; the merge puts the
//! repetitions of all shards back in order and assembles every level exactly as the unsharded
//! run does, so the merged report is bit-identical to it (timing aside). Refusals name the
//! shard at fault and the command that produces or replaces it.

use super::replica::Repetition;
use super::run::{assemble, prepare};
use super::{Config, Report, Timing};
use crate::error::{Error, Result};
use crate::problem::Problem;
use crate::sde::merge::{check_shard_coverage, differing_fields, RerunCommand};
use crate::sde::stream::fingerprint;
use crate::sde::Shard;
use std::path::{Path, PathBuf};

/// The `quasipot exit --method ams` command line of shard `shard` of the run `config` writing
/// into `out`, for error messages.
fn ams_command(
    rr: &RerunCommand,
    problem: &str,
    config: &Config,
    shard: Shard,
    out: &str,
) -> String {
    let q = crate::slurm::shell_quote;
    let join = |v: &[f64]| v.iter().map(f64::to_string).collect::<Vec<_>>().join(",");
    let d = Config::default();
    let mut s = format!(
        "quasipot exit {}",
        q(rr.problem.as_deref().unwrap_or(problem))
    );
    for f in rr.flags.as_deref().unwrap_or_default() {
        s.push(' ');
        s.push_str(&q(f));
    }
    s.push_str(&format!(
        " --method ams --eps {} --dt {} --replicas {} --kill {} --repetitions {} --coordinate {} --loops {}",
        join(&config.eps),
        config.dt,
        config.replicas,
        config.kill,
        config.repetitions,
        config.coordinate.name(),
        config.loops
    ));
    if let Some(z) = config.z_a {
        s.push_str(&format!(" --z-a {z}"));
    }
    if config.max_iterations != d.max_iterations {
        s.push_str(&format!(" --max-iterations {}", config.max_iterations));
    }
    if config.max_steps != d.max_steps {
        s.push_str(&format!(" --max-steps {}", config.max_steps));
    }
    if config.detection == crate::sde::ExitDetection::BoundaryCorrected {
        s.push_str(" --boundary-correction");
    }
    s.push_str(&format!(
        " --seed {} --shard {}/{} --out {}",
        config.seed,
        shard.index,
        shard.count,
        q(out)
    ));
    s
}

/// What to add after a command whose model flags are unknown.
fn caveat(rr: &RerunCommand) -> &'static str {
    if rr.flags.is_some() {
        ""
    } else {
        " (and the same --weight/--param flags as the others)"
    }
}

/// The settings of `c` that differ from `base` (the shard aside), by name, for messages.
fn differing(base: &Config, c: &Config) -> Vec<String> {
    let strip = |c: &Config| {
        let mut c = c.clone();
        c.shard = None;
        serde_json::to_value(c).unwrap_or_default()
    };
    let (a, b) = (strip(base), strip(c));
    differing_fields(&a, &b)
}

/// Combine the reports of the shards of one AMS run of `problem` (`names` name them in
/// messages; `dirs`, when they are directories, say where a missing shard goes).
pub fn merge_reports(
    problem: &Problem,
    reports: &[Report],
    names: &[String],
    dirs: &[PathBuf],
    rerun: &RerunCommand,
) -> Result<Report> {
    let first = reports
        .first()
        .ok_or_else(|| Error::invalid("merge", "nothing to merge"))?;
    let mut config = first.config.clone();
    config.shard = None;
    let fp = fingerprint(problem);
    for (r, name) in reports.iter().zip(names) {
        if r.method != "ams" {
            return Err(Error::invalid(
                "merge",
                format!("{name} holds a `{}` run, not an AMS shard", r.method),
            ));
        }
        if r.fingerprint != fp {
            return Err(Error::invalid(
                "merge",
                format!(
                    "{name} was run on a different problem than {} as given (its fingerprint {}, this one {fp}): give the same problem file and --weight/--param flags",
                    problem.name, r.fingerprint
                ),
            ));
        }
        let diff = differing(&first.config, &r.config);
        if !diff.is_empty() {
            return Err(Error::invalid(
                "merge",
                format!(
                    "{name} is not a shard of the same run as {}: {}",
                    names[0],
                    diff.join(", ")
                ),
            ));
        }
    }
    let shards: Vec<Option<Shard>> = reports.iter().map(|r| r.config.shard).collect();
    check_shard_coverage(
        names,
        &shards,
        dirs,
        &|k, out| ams_command(rerun, &problem.name, &config, k, out),
        caveat(rerun),
    )?;
    for (r, name) in reports.iter().zip(names) {
        if r.interrupted {
            let out = dirs.iter().zip(names).find(|(_, n)| *n == name);
            let out = out.map_or("DIR".into(), |(d, _)| d.display().to_string());
            let shard = r.config.shard.unwrap_or(Shard { index: 0, count: 1 });
            return Err(Error::invalid(
                "merge",
                format!(
                    "{name} was interrupted (its repetitions are censored): run it again with `{}`{}, then merge again",
                    ams_command(rerun, &problem.name, &config, shard, &out),
                    caveat(rerun)
                ),
            ));
        }
    }
    let (_, z_as, mut warnings) = prepare(problem, &config)?;
    let m = config.repetitions;
    let mut levels = Vec::with_capacity(config.eps.len());
    for (l, &z_a) in z_as.iter().enumerate() {
        let mut reps: Vec<(&Repetition, usize)> = Vec::with_capacity(m);
        for (k, r) in reports.iter().enumerate() {
            let held = r.shard_repetitions.get(l).ok_or_else(|| {
                Error::invalid(
                    "merge",
                    format!(
                        "{} holds no repetitions for ε = {} (not written by a sharded run?)",
                        names[k], config.eps[l]
                    ),
                )
            })?;
            reps.extend(held.iter().map(|x| (x, k)));
        }
        reps.sort_by_key(|(x, _)| x.index);
        for w in reps.windows(2) {
            if w[0].0.index == w[1].0.index {
                return Err(Error::invalid(
                    "merge",
                    format!(
                        "{} and {} both hold repetition {} of ε = {}: the shards overlap",
                        names[w[0].1], names[w[1].1], w[0].0.index, config.eps[l]
                    ),
                ));
            }
        }
        if reps.len() != m || reps.iter().enumerate().any(|(i, (x, _))| x.index != i) {
            return Err(Error::invalid(
                "merge",
                format!(
                    "the shards hold {} of the M = {m} repetitions of ε = {}: a shard's result.json was edited or truncated",
                    reps.len(),
                    config.eps[l]
                ),
            ));
        }
        let reps: Vec<Repetition> = reps.into_iter().map(|(x, _)| x.clone()).collect();
        levels.push(assemble(&config, l, z_a, &reps, &mut warnings));
    }
    let mut timing = Timing::default();
    for r in reports {
        timing.wall_s += r.timing.wall_s;
        timing.steps += r.timing.steps;
    }
    timing.steps_per_s = timing.steps as f64 / timing.wall_s.max(1e-12);
    Ok(Report {
        config,
        levels,
        warnings,
        timing,
        interrupted: false,
        shard_repetitions: Vec::new(),
        ..first.clone()
    })
}

/// Read `dir/result.json` of an AMS shard.
pub fn read_report(dir: &Path) -> Result<Report> {
    let path = dir.join("result.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    serde_json::from_str(&text).map_err(|e| {
        Error::invalid(
            path.display().to_string(),
            format!("not the result of `quasipot exit --method ams`: {e}"),
        )
    })
}

/// Whether `dir` holds an AMS result (`result.json` with `"method": "ams"`).
pub fn is_ams_dir(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("result.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v.get("method").and_then(|m| m.as_str()) == Some("ams"))
}

/// Merge the `--out` directories of the shards of one AMS run (`quasipot merge PROBLEM DIR..`).
pub fn merge_dirs(problem: &Problem, dirs: &[PathBuf], rerun: &RerunCommand) -> Result<Report> {
    let reports = dirs
        .iter()
        .map(|d| read_report(d))
        .collect::<Result<Vec<_>>>()?;
    let names: Vec<String> = dirs
        .iter()
        .zip(&reports)
        .map(|(d, r)| match r.config.shard {
            Some(s) => format!("{} (shard {}/{})", d.display(), s.index, s.count),
            None => format!("{} (an unsharded run)", d.display()),
        })
        .collect();
    merge_reports(problem, &reports, &names, dirs, rerun)
}
