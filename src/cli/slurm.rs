//! `quasipot slurm`: a sharded run as a Slurm job array plus its merge job
//! ([`quasipot::slurm::ArrayJob`]), written into `--out DIR` and optionally submitted.

use super::output::Output;
use super::{model_flags, Cli, Command, Global};
use anyhow::{anyhow, Context, Result};
use clap::Parser;
use quasipot::slurm::{ArrayJob, Resources, SUBMIT_SCRIPT};
use serde_json::json;
use std::path::{Path, PathBuf};

/// Arguments of `quasipot slurm`.
#[derive(Debug, clap::Args)]
pub struct SlurmArgs {
    /// Number of shards n: array tasks 0..n−1, task K running `--shard K/n`.
    #[arg(long, value_name = "N")]
    pub shards: u64,
    /// Slurm partition (`#SBATCH --partition`); default the cluster's.
    #[arg(long)]
    pub partition: Option<String>,
    /// Slurm account (`#SBATCH --account`).
    #[arg(long)]
    pub account: Option<String>,
    /// Time limit per shard (`#SBATCH --time`, e.g. 2:00:00). A shard killed by it resumes when
    /// its task is submitted again (`sbatch --array=K DIR/array.sbatch`).
    #[arg(long)]
    pub time: Option<String>,
    /// Memory per shard (`#SBATCH --mem`, e.g. 4G).
    #[arg(long)]
    pub mem: Option<String>,
    /// CPUs per shard (`#SBATCH --cpus-per-task`); the shard runs with as many threads unless
    /// the command gives --threads.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub cpus_per_task: u32,
    /// At most this many shards at once (`--array=0-(n−1)%K`).
    #[arg(long, value_name = "K")]
    pub max_parallel: Option<u64>,
    /// A further `#SBATCH` option for both jobs, verbatim (repeatable), e.g. --sbatch-option=--qos=long.
    #[arg(
        long = "sbatch-option",
        value_name = "OPTION",
        allow_hyphen_values = true
    )]
    pub sbatch_options: Vec<String>,
    /// Job name (default quasipot-SUBCOMMAND); the merge job gets -merge appended.
    #[arg(long)]
    pub job_name: Option<String>,
    /// The quasipot binary the jobs run (default: this one).
    #[arg(long, value_name = "PATH")]
    pub bin: Option<PathBuf>,
    /// Submit the array and the merge job (`sbatch`) instead of only writing the scripts.
    #[arg(long)]
    pub submit: bool,
    /// With --submit: wait until the merge job has ended (`sbatch --wait`); the exit code is then
    /// the merge's (2: a shard is missing or mismatched, see DIR/logs/merge.out).
    #[arg(long, requires = "submit")]
    pub wait: bool,
    /// The run to shard, after `--`, as it would follow `quasipot` (without --shard and --out):
    /// `exit PROBLEM --eps .. --runs ..` (--method direct).
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// Characters `#SBATCH` lines cannot carry in a path (they are not shell-parsed).
fn check_path(p: &Path, flag: &str) -> Result<()> {
    let s = p.display().to_string();
    if s.chars()
        .any(|c| c.is_whitespace() || "'\"\\$`".contains(c))
    {
        return Err(anyhow!(quasipot::Error::invalid(
            flag,
            format!("{s} contains a space, quote, backslash, $ or `, which #SBATCH lines cannot carry; choose a plainer path")
        )));
    }
    Ok(())
}

fn absolute(p: &Path, flag: &str) -> Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("{flag}: cannot resolve {}", p.display()))
}

/// The job of `args` writing into `dir`: the shard command checked by parsing it as quasipot
/// would, the merge command with the same model flags.
pub fn array_job(args: &SlurmArgs, dir: &Path) -> Result<ArrayJob> {
    let bad = |m: String| anyhow!(quasipot::Error::invalid("COMMAND", m));
    if args.shards == 0 {
        return Err(anyhow!(quasipot::Error::invalid(
            "--shards",
            "need at least one shard (n ≥ 1)"
        )));
    }
    if args.cpus_per_task == 0 {
        return Err(anyhow!(quasipot::Error::invalid(
            "--cpus-per-task",
            "must be at least 1"
        )));
    }
    if args.max_parallel == Some(0) {
        return Err(anyhow!(quasipot::Error::invalid(
            "--max-parallel",
            "must be at least 1"
        )));
    }
    let inner = Cli::try_parse_from(
        std::iter::once("quasipot".to_string()).chain(args.command.iter().cloned()),
    )
    .map_err(|e| {
        bad(format!(
            "`quasipot {}` is not a valid command: {}",
            args.command.join(" "),
            e.render()
        ))
    })?;
    let g = &inner.global;
    let (sub, problem) = match &inner.command {
        Command::Exit(a) => {
            if a.shard.is_some() || a.resume {
                return Err(bad("give the run without --shard and --resume: each array task adds --shard K/n, and --resume when it is resubmitted".into()));
            }
            ("exit", a.problem.clone())
        }
        Command::Scaling(a) => {
            if a.shard.is_some() {
                return Err(bad("give the sweep without --shard: each array task adds --shard K/n".into()));
            }
            ("scaling", a.problem.clone())
        }
        _ => {
            return Err(bad(format!(
                "`{}` cannot be sharded: give `exit PROBLEM ..` (Monte Carlo or AMS exit times) or `scaling PROBLEM ..` (a sweep), merged by `quasipot merge`",
                args.command.first().map_or("", String::as_str)
            )))
        }
    };
    if g.out.is_some() {
        return Err(bad(
            "give the run without --out: the shards go into DIR/shard-K of `quasipot slurm --out DIR`".into(),
        ));
    }
    if g.json {
        return Err(bad(
            "give the run without --json: each shard writes DIR/shard-K/result.json".into(),
        ));
    }
    let mut run = args.command.clone();
    run.push("-q".into());
    if g.threads.is_none() {
        run.push("--threads".into());
        run.push(args.cpus_per_task.to_string());
    }
    let mut merge = vec!["merge".to_string(), problem];
    merge.extend(model_flags(g));
    merge.push("-q".into());
    let binary = match &args.bin {
        Some(b) => absolute(b, "--bin")?,
        None => std::env::current_exe()
            .context("--bin: cannot find this executable; give --bin PATH")?,
    };
    let workdir = std::env::current_dir().context("cannot read the current directory")?;
    check_path(&workdir, "the current directory (the jobs' --chdir)")?;
    check_path(dir, "--out")?;
    Ok(ArrayJob {
        name: args
            .job_name
            .clone()
            .unwrap_or_else(|| format!("quasipot-{sub}")),
        shards: args.shards,
        binary,
        workdir,
        dir: dir.to_path_buf(),
        run,
        merge,
        resources: Resources {
            partition: args.partition.clone(),
            account: args.account.clone(),
            time: args.time.clone(),
            mem: args.mem.clone(),
            cpus_per_task: args.cpus_per_task,
            max_parallel: args.max_parallel,
            extra: args.sbatch_options.clone(),
        },
    })
}

/// `sbatch --parsable ARGS`: the job ID.
fn sbatch(args: &[&str]) -> Result<(String, i32)> {
    let o = std::process::Command::new("sbatch")
        .arg("--parsable")
        .args(args)
        .output()
        .map_err(|e| {
            anyhow!(quasipot::Error::invalid(
                "--submit",
                format!("cannot run sbatch ({e}): is this a Slurm login node? Without --submit the scripts are only written")
            ))
        })?;
    let stdout = String::from_utf8_lossy(&o.stdout);
    let id = stdout
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    let code = o.status.code().unwrap_or(-1);
    if id.is_empty() {
        return Err(anyhow!(quasipot::Error::invalid(
            "--submit",
            format!(
                "sbatch {} failed (exit code {code}): {}",
                args.join(" "),
                String::from_utf8_lossy(&o.stderr).trim()
            )
        )));
    }
    Ok((id, code))
}

/// `quasipot slurm`.
pub fn run(args: &SlurmArgs, g: &Global, out: &Output) -> Result<i32> {
    if g.weight.is_some() || !g.params.is_empty() || g.refine_minimum || g.seed != 1 {
        return Err(anyhow!(quasipot::Error::invalid(
            "COMMAND",
            "--seed, --weight, --param and --refine-minimum belong to the run: put them after `--` (quasipot slurm --shards 4 --out DIR -- exit PROBLEM --seed 7 ..)"
        )));
    }
    let dir = out.out.as_deref().ok_or_else(|| {
        anyhow!(quasipot::Error::invalid(
            "--out",
            "quasipot slurm needs --out DIR: the scripts, logs, shards and merged result go there"
        ))
    })?;
    let dir = absolute(dir, "--out")?;
    let job = array_job(args, &dir)?;
    let scripts = job.write()?;
    let submit_sh = dir.join(SUBMIT_SCRIPT);
    let mut js = json!({
        "shards": job.shards,
        "dir": dir,
        "scripts": scripts,
        "submit": submit_sh,
        "shard_dirs": (0..job.shards).map(|k| job.shard_dir(k)).collect::<Vec<_>>(),
        "merged": job.merged_dir(),
        "run": job.run,
        "merge": job.merge,
    });
    let mut human = format!(
        "wrote {} ({} shards, tasks 0..{}), {} and {}\n",
        scripts[0].display(),
        job.shards,
        job.shards - 1,
        scripts[1].display(),
        scripts[2].display()
    );
    let mut code = 0;
    if args.submit {
        let array = scripts[0].display().to_string();
        let merge = scripts[1].display().to_string();
        let (array_id, _) = sbatch(&[&array])?;
        let dep = format!("--dependency=afterok:{array_id}");
        let mut margs = vec![dep.as_str()];
        if args.wait {
            margs.push("--wait");
        }
        margs.push(&merge);
        let (merge_id, merge_code) = sbatch(&margs)?;
        js["array_job"] = json!(array_id);
        js["merge_job"] = json!(merge_id);
        human.push_str(&format!(
            "submitted array job {array_id} and merge job {merge_id} (after every shard succeeded)\n"
        ));
        if args.wait {
            js["merge_exit_code"] = json!(merge_code);
            if merge_code == 0 {
                human.push_str(&format!(
                    "merged: {}\n",
                    job.merged_dir().join("result.json").display()
                ));
            } else {
                human.push_str(&format!(
                    "the merge job ended with exit code {merge_code} (a shard failed, or the set is incomplete or mismatched): see {}\n",
                    dir.join("logs").display()
                ));
                code = if merge_code > 0 { merge_code } else { 2 };
            }
        }
    } else {
        human.push_str(&format!(
            "submit with: {}   (or: sbatch {} and then sbatch --dependency=afterok:JOBID {})\n",
            submit_sh.display(),
            scripts[0].display(),
            scripts[1].display()
        ));
    }
    human.push_str(&format!(
        "shards go to {}/shard-K, the merged result to {}\n",
        dir.display(),
        job.merged_dir().display()
    ));
    out.finish(&human, &js)?;
    Ok(code)
}
