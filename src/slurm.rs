//! Slurm job arrays: which shard k/n an array task runs (`--shard auto`), and the `sbatch`
//! scripts of a sharded run with its follow-up merge job (`quasipot slurm`).
//!
//! **Shard of an array task.** `sbatch --array=MIN-MAX[:STEP]` starts COUNT tasks, each with
//! `SLURM_ARRAY_TASK_ID` ∈ {MIN, MIN+STEP, .., MAX} and the array's `SLURM_ARRAY_TASK_MIN`,
//! `SLURM_ARRAY_TASK_MAX`, `SLURM_ARRAY_TASK_STEP` and `SLURM_ARRAY_TASK_COUNT` in its
//! environment. Task ID runs shard k/n with
//!
//! > k = (ID − MIN)/STEP,  n = COUNT = (MAX − MIN)/STEP + 1,
//!
//! so `--array=0-3`, `--array=1-4` and `--array=0-6:2` all give the shards 0/4 .. 3/4. A list
//! such as `--array=1,3,7` is not an arithmetic range (COUNT = 3 but MIN..MAX holds 7 IDs) and is
//! refused: its tasks could not tell which shard is theirs. Missing variables (not inside an array
//! task) are refused too, naming the variable. Since every shard draws the same per-trajectory
//! streams as the unsharded run ([`crate::sde::rng`]), the merged shards are bit-identical to it.
//!
//! **Scripts.** [`ArrayJob`] writes the array script (one task per shard, each into
//! `OUT/shard-K`, resuming an interrupted shard when it is submitted again), the merge script and
//! a `submit.sh` that submits both, the merge with `--dependency=afterok:JOBID` so that it runs
//! only once every shard has succeeded.
//!
//! ```
//! use quasipot::slurm::ArrayTask;
//! let env = |v: &str| match v {
//!     "SLURM_ARRAY_TASK_ID" => Some("3".to_string()),
//!     "SLURM_ARRAY_TASK_MIN" => Some("1".to_string()),
//!     "SLURM_ARRAY_TASK_MAX" => Some("4".to_string()),
//!     "SLURM_ARRAY_TASK_COUNT" => Some("4".to_string()),
//!     _ => None,
//! };
//! let t = ArrayTask::from_lookup(env).unwrap();
//! assert_eq!((t.shard().index, t.shard().count), (2, 4)); // --array=1-4, task 3: shard 2/4
//! ```

use crate::sde::Shard;
use std::path::{Path, PathBuf};

/// The array task's ID.
pub const TASK_ID: &str = "SLURM_ARRAY_TASK_ID";
/// The number of tasks in the array.
pub const TASK_COUNT: &str = "SLURM_ARRAY_TASK_COUNT";
/// The smallest task ID of the array.
pub const TASK_MIN: &str = "SLURM_ARRAY_TASK_MIN";
/// The largest task ID of the array.
pub const TASK_MAX: &str = "SLURM_ARRAY_TASK_MAX";
/// The stride of the task IDs (`--array=0-6:2`); absent means 1.
pub const TASK_STEP: &str = "SLURM_ARRAY_TASK_STEP";
/// The array's job ID (for messages only).
pub const JOB_ID: &str = "SLURM_ARRAY_JOB_ID";

/// Why the environment does not name a shard. Every variant names the variable at fault.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArrayError {
    /// A variable that is needed is not set.
    #[error("{variable} is not set: this is not a Slurm array task (submit with `sbatch --array=0-N`, e.g. the script `quasipot slurm` writes), or give --shard k/n explicitly")]
    Missing {
        /// The variable.
        variable: &'static str,
    },
    /// A variable is not a non-negative integer.
    #[error("{variable}={value:?} is not a non-negative integer")]
    NotANumber {
        /// The variable.
        variable: &'static str,
        /// Its value.
        value: String,
    },
    /// The variables contradict each other, or describe an array that is not a range.
    #[error("{variable}: {detail}")]
    Inconsistent {
        /// The variable found inconsistent with the others.
        variable: &'static str,
        /// How.
        detail: String,
    },
}

impl From<ArrayError> for crate::Error {
    fn from(e: ArrayError) -> Self {
        crate::Error::invalid("--shard auto", e.to_string())
    }
}

/// One task of a Slurm job array, as its environment describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArrayTask {
    /// `SLURM_ARRAY_JOB_ID`, when set.
    pub job_id: Option<String>,
    /// `SLURM_ARRAY_TASK_ID`.
    pub id: u64,
    /// The smallest task ID (`SLURM_ARRAY_TASK_MIN`; 0 when only COUNT is given).
    pub min: u64,
    /// The largest task ID (`SLURM_ARRAY_TASK_MAX`).
    pub max: u64,
    /// The stride (`SLURM_ARRAY_TASK_STEP`, default 1).
    pub step: u64,
    /// The number of tasks (`SLURM_ARRAY_TASK_COUNT`, or (MAX − MIN)/STEP + 1).
    pub count: u64,
}

impl ArrayTask {
    /// The task described by the process environment.
    pub fn from_env() -> Result<Self, ArrayError> {
        Self::from_lookup(|v| std::env::var(v).ok())
    }

    /// Whether the process runs inside an array task (`SLURM_ARRAY_TASK_ID` is set).
    pub fn in_array() -> bool {
        std::env::var_os(TASK_ID).is_some()
    }

    /// The task described by `lookup(variable)`. Needs `SLURM_ARRAY_TASK_ID` and either
    /// `SLURM_ARRAY_TASK_MIN` and `_MAX` or `_COUNT` (or all three, which must agree); `_STEP`
    /// defaults to 1. With COUNT alone the IDs are taken to be 0..COUNT−1, with MIN or MAX alone
    /// beside COUNT the other end follows.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ArrayError> {
        let num = |variable: &'static str| -> Result<Option<u64>, ArrayError> {
            match lookup(variable) {
                None => Ok(None),
                Some(value) => {
                    value
                        .trim()
                        .parse::<u64>()
                        .map(Some)
                        .map_err(|_| ArrayError::NotANumber {
                            variable,
                            value: value.clone(),
                        })
                }
            }
        };
        let bad =
            |variable: &'static str, detail: String| ArrayError::Inconsistent { variable, detail };
        let id = num(TASK_ID)?.ok_or(ArrayError::Missing { variable: TASK_ID })?;
        let step = num(TASK_STEP)?.unwrap_or(1);
        if step == 0 {
            return Err(bad(TASK_STEP, "the stride must be ≥ 1, got 0".into()));
        }
        let count = num(TASK_COUNT)?;
        if count == Some(0) {
            return Err(bad(
                TASK_COUNT,
                "an array has at least one task, got 0".into(),
            ));
        }
        let (min, max) = match (num(TASK_MIN)?, num(TASK_MAX)?, count) {
            (Some(a), Some(b), _) => (a, b),
            (Some(a), None, Some(n)) => (a, a.saturating_add((n - 1).saturating_mul(step))),
            (None, Some(b), Some(n)) => {
                let span = (n - 1).saturating_mul(step);
                if span > b {
                    return Err(bad(
                        TASK_MAX,
                        format!("{TASK_MAX}={b} is below ({TASK_COUNT} − 1)·{TASK_STEP} = {span}: no array of {n} tasks ends there"),
                    ));
                }
                (b - span, b)
            }
            (None, None, Some(n)) => (0, (n - 1).saturating_mul(step)),
            (Some(_), None, None) => return Err(ArrayError::Missing { variable: TASK_MAX }),
            (None, _, None) => return Err(ArrayError::Missing { variable: TASK_MIN }),
        };
        if max < min {
            return Err(bad(
                TASK_MAX,
                format!("{TASK_MAX}={max} is below {TASK_MIN}={min}"),
            ));
        }
        if (max - min) % step != 0 {
            return Err(bad(
                TASK_MAX,
                format!("{TASK_MIN}={min} to {TASK_MAX}={max} is not a whole number of strides {TASK_STEP}={step}"),
            ));
        }
        let in_range = (max - min) / step + 1;
        if let Some(n) = count {
            if n != in_range {
                return Err(bad(
                    TASK_COUNT,
                    format!("{TASK_COUNT}={n} but {min}..{max} in strides of {step} holds {in_range} task IDs: the array is a list (e.g. --array=1,3,7), not a range, so a task cannot tell which shard is its own; submit a range such as --array=0-{}, or give --shard k/n explicitly", n - 1),
                ));
            }
        }
        if id < min || id > max || (id - min) % step != 0 {
            return Err(bad(
                TASK_ID,
                format!("{TASK_ID}={id} is not one of the array's IDs {min}..{max} in strides of {step}"),
            ));
        }
        Ok(ArrayTask {
            job_id: lookup(JOB_ID),
            id,
            min,
            max,
            step,
            count: in_range,
        })
    }

    /// The shard this task runs: k = (ID − MIN)/STEP of n = COUNT.
    pub fn shard(&self) -> Shard {
        Shard {
            index: (self.id - self.min) / self.step,
            count: self.count,
        }
    }
}

/// Parse a `--shard` value: `k/n`, or `auto` for the shard of the Slurm array task this process
/// runs in ([`ArrayTask::from_env`]).
pub fn parse_shard(s: &str) -> crate::Result<Shard> {
    if s.trim() == "auto" {
        Ok(ArrayTask::from_env()?.shard())
    } else {
        Shard::parse(s)
    }
}

/// `s` quoted for a POSIX shell (unchanged when it is made of safe characters only).
pub fn shell_quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r#"'\''"#))
    }
}

fn quote_all(args: &[String]) -> String {
    args.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Resources asked of Slurm for each task (`#SBATCH` lines); `None` leaves the cluster's default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// `--time` (e.g. `2:00:00`).
    pub time: Option<String>,
    /// `--mem` (e.g. `4G`).
    pub mem: Option<String>,
    /// `--cpus-per-task` (the shard runs with as many threads).
    pub cpus_per_task: u32,
    /// At most this many shards at once (`--array=0-N%K`).
    pub max_parallel: Option<u64>,
    /// Further `#SBATCH` options, verbatim (e.g. `--qos=long`).
    pub extra: Vec<String>,
}

/// A sharded run as a Slurm job array and its merge job.
#[derive(Clone, Debug)]
pub struct ArrayJob {
    /// Job name (`--job-name`); the merge job gets `-merge` appended.
    pub name: String,
    /// Number of shards n (array tasks 0..n−1).
    pub shards: u64,
    /// The `quasipot` binary the tasks run (an absolute path).
    pub binary: PathBuf,
    /// Working directory of the tasks (`--chdir`; relative paths in the commands start here).
    pub workdir: PathBuf,
    /// Where the scripts, the logs (`logs/`), the shards (`shard-K/`) and the merged result
    /// (`merged/`) go (an absolute path).
    pub dir: PathBuf,
    /// The arguments of one shard's command after the binary, without `--shard` and `--out`
    /// (the script adds `--shard K/n --out DIR/shard-K`).
    pub run: Vec<String>,
    /// The arguments of the merge command after the binary, without the shard directories and
    /// `--out` (the script adds `DIR/shard-0 .. DIR/shard-{n−1} --out DIR/merged`).
    pub merge: Vec<String>,
    /// Resources per task.
    pub resources: Resources,
}

/// The array script's file name.
pub const ARRAY_SCRIPT: &str = "array.sbatch";
/// The merge script's file name.
pub const MERGE_SCRIPT: &str = "merge.sbatch";
/// The submit script's file name.
pub const SUBMIT_SCRIPT: &str = "submit.sh";

impl ArrayJob {
    /// The directory of shard k.
    pub fn shard_dir(&self, k: u64) -> PathBuf {
        self.dir.join(format!("shard-{k}"))
    }
    /// The directory of the merged result.
    pub fn merged_dir(&self) -> PathBuf {
        self.dir.join("merged")
    }

    fn header(&self, name: &str, log: &str, array: Option<String>) -> String {
        let r = &self.resources;
        let mut s = String::from("#!/bin/bash\n");
        let mut line = |opt: String| s.push_str(&format!("#SBATCH {opt}\n"));
        line(format!("--job-name={}", shell_quote(name)));
        if let Some(a) = array {
            line(format!("--array={a}"));
        }
        // #SBATCH lines are not shell-expanded: paths with spaces would break them.
        line(format!("--chdir={}", self.workdir.display()));
        line(format!(
            "--output={}",
            self.dir.join("logs").join(log).display()
        ));
        line("--ntasks=1".into());
        line(format!("--cpus-per-task={}", r.cpus_per_task.max(1)));
        for (flag, v) in [
            ("partition", &r.partition),
            ("account", &r.account),
            ("time", &r.time),
            ("mem", &r.mem),
        ] {
            if let Some(v) = v {
                line(format!("--{flag}={v}"));
            }
        }
        for e in &r.extra {
            line(e.clone());
        }
        s
    }

    /// The array script: task K runs shard K/n into `DIR/shard-K`, with `--resume` when that
    /// directory already holds a run (a resubmitted task continues an interrupted shard).
    pub fn array_script(&self) -> String {
        let n = self.shards;
        let array = match self.resources.max_parallel {
            Some(k) => format!("0-{}%{k}", n - 1),
            None => format!("0-{}", n - 1),
        };
        let mut s = self.header(&self.name, "shard-%a.out", Some(array));
        let bin = shell_quote(&self.binary.display().to_string());
        s.push_str(&format!(
            "# Written by `quasipot slurm`: shard K of {n} of one run per array task; the union of the\n\
             # shards is bit-identical to the unsharded run. Submit with {submit} (it queues the merge\n\
             # job too). Re-run a failed or missing shard K with `sbatch --array=K {me}`: a shard\n\
             # that was interrupted resumes where it stopped.\n\
             set -euo pipefail\n\
             DIR={dir}\n\
             K=\"${{SLURM_ARRAY_TASK_ID:?not a Slurm array task: submit with sbatch --array=0-{last}}}\"\n\
             if [ \"$K\" -ge {n} ]; then\n    echo \"array task $K: this run has shards 0..{last} only\" >&2\n    exit 2\nfi\n\
             OUT=\"$DIR/shard-$K\"\n\
             RESUME=()\n\
             if [ -f \"$OUT/run.json\" ]; then RESUME=(--resume); fi\n\
             exec {bin} {run} --shard \"$K/{n}\" --out \"$OUT\" ${{RESUME[@]+\"${{RESUME[@]}}\"}}\n",
            submit = shell_quote(&self.dir.join(SUBMIT_SCRIPT).display().to_string()),
            me = shell_quote(&self.dir.join(ARRAY_SCRIPT).display().to_string()),
            dir = shell_quote(&self.dir.display().to_string()),
            last = n - 1,
            run = quote_all(&self.run),
        ));
        s
    }

    /// The merge script: `quasipot merge` of the n shard directories into `DIR/merged`.
    pub fn merge_script(&self) -> String {
        let mut s = self.header(&format!("{}-merge", self.name), "merge.out", None);
        // Cancelled, not left pending for ever, when a shard fails (so `sbatch --wait` returns).
        s.push_str("#SBATCH --kill-on-invalid-dep=yes\n");
        let bin = shell_quote(&self.binary.display().to_string());
        let dirs: Vec<String> = (0..self.shards)
            .map(|k| format!("\"$DIR/shard-{k}\""))
            .collect();
        s.push_str(&format!(
            "# Written by `quasipot slurm`: merges the {n} shards once all succeeded (submit.sh queues\n\
             # it with --dependency=afterok on the array job). Exit code 2 names a missing or\n\
             # mismatched shard and the command that re-runs it.\n\
             set -euo pipefail\n\
             DIR={dir}\n\
             exec {bin} {merge} {dirs} --out \"$DIR/merged\"\n",
            n = self.shards,
            dir = shell_quote(&self.dir.display().to_string()),
            merge = quote_all(&self.merge),
            dirs = dirs.join(" "),
        ));
        s
    }

    /// The submit script: the array job, then the merge job depending on it (`afterok`).
    pub fn submit_script(&self) -> String {
        format!(
            "#!/bin/bash\n\
             # Written by `quasipot slurm`: submits the {n} shards as one job array and the merge\n\
             # job, which runs only after every shard succeeded (--dependency=afterok).\n\
             set -euo pipefail\n\
             ARRAY=$(sbatch --parsable {array})\n\
             ARRAY=${{ARRAY%%;*}}\n\
             MERGE=$(sbatch --parsable --dependency=afterok:$ARRAY {merge})\n\
             MERGE=${{MERGE%%;*}}\n\
             echo \"array job $ARRAY ({n} shards), merge job $MERGE (after all shards succeed)\"\n\
             echo \"logs: {logs}/  result: {result}/result.json\"\n",
            n = self.shards,
            array = shell_quote(&self.dir.join(ARRAY_SCRIPT).display().to_string()),
            merge = shell_quote(&self.dir.join(MERGE_SCRIPT).display().to_string()),
            logs = self.dir.join("logs").display(),
            result = self.merged_dir().display(),
        )
    }

    /// Write the three scripts (and create `logs/`) in [`ArrayJob::dir`]; returns their paths.
    pub fn write(&self) -> crate::Result<Vec<PathBuf>> {
        let io = |p: &Path, e: std::io::Error| crate::Error::Io {
            path: p.display().to_string(),
            source: e,
        };
        let logs = self.dir.join("logs");
        std::fs::create_dir_all(&logs).map_err(|e| io(&logs, e))?;
        let mut out = Vec::new();
        for (name, text) in [
            (ARRAY_SCRIPT, self.array_script()),
            (MERGE_SCRIPT, self.merge_script()),
            (SUBMIT_SCRIPT, self.submit_script()),
        ] {
            let p = self.dir.join(name);
            crate::io_atomic::write(&p, text)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))
                    .map_err(|e| io(&p, e))?;
            }
            out.push(p);
        }
        Ok(out)
    }
}
