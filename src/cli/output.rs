//! Where results go: a human table on stdout, or one JSON object with `--json`, and files in
//! `--out DIR` (always `result.json`, plus each command's arrays and figures).

use anyhow::{Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The output choices shared by every subcommand.
#[derive(Clone, Debug)]
pub struct Output {
    /// Print JSON instead of a table.
    pub json: bool,
    /// Directory for result files.
    pub out: Option<PathBuf>,
    /// Hide progress bars.
    pub quiet: bool,
}

impl Output {
    /// Create `--out` (if given) and return it.
    pub fn dir(&self) -> Result<Option<&Path>> {
        if let Some(d) = &self.out {
            std::fs::create_dir_all(d)
                .with_context(|| format!("--out: cannot create directory {}", d.display()))?;
        }
        Ok(self.out.as_deref())
    }

    /// Print the result (table or JSON) and write `result.json` into `--out`.
    pub fn finish(&self, human: &str, json: &Value) -> Result<()> {
        if let Some(dir) = self.dir()? {
            let p = dir.join("result.json");
            // Atomically, so that a kill while writing never leaves a torn result.json.
            crate::io_atomic::write(&p, serde_json::to_string_pretty(json)? + "\n")
                .with_context(|| format!("--out: cannot write {}", p.display()))?;
        }
        if self.json {
            println!("{}", serde_json::to_string_pretty(json)?);
        } else {
            print!("{human}");
            if let Some(d) = &self.out {
                println!("files written to {}", d.display());
            }
        }
        Ok(())
    }
}

/// A plain aligned text table.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let n = header.len();
    let mut w: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(n) {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = w[i] - c.chars().count();
            s.push_str(c);
            if i + 1 < cells.len() {
                s.push_str(&" ".repeat(pad + 2));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut s = line(header.to_vec());
    s.push_str(&line(
        w.iter()
            .map(|k| "-".repeat(*k))
            .collect::<Vec<_>>()
            .iter()
            .map(|x| x.as_str())
            .collect(),
    ));
    for r in rows {
        s.push_str(&line(r.iter().map(|c| c.as_str()).collect()));
    }
    s
}

/// A vector as `(a, b, c)` with 6 significant digits (long vectors elided).
pub fn fmt_point(x: &[f64]) -> String {
    if x.len() > 6 {
        let head: Vec<String> = x[..3].iter().map(|v| format!("{v:.4}")).collect();
        return format!("({}, … {} more)", head.join(", "), x.len() - 3);
    }
    let s: Vec<String> = x.iter().map(|v| format!("{v:.6}")).collect();
    format!("({})", s.join(", "))
}
