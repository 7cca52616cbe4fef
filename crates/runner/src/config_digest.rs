//! What every experiment file expands to, as one fingerprint per file and stage: the digest of
//! each run's name and `config.json` in grid order. A task's test compares them with a committed
//! list, so a change to the experiment-file code that alters any run's configuration, name or
//! order fails there, naming the file.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::task::{Experiment, RunSpec, Stage};

/// Set to rewrite the committed list from the current code instead of comparing with it.
pub const BLESS_VARIABLE: &str = "BLESS_CONFIG_DIGESTS";

/// One line per experiment file in `dir` whose name starts with one of `prefixes` (sorted) and
/// stage (`grid`, with the file's own learning rates; `select` when it has `[select]`):
/// `<file> <stage> <runs> <sha256>`. `root` resolves the files' relative paths.
pub fn config_digests<E: Experiment>(dir: &Path, prefixes: &[&str], root: &Path) -> Result<String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|f| f.ends_with(".toml") && prefixes.iter().any(|p| f.starts_with(p)))
        .collect();
    files.sort();
    let mut out = String::new();
    for file in files {
        let path = dir.join(&file);
        let experiment: E = crate::experiment::read_toml(&path)?;
        experiment
            .validate()
            .with_context(|| format!("{}: invalid experiment", path.display()))?;
        let mut stages = vec![("grid", Stage::Final(None))];
        if let Some(select) = experiment.selection() {
            stages.push(("select", Stage::Select(select)));
        }
        for (label, stage) in stages {
            let runs = experiment.runs(root, stage)?;
            let mut hash = Sha256::new();
            for spec in &runs {
                let json = serde_json::to_string_pretty(&serde_json::to_value(spec)?)?;
                hash.update(format!("{}\n{json}\n", spec.name()));
            }
            let digest: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
            writeln!(out, "{file} {label} {} {digest}", runs.len())?;
        }
    }
    Ok(out)
}

/// Compares [`config_digests`] with the committed list at `golden` (or rewrites it when
/// [`BLESS_VARIABLE`] is set); the error names every line that differs.
pub fn check_config_digests<E: Experiment>(
    dir: &Path,
    prefixes: &[&str],
    root: &Path,
    golden: &Path,
) -> Result<()> {
    let now = config_digests::<E>(dir, prefixes, root)?;
    if std::env::var_os(BLESS_VARIABLE).is_some() {
        return formats::atomic::write_atomic(golden, now.as_bytes()).map_err(Into::into);
    }
    let committed =
        std::fs::read_to_string(golden).with_context(|| format!("reading {}", golden.display()))?;
    let differing: Vec<&str> = now
        .lines()
        .filter(|l| !committed.lines().any(|c| c == *l))
        .collect();
    let gone: Vec<&str> = committed
        .lines()
        .filter(|l| !now.lines().any(|c| c == *l))
        .collect();
    anyhow::ensure!(
        differing.is_empty() && gone.is_empty(),
        "{}: the experiment files now expand to other runs; now: {differing:?}, committed: {gone:?} \
         (set {BLESS_VARIABLE}=1 only when the change is meant)",
        golden.display()
    );
    Ok(())
}
