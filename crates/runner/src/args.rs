//! The command-line flags every runner shares (`#[command(flatten)]` them into its own).

use std::path::PathBuf;

use clap::Args;
use formats::Method;

use crate::slurm::SlurmOptions;
use crate::task::{Coords, Overrides};

/// Which runs of an experiment file to run, and how.
#[derive(Debug, Clone, Args)]
pub struct GridArgs {
    /// Experiment file (TOML): the grid of runs.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Results root: runs go to `<results>/<task>/<run>/`.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// Only runs of this method (zero_shot, probe, lora, lora_qkv, serial_lora, lora_plus, serial_lora_plus, full, pretrain).
    #[arg(long)]
    pub method: Option<Method>,
    /// Only runs of this rank.
    #[arg(long)]
    pub rank: Option<i64>,
    /// Only runs of this seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Only runs with this many shots per class.
    #[arg(long)]
    pub shots: Option<usize>,
    /// Replace the experiment's data sets with this one (e.g. `folder:/data/mine`).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Root of the CoOp data sets.
    #[arg(long)]
    pub data_root: Option<PathBuf>,
    /// Model folder (transformers / diffusers layout).
    #[arg(long)]
    pub model_dir: Option<PathBuf>,
    /// Backbone name in reports.
    #[arg(long)]
    pub backbone: Option<String>,
    /// Training steps per run.
    #[arg(long)]
    pub iters: Option<usize>,
    /// Take at most this many training steps in this invocation, then checkpoint and stop (run
    /// the same command again to continue).
    #[arg(long)]
    pub step_budget: Option<usize>,
    /// Run only shard K of N (`K/N`: every N-th run from the K-th), so N processes share a grid.
    #[arg(long, value_parser = parse_shard, default_value = "0/1")]
    pub shard: (usize, usize),
    /// Run only the run at this index of the selected grid (as `--list` numbers them from 0).
    #[arg(long)]
    pub run_index: Option<usize>,
    /// libtorch's intra-op threads (default: libtorch's, one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Where the runs train and evaluate: `cpu`, `cuda` or `cuda:N` (checked against what libtorch
    /// sees). Data is decoded on the CPU; each batch moves to the device once.
    #[arg(long, default_value = "cpu", value_parser = serial_lora::parse_device)]
    pub device: tch::Device,
    /// Arithmetic of the runs: fp32, bf16 (autocast; frozen weights stored in bf16), fp16
    /// (autocast with a dynamic loss scale) or auto (bf16 where a start-up probe finds the
    /// device's bf16 matrix product measurably faster, else fp32; kept in
    /// `<results>/precision_probe.json`); replaces the experiment file's `precision`.
    #[arg(long)]
    pub precision: Option<formats::PrecisionChoice>,
    /// CPU kernels: native (libtorch picks them for the CPU), avx2 (every kernel library on its
    /// AVX2 path) or portable (the vendor-neutral baseline path, slower: the same bits on every
    /// CPU measured so far, see the guide's reproducibility page). The runner starts itself again with the mode's variables set, before libtorch
    /// starts; each run records what it computed under in `numerics.json`.
    #[arg(long, default_value = "native")]
    pub numerics: formats::NumericsMode,
    /// Run the experiment's learning-rate selection instead of its grid (`[select]`: every
    /// learning rate, and λ for the + variants, at one rank and seed, trained on part of the
    /// training pool and scored on the held-out rest) into `<results>/<task>/selection/`, then
    /// write `<results>/<task>/lr_selection.csv`, which the grid's runs train with.
    #[arg(long)]
    pub select: bool,
    /// Print the selected runs' folders, one per line, and exit.
    #[arg(long)]
    pub list: bool,
    /// Only rebuild `<results>/<task>/summary.csv` from the run folders.
    #[arg(long)]
    pub collect: bool,
    /// Do not rebuild `summary.csv` at the end (cluster array tasks; a collect job does it).
    #[arg(long)]
    pub no_collect: bool,
    /// Submit the selected runs as a Slurm job array (one task per run) and a collect job.
    #[arg(long)]
    pub slurm: bool,
    /// Slurm settings (override the experiment file's `[slurm]`).
    #[command(flatten)]
    pub slurm_options: SlurmOptions,
}

fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let (k, n) = s.split_once('/').ok_or("expected K/N, e.g. 0/2")?;
    let (k, n): (usize, usize) = (
        k.parse().map_err(|_| format!("bad K in `{s}`"))?,
        n.parse().map_err(|_| format!("bad N in `{s}`"))?,
    );
    if n == 0 || k >= n {
        return Err(format!("shard {k}/{n}: need 0 <= K < N"));
    }
    Ok((k, n))
}

impl GridArgs {
    /// The value overrides, with command-line paths made absolute (they are relative to the
    /// current folder, unlike the experiment file's, which are relative to the repository root)
    /// and `--precision auto` resolved ([`crate::precision_auto`]).
    pub fn overrides(&self) -> anyhow::Result<Overrides> {
        let abs = |p: &PathBuf| formats::paths::absolute(p);
        let precision = crate::precision_auto::resolve(self.precision, &self.results, self.device)?;
        Ok(Overrides {
            iters: self.iters,
            model_dir: self.model_dir.as_ref().map(abs),
            dataset: self
                .dataset
                .as_ref()
                .map(|d| match d.strip_prefix("folder:") {
                    Some(path) => format!(
                        "folder:{}",
                        formats::paths::portable(
                            &formats::paths::absolute(path.as_ref()),
                            &formats::paths::repo_root()
                        )
                        .display()
                    ),
                    None => d.clone(),
                }),
            data_root: self.data_root.as_ref().map(abs),
            backbone: self.backbone.clone(),
            precision,
        })
    }

    /// Whether a run with `coords` is selected by the filters.
    pub fn selects(&self, c: &Coords) -> bool {
        self.method.is_none_or(|m| m == c.method)
            && self.rank.is_none_or(|r| r == c.rank)
            && self.seed.is_none_or(|s| s == c.seed)
            && self.shots.is_none_or(|s| Some(s) == c.shots)
    }

    /// The filters given, in words (for "no run matches" errors).
    pub fn filters(&self) -> String {
        let mut f = Vec::new();
        if let Some(m) = self.method {
            f.push(format!("--method {m}"));
        }
        if let Some(r) = self.rank {
            f.push(format!("--rank {r}"));
        }
        if let Some(s) = self.seed {
            f.push(format!("--seed {s}"));
        }
        if let Some(s) = self.shots {
            f.push(format!("--shots {s}"));
        }
        f.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use tch::Device;

    use super::GridArgs;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        grid: GridArgs,
    }

    fn parse(device: &str) -> Result<Device, String> {
        Cli::try_parse_from(["runner", "--device", device])
            .map(|c| c.grid.device)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_device_is_checked_against_what_libtorch_sees_when_parsed() {
        assert_eq!(parse("cpu").unwrap(), Device::Cpu);
        let default = Cli::try_parse_from(["runner"]).unwrap().grid.device;
        assert_eq!(default, Device::Cpu);
        let bad = parse("gpu").unwrap_err();
        assert!(bad.contains("`gpu` is not cpu, cuda or cuda:N"), "{bad}");
        if !tch::Cuda::is_available() {
            let none = parse("cuda:0").unwrap_err();
            assert!(none.contains("libtorch sees no CUDA device"), "{none}");
        }
    }
}
