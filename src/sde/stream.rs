//! Streaming of finished trajectories to `OUT/trajectories.csv` with a manifest `OUT/run.json`,
//! so that a killed run keeps what it finished and `--resume` / `merge` can read it back.
//!
//! One line per trajectory: `level,index,status,steps,x0,..,x{d-1}` (floats in Rust's shortest
//! round-trip form, so a resumed or merged run reproduces the numbers bit for bit). Lines are
//! written in completion order and the file is only ever appended to, also by `--resume`, so a
//! kill can damage nothing but the bytes after the last newline: a torn last row, which reading
//! ignores and [`repair`] cuts off before a resume appends. The manifest is replaced atomically.

use super::kernel::{Status, Trajectory};
use super::{Config, Shard};
use crate::error::{Error, Result};
use crate::problem::{Diffusion, Problem, VectorField};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::ops::Range;
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
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::invalid(
                    dir.display().to_string(),
                    format!("not the directory of an exit run: it has no {MANIFEST} (every `quasipot exit --out DIR` writes one)"),
                )
            } else {
                Error::Io {
                    path: path.display().to_string(),
                    source: e,
                }
            }
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
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::numerical("run manifest JSON", e.to_string()))?;
        // Atomically: a kill while writing must not leave a torn manifest beside the stream.
        crate::io_atomic::write(&path, text)
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

/// The header line of a stream of dimension `dim` (without newline).
fn header(dim: usize) -> String {
    let mut h = "level,index,status,steps".to_string();
    for i in 0..dim {
        h.push_str(&format!(",x{i}"));
    }
    h
}

/// What a scan of `trajectories.csv` found. Only lines that end in a newline count as rows:
/// the file is written by appending, so the one place a kill can tear a row is after the last
/// newline (a torn row may still parse, as a shorter number, and must not be trusted).
#[derive(Clone, Debug, Default)]
pub struct Scan {
    /// Complete rows that belong to the run, in file order: (level, trajectory).
    pub rows: Vec<(usize, Trajectory)>,
    /// Complete data rows in the file (every newline-terminated line after the header).
    pub complete_rows: u64,
    /// Bytes up to and including the last newline.
    pub complete_len: u64,
    /// Bytes after the last newline: a row torn by a kill mid-write.
    pub torn_bytes: u64,
    /// Whether the header line is complete.
    pub header: bool,
    /// 1-based line numbers of complete rows that do not parse.
    pub malformed: Vec<u64>,
    /// Complete rows outside the run (level ≥ the number of levels, or index out of range).
    pub outside: u64,
}

/// Scan `dir/trajectories.csv` of a run with `levels` noise levels in dimension `dim` whose
/// trajectory indices lie in `range`. Errors: the file cannot be read, or its header is not
/// that of a stream of dimension `dim`.
pub fn scan(dir: &Path, levels: usize, dim: usize, range: Range<u64>) -> Result<Scan> {
    let path = dir.join(STREAM);
    let bytes = std::fs::read(&path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    let mut sc = Scan::default();
    let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    sc.complete_len = end as u64;
    sc.torn_bytes = (bytes.len() - end) as u64;
    // The complete lines: header, then rows (the last newline ends the last complete one).
    let mut lines = bytes[..end.saturating_sub(1)].split(|&b| b == b'\n');
    if end > 0 {
        let first = lines.next().unwrap_or_default();
        let want = header(dim);
        if first != want.as_bytes() {
            return Err(Error::invalid(
                path.display().to_string(),
                format!(
                    "not a trajectory stream of dimension {dim}: the first line is \"{}\", expected \"{want}\"",
                    String::from_utf8_lossy(first)
                ),
            ));
        }
        sc.header = true;
    }
    for (k, line) in lines.enumerate() {
        sc.complete_rows += 1;
        match std::str::from_utf8(line)
            .ok()
            .and_then(|l| parse_line(l, dim))
        {
            Some((l, t)) if l < levels && range.contains(&t.index) => sc.rows.push((l, t)),
            Some(_) => sc.outside += 1,
            None => sc.malformed.push(k as u64 + 2),
        }
    }
    Ok(sc)
}

impl Scan {
    /// The rows per level, sorted by index. An index may occur twice: interrupted, then
    /// finished by a resume; the finished row wins, and of two finished rows the first (they
    /// are identical: each index has its own random stream). With `finished_only`, interrupted
    /// trajectories are left out (they are re-run on resume). Also returns how many finished
    /// rows repeated an earlier finished row.
    pub fn trajectories(&self, levels: usize, finished_only: bool) -> (Vec<Vec<Trajectory>>, u64) {
        let mut out = vec![Vec::new(); levels];
        for (l, t) in &self.rows {
            if !(finished_only && t.status == Status::Interrupted) {
                out[*l].push(t.clone());
            }
        }
        let mut repeated = 0;
        for v in &mut out {
            // Stable sort: among equal keys file order is kept.
            v.sort_by_key(|t| (t.index, t.status == Status::Interrupted));
            let finished_before = v.iter().filter(|t| t.status != Status::Interrupted).count();
            v.dedup_by_key(|t| t.index);
            let finished_after = v.iter().filter(|t| t.status != Status::Interrupted).count();
            repeated += (finished_before - finished_after) as u64;
        }
        (out, repeated)
    }
}

/// Read the trajectories streamed in `dir` (per level, sorted by index; see
/// [`Scan::trajectories`] for repeated indices; malformed rows and a torn last row are
/// skipped). With `finished_only`, interrupted trajectories are left out.
pub fn read_stream(
    dir: &Path,
    levels: usize,
    dim: usize,
    finished_only: bool,
) -> Result<Vec<Vec<Trajectory>>> {
    Ok(scan(dir, levels, dim, 0..u64::MAX)?
        .trajectories(levels, finished_only)
        .0)
}

/// What [`repair`] kept and did.
#[derive(Clone, Debug)]
pub struct Repaired {
    /// The finished trajectories per level, sorted by index.
    pub done: Vec<Vec<Trajectory>>,
    /// Complete data rows in the file after the repair (the count a writer continues from).
    pub rows: u64,
    /// What was repaired or ignored, one sentence each (for the report's warnings).
    pub notes: Vec<String>,
}

/// Make `dir/trajectories.csv` ready to be appended to by a resume: a torn last row (a kill
/// mid-write) is cut off, a missing or torn header is written; every complete row is kept on
/// disk. Complete rows that do not parse, lie outside the run (`levels`, `range`) or repeat a
/// finished trajectory are left in place but ignored, and a note says so.
pub fn repair(dir: &Path, levels: usize, dim: usize, range: Range<u64>) -> Result<Repaired> {
    let path = dir.join(STREAM);
    let name = path.display().to_string();
    let io = |e| Error::Io {
        path: name.clone(),
        source: e,
    };
    let mut notes = Vec::new();
    if !path.exists() {
        // Killed after run.json was written, before the stream was created.
        std::fs::write(&path, header(dim) + "\n").map_err(io)?;
        notes.push(format!(
            "{name} was missing (the run stopped before its first row): started afresh"
        ));
    }
    let sc = scan(dir, levels, dim, range.clone())?;
    if sc.torn_bytes > 0 || !sc.header {
        let f = OpenOptions::new().write(true).open(&path).map_err(io)?;
        f.set_len(sc.complete_len).map_err(io)?;
        if !sc.header {
            drop(f);
            std::fs::write(&path, header(dim) + "\n").map_err(io)?;
            notes.push(format!(
                "repaired {name}: its header was torn ({} bytes, a kill mid-write) and was rewritten",
                sc.torn_bytes
            ));
        } else {
            f.sync_all().map_err(io)?;
            notes.push(format!(
                "repaired {name}: the last row was torn ({} bytes after the last complete row, a kill mid-write) and was cut off; its trajectory is re-run, and all {} complete rows are kept",
                sc.torn_bytes, sc.complete_rows
            ));
        }
    }
    if !sc.malformed.is_empty() {
        let shown: Vec<String> = sc.malformed.iter().take(5).map(u64::to_string).collect();
        notes.push(format!(
            "{name}: {} complete row(s) could not be read and were ignored (line {}{})",
            sc.malformed.len(),
            shown.join(", "),
            if sc.malformed.len() > 5 { ", …" } else { "" }
        ));
    }
    if sc.outside > 0 {
        notes.push(format!(
            "{name}: {} row(s) lie beyond what {MANIFEST} describes (level ≥ {levels} or index outside {}..{}) and were ignored",
            sc.outside, range.start, range.end
        ));
    }
    let (done, repeated) = sc.trajectories(levels, true);
    if repeated > 0 {
        notes.push(format!(
            "{name}: {repeated} row(s) repeat a finished trajectory and were ignored (the first is kept)"
        ));
    }
    Ok(Repaired {
        done,
        rows: sc.complete_rows,
        notes,
    })
}

/// The result files beside a stream that record how many of its rows they summarise.
pub const RESULT_FILES: [&str; 2] = ["result.json", "exit_report.json"];

/// The result files in `dir` that summarise another number of stream rows than `rows`, with
/// the number they record: they are stale (written before the last rows reached the stream).
/// Files that are absent, unreadable or record no count are not listed.
pub fn stale_results(dir: &Path, rows: u64) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    for name in RESULT_FILES {
        let path = dir.join(name);
        let recorded = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["stream"]["rows"].as_u64());
        if let Some(r) = recorded.filter(|&r| r != rows) {
            out.push((path, r));
        }
    }
    out
}

struct Inner {
    w: BufWriter<File>,
    flushed: Instant,
    rows: u64,
}

/// Appends finished trajectories, flushing at least every half second.
pub struct StreamWriter {
    inner: Mutex<Inner>,
    path: PathBuf,
}

impl StreamWriter {
    /// Create `dir/trajectories.csv` afresh (header only).
    pub fn create(dir: &Path, dim: usize) -> Result<Self> {
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
        writeln!(w, "{}", header(dim)).map_err(io)?;
        w.flush().map_err(io)?;
        Ok(StreamWriter {
            inner: Mutex::new(Inner {
                w,
                flushed: Instant::now(),
                rows: 0,
            }),
            path,
        })
    }

    /// Append to `dir/trajectories.csv`, which holds `rows` complete rows and ends in a newline
    /// (as [`repair`] leaves it). Nothing already in the file is rewritten, so a kill during a
    /// resume can lose at most the rows not yet flushed.
    pub fn append(dir: &Path, rows: u64) -> Result<Self> {
        let path = dir.join(STREAM);
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| Error::Io {
                path: path.display().to_string(),
                source: e,
            })?;
        Ok(StreamWriter {
            inner: Mutex::new(Inner {
                w: BufWriter::new(file),
                flushed: Instant::now(),
                rows,
            }),
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
        g.w.write_all(line.as_bytes()).map_err(io)?;
        g.rows += 1;
        if g.flushed.elapsed() > Duration::from_millis(500) {
            g.w.flush().map_err(io)?;
            g.flushed = Instant::now();
        }
        Ok(())
    }

    /// Flush everything written so far.
    pub fn flush(&self) -> Result<()> {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.w.flush().map_err(|e| Error::Io {
            path: self.path.display().to_string(),
            source: e,
        })
    }

    /// Complete rows in the file once everything is flushed.
    pub fn rows(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).rows
    }
}

/// How much of `OUT/trajectories.csv` a report summarises, recorded in `result.json` and
/// `exit_report.json` so that a result older than the stream beside it is recognisable
/// ([`stale_results`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamInfo {
    /// Complete rows in the stream when the report was made (interrupted rows included).
    pub rows: u64,
}
