//! Merging shards `k/n` of one run into the report of the whole run: completeness (every shard
//! once, none missing, none unfinished) and consistency (one problem fingerprint, one set of
//! settings, one seed), with every refusal naming the directory at fault and the command that
//! produces or completes it.

// `!(a < b)` is deliberate: NaN counts as "outside"/"degenerate".
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use super::ensemble::{assemble, check_memory, meta, Meta};
use super::kernel::{Status, Trajectory};
use super::stream::{scan, stale_results, Manifest, STREAM};
use super::{Config, Report, Shard, Stiffness, Termination, Timing};
use crate::error::{Error, Result};
use crate::problem::Problem;
use std::path::{Path, PathBuf};

fn union(
    parts: Vec<Vec<Vec<Trajectory>>>,
    levels: usize,
    what: &[String],
) -> Result<Vec<Vec<Trajectory>>> {
    let mut all: Vec<Vec<(Trajectory, usize)>> = vec![Vec::new(); levels];
    for (k, part) in parts.into_iter().enumerate() {
        for (l, ts) in part.into_iter().enumerate() {
            all[l].extend(ts.into_iter().map(|t| (t, k)));
        }
    }
    let mut out = Vec::with_capacity(levels);
    for v in all.iter_mut() {
        v.sort_by_key(|(t, _)| t.index);
        for w in v.windows(2) {
            if w[0].0.index == w[1].0.index {
                return Err(Error::invalid(
                    "merge",
                    format!(
                        "{} and {} both hold trajectory {}: the shards overlap",
                        what[w[0].1], what[w[1].1], w[0].0.index
                    ),
                ));
            }
        }
        out.push(v.drain(..).map(|(t, _)| t).collect());
    }
    Ok(out)
}

/// Combine the reports of shards `k/n` of one run into the report of the whole run (identical,
/// apart from `timing`, to what a single unsharded run gives). Refuses reports of different
/// runs, overlapping shards, an incomplete set of shards (naming the missing shards k/n and the
/// command that produces them) and a shard that did not complete (interrupted).
pub fn merge_reports(reports: &[Report]) -> Result<Report> {
    let first = reports
        .first()
        .ok_or_else(|| Error::invalid("merge", "nothing to merge"))?;
    let mut config = first.config.clone();
    config.shard = None;
    for r in reports {
        let mut c = r.config.clone();
        c.shard = None;
        if r.fingerprint != first.fingerprint || r.problem != first.problem || c != config {
            return Err(Error::invalid(
                "merge",
                format!(
                    "the reports are not shards of one run (problem {} vs {}, or different settings)",
                    first.problem, r.problem
                ),
            ));
        }
    }
    let names: Vec<String> = reports
        .iter()
        .map(|r| {
            r.config.shard.map_or("an unsharded report".into(), |s| {
                format!("shard {}/{}", s.index, s.count)
            })
        })
        .collect();
    let shards: Vec<Option<Shard>> = reports.iter().map(|r| r.config.shard).collect();
    let rr = RerunCommand::default();
    let rerun = rr.with(&first.problem);
    check_shard_coverage(
        &names,
        &shards,
        &[],
        &|k, out| exit_command(&rerun, &first.config, Some(k), out, false),
        rerun.caveat(),
    )?;
    // A shard that stopped early would leave its indices out of the merged statistics.
    for (r, name) in reports.iter().zip(&names) {
        if r.termination != Termination::Completed {
            return Err(Error::invalid(
                "merge",
                format!(
                    "{name} is incomplete (termination {:?}): complete it with `{}`, then merge again",
                    r.termination,
                    exit_command(&rr.with(&first.problem), &r.config, r.config.shard, "DIR", true)
                ),
            ));
        }
    }
    let parts = reports.iter().map(|r| r.trajectories.clone()).collect();
    let all = union(parts, config.eps.len(), &names)?;
    let meta = Meta {
        problem: first.problem.clone(),
        fingerprint: first.fingerprint.clone(),
        dim: first.dim,
        weight: first.weight.clone(),
        noise_source: first.noise_source.clone(),
        sigma: first.sigma.clone(),
        domain: first.domain.clone(),
        stiffness: first.stiffness.clone(),
        v0_reference: first.v0_reference.clone(),
    };
    let timing = sum_timing(reports.iter().map(|r| &r.timing));
    let warnings = base_warnings(&config, &meta.stiffness);
    assemble(&meta, config.clone(), all, config.runs, timing, warnings)
}

fn sum_timing<'a>(t: impl Iterator<Item = &'a Timing>) -> Timing {
    let mut s = Timing::default();
    for x in t {
        s.wall_s += x.wall_s;
        s.steps += x.steps;
    }
    s.steps_per_s = s.steps as f64 / s.wall_s.max(1e-12);
    s
}

fn base_warnings(config: &Config, st: &Stiffness) -> Vec<String> {
    let mut w = Vec::new();
    if config.dt > 0.1 * st.h_max {
        w.push(format!(
            "h = {} is more than a tenth of the stability bound 2/ρ(J(θ*)) = {:.4e}: the O(h) discretisation bias of the exit time may be large",
            config.dt, st.h_max
        ));
    }
    w
}

/// The settings that differ between two shards' settings objects (JSON), by name: `key = b's
/// value (the others: a's)`, for `merge`'s refusals.
pub(crate) fn differing_fields(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return vec!["settings".into()];
    };
    a.iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, v)| {
            format!(
                "{k} = {} (the others: {v})",
                b.get(k).cloned().unwrap_or_default()
            )
        })
        .collect()
}

/// How `merge` spells, in its messages, the command that produces or completes a shard.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RerunCommand {
    /// PROBLEM as it was given on the command line (a built-in name or a file path); default the
    /// problem's name.
    pub problem: Option<String>,
    /// The flags besides PROBLEM that chose the model (`--weight`, `--param`,
    /// `--refine-minimum`), appended to every command; `None` when unknown, and the messages then
    /// ask for the same flags as the other shards.
    pub flags: Option<Vec<String>>,
}

/// [`RerunCommand`] resolved against the problem's name.
struct Rerun<'a> {
    problem: &'a str,
    flags: Option<&'a [String]>,
}

impl RerunCommand {
    fn with<'a>(&'a self, name: &'a str) -> Rerun<'a> {
        Rerun {
            problem: self.problem.as_deref().unwrap_or(name),
            flags: self.flags.as_deref(),
        }
    }
}

impl Rerun<'_> {
    /// What to add after a command whose model flags are unknown.
    pub(crate) fn caveat(&self) -> &'static str {
        if self.flags.is_some() {
            ""
        } else {
            " (and the same --weight/--param flags as the others)"
        }
    }
}

/// The `quasipot exit` command line that produces (or with `resume` completes) shard `shard` of
/// the run `config` in `out`, for error messages.
fn exit_command(
    rr: &Rerun,
    config: &Config,
    shard: Option<Shard>,
    out: &str,
    resume: bool,
) -> String {
    let join = |v: &[f64]| v.iter().map(f64::to_string).collect::<Vec<_>>().join(",");
    let mut s = format!("quasipot exit {}", crate::slurm::shell_quote(rr.problem));
    for f in rr.flags.unwrap_or_default() {
        s.push(' ');
        s.push_str(&crate::slurm::shell_quote(f));
    }
    match &config.sgd {
        Some(sgd) => s.push_str(&format!(" --lr {} --batch {}", sgd.lr, join(&sgd.batch))),
        None => s.push_str(&format!(" --eps {} --dt {}", join(&config.eps), config.dt)),
    }
    s.push_str(&format!(" --runs {} --seed {}", config.runs, config.seed));
    if config.max_steps != Config::default().max_steps {
        s.push_str(&format!(" --max-steps {}", config.max_steps));
    }
    if config.detection == super::ExitDetection::BoundaryCorrected {
        s.push_str(" --boundary-correction");
    }
    if let Some(k) = shard {
        s.push_str(&format!(" --shard {}/{}", k.index, k.count));
    }
    s.push_str(&format!(" --out {}", crate::slurm::shell_quote(out)));
    if resume {
        s.push_str(" --resume");
    }
    s
}

/// Where shard k of a set of directories named `P/shard-K` (as `quasipot slurm` writes them)
/// belongs, and the `sbatch` command that re-runs it when `P` holds the array script.
fn sibling_dir(
    dirs: &[PathBuf],
    shards: &[Option<Shard>],
    k: u64,
) -> Option<(String, Option<String>)> {
    let mut parent: Option<&Path> = None;
    for (d, s) in dirs.iter().zip(shards) {
        let s = (*s)?;
        if d.file_name()?.to_str()? != format!("shard-{}", s.index) {
            return None;
        }
        let p = d.parent()?;
        if parent.is_some_and(|q| q != p) {
            return None;
        }
        parent = Some(p);
    }
    let p = parent?;
    let dir = p.join(format!("shard-{k}")).display().to_string();
    let script = p.join(crate::slurm::ARRAY_SCRIPT);
    let sbatch = script.exists().then(|| {
        format!(
            "sbatch --array={k} {}",
            crate::slurm::shell_quote(&script.display().to_string())
        )
    });
    Some((dir, sbatch))
}

/// Refuse a set of shards that does not cover the run `config`: shards of different splits, an
/// unsharded run mixed with shards, a shard given twice, or missing shards (named k/n with the
/// command that produces them). `names` name the shards in messages; `dirs` (when they are
/// directories) let the messages say where a missing shard goes; `command(k, DIR)` spells the
/// command that writes shard k into DIR, `caveat` what to add to it (Monte Carlo and AMS runs
/// share this check).
pub(crate) fn check_shard_coverage(
    names: &[String],
    shards: &[Option<Shard>],
    dirs: &[PathBuf],
    command: &dyn Fn(Shard, &str) -> String,
    caveat: &str,
) -> Result<()> {
    let Some(n) = shards.iter().flatten().map(|s| s.count).next() else {
        // Unsharded runs: one is the whole run; two would overlap (refused by `union`).
        return Ok(());
    };
    let mut by_index: Vec<Option<&String>> = vec![None; n as usize];
    for (d, s) in names.iter().zip(shards) {
        let Some(s) = s else {
            return Err(Error::invalid(
                "merge",
                format!(
                    "{} is a whole (unsharded) run and cannot be merged with shards k/{n}",
                    d
                ),
            ));
        };
        if s.count != n {
            return Err(Error::invalid(
                "merge",
                format!(
                    "{} is shard {}/{} but the other shards are k/{n}: they split the run differently",
                    d,
                    s.index,
                    s.count
                ),
            ));
        }
        if s.index >= n {
            return Err(Error::invalid(
                "merge",
                format!(
                    "{d} claims to be shard {}/{n}, which does not exist (k < n)",
                    s.index
                ),
            ));
        }
        if let Some(other) = by_index[s.index as usize].replace(d) {
            return Err(Error::invalid(
                "merge",
                format!(
                    "{} and {} are both shard {}/{n}: the same shard was given twice (drop one of them; a full set has each of 0/{n} .. {}/{n} once)",
                    other,
                    d,
                    s.index,
                    n - 1
                ),
            ));
        }
    }
    let missing: Vec<u64> = (0..n).filter(|&k| by_index[k as usize].is_none()).collect();
    if let Some(&k) = missing.first() {
        let list: Vec<String> = missing.iter().map(|k| format!("{k}/{n}")).collect();
        let sibling = sibling_dir(dirs, shards, k);
        let out = sibling
            .as_ref()
            .map_or("DIR".to_string(), |(d, _)| d.clone());
        let sbatch = sibling
            .and_then(|(_, s)| s)
            .map(|s| format!(" (or, in the Slurm array that wrote the others, `{s}`)"))
            .unwrap_or_default();
        return Err(Error::invalid(
            "merge",
            format!(
                "incomplete shard set: {} of {n} shards given, shard{} {} missing; produce {} with `{}`{}{sbatch}, then merge all {n} directories",
                n as usize - missing.len(),
                if missing.len() == 1 { "" } else { "s" },
                list.join(", "),
                if missing.len() == 1 { "it" } else { "each (K = the shard's k)" },
                command(Shard { index: k, count: n }, &out),
                caveat,
            ),
        ));
    }
    Ok(())
}

/// The settings most of `manifests` share (the shard aside; the first of equally common ones):
/// the run the odd ones out are measured against.
fn majority(manifests: &[Manifest]) -> Config {
    let strip = |m: &Manifest| {
        let mut c = m.config.clone();
        c.shard = None;
        c
    };
    let configs: Vec<Config> = manifests.iter().map(strip).collect();
    let mut best = 0;
    let mut best_n = 0;
    for (i, c) in configs.iter().enumerate() {
        let n = configs.iter().filter(|x| *x == c).count();
        if n > best_n {
            best = i;
            best_n = n;
        }
    }
    configs[best].clone()
}

/// Merge the `--out` directories of the shards of one run (`quasipot merge DIR..`): reads each
/// `run.json` and `trajectories.csv`, checks they belong to one run of `problem`, and returns
/// the report of the whole run (per-trajectory data included, ready for [`super::write_files`]).
/// [`merge_dirs_with`] with the rerun commands spelt from the problem's name.
pub fn merge_dirs(problem: &Problem, dirs: &[PathBuf]) -> Result<Report> {
    merge_dirs_with(problem, dirs, &RerunCommand::default())
}

/// [`merge_dirs`], with the commands in messages spelt as `rerun` says.
///
/// Errors (each naming the directory, what differs or is missing, and the command that
/// produces or completes the shard): a directory that is no exit run; a shard of another problem
/// (name or model fingerprint), seed or settings than the others (every such directory is
/// listed); shards of different splits; a shard given twice; an incomplete shard set (naming the
/// missing shards k/n); a shard that is itself incomplete (interrupted or killed; its
/// `--resume`). A `result.json` in a shard directory that summarises fewer rows than its stream
/// holds is reported as stale.
pub fn merge_dirs_with(
    problem: &Problem,
    dirs: &[PathBuf],
    rerun: &RerunCommand,
) -> Result<Report> {
    if dirs.is_empty() {
        return Err(Error::invalid("merge", "give at least one directory"));
    }
    let rr = rerun.with(&problem.name);
    let mut manifests = Vec::with_capacity(dirs.len());
    let mut unreadable = Vec::new();
    for d in dirs {
        match Manifest::read(d) {
            Ok(m) => manifests.push(m),
            Err(e) => unreadable.push(format!(
                "{}: not the --out directory of a `quasipot exit` run ({e})",
                d.display()
            )),
        }
    }
    if !unreadable.is_empty() {
        return Err(Error::invalid("merge", unreadable.join("; ")));
    }
    // The problem is the one given to merge; the settings are those most shards share.
    let reference = majority(&manifests);
    let against = Manifest::new(problem, &reference);
    let mut odd = Vec::new();
    for (d, m) in dirs.iter().zip(&manifests) {
        // The problem first (against the shard's own settings), then the settings.
        let why = Manifest::new(problem, &m.config)
            .mismatch(m, false)
            .or_else(|| against.mismatch(m, false));
        if let Some(why) = why {
            odd.push(format!(
                "{} is not a shard of this run: {why}; re-run it as one with `{}`{}",
                d.display(),
                exit_command(
                    &rr,
                    &reference,
                    m.config.shard,
                    &d.display().to_string(),
                    false
                ),
                rr.caveat()
            ));
        }
    }
    if !odd.is_empty() {
        let others = if dirs.len() > odd.len() {
            format!(
                " ({} of {} directories; the run is that of the other {})",
                odd.len(),
                dirs.len(),
                dirs.len() - odd.len()
            )
        } else {
            String::new()
        };
        return Err(Error::invalid(
            "merge",
            format!("mismatched shards{others}: {}", odd.join("; ")),
        ));
    }
    let shards: Vec<Option<Shard>> = manifests.iter().map(|m| m.config.shard).collect();
    let names: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    check_shard_coverage(
        &names,
        &shards,
        dirs,
        &|k, out| exit_command(&rr, &manifests[0].config, Some(k), out, false),
        rr.caveat(),
    )?;
    let mut config = manifests[0].config.clone();
    config.shard = None;
    check_memory(&config, problem.dim(), true)?;
    let levels = config.eps.len();
    let mut parts = Vec::with_capacity(dirs.len());
    let mut warnings = Vec::new();
    for (d, m) in dirs.iter().zip(&manifests) {
        let range = m
            .config
            .shard
            .map_or(0..config.runs, |s| s.range(config.runs));
        let sc = scan(d, levels, problem.dim(), range.clone())?;
        let (ts, _) = sc.trajectories(levels, false);
        // A shard must hold a finished row for every index of its range at every level.
        let want = range.end - range.start;
        let short: u64 = ts
            .iter()
            .map(|v| want - v.iter().filter(|t| t.status != Status::Interrupted).count() as u64)
            .sum();
        let resume = exit_command(
            &rr,
            &m.config,
            m.config.shard,
            &d.display().to_string(),
            true,
        );
        if short > 0 {
            return Err(Error::invalid(
                "merge",
                format!(
                    "{} is incomplete ({short} of {} trajectories missing or interrupted{}): complete it with `{resume}`{}, then merge again",
                    d.display(),
                    want * levels as u64,
                    if sc.torn_bytes > 0 { ", and its last row is torn" } else { "" },
                    rr.caveat()
                ),
            ));
        }
        for (path, rows) in stale_results(d, sc.complete_rows) {
            warnings.push(format!(
                "{} is stale: it summarises {rows} rows of {STREAM}, which holds {}; the merge reads {STREAM}, and `{resume}` rewrites it",
                path.display(),
                sc.complete_rows,
            ));
        }
        parts.push(ts);
    }
    let all = union(parts, levels, &names)?;
    let meta = meta(problem, &config)?;
    let mut w = base_warnings(&config, &meta.stiffness);
    w.extend(warnings);
    assemble(
        &meta,
        config.clone(),
        all,
        config.runs,
        Timing::default(),
        w,
    )
}
