//! Grids on a Slurm cluster: the selected runs become one sbatch job array (one task per run,
//! each writing only its own run folder) and a collect job, started when the array has ended,
//! that assembles `summary.csv` from the run folders. No shared-file lock, so it is safe on NFS.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::Args;
use formats::atomic::write_atomic;
use serde::{Deserialize, Serialize};

/// Resources of each array task: the experiment file's `[slurm]`, overridden by `--slurm-*`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Args)]
#[serde(deny_unknown_fields)]
pub struct SlurmOptions {
    /// CPUs per task (also the task's libtorch threads); default 1.
    #[arg(long = "slurm-cpus")]
    pub cpus: Option<usize>,
    /// GPUs per task (`--gres=gpu:N`).
    #[arg(long = "slurm-gpus")]
    pub gpus: Option<usize>,
    /// Time limit per task (Slurm syntax, e.g. `01:00:00`).
    #[arg(long = "slurm-time")]
    pub time: Option<String>,
    /// Partition.
    #[arg(long = "slurm-partition")]
    pub partition: Option<String>,
    /// Account.
    #[arg(long = "slurm-account")]
    pub account: Option<String>,
    /// Memory per task (Slurm syntax, e.g. `8G`).
    #[arg(long = "slurm-mem")]
    pub mem: Option<String>,
}

impl SlurmOptions {
    /// `self`, with every unset field taken from `file`.
    pub fn or(&self, file: Option<&SlurmOptions>) -> SlurmOptions {
        let file = file.cloned().unwrap_or_default();
        SlurmOptions {
            cpus: self.cpus.or(file.cpus),
            gpus: self.gpus.or(file.gpus),
            time: self.time.clone().or(file.time),
            partition: self.partition.clone().or(file.partition),
            account: self.account.clone().or(file.account),
            mem: self.mem.clone().or(file.mem),
        }
    }

    fn directives(&self) -> Vec<String> {
        let mut lines = vec![format!("--cpus-per-task={}", self.cpus.unwrap_or(1))];
        if let Some(g) = self.gpus {
            lines.push(format!("--gres=gpu:{g}"));
        }
        if let Some(t) = &self.time {
            lines.push(format!("--time={t}"));
        }
        if let Some(p) = &self.partition {
            lines.push(format!("--partition={p}"));
        }
        if let Some(a) = &self.account {
            lines.push(format!("--account={a}"));
        }
        if let Some(m) = &self.mem {
            lines.push(format!("--mem={m}"));
        }
        lines.into_iter().map(|l| format!("#SBATCH {l}")).collect()
    }
}

/// Quotes `s` for a POSIX shell.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// This process's arguments without the flags that submit (`--slurm`, `--slurm-*`), so the array
/// tasks select the same runs.
fn forwarded_args() -> Vec<String> {
    let mut out = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--slurm" {
            continue;
        }
        if a.starts_with("--slurm-") {
            if !a.contains('=') {
                args.next();
            }
            continue;
        }
        out.push(a);
    }
    out
}

/// Writes `<results>/<task>/slurm/<name>.sbatch` for `runs` runs and submits it and its collect
/// job with `sbatch`; returns the script's path.
pub fn submit(task: &str, results: &Path, runs: usize, options: &SlurmOptions) -> Result<PathBuf> {
    if runs == 0 {
        bail!("no run to submit");
    }
    let cwd = std::env::current_dir().context("reading the current folder")?;
    let exe = std::env::current_exe().context("locating this runner's binary")?;
    let dir = formats::paths::absolute(results).join(task).join("slurm");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let name = format!("{task}-{stamp}");
    let threads = options.cpus.unwrap_or(1);
    let args: Vec<String> = forwarded_args().iter().map(|a| quote(a)).collect();
    let mut script = vec![
        "#!/bin/bash".to_string(),
        format!("#SBATCH --job-name={name}"),
        format!("#SBATCH --array=0-{}", runs - 1),
        format!("#SBATCH --output={}/{name}-%A_%a.out", dir.display()),
    ];
    script.extend(options.directives());
    script.extend([
        "set -euo pipefail".to_string(),
        format!("cd {}", quote(&cwd.display().to_string())),
        format!("export OMP_NUM_THREADS={threads}"),
        format!(
            "exec {} {} --run-index \"$SLURM_ARRAY_TASK_ID\" --threads {threads} --no-collect",
            quote(&exe.display().to_string()),
            args.join(" ")
        ),
    ]);
    let path = dir.join(format!("{name}.sbatch"));
    write_atomic(&path, (script.join("\n") + "\n").as_bytes())?;
    let array = sbatch(&[path.display().to_string()])?;
    let collect = format!(
        "cd {} && {} {} --collect",
        quote(&cwd.display().to_string()),
        quote(&exe.display().to_string()),
        args.join(" ")
    );
    let collector = sbatch(&[
        format!("--dependency=afterany:{array}"),
        format!("--job-name={name}-collect"),
        format!("--output={}/{name}-collect.out", dir.display()),
        "--cpus-per-task=1".into(),
        format!("--wrap={collect}"),
    ])?;
    println!("submitted array job {array} ({runs} tasks) and collect job {collector}");
    println!("script: {}", path.display());
    Ok(path)
}

/// Runs `sbatch --parsable args…` and returns the job id.
fn sbatch(args: &[String]) -> Result<String> {
    let out = Command::new("sbatch")
        .arg("--parsable")
        .args(args)
        .output()
        .context("running sbatch (is Slurm installed and on PATH?)")?;
    if !out.status.success() {
        bail!(
            "sbatch {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let id = text
        .trim()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    if id.is_empty() {
        bail!("sbatch printed no job id");
    }
    Ok(id)
}
