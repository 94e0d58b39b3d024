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
            quasipot::io_atomic::write(&p, serde_json::to_string_pretty(json)? + "\n")
                .with_context(|| format!("--out: cannot write {}", p.display()))?;
        }
        let text = if self.json {
            serde_json::to_string_pretty(json)? + "\n"
        } else if let Some(d) = &self.out {
            format!("{human}files written to {}\n", d.display())
        } else {
            human.to_string()
        };
        // A reader that stops early (`| head`) is not an error: the files are already written.
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        match stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
        {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                Err(e).context("cannot write to standard output")
            }
            _ => Ok(()),
        }
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

/// A spinner on stderr naming the current phase of a long computation ("[2/5] weight
/// inverse: exact V0") with the time spent so far; hidden with `--quiet` or `--json`, and by
/// indicatif when stderr is not a terminal.
pub struct Phases {
    bar: indicatif::ProgressBar,
    total: usize,
    done: usize,
}

impl Phases {
    /// A spinner for `total` phases; none is shown until [`Phases::next`].
    pub fn new(out: &Output, total: usize) -> Self {
        let bar = if out.quiet || out.json {
            indicatif::ProgressBar::hidden()
        } else {
            let b = indicatif::ProgressBar::new_spinner();
            b.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            b
        };
        Phases {
            bar,
            total,
            done: 0,
        }
    }

    /// Start the next phase, named `name`.
    pub fn next(&mut self, name: &str) {
        self.done += 1;
        self.bar
            .set_message(format!("[{}/{}] {name}", self.done, self.total));
        if self.done == 1 {
            // Redraw ten times a second, so the elapsed time moves during one long phase.
            self.bar
                .enable_steady_tick(std::time::Duration::from_millis(100));
        }
    }

    /// Remove the spinner (before the results are printed).
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Phases {
    // An error return must not leave the spinner running over the error message.
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_are_numbered_and_named() {
        let out = Output {
            json: false,
            out: None,
            quiet: true,
        };
        let mut p = Phases::new(&out, 3);
        p.next("reading H");
        assert_eq!(p.bar.message(), "[1/3] reading H");
        p.next("exact V0");
        assert_eq!(p.bar.message(), "[2/3] exact V0");
        p.finish();
    }
}
