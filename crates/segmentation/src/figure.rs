//! Figure 4: one test tile of the data set, its ground truth, and the masks predicted by each given
//! run (e.g. LoRA and Serial LoRA), side by side; instances drawn in distinct colours over the image
//! (prompt-free runs: the semantic mask in one colour, on the tile with the most labelled pixels).
//! A title above each panel names it: `image`, `ground truth`, and per run its method label and test
//! Dice from its `summary.json` (e.g. `Serial LoRA (Dice 0.9443)`), written in DejaVu Sans
//! (embedded from `crates/analysis/assets`, Bitstream Vera licence there). Multi-class runs get
//! their own layout ([`crate::scene_view`]) on the same titled grid
//! ([`crate::drawing::titled_grid`]).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use formats::Method;
use tch::Device;

use crate::config::{Prompt, RunSpec};
use crate::drawing::{compose, save_png};
use crate::predict::{predict, segmenter};
use crate::samples::{Sample, SegData};
use crate::scene_view::draw_scenes;
use crate::summary::Summary;
use crate::trained::{load_run, read_spec};

/// The title of a run's panel: `<method label> (Dice 0.9443)`, or the label alone without a Dice.
pub fn run_title(method: Method, dice: Option<f64>) -> String {
    match dice {
        Some(d) => format!("{} (Dice {d:.4})", method.label()),
        None => method.label().to_string(),
    }
}

/// The panel title of the run folder `run`: its method (`config.json`) and test Dice
/// (`summary.json`, field `test.dice`; a run without `summary.json` gets the label alone).
pub fn title_of(run: &Path) -> Result<String> {
    let spec = read_spec(run)?;
    let path = run.join("summary.json");
    let dice = match std::fs::read_to_string(&path) {
        Ok(text) => Some(
            serde_json::from_str::<Summary>(&text)
                .with_context(|| format!("{}: not a segmentation summary", path.display()))?
                .test
                .dice,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    Ok(run_title(spec.method, dice))
}

/// The tile the figure shows: the test tile with the most instances (box prompts) or the most
/// labelled pixels (prompt-free).
fn pick_tile(data: &SegData, size: usize, spec: &RunSpec) -> Result<Sample> {
    let tiles = match spec.prompt {
        Prompt::Box => data.test_samples(size, spec.normalize)?,
        Prompt::Free => data.semantic_test_samples(size, spec.normalize)?,
    };
    let weight = |t: &Sample| match spec.prompt {
        Prompt::Box => t.masks.size()[0] as f64,
        Prompt::Free => t.masks.sum(tch::Kind::Double).double_value(&[]),
    };
    // The first of the heaviest tiles.
    tiles
        .into_iter()
        .min_by(|a, b| weight(b).total_cmp(&weight(a)))
        .context("no test tile")
}

/// Writes the figure for `runs` (run folders sharing one data set and prompt mode) to `out`;
/// multi-class runs read their test images under `data_root` ([`draw_scenes`]).
pub fn draw(runs: &[PathBuf], data_root: Option<&Path>, out: &Path) -> Result<()> {
    let Some(first) = runs.first() else {
        bail!("give at least one run folder")
    };
    let root = formats::paths::repo_root();
    let spec = read_spec(first)?;
    if spec.multiclass() {
        let data_root = data_root.with_context(|| {
            format!(
                "{}: a {} run; give its data with --data-root DIR",
                first.display(),
                spec.dataset
            )
        })?;
        return draw_scenes(runs, data_root, out);
    }
    let data = SegData::load(&spec.dataset, &root, spec.validation_fraction)?;
    for run in &runs[1..] {
        if read_spec(run)?.prompt != spec.prompt {
            bail!(
                "{} and {} differ in `prompt` (box vs prompt-free); draw them in separate figures",
                first.display(),
                run.display()
            );
        }
    }
    let mut preds = Vec::new();
    let mut tile: Option<Sample> = None;
    for run in runs {
        let spec = read_spec(run)?;
        let model_dir = formats::paths::resolve(&spec.model_dir, &root);
        let loaded = load_run(run, &spec, Device::Cpu)?;
        let seg = segmenter(&loaded.model, &model_dir)?;
        if tile.is_none() {
            tile = Some(pick_tile(&data, seg.image_size() as usize, &spec)?);
        }
        let sample = tile.as_ref().context("no test tile")?;
        preds.push(predict(seg, sample).gt(0.0));
    }
    let sample = tile.context("no test tile")?;
    let mut titles = vec!["image".to_string(), "ground truth".to_string()];
    for run in runs {
        titles.push(title_of(run)?);
    }
    let mut masks = vec![None, Some(&sample.masks)];
    masks.extend(preds.iter().map(Some));
    let canvas = compose(&sample.grey, &masks, &titles)?;
    save_png(out, &image::DynamicImage::ImageRgb8(canvas))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference_run() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../results/reference/segmentation/litemedsam_stardist_lora_plus_r8_seed1")
    }

    #[test]
    fn run_titles_name_the_method_and_its_test_dice() {
        assert_eq!(
            run_title(Method::SerialLora, Some(0.944_28)),
            "Serial LoRA (Dice 0.9443)"
        );
        assert_eq!(run_title(Method::Lora, None), "LoRA");
        // The committed run: LoRA+, test Dice 0.94380…
        assert_eq!(title_of(&reference_run()).unwrap(), "LoRA+ (Dice 0.9438)");
        let tmp = tempfile::tempdir().unwrap();
        std::fs::copy(
            reference_run().join("config.json"),
            tmp.path().join("config.json"),
        )
        .unwrap();
        assert_eq!(title_of(tmp.path()).unwrap(), "LoRA+");
        std::fs::write(tmp.path().join("summary.json"), "{}").unwrap();
        let e = format!("{:#}", title_of(tmp.path()).unwrap_err());
        assert!(e.contains("not a segmentation summary"), "{e}");
    }
}
