//! Merging the shards `k/n` of one sweep into the sweep. Shard k simulates the points
//! [`Shard::range`]`(P)` of the P = settings × methods points (each with its own stream, so the
//! split does not change them) and records the sweep's settings; the merge runs the sweep's own
//! set-up again with the shards' points in place of simulation, so fits, verdicts and notes are
//! those of the unsharded sweep, bit for bit (wall times aside). Refusals name the shard at
//! fault and the command that produces it.

use super::{scaling_with, ScalingConfig, ScalingPoint, ScalingReport, SweepShard, Target};
use crate::error::{Error, Result};
use crate::sde::merge::{check_shard_coverage, differing_fields};
use crate::sde::Shard;
use std::path::{Path, PathBuf};

/// One shard as read back: its record and its points.
#[derive(Clone, Debug)]
pub struct ShardPart {
    /// How messages name it (its directory).
    pub name: String,
    /// `None` for an unsharded sweep.
    pub record: Option<SweepShard>,
    /// Its points.
    pub points: Vec<ScalingPoint>,
}

/// Read the sweep in `dir/result.json` (written by `quasipot scaling --shard k/n --out DIR`).
pub fn read_part(dir: &Path) -> Result<ShardPart> {
    let path = dir.join("result.json");
    let bad = |e: String| {
        Error::invalid(
            path.display().to_string(),
            format!("not the result of `quasipot scaling`: {e}"),
        )
    };
    let text = std::fs::read_to_string(&path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let s = v
        .get("scaling")
        .ok_or_else(|| bad("no `scaling` object".into()))?;
    let record = match s.get("shard") {
        Some(r) => Some(serde_json::from_value(r.clone()).map_err(|e| bad(e.to_string()))?),
        None => None,
    };
    let points = serde_json::from_value(s.get("points").cloned().unwrap_or_default())
        .map_err(|e| bad(format!("points: {e}")))?;
    Ok(ShardPart {
        name: dir.display().to_string(),
        record,
        points,
    })
}

/// Whether `dir` holds a sweep's result.
pub fn is_scaling_dir(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("result.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v.get("scaling").is_some())
}

/// The `quasipot scaling` command that writes shard `k` of the sweep `c` into `out`.
pub fn scaling_command(
    problem: &str,
    flags: &[String],
    c: &SweepShard,
    k: Shard,
    out: &str,
) -> String {
    let q = crate::slurm::shell_quote;
    let cfg = &c.config;
    let join = |v: &[f64]| v.iter().map(f64::to_string).collect::<Vec<_>>().join(",");
    let mut s = format!("quasipot scaling {}", q(problem));
    for f in flags {
        s.push(' ');
        s.push_str(&q(f));
    }
    s.push_str(&format!(" --vary {}", cfg.vary.name()));
    if let Some(v) = &cfg.values {
        s.push_str(&format!(" --values {}", join(v)));
    }
    if let Some(e) = cfg.eta {
        s.push_str(&format!(" --eta {e}"));
    }
    if let Some(b) = cfg.batch {
        s.push_str(&format!(" --batch {b}"));
    }
    if let Some(d) = cfg.delta_l {
        s.push_str(&format!(" --delta-l {d}"));
    }
    s.push_str(&format!(
        " --runs {} --max-steps {}",
        cfg.runs, cfg.max_steps
    ));
    if let Some(m) = &cfg.methods {
        let m: Vec<&str> = m.iter().map(|m| m.name()).collect();
        s.push_str(&format!(" --methods {}", m.join(",")));
    }
    if let Some(n) = &cfg.noise {
        s.push_str(&format!(" --noise {n}"));
    }
    if let Some(p) = cfg.proximal_scale {
        s.push_str(&format!(" --proximal-scale {p}"));
    }
    if cfg.covariance_floor != ScalingConfig::default().covariance_floor {
        s.push_str(&format!(" --covariance-floor {}", cfg.covariance_floor));
    }
    if cfg.common_random_numbers {
        s.push_str(" --common-random-numbers");
    }
    if cfg.quadratic_control {
        s.push_str(" --quadratic-control");
    }
    if let Some(m) = &c.mlp {
        s.push_str(&format!(
            " --dataset {} --width {} --l2 {}",
            m.dataset.name(),
            m.width,
            m.l2
        ));
    }
    s.push_str(&format!(
        " --seed {} --shard {}/{} --out {}",
        cfg.seed,
        k.index,
        k.count,
        q(out)
    ));
    s
}

/// The fields of `b` that differ from `a` (shards aside), by name.
fn differing(a: &SweepShard, b: &SweepShard) -> Vec<String> {
    let strip = |r: &SweepShard| {
        let mut r = r.clone();
        r.shard = Shard { index: 0, count: 1 };
        r.config.shard = None;
        let mut v = serde_json::to_value(&r.config).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("points".into(), r.points.into());
            o.insert(
                "mlp".into(),
                serde_json::to_value(&r.mlp).unwrap_or_default(),
            );
        }
        v
    };
    let (a, b) = (strip(a), strip(b));
    differing_fields(&a, &b)
}

/// Merge the shards `parts` of one sweep of `target` (`problem` and `flags` spell the commands
/// in messages; `dirs`, when the parts are directories, say where a missing shard goes).
pub fn merge(
    target: &Target,
    parts: &[ShardPart],
    dirs: &[PathBuf],
    problem: &str,
    flags: &[String],
) -> Result<ScalingReport> {
    let first = parts
        .first()
        .ok_or_else(|| Error::invalid("merge", "nothing to merge"))?;
    let mut records = Vec::with_capacity(parts.len());
    for p in parts {
        match &p.record {
            Some(r) => records.push(r),
            None => {
                return Err(Error::invalid(
                    "merge",
                    format!(
                        "{} is a whole (unsharded) sweep: only shards (`scaling --shard k/n`) are merged",
                        p.name
                    ),
                ))
            }
        }
    }
    for (p, r) in parts.iter().zip(&records) {
        let diff = differing(records[0], r);
        if !diff.is_empty() {
            return Err(Error::invalid(
                "merge",
                format!(
                    "{} is not a shard of the same sweep as {}: {}",
                    p.name,
                    first.name,
                    diff.join(", ")
                ),
            ));
        }
    }
    let names: Vec<String> = parts.iter().map(|p| p.name.clone()).collect();
    let shards: Vec<Option<Shard>> = records.iter().map(|r| Some(r.shard)).collect();
    check_shard_coverage(
        &names,
        &shards,
        dirs,
        &|k, out| scaling_command(problem, flags, records[0], k, out),
        "",
    )?;
    let total = records[0].points;
    let mut all: Vec<(&ScalingPoint, usize)> = Vec::with_capacity(total);
    for (i, p) in parts.iter().enumerate() {
        let range = records[i].shard.range(total as u64);
        if p.points.len() as u64 != range.end - range.start
            || p.points.iter().any(|x| !range.contains(&(x.index as u64)))
        {
            return Err(Error::invalid(
                "merge",
                format!(
                    "{} holds {} points, not its shard's {} (points {}..{}): it did not complete; run it again with `{}`",
                    p.name,
                    p.points.len(),
                    range.end - range.start,
                    range.start,
                    range.end,
                    scaling_command(problem, flags, records[0], records[i].shard, &p.name)
                ),
            ));
        }
        all.extend(p.points.iter().map(|x| (x, i)));
    }
    all.sort_by_key(|(x, _)| x.index);
    for w in all.windows(2) {
        if w[0].0.index == w[1].0.index {
            return Err(Error::invalid(
                "merge",
                format!(
                    "{} and {} both hold point {}: the shards overlap",
                    names[w[0].1], names[w[1].1], w[0].0.index
                ),
            ));
        }
    }
    let points: Vec<ScalingPoint> = all.into_iter().map(|(x, _)| x.clone()).collect();
    let mut config = records[0].config.clone();
    config.shard = None;
    scaling_with(target, &config, Some(&points), &|_, _| {})
}
