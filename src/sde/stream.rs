//! Streaming of finished trajectories to `OUT/trajectories.csv` with a manifest `OUT/run.json`,
//! so that a killed run keeps what it finished and `--resume` / `merge` can read it back.
//!
//! One line per trajectory: `level,index,status,steps,x0,..,x{d-1}` (floats in Rust's shortest
//! round-trip form, so a resumed or merged run reproduces the numbers bit for bit). Lines are
//! written in completion order; a truncated last line (killed mid-write) is ignored on reading.

use super::kernel::{Status, Trajectory};
use super::{Config, Shard};
use crate::error::{Error, Result};
use crate::problem::{Diffusion, Problem, VectorField};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Manifest file name.
pub const MANIFEST: &str = "run.json";
/// Stream file name.
pub const STREAM: &str = "trajectories.csv";

/// What identifies a run: the problem (by name and a fingerprint of b, a and D at probe points)
/// and every setting that changes the trajectories.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// File format version.
    pub format: u32,
    /// Problem name.
    pub problem: String,
    /// Hex fingerprint of the problem's model.
    pub fingerprint: String,
    /// d.
    pub dim: usize,
    /// The run's settings.
    pub config: Config,
}

fn fnv(h: &mut u64, v: f64) {
    for b in v.to_bits().to_le_bytes() {
        *h ^= b as u64;
        *h = h.wrapping_mul(0x100_0000_01b3);
    }
}

/// A fingerprint of the model: b(x), a(x) and the level of D at θ* and a few fixed points
/// around it, hashed (FNV-1a) bit for bit.
pub fn fingerprint(problem: &Problem) -> String {
    struct V<'a>(&'a Problem);
    impl crate::problem::ModelVisitor for V<'_> {
        type Output = u64;
        fn visit<B: VectorField, N: Diffusion>(self, b: &B, n: &N) -> u64 {
            let p = self.0;
            let d = p.dim();
            let mut h = 0xcbf2_9ce4_8422_2325u64;
            let mut ws = n.workspace();
            let mut out = vec![0.0; d];
            let mut a = vec![0.0; d * d];
            for k in 0..5 {
                let x: Vec<f64> = (0..d)
                    .map(|i| p.minimum[i] + 0.05 * (k as f64) * (1.0 + 0.37 * i as f64).sin())
                    .collect();
                b.drift(&x, &mut out);
                out.iter().for_each(|v| fnv(&mut h, *v));
                if n.diffusion(&x, &mut ws, &mut a) {
                    a.iter().for_each(|v| fnv(&mut h, *v));
                }
                fnv(&mut h, p.domain.level(&x));
                x.iter().for_each(|v| fnv(&mut h, *v));
            }
            h
        }
    }
    format!("{:016x}", problem.visit(V(problem)))
}

impl Manifest {
    /// The manifest of `config` on `problem`.
    pub fn new(problem: &Problem, config: &Config) -> Self {
        Manifest {
            format: 1,
            problem: problem.name.clone(),
            fingerprint: fingerprint(problem),
            dim: problem.dim(),
            config: config.clone(),
        }
    }

    /// Why `other` (read from `dir`) is not the same run; `shard` compares the shard too.
    pub fn mismatch(&self, other: &Manifest, shard: bool) -> Option<String> {
        let (a, b) = (&self.config, &other.config);
        let diff = |what: &str, x: String, y: String| {
            Some(format!(
                "{what} differs: this run has {x}, the directory has {y}"
            ))
        };
        if self.problem != other.problem {
            return diff("the problem", self.problem.clone(), other.problem.clone());
        }
        if self.fingerprint != other.fingerprint || self.dim != other.dim {
            return Some(format!(
                "the problem \"{}\" has a different model (drift, noise, weight or domain; fingerprint {} vs {})",
                self.problem, self.fingerprint, other.fingerprint
            ));
        }
        if a.seed != b.seed {
            return diff("the seed (--seed)", a.seed.to_string(), b.seed.to_string());
        }
        if a.eps != b.eps {
            return diff("ε (--eps)", format!("{:?}", a.eps), format!("{:?}", b.eps));
        }
        if a.dt != b.dt {
            return diff("h (--dt)", a.dt.to_string(), b.dt.to_string());
        }
        if a.max_steps != b.max_steps {
            return diff(
                "the step budget (--max-steps)",
                a.max_steps.to_string(),
                b.max_steps.to_string(),
            );
        }
        if a.detection != b.detection {
            return diff(
                "exit detection (--boundary-correction)",
                format!("{:?}", a.detection),
                format!("{:?}", b.detection),
            );
        }
        if a.runs != b.runs {
            return diff("R (--runs)", a.runs.to_string(), b.runs.to_string());
        }
        if a.sgd != b.sgd {
            return diff(
                "the SGD parametrisation",
                format!("{:?}", a.sgd),
                format!("{:?}", b.sgd),
            );
        }
        if shard && a.shard != b.shard {
            return diff(
                "the shard (--shard)",
                fmt_shard(a.shard),
                fmt_shard(b.shard),
            );
        }
        None
    }

    /// Read `dir/run.json`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        serde_json::from_str(&text).map_err(|e| {
            Error::invalid(
                path.display().to_string(),
                format!("not a quasipot exit-run manifest: {e}"),
            )
        })
    }

    /// Write `dir/run.json`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(MANIFEST);
        let text = serde_json::to_string_pretty(self).expect("manifest serialises");
        std::fs::write(&path, text).map_err(|e| Error::Io {
            path: path.display().to_string(),
            source: e,
        })
    }
}

fn fmt_shard(s: Option<Shard>) -> String {
    s.map_or("none".into(), |s| format!("{}/{}", s.index, s.count))
}

/// Format one trajectory as a CSV line (with newline).
pub fn format_line(level: usize, t: &Trajectory) -> String {
    let mut s = format!("{level},{},{},{}", t.index, t.status.name(), t.steps);
    for v in &t.point {
        s.push(',');
        s.push_str(&format!("{v:?}"));
    }
    s.push('\n');
    s
}

fn parse_line(line: &str, dim: usize) -> Option<(usize, Trajectory)> {
    let f: Vec<&str> = line.trim_end().split(',').collect();
    if f.len() != 4 + dim {
        return None;
    }
    let point: Option<Vec<f64>> = f[4..].iter().map(|v| v.parse().ok()).collect();
    Some((
        f[0].parse().ok()?,
        Trajectory {
            index: f[1].parse().ok()?,
            status: Status::parse(f[2])?,
            steps: f[3].parse().ok()?,
            point: point?,
        },
    ))
}

/// Read the trajectories streamed in `dir` (per level, sorted by index; duplicates keep the
/// first; malformed lines, e.g. a truncated last line, are skipped). With `finished_only`,
/// interrupted trajectories are left out (they are re-run on resume).
pub fn read_stream(
    dir: &Path,
    levels: usize,
    dim: usize,
    finished_only: bool,
) -> Result<Vec<Vec<Trajectory>>> {
    let path = dir.join(STREAM);
    let file = File::open(&path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    let mut out = vec![Vec::new(); levels];
    for line in BufReader::new(file).lines().skip(1) {
        let line = line.map_err(|e| Error::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        if let Some((l, t)) = parse_line(&line, dim) {
            if l < levels && !(finished_only && t.status == Status::Interrupted) {
                out[l].push(t);
            }
        }
    }
    for v in &mut out {
        v.sort_by_key(|t| t.index);
        v.dedup_by_key(|t| t.index);
    }
    Ok(out)
}

/// Appends finished trajectories, flushing at least every half second.
pub struct StreamWriter {
    inner: Mutex<(BufWriter<File>, Instant)>,
    path: PathBuf,
}

impl StreamWriter {
    /// Create `dir/trajectories.csv` afresh, holding `keep` (resumed trajectories).
    pub fn create(dir: &Path, dim: usize, keep: &[Vec<Trajectory>]) -> Result<Self> {
        let path = dir.join(STREAM);
        let io = |e| Error::Io {
            path: path.display().to_string(),
            source: e,
        };
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)
            .map_err(io)?;
        let mut w = BufWriter::new(file);
        let mut header = "level,index,status,steps".to_string();
        for i in 0..dim {
            header.push_str(&format!(",x{i}"));
        }
        writeln!(w, "{header}").map_err(io)?;
        for (l, ts) in keep.iter().enumerate() {
            for t in ts {
                w.write_all(format_line(l, t).as_bytes()).map_err(io)?;
            }
        }
        w.flush().map_err(io)?;
        Ok(StreamWriter {
            inner: Mutex::new((w, Instant::now())),
            path,
        })
    }

    /// Append one trajectory.
    pub fn push(&self, level: usize, t: &Trajectory) -> Result<()> {
        let line = format_line(level, t);
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let io = |e| Error::Io {
            path: self.path.display().to_string(),
            source: e,
        };
        g.0.write_all(line.as_bytes()).map_err(io)?;
        if g.1.elapsed() > Duration::from_millis(500) {
            g.0.flush().map_err(io)?;
            g.1 = Instant::now();
        }
        Ok(())
    }

    /// Flush everything written so far.
    pub fn flush(&self) -> Result<()> {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.0.flush().map_err(|e| Error::Io {
            path: self.path.display().to_string(),
            source: e,
        })
    }
}
